//! Identifiers: invoice numbers, purchase-order numbers, references.
//!
//! Two keys exist so that an index can key on either:
//!
//! * [`normalize_identifier`], the normalised form — strict: keeps the letters that belong to
//!   the number (`RE-004512` → `RE4512`), so two vendors' series stay apart;
//! * [`digits`], only its digits — loose: `RE-004512`, `4512` and `RG 4512` all give `4512`, for
//!   recall when one side dropped or changed a letter prefix.
//!
//! [`identifier_keys`] computes both at once. The normalised form is built in this order:
//!
//! 1. **Fold** ([`fold`]: accents, compatibility forms such as fullwidth digits,
//!    other scripts' digits) and **uppercase**; `N°` is read as `NO`. Every run of
//!    non-alphanumeric characters is a separator (`#`, space, `-`, `/`, `.`, `_`, `:`...);
//!    separators are removed (a label may be followed by one, see step 2).
//! 2. **Label prefixes** are stripped from the start, repeatedly: `INVOICE`, `INV`, `NO`, `NR`,
//!    `NUM`, `NBR`, `NUMBER`, `NUMERO`, `NUMMER`, `PO` (also `P.O.`), `REF`, `REFERENCE`, `ORDER`,
//!    `PURCHASE`, and the word for invoice in German, French, Spanish, Italian, Dutch and Polish
//!    (`RECHNUNG`, `FACTURE`, `FACTURA`, `FATTURA`, `FACTUUR`, `FAKTURA`). These are generic words
//!    that *label* a number on a document and are added or dropped freely by people and
//!    extractors (`INV-000123`, `Invoice No. 123`, `#000123`, `PO# 4500012345`). A label is only
//!    stripped when something follows it and it is followed by a separator (`INV-123`) or
//!    directly by the number (`INV0000123`, `NO123`: the rest starts with a digit-like character
//!    and holds a digit) — so `NOVA12` and `INVALID` keep their letters. A label may itself be
//!    OCR-damaged (`1NV-000123`). Vendor-specific series letters are **not** stripped, even
//!    when they mean "invoice": `RE-004512` (Rechnung), `RG`, `FA-`, `KM-`, `F2024...` are
//!    printed as part of the number in the vendor's own ledger, and stripping them would merge
//!    different series (`RE-4512` invoice vs `GS-4512` credit note); [`digits`] is the key
//!    for the lenient comparison.
//! 3. **OCR confusables** `O`→`0`, `I`/`L`→`1`, `S`→`5`, `B`→`8`, `Z`→`2`, `G`→`6` are read as
//!    digits only in digit context, so that letter prefixes that belong to the number survive:
//!    * if the identifier (after step 2) is made only of digits and confusables and is mostly
//!      digits (at least one digit, no fewer digits than confusables), every confusable is a
//!      digit: `OOO123` → `000123`, `00012I` → `000121`, `B00123` → `800123`. A prefix made only
//!      of confusable letters cannot be told from misread digits, so it is read as digits too —
//!      on every spelling of it: `SI-000123`, `5I-000123`, `S1-000123` and `SI000123` all give
//!      `51000123`;
//!    * otherwise a run of confusables is read as digits when it sits between two digits
//!      (`F2O24` → `F2024`) or ends the identifier right after a digit (`RE-05517I` →
//!      `RE055171`), and a run of `O`s is read as zeros when a digit follows (`RE-O04512`,
//!      `FNO44988` → `FN044988`: numbering schemes avoid the letter O). Anything else stays a
//!      letter (`BOSS1`, `RE-S100`, `RI3184`).
//!
//!    None of this depends on where the separators were, so `2024-00123`, `2024/00123` and
//!    `202400123` agree, with or without OCR damage.
//! 4. **Leading zeros** of every digit run are stripped (`000123` → `123`, `RE004512` →
//!    `RE4512`, a run of zeros keeps one `0`).
//!
//! Letters of other scripts are kept (in folded, lowercase form). The result never contains a
//! separator, is empty only when `raw` has no letter or digit, and is idempotent.

use super::fold::fold;

/// Both keys of an identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifierKeys {
    /// The normalised form, as [`normalize_identifier`] returns it.
    pub normalized: String,
    /// Its digits, as [`digits`] returns them.
    pub digits: String,
}

