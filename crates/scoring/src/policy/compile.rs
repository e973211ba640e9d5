//! Compilation of a [`PolicyDocument`] into a [`CompiledPolicy`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use regex::{Regex, RegexBuilder};
use rhai::Engine;
use serde::Deserialize;
use serde_json::Value;

use super::compute::{compile_expression, Expression};
use super::document::{serde_field_name, PolicyDocument, PolicyError};
use super::template::{parse_template, Case, Piece};
use super::value::{FieldType, ResolvedValue};
use super::EvalLimits;
use crate::lookup::{LookupParams, DEFAULT_MARGIN, DEFAULT_THRESHOLD};
use crate::parse::{DateOrder, DecimalMark};

/// Every rule type, in the order error messages list them.
pub const RULE_TYPES: [&str; 8] = [
    "direct",
    "lookup",
    "parse_date",
    "parse_number",
    "regex_extract",
    "compute",
    "format",
    "default",
];

/// The longest regex pattern, in bytes.
const MAX_PATTERN_LEN: usize = 1024;
/// The compiled size a regex may take.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// The most fields and rules a policy may have.
pub const MAX_FIELDS: usize = 1000;
const MAX_RULES: usize = 5000;
/// The longest field key, in bytes.
const MAX_KEY_LEN: usize = 128;

/// One field of a compiled policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyField {
    pub key: String,
    pub field_type: FieldType,
    pub description: Option<String>,
}

/// Where a rule reads its value.
#[derive(Debug, Clone)]
pub(super) enum Source {
    /// A key of the document's raw values.
    Raw(String),
    /// Another policy field (its index).
    Field(usize),
}

#[derive(Debug, Clone)]
pub(super) enum Group {
    Index(usize),
    Name(String),
}

#[derive(Debug, Clone)]
pub(super) enum RuleKind {
    Direct {
        source: Source,
    },
    Lookup {
        source: Source,
        table: String,
        params: LookupParams,
        llm: bool,
    },
    ParseDate {
        source: Source,
        order: Option<DateOrder>,
    },
    ParseNumber {
        source: Source,
        mark: Option<DecimalMark>,
    },
    RegexExtract {
        source: Source,
        regex: Regex,
        group: Group,
    },
    Compute {
        expr: Box<Expression>,
    },
    Format {
        pieces: Vec<Piece<usize>>,
        /// The fields the template reads (the target included when it names it).
        reads: Vec<usize>,
        case: Case,
        trim: bool,
    },
    Default {
        value: ResolvedValue,
    },
}

#[derive(Debug, Clone)]
pub(super) struct Rule {
    /// The index in the policy's `rules`.
    pub(super) index: usize,
    pub(super) kind: RuleKind,
}

/// The rules of one field, by role.
#[derive(Debug, Clone, Default)]
pub(super) struct Plan {
    pub(super) producers: Vec<Rule>,
    pub(super) default: Option<Rule>,
    pub(super) formats: Vec<Rule>,
}

/// A validated policy, ready to resolve documents: immutable, `Send + Sync`, cheap to share.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub(super) fields: Vec<PolicyField>,
    pub(super) plans: Vec<Plan>,
    /// Field indexes in evaluation order.
    pub(super) order: Vec<usize>,
    /// Present when some rule is a `compute`.
    pub(super) engine: Option<Arc<Engine>>,
    tables: Vec<String>,
    has_llm_fallback: bool,
}

