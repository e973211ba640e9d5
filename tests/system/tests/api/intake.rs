use std::collections::HashMap;
use std::time::Duration;

use concord_test_support::{eventually, Tap};
use serde_json::json;

use crate::helpers::{document, spawn_app, TestApp};

async fn publish_intake(
    app: &TestApp,
    key: Option<&str>,
    message_id: &str,
    body: &serde_json::Value,
) {
    let mut headers = HashMap::new();
    if let Some(key) = key {
        headers.insert("authorization".to_owned(), format!("Bearer {key}"));
    }
    let payload = serde_json::to_vec(body).expect("json");
    concord_test_support::broker::publish(
        &app.topology.intake_exchange(),
        concord_messages::intake::JOB_SUBMIT_V1,
        message_id,
        &payload,
        headers,
    )
    .await;
}

#[actix_web::test]
async fn a_batch_from_the_intake_queue_becomes_a_job_run_once() {
    let app = spawn_app().await;
    let mut events = Tap::bind(&app.topology.events_exchange(), "job.*").await;
    let body = json!({"name": "from upstream", "documents": [document("u1"), document("u2")]});
    publish_intake(&app, Some(&app.key), "upstream-42", &body).await;

    let event = events
        .next(Duration::from_secs(20))
        .await
        .expect("a job.completed event");
    assert_eq!(event.routing_key, "job.completed");
    assert_eq!(event.body["correlation_id"], "upstream-42");
    assert_eq!(event.body["data"]["document_count"], 2);
    assert_eq!(event.body["data"]["source"], "intake");
    let id = event.body["subject"]["id"]
        .as_str()
        .expect("the job run id")
        .to_owned();

    let job = app.get(&format!("/v1/jobs/{id}"), &app.key).await;
    assert_eq!(job.status, 200);
    assert_eq!(job.body["name"], "from upstream");

    // The same message again (a redelivery, or a producer retry) creates nothing new.
    publish_intake(&app, Some(&app.key), "upstream-42", &body).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.count("job_runs").await, 1);
}

#[actix_web::test]
async fn invalid_batches_are_dead_lettered_with_a_reason_and_reported() {
    let app = spawn_app().await;
    let mut rejections = Tap::bind(&app.topology.events_exchange(), "intake.rejected").await;
    let mut dead_letters = Tap::bind(&app.topology.dead_letter_exchange(), "intake").await;

    // Missing a document id.
    publish_intake(
        &app,
        Some(&app.key),
        "bad-1",
        &json!({"name": "x", "documents": [{"values": {}}]}),
    )
    .await;
    let dead = dead_letters
        .next(Duration::from_secs(20))
        .await
        .expect("a dead letter");
    assert_eq!(dead.message_id.as_deref(), Some("bad-1"));
    let reason = dead.headers.get("x-concord-error").expect("a reason");
    assert!(reason.contains("documents[0].document_id"), "{reason}");
    let event = rejections
        .next(Duration::from_secs(20))
        .await
        .expect("an intake.rejected event");
    assert_eq!(event.body["correlation_id"], "bad-1");
    assert!(event.body["data"]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("document_id")));

    // No key at all.
    publish_intake(&app, None, "bad-2", &json!({"name": "x", "documents": []})).await;
    let dead = dead_letters
        .next(Duration::from_secs(20))
        .await
        .expect("a dead letter");
    assert!(dead
        .headers
        .get("x-concord-error")
        .is_some_and(|r| r.starts_with("unauthorized")));

    // Not JSON.
    publish_intake(&app, Some(&app.key), "bad-3", &json!("just a string")).await;
    let dead = dead_letters
        .next(Duration::from_secs(20))
        .await
        .expect("a dead letter");
    assert_eq!(dead.message_id.as_deref(), Some("bad-3"));

    let none = eventually(
        Duration::from_secs(5),
        "the intake queue to drain",
        || async {
            let count = app.count("job_runs").await;
            Some(count)
        },
    )
    .await;
    assert_eq!(none, 0);
}
