//! Evaluation of a compiled policy over one document (see the module documentation of
//! [`super`] for the semantics).

use std::borrow::Cow;
use std::collections::HashMap;

use rhai::{Dynamic, Scope};

use super::compile::{CompiledPolicy, Group, Plan, Rule, RuleKind, Source};
use super::compute::{evaluate, to_dynamic};
use super::template::Piece;
use super::value::{coerce_text, convert, FieldType, ResolvedValue};
use super::{
    Decided, DocumentValues, EvalLimits, FieldResolution, LookupTables, ResolutionStatus,
    ResolutionStep,
};
use crate::clamp_score;
use crate::lookup::{Abstention, LookupCandidate};

/// What one rule made of the document.
enum Outcome {
    /// A value.
    Yield {
        value: ResolvedValue,
        confidence: f64,
        step: ResolutionStep,
        original: Option<String>,
        candidates: Vec<LookupCandidate>,
    },
    /// A value was read but gave nothing.
    Fail {
        reason: String,
        original: Option<String>,
        candidates: Vec<LookupCandidate>,
    },
    /// Nothing to read.
    Missing,
    /// The field waits for the LLM.
    Wait {
        reason: String,
        original: Option<String>,
        candidates: Vec<LookupCandidate>,
        confidence: f64,
    },
}

/// What a rule's source holds.
enum Read<'a> {
    Value(Cow<'a, str>, f64),
    Missing,
    Waiting(usize),
}

/// The evaluation of one document.
struct Run<'p, 'd, V: ?Sized, T: ?Sized> {
    policy: &'p CompiledPolicy,
    values: &'d V,
    tables: &'d T,
    limits: &'d EvalLimits,
    decided: &'d HashMap<String, Decided>,
    /// Results by field index, filled in evaluation order.
    results: Vec<Option<FieldResolution>>,
    scope: Option<Scope<'static>>,
}

impl CompiledPolicy {
    /// Resolves every field of the policy for one document: one [`FieldResolution`] per field,
    /// in the declared order. Never fails: a rule that cannot decide leaves its field to the next
    /// rule, and a field no rule decides is unresolved with a reason.
    pub fn resolve<V, T>(&self, values: &V, tables: &T, limits: &EvalLimits) -> Vec<FieldResolution>
    where
        V: DocumentValues + ?Sized,
        T: LookupTables + ?Sized,
    {
        self.resolve_with(values, tables, limits, &HashMap::new())
    }

    /// [`CompiledPolicy::resolve`] with the LLM's decisions for fields that were waiting, by
    /// field key: where such a field's `lookup` with `fallback: "llm"` abstains again, the
    /// decision stands in for it (step `llm`), and the fields that read it are evaluated with it.
    pub fn resolve_with<V, T>(
        &self,
        values: &V,
        tables: &T,
        limits: &EvalLimits,
        decided: &HashMap<String, Decided>,
    ) -> Vec<FieldResolution>
    where
        V: DocumentValues + ?Sized,
        T: LookupTables + ?Sized,
    {
        let mut run = Run {
            policy: self,
            values,
            tables,
            limits,
            decided,
            results: vec![None; self.fields.len()],
            scope: None,
        };
        for &f in &self.order {
            let resolution = run.field(f);
            if let Some(slot) = run.results.get_mut(f) {
                *slot = Some(resolution);
            }
        }
        run.results
            .into_iter()
            .zip(&self.fields)
            .map(|(r, field)| r.unwrap_or_else(|| unresolved(&field.key, "not evaluated")))
            .collect()
    }
}

fn unresolved(key: &str, reason: &str) -> FieldResolution {
    FieldResolution {
        field_key: key.to_owned(),
        original_value: None,
        value: None,
        step: None,
        confidence: 0.0,
        status: ResolutionStatus::Unresolved,
        candidates: Vec::new(),
        rule: None,
        reason: Some(reason.to_owned()),
    }
}

fn abstention_reason(why: Option<Abstention>) -> &'static str {
    match why {
        Some(Abstention::Ambiguous) => "lookup abstained: ambiguous",
        Some(Abstention::BelowThreshold) => "lookup abstained: below threshold",
        Some(Abstention::NoCandidate) => "lookup abstained: no candidate",
        Some(Abstention::Empty) | None => "lookup abstained: empty value",
    }
}

