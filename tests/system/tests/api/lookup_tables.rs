use concord_gateway::lookup_tables::{find_names, known_names, resolve_names, TableRef};
use concord_models::database::connection;
use concord_models::organizations::Organization;
use rstest::rstest;
use serde_json::{json, Value};

use crate::helpers::{multipart_body, spawn_app, Reply, TestApp, MULTIPART_BOUNDARY};

const TABLES: &str = "/v1/lookup-tables";

async fn post_csv(app: &TestApp, query: &str, key: &str, csv: &[u8]) -> Reply {
    app.post_csv(&format!("{TABLES}{query}"), key, csv).await
}

async fn post_multipart(app: &TestApp, body: Vec<u8>) -> Reply {
    app.post_multipart(TABLES, body).await
}

fn id_of(reply: &Reply) -> String {
    reply.body["id"].as_str().expect("an id").to_owned()
}

fn field_of(reply: &Reply) -> &Value {
    &reply.body["error"]["details"]["field"]
}

fn countries() -> Value {
    json!({
        "name": "country",
        "description": "Our countries",
        "entries": [
            {"code": "DE", "label": "Germany", "aliases": ["Deutschland", "DEU"], "attributes": {"region": "EU"}},
            {"code": "FR", "label": "France"},
            {"code": "US", "label": "United States", "aliases": ["USA", "U.S."]},
            {"code": "GB", "label": "United Kingdom", "attributes": {"region": "Europe", "eu": false}},
            {"code": "JP", "label": "Japan"}
        ]
    })
}

