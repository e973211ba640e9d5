//! Webhooks through the API, with the webhook-sender behind the gateway: an endpoint's life
//! (the secret shown once, patch, delete), URLs refused by the target policy, another
//! organisation's endpoint a 404, and a real job's event delivered signed, logged and
//! redelivered with the same `webhook-id`.

use std::time::Duration;

use concord_service::{ServiceSettings, WorkerSettings};
use concord_test_support::eventually;
use concord_webhook_sender::settings::DeliverySettings;
use concord_webhook_sender::{Application, SenderSettings};
use concord_webhooks::signature::Secret;
use concord_webhooks::target::TargetPolicy;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{spawn_app, spawn_app_with, AppOptions, TestApp};

const WAIT: Duration = Duration::from_secs(60);

async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("thanks"))
        .mount(&server)
        .await;
    server
}

/// The sender on the app's database and namespace; stopped when the token is dropped... or
/// cancelled at the end of the test.
async fn start_sender(app: &TestApp) -> CancellationToken {
    let settings = SenderSettings {
        worker: WorkerSettings {
            service: ServiceSettings {
                database_url: app.database.url.clone(),
                amqp_url: concord_test_support::amqp_url(),
                topology: (*app.topology).clone(),
                db_pool_size: 4,
            },
            ops_addr: "127.0.0.1:0".to_owned(),
            concurrency: 2,
        },
        delivery: DeliverySettings {
            targets: TargetPolicy {
                allow_private: true,
            },
            retry_base: Duration::from_millis(50),
            poll_interval: Duration::from_millis(100),
            ..DeliverySettings::default()
        },
    };
    let sender = Application::build(settings)
        .await
        .expect("the sender starts");
    let stop = sender.shutdown_token();
    tokio::spawn(sender.run_until_stopped());
    stop
}

/// (webhook-id, body) of every request, each signature checked with the secret.
async fn signed_requests(server: &MockServer, secret: &str) -> Vec<(String, Value)> {
    let secret = Secret::parse(secret).expect("a whsec_ secret");
    let requests = server.received_requests().await.expect("recording");
    requests
        .iter()
        .map(|request| {
            let header = |name: &str| {
                request
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_else(|| panic!("no {name}"))
                    .to_owned()
            };
            let id = header("webhook-id");
            let timestamp: i64 = header("webhook-timestamp").parse().expect("seconds");
            assert!(
                secret.verify(&id, timestamp, &request.body, &header("webhook-signature")),
                "the signature of {id} does not verify"
            );
            (id, serde_json::from_slice(&request.body).expect("JSON"))
        })
        .collect()
}

