//! Matching end to end through the REST API: configs validated against their dataset, runs
//! matched by a real matching worker in chunks, results, reviews, cancel and the CSV export;
//! smart runs and `/ai-resolve` handing runs to the AI pass (the ai-resolver itself is not
//! running here: its part is played through the models where a test needs it).

use std::time::Duration;

use concord_matching_worker::{MatchingJobHandler, NAME};
use concord_queue::Role;
use concord_test_support::worker::{spawn_worker, TestWorker};
use concord_test_support::{amqp_url, eventually, Tap};
use rstest::rstest;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, AppOptions, TestApp};

pub(crate) fn reference_rows() -> Value {
    json!([
        {"ref_id": "R1", "vendor": "Acme GmbH", "invoice": "INV-1001", "date": "2024-03-14", "amount": "1234.50", "currency": "EUR"},
        {"ref_id": "R2", "vendor": "Globex Corporation", "invoice": "INV-2002", "date": "2024-03-15", "amount": "99.00", "currency": "USD"},
        {"ref_id": "R3", "vendor": "Initech LLC", "invoice": "77-3003", "date": "2024-02-01", "amount": "5000.00", "currency": "USD"},
        {"ref_id": "R4", "vendor": "Acme GmbH", "invoice": "INV-1002", "date": "2024-04-14", "amount": "1250.00", "currency": "EUR"},
        {"ref_id": "R5", "vendor": "Umbrella Ltd", "invoice": "U-5005", "date": "2024-01-20", "amount": "42.00", "currency": "GBP"},
        {"ref_id": "R6", "vendor": "Hooli Inc", "invoice": "H-6006", "date": "2024-06-01", "amount": "310.00", "currency": "USD"}
    ])
}

pub(crate) fn documents() -> Value {
    json!([
        {"document_id": "d1", "filename": "d1.pdf", "values": {"vendor_name": "ACME Gmbh", "invoice_number": "INV 1001", "invoice_date": "14.03.2024", "amount": "1.234,50 EUR"}},
        {"document_id": "d2", "filename": "d2.pdf", "values": {"vendor_name": "Globex Corp.", "invoice_number": "#2002", "invoice_date": "03/15/2024", "amount": "$99.00"}},
        {"document_id": "d3", "filename": "d3.pdf", "values": {"vendor_name": "Initech", "invoice_number": "773003", "invoice_date": "2024-02-01", "amount": "5,000.00"}},
        {"document_id": "d4", "filename": "d4.pdf", "values": {"vendor_name": "Wayne Enterprises", "invoice_number": "W-9", "invoice_date": "2024-05-05", "amount": "10.00"}},
        {"document_id": "d5", "filename": "d5.pdf", "values": {"vendor_name": "Umbrella Ltd", "invoice_number": "U-5005", "invoice_date": "20 Jan 2024", "amount": null}}
    ])
}

pub(crate) fn mappings() -> Value {
    json!([
        {"source": "vendor_name", "target": "vendor", "strategy": "fuzzy", "params": {"kind": "name"}, "weight": 2},
        {"source": "invoice_number", "target": "invoice", "strategy": "fuzzy", "params": {"kind": "identifier"}, "weight": 3},
        {"source": "invoice_date", "target": "date", "strategy": "date_range", "params": {"days": 3}, "weight": 1},
        {"source": "amount", "target": "amount", "strategy": "numeric_range", "params": {"tolerance_pct": 1}, "weight": 2}
    ])
}