fn not_a(field_type: FieldType) -> String {
    match field_type {
        FieldType::Number => "not a number".into(),
        FieldType::Date => "not a date".into(),
        FieldType::Boolean => "not a boolean".into(),
        FieldType::String | FieldType::Code => "empty".into(),
    }
}

impl<V, T> Run<'_, '_, V, T>
where
    V: DocumentValues + ?Sized,
    T: LookupTables + ?Sized,
{
    fn key(&self, f: usize) -> &str {
        self.policy.fields.get(f).map_or("", |x| x.key.as_str())
    }

    fn result(&self, f: usize) -> Option<&FieldResolution> {
        self.results.get(f).and_then(Option::as_ref)
    }

    fn read(&self, source: &Source) -> Read<'_> {
        match source {
            Source::Raw(key) => match self.values.get(key) {
                Some(text) if !text.trim().is_empty() => Read::Value(text, 1.0),
                _ => Read::Missing,
            },
            Source::Field(f) => match self.result(*f) {
                Some(r) if r.status == ResolutionStatus::Waiting => Read::Waiting(*f),
                Some(FieldResolution {
                    value: Some(v),
                    confidence,
                    ..
                }) => Read::Value(Cow::Owned(v.to_text()), *confidence),
                _ => Read::Missing,
            },
        }
    }

    fn waiting_on(&self, f: usize) -> Outcome {
        Outcome::Wait {
            reason: format!("waiting on {}", self.key(f)),
            original: None,
            candidates: Vec::new(),
            confidence: 0.0,
        }
    }

    /// Evaluates field `f` (whose dependencies are evaluated).
    fn field(&mut self, f: usize) -> FieldResolution {
        let policy = self.policy;
        let (Some(field), Some(plan)) = (policy.fields.get(f), policy.plans.get(f)) else {
            return unresolved("", "not evaluated");
        };
        let field_type = field.field_type;
        let mut out = FieldResolution {
            field_key: field.key.clone(),
            original_value: None,
            value: None,
            step: None,
            confidence: 0.0,
            status: ResolutionStatus::Unresolved,
            candidates: Vec::new(),
            rule: None,
            reason: None,
        };
        let mut failure: Option<(usize, String, Option<String>)> = None;
        for rule in &plan.producers {
            match self.rule(rule, f, field_type) {
                Outcome::Yield {
                    value,
                    confidence,
                    step,
                    original,
                    candidates,
                } => {
                    out.value = Some(value);
                    out.confidence = clamp_score(confidence);
                    out.step = Some(step);
                    out.original_value = original;
                    out.candidates = candidates;
                    out.rule = Some(rule.index);
                    break;
                }
                Outcome::Fail {
                    reason,
                    original,
                    candidates,
                } => {
                    if matches!(rule.kind, RuleKind::Lookup { .. }) {
                        out.candidates = candidates;
                    }
                    failure = Some((rule.index, reason, original));
                }
                Outcome::Missing => {}
                Outcome::Wait {
                    reason,
                    original,
                    candidates,
                    confidence,
                } => {
                    return FieldResolution {
                        original_value: original,
                        confidence: clamp_score(confidence),
                        status: ResolutionStatus::Waiting,
                        candidates,
                        rule: Some(rule.index),
                        reason: Some(reason),
                        ..out
                    };
                }
            }
        }
        if out.value.is_none() {
            if let Some(Rule {
                index,
                kind: RuleKind::Default { value },
            }) = &plan.default
            {
                out.value = Some(value.clone());
                out.confidence = 1.0;
                out.step = Some(ResolutionStep::Direct);
                out.rule = Some(*index);
            }
        }
        if let Some(waiting) = self.formats(plan, &mut out, f, field_type) {
            return waiting;
        }
        if out.value.is_some() {
            out.status = ResolutionStatus::Resolved;
            out.candidates.truncate(crate::lookup::MAX_CANDIDATES);
            return out;
        }
        out.step = None;
        out.confidence = 0.0;
        match failure {
            Some((index, reason, original)) => {
                out.rule = Some(index);
                out.reason = Some(reason);
                out.original_value = original;
            }
            None => out.reason = Some("missing".into()),
        }
        out
    }

    /// Applies the field's `format` rules to `out`; `Some` when a template reads a waiting field.
    fn formats(
        &self,
        plan: &Plan,
        out: &mut FieldResolution,
        own: usize,
        field_type: FieldType,
    ) -> Option<FieldResolution> {
        for rule in &plan.formats {
            let RuleKind::Format {
                pieces,
                reads,
                case,
                trim,
            } = &rule.kind
            else {
                continue;
            };
            let mut confidence: f64 = 1.0;
            let mut complete = true;
            for &g in reads {
                if g == own {
                    if out.value.is_none() {
                        complete = false;
                    } else {
                        confidence = confidence.min(out.confidence);
                    }
                    continue;
                }
                match self.result(g) {
                    Some(r) if r.status == ResolutionStatus::Waiting => {
                        return Some(FieldResolution {
                            field_key: out.field_key.clone(),
                            original_value: out.original_value.clone(),
                            value: None,
                            step: None,
                            confidence: 0.0,
                            status: ResolutionStatus::Waiting,
                            candidates: Vec::new(),
                            rule: Some(rule.index),
                            reason: Some(format!("waiting on {}", self.key(g))),
                        });
                    }
                    Some(FieldResolution {
                        value: Some(_),
                        confidence: c,
                        ..
                    }) => confidence = confidence.min(*c),
                    _ => complete = false,
                }
            }
            if !complete {
                continue;
            }
            let mut text = String::new();
            for piece in pieces {
                match piece {
                    Piece::Text(t) => text.push_str(t),
                    Piece::Field(g) => {
                        let value = if *g == own {
                            out.value.as_ref()
                        } else {
                            self.result(*g).and_then(|r| r.value.as_ref())
                        };
                        match value {
                            Some(ResolvedValue::String(s) | ResolvedValue::Code(s)) => {
                                text.push_str(s)
                            }
                            Some(other) => text.push_str(&other.to_text()),
                            None => {}
                        }
                    }
                }
            }
            let mut text = case.apply(text);
            if *trim {
                let t = text.trim();
                if t.len() != text.len() {
                    text = t.to_owned();
                }
            }
            if text.is_empty() {
                continue;
            }
            let value = match field_type {
                FieldType::Code => ResolvedValue::Code(text),
                _ => ResolvedValue::String(text),
            };
            out.value = Some(value);
            out.confidence = clamp_score(confidence);
            out.step = Some(ResolutionStep::Format);
            out.rule = Some(rule.index);
        }
        None
    }

    fn rule(&mut self, rule: &Rule, f: usize, field_type: FieldType) -> Outcome {
        match &rule.kind {
            RuleKind::Direct { source } => self.parse_rule(source, |raw| {
                coerce_text(field_type, raw, None, None)
                    .map(|(v, c)| (v, c, ResolutionStep::Direct))
                    .ok_or_else(|| not_a(field_type))
            }),
            RuleKind::ParseDate { source, order } => self.parse_rule(source, |raw| {
                coerce_text(FieldType::Date, raw, *order, None)
                    .map(|(v, c)| (v, c, ResolutionStep::Parse))
                    .ok_or_else(|| not_a(FieldType::Date))
            }),
            RuleKind::ParseNumber { source, mark } => self.parse_rule(source, |raw| {
                coerce_text(FieldType::Number, raw, None, *mark)
                    .map(|(v, c)| (v, c, ResolutionStep::Parse))
                    .ok_or_else(|| not_a(FieldType::Number))
            }),
            RuleKind::RegexExtract {
                source,
                regex,
                group,
            } => self.parse_rule(source, |raw| {
                let caps = regex.captures(raw.trim()).ok_or("no match")?;
                let m = match group {
                    Group::Index(i) => caps.get(*i),
                    Group::Name(n) => caps.name(n),
                }
                .ok_or("no match")?;
                coerce_text(field_type, m.as_str(), None, None)
                    .map(|(v, c)| (v, c, ResolutionStep::Parse))
                    .ok_or_else(|| {
                        if m.as_str().trim().is_empty() {
                            "no match".to_owned()
                        } else {
                            not_a(field_type)
                        }
                    })
            }),
            RuleKind::Lookup {
                source,
                table,
                params,
                llm,
            } => {
                let (raw, input_confidence) = match self.read(source) {
                    Read::Value(raw, c) => (raw, c),
                    Read::Missing => return Outcome::Missing,
                    Read::Waiting(g) => return self.waiting_on(g),
                };
                let original = Some(raw.trim().to_owned());
                let Some(index) = self.tables.get(table) else {
                    return Outcome::Fail {
                        reason: format!("lookup table \"{table}\" is not loaded"),
                        original,
                        candidates: Vec::new(),
                    };
                };
                let outcome = index.resolve(&raw, *params);
                let confidence = outcome.confidence * input_confidence;
                if let Some(code) = outcome.code {
                    let value = match field_type {
                        FieldType::Code => ResolvedValue::Code(code),
                        _ => ResolvedValue::String(code),
                    };
                    return Outcome::Yield {
                        value,
                        confidence,
                        step: ResolutionStep::Lookup,
                        original,
                        candidates: outcome.candidates,
                    };
                }
                let reason = abstention_reason(outcome.abstained);
                let empty = matches!(outcome.abstained, Some(Abstention::Empty));
                if !*llm || empty {
                    return Outcome::Fail {
                        reason: reason.to_owned(),
                        original,
                        candidates: outcome.candidates,
                    };
                }
                let key = self.key(f);
                match self.decided.get(key) {
                    Some(Decided {
                        value: Some(v),
                        confidence: c,
                    }) => match convert(field_type, v) {
                        Some((value, _)) => Outcome::Yield {
                            value,
                            confidence: clamp_score(*c) * input_confidence,
                            step: ResolutionStep::Llm,
                            original,
                            candidates: outcome.candidates,
                        },
                        None => Outcome::Fail {
                            reason: format!("llm: the decision is not a {}", field_type.as_str()),
                            original,
                            candidates: outcome.candidates,
                        },
                    },
                    Some(Decided { value: None, .. }) => Outcome::Fail {
                        reason: "llm: none of the candidates".into(),
                        original,
                        candidates: outcome.candidates,
                    },
                    None => Outcome::Wait {
                        reason: format!("waiting for llm ({reason})"),
                        original,
                        confidence,
                        candidates: outcome.candidates,
                    },
                }
            }
            RuleKind::Compute { expr } => {
                let Some(engine) = self.policy.engine.as_deref() else {
                    return Outcome::Fail {
                        reason: "compute: no engine".into(),
                        original: None,
                        candidates: Vec::new(),
                    };
                };
                let mut confidence: f64 = 1.0;
                let mut any_value = expr.vars.is_empty();
                let mut scope = self.scope.take().unwrap_or_default();
                scope.clear();
                for (g, name) in &expr.vars {
                    let value = match self.result(*g) {
                        Some(r) if r.status == ResolutionStatus::Waiting => {
                            self.scope = Some(scope);
                            return self.waiting_on(*g);
                        }
                        Some(r) => r.value.as_ref().map(|v| (v, r.confidence)),
                        None => None,
                    };
                    if let Some((_, c)) = value {
                        any_value = true;
                        confidence = confidence.min(c);
                    }
                    let dynamic = value.map_or(Dynamic::UNIT, |(v, _)| to_dynamic(Some(v)));
                    scope.push_dynamic(name.as_str(), dynamic);
                }
                let outcome = if any_value {
                    match evaluate(engine, expr, &mut scope, field_type, self.limits) {
                        Ok((value, c)) => Outcome::Yield {
                            value,
                            confidence: confidence * c,
                            step: ResolutionStep::Compute,
                            original: None,
                            candidates: Vec::new(),
                        },
                        Err(reason) => Outcome::Fail {
                            reason,
                            original: None,
                            candidates: Vec::new(),
                        },
                    }
                } else {
                    Outcome::Missing
                };
                self.scope = Some(scope);
                outcome
            }
            RuleKind::Format { .. } | RuleKind::Default { .. } => Outcome::Missing,
        }
    }

    /// A rule that reads one value and parses it.
    fn parse_rule(
        &self,
        source: &Source,
        parse: impl FnOnce(&str) -> Result<(ResolvedValue, f64, ResolutionStep), String>,
    ) -> Outcome {
        let (raw, input_confidence) = match self.read(source) {
            Read::Value(raw, c) => (raw, c),
            Read::Missing => return Outcome::Missing,
            Read::Waiting(g) => return self.waiting_on(g),
        };
        let trimmed = raw.trim();
        match parse(trimmed) {
            Ok((value, confidence, step)) => Outcome::Yield {
                value,
                confidence: confidence * input_confidence,
                step,
                original: Some(trimmed.to_owned()),
                candidates: Vec::new(),
            },
            Err(reason) => Outcome::Fail {
                reason,
                original: Some(trimmed.to_owned()),
                candidates: Vec::new(),
            },
        }
    }
}
