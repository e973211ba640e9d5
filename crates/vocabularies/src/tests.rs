use std::collections::HashSet;

use super::*;

const NAMES: [&str; 3] = ["iso-3166-1", "iso-4217", "unece-rec20"];

fn table(name: &str) -> &'static [StandardEntry] {
    entries(name).unwrap_or_else(|| panic!("no table {name}"))
}

/// The codes whose code, label or an alias equals `raw` case-insensitively.
fn codes_for(name: &str, raw: &str) -> Vec<&'static str> {
    let raw = raw.to_lowercase();
    table(name)
        .iter()
        .filter(|e| {
            e.code.to_lowercase() == raw
                || e.label.to_lowercase() == raw
                || e.aliases.iter().any(|a| a.to_lowercase() == raw)
        })
        .map(|e| e.code.as_str())
        .collect()
}

#[test]
fn tables_are_listed_in_a_fixed_order_and_found_by_name() {
    let names: Vec<&str> = standard_tables().iter().map(|t| t.name).collect();
    assert_eq!(names, NAMES);
    for name in NAMES {
        let t = find(name).unwrap_or_else(|| panic!("{name} not found"));
        assert_eq!(t.name, name);
        assert!(!t.title.is_empty() && !t.description.is_empty() && !t.source.is_empty());
    }
    assert!(find("iso-639").is_none());
    assert!(entries("iso-639").is_none());
}

#[test]
fn every_embedded_line_parses() {
    for name in NAMES {
        let data = embedded(name).map(|e| e.data).unwrap_or_default();
        let lines = data
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        let (parsed, skipped) = parse(data);
        assert_eq!(skipped, 0, "{name}: malformed lines");
        assert_eq!(parsed.len(), lines, "{name}");
        assert_eq!(table(name).len(), lines, "{name}");
    }
}

#[test]
fn malformed_lines_are_skipped() {
    let data =
        "# comment\nAA\tA\tx|y\t{}\nBB\tB\n\tC\t\t{}\nDD\tD\t\t[1]\nCC\tC\t|z| \t{\"a\":1}\n";
    let (parsed, skipped) = parse(data);
    assert_eq!(skipped, 3);
    let codes: Vec<&str> = parsed.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(codes, ["AA", "CC"]);
    assert_eq!(parsed[1].aliases, ["z"]);
}

#[test]
fn counts() {
    assert!(table("iso-3166-1").len() >= 249);
    assert!(table("iso-4217").len() >= 150);
    assert!(table("unece-rec20").len() >= 40);
}

fn well_formed(name: &str, code: &str) -> bool {
    let alnum = code
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    match name {
        "iso-3166-1" => code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()),
        "iso-4217" => code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()),
        _ => (2..=3).contains(&code.len()) && alnum,
    }
}

#[test]
fn codes_are_unique_well_formed_and_in_order() {
    for name in NAMES {
        let entries = table(name);
        let mut seen = HashSet::new();
        for e in entries {
            assert!(well_formed(name, &e.code), "{name}: {}", e.code);
            assert!(seen.insert(e.code.as_str()), "{name}: duplicate {}", e.code);
        }
        assert!(entries.windows(2).all(|w| w[0].code < w[1].code), "{name}");
    }
}

#[test]
fn labels_and_aliases_are_clean() {
    for name in NAMES {
        for e in table(name) {
            assert_eq!(e.label.trim(), e.label, "{name} {}", e.code);
            assert!(!e.label.is_empty(), "{name} {}", e.code);
            let mut seen = HashSet::new();
            for a in &e.aliases {
                assert!(!a.is_empty(), "{name} {}", e.code);
                assert_eq!(a.trim(), a, "{name} {}", e.code);
                assert!(
                    !a.contains(['\n', '\r', '\t', ALIAS_SEPARATOR]),
                    "{name} {a}"
                );
                let key = a.to_lowercase();
                assert_ne!(key, e.label.to_lowercase(), "{name} {}: {a}", e.code);
                assert!(seen.insert(key), "{name} {}: duplicate alias {a}", e.code);
            }
        }
    }
}

