use rstest::rstest;

use crate::helpers::{spawn_app, TestApp};

#[rstest]
#[case::no_header(None)]
#[case::not_bearer(Some("Basic dXNlcjpwYXNz"))]
#[case::unknown_key(Some("Bearer cnc_0000000000000000000000000000000000000000"))]
#[actix_web::test]
async fn requests_without_a_valid_key_are_401(#[case] authorization: Option<&str>) {
    let app = spawn_app().await;
    let mut request = app.client.get(app.url("/v1/jobs"));
    if let Some(value) = authorization {
        request = request.insert_header(("authorization", value));
    }
    let reply = app.send(request, None).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.error_code(), "unauthorized");
    assert!(reply.body["error"]["request_id"].is_string());
}

#[actix_web::test]
async fn a_missing_scope_is_403_naming_the_scope() {
    let app = spawn_app().await;
    let reply = app
        .post_json("/v1/jobs", &app.read_key, &crate::helpers::job_body("x", 1))
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.error_code(), "insufficient_scope");
    assert_eq!(reply.body["error"]["details"]["required_scope"], "write");
    assert_eq!(app.count("job_runs").await, 0);

    let reply = app.get("/v1/api-keys", &app.key).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body["error"]["details"]["required_scope"], "admin");
}

#[actix_web::test]
async fn another_organisations_job_is_404() {
    let app = spawn_app().await;
    let job = app.create_job("mine", 2).await;
    let id = job["id"].as_str().expect("an id");

    let theirs = app.get(&format!("/v1/jobs/{id}"), &app.other_key).await;
    assert_eq!(theirs.status, 404);
    assert_eq!(theirs.error_code(), "not_found");
    let documents = app
        .get(&format!("/v1/jobs/{id}/documents"), &app.other_key)
        .await;
    assert_eq!(documents.status, 404);
    let list = app.get("/v1/jobs", &app.other_key).await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(0));

    let mine = app.get(&format!("/v1/jobs/{id}"), &app.read_key).await;
    assert_eq!(mine.status, 200);
}

/// A `read` key created by the admin key: (the key, shown once; its id).
async fn create_read_key(app: &TestApp, name: &str) -> (String, String) {
    let created = app
        .post_json(
            "/v1/api-keys",
            &app.admin_key,
            &serde_json::json!({"name": name, "scopes": ["read"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let field = |name: &str| {
        created.body[name]
            .as_str()
            .unwrap_or_else(|| panic!("the key's {name}: {}", created.body))
            .to_owned()
    };
    (field("key"), field("id"))
}

/// Revokes the key through the app's gateway: the status.
async fn revoke(app: &TestApp, id: &str) -> u16 {
    app.send(
        app.client
            .delete(app.url(&format!("/v1/api-keys/{id}")))
            .bearer_auth(&app.admin_key),
        None,
    )
    .await
    .status
}

#[actix_web::test]
async fn admins_create_list_and_revoke_keys() {
    let app = spawn_app().await;
    let (new_key, id) = create_read_key(&app, "ci").await;
    assert_eq!(app.get("/v1/jobs", &new_key).await.status, 200);

    let listed = app.get("/v1/api-keys", &app.admin_key).await;
    let keys = listed.body["data"].as_array().expect("a list");
    assert!(
        keys.iter().all(|k| k.get("key").is_none()),
        "keys are never shown again"
    );

    assert_eq!(revoke(&app, &id).await, 204);
    assert_eq!(app.get("/v1/jobs", &new_key).await.status, 401);

    let bad = app
        .post_json(
            "/v1/api-keys",
            &app.admin_key,
            &serde_json::json!({"name": "x", "scopes": ["root"]}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.body["error"]["details"]["field"], "scopes");
}

/// Each gateway trusts a key it found valid for `CONCORD_KEY_CACHE_MS` (1 s here) without a
/// lookup. Revoked through one replica, a key is refused there at once, and by the other replica
/// (which had just served it from its cache) within that second.
#[actix_web::test]
async fn a_revoked_key_is_refused_at_once_by_its_gateway_and_within_the_cache_time_by_others() {
    let app = spawn_app().await;
    let (key, id) = create_read_key(&app, "replicas").await;
    let second = app.another_gateway(10_000).await;
    let client = awc::Client::default();
    let status_at = |base: String| {
        let client = client.clone();
        let key = key.clone();
        async move {
            client
                .get(format!("{base}/v1/jobs"))
                .bearer_auth(&key)
                .send()
                .await
                .expect("answered")
                .status()
                .as_u16()
        }
    };
    // Both gateways have found the key valid, and keep it.
    assert_eq!(status_at(app.address.clone()).await, 200);
    assert_eq!(status_at(second.clone()).await, 200);

    assert_eq!(revoke(&app, &id).await, 204);
    assert_eq!(status_at(app.address.clone()).await, 401);
    let revoked_at = std::time::Instant::now();
    concord_test_support::eventually(
        std::time::Duration::from_secs(10),
        "the other gateway refuses the revoked key",
        || {
            let status = status_at(second.clone());
            async move { (status.await == 401).then_some(()) }
        },
    )
    .await;
    // Refused once its cached lookup was a second old, not before the revocation was stored.
    assert!(revoked_at.elapsed() < std::time::Duration::from_secs(3));
    assert_eq!(status_at(app.address.clone()).await, 401);
}
