//! The lookup cascade: a raw value (`"Deutschland"`, `"US$"`, `"pcs"`) to the code of a lookup
//! table entry (`DE`, `USD`, `EA`), or an honest abstention.
//!
//! A [`LookupIndex`] is built once per lookup-table version and shared (it is `Send + Sync` and
//! immutable); [`LookupIndex::resolve`] runs the cascade on one value and stops at the first step
//! that decides:
//!
//! 1. **Exact code** ([`LookupStep::ExactCode`]): the trimmed value is a code; case-insensitively
//!    when the code is made of letters and digits (`usd` → `USD`), as written otherwise.
//! 2. **Label or alias** ([`LookupStep::Label`]): the value equals a label or an alias (or a code)
//!    once folded by the crate's normaliser ([`crate::text::fold`]: case, accents, punctuation,
//!    spacing), tried from the most to the least specific key: symbols kept (`US$` is not `US`,
//!    `€` is a value), folded (`ÉTATS-UNIS` = `etats unis`), spaces removed (`U.S.A.` = `USA`).
//!    A key shared by two codes is ambiguous and abstains ([`Abstention::Ambiguous`]): guessing
//!    would be a coin toss. A value made of bracketed or dashed parts (`Germany (DE)`,
//!    `DE - Germany`) whose every part resolves here to one and the same code resolves to it.
//! 3. **Fuzzy** ([`LookupStep::Fuzzy`]): the folded value against every label and alias, by an
//!    edit-counting similarity (see `fuzzy`): a dropped, doubled or replaced letter and two
//!    swapped letters are one edit each, `k` edits in `n` letters score `1 - k / (n + 2)`; names
//!    of several words are compared word by word in any order (`X, Republic of`), each word
//!    weighted by its rarity in the table (inverse document frequency), so that words most codes
//!    share (`Republic`, `of`) weigh little and the distinguishing word decides; a value whose
//!    spaces were dropped or added is compared without its spaces. Accepted only when the best
//!    score reaches [`LookupParams::threshold`] *and* leads the best alias of any other code by
//!    [`LookupParams::margin`] (a value one edit from two names, `Tongo` for `Togo` or `Tonga`,
//!    scores alike on both and abstains), and when both the value and the alias hold at least
//!    [`MIN_FUZZY_CHARS`] letters or digits (one edit away from a two- or three-letter code is
//!    nearly every string of that length). A decorated value whose parts did not all resolve at
//!    step 2 (`Germny (DE)`) resolves when every part resolves, fuzzily or not, to one code.
//!    Otherwise the value is left unresolved ([`Abstention::BelowThreshold`],
//!    [`Abstention::Ambiguous`], [`Abstention::NoCandidate`]): a wrong canonical value is worse
//!    than none.
//!
//! Small tables (up to 128 fuzzy aliases) are scanned in full at step 3; bigger ones are searched
//! through token and trigram postings ([`crate::index::TextIndex`]) and only the 64 best aliases
//! found are scored: generously many, because the runner-up must be found as surely as the best.
//!
//! Every outcome carries the best [`LookupCandidate`]s of distinct codes, which is what an LLM
//! fallback is shown when the cascade abstains. Pure, total (no panic on any input, any script)
//! and deterministic: ties are broken by the order in which codes were first given to
//! [`LookupIndex::build`].

mod fuzzy;
mod keys;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::clamp_score;

use fuzzy::{FuzzyAlias, Search, TokenWeights, Views};
use keys::{code_key_insensitive, compact_key, fold_key, symbol_key};

/// The default fuzzy acceptance threshold.
pub const DEFAULT_THRESHOLD: f64 = 0.85;
/// The default lead the best code must have over the runner-up code.
pub const DEFAULT_MARGIN: f64 = 0.05;
/// A fuzzy match needs at least this many letters or digits on both sides.
pub const MIN_FUZZY_CHARS: usize = 4;
/// How many candidates an outcome lists at most.
pub const MAX_CANDIDATES: usize = 5;

