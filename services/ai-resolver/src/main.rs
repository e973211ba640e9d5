use anyhow::Context;
use concord_ai_resolver::{AiTaskHandler, DEFAULT_OPS_ADDR, NAME};
use concord_llm::LlmSettings;
use concord_queue::Role;
use concord_service::{Worker, WorkerSettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    concord_telemetry::logging::init(NAME).context("configuring telemetry (OTEL_* variables)")?;
    let settings = WorkerSettings::from_env(DEFAULT_OPS_ADDR)?;
    let llm = LlmSettings::from_env().context("reading the LLM settings")?;
    tracing::info!(?llm, "model");
    let worker = Worker::try_build(settings, Role::Ai, NAME, |context| {
        AiTaskHandler::from_settings(context, llm).context("starting the model client")
    })
    .await?;
    concord_service::shutdown::cancel_on_signal(worker.shutdown_token());
    let stopped = worker.run_until_stopped().await;
    // The last spans, sent before the process exits.
    concord_telemetry::logging::shutdown();
    stopped
}
