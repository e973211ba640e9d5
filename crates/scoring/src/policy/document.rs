//! The policy as users send it, and the errors that compiling it reports.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A data policy as sent on the wire (the body of `PUT /v1/data-policies/{id}`). Types and
/// configs are kept as sent: [`super::CompiledPolicy::compile`] validates them, reporting every
/// problem with its path.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PolicyDocument {
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

/// One field of the output contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub field_key: String,
    /// `string`, `number`, `date`, `boolean` or `code`.
    #[serde(rename = "type")]
    pub field_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub rule_type: String,
    pub target_field: String,
    #[serde(default = "empty_object")]
    pub config: Value,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A problem with a policy: where (a JSON path such as `rules[3].config.table`), which rule (its
/// index in `rules`), and what is wrong — the message names the rule
/// (`rule 3 (lookup → country): unknown lookup table "countries"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub path: String,
    pub rule: Option<usize>,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for PolicyError {}

impl PolicyDocument {
    /// Reads a policy from JSON, reporting every malformed field or rule (with its path) rather
    /// than the first. Types, rule types and configs are checked later, by
    /// [`super::CompiledPolicy::compile`].
    pub fn from_json(value: &Value) -> Result<PolicyDocument, Vec<PolicyError>> {
        let mut errors = Vec::new();
        let Value::Object(map) = value else {
            return Err(vec![PolicyError {
                path: String::new(),
                rule: None,
                message: "a policy is a JSON object with \"fields\" and \"rules\"".into(),
            }]);
        };
        let mut doc = PolicyDocument::default();
        for (key, v) in map {
            match key.as_str() {
                "fields" => doc.fields = read_list(v, "fields", None, &mut errors),
                "rules" => doc.rules = read_list(v, "rules", Some(()), &mut errors),
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(doc)
        } else {
            Err(errors)
        }
    }
}

fn read_list<T: serde::de::DeserializeOwned>(
    value: &Value,
    name: &str,
    rules: Option<()>,
    errors: &mut Vec<PolicyError>,
) -> Vec<T> {
    let Value::Array(items) = value else {
        if !value.is_null() {
            errors.push(PolicyError {
                path: name.to_owned(),
                rule: None,
                message: format!("\"{name}\" must be an array"),
            });
        }
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match T::deserialize(item) {
            Ok(v) => out.push(v),
            Err(e) => {
                let message = e.to_string();
                let path = match serde_field_name(&message) {
                    Some(key) => format!("{name}[{i}].{key}"),
                    None => format!("{name}[{i}]"),
                };
                errors.push(PolicyError {
                    path,
                    rule: rules.map(|()| i),
                    message: if rules.is_some() {
                        format!("rule {i}: {message}")
                    } else {
                        format!("field {i}: {message}")
                    },
                });
            }
        }
    }
    out
}

/// The key a serde message is about: `missing field `x``, `unknown field `x`, expected ...`.
pub(super) fn serde_field_name(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    rest.split('`').next().filter(|k| !k.is_empty())
}
