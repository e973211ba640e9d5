//! Tests of the probabilistic (Fellegi–Sunter) matcher: EM recovers a known model, reports how
//! it converged, term frequencies, evidence adding up, ambiguity, one-to-one assignment,
//! totality on hostile input, the `digits_replaced` level.
//!
//! The module docs of [`super::levels`], [`super::model`], [`super::train`] and
//! [`super::assign`] are the specification tested here.

// Test data: small generated numbers and lengths, which the casts carry exactly.
#![allow(clippy::cast_precision_loss)]

use std::collections::HashSet;
use std::sync::OnceLock;

use rstest::rstest;
use serde_json::json;

use super::assign::{one_to_one, Assigned, DocumentCandidates, RankedRow};
use super::levels::MAX_LEVELS;
use super::model::FrequencyKind;
use super::train::sample_positions;
use super::*;
use crate::similarity::{identifier_digits_replaced, identifier_similarity};
use crate::test_rng::XorShift;
use crate::text::identifier_keys;

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

type Rows = Vec<(String, Vec<Option<String>>)>;

fn mapping(source: &str, target: &str, strategy: &str, params: serde_json::Value) -> FieldMapping {
    FieldMapping {
        source: source.to_owned(),
        target: target.to_owned(),
        strategy: strategy.to_owned(),
        params: params.as_object().cloned().unwrap_or_default(),
        weight: None,
    }
}

fn compile(mappings: &[FieldMapping], settings: MatchSettings) -> MatchSpec {
    let columns: Vec<&str> = mappings.iter().map(|m| m.target.as_str()).collect();
    MatchSpec::compile(mappings, settings, &columns).unwrap_or_else(|e| panic!("spec: {e}"))
}

fn probabilistic() -> MatchSettings {
    MatchSettings::default().with_scoring(ScoringMode::Probabilistic)
}

fn weighted() -> MatchSettings {
    MatchSettings::default().with_scoring(ScoringMode::Weighted)
}

fn as_refs(values: &[Option<String>]) -> Vec<Option<&str>> {
    values.iter().map(|v| v.as_deref()).collect()
}

fn row(i: usize) -> RowIdx {
    RowIdx(u32::try_from(i).unwrap_or(u32::MAX))
}

/// A number in `[0, 1)`.
fn unit(rng: &mut XorShift) -> f64 {
    (rng.next() >> 11) as f64 / (1u64 << 53) as f64
}

/// A draw from a categorical distribution (the last index takes any rounding slack).
fn draw(rng: &mut XorShift, probabilities: &[f64]) -> usize {
    let x = unit(rng);
    let mut acc = 0.0;
    for (i, p) in probabilities.iter().enumerate() {
        acc += p;
        if x < acc {
            return i;
        }
    }
    probabilities.len().saturating_sub(1)
}

// ------------------------------------------------------------------------------------------------
// 1, 2. EM on synthetic comparisons drawn from a known model
// ------------------------------------------------------------------------------------------------

/// One field of the generating model: per level m, u among candidates, u of random pairs, and
/// the probability that the field is missing on a pair (the same in every class).
struct TrueField {
    m: &'static [f64],
    u_candidates: &'static [f64],
    u_random: &'static [f64],
    missing: f64,
}

const TRUE_FIELDS: [TrueField; 3] = [
    // name: exact / close / different
    TrueField {
        m: &[0.85, 0.10, 0.05],
        u_candidates: &[0.05, 0.15, 0.80],
        u_random: &[0.01, 0.04, 0.95],
        missing: 0.0,
    },
    // date: exact / close / within / outside (the date_range defaults)
    TrueField {
        m: &[0.70, 0.20, 0.07, 0.03],
        u_candidates: &[0.10, 0.20, 0.30, 0.40],
        u_random: &[0.002, 0.010, 0.030, 0.958],
        missing: 0.0,
    },
    // amount: exact / within / different, missing on 30% of all pairs, whatever the class
    TrueField {
        m: &[0.90, 0.07, 0.03],
        u_candidates: &[0.20, 0.30, 0.50],
        u_random: &[0.005, 0.020, 0.975],
        missing: 0.3,
    },
];

/// The mappings whose levels [`TRUE_FIELDS`] describe.
fn em_mappings() -> Vec<FieldMapping> {
    vec![
        mapping(
            "name",
            "name",
            "fuzzy",
            json!({"kind": "name", "levels": [
                {"name": "exact", "min_score": 1.0},
                {"name": "close", "min_score": 0.8},
                {"name": "different", "min_score": 0.0},
            ]}),
        ),
        mapping("date", "date", "date_range", json!({"days": 7})),
        mapping(
            "amount",
            "amount",
            "numeric_range",
            json!({"tolerance_pct": 5, "levels": [
                {"name": "exact", "min_score": 1.0},
                {"name": "within", "min_score": 0.5},
                {"name": "different", "min_score": 0.0},
            ]}),
        ),
    ]
}

/// The spec whose levels [`TRUE_FIELDS`] describe.
fn em_spec() -> MatchSpec {
    compile(&em_mappings(), probabilistic())
}

/// Draws one pair's levels from the model (`None` for a missing field).
fn draw_pair(
    rng: &mut XorShift,
    pick: impl Fn(&TrueField) -> &'static [f64],
) -> Vec<Option<(usize, f32)>> {
    TRUE_FIELDS
        .iter()
        .map(|f| {
            if unit(rng) < f.missing {
                None
            } else {
                Some((draw(rng, pick(f)), 0.0))
            }
        })
        .collect()
}

/// `documents` documents of `n` candidate pairs each, the match among them with probability
/// `lambda` (at a uniformly random position), and `random_per_document` random pairs each.
fn synthetic_set(
    spec: &MatchSpec,
    rng: &mut XorShift,
    documents: usize,
    n: usize,
    lambda: f64,
    random_per_document: usize,
) -> TrainingSet {
    let mut set = TrainingSet::new(spec);
    for _ in 0..documents {
        set.begin_document();
        let matched = (unit(rng) < lambda).then(|| rng.below(n));
        for k in 0..n {
            let comparison = if matched == Some(k) {
                draw_pair(rng, |f| f.m)
            } else {
                draw_pair(rng, |f| f.u_candidates)
            };
            set.push_pair(row(k), &comparison, None);
        }
        for _ in 0..random_per_document {
            let comparison = draw_pair(rng, |f| f.u_random);
            set.push_random_pair(&comparison);
        }
    }
    set
}

#[test]
fn em_recovers_a_known_model() {
    let spec = em_spec();
    let mut rng = XorShift(0x5EED_0001);
    let set = synthetic_set(&spec, &mut rng, 4000, 8, 0.8, 20);
    assert_eq!(set.documents(), 4000);
    assert_eq!(set.pairs(), 32_000);
    assert_eq!(set.random_pairs(), 80_000);
    let model = train(&spec, &set, &TrainingOptions::default());
    assert_eq!(model.training.method, "em");
    assert!(model.training.converged, "{:?}", model.training);
    assert!(model.fits(&spec));

    // Tolerance: every m, u among candidates and u of random pairs within 0.03 of the truth,
    // and λ within 0.03. (Sampling noise alone is about 0.01 at most here: 3,200 matches,
    // 28,800 candidate non-matches, 80,000 random pairs; the uniform mixing δ is < 1/3000.)
    const TOLERANCE: f64 = 0.03;
    let close = |got: f64, want: f64| (got - want).abs() <= TOLERANCE;
    for (f, (field, truth)) in model.fields.iter().zip(&TRUE_FIELDS).enumerate() {
        assert_eq!(field.levels.len(), truth.m.len());
        for (l, level) in field.levels.iter().enumerate() {
            let what = format!("field {f} ({}) level {l} ({})", field.source, level.name);
            assert!(
                close(level.m, truth.m[l]),
                "{what}: m {} vs {}",
                level.m,
                truth.m[l]
            );
            assert!(
                close(level.u_candidates, truth.u_candidates[l]),
                "{what}: u_candidates {} vs {}",
                level.u_candidates,
                truth.u_candidates[l]
            );
            assert!(
                close(level.u, truth.u_random[l]),
                "{what}: u {} vs {}",
                level.u,
                truth.u_random[l]
            );
            assert!(!level.m_fixed && !level.u_fixed);
            assert_eq!(level.weight, model::level_weight(level.m, level.u));
            assert_eq!(
                level.candidate_weight,
                model::level_weight(level.m, level.u_candidates)
            );
        }
        let (sm, su, sc): (f64, f64, f64) = field.levels.iter().fold((0.0, 0.0, 0.0), |a, l| {
            (a.0 + l.m, a.1 + l.u, a.2 + l.u_candidates)
        });
        for s in [sm, su, sc] {
            assert!(
                (s - 1.0).abs() < 1e-6,
                "field {f}: probabilities sum to {s}"
            );
        }
    }
    assert!(
        (model.lambda - 0.8).abs() <= TOLERANCE,
        "lambda {}",
        model.lambda
    );
    assert!((model.training.documents_with_match - 0.8).abs() <= TOLERANCE);

    // Missing values are skipped, not counted: the amount (missing on 30% of the pairs) has
    // about 70% of the name's expected matches and non-matches, and its m was not pulled
    // towards any level by them (checked above).
    let expected = |f: usize| -> (f64, f64) {
        model.fields[f]
            .levels
            .iter()
            .fold((0.0, 0.0), |a, l| (a.0 + l.matches, a.1 + l.non_matches))
    };
    let (name_m, name_u) = expected(0);
    let (amount_m, amount_u) = expected(2);
    assert!((name_m + name_u - 32_000.0).abs() < 1e-6 * 32_000.0);
    assert!(
        (amount_m / name_m - 0.7).abs() < 0.03,
        "{amount_m} of {name_m}"
    );
    assert!(
        (amount_u / name_u - 0.7).abs() < 0.03,
        "{amount_u} of {name_u}"
    );
    let random_amount: usize = model.fields[2].levels.iter().map(|l| l.random_pairs).sum();
    let random_name: usize = model.fields[0].levels.iter().map(|l| l.random_pairs).sum();
    assert_eq!(random_name, 80_000);
    assert!((random_amount as f64 / 80_000.0 - 0.7).abs() < 0.01);

    // The fields were drawn independently: no anchor, no second table.
    assert_eq!(model.anchor, None);
    assert!(model
        .fields
        .iter()
        .flat_map(|f| &f.levels)
        .all(|l| l.when_anchor_agrees.is_none()));
}

