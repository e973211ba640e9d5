//! Candidate generation over the reference side.
//!
//! A run never compares every document with every reference row (docs/DESIGN.md, "Scoring
//! semantics"): the reference side is indexed once, and each document asks the indexes for a
//! short list of candidate rows, which the scorer then compares field by field. Recall comes
//! first: the true row must reach the list; ranking inside the list only decides which rows
//! survive a `limit`.
//!
//! Reference rows are addressed by [`RowIdx`], their position in the reference dataset. Three
//! indexes, one per kind of field, each answer with [`Candidate`]s (a row and an evidence score),
//! and [`CandidateSet`] / [`union_ranked`] merge their answers:
//!
//! * [`ExactIndex`] — hashed exact keys (invoice, order and reference numbers). Keys are used as
//!   given; for identifiers insert both [`normalize_identifier`] and [`digits`] keys
//!   ([`ExactIndex::from_identifiers`] does) and look up both.
//! * [`TextIndex`] — fuzzy text (vendor names): postings per token and per character trigram of
//!   the text as the crate's normalisers give it ([`normalize_org_name`] and [`fold()`] for
//!   [`TextKind::OrgName`], [`fold()`] alone for [`TextKind::Plain`]). A query is ranked by an
//!   IDF-weighted overlap (weighted Jaccard) and walks the rarest postings first; postings held by
//!   more than a share of the rows (5 % by default) are *stop-listed*: they are walked only when the
//!   rarer ones found fewer than `limit` rows, within a fixed budget of visited postings.
//! * [`RangeIndex`] — sorted `(i64 key, row)` pairs for dates ([`date_key`]: days from CE) and
//!   amounts ([`amount_key`]: units of `10^-AMOUNT_KEY_SCALE`), answering inclusive ranges by
//!   binary search and nearest-first lists ([`RangeIndex::nearest`]).
//!
//! Postings are flat `Vec<u32>`s with one offset per key (compressed sparse rows), built by
//! sorting `(key, row)` pairs: `O(n log n)` to build, about 4 bytes per posting. Everything here
//! is pure and total: no I/O, no panic on any input, deterministic results (ties are broken by
//! ascending [`RowIdx`]).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate};

use crate::num::{count_f32, count_f64, distance_f64, saturating_u64, to_f32};
use crate::parse::{Amount, DateReadings};
use crate::text::{fold, identifier_keys, normalize_org_name, tokens};

#[cfg(doc)]
use crate::text::{digits, normalize_identifier};

/// A reference row: its position in the reference dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RowIdx(pub u32);

/// One candidate row with the evidence an index (or a merge of indexes) has for it.
///
/// Scores are finite and non-negative; each index documents its own scale (the single-index
/// scores are in `[0, 1]`, merged scores are weighted sums). Lists of candidates are ordered by
/// descending score, ties by ascending row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The reference row.
    pub row: RowIdx,
    /// The evidence for it; higher is better.
    pub score: f32,
}

/// The ranking order: descending score, then ascending row.
fn rank_order(a: &Candidate, b: &Candidate) -> Ordering {
    b.score.total_cmp(&a.score).then(a.row.cmp(&b.row))
}

/// `x` when it is finite and positive, `0.0` otherwise (NaN, infinities, negatives, `-0.0`).
fn non_negative(x: f32) -> f32 {
    if x.is_finite() && x > 0.0 {
        x
    } else {
        0.0
    }
}

/// Keeps the best `limit` candidates (rows must be distinct) in ranking order.
fn keep_top(mut candidates: Vec<Candidate>, limit: usize) -> Vec<Candidate> {
    if limit == 0 {
        return Vec::new();
    }
    if candidates.len() > limit {
        candidates.select_nth_unstable_by(limit - 1, rank_order);
        candidates.truncate(limit);
    }
    candidates.sort_unstable_by(rank_order);
    candidates
}

// ------------------------------------------------------------------------------------------------
// Postings
// ------------------------------------------------------------------------------------------------

/// Compressed sparse rows: the postings of key `k` are `items[offsets[k]..offsets[k + 1]]`,
/// sorted ascending and distinct.
#[derive(Debug, Clone)]
struct Postings<T> {
    offsets: Vec<u32>,
    items: Vec<T>,
}

impl<T> Default for Postings<T> {
    fn default() -> Self {
        Postings {
            offsets: vec![0],
            items: Vec::new(),
        }
    }
}

impl<T: Copy + Ord> Postings<T> {
    /// Builds from `(key, item)` pairs with every key below `keys`; duplicates are dropped. At most
    /// `u32::MAX` postings are kept (the offsets are `u32`).
    fn from_pairs(mut pairs: Vec<(u32, T)>, keys: usize) -> Self {
        pairs.sort_unstable();
        pairs.dedup();
        pairs.truncate(u32::MAX as usize);
        let mut offsets = vec![0u32; keys.saturating_add(1)];
        for &(key, _) in &pairs {
            if let Some(count) = offsets.get_mut(key as usize + 1) {
                *count += 1;
            }
        }
        let mut sum = 0u32;
        for offset in &mut offsets {
            sum += *offset;
            *offset = sum;
        }
        let items = pairs.into_iter().map(|(_, item)| item).collect();
        Postings { offsets, items }
    }

    /// The postings of `key`; empty for an unknown key.
    fn get(&self, key: u32) -> &[T] {
        let key = key as usize;
        match (self.offsets.get(key), self.offsets.get(key + 1)) {
            (Some(&start), Some(&end)) => self
                .items
                .get(start as usize..end as usize)
                .unwrap_or_default(),
            _ => &[],
        }
    }

    /// How many postings `key` has.
    fn len_of(&self, key: u32) -> usize {
        self.get(key).len()
    }
}

// ------------------------------------------------------------------------------------------------
// ExactIndex
// ------------------------------------------------------------------------------------------------

/// Exact keys → rows, for identifiers and other fields compared for equality.
///
/// Keys are matched byte for byte, so callers insert and look up *normalised* keys. The empty key
/// is never indexed (a field that normalises to nothing is missing, not a key shared by every
/// such row) and looking it up finds nothing.
#[derive(Debug, Clone, Default)]
pub struct ExactIndex {
    keys: HashMap<Box<str>, u32>,
    postings: Postings<RowIdx>,
}

impl ExactIndex {
    /// Builds the index from `(row, key)` pairs; a row may have several keys and a key several
    /// rows. Duplicate pairs count once.
    pub fn build<I, K>(entries: I) -> Self
    where
        I: IntoIterator<Item = (RowIdx, K)>,
        K: AsRef<str>,
    {
        let mut keys: HashMap<Box<str>, u32> = HashMap::new();
        let mut pairs = Vec::new();
        for (row, key) in entries {
            let key = key.as_ref();
            if key.is_empty() {
                continue;
            }
            let id = match keys.get(key) {
                Some(&id) => id,
                None => {
                    let Ok(id) = u32::try_from(keys.len()) else {
                        continue;
                    };
                    keys.insert(key.into(), id);
                    id
                }
            };
            pairs.push((id, row));
        }
        let postings = Postings::from_pairs(pairs, keys.len());
        ExactIndex { keys, postings }
    }

    /// Builds an identifier index from `(row, raw identifier)` pairs: each row is keyed by both
    /// its [`normalize_identifier`] form (strict) and its [`digits`] (loose), so look up both
    /// keys of a query (see [`crate::text::identifier_keys`]).
    pub fn from_identifiers<I, S>(entries: I) -> Self
    where
        I: IntoIterator<Item = (RowIdx, S)>,
        S: AsRef<str>,
    {
        Self::build(entries.into_iter().flat_map(|(row, raw)| {
            let keys = identifier_keys(raw.as_ref());
            [(row, keys.normalized), (row, keys.digits)]
        }))
    }

