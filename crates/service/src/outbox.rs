//! Building outbox messages: events for upstream systems and jobs for the workers, each carrying
//! the trace context of the span that wrote it. A message that cannot be written as JSON is an
//! error (`StoreError::Json`) — never a `null` payload published in its place.

use concord_messages::{Event, EventSubject, EventSubjectKind, EventType};
use concord_models::ids::OrganizationId;
use concord_models::outbox::{NewOutboxMessage, OutboxExchange};
use concord_models::StoreError;

/// An event on the events exchange, routed by its type.
pub fn event(
    event_type: EventType,
    organization_id: Option<OrganizationId>,
    subject_kind: EventSubjectKind,
    subject_id: Option<String>,
    correlation_id: Option<String>,
    data: serde_json::Value,
) -> Result<NewOutboxMessage, StoreError> {
    let event_id = uuid::Uuid::now_v7();
    let data = match data {
        serde_json::Value::Object(map) => map,
        other => {
            let mut map = serde_json::Map::new();
            map.insert("value".to_owned(), other);
            map
        }
    };
    let event = Event {
        event_id,
        event_type,
        occurred_at: chrono::Utc::now(),
        organization_id: organization_id.map(|id| id.as_uuid()),
        correlation_id,
        subject: EventSubject {
            kind: subject_kind,
            id: subject_id,
        },
        data,
    };
    Ok(NewOutboxMessage {
        exchange: OutboxExchange::Events,
        routing_key: event_type.routing_key(),
        message_id: event_id,
        payload: serde_json::to_value(&event)?,
        headers: trace_headers()?,
    })
}

/// A `matching.run.*` event about a run as it now is.
pub fn matching_run_event(
    event_type: EventType,
    run: &concord_models::matching_runs::MatchingRun,
) -> Result<NewOutboxMessage, StoreError> {
    event(
        event_type,
        Some(run.organization_id),
        EventSubjectKind::MatchingRun,
        Some(run.id.to_string()),
        None,
        run.event_data(),
    )
}

/// A `resolution.*` event about a run as it now is.
pub fn resolution_run_event(
    event_type: EventType,
    run: &concord_models::resolution_runs::ResolutionRun,
) -> Result<NewOutboxMessage, StoreError> {
    event(
        event_type,
        Some(run.organization_id),
        EventSubjectKind::ResolutionRun,
        Some(run.id.to_string()),
        None,
        run.event_data(),
    )
}

/// A job for the workers of `routing_key` (see `concord_messages::jobs`).
pub fn job(
    routing_key: &str,
    payload: &impl serde::Serialize,
) -> Result<NewOutboxMessage, StoreError> {
    Ok(NewOutboxMessage {
        exchange: OutboxExchange::Jobs,
        routing_key: routing_key.to_owned(),
        message_id: uuid::Uuid::now_v7(),
        payload: serde_json::to_value(payload)?,
        headers: trace_headers()?,
    })
}

fn trace_headers() -> Result<serde_json::Value, StoreError> {
    Ok(serde_json::to_value(
        concord_telemetry::propagation::current_context_headers(),
    )?)
}
