//! Training a [`MatchModel`]: m, u among candidates and the prior λ by expectation
//! maximisation (EM) over the candidate pairs of a sample of documents, u from random pairs, and
//! reviewers' labels where there are any.
//!
//! # Specification
//!
//! The input is a [`TrainingSet`]: for each sampled document, the pairs it forms with the rows
//! the index proposes for it (what the matcher would score), each pair with every field's
//! comparison level and the frequency of the row's value; for documents a reviewer decided, the
//! labelled pair; and pairs of the sampled documents with random reference rows
//! ([`RANDOM_PAIRS_PER_DOCUMENT`] each).
//!
//! **u** is counted on the random pairs: the share of them at each level (mixed with the uniform
//! distribution by the field's δ, as below, with `Σ w` and the random pairs), and its
//! term-frequency mean ū likewise.
//!
//! **m, u among candidates and λ** come from EM under the model of [`super::model`]: a document
//! has at most one match among its candidate pairs, each a priori equally likely (prior λ that
//! there is one), and a pair's fields are independent given match or non-match. EM alternates:
//!
//! * **E-step.** For each document, each pair's responsibility `w_j` is its posterior of being
//!   the match, `(λ/n) 2^{C_j} / ((1 − λ) + (λ/n) Σ_k 2^{C_k})` with `C` the candidate weight
//!   under the current parameters (term frequencies included). A pair a reviewer approved has
//!   `w = 1` and the document's other pairs `w = 0`; a rejected pair has `w = 0`.
//!   Labels are facts where the rest are guesses, and reviewers label the documents the model
//!   was least sure of: a kind of match the model undervalues but reviewers keep approving moves
//!   m until it is a match. The confidences are not recalibrated on the labels: they come from
//!   the review queue, not from a random sample, and a Platt fit on them pulled confident
//!   matches under the threshold (tried: 300 reviews of a 950-document run, 78 mistakes became
//!   129; on another set, 98 became 305).
//! * **M-step.** Per field and level, m and u_candidates are the shares of `Σ w [level]` and
//!   `Σ (1−w) [level]` over the pairs where the field is present, each mixed with the uniform
//!   distribution over the field's `L` levels by the same `δ = 1 / (2 + min(Σ w, Σ (1−w)))`:
//!   `p = (1 − δ) · share + δ / L`. No level is ever impossible, and a level never seen in either
//!   class weighs nothing (m = u), however unequal the classes' sizes. Levels whose m or u the
//!   config fixed keep it; the free ones share what is left. λ is the expected share of
//!   unlabelled documents whose match is among their candidates, `(Σ_d Σ_j w_dj + 1) / (D + 2)`
//!   (Laplace: never quite 0 or 1). ū among candidates is the `(1−w)`-weighted mean frequency.
//!
//! **The anchor** (see [`super::model`]) is chosen after EM has converged without one, on its
//! responsibilities (before, the best-agreement start counts a quarter of every match among
//! the non-matches, and matches agree on every field at once). A field `a` *agrees* at its
//! leading levels whose m is above u among candidates in that fit (at least its first: exact,
//! and for a name a typo away too). For each field, the gain
//! `G_a = Σ_{f ≠ a} Σ_l N(a agrees, f = l) · log2(P(f = l | a agrees) / P(f = l))` in bits, counted over the non-match weight `1 − w` of the pairs (the
//! log-likelihood the non-matches gain when `f` is conditioned on `a`: `N` times the mutual
//! information of `a`'s agreement and `f`), less the penalty of the parameters it adds,
//! `½ · k · log2(N)` with `k = Σ_{f ≠ a} (L_f − 1)` per class, twice. The field with the
//! largest positive gain is the anchor; none when no gain is positive (fields independent
//! among non-matches, as the synthetic model tests draw them). With an anchor, EM runs again
//! from the fit (the report counts both runs' iterations) and estimates each
//! other field's u among candidates twice, on the pairs whose anchor agrees — shrunk towards
//! the other table as if its `L` levels had been seen `L` more times, so a few such pairs move
//! it little — and on the others; m stays one table over all pairs (a match's noise does not
//! depend on the anchor, and the pairs whose anchor does not agree can hold almost no match).
//! The E-step weighs each pair's fields by the table its anchor selects; u of a field on random
//! pairs is counted on those whose anchor does not agree (given that it agrees, u is the
//! candidates' — see the model's docs).
//!
//! EM runs from two starts — the untrained model ([`MatchModel::untrained`]), and
//! responsibilities that put each document's match on its best-agreeing pair — each until no m
//! or u moves by more than the tolerance or the iteration cap; the fit with the higher
//! likelihood is kept, and the report says how it ended ([`super::model::TrainingReport`]: a
//! model that hit the cap reports `converged: false` and the last change).
//!
//! The sample is the caller's to bound ([`sample_positions`] picks evenly spread documents):
//! the cost is linear in the pairs of the sample, never in the run.

use super::model::{
    clamp_probability, level_weight, Anchor, AnchorLevels, AnchoredLevel, FrequencyKind,
    LevelModel, MatchModel, ModelWeights, TermFrequency, TrainingReport,
};
use super::run_parallel;
use super::spec::MatchSpec;
use crate::index::RowIdx;
use crate::num::count_f64;
use std::ops::Range;

/// The share of a field's distribution given to the uniform one is `1 / (SMOOTHING + n)`, `n`
/// the smaller of the two classes' counts (see the module docs).
pub const SMOOTHING: f64 = 2.0;

/// The mixing weight δ of a field from the two classes' counts.
fn mixing(counts_a: &[f64], counts_b: &[f64]) -> f64 {
    let a: f64 = counts_a.iter().map(|c| c.max(0.0)).sum();
    let b: f64 = counts_b.iter().map(|c| c.max(0.0)).sum();
    let n = a.min(b);
    if n.is_finite() {
        1.0 / (SMOOTHING + n)
    } else {
        0.0
    }
}
/// Default iteration cap.
pub const DEFAULT_MAX_ITERATIONS: usize = 200;
/// Default tolerance on the largest change of an m or u.
pub const DEFAULT_TOLERANCE: f64 = 1e-5;
/// How many documents a training sample holds by default.
pub const DEFAULT_SAMPLE_DOCUMENTS: usize = 5_000;

