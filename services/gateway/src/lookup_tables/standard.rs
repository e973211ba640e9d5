//! The built-in standard tables (`iso-3166-1`, `iso-4217`, `unece-rec20`): read-only, the same
//! for every organisation. Every use of the vocabularies crate in the gateway goes through this
//! module.

use serde_json::{Map, Value};

// TEMPORARY until concord-vocabularies lands: a stand-in with the crate's API and a few entries.
mod vocab {
    use std::sync::OnceLock;

    use serde_json::{json, Map, Value};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct StandardTable {
        pub name: &'static str,
        pub title: &'static str,
        pub description: &'static str,
        pub source: &'static str,
    }

    #[derive(Debug, Clone, PartialEq)]
    pub struct StandardEntry {
        pub code: String,
        pub label: String,
        pub aliases: Vec<String>,
        pub attributes: Map<String, Value>,
    }

    static TABLES: [StandardTable; 3] = [
        StandardTable {
            name: "iso-3166-1",
            title: "Countries (ISO 3166-1)",
            description: "Countries (stand-in)",
            source: "stand-in",
        },
        StandardTable {
            name: "iso-4217",
            title: "Currencies (ISO 4217)",
            description: "Currencies (stand-in)",
            source: "stand-in",
        },
        StandardTable {
            name: "unece-rec20",
            title: "Units of measure (UN/ECE Recommendation 20)",
            description: "Units (stand-in)",
            source: "stand-in",
        },
    ];

    pub fn standard_tables() -> &'static [StandardTable] {
        &TABLES
    }

    pub fn find(name: &str) -> Option<&'static StandardTable> {
        TABLES.iter().find(|t| t.name == name)
    }

    fn entry(code: &str, label: &str, aliases: &[&str], attributes: Value) -> StandardEntry {
        StandardEntry {
            code: code.to_owned(),
            label: label.to_owned(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            attributes: match attributes {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }

    pub fn entries(name: &str) -> Option<&'static [StandardEntry]> {
        static COUNTRIES: OnceLock<Vec<StandardEntry>> = OnceLock::new();
        static CURRENCIES: OnceLock<Vec<StandardEntry>> = OnceLock::new();
        static UNITS: OnceLock<Vec<StandardEntry>> = OnceLock::new();
        Some(match name {
            "iso-3166-1" => COUNTRIES.get_or_init(|| {
                vec![
                    entry(
                        "DE",
                        "Germany",
                        &["DEU", "Deutschland"],
                        json!({"alpha3": "DEU"}),
                    ),
                    entry("FR", "France", &["FRA"], json!({"alpha3": "FRA"})),
                    entry("US", "United States", &["USA"], json!({"alpha3": "USA"})),
                ]
            }),
            "iso-4217" => CURRENCIES.get_or_init(|| {
                vec![
                    entry("EUR", "Euro", &["€"], json!({"minor_units": 2})),
                    entry("USD", "US Dollar", &["$", "US$"], json!({"minor_units": 2})),
                ]
            }),
            "unece-rec20" => UNITS.get_or_init(|| {
                vec![
                    entry("H87", "piece", &["pcs"], json!({})),
                    entry("KGM", "kilogram", &["kg"], json!({})),
                ]
            }),
            _ => return None,
        })
    }
}

/// A built-in table.
#[derive(Debug, Clone, Copy)]
pub struct BuiltIn {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub source: &'static str,
    pub entry_count: usize,
}

/// One entry of a built-in table.
#[derive(Debug, Clone, Copy)]
pub struct BuiltInEntry {
    pub code: &'static str,
    pub label: &'static str,
    pub aliases: &'static [String],
    pub attributes: &'static Map<String, Value>,
}

fn built_in(table: &'static vocab::StandardTable) -> BuiltIn {
    BuiltIn {
        name: table.name,
        title: table.title,
        description: table.description,
        source: table.source,
        entry_count: vocab::entries(table.name).map_or(0, <[_]>::len),
    }
}

/// Every built-in table, in a fixed order.
pub fn tables() -> impl ExactSizeIterator<Item = BuiltIn> {
    vocab::standard_tables().iter().map(built_in)
}

/// The built-in table of that name (exactly as written).
pub fn find(name: &str) -> Option<BuiltIn> {
    vocab::find(name).map(built_in)
}

/// The built-in table whose name equals this one ignoring ASCII case (for rejecting names that
/// would be confused with it).
pub fn find_ignoring_case(name: &str) -> Option<BuiltIn> {
    vocab::standard_tables()
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
        .map(built_in)
}

/// The names of the built-in tables.
pub fn names() -> impl ExactSizeIterator<Item = &'static str> {
    vocab::standard_tables().iter().map(|t| t.name)
}

/// The entries of a built-in table, in its order (empty for an unknown name).
pub fn entries(name: &str) -> impl ExactSizeIterator<Item = BuiltInEntry> {
    vocab::entries(name)
        .unwrap_or(&[])
        .iter()
        .map(|e| BuiltInEntry {
            code: &e.code,
            label: &e.label,
            aliases: &e.aliases,
            attributes: &e.attributes,
        })
}
