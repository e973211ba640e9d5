//! The built-in standard tables (`iso-3166-1`, `iso-4217`, `unece-rec20`): read-only, the same
//! for every organisation. Every use of the vocabularies crate in the gateway goes through this
//! module: the rest of the gateway sees only [`BuiltIn`] and [`BuiltInEntry`].

use serde_json::{Map, Value};

use concord_vocabularies as vocab;

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
