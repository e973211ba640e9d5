use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::NaiveDate;
use rstest::rstest;
use serde_json::{json, Value};

use super::*;
use crate::lookup::{LookupEntry, LookupIndex};
use crate::test_rng::XorShift;

fn entry(code: &str, label: &str, aliases: &[&str]) -> LookupEntry {
    LookupEntry {
        code: code.to_owned(),
        label: label.to_owned(),
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
    }
}

fn countries() -> LookupIndex {
    LookupIndex::build(vec![
        entry("DE", "Germany", &["Deutschland", "Allemagne"]),
        entry("AT", "Austria", &["Österreich"]),
        entry("NL", "Netherlands", &["Holland", "Nederland"]),
        entry("XH", "Holland Islands", &["Holland"]),
        entry("US", "United States", &["USA"]),
    ])
}

fn tables() -> HashMap<String, LookupIndex> {
    HashMap::from([("country".to_owned(), countries())])
}

fn known(name: &str) -> bool {
    name == "country"
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// The policy of the API documentation.
fn example() -> Value {
    json!({
      "fields": [
        {"field_key": "country", "type": "code", "description": "ISO 3166-1 alpha-2"},
        {"field_key": "invoice_date", "type": "date"},
        {"field_key": "amount", "type": "number"},
        {"field_key": "gross", "type": "number"},
        {"field_key": "paid", "type": "boolean"},
        {"field_key": "vendor", "type": "string"},
        {"field_key": "ref", "type": "string"}
      ],
      "rules": [
        {"rule_type": "lookup", "target_field": "country", "config": {"table": "country", "source_field": "country", "threshold": 0.85, "margin": 0.05, "fallback": "none"}},
        {"rule_type": "parse_date", "target_field": "invoice_date", "config": {"source_field": "date", "order": "dmy"}},
        {"rule_type": "parse_number", "target_field": "amount", "config": {"source_field": "amount", "decimal_mark": ","}},
        {"rule_type": "compute", "target_field": "gross", "config": {"expression": "amount * 1.19"}},
        {"rule_type": "direct", "target_field": "vendor", "config": {"source_field": "vendor_name"}},
        {"rule_type": "regex_extract", "target_field": "ref", "config": {"source_field": "memo", "pattern": "INV-(\\d+)", "group": 1}},
        {"rule_type": "format", "target_field": "ref", "config": {"template": "{vendor}/{ref}", "case": "upper"}},
        {"rule_type": "default", "target_field": "paid", "config": {"value": false}}
      ]
    })
}

fn doc(value: &Value) -> PolicyDocument {
    match PolicyDocument::from_json(value) {
        Ok(d) => d,
        Err(e) => panic!("document: {e:?}"),
    }
}

fn compiled(value: &Value) -> CompiledPolicy {
    match CompiledPolicy::compile(&doc(value), &known) {
        Ok(p) => p,
        Err(e) => panic!("compile: {e:#?}"),
    }
}

fn errors(value: &Value) -> Vec<PolicyError> {
    match CompiledPolicy::compile(&doc(value), &known) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

fn values(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn by_key<'a>(results: &'a [FieldResolution], key: &str) -> &'a FieldResolution {
    match results.iter().find(|r| r.field_key == key) {
        Some(r) => r,
        None => panic!("no result for {key}"),
    }
}

fn resolve(policy: &CompiledPolicy, pairs: &[(&str, &str)]) -> Vec<FieldResolution> {
    policy.resolve(&values(pairs), &tables(), &EvalLimits::default())
}

#[test]
fn the_documented_example_compiles_and_resolves() {
    let policy = compiled(&example());
    let keys: Vec<&str> = policy.fields().iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "country",
            "invoice_date",
            "amount",
            "gross",
            "paid",
            "vendor",
            "ref"
        ]
    );
    assert_eq!(policy.tables(), ["country"]);
    assert!(!policy.has_llm_fallback());
    let order: Vec<&str> = policy.evaluation_order().collect();
    assert_eq!(
        order,
        [
            "country",
            "invoice_date",
            "amount",
            "gross",
            "paid",
            "vendor",
            "ref"
        ]
    );

    let results = resolve(
        &policy,
        &[
            ("country", "Deutschland"),
            ("date", "14.03.2024"),
            ("amount", "1.234,50"),
            ("vendor_name", "  Acme GmbH "),
            ("memo", "Payment for INV-0042, thanks"),
        ],
    );
    let keys: Vec<&str> = results.iter().map(|r| r.field_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "country",
            "invoice_date",
            "amount",
            "gross",
            "paid",
            "vendor",
            "ref"
        ]
    );

    let country = by_key(&results, "country");
    assert_eq!(country.value, Some(ResolvedValue::Code("DE".into())));
    assert_eq!(country.step, Some(ResolutionStep::Lookup));
    assert_eq!(country.status, ResolutionStatus::Resolved);
    assert_eq!(country.original_value.as_deref(), Some("Deutschland"));
    assert_eq!(country.rule, Some(0));
    assert!(country.confidence > 0.9);
    assert_eq!(
        country.candidates.first().map(|c| c.code.as_str()),
        Some("DE")
    );

    let invoice_date = by_key(&results, "invoice_date");
    assert_eq!(
        invoice_date.value,
        Some(ResolvedValue::Date(date(2024, 3, 14)))
    );
    assert_eq!(invoice_date.step, Some(ResolutionStep::Parse));
    assert_eq!(invoice_date.confidence, 1.0);

    let amount = by_key(&results, "amount");
    assert_eq!(amount.value, Some(ResolvedValue::Number(dec("1234.5"))));

    let gross = by_key(&results, "gross");
    assert_eq!(gross.step, Some(ResolutionStep::Compute));
    // Exact: 1234.5 × 1.19 = 1469.055, not 1469.0549999999998.
    assert_eq!(gross.value, Some(ResolvedValue::Number(dec("1469.055"))));
    assert_eq!(gross.confidence, 1.0);
    assert_eq!(gross.rule, Some(3));

    let paid = by_key(&results, "paid");
    assert_eq!(paid.value, Some(ResolvedValue::Boolean(false)));
    assert_eq!(paid.step, Some(ResolutionStep::Direct));
    assert_eq!(paid.rule, Some(7));

    let vendor = by_key(&results, "vendor");
    assert_eq!(
        vendor.value,
        Some(ResolvedValue::String("Acme GmbH".into()))
    );
    assert_eq!(vendor.step, Some(ResolutionStep::Direct));

    let reference = by_key(&results, "ref");
    assert_eq!(
        reference.value,
        Some(ResolvedValue::String("ACME GMBH/0042".into()))
    );
    assert_eq!(reference.step, Some(ResolutionStep::Format));
    assert_eq!(reference.rule, Some(6));
    assert_eq!(
        reference.original_value.as_deref(),
        Some("Payment for INV-0042, thanks")
    );
}