/// The spec of [`em_spec`] with a currency (exact / different) after the amount.
fn em_spec_with_currency() -> MatchSpec {
    let mut mappings = em_mappings();
    mappings.push(mapping("currency", "currency", "exact", json!({})));
    compile(&mappings, probabilistic())
}

/// Among non-matches, the currency agrees whenever the name does (a vendor bills in one
/// currency) and on a third of the other pairs; among matches it agrees on 97% of them,
/// whatever the name. Training finds the name as the anchor and, given that it agrees, the
/// currency's agreement is worth about nothing; a sibling row — the same name and currency,
/// the date and amount different — gets no credit for the currency, where the independent
/// model would count the name's agreement twice. Independence is kept where it holds: given
/// the anchor, the date and amount weigh what they weighed before within the tolerance.
#[test]
fn an_anchor_stops_a_dependent_field_counting_twice() {
    let spec = em_spec_with_currency();
    let mut rng = XorShift(0x5EED_00A1);
    let currency =
        |rng: &mut XorShift, class_match: bool, name_level: usize| -> Option<(usize, f32)> {
            let agree = if class_match {
                0.97
            } else if name_level == 0 {
                0.99
            } else {
                0.33
            };
            Some((usize::from(unit(rng) >= agree), 0.0))
        };
    let mut set = TrainingSet::new(&spec);
    for _ in 0..4000 {
        set.begin_document();
        let matched = (unit(&mut rng) < 0.8).then(|| rng.below(8));
        for k in 0..8 {
            let is_match = matched == Some(k);
            let mut pair = if is_match {
                draw_pair(&mut rng, |f| f.m)
            } else {
                draw_pair(&mut rng, |f| f.u_candidates)
            };
            let name = pair[0].map_or(2, |(l, _)| l);
            pair.push(currency(&mut rng, is_match, name));
            set.push_pair(row(k), &pair, None);
        }
        for _ in 0..20 {
            let mut pair = draw_pair(&mut rng, |f| f.u_random);
            let name = pair[0].map_or(2, |(l, _)| l);
            pair.push(currency(&mut rng, false, name));
            set.push_random_pair(&pair);
        }
    }
    let model = train(&spec, &set, &TrainingOptions::default());
    assert!(model.training.converged, "{:?}", model.training);
    let anchor = model.anchor.as_ref().expect("an anchor");
    assert_eq!((anchor.field, anchor.source.as_str()), (0, "name"));
    // The name agrees at its exact level only: `close` weighs against a match here (m 0.10
    // against u 0.15 among candidates).
    assert_eq!(anchor.levels, 1, "{anchor:?}");
    assert!(anchor.gain_bits > 0.0, "{anchor:?}");
    assert!(model.fields[0]
        .levels
        .iter()
        .all(|l| l.when_anchor_agrees.is_none()));

    // Given the name agrees, the currency's agreement: m ≈ 0.97, u ≈ 0.99 — about 0 bits.
    let exact = &model.fields[3].levels[0];
    let given = exact
        .when_anchor_agrees
        .as_ref()
        .expect("a table given the anchor");
    assert!((exact.m - 0.97).abs() < 0.03, "{exact:?}");
    assert!((given.u - 0.99).abs() < 0.03, "{given:?}");
    assert!(given.weight.abs() < 0.2, "{given:?}");
    // Where the name does not agree, the currency still says something.
    assert!(exact.candidate_weight > 1.0, "{exact:?}");
    // The date and amount were independent of the name: the same within the tolerance.
    for f in [1, 2] {
        for level in &model.fields[f].levels {
            let given = level.when_anchor_agrees.as_ref().expect("a table");
            assert!((given.u - level.u_candidates).abs() < 0.03, "{level:?}");
        }
    }

    // A sibling row: the name and currency agree, the date and amount do not.
    let weights = model::ModelWeights::new(&model);
    let sibling = [
        Some((0, 0.0)),
        Some((3, 0.0)),
        Some((2, 0.0)),
        Some((0, 0.0)),
    ];
    let (w, c) = pair_bits(&weights, &sibling);
    let mut independent = model.clone();
    independent.anchor = None;
    let (w_ind, c_ind) = pair_bits(&model::ModelWeights::new(&independent), &sibling);
    let name_bits = weights.field_bits(0, 0, 0.0, true);
    assert!(
        c < c_ind - 1.0,
        "candidate weight {c} with the anchor, {c_ind} without"
    );
    assert!(
        w <= w_ind,
        "match weight {w} with the anchor, {w_ind} without"
    );
    // The currency adds nothing beyond the name: the pair weighs the name and the two
    // disagreements, no more.
    let rest: f64 = [(1, 3), (2, 2), (3, 0)]
        .iter()
        .map(|&(f, l)| weights.field_bits(f, l, 0.0, true).1)
        .sum();
    assert!((c - (name_bits.1 + rest)).abs() < 1e-9);
    assert!(weights.field_bits(3, 0, 0.0, true).1.abs() < 0.2);
}

#[test]
fn a_model_that_cannot_converge_says_so() {
    let spec = em_spec();
    let mut rng = XorShift(0x5EED_0002);
    let set = synthetic_set(&spec, &mut rng, 500, 8, 0.8, 5);
    let capped = train(
        &spec,
        &set,
        &TrainingOptions {
            max_iterations: 1,
            tolerance: 1e-12,
            threads: 1,
        },
    );
    let r = &capped.training;
    assert_eq!(r.method, "em");
    assert!(!r.converged, "{r:?}");
    assert_eq!(r.iterations, 1);
    assert_eq!(r.max_iterations, 1);
    assert_eq!(r.tolerance, 1e-12);
    assert!(r.last_change > 0.0 && r.last_change.is_finite(), "{r:?}");
    assert_eq!((r.documents, r.pairs, r.random_pairs), (500, 4000, 2500));

    // The same data with the defaults converges well before the cap.
    let model = train(&spec, &set, &TrainingOptions::default());
    let r = &model.training;
    assert!(r.converged, "{r:?}");
    assert!(
        r.iterations >= 1 && r.iterations < r.max_iterations,
        "{r:?}"
    );
    assert_eq!(r.max_iterations, train::DEFAULT_MAX_ITERATIONS);
    assert!(r.last_change < r.tolerance, "{r:?}");

    // Nothing to train on: the untrained model, honest about it.
    for set in [TrainingSet::new(&spec), {
        let mut s = TrainingSet::new(&spec);
        s.begin_document();
        s.begin_document();
        s.push_random_pair(&[Some((0, 0.0)), None, None]);
        s
    }] {
        let model = train(&spec, &set, &TrainingOptions::default());
        assert_eq!(model.training.method, "default");
        assert!(!model.training.converged);
        assert_eq!(model.training.iterations, 0);
        assert_eq!(model.fields, MatchModel::untrained(&spec).fields);
    }
    // A set made for another spec (another number of fields) is not trained on either.
    let other = compile(
        &[mapping("name", "name", "exact", json!({}))],
        probabilistic(),
    );
    let mut wrong = TrainingSet::new(&other);
    wrong.push_pair(RowIdx(0), &[Some((0, 0.0))], None);
    let model = train(&spec, &wrong, &TrainingOptions::default());
    assert_eq!(model.training.method, "default");
    assert!(!model.training.converged);
}

/// The confidences the model gives a document's pairs.
fn pair_confidences(model: &MatchModel, pairs: &[Vec<Option<(usize, f32)>>]) -> Vec<f64> {
    let weights = model::ModelWeights::new(model);
    let bits: Vec<(f64, f64)> = pairs.iter().map(|c| pair_bits(&weights, c)).collect();
    weights.confidences(&bits, pairs.len())
}

/// A pair's match weight and candidate weight, each field weighed by the table its anchor's
/// agreement selects.
fn pair_bits(weights: &model::ModelWeights, pair: &[Option<(usize, f32)>]) -> (f64, f64) {
    let anchored = weights
        .anchor
        .is_some_and(|a| a.agrees(pair.get(a.field).copied().flatten().map(|(l, _)| l)));
    pair.iter()
        .enumerate()
        .fold((0.0, 0.0), |acc, (f, level)| match level {
            Some((l, freq)) => {
                let (w, cw) = weights.field_bits(f, *l, f64::from(*freq), anchored);
                (acc.0 + w, acc.1 + cw)
            }
            None => acc,
        })
}