pub(crate) async fn upload_reference_data(app: &TestApp, key: &str) -> String {
    let reply = app
        .post_json(
            "/v1/reference-data",
            key,
            &json!({"name": "ledger", "id_column": "ref_id", "rows": reference_rows()}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["id"].as_str().expect("a dataset id").to_owned()
}

pub(crate) async fn create_config(app: &TestApp, dataset_id: &str) -> String {
    let reply = app
        .post_json(
            "/v1/matching/configs",
            &app.key,
            &json!({
                "name": "invoices to ledger",
                "reference_data_id": dataset_id,
                "field_mappings": mappings(),
                "threshold": 0.8,
                "review_band": {"lower": 0.6}
            }),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["id"].as_str().expect("a config id").to_owned()
}

pub(crate) async fn create_job(app: &TestApp) -> String {
    let reply = app
        .post_json(
            "/v1/jobs",
            &app.key,
            &json!({"name": "March invoices", "documents": documents()}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["id"].as_str().expect("a job id").to_owned()
}

/// Starts a run of the config over the job; its id.
pub(crate) async fn start_run(app: &TestApp, config: &str, job: &str) -> String {
    let reply = app
        .post_json(
            &format!("/v1/matching/configs/{config}/run"),
            &app.key,
            &json!({"job_id": job}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    reply.body["id"].as_str().expect("a run id").to_owned()
}

pub(crate) async fn matching_worker(app: &TestApp) -> TestWorker {
    spawn_worker(
        &app.database,
        &app.topology,
        amqp_url(),
        Role::Matching,
        NAME,
        MatchingJobHandler::new,
    )
    .await
}

pub(crate) async fn wait_for_status(app: &TestApp, run_id: &str, status: &str) -> Value {
    eventually(
        Duration::from_secs(30),
        &format!("run {status}"),
        || async {
            let reply = app
                .get(&format!("/v1/matching/runs/{run_id}"), &app.key)
                .await;
            (reply.body["status"] == status).then_some(reply.body)
        },
    )
    .await
}

pub(crate) async fn all_results(app: &TestApp, run_id: &str, query: &str) -> Vec<Value> {
    let reply = app
        .get(
            &format!("/v1/matching/runs/{run_id}/results?limit=1000{query}"),
            &app.key,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["data"].as_array().expect("results").clone()
}

pub(crate) fn by_document<'a>(results: &'a [Value], document_id: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["document_id"] == document_id)
        .expect("a result for the document")
}

#[actix_web::test]
async fn a_config_is_created_read_replaced_listed_and_deleted() {
    let app = spawn_app().await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let id = create_config(&app, &dataset).await;

    let fetched = app
        .get(&format!("/v1/matching/configs/{id}"), &app.key)
        .await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body["reference_data_id"], dataset.as_str());
    assert_eq!(fetched.body["threshold"], 0.8);
    assert_eq!(
        fetched.body["review_band"],
        json!({"lower": 0.6, "upper": 0.8})
    );
    assert_eq!(fetched.body["version"], 1);
    assert_eq!(fetched.body["field_mappings"][0]["params"]["kind"], "name");

    // PUT replaces everything but the dataset, and makes a new version; defaults apply again.
    let replaced = app
        .put_json(
            &format!("/v1/matching/configs/{id}"),
            &app.key,
            &json!({"name": "renamed", "field_mappings": [mappings()[1].clone()]}),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.body["name"], "renamed");
    assert_eq!(replaced.body["version"], 2);
    assert_eq!(replaced.body["threshold"], 0.85);
    assert_eq!(
        replaced.body["field_mappings"].as_array().map(Vec::len),
        Some(1)
    );

    // The dataset is fixed after creation.
    let other_dataset = upload_reference_data(&app, &app.key).await;
    let moved = app
        .put_json(
            &format!("/v1/matching/configs/{id}"),
            &app.key,
            &json!({"name": "x", "reference_data_id": other_dataset, "field_mappings": mappings()}),
        )
        .await;
    assert_eq!(moved.status, 422);
    assert_eq!(moved.body["error"]["details"]["field"], "reference_data_id");

    let listed = app.get("/v1/matching/configs", &app.key).await;
    assert_eq!(listed.body["data"][0]["id"], id.as_str());

    // Other organisations see nothing; a read-only key can't write.
    let foreign = app
        .get(&format!("/v1/matching/configs/{id}"), &app.other_key)
        .await;
    assert_eq!(foreign.status, 404);
    let read_only = app
        .post_json(
            "/v1/matching/configs",
            &app.read_key,
            &json!({"name": "x", "reference_data_id": dataset, "field_mappings": mappings()}),
        )
        .await;
    assert_eq!(read_only.status, 403);

    assert_eq!(
        app.delete(&format!("/v1/matching/configs/{id}"), &app.key)
            .await
            .status,
        204
    );
    let gone = app
        .get(&format!("/v1/matching/configs/{id}"), &app.key)
        .await;
    assert_eq!(gone.status, 404);
}

#[rstest]
#[case::unknown_target(
    json!([{"source": "vendor_name", "target": "supplier", "strategy": "fuzzy"}]),
    "field_mappings[0].target"
)]
#[case::unknown_strategy(
    json!([{"source": "vendor_name", "target": "vendor", "strategy": "fuzzy"}, {"source": "a", "target": "amount", "strategy": "soundex"}]),
    "field_mappings[1].strategy"
)]
#[case::bad_days(
    json!([{"source": "d", "target": "date", "strategy": "date_range", "params": {"days": -2}}]),
    "field_mappings[0].params.days"
)]
#[case::both_tolerances(
    json!([{"source": "a", "target": "amount", "strategy": "numeric_range", "params": {"tolerance_pct": 1, "tolerance_abs": 2}}]),
    "field_mappings[0].params"
)]
#[case::zero_weight(
    json!([{"source": "vendor_name", "target": "vendor", "strategy": "exact", "weight": 0}]),
    "field_mappings[0].weight"
)]
#[case::no_mappings(json!([]), "field_mappings")]
#[actix_web::test]
async fn a_bad_mapping_is_named(#[case] field_mappings: Value, #[case] field: &str) {
    let app = spawn_app().await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let reply = app
        .post_json(
            "/v1/matching/configs",
            &app.key,
            &json!({"name": "bad", "reference_data_id": dataset, "field_mappings": field_mappings}),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.error_code(), "validation_failed");
    let named = reply.body["error"]["details"]["field"]
        .as_str()
        .unwrap_or("");
    assert!(
        named.starts_with(field),
        "{named} for {field}: {}",
        reply.body
    );
    assert_eq!(app.count("matching_configs").await, 0);
}