/// No level: the field is missing on either side.
const MISSING: u8 = u8::MAX;

/// How EM runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingOptions {
    /// Stop after this many iterations (reported as not converged).
    pub max_iterations: usize,
    /// Stop when no m or u changes by more than this.
    pub tolerance: f64,
    /// Threads for the E- and M-steps (the model is the same whatever the number: sums are
    /// taken per block of [`BLOCK_DOCUMENTS`] documents and added in block order).
    pub threads: usize,
}

impl Default for TrainingOptions {
    fn default() -> Self {
        TrainingOptions {
            max_iterations: DEFAULT_MAX_ITERATIONS,
            tolerance: DEFAULT_TOLERANCE,
            threads: 1,
        }
    }
}

/// Documents per block of the E- and M-steps (see [`TrainingOptions::threads`]).
pub const BLOCK_DOCUMENTS: usize = 256;

/// The candidate pairs of a sample of documents, each with its fields' levels, grouped by
/// document.
#[derive(Debug, Clone, Default)]
pub struct TrainingSet {
    fields: usize,
    /// Per field, the number of levels.
    level_counts: Vec<usize>,
    /// `pairs × fields` levels ([`MISSING`] when missing).
    levels: Vec<u8>,
    /// `pairs × fields` log2 frequencies of the row's value.
    log2_freq: Vec<f32>,
    /// Per pair, a reviewer's label.
    labels: Vec<Option<bool>>,
    rows: Vec<RowIdx>,
    /// Per document, its first pair.
    doc_starts: Vec<usize>,
    /// `random pairs × fields` levels and log2 frequencies of pairs of sampled documents with
    /// random reference rows.
    random_levels: Vec<u8>,
    random_log2_freq: Vec<f32>,
    /// How many reference rows the pairs were drawn from.
    reference_rows: usize,
    /// The number of the set's first document among all the documents drawn for one
    /// training (a part built on another thread starts after the parts before it): it seeds
    /// the documents' random rows.
    pub(crate) first_document: usize,
}

impl TrainingSet {
    /// An empty set for `spec`'s fields.
    pub fn new(spec: &MatchSpec) -> TrainingSet {
        let level_counts: Vec<usize> = spec.fields().iter().map(|f| f.levels.len()).collect();
        TrainingSet {
            fields: level_counts.len(),
            level_counts,
            ..TrainingSet::default()
        }
    }

    /// Starts a new document: the pairs pushed next are its candidates.
    pub fn begin_document(&mut self) {
        self.doc_starts.push(self.labels.len());
    }

    /// Adds a pair to the current document (starting one if there is none): per field its
    /// level and the log2 frequency of the row's value, `None` when missing (extra entries are
    /// ignored, missing ones count as missing). If the document already holds this row, only
    /// its label is set.
    pub fn push_pair(
        &mut self,
        row: RowIdx,
        comparison: &[Option<(usize, f32)>],
        label: Option<bool>,
    ) {
        if self.doc_starts.is_empty() {
            self.begin_document();
        }
        let start = self.doc_starts.last().copied().unwrap_or(0);
        if let Some(at) = self
            .rows
            .get(start..)
            .and_then(|rows| rows.iter().position(|&r| r == row))
        {
            if label.is_some() {
                if let Some(l) = self.labels.get_mut(start + at) {
                    *l = label;
                }
            }
            return;
        }
        for f in 0..self.fields {
            let (level, freq) = match comparison.get(f).copied().flatten() {
                Some((level, freq)) if level < self.level_counts.get(f).copied().unwrap_or(0) => (
                    u8::try_from(level).unwrap_or(MISSING),
                    if freq.is_finite() { freq.max(0.0) } else { 0.0 },
                ),
                _ => (MISSING, 0.0),
            };
            self.levels.push(level);
            self.log2_freq.push(freq);
        }
        self.labels.push(label);
        self.rows.push(row);
    }

    /// Adds a pair of a document with a random reference row (for u), out of any document.
    pub fn push_random_pair(&mut self, comparison: &[Option<(usize, f32)>]) {
        for f in 0..self.fields {
            let (level, freq) = match comparison.get(f).copied().flatten() {
                Some((level, freq)) if level < self.level_counts.get(f).copied().unwrap_or(0) => (
                    u8::try_from(level).unwrap_or(MISSING),
                    if freq.is_finite() { freq.max(0.0) } else { 0.0 },
                ),
                _ => (MISSING, 0.0),
            };
            self.random_levels.push(level);
            self.random_log2_freq.push(freq);
        }
    }

    /// Appends the documents and pairs of `other` (a set of the same spec) after this set's.
    pub(crate) fn append(&mut self, other: TrainingSet) {
        let offset = self.labels.len();
        self.doc_starts
            .extend(other.doc_starts.iter().map(|start| start + offset));
        self.levels.extend(other.levels);
        self.log2_freq.extend(other.log2_freq);
        self.labels.extend(other.labels);
        self.rows.extend(other.rows);
        self.random_levels.extend(other.random_levels);
        self.random_log2_freq.extend(other.random_log2_freq);
        self.reference_rows = self.reference_rows.max(other.reference_rows);
    }

    /// Records how many reference rows the pairs come from.
    pub fn set_reference_rows(&mut self, n: usize) {
        self.reference_rows = n;
    }

    /// Random pairs in the set.
    pub fn random_pairs(&self) -> usize {
        self.random_levels.len() / self.fields.max(1)
    }

    /// Documents in the set (those with no pair included).
    pub fn documents(&self) -> usize {
        self.doc_starts.len()
    }

    /// Candidate pairs in the set.
    pub fn pairs(&self) -> usize {
        self.labels.len()
    }

