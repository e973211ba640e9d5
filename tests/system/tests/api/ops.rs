use std::collections::BTreeSet;

use concord_test_support::worker::http_get;

use crate::helpers::{spawn_app, spawn_app_with, AppOptions};
use crate::matching::{
    create_config, create_job, matching_worker, start_run, upload_reference_data, wait_for_status,
};

/// The value of the series whose line starts with `series` (labels included) in `text`.
fn series(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[actix_web::test]
async fn a_matching_run_shows_in_the_metrics_of_the_gateway_and_the_worker() {
    let app = spawn_app_with(AppOptions {
        matching_chunk_size: 2,
        ..AppOptions::default()
    })
    .await;
    let worker = matching_worker(&app).await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let config = create_config(&app, &dataset).await;
    let job = create_job(&app).await;
    let run = start_run(&app, &config, &job).await;
    wait_for_status(&app, &run, "completed").await;

    let worker_text = http_get(worker.ops_port, "/metrics")
        .await
        .expect("the worker's metrics");
    // Five documents in chunks of two: three chunks, one run, one reference index built.
    assert_eq!(
        series(&worker_text, "concord_documents_total{kind=\"matching\"}"),
        Some(5.0),
        "{worker_text}"
    );
    assert_eq!(
        series(
            &worker_text,
            "concord_chunk_seconds_count{kind=\"matching\"}"
        ),
        Some(3.0),
        "{worker_text}"
    );
    assert_eq!(
        series(&worker_text, "concord_run_seconds_count{kind=\"matching\"}"),
        Some(1.0),
        "{worker_text}"
    );
    assert_eq!(
        series(
            &worker_text,
            "concord_cache_entries{cache=\"reference_index\"}"
        ),
        Some(1.0),
        "{worker_text}"
    );
    assert_eq!(
        series(
            &worker_text,
            "concord_cache_build_seconds_count{cache=\"reference_index\"}"
        ),
        Some(1.0),
        "{worker_text}"
    );
    let queue = app.topology.queue(concord_queue::Role::Matching);
    // The run's messages are all handled: the queue is empty, and this worker consumes it.
    assert_eq!(
        series(
            &worker_text,
            &format!("concord_queue_messages{{queue=\"{queue}\"}}")
        ),
        Some(0.0),
        "{worker_text}"
    );
    assert_eq!(
        series(
            &worker_text,
            &format!("concord_queue_consumers{{queue=\"{queue}\"}}")
        ),
        Some(1.0),
        "{worker_text}"
    );
    assert!(
        series(
            &worker_text,
            &format!("concord_consumer_lag_seconds_count{{queue=\"{queue}\"}}")
        )
        .is_some_and(|n| n >= 3.0),
        "{worker_text}"
    );
    assert!(
        series(&worker_text, "concord_db_pool_max_connections").is_some_and(|n| n >= 1.0),
        "{worker_text}"
    );
    assert!(
        series(&worker_text, "process_resident_memory_bytes").is_some_and(|n| n > 1e6),
        "{worker_text}"
    );
    assert!(
        series(&worker_text, "concord_outbox_backlog").is_some(),
        "{worker_text}"
    );

    let mut response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    let gateway_text =
        String::from_utf8(response.body().await.expect("a body").to_vec()).expect("utf-8");
    let intake = app.topology.queue(concord_queue::Role::Intake);
    assert_eq!(
        series(
            &gateway_text,
            &format!("concord_queue_consumers{{queue=\"{intake}\"}}")
        ),
        Some(1.0),
        "{gateway_text}"
    );
    assert!(
        series(&gateway_text, "concord_db_pool_connections{state=\"idle\"}").is_some(),
        "{gateway_text}"
    );
    assert!(
        series(&gateway_text, "process_cpu_seconds_total").is_some(),
        "{gateway_text}"
    );
}

/// Every metric the Grafana dashboard queries is one a service registers: a renamed metric
/// cannot leave an empty panel behind.
#[test]
fn the_dashboard_queries_only_metrics_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dashboard: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("deploy/grafana/concord-dashboard.json")).expect("the dashboard"),
    )
    .expect("the dashboard is JSON");
    let mut sources = String::new();
    for dir in ["crates", "services"] {
        let mut stack = vec![root.join(dir)];
        while let Some(path) = stack.pop() {
            for entry in std::fs::read_dir(&path)
                .expect("a source directory")
                .flatten()
            {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    sources.push_str(&std::fs::read_to_string(&path).expect("a source file"));
                }
            }
        }
    }
    let name = regex::Regex::new(r"\b((?:concord|process)_[a-z_]+?)(?:_bucket|_sum|_count)?\b")
        .expect("a regex");
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("an expression");
            for found in name.captures_iter(expr) {
                queried.insert(found[1].to_owned());
            }
        }
    }
    assert!(queried.len() >= 20, "{queried:?}");
    let process = [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
    ];
    for metric in &queried {
        assert!(
            process.contains(&metric.as_str()) || sources.contains(&format!("\"{metric}\"")),
            "the dashboard queries {metric}, which no service registers"
        );
    }
}

#[actix_web::test]
async fn health_readiness_and_metrics_answer_without_a_key() {
    let app = spawn_app().await;
    let health = app.send(app.client.get(app.url("/healthz")), None).await;
    assert_eq!(health.status, 200);
    let ready = app.send(app.client.get(app.url("/readyz")), None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["status"], "ready");

    app.create_job("metrics", 1).await;
    let mut response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    let text = String::from_utf8(response.body().await.expect("a body").to_vec()).expect("utf-8");
    assert!(
        text.contains(
            "concord_http_requests_total{method=\"POST\",route=\"/v1/jobs\",status=\"201\"} 1"
        ),
        "{text}"
    );
}

#[actix_web::test]
async fn every_response_has_a_request_id_and_unknown_routes_use_the_envelope() {
    let app = spawn_app().await;
    let reply = app.send(app.client.get(app.url("/nowhere")), None).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error_code(), "not_found");
    let request_id = reply.header("x-request-id").expect("a request id");
    assert_eq!(reply.body["error"]["request_id"], request_id.as_str());
}