/// A kind of match EM rarely sees — the vendor's name entirely different (a trading name), the
/// rest agreeing — becomes a match once reviewers keep approving it: 200 labels among 4,000
/// documents move m.
#[test]
fn a_kind_of_match_reviewers_approve_is_learnt() {
    let spec = em_spec();
    let mut rng = XorShift(0x5EED_0003);
    let mut set = synthetic_set(&spec, &mut rng, 4000, 8, 0.8, 20);
    let before = train(&spec, &set, &TrainingOptions::default());
    // A document of the new kind: its match has a different name, the same date and amount;
    // its seven other candidates are the usual non-matches.
    let trading_name = |rng: &mut XorShift| -> Vec<Vec<Option<(usize, f32)>>> {
        (0..8)
            .map(|k| {
                if k == 0 {
                    vec![Some((2, 0.0)), Some((0, 0.0)), Some((0, 0.0))]
                } else {
                    draw_pair(rng, |f| f.u_candidates)
                }
            })
            .collect()
    };
    let probe = trading_name(&mut rng);
    let p_before = pair_confidences(&before, &probe)[0];
    for _ in 0..200 {
        set.begin_document();
        for (k, pair) in trading_name(&mut rng).iter().enumerate() {
            set.push_pair(row(k), pair, (k == 0).then_some(true));
        }
    }
    let after = train(&spec, &set, &TrainingOptions::default());
    assert_eq!(after.training.labelled_matches, 200);
    let m_different = |m: &MatchModel| m.fields[0].levels[2].m;
    // 200 labelled matches beside ~3,200 others, ~100 of them at this level: m must rise to
    // at least the labels' own share, and EM, once told, finds more of them.
    assert!(m_different(&before) < 0.06, "{}", m_different(&before));
    assert!(
        m_different(&after) > 0.12,
        "{} after 200 approvals",
        m_different(&after)
    );
    let p_after = pair_confidences(&after, &probe)[0];
    assert!(
        p_before < spec::DEFAULT_THRESHOLD && p_after >= spec::DEFAULT_THRESHOLD,
        "a trading-name match: {p_before} before, {p_after} after the reviews"
    );
}

#[test]
fn sample_positions_are_spread_and_bounded() {
    assert_eq!(sample_positions(5, 10), vec![0, 1, 2, 3, 4]);
    assert!(sample_positions(10, 0).is_empty());
    assert!(sample_positions(0, 3).is_empty());
    let s = sample_positions(1000, 10);
    assert_eq!(s.len(), 10);
    assert!(s.windows(2).all(|w| w[1] - w[0] == 100));
    let s = sample_positions(usize::MAX, 3);
    assert_eq!(s.len(), 3);
    assert!(s.windows(2).all(|w| w[0] < w[1]));
}

// ------------------------------------------------------------------------------------------------
// 3. Term frequencies
// ------------------------------------------------------------------------------------------------

fn date_of(i: usize) -> String {
    format!("2024-{:02}-{:02}", 1 + (i / 28) % 12, 1 + i % 28)
}

#[test]
fn term_frequencies_lower_the_weight_of_a_frequent_value() {
    let spec = compile(
        &[
            mapping("vendor", "vendor", "exact", json!({})),
            mapping(
                "number",
                "number",
                "exact",
                json!({"normalize": "identifier"}),
            ),
            mapping("date", "date", "date_range", json!({"days": 3})),
        ],
        probabilistic(),
    );
    // 300 rows: "Big Co" holds 150, "Rare Co" one (row 150), 30 other vendors 5 each.
    const BIG: usize = 0;
    const RARE: usize = 150;
    let vendor_of = |i: usize| match i {
        i if i < 150 => "Big Co".to_owned(),
        150 => "Rare Co".to_owned(),
        i => format!("Vendor {}", (i - 151) / 5),
    };
    let refs: Rows = (0..300)
        .map(|i| {
            (
                format!("R{i}"),
                vec![
                    Some(vendor_of(i)),
                    Some(format!("N-{}", 10_000 + 7 * i)),
                    Some(date_of(i)),
                ],
            )
        })
        .collect();
    let index = ReferenceIndex::build(&spec, refs.clone());
    let mut rng = XorShift(0x7E57_0003);
    let mut set = TrainingSet::new(&spec);
    let mut scratch = MatchScratch::default();
    for (_, values) in &refs {
        let mut doc = values.clone();
        match rng.below(10) {
            0 => doc[1] = Some(format!("N-{}", 10_000 + 7 * rng.below(300))),
            1 => doc[2] = Some(date_of(rng.below(300))),
            2 => doc[0] = None,
            _ => {}
        }
        index.training_pairs(&spec, &as_refs(&doc), &mut scratch, &mut set);
    }
    let model = train(&spec, &set, &TrainingOptions::default());
    let vendor = &model.fields[0];
    let tf = vendor.levels[0]
        .term_frequency
        .as_ref()
        .unwrap_or_else(|| panic!("no term frequency on the vendor's exact level: {vendor:?}"));
    assert_eq!(tf.kind, FrequencyKind::Value);
    assert!(tf.mean_frequency >= 1.0 && tf.mean_frequency.is_finite());
    assert!(tf.mean_frequency_candidates >= 1.0);
    // Only the first (exact) level of a non-identifier field is adjusted.
    assert!(vendor.levels[1].term_frequency.is_none());
    let spec = spec
        .with_model(model)
        .unwrap_or_else(|e| panic!("model: {e}"));

    let mut vendor_bits = |i: usize| -> f64 {
        let doc = as_refs(&refs[i].1);
        let evidence = index.evidence_for(&spec, &doc, row(i), &mut scratch);
        assert_eq!(evidence.len(), 3);
        assert_eq!(evidence[0].level, Some(0), "row {i}: {evidence:?}");
        let bits = evidence[0]
            .bits
            .unwrap_or_else(|| panic!("row {i}: no bits: {evidence:?}"));
        // The same evidence as the matcher gives its best candidate.
        let out = index.match_document(&spec, &doc, &mut scratch);
        assert_eq!(out.matched, Some(row(i)), "row {i}: {out:?}");
        assert_eq!(out.evidence, evidence);
        bits
    };
    let frequent = vendor_bits(BIG);
    let rare = vendor_bits(RARE);
    // 150 rows vs 1: the rare value's u is about 150 times smaller.
    assert!(
        rare > frequent + 3.0,
        "rare vendor {rare} bits, frequent vendor {frequent} bits"
    );
    let middle = vendor_bits(151);
    assert!(
        rare > middle && middle > frequent,
        "{rare} {middle} {frequent}"
    );
}

// ------------------------------------------------------------------------------------------------
// 4, 5. Evidence adds up; ambiguity
// ------------------------------------------------------------------------------------------------

const STEMS: &[&str] = &[
    "Apex", "Kalo", "Bauer", "Müller", "Giraud", "Harbor", "Landmark", "Perrin",
];
const KINDS: &[&str] = &["Logistics", "Freight", "Tools", "Spedition", "Labs"];

fn invoice_mappings() -> Vec<FieldMapping> {
    vec![
        mapping("vendor", "vendor", "fuzzy", json!({"kind": "name"})),
        mapping("number", "number", "fuzzy", json!({"kind": "identifier"})),
        mapping("date", "date", "date_range", json!({"days": 7})),
        mapping(
            "amount",
            "amount",
            "numeric_range",
            json!({"tolerance_pct": 5}),
        ),
        mapping("po", "po", "exact", json!({"normalize": "identifier"})),
    ]
}

/// A ledger of `n` invoices of 40 vendors, each vendor with a few purchase orders.
fn invoice_ledger(rng: &mut XorShift, n: usize) -> Rows {
    let vendors: Vec<String> = (0..40)
        .map(|v| format!("{} {} {v}", STEMS[v % STEMS.len()], KINDS[v % KINDS.len()]))
        .collect();
    (0..n)
        .map(|i| {
            let v = rng.below(vendors.len());
            (
                format!("R{i}"),
                vec![
                    Some(vendors[v].clone()),
                    Some(format!("INV-{:06}", 100_000 + i)),
                    Some(date_of(rng.below(330))),
                    Some(format!("{}.{:02}", 10 + rng.below(5000), rng.below(100))),
                    Some(format!("PO-{}", 5000 + v * 3 + rng.below(3))),
                ],
            )
        })
        .collect()
}

/// Documents copying the ledger's rows with small noise, some amounts changed entirely, some
/// fields missing; and a few documents of no row.
fn noisy_documents(rng: &mut XorShift, refs: &Rows) -> Vec<Vec<Option<String>>> {
    let mut docs = Vec::new();
    for (_, values) in refs {
        let mut doc = values.clone();
        if rng.below(2) == 0 {
            doc[0] = doc[0].as_ref().map(|v| v.to_uppercase());
        }
        if rng.below(3) == 0 {
            doc[1] = doc[1].as_ref().map(|v| v.replace("INV-", "#"));
        }
        match rng.below(10) {
            0 => doc[3] = Some(format!("{}.00", 20_000 + rng.below(10_000))),
            1 => doc[3] = Some(format!("{}.50", 10 + rng.below(5000))),
            _ => {}
        }
        for v in doc.iter_mut() {
            if rng.below(12) == 0 {
                *v = None;
            }
        }
        docs.push(doc);
    }
    for i in 0..refs.len() / 5 {
        docs.push(vec![
            Some(format!("Unknown Vendor {i}")),
            Some(format!("X-{}", 900_000 + rng.below(99_999))),
            Some(date_of(rng.below(330))),
            Some(format!("{}.{:02}", 10 + rng.below(5000), rng.below(100))),
            None,
        ]);
    }
    docs
}

struct Trained {
    refs: Rows,
    model: MatchModel,
}

/// A ledger of 400 invoices and a model trained on 480 noisy documents (shared by the tests).
fn trained_invoices() -> &'static Trained {
    static TRAINED: OnceLock<Trained> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let mut rng = XorShift(0x1A0_1CE5);
        let refs = invoice_ledger(&mut rng, 400);
        let docs = noisy_documents(&mut rng, &refs);
        let spec = compile(&invoice_mappings(), probabilistic());
        let index = ReferenceIndex::build(&spec, refs.clone());
        let mut set = TrainingSet::new(&spec);
        let mut scratch = MatchScratch::default();
        for doc in &docs {
            index.training_pairs(&spec, &as_refs(doc), &mut scratch, &mut set);
        }
        let model = train(&spec, &set, &TrainingOptions::default());
        Trained { refs, model }
    })
}

