//! Matching runs: `concord runs start --config ID --job ID [--watch]`, `concord runs watch ID`
//! (a bar from `/progress` until the run ends; the exit code says how it ended), `concord runs
//! export ID -o FILE` (the results' CSV), `concord runs cancel ID`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::definitions::path_segment;
use crate::error::CliError;
use crate::progress::{group, RunTick};
use crate::stream::download;
use crate::{Context, Outcome};

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Starts a matching run of a config over a completed job run.
    Start(StartArgs),
    /// Follows a run until it ends: exit 0 when completed, 4 when failed or cancelled.
    Watch(WatchArgs),
    /// Writes a run's results as CSV to a file.
    Export(ExportArgs),
    /// Cancels a run: the workers stop at their next chunk.
    Cancel(WatchArgs),
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The matching config's id.
    #[arg(long)]
    pub config: String,
    /// The job run's id (completed).
    #[arg(long)]
    pub job: String,
    /// `manual` (the default) or `smart` (the AI pass looks at the review band).
    #[arg(long, value_enum)]
    pub mode: Option<RunMode>,
    /// How many of the best candidates each result keeps (1–20, default 5).
    #[arg(long)]
    pub candidates: Option<u32>,
    /// Follow the run until it ends (see `runs watch`).
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    Manual,
    Smart,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The run's id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run's id.
    pub id: String,
    /// The file to write (replaced once the whole export arrived).
    #[arg(short, long)]
    pub output_file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    AiResolving,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    fn has_ended(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }

    fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::AiResolving => "ai_resolving",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// The parts of a run the CLI shows.
#[derive(Debug, Deserialize)]
pub struct MatchingRun {
    pub id: String,
    pub status: RunStatus,
    pub rows_total: u64,
    pub rows_processed: u64,
    pub rows_matched: u64,
    pub avg_confidence: Option<f64>,
    pub error: Option<String>,
}

/// `GET /v1/matching/runs/{id}/progress`.
#[derive(Debug, Deserialize)]
pub struct RunProgress {
    pub status: RunStatus,
    pub phase: String,
    pub processed: u64,
    pub total: u64,
    pub rate_per_second: Option<f64>,
    pub eta_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
struct RunBody<'a> {
    job_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<RunMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidates: Option<u32>,
}

/// What `export` did, for `--output json`.
#[derive(Debug, Serialize)]
pub struct Exported<'a> {
    pub run_id: &'a str,
    pub path: &'a std::path::Path,
    pub bytes: u64,
    pub rows: u64,
}

pub async fn run(context: &mut Context<'_>, command: RunsCommand) -> Result<Outcome, CliError> {
    match command {
        RunsCommand::Start(args) => start(context, args).await,
        RunsCommand::Watch(args) => watch(context, path_segment(&args.id)?).await,
        RunsCommand::Export(args) => {
            let id = path_segment(&args.id)?;
            let path = format!("/v1/matching/runs/{id}/results/export");
            export(context, id, &path, &args.output_file).await
        }
        RunsCommand::Cancel(args) => {
            let id = path_segment(&args.id)?;
            let path = format!("/v1/matching/runs/{id}/cancel");
            let answer = context
                .api
                .send_json::<MatchingRun>(Method::POST, &path, &serde_json::Map::new())
                .await?;
            Ok(Outcome {
                text: format!(
                    "matching run {}: {}\n",
                    answer.value.id,
                    answer.value.status.as_str()
                ),
                document: answer.document,
            })
        }
    }
}

async fn start(context: &mut Context<'_>, args: StartArgs) -> Result<Outcome, CliError> {
    let path = format!("/v1/matching/configs/{}/run", path_segment(&args.config)?);
    let body = RunBody {
        job_id: args.job.trim(),
        mode: args.mode,
        candidates: args.candidates,
    };
    let answer = context
        .api
        .send_json::<MatchingRun>(Method::POST, &path, &body)
        .await?;
    if args.watch {
        return watch(context, &answer.value.id).await;
    }
    Ok(Outcome {
        text: format!(
            "matching run {} {} over {} documents\n",
            answer.value.id,
            answer.value.status.as_str(),
            group(answer.value.rows_total)
        ),
        document: answer.document,
    })
}

/// Polls `/progress` until the run ends, then reads the run: an outcome when it completed, a
/// [`CliError::RunEnded`] when it failed or was cancelled.
pub async fn watch(context: &mut Context<'_>, id: &str) -> Result<Outcome, CliError> {
    let progress_path = format!("/v1/matching/runs/{id}/progress");
    let label = format!("run {}", short_id(id));
    let mut bar = context.progress.run(&label);
    loop {
        let progress = match context.api.get::<RunProgress>(&progress_path).await {
            Ok(answer) => answer.value,
            Err(error) => {
                bar.abandon();
                return Err(error);
            }
        };
        bar.run_tick(&RunTick {
            phase: &progress.phase,
            processed: progress.processed,
            total: progress.total,
            rate_per_second: progress.rate_per_second,
            eta: progress
                .eta_seconds
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok()),
        });
        if progress.status.has_ended() {
            break;
        }
        tokio::time::sleep(context.poll).await;
    }
    let answer = match context
        .api
        .get::<MatchingRun>(&format!("/v1/matching/runs/{id}"))
        .await
    {
        Ok(answer) => answer,
        Err(error) => {
            bar.abandon();
            return Err(error);
        }
    };
    let run = answer.value;
    let summary = summary(&run);
    bar.finish(&summary);
    if run.status != RunStatus::Completed {
        return Err(CliError::RunEnded {
            kind: "matching run",
            id: run.id,
            status: run.status.as_str().to_owned(),
            error: run.error,
        });
    }
    Ok(Outcome {
        text: format!("matching run {}: {summary}\n", run.id),
        document: answer.document,
    })
}

fn summary(run: &MatchingRun) -> String {
    let confidence = run
        .avg_confidence
        .map(|c| format!(", average confidence {c:.3}"))
        .unwrap_or_default();
    format!(
        "{}: {}/{} documents, {} matched{confidence}",
        run.status.as_str(),
        group(run.rows_processed),
        group(run.rows_total),
        group(run.rows_matched)
    )
}

/// The first block of a UUID, enough to tell runs apart on a bar.
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Streams an export into `file`.
pub async fn export(
    context: &mut Context<'_>,
    id: &str,
    path: &str,
    file: &std::path::Path,
) -> Result<Outcome, CliError> {
    let url = context.api.url(path, &[])?;
    let response = context
        .api
        .send(context.api.request(Method::GET, url))
        .await?;
    let label = crate::reference_data::file_label(file);
    let mut bar = context.progress.transfer(&label, None);
    let (bytes, rows) = match download(response, file, &mut bar).await {
        Ok(counts) => counts,
        Err(error) => {
            bar.abandon();
            return Err(error);
        }
    };
    bar.finish(&format!("{} rows written", group(rows)));
    let exported = Exported {
        run_id: id,
        path: file,
        bytes,
        rows,
    };
    let document = serde_json::to_value(&exported)
        .map_err(|e| CliError::Usage(format!("the answer cannot be written: {e}")))?;
    Ok(Outcome {
        text: format!(
            "{} rows ({}) written to {}\n",
            group(rows),
            crate::progress::bytes_text(bytes),
            file.display()
        ),
        document,
    })
}
