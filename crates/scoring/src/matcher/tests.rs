//! Tests of the matcher: spec validation, each strategy's scoring, renormalisation, ambiguity,
//! decision bands, hostile inputs, determinism.

// Test data: small numbers the casts carry exactly, and the f32 rounding the scorer's cache does.
#![allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]

use rstest::rstest;
use serde_json::json;

use super::*;
use crate::similarity::{identifier_similarity, org_name_similarity};
use crate::test_rng::XorShift;

fn mapping(source: &str, target: &str, strategy: &str, params: serde_json::Value) -> FieldMapping {
    FieldMapping {
        source: source.to_owned(),
        target: target.to_owned(),
        strategy: strategy.to_owned(),
        params: params.as_object().cloned().unwrap_or_default(),
        weight: None,
    }
}

fn weighted(mut m: FieldMapping, weight: f64) -> FieldMapping {
    m.weight = Some(weight);
    m
}

/// The default settings under weighted scoring (what most tests here check).
fn weighted_default() -> MatchSettings {
    MatchSettings::default().with_scoring(ScoringMode::Weighted)
}

/// [`MatchSettings::new`] under weighted scoring.
fn weighted_new(
    threshold: Option<f64>,
    floor: Option<f64>,
    margin: Option<f64>,
) -> Result<MatchSettings, SpecError> {
    MatchSettings::new(threshold, floor, margin).map(|s| s.with_scoring(ScoringMode::Weighted))
}

fn spec_of(mappings: &[FieldMapping]) -> MatchSpec {
    let columns: Vec<&str> = mappings.iter().map(|m| m.target.as_str()).collect();
    MatchSpec::compile(mappings, weighted_default(), &columns)
        .unwrap_or_else(|e| panic!("spec: {e}"))
}

fn rows(values: &[&[Option<&str>]]) -> Vec<(String, Vec<Option<String>>)> {
    values
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                format!("R{i}"),
                r.iter().map(|v| v.map(str::to_owned)).collect(),
            )
        })
        .collect()
}

/// The score of a single-field spec between one document value and one reference value (via the
/// best candidate's evidence); `None` when the field was left out or nothing was proposed.
fn field_score(
    strategy: &str,
    params: serde_json::Value,
    doc: &str,
    reference: &str,
) -> Option<f64> {
    let spec = spec_of(&[mapping("f", "f", strategy, params)]);
    let index = ReferenceIndex::build(&spec, rows(&[&[Some(reference)]]));
    let out = index.match_document(&spec, &[Some(doc)], &mut MatchScratch::default());
    out.evidence.first().and_then(|e| e.score)
}

fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

// ------------------------------------------------------------------------------------------------
// Spec validation
// ------------------------------------------------------------------------------------------------

const COLUMNS: &[&str] = &["vendor", "number", "date", "amount", "currency"];

