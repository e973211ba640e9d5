//! The sender against the real PostgreSQL and RabbitMQ: events written through the outbox and
//! published by the relay reach a receiver (a local HTTP server that checks every signature
//! with the endpoint's secret), retries, disabling, the target policy, and a restart of the
//! sender with a broker outage in the middle of a stream.

// Helpers outside the test functions stop the test by panicking too.
#![allow(clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use concord_messages::{Event, EventSubjectKind, EventType};
use concord_models::ids::{OrganizationId, WebhookEndpointId};
use concord_models::organizations::Organization;
use concord_models::outbox::OutboxMessage;
use concord_models::webhook_deliveries::{WebhookDelivery, WebhookDeliveryStatus};
use concord_models::webhook_endpoints::{NewWebhookEndpoint, WebhookEndpoint};
use concord_models::DbPool;
use concord_service::{ServiceSettings, WorkerSettings};
use concord_test_support::{eventually, test_topology, TcpProxy, TestDatabase, TestTopology};
use concord_webhook_sender::settings::DeliverySettings;
use concord_webhook_sender::{Application, SenderSettings};
use concord_webhooks::signature::Secret;
use concord_webhooks::target::TargetPolicy;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const WAIT: Duration = Duration::from_secs(60);

struct Stack {
    database: TestDatabase,
    topology: TestTopology,
    pool: DbPool,
    _relay: CancellationToken,
}

async fn stack() -> Stack {
    concord_telemetry::logging::init_for_tests();
    let database = TestDatabase::create().await;
    let topology = test_topology();
    // Every service declares the topology at start-up: the sender's queue exists, and keeps
    // events, before the sender first runs.
    concord_test_support::broker::declare(&topology).await;
    let pool = database.pool();
    let relay = concord_test_support::worker::start_relay(&pool, &topology);
    Stack {
        database,
        topology,
        pool,
        _relay: relay,
    }
}

/// Quick retries, private targets allowed (the receiver is on loopback).
fn quick() -> DeliverySettings {
    DeliverySettings {
        targets: TargetPolicy {
            allow_private: true,
        },
        retry_base: Duration::from_millis(50),
        retry_max_delay: Duration::from_millis(400),
        request_timeout: Duration::from_secs(5),
        poll_interval: Duration::from_millis(100),
        ..DeliverySettings::default()
    }
}

struct RunningSender {
    stop: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl RunningSender {
    async fn stop(self) {
        self.stop.cancel();
        self.handle
            .await
            .expect("the sender task")
            .expect("the sender stops cleanly");
    }
}

async fn start_sender(
    stack: &Stack,
    amqp_url: String,
    delivery: DeliverySettings,
) -> RunningSender {
    let settings = SenderSettings {
        worker: WorkerSettings {
            service: ServiceSettings {
                database_url: stack.database.url.clone(),
                amqp_url,
                topology: (*stack.topology).clone(),
                db_pool_size: 6,
            },
            ops_addr: "127.0.0.1:0".to_owned(),
            concurrency: 2,
        },
        delivery,
    };
    let app = Application::build(settings)
        .await
        .expect("the sender starts");
    let stop = app.shutdown_token();
    let handle = tokio::spawn(app.run_until_stopped());
    RunningSender { stop, handle }
}

async fn organization(pool: &DbPool, name: &str) -> OrganizationId {
    let mut conn = concord_models::database::connection(pool)
        .await
        .expect("a connection");
    Organization::find_or_create(&mut conn, name)
        .await
        .expect("an organisation")
        .id
}

async fn endpoint(
    pool: &DbPool,
    organization_id: OrganizationId,
    url: String,
    event_types: Option<Vec<&str>>,
) -> WebhookEndpoint {
    let mut conn = concord_models::database::connection(pool)
        .await
        .expect("a connection");
    WebhookEndpoint::insert(
        &mut conn,
        NewWebhookEndpoint {
            id: WebhookEndpointId::generate(),
            organization_id,
            url,
            event_types: event_types.map(|t| t.into_iter().map(str::to_owned).collect()),
            secret: Secret::generate(),
            enabled: true,
        },
    )
    .await
    .expect("an endpoint")
}

/// Writes a `job.completed` event of the organisation to the outbox (the relay publishes it).
async fn publish(pool: &DbPool, organization_id: OrganizationId) -> uuid::Uuid {
    let message = concord_service::outbox::event(
        EventType::JobCompleted,
        Some(organization_id),
        EventSubjectKind::JobRun,
        Some(uuid::Uuid::now_v7().to_string()),
        None,
        serde_json::json!({ "document_count": 3 }),
    )
    .expect("an event");
    let id = message.message_id;
    let mut conn = concord_models::database::connection(pool)
        .await
        .expect("a connection");
    OutboxMessage::enqueue(&mut conn, message)
        .await
        .expect("enqueued");
    id
}

async fn receiver(status: u16, body: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status).set_body_string(body))
        .mount(&server)
        .await;
    server
}

