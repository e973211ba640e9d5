//! Per-caller rate limiting: a token bucket per API key, and per reconciliation token, refilled at
//! `limit / 60` tokens a second up to `limit`, kept in PostgreSQL so that every gateway replica
//! draws on the same budget (one statement per request; `concord_models::rate_limit_buckets`). Every authenticated response carries
//! `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`; a refusal is a 429 with
//! `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};
use concord_models::database::connection;
use concord_models::ids::{ApiKeyId, ReconciliationTokenId};
use concord_models::rate_limit_buckets;
use concord_models::DbPool;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::request_context::respond;
use crate::state::AppState;

pub struct RateLimiter {
    per_minute: u32,
    /// Tokens leased from the shared bucket and not spent yet, per caller.
    leases: Mutex<HashMap<Caller, LocalLease>>,
}

/// A lease being spent in this gateway.
struct LocalLease {
    /// Whole tokens left to spend.
    tokens: f64,
    /// What the shared bucket held after the lease (for the headers).
    shared: f64,
    /// Spent no more after this: the rest goes back with the next lease.
    expires: Instant,
}

/// How long a lease is spent from before the gateway asks the shared bucket again.
const LEASE_TTL: Duration = Duration::from_secs(1);
/// Callers with a lease kept, beyond which expired ones are dropped.
const LEASES_KEPT: usize = 10_000;

/// Who a bucket is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Caller {
    Key(ApiKeyId),
    /// A reconciliation service's token (its requests carry no key).
    ReconciliationToken(ReconciliationTokenId),
}

impl Caller {
    /// The bucket's name in `rate_limit_buckets`.
    fn bucket(self) -> String {
        match self {
            Caller::Key(id) => format!("key:{id}"),
            Caller::ReconciliationToken(id) => format!("reconciliation-token:{id}"),
        }
    }
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
            leases: Mutex::new(HashMap::new()),
        }
    }

    /// Tokens a lease takes: one second's refill, at least one (so a limit of a few a minute
    /// is exact) and at most 20.
    fn lease_size(&self) -> f64 {
        (f64::from(self.per_minute) / 60.0).floor().clamp(1.0, 20.0)
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<Caller, LocalLease>> {
        match self.leases.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// One request of `caller`, against the bucket every gateway replica shares (in
    /// PostgreSQL, `concord_models::rate_limit_buckets`): spent from this gateway's lease while
    /// it lasts, else from a new lease.
    pub async fn check(&self, pool: &DbPool, caller: Caller) -> Result<Decision, ApiError> {
        let now = Instant::now();
        let returned = {
            let mut leases = self.leases();
            match leases.remove(&caller) {
                Some(mut lease) if lease.tokens >= 1.0 && lease.expires > now => {
                    lease.tokens -= 1.0;
                    let available = lease.shared + lease.tokens;
                    leases.insert(caller, lease);
                    return Ok(decision_of(available, true, self.per_minute));
                }
                Some(lease) => lease.tokens,
                None => 0.0,
            }
        };
        let mut conn = connection(pool).await?;
        let lease = rate_limit_buckets::take(
            &mut conn,
            &caller.bucket(),
            f64::from(self.per_minute),
            self.lease_size(),
            returned,
        )
        .await?;
        let allowed = lease.granted >= 1.0;
        let left = (lease.granted - 1.0).max(0.0);
        let mut leases = self.leases();
        if leases.len() >= LEASES_KEPT {
            leases.retain(|_, l| l.expires > now);
        }
        if allowed {
            leases.insert(
                caller,
                LocalLease {
                    tokens: left,
                    shared: lease.tokens,
                    expires: now + LEASE_TTL,
                },
            );
        }
        Ok(decision_of(lease.tokens + left, allowed, self.per_minute))
    }
}

/// The headers' figures after a request, from the tokens still available to the caller: whole
/// tokens left, seconds until full, and — when refused — seconds until a whole token is back.
fn decision_of(available: f64, allowed: bool, per_minute: u32) -> Decision {
    let capacity = f64::from(per_minute);
    let rate = capacity / 60.0;
    let tokens = available.clamp(0.0, capacity);
    let retry_after_secs = if allowed {
        0
    } else {
        u64::from(whole(((1.0 - tokens) / rate).ceil().max(1.0)))
    };
    Decision {
        allowed,
        limit: per_minute,
        remaining: whole(tokens.floor()),
        reset_secs: u64::from(whole(((capacity - tokens) / rate).ceil().max(0.0))),
        retry_after_secs,
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
    let decision = match state
        .rate_limiter
        .check(&state.pool, Caller::Key(key))
        .await
    {
        Ok(decision) => decision,
        Err(error) => return Ok(respond(req, error)),
    };
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

    fn state(tokens: f64, allowed: bool) -> (f64, bool) {
        (tokens, allowed)
    }

    fn decide((tokens, allowed): (f64, bool), per_minute: u32) -> Decision {
        decision_of(tokens, allowed, per_minute)
    }

    #[test]
    fn an_allowed_request_reports_what_is_left_and_when_the_bucket_is_full() {
        let decision = decide(state(1.0, true), 3);
        assert!(decision.allowed);
        assert_eq!(decision.remaining, 1);
        assert_eq!(decision.retry_after_secs, 0);
        assert_eq!(decision.reset_secs, 40, "3 a minute refill one every 20 s");
    }

    #[test]
    fn a_refused_request_says_when_a_whole_token_is_back() {
        let decision = decide(state(0.25, false), 3);
        assert!(!decision.allowed);
        assert_eq!(decision.remaining, 0);
        assert_eq!(decision.retry_after_secs, 15);
        // Never 0 seconds for a refusal, even on the edge.
        assert_eq!(decide(state(0.999_999, false), 3).retry_after_secs, 1);
    }

    #[test]
    fn a_lease_is_one_seconds_refill_within_bounds() {
        assert_eq!(
            RateLimiter::new(3).lease_size(),
            1.0,
            "a few a minute: exact"
        );
        assert_eq!(RateLimiter::new(600).lease_size(), 10.0);
        assert_eq!(RateLimiter::new(10_000_000).lease_size(), 20.0);
    }

    #[test]
    fn buckets_are_named_by_the_kind_of_caller() {
        let id = ApiKeyId::generate();
        assert_eq!(Caller::Key(id).bucket(), format!("key:{id}"));
        let token = ReconciliationTokenId::generate();
        assert_ne!(
            Caller::ReconciliationToken(token).bucket(),
            Caller::Key(ApiKeyId::from(token.as_uuid())).bucket()
        );
    }
}
