//! Traces exported over OTLP: the gateway, the matching worker, the ai-resolver and the webhook
//! sender run as the real binaries, configured by the standard `OTEL_*` variables only, and send
//! their spans to an OTLP/HTTP receiver started in the test. One smart matching run — from the API
//! request that starts it, through the broker to each chunk, the AI pass and the completion event —
//! is one trace across the four.
//!
//! The ai-resolver asks the model of the `CONCORD_LLM_*` settings (the local model, `make llm-up`,
//! which CI starts). Without one, each of its calls fails at once (no retries here) and the items
//! are flagged: the run still completes through the ai-resolver, so the trace is checked either way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use concord_test_support::{amqp_url, eventually};
use serde::Deserialize;
use serde_json::json;

use crate::helpers::{spawn_app_with, AppOptions};
use crate::matching::{create_job, mappings, upload_reference_data};

/// The part of an OTLP/JSON `ExportTraceServiceRequest` the test reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportRequest {
    #[serde(default)]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    resource: Resource,
    #[serde(default)]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    attributes: Vec<Attribute>,
}

#[derive(Deserialize)]
struct Attribute {
    key: String,
    value: AnyValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyValue {
    string_value: Option<String>,
}

#[derive(Deserialize)]
struct ScopeSpans {
    #[serde(default)]
    spans: Vec<Span>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Span {
    trace_id: String,
    name: String,
}

/// What the receiver was sent: (service name, trace id, span name).
type Received = Arc<Mutex<Vec<(String, String, String)>>>;

async fn receive(body: web::Json<ExportRequest>, received: web::Data<Received>) -> HttpResponse {
    let mut received = received.lock().expect("the receiver's lock");
    for resource in &body.resource_spans {
        let service = resource
            .resource
            .attributes
            .iter()
            .find(|attribute| attribute.key == "service.name")
            .and_then(|attribute| attribute.value.string_value.clone())
            .unwrap_or_default();
        for span in resource.scope_spans.iter().flat_map(|scope| &scope.spans) {
            received.push((service.clone(), span.trace_id.clone(), span.name.clone()));
        }
    }
    HttpResponse::Ok().json(json!({}))
}

/// The service binaries built beside this test (`make test` builds them first).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the target directory");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the service binaries first (`cargo build --bins`; `make test` does)",
        path.display()
    );
    path
}

/// A child process that is stopped with SIGTERM (and waited for) when dropped.
struct Service(Child);

impl Service {
    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

// `local_model` in the name: with the model up, this test is one of those that take turns on it.
#[actix_web::test]
async fn a_smart_run_is_one_trace_across_four_services_with_or_without_the_local_model() {
    let received: Received = Arc::default();
    let data = web::Data::new(received.clone());
    let receiver = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::JsonConfig::default().limit(64 * 1024 * 1024))
            .route("/v1/traces", web::post().to(receive))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .expect("the receiver binds");
    let receiver_port = receiver.addrs()[0].port();
    actix_web::rt::spawn(receiver.run());

    // The data, through an in-process gateway on the test's database and namespace.
    let app = spawn_app_with(AppOptions {
        matching_chunk_size: 2,
        ..AppOptions::default()
    })
    .await;
    let dataset = upload_reference_data(&app, &app.key).await;
    // A threshold no document reaches: every candidate above 0.1 is in the review band, so the
    // AI pass has items to ask the model about.
    let config = app
        .post_json(
            "/v1/matching/configs",
            &app.key,
            &json!({
                "name": "all to review",
                "reference_data_id": dataset,
                "field_mappings": mappings(),
                "threshold": 0.999,
                "review_band": {"lower": 0.1}
            }),
        )
        .await;
    assert_eq!(config.status, 201, "{}", config.body);
    let config = config.body["id"].as_str().expect("a config id").to_owned();
    let job = create_job(&app).await;