#[rstest]
#[case::threshold(json!({"threshold": 1.5}), "threshold")]
#[case::band_above_threshold(json!({"threshold": 0.7, "review_band": {"lower": 0.9}}), "review_band.lower")]
#[case::missing_dataset(json!({"reference_data_id": null}), "reference_data_id")]
#[case::unknown_dataset(json!({"reference_data_id": "0190d5a2-0000-7000-8000-000000000000"}), "reference_data_id")]
#[case::empty_name(json!({"name": " "}), "name")]
#[actix_web::test]
async fn bad_settings_are_named(#[case] overrides: Value, #[case] field: &str) {
    let app = spawn_app().await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let mut body =
        json!({"name": "cfg", "reference_data_id": dataset, "field_mappings": mappings()});
    for (key, value) in overrides.as_object().expect("an object") {
        body[key] = value.clone();
    }
    let reply = app.post_json("/v1/matching/configs", &app.key, &body).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.body["error"]["details"]["field"], field,
        "{}",
        reply.body
    );
}

#[actix_web::test]
async fn a_run_matches_every_document_and_explains_each_result() {
    let app = spawn_app_with(AppOptions {
        matching_chunk_size: 2,
        ..AppOptions::default()
    })
    .await;
    let mut events = Tap::bind(&app.topology.events_exchange(), "matching.run.#").await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let config = create_config(&app, &dataset).await;
    let job = create_job(&app).await;
    let _worker = matching_worker(&app).await;

    let started = app
        .post_json(
            &format!("/v1/matching/configs/{config}/run"),
            &app.key,
            &json!({"job_id": job}),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.body);
    assert_eq!(started.body["status"], "queued");
    assert_eq!(started.body["rows_total"], 5);
    let run_id = started.body["id"].as_str().expect("a run id").to_owned();

    let run = wait_for_status(&app, &run_id, "completed").await;
    assert_eq!(run["rows_processed"], 5);
    assert_eq!(run["rows_matched"], 4, "{run}");
    assert!(run["avg_confidence"].as_f64().is_some_and(|c| c > 0.5));
    assert!(run["completed_at"].is_string());
    assert_eq!(run["top_results"].as_array().map(Vec::len), Some(5));

    let results = all_results(&app, &run_id, "").await;
    assert_eq!(results.len(), 5);
    for (document, row) in [("d1", "R1"), ("d2", "R2"), ("d3", "R3"), ("d5", "R5")] {
        let result = by_document(&results, document);
        assert_eq!(result["matched_reference_row_id"], row, "{result}");
        assert_eq!(result["candidates"][0]["reference_row_id"], row);
    }
    let unmatched = by_document(&results, "d4");
    assert_eq!(unmatched["matched_reference_row_id"], Value::Null);
    // Evidence names each mapped field with both values; d5 has no amount, so that field is
    // left out (no score) rather than counted as a disagreement.
    let d1 = by_document(&results, "d1");
    let evidence = d1["evidence"].as_array().expect("evidence");
    assert_eq!(evidence.len(), 4);
    assert_eq!(evidence[0]["strategy"], "fuzzy");
    assert_eq!(evidence[0]["document_value"], "ACME Gmbh");
    assert_eq!(evidence[0]["reference_value"], "Acme GmbH");
    assert!(evidence[3]["score"].as_f64().is_some_and(|s| s > 0.99));
    let d5 = by_document(&results, "d5");
    assert_eq!(d5["evidence"][3]["score"], Value::Null);
    assert_eq!(d5["evidence"][3]["document_value"], Value::Null);
    for result in &results {
        let confidence = result["confidence"].as_f64().expect("a confidence");
        assert!((0.0..=1.0).contains(&confidence));
        assert!(result["candidates"].as_array().map(Vec::len) <= Some(5));
    }

    // Filters.
    assert_eq!(all_results(&app, &run_id, "&matched=true").await.len(), 4);
    assert_eq!(all_results(&app, &run_id, "&matched=false").await.len(), 1);
    let confident = all_results(&app, &run_id, "&min_confidence=0.8").await;
    assert!(confident
        .iter()
        .all(|r| r["confidence"].as_f64() >= Some(0.8)));
    let bad_filter = app
        .get(
            &format!("/v1/matching/runs/{run_id}/results?status=maybe"),
            &app.key,
        )
        .await;
    assert_eq!(bad_filter.status, 422);
    assert_eq!(bad_filter.body["error"]["details"]["field"], "status");

    // Progress of an ended run.
    let progress = app
        .get(&format!("/v1/matching/runs/{run_id}/progress"), &app.key)
        .await;
    assert_eq!(progress.body["phase"], "completed");
    assert_eq!(progress.body["processed"], 5);
    assert_eq!(progress.body["total"], 5);
    assert_eq!(progress.body["chunks_done"], 3);
    assert_eq!(progress.body["chunks_total"], 3);

    // The completion is announced once.
    let event = events
        .next(Duration::from_secs(10))
        .await
        .expect("an event");
    assert_eq!(event.routing_key, "matching.run.completed");
    let payload = &event.body;
    assert_eq!(payload["data"]["run_id"], run_id.as_str());
    assert_eq!(payload["data"]["rows_matched"], 4);

    // A run that has ended can't be cancelled.
    let cancel = app
        .post_json(
            &format!("/v1/matching/runs/{run_id}/cancel"),
            &app.key,
            &json!({}),
        )
        .await;
    assert_eq!(cancel.status, 409);
    assert_eq!(cancel.error_code(), "run_ended");

    // Runs are listed, by config too; other organisations see none of it.
    let listed = app
        .get(&format!("/v1/matching/runs?config_id={config}"), &app.key)
        .await;
    assert_eq!(listed.body["data"][0]["id"], run_id.as_str());
    let foreign = app
        .get(&format!("/v1/matching/runs/{run_id}"), &app.other_key)
        .await;
    assert_eq!(foreign.status, 404);
    let foreign_results = app
        .get(
            &format!("/v1/matching/runs/{run_id}/results"),
            &app.other_key,
        )
        .await;
    assert_eq!(foreign_results.status, 404);
}

