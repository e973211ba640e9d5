//! Helpers for tests against the real PostgreSQL and RabbitMQ: a fresh database per test, a
//! broker namespace per test (so tests run in parallel), a tap on the events exchange, and a
//! TCP proxy that can play a broker outage.

// A test-only crate: its helpers stop the test that calls them with a message (expect, panic)
// when the environment is not there, by design. Production code never depends on it.
#![allow(clippy::expect_used, clippy::panic)]

pub mod broker;
pub mod database;
pub mod proxy;
pub mod worker;

pub use broker::{amqp_url, test_topology, Tap, TapMessage, TestTopology};
pub use database::TestDatabase;
pub use proxy::TcpProxy;

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` every 50 ms until it returns `Some`, or panics after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
