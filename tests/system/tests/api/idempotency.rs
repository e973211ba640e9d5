use crate::helpers::{job_body, spawn_app, TestApp};

async fn post_with_key(
    app: &TestApp,
    key: &str,
    body: &serde_json::Value,
) -> crate::helpers::Reply {
    let request = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&app.key)
        .insert_header(("Idempotency-Key", key));
    app.send(
        request,
        Some(("application/json", serde_json::to_vec(body).expect("json"))),
    )
    .await
}

#[actix_web::test]
async fn a_repeated_request_returns_the_first_response_and_creates_nothing() {
    let app = spawn_app().await;
    let body = job_body("once", 2);
    let first = post_with_key(&app, "key-1", &body).await;
    assert_eq!(first.status, 201);
    let second = post_with_key(&app, "key-1", &body).await;
    assert_eq!(second.status, 201);
    assert_eq!(second.body, first.body);
    assert_eq!(
        second.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(app.count("job_runs").await, 1);
    assert_eq!(app.count("documents").await, 2);
}

#[actix_web::test]
async fn the_same_key_with_another_body_is_409() {
    let app = spawn_app().await;
    assert_eq!(
        post_with_key(&app, "key-2", &job_body("a", 1)).await.status,
        201
    );
    let conflict = post_with_key(&app, "key-2", &job_body("b", 1)).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.error_code(), "idempotency_key_reused");
    assert_eq!(app.count("job_runs").await, 1);
}

#[actix_web::test]
async fn a_failed_request_does_not_burn_its_key() {
    let app = spawn_app().await;
    let invalid = post_with_key(&app, "key-3", &serde_json::json!({"name": "x"})).await;
    assert_eq!(invalid.status, 422);
    let fixed = post_with_key(&app, "key-3", &job_body("x", 1)).await;
    assert_eq!(fixed.status, 201, "{}", fixed.body);
}

#[actix_web::test]
async fn keys_belong_to_their_organisation() {
    let app = spawn_app().await;
    assert_eq!(
        post_with_key(&app, "shared", &job_body("acme", 1))
            .await
            .status,
        201
    );
    let request = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&app.other_key)
        .insert_header(("Idempotency-Key", "shared"));
    let other = app
        .send(
            request,
            Some((
                "application/json",
                serde_json::to_vec(&job_body("globex", 1)).expect("json"),
            )),
        )
        .await;
    assert_eq!(
        other.status, 201,
        "another organisation's key space is separate"
    );
    assert_eq!(app.count("job_runs").await, 2);
}
