//! The fuzzy step: a graded similarity between a folded query and the folded aliases of a table,
//! and the candidate search that keeps it from comparing a query with every alias of a big table.
//!
//! The similarity counts *edits*, the way people make typos: a dropped, doubled or replaced
//! letter and two swapped neighbours each cost one edit (optimal string alignment, rapidfuzz's
//! `osa`). `k` edits in a string of `n` letters score `1 - k / (n + EDIT_SLACK)`: at the default
//! threshold (0.85) one edit is accepted from five letters on, two from twelve, three from
//! eighteen, and a value two edits away from a six-letter name (`Latveria` for `Latvia`) is not.
//! Because every kind of typo costs the same, a value one edit away from two names (`Tongo`:
//! `Togo` and `Tonga`) scores the same against both and is left ambiguous.
//!
//! Names of several words are compared word by word (in any order: `X, Republic of` is
//! `Republic of X`), each word weighted by how rare it is in the table (inverse document
//! frequency over the codes): a word most codes share (`republic`, `of` in a country table)
//! tells little, so an edit in the distinguishing word (`Republic of Malli`) weighs more than the
//! shared words around it, and `Mali` stays clear of `Malawi`.

use std::collections::HashMap;

use rapidfuzz::distance::osa;

use crate::clamp_score;
use crate::index::{RowIdx, TextIndex, TextIndexConfig, TextKind, TextScratch};
use crate::num::count_f64;
use crate::text::tokens;

use super::keys::{char_len, compact_key};

/// Tables with at most this many fuzzy aliases are scanned in full; bigger ones go through a
/// trigram and token index first.
pub(super) const BRUTE_FORCE_MAX_ALIASES: usize = 128;

/// How many aliases the index hands to the exact scorer. Generous, because the runner-up code
/// must be found as surely as the best one: a missed runner-up would make a close call look safe.
const INDEX_CANDIDATES: usize = 64;

/// Only the first this many characters of a query are compared (a hostile megabyte costs no more
/// than a long name); vocabulary values are far shorter.
pub(super) const MAX_QUERY_CHARS: usize = 128;

/// Added to the length an edit count is divided by: `k` edits in `n` letters score
/// `1 - k / (n + EDIT_SLACK)`, which lets one typo through from five letters on at the default
/// threshold and keeps one typo in a four-letter word (one edit from a great many words) out.
const EDIT_SLACK: f64 = 2.0;

/// Names of at most this many words are compared word by word; longer ones as a whole.
const MAX_TOKENS: usize = 8;

/// A word found in at most this share of a table's codes carries its full weight; commoner
/// words weigh less, by inverse document frequency.
const RARE_SHARE: f64 = 0.05;

/// One alias as the fuzzy step sees it.
#[derive(Debug, Clone)]
pub(super) struct FuzzyAlias {
    /// The entry it belongs to.
    pub entry: u32,
    /// Its comparison views.
    pub views: Views,
}

/// One word of a folded string and the weight of its letters.
#[derive(Debug, Clone)]
pub(super) struct Token {
    text: String,
    chars: usize,
    /// In `(0, 1]`: 1 for a word that distinguishes, less for one many codes share.
    weight: f64,
}

/// The comparison views of a folded string: as folded, without spaces, and word by word.
#[derive(Debug, Clone)]
pub(super) struct Views {
    pub folded: String,
    pub compact: String,
    compact_chars: usize,
    tokens: Vec<Token>,
}

impl Views {
    /// The views of `folded`, every word at full weight (see [`Views::weigh`]).
    pub fn new(folded: &str) -> Views {
        let folded: String = if char_len(folded) > MAX_QUERY_CHARS {
            folded
                .chars()
                .take(MAX_QUERY_CHARS)
                .collect::<String>()
                .trim_end()
                .to_owned()
        } else {
            folded.to_owned()
        };
        let compact = compact_key(&folded);
        let toks = tokens(&folded)
            .map(|t| Token {
                text: t.to_owned(),
                chars: char_len(t),
                weight: 1.0,
            })
            .collect();
        Views {
            compact_chars: char_len(&compact),
            folded,
            compact,
            tokens: toks,
        }
    }

    /// Characters that carry information (spaces not counted).
    pub fn weight(&self) -> usize {
        self.compact_chars
    }

    /// Gives every word its weight in the table.
    pub fn weigh(&mut self, weights: &TokenWeights) {
        for t in &mut self.tokens {
            t.weight = weights.get(&t.text);
        }
    }
}

