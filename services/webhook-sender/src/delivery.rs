//! The delivery loop: takes due deliveries, sends them signed, records each attempt, schedules
//! the retries and disables an endpoint after a run of failures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use concord_messages::{EventSubjectKind, EventType};
use concord_models::database::connection;
use concord_models::outbox::OutboxMessage;
use concord_models::webhook_deliveries::{
    WebhookAttemptUpdate, WebhookDelivery, WebhookDeliveryStatus,
};
use concord_models::webhook_delivery_attempts::{
    NewWebhookDeliveryAttempt, WebhookDeliveryAttempt,
};
use concord_models::webhook_endpoints::WebhookEndpoint;
use concord_models::{DbPool, StoreError};
use concord_webhooks::headers;
use concord_webhooks::signature::Secret;
use diesel_async::AsyncConnection;
use prometheus::{IntCounterVec, Opts, Registry};
use rand::Rng;
use serde::Serialize;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::settings::DeliverySettings;

/// The first bytes of a receiver's answer kept on the delivery.
pub const EXCERPT_BYTES: usize = 1024;
/// How long past its timeout an attempt's lease lasts (time to record the outcome).
const LEASE_MARGIN: Duration = Duration::from_secs(5);

pub struct DeliveryLoop {
    pool: DbPool,
    client: reqwest::Client,
    settings: Arc<DeliverySettings>,
    outbox_waker: Arc<Notify>,
    wake: Arc<Notify>,
    attempts: IntCounterVec,
}

/// What one attempt came to.
#[derive(Debug)]
struct Attempt {
    at: DateTime<Utc>,
    status_code: Option<u16>,
    latency: Duration,
    excerpt: Option<String>,
    /// Why it failed; `None` for a 2xx answer.
    error: Option<String>,
}

