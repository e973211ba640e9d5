//! The handlers of `/v1/webhooks`.

use actix_web::{web, HttpResponse};
use concord_messages::EventType;
use concord_models::database::connection;
use concord_models::ids::{WebhookDeliveryId, WebhookEndpointId};
use concord_models::webhook_deliveries::WebhookDelivery;
use concord_models::webhook_delivery_attempts::WebhookDeliveryAttempt;
use concord_models::webhook_endpoints::{
    NewWebhookEndpoint, WebhookEndpoint, WebhookEndpointUpdate,
};
use concord_webhooks::signature::Secret;
use concord_webhooks::target::TargetPolicy;
use diesel_async::AsyncConnection;
use serde::{Deserialize, Deserializer};

use crate::auth::{Authorized, Read, Write};
use crate::error::ApiError;
use crate::extract::{parse_json, path_id};
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;
use crate::webhooks::view::{
    AttemptView, CreatedWebhookView, DeliveryDetailView, DeliveryView, WebhookView,
};

/// The attempts a delivery's detail shows (the latest).
const ATTEMPTS_SHOWN: i64 = 100;

/// The longest URL accepted.
const MAX_URL_LENGTH: usize = 2048;

/// `POST /v1/webhooks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// An http(s) URL on a public address.
    pub url: String,
    /// The event types to deliver (`job.completed`, `matching.run.completed`, ...); absent or
    /// null for every type.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `PATCH /v1/webhooks/{id}`: what is given changes, the rest stays. Enabling an endpoint
/// starts its run of failures again from zero.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[serde(default)]
    pub url: Option<String>,
    /// null for every type.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub event_types: Option<Option<Vec<String>>>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A field that is present, null or not: `Some(None)` for null, `None` (the default) when absent.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

async fn checked_url(policy: TargetPolicy, url: &str) -> Result<String, ApiError> {
    if url.len() > MAX_URL_LENGTH {
        return Err(ApiError::validation(
            "url",
            format!("at most {MAX_URL_LENGTH} characters"),
        ));
    }
    policy
        .check_resolved(url)
        .await
        .map(|url| url.to_string())
        .map_err(|e| ApiError::validation("url", e.to_string()))
}

/// The types named, each one the event contract knows, sorted and without repeats.
fn checked_event_types(types: Option<Vec<String>>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(types) = types else {
        return Ok(None);
    };
    if types.is_empty() {
        return Err(ApiError::validation(
            "event_types",
            "name at least one event type, or null for every type",
        ));
    }
    let mut checked = Vec::with_capacity(types.len());
    for (i, name) in types.into_iter().enumerate() {
        let event_type: EventType = name.parse().map_err(|_| {
            ApiError::validation(
                format!("event_types[{i}]"),
                format!("`{name}` is not an event type"),
            )
        })?;
        checked.push(event_type.to_string());
    }
    checked.sort();
    checked.dedup();
    Ok(Some(checked))
}

#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    operation_id = "create_webhook",
    summary = "Register a webhook endpoint",
    security(("api_key" = ["write"])),
    request_body(content = CreateWebhook, description = "The URL, the event types (null for all) and whether it is enabled."),
    responses(
        (status = 201, description = "The endpoint, with its signing secret (shown this once).", body = CreatedWebhookView, headers(("Location" = String))),
    ),
)]
pub async fn create_webhook(
    auth: Authorized<Write>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: CreateWebhook = parse_json(&body)?;
    let url = checked_url(state.limits.webhook_targets, &body.url).await?;
    let event_types = checked_event_types(body.event_types)?;
    let secret = Secret::generate();
    let mut conn = connection(&state.pool).await?;
    let endpoint = WebhookEndpoint::insert(
        &mut conn,
        NewWebhookEndpoint {
            id: WebhookEndpointId::generate(),
            organization_id: auth.organization_id,
            url,
            event_types,
            secret: secret.clone(),
            enabled: body.enabled.unwrap_or(true),
        },
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/v1/webhooks/{}", endpoint.id),
        ))
        .json(CreatedWebhookView {
            webhook: WebhookView::from(endpoint),
            secret,
        }))
}