    /// The pairs of document `d`, as a range of pair indexes.
    fn document(&self, d: usize) -> std::ops::Range<usize> {
        let start = self.doc_starts.get(d).copied().unwrap_or(0);
        let end = self
            .doc_starts
            .get(d + 1)
            .copied()
            .unwrap_or(self.labels.len());
        start..end.max(start)
    }

    /// The documents in blocks of [`BLOCK_DOCUMENTS`], each with its range of pairs.
    fn blocks(&self) -> Vec<(Range<usize>, Range<usize>)> {
        (0..self.documents())
            .step_by(BLOCK_DOCUMENTS)
            .map(|first| {
                let last = (first + BLOCK_DOCUMENTS).min(self.documents());
                let pairs = self.document(first).start..self.document(last - 1).end;
                (first..last, pairs)
            })
            .collect()
    }

    fn level(&self, pair: usize, f: usize) -> u8 {
        self.levels
            .get(pair * self.fields + f)
            .copied()
            .unwrap_or(MISSING)
    }

    fn freq(&self, pair: usize, f: usize) -> f64 {
        f64::from(
            self.log2_freq
                .get(pair * self.fields + f)
                .copied()
                .unwrap_or(0.0),
        )
    }
}

/// `n` evenly spread positions of `0..total` (all of them when `total <= n`), ascending: a
/// deterministic training sample that sees every part of a batch.
pub fn sample_positions(total: usize, n: usize) -> Vec<usize> {
    if total <= n {
        return (0..total).collect();
    }
    if n == 0 {
        return Vec::new();
    }
    (0..n)
        .map(|i| ((i as u128 * total as u128) / n as u128) as usize)
        .collect()
}

/// The parameters EM moves.
#[derive(Debug, Clone)]
struct Params {
    m: Vec<Vec<f64>>,
    u: Vec<Vec<f64>>,
    /// u of pairs whose anchor agrees (empty without an anchor; m is the same).
    u_anchored: Vec<Vec<f64>>,
    lambda: f64,
    /// Per field and level, ū (when term-frequency adjusted).
    tf_mean: Vec<Vec<Option<f64>>>,
}

/// What stays the same across EM's iterations and starts.
struct Problem<'a> {
    set: &'a TrainingSet,
    /// The untrained model (with the anchor, once chosen).
    template: MatchModel,
    /// Per field and level, its term-frequency adjustment.
    tf_levels: Vec<Vec<Option<FrequencyKind>>>,
    fixed_m: Vec<Vec<Option<f64>>>,
    fixed_u: Vec<Vec<Option<f64>>>,
    options: TrainingOptions,
    /// `pairs × fields` frequencies of the rows' values (`2^log2_freq`), computed once.
    frequencies: Vec<f64>,
    /// The blocks of documents the steps sum over: their documents and their pairs.
    blocks: Vec<(Range<usize>, Range<usize>)>,
}

/// Where one EM start ended.
struct Fit {
    params: Params,
    iterations: usize,
    last_change: f64,
    converged: bool,
    log_likelihood: f64,
}

