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