#[test]
fn missing_values_are_unresolved_without_noise() {
    let policy = compiled(&example());
    let results = resolve(&policy, &[("amount", "  ")]);
    for key in [
        "country",
        "invoice_date",
        "amount",
        "gross",
        "vendor",
        "ref",
    ] {
        let r = by_key(&results, key);
        assert_eq!(r.status, ResolutionStatus::Unresolved, "{key}");
        assert_eq!(r.value, None, "{key}");
        assert_eq!(r.step, None, "{key}");
        assert_eq!(r.confidence, 0.0, "{key}");
        assert_eq!(r.reason.as_deref(), Some("missing"), "{key}");
        assert_eq!(r.original_value, None, "{key}");
    }
    // The default still applies.
    assert_eq!(
        by_key(&results, "paid").value,
        Some(ResolvedValue::Boolean(false))
    );
}

#[test]
fn failures_carry_a_reason_the_rule_and_the_raw_value() {
    let policy = compiled(&example());
    let results = resolve(
        &policy,
        &[
            ("country", "Holland"),
            ("date", "31/02/2024"),
            ("amount", "twelve"),
            ("memo", "no reference here"),
            ("vendor_name", "Acme"),
        ],
    );
    let country = by_key(&results, "country");
    assert_eq!(country.status, ResolutionStatus::Unresolved);
    assert_eq!(
        country.reason.as_deref(),
        Some("lookup abstained: ambiguous")
    );
    assert_eq!(country.original_value.as_deref(), Some("Holland"));
    assert_eq!(country.rule, Some(0));
    assert_eq!(country.candidates.len(), 2);
    assert_eq!(country.confidence, 0.0);

    let d = by_key(&results, "invoice_date");
    assert_eq!(d.reason.as_deref(), Some("not a date"));
    assert_eq!(d.original_value.as_deref(), Some("31/02/2024"));
    assert_eq!(
        by_key(&results, "amount").reason.as_deref(),
        Some("not a number")
    );
    // A compute whose every input is missing is missing itself.
    assert_eq!(by_key(&results, "gross").reason.as_deref(), Some("missing"));
    // The format needs {ref}, which has no value: the field stays unresolved with the regex's
    // reason.
    let reference = by_key(&results, "ref");
    assert_eq!(reference.reason.as_deref(), Some("no match"));
    assert_eq!(reference.rule, Some(5));
}

#[test]
fn an_empty_policy_compiles_and_resolves_nothing() {
    let policy = compiled(&json!({}));
    assert!(policy.fields().is_empty());
    assert!(resolve(&policy, &[("a", "b")]).is_empty());
    let policy = compiled(&json!({"fields": [], "rules": []}));
    assert!(policy.tables().is_empty());
}

fn rule(rule_type: &str, target: &str, config: Value) -> Value {
    json!({"rule_type": rule_type, "target_field": target, "config": config})
}

fn policy_of(fields: &[(&str, &str)], rules: Vec<Value>) -> Value {
    let fields: Vec<Value> = fields
        .iter()
        .map(|(k, t)| json!({"field_key": k, "type": t}))
        .collect();
    json!({"fields": fields, "rules": rules})
}