async fn create(app: &TestApp, body: &Value) -> String {
    let reply = app.post_json(TABLES, &app.key, body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    id_of(&reply)
}

/// Every entry of a table (at `version`), walking the pages of `GET /v1/lookup-tables/{id}`.
async fn all_entries(app: &TestApp, id: &str, version: Option<i32>, limit: u32) -> Vec<Value> {
    let version = version.map_or(String::new(), |v| format!("&version={v}"));
    let mut entries = Vec::new();
    let mut path = format!("{TABLES}/{id}?limit={limit}{version}");
    loop {
        let page = app.get(&path, &app.key).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let data = page.body["entries"]["data"].as_array().expect("entries");
        assert!(data.len() <= limit as usize);
        entries.extend(data.iter().cloned());
        match page.body["entries"]["pagination"]["next_cursor"].as_str() {
            Some(cursor) => path = format!("{TABLES}/{id}?limit={limit}{version}&cursor={cursor}"),
            None => return entries,
        }
    }
}

fn codes(entries: &[Value]) -> Vec<&str> {
    entries.iter().filter_map(|e| e["code"].as_str()).collect()
}

async fn assert_nothing_stored(app: &TestApp) {
    assert_eq!(app.count("lookup_tables").await, 0);
    assert_eq!(app.count("lookup_entries").await, 0);
}

#[actix_web::test]
async fn a_json_table_is_stored_and_its_entries_read_page_by_page() {
    let app = spawn_app().await;
    let reply = app.post_json(TABLES, &app.key, &countries()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = id_of(&reply);
    assert_eq!(
        reply.header("location").as_deref(),
        Some(format!("{TABLES}/{id}").as_str())
    );
    assert_eq!(reply.body["name"], "country");
    assert_eq!(reply.body["description"], "Our countries");
    assert_eq!(reply.body["built_in"], false);
    assert_eq!(reply.body["extends"], Value::Null);
    assert_eq!(reply.body["version"], 1);
    assert_eq!(reply.body["latest_version"], 1);
    assert_eq!(reply.body["entry_count"], 5);
    assert!(reply.body["created_at"].is_string());
    assert!(reply.body["updated_at"].is_string());
    assert_eq!(
        reply.body["links"],
        json!({"self": format!("{TABLES}/{id}"), "entries": format!("{TABLES}/{id}/entries")})
    );
    assert!(reply.body.get("entries").is_none());

    let fetched = app.get(&format!("{TABLES}/{id}?limit=2"), &app.key).await;
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    assert_eq!(fetched.body["name"], "country");
    assert_eq!(fetched.body["entries"]["pagination"]["limit"], 2);
    assert_eq!(fetched.body["entries"]["pagination"]["has_more"], true);
    assert_eq!(
        fetched.body["entries"]["data"][0],
        json!({"code": "DE", "label": "Germany", "aliases": ["Deutschland", "DEU"], "attributes": {"region": "EU"}})
    );
    assert_eq!(
        fetched.body["entries"]["data"][1],
        json!({"code": "FR", "label": "France", "aliases": [], "attributes": {}})
    );

    let entries = all_entries(&app, &id, None, 2).await;
    assert_eq!(codes(&entries), ["DE", "FR", "US", "GB", "JP"]);
    assert_eq!(
        entries[3]["attributes"],
        json!({"region": "Europe", "eu": false})
    );

    // The entries alone.
    let page = app
        .get(&format!("{TABLES}/{id}/entries?limit=3"), &app.key)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        codes(page.body["data"].as_array().expect("data")),
        ["DE", "FR", "US"]
    );
    let cursor = page.body["pagination"]["next_cursor"]
        .as_str()
        .expect("more");
    let rest = app
        .get(&format!("{TABLES}/{id}/entries?cursor={cursor}"), &app.key)
        .await;
    assert_eq!(
        codes(rest.body["data"].as_array().expect("data")),
        ["GB", "JP"]
    );
    assert_eq!(rest.body["pagination"]["has_more"], false);

    let bad_limit = app.get(&format!("{TABLES}/{id}?limit=0"), &app.key).await;
    assert_eq!(bad_limit.status, 422);
    let bad_cursor = app
        .get(&format!("{TABLES}/{id}?cursor=%25%25"), &app.key)
        .await;
    assert_eq!(bad_cursor.status, 422);
}

#[actix_web::test]
async fn a_csv_table_splits_aliases_and_keeps_other_columns_as_attributes() {
    let app = spawn_app().await;
    let csv = "\u{feff}Code,region,label,aliases,iso3\r\nDE,EU,Germany,Deutschland|DEU| Allemagne ||DEU,DEU\r\n\"US\",,\"United States, of America\",\"USA|\"\"U.S.\"\"\",USA\r\nXK,,,,\r\n";
    let reply = post_csv(
        &app,
        "?name=iso.country_v2&description=From%20CSV",
        &app.key,
        csv.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["name"], "iso.country_v2");
    assert_eq!(reply.body["description"], "From CSV");
    assert_eq!(reply.body["entry_count"], 3);
    let entries = all_entries(&app, &id_of(&reply), None, 50).await;
    assert_eq!(
        entries,
        vec![
            json!({"code": "DE", "label": "Germany", "aliases": ["Deutschland", "DEU", "Allemagne"], "attributes": {"region": "EU", "iso3": "DEU"}}),
            json!({"code": "US", "label": "United States, of America", "aliases": ["USA", "\"U.S.\""], "attributes": {"iso3": "USA"}}),
            // An empty label cell takes the code; empty cells are no attributes.
            json!({"code": "XK", "label": "XK", "aliases": [], "attributes": {}}),
        ]
    );
}

#[actix_web::test]
async fn a_semicolon_separated_windows_1252_table_is_read_as_text() {
    // Detected: `;` from the header, Windows-1252 from the bytes (0xE4 is `ä`, 0x80 is `€`).
    let app = spawn_app().await;
    let csv = b"code;label;aliases\r\nEUR;Euro;\x80|euro|EUR\r\nCHF;Schweizer Franken;Fr.|SFr|Fr\xe4nkli\r\n";
    let reply = post_csv(&app, "?name=currencies.de", &app.key, csv).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let entries = all_entries(&app, &id_of(&reply), None, 10).await;
    assert_eq!(
        entries,
        vec![
            json!({"code": "EUR", "label": "Euro", "aliases": ["€", "euro", "EUR"], "attributes": {}}),
            json!({"code": "CHF", "label": "Schweizer Franken", "aliases": ["Fr.", "SFr", "Fränkli"], "attributes": {}}),
        ]
    );
}

#[actix_web::test]
async fn a_multipart_upload_takes_its_fields_from_parts_or_the_query() {
    let app = spawn_app().await;
    let body = multipart_body(&[
        (
            "file",
            Some("units.csv"),
            b"code,label,aliases\nKGM,kilogram,kg|kilo\nH87,piece,pcs\n",
        ),
        ("name", None, b"units"),
        ("description", None, b"Units we use"),
        ("comment", None, b"ignored"),
    ]);
    let reply = post_multipart(&app, body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["name"], "units");
    assert_eq!(reply.body["description"], "Units we use");
    assert_eq!(reply.body["entry_count"], 2);
    let entries = all_entries(&app, &id_of(&reply), None, 10).await;
    assert_eq!(entries[0]["aliases"], json!(["kg", "kilo"]));

    let from_query = app
        .send(
            app.client
                .post(app.url(&format!("{TABLES}?name=currencies&extends=iso-4217")))
                .bearer_auth(&app.key),
            Some((
                &format!("multipart/form-data; boundary=\"{MULTIPART_BOUNDARY}\""),
                multipart_body(&[("file", Some("x.csv"), b"code,label\n")]),
            )),
        )
        .await;
    assert_eq!(from_query.status, 201, "{}", from_query.body);
    assert_eq!(from_query.body["name"], "currencies");
    assert_eq!(from_query.body["extends"], "iso-4217");
    assert_eq!(from_query.body["entry_count"], 0);

    let no_file = post_multipart(&app, multipart_body(&[("name", None, b"x")])).await;
    assert_eq!(no_file.status, 422, "{}", no_file.body);
    assert_eq!(field_of(&no_file), "file");
    let two_files = post_multipart(
        &app,
        multipart_body(&[
            ("name", None, b"y"),
            ("file", Some("a.csv"), b"code,label\nA,a\n"),
            ("file", Some("b.csv"), b"code,label\nB,b\n"),
        ]),
    )
    .await;
    assert_eq!(two_files.status, 422, "{}", two_files.body);
    assert_eq!(app.count("lookup_tables").await, 2);
}

fn entry(code: &str) -> Value {
    json!({"code": code, "label": format!("label {code}")})
}

#[rstest]
#[case::missing_name(json!({"entries": [entry("A")]}), "name")]
#[case::blank_name(json!({"name": "  ", "entries": [entry("A")]}), "name")]
#[case::name_with_a_space(json!({"name": "my table", "entries": [entry("A")]}), "name")]
#[case::name_with_a_slash(json!({"name": "a/b", "entries": [entry("A")]}), "name")]
#[case::name_too_long(json!({"name": "x".repeat(101), "entries": [entry("A")]}), "name")]
#[case::no_entries(json!({"name": "t", "entries": []}), "entries")]
#[case::entries_missing(json!({"name": "t"}), "entries")]
#[case::unknown_extends(json!({"name": "t", "extends": "iso-9999", "entries": [entry("A")]}), "extends")]
#[case::extends_in_another_case(json!({"name": "t", "extends": "ISO-4217"}), "extends")]
#[case::duplicate_code(json!({"name": "t", "entries": [entry("A"), entry("B"), entry("C"), entry("B")]}), "entries[3].code")]
#[case::duplicate_code_once_trimmed(json!({"name": "t", "entries": [entry("A"), {"code": " A ", "label": "x"}]}), "entries[1].code")]
#[case::empty_code(json!({"name": "t", "entries": [entry("A"), {"code": "  ", "label": "x"}]}), "entries[1].code")]
#[case::missing_label(json!({"name": "t", "entries": [{"code": "A"}]}), "entries[0].label")]
#[case::empty_label(json!({"name": "t", "entries": [{"code": "A", "label": ""}]}), "entries[0].label")]
#[case::control_in_code(json!({"name": "t", "entries": [{"code": "A\u{1f}B", "label": "x"}]}), "entries[0].code")]
#[case::control_in_label(json!({"name": "t", "entries": [{"code": "A", "label": "x\ny"}]}), "entries[0].label")]
#[case::control_in_alias(json!({"name": "t", "entries": [{"code": "A", "label": "x", "aliases": ["ok", "b\u{7}"]}]}), "entries[0].aliases[1]")]
#[case::alias_not_a_string(json!({"name": "t", "entries": [{"code": "A", "label": "x", "aliases": [1]}]}), "entries[0].aliases[0]")]
#[case::unknown_field(json!({"name": "t", "entries": [entry("A")], "colour": "red"}), "colour")]
#[case::unknown_entry_field(json!({"name": "t", "entries": [{"code": "A", "label": "a", "note": "x"}]}), "entries[0].note")]
#[case::long_description(json!({"name": "t", "description": "d".repeat(2001), "entries": [entry("A")]}), "description")]
#[actix_web::test]
async fn invalid_json_tables_are_422_naming_the_field(#[case] body: Value, #[case] field: &str) {
    let app = spawn_app().await;
    let reply = app.post_json(TABLES, &app.key, &body).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.error_code(), "validation_failed");
    assert_eq!(
        field_of(&reply).as_str().map(|f| f.trim_start_matches('.')),
        Some(field),
        "{}",
        reply.body
    );
    assert_nothing_stored(&app).await;
}

