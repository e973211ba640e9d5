use crate::helpers::spawn_app;

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