#[rstest]
#[case::unknown_target(
    policy_of(&[("a", "string")], vec![rule("direct", "b", json!({"source_field": "x"}))]),
    "rules[0].target_field",
    "rule 0 (direct → b): unknown target_field \"b\""
)]
#[case::unknown_rule_type(
    policy_of(&[("a", "string")], vec![rule("guess", "a", json!({}))]),
    "rules[0].rule_type",
    "rule 0 (guess → a): unknown rule_type \"guess\" (expected one of direct, lookup, parse_date, parse_number, regex_extract, compute, format, default)"
)]
#[case::unknown_table(
    policy_of(&[("country", "code")], vec![rule("lookup", "country", json!({"table": "countries", "source_field": "c"}))]),
    "rules[0].config.table",
    "rule 0 (lookup → country): unknown lookup table \"countries\""
)]
#[case::unknown_from_field(
    policy_of(&[("a", "string")], vec![rule("direct", "a", json!({"from_field": "zz"}))]),
    "rules[0].config.from_field",
    "rule 0 (direct → a): unknown from_field \"zz\""
)]
#[case::own_from_field(
    policy_of(&[("a", "string")], vec![rule("direct", "a", json!({"from_field": "a"}))]),
    "rules[0].config.from_field",
    "rule 0 (direct → a): from_field \"a\" is the rule's own target field"
)]
#[case::both_sources(
    policy_of(&[("a", "string"), ("b", "string")], vec![rule("direct", "a", json!({"from_field": "b", "source_field": "x"}))]),
    "rules[0].config",
    "rule 0 (direct → a): give either source_field or from_field, not both"
)]
#[case::no_source(
    policy_of(&[("a", "string")], vec![rule("direct", "a", json!({}))]),
    "rules[0].config.source_field",
    "rule 0 (direct → a): missing source_field (or from_field)"
)]
#[case::unknown_config_key(
    policy_of(&[("a", "string")], vec![rule("direct", "a", json!({"source_field": "x", "trim": true}))]),
    "rules[0].config.trim",
    "rule 0 (direct → a): unknown field `trim`, expected `source_field` or `from_field`"
)]
#[case::missing_config_key(
    policy_of(&[("a", "number")], vec![rule("compute", "a", json!({}))]),
    "rules[0].config.expression",
    "rule 0 (compute → a): missing field `expression`"
)]
#[case::threshold_out_of_range(
    policy_of(&[("c", "code")], vec![rule("lookup", "c", json!({"table": "country", "source_field": "c", "threshold": 1.5}))]),
    "rules[0].config.threshold",
    "rule 0 (lookup → c): threshold 1.5 is out of range (0 to 1)"
)]
#[case::margin_out_of_range(
    policy_of(&[("c", "code")], vec![rule("lookup", "c", json!({"table": "country", "source_field": "c", "margin": -0.1}))]),
    "rules[0].config.margin",
    "rule 0 (lookup → c): margin -0.1 is out of range (0 to 1)"
)]
#[case::bad_fallback(
    policy_of(&[("c", "code")], vec![rule("lookup", "c", json!({"table": "country", "source_field": "c", "fallback": "human"}))]),
    "rules[0].config",
    "rule 0 (lookup → c): unknown variant `human`, expected `llm` or `none`"
)]
#[case::lookup_into_a_number(
    policy_of(&[("n", "number")], vec![rule("lookup", "n", json!({"table": "country", "source_field": "c"}))]),
    "rules[0].target_field",
    "rule 0 (lookup → n): a lookup rule fills code or string fields, and \"n\" is a number"
)]
#[case::bad_order(
    policy_of(&[("d", "date")], vec![rule("parse_date", "d", json!({"source_field": "d", "order": "ydm"}))]),
    "rules[0].config",
    "rule 0 (parse_date → d): unknown variant `ydm`, expected one of `dmy`, `mdy`, `ymd`"
)]
#[case::default_does_not_fit(
    policy_of(&[("paid", "boolean")], vec![rule("default", "paid", json!({"value": "perhaps"}))]),
    "rules[0].config.value",
    "rule 0 (default → paid): the default value \"perhaps\" is not a boolean (field \"paid\")"
)]
#[case::regex_error(
    policy_of(&[("r", "string")], vec![rule("regex_extract", "r", json!({"source_field": "m", "pattern": "INV-(\\d+"}))]),
    "rules[0].config.pattern",
    "rule 0 (regex_extract → r): invalid pattern: regex parse error: INV-(\\d+ ^ error: unclosed group"
)]
#[case::regex_group(
    policy_of(&[("r", "string")], vec![rule("regex_extract", "r", json!({"source_field": "m", "pattern": "INV-(\\d+)", "group": 2}))]),
    "rules[0].config.group",
    "rule 0 (regex_extract → r): group 2 does not exist (the pattern has 1 group)"
)]
#[case::regex_group_name(
    policy_of(&[("r", "string")], vec![rule("regex_extract", "r", json!({"source_field": "m", "pattern": "INV-(?<n>\\d+)", "group": "num"}))]),
    "rules[0].config.group",
    "rule 0 (regex_extract → r): the pattern has no group named \"num\""
)]
#[case::unknown_variables(
    policy_of(&[("a", "number"), ("b", "number")], vec![rule("compute", "a", json!({"expression": "b + net * vat"}))]),
    "rules[0].config.expression",
    "rule 0 (compute → a): unknown fields \"net\", \"vat\" in the expression"
)]
#[case::own_variable(
    policy_of(&[("a", "number")], vec![rule("compute", "a", json!({"expression": "a * 2"}))]),
    "rules[0].config.expression",
    "rule 0 (compute → a): the expression reads its own field \"a\" (a compute rule reads other fields)"
)]
#[case::rhai_syntax(
    policy_of(&[("a", "number"), ("b", "number")], vec![rule("compute", "a", json!({"expression": "b * (2"}))]),
    "rules[0].config.expression",
    "rule 0 (compute → a): invalid expression: Expecting ')' for a matching ( in this expression (line 1, position 7)"
)]
#[case::statements_are_not_expressions(
    policy_of(&[("a", "number"), ("b", "number")], vec![rule("compute", "a", json!({"expression": "let x = b; x"}))]),
    "rules[0].config.expression",
    "rule 0 (compute → a): invalid expression: Unexpected 'let' (line 1, position 1)"
)]
#[case::unknown_placeholder(
    policy_of(&[("a", "string")], vec![rule("format", "a", json!({"template": "{a}-{b}"}))]),
    "rules[0].config.template",
    "rule 0 (format → a): unknown field \"b\" in the template"
)]
#[case::bad_case(
    policy_of(&[("a", "string")], vec![rule("format", "a", json!({"template": "{a}", "case": "shout"}))]),
    "rules[0].config",
    "rule 0 (format → a): unknown variant `shout`, expected one of `upper`, `lower`, `title`, `none`"
)]
#[case::format_into_a_date(
    policy_of(&[("d", "date")], vec![rule("format", "d", json!({"template": "{d}"}))]),
    "rules[0].target_field",
    "rule 0 (format → d): a format rule fills string or code fields, and \"d\" is a date"
)]
#[case::config_not_an_object(
    policy_of(&[("a", "string")], vec![rule("direct", "a", json!("x"))]),
    "rules[0].config",
    "rule 0 (direct → a): config must be a JSON object"
)]
#[case::two_defaults(
    policy_of(&[("a", "string")], vec![rule("default", "a", json!({"value": "x"})), rule("default", "a", json!({"value": "y"}))]),
    "rules[1]",
    "rule 1 (default → a): a field has at most one default rule (rules[0] is one)"
)]
#[case::duplicate_key(
    policy_of(&[("a", "string"), ("a", "number")], vec![]),
    "fields[1].field_key",
    "field 1: duplicate field_key \"a\" (also fields[0])"
)]
#[case::bad_key(
    policy_of(&[("1a", "string")], vec![]),
    "fields[0].field_key",
    "field 0: field_key \"1a\" is not an identifier (letters, digits and '_', not starting with a digit, at most 128 bytes)"
)]
#[case::empty_key(
    policy_of(&[("", "string")], vec![]),
    "fields[0].field_key",
    "field 0: the field_key is empty"
)]
#[case::bad_type(
    policy_of(&[("a", "money")], vec![]),
    "fields[0].type",
    "field 0: unknown type \"money\" (expected one of string, number, date, boolean, code)"
)]
fn invalid_policies_are_rejected_with_a_path(
    #[case] policy: Value,
    #[case] path: &str,
    #[case] message: &str,
) {
    let errors = errors(&policy);
    assert_eq!(
        errors
            .iter()
            .map(|e| (e.path.as_str(), e.message.as_str()))
            .collect::<Vec<_>>(),
        vec![(path, message)]
    );
    if let Some(rest) = path.strip_prefix("rules[") {
        let index: Option<usize> = rest.split(']').next().and_then(|i| i.parse().ok());
        assert_eq!(errors[0].rule, index);
    } else {
        assert_eq!(errors[0].rule, None);
    }
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let policy = policy_of(
        &[("a", "string"), ("a", "string"), ("c", "banana")],
        vec![
            rule("direct", "zz", json!({"source_field": "x"})),
            rule(
                "lookup",
                "a",
                json!({"table": "nope", "source_field": "x", "threshold": 2}),
            ),
            rule("compute", "c", json!({"expression": "q"})),
        ],
    );
    let paths: Vec<String> = errors(&policy).into_iter().map(|e| e.path).collect();
    assert_eq!(
        paths,
        [
            "fields[1].field_key",
            "fields[2].type",
            "rules[0].target_field",
            "rules[1].config.table",
            "rules[1].config.threshold",
            "rules[2].config.expression",
        ]
    );
}