#[actix_web::test]
async fn a_duplicate_code_names_both_places() {
    let app = spawn_app().await;
    let mut entries: Vec<Value> = (0..7).map(|i| entry(&format!("C{i}"))).collect();
    entries.push(entry("C2"));
    let reply = app
        .post_json(TABLES, &app.key, &json!({"name": "t", "entries": entries}))
        .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(field_of(&reply), "entries[7].code");
    let message = reply.body["error"]["message"].as_str().expect("a message");
    assert!(message.contains("`C2`"), "{message}");
    assert!(message.contains("entries[2]"), "{message}");

    let csv = "code,label\nA,a\nB,b\n\nC,c\nB,again\n";
    let reply = post_csv(&app, "?name=t", &app.key, csv.as_bytes()).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.body["error"]["details"]["line"], 6);
    assert_eq!(field_of(&reply), "code");
    let message = reply.body["error"]["message"].as_str().expect("a message");
    assert!(message.starts_with("line 6"), "{message}");
    assert!(message.contains("first at line 3"), "{message}");
    assert_nothing_stored(&app).await;
}

#[actix_web::test]
async fn a_table_said_to_be_utf_8_with_other_bytes_is_422_naming_the_line() {
    let app = spawn_app().await;
    let csv = b"code,label\nDE,G\x80\n";
    let reply = post_csv(&app, "?name=t&encoding=utf-8", &app.key, csv).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.body["error"]["details"]["line"], 2, "{}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("encoding=windows-1252"), "{message}");
    assert_nothing_stored(&app).await;
}

