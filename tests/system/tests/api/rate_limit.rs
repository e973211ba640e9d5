use crate::helpers::{spawn_app_with, AppOptions};

#[actix_web::test]
async fn a_key_over_its_limit_gets_429_with_retry_after() {
    let app = spawn_app_with(AppOptions {
        rate_limit_per_minute: 3,
        ..AppOptions::default()
    })
    .await;
    for remaining in ["2", "1", "0"] {
        let reply = app.get("/v1/jobs", &app.key).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(
            reply.header("x-ratelimit-remaining").as_deref(),
            Some(remaining)
        );
    }
    let refused = app.get("/v1/jobs", &app.key).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.error_code(), "rate_limited");
    let retry_after: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert!(refused.header("x-ratelimit-reset").is_some());

    // Another key has its own budget.
    assert_eq!(app.get("/v1/jobs", &app.read_key).await.status, 200);
}

#[actix_web::test]
async fn gateway_replicas_share_one_budget_per_key() {
    let app = spawn_app_with(AppOptions {
        rate_limit_per_minute: 4,
        ..AppOptions::default()
    })
    .await;
    let second = app.another_gateway(4).await;
    let client = awc::Client::default();
    let mut statuses = Vec::new();
    // Alternating between the two replicas: four requests in all are allowed, not four each.
    for i in 0..6 {
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            second.clone()
        };
        let response = client
            .get(format!("{base}/v1/jobs"))
            .bearer_auth(&app.key)
            .send()
            .await
            .expect("answered");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 429, 429]);
    // The other key's budget is its own, on either replica.
    let other = client
        .get(format!("{second}/v1/jobs"))
        .bearer_auth(&app.read_key)
        .send()
        .await
        .expect("answered");
    assert_eq!(other.status().as_u16(), 200);
}