#[actix_web::test]
async fn an_endpoint_is_created_with_its_secret_once_changed_and_deleted() {
    let app = spawn_app().await;
    let created = app
        .post_json(
            "/v1/webhooks",
            &app.key,
            &json!({"url": "http://127.0.0.1:9/hook", "event_types": ["job.completed", "job.completed", "matching.run.completed"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.body["secret"].as_str().expect("the secret");
    assert!(Secret::parse(secret).is_ok(), "{secret}");
    let id = created.body["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        created.header("location").as_deref(),
        Some(format!("/v1/webhooks/{id}").as_str())
    );
    assert_eq!(
        created.body["event_types"],
        json!(["job.completed", "matching.run.completed"])
    );
    assert_eq!(created.body["enabled"], true);

    let shown = app.get(&format!("/v1/webhooks/{id}"), &app.read_key).await;
    assert_eq!(shown.status, 200);
    assert!(
        shown.body.get("secret").is_none(),
        "the secret is shown once"
    );
    let listed = app.get("/v1/webhooks", &app.read_key).await;
    assert_eq!(listed.body["data"][0]["id"], id.as_str());
    assert!(listed.body["data"][0].get("secret").is_none());

    let disabled = app
        .patch_json(
            &format!("/v1/webhooks/{id}"),
            &app.key,
            &json!({"enabled": false, "event_types": null}),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    assert_eq!(disabled.body["enabled"], false);
    assert_eq!(disabled.body["event_types"], Value::Null);
    assert!(disabled.body["disabled_at"].is_string());
    let enabled = app
        .patch_json(
            &format!("/v1/webhooks/{id}"),
            &app.key,
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(enabled.body["enabled"], true);
    assert_eq!(enabled.body["disabled_reason"], Value::Null);
    assert_eq!(enabled.body["consecutive_failures"], 0);

    // Another organisation sees nothing of it.
    for reply in [
        app.get(&format!("/v1/webhooks/{id}"), &app.other_key).await,
        app.get(&format!("/v1/webhooks/{id}/deliveries"), &app.other_key)
            .await,
        app.patch_json(
            &format!("/v1/webhooks/{id}"),
            &app.other_key,
            &json!({"enabled": false}),
        )
        .await,
        app.delete(&format!("/v1/webhooks/{id}"), &app.other_key)
            .await,
    ] {
        assert_eq!(reply.status, 404, "{}", reply.body);
        assert_eq!(reply.error_code(), "not_found");
    }
    let theirs = app.get("/v1/webhooks", &app.other_key).await;
    assert_eq!(theirs.body["data"], json!([]));

    assert_eq!(
        app.delete(&format!("/v1/webhooks/{id}"), &app.key)
            .await
            .status,
        204
    );
    assert_eq!(
        app.get(&format!("/v1/webhooks/{id}"), &app.key)
            .await
            .status,
        404
    );
}

#[actix_web::test]
async fn bad_urls_and_event_types_are_refused_by_field() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"url": "ftp://example.com/"}), "url"),
        (json!({"url": "not a url"}), "url"),
        (
            json!({"url": "https://example.com/", "event_types": ["job.done"]}),
            "event_types[0]",
        ),
        (
            json!({"url": "https://example.com/", "event_types": []}),
            "event_types",
        ),
    ] {
        let reply = app.post_json("/v1/webhooks", &app.key, &body).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.body);
        assert_eq!(reply.body["error"]["details"]["field"], field, "{body}");
    }
    assert_eq!(app.count("webhook_endpoints").await, 0);
}

#[actix_web::test]
async fn a_private_target_is_refused_unless_the_operator_allows_it() {
    let app = spawn_app_with(AppOptions {
        allow_private_webhook_targets: false,
        ..AppOptions::default()
    })
    .await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost:8080/hook",
        "http://10.0.0.7/hook",
        "http://192.168.1.20/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
    ] {
        let reply = app
            .post_json("/v1/webhooks", &app.key, &json!({ "url": url }))
            .await;
        assert_eq!(reply.status, 422, "{url}: {}", reply.body);
        assert_eq!(reply.error_code(), "validation_failed");
        assert_eq!(reply.body["error"]["details"]["field"], "url", "{url}");
    }
    let public = app
        .post_json(
            "/v1/webhooks",
            &app.key,
            &json!({"url": "https://93.184.216.34/hook"}),
        )
        .await;
    assert_eq!(public.status, 201, "{}", public.body);
    // A patch is checked the same way.
    let id = public.body["id"].as_str().expect("an id");
    let patched = app
        .patch_json(
            &format!("/v1/webhooks/{id}"),
            &app.key,
            &json!({"url": "http://127.0.0.1/"}),
        )
        .await;
    assert_eq!(patched.status, 422);
    assert_eq!(patched.body["error"]["details"]["field"], "url");
}