#[rstest]
#[case::no_code_column(b"label,aliases\nGermany,DE\n".as_slice(), 1, Some("code"))]
#[case::no_label_column(b"code,name\nDE,Germany\n".as_slice(), 1, Some("label"))]
#[case::duplicate_column(b"code,label,Code\nDE,Germany,x\n".as_slice(), 1, None)]
#[case::empty_column_name(b"code,label,\nDE,Germany,x\n".as_slice(), 1, None)]
#[case::too_few_fields(b"code,label,region\nDE,Germany,EU\nFR,France\n".as_slice(), 3, None)]
#[case::empty_code(b"code,label\nDE,Germany\n ,Nowhere\n".as_slice(), 3, Some("code"))]
#[case::control_in_alias(b"code,label,aliases\nDE,Germany,\"a|b\x01\"\n".as_slice(), 2, Some("aliases"))]
#[case::unterminated_quote(b"code,label\nDE,\"Germany\n".as_slice(), 2, None)]
#[case::nul_in_label(b"code,label\nDE,Ger\x00many\n".as_slice(), 2, None)]
#[actix_web::test]
async fn invalid_csv_tables_are_422_naming_the_line(
    #[case] csv: &[u8],
    #[case] line: u64,
    #[case] field: Option<&str>,
) {
    let app = spawn_app().await;
    let reply = post_csv(&app, "?name=t", &app.key, csv).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.body["error"]["details"]["line"], line,
        "{}",
        reply.body
    );
    let message = reply.body["error"]["message"].as_str().expect("a message");
    assert!(message.starts_with(&format!("line {line}")), "{message}");
    if let Some(field) = field {
        assert_eq!(field_of(&reply), field, "{}", reply.body);
    }
    assert_nothing_stored(&app).await;
}

#[actix_web::test]
async fn empty_bodies_and_csv_without_entries_are_422() {
    let app = spawn_app().await;
    for (content_type, body) in [
        ("application/json", ""),
        ("text/csv", ""),
        ("text/csv", "\r\n\r\n"),
    ] {
        let reply = app
            .send(
                app.client
                    .post(app.url(&format!("{TABLES}?name=t")))
                    .bearer_auth(&app.key),
                Some((content_type, body.as_bytes().to_vec())),
            )
            .await;
        assert_eq!(reply.status, 422, "{content_type} {body:?}: {}", reply.body);
        assert_eq!(field_of(&reply), "body", "{}", reply.body);
    }
    let empty_multipart = post_multipart(&app, Vec::new()).await;
    assert_eq!(empty_multipart.status, 422, "{}", empty_multipart.body);
    // A header without entries is a table without entries: only allowed with `extends`.
    let header_only = post_csv(&app, "?name=t", &app.key, b"code,label\n").await;
    assert_eq!(header_only.status, 422, "{}", header_only.body);
    assert_eq!(field_of(&header_only), "entries");
    // The name is checked for CSV too.
    let bad_name = post_csv(&app, "?name=a%20b", &app.key, b"code,label\nA,a\n").await;
    assert_eq!(bad_name.status, 422, "{}", bad_name.body);
    assert_eq!(field_of(&bad_name), "name");
    let no_name = post_csv(&app, "", &app.key, b"code,label\nA,a\n").await;
    assert_eq!(no_name.status, 422, "{}", no_name.body);
    assert_eq!(field_of(&no_name), "name");
    let malformed = app
        .send(
            app.client.post(app.url(TABLES)).bearer_auth(&app.key),
            Some(("application/json", b"{\"name\": ".to_vec())),
        )
        .await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    assert_nothing_stored(&app).await;
}