#[test]
fn evidence_adds_up_where_a_weighted_mean_does_not() {
    let trained = trained_invoices();
    let model = &trained.model;
    assert_eq!(model.training.method, "em");
    assert!(model.training.converged, "{:?}", model.training);
    // Agreeing on an exact value is evidence for a match, disagreeing against.
    for field in &model.fields {
        let first = &field.levels[0];
        let last = &field.levels[field.levels.len() - 1];
        assert!(first.weight > 0.0, "{}: {first:?}", field.source);
        assert!(last.weight < first.weight, "{}: {last:?}", field.source);
    }
    let spec = compile(&invoice_mappings(), probabilistic())
        .with_model(model.clone())
        .unwrap_or_else(|e| panic!("model: {e}"));
    let weighted_spec = compile(&invoice_mappings(), weighted());
    assert_eq!(spec.index_key(), weighted_spec.index_key());
    let index = ReferenceIndex::build(&spec, trained.refs.clone());
    let mut scratch = MatchScratch::default();

    let mut checked = 0;
    for k in [3usize, 77, 150, 222, 399] {
        // Everything agrees but the amount, which is nothing like the row's.
        let mut doc = trained.refs[k].1.clone();
        doc[3] = Some("987654.32".to_owned());
        let doc = as_refs(&doc);

        let out = index.match_document(&spec, &doc, &mut scratch);
        assert_eq!(out.decision, Decision::Matched, "row {k}: {out:?}");
        assert_eq!(out.matched, Some(row(k)));
        assert!(out.confidence >= spec.settings().threshold);
        // The amount counts against, the other four for, and the bits add up to W.
        let bits: Vec<f64> = out
            .evidence
            .iter()
            .map(|e| e.bits.unwrap_or_else(|| panic!("row {k}: {out:?}")))
            .collect();
        assert!(bits[3] < 0.0, "row {k}: amount {bits:?}");
        assert!(
            bits.iter().enumerate().all(|(f, &b)| f == 3 || b > 0.0),
            "{bits:?}"
        );
        let w = out.match_weight.unwrap_or_else(|| panic!("no W: {out:?}"));
        let sum: f64 = bits.iter().sum();
        assert!((sum - w).abs() < 1e-9, "row {k}: Σ bits {sum} vs W {w}");
        let candidate_sum: f64 = out.evidence.iter().filter_map(|e| e.candidate_bits).sum();
        let c = out.candidates[0].candidate_weight.unwrap_or(f64::NAN);
        assert!(
            (candidate_sum - c).abs() < 1e-9,
            "Σ candidate bits {candidate_sum} vs C {c}"
        );

        // The weighted mean of equal weights: 4 of 5 fields, 0.8, below the threshold 0.85.
        let out = index.match_document(&weighted_spec, &doc, &mut scratch);
        assert_ne!(out.decision, Decision::Matched, "row {k}: {out:?}");
        assert!((out.confidence - 0.8).abs() < 1e-9, "row {k}: {out:?}");
        checked += 1;
    }
    assert_eq!(checked, 5);
}

#[rstest]
#[case::untrained(false)]
#[case::trained(true)]
fn two_identical_rows_share_the_probability(#[case] use_trained: bool) {
    let trained = trained_invoices();
    let mut spec = compile(&invoice_mappings(), probabilistic());
    if use_trained {
        spec = spec
            .with_model(trained.model.clone())
            .unwrap_or_else(|e| panic!("model: {e}"));
    }
    let mut refs = trained.refs.clone();
    let copy = refs[10].1.clone();
    refs.push(("DUPLICATE".to_owned(), copy.clone()));
    let index = ReferenceIndex::build(&spec, refs);
    let out = index.match_document(&spec, &as_refs(&copy), &mut MatchScratch::default());
    let top: Vec<RowIdx> = out.candidates.iter().take(2).map(|c| c.row).collect();
    assert_eq!(top, vec![row(10), row(400)], "{out:?}");
    for c in &out.candidates {
        assert!(c.confidence <= 0.5 + 1e-9, "{c:?}");
    }
    assert!(out.ambiguous, "{out:?}");
    assert_ne!(out.decision, Decision::Matched);
    assert_eq!(out.matched, None);
    assert!(
        (out.candidates[0].confidence - out.candidates[1].confidence).abs() < 1e-12,
        "{out:?}"
    );
}

// ------------------------------------------------------------------------------------------------
// 6. One-to-one assignment
// ------------------------------------------------------------------------------------------------

fn hostile_value(rng: &mut XorShift) -> f64 {
    match rng.below(14) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => 1e300,
        4 => -1e300,
        5 => f64::MAX,
        6 => f64::MIN_POSITIVE,
        7 => 0.0,
        8 => 1.0,
        9 => -1.0,
        10 | 11 => unit(rng),
        _ => unit(rng) * 60.0 - 30.0,
    }
}

fn hostile_settings(rng: &mut XorShift, scoring: ScoringMode) -> MatchSettings {
    let settings = match rng.below(3) {
        0 => MatchSettings::default(),
        _ => {
            let threshold = 0.01 + 0.99 * unit(rng);
            let floor = threshold * unit(rng);
            let margin = 0.5 * unit(rng) * f64::from(u8::from(rng.below(3) != 0));
            MatchSettings::new(Some(threshold), Some(floor), Some(margin))
                .unwrap_or_else(|e| panic!("settings: {e}"))
        }
    };
    settings.with_scoring(scoring)
}

fn check_assignment(documents: &[DocumentCandidates], assigned: &[Assigned], what: &str) {
    assert_eq!(assigned.len(), documents.len(), "{what}");
    let mut taken: HashSet<u32> = HashSet::new();
    for (d, (doc, a)) in documents.iter().zip(assigned).enumerate() {
        assert_eq!(
            a.matched.is_some(),
            a.decision == Decision::Matched,
            "{what}: document {d}: {a:?}"
        );
        assert!(
            a.confidence.is_finite() && (0.0..=1.0).contains(&a.confidence),
            "{what}: document {d}: {a:?}"
        );
        for c in &a.candidates {
            assert!(
                c.confidence.is_finite() && (0.0..=1.0).contains(&c.confidence),
                "{what}: document {d}: {a:?}"
            );
            assert!(doc.rows.iter().any(|r| r.row == c.row.0), "{what}: {a:?}");
        }
        if let Some(r) = a.matched {
            assert!(
                taken.insert(r),
                "{what}: row {r} given twice (again to document {d})"
            );
            assert!(doc.rows.iter().any(|c| c.row == r), "{what}: {a:?}");
            assert_eq!(a.candidates.first().map(|c| c.row.0), Some(r));
        }
    }
    // No document lists as available a row another document was matched to.
    for (d, a) in assigned.iter().enumerate() {
        for (e, b) in assigned.iter().enumerate() {
            if let (true, Some(r)) = (d != e, b.matched) {
                assert!(
                    a.candidates.iter().all(|c| c.row.0 != r),
                    "{what}: document {d} lists row {r}, matched to document {e}"
                );
            }
        }
    }
}

#[test]
fn one_to_one_never_gives_a_row_to_two_documents() {
    let mut rng = XorShift(0x0A55_1671);
    for case in 0..800 {
        let scoring = if case % 2 == 0 {
            ScoringMode::Probabilistic
        } else {
            ScoringMode::Weighted
        };
        let rows = rng.below(31);
        let documents: Vec<DocumentCandidates> = (0..rng.below(13))
            .map(|_| {
                let k = if rows == 0 { 0 } else { rng.below(7) };
                DocumentCandidates {
                    rows: (0..k)
                        .map(|_| RankedRow {
                            row: u32::try_from(rng.below(rows)).unwrap_or(0),
                            value: hostile_value(&mut rng),
                            candidate_weight: hostile_value(&mut rng),
                        })
                        .collect(),
                    considered: rng.below(12),
                }
            })
            .collect();
        let settings = hostile_settings(&mut rng, scoring);
        let lambda = match rng.below(6) {
            0 => f64::NAN,
            1 => 0.0,
            2 => 1.0,
            3 => f64::INFINITY,
            _ => unit(&mut rng),
        };
        let assigned = one_to_one(&documents, &settings, lambda);
        check_assignment(&documents, &assigned, &format!("case {case} ({scoring:?})"));
    }
}

#[test]
fn one_to_one_under_contention_of_many_documents() {
    // Many documents wanting few rows, with clean weights: still never a row twice.
    let mut rng = XorShift(0xC0_4E5D);
    for scoring in [ScoringMode::Probabilistic, ScoringMode::Weighted] {
        let documents: Vec<DocumentCandidates> = (0..300)
            .map(|_| DocumentCandidates {
                rows: (0..5)
                    .map(|_| RankedRow {
                        row: u32::try_from(rng.below(40)).unwrap_or(0),
                        value: match scoring {
                            ScoringMode::Probabilistic => unit(&mut rng) * 40.0 - 10.0,
                            ScoringMode::Weighted => 0.8 + 0.2 * unit(&mut rng),
                        },
                        candidate_weight: unit(&mut rng) * 20.0,
                    })
                    .collect(),
                considered: 10,
            })
            .collect();
        let settings = MatchSettings::default().with_scoring(scoring);
        let assigned = one_to_one(&documents, &settings, 0.9);
        check_assignment(&documents, &assigned, &format!("{scoring:?}"));
        let matched = assigned.iter().filter(|a| a.matched.is_some()).count();
        assert!(matched > 0 && matched <= 40, "{matched}");
    }
}

