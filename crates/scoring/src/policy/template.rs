//! `format` templates: literal text with `{field_key}` placeholders; `{{` and `}}` are literal
//! braces.

/// The longest template, in bytes.
pub(super) const MAX_TEMPLATE_LEN: usize = 1024;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece<F> {
    Text(String),
    Field(F),
}

/// Parses a template, resolving each placeholder name with `field` (which returns `None` for an
/// unknown name). Errors: an unclosed or unopened brace, an empty placeholder, unknown names
/// (all of them, in order).
pub(super) fn parse_template<F>(
    template: &str,
    mut field: impl FnMut(&str) -> Option<F>,
) -> Result<Vec<Piece<F>>, String> {
    if template.len() > MAX_TEMPLATE_LEN {
        return Err(format!(
            "the template is longer than {MAX_TEMPLATE_LEN} bytes"
        ));
    }
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '}' => return Err("a '}' without '{' (write '}}' for a literal brace)".into()),
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if !closed {
                    return Err("a '{' without '}' (write '{{' for a literal brace)".into());
                }
                let name = name.trim();
                if name.is_empty() {
                    return Err("an empty placeholder '{}'".into());
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                match field(name) {
                    Some(f) => pieces.push(Piece::Field(f)),
                    None => {
                        if !unknown.iter().any(|u| u == name) {
                            unknown.push(name.to_owned());
                        }
                    }
                }
            }
            c => text.push(c),
        }
    }
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|u| format!("\"{u}\"")).collect();
        return Err(format!(
            "unknown field{} {} in the template",
            if unknown.len() > 1 { "s" } else { "" },
            list.join(", ")
        ));
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// The case a `format` rule puts its output in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Case {
    Upper,
    Lower,
    /// The first letter of every whitespace-separated word upper case, the rest lower case.
    Title,
    #[default]
    None,
}

impl Case {
    pub(super) fn apply(self, text: String) -> String {
        match self {
            Case::None => text,
            Case::Upper => text.to_uppercase(),
            Case::Lower => text.to_lowercase(),
            Case::Title => {
                let mut out = String::with_capacity(text.len());
                let mut start = true;
                for c in text.chars() {
                    if c.is_whitespace() {
                        start = true;
                        out.push(c);
                    } else if start {
                        start = false;
                        out.extend(c.to_uppercase());
                    } else {
                        out.extend(c.to_lowercase());
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn lookup(name: &str) -> Option<usize> {
        ["vendor", "ref", "x"].iter().position(|k| *k == name)
    }

    #[rstest]
    #[case("{vendor}/{ref}", Ok(vec![Piece::Field(0), Piece::Text("/".into()), Piece::Field(1)]))]
    #[case("{{x}} = { x }", Ok(vec![Piece::Text("{x} = ".into()), Piece::Field(2)]))]
    #[case("plain", Ok(vec![Piece::Text("plain".into())]))]
    #[case("", Ok(vec![]))]
    #[case("{nope}-{vendor}-{zip}", Err("unknown fields \"nope\", \"zip\" in the template".to_owned()))]
    #[case("{vendor", Err("a '{' without '}' (write '{{' for a literal brace)".to_owned()))]
    #[case("vendor}", Err("a '}' without '{' (write '}}' for a literal brace)".to_owned()))]
    #[case("{}", Err("an empty placeholder '{}'".to_owned()))]
    fn templates_parse(
        #[case] template: &str,
        #[case] expected: Result<Vec<Piece<usize>>, String>,
    ) {
        assert_eq!(parse_template(template, lookup), expected);
    }

    #[rstest]
    #[case(Case::Upper, "acme gmbh", "ACME GMBH")]
    #[case(Case::Lower, "ACME", "acme")]
    #[case(Case::Title, "müller  and SONS", "Müller  And Sons")]
    #[case(Case::None, "aB", "aB")]
    fn cases_apply(#[case] case: Case, #[case] input: &str, #[case] expected: &str) {
        assert_eq!(case.apply(input.to_owned()), expected);
    }
}
