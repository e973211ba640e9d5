use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::{JobRunId, OrganizationId};
use crate::schema::job_runs;
use crate::text_enum::text_enum;
use crate::StoreError;

text_enum! {
    /// pending → processing → completed | failed
    pub enum JobRunStatus {
        Pending => "pending",
        Processing => "processing",
        Completed => "completed",
        Failed => "failed",
    }
}

text_enum! {
    /// How the batch reached Concord.
    pub enum JobSource {
        Rest => "rest",
        Intake => "intake",
    }
}

/// A batch of documents with their extracted values.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = job_runs, check_for_backend(diesel::pg::Pg))]
pub struct JobRun {
    pub id: JobRunId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub status: JobRunStatus,
    pub source: JobSource,
    pub intake_message_id: Option<String>,
    pub document_count: i32,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = job_runs)]
pub struct NewJobRun<'a> {
    pub id: JobRunId,
    pub organization_id: OrganizationId,
    pub name: &'a str,
    pub status: JobRunStatus,
    pub source: JobSource,
    pub intake_message_id: Option<&'a str>,
}

impl JobRun {
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewJobRun<'_>,
    ) -> Result<JobRun, StoreError> {
        Ok(diesel::insert_into(job_runs::table)
            .values(new)
            .returning(JobRun::as_returning())
            .get_result(conn)
            .await?)
    }

    /// The organisation's job run; `None` for another organisation's.
    pub async fn find(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: JobRunId,
    ) -> Result<Option<JobRun>, StoreError> {
        Ok(job_runs::table
            .filter(job_runs::id.eq(id))
            .filter(job_runs::organization_id.eq(organization_id))
            .select(JobRun::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// The job run an intake message created, if it was already handled.
    pub async fn find_by_intake_message(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        intake_message_id: &str,
    ) -> Result<Option<JobRun>, StoreError> {
        Ok(job_runs::table
            .filter(job_runs::organization_id.eq(organization_id))
            .filter(job_runs::intake_message_id.eq(intake_message_id))
            .select(JobRun::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// The organisation's job runs, newest first, older than the cursor.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        before: Option<JobRunId>,
        limit: i64,
    ) -> Result<Vec<JobRun>, StoreError> {
        let mut query = job_runs::table
            .filter(job_runs::organization_id.eq(organization_id))
            .select(JobRun::as_select())
            .order(job_runs::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(job_runs::id.lt(before));
        }
        Ok(query.load(conn).await?)
    }

    /// Marks the run completed with its final document count. The time is the wall clock's, not
    /// the transaction's start (a long upload runs in one transaction).
    pub async fn complete(
        conn: &mut AsyncPgConnection,
        id: JobRunId,
        document_count: i32,
    ) -> Result<JobRun, StoreError> {
        let now = chrono::Utc::now();
        Ok(diesel::update(job_runs::table.find(id))
            .set((
                job_runs::status.eq(JobRunStatus::Completed),
                job_runs::document_count.eq(document_count),
                job_runs::updated_at.eq(now),
                job_runs::completed_at.eq(now),
            ))
            .returning(JobRun::as_returning())
            .get_result(conn)
            .await?)
    }
}