#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    operation_id = "list_webhooks",
    summary = "Webhook endpoints, newest first",
    security(("api_key" = ["read"])),
    params(crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of endpoints.", body = Page<WebhookView>),
    ),
)]
pub async fn list_webhooks(
    auth: Authorized<Read>,
    page: PageRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let before: Option<WebhookEndpointId> = page.after_as()?;
    let mut conn = connection(&state.pool).await?;
    let rows =
        WebhookEndpoint::list(&mut conn, auth.organization_id, before, page.fetch_limit()).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |endpoint| endpoint.id.to_string(),
        WebhookView::from,
    )))
}

#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "get_webhook",
    summary = "A webhook endpoint",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The endpoint (without its secret).", body = WebhookView),
    ),
)]
pub async fn get_webhook(
    auth: Authorized<Read>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<WebhookEndpointId>(&path)?;
    let mut conn = connection(&state.pool).await?;
    let endpoint = WebhookEndpoint::find(&mut conn, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook", id.to_string()))?;
    Ok(HttpResponse::Ok().json(WebhookView::from(endpoint)))
}

#[utoipa::path(
    patch,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "update_webhook",
    summary = "Change a webhook endpoint's URL, event types or state",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id.")),
    request_body(content = UpdateWebhook, description = "What changes; enabling starts the run of failures from zero."),
    responses(
        (status = 200, description = "The endpoint as it now is.", body = WebhookView),
    ),
)]
pub async fn update_webhook(
    auth: Authorized<Write>,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<WebhookEndpointId>(&path)?;
    let body: UpdateWebhook = parse_json(&body)?;
    let url = match &body.url {
        Some(url) => Some(checked_url(state.limits.webhook_targets, url).await?),
        None => None,
    };
    let event_types = match body.event_types {
        Some(types) => Some(checked_event_types(types)?),
        None => None,
    };
    let organization_id = auth.organization_id;
    let mut conn = connection(&state.pool).await?;
    let endpoint = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let current = WebhookEndpoint::find_for_update(conn, id)
                .await?
                .filter(|endpoint| endpoint.organization_id == organization_id)
                .ok_or_else(|| ApiError::not_found("webhook", id.to_string()))?;
            let enabled = body.enabled.unwrap_or(current.enabled);
            let update = match (current.enabled, enabled) {
                // Enabled again: a fresh start.
                (false, true) => WebhookEndpointUpdate {
                    url: url.unwrap_or(current.url),
                    event_types: event_types.unwrap_or(current.event_types),
                    enabled,
                    consecutive_failures: 0,
                    disabled_reason: None,
                    disabled_at: None,
                },
                (true, false) => WebhookEndpointUpdate {
                    url: url.unwrap_or(current.url),
                    event_types: event_types.unwrap_or(current.event_types),
                    enabled,
                    consecutive_failures: current.consecutive_failures,
                    disabled_reason: Some("disabled through the API".to_owned()),
                    disabled_at: Some(chrono::Utc::now()),
                },
                _ => WebhookEndpointUpdate {
                    url: url.unwrap_or(current.url),
                    event_types: event_types.unwrap_or(current.event_types),
                    enabled,
                    consecutive_failures: current.consecutive_failures,
                    disabled_reason: current.disabled_reason,
                    disabled_at: current.disabled_at,
                },
            };
            Ok(WebhookEndpoint::update(conn, id, update).await?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(WebhookView::from(endpoint)))
}

#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "delete_webhook",
    summary = "Delete a webhook endpoint and its delivery log",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id.")),
    responses(
        (status = 204, description = "Deleted; nothing more is sent to it."),
    ),
)]
pub async fn delete_webhook(
    auth: Authorized<Write>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<WebhookEndpointId>(&path)?;
    let mut conn = connection(&state.pool).await?;
    if WebhookEndpoint::delete(&mut conn, auth.organization_id, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("webhook", id.to_string()))
    }
}

