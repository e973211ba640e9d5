use anyhow::Context;
use concord_webhook_sender::{Application, SenderSettings, NAME};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    concord_telemetry::logging::init(NAME).context("configuring telemetry (OTEL_* variables)")?;
    let settings = SenderSettings::from_env()?;
    let app = Application::build(settings).await?;
    concord_service::shutdown::cancel_on_signal(app.shutdown_token());
    let stopped = app.run_until_stopped().await;
    // The last spans, sent before the process exits.
    concord_telemetry::logging::shutdown();
    stopped
}
