//! The chunk engine on its own, against the real PostgreSQL, with a probe run kind that counts
//! what the engine asks of it: a chunk delivered twice is counted once and the run finished once;
//! a run that cannot be prepared fails, announced; a chunk outside the store is a permanent error.

// Test code: a broken fixture stops the test (expect); small counts cast exactly.
#![allow(
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap
)]

use std::sync::atomic::{AtomicUsize, Ordering};

use concord_models::database::connection;
use concord_models::documents::Document;
use concord_models::matching_runs::{ChunkTally, MatchingMode, MatchingRun, MatchingRunStatus};
use concord_models::outbox::OutboxMessage;
use concord_runs::engine::{take_chunk, ChunkPlace, ChunkedRun, RunFailure};
use concord_service::{JobError, WorkMetrics};
use concord_telemetry::prometheus::Registry;
use concord_test_support::worker::seed_matching_run;
use concord_test_support::TestDatabase;
use diesel_async::{AsyncConnection, AsyncPgConnection};

/// A run kind whose chunk "computes" the number of its documents.
struct Probe {
    failure: Option<String>,
    prepared: AtomicUsize,
    finished: AtomicUsize,
    metrics: WorkMetrics,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            failure: None,
            prepared: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            metrics: WorkMetrics::register(&Registry::new()).expect("metrics register"),
        }
    }
}

impl ChunkedRun for Probe {
    type Run = MatchingRun;
    type Prepared = ();
    type Output = usize;

    fn metrics(&self) -> &WorkMetrics {
        &self.metrics
    }

    async fn prepare(
        &self,
        _conn: &mut AsyncPgConnection,
        _run: &MatchingRun,
    ) -> Result<Result<(), RunFailure>, JobError> {
        self.prepared.fetch_add(1, Ordering::SeqCst);
        Ok(match &self.failure {
            Some(reason) => Err(RunFailure(reason.clone())),
            None => Ok(()),
        })
    }

    fn compute(
        _run: concord_models::ids::MatchingRunId,
        _: &(),
        documents: Vec<Document>,
    ) -> usize {
        documents.len()
    }

    async fn write(&self, _conn: &mut AsyncPgConnection, _output: &usize) -> Result<(), JobError> {
        Ok(())
    }

    async fn count(
        &self,
        conn: &mut AsyncPgConnection,
        run: &MatchingRun,
        chunk_index: i32,
        output: &usize,
    ) -> Result<Option<MatchingRun>, JobError> {
        let tally = ChunkTally {
            chunk_index,
            rows_processed: *output as i32,
            rows_matched: 0,
            confidence_sum: 0.0,
        };
        Ok(MatchingRun::record_chunk(conn, run.id, tally).await?)
    }

    async fn finish(
        &self,
        _conn: &mut AsyncPgConnection,
        _run: &MatchingRun,
        _prepared: &(),
    ) -> Result<(), JobError> {
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A running matching run over `documents` documents in `chunks` chunks.
async fn seeded_run(conn: &mut AsyncPgConnection, documents: i32, chunks: i32) -> MatchingRun {
    use diesel_async::RunQueryDsl;
    let run = seed_matching_run(conn, MatchingMode::Manual, MatchingRunStatus::Running)
        .await
        .expect("a run");
    let docs: Vec<Document> = (0..documents)
        .map(|i| Document {
            job_run_id: run.job_run_id,
            position: i,
            document_id: format!("doc-{i}"),
            filename: format!("doc-{i}.pdf"),
            field_values: serde_json::json!({}),
        })
        .collect();
    Document::insert_all(conn, &docs).await.expect("documents");
    diesel::sql_query("UPDATE matching_runs SET chunks_total = $1, rows_total = $2 WHERE id = $3")
        .bind::<diesel::sql_types::Int4, _>(chunks)
        .bind::<diesel::sql_types::Int4, _>(documents)
        .bind::<diesel::sql_types::Uuid, _>(run.id)
        .execute(conn)
        .await
        .expect("the run's plan");
    MatchingRun::find_by_id(conn, run.id)
        .await
        .expect("a query")
        .expect("the run")
}

fn place(index: u64, start: u64, end: u64) -> ChunkPlace {
    ChunkPlace { index, start, end }
}

#[tokio::test]
async fn a_chunk_taken_twice_is_counted_once_and_the_last_chunk_finishes_the_run_once() {
    let database = TestDatabase::create().await;
    let pool = database.pool();
    let mut conn = connection(&pool).await.expect("a connection");
    let run = seeded_run(&mut conn, 7, 2).await;
    let probe = Probe::default();

    for chunk in [
        place(0, 0, 4),
        place(0, 0, 4),
        place(1, 4, 7),
        place(1, 4, 7),
    ] {
        conn.transaction::<_, JobError, _>(async |conn| {
            take_chunk(&probe, conn, &run, chunk).await
        })
        .await
        .expect("the chunk is taken");
    }

    let run = MatchingRun::find_by_id(&mut conn, run.id)
        .await
        .expect("a query")
        .expect("the run");
    assert_eq!(run.chunks_done, 2);
    assert_eq!(run.rows_processed, 7, "each document counted once");
    assert_eq!(probe.finished.load(Ordering::SeqCst), 1, "finished once");
    assert_eq!(probe.prepared.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_run_that_cannot_be_prepared_fails_with_its_reason_and_is_announced() {
    let database = TestDatabase::create().await;
    let pool = database.pool();
    let mut conn = connection(&pool).await.expect("a connection");
    let run = seeded_run(&mut conn, 3, 1).await;
    let probe = Probe {
        failure: Some("the reference dataset was deleted".to_owned()),
        ..Probe::default()
    };

    take_chunk(&probe, &mut conn, &run, place(0, 0, 3))
        .await
        .expect("a failed run is a handled message");

    let run = MatchingRun::find_by_id(&mut conn, run.id)
        .await
        .expect("a query")
        .expect("the run");
    assert_eq!(run.status, MatchingRunStatus::Failed);
    assert_eq!(
        run.error.as_deref(),
        Some("the reference dataset was deleted")
    );
    assert_eq!(run.chunks_done, 0, "nothing counted");
    assert_eq!(probe.finished.load(Ordering::SeqCst), 0);
    let announced = conn
        .transaction::<_, concord_models::StoreError, _>(async |conn| {
            OutboxMessage::claim_unpublished(conn, 100).await
        })
        .await
        .expect("the outbox");
    assert!(
        announced
            .iter()
            .any(|m| m.routing_key == "matching.run.failed"),
        "{:?}",
        announced.iter().map(|m| &m.routing_key).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_chunk_outside_the_store_is_a_permanent_error_and_changes_nothing() {
    let database = TestDatabase::create().await;
    let pool = database.pool();
    let mut conn = connection(&pool).await.expect("a connection");
    let run = seeded_run(&mut conn, 3, 1).await;
    let probe = Probe::default();

    for bad in [place(0, 3, 1), place(0, 0, 1 << 40), place(u64::MAX, 0, 3)] {
        let error = take_chunk(&probe, &mut conn, &run, bad)
            .await
            .expect_err("a malformed chunk");
        assert!(matches!(error, JobError::Permanent(_)), "{error}");
    }
    assert_eq!(
        probe.prepared.load(Ordering::SeqCst),
        0,
        "refused before preparing"
    );
    let run = MatchingRun::find_by_id(&mut conn, run.id)
        .await
        .expect("a query")
        .expect("the run");
    assert_eq!(
        (run.status, run.chunks_done),
        (MatchingRunStatus::Running, 0)
    );
}
