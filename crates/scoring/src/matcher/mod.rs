//! The matcher: scores a document against a reference dataset through a candidate index, and
//! decides match / review / no match.
//!
//! * [`spec`] validates a configuration ([`FieldMapping`]s + [`MatchSettings`]) into a
//!   [`MatchSpec`].
//! * [`ReferenceIndex::build`] prepares the reference rows once per dataset and
//!   [`MatchSpec::index_key`]: every value is normalised or parsed once, distinct values are
//!   interned (a vendor name shared by 200 invoices is analysed and compared once per document),
//!   and each field gets a candidate source.
//! * [`ReferenceIndex::match_document`] generates candidates, scores them and decides.
//!
//! # Candidate generation
//!
//! Never all pairs. Each field with a value on the document proposes rows, recall first:
//!
//! | strategy | source | proposes |
//! |---|---|---|
//! | `exact` | hashed normalised keys | the rows holding the key |
//! | `fuzzy` `identifier` | hashed [`crate::text::identifier_keys`] (normalised and digits) | the rows holding either key |
//! | `fuzzy` `text` / `name` / `short_text` | a [`TextIndex`] over the *distinct* values | the rows of the most similar values (`short_text`: only when the joint scan below did not run) |
//! | `date_range` + `numeric_range` | the rows sorted by date then amount, with a day table | the rows inside both windows, closest first (and sharing the longest prefix of each `short_text` field, which then proposes nothing else: a row outside the windows would not win) |
//! | `date_range` or `numeric_range` alone | a [`RangeIndex`] | the nearest rows |
//!
//! A key or value held by many rows (a vendor with hundreds of invoices, a currency) proposes
//! only the [`GROUP_WINDOW`] rows nearest to the document on the *ordering field* (the first
//! date field, else the first amount field): the rows of each group are stored sorted on it.
//! Each proposal carries evidence (field weight × how selective / how close; under a trained
//! probabilistic model the field weight is how well the field tells a match from the other
//! candidates, see [`MatchSpec`]'s proposal weights); the proposals are summed per row and the best [`MAX_SCORED`] rows are scored in full. How many rows were scored
//! is reported as [`MatchOutcome::candidates_considered`].
//!
//! # Confidence
//!
//! Per docs/DESIGN.md ("Scoring semantics"): each field scores in `[0, 1]` (see
//! [`crate::similarity`]; a `fuzzy` field with `min_score` scores 0 below it); a field missing
//! on either side is left out and the weights of the others renormalised; the confidence is the
//! weighted mean. The candidates are ranked by confidence (ties by row); the best decides:
//!
//! * **ambiguous** when another row's confidence is within `ambiguity_margin` of the best;
//! * **Matched** when the best reaches `threshold` and is not ambiguous;
//! * **Review** when the best reaches `review_floor` (or is ambiguous above the threshold);
//! * **Unmatched** otherwise (the confidence of the best is still reported).

pub mod assign;
pub mod levels;
pub mod model;
pub mod spec;
pub mod train;

mod field;
mod hash;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_model;

use crate::clamp_score;
use crate::index::{
    date_key, RangeIndex, RowIdx, TextIndex, TextIndexConfig, TextKind, TextScratch,
};
use crate::num::{count_f32, count_f64, distance_f64, saturating_u64, to_f32};

use field::{prepare, Prepared};
use hash::FxHashMap;
pub use levels::{ComparisonLevels, LevelSpec};
pub use model::{confidences, MatchModel};
use spec::ProposalWeights;
pub use spec::{
    Assignment, ExactNormalize, FieldMapping, FieldRule, FuzzyKind, MatchSettings, MatchSpec,
    ScoringMode, SpecError, Strategy,
};
pub use train::{train, TrainingOptions, TrainingSet};

/// A key or value held by more rows than this proposes only this many of them (per reading of
/// the document's ordering value), the ones nearest to the document on the ordering field.
pub const GROUP_WINDOW: usize = 8;
/// A fuzzy text field proposes the rows of at most this many similar values...
pub const TEXT_VALUES: usize = 64;
/// ...and stops adding values once it has proposed this many rows.
pub const TEXT_ROWS: usize = 64;
/// Identifier keys shorter than this (in characters) have no one-edit neighbours indexed: too
/// many short keys are one edit apart.
pub const NEAR_MIN_CHARS: usize = 4;
/// ...nor keys longer than this.
pub const NEAR_MAX_CHARS: usize = 32;
/// A one-edit variant shared by more keys than this proposes nothing.
pub const NEAR_MAX_KEYS: usize = 16;
/// The evidence of a key one edit away, relative to an exact key.
pub const NEAR_EVIDENCE: f32 = 0.5;
/// The posting budget of the text indexes (see [`TextIndexConfig::posting_budget`]).
pub const TEXT_POSTING_BUDGET: usize = 512;
/// A range source proposes at most this many rows.
pub const RANGE_ROWS: usize = 64;
/// The joint date-and-amount scan proposes at most this many rows when a `short_text` field
/// ranks them (the window is often dense with rows of similar dates and amounts).
pub const JOINT_TEXT_ROWS: usize = 16;
/// The joint date-and-amount scan runs when the date window is at most this many days either
/// side (it costs two binary searches per day); beyond, each field proposes its nearest rows on
/// its own.
pub const JOINT_MAX_DAYS: u64 = 400;
/// An exact key held by more than this share of the rows (and more than [`STOP_MIN_ROWS`])
/// proposes no candidates: it tells rows apart too little (a currency, a country).
pub const STOP_SHARE: f64 = 0.05;
/// See [`STOP_SHARE`].
pub const STOP_MIN_ROWS: usize = 64;
/// At most this many proposed rows (the best by summed evidence) are scored in full (16 scored
/// no more true rows on the benchmark sets than 10 and cost a third more time).
pub const MAX_SCORED: usize = 10;
/// How many scored candidates an outcome lists.
pub const TOP_CANDIDATES: usize = 5;
/// The most candidates an outcome may keep ([`MatchSettings::with_candidates`]).
pub const MAX_CANDIDATES: usize = 20;

/// How many random reference rows each training document is also compared with (for u).
pub const RANDOM_PAIRS_PER_DOCUMENT: usize = 20;

/// One step of the splitmix64 generator: a well-mixed 64-bit value of `state`.
fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// No value (in `row_value`).
const MISSING: u32 = u32::MAX;

/// The decision on one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The best candidate reached the threshold and is not ambiguous.
    Matched,
    /// A person should look: the best candidate is in the review band, or ambiguous.
    Review,
    /// No candidate is good enough.
    Unmatched,
}

/// A scored candidate row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredCandidate {
    /// The reference row.
    pub row: RowIdx,
    /// Its confidence, in `[0, 1]`.
    pub confidence: f64,
    /// Probabilistic scoring: its match weight `W` in bits (see [`model`]); `None` under
    /// weighted scoring.
    pub match_weight: Option<f64>,
    /// Probabilistic scoring: its candidate weight `C` in bits (see [`model`]).
    pub candidate_weight: Option<f64>,
}

/// The score of one field for the best candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldEvidence {
    /// The field's score in `[0, 1]`; `None` when the value is missing on either side (the
    /// field was left out: it weighs nothing).
    pub score: Option<f64>,
    /// The comparison level the score falls into (an index into the field's levels); `None`
    /// when missing.
    pub level: Option<usize>,
    /// Probabilistic scoring: what the field adds to the match weight, in bits (term
    /// frequencies included); `None` when missing or under weighted scoring.
    pub bits: Option<f64>,
    /// Probabilistic scoring: what the field adds to the candidate weight, in bits.
    pub candidate_bits: Option<f64>,
}

/// What the matcher says about one document.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchOutcome {
    /// The decision.
    pub decision: Decision,
    /// The matched row; `Some` iff `decision == Matched`.
    pub matched: Option<RowIdx>,
    /// The confidence of the best candidate, in `[0, 1]`; 0.0 when there is none.
    pub confidence: f64,
    /// Whether another row's confidence is within the ambiguity margin of the best.
    pub ambiguous: bool,
    /// The best candidates (at most [`MatchSettings::candidates`], by default
    /// [`TOP_CANDIDATES`]), by descending confidence, ties by row.
    pub candidates: Vec<ScoredCandidate>,
    /// Per field (aligned with [`MatchSpec::fields`]) for the best candidate; empty when there
    /// is no candidate.
    pub evidence: Vec<FieldEvidence>,
    /// Probabilistic scoring: the best candidate's match weight in bits.
    pub match_weight: Option<f64>,
    /// How many rows were scored for this document.
    pub candidates_considered: usize,
}

impl MatchOutcome {
    fn unmatched() -> Self {
        MatchOutcome {
            decision: Decision::Unmatched,
            matched: None,
            confidence: 0.0,
            ambiguous: false,
            candidates: Vec::new(),
            evidence: Vec::new(),
            match_weight: None,
            candidates_considered: 0,
        }
    }
}

/// A row's cheap fields: the weighted sum and total weight of the fields other than the fuzzy
/// text ones (probabilistic: their bits, and `total` unused), and an upper bound of its rank
/// value (the confidence, or the match weight).
#[derive(Debug, Clone, Copy)]
struct Partial {
    upper: f64,
    row: u32,
    sum: f64,
    total: f64,
    /// Probabilistic: the cheap fields' candidate bits.
    exist: f64,
    /// Probabilistic: `sum` and `exist` had the row's anchor agreed.
    sum_anchored: f64,
    exist_anchored: f64,
    /// Whether the row's anchor agrees, when the cheap part already knows.
    anchor: Option<bool>,
}

/// What one field adds to a row.
#[derive(Debug, Clone, Copy)]
struct Contribution {
    /// Weighted: weight × score; probabilistic: the match-weight bits (the anchor not
    /// agreeing).
    add: f64,
    /// Weighted: the weight; probabilistic: 0.
    weight: f64,
    /// Probabilistic: the candidate-weight bits (the anchor not agreeing).
    exist: f64,
    /// Probabilistic: `add` and `exist` when the row's anchor agrees (weighted: the same).
    add_anchored: f64,
    exist_anchored: f64,
    level: usize,
}