#[test]
fn cycles_are_rejected_naming_the_fields() {
    let policy = policy_of(
        &[
            ("gross", "number"),
            ("net", "number"),
            ("vat", "number"),
            ("ok", "number"),
        ],
        vec![
            rule("compute", "gross", json!({"expression": "net * 1.19"})),
            rule("compute", "net", json!({"expression": "gross / 1.19"})),
            rule("direct", "ok", json!({"source_field": "ok"})),
            rule("compute", "vat", json!({"expression": "ok + 1"})),
        ],
    );
    let errors = errors(&policy);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "rules[0]");
    assert_eq!(errors[0].rule, Some(0));
    assert_eq!(
        errors[0].message,
        "rule 0 (compute → gross): cycle: gross → net → gross"
    );

    // Through from_field and a template, and two separate cycles.
    let policy = policy_of(
        &[
            ("a", "string"),
            ("b", "string"),
            ("c", "string"),
            ("x", "string"),
            ("y", "string"),
        ],
        vec![
            rule("direct", "a", json!({"from_field": "b"})),
            rule("format", "b", json!({"template": "{c}!"})),
            rule("direct", "c", json!({"from_field": "a"})),
            rule("direct", "x", json!({"from_field": "y"})),
            rule("direct", "y", json!({"from_field": "x"})),
        ],
    );
    let messages: Vec<String> = errors_of(&policy);
    assert_eq!(
        messages,
        [
            "rule 0 (direct → a): cycle: a → b → c → a",
            "rule 3 (direct → x): cycle: x → y → x",
        ]
    );
}

fn errors_of(policy: &Value) -> Vec<String> {
    errors(policy).into_iter().map(|e| e.message).collect()
}

#[test]
fn fields_are_evaluated_after_what_they_read_in_a_stable_order() {
    let policy = compiled(&policy_of(
        &[
            ("total", "number"),
            ("label", "string"),
            ("net", "number"),
            ("tax", "number"),
            ("z", "string"),
        ],
        vec![
            rule("compute", "total", json!({"expression": "net + tax"})),
            rule("format", "label", json!({"template": "{total} EUR"})),
            rule("parse_number", "net", json!({"source_field": "net"})),
            rule("compute", "tax", json!({"expression": "net * 0.2"})),
            rule("direct", "z", json!({"source_field": "z"})),
        ],
    ));
    let order: Vec<&str> = policy.evaluation_order().collect();
    assert_eq!(order, ["net", "tax", "total", "label", "z"]);
    let results = resolve(&policy, &[("net", "100")]);
    assert_eq!(
        by_key(&results, "label").value,
        Some(ResolvedValue::String("120 EUR".into()))
    );
    assert_eq!(by_key(&results, "label").step, Some(ResolutionStep::Format));
    // Declared order in the output.
    let keys: Vec<&str> = results.iter().map(|r| r.field_key.as_str()).collect();
    assert_eq!(keys, ["total", "label", "net", "tax", "z"]);
}

#[test]
fn rules_of_a_field_are_tried_in_order_and_the_first_value_wins() {
    let policy = compiled(&policy_of(
        &[("d", "date")],
        vec![
            rule("parse_date", "d", json!({"source_field": "due"})),
            rule(
                "regex_extract",
                "d",
                json!({"source_field": "memo", "pattern": "due (\\S+)"}),
            ),
            rule("default", "d", json!({"value": "2000-01-01"})),
        ],
    ));
    let first = resolve(
        &policy,
        &[("due", "2024-05-01"), ("memo", "due 2024-06-01")],
    );
    assert_eq!(first[0].value, Some(ResolvedValue::Date(date(2024, 5, 1))));
    assert_eq!(first[0].rule, Some(0));
    let second = resolve(&policy, &[("due", "soon"), ("memo", "due 01.06.2024")]);
    assert_eq!(second[0].value, Some(ResolvedValue::Date(date(2024, 6, 1))));
    assert_eq!(second[0].rule, Some(1));
    assert_eq!(second[0].step, Some(ResolutionStep::Parse));
    assert_eq!(second[0].original_value.as_deref(), Some("due 01.06.2024"));
    let default = resolve(&policy, &[("due", "soon")]);
    assert_eq!(
        default[0].value,
        Some(ResolvedValue::Date(date(2000, 1, 1)))
    );
    assert_eq!(default[0].step, Some(ResolutionStep::Direct));
    assert_eq!(default[0].rule, Some(2));
    assert_eq!(default[0].reason, None);
    assert_eq!(default[0].confidence, 1.0);
}

#[rstest]
#[case("03/04/2024", Some("mdy"), date(2024, 3, 4), AMBIGUOUS_DATE_CONFIDENCE)]
#[case("03/04/2024", Some("dmy"), date(2024, 4, 3), AMBIGUOUS_DATE_CONFIDENCE)]
#[case("03/04/2024", None, date(2024, 4, 3), AMBIGUOUS_DATE_CONFIDENCE)]
#[case("03/04/2024", Some("ymd"), date(2024, 4, 3), AMBIGUOUS_DATE_CONFIDENCE)]
#[case("13/04/2024", Some("mdy"), date(2024, 4, 13), 1.0)]
#[case("March 4, 2024", Some("dmy"), date(2024, 3, 4), 1.0)]
fn parse_date_follows_the_order_and_lowers_ambiguous_confidence(
    #[case] raw: &str,
    #[case] order: Option<&str>,
    #[case] expected: NaiveDate,
    #[case] confidence: f64,
) {
    let mut config = json!({"source_field": "d"});
    if let (Some(o), Some(map)) = (order, config.as_object_mut()) {
        map.insert("order".into(), json!(o));
    }
    let policy = compiled(&policy_of(
        &[("d", "date")],
        vec![rule("parse_date", "d", config)],
    ));
    let results = resolve(&policy, &[("d", raw)]);
    assert_eq!(results[0].value, Some(ResolvedValue::Date(expected)));
    assert_eq!(results[0].confidence, confidence);
}

#[rstest]
#[case("1.234", Some(","), "1234")]
#[case("1.234", Some("."), "1.234")]
#[case("1.234", None, "1234")]
#[case("1,234", Some(","), "1.234")]
#[case("EUR 1.234,50", None, "1234.5")]
#[case("(12.50)", None, "-12.5")]
fn parse_number_uses_the_decimal_mark(
    #[case] raw: &str,
    #[case] mark: Option<&str>,
    #[case] expected: &str,
) {
    let mut config = json!({"source_field": "n"});
    if let (Some(m), Some(map)) = (mark, config.as_object_mut()) {
        map.insert("decimal_mark".into(), json!(m));
    }
    let policy = compiled(&policy_of(
        &[("n", "number")],
        vec![rule("parse_number", "n", config)],
    ));
    let results = resolve(&policy, &[("n", raw)]);
    assert_eq!(results[0].value, Some(ResolvedValue::Number(dec(expected))));
}