/// The benefits of a document as the assignment's specification defines them: per candidate
/// `ln p` and `ln p(none)`.
fn spec_benefits(doc: &DocumentCandidates, scoring: ScoringMode, lambda: f64) -> (Vec<f64>, f64) {
    let ps: Vec<f64> = match scoring {
        ScoringMode::Weighted => doc.rows.iter().map(|r| r.value).collect(),
        ScoringMode::Probabilistic => {
            let weights: Vec<(f64, f64)> = doc
                .rows
                .iter()
                .map(|r| (r.value, r.candidate_weight))
                .collect();
            confidences(&weights, doc.considered, lambda)
        }
    };
    let none = match scoring {
        ScoringMode::Weighted => 1.0 - ps.iter().copied().fold(0.0, f64::max),
        ScoringMode::Probabilistic => 1.0 - ps.iter().sum::<f64>(),
    };
    (ps.iter().map(|p| p.ln()).collect(), none.ln())
}

/// The best total of `Σ ln p` over every one-to-one assignment (brute force).
fn best_total(
    benefits: &[(Vec<f64>, f64)],
    documents: &[DocumentCandidates],
    used: &mut Vec<u32>,
) -> f64 {
    let Some(((rows, none), rest)) = benefits.split_first() else {
        return 0.0;
    };
    let doc = &documents[documents.len() - benefits.len()];
    let mut best = none + best_total(rest, documents, used);
    for (r, b) in doc.rows.iter().zip(rows) {
        if !used.contains(&r.row) {
            used.push(r.row);
            best = best.max(b + best_total(rest, documents, used));
            used.pop();
        }
    }
    best
}

#[test]
fn one_to_one_finds_the_most_probable_assignment() {
    let mut rng = XorShift(0x0B_E57A);
    let lambda = 0.9;
    // How many instances a greedy assignment (each document in turn takes its best free row, or
    // none) gets wrong: the instances must not all be easy.
    let mut greedy_wrong = 0;
    for case in 0..600 {
        let scoring = if case % 2 == 0 {
            ScoringMode::Probabilistic
        } else {
            ScoringMode::Weighted
        };
        let rows = 1 + rng.below(4);
        let documents: Vec<DocumentCandidates> = (0..1 + rng.below(5))
            .map(|_| {
                let mut candidates: Vec<u32> = (0..u32::try_from(rows).unwrap_or(1)).collect();
                for i in (1..candidates.len()).rev() {
                    candidates.swap(i, rng.below(i + 1));
                }
                candidates.truncate(1 + rng.below(3));
                let rows: Vec<RankedRow> = candidates
                    .into_iter()
                    .map(|row| RankedRow {
                        row,
                        value: match scoring {
                            ScoringMode::Weighted => 0.05 + 0.94 * unit(&mut rng),
                            ScoringMode::Probabilistic => unit(&mut rng) * 30.0 - 10.0,
                        },
                        candidate_weight: unit(&mut rng) * 30.0 - 10.0,
                    })
                    .collect();
                DocumentCandidates {
                    considered: rows.len(),
                    rows,
                }
            })
            .collect();
        // Every claimed row is matched: any confidence reaches the threshold, and random
        // values never tie.
        let settings = MatchSettings::new(Some(1e-9), Some(0.0), Some(0.0))
            .unwrap_or_else(|e| panic!("{e}"))
            .with_scoring(scoring);
        let assigned = one_to_one(&documents, &settings, lambda);
        let what = format!("case {case} ({scoring:?}): {documents:?} -> {assigned:?}");
        check_assignment(&documents, &assigned, &what);
        let benefits: Vec<(Vec<f64>, f64)> = documents
            .iter()
            .map(|d| spec_benefits(d, scoring, lambda))
            .collect();
        let total: f64 = documents
            .iter()
            .zip(&assigned)
            .zip(&benefits)
            .map(|((doc, a), (rows, none))| match a.matched {
                Some(r) => doc
                    .rows
                    .iter()
                    .zip(rows)
                    .find(|(c, _)| c.row == r)
                    .map_or(f64::NEG_INFINITY, |(_, b)| *b),
                None => *none,
            })
            .sum();
        let optimum = best_total(&benefits, &documents, &mut Vec::new());
        let slack = 1e-9 * documents.len().max(1) as f64;
        assert!(
            total >= optimum - slack,
            "{what}: total {total} below the optimum {optimum}"
        );
        let mut used: Vec<u32> = Vec::new();
        let mut greedy = 0.0;
        for (doc, (rows, none)) in documents.iter().zip(&benefits) {
            let best = doc
                .rows
                .iter()
                .zip(rows)
                .filter(|(c, _)| !used.contains(&c.row))
                .max_by(|a, b| a.1.total_cmp(b.1));
            match best {
                Some((c, b)) if b > none => {
                    used.push(c.row);
                    greedy += b;
                }
                _ => greedy += none,
            }
        }
        if greedy < optimum - slack {
            greedy_wrong += 1;
        }
    }
    assert!(greedy_wrong >= 10, "{greedy_wrong}");
}

fn ranked(rows: &[(u32, f64)]) -> DocumentCandidates {
    DocumentCandidates {
        rows: rows
            .iter()
            .map(|&(row, value)| RankedRow {
                row,
                value,
                candidate_weight: value,
            })
            .collect(),
        considered: rows.len(),
    }
}

#[rstest]
// Both documents' best is row 0; the first has the stronger evidence for it and keeps it, the
// second takes its free runner-up.
#[case::probabilistic(ScoringMode::Probabilistic, &[(0, 20.0), (1, 5.0)], &[(0, 15.0), (2, 12.0)], false)]
#[case::probabilistic_swapped(ScoringMode::Probabilistic, &[(0, 20.0), (1, 5.0)], &[(0, 15.0), (2, 12.0)], true)]
#[case::weighted(ScoringMode::Weighted, &[(0, 0.97), (1, 0.90)], &[(0, 0.95), (2, 0.90)], false)]
#[case::weighted_swapped(ScoringMode::Weighted, &[(0, 0.97), (1, 0.90)], &[(0, 0.95), (2, 0.90)], true)]
fn the_stronger_document_keeps_a_contested_row(
    #[case] scoring: ScoringMode,
    #[case] strong: &[(u32, f64)],
    #[case] weak: &[(u32, f64)],
    #[case] swapped: bool,
) {
    let settings = MatchSettings::default().with_scoring(scoring);
    let (s, w) = if swapped { (1, 0) } else { (0, 1) };
    let mut documents = vec![ranked(strong), ranked(weak)];
    if swapped {
        documents.swap(0, 1);
    }
    let assigned = one_to_one(&documents, &settings, 0.9);
    check_assignment(&documents, &assigned, "table");
    assert_eq!(assigned[s].matched, Some(0), "{assigned:?}");
    assert_eq!(assigned[w].matched, Some(2), "{assigned:?}");
    assert_eq!(assigned[w].decision, Decision::Matched);
    // The weaker document's contested row is no longer among its available candidates.
    assert!(assigned[w].candidates.iter().all(|c| c.row.0 != 0));
    // Independently, both would have taken row 0.
    for doc in &documents {
        let alone = one_to_one(std::slice::from_ref(doc), &settings, 0.9);
        assert_eq!(alone[0].matched, Some(0), "{alone:?}");
    }
}

// ------------------------------------------------------------------------------------------------
// 7. Levels, weights and the matcher are total on hostile input
// ------------------------------------------------------------------------------------------------

const LEVELS: &str = "field_mappings[0].params.levels";

fn text_strategy() -> Strategy {
    Strategy::Fuzzy {
        kind: FuzzyKind::Text,
        min_score: None,
    }
}

fn identifier_strategy() -> Strategy {
    Strategy::Fuzzy {
        kind: FuzzyKind::Identifier,
        min_score: None,
    }
}

fn all_strategies() -> Vec<Strategy> {
    let mut all = vec![
        Strategy::Exact {
            normalize: ExactNormalize::Text,
        },
        Strategy::DateRange {
            days: 7,
            order: None,
            min_days: -7,
            max_days: 7,
        },
        Strategy::NumericRange { tolerance: None },
    ];
    for kind in [
        FuzzyKind::Text,
        FuzzyKind::Name,
        FuzzyKind::Identifier,
        FuzzyKind::ShortText,
    ] {
        all.push(Strategy::Fuzzy {
            kind,
            min_score: None,
        });
    }
    all
}

fn nine_levels() -> serde_json::Value {
    serde_json::Value::Array(
        (0..=MAX_LEVELS)
            .map(|j| json!({"name": format!("l{j}"), "min_score": 1.0 - j as f64 / 10.0}))
            .collect(),
    )
}

