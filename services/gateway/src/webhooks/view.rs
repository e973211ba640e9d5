//! What the webhook routes answer.

use chrono::{DateTime, Utc};
use concord_models::webhook_deliveries::{WebhookDelivery, WebhookDeliveryStatus};
use concord_models::webhook_delivery_attempts::WebhookDeliveryAttempt;
use concord_models::webhook_endpoints::WebhookEndpoint;
use serde::Serialize;
use serde_json::{json, Value};

/// An endpoint, without its secret (shown once, when it is created).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    /// The event types delivered; null for every type.
    pub event_types: Option<Vec<String>>,
    pub enabled: bool,
    /// Failed attempts since the last success.
    pub consecutive_failures: i32,
    /// Why the endpoint was disabled (by the sender after a run of failures, or by a user).
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub links: Value,
}

impl From<WebhookEndpoint> for WebhookView {
    fn from(endpoint: WebhookEndpoint) -> Self {
        let id = endpoint.id.to_string();
        Self {
            links: json!({
                "self": format!("/v1/webhooks/{id}"),
                "deliveries": format!("/v1/webhooks/{id}/deliveries"),
            }),
            id,
            url: endpoint.url,
            event_types: endpoint.event_types,
            enabled: endpoint.enabled,
            consecutive_failures: endpoint.consecutive_failures,
            disabled_reason: endpoint.disabled_reason,
            disabled_at: endpoint.disabled_at,
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
        }
    }
}

/// A new endpoint, with its signing secret: the only answer that shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedWebhookView {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_` and the base64 of the key that signs every delivery
    /// (`webhook-signature: v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`).
    pub secret: String,
}

/// One event's delivery to the endpoint and its last attempt.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// Also the `webhook-id` header of every attempt.
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    #[schema(value_type = crate::openapi::schemas::WebhookDeliveryStatusSchema)]
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer; null when there was none (a timeout, a refused
    /// connection or target).
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i32>,
    /// The first KiB of the last answer's body.
    pub last_response_excerpt: Option<String>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub links: Value,
}

impl From<WebhookDelivery> for DeliveryView {
    fn from(delivery: WebhookDelivery) -> Self {
        let id = delivery.id.to_string();
        Self {
            links: json!({
                "redeliver": format!("/v1/webhooks/{}/deliveries/{id}/redeliver", delivery.endpoint_id),
            }),
            id,
            event_id: delivery.event_id.to_string(),
            event_type: delivery.event_type,
            status: delivery.status,
            attempts: delivery.attempts,
            next_attempt_at: delivery.next_attempt_at,
            last_attempt_at: delivery.last_attempt_at,
            last_status_code: delivery.last_status_code,
            last_latency_ms: delivery.last_latency_ms,
            last_response_excerpt: delivery.last_response_excerpt,
            last_error: delivery.last_error,
            delivered_at: delivery.delivered_at,
            created_at: delivery.created_at,
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub attempted_at: DateTime<Utc>,
    /// The HTTP status of the answer; null when there was none.
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    /// The first KiB of the answer's body.
    pub response_excerpt: Option<String>,
    /// Why it failed; null for a 2xx answer.
    pub error: Option<String>,
}

impl From<WebhookDeliveryAttempt> for AttemptView {
    fn from(attempt: WebhookDeliveryAttempt) -> Self {
        Self {
            attempted_at: attempt.attempted_at,
            status_code: attempt.status_code,
            latency_ms: attempt.latency_ms,
            response_excerpt: attempt.response_excerpt,
            error: attempt.error,
        }
    }
}

/// A delivery with the history of its attempts (the latest 100, oldest first).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryDetailView {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    pub attempt_history: Vec<AttemptView>,
}