impl Contribution {
    /// What it adds to the match weight and candidate weight (weighted: the weighted score and
    /// 0) when the anchor agrees or not.
    fn bits(&self, anchored: bool) -> (f64, f64) {
        if anchored {
            (self.add_anchored, self.exist_anchored)
        } else {
            (self.add, self.exist)
        }
    }
}

/// Reusable per-thread buffers for [`ReferenceIndex::match_document`]. One per thread; it adapts
/// to whichever index it is used with.
#[derive(Debug, Default)]
pub struct MatchScratch {
    text: TextScratch,
    /// Summed evidence per row; zero between documents.
    acc: Vec<f32>,
    touched: Vec<u32>,
    /// One field's proposals, `(row, evidence)`.
    proposals: Vec<(u32, f32)>,
    /// Per field, the similarity of the document's value to each distinct reference value
    /// (NaN: not computed yet), reset between documents through `cache_touched`.
    cache: Vec<Vec<f32>>,
    cache_touched: Vec<Vec<u32>>,
    /// The best rows so far: `(row, rank value, candidate weight)`.
    scored: Vec<(u32, f64, f64)>,
    scored_rows: Vec<RowIdx>,
    /// The index the memos are for, and per field the memo and the current document's slot.
    memo_owner: u64,
    memos: Vec<TextMemo>,
    memo_slots: Vec<Option<u32>>,
    memo_key: String,
    /// Per considered row, its cheap part.
    partials: Vec<Partial>,
}

impl MatchScratch {
    /// The rows scored in full by the last [`ReferenceIndex::match_document`] call, ascending.
    pub fn scored_rows(&self) -> &[RowIdx] {
        &self.scored_rows
    }

    fn prepare(&mut self, rows: usize, value_counts: &[usize]) {
        for &r in &self.touched {
            if let Some(a) = self.acc.get_mut(r as usize) {
                *a = 0.0;
            }
        }
        self.touched.clear();
        if self.acc.len() != rows {
            self.acc.clear();
            self.acc.resize(rows, 0.0);
        }
        if self.cache.len() != value_counts.len() {
            self.cache = vec![Vec::new(); value_counts.len()];
            self.cache_touched = vec![Vec::new(); value_counts.len()];
        }
        for ((cache, touched), &n) in self
            .cache
            .iter_mut()
            .zip(self.cache_touched.iter_mut())
            .zip(value_counts)
        {
            for &v in touched.iter() {
                if let Some(c) = cache.get_mut(v as usize) {
                    *c = f32::NAN;
                }
            }
            touched.clear();
            if cache.len() != n {
                cache.clear();
                cache.resize(n, f32::NAN);
            }
        }
    }

    fn add(&mut self, row: u32, evidence: f32) {
        if let Some(a) = self.acc.get_mut(row as usize) {
            if *a <= 0.0 {
                self.touched.push(row);
                *a = f32::MIN_POSITIVE;
            }
            *a += evidence.max(0.0);
        }
    }
}

/// Rows grouped by a key, each group sorted by the ordering key (then row).
#[derive(Debug, Clone, Default)]
struct Groups {
    offsets: Vec<u32>,
    entries: Vec<(i64, u32)>,
}

impl Groups {
    /// `pairs` are `(group, ordering key, row)`.
    fn build(mut pairs: Vec<(u32, i64, u32)>, groups: usize) -> Self {
        pairs.sort_unstable();
        pairs.dedup();
        let mut offsets = vec![0u32; groups + 1];
        for &(g, _, _) in &pairs {
            if let Some(c) = offsets.get_mut(g as usize + 1) {
                *c += 1;
            }
        }
        for i in 1..offsets.len() {
            offsets[i] = offsets[i].saturating_add(offsets[i - 1]);
        }
        let entries = pairs.into_iter().map(|(_, k, r)| (k, r)).collect();
        Groups { offsets, entries }
    }

    fn get(&self, group: u32) -> &[(i64, u32)] {
        let g = group as usize;
        match (self.offsets.get(g), self.offsets.get(g + 1)) {
            (Some(&a), Some(&b)) => self.entries.get(a as usize..b as usize).unwrap_or_default(),
            _ => &[],
        }
    }
}

/// Calls `sink` with the rows of `group` nearest to each of `centers` on the ordering key (all of
/// them when the group is small).
fn window(group: &[(i64, u32)], centers: &[i64], mut sink: impl FnMut(u32)) {
    if group.len() <= GROUP_WINDOW || centers.is_empty() {
        for &(_, r) in group.iter().take(GROUP_WINDOW) {
            sink(r);
        }
        return;
    }
    for &center in centers {
        let split = group.partition_point(|&(k, _)| k < center);
        let (mut lo, mut hi) = (split, split);
        for _ in 0..GROUP_WINDOW {
            let below = lo.checked_sub(1).and_then(|i| group.get(i));
            let above = group.get(hi);
            let take_below = match (below, above) {
                (Some(&(kb, _)), Some(&(ka, _))) => center.abs_diff(kb) <= center.abs_diff(ka),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_below {
                lo -= 1;
                if let Some(&(_, r)) = group.get(lo) {
                    sink(r);
                }
            } else {
                if let Some(&(_, r)) = group.get(hi) {
                    sink(r);
                }
                hi += 1;
            }
        }
    }
}

/// How a field proposes candidates.
#[derive(Debug, Clone)]
enum Source {
    /// Exact keys → groups of rows; for fuzzy identifiers also `near`: hashes of each
    /// normalised key and of its one-character deletions, sorted, with the key's id (so that a
    /// key one edit away is found: a dropped, inserted or replaced character).
    Keys {
        keys: FxHashMap<Box<str>, u32>,
        groups: Groups,
        near: NearKeys,
    },
    /// Distinct values in a text index (and by their exact normalised text); value → rows.
    Text {
        index: Box<TextIndex>,
        exact: FxHashMap<Box<str>, Vec<u32>>,
        groups: Groups,
    },
    /// A range index over the rows (dates or amounts).
    Range(RangeIndex),
}

/// One field of the reference side.
#[derive(Debug, Clone)]
struct Column {
    strategy: Strategy,
    /// row → distinct value id, or [`MISSING`].
    row_value: Vec<u32>,
    /// Distinct values, prepared.
    values: Vec<Prepared>,
    /// Distinct raw values, as given.
    raws: Vec<Box<str>>,
    /// Per distinct value, log2 of how many rows hold it (identifiers: share its digits), for
    /// term frequencies.
    log2_freq: Vec<f32>,
    /// `fuzzy` `identifier`: per distinct value, log2 of how many distinct numbers lie within
    /// one edit of it (itself included); empty otherwise.
    log2_near: Vec<f32>,
    /// `fuzzy` `short_text`: per row, its text's [`TextHead`] (`None`: missing), which the joint
    /// scan's prefix evidence reads without touching the text; empty otherwise.
    heads: Vec<Option<TextHead>>,
    source: Source,
}

/// The first four bytes of a text (big-endian, zero-padded) and its length in bytes; `head` is
/// [`TextHead::SLOW`] when its first four bytes are not all ASCII.
#[derive(Debug, Clone, Copy)]
struct TextHead {
    head: u32,
    len: u32,
}

impl TextHead {
    const SLOW: u32 = u32::MAX;

    fn of(text: &str) -> TextHead {
        let bytes = text.as_bytes();
        let first = bytes.get(..4).unwrap_or(bytes);
        let head = if first.is_ascii() {
            let mut b = [0u8; 4];
            b[..first.len()].copy_from_slice(first);
            u32::from_be_bytes(b)
        } else {
            Self::SLOW
        };
        TextHead {
            head,
            len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        }
    }

    /// The characters `a` and `b` share at the start, when their heads tell it alone (the
    /// heads differ within the shorter text's length, or the shorter ends within them).
    fn shared(a: TextHead, b: TextHead) -> Option<usize> {
        if a.head == Self::SLOW || b.head == Self::SLOW {
            return None;
        }
        let shorter = a.len.min(b.len) as usize;
        let equal_bytes = ((a.head ^ b.head).leading_zeros() / 8) as usize;
        if equal_bytes < 4 || shorter <= 4 {
            Some(equal_bytes.min(shorter))
        } else {
            None
        }
    }
}

/// The reference side of a matching run, prepared for one [`MatchSpec::index_key`]: built once
/// per dataset and key, then shared read-only across threads (it is `Send + Sync`; wrap it in an
/// `Arc`).
#[derive(Debug, Clone)]
pub struct ReferenceIndex {
    /// A process-wide unique id, so that a [`MatchScratch`] knows which index its memo is for.
    instance: u64,
    index_key: String,
    ids: Vec<Box<str>>,
    columns: Vec<Column>,
    /// The field whose value orders the groups, if any (a date field, else an amount field).
    ordering: Option<usize>,
    /// The first date field and the first amount field, scanned together when both exist.
    joint: Option<(usize, usize)>,
    /// The rows sorted by date then amount, for the joint scan.
    by_date: Vec<JointEntry>,
    /// `by_date` by day: the entries of day `day_base + k` are
    /// `by_date[day_starts[k]..day_starts[k + 1]]` (empty when the dates span more than
    /// [`MAX_DAY_TABLE`] days: then days are found by binary search).
    day_base: i64,
    day_starts: Vec<u32>,
    /// Per field, the number of distinct values.
    value_counts: Vec<usize>,
    /// Exact keys held by more rows than this propose nothing (a currency, a country).
    max_group: usize,
}

/// No key.
const NO_KEY: i64 = i64::MIN;

/// The next [`ReferenceIndex::instance`].
static NEXT_INSTANCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A memo holds at most this many distinct document texts per field...
pub const MEMO_TEXTS: usize = 16_384;
/// ...and this many similarities per field; beyond, it starts afresh.
pub const MEMO_SIMILARITIES: usize = 1 << 20;

/// What a [`MatchScratch`] remembers across documents for one fuzzy text field: documents of
/// one vendor often carry the very same (normalised) name, so its candidate values and its
/// similarity to each reference value are computed once. Results are the same with or without.
#[derive(Debug, Default)]
struct TextMemo {
    /// Document text → slot.
    slots: FxHashMap<Box<str>, u32>,
    /// Per slot, the text index's answer.
    hits: Vec<Vec<crate::index::Candidate>>,
    /// `(slot, value)` → similarity.
    similarities: FxHashMap<(u32, u32), f32>,
}

impl TextMemo {
    fn clear(&mut self) {
        self.slots.clear();
        self.hits.clear();
        self.similarities.clear();
    }
}

/// One entry of the joint-scan array: a date reading (`key`) and the amount (`other[0]`) of a
/// row, sorted by date then amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct JointEntry {
    key: i64,
    other: [i64; 2],
    row: u32,
}