#[rstest]
#[case::object(json!({"name": "exact", "min_score": 1}), LEVELS.to_owned())]
#[case::string(json!("exact,different"), LEVELS.to_owned())]
#[case::null(json!(null), LEVELS.to_owned())]
#[case::number(json!(3), LEVELS.to_owned())]
#[case::empty(json!([]), LEVELS.to_owned())]
#[case::too_many(nine_levels(), LEVELS.to_owned())]
#[case::only_a_catch_all(json!([{"name": "all", "min_score": 0}]), LEVELS.to_owned())]
#[case::level_not_object(json!([3, {"name": "d", "min_score": 0}]), format!("{LEVELS}[0]"))]
#[case::level_null(json!([{"name": "a", "min_score": 1}, null]), format!("{LEVELS}[1]"))]
#[case::unknown_key(json!([{"name": "a", "min_score": 1, "weight": 2}]), format!("{LEVELS}[0]"))]
#[case::no_min_score(json!([{"name": "a"}]), format!("{LEVELS}[0]"))]
#[case::min_score_string(json!([{"name": "a", "min_score": "NaN"}]), format!("{LEVELS}[0]"))]
#[case::min_score_null(json!([{"name": "a", "min_score": null}]), format!("{LEVELS}[0]"))]
#[case::bad_condition(json!([{"name": "a", "min_score": 0.5, "when": "sometimes"}]), format!("{LEVELS}[0]"))]
#[case::name_not_string(json!([{"name": 7, "min_score": 1}]), format!("{LEVELS}[0]"))]
#[case::empty_name(json!([{"name": "", "min_score": 1}]), format!("{LEVELS}[0].name"))]
#[case::blank_name(json!([{"name": " \t", "min_score": 1}]), format!("{LEVELS}[0].name"))]
#[case::long_name(json!([{"name": "x".repeat(41), "min_score": 1}]), format!("{LEVELS}[0].name"))]
#[case::duplicate_name(json!([{"name": "a", "min_score": 1}, {"name": "a", "min_score": 0}]), format!("{LEVELS}[1].name"))]
#[case::duplicate_trimmed_name(json!([{"name": "a", "min_score": 1}, {"name": " a ", "min_score": 0}]), format!("{LEVELS}[1].name"))]
#[case::equal_min_scores(json!([{"name": "a", "min_score": 0.5}, {"name": "b", "min_score": 0.5}]), format!("{LEVELS}[1].min_score"))]
#[case::increasing(json!([{"name": "a", "min_score": 0.3}, {"name": "b", "min_score": 0.6}]), format!("{LEVELS}[1].min_score"))]
#[case::increasing_late(json!([{"name": "a", "min_score": 1}, {"name": "b", "min_score": 0.5}, {"name": "c", "min_score": 0.7}]), format!("{LEVELS}[2].min_score"))]
#[case::above_one(json!([{"name": "a", "min_score": 1.5}]), format!("{LEVELS}[0].min_score"))]
#[case::negative(json!([{"name": "a", "min_score": -0.1}]), format!("{LEVELS}[0].min_score"))]
#[case::huge(json!([{"name": "a", "min_score": 1e308}]), format!("{LEVELS}[0].min_score"))]
#[case::huge_integer(json!([{"name": "a", "min_score": u64::MAX}]), format!("{LEVELS}[0].min_score"))]
#[case::tiny_negative(json!([{"name": "a", "min_score": -1e-308}]), format!("{LEVELS}[0].min_score"))]
#[case::m_zero(json!([{"name": "a", "min_score": 1, "m": 0}]), format!("{LEVELS}[0].m"))]
#[case::m_one(json!([{"name": "a", "min_score": 1, "m": 1}]), format!("{LEVELS}[0].m"))]
#[case::m_negative(json!([{"name": "a", "min_score": 1, "m": -0.5}]), format!("{LEVELS}[0].m"))]
#[case::m_huge(json!([{"name": "a", "min_score": 1, "m": 1e300}]), format!("{LEVELS}[0].m"))]
#[case::u_zero(json!([{"name": "a", "min_score": 1}, {"name": "b", "min_score": 0, "u": 0}]), format!("{LEVELS}[1].u"))]
#[case::u_one(json!([{"name": "a", "min_score": 1}, {"name": "b", "min_score": 0, "u": 1.0}]), format!("{LEVELS}[1].u"))]
#[case::u_negative(json!([{"name": "a", "min_score": 1, "u": -1}]), format!("{LEVELS}[0].u"))]
#[case::m_string(json!([{"name": "a", "min_score": 1, "m": "0.5"}]), format!("{LEVELS}[0]"))]
#[case::fixed_m_sum(json!([{"name": "a", "min_score": 1, "m": 0.6}, {"name": "b", "min_score": 0, "m": 0.5}]), LEVELS.to_owned())]
#[case::fixed_u_sum(json!([{"name": "a", "min_score": 1, "u": 0.7}, {"name": "b", "min_score": 0.5, "u": 0.4}]), LEVELS.to_owned())]
#[case::digits_replaced_on_text(json!([{"name": "a", "min_score": 1}, {"name": "n", "min_score": 0, "when": "digits_replaced"}]), format!("{LEVELS}[1].when"))]
fn hostile_levels_name_their_path(#[case] levels: serde_json::Value, #[case] path: String) {
    let err = match ComparisonLevels::parse(0, &levels, &text_strategy()) {
        Ok(l) => panic!("accepted {levels}: {l:?}"),
        Err(e) => e,
    };
    assert_eq!(err.path, path, "{levels}: {err}");
    assert!(!err.message.is_empty());
    // The same error through a whole config, at the mapping's index.
    let mappings = [
        mapping("a", "a", "exact", json!({})),
        mapping("t", "t", "fuzzy", json!({"levels": levels})),
    ];
    let err = match MatchSpec::compile(&mappings, probabilistic(), &["a", "t"]) {
        Ok(_) => panic!("compiled {levels}"),
        Err(e) => e,
    };
    assert_eq!(err.path, path.replacen("[0]", "[1]", 1), "{levels}: {err}");
}

#[test]
fn digits_replaced_applies_to_identifiers_only() {
    let levels = json!([
        {"name": "exact", "min_score": 1},
        {"name": "neighbour", "min_score": 0, "when": "digits_replaced"},
    ]);
    for strategy in all_strategies() {
        let parsed = ComparisonLevels::parse(0, &levels, &strategy);
        if strategy == identifier_strategy() {
            let parsed = parsed.unwrap_or_else(|e| panic!("{e}"));
            // A catch-all follows a last level with a condition.
            let names: Vec<&str> = parsed.levels().iter().map(|l| l.name.as_str()).collect();
            assert_eq!(names, ["exact", "neighbour", "other"]);
            assert!(parsed.conditional());
        } else {
            let err = parsed
                .err()
                .unwrap_or_else(|| panic!("{strategy:?} accepted"));
            assert_eq!(err.path, format!("{LEVELS}[1].when"), "{strategy:?}");
        }
    }
}

