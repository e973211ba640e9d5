//! An open-loop load generator: requests are sent at a fixed rate for a fixed time whatever the
//! server does, and every request's latency is measured from the time it was *scheduled* to be
//! sent, not from when it went out. A closed-loop client (wrk, a loop of requests) waits for each
//! answer before sending the next, so a server that stalls for a second is asked less during that
//! second and the stall hides in a handful of samples (coordinated omission); here the requests
//! due meanwhile are all counted late by as much as they were kept waiting.
//!
//! The load is bounded in count (`rate × duration` requests) and in time (`duration` plus one
//! request timeout); requests in flight are capped (`max_in_flight`), and a request that waits
//! for a slot is still measured from its scheduled time.

pub mod cli;
pub mod schedule;
pub mod stats;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::schedule::Schedule;
use crate::stats::{Latencies, Summary};

/// What to send, how fast and for how long.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The addresses, taken in turn (one address: every request goes there).
    pub urls: Vec<String>,
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    /// Requests per second.
    pub rate: u32,
    /// How long the measured load lasts.
    pub duration: Duration,
    /// How long the load runs at the same rate before it is measured (connections opened,
    /// caches warm); those requests are sent but not counted.
    pub warmup: Duration,
    /// A request not answered in this time is an error (`timeout`).
    pub timeout: Duration,
    /// Requests in flight at most.
    pub max_in_flight: usize,
}

/// The figures of one load, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub label: Option<String>,
    pub method: String,
    pub url: String,
    /// The rate asked for (requests per second).
    pub target_rate: u32,
    pub duration_s: f64,
    /// Measured requests (after the warm-up).
    pub requests: u64,
    /// Measured requests answered 2xx.
    pub ok: u64,
    /// Measured requests that failed: a status other than 2xx, a timeout, a transport error.
    pub errors: u64,
    pub error_rate: f64,
    /// What the errors were (`status_429`, `timeout`, `connect`, ...).
    pub error_kinds: BTreeMap<String, u64>,
    /// Measured requests sent per second (from the first measured send to the last).
    pub achieved_rate: f64,
    /// Latency from the scheduled send time to the whole answer read (milliseconds).
    pub latency_ms: Summary,
    /// Latency from the actual send time (what a closed-loop tool would report), for comparison.
    pub service_time_ms: Summary,
    /// The most requests that were in flight at once.
    pub max_in_flight_seen: usize,
    /// Requests that waited for a free slot (the cap on requests in flight was reached).
    pub delayed_by_cap: u64,
}

/// One request's outcome.
#[derive(Debug, Clone)]
struct Sample {
    measured: bool,
    latency: Duration,
    service: Duration,
    sent_at: Instant,
    error: Option<String>,
}

