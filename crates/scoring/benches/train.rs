//! Criterion benchmarks of the probabilistic model's two run-wide steps, on synthetic data
//! generated here (no file I/O):
//!
//! * `train()` (EM) on 100,000 candidate pairs — 10,000 documents × 10 pairs, 6 fields, levels
//!   drawn from a known model — and 200,000 random pairs, on one thread and on two;
//! * `one_to_one()` (shortest augmenting paths) on 45,000 documents × 5 candidates, probabilistic and weighted;
//!   and on small clusters of documents that want the same rows more than there are rows.
//!
//! `cargo bench -p concord-scoring --bench train` (about a minute).

// A benchmark: it stops on a bad fixture (expect) and casts small generated numbers (f32 frequencies by design).
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::expect_used
)]

use std::hint::black_box;
use std::time::Duration;

use concord_scoring::index::RowIdx;
use concord_scoring::matcher::assign::{one_to_one, DocumentCandidates, RankedRow};
use concord_scoring::matcher::{
    train, FieldMapping, MatchSettings, MatchSpec, ScoringMode, TrainingOptions, TrainingSet,
};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// A number in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn draw(&mut self, probabilities: &[f64]) -> usize {
        let x = self.unit();
        let mut acc = 0.0;
        for (i, p) in probabilities.iter().enumerate() {
            acc += p;
            if x < acc {
                return i;
            }
        }
        probabilities.len() - 1
    }
}

/// Six fields of every kind of levels (5, 6, 4, 5, 2, 2 levels).
fn spec() -> MatchSpec {
    let m = |source: &str, strategy: &str, params: serde_json::Value| FieldMapping {
        source: source.to_owned(),
        target: source.to_owned(),
        strategy: strategy.to_owned(),
        params: params.as_object().cloned().unwrap_or_default(),
        weight: None,
    };
    let mappings = [
        m("vendor", "fuzzy", json!({"kind": "name"})),
        m("number", "fuzzy", json!({"kind": "identifier"})),
        m("date", "date_range", json!({"days": 7})),
        m("amount", "numeric_range", json!({"tolerance_pct": 5})),
        m("currency", "exact", json!({"normalize": "currency"})),
        m("po", "exact", json!({"normalize": "identifier"})),
    ];
    let columns: Vec<&str> = mappings.iter().map(|m| m.target.as_str()).collect();
    MatchSpec::compile(&mappings, MatchSettings::default(), &columns).expect("spec")
}

/// A known model per field: m falls and u rises over the levels.
struct TrueField {
    m: Vec<f64>,
    u_candidates: Vec<f64>,
    u_random: Vec<f64>,
}

fn normalised(raw: Vec<f64>) -> Vec<f64> {
    let sum: f64 = raw.iter().sum();
    raw.into_iter().map(|p| p / sum).collect()
}

fn true_model(spec: &MatchSpec) -> Vec<TrueField> {
    spec.fields()
        .iter()
        .map(|f| {
            let n = f.levels.len() as i32;
            TrueField {
                m: normalised((0..n).map(|l| 4f64.powi(-l)).collect()),
                u_candidates: normalised((0..n).map(|l| 2f64.powi(l)).collect()),
                u_random: normalised((0..n).map(|l| 8f64.powi(l)).collect()),
            }
        })
        .collect()
}

fn draw_pair(
    rng: &mut Rng,
    fields: &[TrueField],
    pick: impl Fn(&TrueField) -> &[f64],
) -> Vec<Option<(usize, f32)>> {
    fields
        .iter()
        .map(|f| {
            // 5% missing; the reference value's frequency 1 to 256.
            (rng.below(20) != 0).then(|| (rng.draw(pick(f)), rng.uniform(0.0, 8.0) as f32))
        })
        .collect()
}

/// 10,000 documents × 10 candidate pairs (a match among them with probability 0.85) and
/// 200,000 random pairs.
fn training_set(spec: &MatchSpec) -> TrainingSet {
    let fields = true_model(spec);
    let mut rng = Rng(0x7EA1_2024);
    let mut set = TrainingSet::new(spec);
    for _ in 0..10_000 {
        set.begin_document();
        let matched = (rng.unit() < 0.85).then(|| rng.below(10));
        for k in 0..10u32 {
            let comparison = if matched == Some(k as usize) {
                draw_pair(&mut rng, &fields, |f| &f.m)
            } else {
                draw_pair(&mut rng, &fields, |f| &f.u_candidates)
            };
            set.push_pair(RowIdx(k), &comparison, None);
        }
        for _ in 0..20 {
            let comparison = draw_pair(&mut rng, &fields, |f| &f.u_random);
            set.push_random_pair(&comparison);
        }
    }
    set.set_reference_rows(50_000);
    set
}

