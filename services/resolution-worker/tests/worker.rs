//! The resolution worker against the real PostgreSQL and RabbitMQ: chunks of a run resolved with
//! the run's policy snapshot; a chunk delivered again changes nothing; the last chunk completes
//! the run once; a lookup table deleted under a run fails it readably; a run that is not running
//! is left alone.

// Test code: helpers stop the test on a broken fixture (expect); small test counts cast exactly.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::expect_used
)]

use std::time::Duration;

use concord_messages::{ResolutionJob, ResolutionJobChunk};
use concord_models::database::connection;
use concord_models::documents::Document;
use concord_models::ids::{DataPolicyId, LookupTableId, ResolutionRunId};
use concord_models::lookup_tables::{LookupTable, NewLookupEntry, NewLookupTable, TableRef};
use concord_models::resolution_runs::{
    NewResolutionRun, PolicySnapshot, ResolutionRun, ResolutionRunStatus,
};
use concord_models::DbPool;
use concord_queue::{Role, Topology};
use concord_resolution_worker::{ResolutionJobHandler, NAME};
use concord_test_support::worker::{seed_job_run, spawn_worker};
use concord_test_support::{amqp_url, eventually, test_topology, Tap, TestDatabase};
use diesel_async::AsyncConnection;

const COUNTRIES: [&str; 4] = ["Deutschland", "Frnace", "Atlantis", "AT"];

struct SeededRun {
    run_id: ResolutionRunId,
    table_id: LookupTableId,
    jobs: Vec<ResolutionJob>,
    documents: i32,
}

