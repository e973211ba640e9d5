use concord_queue::{Role, Topology};
use concord_service::{JobHandler, ServiceSettings, Worker, WorkerContext, WorkerSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::TestDatabase;

/// A worker running in the test's runtime on its own database and namespace.
pub struct TestWorker {
    pub database_url: String,
    pub pool: concord_models::DbPool,
    pub topology: Topology,
    pub ops_port: u16,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<anyhow::Result<()>>,
}

/// Starts a worker for `role`; `amqp_url` lets a test put a proxy in between.
pub async fn spawn_worker<H: JobHandler>(
    database: &TestDatabase,
    topology: &Topology,
    amqp_url: String,
    role: Role,
    name: &'static str,
    make_handler: impl FnOnce(&WorkerContext) -> H,
) -> TestWorker {
    concord_telemetry::logging::init_for_tests();
    // What the worker declares in the background, declared first so the test can publish at once.
    crate::broker::declare(topology).await;
    let settings = WorkerSettings {
        service: ServiceSettings {
            database_url: database.url.clone(),
            amqp_url,
            topology: topology.clone(),
            db_pool_size: 4,
        },
        ops_addr: "127.0.0.1:0".to_owned(),
        concurrency: 2,
    };
    let worker = Worker::build(settings, role, name, make_handler)
        .await
        .expect("the worker starts");
    let ops_port = worker.ops_port();
    let shutdown = worker.shutdown_token();
    let handle = tokio::spawn(worker.run_until_stopped());
    TestWorker {
        database_url: database.url.clone(),
        pool: database.pool(),
        topology: topology.clone(),
        ops_port,
        shutdown,
        handle,
    }
}

/// A plain HTTP/1.0 GET on localhost: the body, if the status is 200.
pub async fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status_line = head.lines().next()?;
    (status_line.split_whitespace().nth(1) == Some("200")).then(|| body.to_owned())
}

/// The value of a Prometheus counter line that starts with `series` in the worker's metrics.
pub async fn metric(port: u16, series: &str) -> f64 {
    let Some(text) = http_get(port, "/metrics").await else {
        return 0.0;
    };
    text.lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// The outbox relay the services run, publishing what a test wrote to the outbox.
pub fn start_relay(pool: &concord_models::DbPool, topology: &Topology) -> CancellationToken {
    let relay = concord_queue::OutboxRelay::new(
        pool.clone(),
        crate::amqp_url(),
        topology.clone(),
        "test-relay".to_owned(),
        &concord_telemetry::prometheus::Registry::new(),
    )
    .expect("a relay");
    let stop = CancellationToken::new();
    tokio::spawn(relay.run(stop.clone()));
    stop
}

/// An organisation "acme" with a completed (empty) job run: what runs are created over.
pub async fn seed_job_run(
    conn: &mut diesel_async::AsyncPgConnection,
) -> Result<
    (
        concord_models::ids::OrganizationId,
        concord_models::ids::JobRunId,
    ),
    concord_models::StoreError,
> {
    use concord_models::ids::JobRunId;
    use concord_models::job_runs::{JobRun, JobRunStatus, JobSource, NewJobRun};
    let org = concord_models::organizations::Organization::find_or_create(conn, "acme").await?;
    let job = JobRun::insert(
        conn,
        NewJobRun {
            id: JobRunId::generate(),
            organization_id: org.id,
            name: "batch",
            status: JobRunStatus::Completed,
            source: JobSource::Rest,
            intake_message_id: None,
        },
    )
    .await?;
    Ok((org.id, job.id))
}

/// A matching run of "acme" over a new job run.
pub async fn seed_matching_run(
    conn: &mut diesel_async::AsyncPgConnection,
    mode: concord_models::matching_runs::MatchingMode,
    status: concord_models::matching_runs::MatchingRunStatus,
) -> Result<concord_models::matching_runs::MatchingRun, concord_models::StoreError> {
    use concord_models::ids::{MatchingConfigId, MatchingRunId, ReferenceDatasetId};
    use concord_models::matching_configs::{Assignment, Scoring};
    use concord_models::matching_runs::{ConfigSnapshot, MatchingRun, NewMatchingRun};
    let (organization_id, job_run_id) = seed_job_run(conn).await?;
    MatchingRun::insert(
        conn,
        NewMatchingRun {
            id: MatchingRunId::generate(),
            organization_id,
            job_run_id,
            mode,
            status,
            // A config of no mappings over no dataset: enough for runs no chunk is matched of.
            config_snapshot: concord_models::Json(ConfigSnapshot {
                config_id: MatchingConfigId::generate(),
                name: "seeded".to_owned(),
                version: 1,
                reference_data_id: ReferenceDatasetId::generate(),
                field_mappings: Vec::new(),
                threshold: 0.85,
                review_floor: 0.7,
                ambiguity_margin: 0.02,
                chunk_size: 1000,
                candidates: None,
                scoring: Scoring::Probabilistic,
                assignment: Assignment::Independent,
            }),
            rows_total: 0,
            config_id: None,
            reference_data_id: None,
            chunks_total: 0,
            model: None,
        },
    )
    .await
}

impl TestWorker {
    /// How many messages of its queue the worker has acknowledged (from its `/metrics`).
    pub async fn acknowledged(&self, role: Role) -> f64 {
        // Prometheus sorts labels by name.
        let series = format!(
            "concord_messages_handled_total{{outcome=\"ack\",queue=\"{}\"}}",
            self.topology.queue(role)
        );
        metric(self.ops_port, &series).await
    }
}
