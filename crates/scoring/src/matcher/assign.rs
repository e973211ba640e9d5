//! One-to-one assignment across a whole run: when each reference row can be the match of at
//! most one document (a payment received pays one payment sent), near-identical neighbours must
//! not both claim one row.
//!
//! # Specification
//!
//! The input is every document's ranked candidates as the matcher gave them — probabilistic:
//! each row's match weight `W` and candidate weight `C`, and how many rows the document's
//! candidates were drawn from; weighted: each row's confidence.
//!
//! 1. **The most probable assignment.** Each document either takes one of its candidate rows
//!    or none; the assignment maximises `Σ ln p` over the documents, where `p` is the taken
//!    row's confidence as the matcher gave it, or, for none, `1 − Σ` of the document's
//!    confidences (weighted scoring: `1 −` the best confidence). It is found exactly (up to
//!    rounding) by shortest augmenting paths with potentials — the Hungarian method on the
//!    sparse graph of candidates, each search a Dijkstra over the rows — so near-identical
//!    documents competing for fewer rows settle in a few steps, not a price war.
//! 2. **Decisions again.** Each document is decided anew over its *available* candidates: those
//!    whose row no other document claimed. Probabilistic: the confidences are recomputed over
//!    the available rows ([`super::model::confidences`]), so a rival that took its row no
//!    longer dilutes a document's confidence; weighted: the confidences as they were. Then
//!    [`super::decide`]: threshold, review floor, ambiguity margin.
//!
//! No row is ever the match of two documents: a Matched document's row is the row it claimed.
//! Total on any input (NaN rank values rank last).

use std::collections::HashMap;

/// The smallest probability the assignment's benefits take (`ln` of it bounds them below).
const FLOOR: f64 = 1e-12;

use super::model::confidences;
use super::spec::{MatchSettings, ScoringMode};
use super::{decide, Decision, ScoredCandidate};
use crate::index::RowIdx;

/// One candidate of a document for the assignment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankedRow {
    /// The row (any id the caller chooses).
    pub row: u32,
    /// Probabilistic: the match weight `W` in bits; weighted: the confidence.
    pub value: f64,
    /// Probabilistic: the candidate weight `C` in bits (unused under weighted scoring).
    pub candidate_weight: f64,
}

/// One document's candidates for the assignment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DocumentCandidates {
    /// Its ranked candidates, in any order.
    pub rows: Vec<RankedRow>,
    /// How many rows its candidates were drawn from (`n` of [`super::model`]).
    pub considered: usize,
}

/// A document's outcome after the assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Assigned {
    /// The decision over the available candidates.
    pub decision: Decision,
    /// The matched row; `Some` iff `decision == Matched`.
    pub matched: Option<u32>,
    /// The best available candidate's confidence (0 when none is available).
    pub confidence: f64,
    /// Whether the runner-up among the available candidates is within the margin.
    pub ambiguous: bool,
    /// The available candidates, best first, with their confidences (and weights).
    pub candidates: Vec<ScoredCandidate>,
}

/// The benefits of a document: per candidate row `ln p`, and `ln p(none)`.
fn benefits(
    doc: &DocumentCandidates,
    settings: &MatchSettings,
    lambda: f64,
) -> (Vec<(u32, f64)>, f64) {
    let ps: Vec<f64> = match settings.scoring {
        ScoringMode::Weighted => doc
            .rows
            .iter()
            .map(|r| crate::clamp_score(r.value))
            .collect(),
        ScoringMode::Probabilistic => {
            let weights: Vec<(f64, f64)> = doc
                .rows
                .iter()
                .map(|r| (r.value, r.candidate_weight))
                .collect();
            confidences(&weights, doc.considered.max(doc.rows.len()), lambda)
        }
    };
    let none = match settings.scoring {
        ScoringMode::Weighted => 1.0 - ps.iter().copied().fold(0.0, f64::max),
        ScoringMode::Probabilistic => 1.0 - ps.iter().sum::<f64>(),
    };
    let rows = doc
        .rows
        .iter()
        .zip(ps)
        .map(|(r, p)| (r.row, p.max(FLOOR).ln()))
        .collect();
    (rows, none.max(FLOOR).ln())
}

/// Where a shortest augmenting path ends: a free row, or a document giving its row up for none.
#[derive(Debug, Clone, Copy)]
enum Sink {
    Row(usize),
    None(usize),
}

/// A heap entry of Dijkstra's search: a row at a reduced distance (the smallest pops first).
#[derive(Debug, Clone, Copy)]
struct Reached(f64, usize);

