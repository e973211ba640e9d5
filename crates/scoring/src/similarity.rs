//! Graded per-field similarity scores in [0, 1].
//!
//! One function per kind of field, each comparing two values of that kind and returning a score
//! in the closed unit interval: never NaN, never outside it, and no panic on any input. Every
//! function is symmetric (`f(a, b) == f(b, a)`) and deterministic. String metrics come from
//! `rapidfuzz`; normalisation and parsing from [`crate::text`] and [`crate::parse`] (this module
//! adds no normaliser of its own).
//!
//! **Missing values.** A value that normalises to nothing (an empty or punctuation-only string) is
//! *missing*, and every function here returns `0.0` when either side is missing — including when
//! both are. Scores do not distinguish "missing" from "different": the scorer must check for a
//! missing field itself and leave it out of the weighted mean (docs/DESIGN.md, "Scoring semantics").
//!
//! | function | 1.0 | graded | 0.0 |
//! |---|---|---|---|
//! | [`text_similarity`] | equal strings | max of Indel, token-sort and soft token-set | nothing in common |
//! | [`org_name_similarity`] | same name after [`normalize_org_name`] | [`text_similarity`] (misspelt words meet their abbreviations), ×0.9 for a different legal form | |
//! | [`identifier_similarity`] | same normalised key | 0.95 same digits; edit-distance-graded otherwise | mostly different |
//! | [`date_similarity`] | a common reading | linear in days | more than `window_days` apart |
//! | [`date_window_similarity`] | the best difference of a directed window | linear in days | outside the window |
//! | [`short_text_similarity`] | equal strings | shared prefix and words | different start, no shared word |
//! | [`amount_similarity`] | same value | `1 − r/2`, `r` = difference / tolerance | `r ≥ 2`, or other currency |
//! | [`exact_similarity`] | same after [`fold()`] | | otherwise |

use rapidfuzz::distance::{indel, osa};

use crate::clamp_score;
use crate::num::{count_f64, distance_f64};
use crate::parse::{Amount, DateReadings};
use crate::text::{
    abbreviation_long_forms, analyse_org_name, fold, identifier_keys, tokens, IdentifierKeys,
    OrgName,
};

#[cfg(doc)]
use crate::{parse::CurrencyHint, text::normalize_org_name};

/// Strings are compared on at most this many characters (the rest is ignored), which bounds the
/// cost of a comparison on hostile input. Real names and identifiers are far shorter.
pub const MAX_COMPARED_CHARS: usize = 256;

/// At most this many tokens of each side take part in the token-set comparison.
pub const MAX_TOKENS: usize = 32;

/// Two tokens count as the same word in the token-set comparison when their Indel similarity
/// reaches this (one typo in a word of five or more letters does).
pub const TOKEN_MATCH_THRESHOLD: f64 = 0.75;

/// The factor applied to [`org_name_similarity`] when both names carry a legal form and the
/// forms differ (`Bauer Spedition AG` vs `Bauer Spedition GmbH` are two companies).
pub const LEGAL_FORM_MISMATCH_FACTOR: f64 = 0.9;

/// [`identifier_similarity`] of two identifiers whose normalised keys differ but whose digits
/// agree (`RE-4512` vs `4512`).
pub const SAME_DIGITS_SCORE: f64 = 0.95;

/// The factor applied to [`identifier_similarity`] when two identifiers of the same length differ
/// only by digits replaced with other digits (`INV-100234` vs `INV-100235`): after OCR folding
/// such a difference is more often the neighbouring number of a sequential series than damage.
pub const DIGIT_SUBSTITUTION_FACTOR: f64 = 0.9;

/// Similarity of two already-normalised strings (for example two outputs of
/// [`normalize_org_name`] or of [`fold()`]), robust to typos, word order and dropped words.
///
/// The score is the largest of three views, all on characters:
///
/// * **Indel ratio** of the whole strings, `1 − (insertions + deletions) / (|a| + |b|)`:
///   typos and OCR damage (`herrnann` ↔ `hermann`).
/// * **Token-sort ratio**: the Indel ratio of the tokens sorted and re-joined: word order
///   (`logistics apex` ↔ `apex logistics`).
/// * **Soft token set**: the tokens of both sides are paired greedily, best pair first, when their
///   Indel ratio is at least [`TOKEN_MATCH_THRESHOLD`]; with `shared` the sum over pairs of
///   `ratio × (chars of both tokens)`, `dice = shared / (chars of a + chars of b)` and `coverage`
///   the share of the shorter side's characters that were paired (weighted by ratio), the view is
///   `0.6 × coverage + 0.4 × dice`. Shared words weigh most; a dropped word costs in proportion to
///   its length but never more than 0.4 (`apex logistics` ↔ `apex logistics intl` ≈ 0.94,
///   `bauer` ↔ `bauer spedition` ≈ 0.81).
///
/// Equal strings give 1.0; an empty side (missing, see the module documentation) gives 0.0, and so
/// do two empty strings. Only the first [`MAX_COMPARED_CHARS`] characters are compared.
pub fn text_similarity(a: &str, b: &str) -> f64 {
    text_similarity_with(a, b, token_similarity)
}

/// [`text_similarity`] with `token_sim` comparing two different tokens in the soft token-set
/// view.
fn text_similarity_with(a: &str, b: &str, token_sim: impl Fn(&str, &str) -> f64) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    if a == b {
        return 1.0;
    }
    let (a, b) = (truncate(a), truncate(b));
    // A canonical order makes every tie-break below, and so the score, symmetric.
    let (a, b) = if a <= b { (a, b) } else { (b, a) };

    let whole = ratio(a, b);
    let mut ta = [""; MAX_TOKENS];
    let mut tb = [""; MAX_TOKENS];
    let na = collect_tokens(a, &mut ta);
    let nb = collect_tokens(b, &mut tb);
    let (ta, tb) = (&ta[..na], &tb[..nb]);
    if ta.is_empty() || tb.is_empty() {
        return clamp_score(whole);
    }
    let sorted = match (is_sorted_join(a, ta), is_sorted_join(b, tb)) {
        // Both strings already are their sorted tokens: the token-sort view is the whole view.
        (true, true) => whole,
        (true, false) => ratio(a, &sorted_join(tb)),
        (false, true) => ratio(&sorted_join(ta), b),
        (false, false) => ratio(&sorted_join(ta), &sorted_join(tb)),
    };
    let set = soft_token_set(ta, tb, token_sim);
    clamp_score(whole.max(sorted).max(set))
}

/// Fills `out` with the first tokens of `s`; returns how many.
fn collect_tokens<'a>(s: &'a str, out: &mut [&'a str; MAX_TOKENS]) -> usize {
    let mut n = 0;
    for (slot, token) in out.iter_mut().zip(tokens(s)) {
        *slot = token;
        n += 1;
    }
    n
}

/// Whether `s` is exactly its tokens `toks` (all of them), in sorted order, joined by single
/// spaces, i.e. `sorted_join(toks) == s`.
fn is_sorted_join(s: &str, toks: &[&str]) -> bool {
    let joined_len = toks.iter().map(|t| t.len()).sum::<usize>() + toks.len().saturating_sub(1);
    joined_len == s.len()
        && toks.windows(2).all(|w| w[0] <= w[1])
        && !s.bytes().any(|b| b.is_ascii_whitespace() && b != b' ')
}

/// Similarity of two raw company names: both are normalised with
/// [`normalize_org_name`] (case, accents, punctuation, `&`/`and`, `Intl`/`International`, legal
/// forms, ...) and compared with [`text_similarity`] — with one difference in the soft token-set
/// view: a word that normalisation left alone because it is misspelt meets the abbreviation of
/// the correctly spelt word as that word would (`Acme Logistcs` ↔ `Acme Logistics`, i.e.
/// `acme logistcs` ↔ `acme log`, ≈ 0.97 where the plain view gives 0.76). The guess needs the
/// word to have at least [`MIN_EXPANDED_TOKEN_CHARS`] characters, to begin as the spelt-out
/// word does (up to an OCR confusion), and to be at most one edit per five characters from it;
/// see `name_token_similarity`. Different words (`Apex Logistics` ↔ `Apex Freight`,
/// `Apex Holdings` ↔ `Apex Folding`) score as before.
///
/// When both names carry a legal form and the forms differ, the score is multiplied by
/// [`LEGAL_FORM_MISMATCH_FACTOR`]; forms that are written interchangeably for one company count as
/// the same (`Inc` / `Corp` / `Co`; `Ltd` / `Pty Ltd` / `Pty` / `Pvt Ltd` / `Pte Ltd`;
/// `GmbH` / `mbH`). A legal form present on one side only costs nothing: it is often dropped.
pub fn org_name_similarity(a_raw: &str, b_raw: &str) -> f64 {
    org_name_similarity_analysed(&analyse_org_name(a_raw), &analyse_org_name(b_raw))
}