/// The `data` of a `webhook.endpoint_disabled` event.
#[derive(Debug, Serialize)]
pub struct EndpointDisabled {
    pub id: String,
    pub url: String,
    pub consecutive_failures: i32,
    pub reason: String,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl DeliveryLoop {
    pub fn new(
        pool: DbPool,
        client: reqwest::Client,
        settings: DeliverySettings,
        outbox_waker: Arc<Notify>,
        wake: Arc<Notify>,
        registry: &Registry,
    ) -> Result<Self, prometheus::Error> {
        let attempts = IntCounterVec::new(
            Opts::new(
                "concord_webhook_attempts_total",
                "Webhook delivery attempts, by outcome",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(attempts.clone()))?;
        Ok(Self {
            pool,
            client,
            settings: Arc::new(settings),
            outbox_waker,
            wake,
            attempts,
        })
    }

    /// Sends until `shutdown` fires, then lets the attempts in flight finish and be recorded.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let mut in_flight = JoinSet::new();
        let limit = usize::from(this.settings.in_flight);
        loop {
            while in_flight.try_join_next().is_some() {}
            let room = limit.saturating_sub(in_flight.len());
            let claimed = if room == 0 || shutdown.is_cancelled() {
                0
            } else {
                match this.claim(room).await {
                    Ok(deliveries) => {
                        let count = deliveries.len();
                        for delivery in deliveries {
                            let this = Arc::clone(&this);
                            in_flight.spawn(async move { this.attempt(delivery).await });
                        }
                        count
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot take due webhook deliveries");
                        0
                    }
                }
            };
            if claimed > 0 && claimed == room {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = this.wake.notified() => {}
                _ = tokio::time::sleep(this.settings.poll_interval) => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
        tracing::info!("webhook delivery loop stopped");
    }

    async fn claim(&self, room: usize) -> Result<Vec<WebhookDelivery>, StoreError> {
        let limit = i64::try_from(room)?;
        let lease = self.settings.request_timeout + LEASE_MARGIN;
        let lease_until =
            Utc::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let mut conn = connection(&self.pool).await?;
        conn.transaction::<_, StoreError, _>(async |conn| {
            WebhookDelivery::claim_due(conn, limit, lease_until).await
        })
        .await
    }

    /// One attempt of one delivery, recorded. A failure to record it leaves the lease to expire:
    /// the delivery is sent again (same `webhook-id`).
    async fn attempt(&self, delivery: WebhookDelivery) {
        let id = delivery.id;
        match self.try_attempt(delivery).await {
            Ok(()) => {}
            Err(error) => {
                tracing::warn!(delivery_id = %id, %error, "webhook attempt not recorded; it will be retried when its lease ends")
            }
        }
    }

    async fn try_attempt(&self, delivery: WebhookDelivery) -> Result<(), StoreError> {
        let endpoint = {
            let mut conn = connection(&self.pool).await?;
            WebhookEndpoint::find(&mut conn, delivery.organization_id, delivery.endpoint_id).await?
        };
        // Deleted (its deliveries go with it) or disabled since it was claimed: the delivery
        // waits, due when its lease ends, taken again once the endpoint is enabled.
        let Some(endpoint) = endpoint.filter(|endpoint| endpoint.enabled) else {
            return Ok(());
        };
        let attempt = self.send(&endpoint, &delivery).await;
        let outcome = if attempt.error.is_none() {
            "delivered"
        } else {
            "failed"
        };
        self.attempts.with_label_values(&[outcome]).inc();
        tracing::info!(
            delivery_id = %delivery.id,
            endpoint_id = %endpoint.id,
            status = attempt.status_code,
            latency_ms = u64::try_from(attempt.latency.as_millis()).unwrap_or(u64::MAX),
            error = attempt.error.as_deref().unwrap_or(""),
            "webhook attempt"
        );
        let disabled = self.record(&endpoint, &delivery, attempt).await?;
        if disabled {
            self.outbox_waker.notify_one();
        }
        Ok(())
    }

    /// Sends the delivery's event, signed, and reads the start of the answer.
    async fn send(&self, endpoint: &WebhookEndpoint, delivery: &WebhookDelivery) -> Attempt {
        let at = Utc::now();
        let started = Instant::now();
        let failed = |error: String| Attempt {
            at,
            status_code: None,
            latency: started.elapsed(),
            excerpt: None,
            error: Some(error),
        };
        let body = match serde_json::to_vec(&delivery.payload.0) {
            Ok(body) => body,
            Err(error) => return failed(format!("the event could not be written: {error}")),
        };
        let secret = match Secret::parse(&endpoint.secret) {
            Ok(secret) => secret,
            Err(error) => return failed(error.to_string()),
        };
        let url = match self.settings.targets.check_url(&endpoint.url) {
            Ok(url) => url,
            Err(error) => return failed(format!("refused target: {error}")),
        };
        let id = delivery.id.to_string();
        let timestamp = at.timestamp();
        let signature = secret.sign(&id, timestamp, &body);
        let request = self
            .client
            .post(url)
            .header(headers::ID, &id)
            .header(headers::TIMESTAMP, timestamp.to_string())
            .header(headers::SIGNATURE, signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => return failed(error_chain(&error)),
        };
        let status = response.status();
        let mut excerpt = Vec::new();
        let mut read_error = None;
        while excerpt.len() < EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(error) => {
                    read_error = Some(error_chain(&error));
                    break;
                }
            }
        }
        excerpt.truncate(EXCERPT_BYTES);
        let error = if !status.is_success() {
            Some(format!("the receiver answered {status}"))
        } else {
            read_error
        };
        Attempt {
            at,
            status_code: Some(status.as_u16()),
            latency: started.elapsed(),
            // An excerpt for people to read: invalid UTF-8 is shown replaced.
            excerpt: Some(String::from_utf8_lossy(&excerpt).into_owned()),
            error,
        }
    }

    /// Records the attempt on the delivery and the endpoint, in one transaction; true when it
    /// disabled the endpoint (an event was written to the outbox).
    async fn record(
        &self,
        endpoint: &WebhookEndpoint,
        delivery: &WebhookDelivery,
        attempt: Attempt,
    ) -> Result<bool, StoreError> {
        let settings = &self.settings;
        let now = Utc::now();
        let update = match &attempt.error {
            None => WebhookAttemptUpdate {
                status: WebhookDeliveryStatus::Delivered,
                next_attempt_at: None,
                delivered_at: Some(now),
                ..attempt_fields(&attempt)
            },
            Some(_) => {
                let first = delivery.first_attempt_at.unwrap_or(attempt.at);
                let window = chrono::Duration::from_std(settings.retry_window)
                    .unwrap_or(chrono::Duration::MAX);
                let attempts = u32::try_from(delivery.attempts)
                    .unwrap_or(0)
                    .saturating_add(1);
                if now >= first + window {
                    WebhookAttemptUpdate {
                        status: WebhookDeliveryStatus::Failed,
                        next_attempt_at: None,
                        delivered_at: None,
                        ..attempt_fields(&attempt)
                    }
                } else {
                    let delay = full_jitter(
                        backoff_ceiling(attempts, settings.retry_base, settings.retry_max_delay),
                        &mut rand::rng(),
                    );
                    WebhookAttemptUpdate {
                        status: WebhookDeliveryStatus::Pending,
                        next_attempt_at: Some(
                            now + chrono::Duration::from_std(delay)
                                .unwrap_or(chrono::Duration::MAX),
                        ),
                        delivered_at: None,
                        ..attempt_fields(&attempt)
                    }
                }
            }
        };
        let disable_after = i32::try_from(settings.disable_after).unwrap_or(i32::MAX);
        let reason = attempt.error.clone();
        let history = NewWebhookDeliveryAttempt {
            delivery_id: delivery.id,
            attempted_at: attempt.at,
            status_code: update.last_status_code,
            latency_ms: latency_ms(attempt.latency),
            response_excerpt: update.last_response_excerpt.clone(),
            error: update.last_error.clone(),
        };
        let mut conn = connection(&self.pool).await?;
        conn.transaction::<_, StoreError, _>(async |conn| {
            WebhookDelivery::record_attempt(conn, delivery.id, update).await?;
            WebhookDeliveryAttempt::insert(conn, history).await?;
            let Some(reason) = reason else {
                WebhookEndpoint::record_success(conn, endpoint.id).await?;
                return Ok(false);
            };
            let reason = format!("{disable_after} failed attempts in a row; the last: {reason}");
            let Some((endpoint, disabled)) =
                WebhookEndpoint::record_failure(conn, endpoint.id, disable_after, &reason).await?
            else {
                return Ok(false);
            };
            if disabled {
                tracing::warn!(endpoint_id = %endpoint.id, %reason, "webhook endpoint disabled");
                let data = EndpointDisabled {
                    id: endpoint.id.to_string(),
                    url: endpoint.url.clone(),
                    consecutive_failures: endpoint.consecutive_failures,
                    reason,
                    disabled_at: endpoint.disabled_at,
                };
                let message = concord_service::outbox::event(
                    EventType::WebhookEndpointDisabled,
                    Some(endpoint.organization_id),
                    EventSubjectKind::WebhookEndpoint,
                    Some(endpoint.id.to_string()),
                    None,
                    serde_json::to_value(&data)?,
                )?;
                OutboxMessage::enqueue(conn, message).await?;
            }
            Ok(disabled)
        })
        .await
    }
}

/// The fields every attempt writes, whatever its outcome.
fn attempt_fields(attempt: &Attempt) -> WebhookAttemptUpdate {
    WebhookAttemptUpdate {
        status: WebhookDeliveryStatus::Pending,
        next_attempt_at: None,
        last_attempt_at: Some(attempt.at),
        last_status_code: attempt.status_code.map(i32::from),
        last_latency_ms: Some(latency_ms(attempt.latency)),
        last_response_excerpt: attempt.excerpt.clone(),
        last_error: attempt.error.clone(),
        delivered_at: None,
    }
}

/// A latency in milliseconds; one past 24 days is shown as the longest the column holds.
fn latency_ms(latency: Duration) -> i32 {
    i32::try_from(latency.as_millis()).unwrap_or(i32::MAX)
}

/// The ceiling of the delay after the `attempts`-th failed attempt: `base · 2^(attempts-1)`,
/// at most `max`.
pub fn backoff_ceiling(attempts: u32, base: Duration, max: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).min(32);
    base.saturating_mul(2u32.saturating_pow(doublings)).min(max)
}