/// Normalises an invoice, order or reference number: folded and uppercased, generic label
/// prefixes (`INV`, `INVOICE`, `NO`, `NR`, `#`, `PO`, `P.O.`, `REF`, `ORDER`, ...) stripped,
/// separators removed, OCR-confusable letters read as digits in digit context, leading zeros of
/// digit runs stripped. `"INV-000123"`, `"inv 123"`, `"#000123"`, `"No. 123"` and `"INV-OOO123"`
/// all give `"123"`; `"RE-004512"` gives `"RE4512"`. See the module documentation for the rules.
pub fn normalize_identifier(raw: &str) -> String {
    let mut out = normalize_once(raw);
    // Stripping the leading zeros can bring an OCR-damaged label to the front (`0-1NV-5` →
    // `1NV5`); then the result is normalised again, which strips it, until nothing changes.
    // Each round removes characters; only odd input like that needs a second one.
    for _ in 0..MAX_ROUNDS {
        let b = out.as_bytes();
        let label_like = b.first().is_some_and(u8::is_ascii_digit)
            && b.get(1).is_some_and(u8::is_ascii_alphabetic);
        if !label_like {
            break;
        }
        let next = normalize_once(&out);
        if next == out {
            break;
        }
        out = next;
    }
    out
}

/// A bound that makes the loop in [`normalize_identifier`] total whatever happens.
const MAX_ROUNDS: usize = 16;

fn normalize_once(raw: &str) -> String {
    let mut chars = segment(raw);
    let start = strip_labels(&chars);
    let rest = chars.get_mut(start..).unwrap_or_default();
    fold_confusables(rest);
    strip_leading_zeros(rest)
}

/// The looser key: only the ASCII digits of [`normalize_identifier`] (so after OCR folding),
/// without leading zeros; "" when there are none. `"RE-004512"` and `"4512"` both give `"4512"`.
pub fn digits(raw: &str) -> String {
    digits_of(&normalize_identifier(raw))
}

/// [`normalize_identifier`] and [`digits`] in one pass.
pub fn identifier_keys(raw: &str) -> IdentifierKeys {
    let normalized = normalize_identifier(raw);
    let digits = digits_of(&normalized);
    IdentifierKeys { normalized, digits }
}

fn digits_of(normalized: &str) -> String {
    let mut out = String::with_capacity(normalized.len());
    for c in normalized.chars().filter(char::is_ascii_digit) {
        if out == "0" {
            out.clear();
        }
        out.push(c);
    }
    out
}

/// One alphanumeric character of the identifier, and whether a separator preceded it.
#[derive(Debug, Clone, Copy)]
struct Ch {
    c: char,
    seg_start: bool,
}

/// Step 1: the alphanumeric characters (ASCII uppercased), with segment starts marked.
fn segment(raw: &str) -> Vec<Ch> {
    let mut out = Vec::with_capacity(raw.len());
    let mut boundary = true;
    if raw.is_ascii() {
        // Same result as the general path below, without the Unicode work.
        for &b in raw.as_bytes() {
            if b.is_ascii_alphanumeric() {
                out.push(Ch {
                    c: char::from(b.to_ascii_uppercase()),
                    seg_start: boundary,
                });
                boundary = false;
            } else if b != b'\'' && b != b'`' {
                boundary = true;
            }
        }
        return out;
    }
    let folded = if raw.contains('°') {
        fold(&numero_sign(raw))
    } else {
        fold(raw)
    };
    for c in folded.chars() {
        if c == ' ' {
            boundary = true;
        } else {
            out.push(Ch {
                c: c.to_ascii_uppercase(),
                seg_start: boundary,
            });
            boundary = false;
        }
    }
    out
}