#[test]
fn valid_levels_parse_with_a_catch_all_when_needed() {
    let parsed = ComparisonLevels::parse(
        2,
        &json!([{"name": "other", "min_score": 0.5, "m": 0.5, "u": 0.01}]),
        &text_strategy(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = parsed.levels().iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["other", "other_catch_all"]);
    assert_eq!(parsed.len(), 2);
    assert!(!parsed.is_empty());
    let eight = serde_json::Value::Array(
        (0..MAX_LEVELS)
            .map(|j| json!({"name": format!("l{j}"), "min_score": 1.0 - j as f64 / 7.0}))
            .collect(),
    );
    let parsed =
        ComparisonLevels::parse(0, &eight, &text_strategy()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.len(), MAX_LEVELS);
    // Errors name the mapping's index.
    let err = ComparisonLevels::parse(5, &json!([]), &text_strategy()).err();
    assert_eq!(
        err.map(|e| e.path),
        Some("field_mappings[5].params.levels".to_owned())
    );
}

#[test]
fn level_of_is_total() {
    let hostile = [
        f64::NAN,
        -1.0,
        2.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        1.0 - f64::EPSILON,
        1.0,
        f64::MAX,
        f64::MIN,
    ];
    let mut all: Vec<ComparisonLevels> = all_strategies()
        .iter()
        .map(ComparisonLevels::default_for)
        .collect();
    all.push(
        ComparisonLevels::parse(
            0,
            &json!([{"name": "a", "min_score": 0.7}, {"name": "n", "min_score": 0, "when": "digits_replaced"}]),
            &identifier_strategy(),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    for levels in &all {
        let last = levels.len() - 1;
        for &score in &hostile {
            for digits in [false, true] {
                let l = levels.level_of(score, digits);
                assert!(l < levels.len(), "{levels:?} {score} {digits}: {l}");
            }
        }
        // NaN and anything below 0 fall into the last level; 1 and above into the first.
        for score in [f64::NAN, -1.0, f64::NEG_INFINITY, f64::MIN] {
            assert_eq!(levels.level_of(score, false), last, "{levels:?} {score}");
            assert_eq!(levels.level_of(score, true), last, "{levels:?} {score}");
        }
        for score in [1.0, 2.0, f64::INFINITY, f64::MAX] {
            assert_eq!(levels.level_of(score, false), 0, "{levels:?} {score}");
            // Exact agreement never falls into a conditional level.
            assert_eq!(levels.level_of(score, true), 0, "{levels:?} {score}");
        }
        // Monotone: a higher score never falls into a worse level.
        let mut previous = 0;
        for i in (0..=1000).rev() {
            let l = levels.level_of(f64::from(i) / 1000.0, false);
            assert!(l >= previous, "{levels:?} at {i}");
            previous = l;
        }
    }
}

#[test]
fn confidences_are_total() {
    let values = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1.0,
        -1.0,
        1e300,
        -1e300,
        f64::MAX,
        f64::MIN,
        48.0,
        -48.0,
        1024.0,
        -1100.0,
    ];
    let lambdas = [
        0.5,
        0.0,
        1.0,
        -1.0,
        2.0,
        f64::NAN,
        f64::INFINITY,
        0.999_999_9,
    ];
    for lambda in lambdas {
        {
            for n in [0, 1, 5, usize::MAX] {
                assert!(confidences(&[], n, lambda).is_empty());
            }
            let mut rng = XorShift(0xF00D);
            for case in 0..400 {
                let k = 1 + rng.below(6);
                let weights: Vec<(f64, f64)> = (0..k)
                    .map(|_| {
                        (
                            values[rng.below(values.len())],
                            values[rng.below(values.len())],
                        )
                    })
                    .collect();
                let n = [0, 1, k, 10, usize::MAX][rng.below(5)];
                let p = confidences(&weights, n, lambda);
                assert_eq!(p.len(), k);
                for &c in &p {
                    assert!(
                        c.is_finite() && (0.0..=1.0).contains(&c),
                        "case {case}: {weights:?} n {n} λ {lambda}: {p:?}"
                    );
                }
                // The probability of each candidate being the match (floors aside) sums to at
                // most 1.
                let sum: f64 = p.iter().sum();
                assert!(sum <= 1.0 + 1e-5 * k as f64, "{weights:?}: {p:?}");
            }
        }
    }
}

/// More match weight never lowers a candidate's confidence, even infinitely more.
#[test]
fn infinite_evidence_is_not_less_than_finite_evidence() {
    let finite = confidences(&[(40.0, 40.0)], 1, 0.5);
    let infinite = confidences(&[(f64::INFINITY, f64::INFINITY)], 1, 0.5);
    assert!(finite[0] > 0.99, "{finite:?}");
    assert!(infinite[0] >= finite[0], "{infinite:?} < {finite:?}");
    let two = confidences(&[(f64::INFINITY, 10.0), (3.0, 10.0)], 2, 0.5);
    assert!(two[0] > two[1], "{two:?}");
}

const PIECES: &[&str] = &[
    "",
    " ",
    "INV-",
    "#",
    "No.",
    "0",
    "1",
    "123",
    "2024",
    "-",
    "/",
    ".",
    ",",
    "€",
    "$",
    "USD",
    "EUR",
    "Apex",
    "Logistics",
    "Inc.",
    "GmbH",
    "&",
    "Müller",
    "März",
    "14",
    "03",
    "12/",
    "1.234,50",
    "1,234.50",
    "\u{0}",
    "\u{1B}",
    "\t",
    "\n",
    "\u{202E}",
    "\u{FEFF}",
    "😀",
    "東京",
    "١٢٣",
    "ﬁ",
    "１２",
    "½",
    "\u{FFFD}",
    "'",
    "\"",
    "%",
    "1e308",
    "-0",
    "NaN",
    "inf",
];

fn hostile(rng: &mut XorShift) -> Option<String> {
    match rng.below(12) {
        0 => None,
        1 => Some("9".repeat(rng.below(5000))),
        2 => Some("é".repeat(rng.below(3000))),
        3 => Some(".,;:-".repeat(rng.below(50))),
        _ => {
            let mut s = String::new();
            for _ in 0..rng.below(10) {
                if rng.below(6) == 0 {
                    let cp = u32::try_from(rng.next() % 0x11_0000).unwrap_or(0);
                    s.push(char::from_u32(cp).unwrap_or('?'));
                } else {
                    s.push_str(rng.pick(PIECES));
                }
            }
            Some(s)
        }
    }
}

fn hostile_spec() -> MatchSpec {
    compile(
        &[
            mapping("a", "a", "exact", json!({})),
            mapping("b", "b", "exact", json!({"normalize": "identifier"})),
            mapping("c", "c", "exact", json!({"normalize": "currency"})),
            mapping("e", "e", "fuzzy", json!({})),
            mapping("f", "f", "fuzzy", json!({"kind": "name", "min_score": 0.3})),
            mapping("g", "g", "fuzzy", json!({"kind": "identifier"})),
            mapping("s", "s", "fuzzy", json!({"kind": "short_text"})),
            mapping("h", "h", "date_range", json!({"days": 3650})),
            mapping(
                "i",
                "i",
                "date_range",
                json!({"min_days": 1, "max_days": 21}),
            ),
            mapping("j", "j", "numeric_range", json!({"tolerance_pct": 100})),
            mapping("k", "k", "numeric_range", json!({"tolerance_abs": 1e300})),
            mapping(
                "l",
                "l",
                "numeric_range",
                json!({"levels": [
                    {"name": "same", "min_score": 1, "m": 0.999_999, "u": 0.000_001},
                    {"name": "rest", "min_score": 0}
                ]}),
            ),
        ],
        probabilistic(),
    )
}

fn check_probabilistic_outcome(out: &MatchOutcome, fields: usize, what: &str) {
    assert_eq!(
        out.matched.is_some(),
        out.decision == Decision::Matched,
        "{what}"
    );
    assert!(
        out.confidence.is_finite() && (0.0..=1.0).contains(&out.confidence),
        "{what}: {out:?}"
    );
    let mut sum = 0.0;
    for c in &out.candidates {
        assert!(
            c.confidence.is_finite() && (0.0..=1.0).contains(&c.confidence),
            "{what}: {out:?}"
        );
        assert!(
            c.match_weight.is_some_and(f64::is_finite),
            "{what}: {out:?}"
        );
        assert!(
            c.candidate_weight.is_some_and(f64::is_finite),
            "{what}: {out:?}"
        );
        sum += c.confidence;
    }
    assert!(
        sum <= 1.0 + 1e-4,
        "{what}: confidences sum to {sum}: {out:?}"
    );
    if !out.candidates.is_empty() {
        assert_eq!(out.evidence.len(), fields, "{what}");
        let w = out
            .match_weight
            .unwrap_or_else(|| panic!("{what}: no match weight: {out:?}"));
        assert!(w.is_finite(), "{what}: {out:?}");
        // A missing field weighs nothing; the others add up to the match weight.
        let sum: f64 = out.evidence.iter().filter_map(|e| e.bits).sum();
        assert!(
            (sum - w).abs() <= 1e-9 * (1.0 + w.abs()),
            "{what}: Σ {sum} vs W {w}"
        );
    }
    for e in &out.evidence {
        assert!(e.bits.is_none_or(f64::is_finite), "{what}: {out:?}");
        assert!(
            e.candidate_bits.is_none_or(f64::is_finite),
            "{what}: {out:?}"
        );
        assert_eq!(e.bits.is_some(), e.score.is_some(), "{what}: {out:?}");
        assert_eq!(e.level.is_some(), e.score.is_some(), "{what}: {out:?}");
        assert!(e.score.is_none_or(|s| (0.0..=1.0).contains(&s)), "{what}");
        assert!(
            e.bits
                .is_none_or(|b| b.abs() <= model::MAX_FIELD_BITS + 1e-9),
            "{what}: {out:?}"
        );
    }
}

#[test]
fn hostile_documents_under_a_probabilistic_spec_never_panic() {
    let spec = hostile_spec();
    let n = spec.fields().len();
    let mut rng = XorShift(0xBAD_5EED);
    let reference: Rows = (0..200)
        .map(|i| {
            (
                format!("r{i}"),
                (0..n + rng.below(3)).map(|_| hostile(&mut rng)).collect(),
            )
        })
        .collect();
    let index = ReferenceIndex::build(&spec, reference);
    let mut scratch = MatchScratch::default();
    let docs: Vec<Vec<Option<String>>> = (0..300)
        .map(|_| (0..rng.below(n + 3)).map(|_| hostile(&mut rng)).collect())
        .collect();
    // A model trained on hostile pairs, and the untrained one.
    let mut set = TrainingSet::new(&spec);
    for doc in &docs {
        index.training_pairs(&spec, &as_refs(doc), &mut scratch, &mut set);
    }
    let model = train(&spec, &set, &TrainingOptions::default());
    for field in &model.fields {
        for l in &field.levels {
            for p in [l.m, l.u, l.u_candidates] {
                assert!(p.is_finite() && p > 0.0 && p < 1.0, "{field:?}");
            }
            assert!(
                l.weight.is_finite() && l.candidate_weight.is_finite(),
                "{l:?}"
            );
        }
    }
    // Fixed parameters stay as given.
    let fixed = &model.fields[n - 1].levels[0];
    assert!(fixed.m_fixed && fixed.u_fixed);
    assert_eq!((fixed.m, fixed.u), (0.999_999, 0.000_001));
    assert!(model.lambda.is_finite() && model.lambda > 0.0 && model.lambda < 1.0);
    let trained = spec
        .with_model(model)
        .unwrap_or_else(|e| panic!("model: {e}"));
    for (s, spec) in [&spec, &trained].into_iter().enumerate() {
        for (d, doc) in docs.iter().enumerate() {
            let doc = as_refs(doc);
            let out = index.match_document(spec, &doc, &mut scratch);
            check_probabilistic_outcome(&out, n, &format!("spec {s} document {d}"));
            for c in &out.candidates {
                let evidence = index.evidence_for(spec, &doc, c.row, &mut scratch);
                assert_eq!(evidence.len(), n);
                assert!(evidence.iter().all(|e| e.bits.is_none_or(f64::is_finite)));
            }
        }
    }
    // A model for another spec is refused.
    let other = compile(&[mapping("a", "a", "exact", json!({}))], probabilistic());
    let err = other.with_model(trained.model().clone()).err();
    assert_eq!(err.map(|e| e.path), Some("model".to_owned()));
}

// ------------------------------------------------------------------------------------------------
// 8. Digits replaced
// ------------------------------------------------------------------------------------------------

fn level_name(levels: &ComparisonLevels, doc: &str, reference: &str) -> String {
    let score = identifier_similarity(doc, reference);
    let digits = identifier_digits_replaced(&identifier_keys(doc), &identifier_keys(reference));
    let l = levels.level_of(score, digits);
    levels.levels()[l].name.clone()
}

#[rstest]
#[case::neighbour("INV-100234", "INV-100235", "digits_replaced")]
#[case::neighbour_reversed("INV-100235", "INV-100234", "digits_replaced")]
#[case::swapped_digits("INV-100234", "INV-100243", "digits_replaced")]
#[case::same("INV-100234", "inv 100234", "exact")]
#[case::same_digits("RE-4512", "4512", "same_digits")]
fn identifier_levels(#[case] doc: &str, #[case] reference: &str, #[case] want: &str) {
    let levels = ComparisonLevels::default_for(&identifier_strategy());
    assert_eq!(level_name(&levels, doc, reference), want);
}

#[rstest]
#[case::dropped("INV-10234", "INV-100234")]
#[case::added("INV-1002345", "INV-100234")]
#[case::letter("INV-10023A", "INV-100234")]
fn an_extraction_error_is_not_digits_replaced(#[case] doc: &str, #[case] reference: &str) {
    let levels = ComparisonLevels::default_for(&identifier_strategy());
    let name = level_name(&levels, doc, reference);
    assert_ne!(name, "digits_replaced", "{doc} / {reference}");
    assert_ne!(name, "exact");
}

#[test]
fn digits_replaced_through_the_index() {
    let spec = compile(
        &[mapping(
            "number",
            "number",
            "fuzzy",
            json!({"kind": "identifier"}),
        )],
        probabilistic(),
    );
    let levels = &spec.fields()[0].levels;
    let names: Vec<&str> = levels.levels().iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "exact",
            "same_digits",
            "digits_replaced",
            "one_edit",
            "close",
            "different"
        ]
    );
    let index = ReferenceIndex::build(
        &spec,
        vec![("R0".to_owned(), vec![Some("INV-100234".to_owned())])],
    );
    let mut scratch = MatchScratch::default();
    let level_of = |doc: &str, scratch: &mut MatchScratch| {
        let comparison = index.compare_pair(&spec, &[Some(doc)], RowIdx(0), scratch);
        assert_eq!(comparison.len(), 1);
        let (level, log2_freq) = comparison[0].unwrap_or_else(|| panic!("{doc}: missing"));
        assert!(log2_freq.is_finite() && log2_freq >= 0.0);
        levels.levels()[level].name.clone()
    };
    assert_eq!(level_of("INV-100235", &mut scratch), "digits_replaced");
    assert_eq!(level_of("INV-100234", &mut scratch), "exact");
    let dropped = level_of("INV-10234", &mut scratch);
    assert_ne!(dropped, "digits_replaced");
    assert_ne!(dropped, "exact");
    // The evidence of the match reports the same level.
    let evidence = index.evidence_for(&spec, &[Some("INV-100235")], RowIdx(0), &mut scratch);
    assert_eq!(evidence[0].level, Some(2));
    // A missing value has no level.
    let comparison = index.compare_pair(&spec, &[None], RowIdx(0), &mut scratch);
    assert_eq!(comparison, vec![None]);
    // Out of range rows compare to nothing.
    assert!(index
        .compare_pair(&spec, &[Some("INV-100235")], RowIdx(7), &mut scratch)
        .is_empty());
}