    /// The rows holding `key`, ascending; empty when none does.
    pub fn get(&self, key: &str) -> &[RowIdx] {
        match self.keys.get(key) {
            Some(&id) => self.postings.get(id),
            None => &[],
        }
    }

    /// The rows holding `key` as candidates, at most `limit` (the lowest rows when more hold it).
    ///
    /// The score says how selective the key is: `1 / (1 + ln df)` for a key held by `df` rows, so
    /// `1.0` for a unique key and lower for keys many rows share.
    pub fn lookup(&self, key: &str, limit: usize) -> Vec<Candidate> {
        let rows = self.get(key);
        let score = 1.0 / (1.0 + count_f32(rows.len().max(1)).ln());
        rows.iter()
            .take(limit)
            .map(|&row| Candidate { row, score })
            .collect()
    }

    /// The number of distinct keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is indexed.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

// ------------------------------------------------------------------------------------------------
// TextIndex
// ------------------------------------------------------------------------------------------------

/// Texts are cut to their first this many bytes (at a character boundary) before normalising,
/// on both sides alike, so that a hostile megabyte costs no more than a long name.
pub const MAX_TEXT_BYTES: usize = 1024;

/// Which of the crate's normalisers turn a text into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextKind {
    /// Company names: the tokens of [`normalize_org_name`] (legal forms dropped, abbreviations
    /// canonicalised) *and* of [`fold()`] (the words as written), so that `"Apex Log."` meets
    /// `"Apex Logistics"` through the canonical token and `"Apex Logistcs"` meets it through the
    /// trigrams of the written word.
    #[default]
    OrgName,
    /// Any other text: the tokens of [`fold()`].
    Plain,
}

/// Tuning of a [`TextIndex`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextIndexConfig {
    /// The normaliser.
    pub kind: TextKind,
    /// A feature (token or trigram) held by more than this share of the rows is stop-listed.
    pub max_df_share: f64,
    /// ...but never one held by this many rows or fewer (small indexes stop-list nothing).
    pub min_stop_df: u32,
    /// A query visits at most about this many postings (the rarest feature is always walked).
    /// The cost of a query is about proportional to the postings it visits (each is a random
    /// access into a per-row array), so this trades recall on queries made only of fairly common
    /// features against time; the default keeps a query in the tens of microseconds on 100,000
    /// rows even when every trigram of the query is held by thousands of them.
    pub posting_budget: usize,
}

impl Default for TextIndexConfig {
    fn default() -> Self {
        TextIndexConfig {
            kind: TextKind::OrgName,
            max_df_share: 0.05,
            min_stop_df: 64,
            posting_budget: 2_048,
        }
    }
}

/// Reusable per-query buffers for [`TextIndex::query_with`]: one accumulator per indexed row,
/// kept zeroed between queries. One per thread; it adapts to whichever index it is used with.
#[derive(Debug, Clone, Default)]
pub struct TextScratch {
    acc: Vec<f32>,
    touched: Vec<u32>,
}

impl TextScratch {
    /// Zeroes what a previous query left and sizes the accumulator for `rows` rows.
    fn prepare(&mut self, rows: usize) {
        for &ord in &self.touched {
            if let Some(a) = self.acc.get_mut(ord as usize) {
                *a = 0.0;
            }
        }
        self.touched.clear();
        if self.acc.len() != rows {
            self.acc.clear();
            self.acc.resize(rows, 0.0);
        }
    }
}

/// Fuzzy text → rows, by token and character-trigram postings.
///
/// **Features.** Each token of the normalised text is a feature, and so is each character
/// trigram of each token padded with one space on either side (`"apex"` → ` ap`, `ape`, `pex`,
/// `ex `), so a misspelt word still shares most of its trigrams with the right one. A row's
/// features are the union over its texts (a row may be inserted with several names, e.g.
/// aliases) and, for [`TextKind::OrgName`], over both normalisations.
///
/// **Weights.** A feature held by `df` of the `N` rows weighs `idf = ln((N + 1) / df)`.
///
/// **Stop-listing.** Features held by more than `max(max_df_share · N, min_stop_df)` rows are
/// *common* (`"logistics"`, `"inc"`, trigram `ing`); their postings are not walked. A query walks
/// the postings of its *rare* features, rarest first, which yields the candidate rows; a common
/// *token* of the query then still counts for the candidates that hold it (checked in a small
/// per-row token list, not by walking its postings), so `"Kalo Freight"` ranks the row
/// `"Kalo Freight"` above `"Kalo Foods"`. Common trigrams count nowhere: they are stop words.
/// The rank is the weighted Jaccard similarity over the counted features,
/// `shared / (query + row − shared)`, in `[0, 1]`.
///
/// **Fallback.** When the rare features reached fewer than `limit` rows (a query made only of
/// common words, or a misspelling that left no rare feature), the common features' postings are
/// walked too, rarest first, and then every feature counts in the rank.
///
/// **Budget.** Walking stops before a feature whose postings would take the visited total past
/// `posting_budget` (the first feature is always walked), so a query costs bounded work whatever
/// it holds; as postings are walked rarest first, what the budget cuts is the least selective
/// evidence. Every row sharing a rare feature with the query is reached as long as the budget
/// lasts; whether it survives `limit` depends on the rank.
#[derive(Debug, Clone, Default)]
pub struct TextIndex {
    config: TextIndexConfig,
    tokens: HashMap<Box<str>, u32>,
    grams: HashMap<u64, u32>,
    /// feature → row ordinals (positions in `rows`).
    postings: Postings<u32>,
    /// row ordinal → its token features.
    row_tokens: Postings<u32>,
    idf: Vec<f32>,
    /// ordinal → row and norms; rows ascend, so ordinal order is row order.
    rows: Vec<RowInfo>,
    stop_df: u32,
}

/// What scoring needs of one indexed row, kept together so that a candidate costs one memory
/// access.
#[derive(Debug, Clone, Copy, Default)]
struct RowInfo {
    row: RowIdx,
    /// The summed idf of its counted features (the rare ones and all tokens).
    norm_counted: f32,
    /// The summed idf of all its features.
    norm_all: f32,
}

/// One feature of a text.
#[derive(Clone, Copy)]
enum Feature<'a> {
    Token(&'a str),
    Gram(u64),
}

/// Packs three characters (21 bits each) into one trigram key.
fn pack_gram(a: u32, b: u32, c: u32) -> u64 {
    (u64::from(a) << 42) | (u64::from(b) << 21) | u64::from(c)
}

/// The first [`MAX_TEXT_BYTES`] of `raw`, cut at a character boundary.
fn clip(raw: &str) -> &str {
    if raw.len() <= MAX_TEXT_BYTES {
        return raw;
    }
    let mut end = MAX_TEXT_BYTES;
    while end > 0 && !raw.is_char_boundary(end) {
        end -= 1;
    }
    raw.get(..end).unwrap_or_default()
}

