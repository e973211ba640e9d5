//! Configs and policies from JSON files: `concord configs create|update`, `concord policies
//! create|update`. The file is the API's body; the CLI sets only what its flags name (`--name`,
//! `--reference-data`) and leaves every other member to the API, which validates it and names
//! the field at fault.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::error::CliError;
use crate::{Context, Outcome};

#[derive(Debug, Subcommand)]
pub enum ConfigsCommand {
    /// Creates a matching config from a JSON file (`POST /v1/matching/configs`).
    Create(CreateConfigArgs),
    /// Replaces a matching config with a JSON file: a new version (`PUT /v1/matching/configs/{id}`).
    Update(UpdateArgs),
}

#[derive(Debug, Args)]
pub struct CreateConfigArgs {
    /// The config: `{name, reference_data_id, field_mappings, threshold?, review_band?, …}`.
    pub file: PathBuf,
    /// Sets (or replaces) the file's `name`.
    #[arg(long)]
    pub name: Option<String>,
    /// Sets (or replaces) the file's `reference_data_id`.
    #[arg(long)]
    pub reference_data: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The id of the config or policy to replace.
    pub id: String,
    /// The new version's body.
    pub file: PathBuf,
    /// Sets (or replaces) the file's `name`.
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// Creates a data policy from a JSON file `{name, description?, fields?, rules?}`.
    Create(CreatePolicyArgs),
    /// Gives a data policy new fields and rules from a JSON file: a new version (`PUT`).
    Update(UpdateArgs),
}

#[derive(Debug, Args)]
pub struct CreatePolicyArgs {
    /// The policy: `{name, description?, fields?, rules?}`.
    pub file: PathBuf,
    /// Sets (or replaces) the file's `name`.
    #[arg(long)]
    pub name: Option<String>,
}

/// A body file: the members the CLI may set, and the rest as the file has it (free-form here:
/// the API reads and validates it).
#[derive(Debug, Deserialize, Serialize)]
struct BodyFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reference_data_id: Option<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// What a created or replaced config or policy answers, as the CLI shows it.
#[derive(Debug, Deserialize)]
pub struct Definition {
    pub id: String,
    pub name: String,
    pub version: u32,
}

pub async fn run_configs(
    context: &mut Context<'_>,
    command: ConfigsCommand,
) -> Result<Outcome, CliError> {
    match command {
        ConfigsCommand::Create(args) => {
            let mut body = read_body(&args.file).await?;
            override_with(&mut body.name, args.name);
            override_with(&mut body.reference_data_id, args.reference_data);
            save(
                context,
                Method::POST,
                "/v1/matching/configs",
                &body,
                "matching config",
            )
            .await
        }
        ConfigsCommand::Update(args) => {
            let mut body = read_body(&args.file).await?;
            override_with(&mut body.name, args.name);
            let path = format!("/v1/matching/configs/{}", path_segment(&args.id)?);
            save(context, Method::PUT, &path, &body, "matching config").await
        }
    }
}

pub async fn run_policies(
    context: &mut Context<'_>,
    command: PoliciesCommand,
) -> Result<Outcome, CliError> {
    match command {
        PoliciesCommand::Create(args) => {
            let mut body = read_body(&args.file).await?;
            override_with(&mut body.name, args.name);
            save(
                context,
                Method::POST,
                "/v1/data-policies",
                &body,
                "data policy",
            )
            .await
        }
        PoliciesCommand::Update(args) => {
            let mut body = read_body(&args.file).await?;
            override_with(&mut body.name, args.name);
            let path = format!("/v1/data-policies/{}", path_segment(&args.id)?);
            save(context, Method::PUT, &path, &body, "data policy").await
        }
    }
}

fn override_with(member: &mut Option<String>, flag: Option<String>) {
    if flag.is_some() {
        *member = flag;
    }
}

async fn save(
    context: &mut Context<'_>,
    method: Method,
    path: &str,
    body: &BodyFile,
    what: &str,
) -> Result<Outcome, CliError> {
    let created = method == Method::POST;
    let answer = context
        .api
        .send_json::<Definition>(method, path, body)
        .await?;
    let definition = answer.value;
    let verb = if created { "created" } else { "updated" };
    Ok(Outcome {
        text: format!(
            "{what} {} \"{}\" {verb}: version {}\n",
            definition.id, definition.name, definition.version
        ),
        document: answer.document,
    })
}

/// Reads a JSON object file; a problem names its line and column.
async fn read_body(path: &Path) -> Result<BodyFile, CliError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| CliError::input(path, None, format!("cannot read: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let line = u64::try_from(e.line()).ok().filter(|l| *l > 0);
        let message = match e.classify() {
            serde_json::error::Category::Data => {
                format!("expected a JSON object with string `name` and `reference_data_id` when given: {e}")
            }
            _ => format!("not JSON: {e}"),
        };
        CliError::input(path, line, message)
    })
}

/// An id as one path segment: no `/`, `?` or `#` that would address something else.
pub fn path_segment(id: &str) -> Result<&str, CliError> {
    let id = id.trim();
    if id.is_empty() || id.contains(['/', '?', '#', '%']) || id.chars().any(char::is_whitespace) {
        return Err(CliError::Usage(format!("`{id}` is not an id")));
    }
    Ok(id)
}
