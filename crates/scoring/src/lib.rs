//! The scoring core: normalisers, parsers, similarity functions, candidate indexes, the scorer
//! and the lookup cascade. Pure and total: no I/O, no async, no database, and no panic on any
//! input. Services only move data in and out of it.

pub mod dialect;
pub mod index;
pub mod lookup;
pub mod matcher;
mod num;
pub mod parse;
pub mod policy;
pub mod similarity;
#[cfg(test)]
mod test_rng;
pub mod text;

pub use matcher::{
    Decision, FieldEvidence, FieldMapping, FieldRule, MatchOutcome, MatchScratch, MatchSettings,
    MatchSpec, ReferenceIndex, ScoredCandidate, SpecError, Strategy,
};

/// Scores are graded in [0, 1]; this clamps any value (NaN included) into that range.
pub fn clamp_score(score: f64) -> f64 {
    if score.is_nan() {
        0.0
    } else {
        score.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::clamp_score;
    use rstest::rstest;

    #[rstest]
    #[case(0.5, 0.5)]
    #[case(-1.0, 0.0)]
    #[case(2.0, 1.0)]
    #[case(f64::NAN, 0.0)]
    #[case(f64::INFINITY, 1.0)]
    fn scores_stay_in_the_unit_interval(#[case] input: f64, #[case] expected: f64) {
        assert_eq!(clamp_score(input), expected);
    }
}