impl ReferenceIndex {
    /// Builds the index. `rows` are `(row id, values)` with `values[i]` the raw value of column
    /// `spec.fields()[i].target` (`None` when empty); missing trailing values count as empty and
    /// extra ones are ignored. At most `u32::MAX - 1` rows are indexed.
    pub fn build(spec: &MatchSpec, rows: Vec<(String, Vec<Option<String>>)>) -> ReferenceIndex {
        Self::build_parallel(spec, rows, 1)
    }

    /// [`Self::build`] with the fields prepared and indexed on up to `threads` threads (scoped
    /// threads that end before it returns; 0 or 1 builds on the caller's thread). The index is
    /// the same whatever the number of threads.
    pub fn build_parallel(
        spec: &MatchSpec,
        rows: Vec<(String, Vec<Option<String>>)>,
        threads: usize,
    ) -> ReferenceIndex {
        let rules = spec.fields();
        let n_fields = rules.len();
        let limit = (u32::MAX - 1) as usize;
        let n = rows.len().min(limit);
        let mut ids: Vec<Box<str>> = Vec::with_capacity(n);
        let mut raw_columns: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(n); n_fields];
        for (id, row) in rows.into_iter().take(n) {
            ids.push(id.into());
            let mut row = row.into_iter();
            for column in raw_columns.iter_mut() {
                column.push(row.next().flatten());
            }
        }
        let tasks: Vec<(Strategy, Vec<Option<String>>)> =
            rules.iter().map(|r| r.strategy).zip(raw_columns).collect();
        let prepared = run_parallel(tasks, threads, |(strategy, column)| {
            intern_column(&strategy, column)
        });
        let mut row_values = Vec::with_capacity(n_fields);
        let mut values = Vec::with_capacity(n_fields);
        let mut raws = Vec::with_capacity(n_fields);
        for (rv, v, r) in prepared {
            row_values.push(rv);
            values.push(v);
            raws.push(r);
        }

        let first_of = |date: bool| {
            rules.iter().position(|r| {
                matches!(
                    (date, &r.strategy),
                    (true, Strategy::DateRange { .. }) | (false, Strategy::NumericRange { .. })
                )
            })
        };
        let (first_date, first_amount) = (first_of(true), first_of(false));
        let ordering = first_date.or(first_amount);
        let joint = first_date.zip(first_amount);

        // The ordering key of each row: its (preferred) date or amount.
        let order_key = |f: Option<usize>| -> Vec<i64> {
            let mut keys = vec![NO_KEY; n];
            if let Some(f) = f {
                for (row, key) in keys.iter_mut().enumerate() {
                    let v = row_values[f][row];
                    if let Some(p) = values[f].get(v as usize) {
                        *key = p.range_keys()[0].unwrap_or(NO_KEY);
                    }
                }
            }
            keys
        };
        let ordering_keys = order_key(ordering);

        let mut by_date = Vec::new();
        if let Some((d, a)) = joint {
            let keys_of = |f: usize, row: usize| -> [Option<i64>; 2] {
                let v = row_values[f][row];
                values[f]
                    .get(v as usize)
                    .map_or([None, None], Prepared::range_keys)
            };
            for row in 0..n {
                let row32 = u32::try_from(row).unwrap_or(MISSING);
                let [d0, d1] = keys_of(d, row);
                let [amount, _] = keys_of(a, row);
                let (Some(d0), Some(amount)) = (d0, amount) else {
                    continue;
                };
                let d1 = d1.unwrap_or(d0);
                for date in if d1 == d0 { vec![d0] } else { vec![d0, d1] } {
                    by_date.push(JointEntry {
                        key: date,
                        other: [amount, amount],
                        row: row32,
                    });
                }
            }
            by_date.sort_unstable();
        }
        let (day_base, day_starts) = day_table(&by_date);