#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    summary = "An endpoint's deliveries, newest first",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id."), crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of deliveries: status, attempts, the last attempt's status code, latency and response excerpt.", body = Page<DeliveryView>),
    ),
)]
pub async fn list_deliveries(
    auth: Authorized<Read>,
    path: web::Path<String>,
    page: PageRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<WebhookEndpointId>(&path)?;
    let before: Option<WebhookDeliveryId> = page.after_as()?;
    let mut conn = connection(&state.pool).await?;
    WebhookEndpoint::find(&mut conn, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook", id.to_string()))?;
    let rows = WebhookDelivery::list(&mut conn, id, before, page.fetch_limit()).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |delivery| delivery.id.to_string(),
        DeliveryView::from,
    )))
}

/// The `(endpoint, delivery)` ids of a delivery's path, the endpoint the organisation's: 404
/// otherwise.
async fn delivery_path(
    conn: &mut diesel_async::AsyncPgConnection,
    organization_id: concord_models::ids::OrganizationId,
    (endpoint_id, delivery_id): (String, String),
) -> Result<(WebhookEndpointId, WebhookDeliveryId), ApiError> {
    let endpoint_id = path_id::<WebhookEndpointId>(&endpoint_id)?;
    let delivery_id = path_id::<WebhookDeliveryId>(&delivery_id)?;
    WebhookEndpoint::find(conn, organization_id, endpoint_id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook", endpoint_id.to_string()))?;
    Ok((endpoint_id, delivery_id))
}

#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries/{delivery_id}",
    tag = "webhooks",
    operation_id = "get_webhook_delivery",
    summary = "A delivery and the history of its attempts",
    security(("api_key" = ["read"])),
    params(
        ("id" = uuid::Uuid, Path, description = "The endpoint's id."),
        ("delivery_id" = uuid::Uuid, Path, description = "The delivery's id (its `webhook-id`)."),
    ),
    responses(
        (status = 200, description = "The delivery and its latest 100 attempts, oldest first: when, the status code, latency, response excerpt and error of each.", body = DeliveryDetailView),
    ),
)]
pub async fn get_delivery(
    auth: Authorized<Read>,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = connection(&state.pool).await?;
    let (endpoint_id, delivery_id) =
        delivery_path(&mut conn, auth.organization_id, path.into_inner()).await?;
    let delivery = WebhookDelivery::find(&mut conn, endpoint_id, delivery_id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook delivery", delivery_id.to_string()))?;
    let attempts =
        WebhookDeliveryAttempt::of_delivery(&mut conn, delivery_id, ATTEMPTS_SHOWN).await?;
    Ok(HttpResponse::Ok().json(DeliveryDetailView {
        delivery: DeliveryView::from(delivery),
        attempt_history: attempts.into_iter().map(AttemptView::from).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    tag = "webhooks",
    operation_id = "redeliver_webhook",
    summary = "Send a delivery again",
    security(("api_key" = ["write"])),
    params(
        ("id" = uuid::Uuid, Path, description = "The endpoint's id."),
        ("delivery_id" = uuid::Uuid, Path, description = "The delivery's id (its `webhook-id`)."),
    ),
    responses(
        (status = 202, description = "Queued now, with the same `webhook-id` and a new retry window (sent once the endpoint is enabled).", body = DeliveryView),
    ),
)]
pub async fn redeliver(
    auth: Authorized<Write>,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = connection(&state.pool).await?;
    let (endpoint_id, delivery_id) =
        delivery_path(&mut conn, auth.organization_id, path.into_inner()).await?;
    let delivery = WebhookDelivery::redeliver(&mut conn, endpoint_id, delivery_id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook delivery", delivery_id.to_string()))?;
    Ok(HttpResponse::Accepted().json(DeliveryView::from(delivery)))
}