#[rstest]
#[case("string", " hello ", Some(ResolvedValue::String("hello".into())))]
#[case("code", " EA ", Some(ResolvedValue::Code("EA".into())))]
#[case("number", "1 234,5", Some(ResolvedValue::Number(dec("1234.5"))))]
#[case("date", "2024-03-14", Some(ResolvedValue::Date(date(2024, 3, 14))))]
#[case("boolean", "Ja", Some(ResolvedValue::Boolean(true)))]
#[case("boolean", "nein", Some(ResolvedValue::Boolean(false)))]
#[case("boolean", "perhaps", None)]
#[case("number", "n/a", None)]
fn direct_coerces_to_the_field_type(
    #[case] field_type: &str,
    #[case] raw: &str,
    #[case] expected: Option<ResolvedValue>,
) {
    let policy = compiled(&policy_of(
        &[("f", field_type)],
        vec![rule("direct", "f", json!({"source_field": "f"}))],
    ));
    let results = resolve(&policy, &[("f", raw)]);
    assert_eq!(results[0].value, expected);
    if expected.is_some() {
        assert_eq!(results[0].step, Some(ResolutionStep::Direct));
        assert_eq!(results[0].confidence, 1.0);
    } else {
        assert_eq!(results[0].status, ResolutionStatus::Unresolved);
        assert!(results[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("not a")));
    }
}

#[rstest]
#[case("INV-(\\d+)", None, "see INV-0042", Some("0042"))]
#[case("INV-\\d+", None, "see INV-0042", Some("INV-0042"))]
#[case("(?<kind>INV|CN)-(?<num>\\d+)", Some(json!("num")), "CN-7", Some("7"))]
#[case("(INV)-(\\d+)", Some(json!(0)), "x INV-9 y", Some("INV-9"))]
#[case("(INV)-(\\d+)?", Some(json!(2)), "INV-", None)]
#[case("INV-(\\d+)", None, "nothing", None)]
fn regex_extract_takes_the_group(
    #[case] pattern: &str,
    #[case] group: Option<Value>,
    #[case] raw: &str,
    #[case] expected: Option<&str>,
) {
    let mut config = json!({"source_field": "m", "pattern": pattern});
    if let (Some(g), Some(map)) = (group, config.as_object_mut()) {
        map.insert("group".into(), g);
    }
    let policy = compiled(&policy_of(
        &[("r", "string")],
        vec![rule("regex_extract", "r", config)],
    ));
    let results = resolve(&policy, &[("m", raw)]);
    assert_eq!(
        results[0].value,
        expected.map(|e| ResolvedValue::String(e.to_owned()))
    );
    if expected.is_none() {
        assert_eq!(results[0].reason.as_deref(), Some("no match"));
    }
}

#[rstest]
#[case("number", "a + b", Some(ResolvedValue::Number(dec("5.5"))))]
#[case(
    "number",
    "if paid { a } else { 0 }",
    Some(ResolvedValue::Number(dec("2.0")))
)]
#[case(
    "number",
    "round(b * 10.0) / 10.0",
    Some(ResolvedValue::Number(dec("3.5")))
)]
#[case("string", "name + \"-\" + a", Some(ResolvedValue::String("Acme-2".into())))]
#[case("string", "to_upper(name)", Some(ResolvedValue::String("ACME".into())))]
#[case("string", "`${name}/${a}`", Some(ResolvedValue::String("Acme/2".into())))]
#[case("code", "sub_string(name, 0, 2)", Some(ResolvedValue::Code("Ac".into())))]
#[case("boolean", "a > 1", Some(ResolvedValue::Boolean(true)))]
#[case("boolean", "\"yes\"", Some(ResolvedValue::Boolean(true)))]
#[case("date", "when", Some(ResolvedValue::Date(date(2024, 3, 14))))]
#[case("date", "\"14.03.2024\"", Some(ResolvedValue::Date(date(2024, 3, 14))))]
#[case("number", "42", Some(ResolvedValue::Number(dec("42.0"))))]
#[case("number", "name", None)]
#[case("number", "missing_one", None)]
#[case("number", "()", None)]
#[case("number", "a / 0.0", None)]
fn compute_converts_its_result_to_the_field_type(
    #[case] field_type: &str,
    #[case] expression: &str,
    #[case] expected: Option<ResolvedValue>,
) {
    let policy = compiled(&policy_of(
        &[
            ("a", "number"),
            ("b", "number"),
            ("name", "string"),
            ("paid", "boolean"),
            ("when", "date"),
            ("missing_one", "string"),
            ("out", field_type),
        ],
        vec![
            rule("direct", "a", json!({"source_field": "a"})),
            rule("direct", "b", json!({"source_field": "b"})),
            rule("direct", "name", json!({"source_field": "name"})),
            rule("direct", "paid", json!({"source_field": "paid"})),
            rule("direct", "when", json!({"source_field": "when"})),
            rule("direct", "missing_one", json!({"source_field": "nothing"})),
            rule("compute", "out", json!({"expression": expression})),
        ],
    ));
    let results = resolve(
        &policy,
        &[
            ("a", "2"),
            ("b", "3.5"),
            ("name", "Acme"),
            ("paid", "yes"),
            ("when", "2024-03-14"),
        ],
    );
    let out = by_key(&results, "out");
    assert_eq!(out.value, expected, "{out:?}");
    if expected.is_some() {
        assert_eq!(out.step, Some(ResolutionStep::Compute));
    } else {
        assert_eq!(out.status, ResolutionStatus::Unresolved);
    }
}

#[test]
fn compute_confidence_is_the_weakest_input() {
    let policy = compiled(&policy_of(
        &[("d", "date"), ("n", "number"), ("days", "number")],
        vec![
            rule("parse_date", "d", json!({"source_field": "d"})),
            rule("direct", "n", json!({"source_field": "n"})),
            rule(
                "compute",
                "days",
                json!({"expression": "if d == () { n } else { n + 1 }"}),
            ),
        ],
    ));
    let results = resolve(&policy, &[("d", "03/04/2024"), ("n", "5")]);
    let days = by_key(&results, "days");
    assert_eq!(days.value, Some(ResolvedValue::Number(dec("6.0"))));
    assert_eq!(days.confidence, AMBIGUOUS_DATE_CONFIDENCE);
    // A null input does not count, and the expression sees `()`.
    let results = resolve(&policy, &[("n", "5")]);
    let days = by_key(&results, "days");
    assert_eq!(days.value, Some(ResolvedValue::Number(dec("5.0"))));
    assert_eq!(days.confidence, 1.0);
}

