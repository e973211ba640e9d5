//! `compute` expressions: a sandboxed Rhai engine, compilation with strict variables, and
//! evaluation under an operation budget and a wall-clock limit.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Instant;

use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine, EvalAltResult, Module, ParseErrorType, Scope, Shared, AST};

use super::value::{convert, iso_date, Decimal, FieldType, ResolvedValue};
use super::EvalLimits;

/// The most distinct unknown variables one expression reports.
const MAX_UNKNOWN_REPORTED: usize = 8;
/// How often (in operations) the wall clock is read.
const CLOCK_EVERY: u64 = 16;

/// The standard package, built once per process (building it registers hundreds of functions).
fn standard_package() -> Shared<Module> {
    static PACKAGE: OnceLock<Shared<Module>> = OnceLock::new();
    PACKAGE
        .get_or_init(|| StandardPackage::new().as_shared_module())
        .clone()
}

/// The budget of the evaluation running on this thread.
#[derive(Clone, Copy)]
struct Budget {
    deadline: Instant,
    max_operations: u64,
}

thread_local! {
    static BUDGET: Cell<Option<Budget>> = const { Cell::new(None) };
}

/// Why an evaluation was stopped by [`Engine::on_progress`].
const TIMED_OUT: &str = "timed out";
const TOO_MANY_OPERATIONS: &str = "too many operations";

/// A sandboxed engine: no print, no debug, no eval, no modules, functions, loops, arrays or maps;
/// strict variables; the structural limits of `limits`; the per-evaluation budget read from the
/// thread's [`Budget`].
pub(super) fn engine(limits: &EvalLimits) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(standard_package());
    engine.set_strict_variables(true);
    engine.set_allow_looping(false);
    engine.set_allow_statement_expression(false);
    engine.set_allow_shadowing(false);
    engine.disable_symbol("eval");
    engine.set_max_string_size(limits.max_string_size.max(1));
    engine.set_max_expr_depths(limits.max_expr_depth.max(1));
    engine.set_max_variables(1024);
    engine.on_progress(|ops| {
        let budget = BUDGET.with(Cell::get)?;
        if ops > budget.max_operations {
            return Some(Dynamic::from(TOO_MANY_OPERATIONS));
        }
        if ops % CLOCK_EVERY == 0 && Instant::now() >= budget.deadline {
            return Some(Dynamic::from(TIMED_OUT));
        }
        None
    });
    engine
}

/// A compiled expression and the fields it reads.
#[derive(Debug, Clone)]
pub(super) struct Expression {
    pub(super) ast: AST,
    /// The fields read, as (field index, field key), in declaration order.
    pub(super) vars: Vec<(usize, String)>,
}

/// Compiles `text` over `fields` (key, index) minus the target. Errors are messages.
pub(super) fn compile_expression(
    engine: &Engine,
    text: &str,
    fields: &[(String, usize)],
    target: usize,
    limits: &EvalLimits,
) -> Result<Expression, String> {
    if text.trim().is_empty() {
        return Err("the expression is empty".into());
    }
    if text.len() > limits.max_expression_len {
        return Err(format!(
            "the expression is longer than {} bytes",
            limits.max_expression_len
        ));
    }
    let target_key = fields
        .iter()
        .find(|(_, i)| *i == target)
        .map(|(k, _)| k.as_str());
    let mut scope = Scope::new();
    for (key, i) in fields {
        if *i != target {
            scope.push_dynamic(key.as_str(), Dynamic::UNIT);
        }
    }
    // Report every unknown variable: add each one found and compile again.
    let mut unknown: Vec<String> = Vec::new();
    let ast = loop {
        match engine.compile_expression_with_scope(&scope, text) {
            Ok(ast) => break ast,
            Err(e) => match &*e.0 {
                ParseErrorType::VariableUndefined(name)
                    if unknown.len() < MAX_UNKNOWN_REPORTED && !unknown.contains(name) =>
                {
                    unknown.push(name.clone());
                    scope.push_dynamic(name.as_str(), Dynamic::UNIT);
                }
                _ if !unknown.is_empty() => break AST::empty(),
                other => return Err(format!("invalid expression: {other} ({})", e.1)),
            },
        }
    };
    if !unknown.is_empty() {
        if let Some(own) = target_key.filter(|k| unknown.iter().any(|u| u == k)) {
            return Err(format!(
                "the expression reads its own field \"{own}\" (a compute rule reads other fields)"
            ));
        }
        let list: Vec<String> = unknown.iter().map(|u| format!("\"{u}\"")).collect();
        return Err(format!(
            "unknown field{} {} in the expression",
            if unknown.len() > 1 { "s" } else { "" },
            list.join(", ")
        ));
    }
    // The fields read: those whose removal from the scope makes the expression undefined.
    let mut vars = Vec::new();
    for (key, i) in fields {
        if *i == target || !text.contains(key.as_str()) {
            continue;
        }
        let mut without = Scope::new();
        for (other, j) in fields {
            if *j != target && j != i {
                without.push_dynamic(other.as_str(), Dynamic::UNIT);
            }
        }
        if let Err(e) = engine.compile_expression_with_scope(&without, text) {
            if matches!(&*e.0, ParseErrorType::VariableUndefined(name) if name == key) {
                vars.push((*i, key.clone()));
            }
        }
    }
    vars.sort_by_key(|(i, _)| *i);
    Ok(Expression { ast, vars })
}