/// Calls `sink` with every feature of `raw` (possibly repeated).
fn for_each_feature(kind: TextKind, raw: &str, mut sink: impl FnMut(Feature<'_>)) {
    let raw = clip(raw);
    let folded = fold(raw);
    let normalized = match kind {
        TextKind::OrgName => Some(normalize_org_name(raw)).filter(|n| *n != folded),
        TextKind::Plain => None,
    };
    let mut chars: Vec<u32> = Vec::new();
    for view in std::iter::once(&folded).chain(normalized.as_ref()) {
        for token in tokens(view) {
            sink(Feature::Token(token));
            chars.clear();
            chars.push(u32::from(' '));
            chars.extend(token.chars().map(u32::from));
            chars.push(u32::from(' '));
            for window in chars.windows(3) {
                if let [a, b, c] = *window {
                    sink(Feature::Gram(pack_gram(a, b, c)));
                }
            }
        }
    }
}

/// The id of a feature, assigning the next one to a new feature (`None` once ids run out).
fn intern<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, u32>,
    key: K,
    next_id: &mut u32,
) -> Option<u32> {
    if let Some(&id) = map.get(&key) {
        return Some(id);
    }
    let id = *next_id;
    *next_id = id.checked_add(1)?;
    map.insert(key, id);
    Some(id)
}

impl TextIndex {
    /// Builds an index of company names ([`TextKind::OrgName`], default tuning) from
    /// `(row, text)` pairs. A row may appear several times (aliases); rows whose texts hold no
    /// letter or digit are not indexed.
    pub fn build<I, S>(entries: I) -> Self
    where
        I: IntoIterator<Item = (RowIdx, S)>,
        S: AsRef<str>,
    {
        Self::build_with(TextIndexConfig::default(), entries)
    }

    /// Builds an index with the given tuning.
    pub fn build_with<I, S>(config: TextIndexConfig, entries: I) -> Self
    where
        I: IntoIterator<Item = (RowIdx, S)>,
        S: AsRef<str>,
    {
        let mut token_ids: HashMap<Box<str>, u32> = HashMap::new();
        let mut gram_ids: HashMap<u64, u32> = HashMap::new();
        let mut is_token: Vec<bool> = Vec::new();
        let mut next_id = 0u32;
        // (row, feature) pairs, then (feature, ordinal) and (ordinal, token) pairs.
        let mut by_row: Vec<(u32, u32)> = Vec::new();
        for (row, text) in entries {
            for_each_feature(config.kind, text.as_ref(), |feature| {
                let id = match feature {
                    Feature::Token(token) => match token_ids.get(token) {
                        Some(&id) => Some(id),
                        None => intern(&mut token_ids, token.into(), &mut next_id),
                    },
                    Feature::Gram(gram) => intern(&mut gram_ids, gram, &mut next_id),
                };
                if let Some(id) = id {
                    if id as usize == is_token.len() {
                        is_token.push(matches!(feature, Feature::Token(_)));
                    }
                    by_row.push((row.0, id));
                }
            });
        }
        by_row.sort_unstable();
        by_row.dedup();

        let mut rows: Vec<RowIdx> = Vec::new();
        let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(by_row.len());
        let mut forward: Vec<(u32, u32)> = Vec::new();
        for (row, feature) in by_row {
            if rows.last() != Some(&RowIdx(row)) {
                rows.push(RowIdx(row));
            }
            let ordinal = u32::try_from(rows.len() - 1).unwrap_or(u32::MAX);
            pairs.push((feature, ordinal));
            if is_token.get(feature as usize) == Some(&true) {
                forward.push((ordinal, feature));
            }
        }
        let features = next_id as usize;
        let n = rows.len();
        let postings = Postings::from_pairs(pairs, features);
        let row_tokens = Postings::from_pairs(forward, n);

        let share = if config.max_df_share.is_finite() {
            config.max_df_share.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Saturating: a share of more rows than a u32 counts stops no key.
        let stop_df = u32::try_from(saturating_u64((share * count_f64(n)).ceil()))
            .unwrap_or(u32::MAX)
            .max(config.min_stop_df);
        let mut idf = Vec::with_capacity(features);
        let mut norm_counted = vec![0.0f32; n];
        let mut norm_all = vec![0.0f32; n];
        for feature in 0..next_id {
            let holders = postings.get(feature);
            let weight = if holders.is_empty() {
                0.0
            } else {
                to_f32(((count_f64(n) + 1.0) / count_f64(holders.len())).ln())
            };
            idf.push(weight);
            let counted =
                holders.len() <= stop_df as usize || is_token.get(feature as usize) == Some(&true);
            for &ord in holders {
                if let Some(norm) = norm_all.get_mut(ord as usize) {
                    *norm += weight;
                }
                if counted {
                    if let Some(norm) = norm_counted.get_mut(ord as usize) {
                        *norm += weight;
                    }
                }
            }
        }

        let rows = rows
            .into_iter()
            .zip(norm_counted.into_iter().zip(norm_all))
            .map(|(row, (norm_counted, norm_all))| RowInfo {
                row,
                norm_counted,
                norm_all,
            })
            .collect();
        TextIndex {
            config,
            tokens: token_ids,
            grams: gram_ids,
            postings,
            row_tokens,
            idf,
            rows,
            stop_df,
        }
    }

    /// The number of rows indexed.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is indexed.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The tuning the index was built with.
    pub fn config(&self) -> TextIndexConfig {
        self.config
    }

    /// The candidate rows for `text`, at most `limit`, best first (see the type documentation for
    /// the rank). Scores are in `[0, 1]`, about `1.0` when the row's counted features are the
    /// query's. Allocates a fresh [`TextScratch`]; hot loops should reuse one with
    /// [`Self::query_with`].
    pub fn query(&self, text: &str, limit: usize) -> Vec<Candidate> {
        self.query_with(&mut TextScratch::default(), text, limit)
    }

    /// [`Self::query`] with caller-owned buffers (same results).
    pub fn query_with(
        &self,
        scratch: &mut TextScratch,
        text: &str,
        limit: usize,
    ) -> Vec<Candidate> {
        if limit == 0 || self.rows.is_empty() {
            return Vec::new();
        }
        let (query_tokens, query_grams) = self.query_features(text);
        let stop_df = self.stop_df as usize;
        let is_rare = |f: &u32| self.df(*f) <= stop_df;
        let mut rare: Vec<u32> = Vec::new();
        let mut common_tokens: Vec<u32> = Vec::new();
        let mut common_grams: Vec<u32> = Vec::new();
        for &f in &query_tokens {
            if is_rare(&f) {
                rare.push(f);
            } else {
                common_tokens.push(f);
            }
        }
        for &f in &query_grams {
            if is_rare(&f) {
                rare.push(f);
            } else {
                common_grams.push(f);
            }
        }
        rare.sort_unstable_by_key(|&f| (self.df(f), f));

        scratch.prepare(self.rows.len());
        let mut visited = 0usize;
        self.walk(scratch, &rare, &mut visited);
        let fallback =
            scratch.touched.len() < limit && !(common_tokens.is_empty() && common_grams.is_empty());
        // Common tokens not walked are checked on each candidate's token list instead.
        let (query_norm, unwalked) = if fallback {
            let mut common: Vec<u32> = common_tokens.iter().chain(&common_grams).copied().collect();
            common.sort_unstable_by_key(|&f| (self.df(f), f));
            let walked = self.walk(scratch, &common, &mut visited);
            let mut unwalked: Vec<u32> = common
                .get(walked..)
                .unwrap_or_default()
                .iter()
                .copied()
                .filter(|f| common_tokens.contains(f))
                .collect();
            unwalked.sort_unstable();
            let norm = rare
                .iter()
                .chain(&common)
                .map(|&f| self.idf(f))
                .sum::<f32>();
            (norm, unwalked)
        } else {
            let norm = rare
                .iter()
                .chain(&common_tokens)
                .map(|&f| self.idf(f))
                .sum::<f32>();
            (norm, common_tokens)
        };

        let norm_of = |info: &RowInfo| {
            if fallback {
                info.norm_all
            } else {
                info.norm_counted
            }
        };
        let exact = |ord: u32, partial: f32, info: &RowInfo| -> Candidate {
            let mut shared = partial;
            if !unwalked.is_empty() {
                for token in self.row_tokens.get(ord) {
                    if unwalked.binary_search(token).is_ok() {
                        shared += self.idf(*token);
                    }
                }
            }
            Candidate {
                row: info.row,
                score: jaccard(shared, query_norm, norm_of(info)),
            }
        };
        let mut partial: Vec<(f32, u32)> = scratch
            .touched
            .iter()
            .map(|&ord| (scratch.acc.get(ord as usize).copied().unwrap_or(0.0), ord))
            .collect();
        scratch.prepare(self.rows.len());

        // Exact pruning: score the rows with the best partial sums first; the `limit`-th best
        // score among them is a floor that the other rows must be able to reach, which their
        // partial sum and norm bound without looking at their token lists.
        let head_len = limit.saturating_mul(2).min(partial.len());
        if head_len < partial.len() && head_len > 0 {
            partial.select_nth_unstable_by(head_len - 1, |a, b| {
                b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
            });
        }
        let (head, tail) = partial.split_at(head_len);
        let info = |ord: u32| self.rows.get(ord as usize);
        let mut candidates: Vec<Candidate> = head
            .iter()
            .filter_map(|&(s, ord)| info(ord).map(|i| exact(ord, s, i)))
            .collect();
        if !tail.is_empty() {
            // The `limit`-th best score so far (no need to sort the best to know it).
            let floor = if candidates.len() >= limit && limit > 0 {
                let (_, kth, _) = candidates.select_nth_unstable_by(limit - 1, rank_order);
                kth.score
            } else {
                0.0
            };
            let extra: f32 = unwalked.iter().map(|&f| self.idf(f)).sum();
            for &(s, ord) in tail {
                let Some(row) = info(ord) else {
                    continue;
                };
                // The score grows with the unknown shared common tokens `x <= extra`, and the row
                // holds at most `norm - s` more than it is known to share.
                let norm = norm_of(row);
                let x = extra.min((norm - s).max(0.0));
                let bound = jaccard(s + x, query_norm, norm);
                // Slack for rounding: scoring a few rows too many is harmless.
                if bound + 1e-4 >= floor {
                    candidates.push(exact(ord, s, row));
                }
            }
        }
        keep_top(candidates, limit)
    }

    /// Walks the postings of `features` in order into the accumulator, while the budget lasts;
    /// returns how many features were walked.
    fn walk(&self, scratch: &mut TextScratch, features: &[u32], visited: &mut usize) -> usize {
        for (walked, &feature) in features.iter().enumerate() {
            let holders = self.postings.get(feature);
            if *visited > 0 && visited.saturating_add(holders.len()) > self.config.posting_budget {
                return walked;
            }
            *visited += holders.len();
            let weight = self.idf(feature);
            for &ord in holders {
                if let Some(a) = scratch.acc.get_mut(ord as usize) {
                    if *a <= 0.0 {
                        scratch.touched.push(ord);
                    }
                    *a += weight;
                }
            }
        }
        features.len()
    }

    /// How many rows hold `feature`.
    fn df(&self, feature: u32) -> usize {
        self.postings.len_of(feature)
    }

    /// The weight of `feature`.
    fn idf(&self, feature: u32) -> f32 {
        self.idf.get(feature as usize).copied().unwrap_or(0.0)
    }

    /// The distinct known token and trigram features of `text`, as sorted feature ids.
    fn query_features(&self, text: &str) -> (Vec<u32>, Vec<u32>) {
        let (mut token_ids, mut gram_ids) = (Vec::new(), Vec::new());
        for_each_feature(self.config.kind, text, |feature| match feature {
            Feature::Token(token) => token_ids.extend(self.tokens.get(token).copied()),
            Feature::Gram(gram) => gram_ids.extend(self.grams.get(&gram).copied()),
        });
        for ids in [&mut token_ids, &mut gram_ids] {
            ids.sort_unstable();
            ids.dedup();
        }
        (token_ids, gram_ids)
    }
}

/// The weighted Jaccard similarity `shared / (query + row − shared)`, in `[0, 1]`.
fn jaccard(shared: f32, query: f32, row: f32) -> f32 {
    let union = query + row - shared;
    if union > 0.0 {
        non_negative((shared / union).min(1.0))
    } else {
        0.0
    }
}

// ------------------------------------------------------------------------------------------------
// RangeIndex
// ------------------------------------------------------------------------------------------------

/// The scale of [`amount_key`]: amounts are keyed in units of `10^-4`, enough for every
/// currency's minor unit, up to about ±9.2 · 10^14.
pub const AMOUNT_KEY_SCALE: u8 = 4;

/// The range key of a date: days from the Common Era (0001-01-01 is day 1).
pub fn date_key(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce())
}