/// The weight of the words of a table: 1 for a word found in at most [`RARE_SHARE`] of the codes
/// (or in one code), `ln(1 + N/df) / ln(1 + 1/RARE_SHARE)` for a word found in `df` of the `N`
/// codes otherwise: a word in half the codes weighs about a third. Derived from the table alone.
#[derive(Debug, Clone, Default)]
pub(super) struct TokenWeights {
    /// The words that weigh less than 1.
    common: HashMap<String, f64>,
}

impl TokenWeights {
    pub fn build(aliases: &[FuzzyAlias], n_codes: usize) -> TokenWeights {
        // word → (last entry counted, number of entries)
        let mut df: HashMap<&str, (u32, usize)> = HashMap::new();
        for a in aliases {
            for t in &a.views.tokens {
                let slot = df.entry(t.text.as_str()).or_insert((a.entry, 0));
                if slot.1 == 0 || slot.0 != a.entry {
                    *slot = (a.entry, slot.1 + 1);
                }
            }
        }
        let n = count_f64(n_codes.max(1));
        let full = (1.0 + 1.0 / RARE_SHARE).ln().min((1.0 + n).ln());
        let common = df
            .into_iter()
            .filter_map(|(t, (_, count))| {
                let w = (1.0 + n / count_f64(count.max(1))).ln() / full;
                (w < 1.0).then(|| (t.to_owned(), w.max(0.05)))
            })
            .collect();
        TokenWeights { common }
    }

    /// The weight of `token` (a folded word): 1 unless many codes share it.
    pub fn get(&self, token: &str) -> f64 {
        self.common.get(token).copied().unwrap_or(1.0)
    }
}

/// The optimal-string-alignment distance of two strings: insertions, deletions, substitutions
/// and transpositions of neighbours, one edit each.
fn edits(a: &str, b: &str) -> usize {
    if a.is_ascii() && b.is_ascii() {
        osa::distance(a.bytes(), b.bytes())
    } else {
        osa::distance(a.chars(), b.chars())
    }
}

/// `edits` edits against strings whose longer weighs `size` letters.
fn edit_similarity(edits: f64, size: f64) -> f64 {
    1.0 - edits / (size + EDIT_SLACK)
}

/// The similarity of a query and an alias, in `[0, 1]` (see the module documentation): the
/// better of the word-by-word comparison (when either has several words) and the comparison of
/// the strings without their spaces (when they have one word each, when their word counts differ
/// — `UnitedStates`, `U S A` — or when they have too many words). Dropped words are *not*
/// forgiven beyond their weight: `Republic of X` and `X` are different values.
pub(super) fn score(q: &Views, a: &Views) -> f64 {
    if q.compact.is_empty() || a.compact.is_empty() {
        return 0.0;
    }
    if q.folded == a.folded || q.compact == a.compact {
        return 1.0;
    }
    let (nq, na) = (q.tokens.len(), a.tokens.len());
    let by_words = (nq > 1 || na > 1) && nq <= MAX_TOKENS && na <= MAX_TOKENS;
    let mut best = 0.0;
    if by_words {
        best = word_similarity(&q.tokens, &a.tokens);
    }
    if !by_words || nq != na {
        let longest = q.compact_chars.max(a.compact_chars);
        // An edit count is at least the length difference: skip what cannot beat `best`.
        let bound = edit_similarity(
            count_f64(q.compact_chars.abs_diff(a.compact_chars)),
            count_f64(longest),
        );
        if bound > best {
            let d = count_f64(edits(&q.compact, &a.compact));
            best = f64::max(best, edit_similarity(d, count_f64(longest)));
        }
    }
    clamp_score(best)
}

