//! The core's conversions between number types, one per intent. Each says why it loses nothing
//! that matters, or why its loss is the intended one. The workspace denies the lossy `as` casts;
//! in the core's non-test code they are written here and nowhere else, so that a conversion that
//! could lose something is always a named, documented choice.
//!
//! Every helper is `#[inline]` and is exactly the cast it names: no check, no branch, the same
//! bits as before.

/// A count or length (items, rows, characters, levels) as `f64`, for a ratio, a mean or a
/// weight. Exact for every count up to 2^53, far beyond anything the core holds in memory.
#[inline]
#[allow(clippy::cast_precision_loss)] // exact up to 2^53 (see above)
pub(crate) fn count_f64(n: usize) -> f64 {
    n as f64
}

/// A distance (days between dates, amount keys from a centre, a window's width) as `f64`, for a
/// score that falls with it. Exact up to 2^53; a farther distance rounds to the nearest `f64`,
/// which changes its score by less than one part in 2^52 (intended: the score is a float).
#[inline]
#[allow(clippy::cast_precision_loss)] // exact up to 2^53, the nearest f64 beyond (see above)
pub(crate) fn distance_f64(n: u64) -> f64 {
    n as f64
}

/// A count (of rows holding a key, of characters) as `f32`, for the compact `f32` scores of the
/// candidate indexes and the proposer. Exact up to 2^24; a larger count rounds to the nearest
/// `f32`, a relative error below 2^-24, the precision of the `f32` score it goes into (intended).
#[inline]
#[allow(clippy::cast_precision_loss)] // exact up to 2^24, then the f32 scores' own precision
pub(crate) fn count_f32(n: usize) -> f32 {
    n as f32
}

/// A probability, weight or score (an `f64`) as `f32`, for the compact tables (idf weights,
/// memoised and cached similarities, proposal evidence). Rounds to the nearest `f32`, a relative
/// error below 2^-24: the tables are `f32` by design, to halve their memory, and every reader of
/// them reads the rounded value (intended).
#[inline]
#[allow(clippy::cast_possible_truncation)] // rounds to the nearest f32, by design (see above)
pub(crate) fn to_f32(x: f64) -> f32 {
    x as f32
}

/// An exact integer (an amount's minor units) as the nearest `f64`, for a similarity that
/// compares values as floats. Exact up to 2^53 in magnitude; beyond, the nearest `f64` (intended:
/// the float view is approximate by definition; the amount itself stays exact in `Amount`).
#[inline]
#[allow(clippy::cast_precision_loss)] // the nearest f64, by definition of the float view
pub(crate) fn nearest_f64(n: i128) -> f64 {
    n as f64
}

/// `x` towards zero as a `u64`, saturating: negative and NaN to 0, above `u64::MAX` to
/// `u64::MAX`. Used where `x` is already a whole number in range (then exact), or where
/// saturation is the meaning (an infinite radius is the whole key range; a share of more rows than
/// a `u32` counts is "all of them").
#[inline]
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // saturating, as documented
pub(crate) fn saturating_u64(x: f64) -> u64 {
    x as u64
}

/// `x` towards zero as an `i64`, saturating at both ends, NaN to 0. Used where `x` is already a
/// whole number in range, where it is exact.
#[inline]
#[allow(clippy::cast_possible_truncation)] // exact for the whole, in-range values it is given
pub(crate) fn saturating_i64(x: f64) -> i64 {
    x as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helpers_are_the_casts_they_name() {
        assert_eq!(count_f64(3), 3.0);
        assert_eq!(distance_f64(u64::MAX), 18_446_744_073_709_551_616.0);
        assert_eq!(count_f32((1 << 24) + 1), 16_777_216.0);
        assert_eq!(to_f32(0.1), 0.1f32);
        assert_eq!(nearest_f64(-12_345), -12_345.0);
        assert_eq!(saturating_u64(f64::NAN), 0);
        assert_eq!(saturating_u64(-1.5), 0);
        assert_eq!(saturating_u64(f64::INFINITY), u64::MAX);
        assert_eq!(saturating_u64(7.9), 7);
        assert_eq!(saturating_i64(-7.0), -7);
        assert_eq!(saturating_i64(f64::NEG_INFINITY), i64::MIN);
    }
}
