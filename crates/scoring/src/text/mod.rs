//! Text normalisation: folding, organisation names, identifiers.
//!
//! * [`fold()`] is the one normaliser shared by matching and resolution (accents, case, punctuation);
//!   [`fold_letters`] folds the letters alike but keeps punctuation and symbols, for the parsers.
//! * [`normalize_org_name`] builds on it for company names (connectors, legal forms, business
//!   abbreviations); [`legal_form`] reports the legal form it removed.
//! * [`normalize_identifier`] and [`digits`] key invoice, order and reference numbers (label
//!   prefixes, separators, OCR-confusable characters, leading zeros).
//!
//! Every function here is pure, total (no panic on any input), deterministic and idempotent.

pub mod fold;
pub mod identifier;
pub mod org_name;

pub use fold::{fold, fold_letters, tokens};
pub use identifier::{digits, identifier_keys, normalize_identifier, IdentifierKeys};
pub use org_name::{
    abbreviation_long_forms, analyse_org_name, legal_form, normalize_org_name, OrgName,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::XorShift;

    /// Pieces that exercise every rule: labels, legal forms, connectors, confusables, digits,
    /// separators, accents, special letters, marks, format characters, other scripts, emoji.
    const PIECES: &[&str] = &[
        "INV",
        "inv",
        "Invoice",
        "No.",
        "Nr",
        "N°",
        "Nº",
        "#",
        "PO",
        "P.O.",
        "Ref",
        "RE",
        "SI",
        "GS",
        "Order",
        "1NV",
        "N0",
        "O",
        "o",
        "I",
        "l",
        "L",
        "S",
        "s",
        "B",
        "Z",
        "G",
        "0",
        "1",
        "5",
        "8",
        "00",
        "123",
        "2024",
        "-",
        "/",
        ".",
        "_",
        " ",
        "  ",
        ",",
        "'",
        "’",
        "&",
        "+",
        "and",
        "und",
        "u.",
        "y",
        "e",
        "e.K.",
        "Inc",
        "Inc.",
        "Incorporated",
        "Co",
        "Company",
        "Corp",
        "LLC",
        "L.L.C.",
        "Ltd",
        "Limited",
        "GmbH",
        "& Co. KG",
        "S.A.",
        "SA",
        "SAS",
        "S.à r.l.",
        "B.V.",
        "Sp. z o.o.",
        "A/S",
        "AB",
        "Pty",
        "The",
        "the",
        "Intl",
        "International",
        "Services",
        "Müller",
        "Lefèvre",
        "Woźniak",
        "Åberg",
        "Søren",
        "Łódź",
        "Straße",
        "ẞ",
        "Æ",
        "œ",
        "ı",
        "İ",
        "\u{0301}",
        "\u{0308}",
        "\u{200B}",
        "\u{200D}",
        "\u{00AD}",
        "\u{202E}",
        "\u{FEFF}",
        "\u{0000}",
        "\u{001B}",
        "\t",
        "\n",
        "😀",
        "👨‍👩‍👧",
        "שלום",
        "مرحبا",
        "١٢٣",
        "東京",
        "Ω",
        "ﬁ",
        "１２",
        "½",
        "™",
        "\u{FFFD}",
    ];

    fn random_string(rng: &mut XorShift) -> String {
        let mut s = String::new();
        for _ in 0..rng.below(12) {
            if rng.below(5) == 0 {
                // any Unicode scalar value
                let cp = u32::try_from(rng.next() % 0x11_0000).unwrap_or(0);
                s.push(char::from_u32(cp).unwrap_or('?'));
            } else {
                s.push_str(PIECES[rng.below(PIECES.len())]);
            }
        }
        s
    }

    #[test]
    fn random_inputs_never_panic_and_are_idempotent() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let raw = random_string(&mut rng);

            let folded = fold(&raw);
            assert_eq!(fold(&folded), folded, "fold {raw:?}");
            assert!(
                !folded.starts_with(' ') && !folded.ends_with(' '),
                "{raw:?}"
            );
            assert!(!folded.contains("  "), "{raw:?}");

            let name = normalize_org_name(&raw);
            assert_eq!(normalize_org_name(&name), name, "org name {raw:?}");
            assert_eq!(name.is_empty(), folded.is_empty(), "org name {raw:?}");
            let analysed = analyse_org_name(&raw);
            assert_eq!(analysed.name, name);
            assert_eq!(analysed.legal_form, legal_form(&raw));

            let id = normalize_identifier(&raw);
            assert_eq!(normalize_identifier(&id), id, "identifier {raw:?}");
            assert_eq!(id.is_empty(), folded.is_empty(), "identifier {raw:?}");
            let keys = identifier_keys(&raw);
            assert_eq!(keys.normalized, id);
            assert_eq!(keys.digits, digits(&raw));
            assert_eq!(digits(&keys.digits), keys.digits, "digits {raw:?}");
            assert!(keys.digits.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    /// Name-shaped strings only, where connectors, initials and legal forms interact most.
    #[test]
    fn random_org_names_are_idempotent() {
        const WORDS: &str = "a b s e k o g i y u n v l c and und og en et the inc co company ltd \
            limited sa s.a. gmbh kg ag ab as sp z oo kfm pty public liability partnership de cv \
            svc mgt apex müller & + , . -";
        let words: Vec<&str> = WORDS.split_whitespace().collect();
        let mut rng = XorShift(1234);
        for _ in 0..50_000 {
            let mut raw = String::new();
            for _ in 0..rng.below(9) {
                raw.push_str(words[rng.below(words.len())]);
                raw.push(if rng.below(4) == 0 { '.' } else { ' ' });
            }
            let name = normalize_org_name(&raw);
            assert_eq!(normalize_org_name(&name), name, "{raw:?}");
            assert_eq!(name.is_empty(), fold(&raw).is_empty(), "{raw:?}");
        }
    }

    /// Identifier-shaped strings only, where the label, OCR and zero rules interact most.
    #[test]
    fn random_identifiers_are_idempotent() {
        const ALPHABET: &[&str] = &[
            "INV", "NO", "PO", "P", "N", "REF", "O", "I", "L", "S", "B", "Z", "G", "0", "1", "2",
            "5", "6", "8", "00", "A", "X", "E", "R", "-", " ", "/", "#", ".",
        ];
        let mut rng = XorShift(42);
        for _ in 0..50_000 {
            let mut raw = String::new();
            for _ in 0..rng.below(10) {
                raw.push_str(ALPHABET[rng.below(ALPHABET.len())]);
            }
            let id = normalize_identifier(&raw);
            assert_eq!(normalize_identifier(&id), id, "{raw:?}");
        }
    }
}