/// Word-by-word similarity: words are paired greedily, closest first (by edits per letter), a
/// pair only when at most half the letters of the longer word are edited; a paired word costs
/// its edits, an unpaired one all its letters, each at the weight of the word (the alias's word
/// for a pair), over the weighted length of the heavier side.
fn word_similarity(q: &[Token], a: &[Token]) -> f64 {
    // (edits, longest, i, j) of the pairs close enough to be paired (words of more than
    // `u16::MAX` letters are cut short by `MAX_QUERY_CHARS` on the query side and never pair)
    let mut pairs = [(0u16, 0u16, 0u8, 0u8); MAX_TOKENS * MAX_TOKENS];
    let mut n_pairs = 0;
    for (i, qt) in q.iter().enumerate() {
        for (j, at) in a.iter().enumerate() {
            let longest = qt.chars.max(at.chars);
            if 2 * qt.chars.abs_diff(at.chars) > longest {
                continue;
            }
            let d = if qt.text == at.text {
                0
            } else {
                edits(&qt.text, &at.text)
            };
            if 2 * d > longest {
                continue;
            }
            let (Ok(d), Ok(longest), Ok(i), Ok(j)) = (
                u16::try_from(d),
                u16::try_from(longest),
                u8::try_from(i),
                u8::try_from(j),
            ) else {
                continue;
            };
            if let Some(slot) = pairs.get_mut(n_pairs) {
                *slot = (d, longest, i, j);
                n_pairs += 1;
            }
        }
    }
    let pairs = pairs.get_mut(..n_pairs).unwrap_or_default();
    // Closest first: d1/l1 < d2/l2, then the longer word, then by position (deterministic).
    pairs.sort_unstable_by(|x, y| {
        (u32::from(x.0) * u32::from(y.1))
            .cmp(&(u32::from(y.0) * u32::from(x.1)))
            .then(y.1.cmp(&x.1))
            .then(x.2.cmp(&y.2))
            .then(x.3.cmp(&y.3))
    });
    let (mut q_used, mut a_used) = (0u32, 0u32);
    let (mut cost, mut q_size) = (0.0, 0.0);
    for &(d, _, i, j) in pairs.iter() {
        if q_used & (1 << i) != 0 || a_used & (1 << j) != 0 {
            continue;
        }
        q_used |= 1 << i;
        a_used |= 1 << j;
        let (Some(qt), Some(at)) = (q.get(usize::from(i)), a.get(usize::from(j))) else {
            continue;
        };
        cost += at.weight * f64::from(d);
        q_size += at.weight * count_f64(qt.chars);
    }
    for (i, qt) in q.iter().enumerate() {
        if q_used & (1 << i) == 0 {
            let w = qt.weight * count_f64(qt.chars);
            cost += w;
            q_size += w;
        }
    }
    let mut a_size = 0.0;
    for (j, at) in a.iter().enumerate() {
        let w = at.weight * count_f64(at.chars);
        a_size += w;
        if a_used & (1 << j) == 0 {
            cost += w;
        }
    }
    edit_similarity(cost, f64::max(q_size, a_size))
}

/// How candidate aliases are found.
#[derive(Debug, Clone, Default)]
pub(super) enum Search {
    /// Every alias is scored.
    #[default]
    Scan,
    /// Token and trigram postings over the aliases (row = alias ordinal).
    Index(Box<TextIndex>),
}

impl Search {
    pub fn build(aliases: &[FuzzyAlias]) -> Search {
        if aliases.len() <= BRUTE_FORCE_MAX_ALIASES {
            return Search::Scan;
        }
        let config = TextIndexConfig {
            kind: TextKind::Plain,
            ..TextIndexConfig::default()
        };
        let rows = aliases.iter().enumerate().filter_map(|(i, a)| {
            u32::try_from(i)
                .ok()
                .map(|i| (RowIdx(i), a.views.folded.as_str()))
        });
        Search::Index(Box::new(TextIndex::build_with(config, rows)))
    }

    /// Calls `visit` with the ordinal of every alias worth scoring for `query`.
    pub fn for_each_candidate(
        &self,
        n_aliases: usize,
        query: &Views,
        mut visit: impl FnMut(usize),
    ) {
        match self {
            Search::Scan => (0..n_aliases).for_each(visit),
            Search::Index(index) => {
                let mut scratch = TextScratch::default();
                let mut rows: Vec<u32> = index
                    .query_with(&mut scratch, &query.folded, INDEX_CANDIDATES)
                    .iter()
                    .map(|c| c.row.0)
                    .collect();
                // A query whose spaces were dropped or added shares few tokens with its alias; the
                // compact form reaches it through its trigrams.
                if query.compact != query.folded {
                    rows.extend(
                        index
                            .query_with(&mut scratch, &query.compact, INDEX_CANDIDATES)
                            .iter()
                            .map(|c| c.row.0),
                    );
                    rows.sort_unstable();
                    rows.dedup();
                }
                rows.into_iter().for_each(|r| visit(r as usize));
            }
        }
    }
}
