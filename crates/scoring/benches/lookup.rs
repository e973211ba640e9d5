//! Criterion benchmarks of the lookup cascade on synthetic tables: a small one (40 codes, about
//! 120 names: every name scanned) and a big one (250 codes, about 7,500 names, like a built-in
//! country table with names in 30 languages: searched through the candidate index), each
//! resolving 1,000 values (a third verbatim, a third with one typo, a third unknown).
//!
//! `cargo bench -p concord-scoring --bench lookup -- --quick`. The service's budget is 1,000,000
//! values in 60 s end to end: a resolution should take a few microseconds.

// A benchmark: it casts small generated numbers, which the casts carry exactly.
#![allow(clippy::cast_possible_truncation)]

use std::hint::black_box;
use std::time::Duration;

use concord_scoring::lookup::{LookupEntry, LookupIndex, LookupParams};
use criterion::{criterion_group, criterion_main, Criterion};

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "za", "be", "do", "fu", "gi", "ha", "ju", "ko",
    "le", "mo", "ni", "po", "qua", "ri", "se", "tu", "wa", "xe", "yo", "zu",
];

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }

    fn word(&mut self, syllables: usize) -> String {
        (0..syllables)
            .map(|_| SYLLABLES[self.below(SYLLABLES.len())])
            .collect()
    }
}

/// `codes` entries, each with a two-word label and `names - 1` more names of one to three words
/// (some sharing the generic words `republic`, `of`, `the`).
fn table(rng: &mut Rng, codes: usize, names: usize) -> (LookupIndex, Vec<String>) {
    let mut entries = Vec::new();
    let mut labels = Vec::new();
    for c in 0..codes {
        let label = format!("{} {}", rng.word(3), rng.word(2));
        let aliases = (1..names)
            .map(|k| match k % 3 {
                0 => format!("Republic of the {}", rng.word(3)),
                1 => rng.word(4),
                _ => format!("{} {}", rng.word(2), rng.word(3)),
            })
            .collect();
        labels.push(label.clone());
        entries.push(LookupEntry {
            code: format!("C{c:04}"),
            label,
            aliases,
        });
    }
    (LookupIndex::build(entries), labels)
}

/// 1,000 values: labels verbatim, labels with one letter replaced, and unknown names.
fn values(rng: &mut Rng, labels: &[String]) -> Vec<String> {
    (0..1_000)
        .map(|i| {
            let label = &labels[rng.below(labels.len())];
            match i % 3 {
                0 => label.clone(),
                1 => {
                    let mut chars: Vec<char> = label.chars().collect();
                    let at = rng.below(chars.len());
                    chars[at] = 'q';
                    chars.into_iter().collect()
                }
                _ => format!("{} {}", rng.word(3), rng.word(2)),
            }
        })
        .collect()
}

fn bench_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    group.measurement_time(Duration::from_secs(5));
    let params = LookupParams::default();
    for (name, codes, names) in [("small_40x3", 40, 3), ("big_250x30", 250, 30)] {
        let mut rng = Rng(0x5EED_0000_0000_0001);
        let (index, labels) = table(&mut rng, codes, names);
        let raws = values(&mut rng, &labels);
        group.bench_function(format!("resolve_1000_{name}"), |b| {
            b.iter(|| {
                for raw in &raws {
                    black_box(index.resolve(black_box(raw), params));
                }
            })
        });
    }
    let mut rng = Rng(7);
    let entries: Vec<LookupEntry> = (0..250)
        .map(|c| LookupEntry {
            code: format!("C{c:04}"),
            label: rng.word(3),
            aliases: (0..30).map(|_| rng.word(4)).collect(),
        })
        .collect();
    group.bench_function("build_250x30", |b| {
        b.iter(|| black_box(LookupIndex::build(black_box(entries.clone()))))
    });
    group.finish();
}

criterion_group!(benches, bench_lookup);
criterion_main!(benches);