/// [`org_name_similarity`] of two names already analysed with [`analyse_org_name`] (same
/// result), for callers that compare one name with many.
pub fn org_name_similarity_analysed(a: &OrgName, b: &OrgName) -> f64 {
    let score = text_similarity_with(&a.name, &b.name, name_token_similarity);
    match (a.legal_form, b.legal_form) {
        (Some(fa), Some(fb)) if legal_form_family(fa) != legal_form_family(fb) => {
            clamp_score(score * LEGAL_FORM_MISMATCH_FACTOR)
        }
        _ => score,
    }
}

/// Similarity of two raw identifiers (invoice, order, reference numbers), on their
/// [`identifier_keys`] (labels such as `INV-`/`#`/`No.`, separators, OCR confusables and leading
/// zeros are already gone):
///
/// * the same normalised key → 1.0 (`INV-000123` ↔ `#123` ↔ `INV-OOO123`);
/// * otherwise the same non-empty digit key → [`SAME_DIGITS_SCORE`] (`RE-4512` ↔ `4512`);
/// * otherwise, with `d` the edit distance (Levenshtein with adjacent transpositions, i.e. optimal
///   string alignment, since swapped digits are a common keying error) and `n` the longer length
///   of the normalised keys, `(1 − d/n) × (1 − (d − 1) / (n/2))`, clamped at 0: one edit keeps
///   the plain normalised similarity (≈ 0.83 for 6 characters, 0.9 for 10), and each further edit
///   costs twice, so that ids which differ in half their characters score 0 (unrelated numbers of
///   one series share many digits by chance and must not look alike).
///
/// Sequential numbering makes a number one digit away from the true one a common hard negative,
/// so when the keys have the same length and differ only by digits replaced with (or swapped
/// with) other digits, the grade is further multiplied by [`DIGIT_SUBSTITUTION_FACTOR`]
/// (`INV-100234` ↔ `INV-100235` ≈ 0.75); a dropped or inserted character, the usual extraction
/// error, is not discounted. Every grade stays below [`SAME_DIGITS_SCORE`], so near-misses need
/// the other fields to win.
///
/// An identifier without letters or digits is missing and gives 0.0. Only the first
/// [`MAX_COMPARED_CHARS`] characters of each key are compared.
pub fn identifier_similarity(a_raw: &str, b_raw: &str) -> f64 {
    identifier_keys_similarity(&identifier_keys(a_raw), &identifier_keys(b_raw))
}

/// [`identifier_similarity`] of two identifiers already keyed with [`identifier_keys`] (same
/// result), for callers that compare one identifier with many.
pub fn identifier_keys_similarity(a: &IdentifierKeys, b: &IdentifierKeys) -> f64 {
    if a.normalized.is_empty() || b.normalized.is_empty() {
        return 0.0;
    }
    if a.normalized == b.normalized {
        return 1.0;
    }
    if !a.digits.is_empty() && a.digits == b.digits {
        return SAME_DIGITS_SCORE;
    }
    let (ka, kb) = (truncate(&a.normalized), truncate(&b.normalized));
    let score = if ka.is_ascii() && kb.is_ascii() {
        graded_identifier(ka.as_bytes(), kb.as_bytes(), osa_bytes)
    } else {
        let ka: Vec<char> = ka.chars().collect();
        let kb: Vec<char> = kb.chars().collect();
        graded_identifier(&ka, &kb, osa_short)
    };
    if score <= 0.0 {
        return 0.0;
    }
    clamp_score(score.min(SAME_DIGITS_SCORE))
}

/// The edit-distance grade of [`identifier_similarity`] on two keys (bytes or characters).
fn graded_identifier<T>(ka: &[T], kb: &[T], osa_fast: fn(&[T], &[T]) -> Option<usize>) -> f64
where
    T: Copy + Eq + Into<char> + rapidfuzz::HashableChar,
{
    let n = ka.len().max(kb.len());
    if n == 0 {
        return 0.0;
    }
    // The distance is at least the difference in length; from `n/2 + 1` edits on the grade is 0.
    let nf = count_f64(n);
    if count_f64(ka.len().abs_diff(kb.len())) >= nf / 2.0 + 1.0 {
        return 0.0;
    }
    let d = count_f64(match osa_fast(ka, kb) {
        Some(d) => d,
        None => osa::distance(ka.iter().copied(), kb.iter().copied()),
    });
    let mut score = (1.0 - d / nf) * (1.0 - (d - 1.0).max(0.0) / (nf / 2.0));
    if only_digit_substitutions(ka, kb) {
        score *= DIGIT_SUBSTITUTION_FACTOR;
    }
    score
}

/// Similarity of two parsed dates, on the closest pair of their readings (so an ambiguous
/// `03/04/2024` matches both 3 April and 4 March): with `d` the distance in days,
/// `1 − d / (window_days + 1)` — 1.0 on the same day, falling linearly to 0 at
/// `window_days + 1` days apart and staying 0 beyond. `window_days == 0` accepts the same day
/// only.
pub fn date_similarity(a: &DateReadings, b: &DateReadings, window_days: u32) -> f64 {
    let d = a.min_abs_days_between(b).unsigned_abs();
    if d == 0 {
        return 1.0;
    }
    if d > u64::from(window_days) {
        return 0.0;
    }
    clamp_score(1.0 - distance_f64(d) / (f64::from(window_days) + 1.0))
}

/// Similarity of a document date and a reference date under a directed window: with `d` the
/// number of days from the reference to the document (document − reference, under the pair of
/// readings that scores best), [`date_window_score`]`(d, min_days, max_days)`.
///
/// Not symmetric when the window is not (`−n..=n` gives [`date_similarity`] with `n`): the
/// first argument is the document's date.
pub fn date_window_similarity(
    document: &DateReadings,
    reference: &DateReadings,
    min_days: i32,
    max_days: i32,
) -> f64 {
    let mut best = 0.0f64;
    for r in reference.iter() {
        for d in document.iter() {
            let days = crate::parse::days_between(r, d);
            best = best.max(date_window_score(days, min_days, max_days));
        }
    }
    best
}

/// The score of a difference of `d` days (document − reference) under the window
/// `min_days..=max_days`: 0 outside; inside, 1.0 at the best difference `b` (0 when the window
/// holds it, else the bound nearest 0), falling linearly to `1 / (span + 1)` at the bound
/// farthest from `b` (`span` = that distance). A window `−n..=n` gives `1 − |d| / (n + 1)`, the
/// rule of [`date_similarity`]. An empty window (`min_days > max_days`) accepts nothing.
pub fn date_window_score(d: i64, min_days: i32, max_days: i32) -> f64 {
    let (lo, hi) = (i64::from(min_days), i64::from(max_days));
    if lo > hi || d < lo || d > hi {
        return 0.0;
    }
    let best = 0i64.clamp(lo, hi);
    let span = (hi - best).max(best - lo);
    // Both are in `0..=hi - lo`, so the unsigned view is the same number.
    clamp_score(
        1.0 - distance_f64((d - best).unsigned_abs()) / (distance_f64(span.unsigned_abs()) + 1.0),
    )
}

/// The weight of the shared prefix in [`short_text_similarity`]; the shared words weigh the
/// rest.
pub const SHORT_TEXT_PREFIX_WEIGHT: f64 = 0.7;

