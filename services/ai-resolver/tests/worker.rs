//! The ai-resolver against the real PostgreSQL and RabbitMQ: a task for a run of its organisation
//! is acknowledged; a task naming another organisation's run is dead-lettered with its reason.

use std::time::Duration;

use concord_ai_resolver::{AiTaskHandler, NAME};
use concord_messages::{AiTask, AiTaskRunKind};
use concord_models::database::connection;
use concord_models::matching_runs::{MatchingMode, MatchingRunStatus};
use concord_models::outbox::OutboxMessage;
use concord_queue::Role;
use concord_test_support::worker::{seed_matching_run, spawn_worker, start_relay};
use concord_test_support::{amqp_url, eventually, test_topology, Tap, TestDatabase};
use diesel_async::AsyncConnection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_checked_against_the_runs_organisation() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    concord_test_support::broker::declare(&topology).await;
    let mut dead_letters = Tap::bind(&topology.dead_letter_exchange(), "ai").await;
    let worker = spawn_worker(
        &database,
        &topology,
        amqp_url(),
        Role::Ai,
        NAME,
        |context| {
            AiTaskHandler::from_settings(context, concord_llm::LlmSettings::default())
                .expect("a model client")
        },
    )
    .await;
    let _relay = start_relay(&worker.pool, &topology);

    let mut conn = connection(&worker.pool).await.expect("a connection");
    conn.transaction::<_, concord_models::StoreError, _>(async |conn| {
        let run =
            seed_matching_run(conn, MatchingMode::Smart, MatchingRunStatus::AiResolving).await?;
        for organization in [run.organization_id.as_uuid(), uuid::Uuid::now_v7()] {
            let task = AiTask {
                run_id: run.id.as_uuid(),
                run_kind: AiTaskRunKind::Matching,
                organization_id: organization,
                item_ids: Vec::new(),
            };
            OutboxMessage::enqueue(
                conn,
                concord_service::outbox::job(concord_messages::jobs::AI, &task)?,
            )
            .await?;
        }
        Ok(())
    })
    .await
    .expect("a run and two tasks");

    eventually(
        Duration::from_secs(20),
        "the task of the run's organisation acknowledged",
        || async { (worker.acknowledged(Role::Ai).await >= 1.0).then_some(()) },
    )
    .await;
    let dead = dead_letters
        .next(Duration::from_secs(20))
        .await
        .expect("the other task dead-lettered");
    let reason = dead.headers.get("x-concord-error").expect("a reason");
    assert!(
        reason.contains("does not exist in organisation"),
        "{reason}"
    );
}
