//! `Idempotency-Key` on every POST: the first response is stored for 24 h and replayed to a
//! repeat of the same request (same method, path, query and body), which creates nothing new; the
//! same key with a different request is a 409, and so is a repeat while the first is running.
//! Only successful responses are kept, so a corrected retry after an error can reuse its key.

use std::cell::RefCell;
use std::rc::Rc;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse, ResponseError};
use bytes::Bytes;
use concord_models::database::connection;
use concord_models::idempotency_keys::{IdempotencyKey, Reservation};
use concord_models::DbPool;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorCode};
use crate::request_context::respond;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.method() != Method::POST || !req.headers().contains_key(HEADER) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let key = match parse_key(&req) {
        Ok(key) => key,
        Err(error) => return Ok(respond(req, error)),
    };
    let auth = req.extensions().get::<Authenticated>().cloned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(auth), Some(state)) = (auth, state) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let pool = state.pool.clone();
    let org = auth.organization_id;
    let hasher = Rc::new(RefCell::new(request_hasher(&req)));

    let reservation = match reserve(&pool, org, &key).await {
        Ok(reservation) => reservation,
        Err(error) => return Ok(respond(req, error)),
    };
    match reservation {
        Reservation::InProgress => Ok(respond(
            req,
            ApiError::Conflict {
                code: ErrorCode::IdempotencyKeyInUse,
                message: format!("a request with Idempotency-Key `{key}` is still being processed"),
            },
        )),
        Reservation::Completed(record) => {
            // Read (and hash) the body to tell a replay from a different request.
            let mut payload = req.take_payload();
            while let Some(chunk) = payload.next().await {
                match chunk {
                    Ok(bytes) => hasher.borrow_mut().update(&bytes),
                    Err(error) => return Ok(respond(req, ApiError::BodyRead(error.to_string()))),
                }
            }
            let hash = hasher.borrow().clone().finalize().to_vec();
            if record.request_hash.as_deref() != Some(hash.as_slice()) {
                return Ok(respond(
                    req,
                    ApiError::Conflict {
                        code: ErrorCode::IdempotencyKeyReused,
                        message: format!(
                            "Idempotency-Key `{key}` was already used with a different request"
                        ),
                    },
                ));
            }
            let status = record
                .response_status
                .and_then(|s| u16::try_from(s).ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK);
            let response = HttpResponse::build(status)
                .content_type("application/json")
                .insert_header((REPLAYED_HEADER, "true"))
                .body(record.response_body.unwrap_or_default());
            Ok(req.into_response(response))
        }
        Reservation::Reserved => {
            let payload = req.take_payload();
            let tee = Rc::clone(&hasher);
            let hashed = payload.map(move |chunk| {
                if let Ok(bytes) = &chunk {
                    tee.borrow_mut().update(bytes);
                }
                chunk
            });
            let boxed: std::pin::Pin<
                Box<dyn futures_util::Stream<Item = Result<Bytes, actix_web::error::PayloadError>>>,
            > = Box::pin(hashed);
            req.set_payload(Payload::from(boxed));
            let response = next.call(req).await;
            let response = match response {
                Ok(response) => response.map_into_boxed_body(),
                Err(error) => {
                    release(&pool, org, &key).await;
                    return Err(error);
                }
            };
            if !response.status().is_success() {
                release(&pool, org, &key).await;
                return Ok(response);
            }
            let (http_request, response) = response.into_parts();
            let (response, body) = response.into_parts();
            let bytes: Bytes = match body::to_bytes(body).await {
                Ok(bytes) => bytes,
                Err(_) => {
                    release(&pool, org, &key).await;
                    let error = ApiError::Internal("buffering the response failed".into());
                    return Ok(ServiceResponse::new(http_request, error.error_response()));
                }
            };
            let hash = hasher.borrow().clone().finalize().to_vec();
            let stored = async {
                let mut conn = connection(&pool).await?;
                IdempotencyKey::complete(
                    &mut conn,
                    org,
                    &key,
                    &hash,
                    response.status().as_u16(),
                    &bytes,
                )
                .await
            }
            .await;
            if let Err(error) = stored {
                tracing::warn!(%error, "storing the idempotent response failed; the key is released");
                release(&pool, org, &key).await;
            }
            let response = response.set_body(BoxBody::new(bytes));
            Ok(ServiceResponse::new(http_request, response))
        }
    }
}

fn parse_key(req: &ServiceRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    if value.is_empty() || value.len() > 255 {
        return Err(ApiError::Validation {
            field: Some("Idempotency-Key".to_owned()),
            line: None,
            message: "the Idempotency-Key header must be 1 to 255 visible ASCII characters"
                .to_owned(),
        });
    }
    Ok(value.to_owned())
}

/// The hash covers the method, path and query as well as the body.
fn request_hasher(req: &ServiceRequest) -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(req.path().as_bytes());
    hasher.update(b"?");
    hasher.update(req.query_string().as_bytes());
    hasher.update(b"\n");
    hasher
}

async fn reserve(
    pool: &DbPool,
    org: concord_models::ids::OrganizationId,
    key: &str,
) -> Result<Reservation, ApiError> {
    let mut conn = connection(pool).await?;
    Ok(IdempotencyKey::reserve(&mut conn, org, key).await?)
}

async fn release(pool: &DbPool, org: concord_models::ids::OrganizationId, key: &str) {
    let released = async {
        let mut conn = connection(pool).await?;
        IdempotencyKey::release(&mut conn, org, key).await
    }
    .await;
    if let Err(error) = released {
        tracing::warn!(%error, "releasing an idempotency key failed; it frees itself after 10 minutes");
    }
}
