use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::{OrganizationId, WebhookEndpointId};
use crate::schema::webhook_endpoints;
use crate::StoreError;

/// A URL an organisation's events are delivered to, signed with the endpoint's secret.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::pg::Pg))]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub organization_id: OrganizationId,
    pub url: String,
    /// The event types delivered (their dotted names, checked against the event contract when
    /// written); `None` for every type.
    pub event_types: Option<Vec<String>>,
    /// `whsec_` and the base64 of the signing key.
    pub secret: String,
    pub enabled: bool,
    /// Failed attempts since the last success; at the sender's limit the endpoint is disabled.
    pub consecutive_failures: i32,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct NewWebhookEndpoint {
    pub id: WebhookEndpointId,
    pub organization_id: OrganizationId,
    pub url: String,
    pub event_types: Option<Vec<String>>,
    pub secret: String,
    pub enabled: bool,
}

/// Everything a `PATCH` may change, as the endpoint will be (the caller merges the patch into
/// the current row). `None`s are written as `NULL`.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = webhook_endpoints, treat_none_as_null = true)]
pub struct WebhookEndpointUpdate {
    pub url: String,
    pub event_types: Option<Vec<String>>,
    pub enabled: bool,
    pub consecutive_failures: i32,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl WebhookEndpoint {
    /// Whether events of this type go to the endpoint (enabled or not).
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        match &self.event_types {
            None => true,
            Some(types) => types.iter().any(|t| t == event_type),
        }
    }

    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewWebhookEndpoint,
    ) -> Result<WebhookEndpoint, StoreError> {
        Ok(diesel::insert_into(webhook_endpoints::table)
            .values(new)
            .returning(WebhookEndpoint::as_returning())
            .get_result(conn)
            .await?)
    }

    /// The organisation's endpoint; `None` for another organisation's.
    pub async fn find(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        Ok(webhook_endpoints::table
            .find(id)
            .filter(webhook_endpoints::organization_id.eq(organization_id))
            .select(WebhookEndpoint::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// The endpoint, locked until the transaction ends (a patch, or a failure being counted).
    pub async fn find_for_update(
        conn: &mut AsyncPgConnection,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        Ok(webhook_endpoints::table
            .find(id)
            .select(WebhookEndpoint::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?)
    }

    /// The organisation's endpoints, newest first, older than the cursor.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        before: Option<WebhookEndpointId>,
        limit: i64,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let mut query = webhook_endpoints::table
            .filter(webhook_endpoints::organization_id.eq(organization_id))
            .order(webhook_endpoints::id.desc())
            .limit(limit)
            .select(WebhookEndpoint::as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(webhook_endpoints::id.lt(before));
        }
        Ok(query.load(conn).await?)
    }

    /// The organisation's enabled endpoints (the ones an event is delivered to).
    pub async fn enabled_of(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        Ok(webhook_endpoints::table
            .filter(webhook_endpoints::organization_id.eq(organization_id))
            .filter(webhook_endpoints::enabled.eq(true))
            .order(webhook_endpoints::id.asc())
            .select(WebhookEndpoint::as_select())
            .load(conn)
            .await?)
    }

    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: WebhookEndpointId,
        update: WebhookEndpointUpdate,
    ) -> Result<WebhookEndpoint, StoreError> {
        Ok(diesel::update(webhook_endpoints::table.find(id))
            .set((update, webhook_endpoints::updated_at.eq(diesel::dsl::now)))
            .returning(WebhookEndpoint::as_returning())
            .get_result(conn)
            .await?)
    }

    /// Records a successful delivery: the run of failures starts again from zero.
    pub async fn record_success(
        conn: &mut AsyncPgConnection,
        id: WebhookEndpointId,
    ) -> Result<(), StoreError> {
        diesel::update(webhook_endpoints::table.find(id))
            .filter(webhook_endpoints::consecutive_failures.ne(0))
            .set(webhook_endpoints::consecutive_failures.eq(0))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Counts one more failed attempt and, when the run reaches `disable_after` while the
    /// endpoint is enabled, disables it with `reason`. Returns the endpoint as it now is and
    /// whether this call disabled it.
    pub async fn record_failure(
        conn: &mut AsyncPgConnection,
        id: WebhookEndpointId,
        disable_after: i32,
        reason: &str,
    ) -> Result<Option<(WebhookEndpoint, bool)>, StoreError> {
        let Some(endpoint) = Self::find_for_update(conn, id).await? else {
            return Ok(None);
        };
        let failures = endpoint.consecutive_failures.saturating_add(1);
        let disable = endpoint.enabled && failures >= disable_after;
        let update = WebhookEndpointUpdate {
            url: endpoint.url,
            event_types: endpoint.event_types,
            enabled: endpoint.enabled && !disable,
            consecutive_failures: failures,
            disabled_reason: if disable {
                Some(reason.to_owned())
            } else {
                endpoint.disabled_reason
            },
            disabled_at: if disable {
                Some(Utc::now())
            } else {
                endpoint.disabled_at
            },
        };
        Ok(Some((Self::update(conn, id, update).await?, disable)))
    }

    /// Whether an endpoint was deleted (its deliveries go with it).
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: WebhookEndpointId,
    ) -> Result<bool, StoreError> {
        let deleted = diesel::delete(
            webhook_endpoints::table
                .find(id)
                .filter(webhook_endpoints::organization_id.eq(organization_id)),
        )
        .execute(conn)
        .await?;
        Ok(deleted > 0)
    }
}
