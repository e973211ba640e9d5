//! Resolution runs: `concord resolutions start --job ID --policy ID [--dialect ID] [--watch]`
//! (create, then execute), `concord resolutions watch ID` (a bar from the run's counters until it
//! ends), `concord resolutions export ID -o FILE`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::definitions::path_segment;
use crate::error::CliError;
use crate::progress::{group, RunTick};
use crate::runs::{export, short_id};
use crate::{Context, Outcome};

#[derive(Debug, Subcommand)]
pub enum ResolutionsCommand {
    /// Creates a resolution run of a policy over a completed job run, and executes it.
    Start(StartArgs),
    /// Follows a resolution run until it ends: exit 0 when completed, 4 when failed.
    Watch(IdArgs),
    /// Writes a resolution run's results as CSV (one row per document, in its dialect).
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The job run's id (completed).
    #[arg(long)]
    pub job: String,
    /// The data policy's id.
    #[arg(long)]
    pub policy: String,
    /// The dialect's id (output format; the default dialect without it).
    #[arg(long)]
    pub dialect: Option<String>,
    /// Follow the run until it ends (see `resolutions watch`).
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// The resolution run's id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The resolution run's id.
    pub id: String,
    /// The file to write (replaced once the whole export arrived).
    #[arg(short, long)]
    pub output_file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionStatus {
    Pending,
    Running,
    Completed,
    Failed,
}

impl ResolutionStatus {
    fn as_str(self) -> &'static str {
        match self {
            ResolutionStatus::Pending => "pending",
            ResolutionStatus::Running => "running",
            ResolutionStatus::Completed => "completed",
            ResolutionStatus::Failed => "failed",
        }
    }
}

/// The parts of a resolution run the CLI shows.
#[derive(Debug, Deserialize)]
pub struct ResolutionRun {
    pub id: String,
    pub status: ResolutionStatus,
    pub counters: Counters,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Counters {
    pub documents_total: u32,
    pub documents_processed: u32,
    pub fields_resolved: u64,
    pub fields_unresolved: u64,
    pub fields_waiting: u64,
}

#[derive(Debug, Serialize)]
struct CreateBody<'a> {
    source_run_id: &'a str,
    policy_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dialect_id: Option<&'a str>,
}

pub async fn run(
    context: &mut Context<'_>,
    command: ResolutionsCommand,
) -> Result<Outcome, CliError> {
    match command {
        ResolutionsCommand::Start(args) => start(context, args).await,
        ResolutionsCommand::Watch(args) => watch(context, path_segment(&args.id)?).await,
        ResolutionsCommand::Export(args) => {
            let id = path_segment(&args.id)?;
            let path = format!("/v1/resolutions/{id}/results/export");
            export(context, id, &path, &args.output_file).await
        }
    }
}

async fn start(context: &mut Context<'_>, args: StartArgs) -> Result<Outcome, CliError> {
    let body = CreateBody {
        source_run_id: args.job.trim(),
        policy_id: args.policy.trim(),
        dialect_id: args.dialect.as_deref().map(str::trim),
    };
    let created = context
        .api
        .send_json::<ResolutionRun>(Method::POST, "/v1/resolutions", &body)
        .await?;
    let id = created.value.id;
    let executed = context
        .api
        .send_json::<ResolutionRun>(
            Method::POST,
            &format!("/v1/resolutions/{id}/execute"),
            &serde_json::Map::new(),
        )
        .await?;
    if args.watch {
        return watch(context, &id).await;
    }
    Ok(Outcome {
        text: format!(
            "resolution run {id} {} over {} documents\n",
            executed.value.status.as_str(),
            group(u64::from(executed.value.counters.documents_total))
        ),
        document: executed.document,
    })
}

/// Polls the run until it ends. The API has no `/progress` for resolutions: the rate and ETA
/// are measured here, from the documents processed between the first poll and the last.
pub async fn watch(context: &mut Context<'_>, id: &str) -> Result<Outcome, CliError> {
    let path = format!("/v1/resolutions/{id}");
    let label = format!("resolution {}", short_id(id));
    let mut bar = context.progress.run(&label);
    let mut first: Option<(Instant, u32)> = None;
    let answer = loop {
        let answer = match context.api.get::<ResolutionRun>(&path).await {
            Ok(answer) => answer,
            Err(error) => {
                bar.abandon();
                return Err(error);
            }
        };
        let run = &answer.value;
        let counters = &run.counters;
        let (since, start) = *first.get_or_insert((Instant::now(), counters.documents_processed));
        let elapsed = since.elapsed().as_secs_f64();
        let done = counters.documents_processed.saturating_sub(start);
        let rate = (elapsed > 0.0 && done > 0).then(|| f64::from(done) / elapsed);
        let remaining = counters
            .documents_total
            .saturating_sub(counters.documents_processed);
        let eta =
            rate.and_then(|rate| Duration::try_from_secs_f64(f64::from(remaining) / rate).ok());
        let phase = if run.status == ResolutionStatus::Running && counters.fields_waiting > 0 {
            "running (values waiting for the LLM)"
        } else {
            run.status.as_str()
        };
        bar.run_tick(&RunTick {
            phase,
            processed: u64::from(counters.documents_processed),
            total: u64::from(counters.documents_total),
            rate_per_second: rate,
            eta,
        });
        if matches!(
            run.status,
            ResolutionStatus::Completed | ResolutionStatus::Failed
        ) {
            break answer;
        }
        tokio::time::sleep(context.poll).await;
    };
    let run = answer.value;
    let summary = format!(
        "{}: {}/{} documents, {} fields resolved, {} unresolved",
        run.status.as_str(),
        group(u64::from(run.counters.documents_processed)),
        group(u64::from(run.counters.documents_total)),
        group(run.counters.fields_resolved),
        group(run.counters.fields_unresolved)
    );
    bar.finish(&summary);
    if run.status != ResolutionStatus::Completed {
        return Err(CliError::RunEnded {
            kind: "resolution run",
            id: run.id,
            status: run.status.as_str().to_owned(),
            error: run.error,
        });
    }
    Ok(Outcome {
        text: format!("resolution run {}: {summary}\n", run.id),
        document: answer.document,
    })
}
