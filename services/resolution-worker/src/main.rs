use anyhow::Context;
use concord_queue::Role;
use concord_resolution_worker::{ResolutionJobHandler, DEFAULT_OPS_ADDR, NAME};
use concord_service::{Worker, WorkerSettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    concord_telemetry::logging::init(NAME).context("configuring telemetry (OTEL_* variables)")?;
    let settings = WorkerSettings::from_env(DEFAULT_OPS_ADDR)?;
    let worker = Worker::build(settings, Role::Resolution, NAME, ResolutionJobHandler::new).await?;
    concord_service::shutdown::cancel_on_signal(worker.shutdown_token());
    let stopped = worker.run_until_stopped().await;
    // The last spans, sent before the process exits.
    concord_telemetry::logging::shutdown();
    stopped
}
