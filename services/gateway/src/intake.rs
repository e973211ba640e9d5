//! The consumer of the intake queue: upstream systems publish a [`JobSubmission`] to the intake
//! exchange (routing key `job.submit.v1`) with an `authorization: Bearer <key>` header and a
//! `message_id`. A valid batch becomes a job run exactly as a REST submission would (a redelivery
//! creates nothing new); an invalid one goes to the dead-letter queue with its reason, and an
//! `intake.rejected` event tells the sender why.

use actix_web::web;
use concord_messages::{EventSubjectKind, EventType, JobSubmission};
use concord_models::database::connection;
use concord_models::ids::OrganizationId;
use concord_models::job_runs::{JobRun, JobSource};
use concord_models::outbox::OutboxMessage;
use concord_queue::{HandleOutcome, IncomingMessage, MessageHandler};
use serde_json::json;

use crate::auth::{authenticate, Scope};
use crate::error::{ApiError, ErrorCode};
use crate::extract::parse_json;
use crate::jobs::ingest::store_submission;
use crate::state::AppState;

pub struct IntakeHandler {
    state: web::Data<AppState>,
}

impl IntakeHandler {
    pub fn new(state: web::Data<AppState>) -> Self {
        Self { state }
    }

    async fn ingest(
        &self,
        message: &IncomingMessage,
    ) -> Result<JobRun, (Option<OrganizationId>, ApiError)> {
        let authorization = message.headers.get("authorization").map(String::as_str);
        let auth = authenticate(&self.state.pool, &self.state.keys, authorization)
            .await
            .map_err(|e| (None, e))?;
        let org = Some(auth.organization_id);
        auth.require(Scope::Write).map_err(|e| (org, e))?;
        if let Some(message_id) = &message.message_id {
            let mut conn = connection(&self.state.pool)
                .await
                .map_err(|e| (org, e.into()))?;
            if let Some(run) =
                JobRun::find_by_intake_message(&mut conn, auth.organization_id, message_id)
                    .await
                    .map_err(|e| (org, e.into()))?
            {
                return Ok(run);
            }
        }
        let submission: JobSubmission = parse_json(&message.payload).map_err(|e| (org, e))?;
        store_submission(
            &self.state,
            auth.organization_id,
            submission,
            JobSource::Intake,
            message.message_id.clone(),
        )
        .await
        .map_err(|e| (org, e))
    }

    /// Reports the rejection on the events exchange; the caller dead-letters the message.
    async fn report_rejection(
        &self,
        organization_id: Option<OrganizationId>,
        message: &IncomingMessage,
        reason: &str,
    ) -> Result<(), ApiError> {
        let correlation_id = message
            .message_id
            .clone()
            .or_else(|| message.correlation_id.clone());
        let event = concord_service::outbox::event(
            EventType::IntakeRejected,
            organization_id,
            EventSubjectKind::IntakeMessage,
            correlation_id.clone(),
            correlation_id,
            json!({ "reason": reason, "routing_key": message.routing_key }),
        )?;
        let mut conn = connection(&self.state.pool).await?;
        OutboxMessage::enqueue(&mut conn, event).await?;
        self.state.outbox_waker.notify_one();
        Ok(())
    }
}

impl MessageHandler for IntakeHandler {
    async fn handle(&self, message: IncomingMessage) -> HandleOutcome {
        match self.ingest(&message).await {
            Ok(run) => {
                tracing::info!(job_run_id = %run.id, documents = run.document_count, "intake batch stored");
                HandleOutcome::Ack
            }
            Err((
                _,
                ApiError::Conflict {
                    code: ErrorCode::AlreadySubmitted,
                    ..
                },
            )) => HandleOutcome::Ack,
            Err((_, ApiError::Internal(error))) => HandleOutcome::Retry(error.to_string()),
            Err((organization_id, error)) => {
                let reason = format!("{}: {error}", error.code());
                match self.report_rejection(organization_id, &message, &reason).await {
                    Ok(()) => HandleOutcome::DeadLetter(reason),
                    Err(report_error) => HandleOutcome::Retry(format!(
                        "rejecting the message ({reason}) but could not record the event: {report_error}"
                    )),
                }
            }
        }
    }
}
