//! Value-resolution harness for the lookup cascade.
//!
//! ```text
//! cargo run --release -p concord-scoring --example bench_lookup -- \
//!     [DATA_DIR=/work/shared/bench/data/values_public] [--threshold 0.85] [--margin 0.05] [--errors]
//!     [--variants K] [--standard]
//! ```
//!
//! Reads `values.csv` (`value_id, field, raw_value, canonical`) and `vocab_{field}.csv`
//! (`code, label, aliases` joined with `|`), resolves every value against its field's table with
//! the default (or given) parameters, and prints the figures of `score_values.py`: overall
//! accuracy (right code or right abstention), resolvable accuracy / wrong / unresolved, correct
//! abstain / false resolve on the no-canonical values, wrong-resolution rate, per field and
//! overall, plus values per second (resolution only, one thread). `--errors` lists the values
//! decided wrongly.
//!
//! `--standard` builds the tables from the built-in standard tables of `concord-vocabularies`
//! (`iso-3166-1` for country, `iso-4217` for currency, `unece-rec20` for uom) instead of the
//! `vocab_{field}.csv` files.
//!
//! `--variants K` is a speed check of big tables (built-in tables with names in many languages):
//! every alias is added K-1 more times with its vowels shifted (`Germany`, `Gırmuny`,
//! `Gormeny`, ...), the country table growing from about 1,200 to about K × 1,200 aliases. The
//! figures then measure the speed only: the shifted names make some values ambiguous.

// A benchmark harness: counts as f64 for its figures (exact at these sizes).
#![allow(clippy::cast_precision_loss)]

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use concord_scoring::lookup::{LookupEntry, LookupIndex, LookupOutcome, LookupParams};

const FIELDS: [&str; 3] = ["country", "currency", "uom"];

struct Value {
    field: String,
    raw: String,
    canonical: String,
}

fn read_vocab(path: &Path) -> Result<Vec<LookupEntry>, Box<dyn Error>> {
    let mut rdr = csv::Reader::from_path(path)?;
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec?;
        let get = |i: usize| rec.get(i).unwrap_or_default().to_owned();
        out.push(LookupEntry {
            code: get(0),
            label: get(1),
            aliases: get(2).split('|').map(str::to_owned).collect(),
        });
    }
    Ok(out)
}

/// The built-in standard table of a field, as lookup entries.
fn standard_entries(field: &str) -> Result<Vec<LookupEntry>, Box<dyn Error>> {
    let name = match field {
        "country" => "iso-3166-1",
        "currency" => "iso-4217",
        "uom" => "unece-rec20",
        other => return Err(format!("no standard table for field {other}").into()),
    };
    let entries = concord_vocabularies::entries(name).ok_or("unknown standard table")?;
    Ok(entries
        .iter()
        .map(|e| LookupEntry {
            code: e.code.clone(),
            label: e.label.clone(),
            aliases: e.aliases.clone(),
        })
        .collect())
}

/// `name` with every ASCII vowel replaced by the one `k` places further in `aeiouy`.
fn shift_vowels(name: &str, k: usize) -> String {
    const VOWELS: [char; 6] = ['a', 'e', 'i', 'o', 'u', 'y'];
    name.chars()
        .map(
            |c| match VOWELS.iter().position(|&v| v == c.to_ascii_lowercase()) {
                Some(p) => VOWELS[(p + k) % VOWELS.len()],
                None => c,
            },
        )
        .collect()
}

fn read_values(path: &Path) -> Result<Vec<Value>, Box<dyn Error>> {
    let mut rdr = csv::Reader::from_path(path)?;
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec?;
        let get = |i: usize| rec.get(i).unwrap_or_default().to_owned();
        out.push(Value {
            field: get(1),
            raw: get(2),
            canonical: get(3).trim().to_owned(),
        });
    }
    Ok(out)
}

#[derive(Default, Clone, Copy)]
struct Counts {
    n: usize,
    resolvable: usize,
    right: usize,
    res_wrong: usize,
    res_unresolved: usize,
    no_canonical: usize,
    abstain_ok: usize,
    predicted: usize,
}

impl Counts {
    fn add(&mut self, canonical: &str, predicted: &str) {
        self.n += 1;
        if !predicted.is_empty() {
            self.predicted += 1;
        }
        if canonical.is_empty() {
            self.no_canonical += 1;
            if predicted.is_empty() {
                self.abstain_ok += 1;
            }
        } else {
            self.resolvable += 1;
            if predicted == canonical {
                self.right += 1;
            } else if predicted.is_empty() {
                self.res_unresolved += 1;
            } else {
                self.res_wrong += 1;
            }
        }
    }

