//! Criterion benchmarks of data-policy resolution: a 10-field policy (two lookups, a date, two
//! numbers, a compute, a regex, a format, a boolean with a default, a direct string) resolved
//! over one document, and the policy's compilation.
//!
//! `cargo bench -p concord-scoring --bench policy -- --quick`. The service's budget is
//! 1,000,000 field values (100,000 documents × 10 fields) in 60 s on 2 cores, i.e. about
//! 1.2 ms per document per core for everything; the core's share should be microseconds.

// A benchmark: it stops on a bad fixture (panic).
#![allow(clippy::panic)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use concord_scoring::lookup::{LookupEntry, LookupIndex};
use concord_scoring::policy::{CompiledPolicy, EvalLimits, PolicyDocument, ResolutionStatus};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;

fn entry(code: &str, label: &str, aliases: &[&str]) -> LookupEntry {
    LookupEntry {
        code: code.to_owned(),
        label: label.to_owned(),
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
    }
}

fn tables() -> HashMap<String, LookupIndex> {
    let countries = LookupIndex::build(vec![
        entry("DE", "Germany", &["Deutschland", "Allemagne"]),
        entry("AT", "Austria", &["Österreich"]),
        entry("FR", "France", &["Frankreich"]),
        entry("NL", "Netherlands", &["Nederland", "Holland"]),
        entry("XH", "Holland Islands", &["Holland"]), // makes "Holand" ambiguous: it waits
        entry("US", "United States", &["USA", "United States of America"]),
        entry("GB", "United Kingdom", &["UK", "Great Britain"]),
        entry("CH", "Switzerland", &["Schweiz", "Suisse"]),
        entry("IT", "Italy", &["Italia", "Italien"]),
    ]);
    let currencies = LookupIndex::build(vec![
        entry("EUR", "Euro", &["€", "euros"]),
        entry("USD", "US Dollar", &["US$", "dollar"]),
        entry("GBP", "Pound Sterling", &["£", "pound"]),
        entry("CHF", "Swiss Franc", &["Fr.", "franken"]),
    ]);
    HashMap::from([
        ("country".to_owned(), countries),
        ("currency".to_owned(), currencies),
    ])
}

fn policy() -> CompiledPolicy {
    let doc: PolicyDocument = match serde_json::from_value(json!({
      "fields": [
        {"field_key": "country", "type": "code"},
        {"field_key": "currency", "type": "code"},
        {"field_key": "invoice_date", "type": "date"},
        {"field_key": "amount", "type": "number"},
        {"field_key": "tax", "type": "number"},
        {"field_key": "gross", "type": "number"},
        {"field_key": "paid", "type": "boolean"},
        {"field_key": "vendor", "type": "string"},
        {"field_key": "ref", "type": "string"},
        {"field_key": "po", "type": "code"}
      ],
      "rules": [
        {"rule_type": "lookup", "target_field": "country", "config": {"table": "country", "source_field": "country", "fallback": "llm"}},
        {"rule_type": "lookup", "target_field": "currency", "config": {"table": "currency", "source_field": "currency"}},
        {"rule_type": "default", "target_field": "currency", "config": {"value": "EUR"}},
        {"rule_type": "parse_date", "target_field": "invoice_date", "config": {"source_field": "date", "order": "dmy"}},
        {"rule_type": "parse_number", "target_field": "amount", "config": {"source_field": "amount", "decimal_mark": ","}},
        {"rule_type": "parse_number", "target_field": "tax", "config": {"source_field": "tax", "decimal_mark": ","}},
        {"rule_type": "compute", "target_field": "gross", "config": {"expression": "if tax == () { amount * 1.19 } else { amount + tax }"}},
        {"rule_type": "direct", "target_field": "paid", "config": {"source_field": "paid"}},
        {"rule_type": "default", "target_field": "paid", "config": {"value": false}},
        {"rule_type": "direct", "target_field": "vendor", "config": {"source_field": "vendor_name"}},
        {"rule_type": "regex_extract", "target_field": "ref", "config": {"source_field": "memo", "pattern": "INV-(\\d+)"}},
        {"rule_type": "format", "target_field": "ref", "config": {"template": "{vendor}/{ref}", "case": "upper"}},
        {"rule_type": "regex_extract", "target_field": "po", "config": {"source_field": "memo", "pattern": "PO[- ]?(?<num>\\d{4,})", "group": "num"}}
      ]
    })) {
        Ok(doc) => doc,
        Err(e) => panic!("policy: {e}"),
    };
    let known = |name: &str| name == "country" || name == "currency";
    match CompiledPolicy::compile(&doc, &known) {
        Ok(p) => p,
        Err(e) => panic!("compile: {e:?}"),
    }
}

fn documents() -> Vec<HashMap<String, String>> {
    let countries = [
        "Deutschland",
        "DE",
        "Frankreich",
        "United Kingdom",
        "Holand",
        "Schweiz",
    ];
    let currencies = ["€", "EUR", "US$", "", "franken", "pound"];
    let dates = [
        "14.03.2024",
        "2024-03-14",
        "03/04/2024",
        "March 4, 2024",
        "1.2.2024",
        "",
    ];
    let amounts = ["1.234,50", "99,90", "12", "1 000,00", "EUR 5,50", "n/a"];
    (0..64)
        .map(|i: usize| {
            let pick = |list: &[&str], k: usize| list[(i * 7 + k) % list.len()].to_owned();
            HashMap::from([
                ("country".to_owned(), pick(&countries, 0)),
                ("currency".to_owned(), pick(&currencies, 1)),
                ("date".to_owned(), pick(&dates, 2)),
                ("amount".to_owned(), pick(&amounts, 3)),
                (
                    "tax".to_owned(),
                    if i.is_multiple_of(2) {
                        "19,00".into()
                    } else {
                        String::new()
                    },
                ),
                (
                    "paid".to_owned(),
                    if i.is_multiple_of(3) {
                        "ja".into()
                    } else {
                        "no".into()
                    },
                ),
                ("vendor_name".to_owned(), format!("Vendor {i} GmbH")),
                (
                    "memo".to_owned(),
                    format!("Payment INV-{:05} for PO-{:06}", i * 13, i * 977),
                ),
            ])
        })
        .collect()
}

fn bench_policy(c: &mut Criterion) {
    let policy = policy();
    let tables = tables();
    let docs = documents();
    let limits = EvalLimits::default();
    // What the benchmark resolves: most values resolve, some wait or stay unresolved.
    let mut counts = [0usize; 3];
    for doc in &docs {
        for r in policy.resolve(doc, &tables, &limits) {
            counts[match r.status {
                ResolutionStatus::Resolved => 0,
                ResolutionStatus::Unresolved => 1,
                ResolutionStatus::Waiting => 2,
            }] += 1;
        }
    }
    println!(
        "policy bench documents: {} resolved, {} unresolved, {} waiting field values",
        counts[0], counts[1], counts[2]
    );
    let mut group = c.benchmark_group("policy");
    let mut i = 0usize;
    group.bench_function("resolve_document_10_fields", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let doc = &docs[i % docs.len()];
            black_box(policy.resolve(black_box(doc), &tables, &limits))
        })
    });
    group.bench_function("compile_10_fields", |b| {
        b.iter(|| black_box(self::policy()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench_policy
}
criterion_main!(benches);