/// Confidence of a resolution by a normalised label or alias, and by its parts.
const LABEL_CONFIDENCE: f64 = 0.99;
const PARTS_CONFIDENCE: f64 = 0.95;
/// Aliases scoring below this share nothing that counts with the value: they are not candidates
/// (Jaro-Winkler alone gives a little to any two strings with a letter in common).
const CANDIDATE_FLOOR: f64 = 0.5;
/// A value is split into at most this many parts.
const MAX_PARTS: usize = 4;

/// One entry of a lookup table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LookupEntry {
    /// The canonical value.
    pub code: String,
    /// Its display name.
    pub label: String,
    /// Other names it is written as.
    pub aliases: Vec<String>,
}

/// Tuning of the fuzzy step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LookupParams {
    /// The fuzzy score a value must reach to resolve (default [`DEFAULT_THRESHOLD`]).
    pub threshold: f64,
    /// The lead it needs over the best alias of another code (default [`DEFAULT_MARGIN`]).
    pub margin: f64,
}

impl Default for LookupParams {
    fn default() -> Self {
        LookupParams {
            threshold: DEFAULT_THRESHOLD,
            margin: DEFAULT_MARGIN,
        }
    }
}

/// The step of the cascade that resolved a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LookupStep {
    /// The value is a code.
    ExactCode,
    /// The value is a label or an alias once normalised.
    Label,
    /// The value is near one label or alias, and clearly nearer it than any other code's.
    Fuzzy,
}

/// Why a value was left unresolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Abstention {
    /// The value holds no letter, digit or symbol.
    Empty,
    /// Nothing in the table resembles it (no alias scores more than half).
    NoCandidate,
    /// The best candidate is too weak (or the value too short to be matched fuzzily).
    BelowThreshold,
    /// Two codes fit: a normalised alias shared by both, or a runner-up within the margin.
    Ambiguous,
}

/// A code considered for a value.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupCandidate {
    pub code: String,
    pub label: String,
    /// In `[0, 1]`.
    pub score: f64,
}

/// The result of [`LookupIndex::resolve`].
#[derive(Debug, Clone, PartialEq)]
pub struct LookupOutcome {
    /// The resolved code, `None` when the cascade abstained.
    pub code: Option<String>,
    /// The step that resolved it.
    pub step: Option<LookupStep>,
    /// How sure the cascade is, in `[0, 1]`: 1.0 for a code, slightly less for a label or alias,
    /// the fuzzy score for a fuzzy match; for an abstention, the best candidate's score.
    pub confidence: f64,
    /// Why the value was left unresolved; `Some` exactly when `code` is `None`.
    pub abstained: Option<Abstention>,
    /// The best candidates of distinct codes, best first, at most [`MAX_CANDIDATES`].
    pub candidates: Vec<LookupCandidate>,
}

/// A lookup table compiled for the cascade. Immutable once built.
#[derive(Debug, Clone, Default)]
pub struct LookupIndex {
    entries: Vec<LookupEntry>,
    /// Trimmed code, as written → entry.
    codes: HashMap<String, u32>,
    /// Lowercased letter-and-digit code → entries.
    codes_folded: HashMap<String, Vec<u32>>,
    /// [`symbol_key`] / [`fold_key`] / [`compact_key`] of every code, label and alias → entries.
    by_symbol: HashMap<String, Vec<u32>>,
    by_fold: HashMap<String, Vec<u32>>,
    by_compact: HashMap<String, Vec<u32>>,
    fuzzy: Vec<FuzzyAlias>,
    /// The weight of the words of the fuzzy aliases (rare words weigh more).
    weights: TokenWeights,
    search: Search,
}

/// Adds `entry` to the list under `key` unless it is there (lists are tiny).
fn add_key(map: &mut HashMap<String, Vec<u32>>, key: String, entry: u32) {
    if key.is_empty() {
        return;
    }
    let list = map.entry(key).or_default();
    if !list.contains(&entry) {
        list.push(entry);
    }
}

/// What a key lookup found.
enum KeyHit {
    None,
    One(u32),
    Many(Vec<u32>),
}

fn key_hit(map: &HashMap<String, Vec<u32>>, key: &str) -> KeyHit {
    match map.get(key).map(Vec::as_slice) {
        None | Some([]) => KeyHit::None,
        Some([one]) => KeyHit::One(*one),
        Some(many) => KeyHit::Many(many.to_vec()),
    }
}