/// Full jitter: a delay drawn uniformly between zero and the ceiling, so that the retries of
/// many deliveries failing together spread out instead of arriving together.
pub fn full_jitter(ceiling: Duration, rng: &mut impl Rng) -> Duration {
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rng.random_range(0..=ceiling_ms))
}

/// An error and its causes, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_from_the_base_up_to_the_maximum() {
        let base = Duration::from_secs(5);
        let max = Duration::from_secs(3600);
        let ceilings: Vec<u64> = (1..=12)
            .map(|n| backoff_ceiling(n, base, max).as_secs())
            .collect();
        assert_eq!(
            ceilings,
            vec![5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(backoff_ceiling(u32::MAX, base, max), max);
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling_and_spreads() {
        let mut rng = rand::rng();
        let ceiling = Duration::from_millis(1000);
        let draws: Vec<Duration> = (0..200).map(|_| full_jitter(ceiling, &mut rng)).collect();
        assert!(draws.iter().all(|d| *d <= ceiling));
        assert!(draws.iter().any(|d| *d < Duration::from_millis(500)));
        assert!(draws.iter().any(|d| *d >= Duration::from_millis(500)));
    }

    #[test]
    fn retrying_until_the_ceiling_spans_the_window() {
        // With the defaults, the sum of the ceilings passes 24 h: the retry window, not the
        // attempt count, ends the retries.
        let settings = DeliverySettings::default();
        let total: Duration = (1..=40)
            .map(|n| backoff_ceiling(n, settings.retry_base, settings.retry_max_delay))
            .sum();
        assert!(total > settings.retry_window);
    }
}