#[test]
fn attributes() {
    for e in table("iso-3166-1") {
        let alpha3 = e.attributes.get("alpha3").and_then(Value::as_str);
        let numeric = e.attributes.get("numeric").and_then(Value::as_str);
        assert!(alpha3.is_some_and(|a| a.len() == 3), "{}", e.code);
        assert!(
            numeric.is_some_and(|n| n.len() == 3 && n.chars().all(|c| c.is_ascii_digit())),
            "{}",
            e.code
        );
    }
    let de = table("iso-3166-1").iter().find(|e| e.code == "DE");
    let official = de.and_then(|e| e.attributes.get("official_name"));
    assert_eq!(
        official.and_then(Value::as_str),
        Some("Federal Republic of Germany")
    );
    for e in table("iso-4217") {
        assert!(e.attributes.get("numeric").is_some_and(Value::is_string));
        assert!(e.attributes.get("minor_units").is_some_and(Value::is_u64));
        assert!(e.attributes.get("countries").is_some_and(Value::is_array));
    }
    let currency = |code: &str| table("iso-4217").iter().find(|e| e.code == code);
    let jpy = currency("JPY")
        .map(|e| e.attributes.clone())
        .unwrap_or_default();
    assert_eq!(jpy.get("minor_units"), Some(&Value::from(0)));
    assert_eq!(jpy.get("numeric"), Some(&Value::from("392")));
    assert_eq!(jpy.get("countries"), Some(&serde_json::json!(["JP"])));
    let eur = currency("EUR")
        .map(|e| e.attributes.clone())
        .unwrap_or_default();
    let eur_countries = eur.get("countries").and_then(Value::as_array);
    assert!(eur_countries.is_some_and(|c| c.contains(&Value::from("DE"))));
    let kgm = table("unece-rec20").iter().find(|e| e.code == "KGM");
    let kgm = kgm.map(|e| e.attributes.clone()).unwrap_or_default();
    assert_eq!(kgm.get("symbol"), Some(&Value::from("kg")));
    assert_eq!(kgm.get("cldr"), Some(&serde_json::json!(["mass-kilogram"])));
}

#[test]
fn excluded_currencies_are_absent() {
    for code in [
        "XAU", "XAG", "XPT", "XPD", "XTS", "XXX", "XBA", "XDR", "XSU", "XUA", "BOV", "CLF", "COU",
        "MXV", "USN", "UYI", "UYW", "CHE", "CHW",
    ] {
        assert!(codes_for("iso-4217", code).is_empty(), "{code}");
    }
}