/// A field value as an expression variable.
pub(super) fn to_dynamic(value: Option<&ResolvedValue>) -> Dynamic {
    match value {
        None => Dynamic::UNIT,
        Some(ResolvedValue::Number(n)) => Dynamic::from_decimal(*n),
        Some(ResolvedValue::Boolean(b)) => Dynamic::from_bool(*b),
        Some(ResolvedValue::Date(d)) => Dynamic::from(iso_date(*d)),
        Some(ResolvedValue::String(s) | ResolvedValue::Code(s)) => Dynamic::from(s.clone()),
    }
}

/// Evaluates `expr` with the variables in `scope` (already pushed) under `limits`, and converts
/// the result to `field_type`. Errors are short reasons.
pub(super) fn evaluate(
    engine: &Engine,
    expr: &Expression,
    scope: &mut Scope<'static>,
    field_type: FieldType,
    limits: &EvalLimits,
) -> Result<(ResolvedValue, f64), String> {
    let start = Instant::now();
    let deadline = start.checked_add(limits.time_limit).unwrap_or(start);
    let previous = BUDGET.with(|b| {
        b.replace(Some(Budget {
            deadline,
            max_operations: limits.max_operations,
        }))
    });
    let result = engine.eval_ast_with_scope::<Dynamic>(scope, &expr.ast);
    BUDGET.with(|b| b.set(previous));
    let value = result.map_err(|e| runtime_reason(&e))?;
    let value = from_dynamic(value).ok_or_else(|| "compute: no value".to_owned())?;
    convert(field_type, &value)
        .ok_or_else(|| format!("compute: the result is not a {}", field_type.as_str()))
}

fn runtime_reason(e: &EvalAltResult) -> String {
    match e {
        EvalAltResult::ErrorTerminated(why, _) => {
            let why = why.clone().into_string().unwrap_or_default();
            format!("compute: {why}")
        }
        EvalAltResult::ErrorTooManyOperations(_) => format!("compute: {TOO_MANY_OPERATIONS}"),
        other => {
            let mut text = other.to_string();
            truncate(&mut text, 120);
            format!("compute: {text}")
        }
    }
}

fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
}

/// An expression's result as a value: floats and integers as numbers (non-finite ones are no
/// value), booleans, strings and characters as text; anything else is no value.
fn from_dynamic(value: Dynamic) -> Option<ResolvedValue> {
    if value.is_unit() {
        return None;
    }
    if let Ok(d) = value.as_decimal() {
        return Some(ResolvedValue::Number(d));
    }
    if let Ok(i) = value.as_int() {
        return Some(ResolvedValue::Number(Decimal::from(i)));
    }
    if let Ok(b) = value.as_bool() {
        return Some(ResolvedValue::Boolean(b));
    }
    if let Ok(c) = value.as_char() {
        return Some(ResolvedValue::String(c.to_string()));
    }
    value.into_immutable_string().ok().and_then(|s| {
        let t = s.trim();
        (!t.is_empty()).then(|| ResolvedValue::String(t.to_owned()))
    })
}