// A compiled policy is shared across threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledPolicy>();
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectConfig {
    source_field: Option<String>,
    from_field: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Fallback {
    Llm,
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupConfig {
    table: String,
    source_field: Option<String>,
    from_field: Option<String>,
    threshold: Option<f64>,
    margin: Option<f64>,
    fallback: Option<Fallback>,
}

#[derive(Debug, Deserialize)]
enum Order {
    #[serde(rename = "dmy")]
    Dmy,
    #[serde(rename = "mdy")]
    Mdy,
    #[serde(rename = "ymd")]
    Ymd,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParseDateConfig {
    source_field: Option<String>,
    from_field: Option<String>,
    order: Option<Order>,
}

#[derive(Debug, Deserialize)]
enum Mark {
    #[serde(rename = ".")]
    Point,
    #[serde(rename = ",")]
    Comma,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParseNumberConfig {
    source_field: Option<String>,
    from_field: Option<String>,
    decimal_mark: Option<Mark>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum GroupRef {
    Index(u64),
    Name(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegexConfig {
    source_field: Option<String>,
    from_field: Option<String>,
    pattern: String,
    group: Option<GroupRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComputeConfig {
    expression: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatConfig {
    template: String,
    #[serde(default)]
    case: Case,
    #[serde(default)]
    trim: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultConfig {
    value: Value,
}

/// Whether `key` is an identifier an expression can name.
fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The error collector of one compilation.
struct Errors(Vec<PolicyError>);

impl Errors {
    fn field(&mut self, i: usize, key: &str, message: String) {
        self.0.push(PolicyError {
            path: format!("fields[{i}].{key}"),
            rule: None,
            message: format!("field {i}: {message}"),
        });
    }
}

/// The context of the rule being compiled.
struct RuleCx<'a> {
    index: usize,
    rule_type: &'a str,
    target_key: &'a str,
}

impl RuleCx<'_> {
    fn error(&self, errors: &mut Errors, key: &str, message: impl std::fmt::Display) {
        let path = if key.is_empty() {
            format!("rules[{}]", self.index)
        } else {
            format!("rules[{}].{key}", self.index)
        };
        errors.0.push(PolicyError {
            path,
            rule: Some(self.index),
            message: format!(
                "rule {} ({} → {}): {message}",
                self.index, self.rule_type, self.target_key
            ),
        });
    }
}

impl CompiledPolicy {
    /// Validates and compiles `doc` with the default [`EvalLimits`]. `known_tables` says whether
    /// a lookup table of that name exists. Every problem is reported, each with its path.
    pub fn compile(
        doc: &PolicyDocument,
        known_tables: &dyn Fn(&str) -> bool,
    ) -> Result<CompiledPolicy, Vec<PolicyError>> {
        Self::compile_with_limits(doc, known_tables, &EvalLimits::default())
    }

    /// [`CompiledPolicy::compile`] with the structural limits of `limits` for expressions.
    pub fn compile_with_limits(
        doc: &PolicyDocument,
        known_tables: &dyn Fn(&str) -> bool,
        limits: &EvalLimits,
    ) -> Result<CompiledPolicy, Vec<PolicyError>> {
        let mut errors = Errors(Vec::new());
        if doc.fields.len() > MAX_FIELDS {
            errors.0.push(PolicyError {
                path: "fields".into(),
                rule: None,
                message: format!("a policy has at most {MAX_FIELDS} fields"),
            });
            return Err(errors.0);
        }
        if doc.rules.len() > MAX_RULES {
            errors.0.push(PolicyError {
                path: "rules".into(),
                rule: None,
                message: format!("a policy has at most {MAX_RULES} rules"),
            });
            return Err(errors.0);
        }

        // Fields.
        let mut fields: Vec<PolicyField> = Vec::with_capacity(doc.fields.len());
        let mut by_key: HashMap<&str, usize> = HashMap::new();
        for (i, spec) in doc.fields.iter().enumerate() {
            let key = spec.field_key.as_str();
            if key.is_empty() {
                errors.field(i, "field_key", "the field_key is empty".into());
            } else if key.len() > MAX_KEY_LEN || !is_identifier(key) {
                errors.field(
                    i,
                    "field_key",
                    format!(
                        "field_key \"{}\" is not an identifier (letters, digits and '_', not starting with a digit, at most {MAX_KEY_LEN} bytes)",
                        shorten(key)
                    ),
                );
            } else if let Some(first) = by_key.get(key) {
                errors.field(
                    i,
                    "field_key",
                    format!("duplicate field_key \"{key}\" (also fields[{first}])"),
                );
            }
            let field_type = FieldType::parse(&spec.field_type).unwrap_or_else(|| {
                let names: Vec<&str> = FieldType::ALL.iter().map(|t| t.as_str()).collect();
                errors.field(
                    i,
                    "type",
                    format!(
                        "unknown type \"{}\" (expected one of {})",
                        shorten(&spec.field_type),
                        names.join(", ")
                    ),
                );
                FieldType::String
            });
            if !key.is_empty() {
                by_key.entry(key).or_insert(i);
            }
            fields.push(PolicyField {
                key: spec.field_key.clone(),
                field_type,
                description: spec.description.clone(),
            });
        }
        let field_list: Vec<(String, usize)> =
            by_key.iter().map(|(k, i)| ((*k).to_owned(), *i)).collect();

        // Rules.
        let needs_engine = doc.rules.iter().any(|r| r.rule_type == "compute");
        let engine = needs_engine.then(|| Arc::new(super::compute::engine(limits)));
        let mut plans: Vec<Plan> = vec![Plan::default(); fields.len()];
        // deps[f] = the fields f reads, with the first rule that reads each.
        let mut deps: Vec<Vec<(usize, usize)>> = vec![Vec::new(); fields.len()];
        let mut tables: Vec<String> = Vec::new();
        let mut has_llm_fallback = false;
        for (r, spec) in doc.rules.iter().enumerate() {
            let cx = RuleCx {
                index: r,
                rule_type: &spec.rule_type,
                target_key: &spec.target_field,
            };
            let target = by_key.get(spec.target_field.as_str()).copied();
            if target.is_none() {
                cx.error(
                    &mut errors,
                    "target_field",
                    format!("unknown target_field \"{}\"", shorten(&spec.target_field)),
                );
            }
            if !RULE_TYPES.contains(&spec.rule_type.as_str()) {
                cx.error(
                    &mut errors,
                    "rule_type",
                    format!(
                        "unknown rule_type \"{}\" (expected one of {})",
                        shorten(&spec.rule_type),
                        RULE_TYPES.join(", ")
                    ),
                );
                continue;
            }
            if !spec.config.is_object() {
                cx.error(&mut errors, "config", "config must be a JSON object");
                continue;
            }
            let Some(target) = target else { continue };
            let target_type = fields
                .get(target)
                .map_or(FieldType::String, |f| f.field_type);
            let mut reads: Vec<usize> = Vec::new();
            let kind = compile_rule(
                &cx,
                spec.rule_type.as_str(),
                &spec.config,
                target,
                target_type,
                &by_key,
                &field_list,
                engine.as_deref(),
                limits,
                known_tables,
                &mut reads,
                &mut errors,
            );
            for f in reads {
                if f != target && !deps[target].iter().any(|(d, _)| *d == f) {
                    deps[target].push((f, r));
                }
            }
            let Some(kind) = kind else { continue };
            if let RuleKind::Lookup { table, llm, .. } = &kind {
                if !tables.contains(table) {
                    tables.push(table.clone());
                }
                has_llm_fallback |= *llm;
            }
            let rule = Rule { index: r, kind };
            let plan = &mut plans[target];
            match rule.kind {
                RuleKind::Default { .. } => {
                    if let Some(first) = &plan.default {
                        cx.error(
                            &mut errors,
                            "",
                            format!(
                                "a field has at most one default rule (rules[{}] is one)",
                                first.index
                            ),
                        );
                    } else {
                        plan.default = Some(rule);
                    }
                }
                RuleKind::Format { .. } => plan.formats.push(rule),
                _ => plan.producers.push(rule),
            }
        }

        // Dependency order.
        let order = match topological_order(&deps) {
            Ok(order) => order,
            Err(cycle) => {
                report_cycles(&cycle, &deps, &fields, doc, &mut errors);
                Vec::new()
            }
        };
        if !errors.0.is_empty() {
            return Err(errors.0);
        }
        Ok(CompiledPolicy {
            fields,
            plans,
            order,
            engine,
            tables,
            has_llm_fallback,
        })
    }

    /// The fields, in the declared order.
    pub fn fields(&self) -> &[PolicyField] {
        &self.fields
    }

    /// The distinct lookup tables the `lookup` rules name, in the order first named.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// Whether some `lookup` rule falls back to the LLM.
    pub fn has_llm_fallback(&self) -> bool {
        self.has_llm_fallback
    }

    /// Per field whose `lookup` falls back to the LLM, the table that lookup uses (the first
    /// such lookup of the field): `(field key, table name)`, in the declared field order.
    pub fn llm_lookups(&self) -> Vec<(&str, &str)> {
        self.fields
            .iter()
            .zip(&self.plans)
            .filter_map(|(field, plan)| {
                plan.producers.iter().find_map(|rule| match &rule.kind {
                    RuleKind::Lookup {
                        table, llm: true, ..
                    } => Some((field.key.as_str(), table.as_str())),
                    _ => None,
                })
            })
            .collect()
    }

    /// The field keys in evaluation (dependency) order.
    pub fn evaluation_order(&self) -> impl Iterator<Item = &str> {
        self.order
            .iter()
            .filter_map(|&i| self.fields.get(i).map(|f| f.key.as_str()))
    }
}

impl PolicyDocument {
    /// The lookup table of the first `lookup` rule for the field `field_key` (what a reviewer
    /// adds a spelling to so that the field's next resolution finds it), read as the compiler
    /// reads it; `None` when no lookup rule produces the field.
    pub fn lookup_table_of(&self, field_key: &str) -> Option<String> {
        self.rules
            .iter()
            .filter(|rule| rule.rule_type == "lookup" && rule.target_field == field_key)
            .find_map(|rule| {
                serde_json::from_value::<LookupConfig>(rule.config.clone())
                    .ok()
                    .map(|config| config.table)
            })
    }

    /// The distinct lookup tables the document's `lookup` rules name, sorted, read as the
    /// compiler reads them (a rule whose config does not read names none: compiling reports it).
    pub fn lookup_tables(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .rules
            .iter()
            .filter(|rule| rule.rule_type == "lookup")
            .filter_map(|rule| {
                serde_json::from_value::<LookupConfig>(rule.config.clone())
                    .ok()
                    .map(|config| config.table)
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

fn shorten(text: &str) -> String {
    const MAX: usize = 64;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Deserializes a rule's config, reporting serde's complaint at the key it names.
fn config<T: serde::de::DeserializeOwned>(
    cx: &RuleCx<'_>,
    value: &Value,
    errors: &mut Errors,
) -> Option<T> {
    match T::deserialize(value) {
        Ok(c) => Some(c),
        Err(e) => {
            let message = e.to_string();
            let key = serde_field_name(&message)
                .map(|k| format!("config.{k}"))
                .unwrap_or_else(|| "config".to_owned());
            cx.error(errors, &key, message);
            None
        }
    }
}

/// Resolves `source_field` / `from_field` into a [`Source`].
fn source(
    cx: &RuleCx<'_>,
    source_field: Option<String>,
    from_field: Option<String>,
    target: usize,
    by_key: &HashMap<&str, usize>,
    reads: &mut Vec<usize>,
    errors: &mut Errors,
) -> Option<Source> {
    match (source_field, from_field) {
        (Some(raw), None) => {
            if raw.trim().is_empty() {
                cx.error(errors, "config.source_field", "source_field is empty");
                None
            } else {
                Some(Source::Raw(raw))
            }
        }
        (None, Some(from)) => match by_key.get(from.as_str()) {
            Some(&f) if f == target => {
                cx.error(
                    errors,
                    "config.from_field",
                    format!("from_field \"{from}\" is the rule's own target field"),
                );
                None
            }
            Some(&f) => {
                reads.push(f);
                Some(Source::Field(f))
            }
            None => {
                cx.error(
                    errors,
                    "config.from_field",
                    format!("unknown from_field \"{}\"", shorten(&from)),
                );
                None
            }
        },
        (Some(_), Some(_)) => {
            cx.error(
                errors,
                "config",
                "give either source_field or from_field, not both",
            );
            None
        }
        (None, None) => {
            cx.error(
                errors,
                "config.source_field",
                "missing source_field (or from_field)",
            );
            None
        }
    }
}

fn require_type(
    cx: &RuleCx<'_>,
    target_type: FieldType,
    allowed: &[FieldType],
    errors: &mut Errors,
) -> bool {
    if allowed.contains(&target_type) {
        return true;
    }
    let names: Vec<&str> = allowed.iter().map(|t| t.as_str()).collect();
    cx.error(
        errors,
        "target_field",
        format!(
            "a {} rule fills {} fields, and \"{}\" is a {}",
            cx.rule_type,
            names.join(" or "),
            cx.target_key,
            target_type.as_str()
        ),
    );
    false
}

fn unit_interval(
    cx: &RuleCx<'_>,
    name: &str,
    value: Option<f64>,
    default: f64,
    errors: &mut Errors,
) -> f64 {
    match value {
        None => default,
        Some(v) if (0.0..=1.0).contains(&v) => v,
        Some(v) => {
            cx.error(
                errors,
                &format!("config.{name}"),
                format!("{name} {v} is out of range (0 to 1)"),
            );
            default
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn compile_rule(
    cx: &RuleCx<'_>,
    rule_type: &str,
    raw: &Value,
    target: usize,
    target_type: FieldType,
    by_key: &HashMap<&str, usize>,
    field_list: &[(String, usize)],
    engine: Option<&Engine>,
    limits: &EvalLimits,
    known_tables: &dyn Fn(&str) -> bool,
    reads: &mut Vec<usize>,
    errors: &mut Errors,
) -> Option<RuleKind> {
    match rule_type {
        "direct" => {
            let c: DirectConfig = config(cx, raw, errors)?;
            let source = source(
                cx,
                c.source_field,
                c.from_field,
                target,
                by_key,
                reads,
                errors,
            )?;
            Some(RuleKind::Direct { source })
        }
        "lookup" => {
            let c: LookupConfig = config(cx, raw, errors)?;
            let type_ok = require_type(
                cx,
                target_type,
                &[FieldType::Code, FieldType::String],
                errors,
            );
            let table_ok = if c.table.trim().is_empty() {
                cx.error(errors, "config.table", "the table name is empty");
                false
            } else if !known_tables(&c.table) {
                cx.error(
                    errors,
                    "config.table",
                    format!("unknown lookup table \"{}\"", shorten(&c.table)),
                );
                false
            } else {
                true
            };
            let threshold = unit_interval(cx, "threshold", c.threshold, DEFAULT_THRESHOLD, errors);
            let margin = unit_interval(cx, "margin", c.margin, DEFAULT_MARGIN, errors);
            let source = source(
                cx,
                c.source_field,
                c.from_field,
                target,
                by_key,
                reads,
                errors,
            )?;
            (type_ok && table_ok).then(|| RuleKind::Lookup {
                source,
                table: c.table,
                params: LookupParams { threshold, margin },
                llm: matches!(c.fallback, Some(Fallback::Llm)),
            })
        }
        "parse_date" => {
            let c: ParseDateConfig = config(cx, raw, errors)?;
            let type_ok = require_type(cx, target_type, &[FieldType::Date], errors);
            let source = source(
                cx,
                c.source_field,
                c.from_field,
                target,
                by_key,
                reads,
                errors,
            )?;
            let order = match c.order {
                Some(Order::Dmy) => Some(DateOrder::DayFirst),
                Some(Order::Mdy) => Some(DateOrder::MonthFirst),
                Some(Order::Ymd) | None => None,
            };
            type_ok.then_some(RuleKind::ParseDate { source, order })
        }
        "parse_number" => {
            let c: ParseNumberConfig = config(cx, raw, errors)?;
            let type_ok = require_type(cx, target_type, &[FieldType::Number], errors);
            let source = source(
                cx,
                c.source_field,
                c.from_field,
                target,
                by_key,
                reads,
                errors,
            )?;
            let mark = c.decimal_mark.map(|m| match m {
                Mark::Point => DecimalMark::Point,
                Mark::Comma => DecimalMark::Comma,
            });
            type_ok.then_some(RuleKind::ParseNumber { source, mark })
        }
        "regex_extract" => {
            let c: RegexConfig = config(cx, raw, errors)?;
            let source = source(
                cx,
                c.source_field,
                c.from_field,
                target,
                by_key,
                reads,
                errors,
            );
            let regex = compile_regex(cx, &c.pattern, errors)?;
            let groups = regex.captures_len();
            let group = match c.group {
                None => Group::Index(usize::from(groups > 1)),
                Some(GroupRef::Index(i)) => match usize::try_from(i) {
                    Ok(i) if i < groups => Group::Index(i),
                    _ => {
                        cx.error(
                            errors,
                            "config.group",
                            format!(
                                "group {i} does not exist (the pattern has {} group{})",
                                groups.saturating_sub(1),
                                if groups == 2 { "" } else { "s" }
                            ),
                        );
                        return None;
                    }
                },
                Some(GroupRef::Name(name)) => {
                    if regex.capture_names().flatten().any(|n| n == name) {
                        Group::Name(name)
                    } else {
                        cx.error(
                            errors,
                            "config.group",
                            format!("the pattern has no group named \"{}\"", shorten(&name)),
                        );
                        return None;
                    }
                }
            };
            Some(RuleKind::RegexExtract {
                source: source?,
                regex,
                group,
            })
        }
        "compute" => {
            let c: ComputeConfig = config(cx, raw, errors)?;
            let engine = engine?;
            match compile_expression(engine, &c.expression, field_list, target, limits) {
                Ok(expr) => {
                    reads.extend(expr.vars.iter().map(|(i, _)| *i));
                    Some(RuleKind::Compute {
                        expr: Box::new(expr),
                    })
                }
                Err(message) => {
                    cx.error(errors, "config.expression", message);
                    None
                }
            }
        }
        "format" => {
            let c: FormatConfig = config(cx, raw, errors)?;
            let type_ok = require_type(
                cx,
                target_type,
                &[FieldType::String, FieldType::Code],
                errors,
            );
            match parse_template(&c.template, |name| by_key.get(name).copied()) {
                Ok(pieces) => {
                    let mut template_reads: Vec<usize> = Vec::new();
                    for p in &pieces {
                        if let Piece::Field(f) = p {
                            if !template_reads.contains(f) {
                                template_reads.push(*f);
                            }
                        }
                    }
                    reads.extend(template_reads.iter().copied());
                    type_ok.then_some(RuleKind::Format {
                        pieces,
                        reads: template_reads,
                        case: c.case,
                        trim: c.trim,
                    })
                }
                Err(message) => {
                    cx.error(errors, "config.template", message);
                    None
                }
            }
        }
        "default" => {
            let c: DefaultConfig = config(cx, raw, errors)?;
            match ResolvedValue::from_json(&target_type, &c.value) {
                Some(value) => Some(RuleKind::Default { value }),
                None => {
                    cx.error(
                        errors,
                        "config.value",
                        format!(
                            "the default value {} is not a {} (field \"{}\")",
                            shorten(&c.value.to_string()),
                            target_type.as_str(),
                            cx.target_key
                        ),
                    );
                    None
                }
            }
        }
        _ => None,
    }
}

fn compile_regex(cx: &RuleCx<'_>, pattern: &str, errors: &mut Errors) -> Option<Regex> {
    if pattern.is_empty() {
        cx.error(errors, "config.pattern", "the pattern is empty");
        return None;
    }
    if pattern.len() > MAX_PATTERN_LEN {
        cx.error(
            errors,
            "config.pattern",
            format!("the pattern is longer than {MAX_PATTERN_LEN} bytes"),
        );
        return None;
    }
    match RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(64)
        .build()
    {
        Ok(regex) => Some(regex),
        Err(e) => {
            let text = e.to_string();
            // The regex crate's messages span several lines: make them one.
            let text: Vec<&str> = text.split_whitespace().collect();
            cx.error(
                errors,
                "config.pattern",
                format!("invalid pattern: {}", text.join(" ")),
            );
            None
        }
    }
}

/// Kahn's algorithm, taking among the ready fields always the first declared. `Err` holds the
/// fields left on or behind a cycle.
fn topological_order(deps: &[Vec<(usize, usize)>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = deps.len();
    let mut missing: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (f, ds) in deps.iter().enumerate() {
        for &(d, _) in ds {
            if let Some(list) = dependents.get_mut(d) {
                list.push(f);
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = missing
        .iter()
        .enumerate()
        .filter(|(_, m)| **m == 0)
        .map(|(i, _)| Reverse(i))
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(f)) = ready.pop() {
        order.push(f);
        for &g in dependents.get(f).map(Vec::as_slice).unwrap_or_default() {
            if let Some(m) = missing.get_mut(g) {
                *m -= 1;
                if *m == 0 {
                    ready.push(Reverse(g));
                }
            }
        }
    }
    if order.len() == n {
        Ok(order)
    } else {
        Err((0..n).filter(|f| !order.contains(f)).collect())
    }
}

/// Reports each cycle among `left` (the fields Kahn's algorithm could not order) once: walks
/// from the first declared field left, along dependencies that stay among the left, until a field
/// repeats.
fn report_cycles(
    left: &[usize],
    deps: &[Vec<(usize, usize)>],
    fields: &[PolicyField],
    doc: &PolicyDocument,
    errors: &mut Errors,
) {
    let mut reported: Vec<usize> = Vec::new();
    for &start in left {
        if reported.contains(&start) {
            continue;
        }
        let mut path: Vec<usize> = vec![start];
        let mut via: Vec<usize> = Vec::new();
        let mut current = start;
        let cycle_start = loop {
            let next = deps
                .get(current)
                .and_then(|ds| ds.iter().find(|(d, _)| left.contains(d)));
            let Some(&(next, rule)) = next else {
                break None;
            };
            via.push(rule);
            if let Some(pos) = path.iter().position(|&p| p == next) {
                break Some(pos);
            }
            path.push(next);
            current = next;
        };
        let Some(pos) = cycle_start else { continue };
        let cycle = &path[pos..];
        if cycle.iter().any(|f| reported.contains(f)) {
            continue;
        }
        reported.extend_from_slice(cycle);
        let names: Vec<&str> = cycle
            .iter()
            .chain(cycle.first())
            .filter_map(|&f| fields.get(f).map(|x| x.key.as_str()))
            .collect();
        let rule = via.get(pos).copied().unwrap_or(0);
        let rule_type = doc.rules.get(rule).map_or("", |r| r.rule_type.as_str());
        let target = doc.rules.get(rule).map_or("", |r| r.target_field.as_str());
        RuleCx {
            index: rule,
            rule_type,
            target_key: target,
        }
        .error(errors, "", format!("cycle: {}", names.join(" → ")));
    }
}