/// The range key of an amount: its value in units of `10^-AMOUNT_KEY_SCALE`, rounded half away
/// from zero when it has more decimals; `None` when it does not fit an `i64`. The currency is
/// not part of the key: compare it on the candidates.
pub fn amount_key(amount: &Amount) -> Option<i64> {
    let units = if amount.scale <= AMOUNT_KEY_SCALE {
        amount.at_scale(AMOUNT_KEY_SCALE)?
    } else {
        let factor = 10i128.checked_pow(u32::from(amount.scale - AMOUNT_KEY_SCALE))?;
        let quotient = amount.minor_units / factor;
        let remainder = amount.minor_units % factor;
        if remainder.unsigned_abs() * 2 >= factor.unsigned_abs() {
            quotient + amount.minor_units.signum()
        } else {
            quotient
        }
    };
    i64::try_from(units).ok()
}

/// Sorted `(key, row)` pairs for ordered fields: dates ([`date_key`]) and amounts
/// ([`amount_key`]). Ranges are inclusive and answered by binary search, `O(log n)` plus the size
/// of the answer, with no allocation.
#[derive(Debug, Clone, Default)]
pub struct RangeIndex {
    entries: Vec<(i64, RowIdx)>,
}

impl RangeIndex {
    /// Builds the index from `(row, key)` pairs; a row may have several keys. Duplicate pairs
    /// count once.
    pub fn build<I>(entries: I) -> Self
    where
        I: IntoIterator<Item = (RowIdx, i64)>,
    {
        let mut entries: Vec<(i64, RowIdx)> =
            entries.into_iter().map(|(row, key)| (key, row)).collect();
        entries.sort_unstable();
        entries.dedup();
        RangeIndex { entries }
    }

    /// Builds a date index; an ambiguous date is keyed by both of its readings.
    pub fn from_dates<I>(entries: I) -> Self
    where
        I: IntoIterator<Item = (RowIdx, DateReadings)>,
    {
        Self::build(
            entries
                .into_iter()
                .flat_map(|(row, readings)| readings.iter().map(move |d| (row, date_key(d)))),
        )
    }

    /// Builds an amount index; amounts beyond the key's range are left out.
    pub fn from_amounts<I>(entries: I) -> Self
    where
        I: IntoIterator<Item = (RowIdx, Amount)>,
    {
        Self::build(
            entries
                .into_iter()
                .filter_map(|(row, amount)| amount_key(&amount).map(|key| (row, key))),
        )
    }

    /// The entries with `lo <= key <= hi`, by ascending key then row; empty when `lo > hi`.
    pub fn range(&self, lo: i64, hi: i64) -> &[(i64, RowIdx)] {
        if lo > hi {
            return &[];
        }
        let start = self.entries.partition_point(|&(key, _)| key < lo);
        let end = self.entries.partition_point(|&(key, _)| key <= hi);
        self.entries.get(start..end).unwrap_or_default()
    }