/// Similarity of two already-folded short free texts (payment memos, references) whose
/// *beginning* identifies them and whose end varies: words added, dropped or replaced, or the
/// text cut off at some length by one of the systems (`j b dale chq` ↔ `j b dale money`,
/// `w ingersoll v d` ↔ `w ingersoll v deusen payment csh`).
///
/// `0.7 × prefix + 0.3 × words`, where
///
/// * **prefix** is the length of the longest common prefix, in characters, over the length of
///   the shorter text (1.0 when one is a prefix of the other: a truncation);
/// * **words** is the share of the shorter side's word characters that pair with a word of the
///   other side, each word pairing at most once: an equal word, or a word cut off at the very
///   end of its text that is a prefix of the other (`ch` ↔ `chq`) — which counts its own length.
///
/// Equal texts give 1.0; texts that start differently and share no word give 0.0 (where
/// [`text_similarity`] gives unrelated short texts about 0.5); an empty side gives 0.0. Only
/// the first [`MAX_COMPARED_CHARS`] characters are compared. Symmetric.
pub fn short_text_similarity(a: &str, b: &str) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    if a == b {
        return 1.0;
    }
    let (a, b) = (truncate(a), truncate(b));
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    let prefix =
        count_f64(common_prefix_chars(a, b)) / count_f64(char_count(a).min(char_count(b)).max(1));
    let mut ta = [""; MAX_TOKENS];
    let mut tb = [""; MAX_TOKENS];
    let na = collect_tokens(a, &mut ta);
    let nb = collect_tokens(b, &mut tb);
    let words = shared_words(&ta[..na], &tb[..nb]);
    clamp_score(
        SHORT_TEXT_PREFIX_WEIGHT * clamp_score(prefix)
            + (1.0 - SHORT_TEXT_PREFIX_WEIGHT) * clamp_score(words),
    )
}

/// The number of leading characters `a` and `b` have in common.
pub(crate) fn common_prefix_chars(a: &str, b: &str) -> usize {
    if a.is_ascii() && b.is_ascii() {
        a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
    } else {
        a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
    }
}

/// The words view of [`short_text_similarity`]; see there.
fn shared_words(ta: &[&str], tb: &[&str]) -> f64 {
    let total_a: usize = ta.iter().map(|t| char_count(t)).sum();
    let total_b: usize = tb.iter().map(|t| char_count(t)).sum();
    if total_a == 0 || total_b == 0 {
        return 0.0;
    }
    let (last_a, last_b) = (ta.len().saturating_sub(1), tb.len().saturating_sub(1));
    let mut used_b = 0u64;
    let mut shared = 0usize;
    // Equal words first, then cut-off last words.
    let mut paired_a = 0u64;
    for (i, x) in ta.iter().enumerate() {
        if let Some(j) = tb
            .iter()
            .enumerate()
            .position(|(j, y)| used_b & (1u64 << j) == 0 && x == y)
        {
            used_b |= 1u64 << j;
            paired_a |= 1u64 << i;
            shared += char_count(x);
        }
    }
    for (i, x) in ta.iter().enumerate() {
        if paired_a & (1u64 << i) != 0 {
            continue;
        }
        let found = tb.iter().enumerate().position(|(j, y)| {
            used_b & (1u64 << j) == 0
                && ((j == last_b && x.starts_with(y)) || (i == last_a && y.starts_with(x)))
        });
        if let Some(j) = found {
            used_b |= 1u64 << j;
            shared += char_count(x).min(tb.get(j).map_or(0, |y| char_count(y)));
        }
    }
    count_f64(shared) / count_f64(total_a.min(total_b))
}

/// How far apart two amounts may be and still agree, for [`amount_similarity`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// A percentage of the larger absolute amount: `Percent(3.0)` is 3 %.
    Percent(f64),
    /// An absolute difference, in the amounts' unit: `Absolute(0.05)` is five cents.
    Absolute(f64),
}

impl Tolerance {
    /// The allowed difference between `a` and `b`, or `None` when the tolerance is zero, negative,
    /// NaN or infinite (then only equal amounts agree).
    fn width(self, a: f64, b: f64) -> Option<f64> {
        let width = match self {
            Tolerance::Percent(pct) if pct.is_finite() && pct > 0.0 => {
                pct / 100.0 * a.abs().max(b.abs())
            }
            Tolerance::Absolute(abs) if abs.is_finite() && abs > 0.0 => abs,
            _ => return None,
        };
        (width.is_finite() && width > 0.0).then_some(width)
    }
}

/// Similarity of two parsed amounts.
///
/// * Explicit currencies that cannot name the same currency ([`CurrencyHint::is_compatible`]) →
///   0.0, whatever the values (`€100` vs `£100`). A missing currency on either side is no
///   evidence either way.
/// * The same value (whatever the number of decimals written: `1.234,50 EUR` ↔ `1234.5`) → 1.0.
/// * Otherwise, with `r = |a − b| / width` and `width` the [`Tolerance`] (a percentage is taken
///   of the larger absolute amount, so the score is symmetric): `1 − r/2`, clamped at 0 — about
///   1.0 for a rounding difference, 0.5 at the edge of the tolerance, 0 at twice the tolerance
///   and beyond. Amounts of opposite signs are far apart by this rule.
///
/// A zero, negative, NaN or infinite tolerance accepts equal values only.
pub fn amount_similarity(a: &Amount, b: &Amount, tolerance: Tolerance) -> f64 {
    if let (Some(ca), Some(cb)) = (&a.currency, &b.currency) {
        if !ca.is_compatible(cb) {
            return 0.0;
        }
    }
    if a.same_value(b) {
        return 1.0;
    }
    let (va, vb) = (a.value(), b.value());
    let Some(width) = tolerance.width(va, vb) else {
        return 0.0;
    };
    let r = (va - vb).abs() / width;
    if !r.is_finite() {
        return 0.0;
    }
    clamp_score(1.0 - r / 2.0)
}

/// 1.0 when both values are the same after [`fold()`] (case, accents, punctuation and spacing
/// ignored), 0.0 otherwise — and 0.0 when either folds to nothing (missing).
pub fn exact_similarity(a: &str, b: &str) -> f64 {
    let (fa, fb) = (fold(a), fold(b));
    if !fa.is_empty() && fa == fb {
        1.0
    } else {
        0.0
    }
}