#[actix_web::test]
async fn other_content_types_are_415() {
    let app = spawn_app().await;
    for content_type in ["text/plain", "application/xml", "application/x-ndjson"] {
        let reply = app
            .send(
                app.client
                    .post(app.url(&format!("{TABLES}?name=t")))
                    .bearer_auth(&app.key),
                Some((content_type, b"code,label\nA,a\n".to_vec())),
            )
            .await;
        assert_eq!(reply.status, 415, "{content_type}: {}", reply.body);
        assert_eq!(reply.error_code(), "unsupported_media_type");
    }
    let missing_boundary = app
        .send(
            app.client.post(app.url(TABLES)).bearer_auth(&app.key),
            Some(("multipart/form-data", b"x".to_vec())),
        )
        .await;
    assert_eq!(missing_boundary.status, 422, "{}", missing_boundary.body);
    assert_nothing_stored(&app).await;
}

#[actix_web::test]
async fn a_taken_or_built_in_name_is_409() {
    let app = spawn_app().await;
    create(&app, &countries()).await;
    let again = app.post_json(TABLES, &app.key, &countries()).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.error_code(), "name_taken");
    let by_csv = post_csv(&app, "?name=country", &app.key, b"code,label\nA,a\n").await;
    assert_eq!(by_csv.status, 409, "{}", by_csv.body);
    assert_eq!(by_csv.error_code(), "name_taken");

    for name in ["iso-4217", "ISO-3166-1", "unece-rec20"] {
        let reply = app
            .post_json(
                TABLES,
                &app.key,
                &json!({"name": name, "entries": [entry("A")]}),
            )
            .await;
        assert_eq!(reply.status, 409, "{name}: {}", reply.body);
        assert_eq!(reply.error_code(), "name_taken");
        let message = reply.body["error"]["message"].as_str().expect("a message");
        assert!(message.contains("built-in"), "{message}");
    }

    // Names are per organisation.
    let other = app.post_json(TABLES, &app.other_key, &countries()).await;
    assert_eq!(other.status, 201, "{}", other.body);
    assert_eq!(app.count("lookup_tables").await, 2);
}

