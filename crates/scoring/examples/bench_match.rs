//! Accuracy and speed of the matcher on a benchmark set (see /work/shared/bench/README.md).
//!
//! ```text
//! cargo run --release -p concord-scoring --example bench_match -- \
//!     --refs R.csv --docs D.csv --truth T.csv --config bench/configs/X.json \
//!     --ref-id-column ref_id --doc-id-column document_id [--pred out.csv] [--threads 2] \
//!     [--errors N] [--sweep]
//! ```
//!
//! CSV files may be gzip-compressed (`.gz`): they are read through `gzip -dc`. The config is the
//! JSON body of `POST /v1/matching/configs` without `reference_data_id`. Prints the index build
//! time, the match time, documents per second, precision, recall, F1, no-match accuracy and
//! candidate recall, scored as `score_matching.py` does: a document's prediction is its Matched
//! row; TP = right row, FP = a wrong row or any row for a no-match document, recall = TP /
//! matchable documents. Reading the CSV files is not timed.

// A benchmark harness: counts as f64 for its figures and small non-negative steps as indexes.
#![allow(clippy::cast_precision_loss, clippy::cast_sign_loss)]

use std::collections::HashMap;
use std::error::Error;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use concord_scoring::index::RowIdx;
use concord_scoring::matcher::assign::{one_to_one, DocumentCandidates, RankedRow};
use concord_scoring::matcher::train::{sample_positions, DEFAULT_SAMPLE_DOCUMENTS};
use concord_scoring::matcher::{
    train, Assignment, Decision, FieldMapping, MatchScratch, MatchSettings, MatchSpec,
    ReferenceIndex, ScoringMode, TrainingOptions, TrainingSet,
};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBand {
    lower: Option<f64>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[allow(dead_code)]
    name: String,
    field_mappings: Vec<FieldMapping>,
    threshold: Option<f64>,
    review_band: Option<ReviewBand>,
    ambiguity_margin: Option<f64>,
    scoring: Option<String>,
    assignment: Option<String>,
}

struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn column(&self, name: &str) -> Res<usize> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("no column {name:?} (have {:?})", self.header).into())
    }
}

fn read_csv(path: &str) -> Res<Table> {
    let bytes = if path.ends_with(".gz") {
        let out = Command::new("gzip")
            .args(["-dc", path])
            .stdout(Stdio::piped())
            .output()?;
        if !out.status.success() {
            return Err(format!("gzip -dc {path} failed").into());
        }
        out.stdout
    } else {
        let mut buf = Vec::new();
        std::fs::File::open(path)?.read_to_end(&mut buf)?;
        buf
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let header = reader.headers()?.iter().map(str::to_owned).collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        rows.push(record?.iter().map(str::to_owned).collect());
    }
    Ok(Table { header, rows })
}

struct Args {
    map: HashMap<String, String>,
    flags: Vec<String>,
}

impl Args {
    fn parse() -> Res<Args> {
        let mut map = HashMap::new();
        let mut flags = Vec::new();
        let mut it = std::env::args().skip(1).peekable();
        while let Some(arg) = it.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument {arg:?}").into());
            };
            match it.peek() {
                Some(v) if !v.starts_with("--") => {
                    map.insert(name.to_owned(), it.next().unwrap_or_default());
                }
                _ => flags.push(name.to_owned()),
            }
        }
        Ok(Args { map, flags })
    }
    fn get(&self, name: &str) -> Res<&str> {
        self.map
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("missing --{name}").into())
    }
    fn opt(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }
    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}

/// What the harness keeps of one document's outcome.
#[derive(Clone, Default)]
struct Kept {
    decision: Option<Decision>,
    best: Option<RowIdx>,
    confidence: f64,
    second: f64,
    considered: usize,
    true_scored: bool,
    evidence: Vec<Option<f64>>,
    top: Vec<(RowIdx, f64)>,
    /// Per kept candidate, its rank value (match weight or confidence).
    ranked: DocumentCandidates,
    bits: Vec<Option<f64>>,
}