/// Trains a model for `spec` on `set` (see the module docs). EM runs from two starts — the
/// untrained model's parameters, and the responsibilities that put each document's match on
/// its best-agreeing pair — and keeps the one whose fit has the higher likelihood. Total: an
/// empty set gives the untrained model, reported as not converged with zero iterations.
pub fn train(spec: &MatchSpec, set: &TrainingSet, options: &TrainingOptions) -> MatchModel {
    let mut model = MatchModel::untrained(spec);
    let labelled_matches = set.labels.iter().filter(|l| **l == Some(true)).count();
    let labelled_non_matches = set.labels.iter().filter(|l| **l == Some(false)).count();
    let tolerance = if options.tolerance.is_finite() && options.tolerance > 0.0 {
        options.tolerance
    } else {
        DEFAULT_TOLERANCE
    };
    let mut report = TrainingReport {
        method: "em".to_owned(),
        documents: set.documents(),
        pairs: set.pairs(),
        random_pairs: set.random_pairs(),
        labelled_matches,
        labelled_non_matches,
        iterations: 0,
        max_iterations: options.max_iterations,
        last_change: 0.0,
        tolerance,
        converged: false,
        documents_with_match: 0.0,
    };
    if set.pairs() == 0 || set.fields != spec.fields().len() {
        report.method = "default".to_owned();
        model.training = report;
        return model;
    }
    let tf_levels: Vec<Vec<Option<FrequencyKind>>> = spec
        .fields()
        .iter()
        .map(|f| (0..f.levels.len()).map(|l| f.frequency_kind(l)).collect())
        .collect();
    let fixed_u: Vec<Vec<Option<f64>>> = spec
        .fields()
        .iter()
        .map(|f| f.levels.levels().iter().map(|l| l.u).collect())
        .collect();
    let mut w = vec![0.0f64; set.pairs()];
    best_agreement_responsibilities(set, &mut w);
    let mut problem = Problem {
        set,
        template: model.clone(),
        tf_levels,
        fixed_m: spec
            .fields()
            .iter()
            .map(|f| f.levels.levels().iter().map(|l| l.m).collect())
            .collect(),
        fixed_u,
        options: TrainingOptions {
            tolerance,
            ..*options
        },
        frequencies: set.log2_freq.iter().map(|&f| f64::from(f).exp2()).collect(),
        blocks: set.blocks(),
    };
    let m: Vec<Vec<f64>> = model
        .fields
        .iter()
        .map(|f| f.levels.iter().map(|l| l.m).collect())
        .collect();
    let u: Vec<Vec<f64>> = model
        .fields
        .iter()
        .map(|f| f.levels.iter().map(|l| l.u_candidates).collect())
        .collect();
    let untrained = Params {
        u_anchored: Vec::new(),
        m,
        u,
        lambda: 0.5,
        tf_mean: set.level_counts.iter().map(|&n| vec![None; n]).collect(),
    };
    let agreement = problem.maximise(&w);
    let fits = [problem.run(untrained), problem.run(agreement)];
    let best = fits.into_iter().reduce(|a, b| {
        if b.log_likelihood > a.log_likelihood {
            b
        } else {
            a
        }
    });
    let Some(mut fit) = best else {
        model.training = report;
        return model;
    };
    // The anchor, on the fit's responsibilities (where matches and non-matches are apart), and
    // EM again from the fit with the anchored tables.
    let weights = compile(&fit.params, &problem.template, &problem.tf_levels);
    problem.expectation(&weights, &fit.params, &mut w, false);
    if let Some((anchor, gain_bits)) = choose_anchor(set, &w, &fit.params) {
        model.anchor = Some(Anchor {
            field: anchor.field,
            source: spec
                .fields()
                .get(anchor.field)
                .map_or_else(String::new, |f| f.source.clone()),
            levels: anchor.levels,
            gain_bits,
        });
        problem.template.anchor = model.anchor.clone();
        let mut start = fit.params.clone();
        start.u_anchored = start.u.clone();
        let iterations = fit.iterations;
        fit = problem.run(start);
        fit.iterations += iterations;
    }
    report.iterations = fit.iterations;
    report.last_change = fit.last_change;
    report.converged = fit.converged;
    let params = fit.params;
    // The final responsibilities, for the expected counts and the share of documents with a
    // match.
    let weights = compile(&params, &problem.template, &problem.tf_levels);
    let e = problem.expectation(&weights, &params, &mut w, false);
    report.documents_with_match = if e.w_sums.is_empty() {
        0.0
    } else {
        e.w_sums.iter().sum::<f64>() / count_f64(e.w_sums.len())
    };
    let anchor = problem.anchor();
    let counts = problem.expected_counts(&w, anchor);
    // m is one table over all pairs (see the module docs).
    let all_matches = counts.all_matches();
    let (matches, non_matches) = (&all_matches, &counts.non_matches);
    let random = random_pair_u(set, &problem.tf_levels, &problem.fixed_u, matches, anchor);
    for (f, field) in model.fields.iter_mut().enumerate() {
        for (l, level) in field.levels.iter_mut().enumerate() {
            level.m = params.m[f][l];
            level.u_candidates = params.u[f][l];
            level.u = random.as_ref().map_or(level.u_candidates, |r| r.u[f][l]);
            level.weight = level_weight(level.m, level.u);
            level.candidate_weight = level_weight(level.m, level.u_candidates);
            level.matches = matches[f][l];
            level.non_matches = non_matches[f][l];
            level.when_anchor_agrees =
                anchored_level(&params, anchor, f, l, level).map(|a| AnchoredLevel {
                    matches: counts.matches_anchored[f][l],
                    non_matches: counts.non_matches_anchored[f][l],
                    ..a
                });
            level.random_pairs = random.as_ref().map_or(0, |r| r.counts[f][l]);
            level.term_frequency = problem
                .tf_levels
                .get(f)
                .and_then(|k| k.get(l).copied().flatten())
                .and_then(|kind| {
                    let candidates = (*params.tf_mean.get(f)?.get(l)?)?;
                    let random_mean = match &random {
                        Some(r) => (*r.tf_mean.get(f)?.get(l)?).unwrap_or(candidates),
                        None => candidates,
                    };
                    Some(TermFrequency {
                        kind,
                        mean_frequency: random_mean,
                        mean_frequency_candidates: candidates,
                    })
                });
        }
    }
    model.lambda = params.lambda;
    model.training = report;
    model.training.random_pairs = set.random_pairs();
    model
}

/// u counted on the random pairs.
struct RandomU {
    u: Vec<Vec<f64>>,
    counts: Vec<Vec<usize>>,
    tf_mean: Vec<Vec<Option<f64>>>,
}

/// u and ū counted on the random pairs (smoothed; fixed u kept); `None` when there are none.
fn random_pair_u(
    set: &TrainingSet,
    tf_levels: &[Vec<Option<FrequencyKind>>],
    fixed_u: &[Vec<Option<f64>>],
    matches: &[Vec<f64>],
    anchor: Option<AnchorLevels>,
) -> Option<RandomU> {
    if set.random_pairs() == 0 {
        return None;
    }
    let mut counts: Vec<Vec<usize>> = set.level_counts.iter().map(|&n| vec![0; n]).collect();
    let mut tf_sums: Vec<Vec<(f64, f64)>> = set
        .level_counts
        .iter()
        .map(|&n| vec![(0.0, 0.0); n])
        .collect();
    for pair in 0..set.random_pairs() {
        // Given that the anchor agrees, the other fields' u is the candidates' (see the docs).
        let anchored = anchor.is_some_and(|a| {
            set.random_levels
                .get(pair * set.fields + a.field)
                .is_some_and(|&l| l != MISSING && a.agrees(Some(usize::from(l))))
        });
        for f in 0..set.fields {
            if anchored && anchor.is_none_or(|a| a.field != f) {
                continue;
            }
            let at = pair * set.fields + f;
            let level = set.random_levels.get(at).copied().unwrap_or(MISSING);
            if level == MISSING {
                continue;
            }
            let l = usize::from(level);
            if let Some(c) = counts.get_mut(f).and_then(|c| c.get_mut(l)) {
                *c += 1;
            }
            let adjusted = tf_levels
                .get(f)
                .and_then(|k| k.get(l))
                .is_some_and(Option::is_some);
            if adjusted {
                if let Some(t) = tf_sums.get_mut(f).and_then(|t| t.get_mut(l)) {
                    t.0 += f64::from(set.random_log2_freq.get(at).copied().unwrap_or(0.0)).exp2();
                    t.1 += 1.0;
                }
            }
        }
    }
    let u = counts
        .iter()
        .zip(fixed_u)
        .zip(matches)
        .map(|((c, fixed), m)| {
            let c: Vec<f64> = c.iter().map(|&n| count_f64(n)).collect();
            estimate(&c, fixed, mixing(m, &c))
        })
        .collect();
    let tf_mean = tf_sums
        .iter()
        .map(|sums| {
            sums.iter()
                .map(|&(sum, n)| (n > 0.0).then(|| (sum / n).max(1.0)))
                .collect()
        })
        .collect();
    Some(RandomU { u, counts, tf_mean })
}