/// Runs the plan and summarises it.
pub async fn run(plan: LoadPlan, label: Option<String>) -> anyhow::Result<LoadReport> {
    if plan.urls.is_empty() {
        bail!("no URL to send requests to");
    }
    if plan.rate == 0 {
        bail!("the rate must be at least one request per second");
    }
    // reqwest's rustls has no crypto provider of its own here (`rustls-no-provider`): ring, which
    // the workspace already builds, is installed unless the process has one (an https URL needs it).
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one meanwhile, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let client = reqwest::Client::builder()
        .default_headers(plan.headers.clone())
        .timeout(plan.timeout)
        .connect_timeout(plan.timeout)
        .pool_max_idle_per_host(plan.max_in_flight)
        .tcp_nodelay(true)
        .user_agent(concat!("concord-load/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("the HTTP client cannot start")?;
    let urls: Vec<reqwest::Url> = plan
        .urls
        .iter()
        .map(|url| reqwest::Url::parse(url).with_context(|| format!("`{url}` is not an address")))
        .collect::<Result<_, _>>()?;

    let schedule = Schedule::new(plan.rate, plan.warmup, plan.duration);
    let body = plan.body.clone().map(Arc::new);
    let slots = Arc::new(Semaphore::new(plan.max_in_flight.max(1)));
    let mut tasks: JoinSet<Sample> = JoinSet::new();
    let mut samples = Vec::with_capacity(usize::try_from(schedule.measured()).unwrap_or(0));
    let mut max_in_flight_seen = 0usize;
    let mut delayed_by_cap = 0u64;
    let start = Instant::now() + Duration::from_millis(50);

    for i in 0..schedule.total() {
        let scheduled = start + schedule.offset(i);
        tokio::time::sleep_until(scheduled).await;
        while let Some(done) = tasks.try_join_next() {
            samples.push(done.context("a request task failed")?);
        }
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                delayed_by_cap += 1;
                Arc::clone(&slots)
                    .acquire_owned()
                    .await
                    .context("the in-flight limit was closed")?
            }
        };
        max_in_flight_seen = max_in_flight_seen.max(tasks.len() + 1);
        let url = urls[usize::try_from(i).unwrap_or(0) % urls.len()].clone();
        let mut request = client.request(plan.method.clone(), url);
        if let Some(body) = &body {
            request = request.body(body.as_ref().clone());
        }
        let measured = schedule.is_measured(i);
        tasks.spawn(async move {
            let sent_at = Instant::now();
            let error = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    match response.bytes().await {
                        Ok(_) if status.is_success() => None,
                        Ok(_) => Some(format!("status_{}", status.as_u16())),
                        Err(error) => Some(kind_of(&error)),
                    }
                }
                Err(error) => Some(kind_of(&error)),
            };
            drop(permit);
            let done = Instant::now();
            Sample {
                measured,
                latency: done.saturating_duration_since(scheduled),
                service: done.saturating_duration_since(sent_at),
                sent_at,
                error,
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        samples.push(done.context("a request task failed")?);
    }

    Ok(summarise(
        &plan,
        label,
        &samples,
        max_in_flight_seen,
        delayed_by_cap,
    ))
}

fn summarise(
    plan: &LoadPlan,
    label: Option<String>,
    samples: &[Sample],
    max_in_flight_seen: usize,
    delayed_by_cap: u64,
) -> LoadReport {
    let measured: Vec<&Sample> = samples.iter().filter(|s| s.measured).collect();
    let mut latency = Latencies::default();
    let mut service = Latencies::default();
    let mut error_kinds: BTreeMap<String, u64> = BTreeMap::new();
    for sample in &measured {
        latency.record(sample.latency);
        service.record(sample.service);
        if let Some(kind) = &sample.error {
            *error_kinds.entry(kind.clone()).or_default() += 1;
        }
    }
    let requests = u64::try_from(measured.len()).unwrap_or(u64::MAX);
    let errors: u64 = error_kinds.values().sum();
    let first = measured.iter().map(|s| s.sent_at).min();
    let last = measured.iter().map(|s| s.sent_at).max();
    let achieved_rate = match (first, last) {
        (Some(first), Some(last)) if last > first => {
            stats::ratio(requests.saturating_sub(1), (last - first).as_secs_f64())
        }
        _ => 0.0,
    };
    LoadReport {
        label,
        method: plan.method.to_string(),
        url: plan.urls.first().cloned().unwrap_or_default(),
        target_rate: plan.rate,
        duration_s: plan.duration.as_secs_f64(),
        requests,
        ok: requests - errors,
        errors,
        error_rate: if requests == 0 {
            0.0
        } else {
            stats::ratio(errors, 1.0) / stats::ratio(requests, 1.0)
        },
        error_kinds,
        achieved_rate,
        latency_ms: latency.summary(),
        service_time_ms: service.summary(),
        max_in_flight_seen,
        delayed_by_cap,
    }
}

/// A failed request's kind, for the error counts.
fn kind_of(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".to_owned()
    } else if error.is_connect() {
        "connect".to_owned()
    } else if error.is_body() || error.is_decode() {
        "body".to_owned()
    } else if error.is_request() {
        "request".to_owned()
    } else {
        "transport".to_owned()
    }
}

/// `Name: value` into a header.
pub fn parse_header(text: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    let (name, value) = text
        .split_once(':')
        .with_context(|| format!("header `{text}` is not `Name: value`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .with_context(|| format!("`{}` is not a header name", name.trim()))?;
    let value = HeaderValue::from_str(value.trim())
        .with_context(|| format!("the value of header `{name}` cannot be sent"))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_name_colon_value() {
        let (name, value) = parse_header("Authorization: Bearer abc").expect("header");
        assert_eq!(name.as_str(), "authorization");
        assert_eq!(value.to_str().expect("text"), "Bearer abc");
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x").is_err());
    }

    fn sample(measured: bool, ms: u64, error: Option<&str>, sent_ms: u64) -> Sample {
        let base = Instant::now();
        Sample {
            measured,
            latency: Duration::from_millis(ms),
            service: Duration::from_millis(ms / 2),
            sent_at: base + Duration::from_millis(sent_ms),
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn only_measured_requests_are_summarised() {
        let plan = LoadPlan {
            urls: vec!["http://127.0.0.1:1/x".to_owned()],
            method: Method::GET,
            headers: HeaderMap::new(),
            body: None,
            rate: 10,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(1),
            max_in_flight: 4,
        };
        let samples = vec![
            sample(false, 900, Some("timeout"), 0),
            sample(true, 2, None, 0),
            sample(true, 4, Some("status_500"), 500),
            sample(true, 6, None, 1000),
        ];
        let report = summarise(&plan, None, &samples, 3, 0);
        assert_eq!(report.requests, 3);
        assert_eq!(report.errors, 1);
        assert_eq!(report.error_kinds.get("status_500"), Some(&1));
        assert!(!report.error_kinds.contains_key("timeout"));
        assert!(
            (report.achieved_rate - 2.0).abs() < 1e-6,
            "{}",
            report.achieved_rate
        );
        assert!((report.latency_ms.max - 6.0).abs() < 1e-9);
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error_not_a_failure_of_the_tool() {
        // Port 1 on loopback: nothing listens there.
        let plan = LoadPlan {
            urls: vec!["http://127.0.0.1:1/".to_owned()],
            method: Method::GET,
            headers: HeaderMap::new(),
            body: None,
            rate: 50,
            duration: Duration::from_millis(200),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(2),
            max_in_flight: 8,
        };
        let report = run(plan, Some("refused".to_owned())).await.expect("report");
        assert_eq!(report.requests, 10);
        assert_eq!(report.errors, 10);
        assert_eq!(report.error_kinds.get("connect"), Some(&10));
    }
}
