//! Data policies: the output contract of a resolution (its *fields*) and the *rules* that fill
//! each field from a document's raw values. A [`PolicyDocument`] (the body of
//! `PUT /v1/data-policies/{id}`) is compiled once into a [`CompiledPolicy`] — validated, with
//! every regex and expression compiled and the fields put in dependency order — and the compiled
//! policy then resolves any number of documents ([`CompiledPolicy::resolve`]), from any number of
//! threads (it is `Send + Sync` and immutable). Pure and total like the rest of the core: no I/O,
//! and no panic on any document, any policy, any expression.
//!
//! # Fields
//!
//! `{"field_key": "country", "type": "code", "description": "..."}`. The key is non-empty,
//! unique within the policy and an identifier (`[A-Za-z_][A-Za-z0-9_]*`, so that an expression
//! can name it); the type is one of `string`, `number`, `date`, `boolean`, `code`
//! ([`FieldType`]). A field without any rule is always unresolved.
//!
//! # Rules
//!
//! `{"rule_type": "...", "target_field": "...", "config": {...}}`. Unknown config keys are
//! rejected. Where a rule reads one value, it reads either `source_field` — a key of the
//! document's raw values, free-form — or `from_field` — another policy field, whose resolved
//! value it reads as text ([`ResolvedValue::to_text`]: numbers shortest with a `.` mark, dates
//! `YYYY-MM-DD`, booleans `true`/`false`). Exactly one of the two is required.
//!
//! | rule_type | config | yields | step |
//! | --- | --- | --- | --- |
//! | `direct` | source | the value trimmed, read as the field's type by the core's parsers (date: [`parse_date`](crate::parse::parse_date), number: [`parse_amount_with`](crate::parse::parse_amount_with), boolean: [`parse_boolean`](crate::parse::parse_boolean), string/code: the trimmed text) | `direct` |
//! | `lookup` | source, `table`, `threshold` (0..=1, default 0.85), `margin` (0..=1, default 0.05), `fallback` (`"llm"` or `"none"`, default `"none"`) | the code of the table's entry that [`LookupIndex::resolve`] finds; `code` and `string` fields only | `lookup` |
//! | `parse_date` | source, `order` (`"dmy"`, `"mdy"` or `"ymd"`) | a date; `date` fields only. `order` decides ambiguous `A/B/Y` dates (`dmy` day-first, `mdy` month-first; `ymd` states no preference, as year-first dates are never ambiguous, so the parser's day-first default applies) | `parse` |
//! | `parse_number` | source, `decimal_mark` (`"."` or `","`) | a number; `number` fields only. The mark only decides a lone separator followed by three digits (`1.234`); see [`crate::parse::amount`] | `parse` |
//! | `regex_extract` | source, `pattern`, `group` (index or name; default 1 when the pattern has a group, else 0) | the group's text of the first match, read as the field's type like `direct` | `parse` |
//! | `compute` | `expression` | the value of a Rhai expression over the other fields, converted to the field's type | `compute` |
//! | `format` | `template`, `case` (`upper`, `lower`, `title`, `none`), `trim` (default false) | the template with every `{field_key}` replaced by that field's text (`{{`/`}}` are literal braces); `string` and `code` fields only | `format` |
//! | `default` | `value` (JSON that fits the field's type, see [`ResolvedValue::from_json`]) | that value | `direct` |
//!
//! # Evaluation of one field
//!
//! 1. The *producing* rules (all but `default` and `format`) are tried in the order given; the
//!    first that yields a value decides the field. A rule whose source is missing or empty, whose
//!    value does not parse, whose regex does not match, whose lookup abstains with
//!    `fallback: "none"` or whose expression fails yields nothing, and the next one is tried.
//! 2. When none yielded, the field's `default` rule (at most one per field, wherever it is
//!    listed) gives its value.
//! 3. Then every `format` rule of the field runs, in order, on the value so far: a `{target}`
//!    placeholder naming the field itself stands for that value. A format whose placeholders do
//!    not all have a value (the field's own value included) leaves the value as it was; a field
//!    with a format rule and no producing rule is a derived field (`"{first} {last}"`).
//!
//! **Waiting.** A `lookup` with `fallback: "llm"` that abstains on a non-empty value stops the
//! field there: it is [`ResolutionStatus::Waiting`] for the LLM, with no value, the lookup's
//! candidates, and no later rule, default or format applied. A rule that reads a waiting field
//! (`from_field`, an expression variable, a template placeholder) makes its own field wait too
//! (reason `waiting on <field>`), so that once the LLM has decided, the service can resolve the
//! document again with [`CompiledPolicy::resolve_with`] and the decided values, which are taken
//! as given (step `llm`) and flow into every field that reads them.
//!
//! **Confidence** is in `[0, 1]`: 1.0 for `direct`, `default` and the parsers, except
//! [`AMBIGUOUS_DATE_CONFIDENCE`] for a date whose day and month could be swapped (by any rule
//! that reads a date); a lookup's is the cascade's ([`crate::lookup::LookupOutcome::confidence`]);
//! a rule that reads another field (`from_field`) multiplies by that field's confidence; `compute`
//! and `format` take the smallest confidence of the fields they read that have a value (1.0 when
//! they read none). An unresolved or waiting field has confidence 0 — except that a waiting field
//! keeps the best candidate's score.
//!
//! **Unresolved** fields carry a short `reason`: `missing` when no rule found a non-empty value,
//! else the failure of the last rule that read one (`not a date`, `no match`,
//! `lookup abstained: ambiguous`, `compute: timed out`, ...), with that rule's index and the raw
//! value it read. The candidates of the last lookup tried are kept on an unresolved field.
//!
//! # Dependencies
//!
//! A field depends on every other field its rules read: `from_field`, the variables of its
//! expressions, the placeholders of its templates. Fields are evaluated in a topological order of
//! that graph that otherwise keeps the declaration order; a cycle is rejected when the policy is
//! compiled (`cycle: gross → net → gross`). Results are returned in the declared order.
//!
//! # Expressions
//!
//! `compute` expressions are [Rhai](https://rhai.rs) *expressions* (no statements, loops,
//! functions, modules, arrays or maps — those are compiled out of the engine), with the standard
//! operators and the core, logic, math and string functions, and strict variables: every
//! variable is a policy field other than the target, checked when the policy is compiled. A
//! variable holds the field's value — a number as a float, a date as `"YYYY-MM-DD"`, a boolean,
//! text as a string — or `()` when the field has none. An expression is compiled once and
//! evaluated under [`EvalLimits`]: an operation budget and a wall-clock limit per evaluation
//! (50 ms by default), a maximum string size and expression depth. Its result — a float, an
//! integer, a boolean or a string, read as the field's type like `direct` reads text — decides the
//! field; `()`, a runtime error or an exceeded limit leaves it to the next rule with a reason.