/// Every request the receiver got, each checked against the secret: (webhook-id, event).
async fn received(server: &MockServer, secret: &str) -> Vec<(String, Event)> {
    let secret = Secret::parse(secret).expect("the endpoint's secret");
    let requests: Vec<Request> = server.received_requests().await.expect("recording");
    requests
        .iter()
        .map(|request| {
            let header = |name: &str| {
                request
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_else(|| panic!("no {name} header"))
                    .to_owned()
            };
            let id = header("webhook-id");
            let timestamp: i64 = header("webhook-timestamp").parse().expect("a timestamp");
            let signature = header("webhook-signature");
            assert!(
                secret.verify(&id, timestamp, &request.body, &signature),
                "a bad signature on {id}"
            );
            let event: Event = serde_json::from_slice(&request.body).expect("an event body");
            (id, event)
        })
        .collect()
}

async fn deliveries_of(pool: &DbPool, event_id: uuid::Uuid) -> Vec<WebhookDelivery> {
    let mut conn = concord_models::database::connection(pool)
        .await
        .expect("a connection");
    WebhookDelivery::of_event(&mut conn, event_id)
        .await
        .expect("deliveries")
}

async fn endpoint_now(pool: &DbPool, endpoint: &WebhookEndpoint) -> WebhookEndpoint {
    let mut conn = concord_models::database::connection(pool)
        .await
        .expect("a connection");
    WebhookEndpoint::find(&mut conn, endpoint.organization_id, endpoint.id)
        .await
        .expect("a query")
        .expect("the endpoint")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_reaches_the_subscribed_endpoints_of_its_organisation_signed() {
    let stack = stack().await;
    let acme = organization(&stack.pool, "acme").await;
    let globex = organization(&stack.pool, "globex").await;
    let all = receiver(200, "ok").await;
    let failures_only = receiver(200, "ok").await;
    let other_org = receiver(200, "ok").await;
    let subscribed = endpoint(&stack.pool, acme, format!("{}/hook", all.uri()), None).await;
    let _unsubscribed = endpoint(
        &stack.pool,
        acme,
        failures_only.uri(),
        Some(vec!["job.failed"]),
    )
    .await;
    let _foreign = endpoint(&stack.pool, globex, other_org.uri(), None).await;
    let sender = start_sender(&stack, concord_test_support::amqp_url(), quick()).await;

    let event_id = publish(&stack.pool, acme).await;
    let got = eventually(WAIT, "the delivery", || async {
        let got = received(&all, &subscribed.secret).await;
        (!got.is_empty()).then_some(got)
    })
    .await;
    let deliveries = eventually(WAIT, "the delivery recorded", || async {
        let rows = deliveries_of(&stack.pool, event_id).await;
        rows.iter()
            .all(|d| d.status == WebhookDeliveryStatus::Delivered)
            .then_some(rows)
    })
    .await;
    assert_eq!(
        deliveries.len(),
        1,
        "one delivery: the subscribed endpoint's"
    );
    let delivery = &deliveries[0];
    assert_eq!(delivery.endpoint_id, subscribed.id);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].0,
        delivery.id.to_string(),
        "webhook-id is the delivery's id"
    );
    assert_eq!(got[0].1.event_id, event_id);
    assert_eq!(got[0].1.event_type, EventType::JobCompleted);
    assert_eq!(delivery.attempts, 1);
    assert_eq!(delivery.last_status_code, Some(200));
    assert_eq!(delivery.last_response_excerpt.as_deref(), Some("ok"));
    assert!(received(&failures_only, &subscribed.secret)
        .await
        .is_empty());
    assert!(received(&other_org, &subscribed.secret).await.is_empty());
    sender.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_then_disabled_and_the_disabling_is_announced() {
    let stack = stack().await;
    let acme = organization(&stack.pool, "acme").await;
    let failing = receiver(500, "down for maintenance").await;
    let watcher = receiver(204, "").await;
    let broken = endpoint(
        &stack.pool,
        acme,
        failing.uri(),
        Some(vec!["job.completed"]),
    )
    .await;
    let watching = endpoint(
        &stack.pool,
        acme,
        watcher.uri(),
        Some(vec!["webhook.endpoint_disabled"]),
    )
    .await;
    let settings = DeliverySettings {
        disable_after: 4,
        ..quick()
    };
    let sender = start_sender(&stack, concord_test_support::amqp_url(), settings).await;

    let event_id = publish(&stack.pool, acme).await;
    let announced = eventually(WAIT, "the endpoint_disabled event", || async {
        let got = received(&watcher, &watching.secret).await;
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(announced.len(), 1);
    let event = &announced[0].1;
    assert_eq!(event.event_type, EventType::WebhookEndpointDisabled);
    assert_eq!(event.subject.kind, EventSubjectKind::WebhookEndpoint);
    assert_eq!(
        event.subject.id.as_deref(),
        Some(broken.id.to_string().as_str())
    );
    assert_eq!(event.data["consecutive_failures"], 4);

    let endpoint = endpoint_now(&stack.pool, &broken).await;
    assert!(!endpoint.enabled);
    assert!(endpoint.disabled_at.is_some());
    assert!(endpoint
        .disabled_reason
        .as_deref()
        .is_some_and(|r| r.contains("500")));
    // Four attempts of one delivery, every one with the same webhook-id and signed.
    let attempts = received(&failing, &broken.secret).await;
    assert_eq!(attempts.len(), 4);
    let ids: BTreeSet<&str> = attempts.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 1, "retries keep the webhook-id");
    let delivery = &deliveries_of(&stack.pool, event_id).await[0];
    assert_eq!(delivery.attempts, 4);
    assert_eq!(delivery.last_status_code, Some(500));
    assert_eq!(
        delivery.last_response_excerpt.as_deref(),
        Some("down for maintenance")
    );
    // Every attempt is in its history, in order.
    let history = {
        let mut conn = concord_models::database::connection(&stack.pool)
            .await
            .expect("a connection");
        concord_models::webhook_delivery_attempts::WebhookDeliveryAttempt::of_delivery(
            &mut conn,
            delivery.id,
            100,
        )
        .await
        .expect("the attempts")
    };
    assert_eq!(history.len(), 4);
    assert!(history.iter().all(|a| a.status_code == Some(500)
        && a.response_excerpt.as_deref() == Some("down for maintenance")
        && a.error.is_some()));
    assert!(history
        .windows(2)
        .all(|w| w[0].attempted_at <= w[1].attempted_at));
    // Still within its retry window: it waits for the endpoint to be enabled again.
    assert_eq!(delivery.status, WebhookDeliveryStatus::Pending);
    sender.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_past_its_retry_window_is_failed() {
    let stack = stack().await;
    let acme = organization(&stack.pool, "acme").await;
    let failing = receiver(503, "").await;
    let broken = endpoint(&stack.pool, acme, failing.uri(), None).await;
    let settings = DeliverySettings {
        retry_window: Duration::ZERO,
        ..quick()
    };
    let sender = start_sender(&stack, concord_test_support::amqp_url(), settings).await;
    let event_id = publish(&stack.pool, acme).await;
    let delivery = eventually(WAIT, "the delivery failed", || async {
        deliveries_of(&stack.pool, event_id)
            .await
            .into_iter()
            .find(|d| d.status == WebhookDeliveryStatus::Failed)
    })
    .await;
    assert_eq!(delivery.attempts, 1);
    assert_eq!(delivery.next_attempt_at, None);
    assert_eq!(received(&failing, &broken.secret).await.len(), 1);
    sender.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_target_is_refused_at_delivery_time_without_the_setting() {
    let stack = stack().await;
    let acme = organization(&stack.pool, "acme").await;
    let local = receiver(200, "ok").await;
    // Registered while allowed (or pointed at a name that resolved elsewhere then).
    let by_address = endpoint(&stack.pool, acme, local.uri(), None).await;
    let port = local.address().port();
    let by_name = endpoint(&stack.pool, acme, format!("http://localhost:{port}/"), None).await;
    let settings = DeliverySettings {
        targets: TargetPolicy::default(),
        ..quick()
    };
    let sender = start_sender(&stack, concord_test_support::amqp_url(), settings).await;
    let event_id = publish(&stack.pool, acme).await;
    let refused = eventually(WAIT, "both attempts recorded", || async {
        let rows = deliveries_of(&stack.pool, event_id).await;
        (rows.len() == 2 && rows.iter().all(|d| d.attempts >= 1)).then_some(rows)
    })
    .await;
    for delivery in &refused {
        let error = delivery.last_error.as_deref().unwrap_or_default();
        assert!(error.contains("private"), "{error}");
        assert_eq!(delivery.last_status_code, None);
        assert_eq!(delivery.status, WebhookDeliveryStatus::Pending);
    }
    assert!(refused.iter().any(|d| d.endpoint_id == by_address.id));
    assert!(refused.iter().any(|d| d.endpoint_id == by_name.id));
    assert!(received(&local, &by_address.secret).await.is_empty());
    sender.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_the_sender_and_a_broker_outage_lose_no_delivery() {
    let stack = stack().await;
    let acme = organization(&stack.pool, "acme").await;
    let ok = receiver(200, "ok").await;
    let hook = endpoint(&stack.pool, acme, ok.uri(), None).await;
    let proxy = TcpProxy::start("127.0.0.1:5672", true).await;
    let mut published = BTreeSet::new();

    let first = start_sender(&stack, proxy.amqp_url(), quick()).await;
    for _ in 0..20 {
        published.insert(publish(&stack.pool, acme).await);
    }
    eventually(WAIT, "the first deliveries", || async {
        let got = received(&ok, &hook.secret).await;
        (got.len() >= 3).then_some(())
    })
    .await;
    // Stopped mid-stream; events keep coming while it is down.
    first.stop().await;
    for _ in 0..20 {
        published.insert(publish(&stack.pool, acme).await);
    }
    // The broker goes away for the new sender, which starts meanwhile; more events.
    proxy.set_open(false);
    proxy.cut();
    let second = start_sender(&stack, proxy.amqp_url(), quick()).await;
    for _ in 0..10 {
        published.insert(publish(&stack.pool, acme).await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.set_open(true);

    let got = eventually(WAIT, "every event delivered", || async {
        let got = received(&ok, &hook.secret).await;
        let events: BTreeSet<uuid::Uuid> = got.iter().map(|(_, e)| e.event_id).collect();
        (events == published).then_some(got)
    })
    .await;
    // Duplicates only with the same webhook-id: one id per event.
    let mut ids_per_event: BTreeMap<uuid::Uuid, BTreeSet<String>> = BTreeMap::new();
    for (id, event) in &got {
        ids_per_event
            .entry(event.event_id)
            .or_default()
            .insert(id.clone());
    }
    assert!(ids_per_event.values().all(|ids| ids.len() == 1));
    assert_eq!(ids_per_event.len(), 50);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_whose_sender_died_mid_attempt_is_sent_when_its_lease_ends() {
    use concord_models::ids::WebhookDeliveryId;
    use concord_models::webhook_deliveries::NewWebhookDelivery;
    use concord_models::Json;

    let stack = stack().await;
    let acme = organization(&stack.pool, "acme").await;
    let ok = receiver(200, "ok").await;
    let hook = endpoint(&stack.pool, acme, ok.uri(), None).await;
    let event = Event {
        event_id: uuid::Uuid::now_v7(),
        event_type: EventType::JobCompleted,
        occurred_at: chrono::Utc::now(),
        organization_id: Some(acme.as_uuid()),
        correlation_id: None,
        subject: concord_messages::EventSubject {
            kind: EventSubjectKind::JobRun,
            id: None,
        },
        data: serde_json::Map::new(),
    };
    let id = WebhookDeliveryId::generate();
    {
        let mut conn = concord_models::database::connection(&stack.pool)
            .await
            .expect("a connection");
        WebhookDelivery::insert_new(
            &mut conn,
            &[NewWebhookDelivery {
                id,
                endpoint_id: hook.id,
                organization_id: acme,
                event_id: event.event_id,
                event_type: "job.completed".to_owned(),
                payload: Json(event.clone()),
                status: WebhookDeliveryStatus::Pending,
                next_attempt_at: Some(chrono::Utc::now()),
            }],
        )
        .await
        .expect("a delivery");
        // A sender took it, then died before recording anything.
        let taken = WebhookDelivery::claim_due(
            &mut conn,
            10,
            chrono::Utc::now() + chrono::Duration::seconds(2),
        )
        .await
        .expect("claimed");
        assert_eq!(taken.len(), 1);
        // Leased: another sender does not take it meanwhile.
        let again = WebhookDelivery::claim_due(&mut conn, 10, chrono::Utc::now())
            .await
            .expect("claimed");
        assert!(again.is_empty());
    }
    let sender = start_sender(&stack, concord_test_support::amqp_url(), quick()).await;
    let got = eventually(WAIT, "the delivery after its lease", || async {
        let got = received(&ok, &hook.secret).await;
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(got[0].0, id.to_string());
    assert_eq!(got[0].1.event_id, event.event_id);
    let delivery = eventually(WAIT, "recorded", || async {
        deliveries_of(&stack.pool, event.event_id)
            .await
            .into_iter()
            .find(|d| d.status == WebhookDeliveryStatus::Delivered)
    })
    .await;
    assert_eq!(delivery.attempts, 1);
    sender.stop().await;
}