/// The first [`MAX_COMPARED_CHARS`] characters of `s`.
fn truncate(s: &str) -> &str {
    if s.len() <= MAX_COMPARED_CHARS {
        return s;
    }
    match s.char_indices().nth(MAX_COMPARED_CHARS) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// Normalised Indel similarity, on bytes for ASCII (the common case) and on characters otherwise.
fn ratio(a: &str, b: &str) -> f64 {
    if a.is_ascii() && b.is_ascii() {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let total = a.len() + b.len();
        if total == 0 {
            return 1.0;
        }
        match lcs_bytes(a, b) {
            Some(lcs) => 1.0 - count_f64(total - 2 * lcs) / count_f64(total),
            None => indel::normalized_similarity(a.iter().copied(), b.iter().copied()),
        }
    } else {
        indel::normalized_similarity(a.chars(), b.chars())
    }
}

/// The bit of `pattern` positions holding `c`: the match vector of the bit-parallel algorithms.
fn match_mask<T: Copy + Eq>(pattern: &[T], c: T) -> u64 {
    let mut mask = 0u64;
    for (i, &p) in pattern.iter().enumerate() {
        mask |= u64::from(p == c) << i;
    }
    mask
}

/// The length of the longest common subsequence when the shorter side has at most 64 items
/// (bit-parallel, Allison–Dix / Hyyrö), `None` otherwise. Exact: the same value as any LCS.
fn lcs_short<T: Copy + Eq>(a: &[T], b: &[T]) -> Option<usize> {
    let (p, t) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if p.len() > 64 {
        return None;
    }
    if p.is_empty() {
        return Some(0);
    }
    let mut s = u64::MAX;
    for &c in t {
        let m = match_mask(p, c);
        let u = s & m;
        s = s.wrapping_add(u) | s.wrapping_sub(u);
    }
    // (For the short strings compared here, scanning the pattern per character is cheaper than
    // building a per-character table.)
    let mask = if p.len() == 64 {
        u64::MAX
    } else {
        (1u64 << p.len()) - 1
    };
    Some((!s & mask).count_ones() as usize)
}

/// [`lcs_short`] on bytes, with a match table when the strings are long enough to repay it.
fn lcs_bytes(a: &[u8], b: &[u8]) -> Option<usize> {
    let (p, t) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if p.len() > 64 {
        return None;
    }
    if p.len() * t.len() <= 64 {
        return lcs_short(p, t);
    }
    let mut table = [0u64; 256];
    for (i, &c) in p.iter().enumerate() {
        table[usize::from(c)] |= 1u64 << i;
    }
    let mut s = u64::MAX;
    for &c in t {
        let u = s & table[usize::from(c)];
        s = s.wrapping_add(u) | s.wrapping_sub(u);
    }
    let mask = if p.len() == 64 {
        u64::MAX
    } else {
        (1u64 << p.len()) - 1
    };
    Some((!s & mask).count_ones() as usize)
}

/// The optimal-string-alignment distance (Levenshtein with adjacent transpositions) when the
/// shorter side has at most 64 items (bit-parallel, Hyyrö 2003), `None` otherwise.
fn osa_short<T: Copy + Eq>(a: &[T], b: &[T]) -> Option<usize> {
    let (p, t) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if p.len() > 64 {
        return None;
    }
    osa_with(p, t, |c| match_mask(p, c))
}

/// [`osa_short`] on bytes, with a match table.
fn osa_bytes(a: &[u8], b: &[u8]) -> Option<usize> {
    let (p, t) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if p.len() > 64 {
        return None;
    }
    let mut table = [0u64; 256];
    for (i, &c) in p.iter().enumerate() {
        table[usize::from(c)] |= 1u64 << i;
    }
    osa_with(p, t, |c| table[usize::from(c)])
}

/// Hyyrö's bit-parallel OSA distance of the pattern `p` (at most 64 items) and the text `t`,
/// with `mask(c)` the positions of `c` in `p`.
fn osa_with<T: Copy>(p: &[T], t: &[T], mask: impl Fn(T) -> u64) -> Option<usize> {
    if p.is_empty() {
        return Some(t.len());
    }
    let last = 1u64 << (p.len() - 1);
    let (mut vp, mut vn, mut d0, mut pm_old) = (u64::MAX, 0u64, 0u64, 0u64);
    let mut dist = p.len();
    for &c in t {
        let pm = mask(c);
        let tr = (((!d0) & pm) << 1) & pm_old;
        d0 = ((pm & vp).wrapping_add(vp) ^ vp) | pm | vn;
        d0 |= tr;
        let mut hp = vn | !(d0 | vp);
        let mut hn = d0 & vp;
        if hp & last != 0 {
            dist += 1;
        } else if hn & last != 0 {
            dist -= 1;
        }
        hp = (hp << 1) | 1;
        hn <<= 1;
        vp = hn | !(d0 | hp);
        vn = hp & d0;
        pm_old = pm;
    }
    Some(dist)
}

/// The tokens sorted and joined by single spaces.
fn sorted_join(toks: &[&str]) -> String {
    let mut sorted = [""; MAX_TOKENS];
    let n = toks.len().min(MAX_TOKENS);
    sorted[..n].copy_from_slice(&toks[..n]);
    sorted[..n].sort_unstable();
    sorted[..n].join(" ")
}

/// The soft token-set view of [`text_similarity`]; see there.
fn soft_token_set(ta: &[&str], tb: &[&str], token_sim: impl Fn(&str, &str) -> f64) -> f64 {
    let mut len_a = [0.0f64; MAX_TOKENS];
    let mut len_b = [0.0f64; MAX_TOKENS];
    for (l, t) in len_a.iter_mut().zip(ta) {
        *l = count_f64(char_count(t));
    }
    for (l, t) in len_b.iter_mut().zip(tb) {
        *l = count_f64(char_count(t));
    }
    let total_a: f64 = len_a.iter().sum();
    let total_b: f64 = len_b.iter().sum();
    if total_a <= 0.0 || total_b <= 0.0 {
        return 0.0;
    }

    // The candidate pairs: on the stack for the usual few tokens.
    const INLINE: usize = 64;
    let mut inline = [(0.0f64, 0u8, 0u8); INLINE];
    let mut heap: Vec<(f64, u8, u8)> = Vec::new();
    let mut count = 0usize;
    let spill = ta.len() * tb.len() > INLINE;
    // Token counts are at most MAX_TOKENS (32), so positions fit a u8.
    for (i, x) in (0..=u8::MAX).zip(ta) {
        for (j, y) in (0..=u8::MAX).zip(tb) {
            let sim = if x == y { 1.0 } else { token_sim(x, y) };
            if sim >= TOKEN_MATCH_THRESHOLD {
                let pair = (sim, i, j);
                if spill {
                    heap.push(pair);
                } else if let Some(slot) = inline.get_mut(count) {
                    *slot = pair;
                    count += 1;
                }
            }
        }
    }
    let pairs: &mut [(f64, u8, u8)] = if spill {
        &mut heap
    } else {
        &mut inline[..count]
    };
    // Best pair first; ties by position, which is deterministic (the caller fixes the order of
    // the two sides).
    pairs.sort_unstable_by(|p, q| q.0.total_cmp(&p.0).then(p.1.cmp(&q.1)).then(p.2.cmp(&q.2)));

    let (mut used_a, mut used_b) = (0u64, 0u64);
    let (mut shared, mut covered_a, mut covered_b) = (0.0, 0.0, 0.0);
    for &(sim, i, j) in pairs.iter() {
        let (bi, bj) = (1u64 << i, 1u64 << j);
        if used_a & bi != 0 || used_b & bj != 0 {
            continue;
        }
        used_a |= bi;
        used_b |= bj;
        let (la, lb) = (len_a[usize::from(i)], len_b[usize::from(j)]);
        shared += sim * (la + lb);
        covered_a += sim * la;
        covered_b += sim * lb;
    }
    let dice = shared / (total_a + total_b);
    let coverage = if total_a <= total_b {
        covered_a / total_a
    } else {
        covered_b / total_b
    };
    clamp_score(0.6 * clamp_score(coverage) + 0.4 * clamp_score(dice))
}

/// The similarity of two different tokens in the soft token-set view of [`text_similarity`]:
/// their Indel ratio.
fn token_similarity(x: &str, y: &str) -> f64 {
    ratio(x, y)
}

/// The similarity of two different tokens of normalised company names, for
/// [`org_name_similarity`]: their Indel ratio, or — when exactly one of them is a canonical
/// business abbreviation (`log`, `svcs`, `intl`, ...) — the best Indel ratio of the other token
/// with the spellings that abbreviation stands for, if higher. A misspelt word that
/// normalisation could not recognise then meets its abbreviation as the correctly spelt word
/// would (`logistcs` ↔ `log` as `logistcs` ↔ `logistics`, ≈ 0.94), while a different word stays
/// as far from it as from the spelt-out word (`freight` ↔ `log`: no pair).
///
/// The guess that a token is a misspelling of the abbreviated word is kept safe in three ways:
///
/// * only tokens of at least [`MIN_EXPANDED_TOKEN_CHARS`] characters are compared with the long
///   forms, and only with long forms of at least that length (a short token resembles some word
///   by chance);
/// * the token must begin as the long form does, up to an OCR confusion (`l`/`i`/`1`, `o`/`0`,
///   `s`/`5`, `b`/`8`, `z`/`2`, `rn`/`m`): an abbreviation keeps the start of its word, and
///   words one letter apart at the start are usually other words (`holding` ↔ `folding`,
///   `national` ↔ `rational`, `services` ↔ `devices`);
/// * the token must be at most [`typo_edits`] edits from the long form (`producers` ↔
///   `products`, two edits in nine letters, is another word).
fn name_token_similarity(x: &str, y: &str) -> f64 {
    let plain = ratio(x, y);
    // Quick exits for most pairs of different words: an abbreviation starts as its long forms
    // do, and the misspelt word must be long (its byte length bounds its character count).
    if !same_start(x, y) || x.len().max(y.len()) < MIN_EXPANDED_TOKEN_CHARS {
        return plain;
    }
    let (x_forms, y_forms) = (abbreviation_long_forms(x), abbreviation_long_forms(y));
    let (word, forms) = match (x_forms.is_empty(), y_forms.is_empty()) {
        (true, false) => (x, y_forms),
        (false, true) => (y, x_forms),
        // Two abbreviations are two different words; two plain words have no long forms.
        _ => return plain,
    };
    let n = char_count(word);
    if n < MIN_EXPANDED_TOKEN_CHARS {
        return plain;
    }
    let mut best = plain;
    for form in forms {
        let m = char_count(form);
        let allowed = typo_edits(n.max(m));
        // The edit distance is at least the difference in length.
        if m < MIN_EXPANDED_TOKEN_CHARS || n.abs_diff(m) > allowed || !same_start(word, form) {
            continue;
        }
        if edit_distance(word, form) <= allowed {
            best = best.max(ratio(word, form));
        }
    }
    best
}

/// How many edits (insertions, deletions, substitutions, adjacent transpositions) a word of `n`
/// characters may carry and still count as a misspelling in [`name_token_similarity`]: one per
/// five characters, at least one (`logistcs` ↔ `logistics`: 1 of 1; `intemational` ↔
/// `international`: 2 of 2; `producers` ↔ `products`: 2 of 1, another word).
fn typo_edits(n: usize) -> usize {
    (n / 5).max(1)
}

/// The optimal-string-alignment distance of two short strings.
fn edit_distance(a: &str, b: &str) -> usize {
    if a.is_ascii() && b.is_ascii() {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if let Some(d) = osa_bytes(a, b) {
            return d;
        }
        return osa::distance(a.iter().copied(), b.iter().copied());
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    match osa_short(&a, &b) {
        Some(d) => d,
        None => osa::distance(a.iter().copied(), b.iter().copied()),
    }
}

/// Whether `a` and `b` begin with the same letter, up to a common OCR confusion.
fn same_start(a: &str, b: &str) -> bool {
    let (Some(x), Some(y)) = (a.chars().next(), b.chars().next()) else {
        return false;
    };
    if x == y {
        return true;
    }
    let class = |c: char| match c {
        'i' | 'l' | '1' => 'i',
        'o' | '0' => 'o',
        's' | '5' => 's',
        'b' | '8' => 'b',
        'z' | '2' => 'z',
        other => other,
    };
    class(x) == class(y) || (a.starts_with("rn") && y == 'm') || (b.starts_with("rn") && x == 'm')
}

/// The shortest token [`org_name_similarity`] compares with the long forms of an abbreviation.
pub const MIN_EXPANDED_TOKEN_CHARS: usize = 5;

/// The number of characters of `s` (its length when ASCII).
fn char_count(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Legal forms that are written interchangeably for one company share a family.
fn legal_form_family(form: &str) -> &str {
    match form {
        "Inc" | "Corp" | "Co" => "Inc",
        "Ltd" | "Pty Ltd" | "Pty" | "Pvt Ltd" | "Pte Ltd" => "Ltd",
        "GmbH" | "mbH" => "GmbH",
        other => other,
    }
}

/// Whether two identifiers' normalised keys have the same length and differ only where both
/// hold a digit (`INV-100234` ↔ `INV-100235`, `4512` ↔ `4521`): how the neighbouring numbers of
/// a sequence differ, and a misread digit. False for equal keys and for missing ones.
pub fn identifier_digits_replaced(a: &IdentifierKeys, b: &IdentifierKeys) -> bool {
    let (ka, kb) = (truncate(&a.normalized), truncate(&b.normalized));
    if ka.is_ascii() && kb.is_ascii() {
        only_digit_substitutions(ka.as_bytes(), kb.as_bytes())
    } else {
        let ka: Vec<char> = ka.chars().collect();
        let kb: Vec<char> = kb.chars().collect();
        only_digit_substitutions(&ka, &kb)
    }
}

/// Whether two keys of the same length differ, and only at positions holding a digit on both
/// sides.
fn only_digit_substitutions<T: Copy + Eq + Into<char>>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len()
        && a != b
        && a.iter().zip(b).all(|(&x, &y)| {
            let (x, y): (char, char) = (x.into(), y.into());
            x == y || (x.is_ascii_digit() && y.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    // Test data: small generated numbers and lengths, which the casts carry exactly.
    #![allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]

    use super::*;

    /// The bit-parallel kernels agree with rapidfuzz on random short strings.
    #[test]
    fn bit_parallel_kernels_agree_with_rapidfuzz() {
        let mut rng = XorShift(77);
        for _ in 0..20_000 {
            let la = rng.below(70);
            let lb = rng.below(70);
            let alphabet = 2 + rng.below(6) as u8;
            let a: Vec<u8> = (0..la)
                .map(|_| b'a' + rng.below(alphabet as usize) as u8)
                .collect();
            let b: Vec<u8> = (0..lb)
                .map(|_| b'a' + rng.below(alphabet as usize) as u8)
                .collect();
            if let Some(d) = osa_short(&a, &b) {
                assert_eq!(
                    d,
                    osa::distance(a.iter().copied(), b.iter().copied()),
                    "{a:?} {b:?}"
                );
                assert_eq!(osa_bytes(&a, &b), Some(d), "{a:?} {b:?}");
            }
            if let Some(l) = lcs_short(&a, &b) {
                let indel = indel::distance(a.iter().copied(), b.iter().copied());
                assert_eq!(la + lb - 2 * l, indel, "{a:?} {b:?}");
                assert_eq!(lcs_bytes(&a, &b), Some(l), "{a:?} {b:?}");
            }
            let (sa, sb) = (String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
            let expected = indel::normalized_similarity(a.iter().copied(), b.iter().copied());
            assert!((ratio(&sa, &sb) - expected).abs() < 1e-12, "{sa:?} {sb:?}");
        }
    }
    use crate::parse::{parse_amount, parse_date, DateOrder};
    use crate::test_rng::XorShift;
    use chrono::NaiveDate;
    use rstest::rstest;

    /// A tolerance as callers might send it: NaN, negative, zero, infinite, or a plain value.
    fn hostile_float(rng: &mut XorShift) -> f64 {
        match rng.below(8) {
            0 => f64::NAN,
            1 => -1.0,
            2 => 0.0,
            3 => f64::INFINITY,
            _ => (rng.next() % 10_000) as f64 / 100.0,
        }
    }

    fn date(raw: &str) -> DateReadings {
        parse_date(raw, Some(DateOrder::DayFirst)).unwrap_or_else(|| panic!("date {raw:?}"))
    }

    fn amount(raw: &str) -> Amount {
        parse_amount(raw).unwrap_or_else(|| panic!("amount {raw:?}"))
    }

    fn ymd(y: i32, m: u32, d: u32) -> DateReadings {
        DateReadings::single(NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default())
    }

    fn in_unit(score: f64) -> bool {
        score.is_finite() && (0.0..=1.0).contains(&score)
    }

    // ---- text_similarity -------------------------------------------------------------------

    #[rstest]
    #[case::equal("j b dale chq", "j b dale chq", 1.0)]
    #[case::prefix("w ingersoll v d", "w ingersoll v deusen payment csh", 1.0)]
    #[case::unrelated("c d l bgc", "p g money", 0.0)]
    #[case::empty("", "j b", 0.0)]
    // prefix "j b " 4 of 7; words j, b and the cut-off "ch" ↔ "chq": 4 of 5 characters.
    #[case::cut_word("j b chq", "j b b8ddb136 ch", 0.7 * 4.0 / 7.0 + 0.3 * 4.0 / 5.0)]
    // no common prefix; the word "bgc" is 3 of the shorter side's 5 word characters.
    #[case::shared_word("c d l bgc", "p g bgc", 0.3 * 3.0 / 5.0)]
    fn short_text_similarity_cases(#[case] a: &str, #[case] b: &str, #[case] want: f64) {
        let (ab, ba) = (short_text_similarity(a, b), short_text_similarity(b, a));
        assert!((ab - want).abs() < 1e-9, "{a:?} vs {b:?}: {ab} != {want}");
        assert_eq!(ab, ba);
    }

    #[rstest]
    #[case::best(1, 1, 21, 1.0)]
    #[case::far_end(21, 1, 21, 1.0 / 21.0)]
    #[case::outside_low(0, 1, 21, 0.0)]
    #[case::outside_high(22, 1, 21, 0.0)]
    #[case::symmetric_centre(0, -7, 7, 1.0)]
    #[case::symmetric_edge(-7, -7, 7, 1.0 / 8.0)]
    #[case::negative_window(-2, -10, -2, 1.0)]
    #[case::negative_far(-10, -10, -2, 1.0 / 9.0)]
    #[case::straddling(-3, -3, 30, 1.0 - 3.0 / 31.0)]
    #[case::empty_window(0, 2, 1, 0.0)]
    #[case::single_day(5, 5, 5, 1.0)]
    fn date_window_scores(#[case] d: i64, #[case] min: i32, #[case] max: i32, #[case] want: f64) {
        let got = date_window_score(d, min, max);
        assert!(
            (got - want).abs() < 1e-9,
            "{d} in {min}..={max}: {got} != {want}"
        );
    }

    #[rstest]
    #[case("apex logistics", "apex logistics", 1.0, 1.0)]
    #[case("apex logistics", "logistics apex", 1.0, 1.0)]
    #[case("apex logistics", "apex logistcs", 0.9, 0.99)]
    #[case("apex logistics", "apex logistics intl", 0.9, 0.99)]
    #[case("bauer", "bauer spedition", 0.7, 0.9)]
    #[case("hermann schulz", "herrnann schulz", 0.85, 0.99)]
    #[case("nordwind handel", "nordwlnd handel", 0.9, 0.99)]
    #[case("apex logistics", "zenith foods", 0.0, 0.4)]
    #[case("muller", "mueller", 0.9, 0.99)]
    #[case("a", "b", 0.0, 0.0)]
    #[case("東京 商事", "東京 商事 intl", 0.8, 0.99)]
    fn text_pairs(#[case] a: &str, #[case] b: &str, #[case] lo: f64, #[case] hi: f64) {
        let s = text_similarity(a, b);
        assert!(lo <= s && s <= hi, "{a:?} vs {b:?}: {s}");
    }

    #[rstest]
    #[case("", "")]
    #[case("", "apex")]
    #[case("apex", "")]
    fn text_missing_is_zero(#[case] a: &str, #[case] b: &str) {
        assert_eq!(text_similarity(a, b), 0.0);
    }

    #[test]
    fn text_huge_inputs_are_bounded() {
        let a = "apex ".repeat(100_000);
        let b = "apex ".repeat(99_999) + "apox";
        let s = text_similarity(&a, &b);
        assert!(in_unit(s));
        assert!(s > 0.9);
    }

    // ---- org_name_similarity ---------------------------------------------------------------

    #[rstest]
    #[case("Apex Logistics Inc.", "APEX LOGISTICS", 1.0, 1.0)]
    #[case("Apex Logistics, Incorporated", "Apex Logistics Inc", 1.0, 1.0)]
    #[case("Apex Logistics Inc", "Apex Logistics Corp.", 1.0, 1.0)]
    #[case("Nordic Trade International AB", "Nordic Trade Intl AB", 1.0, 1.0)]
    #[case("Smith & Sons Ltd", "Smith and Sons Limited", 1.0, 1.0)]
    #[case("Müller Maschinenbau GmbH", "Muller Maschinenbau GmbH", 1.0, 1.0)]
    #[case("Lefèvre S.A.", "LEFEVRE SA", 1.0, 1.0)]
    #[case("Bauer Spedition AG", "Bauer Spedition GmbH", 0.9, 0.9)]
    #[case("Hermann Logistik GmbH", "Herrnann Logistik GmbH", 0.85, 0.99)]
    #[case("Zenith Spedition Inc", "Zenith Spediton Inc.", 0.9, 0.99)]
    #[case("Apex Logistics Inc", "Apex Logistics International Inc", 0.88, 0.99)]
    #[case("Apex Logistics Inc", "Zenith Foods Ltd", 0.0, 0.4)]
    #[case("Acme Ltd", "Acme Pty Ltd", 1.0, 1.0)]
    #[case("", "Acme Ltd", 0.0, 0.0)]
    #[case("...", "---", 0.0, 0.0)]
    fn org_name_pairs(#[case] a: &str, #[case] b: &str, #[case] lo: f64, #[case] hi: f64) {
        let s = org_name_similarity(a, b);
        assert!(lo - 1e-12 <= s && s <= hi + 1e-12, "{a:?} vs {b:?}: {s}");
    }

    /// A misspelt word meets its abbreviation (`logistcs` ↔ `log`) as the correctly spelt word
    /// would; a different word does not. Each case gives the score before the long forms were
    /// consulted, for reference, and the bounds now.
    #[rstest]
    // typos and dropped letters in an abbreviated word (was ≈ 0.64–0.86)
    #[case("ACME Logistcs, Inc", "Acme Logistics Inc.", 0.95, 0.99)] // was 0.76
    #[case("Apex Logistics Inc", "Apex Logistcs Inc", 0.95, 0.99)] // was 0.76
    #[case("Apex Manufacturing", "Apex Manufacturng", 0.95, 0.99)] // was 0.64
    #[case("Apex Engineering", "Apex Engneering", 0.95, 0.99)] // was 0.70
    #[case("Apex Laboratories", "Apex Laboratries", 0.95, 0.99)] // was 0.67
    #[case("Apex Distribution", "Apex Distrbution", 0.95, 0.99)] // was 0.72
    #[case("Apex Technologies", "Apex Tecnologies", 0.95, 0.99)] // was 0.64
    #[case("Apex Services", "Apex Servces", 0.95, 0.99)] // was 0.86
    #[case("Apex Logistics", "Apex Loqistics", 0.92, 0.99)] // was 0.64
    // OCR: rn/m, l/i, 1/l
    #[case("Apex International", "Apex Intemational", 0.9, 0.99)] // was 0.69
    #[case("Apex Manufacturing", "Apex Rnanufacturing", 0.9, 0.99)] // was 0.52
    #[case("Apex Communications", "Apex Cornmunications", 0.9, 0.99)] // was 0.55
    #[case("Apex International", "Apex lnternational", 0.92, 0.99)] // was 0.59
    #[case("Apex Services", "Apex Servlces", 0.9, 0.99)] // was 0.82
    #[case("Apex Technologies", "Apex Techno1ogies", 0.92, 0.99)] // was 0.69
    #[case("Apex Holdings", "Apex Holdlngs", 0.9, 0.99)] // was 0.82
    // a typo in both words
    #[case("Hermann Logistics", "Herrnann Logistcs", 0.82, 0.9)] // was 0.71
    #[case("Apex Logistics", "Apex Logistcs Intl", 0.85, 0.95)] // was 0.62
    // different words stay where they were: the start differs, or too many edits
    #[case("Apex Logistics", "Apex Freight", 0.55, 0.65)]
    #[case("Apex Logistics", "Apex Legal", 0.7, 0.8)]
    #[case("Apex Systems", "Apex Sisters", 0.65, 0.75)]
    #[case("Apex Holdings", "Apex Folding", 0.7, 0.8)]
    #[case("Apex Services", "Apex Devices", 0.7, 0.8)]
    #[case("National Software", "Rational Software", 0.75, 0.85)]
    #[case("Apex National", "Apex International", 0.85, 0.9)]
    #[case("Apex Technologies", "Apex Textiles", 0.6, 0.7)]
    #[case("Apex Instruments", "Apex Investments", 0.65, 0.75)]
    #[case("Apex Products", "Apex Producers", 0.75, 0.8)]
    #[case("Apex Partners", "Apex Painters", 0.75, 0.8)]
    #[case("Apex Construction", "Apex Consulting", 0.75, 0.8)]
    #[case("Apex Materials", "Apex Maternity", 0.6, 0.7)]
    #[case("Apex Supplies", "Apex Supplements", 0.75, 0.8)]
    // short tokens are never forgiven by the long forms
    #[case("AB Logistics", "AC Logistics", 0.8, 0.85)]
    #[case("Apex Logistics", "Apex Logic", 0.85, 0.9)]
    fn org_name_typos_in_abbreviated_words(
        #[case] a: &str,
        #[case] b: &str,
        #[case] lo: f64,
        #[case] hi: f64,
    ) {
        let (ab, ba) = (org_name_similarity(a, b), org_name_similarity(b, a));
        assert!(lo <= ab && ab <= hi, "{a:?} vs {b:?}: {ab}");
        assert_eq!(ab, ba, "{a:?} vs {b:?}");
    }

    #[rstest]
    // a typo: the spelt-out word's ratio
    #[case("logistcs", "log", 1.0 - 1.0 / 17.0)]
    #[case("log", "logistcs", 1.0 - 1.0 / 17.0)]
    #[case("intemational", "intl", 1.0 - 3.0 / 25.0)]
    // other start, too many edits, too short, or both abbreviations: the plain ratio
    #[case("folding", "hldg", 1.0 - 5.0 / 11.0)]
    #[case("producers", "prod", 1.0 - 5.0 / 13.0)]
    #[case("logi", "log", 1.0 - 1.0 / 7.0)]
    #[case("natl", "intl", 1.0 - 2.0 / 8.0)]
    #[case("apex", "acme", 1.0 - 4.0 / 8.0)]
    fn name_token_scores(#[case] x: &str, #[case] y: &str, #[case] want: f64) {
        let got = name_token_similarity(x, y);
        assert!(
            (got - want).abs() < 1e-12,
            "{x:?} vs {y:?}: {got} != {want}"
        );
    }

    #[test]
    fn plain_text_ignores_abbreviations() {
        // The long forms are for company names only.
        assert!(text_similarity("apex log", "apex logistcs") < 0.8);
    }

    #[test]
    fn legal_form_mismatch_lowers_but_keeps_close_names_close() {
        let same = org_name_similarity("Bauer Spedition GmbH", "Bauer Spedition GmbH");
        let other_form = org_name_similarity("Bauer Spedition AG", "Bauer Spedition GmbH");
        let one_missing = org_name_similarity("Bauer Spedition", "Bauer Spedition GmbH");
        assert_eq!(same, 1.0);
        assert_eq!(one_missing, 1.0);
        assert!(other_form < same && other_form > 0.8);
    }

    // ---- identifier_similarity -------------------------------------------------------------

    #[rstest]
    #[case("INV-000123", "#123", 1.0, 1.0)]
    #[case("Invoice No. 4500012345", "4500012345", 1.0, 1.0)]
    #[case("INV-OOO123", "inv 123", 1.0, 1.0)]
    #[case("2024/00123", "2024-00123", 1.0, 1.0)]
    #[case("RE-004512", "4512", 0.95, 0.95)]
    #[case("RE-004512", "RG 4512", 0.95, 0.95)]
    // one dropped character
    #[case("INV-2024-100234", "INV-2024-10234", 0.85, 0.95)]
    #[case("RE-A45120", "RE-A4512", 0.8, 0.9)]
    // one changed character (a digit read as a letter); a changed letter alone keeps the digits
    #[case("AB-77314", "AB-7731X", 0.85, 0.9)]
    #[case("AB-7731X", "AB-7731Y", 0.95, 0.95)]
    // sequential neighbour: one digit replaced by another
    #[case("INV-100234", "INV-100235", 0.7, 0.8)]
    #[case("INV-2024-100234", "INV-2024-100235", 0.8, 0.9)]
    // swapped digits: one edit, discounted like a substitution
    #[case("INV-483920", "INV-483290", 0.7, 0.8)]
    // mostly different
    #[case("INV-483920", "INV-175634", 0.0, 0.05)]
    #[case("RE-4512", "GS-9981", 0.0, 0.05)]
    #[case("", "INV-1", 0.0, 0.0)]
    #[case("#", "-", 0.0, 0.0)]
    fn identifier_pairs(#[case] a: &str, #[case] b: &str, #[case] lo: f64, #[case] hi: f64) {
        let s = identifier_similarity(a, b);
        assert!(lo - 1e-12 <= s && s <= hi + 1e-12, "{a:?} vs {b:?}: {s}");
    }

    #[test]
    fn identifier_more_edits_never_score_higher() {
        let base = "INV-48392017";
        let variants = [
            "INV-48392017",
            "INV-4839207",
            "INV-483907",
            "INV-48307",
            "INV-4807",
            "INV-407",
        ];
        let scores: Vec<f64> = variants
            .iter()
            .map(|v| identifier_similarity(base, v))
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    }

    // ---- date_similarity -------------------------------------------------------------------

    #[rstest]
    #[case("2024-03-15", "15.03.2024", 5, 1.0)]
    #[case("2024-03-15", "15 March 2024", 5, 1.0)]
    #[case("2024-03-15", "2024-03-16", 5, 1.0 - 1.0 / 6.0)]
    #[case("2024-03-15", "2024-03-18", 5, 0.5)]
    #[case("2024-03-15", "2024-03-20", 5, 1.0 / 6.0)]
    #[case("2024-03-15", "2024-03-21", 5, 0.0)]
    #[case("2024-03-15", "2024-06-15", 5, 0.0)]
    #[case("2024-03-15", "2024-03-16", 0, 0.0)]
    #[case("2024-03-15", "2024-03-15", 0, 1.0)]
    // D/M ambiguity: the closest reading counts
    #[case("03/04/2024", "2024-04-03", 3, 1.0)]
    #[case("03/04/2024", "2024-03-04", 3, 1.0)]
    #[case("03/04/2024", "2024-03-05", 3, 0.75)]
    #[case("2023-12-30", "2024-01-02", 3, 0.25)]
    fn date_pairs(#[case] a: &str, #[case] b: &str, #[case] window: u32, #[case] expected: f64) {
        let s = date_similarity(&date(a), &date(b), window);
        assert!((s - expected).abs() < 1e-12, "{a:?} vs {b:?}: {s}");
    }

    #[test]
    fn date_closer_never_scores_lower() {
        let base = ymd(2024, 2, 27);
        for window in [0, 1, 3, 5, 30, u32::MAX] {
            let mut previous = f64::INFINITY;
            for offset in 0..40u64 {
                let other = DateReadings::single(base.preferred + chrono::Days::new(offset));
                let s = date_similarity(&base, &other, window);
                assert!(in_unit(s));
                assert!(s <= previous, "window {window} offset {offset}");
                previous = s;
            }
        }
    }

    #[test]
    fn date_extreme_windows() {
        let a = ymd(1900, 1, 1);
        let b = ymd(2100, 12, 31);
        assert_eq!(date_similarity(&a, &b, u32::MAX), {
            let d = 73_413.0_f64;
            1.0 - d / (f64::from(u32::MAX) + 1.0)
        });
        assert_eq!(date_similarity(&a, &b, 0), 0.0);
    }

    // ---- amount_similarity -----------------------------------------------------------------

    #[rstest]
    #[case("1.234,50 EUR", "1234.5", Tolerance::Percent(3.0), 1.0, 1.0)]
    #[case("€1,234.50", "1234.50 EUR", Tolerance::Absolute(0.01), 1.0, 1.0)]
    #[case("$100.00", "USD 100", Tolerance::Percent(1.0), 1.0, 1.0)]
    #[case("$100.00", "CAD 100", Tolerance::Percent(1.0), 1.0, 1.0)]
    // fee-adjusted by 1.5 % and 3 % under a 3 % tolerance
    #[case("1000.00", "985.00", Tolerance::Percent(3.0), 0.74, 0.76)]
    #[case("1000.00", "970.00", Tolerance::Percent(3.0), 0.49, 0.51)]
    #[case("1000.00", "1030.00", Tolerance::Percent(3.0), 0.5, 0.52)]
    #[case("1000.00", "945.00", Tolerance::Percent(3.0), 0.0, 0.09)]
    #[case("1000.00", "900.00", Tolerance::Percent(3.0), 0.0, 0.0)]
    // rounding differences
    #[case("1234.50", "1234.49", Tolerance::Absolute(0.05), 0.89, 0.91)]
    #[case("1234.50", "1234.49", Tolerance::Percent(1.0), 0.99, 1.0)]
    // currency mismatch
    #[case("€100", "£100", Tolerance::Percent(3.0), 0.0, 0.0)]
    #[case("100 EUR", "100 USD", Tolerance::Absolute(1.0), 0.0, 0.0)]
    #[case("100 EUR", "$100", Tolerance::Absolute(1.0), 0.0, 0.0)]
    // signs
    #[case("(100.00)", "-100", Tolerance::Percent(3.0), 1.0, 1.0)]
    #[case("-100", "100", Tolerance::Percent(3.0), 0.0, 0.0)]
    #[case("0", "0.00", Tolerance::Percent(3.0), 1.0, 1.0)]
    #[case("0", "0.01", Tolerance::Percent(3.0), 0.0, 0.0)]
    #[case("0", "0.01", Tolerance::Absolute(0.02), 0.74, 0.76)]
    // hostile tolerances: equal values only
    #[case("100", "100.01", Tolerance::Percent(0.0), 0.0, 0.0)]
    #[case("100", "100.01", Tolerance::Percent(-3.0), 0.0, 0.0)]
    #[case("100", "100.01", Tolerance::Percent(f64::NAN), 0.0, 0.0)]
    #[case("100", "100.01", Tolerance::Absolute(f64::INFINITY), 0.0, 0.0)]
    #[case("100", "100.00", Tolerance::Absolute(f64::NAN), 1.0, 1.0)]
    fn amount_pairs(
        #[case] a: &str,
        #[case] b: &str,
        #[case] tolerance: Tolerance,
        #[case] lo: f64,
        #[case] hi: f64,
    ) {
        let s = amount_similarity(&amount(a), &amount(b), tolerance);
        assert!(lo <= s && s <= hi, "{a:?} vs {b:?}: {s}");
    }

    #[test]
    fn amount_closer_never_scores_lower() {
        let base = amount("1000.00");
        for tolerance in [
            Tolerance::Percent(3.0),
            Tolerance::Percent(0.5),
            Tolerance::Absolute(1.0),
            Tolerance::Absolute(50.0),
        ] {
            for sign in [1i128, -1] {
                let mut previous = f64::INFINITY;
                for cents in 0..12_000i128 {
                    let other = Amount {
                        minor_units: 100_000 + sign * cents,
                        scale: 2,
                        currency: None,
                    };
                    let s = amount_similarity(&base, &other, tolerance);
                    assert!(in_unit(s));
                    assert!(s <= previous, "{tolerance:?} {sign} {cents}");
                    previous = s;
                }
            }
        }
    }

    #[test]
    fn amount_extremes_stay_in_range() {
        let big = Amount {
            minor_units: i128::MAX,
            scale: 0,
            currency: None,
        };
        let small = Amount {
            minor_units: i128::MIN,
            scale: 18,
            currency: None,
        };
        for tolerance in [
            Tolerance::Percent(f64::MAX),
            Tolerance::Absolute(f64::MIN_POSITIVE),
            Tolerance::Absolute(f64::MAX),
            Tolerance::Percent(1e-300),
        ] {
            assert!(in_unit(amount_similarity(&big, &small, tolerance)));
            assert!(in_unit(amount_similarity(&big, &big, tolerance)));
        }
    }

    // ---- exact_similarity ------------------------------------------------------------------

    #[rstest]
    #[case("DE-Nord", "de nord", 1.0)]
    #[case("Müller", "MULLER", 1.0)]
    #[case("EUR", "USD", 0.0)]
    #[case("", "", 0.0)]
    #[case("--", "", 0.0)]
    #[case("abc", "abcd", 0.0)]
    fn exact_pairs(#[case] a: &str, #[case] b: &str, #[case] expected: f64) {
        assert_eq!(exact_similarity(a, b), expected);
    }

    // ---- properties ------------------------------------------------------------------------

    const PIECES: &[&str] = &[
        "apex",
        "apx",
        "logistics",
        "intl",
        "International",
        "Inc",
        "GmbH",
        "AG",
        "Ltd",
        "S.A.",
        "&",
        "and",
        " ",
        "  ",
        "-",
        "#",
        "INV",
        "No.",
        "RE-",
        "0",
        "00",
        "1",
        "5",
        "8",
        "O",
        "I",
        "l",
        "S",
        "B",
        "123",
        "4512",
        "rn",
        "m",
        "Müller",
        "Łódź",
        "東京",
        "\u{0301}",
        "\u{200B}",
        "😀",
        ".",
        ",",
        "€",
        "$",
        "£",
        "EUR",
        "(",
        ")",
        "/",
        "2024",
        "03",
        "12",
    ];

    fn random_string(rng: &mut XorShift) -> String {
        let mut s = String::new();
        for _ in 0..rng.below(10) {
            if rng.below(6) == 0 {
                let cp = u32::try_from(rng.next() % 0x11_0000).unwrap_or(0);
                s.push(char::from_u32(cp).unwrap_or('?'));
            } else {
                s.push_str(PIECES[rng.below(PIECES.len())]);
            }
        }
        s
    }

    fn random_amount(rng: &mut XorShift) -> Amount {
        let currencies = ["€", "$", "£", "USD", "CAD", "kr", "¥", ""];
        let raw = format!(
            "{}{}.{:02}",
            currencies[rng.below(currencies.len())],
            rng.next() % 100_000,
            rng.next() % 100
        );
        parse_amount(&raw).unwrap_or(Amount {
            minor_units: i128::from(rng.next()) - i128::from(u64::MAX / 2),
            scale: u8::try_from(rng.below(19)).unwrap_or(0),
            currency: None,
        })
    }

    fn random_date(rng: &mut XorShift) -> DateReadings {
        let base = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
        let a = base + chrono::Days::new(rng.next() % 400);
        let mut readings = DateReadings::single(a);
        if rng.below(3) == 0 {
            readings.alternative = Some(base + chrono::Days::new(rng.next() % 400));
        }
        readings
    }

    fn check(name: &str, ab: f64, ba: f64, inputs: &dyn std::fmt::Debug) {
        assert!(in_unit(ab), "{name} {inputs:?}: {ab}");
        assert!(
            (ab - ba).abs() <= 1e-12,
            "{name} not symmetric {inputs:?}: {ab} {ba}"
        );
    }

    #[test]
    fn random_inputs_score_in_range_and_symmetric() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..4_000 {
            let a = random_string(&mut rng);
            let b = if rng.below(4) == 0 {
                // a near variant: a piece appended, or a character dropped
                let mut v = a.clone();
                if rng.below(2) == 0 {
                    v.push_str(PIECES[rng.below(PIECES.len())]);
                } else if let Some((i, _)) = v.char_indices().nth(rng.below(v.len().max(1))) {
                    v.remove(i);
                }
                v
            } else {
                random_string(&mut rng)
            };
            let pair = (&a, &b);
            let (fa, fb) = (fold(&a), fold(&b));
            check(
                "text",
                text_similarity(&fa, &fb),
                text_similarity(&fb, &fa),
                &pair,
            );
            check(
                "text raw",
                text_similarity(&a, &b),
                text_similarity(&b, &a),
                &pair,
            );
            check(
                "org",
                org_name_similarity(&a, &b),
                org_name_similarity(&b, &a),
                &pair,
            );
            check(
                "id",
                identifier_similarity(&a, &b),
                identifier_similarity(&b, &a),
                &pair,
            );
            check(
                "exact",
                exact_similarity(&a, &b),
                exact_similarity(&b, &a),
                &pair,
            );
            assert_eq!(
                text_similarity(&fa, &fa),
                if fa.is_empty() { 0.0 } else { 1.0 }
            );

            let (da, db) = (random_date(&mut rng), random_date(&mut rng));
            let window = u32::try_from(rng.below(40)).unwrap_or(0);
            let dates = (&da, &db, window);
            check(
                "date",
                date_similarity(&da, &db, window),
                date_similarity(&db, &da, window),
                &dates,
            );

            let (ma, mb) = (random_amount(&mut rng), random_amount(&mut rng));
            let tolerance = if rng.below(2) == 0 {
                Tolerance::Percent(hostile_float(&mut rng))
            } else {
                Tolerance::Absolute(hostile_float(&mut rng))
            };
            let amounts = (&ma, &mb, tolerance);
            check(
                "amount",
                amount_similarity(&ma, &mb, tolerance),
                amount_similarity(&mb, &ma, tolerance),
                &amounts,
            );
            assert_eq!(amount_similarity(&ma, &ma, tolerance), 1.0);
        }
    }
}