/// The status of `result` among the top results of the run's detail.
async fn detail_status(app: &TestApp, run_id: &str, result: &str) -> Value {
    let detail = app
        .get(&format!("/v1/matching/runs/{run_id}"), &app.key)
        .await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    detail.body["top_results"]
        .as_array()
        .expect("top results")
        .iter()
        .find(|r| r["id"] == result)
        .expect("the result among the top results")["status"]
        .clone()
}

#[actix_web::test]
async fn reviews_overwrite_each_other_and_show_in_the_export() {
    let app = spawn_app().await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let config = create_config(&app, &dataset).await;
    let job = create_job(&app).await;
    let _worker = matching_worker(&app).await;
    let run_id = start_run(&app, &config, &job).await;
    wait_for_status(&app, &run_id, "completed").await;
    let results = all_results(&app, &run_id, "").await;
    let d1 = by_document(&results, "d1")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let review_path = format!("/v1/matching/runs/{run_id}/results/{d1}/review");
    // The run's detail (rendered once per version of the run and kept) shows each review.
    assert_ne!(detail_status(&app, &run_id, &d1).await, "rejected");
    assert_ne!(detail_status(&app, &run_id, &d1).await, "rejected");

    let rejected = app
        .post_json(
            &review_path,
            &app.key,
            &json!({"status": "rejected", "notes": "wrong vendor"}),
        )
        .await;
    assert_eq!(rejected.status, 200, "{}", rejected.body);
    assert_eq!(rejected.body["status"], "rejected");
    assert_eq!(rejected.body["matched_reference_row_id"], Value::Null);
    assert_eq!(rejected.body["review"]["notes"], "wrong vendor");
    assert_eq!(detail_status(&app, &run_id, &d1).await, "rejected");

    // A later review overwrites; an approval may settle on one of the candidates only.
    let not_a_candidate = app
        .post_json(
            &review_path,
            &app.key,
            &json!({"status": "approved", "matched_reference_row_id": "R999"}),
        )
        .await;
    assert_eq!(not_a_candidate.status, 422);
    assert_eq!(
        not_a_candidate.body["error"]["details"]["field"],
        "matched_reference_row_id"
    );
    let approved = app
        .post_json(
            &review_path,
            &app.key,
            &json!({"status": "approved", "matched_reference_row_id": "R1"}),
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["matched_reference_row_id"], "R1");
    assert_eq!(approved.body["resolved_by"], "reviewer");
    assert_eq!(approved.body["review"]["notes"], Value::Null);
    assert_eq!(detail_status(&app, &run_id, &d1).await, "approved");

    let bad = app
        .post_json(&review_path, &app.key, &json!({"status": "maybe"}))
        .await;
    assert_eq!(bad.status, 422);
    let read_only = app
        .post_json(&review_path, &app.read_key, &json!({"status": "approved"}))
        .await;
    assert_eq!(read_only.status, 403);
    assert_eq!(
        all_results(&app, &run_id, "&status=approved").await.len(),
        1
    );

    // The export holds every result, with the review.
    let mut response = app
        .client
        .get(app.url(&format!("/v1/matching/runs/{run_id}/results/export")))
        .bearer_auth(&app.key)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
    let body = response.body().await.expect("a body");
    let text = String::from_utf8(body.to_vec()).expect("utf-8");
    let mut lines = text.lines();
    let header = lines.next().expect("a header");
    assert_eq!(
        header,
        "document_id,document_filename,matched_reference_row_id,confidence,status,ambiguous,\
         resolved_by,candidates,match_weight,evidence,review_notes,ai_suggested_row_id,ai_flag"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 5);
    assert!(rows
        .iter()
        .any(|row| row.starts_with("d1,d1.pdf,R1,") && row.contains(",approved,")));
}

