//! Real-time matches (`POST /v1/matching/configs/{id}/match`): the gateway asks a matching
//! worker over RabbitMQ, which answers from the index it keeps warm — the same answer a run gives.

use std::time::Duration;

use concord_test_support::eventually;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::matching::{
    all_results, by_document, create_config, create_job, documents, mappings, matching_worker,
    start_run, upload_reference_data, wait_for_status,
};

fn match_path(config: &str) -> String {
    format!("/v1/matching/configs/{config}/match")
}

/// Asks until the worker's index is warm: every answer before is a 503 `index_warming` with a
/// `Retry-After`.
async fn match_when_warm(app: &TestApp, key: &str, config: &str, body: &Value) -> Value {
    eventually(Duration::from_secs(30), "a warm index", || async {
        let reply = app.post_json(&match_path(config), key, body).await;
        match reply.status {
            200 => Some(reply.body),
            503 => {
                assert_eq!(reply.error_code(), "index_warming", "{}", reply.body);
                let retry: u64 = reply
                    .header("retry-after")
                    .expect("a Retry-After header")
                    .parse()
                    .expect("whole seconds");
                assert!(retry >= 1);
                None
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    })
    .await
}

#[actix_web::test]
async fn a_document_matched_now_gets_the_answer_a_run_gives_it() {
    let app = spawn_app().await;
    let _worker = matching_worker(&app).await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let config = create_config(&app, &dataset).await;

    // A probabilistic config has no model before its first run trains one.
    let first = app
        .post_json(
            &match_path(&config),
            &app.key,
            &json!({"values": {"vendor_name": "Acme"}}),
        )
        .await;
    assert_eq!(first.status, 404, "{}", first.body);
    assert_eq!(first.error_code(), "model_not_trained");

    let job = create_job(&app).await;
    let run = start_run(&app, &config, &job).await;
    wait_for_status(&app, &run, "completed").await;
    let results = all_results(&app, &run, "").await;

    let documents = documents();
    for document in documents.as_array().expect("documents") {
        let id = document["document_id"].as_str().expect("an id");
        let body = json!({"document_id": id, "values": document["values"]});
        // A read-only key may ask: nothing is written.
        let answer = match_when_warm(&app, &app.read_key, &config, &body).await;
        let stored = by_document(&results, id);
        assert_eq!(answer["document_id"], id);
        assert_eq!(answer["config_id"], config.as_str());
        for field in [
            "matched_reference_row_id",
            "confidence",
            "status",
            "ambiguous",
            "match_weight",
            "evidence",
            "candidates",
        ] {
            assert_eq!(answer[field], stored[field], "{field} of {id}: {answer}");
        }
        let decision = answer["decision"].as_str().expect("a decision");
        match stored["status"].as_str() {
            Some("needs_review") => assert_eq!(decision, "review"),
            _ if stored["matched_reference_row_id"].is_null() => assert_eq!(decision, "unmatched"),
            _ => assert_eq!(decision, "matched"),
        }
    }
    // No run was created by any of it.
    let runs = app.get("/v1/matching/runs", &app.key).await;
    assert_eq!(runs.body["data"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn a_cold_index_answers_503_with_retry_after_then_the_match() {
    let app = spawn_app().await;
    let _worker = matching_worker(&app).await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let reply = app
        .post_json(
            "/v1/matching/configs",
            &app.key,
            &json!({
                "name": "weighted",
                "reference_data_id": dataset,
                "field_mappings": mappings(),
                "scoring": "weighted",
                "threshold": 0.8,
                "review_band": {"lower": 0.6}
            }),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let config = reply.body["id"].as_str().expect("an id").to_owned();
    let body = json!({"values": {"vendor_name": "Globex Corp.", "invoice_number": "#2002", "invoice_date": "03/15/2024", "amount": "$99.00"}});

    let cold = app.post_json(&match_path(&config), &app.key, &body).await;
    assert_eq!(cold.status, 503, "{}", cold.body);
    assert_eq!(cold.error_code(), "index_warming");
    assert!(cold.header("retry-after").is_some());

    let answer = match_when_warm(&app, &app.key, &config, &body).await;
    assert_eq!(answer["matched_reference_row_id"], "R2", "{answer}");
    assert_eq!(answer["decision"], "matched");
    assert_eq!(answer["config_version"], 1);
    assert!(answer["candidates_considered"].as_u64() >= Some(1));
}

#[actix_web::test]
async fn what_cannot_be_matched_is_refused_clearly() {
    let app = spawn_app().await;
    let dataset = upload_reference_data(&app, &app.key).await;
    let config = create_config(&app, &dataset).await;
    let body = json!({"values": {"vendor_name": "Acme"}});

    // No matching worker has ever run in this namespace: 503 at once, never a hanging request.
    let unserved = app.post_json(&match_path(&config), &app.key, &body).await;
    assert_eq!(unserved.status, 503, "{}", unserved.body);
    assert_eq!(unserved.error_code(), "matching_unavailable");
    assert!(unserved.header("retry-after").is_some());

    let _worker = matching_worker(&app).await;
    // Another organisation's config, an unknown one and a malformed id are all 404.
    for (path, key) in [
        (match_path(&config), &app.other_key),
        (match_path(&uuid::Uuid::new_v4().to_string()), &app.key),
        (match_path("not-an-id"), &app.key),
    ] {
        let reply = eventually(Duration::from_secs(10), "an answer", || async {
            let reply = app.post_json(&path, key, &body).await;
            (reply.status != 503).then_some(reply)
        })
        .await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
        assert_eq!(reply.error_code(), "not_found");
    }
    // Bad bodies name their field.
    for (bad, field) in [
        (json!({}), "values"),
        (json!({"values": {"vendor_name": 3}}), "values.vendor_name"),
        (json!({"values": {"": "x"}}), "values."),
        (json!({"values": {}, "extra": 1}), "extra"),
    ] {
        let reply = app.post_json(&match_path(&config), &app.key, &bad).await;
        assert_eq!(reply.status, 422, "{bad}: {}", reply.body);
        assert_eq!(
            reply.body["error"]["details"]["field"], field,
            "{bad}: {}",
            reply.body
        );
    }
}