impl PartialEq for Reached {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Reached {}
impl PartialOrd for Reached {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Reached {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

/// The rows' side of one Dijkstra search: tentative distances, the document each row was
/// reached from, which rows are settled, which were touched (to reset them), and the heap.
struct RowSearch {
    dist: Vec<f64>,
    via: Vec<usize>,
    settled: Vec<bool>,
    touched: Vec<usize>,
    heap: std::collections::BinaryHeap<Reached>,
}

impl RowSearch {
    fn new(rows: usize) -> Self {
        RowSearch {
            dist: vec![f64::INFINITY; rows],
            via: vec![0; rows],
            settled: vec![false; rows],
            touched: Vec::new(),
            heap: std::collections::BinaryHeap::new(),
        }
    }

    /// Forgets the last search (only the rows it touched).
    fn reset(&mut self) {
        for &j in &self.touched {
            if let (Some(dj), Some(sj)) = (self.dist.get_mut(j), self.settled.get_mut(j)) {
                *dj = f64::INFINITY;
                *sj = false;
            }
        }
        self.touched.clear();
        self.heap.clear();
    }

    /// Relaxes the edges of document `d` (potential `ud`, holding `held`), reached at `at`:
    /// each unsettled row other than its own gets `at` plus the edge's reduced cost, if lower.
    fn relax(
        &mut self,
        d: usize,
        at: f64,
        edges: &[(usize, f64)],
        held: Option<usize>,
        ud: f64,
        v: &[f64],
    ) {
        for &(j, c) in edges {
            if held == Some(j) || self.settled.get(j).copied().unwrap_or(true) {
                continue;
            }
            let next = at + (c - ud - v.get(j).copied().unwrap_or(0.0)).max(0.0);
            if let (Some(dj), Some(vj)) = (self.dist.get_mut(j), self.via.get_mut(j)) {
                if next < *dj {
                    *dj = next;
                    *vj = d;
                    self.touched.push(j);
                    self.heap.push(Reached(next, j));
                }
            }
        }
    }
}

/// The most probable assignment: which document takes which row (rows no document takes are
/// absent). Shortest augmenting paths with potentials (the Hungarian method on the sparse
/// graph of candidates): documents are added one at a time, each by the cheapest chain of
/// moves that frees it a row or lets a document fall back to none; the potentials keep every
/// reduced cost non-negative, so each search is Dijkstra's. Exact up to rounding.
fn optimal_claims(
    documents: &[DocumentCandidates],
    settings: &MatchSettings,
    lambda: f64,
) -> HashMap<u32, usize> {
    // Costs are −ln p: each document's edges to its rows and to its private none.
    let mut index: HashMap<u32, usize> = HashMap::new();
    let mut row_ids: Vec<u32> = Vec::new();
    let mut edges: Vec<Vec<(usize, f64)>> = Vec::with_capacity(documents.len());
    let mut none_cost: Vec<f64> = Vec::with_capacity(documents.len());
    for doc in documents {
        let (rows, none) = benefits(doc, settings, lambda);
        edges.push(
            rows.into_iter()
                .map(|(row, b)| {
                    let j = *index.entry(row).or_insert_with(|| {
                        row_ids.push(row);
                        row_ids.len() - 1
                    });
                    (j, -b)
                })
                .collect(),
        );
        none_cost.push(-none);
    }
    let rows = row_ids.len();
    // Dual potentials: rows' only fall (a free row's stays 0), documents' only rise.
    let mut v = vec![0.0f64; rows];
    let mut u = vec![0.0f64; documents.len()];
    let mut owner: Vec<Option<usize>> = vec![None; rows];
    let mut holds: Vec<Option<usize>> = vec![None; documents.len()];
    let mut search = RowSearch::new(rows);
    let mut reached: Vec<(usize, f64)> = Vec::new();
    for d0 in 0..documents.len() {
        let (Some(d0_edges), Some(&d0_none)) = (edges.get(d0), none_cost.get(d0)) else {
            continue;
        };
        let start = d0_edges
            .iter()
            .map(|&(j, c)| c - v.get(j).copied().unwrap_or(0.0))
            .fold(d0_none, f64::min);
        if let Some(x) = u.get_mut(d0) {
            *x = start;
        }
        search.reset();
        reached.clear();
        reached.push((d0, 0.0));
        let mut best = (d0_none - start, Sink::None(d0));
        let edges_of = |d: usize| edges.get(d).map_or(&[][..], Vec::as_slice);
        let held_by = |d: usize| holds.get(d).copied().flatten();
        search.relax(d0, 0.0, edges_of(d0), held_by(d0), start, &v);
        while let Some(Reached(at, j)) = search.heap.pop() {
            if at >= best.0 {
                break;
            }
            if at > search.dist.get(j).copied().unwrap_or(f64::INFINITY) {
                continue;
            }
            if let Some(s) = search.settled.get_mut(j) {
                if *s {
                    continue;
                }
                *s = true;
            }
            match owner.get(j).copied().flatten() {
                None => {
                    best = (at, Sink::Row(j));
                    break;
                }
                Some(d) => {
                    reached.push((d, at));
                    let give_up = at
                        + (none_cost.get(d).copied().unwrap_or(0.0)
                            - u.get(d).copied().unwrap_or(0.0))
                        .max(0.0);
                    if give_up < best.0 {
                        best = (give_up, Sink::None(d));
                    }
                    let ud = u.get(d).copied().unwrap_or(0.0);
                    search.relax(d, at, edges_of(d), held_by(d), ud, &v);
                }
            }
        }
        let (length, sink) = best;
        // Potentials: what the search settled moves by its distance short of the path's.
        for &(d, at) in &reached {
            if let Some(x) = u.get_mut(d) {
                *x += (length - at).max(0.0);
            }
        }
        for &j in &search.touched {
            if search.settled.get(j).copied().unwrap_or(false) {
                if let (Some(x), Some(&at)) = (v.get_mut(j), search.dist.get(j)) {
                    *x -= (length - at).max(0.0);
                }
            }
        }
        // Augment: walk the path back from its sink to d0, each document taking the next row.
        let (mut d, mut next) = match sink {
            Sink::Row(j) => (search.via.get(j).copied().unwrap_or(d0), Some(j)),
            Sink::None(d) => (d, None),
        };
        for _ in 0..=documents.len() {
            let previous = holds.get(d).copied().flatten();
            if let Some(h) = holds.get_mut(d) {
                *h = next;
            }
            if let Some(j) = next {
                if let Some(o) = owner.get_mut(j) {
                    *o = Some(d);
                }
            }
            if d == d0 {
                break;
            }
            let Some(j) = previous else { break };
            next = Some(j);
            d = search.via.get(j).copied().unwrap_or(d0);
        }
    }
    owner
        .iter()
        .enumerate()
        .filter_map(|(j, o)| Some((*row_ids.get(j)?, (*o)?)))
        .collect()
}

/// Assigns rows one-to-one (see the module docs); the result is aligned with `documents`.
pub fn one_to_one(
    documents: &[DocumentCandidates],
    settings: &MatchSettings,
    lambda: f64,
) -> Vec<Assigned> {
    let clean = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
    let claimed = optimal_claims(documents, settings, lambda);
    documents
        .iter()
        .enumerate()
        .map(|(d, doc)| {
            let mut available: Vec<RankedRow> = doc
                .rows
                .iter()
                .copied()
                .filter(|r| claimed.get(&r.row).is_none_or(|&owner| owner == d))
                .collect();
            available.sort_by(|a, b| {
                clean(b.value)
                    .total_cmp(&clean(a.value))
                    .then(a.row.cmp(&b.row))
            });
            available.dedup_by_key(|r| r.row);
            let ranked: Vec<ScoredCandidate> = match settings.scoring {
                ScoringMode::Weighted => available
                    .iter()
                    .map(|r| ScoredCandidate {
                        row: RowIdx(r.row),
                        confidence: crate::clamp_score(r.value),
                        match_weight: None,
                        candidate_weight: None,
                    })
                    .collect(),
                ScoringMode::Probabilistic => {
                    let weights: Vec<(f64, f64)> = available
                        .iter()
                        .map(|r| (r.value, r.candidate_weight))
                        .collect();
                    let n = doc.considered.max(available.len());
                    available
                        .iter()
                        .zip(confidences(&weights, n, lambda))
                        .map(|(r, p)| ScoredCandidate {
                            row: RowIdx(r.row),
                            confidence: p,
                            match_weight: Some(r.value),
                            candidate_weight: Some(r.candidate_weight),
                        })
                        .collect()
                }
            };
            let (decision, ambiguous) = decide(&ranked, settings);
            // The best available row is the one this document claimed (or no one's).
            let best = ranked.first();
            let matched = match (decision, best) {
                (Decision::Matched, Some(b)) if claimed.get(&b.row.0) == Some(&d) => Some(b.row.0),
                _ => None,
            };
            let decision = if decision == Decision::Matched && matched.is_none() {
                Decision::Review
            } else {
                decision
            };
            Assigned {
                decision,
                matched,
                confidence: best.map_or(0.0, |b| b.confidence),
                ambiguous,
                candidates: ranked,
            }
        })
        .collect()
}