/// Documents that want the same rows more than there are rows (three copies of a document, two
/// copies of its row) are settled in a few bids, not a price war of ε steps.
#[test]
fn over_demanded_rows_are_settled_quickly() {
    let cluster = |first_row: u32| -> Vec<DocumentCandidates> {
        (0..3)
            .map(|_| DocumentCandidates {
                rows: (0..2)
                    .map(|r| RankedRow {
                        row: first_row + r,
                        value: 30.0,
                        candidate_weight: 30.0,
                    })
                    .collect(),
                considered: 10,
            })
            .collect()
    };
    // 50 clusters of 3 documents over 2 rows: 150 documents.
    let documents: Vec<DocumentCandidates> = (0..50).flat_map(|c| cluster(2 * c)).collect();
    let settings = MatchSettings::default();
    let started = std::time::Instant::now();
    let assigned = one_to_one(&documents, &settings, 0.9);
    let elapsed = started.elapsed();
    check_assignment(&documents, &assigned, "clusters");
    assert_eq!(assigned.iter().filter(|a| a.matched.is_some()).count(), 100);
    // A handful of bids per document would take well under a millisecond even unoptimised.
    assert!(
        elapsed < std::time::Duration::from_millis(500),
        "150 documents took {elapsed:?}"
    );
}

/// A training set built on several threads is the one a single thread builds, and EM on any
/// number of threads trains the same model, to the last bit (sums are per block of documents,
/// added in block order).
#[test]
fn training_on_several_threads_gives_the_same_model() {
    let mut rng = XorShift(0x0007_EAD5);
    let refs = invoice_ledger(&mut rng, 500);
    let docs = noisy_documents(&mut rng, &refs);
    assert!(
        docs.len() > 2 * super::train::BLOCK_DOCUMENTS,
        "{}",
        docs.len()
    );
    let spec = compile(&invoice_mappings(), probabilistic());
    let index = ReferenceIndex::build(&spec, refs);
    let mut one = TrainingSet::new(&spec);
    let mut scratch = MatchScratch::default();
    for doc in &docs {
        index.training_pairs(&spec, &as_refs(doc), &mut scratch, &mut one);
    }
    let values: Vec<Vec<Option<&str>>> = docs.iter().map(|d| as_refs(d)).collect();
    let three = index.training_set(&spec, &values, 3);
    assert_eq!(
        (three.documents(), three.pairs(), three.random_pairs()),
        (one.documents(), one.pairs(), one.random_pairs())
    );
    let model = |set: &TrainingSet, threads: usize| {
        let options = TrainingOptions {
            threads,
            ..TrainingOptions::default()
        };
        serde_json::to_string(&train(&spec, set, &options)).unwrap_or_default()
    };
    let single = model(&one, 1);
    assert!(single.contains("\"em\""), "{single}");
    assert_eq!(model(&three, 1), single);
    assert_eq!(model(&one, 4), single);
    assert_eq!(model(&three, 2), single);
}

// ------------------------------------------------------------------------------------------------
// Proposal weights
// ------------------------------------------------------------------------------------------------

fn transaction_mappings() -> Vec<FieldMapping> {
    vec![
        mapping(
            "d",
            "date",
            "date_range",
            json!({"min_days": 1, "max_days": 21}),
        ),
        mapping("a", "amount", "numeric_range", json!({"tolerance_pct": 13})),
        mapping("m", "memo", "fuzzy", json!({"kind": "short_text"})),
    ]
}

/// A model "trained" by hand: per field, `m` and `u` (random and among candidates alike) per
/// level; `None` makes a field's levels equally likely under both (it tells nothing apart).
fn model_with(spec: &MatchSpec, per_field: &[Option<(&[f64], &[f64])>]) -> MatchModel {
    let mut model = MatchModel::untrained(spec);
    model.training.method = "em".to_owned();
    for (field, given) in model.fields.iter_mut().zip(per_field) {
        let n = field.levels.len();
        for (l, level) in field.levels.iter_mut().enumerate() {
            let (m, u) = match given {
                Some((m, u)) => (m[l], u[l]),
                None => (1.0 / n as f64, 1.0 / n as f64),
            };
            level.m = m;
            level.u = u;
            level.u_candidates = u;
            level.weight = model::level_weight(m, u);
            level.candidate_weight = level.weight;
        }
    }
    model
}

#[test]
fn proposal_weights_are_what_the_model_learned_or_the_config() {
    let mut mappings = transaction_mappings();
    mappings[1].weight = Some(4.0);
    let spec = compile(&mappings, probabilistic());
    let configured = [0.25, 1.0, 0.25];
    // Untrained: the config's weights, scaled.
    assert_eq!(spec.proposal_weights().weights, configured);
    assert!(!spec.proposal_weights().learned);
    // Trained: the memo separates, the date nothing, the amount a little.
    let memo: (&[f64], &[f64]) = (
        &[0.8, 0.1, 0.05, 0.03, 0.02],
        &[0.001, 0.004, 0.02, 0.075, 0.9],
    );
    let amount: (&[f64], &[f64]) = (&[0.3, 0.3, 0.2, 0.1, 0.1], &[0.1, 0.2, 0.2, 0.2, 0.3]);
    let model = model_with(&spec, &[None, Some(amount), Some(memo)]);
    let trained = spec
        .with_model(model.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    let learned = trained.proposal_weights();
    assert!(learned.learned);
    assert_eq!(learned.weights[2], 1.0, "{learned:?}");
    assert!(
        learned.weights[1] > 0.0 && learned.weights[1] < 0.2,
        "{learned:?}"
    );
    assert!(
        learned.weights[0] > 0.0 && learned.weights[0] < 1e-6,
        "{learned:?}"
    );
    // Weighted scoring keeps the config's weights, with or without a model.
    let weighted_spec = trained.with_settings(weighted());
    assert_eq!(weighted_spec.proposal_weights().weights, configured);
    assert!(!weighted_spec.proposal_weights().learned);
    // A model where nothing separates anything teaches nothing: the config's weights.
    let flat = spec
        .with_model(model_with(&spec, &[None, None, None]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(flat.proposal_weights().weights, configured);
}

/// A bank statement's window is dense: forty rows a day before the document with its exact
/// amount, and the payment seventeen days before with an amount 8 % off but the same memo. A
/// model that learned the memo is what tells payments apart proposes by it, and finds the
/// payment; config weights (equal) rank the forty closer rows first.
#[test]
fn learned_proposal_weights_find_the_payment_in_a_dense_window() {
    let spec = compile(&transaction_mappings(), probabilistic());
    let mut reference: Rows = (0..40)
        .map(|i| {
            (
                format!("N{i}"),
                vec![
                    Some("2024-03-09".into()),
                    Some("103.00".into()),
                    Some(format!("Q{i} Z money")),
                ],
            )
        })
        .collect();
    reference.push((
        "PAID".into(),
        vec![
            Some("2024-02-22".into()),
            Some("111.00".into()),
            Some("J B DALE CHQ".into()),
        ],
    ));
    let index = ReferenceIndex::build(&spec, reference);
    let doc = [Some("2024-03-10"), Some("103.00"), Some("J B DALE CHQ")];
    let memo: (&[f64], &[f64]) = (
        &[0.8, 0.1, 0.05, 0.03, 0.02],
        &[0.001, 0.004, 0.02, 0.075, 0.9],
    );
    let trained = spec
        .with_model(model_with(&spec, &[None, None, Some(memo)]))
        .unwrap_or_else(|e| panic!("{e}"));
    let out = index.match_document(&trained, &doc, &mut MatchScratch::default());
    let best = out.candidates.first().map(|c| index.row_id(c.row));
    assert_eq!(best, Some("PAID"), "{out:?}");
    assert_eq!(out.decision, Decision::Matched, "{out:?}");
}