#[actix_web::test]
async fn a_jobs_event_is_delivered_signed_logged_and_redelivered_with_its_webhook_id() {
    let app = spawn_app().await;
    let hooks = receiver().await;
    let created = app
        .post_json(
            "/v1/webhooks",
            &app.key,
            &json!({"url": format!("{}/concord", hooks.uri()), "event_types": ["job.completed"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("an id").to_owned();
    let secret = created.body["secret"]
        .as_str()
        .expect("a secret")
        .to_owned();
    let sender = start_sender(&app).await;

    let first_job = app.create_job("first", 2).await;
    let second_job = app.create_job("second", 1).await;
    let got = eventually(WAIT, "both jobs' events", || async {
        let got = signed_requests(&hooks, &secret).await;
        (got.len() >= 2).then_some(got)
    })
    .await;
    assert_eq!(got.len(), 2);
    let subjects: Vec<&Value> = got.iter().map(|(_, body)| &body["subject"]["id"]).collect();
    assert!(subjects.contains(&&first_job["id"]));
    assert!(subjects.contains(&&second_job["id"]));
    assert!(got
        .iter()
        .all(|(_, body)| body["event_type"] == "job.completed"));

    // The log, a page at a time, newest first.
    let deliveries = format!("/v1/webhooks/{id}/deliveries");
    let log = eventually(WAIT, "both deliveries logged as delivered", || async {
        let page = app
            .get(&format!("{deliveries}?limit=1"), &app.read_key)
            .await;
        (page.body["data"][0]["status"] == "delivered").then_some(page)
    })
    .await;
    assert_eq!(log.status, 200);
    assert_eq!(log.body["pagination"]["has_more"], true);
    let newest = &log.body["data"][0];
    assert_eq!(newest["attempts"], 1);
    assert_eq!(newest["last_status_code"], 200);
    assert_eq!(newest["last_response_excerpt"], "thanks");
    assert!(newest["last_latency_ms"].is_number());
    let cursor = log.body["pagination"]["next_cursor"]
        .as_str()
        .expect("a cursor");
    let rest = app
        .get(
            &format!("{deliveries}?limit=1&cursor={cursor}"),
            &app.read_key,
        )
        .await;
    assert_eq!(rest.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest.body["pagination"]["has_more"], false);
    assert_ne!(rest.body["data"][0]["id"], newest["id"]);

    // Redelivered by hand: the same webhook-id, one more attempt.
    let delivery_id = newest["id"].as_str().expect("a delivery id").to_owned();
    let redeliver = format!("{deliveries}/{delivery_id}/redeliver");
    let other = app.post_json(&redeliver, &app.other_key, &json!({})).await;
    assert_eq!(other.status, 404);
    let queued = app.post_json(&redeliver, &app.key, &json!({})).await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    assert_eq!(queued.body["status"], "pending");
    let again = eventually(WAIT, "the redelivery", || async {
        let got = signed_requests(&hooks, &secret).await;
        (got.len() >= 3).then_some(got)
    })
    .await;
    let with_that_id = again.iter().filter(|(id, _)| *id == delivery_id).count();
    assert_eq!(with_that_id, 2, "sent twice under one webhook-id");
    let logged = eventually(WAIT, "the second attempt logged", || async {
        let page = app.get(&deliveries, &app.read_key).await;
        let entry = page.body["data"]
            .as_array()?
            .iter()
            .find(|d| d["id"] == delivery_id.as_str())?
            .clone();
        (entry["attempts"] == 2 && entry["status"] == "delivered").then_some(entry)
    })
    .await;
    assert_eq!(logged["last_status_code"], 200);
    // Its detail has both attempts, oldest first.
    let detail = app
        .get(&format!("{deliveries}/{delivery_id}"), &app.read_key)
        .await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    let history = detail.body["attempt_history"].as_array().expect("attempts");
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|a| a["status_code"] == 200
        && a["response_excerpt"] == "thanks"
        && a["error"].is_null()));
    assert!(history[0]["attempted_at"].as_str() <= history[1]["attempted_at"].as_str());
    let hidden = app
        .get(&format!("{deliveries}/{delivery_id}"), &app.other_key)
        .await;
    assert_eq!(hidden.status, 404);
    let unknown = app
        .post_json(
            &format!("{deliveries}/{}/redeliver", uuid::Uuid::now_v7()),
            &app.key,
            &json!({}),
        )
        .await;
    assert_eq!(unknown.status, 404);
    sender.cancel();
}