    /// The entries within `radius` of `center` (inclusive, saturating at the `i64` extremes).
    pub fn around(&self, center: i64, radius: u64) -> &[(i64, RowIdx)] {
        self.range(
            center.saturating_sub_unsigned(radius),
            center.saturating_add_unsigned(radius),
        )
    }

    /// The rows within `radius` of `center`, nearest first, at most `limit`; rows at the same
    /// distance come by ascending row, and a row keyed several times comes once, at its nearest
    /// key. Score `1 − d / (radius + 1)` for distance `d`, in `(0, 1]`. Costs `O(log n)` plus
    /// about the size of the answer, even when many rows share a key.
    pub fn nearest(&self, center: i64, radius: u64, limit: usize) -> Vec<Candidate> {
        let within = self.around(center, radius);
        let mut out: Vec<Candidate> = Vec::new();
        // A row keyed several times comes once, at its nearest key.
        let mut seen: HashSet<RowIdx> = HashSet::new();
        let scale = distance_f64(radius) + 1.0;
        // `left` is the end of the part below `center` not yet taken, `right` the start of the
        // part at or above it.
        let split = within.partition_point(|&(key, _)| key < center);
        let (mut left, mut right) = (split, split);
        while out.len() < limit {
            let below = left.checked_sub(1).and_then(|i| within.get(i)).copied();
            let above = within.get(right).copied();
            let d_below = below.map(|(key, _)| center.abs_diff(key));
            let d_above = above.map(|(key, _)| center.abs_diff(key));
            let distance = match (d_below, d_above) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            let mut group_below: &[(i64, RowIdx)] = &[];
            if let (Some((key, _)), Some(d)) = (below, d_below) {
                if d == distance {
                    let start = within
                        .get(..left)
                        .unwrap_or_default()
                        .partition_point(|&(k, _)| k < key);
                    group_below = within.get(start..left).unwrap_or_default();
                    left = start;
                }
            }
            let mut group_above: &[(i64, RowIdx)] = &[];
            if let (Some((key, _)), Some(d)) = (above, d_above) {
                if d == distance {
                    let rest = within.get(right..).unwrap_or_default();
                    let end = right + rest.partition_point(|&(k, _)| k <= key);
                    group_above = within.get(right..end).unwrap_or_default();
                    right = end;
                }
            }
            let score = non_negative(to_f32(1.0 - distance_f64(distance) / scale));
            merge_rows(group_below, group_above, score, limit, &mut seen, &mut out);
        }
        out
    }

    /// The number of `(key, row)` entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the index holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Appends the rows of two row-sorted groups not `seen` yet in ascending row order, until `out`
/// holds `limit`.
fn merge_rows(
    a: &[(i64, RowIdx)],
    b: &[(i64, RowIdx)],
    score: f32,
    limit: usize,
    seen: &mut HashSet<RowIdx>,
    out: &mut Vec<Candidate>,
) {
    let (mut i, mut j) = (0, 0);
    while out.len() < limit {
        let row = match (a.get(i), b.get(j)) {
            (Some(&(_, x)), Some(&(_, y))) if x <= y => {
                i += 1;
                x
            }
            (_, Some(&(_, y))) => {
                j += 1;
                y
            }
            (Some(&(_, x)), None) => {
                i += 1;
                x
            }
            (None, None) => return,
        };
        if seen.insert(row) {
            out.push(Candidate { row, score });
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Merging
// ------------------------------------------------------------------------------------------------

/// Candidate lists from several indexes, merged by weighted evidence.
///
/// Each source contributes `weight × score` to each of its rows (a row listed twice in one source
/// counts once, at its best score); a row's evidence is the sum over sources, so a row several
/// indexes found outranks one only a single index found, at equal scores. Negative, NaN and
/// infinite weights and scores count as `0` (the row is still a candidate). The result does not
/// depend on the order rows come in within a source.
#[derive(Debug, Clone, Default)]
pub struct CandidateSet {
    hits: Vec<(RowIdx, f32)>,
}

impl CandidateSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one source's candidates with the given weight.
    pub fn add(&mut self, weight: f32, candidates: &[Candidate]) {
        let weight = non_negative(weight);
        let mut source: Vec<Candidate> = candidates.to_vec();
        source.sort_unstable_by(rank_order);
        source.sort_by_key(|c| c.row);
        source.dedup_by_key(|c| c.row);
        self.hits.extend(
            source
                .into_iter()
                .map(|c| (c.row, (weight * non_negative(c.score)).min(f32::MAX))),
        );
    }

    /// Adds rows found without a score (for example [`ExactIndex::get`]), each scoring `1`.
    pub fn add_rows(&mut self, weight: f32, rows: &[RowIdx]) {
        let candidates: Vec<Candidate> = rows
            .iter()
            .map(|&row| Candidate { row, score: 1.0 })
            .collect();
        self.add(weight, &candidates);
    }

    /// The best `limit` rows by summed evidence, ties by ascending row.
    pub fn top(&self, limit: usize) -> Vec<Candidate> {
        let mut hits = self.hits.clone();
        // Stable: each row's contributions are summed in the order the sources were added.
        hits.sort_by_key(|&(row, _)| row);
        let mut merged: Vec<Candidate> = Vec::new();
        for (row, evidence) in hits {
            match merged.last_mut() {
                Some(last) if last.row == row => last.score += evidence,
                _ => merged.push(Candidate {
                    row,
                    score: evidence,
                }),
            }
        }
        for candidate in &mut merged {
            candidate.score = candidate.score.min(f32::MAX);
        }
        keep_top(merged, limit)
    }
}

/// Merges `(weight, candidates)` sources and keeps the best `limit` rows; see [`CandidateSet`].
pub fn union_ranked(sources: &[(f32, &[Candidate])], limit: usize) -> Vec<Candidate> {
    let mut set = CandidateSet::new();
    for &(weight, candidates) in sources {
        set.add(weight, candidates);
    }
    set.top(limit)
}

#[cfg(test)]
mod tests {
    // Test data: small generated numbers and lengths, which the casts carry exactly.
    #![allow(
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_precision_loss,
        clippy::cast_sign_loss
    )]

    use super::*;
    use crate::parse::parse_amount;
    use crate::test_rng::XorShift;
    use crate::text::{digits, normalize_identifier};
    use rstest::rstest;

    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mi", "ner", "vo", "tra", "zen", "quo", "bel", "sa", "dor", "fi", "gu", "ha",
        "ix", "jo", "ru", "pen", "wel", "tor",
    ];
    const INDUSTRIES: &[&str] = &[
        "Logistics",
        "Freight",
        "Trading",
        "Services",
        "Systems",
        "Foods",
        "Textiles",
        "Solutions",
        "Partners",
        "Consulting",
        "Holdings",
        "Metals",
        "Electric",
        "Pharma",
        "Media",
    ];
    const LEGAL: &[&str] = &["Inc.", "LLC", "Ltd", "GmbH", "S.A.", "", "", "Corp."];

    /// A synthetic company name: a two- or three-syllable brand, an industry word, a legal form.
    fn company(rng: &mut XorShift) -> String {
        let mut brand = String::new();
        for _ in 0..2 + rng.below(2) {
            brand.push_str(rng.pick(SYLLABLES));
        }
        let mut name = format!("{brand} {}", rng.pick(INDUSTRIES));
        let legal = rng.pick(LEGAL);
        if !legal.is_empty() {
            name.push(' ');
            name.push_str(legal);
        }
        name
    }

    fn rows_of(candidates: &[Candidate]) -> Vec<u32> {
        candidates.iter().map(|c| c.row.0).collect()
    }

