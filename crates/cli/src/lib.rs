//! `concord`: the command line over the gateway's REST API. `main.rs` only calls [`run`]; every
//! command group is a module (`reference_data`, `jobs`, `definitions` for configs and policies,
//! `runs`, `resolutions`, `review`), each talking HTTP through [`api::Api`] and reading the
//! answers it uses into typed structs.
//!
//! Output: a command's result on stdout (a few lines of text, or with `--output json` the one
//! JSON document the API answered, or the error envelope), progress on stderr only (a live bar
//! when stderr is a terminal, plain lines with `--progress` otherwise), and an exit code from
//! [`error::Exit`] that scripts can test.

pub mod api;
pub mod definitions;
pub mod error;
pub mod jobs;
pub mod progress;
pub mod reference_data;
pub mod resolutions;
pub mod review;
pub mod runs;
mod stream;

use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::api::Api;
use crate::error::{CliError, Exit};
use crate::progress::{Mode, Reporter};

/// The Concord command line: uploads, jobs, configs, policies, runs, reviews and exports over
/// the REST API.
#[derive(Debug, Parser)]
#[command(name = "concord", version, about, long_about = None)]
pub struct Cli {
    /// The gateway's address.
    #[arg(
        long,
        global = true,
        env = "CONCORD_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// An API key (`cnc_…`) with the scopes the command needs.
    #[arg(long, global = true, env = "CONCORD_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// `text` for people, `json` for scripts: one JSON document on stdout, nothing else there.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Progress lines on stderr even when it is not a terminal (a terminal always gets a bar).
    #[arg(long, global = true)]
    pub progress: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reference datasets (the rows documents are matched against).
    #[command(subcommand)]
    ReferenceData(reference_data::ReferenceDataCommand),
    /// Job runs: batches of documents with their extracted values.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Matching configs, from JSON files.
    #[command(subcommand)]
    Configs(definitions::ConfigsCommand),
    /// Data policies, from JSON files.
    #[command(subcommand)]
    Policies(definitions::PoliciesCommand),
    /// Matching runs: start, watch, export.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Resolution runs: start (create and execute), watch, export.
    #[command(subcommand)]
    Resolutions(resolutions::ResolutionsCommand),
    /// A reviewer's decision on a match result.
    #[command(subcommand)]
    Review(review::ReviewCommand),
}

/// What a command did: lines for people, the document for scripts.
#[derive(Debug)]
pub struct Outcome {
    pub text: String,
    pub document: serde_json::Value,
}

/// What every command works with.
pub struct Context<'a> {
    pub api: Api,
    pub progress: Reporter<'a>,
    /// How often a watched run is asked for its progress.
    pub poll: Duration,
}

/// The terminal a run of the CLI writes to.
pub struct Terminal<'a> {
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
    /// Whether stderr is a terminal (then progress is a live bar).
    pub stderr_is_terminal: bool,
}

/// How often a watched run is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Parses `args` (the program name first), runs the command and says how the process ends.
pub fn run<I, T>(args: I, terminal: Terminal<'_>) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let Terminal {
        stdout,
        stderr,
        stderr_is_terminal,
    } = terminal;
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version are answers, on stdout; anything else is a usage error.
            let (out, exit) = if error.use_stderr() {
                (stderr, Exit::Usage)
            } else {
                (stdout, Exit::Ok)
            };
            let _ = write!(out, "{}", error.render());
            return exit;
        }
    };
    let format = cli.output;
    let mode = if stderr_is_terminal {
        Mode::Bar
    } else if cli.progress {
        Mode::Lines
    } else {
        Mode::Hidden
    };
    let result = {
        let reporter = Reporter::new(mode, &mut *stderr);
        execute(cli, reporter)
    };
    match result {
        Ok(outcome) => {
            let written = match format {
                OutputFormat::Text => write!(stdout, "{}", outcome.text),
                OutputFormat::Json => serde_json::to_writer_pretty(&mut *stdout, &outcome.document)
                    .map_err(std::io::Error::from)
                    .and_then(|()| writeln!(stdout)),
            };
            match written.and_then(|()| stdout.flush()) {
                Ok(()) => Exit::Ok,
                Err(error) => {
                    let _ = writeln!(stderr, "error: writing the answer to stdout: {error}");
                    Exit::LocalIo
                }
            }
        }
        Err(error) => {
            let _ = writeln!(stderr, "error: {error}");
            for line in error.detail_lines() {
                let _ = writeln!(stderr, "  {line}");
            }
            if format == OutputFormat::Json {
                let _ = serde_json::to_writer_pretty(&mut *stdout, &error.document());
                let _ = writeln!(stdout);
            }
            error.exit()
        }
    }
}

fn execute(cli: Cli, progress: Reporter<'_>) -> Result<Outcome, CliError> {
    let key = cli
        .key
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| CliError::Usage("no API key: pass --key or set CONCORD_KEY".to_owned()))?;
    let api = Api::new(&cli.url, key.trim())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::LocalIo {
            context: "starting the async runtime".to_owned(),
            source,
        })?;
    let mut context = Context {
        api,
        progress,
        poll: POLL_INTERVAL,
    };
    runtime.block_on(async {
        match cli.command {
            Command::ReferenceData(command) => reference_data::run(&mut context, command).await,
            Command::Jobs(command) => jobs::run(&mut context, command).await,
            Command::Configs(command) => definitions::run_configs(&mut context, command).await,
            Command::Policies(command) => definitions::run_policies(&mut context, command).await,
            Command::Runs(command) => runs::run(&mut context, command).await,
            Command::Resolutions(command) => resolutions::run(&mut context, command).await,
            Command::Review(command) => review::run(&mut context, command).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> (Exit, String, String) {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let exit = run(
            args.iter().copied(),
            Terminal {
                stdout: &mut stdout,
                stderr: &mut stderr,
                stderr_is_terminal: false,
            },
        );
        (
            exit,
            String::from_utf8(stdout).expect("in a test"),
            String::from_utf8(stderr).expect("in a test"),
        )
    }

    #[test]
    fn the_arguments_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn a_usage_error_exits_2_and_help_exits_0() {
        let (exit, _, stderr) = run_args(&["concord", "runs", "start", "--config", "x"]);
        assert_eq!(exit, Exit::Usage);
        assert!(stderr.contains("--job"), "{stderr}");
        let (exit, stdout, _) = run_args(&["concord", "--help"]);
        assert_eq!(exit, Exit::Ok);
        assert!(stdout.contains("reference-data"), "{stdout}");
    }

    #[test]
    fn no_key_is_a_usage_error_named_in_json_too() {
        let (exit, stdout, stderr) = run_args(&[
            "concord", "--key", " ", "--output", "json", "runs", "watch", "0193",
        ]);
        assert_eq!(exit, Exit::Usage);
        assert!(stderr.contains("CONCORD_KEY"), "{stderr}");
        let document: serde_json::Value = serde_json::from_str(&stdout).expect("in a test");
        assert_eq!(document["error"]["code"], "usage");
        assert_eq!(document["error"]["exit_code"], 2);
    }

    #[test]
    fn a_server_that_is_not_there_exits_3() {
        // Port 9 (discard) on loopback: nothing listens there.
        let (exit, _, stderr) = run_args(&[
            "concord",
            "--url",
            "http://127.0.0.1:9",
            "--key",
            "cnc_x",
            "runs",
            "watch",
            "0193",
        ]);
        assert_eq!(exit, Exit::Unreachable, "{stderr}");
        assert!(stderr.contains("cannot reach"), "{stderr}");
    }
}
