//! Taking a chunk of a run — the same steps for every kind of run, written once:
//!
//! 1. **prepare**: what the run's snapshot compiles to (a matching spec and reference index, a
//!    policy and its lookup tables), from the worker's caches. A run that cannot be prepared (its
//!    dataset deleted, its snapshot no longer valid against it) **fails** with a readable reason,
//!    announced; the message is handled.
//! 2. **load** the chunk's documents: positions `start..end` (0-based, end exclusive) of the job
//!    run the run reads. Positions outside what the store holds are a malformed message: a
//!    permanent error, never a silently shorter chunk.
//! 3. **compute** on a blocking thread (the scoring core is CPU-bound; the async workers stay
//!    free for the broker's heartbeats).
//! 4. **write** the results — keyed by run and document, so a redelivered chunk changes nothing.
//! 5. **count** the chunk into the run once (its index in the run's tally); a chunk already
//!    counted stops here.
//! 6. the chunk that completes the count **finishes** the run: complete and announce it, or hand
//!    it on (to the AI pass, to a one-to-one assignment first).
//!
//! All of it happens in the transaction that records the message handled
//! (`concord_service::job`), so a crash at any step leaves nothing half-done: the message comes
//! back and the chunk is taken again from the start.
//!
//! A kind of run says what each step means for it by implementing [`ChunkedRun`]; the matching
//! worker and the resolution worker are the two kinds.

use std::fmt::Display;
use std::future::Future;
use std::time::Instant;

use chrono::{DateTime, Utc};
use concord_messages::{ChunkRange, EventType, ResolutionJobChunk};
use concord_models::documents::Document;
use concord_models::ids::{JobRunId, MatchingRunId, OrganizationId, ResolutionRunId};
use concord_models::matching_runs::MatchingRun;
use concord_models::outbox::OutboxMessage;
use concord_models::resolution_runs::ResolutionRun;
use concord_service::outbox::{matching_run_event, resolution_run_event};
use concord_service::{JobError, WorkMetrics};
use diesel_async::AsyncPgConnection;

/// Why a run cannot go on: it fails with this as its readable `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFailure(pub String);

/// The place of one chunk in its run, as its message names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPlace {
    /// The chunk's index in the run's plan (0-based).
    pub index: u64,
    /// The first document position (0-based).
    pub start: u64,
    /// One past the last document position.
    pub end: u64,
}

impl From<&ChunkRange> for ChunkPlace {
    fn from(chunk: &ChunkRange) -> Self {
        Self {
            index: chunk.index,
            start: chunk.start,
            end: chunk.end,
        }
    }
}

impl From<&ResolutionJobChunk> for ChunkPlace {
    fn from(chunk: &ResolutionJobChunk) -> Self {
        Self {
            index: chunk.index,
            start: chunk.start,
            end: chunk.end,
        }
    }
}

/// A chunk's place checked against what the store can hold (positions are `i32` there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpan {
    /// The chunk's index in the run's tally.
    pub index: i32,
    /// The position after which the chunk's documents start.
    pub after: i32,
    /// How many documents the chunk holds at most.
    pub len: i64,
}

impl ChunkSpan {
    /// The span of `place`, or why the message naming it is malformed (`run` names the run in
    /// the message).
    pub fn of(place: ChunkPlace, run: &dyn Display) -> Result<Self, String> {
        let position = |what: &str, n: u64| {
            i32::try_from(n).map_err(|_| format!("chunk {what} {n} of run {run} is out of range"))
        };
        let index = position("index", place.index)?;
        let start = position("start", place.start)?;
        let end = position("end", place.end)?;
        if end < start {
            return Err(format!(
                "chunk {index} of run {run} spans positions {start}..{end}, which is no range of documents"
            ));
        }
        Ok(Self {
            index,
            after: start - 1,
            len: i64::from(end - start),
        })
    }

    /// Whether the span belongs to the run's plan: its index among the run's `chunks` planned and
    /// its positions among the run's `rows` documents. A chunk outside the plan would be counted
    /// in place of a real one (and complete the run before every document is in): malformed.
    pub fn within_plan(
        self,
        chunks: ChunkCount,
        rows: i32,
        run: &dyn Display,
    ) -> Result<Self, String> {
        if self.index >= chunks.total {
            return Err(format!(
                "chunk {} of run {run} is outside its plan of {} chunks",
                self.index, chunks.total
            ));
        }
        let end = i64::from(self.after) + 1 + self.len;
        if end > i64::from(rows) {
            return Err(format!(
                "chunk {} of run {run} ends at position {end}, past the run's {rows} documents",
                self.index
            ));
        }
        Ok(self)
    }
}