fn bench_train(c: &mut Criterion) {
    let spec = spec();
    let set = training_set(&spec);
    assert_eq!(set.pairs(), 100_000);
    assert_eq!(set.random_pairs(), 200_000);
    let options = TrainingOptions::default();
    let model = train(&spec, &set, &options);
    let r = &model.training;
    eprintln!(
        "train: {} pairs, {} random pairs: {} iterations, converged {}, last change {:.1e}, λ {:.3}",
        r.pairs, r.random_pairs, r.iterations, r.converged, r.last_change, model.lambda
    );
    let mut g = c.benchmark_group("train");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("em_10k_docs_x_10_pairs_6_fields_200k_random", |b| {
        b.iter(|| black_box(train(&spec, &set, &options)))
    });
    // The same on two threads (the worker trains on every core): the same model.
    let two = TrainingOptions {
        threads: 2,
        ..options
    };
    g.bench_function(
        "em_10k_docs_x_10_pairs_6_fields_200k_random_2_threads",
        |b| b.iter(|| black_box(train(&spec, &set, &two))),
    );
    g.finish();
}

/// 45,000 documents × 5 candidates over 50,000 rows: 90% of the documents have their row
/// (strong evidence) among candidates that are its neighbours, which other documents also
/// propose; the others only neighbours, one of them sometimes strong (a sibling invoice).
fn assignment_input(scoring: ScoringMode) -> Vec<DocumentCandidates> {
    let mut rng = Rng(0xA55_16A7);
    let rows = 50_000usize;
    let value = |rng: &mut Rng, strong: bool| match (scoring, strong) {
        (ScoringMode::Probabilistic, true) => rng.uniform(15.0, 35.0),
        (ScoringMode::Probabilistic, false) => rng.uniform(-15.0, 12.0),
        (ScoringMode::Weighted, true) => rng.uniform(0.85, 1.0),
        (ScoringMode::Weighted, false) => rng.uniform(0.3, 0.9),
    };
    (0..45_000usize)
        .map(|i| {
            let home = i * rows / 45_000;
            let has_row = rng.below(10) != 0;
            let mut candidates: Vec<RankedRow> = Vec::with_capacity(5);
            if has_row {
                let v = value(&mut rng, true);
                candidates.push(RankedRow {
                    row: home as u32,
                    value: v,
                    candidate_weight: v,
                });
            }
            while candidates.len() < 5 {
                let offset = 1 + rng.below(20);
                let row = if rng.below(2) == 0 {
                    home.saturating_sub(offset)
                } else {
                    (home + offset).min(rows - 1)
                } as u32;
                if candidates.iter().any(|c| c.row == row) {
                    continue;
                }
                let strong = !has_row && candidates.is_empty() && rng.below(3) == 0;
                let v = value(&mut rng, strong);
                candidates.push(RankedRow {
                    row,
                    value: v,
                    candidate_weight: v,
                });
            }
            DocumentCandidates {
                rows: candidates,
                considered: 10,
            }
        })
        .collect()
}

/// `clusters` groups of 3 identical documents that each want the same 2 identical rows.
fn over_demanded(clusters: u32) -> Vec<DocumentCandidates> {
    (0..clusters)
        .flat_map(|c| {
            (0..3).map(move |_| DocumentCandidates {
                rows: (0..2)
                    .map(|r| RankedRow {
                        row: 2 * c + r,
                        value: 30.0,
                        candidate_weight: 30.0,
                    })
                    .collect(),
                considered: 10,
            })
        })
        .collect()
}

fn bench_one_to_one(c: &mut Criterion) {
    let mut g = c.benchmark_group("one_to_one");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for scoring in [ScoringMode::Probabilistic, ScoringMode::Weighted] {
        let documents = assignment_input(scoring);
        let settings = MatchSettings::default().with_scoring(scoring);
        let assigned = one_to_one(&documents, &settings, 0.9);
        let matched = assigned.iter().filter(|a| a.matched.is_some()).count();
        eprintln!(
            "one_to_one {}: {} documents, {matched} matched",
            scoring.name(),
            documents.len()
        );
        g.bench_function(format!("45k_docs_x_5_{}", scoring.name()), |b| {
            b.iter(|| black_box(one_to_one(&documents, &settings, 0.9)))
        });
    }
    // 150 documents: 50 clusters of 3 identical documents over 2 identical rows.
    let documents = over_demanded(50);
    let settings = MatchSettings::default();
    g.bench_function("150_docs_in_50_over_demanded_clusters", |b| {
        b.iter(|| black_box(one_to_one(&documents, &settings, 0.9)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = bench_train, bench_one_to_one
}
criterion_main!(benches);
