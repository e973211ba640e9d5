//! Chunked runs against the real PostgreSQL and RabbitMQ: a chunk delivered twice is counted
//! once, and a worker process killed in the middle of a run loses nothing — the run completes
//! with every document counted exactly once.

// Test code: helpers stop the test on a broken fixture (expect); small test counts cast exactly.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::expect_used
)]

use std::process::Stdio;
use std::time::Duration;

use concord_matching_worker::{MatchingJobHandler, NAME};
use concord_messages::{ChunkRange, MatchingJob};
use concord_models::database::connection;
use concord_models::documents::Document;
use concord_models::ids::{MatchingConfigId, MatchingRunId, ReferenceDatasetId};
use concord_models::matching_configs::{Assignment, Scoring};
use concord_models::matching_runs::{
    ConfigSnapshot, MatchingMode, MatchingRun, MatchingRunStatus, NewMatchingRun,
};
use concord_models::reference_datasets::{
    ColumnType, NewReferenceDataset, ReferenceColumn, ReferenceDataset, ReferenceRow,
};
use concord_models::DbPool;
use concord_queue::{Role, Topology};
use concord_test_support::worker::{seed_job_run, spawn_worker};
use concord_test_support::{amqp_url, eventually, test_topology, Tap, TestDatabase};
use diesel_async::AsyncConnection;

const VENDORS: [&str; 6] = [
    "Acme GmbH",
    "Globex Corporation",
    "Initech LLC",
    "Umbrella Ltd",
    "Hooli Inc",
    "Stark Industries",
];

/// A run of `documents` documents (every other one a copy of a reference row, the rest
/// unknown) in chunks of `chunk_size`, against `documents` reference rows.
struct SeededRun {
    run_id: MatchingRunId,
    jobs: Vec<MatchingJob>,
    documents: i32,
    expected_matches: i32,
}

async fn seed_run(pool: &DbPool, documents: i32, chunk_size: i32) -> SeededRun {
    seed_run_in_mode(pool, documents, chunk_size, MatchingMode::Manual).await
}

async fn seed_run_in_mode(
    pool: &DbPool,
    documents: i32,
    chunk_size: i32,
    mode: MatchingMode,
) -> SeededRun {
    let mut conn = connection(pool).await.expect("a connection");
    conn.transaction::<_, concord_models::StoreError, _>(async |conn| {
        let (organization_id, job_run_id) = seed_job_run(conn).await?;
        let dataset_id = ReferenceDatasetId::generate();
        let columns = ["vendor", "invoice", "amount"];
        ReferenceDataset::insert(
            conn,
            NewReferenceDataset {
                id: dataset_id,
                organization_id,
                name: "ledger",
                id_column: None,
                column_schema: concord_models::json::Json(Vec::new()),
            },
        )
        .await?;
        let rows: Vec<ReferenceRow> = (0..documents)
            .map(|i| ReferenceRow {
                dataset_id,
                position: i + 1,
                row_id: format!("R{i}"),
                cells: vec![
                    Some(VENDORS[i as usize % VENDORS.len()].to_owned()),
                    Some(format!("INV-{:06}", 10_000 + i * 7)),
                    Some(format!("{}.{:02}", 100 + i * 3, i % 100)),
                ],
            })
            .collect();
        ReferenceRow::insert_new(conn, &rows).await?;
        let schema: Vec<ReferenceColumn> = columns
            .iter()
            .map(|name| ReferenceColumn {
                name: (*name).to_owned(),
                column_type: ColumnType::String,
                non_empty: i64::from(documents),
            })
            .collect();
        ReferenceDataset::finish(conn, dataset_id, "ledger", &schema, documents).await?;

        let docs: Vec<Document> = (0..documents)
            .map(|i| {
                let values = if i % 2 == 0 {
                    serde_json::json!({
                        "vendor_name": VENDORS[i as usize % VENDORS.len()].to_uppercase(),
                        "invoice_number": format!("INV {:06}", 10_000 + i * 7),
                        "amount": format!("{}.{:02} EUR", 100 + i * 3, i % 100),
                    })
                } else {
                    serde_json::json!({
                        "vendor_name": format!("Unknown Vendor {i}"),
                        "invoice_number": format!("ZZ-{:05}", 90_000 + i),
                        "amount": "1.00",
                    })
                };
                Document {
                    job_run_id,
                    position: i,
                    document_id: format!("doc-{i}"),
                    filename: format!("doc-{i}.pdf"),
                    field_values: values,
                }
            })
            .collect();
        Document::insert_all(conn, &docs).await?;

        let chunks: Vec<(i32, i32)> = (0..documents)
            .step_by(chunk_size as usize)
            .map(|start| (start, (start + chunk_size).min(documents)))
            .collect();
        let snapshot = ConfigSnapshot {
            config_id: MatchingConfigId::generate(),
            name: "ledger match".to_owned(),
            version: 1,
            reference_data_id: dataset_id,
            field_mappings: serde_json::from_value(serde_json::json!([
                {"source": "vendor_name", "target": "vendor", "strategy": "fuzzy", "params": {"kind": "name"}, "weight": 1},
                {"source": "invoice_number", "target": "invoice", "strategy": "fuzzy", "params": {"kind": "identifier"}, "weight": 2},
                {"source": "amount", "target": "amount", "strategy": "numeric_range", "params": {"tolerance_pct": 1}, "weight": 1}
            ]))
                .expect("field mappings"),
            threshold: 0.85,
            review_floor: 0.7,
            ambiguity_margin: 0.02,
            chunk_size,
            candidates: None,
            scoring: Scoring::Weighted,
            assignment: Assignment::Independent,
        };
        let run = MatchingRun::insert(
            conn,
            NewMatchingRun {
                id: MatchingRunId::generate(),
                organization_id,
                job_run_id,
                mode,
                status: MatchingRunStatus::Queued,
                config_snapshot: concord_models::Json(snapshot),
                rows_total: documents,
                config_id: None,
                reference_data_id: Some(dataset_id),
                chunks_total: chunks.len() as i32,
                model: None,
            },
        )
        .await?;
        let jobs = chunks
            .iter()
            .enumerate()
            .map(|(index, (start, end))| MatchingJob {
                run_id: Some(run.id.as_uuid()),
                model_id: None,
                organization_id: organization_id.as_uuid(),
                chunk: Some(ChunkRange {
                    index: index as u64,
                    start: *start as u64,
                    end: *end as u64,
                }),
            })
            .collect();
        Ok(SeededRun {
            run_id: run.id,
            jobs,
            documents,
            expected_matches: (documents + 1) / 2,
        })
    })
    .await
    .expect("seeding a run")
}

