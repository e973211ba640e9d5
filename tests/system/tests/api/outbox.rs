use std::time::Duration;

use concord_test_support::{eventually, Tap, TcpProxy};

use crate::helpers::{spawn_app_with, AppOptions};

#[actix_web::test]
async fn a_job_accepted_while_the_broker_is_down_is_announced_once_it_is_back() {
    let proxy = TcpProxy::start("127.0.0.1:5672", false).await;
    let app = spawn_app_with(AppOptions {
        amqp_url: proxy.amqp_url(),
        ..AppOptions::default()
    })
    .await;
    // The subscriber talks to the broker directly.
    concord_test_support::broker::declare(&app.topology).await;
    let mut events = Tap::bind(&app.topology.events_exchange(), "job.completed").await;

    let job = app.create_job("during the outage", 2).await;
    assert!(
        events.next(Duration::from_secs(2)).await.is_none(),
        "the broker is unreachable"
    );
    assert_eq!(
        app.count("outbox_messages WHERE published_at IS NULL")
            .await,
        1
    );

    proxy.set_open(true);
    let event = events
        .next(Duration::from_secs(30))
        .await
        .expect("the event after the outage");
    assert_eq!(event.body["subject"]["id"], job["id"]);
    eventually(
        Duration::from_secs(10),
        "the outbox row to be stamped",
        || async {
            (app.count("outbox_messages WHERE published_at IS NULL")
                .await
                == 0)
                .then_some(())
        },
    )
    .await;
}

#[actix_web::test]
async fn the_callers_trace_continues_into_the_published_event() {
    let app = spawn_app_with(AppOptions::default()).await;
    concord_test_support::broker::declare(&app.topology).await;
    let mut events = Tap::bind(&app.topology.events_exchange(), "job.completed").await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let request = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&app.key)
        .insert_header(("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01")));
    let reply = app
        .send(
            request,
            Some((
                "application/json",
                serde_json::to_vec(&crate::helpers::job_body("traced", 1)).expect("json"),
            )),
        )
        .await;
    assert_eq!(reply.status, 201);
    let event = events
        .next(Duration::from_secs(20))
        .await
        .expect("an event");
    let traceparent = event
        .headers
        .get("traceparent")
        .expect("a traceparent header");
    assert!(traceparent.contains(trace_id), "{traceparent}");
}