#[test]
fn compute_is_bounded_by_time_and_operations() {
    let long = (0..40).map(|_| "a").collect::<Vec<_>>().join(" + ");
    let policy = compiled(&policy_of(
        &[("a", "number"), ("b", "number")],
        vec![
            rule("direct", "a", json!({"source_field": "a"})),
            rule("compute", "b", json!({"expression": long})),
        ],
    ));
    let ok = resolve(&policy, &[("a", "1")]);
    assert_eq!(
        by_key(&ok, "b").value,
        Some(ResolvedValue::Number(dec("40.0")))
    );

    let no_time = EvalLimits {
        time_limit: Duration::ZERO,
        ..EvalLimits::default()
    };
    let results = policy.resolve(&values(&[("a", "1")]), &tables(), &no_time);
    assert_eq!(
        by_key(&results, "b").reason.as_deref(),
        Some("compute: timed out")
    );
    assert_eq!(by_key(&results, "b").rule, Some(1));

    let few_ops = EvalLimits {
        max_operations: 10,
        ..EvalLimits::default()
    };
    let results = policy.resolve(&values(&[("a", "1")]), &tables(), &few_ops);
    assert_eq!(
        by_key(&results, "b").reason.as_deref(),
        Some("compute: too many operations")
    );

    // The string size limit is fixed at compile time.
    let small = EvalLimits {
        max_string_size: 8,
        ..EvalLimits::default()
    };
    let policy = CompiledPolicy::compile_with_limits(
        &doc(&policy_of(
            &[("a", "string"), ("b", "string")],
            vec![
                rule("direct", "a", json!({"source_field": "a"})),
                rule("compute", "b", json!({"expression": "a + a + a"})),
            ],
        )),
        &known,
        &small,
    );
    let Ok(policy) = policy else {
        panic!("compile")
    };
    let results = policy.resolve(&values(&[("a", "abcd")]), &tables(), &small);
    let reason = by_key(&results, "b").reason.clone().unwrap_or_default();
    assert!(reason.starts_with("compute: "), "{reason}");
    assert_eq!(by_key(&results, "b").value, None);
}

#[test]
fn the_engine_has_no_io_and_no_eval() {
    for expression in ["print(a)", "eval(\"1\")", "debug(a)"] {
        let policy = policy_of(
            &[("a", "number"), ("b", "number")],
            vec![rule("compute", "b", json!({"expression": expression}))],
        );
        match CompiledPolicy::compile(&doc(&policy), &known) {
            // Compiles or not; when it does, evaluating it prints nothing and yields no number.
            Ok(p) => {
                let r = p.resolve(&values(&[]), &tables(), &EvalLimits::default());
                assert_eq!(r[1].value, None, "{expression}");
            }
            Err(e) => assert_eq!(e[0].path, "rules[0].config.expression"),
        }
    }
}

fn llm_policy() -> Value {
    policy_of(
        &[
            ("country", "code"),
            ("label", "string"),
            ("other", "string"),
        ],
        vec![
            rule(
                "lookup",
                "country",
                json!({"table": "country", "source_field": "c", "fallback": "llm"}),
            ),
            rule("direct", "country", json!({"source_field": "c2"})),
            rule("format", "label", json!({"template": "{country}!"})),
            rule("direct", "other", json!({"source_field": "o"})),
        ],
    )
}

#[test]
fn an_abstaining_lookup_with_llm_fallback_waits() {
    let policy = compiled(&llm_policy());
    assert!(policy.has_llm_fallback());
    let results = resolve(&policy, &[("c", "Holland"), ("c2", "NL"), ("o", "x")]);
    let country = by_key(&results, "country");
    assert_eq!(country.status, ResolutionStatus::Waiting);
    assert_eq!(country.value, None);
    assert_eq!(country.step, None);
    assert_eq!(country.rule, Some(0));
    assert_eq!(country.original_value.as_deref(), Some("Holland"));
    let codes: Vec<&str> = country.candidates.iter().map(|c| c.code.as_str()).collect();
    assert_eq!(codes, ["NL", "XH"]);
    assert!(country
        .reason
        .as_deref()
        .is_some_and(|r| r.starts_with("waiting for llm")));
    // What reads it waits too; the rest resolves.
    let label = by_key(&results, "label");
    assert_eq!(label.status, ResolutionStatus::Waiting);
    assert_eq!(label.reason.as_deref(), Some("waiting on country"));
    assert_eq!(by_key(&results, "other").status, ResolutionStatus::Resolved);

    // A resolved lookup does not wait; an empty value goes on to the next rule.
    let results = resolve(&policy, &[("c", "Germany")]);
    assert_eq!(
        by_key(&results, "label").value,
        Some(ResolvedValue::String("DE!".into()))
    );
    let results = resolve(&policy, &[("c", "  "), ("c2", "AT")]);
    assert_eq!(
        by_key(&results, "country").value,
        Some(ResolvedValue::Code("AT".into()))
    );

    // The LLM's decision stands in, with step llm, and flows into the readers.
    let decided = HashMap::from([(
        "country".to_owned(),
        Decided {
            value: Some(ResolvedValue::Code("NL".into())),
            confidence: 0.8,
        },
    )]);
    let results = policy.resolve_with(
        &values(&[("c", "Holland")]),
        &tables(),
        &EvalLimits::default(),
        &decided,
    );
    let country = by_key(&results, "country");
    assert_eq!(country.value, Some(ResolvedValue::Code("NL".into())));
    assert_eq!(country.step, Some(ResolutionStep::Llm));
    assert_eq!(country.confidence, 0.8);
    let label = by_key(&results, "label");
    assert_eq!(label.value, Some(ResolvedValue::String("NL!".into())));
    assert_eq!(label.confidence, 0.8);

    // The LLM chose none: the next rule decides.
    let none = HashMap::from([(
        "country".to_owned(),
        Decided {
            value: None,
            confidence: 0.0,
        },
    )]);
    let results = policy.resolve_with(
        &values(&[("c", "Holland"), ("c2", "NL ")]),
        &tables(),
        &EvalLimits::default(),
        &none,
    );
    assert_eq!(
        by_key(&results, "country").step,
        Some(ResolutionStep::Direct)
    );
}