/// A run's progress through its chunks after one is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkCount {
    pub done: i32,
    pub total: i32,
}

impl ChunkCount {
    /// Whether the chunk just counted was the run's last.
    pub fn is_complete(self) -> bool {
        self.done >= self.total
    }
}

/// A run's row as the engine reads it: the same for every kind of run.
pub trait RunRow: Send + Sync + Sized {
    /// The run's id.
    type Id: Copy + Display + Send + 'static;
    /// The kind's name in logs and messages (`matching`, `resolution`).
    const KIND: &'static str;

    fn id(&self) -> Self::Id;
    fn organization(&self) -> OrganizationId;
    /// The job run whose documents the run reads.
    fn documents(&self) -> JobRunId;
    /// Its progress through its chunks.
    fn chunks(&self) -> ChunkCount;
    /// How many documents it reads.
    fn rows(&self) -> i32;
    /// When it was created.
    fn created_at(&self) -> DateTime<Utc>;

    fn find(
        conn: &mut AsyncPgConnection,
        id: Self::Id,
    ) -> impl Future<Output = Result<Option<Self>, JobError>> + Send;

    /// Fails the run with a readable reason and announces it (nothing when it has ended).
    fn fail(
        conn: &mut AsyncPgConnection,
        id: Self::Id,
        reason: &str,
    ) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Completes a run whose AI pass has ended and announces it: the completed run, or `None`
    /// when it was no longer in its AI pass (cancelled meanwhile, completed by a redelivery).
    fn complete_ai_pass(
        conn: &mut AsyncPgConnection,
        id: Self::Id,
    ) -> impl Future<Output = Result<Option<Self>, JobError>> + Send;
}

/// The run a job names, of the organisation the job names; a job naming another is malformed
/// (it can never succeed).
pub async fn find_run<R: RunRow>(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    id: R::Id,
) -> Result<R, JobError> {
    let run = R::find(conn, id)
        .await?
        .ok_or_else(|| JobError::Permanent(format!("{} run {id} does not exist", R::KIND)))?;
    if run.organization() != organization_id {
        return Err(JobError::Permanent(format!(
            "{} run {id} does not belong to organization {organization_id}",
            R::KIND
        )));
    }
    Ok(run)
}

/// [`RunRow`] for a run table's row type: the two run kinds differ only in these names.
macro_rules! run_row {
    ($run:ident, $id:ident, $kind:literal, $documents:ident, $rows:ident, $event:ident, $failed:ident, $completed:ident) => {
        impl RunRow for $run {
            type Id = $id;
            const KIND: &'static str = $kind;

            fn id(&self) -> $id {
                self.id
            }
            fn organization(&self) -> OrganizationId {
                self.organization_id
            }
            fn documents(&self) -> JobRunId {
                self.$documents
            }
            fn chunks(&self) -> ChunkCount {
                ChunkCount {
                    done: self.chunks_done,
                    total: self.chunks_total,
                }
            }
            fn rows(&self) -> i32 {
                self.$rows
            }
            fn created_at(&self) -> DateTime<Utc> {
                self.created_at
            }

            async fn find(conn: &mut AsyncPgConnection, id: $id) -> Result<Option<Self>, JobError> {
                Ok($run::find_by_id(conn, id).await?)
            }

            async fn fail(
                conn: &mut AsyncPgConnection,
                id: $id,
                reason: &str,
            ) -> Result<(), JobError> {
                if let Some(failed) = $run::fail(conn, id, reason).await? {
                    OutboxMessage::enqueue(conn, $event(EventType::$failed, &failed)?).await?;
                }
                Ok(())
            }

            async fn complete_ai_pass(
                conn: &mut AsyncPgConnection,
                id: $id,
            ) -> Result<Option<Self>, JobError> {
                let completed = $run::complete_ai_pass(conn, id).await?;
                if let Some(completed) = &completed {
                    OutboxMessage::enqueue(conn, $event(EventType::$completed, completed)?).await?;
                }
                Ok(completed)
            }
        }
    };
}