mod compile;
mod compute;
mod document;
mod eval;
mod template;
#[cfg(test)]
mod tests;
mod value;

use std::borrow::{Borrow, Cow};
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::time::Duration;

use serde_json::Value;

use crate::lookup::{LookupCandidate, LookupIndex};

pub use compile::{CompiledPolicy, PolicyField, MAX_FIELDS, RULE_TYPES};
pub use document::{FieldSpec, PolicyDocument, PolicyError, RuleSpec};
pub use value::{format_number, Decimal, FieldType, ResolvedValue, AMBIGUOUS_DATE_CONFIDENCE};

/// The raw values of one document, by key.
pub trait DocumentValues {
    /// The raw value under `key`, if any.
    fn get(&self, key: &str) -> Option<Cow<'_, str>>;
}

impl<S: BuildHasher> DocumentValues for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        HashMap::get(self, key).map(|v| Cow::Borrowed(v.as_str()))
    }
}

impl DocumentValues for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        BTreeMap::get(self, key).map(|v| Cow::Borrowed(v.as_str()))
    }
}

/// Strings as they are; numbers and booleans as their JSON text; `null`, arrays and objects are
/// no value.
impl DocumentValues for serde_json::Map<String, Value> {
    fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        match serde_json::Map::get(self, key)? {
            Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Value::Null | Value::Array(_) | Value::Object(_) => None,
        }
    }
}

impl<T: DocumentValues + ?Sized> DocumentValues for &T {
    fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        (**self).get(key)
    }
}

