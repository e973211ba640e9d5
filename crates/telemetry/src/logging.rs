use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

static INIT: OnceLock<()> = OnceLock::new();

/// Installs the process-wide subscriber: JSON logs on stderr (`CONCORD_LOG_FORMAT=text` for
/// human-readable ones), filtered by `RUST_LOG` (default `info`), and an OpenTelemetry layer so
/// that every span has a W3C trace context that can be propagated through messages.
///
/// Safe to call more than once: only the first call installs anything.
pub fn init(service_name: &'static str) {
    INIT.get_or_init(|| install(service_name, default_filter()));
}

/// For tests: like [`init`], silent unless `TEST_LOG` is set.
pub fn init_for_tests() {
    INIT.get_or_init(|| {
        let filter = if std::env::var_os("TEST_LOG").is_some() {
            default_filter()
        } else {
            EnvFilter::new("off")
        };
        install("concord-test", filter)
    });
}

fn default_filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,lapin=warn,amq_protocol=warn,actix_server=warn"))
}

fn install(service_name: &'static str, filter: EnvFilter) {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = SdkTracerProvider::builder().build();
    let tracer = provider.tracer(service_name);
    opentelemetry::global::set_tracer_provider(provider);

    let text = std::env::var("CONCORD_LOG_FORMAT").is_ok_and(|f| f == "text");
    let fmt_layer = if text {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed()
    };
    // The log filter applies to the logs only: spans stay on for the traces (and so for the trace
    // context that messages carry) even when logs are silenced.
    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    // Another subscriber may already be installed (tests embedding several services).
    let _ = tracing_subscriber::registry()
        .with(fmt_layer.with_filter(filter))
        .with(traces)
        .try_init();
    tracing::info!(service = service_name, "telemetry initialised");
}
