//! The command line: what to send, at what rate, for how long.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use reqwest::header::HeaderMap;
use reqwest::Method;

use crate::{parse_header, LoadPlan, LoadReport};

/// Sends HTTP requests at a fixed rate for a fixed time (open loop) and prints p50/p90/p99/max
/// latency — measured from each request's scheduled send time — achieved rate and errors as JSON.
#[derive(Debug, Parser)]
#[command(name = "concord-load", version)]
pub struct Args {
    /// The address to send to; repeat it to send to several in turn.
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,
    /// The HTTP method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// A header `Name: value`; repeat it for several.
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// The body of every request.
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// A file whose bytes are the body of every request.
    #[arg(long)]
    pub body_file: Option<std::path::PathBuf>,
    /// Requests per second.
    #[arg(long)]
    pub rate: u32,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load at the same rate before the measured part (sent, not counted).
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Milliseconds after which a request is an error (`timeout`).
    #[arg(long, default_value_t = 5_000)]
    pub timeout_ms: u64,
    /// Requests in flight at most (a request that waits for a slot is still timed from its
    /// scheduled send).
    #[arg(long, default_value_t = 1_024)]
    pub max_in_flight: usize,
    /// A name for the report.
    #[arg(long)]
    pub label: Option<String>,
}

impl Args {
    /// The plan the arguments describe.
    pub fn plan(&self) -> anyhow::Result<LoadPlan> {
        let method = Method::from_bytes(self.method.to_uppercase().as_bytes())
            .with_context(|| format!("`{}` is not an HTTP method", self.method))?;
        let mut headers = HeaderMap::new();
        for text in &self.headers {
            let (name, value) = parse_header(text)?;
            headers.append(name, value);
        }
        let body = match (&self.body, &self.body_file) {
            (Some(body), _) => Some(body.clone().into_bytes()),
            (None, Some(path)) => Some(
                std::fs::read(path)
                    .with_context(|| format!("cannot read the body file {}", path.display()))?,
            ),
            (None, None) => None,
        };
        Ok(LoadPlan {
            urls: self.urls.clone(),
            method,
            headers,
            body,
            rate: self.rate,
            duration: seconds("--duration", self.duration)?,
            warmup: seconds("--warmup", self.warmup)?,
            timeout: Duration::from_millis(self.timeout_ms.max(1)),
            max_in_flight: self.max_in_flight.max(1),
        })
    }
}

/// Parses the arguments' plan, runs it and returns its report.
pub async fn run(args: Args) -> anyhow::Result<LoadReport> {
    let plan = args.plan()?;
    crate::run(plan, args.label).await
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .with_context(|| format!("{flag} {value}: expected a number of seconds, zero or more"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_make_a_plan() {
        let args = Args::parse_from([
            "concord-load",
            "--url",
            "http://127.0.0.1:8080/v1/jobs",
            "--method",
            "post",
            "-H",
            "Content-Type: application/json",
            "--body",
            "{}",
            "--rate",
            "500",
            "--duration",
            "2.5",
        ]);
        let plan = args.plan().expect("plan");
        assert_eq!(plan.method, Method::POST);
        assert_eq!(plan.rate, 500);
        assert_eq!(plan.duration, Duration::from_millis(2500));
        assert_eq!(plan.body.as_deref(), Some(&b"{}"[..]));
        assert_eq!(plan.headers.len(), 1);
    }

    #[test]
    fn a_negative_duration_is_refused() {
        let args = Args::parse_from([
            "concord-load",
            "--url",
            "http://x/",
            "--rate",
            "1",
            "--duration=-1",
        ]);
        assert!(args.plan().is_err());
    }
}