impl Problem<'_> {
    /// The anchor's field, once chosen.
    fn anchor(&self) -> Option<AnchorLevels> {
        self.template.anchor.as_ref().map(AnchorLevels::of)
    }

    /// EM from `params` until it converges or hits the cap.
    fn run(&self, mut params: Params) -> Fit {
        let mut w = vec![0.0f64; self.set.pairs()];
        let mut fit_iterations = 0;
        let mut last_change = 0.0;
        let mut converged = false;
        while fit_iterations < self.options.max_iterations {
            fit_iterations += 1;
            let weights = compile(&params, &self.template, &self.tf_levels);
            let e = self.expectation(&weights, &params, &mut w, false);
            let next = self.maximise_with(&w, &e);
            let change = max_change(&params.m, &next.m)
                .max(max_change(&params.u, &next.u))
                .max(max_change(&params.u_anchored, &next.u_anchored));
            params = next;
            last_change = change;
            if change < self.options.tolerance {
                converged = true;
                break;
            }
        }
        let weights = compile(&params, &self.template, &self.tf_levels);
        let e = self.expectation(&weights, &params, &mut w, true);
        Fit {
            params,
            iterations: fit_iterations,
            last_change,
            converged,
            log_likelihood: e.log_likelihood,
        }
    }

    /// The M-step from responsibilities alone (the first step of a start).
    fn maximise(&self, w: &[f64]) -> Params {
        let mut w_sums = Vec::new();
        for d in 0..self.set.documents() {
            let range = self.set.document(d);
            let labels = self.set.labels.get(range.clone()).unwrap_or_default();
            if labels.iter().any(Option::is_some) {
                continue;
            }
            w_sums.push(w.get(range).map_or(0.0, |w| w.iter().sum()));
        }
        let e = Expectation {
            w_sums,
            log_likelihood: 0.0,
        };
        self.maximise_with(w, &e)
    }

    /// The M-step: m, u, ū and λ from the responsibilities.
    fn maximise_with(&self, w: &[f64], e: &Expectation) -> Params {
        let counts = self.expected_counts(w, self.anchor());
        let tf_sums = &counts.tf_sums;
        let tables = |matches: &[Vec<f64>], non_matches: &[Vec<f64>]| {
            let deltas: Vec<f64> = matches
                .iter()
                .zip(non_matches)
                .map(|(m, u)| mixing(m, u))
                .collect();
            let estimate_all = |counts: &[Vec<f64>], fixed: &[Vec<Option<f64>>]| -> Vec<Vec<f64>> {
                counts
                    .iter()
                    .zip(fixed)
                    .zip(&deltas)
                    .map(|((c, fixed), &delta)| estimate(c, fixed, delta))
                    .collect()
            };
            (
                estimate_all(matches, &self.fixed_m),
                estimate_all(non_matches, &self.fixed_u),
            )
        };
        // A match's noise does not depend on the anchor: m is counted over every pair.
        let all_matches = counts.all_matches();
        let (m, u) = tables(&all_matches, &counts.non_matches);
        let u_anchored = if self.anchor().is_some() {
            counts
                .non_matches_anchored
                .iter()
                .zip(&self.fixed_u)
                .zip(&u)
                .map(|((c, fixed), prior)| estimate_toward(c, fixed, prior))
                .collect()
        } else {
            Vec::new()
        };
        Params {
            m,
            u,
            u_anchored,
            lambda: (e.w_sums.iter().sum::<f64>() + 1.0) / (count_f64(e.w_sums.len()) + 2.0),
            tf_mean: tf_sums
                .iter()
                .zip(&self.tf_levels)
                .map(|(sums, kinds)| {
                    sums.iter()
                        .zip(kinds)
                        .map(|(&(sum, n), kind)| {
                            (kind.is_some() && n > 1e-9).then(|| (sum / n).max(1.0))
                        })
                        .collect()
                })
                .collect(),
        }
    }
}

/// Expected counts of an M-step: per field and level, the expected number of matches and
/// non-matches (`Σ w`, `Σ 1 − w`) — of the pairs whose anchor does not agree (every pair for
/// the anchor itself, or without an anchor), and of those whose anchor agrees — and the
/// `(1 − w)`-weighted sum of the reference values' frequencies and its weight (for the
/// term-frequency adjusted levels, over all pairs).
struct Counts {
    matches: Vec<Vec<f64>>,
    non_matches: Vec<Vec<f64>>,
    matches_anchored: Vec<Vec<f64>>,
    non_matches_anchored: Vec<Vec<f64>>,
    tf_sums: Vec<Vec<(f64, f64)>>,
}

impl Counts {
    /// The expected matches per field and level over all pairs, whatever their anchor.
    fn all_matches(&self) -> Vec<Vec<f64>> {
        self.matches
            .iter()
            .zip(&self.matches_anchored)
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x + y).collect())
            .collect()
    }
}

/// Whether pair `pair` of `set` has its anchor agreeing.
fn pair_anchored(set: &TrainingSet, pair: usize, anchor: Option<AnchorLevels>) -> bool {
    anchor.is_some_and(|a| {
        let level = set.level(pair, a.field);
        level != MISSING && a.agrees(Some(usize::from(level)))
    })
}

impl Counts {
    fn zeros(level_counts: &[usize]) -> Counts {
        let zeros: Vec<Vec<f64>> = level_counts.iter().map(|&n| vec![0.0; n]).collect();
        Counts {
            matches: zeros.clone(),
            non_matches: zeros.clone(),
            matches_anchored: zeros.clone(),
            non_matches_anchored: zeros,
            tf_sums: level_counts.iter().map(|&n| vec![(0.0, 0.0); n]).collect(),
        }
    }

