//! Every latency kept (microseconds), summarised by nearest-rank percentiles.

use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Default)]
pub struct Latencies {
    micros: Vec<u64>,
}

/// Percentiles and extremes in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        self.micros
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn summary(&self) -> Summary {
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        let count = u64::try_from(sorted.len()).unwrap_or(u64::MAX);
        let total: u128 = sorted.iter().map(|&us| u128::from(us)).sum();
        let mean = if sorted.is_empty() {
            0.0
        } else {
            millis(u64::try_from(total / u128::from(count)).unwrap_or(u64::MAX))
        };
        Summary {
            count,
            min: sorted.first().copied().map_or(0.0, millis),
            mean,
            p50: millis(nearest_rank(&sorted, 500)),
            p90: millis(nearest_rank(&sorted, 900)),
            p99: millis(nearest_rank(&sorted, 990)),
            p999: millis(nearest_rank(&sorted, 999)),
            max: sorted.last().copied().map_or(0.0, millis),
        }
    }
}

/// The value at `per_mille`/1000 of `sorted` by nearest rank: the smallest value with at least
/// that share of the values at or below it (0 for no values).
pub fn nearest_rank(sorted: &[u64], per_mille: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * per_mille.min(1000)).div_ceil(1000).max(1);
    sorted[rank - 1]
}

/// Microseconds as milliseconds (exact below 2^53 µs, about 285 years).
fn millis(micros: u64) -> f64 {
    ratio(micros, 1000.0)
}

/// `count / divisor` for counts that fit in 53 bits (every count here does); larger counts
/// saturate rather than round silently.
pub fn ratio(count: u64, divisor: f64) -> f64 {
    const EXACT: u64 = 1 << 53;
    let high = u32::try_from(count.min(EXACT - 1) >> 32).unwrap_or(u32::MAX);
    let low = u32::try_from(count.min(EXACT - 1) & 0xFFFF_FFFF).unwrap_or(u32::MAX);
    (f64::from(high) * 4_294_967_296.0 + f64::from(low)) / divisor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(nearest_rank(&values, 500), 50);
        assert_eq!(nearest_rank(&values, 990), 99);
        assert_eq!(nearest_rank(&values, 999), 100);
        assert_eq!(nearest_rank(&values, 1000), 100);
        assert_eq!(nearest_rank(&[7], 500), 7);
        assert_eq!(nearest_rank(&[], 500), 0);
    }

    #[test]
    fn a_summary_is_in_milliseconds() {
        let mut latencies = Latencies::default();
        for ms in [1u64, 2, 3, 4, 100] {
            latencies.record(Duration::from_millis(ms));
        }
        let summary = latencies.summary();
        assert_eq!(summary.count, 5);
        assert!((summary.p50 - 3.0).abs() < 1e-9);
        assert!((summary.max - 100.0).abs() < 1e-9);
        assert!((summary.mean - 22.0).abs() < 1e-9);
        assert!((summary.min - 1.0).abs() < 1e-9);
    }

    #[test]
    fn ratios_are_exact_for_large_counts() {
        assert!((ratio(5_000_000_000, 1.0) - 5e9).abs() < 1e-3);
        assert!((ratio(3, 2.0) - 1.5).abs() < 1e-12);
    }
}