#[actix_web::test]
async fn a_cancelled_run_stops_and_keeps_what_it_has() {
    let app = spawn_app().await;
    let mut events = Tap::bind(&app.topology.events_exchange(), "matching.run.#").await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let config = create_config(&app, &dataset).await;
    let job = create_job(&app).await;
    // No worker yet: the run stays queued until it is cancelled.
    let run_id = start_run(&app, &config, &job).await;
    let cancelled = app
        .post_json(
            &format!("/v1/matching/runs/{run_id}/cancel"),
            &app.key,
            &json!({}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    let event = events
        .next(Duration::from_secs(10))
        .await
        .expect("an event");
    assert_eq!(event.routing_key, "matching.run.cancelled");

    // A worker that arrives later skips the run's chunk.
    let worker = matching_worker(&app).await;
    eventually(Duration::from_secs(20), "the chunk consumed", || async {
        (worker.acknowledged(Role::Matching).await >= 1.0).then_some(())
    })
    .await;
    let run = app
        .get(&format!("/v1/matching/runs/{run_id}"), &app.key)
        .await;
    assert_eq!(run.body["status"], "cancelled");
    assert_eq!(run.body["rows_processed"], 0);
    assert!(all_results(&app, &run_id, "").await.is_empty());
    let again = app
        .post_json(
            &format!("/v1/matching/runs/{run_id}/cancel"),
            &app.key,
            &json!({}),
        )
        .await;
    assert_eq!(again.status, 409);
}

#[actix_web::test]
async fn a_run_refuses_what_it_cannot_match() {
    let app = spawn_app().await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let config = create_config(&app, &dataset).await;
    let job = create_job(&app).await;
    let path = format!("/v1/matching/configs/{config}/run");

    let unknown_job = app
        .post_json(
            &path,
            &app.key,
            &json!({"job_id": "0190d5a2-0000-7000-8000-000000000000"}),
        )
        .await;
    assert_eq!(unknown_job.status, 422);
    assert_eq!(unknown_job.body["error"]["details"]["field"], "job_id");
    let missing_job = app.post_json(&path, &app.key, &json!({})).await;
    assert_eq!(missing_job.status, 422, "{}", missing_job.body);
    let unknown_config = app
        .post_json(
            "/v1/matching/configs/0190d5a2-0000-7000-8000-000000000000/run",
            &app.key,
            &json!({"job_id": job}),
        )
        .await;
    assert_eq!(unknown_config.status, 404);
    let foreign = app
        .post_json(&path, &app.other_key, &json!({"job_id": job}))
        .await;
    assert_eq!(foreign.status, 404);

    // Once its dataset is deleted, the config's next run fails clearly.
    assert_eq!(
        app.delete(&format!("/v1/reference-data/{dataset}"), &app.key)
            .await
            .status,
        204
    );
    let orphaned = app
        .post_json(&path, &app.key, &json!({"job_id": job}))
        .await;
    assert_eq!(orphaned.status, 409);
    assert_eq!(orphaned.error_code(), "reference_data_deleted");
    assert!(orphaned.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains(&dataset)));
    assert_eq!(app.count("matching_runs").await, 0);
}

#[actix_web::test]
async fn two_workers_share_one_run_and_count_every_document_once() {
    let app = spawn_app_with(AppOptions {
        matching_chunk_size: 1,
        ..AppOptions::default()
    })
    .await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let config = create_config(&app, &dataset).await;
    let job = create_job(&app).await;
    let first = matching_worker(&app).await;
    let second = matching_worker(&app).await;
    let run_id = start_run(&app, &config, &job).await;
    let run = wait_for_status(&app, &run_id, "completed").await;
    assert_eq!(run["rows_processed"], 5);
    assert_eq!(run["rows_matched"], 4);
    assert_eq!(app.count("match_results").await, 5);
    assert_eq!(app.count("matching_run_chunks").await, 5);
    // The config's first run trains its model (one message), then its five chunks.
    let handled =
        first.acknowledged(Role::Matching).await + second.acknowledged(Role::Matching).await;
    assert_eq!(handled, 6.0);
    assert!(first.acknowledged(Role::Matching).await >= 1.0);
    assert!(second.acknowledged(Role::Matching).await >= 1.0);
}

/// How many AI tasks for the run are in the outbox (published or not).
async fn ai_tasks(app: &TestApp, run_id: &str) -> i64 {
    app.count(&format!(
        "outbox_messages WHERE exchange = 'jobs' AND routing_key = 'ai' \
         AND payload->>'run_id' = '{run_id}' AND payload->>'run_kind' = 'matching'"
    ))
    .await
}

/// The `item_ids` of the run's one AI task (empty when the task is for the whole band).
async fn ai_task_items(app: &TestApp, run_id: &str) -> Vec<String> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let mut conn = concord_models::database::connection(&app.pool)
        .await
        .expect("a connection");
    let payload: Value = concord_models::schema::outbox_messages::table
        .filter(concord_models::schema::outbox_messages::routing_key.eq("ai"))
        .select(concord_models::schema::outbox_messages::payload)
        .load::<Value>(&mut conn)
        .await
        .expect("a query")
        .into_iter()
        .find(|payload| payload["run_id"] == run_id)
        .expect("the run's AI task");
    payload["item_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect()
}

#[actix_web::test]
async fn a_smart_run_is_scored_then_handed_to_the_ai_pass() {
    let app = spawn_app_with(AppOptions {
        matching_chunk_size: 2,
        ..AppOptions::default()
    })
    .await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let config = create_config(&app, &dataset).await;
    let job = create_job(&app).await;
    let _worker = matching_worker(&app).await;

    let started = app
        .post_json(
            &format!("/v1/matching/configs/{config}/run"),
            &app.key,
            &json!({"job_id": job, "mode": "smart"}),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.body);
    assert_eq!(started.body["mode"], "smart");
    assert_eq!(started.body["status"], "queued");
    assert_eq!(
        started.body["ai"],
        json!({"items": 0, "accepted": 0, "flagged": 0, "calls": 0})
    );
    let run_id = started.body["id"].as_str().expect("a run id").to_owned();

    // Scored like a manual run, then handed over instead of completed.
    let run = wait_for_status(&app, &run_id, "ai_resolving").await;
    assert_eq!(run["mode"], "smart");
    assert_eq!(run["rows_processed"], 5);
    assert_eq!(run["rows_matched"], 4, "{run}");
    assert!(run["avg_confidence"].as_f64().is_some_and(|c| c > 0.5));
    assert_eq!(run["completed_at"], Value::Null);
    assert_eq!(run["ai"]["items"], 0);
    let progress = app
        .get(&format!("/v1/matching/runs/{run_id}/progress"), &app.key)
        .await;
    assert_eq!(progress.body["status"], "ai_resolving");
    assert_eq!(progress.body["phase"], "ai_resolving");
    assert_eq!(progress.body["chunks_done"], 3);
    assert_eq!(ai_tasks(&app, &run_id).await, 1);
    assert!(ai_task_items(&app, &run_id).await.is_empty());
    assert_eq!(
        app.count("outbox_messages WHERE routing_key = 'matching.run.completed'")
            .await,
        0,
        "the ai-resolver announces the completion"
    );
    let results = all_results(&app, &run_id, "").await;
    assert_eq!(results.len(), 5);
    assert!(results.iter().all(|r| r["ai"].is_null()));

    // Not completed: no second AI pass while this one is under way.
    let again = app
        .post_json(
            &format!("/v1/matching/runs/{run_id}/ai-resolve"),
            &app.key,
            &json!({}),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.error_code(), "run_not_completed");
    assert_eq!(ai_tasks(&app, &run_id).await, 1);

    // An `ai_resolving` run can be cancelled; its results stay.
    let cancelled = app
        .post_json(
            &format!("/v1/matching/runs/{run_id}/cancel"),
            &app.key,
            &json!({}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(all_results(&app, &run_id, "").await.len(), 5);
    let after_cancel = app
        .post_json(
            &format!("/v1/matching/runs/{run_id}/ai-resolve"),
            &app.key,
            &json!({}),
        )
        .await;
    assert_eq!(after_cancel.status, 409);
    assert!(after_cancel.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("cancelled")));

    // `/smart-run` is the same with the mode implied.
    let smart = app
        .post_json(
            &format!("/v1/matching/configs/{config}/smart-run"),
            &app.key,
            &json!({"job_id": job}),
        )
        .await;
    assert_eq!(smart.status, 202, "{}", smart.body);
    assert_eq!(smart.body["mode"], "smart");
    let smart_id = smart.body["id"].as_str().expect("a run id").to_owned();
    let run = wait_for_status(&app, &smart_id, "ai_resolving").await;
    assert_eq!(run["rows_processed"], 5);
    assert_eq!(run["rows_matched"], 4);
    assert_eq!(ai_tasks(&app, &smart_id).await, 1);
    let stored_mode = app
        .count(&format!(
            "matching_runs WHERE id = '{smart_id}' AND mode = 'smart'"
        ))
        .await;
    assert_eq!(stored_mode, 1);

    // The mode is not a field of `/smart-run`; an unknown mode is named.
    let with_mode = app
        .post_json(
            &format!("/v1/matching/configs/{config}/smart-run"),
            &app.key,
            &json!({"job_id": job, "mode": "manual"}),
        )
        .await;
    assert_eq!(with_mode.status, 422, "{}", with_mode.body);
    let bad_mode = app
        .post_json(
            &format!("/v1/matching/configs/{config}/run"),
            &app.key,
            &json!({"job_id": job, "mode": "clever"}),
        )
        .await;
    assert_eq!(bad_mode.status, 422, "{}", bad_mode.body);
    assert_eq!(bad_mode.body["error"]["details"]["field"], "mode");
    let foreign = app
        .post_json(
            &format!("/v1/matching/configs/{config}/smart-run"),
            &app.other_key,
            &json!({"job_id": job}),
        )
        .await;
    assert_eq!(foreign.status, 404);
    let read_only = app
        .post_json(
            &format!("/v1/matching/configs/{config}/smart-run"),
            &app.read_key,
            &json!({"job_id": job}),
        )
        .await;
    assert_eq!(read_only.status, 403);
}

#[actix_web::test]
async fn ai_resolve_sends_a_completed_run_to_the_ai_pass() {
    use concord_models::ids::{MatchResultId, MatchingRunId};
    use concord_models::match_results::{AiDecision, MatchResult};
    use concord_models::matching_runs::MatchingRun;

    let app = spawn_app().await;
    let mut events = Tap::bind(&app.topology.events_exchange(), "matching.run.#").await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let config = create_config(&app, &dataset).await;
    let job = create_job(&app).await;
    // No worker yet: a queued run is not completed.
    let run_id = start_run(&app, &config, &job).await;
    let path = format!("/v1/matching/runs/{run_id}/ai-resolve");
    let queued = app.post_json(&path, &app.key, &json!({})).await;
    assert_eq!(queued.status, 409, "{}", queued.body);
    assert_eq!(queued.error_code(), "run_not_completed");
    assert!(queued.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("queued")));
    assert_eq!(ai_tasks(&app, &run_id).await, 0);

    let _worker = matching_worker(&app).await;
    wait_for_status(&app, &run_id, "completed").await;
    let completed = events
        .next(Duration::from_secs(10))
        .await
        .expect("an event");
    assert_eq!(completed.routing_key, "matching.run.completed");
    let results = all_results(&app, &run_id, "").await;
    let id_of = |document: &str| {
        by_document(&results, document)["id"]
            .as_str()
            .expect("an id")
            .to_owned()
    };
    let (d1, d4, d5) = (id_of("d1"), id_of("d4"), id_of("d5"));

    // Ids that are not results of this run are named by their index; nothing changes.
    let other_run = start_run(&app, &config, &job).await;
    wait_for_status(&app, &other_run, "completed").await;
    let foreign_result = all_results(&app, &other_run, "").await[0]["id"].clone();
    for (ids, field) in [
        (json!([d1, d4, d5, foreign_result]), "result_ids[3]"),
        (
            json!([d1, uuid::Uuid::now_v7().to_string()]),
            "result_ids[1]",
        ),
        (json!(["not-an-id"]), "result_ids[0]"),
        (json!([d1, 7]), "result_ids[1]"),
        (json!([]), "result_ids"),
    ] {
        let reply = app
            .post_json(&path, &app.key, &json!({"result_ids": ids}))
            .await;
        assert_eq!(reply.status, 422, "{ids}: {}", reply.body);
        assert_eq!(
            reply.body["error"]["details"]["field"], field,
            "{}",
            reply.body
        );
    }
    let unknown_field = app
        .post_json(&path, &app.key, &json!({"results": [d1]}))
        .await;
    assert_eq!(unknown_field.status, 422);
    // Another organisation's run is not found; a read-only key can't send it.
    let foreign = app
        .post_json(&path, &app.other_key, &json!({"result_ids": [d4]}))
        .await;
    assert_eq!(foreign.status, 404, "{}", foreign.body);
    let read_only = app
        .post_json(&path, &app.read_key, &json!({"result_ids": [d4]}))
        .await;
    assert_eq!(read_only.status, 403);
    let unknown_run = app
        .post_json(
            &format!("/v1/matching/runs/{}/ai-resolve", uuid::Uuid::now_v7()),
            &app.key,
            &json!({}),
        )
        .await;
    assert_eq!(unknown_run.status, 404);
    assert_eq!(ai_tasks(&app, &run_id).await, 0);
    let run = app
        .get(&format!("/v1/matching/runs/{run_id}"), &app.key)
        .await;
    assert_eq!(run.body["status"], "completed");

    // The given results, once each, in one task with the run `ai_resolving`.
    let sent = app
        .post_json(&path, &app.key, &json!({"result_ids": [d4, d5, d4]}))
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    assert_eq!(sent.body["status"], "ai_resolving");
    assert_eq!(sent.body["mode"], "manual");
    assert_eq!(ai_tasks(&app, &run_id).await, 1);
    assert_eq!(
        ai_task_items(&app, &run_id).await,
        vec![d4.clone(), d5.clone()]
    );
    let again = app.post_json(&path, &app.key, &json!({})).await;
    assert_eq!(again.status, 409);
    assert!(again.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("ai_resolving")));
    assert_eq!(ai_tasks(&app, &run_id).await, 1);

    // The ai-resolver's part: a choice applied to d4, a flagged one on d5, the pass completed.
    {
        let mut conn = concord_models::database::connection(&app.pool)
            .await
            .expect("a connection");
        let applied = AiDecision {
            model: Some("smollm2".to_owned()),
            rationale: Some("same vendor and amount".to_owned()),
            confidence: Some(0.9),
            chosen: Some("R6".to_owned()),
            apply: true,
            match_confidence: 0.82,
            flag: None,
        };
        let flagged = AiDecision {
            chosen: Some("R1".to_owned()),
            flag: Some("low_confidence".to_owned()),
            confidence: Some(0.3),
            apply: false,
            ..applied.clone()
        };
        for (id, decision) in [(&d4, &applied), (&d5, &flagged)] {
            let id: MatchResultId = id.parse().expect("an id");
            assert!(MatchResult::record_ai_decision(&mut conn, id, decision)
                .await
                .expect("a decision"));
        }
        let run: MatchingRunId = run_id.parse().expect("an id");
        MatchingRun::complete_ai_pass(&mut conn, run)
            .await
            .expect("an update")
            .expect("the run was ai_resolving");
    }
    let run = app
        .get(&format!("/v1/matching/runs/{run_id}"), &app.key)
        .await;
    assert_eq!(run.body["status"], "completed");
    assert_eq!(run.body["rows_matched"], 5);
    let d4_view = app
        .get(
            &format!("/v1/matching/runs/{run_id}/results?limit=1000"),
            &app.key,
        )
        .await;
    let d4_view = d4_view.body["data"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["document_id"] == "d4")
        .expect("d4")
        .clone();
    assert_eq!(d4_view["resolved_by"], "ai");
    assert_eq!(d4_view["matched_reference_row_id"], "R6");
    assert_eq!(d4_view["ai"]["model"], "smollm2");
    assert_eq!(d4_view["ai"]["rationale"], "same vendor and amount");
    assert_eq!(d4_view["ai"]["confidence"], 0.9);
    assert_eq!(d4_view["ai"]["suggested_reference_row_id"], "R6");
    assert_eq!(d4_view["ai"]["flag"], Value::Null);
    assert!(d4_view["ai"]["decided_at"].is_string());
    let results = all_results(&app, &run_id, "").await;
    let d5_view = by_document(&results, "d5");
    assert_eq!(d5_view["resolved_by"], "rules");
    assert_eq!(d5_view["matched_reference_row_id"], "R5");
    assert_eq!(d5_view["ai"]["flag"], "low_confidence");
    assert_eq!(d5_view["ai"]["suggested_reference_row_id"], "R1");
    assert!(by_document(&results, "d1")["ai"].is_null());

    // The export ends with the AI pass's suggestion and flag.
    let mut response = app
        .client
        .get(app.url(&format!("/v1/matching/runs/{run_id}/results/export")))
        .bearer_auth(&app.key)
        .send()
        .await
        .expect("an answer");
    let body = response.body().await.expect("a body");
    let text = String::from_utf8(body.to_vec()).expect("utf-8");
    assert!(text
        .lines()
        .next()
        .is_some_and(|h| h.ends_with(",ai_suggested_row_id,ai_flag")));
    let row_of = |document: &str| {
        text.lines()
            .find(|line| line.starts_with(&format!("{document},")))
            .expect("a row")
            .to_owned()
    };
    assert!(row_of("d4").ends_with(",R6,"), "{}", row_of("d4"));
    assert!(
        row_of("d5").ends_with(",R1,low_confidence"),
        "{}",
        row_of("d5")
    );
    assert!(row_of("d1").ends_with(",,"), "{}", row_of("d1"));

    // A completed run can be sent again: the whole review band when no ids are given.
    let whole_band = app
        .send(app.client.post(app.url(&path)).bearer_auth(&app.key), None)
        .await;
    assert_eq!(whole_band.status, 202, "{}", whole_band.body);
    assert_eq!(ai_tasks(&app, &run_id).await, 2);
}