async fn publish(topology: &Topology, message_id: &str, job: &MatchingJob) {
    concord_test_support::broker::publish(
        &topology.jobs_exchange(),
        concord_messages::jobs::MATCHING,
        message_id,
        &serde_json::to_vec(job).expect("json"),
        std::collections::HashMap::new(),
    )
    .await;
}

async fn run(pool: &DbPool, id: MatchingRunId) -> MatchingRun {
    let mut conn = connection(pool).await.expect("a connection");
    MatchingRun::find_by_id(&mut conn, id)
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

async fn assert_counted_once(pool: &DbPool, seeded: &SeededRun) {
    let run = run(pool, seeded.run_id).await;
    assert_eq!(run.status, MatchingRunStatus::Completed);
    assert_eq!(run.rows_processed, seeded.documents);
    assert_eq!(run.rows_matched, seeded.expected_matches);
    assert_eq!(run.chunks_done, run.chunks_total);
    assert_eq!(
        count(pool, "SELECT count(*) AS n FROM match_results").await,
        i64::from(seeded.documents)
    );
    assert_eq!(
        count(
            pool,
            "SELECT count(*) AS n FROM match_results WHERE matched_reference_row_id IS NOT NULL \
             AND matched_reference_row_id = 'R' || substr(document_id, 5)"
        )
        .await,
        i64::from(seeded.expected_matches),
        "every copy is matched to its own row"
    );
    assert_eq!(
        count(
            pool,
            "SELECT count(*) AS n FROM outbox_messages WHERE routing_key = 'matching.run.completed'"
        )
        .await,
        1,
        "the completion is announced exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_delivered_again_is_counted_once() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    let worker = spawn_worker(
        &database,
        &topology,
        amqp_url(),
        Role::Matching,
        NAME,
        MatchingJobHandler::new,
    )
    .await;
    let seeded = seed_run(&worker.pool, 60, 20).await;
    // Every chunk once, and the first one again under another message id — as when a worker
    // dies after committing and before its acknowledgement reached the broker, and the chunk
    // comes back as a new message.
    for (i, job) in seeded.jobs.iter().enumerate() {
        publish(&topology, &format!("chunk-{i}"), job).await;
    }
    publish(&topology, "chunk-0-again", &seeded.jobs[0]).await;
    eventually(
        Duration::from_secs(30),
        "every delivery handled",
        || async { (worker.acknowledged(Role::Matching).await >= 4.0).then_some(()) },
    )
    .await;
    assert_counted_once(&worker.pool, &seeded).await;
}

/// A malformed chunk is dead-lettered with its reason even when it arrives after its run ended
/// (a chaos run once saw one skipped as a late copy), while a well-formed late copy of a chunk is
/// skipped and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_chunk_of_an_ended_run_is_dead_lettered_and_a_late_copy_is_skipped() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    concord_test_support::broker::declare(&topology).await;
    let mut dead_letters = Tap::bind(&topology.dead_letter_exchange(), "matching").await;
    let worker = spawn_worker(
        &database,
        &topology,
        amqp_url(),
        Role::Matching,
        NAME,
        MatchingJobHandler::new,
    )
    .await;
    let seeded = seed_run(&worker.pool, 40, 20).await;
    for (i, job) in seeded.jobs.iter().enumerate() {
        publish(&topology, &format!("chunk-{i}"), job).await;
    }
    eventually(Duration::from_secs(30), "the run to complete", || async {
        (run(&worker.pool, seeded.run_id).await.status == MatchingRunStatus::Completed)
            .then_some(())
    })
    .await;

    let with_chunk = |index, start, end| MatchingJob {
        chunk: Some(ChunkRange { index, start, end }),
        ..seeded.jobs[0].clone()
    };
    publish(&topology, "no-range", &with_chunk(0, 30, 10)).await;
    publish(&topology, "late-copy", &seeded.jobs[1]).await;
    publish(&topology, "unplanned", &with_chunk(9, 0, 10)).await;
    let mut reasons = std::collections::BTreeMap::new();
    for _ in 0..2 {
        let dead = dead_letters
            .next(Duration::from_secs(20))
            .await
            .expect("a dead letter");
        reasons.insert(
            dead.message_id.clone().unwrap_or_default(),
            dead.headers
                .get("x-concord-error")
                .cloned()
                .unwrap_or_default(),
        );
    }
    assert!(
        reasons["no-range"].contains("no range of documents"),
        "{reasons:?}"
    );
    assert!(
        reasons["unplanned"].contains("outside its plan of 2 chunks"),
        "{reasons:?}"
    );
    eventually(Duration::from_secs(30), "the late copy handled", || async {
        (worker.acknowledged(Role::Matching).await >= 3.0).then_some(())
    })
    .await;
    assert!(
        dead_letters.next(Duration::from_secs(1)).await.is_none(),
        "the late copy is not dead-lettered"
    );
    assert_counted_once(&worker.pool, &seeded).await;
}

