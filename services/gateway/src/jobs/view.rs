//! How job runs and documents look in the API (and in events).

use chrono::{DateTime, Utc};
use concord_models::documents::Document;
use concord_models::job_runs::{JobRun, JobRunStatus, JobSource};
use serde::Serialize;

/// A job run: a batch of documents.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "01938f5e-8f7a-7c3e-9a55-2b1f0c3d4e5f", "name": "March invoices", "status": "completed", "source": "rest", "document_count": 2, "intake_message_id": null, "error": null, "created_at": "2026-03-31T09:12:01Z", "updated_at": "2026-03-31T09:12:01Z", "completed_at": "2026-03-31T09:12:01Z", "links": {"self": "/v1/jobs/01938f5e-8f7a-7c3e-9a55-2b1f0c3d4e5f", "documents": "/v1/jobs/01938f5e-8f7a-7c3e-9a55-2b1f0c3d4e5f/documents"}}))]
pub struct JobRunView {
    pub id: String,
    pub name: String,
    #[schema(value_type = crate::openapi::schemas::JobRunStatusSchema)]
    pub status: JobRunStatus,
    #[schema(value_type = crate::openapi::schemas::JobSourceSchema)]
    pub source: JobSource,
    pub document_count: i32,
    /// For batches from the intake queue: the message id they were sent with.
    pub intake_message_id: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub links: JobRunLinks,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobRunLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub documents: String,
}

impl From<JobRun> for JobRunView {
    fn from(run: JobRun) -> Self {
        let id = run.id.to_string();
        JobRunView {
            links: JobRunLinks {
                self_: format!("/v1/jobs/{id}"),
                documents: format!("/v1/jobs/{id}/documents"),
            },
            id,
            name: run.name,
            status: run.status,
            source: run.source,
            document_count: run.document_count,
            intake_message_id: run.intake_message_id,
            error: run.error,
            created_at: run.created_at,
            updated_at: run.updated_at,
            completed_at: run.completed_at,
        }
    }
}

/// A document of a job run, in batch order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DocumentView {
    pub position: i32,
    pub document_id: String,
    pub filename: String,
    /// Field name → the raw extracted value.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub values: serde_json::Value,
}

impl From<Document> for DocumentView {
    fn from(document: Document) -> Self {
        DocumentView {
            position: document.position,
            document_id: document.document_id,
            filename: document.filename,
            values: document.field_values,
        }
    }
}