    /// The list is ranked, distinct, within `limit`, and scores are in `[0, 1]`.
    fn assert_well_formed(candidates: &[Candidate], limit: usize) {
        assert!(candidates.len() <= limit);
        for pair in candidates.windows(2) {
            if let [a, b] = pair {
                assert_eq!(rank_order(a, b), Ordering::Less, "{a:?} before {b:?}");
            }
        }
        for c in candidates {
            assert!((0.0..=1.0).contains(&c.score), "{c:?}");
        }
    }

    // -------------------------------------------------------------------------------------------
    // ExactIndex

    fn invoice_index() -> ExactIndex {
        ExactIndex::from_identifiers([
            (RowIdx(0), "INV-000123"),
            (RowIdx(1), "RE-004512"),
            (RowIdx(2), "KM-4512"),
            (RowIdx(3), "2024/00077"),
            (RowIdx(4), "inv 123"),
            (RowIdx(5), ""),
            (RowIdx(6), "---"),
        ])
    }

    #[rstest]
    #[case(normalize_identifier("Invoice No. 123"), &[0, 4])]
    #[case(digits("#000123"), &[0, 4])]
    #[case(normalize_identifier("RE 4512"), &[1])]
    #[case(digits("RG-4512"), &[1, 2])]
    #[case(normalize_identifier("KM 04512"), &[2])]
    #[case(normalize_identifier("2024-00077"), &[3])]
    #[case(digits("202400077"), &[3])]
    #[case(normalize_identifier("RE-4513"), &[])]
    #[case(String::new(), &[])]
    fn exact_lookups(#[case] key: String, #[case] expected: &[u32]) {
        let index = invoice_index();
        let found: Vec<u32> = index.get(&key).iter().map(|r| r.0).collect();
        assert_eq!(found, expected, "key {key:?}");
        let candidates = index.lookup(&key, 10);
        assert_eq!(rows_of(&candidates), expected);
    }

    #[test]
    fn exact_scores_reflect_selectivity_and_limit() {
        let index = ExactIndex::build(
            (0..100)
                .map(|i| (RowIdx(i), "common".to_string()))
                .chain([(RowIdx(7), "unique".to_string())]),
        );
        assert_eq!(index.len(), 2);
        let unique = index.lookup("unique", 5);
        assert_eq!(
            unique,
            [Candidate {
                row: RowIdx(7),
                score: 1.0
            }]
        );
        let common = index.lookup("common", 3);
        assert_eq!(rows_of(&common), [0, 1, 2]);
        assert!(common.iter().all(|c| c.score > 0.0 && c.score < 0.25));
        assert!(index.lookup("unique", 0).is_empty());
    }

    #[test]
    fn exact_duplicates_and_hostile_keys() {
        let huge = "x".repeat(1 << 20);
        let emoji = "😀🎉👍🏽";
        let index = ExactIndex::build([
            (RowIdx(9), "k"),
            (RowIdx(9), "k"),
            (RowIdx(3), "k"),
            (RowIdx(1), ""),
            (RowIdx(2), huge.as_str()),
            (RowIdx(4), emoji),
            (RowIdx(u32::MAX), "max"),
        ]);
        assert_eq!(index.get("k"), [RowIdx(3), RowIdx(9)]);
        assert_eq!(index.get(""), []);
        assert_eq!(index.get(&huge), [RowIdx(2)]);
        assert_eq!(index.get(emoji), [RowIdx(4)]);
        assert_eq!(index.get("😀"), []);
        assert_eq!(index.get("max"), [RowIdx(u32::MAX)]);
        assert_eq!(index.len(), 4);
    }

    #[test]
    fn empty_indexes_answer_nothing() {
        let exact = ExactIndex::build(Vec::<(RowIdx, &str)>::new());
        assert!(exact.is_empty());
        assert_eq!(exact.get("a"), []);
        let text = TextIndex::build(Vec::<(RowIdx, &str)>::new());
        assert!(text.is_empty());
        assert!(text.query("Apex", 10).is_empty());
        assert!(TextIndex::default().query("Apex", 10).is_empty());
        let range = RangeIndex::build([]);
        assert!(range.is_empty());
        assert_eq!(range.range(i64::MIN, i64::MAX), []);
        assert!(range.nearest(0, u64::MAX, 10).is_empty());
        assert!(union_ranked(&[], 10).is_empty());
        assert!(CandidateSet::new().top(10).is_empty());
    }

    // -------------------------------------------------------------------------------------------
    // TextIndex

    const TARGET: u32 = 10_000;

    /// 10,000 synthetic names, a few deliberately close distractors, and the target row.
    fn vendor_index() -> TextIndex {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut names: Vec<(RowIdx, String)> = (0..TARGET)
            .map(|i| (RowIdx(i), company(&mut rng)))
            .collect();
        for (i, distractor) in [
            "Apex Freight Ltd",
            "Apex Foods GmbH",
            "Alpex Logistics Inc.",
            "Vertex Logistics LLC",
            "Apex Trading",
            "Logistics Apex Holdings",
        ]
        .into_iter()
        .enumerate()
        {
            names.push((RowIdx(20_000 + i as u32), distractor.to_string()));
        }
        names.push((RowIdx(TARGET), "Apex Logistics Inc.".to_string()));
        TextIndex::build(names)
    }

    #[rstest]
    #[case("Apex Logistcs", 5)]
    #[case("Apex Logistics Inc.", 1)]
    #[case("APEX LOGISTICS", 3)]
    #[case("Apex Logistics, Incorporated", 3)]
    #[case("Apex Log.", 5)]
    #[case("Apexx Logistics", 10)]
    #[case("Apx Logistics Inc", 10)]
    fn misspelt_vendor_finds_its_row(#[case] query: &str, #[case] within: usize) {
        let index = vendor_index();
        let found = index.query(query, 20);
        assert_well_formed(&found, 20);
        let position = found.iter().position(|c| c.row == RowIdx(TARGET));
        assert!(
            position.is_some_and(|p| p < within),
            "{query:?}: target at {position:?} in {found:?}"
        );
    }

    #[test]
    fn a_shared_rare_token_reaches_the_list() {
        let mut rng = XorShift(7);
        let mut names: Vec<(RowIdx, String)> =
            (0..3_000).map(|i| (RowIdx(i), company(&mut rng))).collect();
        names.push((RowIdx(5_000), "Zyxwvut Consulting Partners".to_string()));
        let index = TextIndex::build(names);
        // Shares only the rare word; everything else is common or unknown.
        let found = index.query("Zyxwvut Trading Services Ltd", 5);
        assert_eq!(found.first().map(|c| c.row), Some(RowIdx(5_000)));
    }

    #[test]
    fn common_words_alone_still_find_candidates() {
        let mut rng = XorShift(11);
        let names: Vec<(RowIdx, String)> =
            (0..3_000).map(|i| (RowIdx(i), company(&mut rng))).collect();
        let index = TextIndex::build(names);
        let found = index.query("Logistics Services", 10);
        assert_eq!(found.len(), 10);
        assert_well_formed(&found, 10);
    }

    #[test]
    fn rows_with_aliases_and_plain_text() {
        let index = TextIndex::build_with(
            TextIndexConfig {
                kind: TextKind::Plain,
                ..TextIndexConfig::default()
            },
            [
                (RowIdx(4), "Grand Hotel Berlin"),
                (RowIdx(4), "Hotel Adlon"),
                (RowIdx(2), "Berlin Hbf"),
                (RowIdx(8), "Müller Bäckerei"),
            ],
        );
        assert_eq!(index.len(), 3);
        assert_eq!(
            index.query("hotel adlon", 3).first().map(|c| c.row),
            Some(RowIdx(4))
        );
        assert_eq!(
            index.query("MULLER backerei", 3).first().map(|c| c.row),
            Some(RowIdx(8))
        );
        let exact = index.query("Berlin Hbf", 3);
        assert_eq!(exact.first().map(|c| c.row), Some(RowIdx(2)));
        assert!(exact.first().is_some_and(|c| c.score > 0.999));
    }