    fn row(&self, name: &str) -> String {
        let share = |a: usize, b: usize| {
            if b == 0 {
                "   n/a".to_owned()
            } else {
                format!("{:.4}", a as f64 / b as f64)
            }
        };
        let wrong = self.predicted - self.right;
        format!(
            "{name:<10} {:>5} {:>8} {:>9} {:>9} {:>10} {:>9} {:>8} {:>10} {:>10} {:>9}",
            self.n,
            share(self.right, self.resolvable),
            share(self.res_wrong, self.resolvable),
            share(self.res_unresolved, self.resolvable),
            share(self.abstain_ok, self.no_canonical),
            share(self.no_canonical - self.abstain_ok, self.no_canonical),
            share(self.right + self.abstain_ok, self.n),
            share(wrong, self.n),
            share(self.n - self.predicted, self.n),
            share(self.right, self.predicted),
        )
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut dir = PathBuf::from("/work/shared/bench/data/values_public");
    let mut params = LookupParams::default();
    let mut show_errors = false;
    let mut variants = 1usize;
    let mut standard = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threshold" => params.threshold = args.next().ok_or("--threshold N")?.parse()?,
            "--margin" => params.margin = args.next().ok_or("--margin N")?.parse()?,
            "--errors" => show_errors = true,
            "--standard" => standard = true,
            "--variants" => variants = args.next().ok_or("--variants K")?.parse()?,
            other => dir = PathBuf::from(other),
        }
    }

    let t_build = Instant::now();
    let mut tables = BTreeMap::new();
    for field in FIELDS {
        let mut entries = if standard {
            standard_entries(field)?
        } else {
            read_vocab(&dir.join(format!("vocab_{field}.csv")))?
        };
        for e in &mut entries {
            let names: Vec<String> = std::iter::once(&e.label)
                .chain(&e.aliases)
                .cloned()
                .collect();
            for k in 1..variants {
                e.aliases.extend(names.iter().map(|n| shift_vowels(n, k)));
            }
        }
        let n_aliases: usize = entries.iter().map(|e| e.aliases.len() + 1).sum();
        if variants > 1 {
            println!("{field}: {} entries, {n_aliases} names", entries.len());
        }
        tables.insert(field.to_owned(), LookupIndex::build(entries));
    }
    let build_s = t_build.elapsed().as_secs_f64();
    let values = read_values(&dir.join("values.csv"))?;

    let t = Instant::now();
    let outcomes: Vec<Option<LookupOutcome>> = values
        .iter()
        .map(|v| tables.get(&v.field).map(|t| t.resolve(&v.raw, params)))
        .collect();
    let secs = t.elapsed().as_secs_f64();

    let mut all = Counts::default();
    let mut by_field: BTreeMap<String, Counts> = BTreeMap::new();
    for (v, o) in values.iter().zip(&outcomes) {
        let predicted = o.as_ref().and_then(|o| o.code.as_deref()).unwrap_or("");
        all.add(&v.canonical, predicted);
        by_field
            .entry(v.field.clone())
            .or_default()
            .add(&v.canonical, predicted);
        if show_errors && predicted != v.canonical {
            let detail = o.as_ref().map(|o| {
                let cands: Vec<String> = o
                    .candidates
                    .iter()
                    .map(|c| format!("{}:{:.3}", c.code, c.score))
                    .collect();
                format!("{:?} {:?} [{}]", o.step, o.abstained, cands.join(" "))
            });
            println!(
                "{:<9} {:<32} truth={:<4} got={:<4} {}",
                v.field,
                format!("{:?}", v.raw),
                v.canonical,
                predicted,
                detail.unwrap_or_default()
            );
        }
    }

    println!(
        "lookup cascade: threshold {} margin {}  ({} values, tables built in {:.1} ms)",
        params.threshold,
        params.margin,
        values.len(),
        build_s * 1e3
    );
    println!(
        "{:<10} {:>5} {:>8} {:>9} {:>9} {:>10} {:>9} {:>8} {:>10} {:>10} {:>9}",
        "scope",
        "n",
        "res_acc",
        "res_wrong",
        "res_unres",
        "abstain_ok",
        "false_res",
        "overall",
        "wrong_rate",
        "unres_rate",
        "precision"
    );
    println!("{}", all.row("all"));
    for (f, c) in &by_field {
        println!("{}", c.row(f));
    }
    println!("{:.0} values/s", values.len() as f64 / secs.max(1e-9));
    Ok(())
}