/// A running run of `documents` documents in chunks of `chunk_size`, with a policy of two
/// fields: `country` (a lookup in an organisation's table) and `amount` (parsed).
async fn seed_run(
    pool: &DbPool,
    documents: i32,
    chunk_size: i32,
    status: ResolutionRunStatus,
) -> SeededRun {
    let mut conn = connection(pool).await.expect("a connection");
    conn.transaction::<_, concord_models::StoreError, _>(async |conn| {
        let (organization_id, job_run_id) = seed_job_run(conn).await?;
        let entry = |code: &str, label: &str, aliases: &[&str]| NewLookupEntry {
            code: code.to_owned(),
            label: label.to_owned(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            attributes: serde_json::Map::new(),
        };
        let table = LookupTable::insert(
            conn,
            NewLookupTable {
                id: LookupTableId::generate(),
                organization_id,
                name: "countries".to_owned(),
                description: None,
                extends: None,
            },
            &[
                entry("DE", "Germany", &["Deutschland"]),
                entry("FR", "France", &["Frankreich"]),
                entry("AT", "Austria", &["Österreich"]),
            ],
        )
        .await?;
        let docs: Vec<Document> = (0..documents)
            .map(|i| Document {
                job_run_id,
                position: i,
                document_id: format!("doc-{i}"),
                filename: format!("doc-{i}.pdf"),
                field_values: serde_json::json!({
                    "country": COUNTRIES[i as usize % COUNTRIES.len()],
                    "amount": format!("{i},50"),
                }),
            })
            .collect();
        Document::insert_all(conn, &docs).await?;
        let chunks: Vec<(i32, i32)> = (0..documents)
            .step_by(chunk_size as usize)
            .map(|start| (start, (start + chunk_size).min(documents)))
            .collect();
        let snapshot = PolicySnapshot {
            policy_id: DataPolicyId::generate(),
            name: "countries".to_owned(),
            version: 1,
            fields: serde_json::from_value(serde_json::json!([
                {"field_key": "country", "type": "code"},
                {"field_key": "amount", "type": "number"}
            ]))
                .expect("policy fields"),
            rules: serde_json::from_value(serde_json::json!([
                {"rule_type": "lookup", "target_field": "country", "config": {"table": "countries", "source_field": "country"}},
                {"rule_type": "parse_number", "target_field": "amount", "config": {"source_field": "amount", "decimal_mark": ","}}
            ]))
                .expect("policy rules"),
            tables: vec![TableRef {
                name: "countries".to_owned(),
                built_in: false,
                table_id: Some(table.id.as_uuid()),
                version: Some(table.version),
                extends: None,
            }],
            chunk_size,
        };
        let run = ResolutionRun::insert(
            conn,
            NewResolutionRun {
                id: ResolutionRunId::generate(),
                organization_id,
                source_run_id: job_run_id,
                status: ResolutionRunStatus::Pending,
                policy_snapshot: concord_models::Json(snapshot),
                dialect_snapshot: None,
                documents_total: documents,
                policy_id: None,
                dialect_id: None,
            },
        )
        .await?;
        if status == ResolutionRunStatus::Running {
            ResolutionRun::execute(conn, organization_id, run.id, chunks.len() as i32).await?;
        }
        let jobs = chunks
            .iter()
            .enumerate()
            .map(|(index, (start, end))| ResolutionJob {
                run_id: run.id.as_uuid(),
                organization_id: organization_id.as_uuid(),
                chunk: Some(ResolutionJobChunk {
                    index: index as u64,
                    start: *start as u64,
                    end: *end as u64,
                }),
            })
            .collect();
        Ok(SeededRun {
            run_id: run.id,
            table_id: table.id,
            jobs,
            documents,
        })
    })
    .await
    .expect("seeding a run")
}

async fn publish(topology: &Topology, message_id: &str, job: &ResolutionJob) {
    concord_test_support::broker::publish(
        &topology.jobs_exchange(),
        concord_messages::jobs::RESOLUTION,
        message_id,
        &serde_json::to_vec(job).expect("json"),
        std::collections::HashMap::new(),
    )
    .await;
}

async fn run(pool: &DbPool, id: ResolutionRunId) -> ResolutionRun {
    let mut conn = connection(pool).await.expect("a connection");
    ResolutionRun::find_by_id(&mut conn, id)
        .await
        .expect("a query")
        .expect("the run")
}

async fn count(pool: &DbPool, sql: &str) -> i64 {
    use diesel::sql_types::BigInt;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = connection(pool).await.expect("a connection");
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .await
        .expect("counting")
        .n
}

async fn resolution_worker(
    database: &TestDatabase,
    topology: &concord_test_support::TestTopology,
) -> concord_test_support::worker::TestWorker {
    spawn_worker(
        database,
        topology,
        amqp_url(),
        Role::Resolution,
        NAME,
        ResolutionJobHandler::new,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_delivered_again_is_counted_once_and_the_run_completes_once() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    let worker = resolution_worker(&database, &topology).await;
    let seeded = seed_run(&worker.pool, 40, 10, ResolutionRunStatus::Running).await;
    for (i, job) in seeded.jobs.iter().enumerate() {
        publish(&topology, &format!("chunk-{i}"), job).await;
    }
    // The first chunk again under another message id — as when a worker dies after its commit
    // and before its acknowledgement reached the broker.
    publish(&topology, "chunk-0-again", &seeded.jobs[0]).await;
    eventually(
        Duration::from_secs(30),
        "every delivery handled",
        || async { (worker.acknowledged(Role::Resolution).await >= 5.0).then_some(()) },
    )
    .await;

    let run = run(&worker.pool, seeded.run_id).await;
    assert_eq!(
        run.status,
        ResolutionRunStatus::Completed,
        "{:?}",
        run.error
    );
    assert_eq!(run.documents_processed, seeded.documents);
    assert_eq!(run.chunks_done, 4);
    // Deutschland, Frnace (a typo) and AT resolve; Atlantis does not. Every amount parses.
    assert_eq!(run.fields_resolved, 30 + 40);
    assert_eq!(run.fields_unresolved, 10);
    assert_eq!(run.fields_waiting, 0);
    assert_eq!(
        count(&worker.pool, "SELECT count(*) AS n FROM resolution_results").await,
        80
    );
    assert_eq!(
        count(
            &worker.pool,
            "SELECT count(*) AS n FROM resolution_results WHERE field_key = 'country' \
             AND resolved_value = '\"FR\"' AND original_value = 'Frnace' AND candidates IS NOT NULL"
        )
        .await,
        10
    );
    assert_eq!(
        count(
            &worker.pool,
            "SELECT count(*) AS n FROM resolution_results WHERE field_key = 'amount' \
             AND resolved_value = to_jsonb(document_position + 0.5)"
        )
        .await,
        40
    );
    assert_eq!(
        count(
            &worker.pool,
            "SELECT count(*) AS n FROM outbox_messages WHERE routing_key = 'resolution.completed'"
        )
        .await,
        1,
        "the completion is announced exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_table_deleted_under_a_run_fails_it_readably() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    let worker = resolution_worker(&database, &topology).await;
    let seeded = seed_run(&worker.pool, 4, 4, ResolutionRunStatus::Running).await;
    {
        use diesel_async::RunQueryDsl;
        let mut conn = connection(&worker.pool).await.expect("a connection");
        diesel::sql_query(format!(
            "DELETE FROM lookup_tables WHERE id = '{}'",
            seeded.table_id
        ))
        .execute(&mut conn)
        .await
        .expect("a delete");
    }
    publish(&topology, "chunk-0", &seeded.jobs[0]).await;
    let failed = eventually(Duration::from_secs(30), "the run to fail", || async {
        let run = run(&worker.pool, seeded.run_id).await;
        (run.status == ResolutionRunStatus::Failed).then_some(run)
    })
    .await;
    let error = failed.error.unwrap_or_default();
    assert!(
        error.contains("countries") && error.contains("deleted"),
        "{error}"
    );
    assert_eq!(
        count(
            &worker.pool,
            "SELECT count(*) AS n FROM outbox_messages WHERE routing_key = 'resolution.failed'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&worker.pool, "SELECT count(*) AS n FROM resolution_results").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_of_a_run_that_is_not_running_changes_nothing() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    let worker = resolution_worker(&database, &topology).await;
    let seeded = seed_run(&worker.pool, 4, 4, ResolutionRunStatus::Pending).await;
    publish(&topology, "chunk-0", &seeded.jobs[0]).await;
    eventually(Duration::from_secs(30), "the delivery handled", || async {
        (worker.acknowledged(Role::Resolution).await >= 1.0).then_some(())
    })
    .await;
    let run = run(&worker.pool, seeded.run_id).await;
    assert_eq!(run.status, ResolutionRunStatus::Pending);
    assert_eq!(run.documents_processed, 0);
    assert_eq!(
        count(&worker.pool, "SELECT count(*) AS n FROM resolution_results").await,
        0
    );
}

/// A malformed chunk of a run that ended is dead-lettered with its reason (not skipped as a late
/// copy); a well-formed late copy is skipped and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_chunk_of_an_ended_run_is_dead_lettered() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    concord_test_support::broker::declare(&topology).await;
    let mut dead_letters = Tap::bind(&topology.dead_letter_exchange(), "resolution").await;
    let worker = resolution_worker(&database, &topology).await;
    let seeded = seed_run(&worker.pool, 8, 4, ResolutionRunStatus::Running).await;
    for (i, job) in seeded.jobs.iter().enumerate() {
        publish(&topology, &format!("chunk-{i}"), job).await;
    }
    eventually(Duration::from_secs(30), "the run to complete", || async {
        (run(&worker.pool, seeded.run_id).await.status == ResolutionRunStatus::Completed)
            .then_some(())
    })
    .await;

    let mut no_range = seeded.jobs[0].clone();
    no_range.chunk = Some(ResolutionJobChunk {
        index: 0,
        start: 6,
        end: 2,
    });
    publish(&topology, "late-copy", &seeded.jobs[0]).await;
    publish(&topology, "no-range", &no_range).await;
    let dead = dead_letters
        .next(Duration::from_secs(20))
        .await
        .expect("a dead letter");
    assert_eq!(dead.message_id.as_deref(), Some("no-range"));
    let reason = dead.headers.get("x-concord-error").expect("a reason");
    assert!(reason.contains("no range of documents"), "{reason}");
    let run = run(&worker.pool, seeded.run_id).await;
    assert_eq!((run.documents_processed, run.chunks_done), (8, 2));
    assert_eq!(
        count(&worker.pool, "SELECT count(*) AS n FROM resolution_results").await,
        16
    );
}