/// Reads the degree sign after `N` as the `o` of `N°` (numéro / número).
fn numero_sign(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut prev = ' ';
    for c in raw.chars() {
        if c == '°' && (prev == 'N' || prev == 'n') {
            out.push('o');
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// Generic words that label a number rather than belong to it (see the module documentation).
const LABELS: [&str; 20] = [
    "REFERENCE",
    "PURCHASE",
    "RECHNUNG",
    "INVOICE",
    "FACTURE",
    "FACTURA",
    "FATTURA",
    "FACTUUR",
    "FAKTURA",
    "NUMBER",
    "NUMERO",
    "NUMMER",
    "ORDER",
    "INV",
    "NUM",
    "NBR",
    "REF",
    "NO",
    "NR",
    "PO",
];

/// Step 2: the index of the first character after the label prefixes.
fn strip_labels(chars: &[Ch]) -> usize {
    let mut start = 0;
    while let Some(len) = chars.get(start..).and_then(label_at) {
        start += len;
    }
    start
}

/// The length of the longest label that starts `chars` and may be stripped.
fn label_at(chars: &[Ch]) -> Option<usize> {
    let mut best = None;
    for label in LABELS {
        let len = label.len();
        if best.is_some_and(|b| b >= len) {
            continue;
        }
        let (Some(head), Some(rest)) = (chars.get(..len), chars.get(len..)) else {
            continue;
        };
        if head
            .iter()
            .zip(label.chars())
            .all(|(ch, l)| reads_as_letter(ch.c, l))
            && strippable_before(rest)
        {
            best = Some(len);
        }
    }
    best
}

/// Whether `c` is the letter `l`, possibly misread as a digit by OCR (`1NV`, `N0`, `P0`).
fn reads_as_letter(c: char, l: char) -> bool {
    c == l
        || match c {
            '0' => l == 'O',
            '1' => l == 'I' || l == 'L',
            '5' => l == 'S',
            '8' => l == 'B',
            '2' => l == 'Z',
            '6' => l == 'G',
            _ => false,
        }
}

/// A label is stripped only when something follows it, and that is either a new segment or the
/// number itself (starts with a digit or a confusable, and holds a digit).
fn strippable_before(rest: &[Ch]) -> bool {
    let Some(first) = rest.first() else {
        return false;
    };
    first.seg_start || (is_digit_like(first.c) && rest.iter().any(|ch| ch.c.is_ascii_digit()))
}

/// The digit an OCR-confusable letter stands for.
fn confusable_digit(c: char) -> Option<char> {
    Some(match c {
        'O' => '0',
        'I' | 'L' => '1',
        'S' => '5',
        'B' => '8',
        'Z' => '2',
        'G' => '6',
        _ => return None,
    })
}

fn is_digit_like(c: char) -> bool {
    c.is_ascii_digit() || confusable_digit(c).is_some()
}

/// Step 3: reads confusable letters as digits where the context says they are digits.
fn fold_confusables(chars: &mut [Ch]) {
    let is_confusable = |ch: &Ch| confusable_digit(ch.c).is_some();
    let digit_count = chars.iter().filter(|ch| ch.c.is_ascii_digit()).count();
    let confusable_count = chars.iter().filter(|ch| is_confusable(ch)).count();
    if digit_count + confusable_count == chars.len() {
        // Only digits and confusables: all digits when mostly digits, else a letter code.
        if digit_count > 0 && digit_count >= confusable_count {
            for ch in chars.iter_mut() {
                if let Some(d) = confusable_digit(ch.c) {
                    ch.c = d;
                }
            }
        }
        return;
    }
    let n = chars.len();
    let mut a = 0;
    while a < n {
        if !chars.get(a).is_some_and(is_confusable) {
            a += 1;
            continue;
        }
        let mut b = a;
        while chars.get(b).is_some_and(is_confusable) {
            b += 1;
        }
        let is_digit_at = |i: usize| chars.get(i).is_some_and(|ch| ch.c.is_ascii_digit());
        let after_digit = a > 0 && is_digit_at(a - 1);
        let from = if after_digit && (b == n || is_digit_at(b)) {
            // between two digits, or trailing after a digit
            Some(a)
        } else if is_digit_at(b) {
            // the O's that end the run and precede a digit
            let mut o = b;
            while o > a && chars.get(o - 1).is_some_and(|ch| ch.c == 'O') {
                o -= 1;
            }
            (o < b).then_some(o)
        } else {
            None
        };
        if let Some(from) = from {
            for ch in chars.get_mut(from..b).unwrap_or_default() {
                if let Some(d) = confusable_digit(ch.c) {
                    ch.c = d;
                }
            }
        }
        a = b;
    }
}

/// Step 4: the characters as a string, with the leading zeros of every digit run removed.
fn strip_leading_zeros(chars: &[Ch]) -> String {
    let mut out = String::with_capacity(chars.len());
    let mut run_start = true;
    for (i, ch) in chars.iter().enumerate() {
        if ch.c.is_ascii_digit() {
            let next_is_digit = chars.get(i + 1).is_some_and(|n| n.c.is_ascii_digit());
            if ch.c == '0' && run_start && next_is_digit {
                continue;
            }
            run_start = false;
        } else {
            run_start = true;
        }
        out.push(ch.c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("INV-000123", "123")]
    #[case("inv 123", "123")]
    #[case("#000123", "123")]
    #[case("No. 123", "123")]
    #[case("INV-OOO123", "123")]
    #[case("INV-0O0123", "123")]
    #[case("INV0000123", "123")]
    #[case("INVO000123", "123")]
    #[case("1NV-000123", "123")]
    #[case("Invoice 000123", "123")]
    #[case("Invoice No. 123", "123")]
    #[case("Invoice: INV-000123", "123")]
    #[case("N° 123", "123")]
    #[case("Nº 123", "123")]
    #[case("№ 123", "123")]
    #[case("Nr. 123", "123")]
    #[case("REF 123", "123")]
    #[case("000123", "123")]
    #[case("123", "123")]
    #[case("００１２３", "123")]
    #[case("INV-00012I", "121")]
    fn invoice_number_variants(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(normalize_identifier(raw), expected);
    }

    #[rstest]
    #[case("RE-004512", "RE4512")]
    #[case("re 004512", "RE4512")]
    #[case("RE004512", "RE4512")]
    #[case("RE-O04512", "RE4512")]
    #[case("RE-0O4512", "RE4512")]
    #[case("RG0000123", "RG123")]
    #[case("RG00O0123", "RG123")]
    #[case("F202400123", "F202400123")]
    #[case("F2O2400123", "F202400123")]
    #[case("FA-000123", "FA123")]
    #[case("INV-2024-00123", "202400123")]
    #[case("INV202400123", "202400123")]
    #[case("2024-00123", "202400123")]
    #[case("2024/00123", "202400123")]
    #[case("2024.00123", "202400123")]
    #[case("2024 00123", "202400123")]
    #[case("2024_00123", "202400123")]
    #[case("K00123", "K123")]
    #[case("KM-00123", "KM123")]
    #[case("SI-000123", "51000123")]
    #[case("5I-000123", "51000123")]
    #[case("S1-000123", "51000123")]
    #[case("SI000123", "51000123")]
    #[case("SI-0O0123", "51000123")]
    #[case("GS 4512", "654512")]
    #[case("RG 4512", "RG4512")]
    #[case("BG O1565", "8601565")]
    #[case("BG-01565", "8601565")]
    #[case("RE-05517I", "RE55171")]
    #[case("A4879S", "A48795")]
    #[case("FNO44988", "FN44988")]
    #[case("RI3184", "RI3184")]
    #[case("SO-12345", "5012345")]
    #[case("B00123", "800123")]
    #[case("800123", "800123")]
    fn vendor_prefixes_and_ocr(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(normalize_identifier(raw), expected);
    }

    #[rstest]
    #[case("PO-4500012345", "4500012345")]
    #[case("PO 4500012345", "4500012345")]
    #[case("PO#4500012345", "4500012345")]
    #[case("P.O. #4500012345", "4500012345")]
    #[case("P.O. 4500012345", "4500012345")]
    #[case("Purchase Order 4500012345", "4500012345")]
    #[case("Order No 4500012345", "4500012345")]
    #[case("4500012345", "4500012345")]
    fn po_variants(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(normalize_identifier(raw), expected);
    }

    #[rstest]
    #[case("INV", "INV")]
    #[case("Invoice", "INVOICE")]
    #[case("PO", "PO")]
    #[case("N/A", "NA")]
    #[case("verbal", "VERBAL")]
    #[case("NOVA12", "NOVA12")]
    #[case("INVALID", "INVALID")]
    #[case("BOSS1", "BOSS1")]
    #[case("RE-S100", "RES100")]
    #[case("0", "0")]
    #[case("000", "0")]
    #[case("A-000", "A0")]
    fn letters_that_belong_to_the_number_survive(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(normalize_identifier(raw), expected);
    }

    #[rstest]
    #[case("")]
    #[case("   ")]
    #[case("#")]
    #[case("--//..__")]
    #[case("😀")]
    #[case("\u{0301}")]
    #[case("\u{0000}\u{0008}")]
    fn nothing_gives_empty(#[case] raw: &str) {
        assert_eq!(normalize_identifier(raw), "");
        assert_eq!(digits(raw), "");
    }

    #[rstest]
    #[case("فاتورة ١٢٣", "فاتورة123")]
    #[case("\u{202E}INV-123\u{202C}", "123")]
    #[case("INV\u{0000}123", "123")]
    #[case("Rechnung Nr. 4711", "4711")]
    #[case("Facture n° 2024-001", "2024001")]
    fn hostile_and_foreign(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(normalize_identifier(raw), expected);
    }

    #[rstest]
    #[case("INV-000123", "123")]
    #[case("RE-004512", "4512")]
    #[case("GS 4512", "654512")]
    #[case("A01-X02", "12")]
    #[case("RG 4512", "4512")]
    #[case("F2O2400123", "202400123")]
    #[case("INV", "")]
    #[case("0-0", "0")]
    fn digits_key(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(digits(raw), expected);
        assert_eq!(identifier_keys(raw).digits, expected);
        assert_eq!(identifier_keys(raw).normalized, normalize_identifier(raw));
    }

    #[test]
    fn labels_have_a_letter_no_digit_can_fake() {
        for label in LABELS {
            assert!(
                label.chars().any(|c| confusable_digit(c).is_none()),
                "{label}"
            );
        }
    }

    #[test]
    fn a_megabyte_is_fine() {
        let raw = "INV-0O1-".repeat(150_000);
        assert!(raw.len() > 1_000_000);
        let once = normalize_identifier(&raw);
        assert_eq!(normalize_identifier(&once), once);
        let unicode = "Nº ١٢٣ é ".repeat(100_000);
        let once = normalize_identifier(&unicode);
        assert_eq!(normalize_identifier(&once), once);
    }
}