#[test]
fn real_world_spellings_resolve_to_one_code() {
    let cases: &[(&str, &str, &str)] = &[
        ("iso-3166-1", "Deutschland", "DE"),
        ("iso-3166-1", "Allemagne", "DE"),
        ("iso-3166-1", "Alemania", "DE"),
        ("iso-3166-1", "Германия", "DE"),
        ("iso-3166-1", "ドイツ", "DE"),
        ("iso-3166-1", "DEU", "DE"),
        ("iso-3166-1", "276", "DE"),
        ("iso-3166-1", "Burma", "MM"),
        ("iso-3166-1", "Swaziland", "SZ"),
        ("iso-3166-1", "Côte d’Ivoire", "CI"),
        ("iso-3166-1", "Côte d'Ivoire", "CI"),
        ("iso-3166-1", "Ivory Coast", "CI"),
        ("iso-3166-1", "Zaire", "CD"),
        ("iso-3166-1", "UK", "GB"),
        ("iso-3166-1", "United States of America", "US"),
        ("iso-3166-1", "Türkiye", "TR"),
        ("iso-3166-1", "Turkey", "TR"),
        ("iso-4217", "€", "EUR"),
        ("iso-4217", "euro", "EUR"),
        ("iso-4217", "Euros", "EUR"),
        ("iso-4217", "978", "EUR"),
        ("iso-4217", "yen", "JPY"),
        ("iso-4217", "円", "JPY"),
        ("iso-4217", "złoty", "PLN"),
        ("iso-4217", "zł", "PLN"),
        ("iso-4217", "US dollars", "USD"),
        ("iso-4217", "US$", "USD"),
        ("iso-4217", "₹", "INR"),
        ("iso-4217", "Schweizer Franken", "CHF"),
        ("unece-rec20", "kilogram", "KGM"),
        ("unece-rec20", "kilograms", "KGM"),
        ("unece-rec20", "kg", "KGM"),
        ("unece-rec20", "Kilogramm", "KGM"),
        ("unece-rec20", "litre", "LTR"),
        ("unece-rec20", "liter", "LTR"),
        ("unece-rec20", "l", "LTR"),
        ("unece-rec20", "hour", "HUR"),
        ("unece-rec20", "hours", "HUR"),
        ("unece-rec20", "h", "HUR"),
        ("unece-rec20", "hr", "HUR"),
        ("unece-rec20", "m²", "MTK"),
        ("unece-rec20", "square metres", "MTK"),
        ("unece-rec20", "ft²", "FTK"),
        ("unece-rec20", "km/h", "KMH"),
        ("unece-rec20", "°C", "CEL"),
        ("unece-rec20", "each", "EA"),
        ("unece-rec20", "piece", "H87"),
        ("unece-rec20", "pair", "PR"),
        ("unece-rec20", "dozen", "DZN"),
        ("unece-rec20", "lump sum", "LS"),
        ("unece-rec20", "kWh", "KWH"),
        ("unece-rec20", "kW", "KWT"),
        ("unece-rec20", "US gallons", "GLL"),
        ("unece-rec20", "megawatt hour", "MWH"),
        ("unece-rec20", "megawatt hour (1000 kW.h)", "MWH"),
        ("unece-rec20", "micrometre", "4H"),
        ("unece-rec20", "tonne", "TNE"),
        ("unece-rec20", "mile (statute mile)", "SMI"),
    ];
    for &(name, raw, code) in cases {
        assert_eq!(codes_for(name, raw), [code], "{name}: {raw}");
    }
}

#[test]
fn shared_symbols_stay_ambiguous() {
    let dollar = codes_for("iso-4217", "$");
    assert!(
        dollar.contains(&"USD") && dollar.contains(&"CAD"),
        "{dollar:?}"
    );
    let krona = codes_for("iso-4217", "kr");
    assert!(
        krona.contains(&"SEK") && krona.contains(&"NOK"),
        "{krona:?}"
    );
}

/// The letters and digits of `s`, lowercased: how the lookup cascade compares values once it
/// drops spaces and punctuation (`N/A` and `$NA` meet at `na`).
fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[test]
fn no_alias_reads_as_a_missing_value_or_a_non_country_region() {
    for name in NAMES {
        for e in table(name) {
            for a in &e.aliases {
                let key = compact(a);
                assert!(
                    !["na", "nan", "null", "none"].contains(&key.as_str()),
                    "{name} {}: {a}",
                    e.code
                );
                if name == "iso-3166-1" {
                    assert!(
                        !["eu", "un", "ez", "zz"].contains(&key.as_str()),
                        "{}: {a}",
                        e.code
                    );
                }
            }
        }
    }
}

#[test]
fn a_name_iso_gives_to_two_currencies_stays_on_both() {
    for raw in ["Bolívar Soberano", "Bolívar Soberanos"] {
        assert_eq!(codes_for("iso-4217", raw), ["VED", "VES"], "{raw}");
    }
}

#[test]
fn rec20_labels_keep_the_qualifiers_that_tell_units_apart() {
    let label = |code: &str| {
        table("unece-rec20")
            .iter()
            .find(|e| e.code == code)
            .map(|e| e.label.as_str())
    };
    assert_eq!(label("MWH"), Some("megawatt hour"));
    assert_eq!(label("GLL"), Some("gallon (US)"));
    assert_eq!(label("GLI"), Some("gallon (UK)"));
    assert_eq!(label("SEC"), Some("second [unit of time]"));
    assert_eq!(label("PTI"), Some("pint (UK)"));
}
