//! The fuzzy step: a graded similarity between a folded query and the folded aliases of a table,
//! and the candidate search that keeps it from comparing a query with every alias of a big table.

use rapidfuzz::distance::{indel, jaro_winkler};

use crate::clamp_score;
use crate::index::{RowIdx, TextIndex, TextIndexConfig, TextKind, TextScratch};
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

/// One alias as the fuzzy step sees it.
#[derive(Debug, Clone)]
pub(super) struct FuzzyAlias {
    /// The entry it belongs to.
    pub entry: u32,
    /// Its comparison views.
    pub views: Views,
}

/// The comparison views of a folded string: as folded, without spaces, and with its tokens
/// sorted (only when it has several).
#[derive(Debug, Clone)]
pub(super) struct Views {
    pub folded: String,
    pub compact: String,
    pub sorted: Option<String>,
}

impl Views {
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
        let mut toks: Vec<&str> = tokens(&folded).collect();
        let sorted = if toks.len() > 1 {
            toks.sort_unstable();
            let joined = toks.join(" ");
            (joined != folded).then_some(joined)
        } else {
            None
        };
        Views {
            folded,
            compact,
            sorted,
        }
    }

    /// Characters that carry information (spaces not counted).
    pub fn weight(&self) -> usize {
        char_len(&self.compact)
    }
}

/// The similarity of two folded strings: the mean of two rapidfuzz views of a typo, the
/// normalised Indel similarity (edits charged in proportion to the length) and the Jaro-Winkler
/// similarity (transpositions forgiven, a kept beginning rewarded: people rarely get the first
/// letters wrong). One typo in a word of five letters or more scores about 0.85–0.9; a different
/// word of the same length well below.
fn ratio(a: &str, b: &str) -> f64 {
    let indel = if a.is_ascii() && b.is_ascii() {
        indel::normalized_similarity(a.bytes(), b.bytes())
    } else {
        indel::normalized_similarity(a.chars(), b.chars())
    };
    let jw = if a.is_ascii() && b.is_ascii() {
        jaro_winkler::normalized_similarity(a.bytes(), b.bytes())
    } else {
        jaro_winkler::normalized_similarity(a.chars(), b.chars())
    };
    (indel + jw) / 2.0
}

/// The similarity of a query and an alias, in `[0, 1]`: the best [`ratio`] over the views
/// (as folded, spaces removed, tokens sorted). Dropped words are *not* forgiven beyond what the
/// ratio charges for their characters: `Republic of X` and `X` are different values.
pub(super) fn score(q: &Views, a: &Views) -> f64 {
    if q.compact.is_empty() || a.compact.is_empty() {
        return 0.0;
    }
    if q.folded == a.folded || q.compact == a.compact {
        return 1.0;
    }
    let mut best = ratio(&q.folded, &a.folded).max(ratio(&q.compact, &a.compact));
    let q_sorted = q.sorted.as_deref().unwrap_or(&q.folded);
    let a_sorted = a.sorted.as_deref().unwrap_or(&a.folded);
    if q.sorted.is_some() || a.sorted.is_some() {
        best = best.max(ratio(q_sorted, a_sorted));
    }
    clamp_score(best)
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
                for c in index.query_with(&mut scratch, &query.folded, INDEX_CANDIDATES) {
                    visit(c.row.0 as usize);
                }
                // A query whose spaces were dropped or added shares few tokens with its alias; the
                // compact form reaches it through its trigrams.
                if query.compact != query.folded {
                    for c in index.query_with(&mut scratch, &query.compact, INDEX_CANDIDATES) {
                        visit(c.row.0 as usize);
                    }
                }
            }
        }
    }
}