impl LookupIndex {
    /// Compiles a table. Entries with the same (trimmed) code are merged (the first non-empty
    /// label wins, aliases are united); empty codes, labels and aliases are ignored.
    pub fn build(entries: Vec<LookupEntry>) -> LookupIndex {
        let mut merged: Vec<LookupEntry> = Vec::new();
        let mut codes: HashMap<String, u32> = HashMap::new();
        for e in entries {
            let code = e.code.trim();
            if code.is_empty() {
                continue;
            }
            let idx = match codes.get(code) {
                Some(&i) => i,
                None => {
                    let Ok(i) = u32::try_from(merged.len()) else {
                        break;
                    };
                    codes.insert(code.to_owned(), i);
                    merged.push(LookupEntry {
                        code: code.to_owned(),
                        ..LookupEntry::default()
                    });
                    i
                }
            };
            let Some(target) = merged.get_mut(idx as usize) else {
                continue;
            };
            let label = e.label.trim();
            if target.label.is_empty() && !label.is_empty() {
                target.label = label.to_owned();
            } else if !label.is_empty()
                && target.label != label
                && !target.aliases.iter().any(|a| a == label)
            {
                target.aliases.push(label.to_owned());
            }
            for a in e.aliases {
                let a = a.trim();
                if !a.is_empty() && a != target.label && !target.aliases.iter().any(|x| x == a) {
                    target.aliases.push(a.to_owned());
                }
            }
        }

        let mut index = LookupIndex {
            codes,
            ..LookupIndex::default()
        };
        for (i, e) in merged.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else { break };
            if let Some(k) = code_key_insensitive(&e.code) {
                add_key(&mut index.codes_folded, k, i);
            }
            let names = std::iter::once(&e.code)
                .chain(std::iter::once(&e.label))
                .chain(&e.aliases);
            let mut seen_fuzzy: Vec<String> = Vec::new();
            for (n, name) in names.enumerate() {
                let folded = fold_key(name);
                add_key(&mut index.by_symbol, symbol_key(name), i);
                add_key(&mut index.by_compact, compact_key(&folded), i);
                // Codes are identifiers, not words: they take no part in the fuzzy step.
                if n > 0 && !seen_fuzzy.contains(&folded) {
                    let views = Views::new(&folded);
                    if views.weight() >= MIN_FUZZY_CHARS {
                        index.fuzzy.push(FuzzyAlias { entry: i, views });
                    }
                    seen_fuzzy.push(folded.clone());
                }
                add_key(&mut index.by_fold, folded, i);
            }
        }
        index.weights = TokenWeights::build(&index.fuzzy, merged.len());
        for alias in &mut index.fuzzy {
            alias.views.weigh(&index.weights);
        }
        index.search = Search::build(&index.fuzzy);
        index.entries = merged;
        index
    }

    /// The number of distinct codes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, one per distinct code, in the order their codes were first given.
    pub fn entries(&self) -> &[LookupEntry] {
        &self.entries
    }

    /// Runs the cascade on `raw` (see the module documentation).
    pub fn resolve(&self, raw: &str, params: LookupParams) -> LookupOutcome {
        let trimmed = raw.trim();
        if symbol_key(trimmed).is_empty() {
            return self.abstain(Abstention::Empty, Vec::new());
        }
        // 1. exact code
        if let Some(&i) = self.codes.get(trimmed) {
            return self.resolved(i, LookupStep::ExactCode, 1.0);
        }
        if let Some(k) = code_key_insensitive(trimmed) {
            if let KeyHit::One(i) = key_hit(&self.codes_folded, &k) {
                return self.resolved(i, LookupStep::ExactCode, 1.0);
            }
        }
        // 2. normalised label or alias
        let folded = fold_key(trimmed);
        match self.label_step(trimmed, &folded) {
            KeyHit::One(i) => return self.resolved(i, LookupStep::Label, LABEL_CONFIDENCE),
            KeyHit::Many(list) => {
                let cands = list.iter().map(|&i| (i, 1.0)).collect();
                return self.abstain(Abstention::Ambiguous, cands);
            }
            KeyHit::None => {}
        }
        match self.parts_step(trimmed) {
            KeyHit::One(i) => return self.resolved(i, LookupStep::Label, PARTS_CONFIDENCE),
            KeyHit::Many(list) => {
                let cands = list.iter().map(|&i| (i, PARTS_CONFIDENCE)).collect();
                return self.abstain(Abstention::Ambiguous, cands);
            }
            KeyHit::None => {}
        }
        // 3. fuzzy: a decorated value by its parts, else the value as a whole
        if let Some(out) = self.fuzzy_parts(trimmed, params) {
            return out;
        }
        self.fuzzy_step(&folded, params)
    }

    /// A decorated value some part of which is not exact (`Germny (DE)`, `DE - Germny`): every
    /// part is resolved on its own (code, alias or fuzzy match). When they all resolve, and all to
    /// one code, that code, as sure as its least sure part; when they resolve to different codes,
    /// an ambiguity. `None` (the value is then matched as a whole) when the value has no parts or
    /// a part is left unresolved.
    fn fuzzy_parts(&self, trimmed: &str, params: LookupParams) -> Option<LookupOutcome> {
        let parts = split_parts(trimmed)?;
        let mut found: Vec<(u32, f64)> = Vec::new();
        for part in parts {
            let (i, confidence) = self.resolve_part(part, params)?;
            match found.iter_mut().find(|f| f.0 == i) {
                Some(f) => f.1 = f.1.min(confidence),
                None => found.push((i, confidence)),
            }
        }
        match found.as_slice() {
            [] => None,
            [(i, confidence)] => Some(self.resolved(*i, LookupStep::Fuzzy, *confidence)),
            _ => {
                found.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                Some(self.abstain(Abstention::Ambiguous, found))
            }
        }
    }

    /// One part of a decorated value through the cascade: its entry and confidence, `None` when
    /// it is left unresolved.
    fn resolve_part(&self, part: &str, params: LookupParams) -> Option<(u32, f64)> {
        if let Some(&i) = self.codes.get(part) {
            return Some((i, 1.0));
        }
        if let Some(KeyHit::One(i)) =
            code_key_insensitive(part).map(|k| key_hit(&self.codes_folded, &k))
        {
            return Some((i, 1.0));
        }
        let folded = fold_key(part);
        match self.label_step(part, &folded) {
            KeyHit::One(i) => return Some((i, LABEL_CONFIDENCE)),
            KeyHit::Many(_) => return None,
            KeyHit::None => {}
        }
        let out = self.fuzzy_step(&folded, params);
        let code = out.code?;
        self.codes.get(code.as_str()).map(|&i| (i, out.confidence))
    }

    /// Step 2 on one value: the most specific key that finds anything decides.
    fn label_step(&self, trimmed: &str, folded: &str) -> KeyHit {
        for hit in [
            key_hit(&self.by_symbol, &symbol_key(trimmed)),
            key_hit(&self.by_fold, folded),
            key_hit(&self.by_compact, &compact_key(folded)),
        ] {
            if !matches!(hit, KeyHit::None) {
                return hit;
            }
        }
        KeyHit::None
    }

    /// A value made of parts (`Germany (DE)`, `DE - Germany`, `Germany / Deutschland`) whose every
    /// part is a code or a normalised alias of one entry: that entry, or [`KeyHit::Many`] when the
    /// parts name different entries (`Iceland / Ireland`).
    fn parts_step(&self, trimmed: &str) -> KeyHit {
        let Some(parts) = split_parts(trimmed) else {
            return KeyHit::None;
        };
        let mut found: Vec<u32> = Vec::new();
        for part in parts {
            let i = match self.codes.get(part) {
                Some(&i) => i,
                None => match code_key_insensitive(part).map(|k| key_hit(&self.codes_folded, &k)) {
                    Some(KeyHit::One(i)) => i,
                    _ => match self.label_step(part, &fold_key(part)) {
                        KeyHit::One(i) => i,
                        _ => return KeyHit::None,
                    },
                },
            };
            if !found.contains(&i) {
                found.push(i);
            }
        }
        match found.as_slice() {
            [] => KeyHit::None,
            [one] => KeyHit::One(*one),
            _ => KeyHit::Many(found),
        }
    }

    fn fuzzy_step(&self, folded: &str, params: LookupParams) -> LookupOutcome {
        let mut query = Views::new(folded);
        query.weigh(&self.weights);
        if query.compact.is_empty() || self.fuzzy.is_empty() {
            return self.abstain(Abstention::NoCandidate, Vec::new());
        }
        // Best score per entry.
        let mut best: HashMap<u32, f64> = HashMap::new();
        self.search
            .for_each_candidate(self.fuzzy.len(), &query, |ord| {
                if let Some(alias) = self.fuzzy.get(ord) {
                    let s = fuzzy::score(&query, &alias.views);
                    let slot = best.entry(alias.entry).or_insert(0.0);
                    if s > *slot {
                        *slot = s;
                    }
                }
            });
        let mut ranked: Vec<(u32, f64)> = best
            .into_iter()
            .filter(|&(_, s)| s > CANDIDATE_FLOOR)
            .collect();
        ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(MAX_CANDIDATES);
        let Some(&(top, s1)) = ranked.first() else {
            return self.abstain(Abstention::NoCandidate, Vec::new());
        };
        let s2 = ranked.get(1).map_or(0.0, |r| r.1);
        let threshold = if params.threshold.is_nan() {
            DEFAULT_THRESHOLD
        } else {
            params.threshold
        };
        let margin = if params.margin.is_nan() {
            DEFAULT_MARGIN
        } else {
            params.margin
        };
        if query.weight() < MIN_FUZZY_CHARS || s1 < threshold {
            return self.abstain(Abstention::BelowThreshold, ranked);
        }
        if s1 - s2 < margin {
            return self.abstain(Abstention::Ambiguous, ranked);
        }
        let mut out = self.resolved(top, LookupStep::Fuzzy, s1);
        out.candidates = self.candidates(&ranked);
        out
    }

    fn candidates(&self, ranked: &[(u32, f64)]) -> Vec<LookupCandidate> {
        ranked
            .iter()
            .take(MAX_CANDIDATES)
            .filter_map(|&(i, score)| {
                self.entries.get(i as usize).map(|e| LookupCandidate {
                    code: e.code.clone(),
                    label: e.label.clone(),
                    score: clamp_score(score),
                })
            })
            .collect()
    }

    fn resolved(&self, i: u32, step: LookupStep, confidence: f64) -> LookupOutcome {
        let candidates = self.candidates(&[(i, confidence)]);
        match candidates.first() {
            Some(c) => LookupOutcome {
                code: Some(c.code.clone()),
                step: Some(step),
                confidence: clamp_score(confidence),
                abstained: None,
                candidates,
            },
            None => self.abstain(Abstention::NoCandidate, Vec::new()),
        }
    }

    fn abstain(&self, why: Abstention, ranked: Vec<(u32, f64)>) -> LookupOutcome {
        let candidates = self.candidates(&ranked);
        LookupOutcome {
            code: None,
            step: None,
            confidence: candidates.first().map_or(0.0, |c| c.score),
            abstained: Some(why),
            candidates,
        }
    }
}