    #[test]
    fn hostile_texts_are_fine() {
        let huge = "Apex Logistics ".repeat(70_000);
        let emoji = "😀🎉👍🏽";
        let index = TextIndex::build([
            (RowIdx(0), huge.as_str()),
            (RowIdx(1), emoji),
            (RowIdx(2), ""),
            (RowIdx(3), "東京 Trading"),
            (RowIdx(u32::MAX), "Apex"),
        ]);
        assert_eq!(
            index.len(),
            3,
            "rows without letters or digits are not indexed"
        );
        for query in ["", "   ", emoji, "\u{0000}", huge.as_str(), "東京", "apex"] {
            let found = index.query(query, 2);
            assert_well_formed(&found, 2);
        }
        assert!(index.query(emoji, 2).is_empty());
        assert_eq!(
            index.query("東京", 2).first().map(|c| c.row),
            Some(RowIdx(3))
        );
        let apex = rows_of(&index.query("apex", 5));
        assert!(apex.contains(&0) && apex.contains(&u32::MAX));
        assert!(index.query("apex", 0).is_empty());
    }

    #[test]
    fn hundred_thousand_rows_answer_within_limit() {
        let mut rng = XorShift(0xDEAD_BEEF);
        let names: Vec<(RowIdx, String)> = (0..100_000)
            .map(|i| (RowIdx(i), company(&mut rng)))
            .collect();
        let index = TextIndex::build(names.iter().map(|(row, name)| (*row, name.as_str())));
        assert_eq!(index.len(), 100_000);
        let mut scratch = TextScratch::default();
        for query in [
            "Kalomi Logistics",
            "Services Inc",
            "zenquo Freight GmbH",
            "Kalo",
        ] {
            let found = index.query_with(&mut scratch, query, 25);
            assert_well_formed(&found, 25);
            assert!(!found.is_empty(), "{query:?}");
        }
    }

    /// Random indexes: results are well formed, the same with a reused scratch as with a fresh
    /// one, and a row's own name finds it (unless `limit` rows share that name exactly).
    #[test]
    fn text_property() {
        let mut rng = XorShift(0x1234_5678);
        let mut scratch = TextScratch::default();
        for round in 0..20 {
            let n = 1 + rng.below(2_000);
            let names: Vec<(RowIdx, String)> = (0..n)
                .map(|i| (RowIdx(i as u32 * 3), company(&mut rng)))
                .collect();
            let index = TextIndex::build(names.iter().map(|(r, s)| (*r, s.as_str())));
            for _ in 0..20 {
                let Some((row, name)) = names.get(rng.below(n)) else {
                    continue;
                };
                let limit = 1 + rng.below(10);
                let fresh = index.query(name, limit);
                let reused = index.query_with(&mut scratch, name, limit);
                assert_eq!(fresh, reused, "round {round}");
                assert_well_formed(&fresh, limit);
                let same = names
                    .iter()
                    .filter(|(_, other)| normalize_org_name(other) == normalize_org_name(name))
                    .count();
                assert!(
                    fresh.iter().any(|c| c.row == *row) || same > limit,
                    "round {round}: {name:?} {fresh:?}"
                );
            }
        }
    }

    // -------------------------------------------------------------------------------------------
    // RangeIndex

    fn small_range() -> RangeIndex {
        RangeIndex::build([
            (RowIdx(0), 10),
            (RowIdx(1), 20),
            (RowIdx(2), 20),
            (RowIdx(3), 30),
            (RowIdx(4), i64::MIN),
            (RowIdx(5), i64::MAX),
            (RowIdx(6), -5),
            (RowIdx(2), 20),
        ])
    }

    #[rstest]
    #[case(10, 20, &[0, 1, 2])]
    #[case(20, 20, &[1, 2])]
    #[case(11, 19, &[])]
    #[case(21, 10, &[])]
    #[case(31, 1000, &[])]
    #[case(-5, -5, &[6])]
    #[case(i64::MIN, i64::MIN, &[4])]
    #[case(i64::MAX, i64::MAX, &[5])]
    #[case(i64::MIN, i64::MAX, &[4, 6, 0, 1, 2, 3, 5])]
    #[case(i64::MAX, i64::MIN, &[])]
    #[case(0, i64::MAX, &[0, 1, 2, 3, 5])]
    fn range_queries(#[case] lo: i64, #[case] hi: i64, #[case] expected: &[u32]) {
        let found: Vec<u32> = small_range().range(lo, hi).iter().map(|e| e.1 .0).collect();
        assert_eq!(found, expected);
    }

    #[rstest]
    #[case(20, 0, &[1, 2])]
    #[case(15, 5, &[0, 1, 2])]
    #[case(i64::MAX, u64::MAX, &[4, 6, 0, 1, 2, 3, 5])]
    #[case(i64::MIN, u64::MAX, &[4, 6, 0, 1, 2, 3, 5])]
    #[case(i64::MIN, i64::MAX as u64, &[4, 6])]
    #[case(i64::MIN, 1, &[4])]
    #[case(i64::MAX - 1, 1, &[5])]
    fn around_saturates(#[case] center: i64, #[case] radius: u64, #[case] expected: &[u32]) {
        let found: Vec<u32> = small_range()
            .around(center, radius)
            .iter()
            .map(|e| e.1 .0)
            .collect();
        assert_eq!(found, expected);
    }

    #[rstest]
    #[case(20, 100, 10, &[1, 2, 0, 3, 6])]
    #[case(15, 100, 10, &[0, 1, 2, 3, 6])]
    #[case(15, 100, 2, &[0, 1])]
    #[case(15, 4, 10, &[])]
    #[case(15, 5, 10, &[0, 1, 2])]
    #[case(0, u64::MAX, 3, &[6, 0, 1])]
    #[case(i64::MIN, 0, 3, &[4])]
    #[case(i64::MAX, u64::MAX, 1, &[5])]
    #[case(20, 100, 0, &[])]
    fn nearest_first(
        #[case] center: i64,
        #[case] radius: u64,
        #[case] limit: usize,
        #[case] expected: &[u32],
    ) {
        let found = small_range().nearest(center, radius, limit);
        assert_eq!(rows_of(&found), expected);
        for pair in found.windows(2) {
            if let [a, b] = pair {
                assert!(a.score >= b.score);
            }
        }
        assert!(found.iter().all(|c| c.score > 0.0 && c.score <= 1.0));
    }

    #[test]
    fn nearest_lists_a_row_once() {
        let index = RangeIndex::build([(RowIdx(1), 10), (RowIdx(1), 12), (RowIdx(2), 11)]);
        let found = index.nearest(10, 5, 10);
        assert_eq!(rows_of(&found), [1, 2]);
        assert_eq!(found.first().map(|c| c.score), Some(1.0));
    }

