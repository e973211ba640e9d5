//! Events in, deliveries out: one delivery row per enabled endpoint of the event's organisation
//! that subscribes to its type, written in the transaction that records the message handled.

use std::sync::Arc;

use concord_messages::Event;
use concord_models::ids::{OrganizationId, WebhookDeliveryId};
use concord_models::webhook_deliveries::{
    NewWebhookDelivery, WebhookDelivery, WebhookDeliveryStatus,
};
use concord_models::webhook_endpoints::WebhookEndpoint;
use concord_models::Json;
use concord_service::{JobError, JobHandler};
use diesel_async::AsyncPgConnection;
use tokio::sync::Notify;

pub struct EventIngest {
    /// Wakes the delivery loop: new deliveries are due now.
    wake: Arc<Notify>,
}

impl EventIngest {
    pub fn new(wake: Arc<Notify>) -> Self {
        Self { wake }
    }
}

impl JobHandler for EventIngest {
    type Job = Event;
    const CONSUMER: &'static str = "webhook-sender";

    async fn apply(&self, conn: &mut AsyncPgConnection, event: &Event) -> Result<(), JobError> {
        // An event about a sender nobody could identify belongs to no organisation.
        let Some(organization_id) = event.organization_id.map(OrganizationId::from) else {
            return Ok(());
        };
        let event_type = event.event_type.to_string();
        let now = chrono::Utc::now();
        let deliveries: Vec<NewWebhookDelivery> =
            WebhookEndpoint::enabled_of(conn, organization_id)
                .await?
                .into_iter()
                .filter(|endpoint| endpoint.subscribes_to(&event_type))
                .map(|endpoint| NewWebhookDelivery {
                    id: WebhookDeliveryId::generate(),
                    endpoint_id: endpoint.id,
                    organization_id,
                    event_id: event.event_id,
                    event_type: event_type.clone(),
                    payload: Json(event.clone()),
                    status: WebhookDeliveryStatus::Pending,
                    next_attempt_at: Some(now),
                })
                .collect();
        let added = WebhookDelivery::insert_new(conn, &deliveries).await?;
        if added > 0 {
            tracing::info!(event_id = %event.event_id, %event_type, added, "deliveries queued");
            // The loop may look before this transaction commits; its next poll finds them.
            self.wake.notify_one();
        }
        Ok(())
    }
}