    /// Adds `other`'s counts to these.
    fn add(&mut self, other: &Counts) {
        let add = |a: &mut Vec<Vec<f64>>, b: &Vec<Vec<f64>>| {
            for (x, y) in a.iter_mut().flatten().zip(b.iter().flatten()) {
                *x += y;
            }
        };
        add(&mut self.matches, &other.matches);
        add(&mut self.non_matches, &other.non_matches);
        add(&mut self.matches_anchored, &other.matches_anchored);
        add(&mut self.non_matches_anchored, &other.non_matches_anchored);
        for (x, y) in self
            .tf_sums
            .iter_mut()
            .flatten()
            .zip(other.tf_sums.iter().flatten())
        {
            x.0 += y.0;
            x.1 += y.1;
        }
    }
}

impl Problem<'_> {
    /// The expected counts of responsibilities `w`, summed per block of documents on the
    /// options' threads and added in block order.
    fn expected_counts(&self, w: &[f64], anchor: Option<AnchorLevels>) -> Counts {
        let parts = run_parallel(
            self.blocks.iter().map(|(_, pairs)| pairs.clone()).collect(),
            self.options.threads,
            |pairs| self.expected_counts_of(w, pairs, anchor),
        );
        let mut total = Counts::zeros(&self.set.level_counts);
        for part in &parts {
            total.add(part);
        }
        total
    }

    fn expected_counts_of(
        &self,
        w: &[f64],
        pairs: Range<usize>,
        anchor: Option<AnchorLevels>,
    ) -> Counts {
        let set = self.set;
        let mut c = Counts::zeros(&set.level_counts);
        for pair in pairs {
            let wp = w.get(pair).copied().unwrap_or(0.0);
            let anchored = pair_anchored(set, pair, anchor);
            for f in 0..set.fields {
                let level = set.level(pair, f);
                if level == MISSING {
                    continue;
                }
                let l = usize::from(level);
                let (matches, non_matches) = if anchored && anchor.is_none_or(|a| a.field != f) {
                    (&mut c.matches_anchored, &mut c.non_matches_anchored)
                } else {
                    (&mut c.matches, &mut c.non_matches)
                };
                if let Some(n) = matches.get_mut(f).and_then(|n| n.get_mut(l)) {
                    *n += wp;
                }
                if let Some(n) = non_matches.get_mut(f).and_then(|n| n.get_mut(l)) {
                    *n += 1.0 - wp;
                }
                let adjusted = self
                    .tf_levels
                    .get(f)
                    .and_then(|kinds| kinds.get(l))
                    .is_some_and(Option::is_some);
                if adjusted {
                    if let Some(t) = c.tf_sums.get_mut(f).and_then(|t| t.get_mut(l)) {
                        let frequency = self
                            .frequencies
                            .get(pair * set.fields + f)
                            .copied()
                            .unwrap_or(1.0);
                        t.0 += (1.0 - wp) * frequency;
                        t.1 += 1.0 - wp;
                    }
                }
            }
        }
        c
    }

    /// The E-step: fills `w` with each pair's responsibility, per block of documents on the
    /// options' threads; with `likelihood`, also the log-likelihood (the last step of a start).
    fn expectation(
        &self,
        weights: &ModelWeights,
        params: &Params,
        w: &mut [f64],
        likelihood: bool,
    ) -> Expectation {
        // log2 u per field and level, both tables, once per step.
        let log_table = |tables: &[Vec<f64>]| -> Vec<Vec<f64>> {
            tables
                .iter()
                .map(|u| u.iter().map(|&p| clamp_probability(p).log2()).collect())
                .collect()
        };
        let log_u = if likelihood {
            (log_table(&params.u), log_table(&params.u_anchored))
        } else {
            (Vec::new(), Vec::new())
        };
        let mut tasks = Vec::with_capacity(self.blocks.len());
        let mut rest = w;
        let mut at = 0;
        for (documents, pairs) in &self.blocks {
            let len = pairs.end.saturating_sub(at).min(rest.len());
            let (block, tail) = std::mem::take(&mut rest).split_at_mut(len);
            rest = tail;
            at = pairs.end;
            tasks.push((documents.clone(), pairs.start, block));
        }
        let parts = run_parallel(tasks, self.options.threads, |(documents, first, block)| {
            expectation_of(
                self.set, weights, &log_u, documents, first, block, likelihood,
            )
        });
        let mut total = Expectation {
            w_sums: Vec::with_capacity(self.set.documents()),
            log_likelihood: 0.0,
        };
        for part in parts {
            total.w_sums.extend(part.w_sums);
            total.log_likelihood += part.log_likelihood;
        }
        total
    }
}