    /// Random keys: `range` equals a brute-force filter, `nearest` the brute-force order.
    #[test]
    fn range_property() {
        let mut rng = XorShift(0xABCD_EF01);
        for _ in 0..200 {
            let n = rng.below(300);
            let spread = 1 + rng.below(100) as i64;
            let pairs: Vec<(RowIdx, i64)> = (0..n)
                .map(|_| {
                    let key = rng.below(2 * spread as usize) as i64 - spread;
                    (RowIdx(rng.below(500) as u32), key)
                })
                .collect();
            let index = RangeIndex::build(pairs.iter().copied());
            let lo = rng.below(4 * spread as usize) as i64 - 2 * spread;
            let hi = rng.below(4 * spread as usize) as i64 - 2 * spread;
            let mut expected: Vec<(i64, RowIdx)> = pairs
                .iter()
                .filter(|(_, key)| lo <= *key && *key <= hi)
                .map(|&(row, key)| (key, row))
                .collect();
            expected.sort_unstable();
            expected.dedup();
            assert_eq!(index.range(lo, hi), expected.as_slice());

            let radius = rng.below(spread as usize) as u64;
            let limit = rng.below(20);
            let mut best: Vec<(u64, RowIdx)> = Vec::new();
            for &(row, key) in &pairs {
                let d = lo.abs_diff(key);
                if d <= radius {
                    best.push((d, row));
                }
            }
            best.sort_unstable();
            let mut seen = Vec::new();
            best.retain(|&(_, row)| {
                let new = !seen.contains(&row);
                seen.push(row);
                new
            });
            let found = index.nearest(lo, radius, limit);
            let want: Vec<RowIdx> = best.iter().map(|&(_, r)| r).take(limit).collect();
            let got: Vec<RowIdx> = found.iter().map(|c| c.row).collect();
            assert_eq!(got, want, "lo {lo} radius {radius} limit {limit}");
        }
    }

    #[rstest]
    #[case("12.50", Some(125_000))]
    #[case("-0,01 EUR", Some(-100))]
    #[case("1.234,56 €", Some(12_345_600))]
    #[case("0.00005", Some(1))]
    #[case("0.00004", Some(0))]
    #[case("-0.00005", Some(-1))]
    #[case("99999999999999999999999", None)]
    fn amount_keys(#[case] raw: &str, #[case] expected: Option<i64>) {
        let amount = parse_amount(raw);
        assert!(amount.is_some(), "{raw:?} should parse");
        assert_eq!(amount.and_then(|a| amount_key(&a)), expected, "{raw:?}");
    }

    #[test]
    fn dates_and_amounts_build_range_indexes() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        assert_eq!(date_key(day(1, 1, 1)), 1);
        let dates = RangeIndex::from_dates([
            (RowIdx(0), DateReadings::single(day(2024, 3, 1))),
            (
                RowIdx(1),
                DateReadings {
                    preferred: day(2024, 2, 3),
                    alternative: Some(day(2024, 3, 2)),
                },
            ),
        ]);
        assert_eq!(dates.len(), 3);
        let window = dates.around(date_key(day(2024, 3, 1)), 1);
        assert_eq!(window.iter().map(|e| e.1 .0).collect::<Vec<_>>(), [0, 1]);

        let amounts = RangeIndex::from_amounts(
            ["100.00", "100.01 EUR", "99.99", "1e400"]
                .iter()
                .enumerate()
                .filter_map(|(i, raw)| parse_amount(raw).map(|a| (RowIdx(i as u32), a))),
        );
        let near = amounts.nearest(
            amount_key(&Amount {
                minor_units: 10_000,
                scale: 2,
                currency: None,
            })
            .unwrap_or_default(),
            100,
            10,
        );
        assert_eq!(rows_of(&near), [0, 1, 2]);
    }

    // -------------------------------------------------------------------------------------------
    // Merging

    fn cands(list: &[(u32, f32)]) -> Vec<Candidate> {
        list.iter()
            .map(|&(row, score)| Candidate {
                row: RowIdx(row),
                score,
            })
            .collect()
    }

    #[rstest]
    // Found by two sources beats found by one.
    #[case(&[(1.0, &[(1, 0.9), (2, 0.5)][..]), (1.0, &[(2, 0.5)][..])], 10, &[2, 1])]
    // Weights scale evidence.
    #[case(&[(1.0, &[(1, 0.9)][..]), (0.1, &[(2, 1.0)][..])], 10, &[1, 2])]
    // Ties go to the lower row, whatever the input order.
    #[case(&[(1.0, &[(9, 0.5), (3, 0.5), (5, 0.5)][..])], 2, &[3, 5])]
    // A row listed twice in one source counts once, at its best score.
    #[case(&[(1.0, &[(4, 0.6), (4, 0.6), (7, 1.0)][..])], 10, &[7, 4])]
    // Bad weights and scores count as zero but keep the row.
    #[case(&[(f32::NAN, &[(1, 1.0)][..]), (-1.0, &[(2, 1.0)][..]), (1.0, &[(3, f32::NAN), (0, 0.1)][..])], 10, &[0, 1, 2, 3])]
    // Overflowing evidence saturates.
    #[case(&[(f32::INFINITY, &[(1, 1.0)][..]), (f32::MAX, &[(2, f32::MAX)][..]), (f32::MAX, &[(2, 2.0)][..])], 10, &[2, 1])]
    #[case(&[(1.0, &[(1, 1.0)][..])], 0, &[])]
    fn union_ranking(
        #[case] sources: &[(f32, &[(u32, f32)])],
        #[case] limit: usize,
        #[case] expected: &[u32],
    ) {
        let lists: Vec<(f32, Vec<Candidate>)> =
            sources.iter().map(|&(w, list)| (w, cands(list))).collect();
        let borrowed: Vec<(f32, &[Candidate])> = lists
            .iter()
            .map(|(w, list)| (*w, list.as_slice()))
            .collect();
        let merged = union_ranked(&borrowed, limit);
        assert_eq!(rows_of(&merged), expected);
        assert!(merged.iter().all(|c| c.score.is_finite() && c.score >= 0.0));
    }

    #[test]
    fn candidate_set_combines_indexes() {
        let exact = ExactIndex::from_identifiers([(RowIdx(3), "INV-77"), (RowIdx(8), "INV-78")]);
        let amounts = RangeIndex::build([(RowIdx(3), 500), (RowIdx(8), 505), (RowIdx(9), 500)]);
        let mut set = CandidateSet::new();
        set.add_rows(2.0, exact.get(&normalize_identifier("77")));
        set.add(1.0, &amounts.nearest(500, 10, 10));
        let top = set.top(10);
        assert_eq!(rows_of(&top), [3, 9, 8]);
        assert_eq!(top.first().map(|c| c.score), Some(3.0));
    }

    /// Merging is insensitive to the order of rows within a source and deterministic.
    #[test]
    fn union_property() {
        let mut rng = XorShift(42);
        for _ in 0..200 {
            let sources: Vec<(f32, Vec<Candidate>)> = (0..1 + rng.below(4))
                .map(|_| {
                    let weight = rng.below(5) as f32 / 2.0;
                    let list = (0..rng.below(30))
                        .map(|_| Candidate {
                            row: RowIdx(rng.below(40) as u32),
                            score: rng.below(5) as f32 / 4.0,
                        })
                        .collect();
                    (weight, list)
                })
                .collect();
            let limit = rng.below(15);
            let borrowed: Vec<(f32, &[Candidate])> =
                sources.iter().map(|(w, l)| (*w, l.as_slice())).collect();
            let merged = union_ranked(&borrowed, limit);
            let reversed: Vec<(f32, Vec<Candidate>)> = sources
                .iter()
                .map(|(w, l)| (*w, l.iter().rev().copied().collect()))
                .collect();
            let borrowed_rev: Vec<(f32, &[Candidate])> =
                reversed.iter().map(|(w, l)| (*w, l.as_slice())).collect();
            assert_eq!(merged, union_ranked(&borrowed_rev, limit));
            assert!(merged.len() <= limit);
            for pair in merged.windows(2) {
                if let [a, b] = pair {
                    assert_eq!(rank_order(a, b), Ordering::Less);
                }
            }
        }
    }
}
