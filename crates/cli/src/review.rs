//! `concord review approve|reject RUN RESULT [--row ROW] [--notes …]`: a reviewer's decision on
//! one result of a matching run (`POST /v1/matching/runs/{run}/results/{result}/review`). A later
//! decision overwrites an earlier one.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::definitions::path_segment;
use crate::error::CliError;
use crate::{Context, Outcome};

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Confirms the match, or settles on another of the result's candidates with `--row`.
    Approve(ApproveArgs),
    /// Says the proposed match is wrong: the result's match is cleared.
    Reject(RejectArgs),
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The matching run's id.
    pub run: String,
    /// The result's id.
    pub result: String,
    /// The reference row to settle on (one of the result's candidates; the matched row without it).
    #[arg(long)]
    pub row: Option<String>,
    /// The reviewer's notes.
    #[arg(long)]
    pub notes: Option<String>,
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    /// The matching run's id.
    pub run: String,
    /// The result's id.
    pub result: String,
    /// The reviewer's notes.
    #[arg(long)]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum Decision {
    Approved,
    Rejected,
}

#[derive(Debug, Serialize)]
struct ReviewBody<'a> {
    status: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    matched_reference_row_id: Option<&'a str>,
}

/// The reviewed result, as the CLI shows it.
#[derive(Debug, Deserialize)]
pub struct ReviewedResult {
    pub id: String,
    pub document_id: String,
    pub status: String,
    pub matched_reference_row_id: Option<String>,
}

pub async fn run(context: &mut Context<'_>, command: ReviewCommand) -> Result<Outcome, CliError> {
    let (run, result, body) = match &command {
        ReviewCommand::Approve(args) => (
            &args.run,
            &args.result,
            ReviewBody {
                status: Decision::Approved,
                notes: args.notes.as_deref(),
                matched_reference_row_id: args.row.as_deref(),
            },
        ),
        ReviewCommand::Reject(args) => (
            &args.run,
            &args.result,
            ReviewBody {
                status: Decision::Rejected,
                notes: args.notes.as_deref(),
                matched_reference_row_id: None,
            },
        ),
    };
    let path = format!(
        "/v1/matching/runs/{}/results/{}/review",
        path_segment(run)?,
        path_segment(result)?
    );
    let answer = context
        .api
        .send_json::<ReviewedResult>(Method::POST, &path, &body)
        .await?;
    let reviewed = answer.value;
    let row = reviewed
        .matched_reference_row_id
        .as_deref()
        .map_or_else(|| "no row".to_owned(), |row| format!("row {row}"));
    Ok(Outcome {
        text: format!(
            "result {} (document {}): {}, {row}\n",
            reviewed.id, reviewed.document_id, reviewed.status
        ),
        document: answer.document,
    })
}
