//! When each request is due: request `i` at `i / rate` seconds after the start, whatever happened
//! to the ones before it (open loop). The first `warmup × rate` requests are sent but not measured.

use std::time::Duration;

const NANOS_PER_SECOND: u128 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    rate: u32,
    warmup: u64,
    measured: u64,
}

impl Schedule {
    /// `rate` requests per second (at least one), `warmup` then `duration` long.
    pub fn new(rate: u32, warmup: Duration, duration: Duration) -> Self {
        let rate = rate.max(1);
        let count = |span: Duration| {
            u64::try_from(span.as_nanos() * u128::from(rate) / NANOS_PER_SECOND).unwrap_or(u64::MAX)
        };
        Self {
            rate,
            warmup: count(warmup),
            measured: count(duration),
        }
    }

    /// Every request, warm-up included.
    pub fn total(&self) -> u64 {
        self.warmup.saturating_add(self.measured)
    }

    /// The requests that are measured.
    pub fn measured(&self) -> u64 {
        self.measured
    }

    /// Whether request `i` is measured (it comes after the warm-up).
    pub fn is_measured(&self, i: u64) -> bool {
        i >= self.warmup
    }

    /// When request `i` is due, after the start (exact: no drift from adding up a rounded period).
    pub fn offset(&self, i: u64) -> Duration {
        let nanos = u128::from(i) * NANOS_PER_SECOND / u128::from(self.rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_due_at_i_over_rate_without_drift() {
        let schedule = Schedule::new(3, Duration::ZERO, Duration::from_secs(2));
        assert_eq!(schedule.total(), 6);
        assert_eq!(schedule.offset(0), Duration::ZERO);
        assert_eq!(schedule.offset(1), Duration::from_nanos(333_333_333));
        assert_eq!(schedule.offset(3), Duration::from_secs(1));
        assert_eq!(schedule.offset(6_000_000), Duration::from_secs(2_000_000));
    }

    #[test]
    fn the_warm_up_is_sent_but_not_measured() {
        let schedule = Schedule::new(2000, Duration::from_millis(500), Duration::from_secs(10));
        assert_eq!(schedule.total(), 21_000);
        assert_eq!(schedule.measured(), 20_000);
        assert!(!schedule.is_measured(999));
        assert!(schedule.is_measured(1000));
    }

    #[test]
    fn a_zero_rate_is_one_per_second() {
        let schedule = Schedule::new(0, Duration::ZERO, Duration::from_secs(3));
        assert_eq!(schedule.total(), 3);
        assert_eq!(schedule.offset(2), Duration::from_secs(2));
    }
}
