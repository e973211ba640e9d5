use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::{JobRunId, OrganizationId, ResolutionRunId};
use crate::schema::resolution_runs;
use crate::text_enum::text_enum;
use crate::StoreError;

text_enum! {
    /// pending → running → completed | failed
    pub enum ResolutionRunStatus {
        Pending => "pending",
        Running => "running",
        Completed => "completed",
        Failed => "failed",
    }
}

/// A run of a data policy over the documents of a completed job run.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = resolution_runs, check_for_backend(diesel::pg::Pg))]
pub struct ResolutionRun {
    pub id: ResolutionRunId,
    pub organization_id: OrganizationId,
    pub source_run_id: JobRunId,
    pub status: ResolutionRunStatus,
    pub policy_snapshot: serde_json::Value,
    pub dialect_snapshot: Option<serde_json::Value>,
    pub documents_total: i32,
    pub documents_processed: i32,
    pub fields_resolved: i32,
    pub fields_unresolved: i32,
    pub fields_waiting: i32,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = resolution_runs)]
pub struct NewResolutionRun {
    pub id: ResolutionRunId,
    pub organization_id: OrganizationId,
    pub source_run_id: JobRunId,
    pub status: ResolutionRunStatus,
    pub policy_snapshot: serde_json::Value,
    pub dialect_snapshot: Option<serde_json::Value>,
    pub documents_total: i32,
}

impl ResolutionRun {
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewResolutionRun,
    ) -> Result<ResolutionRun, StoreError> {
        Ok(diesel::insert_into(resolution_runs::table)
            .values(new)
            .returning(ResolutionRun::as_returning())
            .get_result(conn)
            .await?)
    }

    pub async fn find_by_id(
        conn: &mut AsyncPgConnection,
        id: ResolutionRunId,
    ) -> Result<Option<ResolutionRun>, StoreError> {
        Ok(resolution_runs::table
            .find(id)
            .select(ResolutionRun::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// A worker takes up the run: it is `running` with its start time. Returns the run as it now
    /// is (unchanged if it had already ended).
    pub async fn start(
        conn: &mut AsyncPgConnection,
        id: ResolutionRunId,
    ) -> Result<Option<ResolutionRun>, StoreError> {
        diesel::update(resolution_runs::table.find(id))
            .filter(
                resolution_runs::status
                    .eq_any([ResolutionRunStatus::Pending, ResolutionRunStatus::Running]),
            )
            .filter(resolution_runs::started_at.is_null())
            .set((
                resolution_runs::status.eq(ResolutionRunStatus::Running),
                resolution_runs::started_at.eq(diesel::dsl::now),
                resolution_runs::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        Self::find_by_id(conn, id).await
    }
}
