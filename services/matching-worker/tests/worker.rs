//! The matching worker against the real PostgreSQL and RabbitMQ: a job written to the outbox is
//! published by the relay, consumed, written to the database and only then acknowledged.

// Test code: helpers stop the test on a broken fixture (expect).
#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use concord_matching_worker::{MatchingJobHandler, NAME};
use concord_messages::MatchingJob;
use concord_models::database::connection;
use concord_models::ids::MatchingRunId;
use concord_models::matching_runs::{MatchingMode, MatchingRun, MatchingRunStatus};
use concord_models::outbox::OutboxMessage;
use concord_models::DbPool;
use concord_queue::{Role, Topology};
use concord_test_support::worker::{seed_matching_run, spawn_worker, start_relay, TestWorker};
use concord_test_support::{amqp_url, eventually, test_topology, Tap, TcpProxy, TestDatabase};
use diesel_async::AsyncConnection;

/// A queued matching run over a job run, and its job in the outbox, written in one transaction as
/// the gateway does.
async fn queue_matching_run(pool: &DbPool) -> MatchingRunId {
    let mut conn = connection(pool).await.expect("a connection");
    conn.transaction::<_, concord_models::StoreError, _>(async |conn| {
        let run = seed_matching_run(conn, MatchingMode::Manual, MatchingRunStatus::Queued).await?;
        let message = MatchingJob {
            run_id: Some(run.id.as_uuid()),
            model_id: None,
            organization_id: run.organization_id.as_uuid(),
            chunk: None,
        };
        OutboxMessage::enqueue(
            conn,
            concord_service::outbox::job(concord_messages::jobs::MATCHING, &message)?,
        )
        .await?;
        Ok(run.id)
    })
    .await
    .expect("queueing a matching run")
}

/// A matching worker on the test's database and namespace, reaching the broker at `amqp_url`.
async fn matching_worker(
    database: &TestDatabase,
    topology: &Topology,
    amqp_url: String,
) -> TestWorker {
    spawn_worker(
        database,
        topology,
        amqp_url,
        Role::Matching,
        NAME,
        MatchingJobHandler::new,
    )
    .await
}

async fn run_status(pool: &DbPool, id: MatchingRunId) -> Option<MatchingRunStatus> {
    let mut conn = connection(pool).await.ok()?;
    MatchingRun::find_by_id(&mut conn, id)
        .await
        .ok()?
        .map(|run| run.status)
}

async fn publish_raw(topology: &Topology, message_id: &str, payload: &[u8]) {
    concord_test_support::broker::publish(
        &topology.jobs_exchange(),
        concord_messages::jobs::MATCHING,
        message_id,
        payload,
        HashMap::new(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_from_the_outbox_is_acknowledged_after_its_database_write() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    let worker = matching_worker(&database, &topology, amqp_url()).await;
    let relay = start_relay(&worker.pool, &topology);

    let run_id = queue_matching_run(&worker.pool).await;
    eventually(
        Duration::from_secs(20),
        "the run to be taken up",
        || async {
            (run_status(&worker.pool, run_id).await == Some(MatchingRunStatus::Running))
                .then_some(())
        },
    )
    .await;
    eventually(Duration::from_secs(10), "the ack", || async {
        (worker.acknowledged(Role::Matching).await >= 1.0).then_some(())
    })
    .await;
    let mut conn = connection(&worker.pool).await.expect("a connection");
    assert!(
        concord_models::processed_messages::ProcessedMessage::exists(
            &mut conn,
            NAME,
            &published_id(&worker.pool).await
        )
        .await
        .expect("a query"),
        "the message is recorded as handled in the same transaction"
    );
    relay.cancel();
    worker.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), worker.handle)
        .await
        .expect("the worker drains and stops on shutdown")
        .expect("no panic")
        .expect("a clean stop");
}

async fn published_id(pool: &DbPool) -> String {
    use concord_models::schema::outbox_messages;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let mut conn = connection(pool).await.expect("a connection");
    let published: uuid::Uuid = outbox_messages::table
        .select(outbox_messages::message_id)
        .filter(outbox_messages::published_at.is_not_null())
        .first(&mut conn)
        .await
        .expect("a published message");
    published.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_job_changes_nothing() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    let worker = matching_worker(&database, &topology, amqp_url()).await;
    let pool = worker.pool.clone();
    let run_id = queue_matching_run(&pool).await;
    let organization_id = {
        let mut conn = connection(&pool).await.expect("a connection");
        MatchingRun::find_by_id(&mut conn, run_id)
            .await
            .expect("a query")
            .expect("the run")
            .organization_id
    };
    // Take the job out of the outbox and publish it twice, as a redelivery would deliver it.
    let payload = serde_json::to_vec(&serde_json::json!({
        "run_id": run_id.as_uuid(),
        "organization_id": organization_id.as_uuid(),
    }))
    .expect("json");
    publish_raw(&topology, "same-message", &payload).await;
    publish_raw(&topology, "same-message", &payload).await;
    eventually(
        Duration::from_secs(20),
        "both deliveries acknowledged",
        || async { (worker.acknowledged(Role::Matching).await >= 2.0).then_some(()) },
    )
    .await;
    let mut conn = connection(&pool).await.expect("a connection");
    let run = MatchingRun::find_by_id(&mut conn, run_id)
        .await
        .expect("a query")
        .expect("the run");
    assert_eq!(run.status, MatchingRunStatus::Running);
    assert!(
        concord_models::processed_messages::ProcessedMessage::exists(
            &mut conn,
            NAME,
            "same-message"
        )
        .await
        .expect("a query")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failures_are_dead_lettered_with_their_reason() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    concord_test_support::broker::declare(&topology).await;
    let mut dead_letters = Tap::bind(&topology.dead_letter_exchange(), "matching").await;
    let _worker = matching_worker(&database, &topology, amqp_url()).await;

    let missing = uuid::Uuid::now_v7();
    let payload =
        serde_json::to_vec(&serde_json::json!({"run_id": missing, "organization_id": missing}))
            .expect("json");
    publish_raw(&topology, "no-such-run", &payload).await;
    let dead = dead_letters
        .next(Duration::from_secs(20))
        .await
        .expect("a dead letter");
    assert_eq!(dead.message_id.as_deref(), Some("no-such-run"));
    let reason = dead.headers.get("x-concord-error").expect("a reason");
    assert!(
        reason.contains(&format!("matching run {missing} does not exist")),
        "{reason}"
    );

    publish_raw(&topology, "not-json", b"<xml/>").await;
    let dead = dead_letters
        .next(Duration::from_secs(20))
        .await
        .expect("a dead letter");
    assert!(dead
        .headers
        .get("x-concord-error")
        .is_some_and(|r| r.contains("not a valid MatchingJob")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_reconnects_after_the_broker_drops_its_connections() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    concord_test_support::broker::declare(&topology).await;
    let proxy = TcpProxy::start("127.0.0.1:5672", true).await;
    let worker = matching_worker(&database, &topology, proxy.amqp_url()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A broker restart, as the worker sees it: every connection drops, and for a while no new one
    // is accepted.
    proxy.set_open(false);
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.set_open(true);

    let run_id = queue_matching_run(&worker.pool).await;
    let _relay = start_relay(&worker.pool, &topology);
    eventually(
        Duration::from_secs(30),
        "the run to be taken up after the reconnection",
        || async {
            (run_status(&worker.pool, run_id).await == Some(MatchingRunStatus::Running))
                .then_some(())
        },
    )
    .await;
}
