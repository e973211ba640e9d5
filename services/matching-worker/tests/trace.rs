//! One trace spans the producer and the worker: the worker's handling of a message runs in a
//! span that continues the W3C trace context the message carries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use concord_queue::Role;
use concord_service::{JobError, JobHandler};
use concord_test_support::worker::spawn_worker;
use concord_test_support::{amqp_url, eventually, test_topology, TestDatabase};
use diesel_async::AsyncPgConnection;

/// Records the trace id of the span it runs in.
#[derive(Clone, Default)]
struct TraceProbe(Arc<Mutex<Vec<String>>>);

impl JobHandler for TraceProbe {
    type Job = serde_json::Value;
    const CONSUMER: &'static str = "trace-probe";

    async fn apply(
        &self,
        _: &mut AsyncPgConnection,
        _: &serde_json::Value,
    ) -> Result<(), JobError> {
        if let Some(trace_id) = concord_telemetry::propagation::trace_id(&tracing::Span::current())
        {
            if let Ok(mut seen) = self.0.lock() {
                seen.push(trace_id);
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_continues_the_trace_of_the_message() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    let probe = TraceProbe::default();
    let _worker = spawn_worker(
        &database,
        &topology,
        amqp_url(),
        Role::Matching,
        "trace-probe",
        |_| probe.clone(),
    )
    .await;

    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let mut headers = HashMap::new();
    headers.insert(
        "traceparent".to_owned(),
        format!("00-{trace_id}-b7ad6b7169203331-01"),
    );
    concord_test_support::broker::publish(
        &topology.jobs_exchange(),
        "matching",
        "traced-1",
        b"{}",
        headers,
    )
    .await;

    let seen = eventually(
        Duration::from_secs(20),
        "the message to be handled",
        || async { probe.0.lock().ok().and_then(|seen| seen.first().cloned()) },
    )
    .await;
    assert_eq!(seen, trace_id);
}
