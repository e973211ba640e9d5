//! Criterion benchmarks of the scoring core on synthetic data generated here (no file I/O):
//! parsers, similarity functions, the reference index build and `match_document`.
//!
//! `cargo bench -p concord-scoring -- --quick` runs them in about a minute.

// A benchmark: it stops on a bad fixture (panic) and casts small generated numbers exactly.
#![allow(clippy::cast_possible_truncation, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use concord_scoring::matcher::{
    FieldMapping, MatchScratch, MatchSettings, MatchSpec, ReferenceIndex,
};
use concord_scoring::parse::{parse_amount, parse_date};
use concord_scoring::similarity::{identifier_similarity, org_name_similarity, text_similarity};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

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
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }
}

const STEMS: &[&str] = &[
    "Apex",
    "Kalo",
    "Bauer",
    "Müller",
    "Giraud",
    "Harbor",
    "Landmark",
    "Perrin",
    "Brown",
    "Kelly",
    "Trasporti",
    "Åberg",
    "Woźniak",
    "Lefèvre",
    "Nordic",
    "Summit",
];
const KINDS: &[&str] = &[
    "Logistics",
    "Freight",
    "Tools",
    "Spedition",
    "Laboratories",
    "Security Services",
    "Technologies",
    "Instruments",
    "Consulting",
    "Messtechnik",
];
const FORMS: &[&str] = &["Inc.", "GmbH", "LLC", "SAS", "Ltd", "S.r.l.", "AB", ""];

/// `n` ledger rows (vendor, number, date, amount, currency) and a noisy document for each.
#[allow(clippy::type_complexity)]
fn ledger(n: usize) -> (Vec<(String, Vec<Option<String>>)>, Vec<Vec<Option<String>>>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let vendors: Vec<String> = (0..(n / 8).max(1))
        .map(|_| {
            format!(
                "{} {} {}",
                rng.pick(STEMS),
                rng.pick(KINDS),
                rng.pick(FORMS)
            )
        })
        .collect();
    let mut refs = Vec::with_capacity(n);
    let mut docs = Vec::with_capacity(n);
    for i in 0..n {
        let vendor = vendors[rng.below(vendors.len())].clone();
        let number = format!("INV-{:06}", 1000 + i);
        let (month, day) = (1 + rng.below(12), 1 + rng.below(28));
        let date = format!("2024-{month:02}-{day:02}");
        let cents = 500 + rng.below(500_000);
        let amount = format!("{}.{:02}", cents / 100, cents % 100);
        let currency = rng.pick(&["USD", "EUR", "GBP"]).to_owned();
        refs.push((
            format!("R{i}"),
            vec![
                Some(vendor.clone()),
                Some(number.clone()),
                Some(date),
                Some(amount.clone()),
                Some(currency.clone()),
            ],
        ));
        docs.push(vec![
            Some(vendor.to_uppercase().replace('.', "")),
            Some(number.replace("INV-", "#")),
            Some(format!("{day:02}/{month:02}/2024")),
            Some(format!("{} {currency}", amount.replace('.', ","))),
            Some(currency),
        ]);
    }
    (refs, docs)
}

fn spec() -> MatchSpec {
    let m = |source: &str, strategy: &str, params: serde_json::Value, weight: f64| FieldMapping {
        source: source.to_owned(),
        target: source.to_owned(),
        strategy: strategy.to_owned(),
        params: params.as_object().cloned().unwrap_or_default(),
        weight: Some(weight),
    };
    let mappings = [
        m("vendor", "fuzzy", serde_json::json!({"kind": "name"}), 2.0),
        m(
            "number",
            "fuzzy",
            serde_json::json!({"kind": "identifier"}),
            3.0,
        ),
        m("date", "date_range", serde_json::json!({"days": 7}), 1.0),
        m(
            "amount",
            "numeric_range",
            serde_json::json!({"tolerance_pct": 5}),
            2.0,
        ),
        m(
            "currency",
            "exact",
            serde_json::json!({"normalize": "currency"}),
            0.5,
        ),
    ];
    let columns = ["vendor", "number", "date", "amount", "currency"];
    match MatchSpec::compile(&mappings, MatchSettings::default(), &columns) {
        Ok(spec) => spec,
        Err(e) => panic!("spec: {e}"),
    }
}

fn parsers(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for raw in ["2024-03-14", "14.03.2024", "03/04/2024", "March 14, 2024"] {
        g.bench_with_input(BenchmarkId::new("date", raw), raw, |b, raw| {
            b.iter(|| parse_date(black_box(raw), None))
        });
    }
    for raw in ["1234.50", "1.234,50 EUR", "$1,234.50", "(1 234,50 €)"] {
        g.bench_with_input(BenchmarkId::new("amount", raw), raw, |b, raw| {
            b.iter(|| parse_amount(black_box(raw)))
        });
    }
    g.finish();
}

fn similarity(c: &mut Criterion) {
    let mut g = c.benchmark_group("similarity");
    g.bench_function("org_name", |b| {
        b.iter(|| {
            org_name_similarity(
                black_box("Apex Logistcs Inc"),
                black_box("APEX LOGISTICS, Inc."),
            )
        })
    });
    g.bench_function("text", |b| {
        b.iter(|| text_similarity(black_box("apex logistics intl"), black_box("apex logistcs")))
    });
    g.bench_function("identifier", |b| {
        b.iter(|| identifier_similarity(black_box("INV-0O0I23"), black_box("INV-000124")))
    });
    g.finish();
}

fn index_and_match(c: &mut Criterion) {
    let spec = spec();
    let (refs, docs) = ledger(20_000);
    let mut g = c.benchmark_group("matcher");
    g.sample_size(10);
    g.bench_function("build_20k", |b| {
        b.iter(|| ReferenceIndex::build(&spec, black_box(refs.clone())))
    });
    let index = ReferenceIndex::build(&spec, refs);
    let docs: Vec<Vec<Option<&str>>> = docs
        .iter()
        .take(1_000)
        .map(|d| d.iter().map(|v| v.as_deref()).collect())
        .collect();
    g.sample_size(20);
    g.bench_function("match_1k_docs_vs_20k", |b| {
        let mut scratch = MatchScratch::default();
        b.iter(|| {
            for doc in &docs {
                black_box(index.match_document(&spec, doc, &mut scratch));
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = parsers, similarity, index_and_match
}
criterion_main!(benches);