/// The anchor and its gain in bits (see the module docs), from responsibilities `w`; `None`
/// when no field's gain is positive.
fn choose_anchor(set: &TrainingSet, w: &[f64], params: &Params) -> Option<(AnchorLevels, f64)> {
    if set.fields < 2 {
        return None;
    }
    let n_pairs = w.len();
    let mut best: Option<(AnchorLevels, f64)> = None;
    for a in 0..set.fields {
        // The field agrees at its leading levels that weigh for a match (at least the first).
        let levels = match (params.m.get(a), params.u.get(a)) {
            (Some(m), Some(u)) => m.iter().zip(u).take_while(|(m, u)| m > u).count().max(1),
            _ => 1,
        };
        let anchor = AnchorLevels { field: a, levels };
        // Non-match weight per field and level, overall and with `a` agreeing.
        let mut all: Vec<Vec<f64>> = set.level_counts.iter().map(|&n| vec![0.0; n]).collect();
        let mut given: Vec<Vec<f64>> = all.clone();
        for (pair, &wp) in w.iter().enumerate() {
            let weight = (1.0 - wp).max(0.0);
            let agrees = pair_anchored(set, pair, Some(anchor));
            for f in 0..set.fields {
                let level = set.level(pair, f);
                if f == a || level == MISSING {
                    continue;
                }
                let l = usize::from(level);
                if let Some(n) = all.get_mut(f).and_then(|n| n.get_mut(l)) {
                    *n += weight;
                }
                if agrees {
                    if let Some(n) = given.get_mut(f).and_then(|n| n.get_mut(l)) {
                        *n += weight;
                    }
                }
            }
        }
        let mut gain = 0.0;
        let mut parameters = 0usize;
        for f in (0..set.fields).filter(|&f| f != a) {
            let (Some(all), Some(given)) = (all.get(f), given.get(f)) else {
                continue;
            };
            let total: f64 = all.iter().sum();
            let total_given: f64 = given.iter().sum();
            if total <= 0.0 || total_given <= 0.0 {
                continue;
            }
            let levels = count_f64(all.len());
            // Both distributions smoothed like the M-step's, so an unseen level costs nothing.
            let delta = 1.0 / (SMOOTHING + total_given);
            for (&n_all, &n_given) in all.iter().zip(given) {
                if n_given <= 0.0 {
                    continue;
                }
                let p_given = (1.0 - delta) * n_given / total_given + delta / levels;
                let p_all = n_all / total;
                if p_all > 0.0 && p_given > 0.0 {
                    gain += n_given * (p_given / p_all).log2();
                }
            }
            parameters += all.len().saturating_sub(1);
        }
        let penalty = count_f64(parameters) * count_f64(n_pairs.max(2)).log2();
        let net = gain - penalty;
        if net.is_finite() && net > 0.0 && best.is_none_or(|(_, b)| net > b) {
            best = Some((anchor, net));
        }
    }
    best
}

/// Responsibilities that make each document's best-agreeing pair its likely match: the pair
/// whose levels are best on average (each field's level scaled to `[0, 1]`, missing ½) gets ¾,
/// the others share nothing; labelled documents follow their labels.
fn best_agreement_responsibilities(set: &TrainingSet, w: &mut [f64]) {
    for d in 0..set.documents() {
        let range = set.document(d);
        let labels = set.labels.get(range.clone()).unwrap_or_default();
        let approved = labels.iter().position(|l| *l == Some(true));
        let mut best: Option<(f64, usize)> = None;
        for (k, pair) in range.clone().enumerate() {
            if labels.get(k).copied().flatten() == Some(false) {
                continue;
            }
            let mut agreement = 0.0;
            for f in 0..set.fields {
                let n = set.level_counts.get(f).copied().unwrap_or(1);
                let level = set.level(pair, f);
                agreement += if level == MISSING || n < 2 {
                    0.5
                } else {
                    1.0 - f64::from(level) / count_f64(n - 1)
                };
            }
            if best.is_none_or(|(b, _)| agreement > b) {
                best = Some((agreement, k));
            }
        }
        let chosen = approved.or(best.map(|(_, k)| k));
        for (k, pair) in range.enumerate() {
            if let Some(slot) = w.get_mut(pair) {
                *slot = match (approved, chosen) {
                    (Some(a), _) => f64::from(u8::from(k == a)),
                    (None, Some(c)) if c == k => 0.75,
                    _ => 0.0,
                };
            }
        }
    }
}

/// The term-frequency adjustment among candidates of field `f`'s level `l` during EM, if it has
/// one and a mean.
fn term_frequency(
    tf_levels: &[Vec<Option<FrequencyKind>>],
    tf_mean: &[Vec<Option<f64>>],
    f: usize,
    l: usize,
) -> Option<TermFrequency> {
    let kind = (*tf_levels.get(f)?.get(l)?)?;
    let mean = (*tf_mean.get(f)?.get(l)?)?;
    Some(TermFrequency {
        kind,
        mean_frequency: mean,
        mean_frequency_candidates: mean,
    })
}

/// The scoring weights of the current parameters (EM uses the candidate weights).
fn compile(
    params: &Params,
    template: &MatchModel,
    tf_levels: &[Vec<Option<FrequencyKind>>],
) -> ModelWeights {
    let mut model = template.clone();
    let anchor = model.anchor.as_ref().map(AnchorLevels::of);
    for (f, field) in model.fields.iter_mut().enumerate() {
        for (l, level) in field.levels.iter_mut().enumerate() {
            level.m = params.m[f][l];
            level.u = params.u[f][l];
            level.u_candidates = params.u[f][l];
            level.term_frequency = term_frequency(tf_levels, &params.tf_mean, f, l);
            level.when_anchor_agrees = anchored_level(params, anchor, f, l, level);
        }
    }
    model.lambda = params.lambda;
    ModelWeights::new(&model)
}

/// Field `f`'s level `l` given that the anchor agrees (no expected counts), from `params` and
/// the level's own weights; `None` for the anchor itself or without one.
fn anchored_level(
    params: &Params,
    anchor: Option<AnchorLevels>,
    f: usize,
    l: usize,
    level: &LevelModel,
) -> Option<AnchoredLevel> {
    if anchor.is_none_or(|a| a.field == f) {
        return None;
    }
    let u = *params.u_anchored.get(f)?.get(l)?;
    let candidate_weight = level_weight(level.m, u);
    Some(AnchoredLevel {
        u,
        weight: level_weight(level.m, level.u) + candidate_weight
            - level_weight(level.m, level.u_candidates),
        candidate_weight,
        matches: 0.0,
        non_matches: 0.0,
    })
}

/// What an E-step found.
struct Expectation {
    /// Per unlabelled document, `Σ_j w_j`.
    w_sums: Vec<f64>,
    /// The log-likelihood of the unlabelled documents' comparisons, in bits.
    log_likelihood: f64,
}