fn main() -> Res<()> {
    let args = Args::parse()?;
    let config: Config = serde_json::from_str(&std::fs::read_to_string(args.get("config")?)?)?;
    let refs = read_csv(args.get("refs")?)?;
    let docs = read_csv(args.get("docs")?)?;
    let truth = read_csv(args.get("truth")?)?;
    let ref_id_col = refs.column(args.opt("ref-id-column").unwrap_or("ref_id"))?;
    let doc_id_col = docs.column(args.opt("doc-id-column").unwrap_or("document_id"))?;
    let threads: usize = args.opt("threads").unwrap_or("2").parse()?;

    let scoring = match args.opt("scoring").or(config.scoring.as_deref()) {
        Some(name) => {
            ScoringMode::from_name(name).ok_or_else(|| format!("unknown scoring {name:?}"))?
        }
        None => ScoringMode::default(),
    };
    let assignment = match args.opt("assignment").or(config.assignment.as_deref()) {
        Some(name) => {
            Assignment::from_name(name).ok_or_else(|| format!("unknown assignment {name:?}"))?
        }
        None => Assignment::default(),
    };
    let settings = MatchSettings::new(
        args.opt("threshold")
            .map(str::parse)
            .transpose()?
            .or(config.threshold),
        config.review_band.as_ref().and_then(|b| b.lower),
        config.ambiguity_margin,
    )?
    .with_scoring(scoring)
    .with_assignment(assignment);
    let columns: Vec<&str> = refs.header.iter().map(String::as_str).collect();
    let mut spec = MatchSpec::compile(&config.field_mappings, settings, &columns)?;

    let target_cols: Vec<usize> = spec
        .fields()
        .iter()
        .map(|f| refs.column(&f.target))
        .collect::<Res<_>>()?;
    let source_cols: Vec<usize> = spec
        .fields()
        .iter()
        .map(|f| docs.column(&f.source))
        .collect::<Res<_>>()?;
    let rows: Vec<(String, Vec<Option<String>>)> = refs
        .rows
        .iter()
        .map(|r| {
            let id = r.get(ref_id_col).cloned().unwrap_or_default();
            let values = target_cols
                .iter()
                .map(|&c| r.get(c).filter(|v| !v.trim().is_empty()).cloned())
                .collect();
            (id, values)
        })
        .collect();
    let n_refs = rows.len();

    let t0 = Instant::now();
    let index = ReferenceIndex::build_parallel(&spec, rows, threads);
    let build = t0.elapsed().as_secs_f64();

    let mut ref_row: HashMap<&str, RowIdx> = HashMap::new();
    for i in 0..index.len() {
        let row = RowIdx(u32::try_from(i)?);
        ref_row.insert(index.row_id(row), row);
    }
    let truth_doc = truth.column("document_id")?;
    let truth_ref = truth.column("ref_id")?;
    let mut true_ref: HashMap<&str, Option<RowIdx>> = HashMap::new();
    for r in &truth.rows {
        let doc = r.get(truth_doc).map(String::as_str).unwrap_or_default();
        let reference = r.get(truth_ref).map(String::as_str).unwrap_or_default();
        true_ref.insert(doc, ref_row.get(reference).copied());
    }
    let doc_truth: Vec<Option<RowIdx>> = docs
        .rows
        .iter()
        .map(|d| {
            let id = d.get(doc_id_col).map(String::as_str).unwrap_or_default();
            true_ref.get(id).copied().flatten()
        })
        .collect();

    let doc_values = |d: &'_ Vec<String>| -> Vec<Option<String>> {
        source_cols
            .iter()
            .map(|&c| d.get(c).filter(|v| !v.trim().is_empty()).cloned())
            .collect()
    };
    let mut training = 0.0;
    if scoring == ScoringMode::Probabilistic {
        let t = Instant::now();
        let sample_size: usize = args
            .opt("sample")
            .map(str::parse)
            .transpose()?
            .unwrap_or(DEFAULT_SAMPLE_DOCUMENTS);
        let mut scratch = MatchScratch::default();
        // `--oracle`: the truth labels every sampled document (a diagnostic of the model's form,
        // never a way to choose its constants).
        let oracle = args.flag("oracle");
        let positions = sample_positions(docs.rows.len(), sample_size);
        let owned: Vec<Vec<Option<String>>> = positions
            .iter()
            .map(|&i| docs.rows.get(i).map(doc_values).unwrap_or_default())
            .collect();
        let set = if oracle {
            let mut set = TrainingSet::new(&spec);
            for (&i, owned) in positions.iter().zip(&owned) {
                let values: Vec<Option<&str>> = owned.iter().map(Option::as_deref).collect();
                index.training_pairs(&spec, &values, &mut scratch, &mut set);
                if let Some(Some(t)) = doc_truth.get(i) {
                    let comparison = index.compare_pair(&spec, &values, *t, &mut scratch);
                    set.push_pair(*t, &comparison, Some(true));
                }
            }
            set
        } else {
            let values: Vec<Vec<Option<&str>>> = owned
                .iter()
                .map(|o| o.iter().map(Option::as_deref).collect())
                .collect();
            index.training_set(&spec, &values, threads)
        };
        let options = TrainingOptions {
            threads,
            ..TrainingOptions::default()
        };
        let model = train(&spec, &set, &options);
        training = t.elapsed().as_secs_f64();
        if args.flag("model") {
            println!("{}", serde_json::to_string_pretty(&model)?);
        } else {
            let r = &model.training;
            println!(
                "model             {} docs, {} pairs, {} iterations, change {:.2e}, converged {}, λ {:.4}, docs with match {:.3}",
                r.documents, r.pairs, r.iterations, r.last_change, r.converged, model.lambda, r.documents_with_match
            );
            for f in &model.fields {
                let levels: Vec<String> = f
                    .levels
                    .iter()
                    .map(|l| {
                        let tf = l
                            .term_frequency
                            .as_ref()
                            .map_or(String::new(), |t| format!(" ū {:.1}", t.mean_frequency));
                        format!(
                            "{} {:+.1}/{:+.1} (m {:.3} u {:.4} uc {:.3}{tf})",
                            l.name, l.weight, l.candidate_weight, l.m, l.u, l.u_candidates
                        )
                    })
                    .collect();
                println!("  {:<16} {}", f.source, levels.join(", "));
            }
        }
        spec = spec.with_model(model)?;
    }

    let t1 = Instant::now();
    let chunk = docs.rows.len().div_ceil(threads.max(1)).max(1);
    let kept: Vec<Kept> = std::thread::scope(|scope| {
        let handles: Vec<_> = docs
            .rows
            .chunks(chunk)
            .zip(doc_truth.chunks(chunk))
            .map(|(part, part_truth)| {
                let (index, spec, source_cols) = (&index, &spec, &source_cols);
                scope.spawn(move || {
                    let mut scratch = MatchScratch::default();
                    let mut values: Vec<Option<&str>> = Vec::with_capacity(source_cols.len());
                    part.iter()
                        .zip(part_truth)
                        .map(|(d, t)| {
                            values.clear();
                            values.extend(source_cols.iter().map(|&c| {
                                d.get(c)
                                    .map(String::as_str)
                                    .filter(|v| !v.trim().is_empty())
                            }));
                            let out = index.match_document(spec, &values, &mut scratch);
                            Kept {
                                decision: Some(out.decision),
                                best: out.candidates.first().map(|c| c.row),
                                confidence: out.confidence,
                                second: out.candidates.get(1).map_or(0.0, |c| c.confidence),
                                considered: out.candidates_considered,
                                true_scored: t.is_some_and(|t| {
                                    scratch.scored_rows().binary_search(&t).is_ok()
                                }),
                                evidence: out.evidence.iter().map(|e| e.score).collect(),
                                bits: out.evidence.iter().map(|e| e.bits).collect(),
                                ranked: DocumentCandidates {
                                    rows: out
                                        .candidates
                                        .iter()
                                        .map(|c| RankedRow {
                                            row: c.row.0,
                                            value: c.match_weight.unwrap_or(c.confidence),
                                            candidate_weight: c.candidate_weight.unwrap_or(0.0),
                                        })
                                        .collect(),
                                    considered: out.candidates_considered,
                                },
                                top: out
                                    .candidates
                                    .iter()
                                    .map(|c| (c.row, c.confidence))
                                    .collect(),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut kept = kept;
    if assignment == Assignment::OneToOne {
        let documents: Vec<DocumentCandidates> = kept.iter().map(|k| k.ranked.clone()).collect();
        let assigned = one_to_one(&documents, &settings, spec.model().lambda);
        for (k, a) in kept.iter_mut().zip(assigned) {
            k.decision = Some(a.decision);
            k.best = a.candidates.first().map(|c| c.row);
            k.confidence = a.confidence;
            k.second = a.candidates.get(1).map_or(0.0, |c| c.confidence);
            k.top = a.candidates.iter().map(|c| (c.row, c.confidence)).collect();
        }
    }
    let matching = t1.elapsed().as_secs_f64();

    // `--review N`: a reviewer (played by the truth) decides the N results a reviewer would look
    // at first — the review band, then the least confident matches — the model is trained again
    // with those labels, and every document is matched again: mistakes before and after.
    if let (Some(n), ScoringMode::Probabilistic) = (args.opt("review"), scoring) {
        let n: usize = n.parse()?;
        let mistakes = |kept: &[Kept]| {
            kept.iter()
                .zip(&doc_truth)
                .filter(|(k, t)| {
                    let predicted = (k.decision == Some(Decision::Matched))
                        .then_some(k.best)
                        .flatten();
                    predicted != **t
                })
                .count()
        };
        let mut order: Vec<usize> = (0..kept.len()).collect();
        order.sort_by(|&a, &b| {
            let key = |k: &Kept| (k.decision != Some(Decision::Review), k.confidence);
            let (ka, kb) = (key(&kept[a]), key(&kept[b]));
            ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
        });
        let mut set = TrainingSet::new(&spec);
        let mut scratch = MatchScratch::default();
        let sample_size: usize = args
            .opt("sample")
            .map(str::parse)
            .transpose()?
            .unwrap_or(DEFAULT_SAMPLE_DOCUMENTS);
        for i in sample_positions(docs.rows.len(), sample_size) {
            let owned = docs.rows.get(i).map(doc_values).unwrap_or_default();
            let values: Vec<Option<&str>> = owned.iter().map(Option::as_deref).collect();
            index.training_pairs(&spec, &values, &mut scratch, &mut set);
        }
        let (mut approved, mut rejected) = (0, 0);
        for &i in order.iter().take(n) {
            let k = &kept[i];
            let owned = docs.rows.get(i).map(doc_values).unwrap_or_default();
            let values: Vec<Option<&str>> = owned.iter().map(Option::as_deref).collect();
            let truth = doc_truth[i];
            let label = match truth {
                Some(t) if k.top.iter().any(|(r, _)| *r == t) => Some((t, true)),
                _ => k.best.map(|b| (b, false)),
            };
            if let Some((row, matched)) = label {
                index.training_pairs(&spec, &values, &mut scratch, &mut set);
                let comparison = index.compare_pair(&spec, &values, row, &mut scratch);
                set.push_pair(row, &comparison, Some(matched));
                if matched {
                    approved += 1
                } else {
                    rejected += 1
                }
            }
        }
        let relearnt = train(&spec, &set, &TrainingOptions::default());
        let spec2 = spec.with_model(relearnt)?;
        let mut scratch = MatchScratch::default();
        let again: Vec<Kept> = docs
            .rows
            .iter()
            .map(|d| {
                let owned = doc_values(d);
                let values: Vec<Option<&str>> = owned.iter().map(Option::as_deref).collect();
                let out = index.match_document(&spec2, &values, &mut scratch);
                Kept {
                    decision: Some(out.decision),
                    best: out.candidates.first().map(|c| c.row),
                    confidence: out.confidence,
                    ..Kept::default()
                }
            })
            .collect();
        println!(
            "review            {n} reviewed ({approved} approved, {rejected} rejected): mistakes {} before, {} after",
            mistakes(&kept),
            mistakes(&again)
        );
    }

    let n_docs = docs.rows.len();
    let matchable = doc_truth.iter().filter(|t| t.is_some()).count();
    let no_match = n_docs - matchable;
    let score = |predict: &dyn Fn(&Kept) -> Option<RowIdx>| {
        let (mut tp, mut fp, mut nm_ok) = (0usize, 0usize, 0usize);
        for (k, t) in kept.iter().zip(&doc_truth) {
            match (predict(k), t) {
                (Some(p), Some(t)) if p == *t => tp += 1,
                (Some(_), _) => fp += 1,
                (None, None) => nm_ok += 1,
                (None, Some(_)) => {}
            }
        }
        let p = if tp + fp > 0 {
            tp as f64 / (tp + fp) as f64
        } else {
            1.0
        };
        let r = if matchable > 0 {
            tp as f64 / matchable as f64
        } else {
            1.0
        };
        let f1 = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        let nm = if no_match > 0 {
            nm_ok as f64 / no_match as f64
        } else {
            f64::NAN
        };
        (p, r, f1, nm, tp, fp)
    };
    let predicted = |k: &Kept| {
        if k.decision == Some(Decision::Matched) {
            k.best
        } else {
            None
        }
    };
    let (p, r, f1, nm, tp, fp) = score(&predicted);
    let cand_recall = kept
        .iter()
        .zip(&doc_truth)
        .filter(|(k, t)| t.is_some() && k.true_scored)
        .count() as f64
        / matchable.max(1) as f64;
    let considered: usize = kept.iter().map(|k| k.considered).sum();
    let decisions = |d: Decision| kept.iter().filter(|k| k.decision == Some(d)).count();

    println!("config            {}", config.name);
    println!("docs x refs       {n_docs} x {n_refs} ({matchable} matchable, {no_match} no-match)");
    println!("index build       {build:.3} s");
    println!("training          {training:.3} s");
    println!("match             {matching:.3} s ({threads} threads)");
    println!("total             {:.3} s", build + training + matching);
    println!(
        "docs/s            {:.0}",
        n_docs as f64 / matching.max(1e-9)
    );
    println!("precision         {p:.4}  (TP {tp}, FP {fp})");
    println!("recall            {r:.4}");
    println!("F1                {f1:.4}");
    println!("no-match acc.     {nm:.4}");
    println!("candidate recall  {cand_recall:.4}");
    println!(
        "scored rows/doc   {:.1}",
        considered as f64 / n_docs.max(1) as f64
    );
    println!(
        "decisions         matched {}, review {}, unmatched {}",
        decisions(Decision::Matched),
        decisions(Decision::Review),
        decisions(Decision::Unmatched)
    );

    if args.flag("sweep") {
        let margin = settings.ambiguity_margin;
        println!("threshold sweep (margin {margin}): t  P  R  F1  no-match");
        for step in 0..=20 {
            let t = if scoring == ScoringMode::Probabilistic {
                [
                    0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99,
                    0.995, 0.999, 0.9995, 0.9999, 0.99999, 0.999999, 0.9999999,
                ][step as usize]
            } else {
                0.5 + 0.025 * f64::from(step)
            };
            let (p, r, f1, nm, _, _) = score(&|k: &Kept| {
                (k.confidence >= t && k.second < k.confidence - margin)
                    .then_some(k.best)
                    .flatten()
            });
            println!("  {t:.3}  {p:.4}  {r:.4}  {f1:.4}  {nm:.4}");
        }
    }

    if let Some(n) = args.opt("errors") {
        let n: usize = n.parse()?;
        let show = |label: &str, row: Option<RowIdx>| {
            if let Some(row) = row {
                let vals: Vec<&str> = (0..spec.fields().len())
                    .map(|f| index.reference_value(row, f).unwrap_or("∅"))
                    .collect();
                println!("    {label} {} {:?}", index.row_id(row), vals);
            }
        };
        let mut shown = 0;
        for ((k, t), d) in kept.iter().zip(&doc_truth).zip(&docs.rows) {
            if shown >= n {
                break;
            }
            let pred = predicted(k);
            if pred == *t {
                continue;
            }
            shown += 1;
            let vals: Vec<&str> = source_cols
                .iter()
                .map(|&c| d.get(c).map_or("∅", String::as_str))
                .collect();
            let ev: Vec<String> = k
                .evidence
                .iter()
                .zip(&k.bits)
                .map(|(e, b)| match (e, b) {
                    (Some(s), Some(b)) => format!("{s:.2}:{b:+.1}"),
                    (Some(s), None) => format!("{s:.2}"),
                    _ => "-".to_owned(),
                })
                .collect();
            println!(
                "{} {:?} conf {:.3} second {:.3} {:?} scored_true {} ev {:?}",
                d.get(doc_id_col).map_or("", String::as_str),
                k.decision,
                k.confidence,
                k.second,
                vals,
                k.true_scored,
                ev
            );
            show("best ", k.best);
            show("truth", *t);
            let top: Vec<String> = k
                .top
                .iter()
                .map(|(r, c)| format!("{}:{c:.3}", index.row_id(*r)))
                .collect();
            println!("    top {top:?}");
        }
    }

    if let Some(path) = args.opt("pred") {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        writeln!(out, "document_id,ref_id,confidence")?;
        for (k, d) in kept.iter().zip(&docs.rows) {
            let id = d.get(doc_id_col).map_or("", String::as_str);
            match predicted(k) {
                Some(row) => writeln!(out, "{id},{},{:.6}", index.row_id(row), k.confidence)?,
                None => writeln!(out, "{id},,{:.6}", k.confidence)?,
            }
        }
    }
    Ok(())
}
