//! The chunks of a run: how its documents are split, and the jobs that hand them to the workers,
//! written to the outbox in the caller's transaction. The gateway plans a matching run's chunks
//! when the run is created (a matching worker, when the run first had to train its config's
//! model), and a resolution run's when it is executed.

use concord_messages::{jobs, ChunkRange, MatchingJob, ResolutionJob, ResolutionJobChunk};
use concord_models::ids::{MatchingRunId, OrganizationId, ResolutionRunId};
use concord_models::outbox::OutboxMessage;
use concord_models::StoreError;
use diesel_async::AsyncPgConnection;

/// Splits positions `0..total` into `[start, end)` ranges of at most `size`.
pub fn chunk_ranges(total: i32, size: i32) -> Vec<(i32, i32)> {
    let size = size.max(1);
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < total {
        let end = start.saturating_add(size).min(total);
        ranges.push((start, end));
        start = end;
    }
    ranges
}

/// Writes one matching job per chunk of a run's `total` documents to the outbox (in the
/// caller's transaction). Returns how many chunks there are.
pub async fn enqueue_matching_chunks(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    run_id: MatchingRunId,
    total: i32,
    chunk_size: i32,
) -> Result<usize, StoreError> {
    let chunks = chunk_ranges(total, chunk_size);
    for (index, (start, end)) in chunks.iter().enumerate() {
        let job = MatchingJob {
            run_id: Some(run_id.as_uuid()),
            organization_id: organization_id.as_uuid(),
            chunk: Some(ChunkRange {
                index: u64::try_from(index)?,
                start: u64::try_from(*start)?,
                end: u64::try_from(*end)?,
            }),
            model_id: None,
        };
        OutboxMessage::enqueue(conn, concord_service::outbox::job(jobs::MATCHING, &job)?).await?;
    }
    Ok(chunks.len())
}

/// Writes one resolution job per chunk in `chunks` (from [`chunk_ranges`]) to the outbox (in the
/// caller's transaction).
pub async fn enqueue_resolution_chunks(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    run_id: ResolutionRunId,
    chunks: &[(i32, i32)],
) -> Result<(), StoreError> {
    for (index, (start, end)) in chunks.iter().enumerate() {
        let job = ResolutionJob {
            run_id: run_id.as_uuid(),
            organization_id: organization_id.as_uuid(),
            chunk: Some(ResolutionJobChunk {
                index: u64::try_from(index)?,
                start: u64::try_from(*start)?,
                end: u64::try_from(*end)?,
            }),
        };
        OutboxMessage::enqueue(conn, concord_service::outbox::job(jobs::RESOLUTION, &job)?).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::chunk_ranges;

    #[test]
    fn chunks_cover_every_position_once() {
        assert_eq!(chunk_ranges(0, 10), vec![]);
        assert_eq!(chunk_ranges(5, 10), vec![(0, 5)]);
        assert_eq!(chunk_ranges(25, 10), vec![(0, 10), (10, 20), (20, 25)]);
        assert_eq!(chunk_ranges(3, 0), vec![(0, 1), (1, 2), (2, 3)]);
    }
}