        let tasks: Vec<ColumnParts> = rules
            .iter()
            .zip(row_values.into_iter().zip(values).zip(raws))
            .map(|(rule, ((rv, v), r))| (rule.strategy, rv, v, r))
            .collect();
        let ordering_keys = &ordering_keys;
        let columns: Vec<Column> =
            run_parallel(tasks, threads, |(strategy, row_value, values, raws)| {
                let source = build_source(&strategy, &row_value, &values, ordering_keys);
                let log2_freq = value_frequencies(&row_value, &values);
                let log2_near = neighbourhood_frequencies(&source, &values);
                let heads = match strategy {
                    Strategy::Fuzzy {
                        kind: FuzzyKind::ShortText,
                        ..
                    } => row_value
                        .iter()
                        .map(|&v| match values.get(v as usize) {
                            Some(Prepared::Text(t)) => Some(TextHead::of(t)),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                Column {
                    strategy,
                    row_value,
                    values,
                    raws,
                    log2_freq,
                    log2_near,
                    heads,
                    source,
                }
            });
        let value_counts = columns.iter().map(|c| c.values.len()).collect();
        ReferenceIndex {
            instance: NEXT_INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            index_key: spec.index_key(),
            ids,
            columns,
            ordering,
            joint,
            by_date,
            day_base,
            day_starts,
            value_counts,
            max_group: usize::try_from(saturating_u64(count_f64(n) * STOP_SHARE))
                .unwrap_or(usize::MAX)
                .max(STOP_MIN_ROWS),
        }
    }

    /// The number of reference rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no reference rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The index key of the spec the index was built with.
    pub fn index_key(&self) -> &str {
        &self.index_key
    }

    /// The id of `row` ("" for a row that does not exist).
    pub fn row_id(&self, row: RowIdx) -> &str {
        self.ids.get(row.0 as usize).map_or("", |id| id)
    }

    /// The raw value of `row` in field `field` (aligned with the spec's fields), for evidence;
    /// `None` when empty, unparseable, or out of range.
    pub fn reference_value(&self, row: RowIdx, field: usize) -> Option<&str> {
        let column = self.columns.get(field)?;
        let v = *column.row_value.get(row.0 as usize)?;
        column.raws.get(v as usize).map(|raw| &**raw)
    }

    /// Matches one document. `doc_values` are aligned with `spec.fields()` (by source; `None`
    /// when missing or empty; missing trailing values count as `None`). `spec` must have the
    /// index key the index was built with; otherwise the outcome is Unmatched with no candidate.
    pub fn match_document(
        &self,
        spec: &MatchSpec,
        doc_values: &[Option<&str>],
        scratch: &mut MatchScratch,
    ) -> MatchOutcome {
        scratch.scored_rows.clear();
        if spec.index_key_ref() != self.index_key || self.ids.is_empty() {
            return MatchOutcome::unmatched();
        }
        let doc = self.prepare_document(doc_values, scratch);
        self.propose(&doc, spec.proposal_weights(), scratch);
        let shown = spec.settings().candidates.max(1);
        let keep = shown.max(TOP_CANDIDATES);
        let proposed = self.best_proposed(keep, scratch);

        // Every proposed row is compared on its cheap fields first, which bounds its rank value
        // (confidence, or match weight) from above (a costly text comparison not made yet counts
        // at its best); the rows are then completed in order of that bound until no remaining
        // row can enter the top `keep`. The outcome is exactly that of completing every row.
        let mut partials = std::mem::take(&mut scratch.partials);
        partials.clear();
        for &row in &proposed {
            let partial = self.cheap_part(spec, &doc, row, scratch);
            partials.push(partial);
            scratch.scored_rows.push(RowIdx(row));
        }
        partials.sort_unstable_by(|a, b| b.upper.total_cmp(&a.upper).then(a.row.cmp(&b.row)));
        scratch.scored.clear();
        for partial in &partials {
            if scratch.scored.len() >= keep {
                let kth = scratch.scored.get(keep - 1).map_or(0.0, |s| s.1);
                if partial.upper < kth {
                    break;
                }
            }
            let (value, exist) = self.complete(spec, partial, &doc, scratch, None);
            let row = partial.row;
            let at = scratch
                .scored
                .partition_point(|&(r, c, _)| c > value || (c == value && r < row));
            scratch.scored.insert(at, (row, value, exist));
            scratch.scored.truncate(keep);
        }
        let Some(&(best_row, _, _)) = scratch.scored.first() else {
            scratch.partials = partials;
            return MatchOutcome::unmatched();
        };
        let settings = spec.settings();
        // Each kept candidate's confidence (and weights).
        let ranked: Vec<ScoredCandidate> = match settings.scoring {
            ScoringMode::Weighted => scratch
                .scored
                .iter()
                .map(|&(row, confidence, _)| ScoredCandidate {
                    row: RowIdx(row),
                    confidence,
                    match_weight: None,
                    candidate_weight: None,
                })
                .collect(),
            ScoringMode::Probabilistic => {
                let weights: Vec<(f64, f64)> =
                    scratch.scored.iter().map(|&(_, w, c)| (w, c)).collect();
                let p = spec.weights().confidences(&weights, proposed.len());
                scratch
                    .scored
                    .iter()
                    .zip(p)
                    .map(|(&(row, w, c), confidence)| ScoredCandidate {
                        row: RowIdx(row),
                        confidence,
                        match_weight: Some(w),
                        candidate_weight: Some(c),
                    })
                    .collect()
            }
        };
        let (decision, ambiguous) = decide(&ranked, &settings);
        let best = ranked.first().copied().unwrap_or(ScoredCandidate {
            row: RowIdx(best_row),
            confidence: 0.0,
            match_weight: None,
            candidate_weight: None,
        });
        let mut evidence = Vec::with_capacity(self.columns.len());
        let best_part = match partials.iter().find(|p| p.row == best_row) {
            Some(part) => *part,
            None => self.cheap_part(spec, &doc, best_row, scratch),
        };
        self.complete(spec, &best_part, &doc, scratch, Some(&mut evidence));
        scratch.partials = partials;
        MatchOutcome {
            decision,
            matched: (decision == Decision::Matched).then_some(best.row),
            confidence: best.confidence,
            ambiguous,
            candidates: ranked.into_iter().take(shown).collect(),
            evidence,
            match_weight: best.match_weight,
            candidates_considered: scratch.scored_rows.len(),
        }
    }

    /// Prepares a document's values for the index's fields and resets the scratch for it.
    fn prepare_document(
        &self,
        doc_values: &[Option<&str>],
        scratch: &mut MatchScratch,
    ) -> Vec<Option<Prepared>> {
        let doc: Vec<Option<Prepared>> = self
            .columns
            .iter()
            .enumerate()
            .map(|(f, column)| {
                doc_values
                    .get(f)
                    .copied()
                    .flatten()
                    .and_then(|raw| prepare(&column.strategy, raw))
            })
            .collect();
        scratch.prepare(self.ids.len(), &self.value_counts);
        if scratch.memo_owner != self.instance || scratch.memos.len() != self.columns.len() {
            scratch.memo_owner = self.instance;
            scratch.memos = (0..self.columns.len())
                .map(|_| TextMemo::default())
                .collect();
        }
        scratch.memo_slots.clear();
        for (f, column) in self.columns.iter().enumerate() {
            let slot = match (&column.source, doc.get(f).and_then(Option::as_ref)) {
                (Source::Text { .. }, Some(value)) => {
                    let key = &mut scratch.memo_key;
                    scratch
                        .memos
                        .get_mut(f)
                        .and_then(|memo| memo_slot(memo, value, key))
                }
                _ => None,
            };
            scratch.memo_slots.push(slot);
        }
        doc
    }

    /// The proposed rows worth scoring in full, ascending: the best by summed evidence. A wider
    /// candidate list (an AI pass's `k`) scores proportionally more proposed rows; a narrower one
    /// still ranks the default number, so that the decision (which needs the runner-up) is the
    /// same whatever `k` is.
    fn best_proposed(&self, keep: usize, scratch: &MatchScratch) -> Vec<u32> {
        let mut proposed: Vec<(f32, u32)> = scratch
            .touched
            .iter()
            .map(|&r| (scratch.acc.get(r as usize).copied().unwrap_or(0.0), r))
            .collect();
        let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let max_scored = MAX_SCORED.max(2 * keep);
        if proposed.len() > max_scored {
            proposed.select_nth_unstable_by(max_scored - 1, order);
            proposed.truncate(max_scored);
        }
        let mut rows: Vec<u32> = proposed.into_iter().map(|(_, r)| r).collect();
        rows.sort_unstable();
        rows
    }

    /// The comparison of a document with the rows the index proposes for it (at most as many
    /// as [`Self::match_document`] scores), every field compared: what a model is trained on.
    /// Appends one pair per row to `set`, as one document. Rows are compared in ascending
    /// order; nothing is appended when the spec's index key is not the index's.
    pub fn training_pairs(
        &self,
        spec: &MatchSpec,
        doc_values: &[Option<&str>],
        scratch: &mut MatchScratch,
        set: &mut TrainingSet,
    ) {
        scratch.scored_rows.clear();
        if spec.index_key_ref() != self.index_key || self.ids.is_empty() {
            return;
        }
        let doc = self.prepare_document(doc_values, scratch);
        self.propose(&doc, spec.proposal_weights(), scratch);
        let keep = spec.settings().candidates.max(1).max(TOP_CANDIDATES);
        let rows = self.best_proposed(keep, scratch);
        set.begin_document();
        for row in rows {
            let comparison = self.compare_prepared(spec, &doc, row, scratch);
            set.push_pair(RowIdx(row), &comparison, None);
        }
        // Random rows, for u: a deterministic sequence per document of the set.
        set.set_reference_rows(self.ids.len());
        let n = self.ids.len() as u64;
        let document = set.first_document + set.documents();
        let mut state = (document as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66;
        for _ in 0..RANDOM_PAIRS_PER_DOCUMENT {
            state = splitmix64(state);
            let row = u32::try_from(state % n.max(1)).unwrap_or(0);
            let comparison = self.compare_prepared(spec, &doc, row, scratch);
            set.push_random_pair(&comparison);
        }
    }

    /// [`Self::training_pairs`] of every document, in order, on up to `threads` threads: the
    /// same set as one thread's.
    pub fn training_set(
        &self,
        spec: &MatchSpec,
        documents: &[Vec<Option<&str>>],
        threads: usize,
    ) -> TrainingSet {
        let part = documents.len().div_ceil(threads.max(1)).max(1);
        let tasks: Vec<(usize, &[Vec<Option<&str>>])> = documents
            .chunks(part)
            .enumerate()
            .map(|(i, chunk)| (i * part, chunk))
            .collect();
        let parts = run_parallel(tasks, threads, |(first, chunk)| {
            let mut set = TrainingSet::new(spec);
            set.first_document = first;
            let mut scratch = MatchScratch::default();
            for values in chunk {
                self.training_pairs(spec, values, &mut scratch, &mut set);
            }
            set
        });
        let mut set = TrainingSet::new(spec);
        for part in parts {
            set.append(part);
        }
        set
    }

    /// The evidence of one document against one given row (a row other than the best, such as
    /// the one a one-to-one assignment gave the document): per field its score, level and bits,
    /// as [`MatchOutcome::evidence`] gives them for the best. Empty when the spec's index key is
    /// not the index's or the row does not exist.
    pub fn evidence_for(
        &self,
        spec: &MatchSpec,
        doc_values: &[Option<&str>],
        row: RowIdx,
        scratch: &mut MatchScratch,
    ) -> Vec<FieldEvidence> {
        if spec.index_key_ref() != self.index_key || row.0 as usize >= self.ids.len() {
            return Vec::new();
        }
        let doc = self.prepare_document(doc_values, scratch);
        let part = self.cheap_part(spec, &doc, row.0, scratch);
        let mut evidence = Vec::with_capacity(self.columns.len());
        self.complete(spec, &part, &doc, scratch, Some(&mut evidence));
        evidence
    }

    /// The rows holding the given ids, aligned with `ids` (`None` for an id the index does not
    /// hold). One pass over the rows.
    pub fn find_rows(&self, ids: &[&str]) -> Vec<Option<RowIdx>> {
        let mut wanted: FxHashMap<&str, Option<RowIdx>> =
            ids.iter().map(|&id| (id, None)).collect();
        for (i, id) in self.ids.iter().enumerate() {
            if let Some(slot) = wanted.get_mut(&**id) {
                if slot.is_none() {
                    *slot = u32::try_from(i).ok().map(RowIdx);
                }
            }
        }
        ids.iter()
            .map(|id| wanted.get(id).copied().flatten())
            .collect()
    }

    /// Every field of one document compared with one row: per field its level and the log2
    /// frequency of the row's value (`None` when missing on either side). For labelled pairs
    /// (a reviewer's decision on a row the index may no longer propose). Empty when the spec's
    /// index key is not the index's or the row does not exist.
    pub fn compare_pair(
        &self,
        spec: &MatchSpec,
        doc_values: &[Option<&str>],
        row: RowIdx,
        scratch: &mut MatchScratch,
    ) -> Vec<Option<(usize, f32)>> {
        if spec.index_key_ref() != self.index_key || row.0 as usize >= self.ids.len() {
            return Vec::new();
        }
        let doc = self.prepare_document(doc_values, scratch);
        self.compare_prepared(spec, &doc, row.0, scratch)
    }

    fn compare_prepared(
        &self,
        spec: &MatchSpec,
        doc: &[Option<Prepared>],
        row: u32,
        scratch: &mut MatchScratch,
    ) -> Vec<Option<(usize, f32)>> {
        let rules = spec.fields();
        self.columns
            .iter()
            .enumerate()
            .map(|(f, column)| {
                let score =
                    self.field_score(f, column, doc.get(f).and_then(Option::as_ref), row, scratch)?;
                let rule = rules.get(f)?;
                let level = self.level(
                    rule,
                    column,
                    doc.get(f).and_then(Option::as_ref),
                    row,
                    score,
                );
                Some((level, self.frequency(rule, column, row, level)))
            })
            .collect()
    }

    /// log2 of the frequency that adjusts `level` of `row`'s value (see
    /// [`FieldRule::frequency_kind`]); 0 when the level has none.
    fn frequency(&self, rule: &FieldRule, column: &Column, row: u32, level: usize) -> f32 {
        let table = match rule.frequency_kind(level) {
            Some(model::FrequencyKind::Value) => &column.log2_freq,
            Some(model::FrequencyKind::Neighbourhood) => &column.log2_near,
            None => return 0.0,
        };
        column
            .row_value
            .get(row as usize)
            .and_then(|&v| table.get(v as usize))
            .copied()
            .unwrap_or(0.0)
    }

    /// The comparison level of a document value and `row`'s value at `score`.
    fn level(
        &self,
        rule: &FieldRule,
        column: &Column,
        doc: Option<&Prepared>,
        row: u32,
        score: f64,
    ) -> usize {
        let digits_replaced = rule.levels.conditional()
            && score < 1.0
            && match (doc, column.row_value.get(row as usize)) {
                (Some(d), Some(&v)) => column
                    .values
                    .get(v as usize)
                    .is_some_and(|r| field::digits_replaced(d, r)),
                _ => false,
            };
        rule.levels.level_of(score, digits_replaced)
    }

    /// What field `f` adds to a row at `score`: under weighted scoring the weighted score and
    /// the weight; under probabilistic scoring its match-weight and candidate-weight bits.
    fn contribution(
        &self,
        spec: &MatchSpec,
        f: usize,
        column: &Column,
        doc: Option<&Prepared>,
        row: u32,
        score: f64,
    ) -> Contribution {
        let Some(rule) = spec.fields().get(f) else {
            return Contribution {
                add: 0.0,
                weight: 0.0,
                exist: 0.0,
                add_anchored: 0.0,
                exist_anchored: 0.0,
                level: 0,
            };
        };
        let level = self.level(rule, column, doc, row, score);
        match spec.settings().scoring {
            ScoringMode::Weighted => {
                let w = spec.scaled_weights().get(f).copied().unwrap_or(0.0);
                Contribution {
                    add: w * score,
                    weight: w,
                    exist: 0.0,
                    add_anchored: w * score,
                    exist_anchored: 0.0,
                    level,
                }
            }
            ScoringMode::Probabilistic => {
                let log2_freq = f64::from(self.frequency(rule, column, row, level));
                let bits = spec.weights().field_weights(f, level, log2_freq);
                Contribution {
                    add: bits.free.0,
                    weight: 0.0,
                    exist: bits.free.1,
                    add_anchored: bits.anchored.0,
                    exist_anchored: bits.anchored.1,
                    level,
                }
            }
        }
    }

    /// The cheap fields of `row` (all but the fuzzy text fields, whose similarities are costly):
    /// their sum, and an upper bound of the rank value with the text fields not yet compared
    /// counting at their best (weighted: 1.0; probabilistic: their best level's bits).
    fn cheap_part(
        &self,
        spec: &MatchSpec,
        doc: &[Option<Prepared>],
        row: u32,
        scratch: &mut MatchScratch,
    ) -> Partial {
        let probabilistic = spec.settings().scoring == ScoringMode::Probabilistic;
        let weights = spec.scaled_weights();
        let anchor = spec.weights().anchor.filter(|_| probabilistic);
        let (mut sum, mut total, mut exist) = (0.0, 0.0, 0.0);
        let (mut sum_anchored, mut exist_anchored) = (0.0, 0.0);
        let (mut known, mut known_anchored, mut pending, mut text_total) = (0.0, 0.0, 0.0, 0.0);
        // Whether the anchor agrees: unknown until its field is compared (a missing value does
        // not agree).
        let mut anchor_agrees = None;
        for (f, column) in self.columns.iter().enumerate() {
            let Some(d) = doc.get(f).and_then(Option::as_ref) else {
                if anchor.is_some_and(|a| a.field == f) {
                    anchor_agrees = Some(false);
                }
                continue;
            };
            if matches!(column.source, Source::Text { .. }) {
                let value = column
                    .row_value
                    .get(row as usize)
                    .copied()
                    .filter(|&v| column.values.get(v as usize).is_some());
                let Some(v) = value else {
                    if anchor.is_some_and(|a| a.field == f) {
                        anchor_agrees = Some(false);
                    }
                    continue;
                };
                match scratch.cache.get(f).and_then(|c| c.get(v as usize)) {
                    Some(c) if !c.is_nan() => {
                        let c = self.contribution(spec, f, column, Some(d), row, f64::from(*c));
                        known += c.add;
                        known_anchored += c.add_anchored;
                        text_total += c.weight;
                        if anchor.is_some_and(|a| a.field == f) {
                            anchor_agrees = anchor.map(|a| a.agrees(Some(c.level)));
                        }
                    }
                    _ => {
                        if probabilistic {
                            pending += spec.weights().max_bits.get(f).copied().unwrap_or(0.0);
                        } else {
                            let w = weights.get(f).copied().unwrap_or(0.0);
                            pending += w;
                            text_total += w;
                        }
                    }
                }
                continue;
            }
            match self.field_score(f, column, Some(d), row, scratch) {
                Some(score) => {
                    let c = self.contribution(spec, f, column, Some(d), row, score);
                    sum += c.add;
                    total += c.weight;
                    exist += c.exist;
                    sum_anchored += c.add_anchored;
                    exist_anchored += c.exist_anchored;
                    if anchor.is_some_and(|a| a.field == f) {
                        anchor_agrees = anchor.map(|a| a.agrees(Some(c.level)));
                    }
                }
                None if anchor.is_some_and(|a| a.field == f) => anchor_agrees = Some(false),
                None => {}
            }
        }
        let upper = if probabilistic {
            let free = sum + known;
            let anchored = sum_anchored + known_anchored;
            let best = match anchor_agrees {
                Some(true) => anchored,
                Some(false) => free,
                None => free.max(anchored),
            };
            // A little slack for rounding keeps it a bound.
            best + pending + 1e-9
        } else {
            let all = total + text_total;
            if all > 0.0 {
                clamp_score((sum + known + pending) / all + 1e-9)
            } else {
                0.0
            }
        };
        Partial {
            upper,
            row,
            sum,
            total,
            exist,
            sum_anchored,
            exist_anchored,
            anchor: anchor_agrees,
        }
    }

    /// Whether `row`'s anchor agrees with the document (probabilistic scoring with an anchor;
    /// otherwise false): from the cheap part when it knows, else by comparing the anchor.
    fn anchor_agrees(
        &self,
        spec: &MatchSpec,
        part: &Partial,
        doc: &[Option<Prepared>],
        scratch: &mut MatchScratch,
    ) -> bool {
        if spec.settings().scoring != ScoringMode::Probabilistic {
            return false;
        }
        let Some(a) = spec.weights().anchor else {
            return false;
        };
        if let Some(agrees) = part.anchor {
            return agrees;
        }
        let f = a.field;
        let (Some(rule), Some(column)) = (spec.fields().get(f), self.columns.get(f)) else {
            return false;
        };
        let value = doc.get(f).and_then(Option::as_ref);
        let level = self
            .field_score(f, column, value, part.row, scratch)
            .map(|score| self.level(rule, column, value, part.row, score));
        a.agrees(level)
    }

    /// The rank value of a row from its cheap part, the text fields added in field order:
    /// weighted, the weighted mean (0 when no field is present on both sides); probabilistic,
    /// the match weight `W` — and the candidate weight `C` (0 under weighted scoring), each
    /// field weighed by the table its anchor's agreement selects. With `evidence`, also each
    /// field's score, level and bits in field order.
    fn complete(
        &self,
        spec: &MatchSpec,
        part: &Partial,
        doc: &[Option<Prepared>],
        scratch: &mut MatchScratch,
        mut evidence: Option<&mut Vec<FieldEvidence>>,
    ) -> (f64, f64) {
        let probabilistic = spec.settings().scoring == ScoringMode::Probabilistic;
        let anchored = self.anchor_agrees(spec, part, doc, scratch);
        let (mut sum, mut total, mut exist) = if anchored {
            (part.sum_anchored, part.total, part.exist_anchored)
        } else {
            (part.sum, part.total, part.exist)
        };
        for (f, column) in self.columns.iter().enumerate() {
            let is_text = matches!(column.source, Source::Text { .. });
            if !is_text && evidence.is_none() {
                continue;
            }
            let value = doc.get(f).and_then(Option::as_ref);
            let score = self.field_score(f, column, value, part.row, scratch);
            let contribution =
                score.map(|score| self.contribution(spec, f, column, value, part.row, score));
            if let Some(evidence) = evidence.as_deref_mut() {
                let bits = contribution
                    .filter(|_| probabilistic)
                    .map(|c| c.bits(anchored));
                evidence.push(FieldEvidence {
                    score,
                    level: contribution.map(|c| c.level),
                    bits: bits.map(|b| b.0),
                    candidate_bits: bits.map(|b| b.1),
                });
            }
            if let (true, Some(c)) = (is_text, contribution) {
                let (add, add_exist) = c.bits(anchored);
                sum += add;
                total += c.weight;
                exist += add_exist;
            }
        }
        if probabilistic {
            (sum, exist)
        } else if total > 0.0 {
            (clamp_score(sum / total), 0.0)
        } else {
            (0.0, 0.0)
        }
    }

    fn field_score(
        &self,
        f: usize,
        column: &Column,
        doc: Option<&Prepared>,
        row: u32,
        scratch: &mut MatchScratch,
    ) -> Option<f64> {
        let doc = doc?;
        let v = *column.row_value.get(row as usize)?;
        let reference = column.values.get(v as usize)?;
        // Text and name similarities are the costly ones and their values repeat across rows.
        let cached = matches!(column.source, Source::Text { .. });
        if cached {
            if let Some(c) = scratch.cache.get(f).and_then(|c| c.get(v as usize)) {
                if !c.is_nan() {
                    return Some(f64::from(*c));
                }
            }
        }
        let slot = if cached {
            scratch.memo_slots.get(f).copied().flatten()
        } else {
            None
        };
        let memoised = slot.and_then(|slot| {
            scratch
                .memos
                .get(f)?
                .similarities
                .get(&(slot, v))
                .map(|&s| f64::from(s))
        });
        let score = match memoised {
            Some(score) => score,
            None => {
                let score = field::similarity(&column.strategy, doc, reference);
                if let (Some(slot), Some(memo)) = (slot, scratch.memos.get_mut(f)) {
                    if memo.similarities.len() >= MEMO_SIMILARITIES {
                        // Start afresh, keeping the slots (their answers stay valid).
                        memo.similarities.clear();
                    }
                    memo.similarities.insert((slot, v), to_f32(score));
                }
                score
            }
        };
        if cached {
            if let (Some(cache), Some(touched)) =
                (scratch.cache.get_mut(f), scratch.cache_touched.get_mut(f))
            {
                if let Some(c) = cache.get_mut(v as usize) {
                    *c = to_f32(score);
                    touched.push(v);
                }
            }
            // Use the cached (f32) value so that every row of a value scores the same.
            return Some(f64::from(to_f32(score)));
        }
        Some(score)
    }

    /// Adds every field's proposals to the scratch accumulator.
    fn propose(
        &self,
        doc: &[Option<Prepared>],
        proposal: &ProposalWeights,
        scratch: &mut MatchScratch,
    ) {
        let weights = &proposal.weights[..];
        // The document's ordering value(s), to pick rows inside large groups.
        let centers: Vec<i64> = self
            .ordering
            .and_then(|f| doc.get(f)?.as_ref())
            .map(|p| p.range_keys().into_iter().flatten().collect())
            .unwrap_or_default();
        let joint_done = self.propose_joint(doc, weights, scratch);

        for (f, column) in self.columns.iter().enumerate() {
            let Some(value) = doc.get(f).and_then(Option::as_ref) else {
                continue;
            };
            let weight = to_f32(weights.get(f).copied().unwrap_or(0.0));
            scratch.proposals.clear();
            match &column.source {
                Source::Keys { keys, groups, near } => {
                    let max_group = self.max_group;
                    let proposals = &mut scratch.proposals;
                    // Keys one edit away, when no row holds the document's key exactly.
                    let exact_hit = match value {
                        Prepared::Ident(k) => keys.contains_key(k.normalized.as_str()),
                        _ => true,
                    };
                    if let (false, false, Prepared::Ident(k)) = (exact_hit, near.is_empty(), value)
                    {
                        for_each_near_hash(&k.normalized, |h| {
                            let hits = near.hits(h, NEAR_MAX_KEYS);
                            if hits.len() > NEAR_MAX_KEYS {
                                return;
                            }
                            for &(_, id) in hits {
                                let group = groups.get(id);
                                if group.len() > max_group {
                                    continue;
                                }
                                let selectivity = 1.0 / (1.0 + count_f32(group.len().max(1)).ln());
                                window(group, &centers, |r| {
                                    proposals.push((r, weight * NEAR_EVIDENCE * selectivity));
                                });
                            }
                        });
                    }
                    value.for_each_key(|key| {
                        let Some(&g) = keys.get(key) else {
                            return;
                        };
                        let group = groups.get(g);
                        if group.len() > max_group {
                            return;
                        }
                        let selectivity = 1.0 / (1.0 + count_f32(group.len().max(1)).ln());
                        window(group, &centers, |r| {
                            proposals.push((r, weight * selectivity));
                        });
                    });
                }
                Source::Text {
                    index,
                    exact,
                    groups,
                } => {
                    // The joint scan ranked every row inside the date and amount windows by
                    // this text already, with learned weights: the fuzzy search would add only
                    // rows outside them. (With the config's weights, a text may count for too
                    // little in that ranking; the search then still adds the rows it finds.)
                    let short_text = matches!(
                        column.strategy,
                        Strategy::Fuzzy {
                            kind: FuzzyKind::ShortText,
                            ..
                        }
                    );
                    if joint_done && short_text && proposal.learned {
                        continue;
                    }
                    let text = match value {
                        Prepared::Text(t) => &**t,
                        Prepared::Name(n) => n.name.as_str(),
                        _ => "",
                    };
                    // Names: values with exactly the document's normalised name are the best
                    // name evidence there is: they propose their rows, and the fuzzy search is
                    // not needed (the other fields still propose theirs).
                    // Names only: a free text (a memo) equal to a reference value is often a
                    // shortened form of the right one, which the fuzzy search finds.
                    let exact_hits = match value {
                        Prepared::Name(_) => exact.get(text),
                        _ => None,
                    };
                    if let Some(values) = exact_hits {
                        for &v in values {
                            window(groups.get(v), &centers, |r| {
                                scratch.proposals.push((r, weight));
                            });
                        }
                        self.add_proposals(scratch);
                        continue;
                    }
                    let slot = scratch.memo_slots.get(f).copied().flatten();
                    let memoised = slot.and_then(|slot| {
                        let hits = scratch.memos.get(f)?.hits.get(slot as usize)?;
                        (!hits.is_empty()).then(|| hits.clone())
                    });
                    let hits = match memoised {
                        Some(hits) => hits,
                        None => {
                            let hits = index.query_with(&mut scratch.text, text, TEXT_VALUES);
                            if let (Some(slot), Some(memo)) = (slot, scratch.memos.get_mut(f)) {
                                if let Some(h) = memo.hits.get_mut(slot as usize) {
                                    h.clone_from(&hits);
                                }
                            }
                            hits
                        }
                    };
                    let mut rows = 0usize;
                    for hit in hits {
                        if rows >= TEXT_ROWS {
                            break;
                        }
                        window(groups.get(hit.row.0), &centers, |r| {
                            rows += 1;
                            scratch.proposals.push((r, weight * hit.score));
                        });
                    }
                }
                Source::Range(index) => {
                    if joint_done && self.joint.is_some_and(|(d, a)| d == f || a == f) {
                        continue;
                    }
                    for center in value.range_keys().into_iter().flatten() {
                        let (center, radius) = range_window(&column.strategy, value, center);
                        for c in index.nearest(center, radius, RANGE_ROWS) {
                            scratch.proposals.push((c.row.0, weight * c.score));
                        }
                    }
                }
            }
            self.add_proposals(scratch);
        }
    }

    /// Adds one field's proposals to the accumulator: a row counts once per field, at its best
    /// evidence.
    fn add_proposals(&self, scratch: &mut MatchScratch) {
        let mut proposals = std::mem::take(&mut scratch.proposals);
        proposals.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        proposals.dedup_by_key(|p| p.0);
        for &(r, e) in &proposals {
            scratch.add(r, e);
        }
        proposals.clear();
        scratch.proposals = proposals;
    }

    /// The days from `first` to `last` (date keys) that hold joint-scan entries, each with its
    /// entries (sorted by amount).
    fn days(&self, first: i64, last: i64) -> impl Iterator<Item = (i64, &[JointEntry])> + '_ {
        let entries = &self.by_date;
        let (mut at, end) = if self.day_starts.is_empty() {
            (
                entries.partition_point(|e| e.key < first),
                entries.partition_point(|e| e.key <= last),
            )
        } else {
            let slot = |day: i64| -> usize {
                let k = day.saturating_sub(self.day_base).max(0);
                let k = usize::try_from(k).unwrap_or(usize::MAX);
                let last_slot = self.day_starts.len().saturating_sub(1);
                self.day_starts
                    .get(k.min(last_slot))
                    .map_or(entries.len(), |&i| i as usize)
            };
            (slot(first), slot(last.saturating_add(1)))
        };
        std::iter::from_fn(move || {
            let rest = entries.get(at..end)?;
            let day = rest.first()?.key;
            let n = if self.day_starts.is_empty() {
                rest.partition_point(|e| e.key == day)
            } else {
                let k = usize::try_from(day.saturating_sub(self.day_base)).ok()?;
                let next = self.day_starts.get(k + 1).map_or(end, |&i| i as usize);
                next.saturating_sub(at).max(1)
            };
            let slice = rest.get(..n).unwrap_or(rest);
            at += n.max(1);
            Some((day, slice))
        })
    }

    /// The joint date-and-amount scan: rows inside both windows, ranked by their evidence (the
    /// date's and the amount's closeness scores, plus, per `short_text` field, the shared prefix
    /// with the document's text), the best [`RANGE_ROWS`] proposed (or [`JOINT_TEXT_ROWS`]
    /// when a `short_text` field takes part). Returns whether it ran (both values present and
    /// the scan within budget).
    fn propose_joint(
        &self,
        doc: &[Option<Prepared>],
        weights: &[f64],
        scratch: &mut MatchScratch,
    ) -> bool {
        let Some((d, a)) = self.joint else {
            return false;
        };
        let (Some(Some(dv)), Some(Some(av))) = (doc.get(d), doc.get(a)) else {
            return false;
        };
        let (Some(dc), Some(ac)) = (self.columns.get(d), self.columns.get(a)) else {
            return false;
        };
        let Strategy::DateRange {
            min_days, max_days, ..
        } = dc.strategy
        else {
            return false;
        };
        if u64::from(min_days.abs_diff(max_days)) > 2 * JOINT_MAX_DAYS {
            return false;
        }
        let a_radius = range_radius(&ac.strategy, av);
        let Some(a_center) = av.range_keys()[0] else {
            return false;
        };
        let (a_lo, a_hi) = (
            a_center.saturating_sub_unsigned(a_radius),
            a_center.saturating_add_unsigned(a_radius),
        );
        let (wd, wa) = (
            to_f32(weights.get(d).copied().unwrap_or(0.0)),
            to_f32(weights.get(a).copied().unwrap_or(0.0)),
        );
        let a_scale = distance_f64(a_radius) + 1.0;
        let closeness = |center: i64, key: i64, scale: f64| -> f32 {
            to_f32((1.0 - distance_f64(center.abs_diff(key)) / scale).max(0.0))
        };
        // The short texts of the document that rank the rows by shared prefix.
        let texts: Vec<(&Column, &str, TextHead, f32)> = self
            .columns
            .iter()
            .zip(doc)
            .zip(weights)
            .filter_map(|((column, value), &w)| match (&column.strategy, value) {
                (
                    Strategy::Fuzzy {
                        kind: FuzzyKind::ShortText,
                        ..
                    },
                    Some(Prepared::Text(t)),
                ) => Some((column, &**t, TextHead::of(t), to_f32(w))),
                _ => None,
            })
            .collect();
        let limit = if texts.is_empty() {
            RANGE_ROWS
        } else {
            JOINT_TEXT_ROWS
        };
        let prefix_evidence = |row: u32| -> f32 {
            let mut e = 0.0f32;
            for &(column, text, text_head, w) in &texts {
                let Some(&Some(head)) = column.heads.get(row as usize) else {
                    continue;
                };
                let shared = match TextHead::shared(text_head, head) {
                    Some(shared) => shared,
                    None => {
                        let v = column
                            .row_value
                            .get(row as usize)
                            .copied()
                            .unwrap_or(MISSING);
                        let Some(Prepared::Text(r)) = column.values.get(v as usize) else {
                            continue;
                        };
                        crate::similarity::common_prefix_chars(text, r)
                    }
                };
                let shorter = (text_head.len.min(head.len)).max(1);
                e += w * (count_f32(shared) / count_f32(shorter as usize)).min(1.0);
            }
            e
        };
        let mut proposals = std::mem::take(&mut scratch.proposals);
        proposals.clear();
        let mut seen_days: [Option<(i64, i64)>; 2] = [None, None];
        for (i, center) in dv.range_keys().into_iter().enumerate() {
            let Some(center) = center else {
                continue;
            };
            let (first, last) = date_span(center, min_days, max_days);
            seen_days[i] = Some((first, last));
            for (day, slice) in self.days(first, last) {
                // A day already scanned for the other reading is not scanned twice.
                let repeated = i == 1 && seen_days[0].is_some_and(|(f, l)| (f..=l).contains(&day));
                if !repeated {
                    let from = slice.partition_point(|e| e.other[0] < a_lo);
                    let to = slice.partition_point(|e| e.other[0] <= a_hi);
                    let cd = to_f32(crate::similarity::date_window_score(
                        center - day,
                        min_days,
                        max_days,
                    ));
                    for e in slice.get(from..to.max(from)).unwrap_or_default() {
                        let ca = closeness(a_center, e.other[0], a_scale);
                        proposals.push((e.row, wd * cd + wa * ca + prefix_evidence(e.row)));
                    }
                }
            }
        }
        // A row is proposed at most four times (two date keys, two readings of the document's
        // date): the best `limit` distinct rows are among the best `4 · limit` proposals, so
        // only those are sorted and deduplicated.
        let best_first = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let keep = limit.saturating_mul(4);
        if proposals.len() > keep {
            proposals.select_nth_unstable_by(keep - 1, best_first);
            proposals.truncate(keep);
        }
        proposals.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        proposals.dedup_by_key(|p| p.0);
        if proposals.len() > limit {
            proposals.select_nth_unstable_by(limit - 1, best_first);
            proposals.truncate(limit);
        }
        for &(r, e) in &proposals {
            scratch.add(r, e);
        }
        proposals.clear();
        scratch.proposals = proposals;
        true
    }
}

/// The decision on a document from its ranked candidates (best first): ambiguous when the
/// runner-up's confidence is within the margin of the best's; Matched at or above the threshold
/// when not ambiguous; Review at or above the review floor (or ambiguous above the threshold);
/// Unmatched otherwise.
pub fn decide(ranked: &[ScoredCandidate], settings: &MatchSettings) -> (Decision, bool) {
    let Some(best) = ranked.first() else {
        return (Decision::Unmatched, false);
    };
    let ambiguous = ranked
        .get(1)
        .is_some_and(|second| second.confidence >= best.confidence - settings.ambiguity_margin);
    let decision = if best.confidence >= settings.threshold && !ambiguous {
        Decision::Matched
    } else if best.confidence >= settings.review_floor {
        Decision::Review
    } else {
        Decision::Unmatched
    };
    (decision, ambiguous)
}

/// Per distinct value of a column, log2 of the number of rows holding it — by its comparison
/// key: identifiers by their digits (a number shared across vendors' sequences is weaker
/// evidence), names by the name without its legal form, dates by day, amounts by value.
fn value_frequencies(row_value: &[u32], values: &[Prepared]) -> Vec<f32> {
    let key_of = |p: &Prepared| -> String {
        match p {
            Prepared::Key(k) | Prepared::Text(k) => k.to_string(),
            Prepared::Currency { hint, folded } => match hint {
                Some(crate::parse::CurrencyHint::Code(code)) => code.to_string(),
                _ => folded.to_string(),
            },
            Prepared::Name(n) => n.name.clone(),
            Prepared::Ident(k) => {
                if k.digits.is_empty() {
                    k.normalized.clone()
                } else {
                    k.digits.clone()
                }
            }
            Prepared::Date(r) => date_key(r.preferred).to_string(),
            Prepared::Amount(a) => format!("{:?}", a.normalized),
        }
    };
    let keys: Vec<String> = values.iter().map(key_of).collect();
    let mut per_value = vec![0u32; values.len()];
    for &v in row_value {
        if let Some(c) = per_value.get_mut(v as usize) {
            *c = c.saturating_add(1);
        }
    }
    let mut per_key: FxHashMap<&str, u32> = FxHashMap::default();
    for (key, &count) in keys.iter().zip(&per_value) {
        let entry = per_key.entry(key.as_str()).or_insert(0);
        *entry = entry.saturating_add(count);
    }
    keys.iter()
        .map(|key| {
            let n = per_key.get(key.as_str()).copied().unwrap_or(1).max(1);
            count_f32(n as usize).log2()
        })
        .collect()
}

/// `fuzzy` `identifier` columns: per distinct value, log2 of how many distinct normalised numbers
/// lie within one edit of it, itself included (numbers shorter than [`NEAR_MIN_CHARS`] or
/// longer than [`NEAR_MAX_CHARS`] count only themselves). Empty for other columns.
fn neighbourhood_frequencies(source: &Source, values: &[Prepared]) -> Vec<f32> {
    let Source::Keys { keys, near, .. } = source else {
        return Vec::new();
    };
    if near.is_empty() {
        return Vec::new();
    }
    let mut ids: Vec<u32> = Vec::new();
    values
        .iter()
        .map(|p| {
            let Prepared::Ident(k) = p else {
                return 0.0;
            };
            if !keys.contains_key(k.normalized.as_str()) {
                return 0.0;
            }
            ids.clear();
            for_each_near_hash(&k.normalized, |h| {
                ids.extend(near.hits(h, usize::MAX).iter().map(|e| e.1));
            });
            ids.sort_unstable();
            ids.dedup();
            count_f32(ids.len().max(1)).log2()
        })
        .collect()
}

/// The widest span of reference dates, in days, that gets a day table (see
/// [`ReferenceIndex::day_starts`]): 4 bytes per day.
pub const MAX_DAY_TABLE: u64 = 1 << 20;

/// The day table of the sorted joint-scan entries: `(first day, starts)` with `starts[k]` the
/// first entry on or after day `first + k` and a final entry `entries.len()`; empty when there
/// are no entries or the span is wider than [`MAX_DAY_TABLE`].
fn day_table(entries: &[JointEntry]) -> (i64, Vec<u32>) {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return (0, Vec::new());
    };
    let span = last.key.abs_diff(first.key);
    if span >= MAX_DAY_TABLE || u32::try_from(entries.len()).is_err() {
        return (0, Vec::new());
    }
    let mut starts = Vec::with_capacity(usize::try_from(span).map_or(0, |span| span + 2));
    let mut at = 0usize;
    for k in 0..=span {
        let day = first.key.saturating_add_unsigned(k);
        while entries.get(at).is_some_and(|e| e.key < day) {
            at += 1;
        }
        starts.push(u32::try_from(at).unwrap_or(u32::MAX));
    }
    starts.push(u32::try_from(entries.len()).unwrap_or(u32::MAX));
    (first.key, starts)
}

/// The near hashes of a column's keys, each with its key's id, sorted by hash, with a table of
/// where each hash's top bits start: a lookup reads one table slot and scans a few entries (a
/// binary search over millions of entries missed the cache at most of its twenty steps).
#[derive(Debug, Clone, Default)]
struct NearKeys {
    entries: Vec<(u64, u32)>,
    /// `starts[b]`: the first entry whose hash's top `bits` bits are `b` or more; one more slot at
    /// the end holds `entries.len()`.
    starts: Vec<u32>,
    bits: u32,
}

impl NearKeys {
    fn build(mut entries: Vec<(u64, u32)>) -> NearKeys {
        entries.sort_unstable();
        entries.dedup();
        if entries.is_empty() || u32::try_from(entries.len()).is_err() {
            return NearKeys {
                entries,
                starts: Vec::new(),
                bits: 0,
            };
        }
        // About one entry per slot, at most 2^24 slots (64 MiB of hashes' worth of entries).
        let bits = (usize::BITS - entries.len().leading_zeros()).clamp(1, 24);
        let slots = 1usize << bits;
        let mut starts = Vec::with_capacity(slots + 1);
        let mut at = 0usize;
        for slot in 0..slots as u64 {
            while entries.get(at).is_some_and(|e| (e.0 >> (64 - bits)) < slot) {
                at += 1;
            }
            starts.push(u32::try_from(at).unwrap_or(u32::MAX));
        }
        starts.push(u32::try_from(entries.len()).unwrap_or(u32::MAX));
        NearKeys {
            entries,
            starts,
            bits,
        }
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries with hash `h`: all of them, or `cap + 1` when there are more than `cap` (so
    /// that the caller can tell).
    fn hits(&self, h: u64, cap: usize) -> &[(u64, u32)] {
        let bucket = if self.starts.is_empty() {
            &self.entries[..]
        } else {
            // Below 2^24, so it fits; were it out of the table, the whole list would be searched.
            let slot = usize::try_from(h >> (64 - self.bits)).unwrap_or(self.starts.len());
            let from = self.starts.get(slot).map_or(0, |&i| i as usize);
            let to = self
                .starts
                .get(slot + 1)
                .map_or(self.entries.len(), |&i| i as usize);
            self.entries.get(from..to).unwrap_or_default()
        };
        let start = bucket.partition_point(|e| e.0 < h);
        let rest = bucket.get(start..).unwrap_or_default();
        let n = rest
            .iter()
            .take(cap.saturating_add(1))
            .take_while(|e| e.0 == h)
            .count();
        rest.get(..n).unwrap_or_default()
    }
}

/// A hash of the bytes of `parts` concatenated (FNV-1a).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Calls `sink` with the hash of `key` and of each of its one-character deletions (when the key
/// has between [`NEAR_MIN_CHARS`] and [`NEAR_MAX_CHARS`] characters). Two keys share a hash when
/// they are one deletion, insertion or replacement apart (or by a harmless collision).
fn for_each_near_hash(key: &str, mut sink: impl FnMut(u64)) {
    let n = key.chars().count();
    if !(NEAR_MIN_CHARS..=NEAR_MAX_CHARS).contains(&n) {
        return;
    }
    let b = key.as_bytes();
    sink(fnv(&[b]));
    for (i, c) in key.char_indices() {
        let (head, tail) = (b.get(..i), b.get(i + c.len_utf8()..));
        if let (Some(head), Some(tail)) = (head, tail) {
            sink(fnv(&[head, tail]));
        }
    }
}

/// A column's strategy, row → value ids, distinct prepared values and their raw strings.
type ColumnParts = (Strategy, Vec<u32>, Vec<Prepared>, Vec<Box<str>>);

/// Interns one column's raw values: row → value id, the distinct prepared values, and their raw
/// strings.
fn intern_column(
    strategy: &Strategy,
    column: Vec<Option<String>>,
) -> (Vec<u32>, Vec<Prepared>, Vec<Box<str>>) {
    let mut row_value = Vec::with_capacity(column.len());
    let mut values: Vec<Prepared> = Vec::new();
    let mut interned: FxHashMap<String, u32> = FxHashMap::default();
    for raw in column {
        let v = match raw {
            None => MISSING,
            Some(raw) => match interned.get(&raw) {
                Some(&v) => v,
                None => {
                    let v = match prepare(strategy, &raw) {
                        Some(p) => {
                            let v = u32::try_from(values.len()).unwrap_or(MISSING);
                            values.push(p);
                            v
                        }
                        None => MISSING,
                    };
                    interned.insert(raw, v);
                    v
                }
            },
        };
        row_value.push(v);
    }
    // The distinct raw values, by id (the map's keys move out).
    let mut raws: Vec<Box<str>> = vec![Box::from(""); values.len()];
    for (raw, v) in interned {
        if let Some(slot) = raws.get_mut(v as usize) {
            *slot = raw.into_boxed_str();
        }
    }
    (row_value, values, raws)
}

/// Applies `work` to every task on up to `threads` scoped threads, each taking the next task
/// when it is free; the results come back in task order.
fn run_parallel<T: Send, R: Send>(
    tasks: Vec<T>,
    threads: usize,
    work: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let n = tasks.len();
    if threads <= 1 || n <= 1 {
        return tasks.into_iter().map(work).collect();
    }
    let queue = std::sync::Mutex::new(tasks.into_iter().enumerate());
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(n))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let next = match queue.lock() {
                            Ok(mut q) => q.next(),
                            Err(poisoned) => poisoned.into_inner().next(),
                        };
                        let Some((i, task)) = next else {
                            break;
                        };
                        done.push((i, work(task)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    results.sort_unstable_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// The memo slot of a document's value of a fuzzy text field (a new one if needed).
fn memo_slot(memo: &mut TextMemo, value: &Prepared, key: &mut String) -> Option<u32> {
    key.clear();
    match value {
        Prepared::Text(t) => key.push_str(t),
        Prepared::Name(n) => {
            key.push_str(&n.name);
            key.push('\u{0}');
            key.push_str(n.legal_form.unwrap_or(""));
        }
        _ => return None,
    }
    if let Some(&slot) = memo.slots.get(key.as_str()) {
        return Some(slot);
    }
    if memo.slots.len() >= MEMO_TEXTS {
        memo.clear();
    }
    let slot = u32::try_from(memo.hits.len()).ok()?;
    memo.slots.insert(key.as_str().into(), slot);
    memo.hits.push(Vec::new());
    Some(slot)
}

/// The reference dates a document date `center` accepts, `(first, last)` as date keys, for a
/// window `min_days..=max_days` of document − reference.
fn date_span(center: i64, min_days: i32, max_days: i32) -> (i64, i64) {
    (
        center.saturating_sub(i64::from(max_days)),
        center.saturating_sub(i64::from(min_days)),
    )
}

/// The candidate window of a range field around the document's key `center`, in key units:
/// `(center', radius)` with the window `center' ± radius`.
fn range_window(strategy: &Strategy, value: &Prepared, center: i64) -> (i64, u64) {
    match strategy {
        Strategy::DateRange {
            min_days, max_days, ..
        } => {
            let (first, last) = date_span(center, *min_days, *max_days);
            let radius = last.abs_diff(first).div_ceil(2);
            (first.saturating_add_unsigned(radius), radius)
        }
        _ => (center, range_radius(strategy, value)),
    }
}

/// The half-width of the candidate window of a range field, in key units.
fn range_radius(strategy: &Strategy, value: &Prepared) -> u64 {
    match (strategy, value) {
        (Strategy::DateRange { days, .. }, _) => u64::from(*days),
        (Strategy::NumericRange { tolerance }, Prepared::Amount(amount)) => {
            let unit = 10f64.powi(i32::from(crate::index::AMOUNT_KEY_SCALE));
            let width = match tolerance {
                Some(crate::similarity::Tolerance::Percent(p)) => amount.value.abs() * p / 100.0,
                Some(crate::similarity::Tolerance::Absolute(a)) => *a,
                None => 0.0,
            };
            // Twice the tolerance: the score falls to 0 there.
            let radius = 2.0 * width * unit;
            if radius > 0.0 {
                // Saturates (an infinite radius is the whole key range); NaN is 0.
                saturating_u64(radius.min(distance_f64(u64::MAX) / 2.0))
            } else {
                0
            }
        }
        _ => 0,
    }
}

/// Builds a field's candidate source.
fn build_source(
    strategy: &Strategy,
    row_value: &[u32],
    values: &[Prepared],
    ordering_keys: &[i64],
) -> Source {
    match strategy {
        Strategy::Fuzzy {
            kind: FuzzyKind::Text | FuzzyKind::Name | FuzzyKind::ShortText,
            ..
        } => {
            let kind = match strategy {
                Strategy::Fuzzy {
                    kind: FuzzyKind::Name,
                    ..
                } => TextKind::OrgName,
                _ => TextKind::Plain,
            };
            let config = TextIndexConfig {
                kind,
                posting_budget: TEXT_POSTING_BUDGET,
                ..TextIndexConfig::default()
            };
            let index = TextIndex::build_with(
                config,
                values.iter().enumerate().map(|(v, p)| {
                    let text = match p {
                        Prepared::Text(t) => &**t,
                        Prepared::Name(n) => n.name.as_str(),
                        _ => "",
                    };
                    (RowIdx(u32::try_from(v).unwrap_or(u32::MAX)), text)
                }),
            );
            let mut pairs = Vec::with_capacity(row_value.len());
            for (row, &v) in row_value.iter().enumerate() {
                if v != MISSING {
                    let key = ordering_keys.get(row).copied().unwrap_or(NO_KEY);
                    pairs.push((v, key, u32::try_from(row).unwrap_or(u32::MAX)));
                }
            }
            let mut exact: FxHashMap<Box<str>, Vec<u32>> = FxHashMap::default();
            for (v, p) in values.iter().enumerate() {
                let text = match p {
                    Prepared::Text(t) => &**t,
                    Prepared::Name(n) => n.name.as_str(),
                    _ => continue,
                };
                exact
                    .entry(text.into())
                    .or_default()
                    .push(u32::try_from(v).unwrap_or(MISSING));
            }
            Source::Text {
                index: Box::new(index),
                exact,
                groups: Groups::build(pairs, values.len()),
            }
        }
        Strategy::DateRange { .. } | Strategy::NumericRange { .. } => {
            let mut entries = Vec::new();
            for (row, &v) in row_value.iter().enumerate() {
                if let Some(p) = values.get(v as usize) {
                    for key in p.range_keys().into_iter().flatten() {
                        entries.push((RowIdx(u32::try_from(row).unwrap_or(u32::MAX)), key));
                    }
                }
            }
            Source::Range(RangeIndex::build(entries))
        }
        Strategy::Exact { .. }
        | Strategy::Fuzzy {
            kind: FuzzyKind::Identifier,
            ..
        } => {
            let mut keys: FxHashMap<Box<str>, u32> = FxHashMap::default();
            // Keys of each distinct value.
            let mut value_keys: Vec<Vec<u32>> = Vec::with_capacity(values.len());
            for p in values {
                let mut ids = Vec::with_capacity(2);
                p.for_each_key(|key| {
                    let next = u32::try_from(keys.len()).unwrap_or(MISSING);
                    let id = match keys.get(key) {
                        Some(&id) => id,
                        None => {
                            keys.insert(key.into(), next);
                            next
                        }
                    };
                    ids.push(id);
                });
                value_keys.push(ids);
            }
            let mut pairs = Vec::with_capacity(row_value.len() * 2);
            for (row, &v) in row_value.iter().enumerate() {
                if let Some(ids) = value_keys.get(v as usize) {
                    let key = ordering_keys.get(row).copied().unwrap_or(NO_KEY);
                    for &id in ids {
                        pairs.push((id, key, u32::try_from(row).unwrap_or(u32::MAX)));
                    }
                }
            }
            let mut near = Vec::new();
            if matches!(strategy, Strategy::Fuzzy { .. }) {
                for p in values {
                    if let Prepared::Ident(k) = p {
                        if let Some(&id) = keys.get(k.normalized.as_str()) {
                            for_each_near_hash(&k.normalized, |h| near.push((h, id)));
                        }
                    }
                }
            }
            let n_keys = keys.len();
            Source::Keys {
                keys,
                groups: Groups::build(pairs, n_keys),
                near: NearKeys::build(near),
            }
        }
    }
}
