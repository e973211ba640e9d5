//! Booleans as extractors and spreadsheets write them.
//!
//! [`parse_boolean`] folds its input with the core's normaliser ([`crate::text::fold`]: case,
//! accents, surrounding punctuation and spacing) and accepts:
//!
//! | true | false |
//! | --- | --- |
//! | `true`, `t`, `yes`, `y`, `1`, `on`, `x`, `✓`/`✔` | `false`, `f`, `no`, `n`, `0`, `off` |
//! | `ja`, `j`, `wahr` (German) | `nein`, `falsch` |
//! | `oui`, `vrai` (French) | `non`, `faux` |
//! | `si`/`sí`, `verdadero` (Spanish), `sim` (Portuguese), `vero` (Italian) | `no`, `falso`, `nao`/`não` |
//! | `ja` (Dutch, Scandinavian) | `nee`, `nej` |
//!
//! Anything else (an empty string included) is `None`: a value that is not clearly one of the two
//! is not guessed. Total, allocation-light (inputs over 32 bytes are rejected before folding).

use crate::text::fold;

/// Inputs longer than this (in bytes, before trimming) are not booleans.
const MAX_INPUT_BYTES: usize = 32;

const TRUE_WORDS: &[&str] = &[
    "true",
    "t",
    "yes",
    "y",
    "1",
    "on",
    "x",
    "ja",
    "j",
    "wahr",
    "oui",
    "vrai",
    "si",
    "verdadero",
    "sim",
    "vero",
];
const FALSE_WORDS: &[&str] = &[
    "false", "f", "no", "n", "0", "off", "nein", "falsch", "non", "faux", "falso", "nao", "nee",
    "nej",
];

/// Reads a boolean (see the module documentation for the accepted words).
pub fn parse_boolean(raw: &str) -> Option<bool> {
    if raw.len() > MAX_INPUT_BYTES {
        return None;
    }
    let trimmed = raw.trim();
    if matches!(trimmed, "✓" | "✔" | "☑") {
        return Some(true);
    }
    let folded = fold(trimmed);
    if TRUE_WORDS.contains(&folded.as_str()) {
        Some(true)
    } else if FALSE_WORDS.contains(&folded.as_str()) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::parse_boolean;
    use rstest::rstest;

    #[rstest]
    #[case("true", Some(true))]
    #[case(" TRUE ", Some(true))]
    #[case("Yes", Some(true))]
    #[case("y", Some(true))]
    #[case("1", Some(true))]
    #[case("ja", Some(true))]
    #[case("Oui", Some(true))]
    #[case("Sí", Some(true))]
    #[case("✓", Some(true))]
    #[case("false", Some(false))]
    #[case("No", Some(false))]
    #[case("0", Some(false))]
    #[case("Nein", Some(false))]
    #[case("não", Some(false))]
    #[case("off", Some(false))]
    #[case("", None)]
    #[case("maybe", None)]
    #[case("2", None)]
    #[case("yes no", None)]
    #[case("truetruetruetruetruetruetruetruetrue", None)]
    fn reads_common_spellings(#[case] raw: &str, #[case] expected: Option<bool>) {
        assert_eq!(parse_boolean(raw), expected);
    }
}