run_row!(
    MatchingRun,
    MatchingRunId,
    "matching",
    job_run_id,
    rows_total,
    matching_run_event,
    MatchingRunFailed,
    MatchingRunCompleted
);
run_row!(
    ResolutionRun,
    ResolutionRunId,
    "resolution",
    source_run_id,
    documents_total,
    resolution_run_event,
    ResolutionFailed,
    ResolutionCompleted
);

/// What one kind of chunked run means by the steps of taking a chunk (see the module).
pub trait ChunkedRun: Sync {
    /// The run's row.
    type Run: RunRow;
    /// What a run's snapshot compiles to: everything the blocking computation needs (cheap to
    /// clone: shared, cached parts).
    type Prepared: Clone + Send + Sync + 'static;
    /// What a chunk's documents compute to: results to write and counts to add to the run.
    type Output: Send + 'static;

    /// Where the chunks and runs taken are counted and timed.
    fn metrics(&self) -> &WorkMetrics;

    /// Compiles the run's snapshot (from the worker's caches).
    fn prepare(
        &self,
        conn: &mut AsyncPgConnection,
        run: &Self::Run,
    ) -> impl Future<Output = Result<Result<Self::Prepared, RunFailure>, JobError>> + Send;

    /// The pure computation over a chunk's documents (runs on a blocking thread).
    fn compute(
        run_id: <Self::Run as RunRow>::Id,
        prepared: &Self::Prepared,
        documents: Vec<Document>,
    ) -> Self::Output;

    /// Writes a chunk's results, keyed so that writing them again changes nothing.
    fn write(
        &self,
        conn: &mut AsyncPgConnection,
        output: &Self::Output,
    ) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Counts the chunk into the run once: the run as counted, or `None` when this chunk was
    /// counted before.
    fn count(
        &self,
        conn: &mut AsyncPgConnection,
        run: &Self::Run,
        chunk_index: i32,
        output: &Self::Output,
    ) -> impl Future<Output = Result<Option<Self::Run>, JobError>> + Send;