#[actix_web::test]
async fn a_table_may_extend_a_built_in_one() {
    let app = spawn_app().await;
    let reply = app
        .post_json(
            TABLES,
            &app.key,
            &json!({"name": "currency", "extends": "iso-4217"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["extends"], "iso-4217");
    assert_eq!(reply.body["entry_count"], 0);
    assert_eq!(reply.body["links"]["extends"], "/v1/lookup-tables/iso-4217");

    let with_entries = app
        .post_json(
            TABLES,
            &app.key,
            &json!({"name": "country", "extends": "iso-3166-1", "entries": [{"code": "XK", "label": "Kosovo"}]}),
        )
        .await;
    assert_eq!(with_entries.status, 201, "{}", with_entries.body);
    let entries = all_entries(&app, &id_of(&with_entries), None, 10).await;
    assert_eq!(codes(&entries), ["XK"]);
}

#[actix_web::test]
async fn a_put_makes_a_new_version_and_older_versions_stay_readable() {
    let app = spawn_app().await;
    let id = create(&app, &countries()).await;
    let path = format!("{TABLES}/{id}");

    let replaced = app.put_json(&path,
        &app.key,
        &json!({"name": "country", "extends": "iso-3166-1", "entries": [entry("XK"), entry("EU")]}),
    )
    .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.body["id"], id);
    assert_eq!(replaced.body["version"], 2);
    assert_eq!(replaced.body["entry_count"], 2);
    assert_eq!(replaced.body["extends"], "iso-3166-1");
    // The description was replaced too (omitted: none).
    assert_eq!(replaced.body["description"], Value::Null);

    let current = app.get(&path, &app.key).await;
    assert_eq!(current.body["version"], 2);
    assert_eq!(
        codes(current.body["entries"]["data"].as_array().expect("data")),
        ["XK", "EU"]
    );

    let old = app.get(&format!("{path}?version=1"), &app.key).await;
    assert_eq!(old.status, 200, "{}", old.body);
    assert_eq!(old.body["version"], 1);
    assert_eq!(old.body["latest_version"], 2);
    assert_eq!(old.body["entry_count"], 5);
    assert_eq!(old.body["extends"], Value::Null);
    assert_eq!(
        old.body["links"]["entries"],
        format!("{path}/entries?version=1")
    );
    assert_eq!(
        codes(&all_entries(&app, &id, Some(1), 2).await),
        ["DE", "FR", "US", "GB", "JP"]
    );
    let old_entries = app
        .get(&format!("{path}/entries?version=1&limit=1"), &app.key)
        .await;
    assert_eq!(
        codes(old_entries.body["data"].as_array().expect("data")),
        ["DE"]
    );

    let missing = app.get(&format!("{path}?version=3"), &app.key).await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    let message = missing.body["error"]["message"]
        .as_str()
        .expect("a message");
    assert!(message.contains("version=3"), "{message}");
    let bad = app.get(&format!("{path}?version=zero"), &app.key).await;
    assert_eq!(bad.status, 422);
    assert_eq!(field_of(&bad), "version");

    // By CSV, without the name: version 3.
    let by_csv = app
        .send(
            app.client
                .put(app.url(&format!("{path}?description=v3")))
                .bearer_auth(&app.key),
            Some(("text/csv", b"code,label\nDE,Germany\n".to_vec())),
        )
        .await;
    assert_eq!(by_csv.status, 200, "{}", by_csv.body);
    assert_eq!(by_csv.body["version"], 3);
    assert_eq!(by_csv.body["description"], "v3");
    assert_eq!(by_csv.body["extends"], Value::Null);

    // The name can't change; a bad body changes nothing.
    let renamed = app
        .put_json(
            &path,
            &app.key,
            &json!({"name": "land", "entries": [entry("A")]}),
        )
        .await;
    assert_eq!(renamed.status, 422, "{}", renamed.body);
    assert_eq!(field_of(&renamed), "name");
    let duplicate = app
        .put_json(
            &path,
            &app.key,
            &json!({"entries": [entry("A"), entry("A")]}),
        )
        .await;
    assert_eq!(duplicate.status, 422, "{}", duplicate.body);
    assert_eq!(field_of(&duplicate), "entries[1].code");
    let empty = app.put_json(&path, &app.key, &json!({"entries": []})).await;
    assert_eq!(empty.status, 422, "{}", empty.body);
    assert_eq!(app.get(&path, &app.key).await.body["version"], 3);
    assert_eq!(app.count("lookup_table_versions").await, 3);

    let unknown = app
        .put_json(
            &format!("{TABLES}/{}", uuid::Uuid::now_v7()),
            &app.key,
            &json!({"entries": [entry("A")]}),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
}

#[actix_web::test]
async fn a_deleted_table_is_gone_with_its_versions() {
    let app = spawn_app().await;
    let id = create(&app, &countries()).await;
    let path = format!("{TABLES}/{id}");
    let put = app
        .put_json(&path, &app.key, &json!({"entries": [entry("A")]}))
        .await;
    assert_eq!(put.status, 200, "{}", put.body);

    let deleted = app.delete(&path, &app.key).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(app.get(&path, &app.key).await.status, 404);
    assert_eq!(
        app.get(&format!("{path}?version=1"), &app.key).await.status,
        404
    );
    assert_eq!(app.delete(&path, &app.key).await.status, 404);
    assert_eq!(
        app.delete(&format!("{TABLES}/not-a-table"), &app.key)
            .await
            .status,
        404
    );
    assert_eq!(app.count("lookup_table_versions").await, 0);
    assert_eq!(app.count("lookup_entries").await, 0);
    // The name is free again.
    create(&app, &countries()).await;
}

#[actix_web::test]
async fn scopes_and_organisations_are_enforced() {
    let app = spawn_app().await;
    let read_only = app.post_json(TABLES, &app.read_key, &countries()).await;
    assert_eq!(read_only.status, 403, "{}", read_only.body);
    assert_eq!(read_only.error_code(), "insufficient_scope");
    assert_nothing_stored(&app).await;

    let id = create(&app, &countries()).await;
    let path = format!("{TABLES}/{id}");
    assert_eq!(app.get(&path, &app.read_key).await.status, 200);
    assert_eq!(app.get(TABLES, &app.read_key).await.status, 200);
    let put = app.put_json(&path, &app.read_key, &countries()).await;
    assert_eq!(put.status, 403, "{}", put.body);
    assert_eq!(app.delete(&path, &app.read_key).await.status, 403);
    let anonymous = app.send(app.client.get(app.url(TABLES)), None).await;
    assert_eq!(anonymous.status, 401);

    // Another organisation sees nothing of it.
    for sub in ["", "/entries", "?version=1"] {
        let reply = app.get(&format!("{path}{sub}"), &app.other_key).await;
        assert_eq!(reply.status, 404, "{sub}: {}", reply.body);
        assert_eq!(reply.error_code(), "not_found");
    }
    let put = app.put_json(&path, &app.other_key, &countries()).await;
    assert_eq!(put.status, 404, "{}", put.body);
    assert_eq!(app.delete(&path, &app.other_key).await.status, 404);
    let list = app
        .get(&format!("{TABLES}?built_in=false"), &app.other_key)
        .await;
    assert_eq!(list.body["data"], json!([]), "{}", list.body);
    assert_eq!(app.get(&path, &app.key).await.body["version"], 1);
}

#[actix_web::test]
async fn built_in_tables_are_listed_first_readable_by_name_and_read_only() {
    let app = spawn_app().await;
    let first = create(&app, &countries()).await;
    let second = create(&app, &json!({"name": "units", "entries": [entry("H87")]})).await;

    let list = app.get(TABLES, &app.key).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let data = list.body["data"].as_array().expect("data");
    let names: Vec<&str> = data.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(
        names,
        ["iso-3166-1", "iso-4217", "unece-rec20", "units", "country"]
    );
    assert_eq!(data[0]["built_in"], true);
    assert_eq!(data[0]["id"], "iso-3166-1");
    assert_eq!(data[0]["version"], Value::Null);
    assert!(data[0]["title"].is_string());
    assert!(data[0]["source"].is_string());
    assert!(data[0]["entry_count"].as_i64().expect("a count") > 0);
    assert_eq!(data[3]["built_in"], false);
    assert_eq!(data[3]["id"], second);
    assert!(data[3].get("title").is_none());

    // One cursor walks the built-ins and then the organisation's tables.
    let mut ids = Vec::new();
    let mut path = format!("{TABLES}?limit=2");
    loop {
        let page = app.get(&path, &app.key).await;
        assert_eq!(page.status, 200, "{}", page.body);
        ids.extend(
            page.body["data"]
                .as_array()
                .expect("data")
                .iter()
                .filter_map(|t| t["id"].as_str().map(str::to_owned)),
        );
        match page.body["pagination"]["next_cursor"].as_str() {
            Some(cursor) => path = format!("{TABLES}?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        ids,
        [
            "iso-3166-1",
            "iso-4217",
            "unece-rec20",
            second.as_str(),
            first.as_str()
        ]
    );
    let built_ins = app.get(&format!("{TABLES}?built_in=true"), &app.key).await;
    assert_eq!(built_ins.body["data"].as_array().expect("data").len(), 3);
    let own = app.get(&format!("{TABLES}?built_in=false"), &app.key).await;
    let own_ids: Vec<&str> = own.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(own_ids, [second.as_str(), first.as_str()]);
    let bad = app.get(&format!("{TABLES}?built_in=yes"), &app.key).await;
    assert_eq!(bad.status, 422);

    // Readable by name, by every organisation, page by page.
    let currencies = app
        .get(&format!("{TABLES}/iso-4217?limit=500"), &app.other_key)
        .await;
    assert_eq!(currencies.status, 200, "{}", currencies.body);
    assert_eq!(currencies.body["built_in"], true);
    assert_eq!(currencies.body["name"], "iso-4217");
    assert_eq!(
        currencies.body["links"]["self"],
        "/v1/lookup-tables/iso-4217"
    );
    let euro = currencies.body["entries"]["data"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["code"] == "EUR")
        .cloned()
        .expect("the euro");
    assert_eq!(euro["label"], "Euro");
    // Every entry, page by page.
    let count = currencies.body["entry_count"].as_u64().expect("a count") as usize;
    let mut walked: Vec<String> = Vec::new();
    let mut path = format!("{TABLES}/iso-4217/entries?limit=25");
    loop {
        let page = app.get(&path, &app.key).await;
        assert_eq!(page.status, 200, "{}", page.body);
        walked.extend(
            codes(page.body["data"].as_array().expect("data"))
                .into_iter()
                .map(str::to_owned),
        );
        match page.body["pagination"]["next_cursor"].as_str() {
            Some(cursor) => path = format!("{TABLES}/iso-4217/entries?limit=25&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked.len(), count);
    let distinct: std::collections::BTreeSet<&String> = walked.iter().collect();
    assert_eq!(distinct.len(), count);
    let germany = app
        .get(&format!("{TABLES}/iso-3166-1?limit=1000"), &app.key)
        .await;
    assert!(germany.body["entries"]["data"]
        .as_array()
        .expect("entries")
        .iter()
        .any(|e| e["code"] == "DE" && e["label"] == "Germany"));

    for name in ["iso-4217", "unece-rec20"] {
        let put = app
            .put_json(
                &format!("{TABLES}/{name}"),
                &app.key,
                &json!({"entries": [entry("A")]}),
            )
            .await;
        assert_eq!(put.status, 409, "{}", put.body);
        assert_eq!(put.error_code(), "read_only");
        let deleted = app.delete(&format!("{TABLES}/{name}"), &app.key).await;
        assert_eq!(deleted.status, 409, "{}", deleted.body);
        assert_eq!(deleted.error_code(), "read_only");
    }
    // Reading stays a read scope; writing to a built-in still needs write.
    assert_eq!(
        app.delete(&format!("{TABLES}/iso-4217"), &app.read_key)
            .await
            .status,
        403
    );
    let versioned = app
        .get(&format!("{TABLES}/iso-4217?version=2"), &app.key)
        .await;
    assert_eq!(versioned.status, 404);
    // Names are exact.
    assert_eq!(
        app.get(&format!("{TABLES}/ISO-4217"), &app.key)
            .await
            .status,
        404
    );
}

#[actix_web::test]
async fn names_resolve_to_table_refs_for_policies() {
    let app = spawn_app().await;
    let id = create(&app, &countries()).await;
    let put = app
        .put_json(
            &format!("{TABLES}/{id}"),
            &app.key,
            &json!({"extends": "iso-3166-1", "entries": [entry("XK")]}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let other = app
        .post_json(
            TABLES,
            &app.other_key,
            &json!({"name": "vendors", "entries": [entry("V1")]}),
        )
        .await;
    assert_eq!(other.status, 201);

    let mut conn = connection(&app.pool).await.expect("a connection");
    let acme = Organization::find_or_create(&mut conn, "acme")
        .await
        .expect("acme");
    let names: Vec<String> = ["country", "iso-4217"].map(str::to_owned).to_vec();
    let refs = resolve_names(&mut conn, acme.id, &names)
        .await
        .expect("resolved");
    assert_eq!(
        refs,
        vec![
            TableRef {
                name: "country".to_owned(),
                built_in: false,
                table_id: Some(id.parse().expect("a uuid")),
                version: Some(2),
                extends: Some("iso-3166-1".to_owned()),
            },
            TableRef {
                name: "iso-4217".to_owned(),
                built_in: true,
                table_id: None,
                version: None,
                extends: None,
            },
        ]
    );
    // A snapshot round-trips.
    let snapshot = serde_json::to_value(&refs).expect("JSON");
    let back: Vec<TableRef> = serde_json::from_value(snapshot).expect("TableRefs");
    assert_eq!(back, refs);

    // Another organisation's table is unknown here.
    let unknown: Vec<String> = ["country", "vendors", "nope"].map(str::to_owned).to_vec();
    let error = resolve_names(&mut conn, acme.id, &unknown)
        .await
        .expect_err("unknown names");
    let message = error.to_string();
    assert!(
        message.contains("`vendors`") && message.contains("`nope`"),
        "{message}"
    );
    assert!(!message.contains("`country`"), "{message}");
    let found = find_names(&mut conn, acme.id, &unknown)
        .await
        .expect("found");
    assert_eq!(
        found.iter().map(Option::is_some).collect::<Vec<_>>(),
        [true, false, false]
    );

    let known = known_names(&mut conn, acme.id).await.expect("names");
    assert_eq!(
        known.into_iter().collect::<Vec<_>>(),
        ["country", "iso-3166-1", "iso-4217", "unece-rec20"]
    );
}