#[test]
fn an_abstaining_lookup_without_fallback_goes_on() {
    let policy = compiled(&policy_of(
        &[("c", "code")],
        vec![
            rule(
                "lookup",
                "c",
                json!({"table": "country", "source_field": "c"}),
            ),
            rule("default", "c", json!({"value": "XX"})),
        ],
    ));
    let results = resolve(&policy, &[("c", "Holland")]);
    assert_eq!(results[0].value, Some(ResolvedValue::Code("XX".into())));
    assert_eq!(results[0].status, ResolutionStatus::Resolved);
    // A table missing at run time is a failure of that rule, not a panic.
    let results = policy.resolve(&values(&[("c", "DE")]), &NoTables, &EvalLimits::default());
    assert_eq!(results[0].value, Some(ResolvedValue::Code("XX".into())));
}

#[test]
fn from_field_reads_a_resolved_value_and_its_confidence() {
    let policy = compiled(&policy_of(
        &[
            ("raw_country", "string"),
            ("country", "code"),
            ("when", "date"),
            ("when_text", "string"),
        ],
        vec![
            rule(
                "regex_extract",
                "raw_country",
                json!({"source_field": "addr", "pattern": "\\(([^)]+)\\)"}),
            ),
            rule(
                "lookup",
                "country",
                json!({"table": "country", "from_field": "raw_country"}),
            ),
            rule("parse_date", "when", json!({"source_field": "when"})),
            rule("direct", "when_text", json!({"from_field": "when"})),
        ],
    ));
    let results = resolve(
        &policy,
        &[
            ("addr", "Main St 1, Berlin (Deutschland)"),
            ("when", "03/04/2024"),
        ],
    );
    let country = by_key(&results, "country");
    assert_eq!(country.value, Some(ResolvedValue::Code("DE".into())));
    assert_eq!(country.original_value.as_deref(), Some("Deutschland"));
    let when_text = by_key(&results, "when_text");
    assert_eq!(
        when_text.value,
        Some(ResolvedValue::String("2024-04-03".into()))
    );
    assert_eq!(when_text.confidence, AMBIGUOUS_DATE_CONFIDENCE);
}

#[test]
fn formats_post_process_in_order_and_skip_on_missing_inputs() {
    let policy = compiled(&policy_of(
        &[("first", "string"), ("last", "string"), ("name", "string")],
        vec![
            rule("direct", "first", json!({"source_field": "first"})),
            rule("direct", "last", json!({"source_field": "last"})),
            rule(
                "format",
                "name",
                json!({"template": "{first} {last}", "case": "title"}),
            ),
            rule(
                "format",
                "name",
                json!({"template": "  {name} ({{x}})  ", "trim": true}),
            ),
        ],
    ));
    let results = resolve(&policy, &[("first", "ada"), ("last", "LOVELACE")]);
    let name = by_key(&results, "name");
    assert_eq!(
        name.value,
        Some(ResolvedValue::String("Ada Lovelace ({x})".into()))
    );
    assert_eq!(name.rule, Some(3));
    assert_eq!(name.original_value, None);
    let results = resolve(&policy, &[("first", "ada")]);
    let name = by_key(&results, "name");
    assert_eq!(name.status, ResolutionStatus::Unresolved);
    assert_eq!(name.reason.as_deref(), Some("missing"));
}

#[test]
fn document_values_come_from_maps_and_json() {
    let policy = compiled(&policy_of(
        &[("n", "number"), ("b", "boolean"), ("s", "string")],
        vec![
            rule("direct", "n", json!({"source_field": "n"})),
            rule("direct", "b", json!({"source_field": "b"})),
            rule("direct", "s", json!({"source_field": "s"})),
        ],
    ));
    let limits = EvalLimits::default();
    let Value::Object(map) = json!({"n": 12.5, "b": true, "s": ["not", "text"]}) else {
        panic!("object")
    };
    let results = policy.resolve(&map, &NoTables, &limits);
    assert_eq!(results[0].value, Some(ResolvedValue::Number(dec("12.5"))));
    assert_eq!(results[1].value, Some(ResolvedValue::Boolean(true)));
    assert_eq!(results[2].value, None);
    let tree: BTreeMap<String, String> = BTreeMap::from([("s".to_owned(), "x".to_owned())]);
    let results = policy.resolve(&tree, &BTreeMap::<String, LookupIndex>::new(), &limits);
    assert_eq!(results[2].value, Some(ResolvedValue::String("x".into())));
    let dynamic: &dyn DocumentValues = &tree;
    assert_eq!(
        policy.resolve(dynamic, &NoTables, &limits)[2].status,
        ResolutionStatus::Resolved
    );
}

#[test]
fn documents_deserialize_with_serde_and_report_bad_shapes() {
    let parsed: Result<PolicyDocument, _> = serde_json::from_value(example());
    assert!(parsed.is_ok());
    let bad = json!({"fields": [{"field_key": "a", "type": "string", "extra": 1}, {"type": "date"}], "rules": [{"rule_type": "direct"}]});
    let errors = match PolicyDocument::from_json(&bad) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    };
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "fields[0].extra",
            "fields[1].field_key",
            "rules[0].target_field"
        ]
    );
    assert_eq!(errors[2].rule, Some(0));
    assert!(PolicyDocument::from_json(&json!([])).is_err());
    assert!(PolicyDocument::from_json(&json!({"fields": 3})).is_err());
}

#[test]
fn steps_and_statuses_have_wire_names() {
    let steps = [
        ResolutionStep::Lookup,
        ResolutionStep::Direct,
        ResolutionStep::Parse,
        ResolutionStep::Compute,
        ResolutionStep::Format,
        ResolutionStep::Llm,
    ];
    let names: Vec<&str> = steps.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        ["lookup", "direct", "parse", "compute", "format", "llm"]
    );
    assert_eq!(ResolutionStatus::Waiting.as_str(), "waiting");
}

const PIECES: &[&str] = &[
    "",
    " ",
    "Deutschland",
    "Holland",
    "DE",
    "14.03.2024",
    "03/04/2024",
    "31/02/2024",
    "1.234,50",
    "-12",
    "(5)",
    "1e9",
    "NaN",
    "inf",
    "yes",
    "nein",
    "INV-0042",
    "INV-",
    "€",
    "ß",
    "\u{0301}",
    "日本",
    "\u{202E}",
    "0",
    "()",
    "\"",
    "{",
    "}",
    "9999999999999999999999999",
];

