//! Handing a run to the ai-resolver: the run's state changes and the ai-resolver's task is
//! written to the outbox in the caller's transaction, so that either both happen or neither.

use concord_messages::{jobs, AiTask, AiTaskRunKind};
use concord_models::ids::ResolutionRunId;
use concord_models::matching_runs::MatchingRun;
use concord_models::outbox::OutboxMessage;
use concord_models::resolution_runs::ResolutionRun;
use concord_models::StoreError;
use diesel_async::AsyncPgConnection;

/// Sends a completed (or last-chunk smart) matching run to its AI pass (`ai_resolving`), over
/// `item_ids` (its results' ids; empty: every result in the review band). `None` when the run can no
/// longer go there (cancelled, or sent meanwhile by another request).
pub async fn hand_matching_run(
    conn: &mut AsyncPgConnection,
    run: &MatchingRun,
    item_ids: Vec<String>,
) -> Result<Option<MatchingRun>, StoreError> {
    let Some(handed) = MatchingRun::begin_ai_pass(conn, run.id).await? else {
        return Ok(None);
    };
    let task = AiTask {
        run_id: handed.id.as_uuid(),
        run_kind: AiTaskRunKind::Matching,
        organization_id: handed.organization_id.as_uuid(),
        item_ids,
    };
    OutboxMessage::enqueue(conn, concord_service::outbox::job(jobs::AI, &task)?).await?;
    Ok(Some(handed))
}

/// Sends a resolution run whose last chunk left values waiting for the LLM to the ai-resolver,
/// which settles them and completes the run (it stays `running` until then).
pub async fn hand_resolution_run(
    conn: &mut AsyncPgConnection,
    run: &ResolutionRun,
) -> Result<(), StoreError> {
    let run_id: ResolutionRunId = run.id;
    let task = AiTask {
        run_id: run_id.as_uuid(),
        run_kind: AiTaskRunKind::Resolution,
        organization_id: run.organization_id.as_uuid(),
        item_ids: Vec::new(),
    };
    OutboxMessage::enqueue(conn, concord_service::outbox::job(jobs::AI, &task)?).await
}
