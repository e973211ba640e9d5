//! Per-caller rate limiting: a token bucket per API key, and per reconciliation token (in this
//! gateway process), refilled at `limit / 60` tokens a second up to `limit`. Every authenticated response carries
//! `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`; a refusal is a 429 with
//! `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};
use concord_models::ids::{ApiKeyId, ReconciliationTokenId};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::request_context::respond;
use crate::state::AppState;

pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<Caller, Bucket>>,
}

/// Who a bucket is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Caller {
    Key(ApiKeyId),
    /// A reconciliation service's token (its requests carry no key).
    ReconciliationToken(ReconciliationTokenId),
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The decision for one request.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// Seconds until one request is allowed (0 when allowed).
    pub retry_after_secs: u64,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn check(&self, caller: Caller) -> Decision {
        self.check_at(caller, Instant::now())
    }

    fn check_at(&self, caller: Caller, now: Instant) -> Decision {
        let capacity = f64::from(self.per_minute);
        let rate = capacity / 60.0;
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let bucket = buckets.entry(caller).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let retry_after_secs = if allowed {
            0
        } else {
            u64::from(whole(((1.0 - bucket.tokens) / rate).ceil().max(1.0)))
        };
        Decision {
            allowed,
            limit: self.per_minute,
            remaining: whole(bucket.tokens.floor().max(0.0)),
            reset_secs: u64::from(whole(((capacity - bucket.tokens) / rate).ceil().max(0.0))),
            retry_after_secs,
        }
    }
}

/// A token count or a number of seconds, already rounded and clamped to be non-negative, as an
/// integer. A bucket holds between 0 and `per_minute` (a `u32`) tokens and refills within 60 s,
/// so every value given here is a whole number in `0..=u32::MAX` and the cast is exact.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // exact (see above)
fn whole(x: f64) -> u32 {
    x as u32
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let key = req.extensions().get::<Authenticated>().map(|a| a.key_id);
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(key), Some(state)) = (key, state) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let decision = state.rate_limiter.check(Caller::Key(key));
    let mut response = if decision.allowed {
        next.call(req).await?.map_into_boxed_body()
    } else {
        respond(
            req,
            ApiError::RateLimited {
                retry_after_secs: decision.retry_after_secs,
            },
        )
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", u64::from(decision.limit)),
        ("x-ratelimit-remaining", u64::from(decision.remaining)),
        ("x-ratelimit-reset", decision.reset_secs),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_limit_then_refuses_until_it_refills() {
        let limiter = RateLimiter::new(3);
        let key = Caller::Key(ApiKeyId::generate());
        let start = Instant::now();
        for expected_remaining in [2, 1, 0] {
            let decision = limiter.check_at(key, start);
            assert!(decision.allowed);
            assert_eq!(decision.remaining, expected_remaining);
        }
        let refused = limiter.check_at(key, start);
        assert!(!refused.allowed);
        assert_eq!(
            refused.retry_after_secs, 20,
            "3 per minute refills one every 20 s"
        );
        assert!(
            limiter
                .check_at(key, start + Duration::from_secs(20))
                .allowed
        );
    }

    #[test]
    fn keys_have_their_own_buckets() {
        let limiter = RateLimiter::new(1);
        let now = Instant::now();
        assert!(
            limiter
                .check_at(Caller::Key(ApiKeyId::generate()), now)
                .allowed
        );
        assert!(
            limiter
                .check_at(Caller::Key(ApiKeyId::generate()), now)
                .allowed
        );
        let token = Caller::ReconciliationToken(ReconciliationTokenId::generate());
        assert!(limiter.check_at(token, now).allowed);
        assert!(!limiter.check_at(token, now).allowed);
    }
}