/// The last chunk of a smart run hands the run to the AI pass instead of completing it: the
/// run is `ai_resolving` with the counters of a manual run, one AI task for the whole run is in
/// the outbox, and nothing announces a completion yet (the ai-resolver does, at the end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smart_runs_last_chunk_hands_the_run_to_the_ai_pass() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    let worker = spawn_worker(
        &database,
        &topology,
        amqp_url(),
        Role::Matching,
        NAME,
        MatchingJobHandler::new,
    )
    .await;
    let seeded = seed_run_in_mode(&worker.pool, 60, 20, MatchingMode::Smart).await;
    for (i, job) in seeded.jobs.iter().enumerate() {
        publish(&topology, &format!("chunk-{i}"), job).await;
    }
    // The last chunk again: counted once, handed over once.
    publish(&topology, "chunk-2-again", &seeded.jobs[2]).await;
    eventually(
        Duration::from_secs(30),
        "every delivery handled",
        || async { (worker.acknowledged(Role::Matching).await >= 4.0).then_some(()) },
    )
    .await;

    let handed = run(&worker.pool, seeded.run_id).await;
    assert_eq!(handed.status, MatchingRunStatus::AiResolving);
    assert_eq!(handed.mode, MatchingMode::Smart);
    assert_eq!(handed.rows_processed, seeded.documents);
    assert_eq!(handed.rows_matched, seeded.expected_matches);
    assert_eq!(handed.chunks_done, handed.chunks_total);
    assert_eq!(handed.completed_at, None);
    assert_eq!(
        count(&worker.pool, "SELECT count(*) AS n FROM match_results").await,
        i64::from(seeded.documents)
    );
    let run_id = seeded.run_id.as_uuid();
    let organization_id = handed.organization_id.as_uuid();
    assert_eq!(
        count(
            &worker.pool,
            &format!(
                "SELECT count(*) AS n FROM outbox_messages WHERE exchange = 'jobs' \
                 AND routing_key = 'ai' AND payload->>'run_id' = '{run_id}' \
                 AND payload->>'run_kind' = 'matching' \
                 AND payload->>'organization_id' = '{organization_id}' \
                 AND coalesce(jsonb_array_length(payload->'item_ids'), 0) = 0"
            )
        )
        .await,
        1,
        "one AI task for the whole run"
    );
    assert_eq!(
        count(
            &worker.pool,
            "SELECT count(*) AS n FROM outbox_messages WHERE routing_key LIKE 'matching.run.%'"
        )
        .await,
        0,
        "the ai-resolver announces the completion, not the matching worker"
    );
}