fn compile_err(mappings: &[FieldMapping]) -> SpecError {
    match MatchSpec::compile(mappings, weighted_default(), COLUMNS) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[rstest]
#[case::unknown_strategy("vendor", "soundex", json!({}), "field_mappings[0].strategy")]
#[case::unknown_param("vendor", "fuzzy", json!({"kinds": "name"}), "field_mappings[0].params.kinds")]
#[case::bad_kind("vendor", "fuzzy", json!({"kind": "phonetic"}), "field_mappings[0].params.kind")]
#[case::kind_not_string("vendor", "fuzzy", json!({"kind": 3}), "field_mappings[0].params.kind")]
#[case::min_score_high("vendor", "fuzzy", json!({"min_score": 1.5}), "field_mappings[0].params.min_score")]
#[case::min_score_string("vendor", "fuzzy", json!({"min_score": "0.5"}), "field_mappings[0].params.min_score")]
#[case::bad_normalize("vendor", "exact", json!({"normalize": "soundex"}), "field_mappings[0].params.normalize")]
#[case::exact_param("vendor", "exact", json!({"days": 3}), "field_mappings[0].params.days")]
#[case::days_high("date", "date_range", json!({"days": 3651}), "field_mappings[0].params.days")]
#[case::days_negative("date", "date_range", json!({"days": -1}), "field_mappings[0].params.days")]
#[case::days_fraction("date", "date_range", json!({"days": 1.5}), "field_mappings[0].params.days")]
#[case::days_string("date", "date_range", json!({"days": "7"}), "field_mappings[0].params.days")]
#[case::bad_order("date", "date_range", json!({"order": "ymd"}), "field_mappings[0].params.order")]
#[case::pct_high("amount", "numeric_range", json!({"tolerance_pct": 101}), "field_mappings[0].params.tolerance_pct")]
#[case::pct_negative("amount", "numeric_range", json!({"tolerance_pct": -1}), "field_mappings[0].params.tolerance_pct")]
#[case::abs_negative("amount", "numeric_range", json!({"tolerance_abs": -0.01}), "field_mappings[0].params.tolerance_abs")]
#[case::both_tolerances("amount", "numeric_range", json!({"tolerance_pct": 1, "tolerance_abs": 1}), "field_mappings[0].params.tolerance_abs")]
#[case::min_days_alone("date", "date_range", json!({"min_days": 1}), "field_mappings[0].params.max_days")]
#[case::max_days_alone("date", "date_range", json!({"max_days": 21}), "field_mappings[0].params.min_days")]
#[case::window_with_days("date", "date_range", json!({"days": 3, "min_days": 1, "max_days": 21}), "field_mappings[0].params.days")]
#[case::window_inverted("date", "date_range", json!({"min_days": 5, "max_days": 1}), "field_mappings[0].params.max_days")]
#[case::min_days_low("date", "date_range", json!({"min_days": -3651, "max_days": 1}), "field_mappings[0].params.min_days")]
#[case::max_days_high("date", "date_range", json!({"min_days": 0, "max_days": 3651}), "field_mappings[0].params.max_days")]
#[case::max_days_fraction("date", "date_range", json!({"min_days": 0, "max_days": 1.5}), "field_mappings[0].params.max_days")]
#[case::min_days_string("date", "date_range", json!({"min_days": "1", "max_days": 2}), "field_mappings[0].params.min_days")]
#[case::numeric_unknown("amount", "numeric_range", json!({"tolerance": 1}), "field_mappings[0].params.tolerance")]
fn bad_strategies_and_params_name_their_path(
    #[case] target: &str,
    #[case] strategy: &str,
    #[case] params: serde_json::Value,
    #[case] path: &str,
) {
    let err = compile_err(&[mapping("x", target, strategy, params)]);
    assert_eq!(err.path, path, "{err}");
    assert!(!err.message.is_empty());
}

#[test]
fn days_message_says_what_is_allowed() {
    let err = compile_err(&[mapping("d", "date", "date_range", json!({"days": 4000}))]);
    assert_eq!(err.path, "field_mappings[0].params.days");
    assert_eq!(
        err.message,
        "must be a whole number of days between 0 and 3650"
    );
    assert_eq!(
        err.to_string(),
        "field_mappings[0].params.days: must be a whole number of days between 0 and 3650"
    );
}

#[rstest]
#[case::zero(0.0)]
#[case::negative(-1.0)]
#[case::nan(f64::NAN)]
#[case::infinite(f64::INFINITY)]
fn weights_must_be_finite_and_positive(#[case] weight: f64) {
    let err = compile_err(&[
        mapping("v", "vendor", "fuzzy", json!({})),
        weighted(mapping("n", "number", "exact", json!({})), weight),
    ]);
    assert_eq!(err.path, "field_mappings[1].weight");
}

#[test]
fn unknown_target_names_the_column_and_lists_the_known_ones() {
    let err = compile_err(&[mapping("v", "supplier", "fuzzy", json!({}))]);
    assert_eq!(err.path, "field_mappings[0].target");
    assert!(err.message.contains("\"supplier\""), "{}", err.message);
    for column in COLUMNS {
        assert!(err.message.contains(column), "{}", err.message);
    }
}

#[rstest]
#[case::empty("")]
#[case::blank("  \t")]
fn empty_sources_are_rejected(#[case] source: &str) {
    let err = compile_err(&[mapping(source, "vendor", "fuzzy", json!({}))]);
    assert_eq!(err.path, "field_mappings[0].source");
}

#[rstest]
#[case::none(0)]
#[case::too_many(33)]
fn mapping_count_is_bounded(#[case] n: usize) {
    let mappings = vec![mapping("v", "vendor", "fuzzy", json!({})); n];
    let err = compile_err(&mappings);
    assert_eq!(err.path, "field_mappings");
    if n > 32 {
        assert!(MatchSpec::compile(&mappings[..32], weighted_default(), COLUMNS).is_ok());
    }
}

#[test]
fn the_first_error_is_returned() {
    let err = compile_err(&[
        mapping("v", "vendor", "fuzzy", json!({})),
        weighted(mapping("", "nope", "nope", json!({"x": 1})), -1.0),
        mapping("d", "date", "date_range", json!({"days": -5})),
    ]);
    assert_eq!(err.path, "field_mappings[1].source");
    let err = compile_err(&[
        weighted(mapping("v", "vendor", "fuzzy", json!({"kind": "x"})), 0.0),
        mapping("d", "nope", "date_range", json!({})),
    ]);
    assert_eq!(err.path, "field_mappings[0].params.kind");
}

#[rstest]
#[case::defaults(None, None, None, Ok((0.85, 0.7, 0.02)))]
#[case::low_threshold(Some(0.1), None, None, Ok((0.1, 0.0, 0.02)))]
#[case::full(Some(1.0), Some(1.0), Some(0.5), Ok((1.0, 1.0, 0.5)))]
#[case::zero_threshold(Some(0.0), None, None, Err("threshold"))]
#[case::high_threshold(Some(1.01), None, None, Err("threshold"))]
#[case::nan_threshold(Some(f64::NAN), None, None, Err("threshold"))]
#[case::floor_above(Some(0.8), Some(0.9), None, Err("review_band.lower"))]
#[case::floor_negative(None, Some(-0.1), None, Err("review_band.lower"))]
#[case::floor_nan(None, Some(f64::NAN), None, Err("review_band.lower"))]
#[case::margin_high(None, None, Some(0.6), Err("ambiguity_margin"))]
#[case::margin_negative(None, None, Some(-0.01), Err("ambiguity_margin"))]
#[case::margin_infinite(None, None, Some(f64::INFINITY), Err("ambiguity_margin"))]
fn settings_are_validated(
    #[case] threshold: Option<f64>,
    #[case] floor: Option<f64>,
    #[case] margin: Option<f64>,
    #[case] expected: Result<(f64, f64, f64), &str>,
) {
    match (MatchSettings::new(threshold, floor, margin), expected) {
        (Ok(s), Ok((t, f, m))) => {
            assert!(
                approx(s.threshold, t)
                    && approx(s.review_floor, f)
                    && approx(s.ambiguity_margin, m),
                "{s:?}"
            );
        }
        (Err(e), Err(path)) => assert_eq!(e.path, path),
        (got, want) => panic!("got {got:?}, want {want:?}"),
    }
}

#[test]
fn wire_form_defaults_and_rejects_unknown_fields() {
    let m: FieldMapping = serde_json::from_value(json!({
        "source": "a", "target": "b", "strategy": "exact"
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.weight, None);
    assert!(m.params.is_empty());
    let unknown = serde_json::from_value::<FieldMapping>(json!({
        "source": "a", "target": "b", "strategy": "exact", "weigth": 2
    }));
    assert!(unknown.is_err());
    // Round trip.
    let back: FieldMapping = serde_json::from_str(&serde_json::to_string(&m).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, m);
}

#[test]
fn compiled_strategies_carry_their_params() {
    let spec = MatchSpec::compile(
        &[
            mapping(
                "a",
                "vendor",
                "fuzzy",
                json!({"kind": "name", "min_score": 0.5}),
            ),
            mapping("b", "number", "exact", json!({"normalize": "identifier"})),
            mapping(
                "c",
                "date",
                "date_range",
                json!({"days": 7.0, "order": "mdy"}),
            ),
            mapping(
                "d",
                "amount",
                "numeric_range",
                json!({"tolerance_abs": 0.05}),
            ),
            mapping("e", "currency", "exact", json!({})),
        ],
        weighted_default(),
        COLUMNS,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let strategies: Vec<Strategy> = spec.fields().iter().map(|f| f.strategy).collect();
    assert_eq!(
        strategies,
        vec![
            Strategy::Fuzzy {
                kind: FuzzyKind::Name,
                min_score: Some(0.5)
            },
            Strategy::Exact {
                normalize: ExactNormalize::Identifier
            },
            Strategy::DateRange {
                days: 7,
                order: Some(crate::parse::DateOrder::MonthFirst),
                min_days: -7,
                max_days: 7,
            },
            Strategy::NumericRange {
                tolerance: Some(crate::similarity::Tolerance::Absolute(0.05))
            },
            Strategy::Exact {
                normalize: ExactNormalize::Text
            },
        ]
    );
}

#[test]
fn index_key_ignores_weights_sources_and_settings_but_not_params() {
    let base = [
        mapping("v", "vendor", "fuzzy", json!({"kind": "name"})),
        mapping("d", "date", "date_range", json!({"days": 5})),
    ];
    let key = |mappings: &[FieldMapping], settings: MatchSettings| {
        MatchSpec::compile(mappings, settings, COLUMNS)
            .unwrap_or_else(|e| panic!("{e}"))
            .index_key()
    };
    let k0 = key(&base, weighted_default());
    let mut reweighted = base.clone();
    reweighted[0].weight = Some(3.0);
    reweighted[1].source = "invoice_date".into();
    let strict = weighted_new(Some(0.99), None, Some(0.0)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(k0, key(&reweighted, strict));
    let mut wider = base.clone();
    wider[1].params = json!({"days": 6}).as_object().cloned().unwrap_or_default();
    assert_ne!(k0, key(&wider, weighted_default()));
    let mut retargeted = base.clone();
    retargeted[1].target = "vendor".into();
    retargeted[1].strategy = "exact".into();
    retargeted[1].params.clear();
    assert_ne!(k0, key(&retargeted, weighted_default()));
    // Defaults written out or not give the same key.
    let explicit = [
        mapping("v", "vendor", "fuzzy", json!({"kind": "name"})),
        mapping("d", "date", "date_range", json!({"days": 5, "order": null})),
    ];
    assert!(MatchSpec::compile(&explicit, weighted_default(), COLUMNS).is_err());
}

// ------------------------------------------------------------------------------------------------
// Strategies
// ------------------------------------------------------------------------------------------------

#[rstest]
#[case::text_folded("text", "  ACME, Corp. ", "acme corp", Some(1.0))]
#[case::text_different("text", "acme", "acme corp", Some(0.0))]
#[case::identifier_decorations("identifier", "INV-000123", "#123", Some(1.0))]
#[case::identifier_ocr("identifier", "INV-OO0I23", "INV-000123", Some(1.0))]
#[case::identifier_other("identifier", "INV-000124", "INV-000123", Some(0.0))]
#[case::currency_name("currency", "US dollars", "USD", Some(1.0))]
#[case::currency_symbol("currency", "€", "EUR", Some(1.0))]
#[case::currency_other("currency", "£", "EUR", Some(0.0))]
#[case::currency_unknown_text("currency", "Bitcoins", "bitcoins", Some(1.0))]
#[case::none_trimmed("none", " abc ", "abc", Some(1.0))]
#[case::none_case("none", "ABC", "abc", Some(0.0))]
#[case::missing_doc("text", " ,. ", "abc", None)]
fn exact_strategy_scores(
    #[case] normalize: &str,
    #[case] doc: &str,
    #[case] reference: &str,
    #[case] expected: Option<f64>,
) {
    let spec = spec_of(&[mapping("f", "f", "exact", json!({"normalize": normalize}))]);
    let index = ReferenceIndex::build(&spec, rows(&[&[Some(reference)], &[Some("zzz-other")]]));
    // Score against row 0 directly, whatever the candidate generation did.
    let out = index.match_document(&spec, &[Some(doc)], &mut MatchScratch::default());
    let score = if expected == Some(1.0) {
        assert_eq!(out.matched, Some(RowIdx(0)), "{out:?}");
        out.evidence.first().and_then(|e| e.score)
    } else if expected.is_none() {
        assert!(out.candidates.is_empty());
        None
    } else {
        assert_ne!(out.matched, Some(RowIdx(0)));
        Some(0.0)
    };
    assert_eq!(score, expected);
}

#[rstest]
#[case::same_name("name", "Apex Logistics Inc.", "APEX LOGISTICS")]
#[case::typo("name", "Apex Logistcs Inc", "Apex Logistics Inc")]
#[case::connector("name", "Smith & Sons", "Smith and Sons Ltd")]
#[case::text("text", "Hello  World", "hello world!")]
fn fuzzy_names_and_text_score_as_the_similarity_functions(
    #[case] kind: &str,
    #[case] doc: &str,
    #[case] reference: &str,
) {
    let got = field_score("fuzzy", json!({"kind": kind}), doc, reference)
        .unwrap_or_else(|| panic!("no score"));
    let want = match kind {
        "name" => org_name_similarity(doc, reference),
        _ => crate::similarity::text_similarity(
            &crate::text::fold(doc),
            &crate::text::fold(reference),
        ),
    };
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
}

#[rstest]
#[case("INV-000123", "#123")]
#[case("RE-004512", "RE-004513")]
#[case("RE-4512", "4512")]
#[case("2024/0456", "2024-0465")]
fn fuzzy_identifiers_are_graded(#[case] doc: &str, #[case] reference: &str) {
    let got = field_score("fuzzy", json!({"kind": "identifier"}), doc, reference);
    let want = identifier_similarity(doc, reference);
    if want > 0.0 {
        let got = got.unwrap_or_else(|| panic!("no score"));
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
}

#[test]
fn min_score_zeroes_weak_fuzzy_scores() {
    let weak = org_name_similarity("Apex Freight", "Apex Logistics");
    assert!(weak > 0.0 && weak < 0.9);
    let params = json!({"kind": "name", "min_score": 0.9});
    let spec = spec_of(&[mapping("f", "f", "fuzzy", params)]);
    let index = ReferenceIndex::build(&spec, rows(&[&[Some("Apex Logistics")]]));
    let out = index.match_document(&spec, &[Some("Apex Freight")], &mut MatchScratch::default());
    assert_eq!(out.evidence.first().and_then(|e| e.score), Some(0.0));
    assert_eq!(out.confidence, 0.0);
    assert_eq!(out.decision, Decision::Unmatched);
}

#[rstest]
#[case::same_day("2024-03-14", "14/03/2024", 5, None, Some(1.0))]
#[case::three_days("2024-03-14", "2024-03-17", 5, None, Some(0.5))]
#[case::outside("2024-03-14", "2024-03-20", 5, None, Some(0.0))]
#[case::zero_window("2024-03-14", "2024-03-15", 0, None, Some(0.0))]
#[case::either_reading_a("03/04/2024", "2024-04-03", 0, None, Some(1.0))]
#[case::either_reading_b("03/04/2024", "2024-03-04", 0, None, Some(1.0))]
#[case::forced_mdy("03/04/2024", "2024-03-04", 0, Some("mdy"), Some(1.0))]
#[case::forced_mdy_other("03/04/2024", "2024-04-03", 0, Some("mdy"), Some(0.0))]
#[case::month_name("March 14, 2024", "2024-03-14", 0, None, Some(1.0))]
#[case::not_a_date("soon", "2024-03-14", 5, None, None)]
fn date_range_scores(
    #[case] doc: &str,
    #[case] reference: &str,
    #[case] days: u32,
    #[case] order: Option<&str>,
    #[case] expected: Option<f64>,
) {
    let params = match order {
        Some(o) => json!({"days": days, "order": o}),
        None => json!({"days": days}),
    };
    let spec = spec_of(&[mapping("f", "f", "date_range", params)]);
    let index = ReferenceIndex::build(&spec, rows(&[&[Some(reference)]]));
    let out = index.match_document(&spec, &[Some(doc)], &mut MatchScratch::default());
    match expected {
        None => assert!(out.candidates.is_empty()),
        Some(want) if want > 0.0 => {
            let got = out.evidence.first().and_then(|e| e.score);
            assert!(got.is_some_and(|g| approx(g, want)), "{got:?} vs {want}");
        }
        // Out of the window: not even a candidate, or a zero score.
        Some(_) => assert!(out.candidates.iter().all(|c| c.confidence == 0.0)),
    }
}

#[rstest]
#[case::decimal_marks("1.234,50 EUR", "1234.50", json!({}), Some(1.0))]
#[case::symbol_after("1 234,50 €", "1234.5", json!({}), Some(1.0))]
#[case::parentheses("(12.50)", "-12.50", json!({}), Some(1.0))]
#[case::exact_differs("100.01", "100.00", json!({}), Some(0.0))]
#[case::pct_edge("102", "100", json!({"tolerance_pct": 2}), Some(1.0 - 2.0 / 102.0 / 0.02 / 2.0))]
#[case::abs("100.05", "100.00", json!({"tolerance_abs": 0.1}), Some(0.75))]
#[case::currencies_conflict("€100", "£100", json!({"tolerance_pct": 5}), Some(0.0))]
#[case::not_an_amount("about a hundred", "100", json!({}), None)]
fn numeric_range_scores(
    #[case] doc: &str,
    #[case] reference: &str,
    #[case] params: serde_json::Value,
    #[case] expected: Option<f64>,
) {
    let spec = spec_of(&[mapping("f", "f", "numeric_range", params)]);
    let index = ReferenceIndex::build(&spec, rows(&[&[Some(reference)]]));
    let out = index.match_document(&spec, &[Some(doc)], &mut MatchScratch::default());
    match expected {
        None => assert!(out.candidates.is_empty()),
        Some(want) if want > 0.0 => {
            let got = out.evidence.first().and_then(|e| e.score);
            assert!(
                got.is_some_and(|g| (g - want).abs() < 1e-6),
                "{got:?} vs {want}"
            );
        }
        Some(_) => assert!(
            out.candidates.iter().all(|c| c.confidence == 0.0),
            "{out:?}"
        ),
    }
}

// ------------------------------------------------------------------------------------------------
// Confidence, renormalisation, ambiguity, decisions
// ------------------------------------------------------------------------------------------------

fn invoice_spec(settings: MatchSettings) -> MatchSpec {
    let mappings = [
        weighted(
            mapping("vendor", "vendor", "fuzzy", json!({"kind": "name"})),
            2.0,
        ),
        weighted(
            mapping("number", "number", "fuzzy", json!({"kind": "identifier"})),
            3.0,
        ),
        mapping("date", "date", "date_range", json!({"days": 7})),
        weighted(
            mapping(
                "amount",
                "amount",
                "numeric_range",
                json!({"tolerance_pct": 5}),
            ),
            2.0,
        ),
        weighted(
            mapping(
                "currency",
                "currency",
                "exact",
                json!({"normalize": "currency"}),
            ),
            0.5,
        ),
    ];
    MatchSpec::compile(&mappings, settings, COLUMNS).unwrap_or_else(|e| panic!("{e}"))
}

fn ledger() -> Vec<(String, Vec<Option<String>>)> {
    rows(&[
        &[
            Some("Apex Logistics Inc."),
            Some("INV-000123"),
            Some("2024-03-14"),
            Some("1234.50"),
            Some("USD"),
        ],
        &[
            Some("Apex Logistics Inc."),
            Some("INV-000124"),
            Some("2024-03-15"),
            Some("980.00"),
            Some("USD"),
        ],
        &[
            Some("Bauer Spedition GmbH"),
            Some("RE-4512"),
            Some("2024-03-14"),
            Some("1234.50"),
            Some("EUR"),
        ],
        &[
            Some("Kalo Freight LLC"),
            Some("F2024001"),
            Some("2024-01-02"),
            Some("55.00"),
            None,
        ],
    ])
}

#[test]
fn a_clean_copy_matches_with_full_confidence() {
    let spec = invoice_spec(weighted_default());
    let index = ReferenceIndex::build(&spec, ledger());
    assert_eq!(index.len(), 4);
    assert!(!index.is_empty());
    let doc = [
        Some("APEX LOGISTICS"),
        Some("#123"),
        Some("03/14/2024"),
        Some("$1,234.50"),
        Some("US dollars"),
    ];
    let out = index.match_document(&spec, &doc, &mut MatchScratch::default());
    assert_eq!(out.decision, Decision::Matched);
    assert_eq!(out.matched, Some(RowIdx(0)));
    assert_eq!(index.row_id(RowIdx(0)), "R0");
    assert_eq!(index.reference_value(RowIdx(0), 1), Some("INV-000123"));
    assert_eq!(index.reference_value(RowIdx(3), 4), None);
    assert_eq!(index.reference_value(RowIdx(99), 0), None);
    assert_eq!(index.row_id(RowIdx(99)), "");
    assert!(approx(out.confidence, 1.0), "{out:?}");
    assert!(!out.ambiguous);
    assert_eq!(out.evidence.len(), 5);
    assert!(out.evidence.iter().all(|e| e.score == Some(1.0)));
    assert!(out.candidates_considered >= out.candidates.len());
    assert_eq!(out.candidates.first().map(|c| c.row), Some(RowIdx(0)));
    for pair in out.candidates.windows(2) {
        assert!(pair[0].confidence >= pair[1].confidence);
    }
}

#[test]
fn missing_fields_are_left_out_and_weights_renormalised() {
    let spec = invoice_spec(weighted_default());
    let index = ReferenceIndex::build(&spec, ledger());
    // Only the number and the amount on the document: the mean of those two.
    let doc = [None, Some("INV-000123"), None, Some("1240.00"), Some("")];
    let out = index.match_document(&spec, &doc, &mut MatchScratch::default());
    let scores: Vec<Option<f64>> = out.evidence.iter().map(|e| e.score).collect();
    assert_eq!(scores[0], None);
    assert_eq!(scores[2], None);
    assert_eq!(scores[4], None);
    let amount = scores[3].unwrap_or_else(|| panic!("amount"));
    let expected = (3.0 * 1.0 + 2.0 * amount) / 5.0;
    assert!(
        approx(out.confidence, expected),
        "{} vs {expected}",
        out.confidence
    );
    // A reference value missing is left out the same way (row 3 has no currency).
    let doc = [
        Some("Kalo Freight"),
        Some("F2024001"),
        Some("2024-01-02"),
        Some("55"),
        Some("USD"),
    ];
    let out = index.match_document(&spec, &doc, &mut MatchScratch::default());
    assert_eq!(out.matched, Some(RowIdx(3)));
    assert_eq!(out.evidence.get(4).map(|e| e.score), Some(None));
    assert!(approx(out.confidence, 1.0));
}

#[test]
fn nothing_on_the_document_is_unmatched_without_candidates() {
    let spec = invoice_spec(weighted_default());
    let index = ReferenceIndex::build(&spec, ledger());
    for doc in [
        &[][..],
        &[None, None, None, None, None][..],
        &[Some(""), Some("  "), Some("-")][..],
    ] {
        let out = index.match_document(&spec, doc, &mut MatchScratch::default());
        assert_eq!(out.decision, Decision::Unmatched);
        assert_eq!(out.confidence, 0.0);
        assert!(out.candidates.is_empty() && out.evidence.is_empty());
        assert_eq!(out.candidates_considered, 0);
    }
}

#[test]
fn identical_rows_are_ambiguous_and_go_to_review() {
    let spec = spec_of(&[mapping(
        "n",
        "n",
        "exact",
        json!({"normalize": "identifier"}),
    )]);
    let index = ReferenceIndex::build(
        &spec,
        rows(&[&[Some("A-1")], &[Some("A-1")], &[Some("B-2")]]),
    );
    let out = index.match_document(&spec, &[Some("a1")], &mut MatchScratch::default());
    assert!(out.ambiguous);
    assert_eq!(out.decision, Decision::Review);
    assert_eq!(out.matched, None);
    assert!(approx(out.confidence, 1.0));
    // Ties are listed by row.
    let rows: Vec<RowIdx> = out.candidates.iter().map(|c| c.row).collect();
    assert_eq!(rows, vec![RowIdx(0), RowIdx(1)]);
}

#[rstest]
// (best, runner-up) confidences are built from a two-field spec: an exact key and a fuzzy name.
#[case::clear(0.85, 0.02, Decision::Matched, false)]
#[case::within_margin(0.85, 0.5, Decision::Review, true)]
#[case::no_margin(0.85, 0.0, Decision::Matched, false)]
fn ambiguity_margin_decides(
    #[case] threshold: f64,
    #[case] margin: f64,
    #[case] decision: Decision,
    #[case] ambiguous: bool,
) {
    let settings =
        weighted_new(Some(threshold), None, Some(margin)).unwrap_or_else(|e| panic!("{e}"));
    let mappings = [
        mapping("n", "n", "exact", json!({"normalize": "identifier"})),
        mapping("v", "v", "fuzzy", json!({"kind": "name"})),
    ];
    let spec =
        MatchSpec::compile(&mappings, settings, &["n", "v"]).unwrap_or_else(|e| panic!("{e}"));
    // Row 0 agrees on both (1.0); row 1 on the name only (0.5).
    let index = ReferenceIndex::build(
        &spec,
        rows(&[
            &[Some("A-1"), Some("Acme Ltd")],
            &[Some("B-2"), Some("Acme Ltd")],
        ]),
    );
    let out = index.match_document(
        &spec,
        &[Some("A-1"), Some("Acme")],
        &mut MatchScratch::default(),
    );
    assert_eq!(out.candidates.len(), 2);
    assert!(approx(out.confidence, 1.0));
    assert!(approx(out.candidates[1].confidence, 0.5));
    assert_eq!(out.ambiguous, ambiguous);
    assert_eq!(out.decision, decision);
}

#[rstest]
#[case::matched(0.6, 0.4, Decision::Matched)]
#[case::review(0.9, 0.5, Decision::Review)]
#[case::review_at_floor(0.9, 2.0 / 3.0, Decision::Review)]
#[case::unmatched(0.9, 0.7, Decision::Unmatched)]
fn decision_bands(#[case] threshold: f64, #[case] floor: f64, #[case] decision: Decision) {
    let settings =
        weighted_new(Some(threshold), Some(floor), Some(0.0)).unwrap_or_else(|e| panic!("{e}"));
    let mappings = [
        mapping("a", "a", "exact", json!({})),
        mapping("b", "b", "exact", json!({})),
        mapping("c", "c", "exact", json!({})),
    ];
    let spec =
        MatchSpec::compile(&mappings, settings, &["a", "b", "c"]).unwrap_or_else(|e| panic!("{e}"));
    let index = ReferenceIndex::build(&spec, rows(&[&[Some("x"), Some("y"), Some("z")]]));
    // Two of three fields agree: 2/3.
    let out = index.match_document(
        &spec,
        &[Some("x"), Some("y"), Some("w")],
        &mut MatchScratch::default(),
    );
    assert!(approx(out.confidence, 2.0 / 3.0));
    assert_eq!(out.decision, decision);
    assert_eq!(out.matched.is_some(), decision == Decision::Matched);
}

#[test]
fn a_spec_with_another_index_key_is_refused() {
    let spec = invoice_spec(weighted_default());
    let index = ReferenceIndex::build(&spec, ledger());
    let other = spec_of(&[mapping("vendor", "vendor", "exact", json!({}))]);
    let out = index.match_document(
        &other,
        &[Some("Apex Logistics Inc.")],
        &mut MatchScratch::default(),
    );
    assert_eq!(out.decision, Decision::Unmatched);
    assert!(out.candidates.is_empty());
    // Same index key with other weights and settings is accepted.
    let mut mappings: Vec<FieldMapping> = Vec::new();
    for f in spec.fields() {
        let params = match f.strategy {
            Strategy::Fuzzy {
                kind: FuzzyKind::Name,
                ..
            } => json!({"kind": "name"}),
            Strategy::Fuzzy { .. } => json!({"kind": "identifier"}),
            Strategy::DateRange { .. } => json!({"days": 7}),
            Strategy::NumericRange { .. } => json!({"tolerance_pct": 5}),
            Strategy::Exact { .. } => json!({"normalize": "currency"}),
        };
        mappings.push(mapping(&f.source, &f.target, f.strategy.name(), params));
    }
    let strict = weighted_new(Some(0.99), None, None).unwrap_or_else(|e| panic!("{e}"));
    let same = MatchSpec::compile(&mappings, strict, COLUMNS).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(same.index_key(), spec.index_key());
    let doc = [Some("Apex Logistics"), Some("INV-000123"), None, None, None];
    let out = index.match_document(&same, &doc, &mut MatchScratch::default());
    assert_eq!(out.matched, Some(RowIdx(0)));
}

// ------------------------------------------------------------------------------------------------
// Hostile inputs, determinism, exactness of the pruned scoring
// ------------------------------------------------------------------------------------------------

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
    "£",
    "USD",
    "EUR",
    "(",
    ")",
    "Apex",
    "Logistics",
    "Inc.",
    "GmbH",
    "&",
    "and",
    "Müller",
    "März",
    "March",
    "14",
    "03",
    "31",
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
    "Ω",
    "ﬁ",
    "１２",
    "½",
    "\u{FFFD}",
    "'",
    "\"",
    "%",
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

fn all_strategies_spec() -> MatchSpec {
    let mappings = [
        mapping("a", "a", "exact", json!({})),
        mapping("b", "b", "exact", json!({"normalize": "identifier"})),
        mapping("c", "c", "exact", json!({"normalize": "currency"})),
        mapping("d", "d", "exact", json!({"normalize": "none"})),
        mapping("e", "e", "fuzzy", json!({})),
        mapping("f", "f", "fuzzy", json!({"kind": "name", "min_score": 0.3})),
        mapping("g", "g", "fuzzy", json!({"kind": "identifier"})),
        mapping("h", "h", "date_range", json!({"days": 3650})),
        mapping("i", "i", "date_range", json!({"days": 0, "order": "dmy"})),
        mapping("j", "j", "numeric_range", json!({"tolerance_pct": 100})),
        mapping("k", "k", "numeric_range", json!({"tolerance_abs": 1e300})),
        mapping("l", "l", "numeric_range", json!({})),
    ];
    let columns = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
    MatchSpec::compile(&mappings, weighted_default(), &columns).unwrap_or_else(|e| panic!("{e}"))
}

fn check_outcome(out: &MatchOutcome, index: &ReferenceIndex, fields: usize) {
    assert!((0.0..=1.0).contains(&out.confidence), "{out:?}");
    assert_eq!(out.matched.is_some(), out.decision == Decision::Matched);
    assert!(out.candidates.len() <= TOP_CANDIDATES);
    assert!(out.candidates_considered >= out.candidates.len());
    if let Some(best) = out.candidates.first() {
        assert_eq!(best.confidence, out.confidence);
        assert_eq!(out.evidence.len(), fields);
        assert!((best.row.0 as usize) < index.len());
    } else {
        assert!(out.evidence.is_empty());
        assert_eq!(out.confidence, 0.0);
    }
    for e in &out.evidence {
        assert!(e.score.is_none_or(|s| (0.0..=1.0).contains(&s)));
    }
    for pair in out.candidates.windows(2) {
        assert!(
            pair[0].confidence > pair[1].confidence
                || (pair[0].confidence == pair[1].confidence && pair[0].row < pair[1].row)
        );
    }
}

#[test]
fn hostile_inputs_never_panic_and_outcomes_stay_well_formed() {
    let spec = all_strategies_spec();
    let n = spec.fields().len();
    let mut rng = XorShift(0xC0FF_EE00_1234_5678);
    let reference: Vec<(String, Vec<Option<String>>)> = (0..200)
        .map(|i| {
            (
                format!("r{i}"),
                (0..n + rng.below(3)).map(|_| hostile(&mut rng)).collect(),
            )
        })
        .collect();
    let index = ReferenceIndex::build(&spec, reference);
    let mut scratch = MatchScratch::default();
    for _ in 0..400 {
        let values: Vec<Option<String>> =
            (0..rng.below(n + 3)).map(|_| hostile(&mut rng)).collect();
        let doc: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
        let out = index.match_document(&spec, &doc, &mut scratch);
        check_outcome(&out, &index, n);
    }
    // An empty reference side.
    let empty = ReferenceIndex::build(&spec, Vec::new());
    assert!(empty.is_empty());
    let out = empty.match_document(&spec, &[Some("x")], &mut scratch);
    assert_eq!(out.decision, Decision::Unmatched);
}

/// Random invoice-like data: vendors with several invoices, noisy documents.
/// Reference rows as `ReferenceIndex::build` takes them.
type Rows = Vec<(String, Vec<Option<String>>)>;

fn synthetic(rng: &mut XorShift, n: usize) -> (Rows, Vec<Vec<Option<String>>>) {
    const STEMS: &[&str] = &[
        "Apex", "Kalo", "Bauer", "Müller", "Giraud", "Harbor", "Landmark",
    ];
    const KINDS: &[&str] = &["Logistics", "Freight", "Tools", "Spedition", "Labs"];
    const FORMS: &[&str] = &["Inc.", "GmbH", "LLC", "SAS", ""];
    let mut refs = Vec::new();
    let mut docs = Vec::new();
    for i in 0..n {
        let vendor = format!(
            "{} {} {}",
            rng.pick(STEMS),
            rng.pick(KINDS),
            rng.pick(FORMS)
        );
        let number = format!("INV-{:06}", 100 + i * (1 + rng.below(3)));
        let day = 1 + rng.below(28);
        let date = format!("2024-0{}-{day:02}", 1 + rng.below(9));
        let amount = format!("{}.{:02}", 10 + rng.below(5000), rng.below(100));
        let currency = rng.pick(&["USD", "EUR", "GBP"]).to_owned();
        let row = vec![
            Some(vendor.clone()),
            Some(number.clone()),
            Some(date.clone()),
            Some(amount.clone()),
            Some(currency.clone()),
        ];
        refs.push((format!("R{i}"), row));
        let maybe = |rng: &mut XorShift, v: String| if rng.below(8) == 0 { None } else { Some(v) };
        docs.push(vec![
            maybe(rng, vendor.to_uppercase()),
            maybe(rng, number.replace("INV-", "#")),
            maybe(rng, date),
            maybe(rng, amount),
            maybe(rng, currency),
        ]);
    }
    (refs, docs)
}

#[test]
fn outcomes_are_deterministic_whatever_the_scratch_has_seen() {
    let mut rng = XorShift(99);
    let (refs, docs) = synthetic(&mut rng, 300);
    let spec = invoice_spec(weighted_default());
    let index = ReferenceIndex::build(&spec, refs.clone());
    let again = ReferenceIndex::build(&spec, refs);
    let mut warm = MatchScratch::default();
    let mut other = MatchScratch::default();
    for values in &docs {
        let doc: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
        let first = index.match_document(&spec, &doc, &mut warm);
        // A scratch used with another index in between, and a fresh one.
        let _ = again.match_document(&spec, &doc, &mut other);
        let second = index.match_document(&spec, &doc, &mut other);
        let fresh = index.match_document(&spec, &doc, &mut MatchScratch::default());
        assert_eq!(first, second);
        assert_eq!(first, fresh);
        check_outcome(&first, &index, spec.fields().len());
    }
}

#[test]
fn clean_synthetic_copies_are_matched() {
    let mut rng = XorShift(7);
    let (refs, docs) = synthetic(&mut rng, 400);
    let spec =
        invoice_spec(weighted_new(Some(0.8), None, Some(0.0)).unwrap_or_else(|e| panic!("{e}")));
    let index = ReferenceIndex::build(&spec, refs);
    let mut scratch = MatchScratch::default();
    let mut right = 0;
    for (i, values) in docs.iter().enumerate() {
        let doc: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
        let out = index.match_document(&spec, &doc, &mut scratch);
        if out.matched == Some(RowIdx(u32::try_from(i).unwrap_or(u32::MAX))) {
            right += 1;
        }
        // The true row is always among the rows considered when its number is on the document.
        if doc.get(1).copied().flatten().is_some() {
            assert!(scratch
                .scored_rows()
                .contains(&RowIdx(u32::try_from(i).unwrap_or(0))));
        }
    }
    assert!(right >= 380, "{right} of 400");
}

/// The listed candidates carry exactly the confidence a naive weighted mean gives their row, and
/// no row the matcher considered has a higher naive confidence than the best.
#[test]
fn pruned_scoring_is_exact() {
    let mut rng = XorShift(2024);
    let (refs, docs) = synthetic(&mut rng, 250);
    let spec = invoice_spec(weighted_default());
    let index = ReferenceIndex::build(&spec, refs.clone());
    let weights: Vec<f64> = spec.fields().iter().map(|f| f.weight).collect();
    let naive = |doc: &[Option<&str>], row: usize| -> f64 {
        let (mut sum, mut total) = (0.0, 0.0);
        for (f, rule) in spec.fields().iter().enumerate() {
            let (Some(d), Some(r)) = (doc.get(f).copied().flatten(), refs[row].1[f].as_deref())
            else {
                continue;
            };
            let (Some(dp), Some(rp)) = (
                field::prepare(&rule.strategy, d),
                field::prepare(&rule.strategy, r),
            ) else {
                continue;
            };
            let s = field::similarity(&rule.strategy, &dp, &rp);
            let s = if matches!(
                rule.strategy,
                Strategy::Fuzzy {
                    kind: FuzzyKind::Name | FuzzyKind::Text,
                    ..
                }
            ) {
                f64::from(s as f32)
            } else {
                s
            };
            sum += weights[f] * s;
            total += weights[f];
        }
        if total > 0.0 {
            sum / total
        } else {
            0.0
        }
    };
    let mut scratch = MatchScratch::default();
    for values in docs.iter().take(120) {
        let doc: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
        let out = index.match_document(&spec, &doc, &mut scratch);
        for c in &out.candidates {
            let want = naive(&doc, c.row.0 as usize);
            assert!(
                (c.confidence - want).abs() < 1e-9,
                "{} vs {want}",
                c.confidence
            );
        }
        let best_considered = scratch
            .scored_rows()
            .iter()
            .map(|r| naive(&doc, r.0 as usize))
            .fold(0.0f64, f64::max);
        assert!((best_considered - out.confidence).abs() < 1e-9);
    }
}

#[test]
fn parallel_build_gives_the_same_index() {
    let mut rng = XorShift(5);
    let (refs, docs) = synthetic(&mut rng, 300);
    let spec = invoice_spec(weighted_default());
    let one = ReferenceIndex::build(&spec, refs.clone());
    let three = ReferenceIndex::build_parallel(&spec, refs, 3);
    let mut scratch = MatchScratch::default();
    for values in docs.iter().take(100) {
        let doc: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
        assert_eq!(
            one.match_document(&spec, &doc, &mut scratch),
            three.match_document(&spec, &doc, &mut scratch)
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Directed date windows and short texts
// ------------------------------------------------------------------------------------------------

#[rstest]
#[case::window(json!({"min_days": 1, "max_days": 21}), 1, 21, 21)]
#[case::negative(json!({"min_days": -10, "max_days": -2}), -10, -2, 10)]
#[case::straddling(json!({"min_days": -3, "max_days": 30.0}), -3, 30, 30)]
#[case::symmetric(json!({"days": 4}), -4, 4, 4)]
#[case::default(json!({}), 0, 0, 0)]
fn date_windows_compile(
    #[case] params: serde_json::Value,
    #[case] min: i32,
    #[case] max: i32,
    #[case] days: u32,
) {
    let spec = spec_of(&[mapping("d", "date", "date_range", params)]);
    assert_eq!(
        spec.fields()[0].strategy,
        Strategy::DateRange {
            days,
            order: None,
            min_days: min,
            max_days: max
        }
    );
}

#[test]
fn symmetric_windows_keep_their_index_key() {
    let by_days = spec_of(&[mapping("d", "date", "date_range", json!({"days": 5}))]);
    let by_bounds = spec_of(&[mapping(
        "d",
        "date",
        "date_range",
        json!({"min_days": -5, "max_days": 5}),
    )]);
    let directed = spec_of(&[mapping(
        "d",
        "date",
        "date_range",
        json!({"min_days": 0, "max_days": 5}),
    )]);
    assert_eq!(by_days.index_key(), by_bounds.index_key());
    assert!(by_days
        .index_key()
        .ends_with("date_range(days=5,order=either)"));
    assert_ne!(by_days.index_key(), directed.index_key());
}

/// Document date − reference date → score, for `min_days: 1, max_days: 21`.
#[rstest]
#[case::one_day_after("2024-03-02", "2024-03-01", 1.0)]
#[case::two_days_after("2024-03-03", "2024-03-01", 1.0 - 1.0 / 21.0)]
#[case::last_day("2024-03-22", "2024-03-01", 1.0 / 21.0)]
#[case::beyond("2024-03-23", "2024-03-01", 0.0)]
#[case::same_day("2024-03-01", "2024-03-01", 0.0)]
#[case::before("2024-02-28", "2024-03-01", 0.0)]
fn directed_date_window_scores(#[case] doc: &str, #[case] reference: &str, #[case] want: f64) {
    let params = json!({"min_days": 1, "max_days": 21});
    let got = field_score("date_range", params, doc, reference).unwrap_or(0.0);
    assert!(approx(got, want), "{doc} vs {reference}: {got} != {want}");
}

#[rstest]
#[case::equal("J B DALE CHQ", "J B DALE CHQ", 1.0)]
#[case::truncated("W INGERSOLL V D", "W INGERSOLL V DEUSEN payment CSH", 1.0)]
#[case::unrelated("C D L BGC", "P G money", 0.0)]
fn short_text_scores(#[case] doc: &str, #[case] reference: &str, #[case] want: f64) {
    let got = field_score("fuzzy", json!({"kind": "short_text"}), doc, reference).unwrap_or(0.0);
    assert!(approx(got, want), "{doc} vs {reference}: {got} != {want}");
}

/// Rows dated before the document, inside a dense window of near-identical dates and amounts:
/// the one whose memo starts like the document's wins, and a row dated after the document (out
/// of the directed window) never does.
#[test]
fn directed_window_and_short_text_pick_the_payment() {
    let spec = spec_of(&[
        mapping(
            "d",
            "date",
            "date_range",
            json!({"min_days": 1, "max_days": 21}),
        ),
        mapping("a", "amount", "numeric_range", json!({"tolerance_pct": 13})),
        weighted(
            mapping("m", "memo", "fuzzy", json!({"kind": "short_text"})),
            2.5,
        ),
    ]);
    let mut reference: Vec<(String, Vec<Option<String>>)> = (0..200)
        .map(|i| {
            (
                format!("N{i}"),
                vec![
                    Some(format!("2024-03-{:02}", 1 + i % 9)),
                    Some(format!("{}.00", 100 + i % 7)),
                    Some(format!("Q{} Z money", i % 13)),
                ],
            )
        })
        .collect();
    let row = |id: &str, date: &str, memo: &str| {
        (
            id.to_owned(),
            vec![Some(date.into()), Some("101.50".into()), Some(memo.into())],
        )
    };
    reference.push(row("AFTER", "2024-03-11", "J B DALE CHQ"));
    reference.push(row("SENT", "2024-03-08", "J B DALE money "));
    let index = ReferenceIndex::build(&spec, reference);
    let out = index.match_document(
        &spec,
        &[Some("2024-03-10"), Some("103.00"), Some("J B DALE CHQ")],
        &mut MatchScratch::default(),
    );
    let best = out.candidates.first().map(|c| index.row_id(c.row));
    assert_eq!(best, Some("SENT"), "{out:?}");
}

#[rstest]
#[case::empty(&[], 0, &[])]
#[case::one_day(&[9, 9], 9, &[0, 2])]
#[case::gap(&[5, 5, 7], 5, &[0, 2, 2, 3])]
#[case::too_wide(&[0, MAX_DAY_TABLE as i64], 0, &[])]
fn day_table_indexes_entries_by_day(
    #[case] days: &[i64],
    #[case] base: i64,
    #[case] starts: &[u32],
) {
    let entries: Vec<JointEntry> = days
        .iter()
        .enumerate()
        .map(|(i, &key)| JointEntry {
            key,
            other: [0, 0],
            row: i as u32,
        })
        .collect();
    assert_eq!(day_table(&entries), (base, starts.to_vec()));
}

#[rstest]
#[case(0)]
#[case(MAX_CANDIDATES + 1)]
fn the_number_of_candidates_is_bounded(#[case] k: usize) {
    let err = weighted_default()
        .with_candidates(k)
        .expect_err("out of range");
    assert_eq!(err.path, "candidates");
}

#[rstest]
#[case(1)]
#[case(TOP_CANDIDATES)]
#[case(12)]
fn an_outcome_keeps_as_many_candidates_as_asked_best_first(#[case] k: usize) {
    let mappings = [mapping(
        "v",
        "v",
        "numeric_range",
        json!({"tolerance_pct": 50}),
    )];
    let settings = weighted_default()
        .with_candidates(k)
        .unwrap_or_else(|e| panic!("{e}"));
    let spec = MatchSpec::compile(&mappings, settings, &["v"]).unwrap_or_else(|e| panic!("{e}"));
    // Fifteen amounts around the document's: every one is a plausible candidate.
    let amounts: Vec<String> = (0..15).map(|i| format!("{}.00", 100 + i)).collect();
    let values: Vec<Vec<Option<&str>>> = amounts.iter().map(|a| vec![Some(a.as_str())]).collect();
    let refs: Vec<&[Option<&str>]> = values.iter().map(Vec::as_slice).collect();
    let index = ReferenceIndex::build(&spec, rows(&refs));
    let out = index.match_document(&spec, &[Some("107.00")], &mut MatchScratch::default());
    assert_eq!(out.candidates.len(), k);
    assert_eq!(index.row_id(out.candidates[0].row), "R7");
    assert!(out
        .candidates
        .windows(2)
        .all(|w| w[0].confidence >= w[1].confidence));
}

/// The joint scan's prefix shortcut: wherever a text head alone answers, it answers what
/// comparing the texts does (random short ASCII and non-ASCII texts, with shared prefixes).
#[test]
fn text_heads_agree_with_the_texts() {
    let mut rng = XorShift(0x7E47);
    let alphabet = ['A', 'B', 'a', ' ', '0', 'é', '\0'];
    let word = |rng: &mut XorShift, n: usize| -> String {
        (0..n)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect()
    };
    let mut answered = 0;
    for _ in 0..50_000 {
        let k = rng.below(6);
        let common = word(&mut rng, k);
        let (n, m) = (rng.below(6), rng.below(6));
        let a = format!("{common}{}", word(&mut rng, n));
        let b = format!("{common}{}", word(&mut rng, m));
        let want = crate::similarity::common_prefix_chars(&a, &b);
        if let Some(got) = TextHead::shared(TextHead::of(&a), TextHead::of(&b)) {
            answered += 1;
            assert_eq!(got, want, "{a:?} / {b:?}");
        }
    }
    assert!(answered > 10_000, "the shortcut answered {answered} times");
}

fn near_hashes(key: &str) -> Vec<u64> {
    let mut hashes = Vec::new();
    for_each_near_hash(key, |h| hashes.push(h));
    hashes
}

/// Keys one deletion, insertion or replacement apart share a near hash; keys further apart do
/// not (here); keys outside the length bounds have none; multi-byte characters count as one.
#[rstest]
#[case("INV12345", "INV1245", true)]
#[case("INV12345", "INV123456", true)]
#[case("INV12345", "INV12845", true)]
#[case("INV12345", "INV21345", true)]
#[case("INV12345", "INV12345", true)]
#[case("ÅBC-1234", "ABC-1234", true)]
#[case("ÅBC-1234", "ÅBC1234", true)]
#[case("INV12345", "INV99945", false)]
#[case("INV12345", "INV1234567", false)]
#[case("ABCD", "WXYZ", false)]
#[case("PO-7788", "OP-8877", false)]
fn near_hashes_meet_within_one_edit(#[case] a: &str, #[case] b: &str, #[case] near: bool) {
    let (ha, hb) = (near_hashes(a), near_hashes(b));
    assert_eq!(ha.len(), a.chars().count() + 1);
    assert_eq!(ha.iter().any(|h| hb.contains(h)), near, "{a:?} / {b:?}");
}

#[test]
fn near_hashes_skip_keys_outside_the_length_bounds() {
    assert!(near_hashes("abc").is_empty());
    assert!(near_hashes(&"x".repeat(NEAR_MAX_CHARS + 1)).is_empty());
    // The longest key of four-byte characters is hashed whole.
    assert_eq!(
        near_hashes(&"😀".repeat(NEAR_MAX_CHARS)).len(),
        NEAR_MAX_CHARS + 1
    );
}

/// The bucketed near-hash lookup answers as a filter over all entries would: every entry of the
/// hash (or `cap + 1` of them), none of another, whatever the hashes' spread (all in one bucket,
/// at the ends of the range, none at all).
#[rstest]
#[case::spread(0)]
#[case::one_bucket(1)]
#[case::extremes(2)]
fn near_keys_find_every_entry_of_a_hash(#[case] shape: u64) {
    let mut rng = XorShift(0x5EED_0000 + shape);
    for n in [0usize, 1, 2, 7, 100, 3_000] {
        let entries: Vec<(u64, u32)> = (0..n)
            .map(|i| {
                let h = match shape {
                    0 => rng.next() % 512 * (u64::MAX / 512),
                    1 => 42 + rng.next() % 5,
                    _ => [0, 1, u64::MAX - 1, u64::MAX][i % 4],
                };
                (h, u32::try_from(i % 13).unwrap_or(0))
            })
            .collect();
        let near = NearKeys::build(entries.clone());
        let mut probes: Vec<u64> = entries.iter().map(|e| e.0).collect();
        probes.extend([0, 1, 41, 47, u64::MAX, u64::MAX / 2, rng.next()]);
        for h in probes {
            let mut want: Vec<(u64, u32)> = entries.iter().copied().filter(|e| e.0 == h).collect();
            want.sort_unstable();
            want.dedup();
            assert_eq!(near.hits(h, usize::MAX), &want[..], "n {n} hash {h}");
            let capped = near.hits(h, 2);
            assert_eq!(capped, &want[..want.len().min(3)], "n {n} hash {h}");
        }
    }
}