    /// The last chunk is in: completes the run and announces it, or hands it on.
    fn finish(
        &self,
        conn: &mut AsyncPgConnection,
        run: &Self::Run,
        prepared: &Self::Prepared,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// The span of the chunk at `place` in `run`'s plan, or a permanent error naming what is
/// malformed. Workers check a chunk with this before they look at the run's state: a malformed
/// chunk goes to the dead-letter queue even when it arrives after its run ended (a well-formed
/// chunk of an ended run is a late copy and is skipped).
pub fn plan_span<R: RunRow>(run: &R, place: ChunkPlace) -> Result<ChunkSpan, JobError> {
    let run_id = run.id();
    ChunkSpan::of(place, &run_id)
        .and_then(|span| span.within_plan(run.chunks(), run.rows(), &run_id))
        .map_err(JobError::Permanent)
}

/// Takes the chunk at `place` of `run` through every step (see the module). `Ok` when the message
/// is handled — the run failed with a reason included; `Err` when it is not (the store failed, or
/// the message is malformed).
pub async fn take_chunk<K: ChunkedRun>(
    kind: &K,
    conn: &mut AsyncPgConnection,
    run: &K::Run,
    place: ChunkPlace,
) -> Result<(), JobError> {
    let run_id = run.id();
    let kind_name = <K::Run as RunRow>::KIND;
    let span = plan_span(run, place)?;
    let prepared = match kind.prepare(conn, run).await? {
        Ok(prepared) => prepared,
        Err(RunFailure(reason)) => {
            tracing::warn!(kind = kind_name, %run_id, %reason, "run failed");
            return K::Run::fail(conn, run_id, &reason).await;
        }
    };

    let started = Instant::now();
    let documents = Document::list(conn, run.documents(), Some(span.after), span.len).await?;
    let loaded = started.elapsed();
    let document_count = documents.len();
    let output = {
        let prepared = prepared.clone();
        tokio::task::spawn_blocking(move || K::compute(run_id, &prepared, documents))
            .await
            .map_err(|error| {
                JobError::Permanent(format!(
                    "computing chunk {} of {} run {run_id} panicked: {error}",
                    span.index, kind_name
                ))
            })?
    };
    let computed = started.elapsed();
    kind.write(conn, &output).await?;
    let written = started.elapsed();

    let Some(counted) = kind.count(conn, run, span.index, &output).await? else {
        tracing::info!(kind = kind_name, %run_id, chunk = span.index, "chunk already counted; nothing changes");
        return Ok(());
    };
    let count = counted.chunks();
    kind.metrics()
        .chunk_taken(kind_name, started.elapsed().as_secs_f64(), document_count);
    tracing::info!(
        kind = kind_name,
        %run_id,
        chunk = span.index,
        documents = document_count,
        chunks_done = count.done,
        chunks_total = count.total,
        load_ms = millis(loaded),
        compute_ms = millis(computed.saturating_sub(loaded)),
        write_ms = millis(written.saturating_sub(computed)),
        "chunk taken"
    );
    if count.is_complete() {
        kind.finish(conn, &counted, &prepared).await?;
        let age = (chrono::Utc::now() - counted.created_at()).to_std();
        kind.metrics()
            .run_finished(kind_name, age.map_or(0.0, |age| age.as_secs_f64()));
    }
    Ok(())
}

/// A duration in whole milliseconds for a log field (saturating: a log is no place to fail).
fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn place(index: u64, start: u64, end: u64) -> ChunkPlace {
        ChunkPlace { index, start, end }
    }

    #[rstest]
    #[case(place(0, 0, 500), ChunkSpan { index: 0, after: -1, len: 500 })]
    #[case(place(3, 1500, 2000), ChunkSpan { index: 3, after: 1499, len: 500 })]
    #[case(place(2, 7, 7), ChunkSpan { index: 2, after: 6, len: 0 })]
    fn a_chunk_place_is_a_span_of_positions(#[case] place: ChunkPlace, #[case] span: ChunkSpan) {
        assert_eq!(ChunkSpan::of(place, &"r"), Ok(span));
    }

    #[rstest]
    #[case(place(0, 10, 5), "no range")]
    #[case(place(u64::MAX, 1, 2), "index")]
    #[case(place(0, 1, 1 << 40), "end")]
    #[case(place(0, 1 << 33, 1 << 34), "start")]
    fn a_chunk_place_outside_the_store_is_malformed(
        #[case] place: ChunkPlace,
        #[case] names: &str,
    ) {
        let error = ChunkSpan::of(place, &"run-7").expect_err("malformed");
        assert!(error.contains(names), "{error}");
        assert!(error.contains("run-7"), "{error}");
    }

    #[rstest]
    #[case(place(0, 0, 500), 4, 2000)]
    #[case(place(3, 1500, 2000), 4, 2000)]
    #[case(place(3, 1500, 1500), 4, 2000)]
    fn a_planned_chunk_is_within_its_plan(
        #[case] place: ChunkPlace,
        #[case] chunks: i32,
        #[case] rows: i32,
    ) {
        let span = ChunkSpan::of(place, &"r").expect("a span");
        let count = ChunkCount {
            done: 0,
            total: chunks,
        };
        assert_eq!(span.within_plan(count, rows, &"r"), Ok(span));
    }

    #[rstest]
    #[case(place(4, 0, 10), 4, 2000, "outside its plan of 4 chunks")]
    #[case(place(11, 0, 10), 4, 2000, "outside its plan")]
    #[case(place(0, 0, 10), 0, 0, "outside its plan of 0 chunks")]
    #[case(place(3, 1500, 2001), 4, 2000, "past the run's 2000 documents")]
    fn a_chunk_outside_the_plan_is_malformed(
        #[case] place: ChunkPlace,
        #[case] chunks: i32,
        #[case] rows: i32,
        #[case] names: &str,
    ) {
        let span = ChunkSpan::of(place, &"run-7").expect("a span");
        let count = ChunkCount {
            done: 0,
            total: chunks,
        };
        let error = span
            .within_plan(count, rows, &"run-7")
            .expect_err("outside");
        assert!(error.contains(names), "{error}");
        assert!(error.contains("run-7"), "{error}");
    }

    #[rstest]
    #[case(ChunkCount { done: 3, total: 4 }, false)]
    #[case(ChunkCount { done: 4, total: 4 }, true)]
    #[case(ChunkCount { done: 0, total: 0 }, true)]
    fn the_chunk_that_completes_the_count_finishes_the_run(
        #[case] count: ChunkCount,
        #[case] complete: bool,
    ) {
        assert_eq!(count.is_complete(), complete);
    }
}
