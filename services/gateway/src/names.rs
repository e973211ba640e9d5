//! The names and descriptions users give what they create (job runs, reference datasets, matching
//! configs, data policies, dialects): parsed once, here, into types that cannot hold anything
//! else. A body's `name` deserialises straight into a [`Name`], so a bad one is a 422 naming the
//! field like any other wrong value; a name from a query or a multipart part goes through
//! [`Name::parse`]. Lookup tables add their own rule on top (an identifier's characters; see
//! `lookup_tables::routes::check_name`).

use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// The most characters a name holds (after trimming).
pub const MAX_NAME_CHARS: usize = 200;
/// The most characters a description holds (after trimming).
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;

/// A name: 1 to [`MAX_NAME_CHARS`] characters, surrounding blanks trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// `raw` as a name, or a 422 naming `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Name, ApiError> {
        Name::check(raw).map_err(|rule| ApiError::validation(field, format!("`{field}` {rule}")))
    }

    fn check(raw: &str) -> Result<Name, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!("must be at most {MAX_NAME_CHARS} characters"));
        }
        Ok(Name(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Name::check(&raw).map_err(serde::de::Error::custom)
    }
}

/// A description: at most [`MAX_DESCRIPTION_CHARS`] characters, surrounding blanks trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for Description {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        let text = raw.trim();
        if text.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(serde::de::Error::custom(format!(
                "must be at most {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        Ok(Description(text.to_owned()))
    }
}

/// A field of a partial update: absent (keep what is stored), `null` (clear it) or a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    /// As the store's update takes it: `None` keeps, `Some(None)` clears.
    pub fn into_update(self) -> Option<Option<T>> {
        match self {
            Patch::Keep => None,
            Patch::Clear => Some(None),
            Patch::Set(value) => Some(Some(value)),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    /// Called only when the field is present (absent is the `#[serde(default)]`).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            None => Patch::Clear,
            Some(value) => Patch::Set(value),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("Invoices", Some("Invoices"))]
    #[case("  padded \t", Some("padded"))]
    #[case("", None)]
    #[case("   ", None)]
    #[case(&"x".repeat(MAX_NAME_CHARS), Some(&*"x".repeat(MAX_NAME_CHARS)))]
    #[case(&"x".repeat(MAX_NAME_CHARS + 1), None)]
    #[case(&"é".repeat(MAX_NAME_CHARS), Some(&*"é".repeat(MAX_NAME_CHARS)))]
    fn names_are_trimmed_and_bounded(#[case] raw: &str, #[case] expected: Option<&str>) {
        let parsed = Name::parse("name", raw).ok();
        assert_eq!(parsed.as_ref().map(Name::as_str), expected);
        let json = serde_json::Value::String(raw.to_owned());
        let deserialized: Option<Name> = serde_json::from_value(json).ok();
        assert_eq!(deserialized.as_ref().map(Name::as_str), expected);
    }

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default)]
        description: Patch<Description>,
    }

    #[rstest]
    #[case("{}", Some(None))]
    #[case(r#"{"description": null}"#, Some(Some(None)))]
    #[case(r#"{"description": " kept "}"#, Some(Some(Some("kept"))))]
    #[case(r#"{"description": 3}"#, None)]
    fn a_patch_tells_absent_from_null(
        #[case] body: &str,
        #[case] expected: Option<Option<Option<&str>>>,
    ) {
        let parsed: Option<Body> = serde_json::from_str(body).ok();
        let update = parsed.map(|b| b.description.into_update());
        let update = update.map(|u| u.map(|d| d.map(Description::into_string)));
        assert_eq!(update, expected.map(|u| u.map(|d| d.map(str::to_owned))));
    }
}
