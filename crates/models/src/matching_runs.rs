use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::{JobRunId, MatchingRunId, OrganizationId};
use crate::schema::matching_runs;
use crate::text_enum::text_enum;
use crate::StoreError;

text_enum! {
    /// queued → running → ai_resolving → completed | failed | cancelled
    pub enum MatchingRunStatus {
        Queued => "queued",
        Running => "running",
        AiResolving => "ai_resolving",
        Completed => "completed",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

text_enum! {
    pub enum MatchingMode {
        Manual => "manual",
        Smart => "smart",
    }
}

/// A run of a matching configuration over the documents of a job run.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = matching_runs, check_for_backend(diesel::pg::Pg))]
pub struct MatchingRun {
    pub id: MatchingRunId,
    pub organization_id: OrganizationId,
    pub job_run_id: JobRunId,
    pub mode: MatchingMode,
    pub status: MatchingRunStatus,
    pub config_snapshot: serde_json::Value,
    pub rows_total: i32,
    pub rows_processed: i32,
    pub rows_matched: i32,
    pub avg_confidence: Option<f64>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = matching_runs)]
pub struct NewMatchingRun {
    pub id: MatchingRunId,
    pub organization_id: OrganizationId,
    pub job_run_id: JobRunId,
    pub mode: MatchingMode,
    pub status: MatchingRunStatus,
    pub config_snapshot: serde_json::Value,
    pub rows_total: i32,
}

impl MatchingRun {
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewMatchingRun,
    ) -> Result<MatchingRun, StoreError> {
        Ok(diesel::insert_into(matching_runs::table)
            .values(new)
            .returning(MatchingRun::as_returning())
            .get_result(conn)
            .await?)
    }

    pub async fn find_by_id(
        conn: &mut AsyncPgConnection,
        id: MatchingRunId,
    ) -> Result<Option<MatchingRun>, StoreError> {
        Ok(matching_runs::table
            .find(id)
            .select(MatchingRun::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// A worker takes up a queued run: it becomes `running` with its start time. Returns the run
    /// as it now is (unchanged if it had already started or ended).
    pub async fn start(
        conn: &mut AsyncPgConnection,
        id: MatchingRunId,
    ) -> Result<Option<MatchingRun>, StoreError> {
        diesel::update(matching_runs::table.find(id))
            .filter(matching_runs::status.eq(MatchingRunStatus::Queued))
            .set((
                matching_runs::status.eq(MatchingRunStatus::Running),
                matching_runs::started_at.eq(diesel::dsl::now),
                matching_runs::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        Self::find_by_id(conn, id).await
    }
}