/// Splits a decorated value into its parts: bracketed groups and the pieces between spaced
/// dashes, slashes or bars (`Germany (DE)` → `Germany`, `DE`; `DE - Germany` → `DE`, `Germany`).
/// `None` unless there are two to [`MAX_PARTS`] non-empty parts. Unspaced dashes and slashes stay
/// inside a part (`Guinea-Bissau`, `km/h`).
fn split_parts(trimmed: &str) -> Option<Vec<&str>> {
    let mut parts: Vec<&str> = Vec::new();
    fn push<'a>(parts: &mut Vec<&'a str>, s: &'a str) {
        let s = s.trim();
        if !s.is_empty() {
            parts.push(s);
        }
    }
    for piece in trimmed.split(['(', ')', '[', ']', '{', '}']) {
        let mut rest = piece;
        while let Some(pos) = [" - ", " / ", " | ", " – ", " — "]
            .iter()
            .filter_map(|sep| rest.find(sep).map(|p| (p, sep.len())))
            .min()
        {
            let (head, tail) = rest.split_at(pos.0);
            push(&mut parts, head);
            rest = tail.get(pos.1..).unwrap_or_default();
        }
        push(&mut parts, rest);
    }
    (2..=MAX_PARTS).contains(&parts.len()).then_some(parts)
}