/// The lookup tables a policy's `lookup` rules name, by name.
pub trait LookupTables {
    /// The compiled table called `name`, if loaded.
    fn get(&self, name: &str) -> Option<&LookupIndex>;
}

impl<T: Borrow<LookupIndex>, S: BuildHasher> LookupTables for HashMap<String, T, S> {
    fn get(&self, name: &str) -> Option<&LookupIndex> {
        HashMap::get(self, name).map(Borrow::borrow)
    }
}

impl<T: Borrow<LookupIndex>> LookupTables for BTreeMap<String, T> {
    fn get(&self, name: &str) -> Option<&LookupIndex> {
        BTreeMap::get(self, name).map(Borrow::borrow)
    }
}

/// No lookup table at all (for policies without `lookup` rules).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTables;

impl LookupTables for NoTables {
    fn get(&self, _name: &str) -> Option<&LookupIndex> {
        None
    }
}

/// Limits on `compute` expressions. `time_limit` and `max_operations` apply to each evaluation
/// as given to [`CompiledPolicy::resolve`]; the other limits are fixed when the policy is
/// compiled ([`CompiledPolicy::compile_with_limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalLimits {
    /// Wall-clock time one evaluation may take (default 50 ms).
    pub time_limit: Duration,
    /// Operations one evaluation may perform (default 100,000).
    pub max_operations: u64,
    /// The longest string an evaluation may build, in bytes (default 64 KiB).
    pub max_string_size: usize,
    /// The deepest nesting of an expression (default 64).
    pub max_expr_depth: usize,
    /// The longest expression text, in bytes (default 4 KiB).
    pub max_expression_len: usize,
}

impl Default for EvalLimits {
    fn default() -> Self {
        EvalLimits {
            time_limit: Duration::from_millis(50),
            max_operations: 100_000,
            max_string_size: 64 * 1024,
            max_expr_depth: 64,
            max_expression_len: 4096,
        }
    }
}

/// How a field's value was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResolutionStep {
    Lookup,
    Direct,
    Parse,
    Compute,
    Format,
    Llm,
}

impl ResolutionStep {
    /// `lookup`, `direct`, `parse`, `compute`, `format` or `llm`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolutionStep::Lookup => "lookup",
            ResolutionStep::Direct => "direct",
            ResolutionStep::Parse => "parse",
            ResolutionStep::Compute => "compute",
            ResolutionStep::Format => "format",
            ResolutionStep::Llm => "llm",
        }
    }
}

/// Whether a field got a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResolutionStatus {
    Resolved,
    Unresolved,
    /// An LLM is to choose among the candidates (or a field it reads is waiting for one).
    Waiting,
}

impl ResolutionStatus {
    /// `resolved`, `unresolved` or `waiting`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolutionStatus::Resolved => "resolved",
            ResolutionStatus::Unresolved => "unresolved",
            ResolutionStatus::Waiting => "waiting",
        }
    }
}

/// The resolution of one policy field for one document.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldResolution {
    pub field_key: String,
    /// The raw value the deciding rule read (for an unresolved or waiting field: the value the
    /// rule that gave the reason read).
    pub original_value: Option<String>,
    /// `Some` exactly when `status` is [`ResolutionStatus::Resolved`].
    pub value: Option<ResolvedValue>,
    pub step: Option<ResolutionStep>,
    /// In `[0, 1]`.
    pub confidence: f64,
    pub status: ResolutionStatus,
    /// What a lookup weighed, best first.
    pub candidates: Vec<LookupCandidate>,
    /// The index (in the policy's `rules`) of the deciding rule, or of the rule that gave the
    /// reason.
    pub rule: Option<usize>,
    /// Why the field is unresolved or waiting, short.
    pub reason: Option<String>,
}

/// A value decided outside the policy (by the LLM) for [`CompiledPolicy::resolve_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    /// The decided value, `None` when the LLM chose none of the candidates (the field then
    /// continues with its next rules, default and formats as if the lookup had abstained with
    /// `fallback: "none"`).
    pub value: Option<ResolvedValue>,
    /// In `[0, 1]`.
    pub confidence: f64,
}