/// The real worker binary, killed with SIGKILL half-way through a run; a second worker finishes
/// the run from the redelivered chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_loses_nothing_and_counts_nothing_twice() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    concord_test_support::broker::declare(&topology).await;
    let pool = database.pool();
    let seeded = seed_run(&pool, 3_000, 250).await;
    for (i, job) in seeded.jobs.iter().enumerate() {
        publish(&topology, &format!("chunk-{i}"), job).await;
    }
    let mut process = std::process::Command::new(env!("CARGO_BIN_EXE_matching-worker"))
        .env("CONCORD_DATABASE_URL", &database.url)
        .env("CONCORD_AMQP_URL", amqp_url())
        .env("CONCORD_NAMESPACE", topology.namespace())
        .env(
            "CONCORD_DELIVERY_LIMIT",
            topology.delivery_limit.to_string(),
        )
        .env("CONCORD_OPS_ADDR", "127.0.0.1:0")
        .env("CONCORD_CONCURRENCY", "2")
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the worker binary starts");
    eventually(Duration::from_secs(60), "a few chunks done", || async {
        (run(&pool, seeded.run_id).await.chunks_done >= 2).then_some(())
    })
    .await;
    process.kill().expect("SIGKILL");
    process.wait().expect("the worker is gone");
    let interrupted = run(&pool, seeded.run_id).await;
    assert!(
        interrupted.chunks_done < interrupted.chunks_total,
        "killed before the end ({} of {} chunks)",
        interrupted.chunks_done,
        interrupted.chunks_total
    );

    let _worker = spawn_worker(
        &database,
        &topology,
        amqp_url(),
        Role::Matching,
        NAME,
        MatchingJobHandler::new,
    )
    .await;
    eventually(Duration::from_secs(90), "the run completed", || async {
        (run(&pool, seeded.run_id).await.status == MatchingRunStatus::Completed).then_some(())
    })
    .await;
    assert_counted_once(&pool, &seeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_dataset_was_deleted_fails_with_a_readable_error() {
    let database = TestDatabase::create().await;
    let topology = test_topology();
    let worker = spawn_worker(
        &database,
        &topology,
        amqp_url(),
        Role::Matching,
        NAME,
        MatchingJobHandler::new,
    )
    .await;
    let seeded = seed_run(&worker.pool, 10, 10).await;
    let queued = run(&worker.pool, seeded.run_id).await;
    let dataset_id = queued.reference_data_id.expect("a dataset");
    {
        let mut conn = connection(&worker.pool).await.expect("a connection");
        ReferenceDataset::delete(&mut conn, queued.organization_id, dataset_id)
            .await
            .expect("deleting the dataset");
    }
    publish(&topology, "chunk-0", &seeded.jobs[0]).await;
    let failed = eventually(Duration::from_secs(20), "the run failed", || async {
        let run = run(&worker.pool, seeded.run_id).await;
        (run.status == MatchingRunStatus::Failed).then_some(run)
    })
    .await;
    let error = failed.error.expect("an error");
    assert!(
        error.contains(&dataset_id.to_string()) && error.contains("was deleted"),
        "{error}"
    );
    assert_eq!(
        count(
            &worker.pool,
            "SELECT count(*) AS n FROM outbox_messages WHERE routing_key = 'matching.run.failed'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&worker.pool, "SELECT count(*) AS n FROM match_results").await,
        0
    );
}
