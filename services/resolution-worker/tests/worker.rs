//! The resolution worker against the real PostgreSQL and RabbitMQ: a job from the outbox is
//! consumed, its run taken up in the database, and the message acknowledged after the commit.

use std::time::Duration;

use concord_messages::ResolutionJob;
use concord_models::database::connection;
use concord_models::ids::ResolutionRunId;
use concord_models::outbox::OutboxMessage;
use concord_models::resolution_runs::{NewResolutionRun, ResolutionRun, ResolutionRunStatus};
use concord_queue::Role;
use concord_resolution_worker::{ResolutionJobHandler, NAME};
use concord_test_support::worker::{seed_job_run, spawn_worker, start_relay};
use concord_test_support::{amqp_url, eventually, test_topology, TestDatabase};
use diesel_async::AsyncConnection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_job_takes_its_run_up_and_is_acknowledged() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    let worker = spawn_worker(
        &database,
        &topology,
        amqp_url(),
        Role::Resolution,
        NAME,
        |_| ResolutionJobHandler,
    )
    .await;
    let _relay = start_relay(&worker.pool, &topology);

    let mut conn = connection(&worker.pool).await.expect("a connection");
    let run_id = conn
        .transaction::<_, concord_models::StoreError, _>(async |conn| {
            let (organization_id, source_run_id) = seed_job_run(conn).await?;
            let run = ResolutionRun::insert(
                conn,
                NewResolutionRun {
                    id: ResolutionRunId::generate(),
                    organization_id,
                    source_run_id,
                    status: ResolutionRunStatus::Pending,
                    policy_snapshot: serde_json::json!({"fields": [], "rules": []}),
                    dialect_snapshot: None,
                    documents_total: 0,
                },
            )
            .await?;
            let job = ResolutionJob {
                run_id: run.id.as_uuid(),
                organization_id: organization_id.as_uuid(),
                chunk: None,
            };
            OutboxMessage::enqueue(
                conn,
                concord_service::outbox::job(concord_messages::jobs::RESOLUTION, &job),
            )
            .await?;
            Ok(run.id)
        })
        .await
        .expect("a pending run and its job");

    let started = eventually(
        Duration::from_secs(20),
        "the run to be taken up",
        || async {
            let mut conn = connection(&worker.pool).await.ok()?;
            ResolutionRun::find_by_id(&mut conn, run_id)
                .await
                .ok()?
                .filter(|run| {
                    run.status == ResolutionRunStatus::Running && run.started_at.is_some()
                })
        },
    )
    .await;
    assert_eq!(started.id, run_id);
    eventually(Duration::from_secs(10), "the ack", || async {
        (worker.acknowledged(Role::Resolution).await >= 1.0).then_some(())
    })
    .await;

    worker.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), worker.handle)
        .await
        .expect("the worker drains and stops")
        .expect("no panic")
        .expect("a clean stop");
}