    let gateway_port = free_port();
    let common = |service: &mut Command| {
        service
            .env("CONCORD_DATABASE_URL", &app.database.url)
            .env("CONCORD_AMQP_URL", amqp_url())
            .env("CONCORD_NAMESPACE", app.topology.namespace())
            .env("CONCORD_DELIVERY_LIMIT", "3")
            .env("CONCORD_OPS_ADDR", "127.0.0.1:0")
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{receiver_port}"),
            )
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
            .env("OTEL_BSP_SCHEDULE_DELAY", "200")
            .env_remove("OTEL_SERVICE_NAME")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            // Shown by the test harness when the test fails.
            .stderr(Stdio::inherit());
    };
    let mut services = Vec::new();
    for (name, extra) in [
        (
            "gateway",
            vec![
                ("CONCORD_HTTP_ADDR", format!("127.0.0.1:{gateway_port}")),
                ("CONCORD_MATCHING_CHUNK_SIZE", "2".to_owned()),
            ],
        ),
        ("matching-worker", vec![]),
        // The model's settings come from the environment (as in the real-model tests); a call
        // that cannot connect is not retried, so that a missing model costs no time.
        ("ai-resolver", vec![("CONCORD_LLM_RETRIES", "0".to_owned())]),
        ("webhook-sender", vec![]),
    ] {
        let mut command = Command::new(binary(name));
        common(&mut command);
        for (key, value) in extra {
            command.env(key, value);
        }
        if name == "gateway" {
            command.arg("serve");
        }
        services.push(Service(command.spawn().expect("the service starts")));
    }
    let gateway = format!("http://127.0.0.1:{gateway_port}");
    eventually(Duration::from_secs(60), "the gateway process ready", || {
        let url = format!("{gateway}/readyz");
        let client = app.client.clone();
        for service in &mut services {
            if let Ok(Some(status)) = service.0.try_wait() {
                panic!("a service exited at start ({status}); its log is above");
            }
        }
        async move {
            let response = client.get(url).send().await.ok()?;
            response.status().is_success().then_some(())
        }
    })
    .await;

    // The run is started through the gateway process, inside a trace the caller names.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let reply = app
        .send(
            app.client
                .post(format!("{gateway}/v1/matching/configs/{config}/run"))
                .bearer_auth(&app.key)
                .insert_header(("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))),
            Some((
                "application/json",
                serde_json::to_vec(&json!({"job_id": job, "mode": "smart"})).expect("json"),
            )),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let run_id = reply.body["id"].as_str().expect("a run id").to_owned();
    // The AI pass may wait its turn on a local model busy with other tests.
    let run = eventually(Duration::from_secs(240), "the run completed", || async {
        let reply = app
            .get(&format!("/v1/matching/runs/{run_id}"), &app.key)
            .await;
        (reply.body["status"] == "completed").then_some(reply.body)
    })
    .await;
    let model_calls = run["ai"]["calls"]
        .as_u64()
        .expect("the AI pass's call count");
    assert!(
        run["ai"]["items"].as_u64().is_some_and(|items| items > 0) && model_calls > 0,
        "the AI pass asked the model nothing: {}",
        run["ai"]
    );

    // Stopped with SIGTERM: each flushes the spans it still holds before it exits.
    let mut webhook_sender = services.pop().expect("the webhook sender");
    // The completion event reaches the webhook sender's queue once the worker's relay publishes
    // it: wait for its span rather than racing the relay.
    let spans_of = |service: &str| -> BTreeSet<String> {
        received
            .lock()
            .expect("the receiver's lock")
            .iter()
            .filter(|(s, t, _)| s == service && t == trace_id)
            .map(|(_, _, name)| name.clone())
            .collect()
    };
    eventually(
        Duration::from_secs(30),
        "the webhook sender's span of the completion event",
        || async { (!spans_of("webhook-sender").is_empty()).then_some(()) },
    )
    .await;
    webhook_sender.terminate();
    for mut service in services {
        service.terminate();
    }

    let received = received.lock().expect("the receiver's lock").clone();
    let mut by_service: BTreeMap<&str, usize> = BTreeMap::new();
    for (service, trace, _) in &received {
        if trace == trace_id {
            *by_service.entry(service.as_str()).or_default() += 1;
        }
    }
    let summary = format!("spans in the run's trace by service: {by_service:?}");
    for service in [
        "gateway",
        "matching-worker",
        "ai-resolver",
        "webhook-sender",
    ] {
        assert!(
            by_service.contains_key(service),
            "{service} missing; {summary}"
        );
    }
    // The five documents in chunks of two: three chunk messages, each consumed in the trace.
    let consumed_by_worker = received
        .iter()
        .filter(|(s, t, name)| s == "matching-worker" && t == trace_id && name == "consume")
        .count();
    assert!(
        consumed_by_worker >= 3,
        "the worker's consume spans in the trace: {consumed_by_worker}; {summary}"
    );
    // The run's one AI task, consumed by the ai-resolver inside the same trace.
    assert!(
        received
            .iter()
            .any(|(s, t, name)| s == "ai-resolver" && t == trace_id && name == "consume"),
        "the ai-resolver's consume span of the AI task is not in the trace; {summary}"
    );
    // Each call to the model (answered or not) is a span of the same trace.
    let call_spans = received
        .iter()
        .filter(|(s, t, name)| s == "ai-resolver" && t == trace_id && name == "llm.call")
        .count();
    assert_eq!(
        call_spans as u64, model_calls,
        "the ai-resolver's llm.call spans in the trace; {summary}"
    );
}