/// The E-step on the documents `documents`, whose pairs start at pair `first` and whose
/// responsibilities `w` holds; `log_u` is log2 u per field and level, free and anchored (read
/// only with `likelihood`).
fn expectation_of(
    set: &TrainingSet,
    weights: &ModelWeights,
    log_u: &(Vec<Vec<f64>>, Vec<Vec<f64>>),
    documents: Range<usize>,
    first: usize,
    w: &mut [f64],
    likelihood: bool,
) -> Expectation {
    let anchor = weights.anchor;
    let mut w_sums = Vec::with_capacity(documents.len());
    let mut log_likelihood = 0.0;
    let mut bits: Vec<f64> = Vec::new();
    for d in documents {
        let range = set.document(d);
        bits.clear();
        for pair in range.clone() {
            let anchored = pair_anchored(set, pair, anchor);
            let mut b = 0.0;
            for f in 0..set.fields {
                let level = set.level(pair, f);
                if level != MISSING {
                    b += weights
                        .field_bits(f, usize::from(level), set.freq(pair, f), anchored)
                        .1;
                }
            }
            bits.push(b);
        }
        let labels = set.labels.get(range.clone()).unwrap_or_default();
        let approved = labels.iter().position(|l| *l == Some(true));
        let labelled = labels.iter().any(Option::is_some);
        if let Some(a) = approved {
            for (k, pair) in range.enumerate() {
                if let Some(slot) = w.get_mut(pair - first) {
                    *slot = if k == a { 1.0 } else { 0.0 };
                }
            }
            continue;
        }
        // Posteriors over the pairs not rejected, shifted by the largest exponent.
        let free = |k: usize| labels.get(k).copied().flatten().is_none();
        let n = (0..bits.len()).filter(|&k| free(k)).count();
        let lambda = weights.lambda;
        let prior = lambda.log2() - count_f64(n.max(1)).log2() - (1.0 - lambda).log2();
        let top = bits
            .iter()
            .enumerate()
            .filter(|&(k, _)| free(k))
            .map(|(_, &b)| b + prior)
            .fold(0.0f64, f64::max);
        let mut denominator = (-top).exp2();
        for (k, &b) in bits.iter().enumerate() {
            if free(k) {
                denominator += (b + prior - top).exp2();
            }
        }
        let mut sum = 0.0;
        for (k, pair) in range.enumerate() {
            let value = match bits.get(k) {
                Some(&b) if free(k) => {
                    let p = (b + prior - top).exp2() / denominator;
                    if p.is_finite() {
                        p
                    } else {
                        0.0
                    }
                }
                _ => 0.0,
            };
            if let Some(slot) = w.get_mut(pair - first) {
                *slot = value;
            }
            sum += value;
        }
        if labelled {
            continue;
        }
        w_sums.push(sum);
        if !likelihood {
            continue;
        }
        // P(comparisons) = Π u · (1 − λ) (1 + Σ_j 2^{prior + bits_j}).
        let mut ll = top + denominator.log2() + (1.0 - lambda).log2();
        for pair in set.document(d) {
            let anchored = pair_anchored(set, pair, anchor);
            for f in 0..set.fields {
                let log_u_f = if anchored && anchor.is_none_or(|a| a.field != f) {
                    log_u.1.get(f)
                } else {
                    log_u.0.get(f)
                };
                let Some(log_u_f) = log_u_f else {
                    continue;
                };
                let level = set.level(pair, f);
                if level != MISSING {
                    ll += log_u_f.get(usize::from(level)).copied().unwrap_or(0.0);
                }
            }
        }
        if ll.is_finite() {
            log_likelihood += ll;
        }
    }
    Expectation {
        w_sums,
        log_likelihood,
    }
}

/// m or u of one field from its expected counts, mixed with the uniform distribution by
/// `delta`; fixed levels keep their value and the free ones share the rest.
fn estimate(counts: &[f64], fixed: &[Option<f64>], delta: f64) -> Vec<f64> {
    shrink(counts, fixed, delta, None)
}

/// u given the anchor from its expected counts, shrunk towards `prior` (u where the anchor does
/// not agree) as if the field's `L` levels had been seen `L` more times in its proportions:
/// `δ = L / (L + n)`, so few pairs whose anchor agrees move it little. Fixed levels keep their
/// value.
fn estimate_toward(counts: &[f64], fixed: &[Option<f64>], prior: &[f64]) -> Vec<f64> {
    let strength = count_f64(counts.len());
    let seen: f64 = counts
        .iter()
        .zip(fixed)
        .filter(|(_, f)| f.is_none())
        .map(|(c, _)| c.max(0.0))
        .sum();
    shrink(counts, fixed, strength / (strength + seen), Some(prior))
}

/// The free levels' empirical shares mixed with `toward` (its free levels renormalised;
/// uniform when `None` or empty) by `delta`, scaled into what the fixed levels leave.
fn shrink(counts: &[f64], fixed: &[Option<f64>], delta: f64, toward: Option<&[f64]>) -> Vec<f64> {
    let free = |values: &[f64]| -> f64 {
        values
            .iter()
            .zip(fixed)
            .filter(|(_, f)| f.is_none())
            .map(|(c, _)| c.max(0.0))
            .sum()
    };
    let total = free(counts);
    let toward_total = toward.map_or(0.0, free);
    let free_levels = count_f64(fixed.iter().filter(|f| f.is_none()).count().max(1));
    let fixed_mass: f64 = fixed.iter().flatten().sum();
    let room = (1.0 - fixed_mass).max(0.0);
    let delta = if total > 0.0 {
        delta.clamp(0.0, 1.0)
    } else {
        1.0
    };
    counts
        .iter()
        .zip(fixed)
        .enumerate()
        .map(|(l, (&c, f))| match f {
            Some(p) => *p,
            None => {
                let empirical = if total > 0.0 { c.max(0.0) / total } else { 0.0 };
                let base = match toward.and_then(|t| t.get(l)) {
                    Some(&p) if toward_total > 0.0 => p.max(0.0) / toward_total,
                    _ => 1.0 / free_levels,
                };
                let share = (1.0 - delta) * empirical + delta * base;
                clamp_probability(room * share)
            }
        })
        .collect()
}

fn max_change(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f64::max)
}