#[actix_web::test]
async fn a_run_keeps_as_many_candidates_as_asked() {
    let app = spawn_app().await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let config = create_config(&app, &dataset).await;
    let job = create_job(&app).await;
    for (body, field) in [
        (json!({"job_id": job, "candidates": 0}), "candidates"),
        (json!({"job_id": job, "candidates": 21}), "candidates"),
    ] {
        let refused = app
            .post_json(
                &format!("/v1/matching/configs/{config}/run"),
                &app.key,
                &body,
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert_eq!(refused.body["error"]["details"]["field"], field);
    }
    let _worker = matching_worker(&app).await;
    let counts = |results: &[Value]| -> Vec<usize> {
        results
            .iter()
            .map(|r| r["candidates"].as_array().map_or(0, Vec::len))
            .collect()
    };
    let narrow = app
        .post_json(
            &format!("/v1/matching/configs/{config}/run"),
            &app.key,
            &json!({"job_id": job, "candidates": 1}),
        )
        .await;
    assert_eq!(narrow.status, 202, "{}", narrow.body);
    let narrow = narrow.body["id"].as_str().expect("a run id").to_owned();
    wait_for_status(&app, &narrow, "completed").await;
    let wide = start_run(&app, &config, &job).await;
    wait_for_status(&app, &wide, "completed").await;
    let narrow_results = all_results(&app, &narrow, "").await;
    let wide_results = all_results(&app, &wide, "").await;
    let narrow_counts = counts(&narrow_results);
    let wide_counts = counts(&wide_results);
    assert!(narrow_counts.iter().all(|&n| n <= 1), "{narrow_counts:?}");
    assert!(wide_counts.iter().any(|&n| n > 1), "{wide_counts:?}");
    // The best candidate, and so the decision, does not depend on how many are kept.
    let best = |results: &[Value]| -> Vec<Value> {
        results
            .iter()
            .map(|r| r["matched_reference_row_id"].clone())
            .collect()
    };
    assert_eq!(best(&narrow_results), best(&wide_results));
}