/// Any document, however odd, resolves without panicking, with results that keep the
/// invariants.
#[test]
fn resolution_is_total_and_keeps_its_invariants() {
    let policy = compiled(&example());
    let waiting = compiled(&llm_policy());
    let keys = [
        "country",
        "date",
        "amount",
        "vendor_name",
        "memo",
        "c",
        "c2",
        "o",
    ];
    let mut rng = XorShift(0x5EED_1234);
    for _ in 0..2000 {
        let mut doc = HashMap::new();
        for key in keys {
            if rng.below(4) == 0 {
                continue;
            }
            let mut value = String::new();
            for _ in 0..rng.below(4) {
                value.push_str(rng.pick(PIECES));
                if rng.below(2) == 0 {
                    value.push(' ');
                }
            }
            doc.insert(key.to_owned(), value);
        }
        for p in [&policy, &waiting] {
            let results = p.resolve(&doc, &tables(), &EvalLimits::default());
            assert_eq!(results.len(), p.fields().len());
            for (r, f) in results.iter().zip(p.fields()) {
                assert_eq!(r.field_key, f.key);
                assert!((0.0..=1.0).contains(&r.confidence), "{r:?}");
                match r.status {
                    ResolutionStatus::Resolved => {
                        let v = r.value.as_ref();
                        assert!(
                            v.is_some() && r.step.is_some() && r.reason.is_none(),
                            "{r:?}"
                        );
                        assert_eq!(
                            v.map(ResolvedValue::field_type),
                            Some(f.field_type),
                            "{r:?}"
                        );
                        if let Some(ResolvedValue::Number(n)) = v {
                            assert!(!format_number(n, '.').is_empty());
                        }
                    }
                    ResolutionStatus::Unresolved | ResolutionStatus::Waiting => {
                        assert!(
                            r.value.is_none() && r.step.is_none() && r.reason.is_some(),
                            "{r:?}"
                        );
                    }
                }
            }
        }
    }
}

/// Any policy text, however odd, compiles or is rejected without panicking.
#[test]
fn compilation_is_total() {
    let mut rng = XorShift(0xC0FF_EE00);
    let exprs = [
        "a", "b", "+", "*", "(", ")", "1", "1.5", "\"x\"", "if", "{", "}", "==", "let", ";", "x",
        " ",
    ];
    let templates = ["{a}", "{b}", "{", "}", "{{", "x", "{zz}", "{}", " "];
    let patterns = [
        "(", ")", "\\d", "+", "*", "a", "(?<n>", "[", "]", "{2}", "\\",
    ];
    for _ in 0..500 {
        let mut e = String::new();
        let mut t = String::new();
        let mut p = String::new();
        for _ in 0..rng.below(8) {
            e.push_str(rng.pick(&exprs));
            t.push_str(rng.pick(&templates));
            p.push_str(rng.pick(&patterns));
        }
        let policy = policy_of(
            &[("a", "number"), ("b", "string"), ("c", "string")],
            vec![
                rule("compute", "a", json!({"expression": e})),
                rule("format", "b", json!({"template": t})),
                rule(
                    "regex_extract",
                    "c",
                    json!({"source_field": "m", "pattern": p}),
                ),
            ],
        );
        if let Ok(compiled) = CompiledPolicy::compile(&doc(&policy), &known) {
            let _ = compiled.resolve(
                &values(&[("m", "abc 123")]),
                &tables(),
                &EvalLimits::default(),
            );
        }
    }
}

#[test]
fn a_compiled_policy_is_shared_across_threads() {
    let policy = std::sync::Arc::new(compiled(&example()));
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let policy = policy.clone();
            std::thread::spawn(move || {
                let amount = format!("{i},5");
                let r = policy.resolve(
                    &values(&[("amount", &amount)]),
                    &tables(),
                    &EvalLimits::default(),
                );
                r[2].value.clone()
            })
        })
        .collect();
    let got: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().ok().flatten())
        .collect();
    assert_eq!(
        got,
        [
            Some(ResolvedValue::Number(dec("0.5"))),
            Some(ResolvedValue::Number(dec("1.5")))
        ]
    );
}

/// A decimal from its text.
fn dec(text: &str) -> Decimal {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Money is exact through `parse`, `compute` and rendering: no binary-float residue.
#[rstest]
#[case("a + b", "0.1", "0.2", "0.3")]
#[case("a * b", "19.99", "3", "59.97")]
#[case("a * 1.19", "1234.5", "0", "1469.055")]
// `round` rounds half to even (52.5 → 52), `round_half_up` as a till does.
#[case("round(a * b * 100) / 100", "0.175", "3", "0.52")]
#[case("round_half_up(a * b, 2)", "0.175", "3", "0.53")]
#[case("a - b", "1000000000000.01", "0.01", "1000000000000")]
#[case("a / b", "10", "4", "2.5")]
fn computed_money_is_exact(
    #[case] expression: &str,
    #[case] a: &str,
    #[case] b: &str,
    #[case] expected: &str,
) {
    let policy = compiled(&policy_of(
        &[("a", "number"), ("b", "number"), ("out", "number")],
        vec![
            rule("parse_number", "a", json!({"source_field": "a"})),
            rule("parse_number", "b", json!({"source_field": "b"})),
            rule("compute", "out", json!({"expression": expression})),
        ],
    ));
    let results = resolve(&policy, &[("a", a), ("b", b)]);
    let out = by_key(&results, "out");
    assert_eq!(
        out.value,
        Some(ResolvedValue::Number(dec(expected))),
        "{out:?}"
    );
    assert_eq!(
        out.value.as_ref().map(ResolvedValue::to_text).as_deref(),
        Some(expected)
    );
}

#[test]
fn a_policy_names_its_tables_and_the_llm_lookups() {
    let value = policy_of(
        &[("country", "code"), ("unit", "code"), ("currency", "code")],
        vec![
            rule(
                "lookup",
                "country",
                json!({"table": "countries", "source_field": "c", "fallback": "llm"}),
            ),
            rule(
                "lookup",
                "unit",
                json!({"table": "units", "source_field": "u"}),
            ),
            rule(
                "lookup",
                "currency",
                json!({"table": "countries", "source_field": "x", "fallback": "none"}),
            ),
            rule("default", "unit", json!({"value": "EA"})),
        ],
    );
    assert_eq!(doc(&value).lookup_tables(), ["countries", "units"]);
    assert_eq!(
        doc(&value).lookup_table_of("unit").as_deref(),
        Some("units")
    );
    assert_eq!(
        doc(&value).lookup_table_of("currency").as_deref(),
        Some("countries")
    );
    assert_eq!(doc(&value).lookup_table_of("total"), None);
    let policy = CompiledPolicy::compile(&doc(&value), &|_| true)
        .unwrap_or_else(|e| panic!("compile: {e:#?}"));
    assert_eq!(policy.llm_lookups(), [("country", "countries")]);
}
