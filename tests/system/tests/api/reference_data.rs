use std::time::Instant;

use bytes::Bytes;
use rstest::rstest;
use serde_json::{json, Value};

use crate::helpers::{multipart_body, spawn_app, Reply, TestApp, MULTIPART_BOUNDARY};

async fn post_csv(app: &TestApp, query: &str, key: &str, csv: &[u8]) -> Reply {
    app.post_csv(&format!("/v1/reference-data{query}"), key, csv)
        .await
}

async fn post_multipart(app: &TestApp, body: Vec<u8>) -> Reply {
    app.post_multipart("/v1/reference-data", body).await
}

/// A GET answered with text (the export).
async fn get_text(app: &TestApp, path: &str, key: &str) -> (u16, Option<String>, String) {
    let mut response = app
        .client
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .expect("the request is answered");
    let body = response
        .body()
        .limit(512 * 1024 * 1024)
        .await
        .expect("a body");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        response.status().as_u16(),
        content_type,
        String::from_utf8(body.to_vec()).expect("UTF-8"),
    )
}

/// Every row of a dataset, walking the pages.
async fn all_rows(app: &TestApp, id: &str, limit: u32) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut path = format!("/v1/reference-data/{id}/rows?limit={limit}");
    loop {
        let page = app.get(&path, &app.key).await;
        assert_eq!(page.status, 200, "{}", page.body);
        rows.extend(page.body["data"].as_array().expect("data").iter().cloned());
        match page.body["pagination"]["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/v1/reference-data/{id}/rows?limit={limit}&cursor={cursor}")
            }
            None => return rows,
        }
    }
}

fn id_of(reply: &Reply) -> String {
    reply.body["id"].as_str().expect("an id").to_owned()
}

async fn assert_nothing_stored(app: &TestApp) {
    assert_eq!(app.count("reference_datasets").await, 0);
    assert_eq!(app.count("reference_rows").await, 0);
    let list = app.get("/v1/reference-data", &app.key).await;
    assert_eq!(list.body["data"], json!([]), "{}", list.body);
}

#[actix_web::test]
async fn a_json_upload_is_stored_and_read_back_page_by_page() {
    let app = spawn_app().await;
    // Written by hand: `json!` would sort the keys, and columns follow their first appearance.
    let body = r#"{
        "name": "  Vendors ",
        "id_column": "ref_id",
        "rows": [
            {"ref_id": "V-1", "vendor": "Acme GmbH", "amount": 12.5, "active": true},
            {"ref_id": "V-2", "vendor": "Globex", "amount": 7, "active": false, "since": "2024-03-14"},
            {"ref_id": "V-3", "vendor": null, "amount": "1.234,50", "active": null, "since": ""},
            {"vendor": "Initech", "ref_id": "V-4", "amount": -3, "active": true},
            {"ref_id": "V-5", "vendor": "Umbrella", "amount": 0, "active": false}
        ]
    }"#;
    let reply = app
        .send(
            app.client
                .post(app.url("/v1/reference-data"))
                .bearer_auth(&app.key),
            Some(("application/json", body.as_bytes().to_vec())),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = id_of(&reply);
    assert_eq!(
        reply.header("location").as_deref(),
        Some(format!("/v1/reference-data/{id}").as_str())
    );
    assert_eq!(reply.body["name"], "Vendors");
    assert_eq!(reply.body["id_column"], "ref_id");
    assert_eq!(reply.body["row_count"], 5);
    assert_eq!(
        reply.body["columns"],
        json!([
            {"name": "ref_id", "type": "string", "non_empty": 5},
            {"name": "vendor", "type": "string", "non_empty": 4},
            {"name": "amount", "type": "number", "non_empty": 5},
            {"name": "active", "type": "boolean", "non_empty": 4},
            {"name": "since", "type": "date", "non_empty": 1},
        ])
    );
    assert_eq!(
        reply.body["links"],
        json!({
            "self": format!("/v1/reference-data/{id}"),
            "rows": format!("/v1/reference-data/{id}/rows"),
            "export": format!("/v1/reference-data/{id}/export"),
        })
    );
    assert!(reply.body["created_at"].is_string());

    let fetched = app.get(&format!("/v1/reference-data/{id}"), &app.key).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, reply.body);

    let rows = all_rows(&app, &id, 2).await;
    let ids: Vec<&str> = rows.iter().filter_map(|r| r["row_id"].as_str()).collect();
    assert_eq!(ids, ["V-1", "V-2", "V-3", "V-4", "V-5"]);
    let positions: Vec<i64> = rows.iter().filter_map(|r| r["position"].as_i64()).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5]);
    assert_eq!(
        rows[2]["values"],
        json!({"ref_id": "V-3", "vendor": null, "amount": "1.234,50", "active": null, "since": null})
    );
    assert_eq!(rows[0]["values"]["amount"], "12.5");
    assert_eq!(rows[0]["values"]["active"], "true");
    assert_eq!(rows[3]["values"]["vendor"], "Initech");

    let bad = app
        .get(&format!("/v1/reference-data/{id}/rows?limit=0"), &app.key)
        .await;
    assert_eq!(bad.status, 422);
}

#[actix_web::test]
async fn a_csv_body_with_quoted_fields_is_stored_with_generated_ids() {
    let app = spawn_app().await;
    let csv = "\u{feff}name,address,note\r\n\"Acme, Inc.\",\"Main St 1\r\nSpringfield\",\"say \"\"hi\"\"\"\r\nGlobex,,plain\r\n\r\n\"\",Elm St,\"\"\r\n";
    let reply = post_csv(&app, "?name=Customers", &app.key, csv.as_bytes()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["row_count"], 3);
    assert_eq!(reply.body["id_column"], Value::Null);
    let names: Vec<&str> = reply.body["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["name", "address", "note"]);
    let id = id_of(&reply);
    let rows = all_rows(&app, &id, 50).await;
    assert_eq!(
        rows,
        vec![
            json!({"row_id": "row-1", "position": 1, "values": {"name": "Acme, Inc.", "address": "Main St 1\r\nSpringfield", "note": "say \"hi\""}}),
            json!({"row_id": "row-2", "position": 2, "values": {"name": "Globex", "address": null, "note": "plain"}}),
            json!({"row_id": "row-3", "position": 3, "values": {"name": null, "address": "Elm St", "note": null}}),
        ]
    );
}

#[actix_web::test]
async fn a_multipart_upload_takes_its_name_and_id_column_from_parts() {
    let app = spawn_app().await;
    let csv = b"sku,label,price\nA-1,\"Bolt, M6\",0.10\nA-2,Nut,0.05\n";
    let body = multipart_body(&[
        ("id_column", None, b"sku"),
        ("file", Some("parts.csv"), csv),
        ("name", None, b"Parts"),
        ("comment", None, b"ignored"),
    ]);
    let reply = post_multipart(&app, body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["name"], "Parts");
    assert_eq!(reply.body["id_column"], "sku");
    assert_eq!(reply.body["row_count"], 2);
    assert_eq!(reply.body["columns"][2]["type"], "number");
    let rows = all_rows(&app, &id_of(&reply), 10).await;
    assert_eq!(rows[0]["row_id"], "A-1");
    assert_eq!(rows[0]["values"]["label"], "Bolt, M6");
    assert_eq!(rows[1]["row_id"], "A-2");

    // The query may name it instead; id_column after the file is refused.
    let query = app
        .send(
            app.client
                .post(app.url("/v1/reference-data?name=From%20query"))
                .bearer_auth(&app.key),
            Some((
                &format!("multipart/form-data; boundary=\"{MULTIPART_BOUNDARY}\""),
                multipart_body(&[("file", Some("x.csv"), b"a\n1\n")]),
            )),
        )
        .await;
    assert_eq!(query.status, 201, "{}", query.body);
    assert_eq!(query.body["name"], "From query");

    let late = post_multipart(
        &app,
        multipart_body(&[
            ("name", None, b"Late"),
            ("file", Some("x.csv"), b"a\n1\n"),
            ("id_column", None, b"a"),
        ]),
    )
    .await;
    assert_eq!(late.status, 422, "{}", late.body);
    assert_eq!(late.body["error"]["details"]["field"], "id_column");

    let no_file = post_multipart(&app, multipart_body(&[("name", None, b"x")])).await;
    assert_eq!(no_file.status, 422);
    assert_eq!(no_file.body["error"]["details"]["field"], "file");
    assert_eq!(app.count("reference_datasets").await, 2);
}

#[actix_web::test]
async fn column_types_are_inferred_from_every_value() {
    let app = spawn_app().await;
    let csv = "id,qty,amount,booked,paid,vendor,code,blank,mixed\n\
               1,3,\"1.234,50\",2024-03-14,true,Acme,007,,1\n\
               2,-4,12.5,14.03.2024,FALSE,Globex,008,,x\n\
               3,10,EUR 7,\"March 15, 2024\",yes,Initech,009,,2024-01-01\n";
    let reply = post_csv(&app, "?name=types&id_column=id", &app.key, csv.as_bytes()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let types: Vec<(String, String, i64)> = reply.body["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_owned(),
                c["type"].as_str().unwrap_or("").to_owned(),
                c["non_empty"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let expected = [
        ("id", "integer", 3),
        ("qty", "integer", 3),
        ("amount", "number", 3),
        ("booked", "date", 3),
        ("paid", "boolean", 3),
        ("vendor", "string", 3),
        ("code", "string", 3),
        ("blank", "string", 0),
        ("mixed", "string", 3),
    ];
    assert_eq!(
        types,
        expected
            .iter()
            .map(|(n, t, c)| ((*n).to_owned(), (*t).to_owned(), *c))
            .collect::<Vec<_>>()
    );
}

#[actix_web::test]
async fn a_bad_line_is_422_naming_it_and_nothing_is_stored() {
    let app = spawn_app().await;
    let csv = "a,b,c\n1,2,3\n4,5,6\n7,8\n10,11,12\n";
    let reply = post_csv(&app, "?name=bad", &app.key, csv.as_bytes()).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.error_code(), "validation_failed");
    assert_eq!(reply.body["error"]["details"]["line"], 4);
    let message = reply.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("line 4"), "{message}");
    assert!(message.contains("expected 3 fields"), "{message}");
    assert_nothing_stored(&app).await;
}

#[rstest]
#[case::unterminated_quote(&b"a,b\n1,2\n3,\"open\n4,5\n"[..], Some(3), "unterminated")]
#[case::text_after_quote(&b"a,b\n1,\"x\"y\n"[..], Some(2), "closing quote")]
#[case::empty_column_name(&b"a,,c\n1,2,3\n"[..], Some(1), "column 2")]
#[case::duplicate_column_name(&b"a,b,a\n1,2,3\n"[..], Some(1), "duplicate column name `a`")]
#[case::too_many_fields(&b"a,b\n1,2\n3,4,5\n"[..], Some(3), "found 3")]
#[case::header_only(&b"a,b\n"[..], None, "no rows")]
#[case::empty_body(&b""[..], None, "empty")]
#[case::blank_lines_only(&b"\n\r\n"[..], None, "empty")]
#[actix_web::test]
async fn invalid_csv_is_422_and_stores_nothing(
    #[case] csv: &[u8],
    #[case] line: Option<u64>,
    #[case] text: &str,
) {
    let app = spawn_app().await;
    let reply = post_csv(&app, "?name=bad", &app.key, csv).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains(text), "{message}");
    match line {
        Some(line) => {
            assert_eq!(
                reply.body["error"]["details"]["line"], line,
                "{}",
                reply.body
            );
            assert!(message.starts_with(&format!("line {line}:")), "{message}");
        }
        None => assert_eq!(reply.body["error"]["details"]["field"], "body"),
    }
    assert_nothing_stored(&app).await;
}

#[rstest]
#[case::detected("?name=Cities")]
#[case::given("?name=Cities&delimiter=semicolon&encoding=latin-1")]
#[case::given_as_characters("?name=Cities&delimiter=%3B&encoding=windows-1252")]
#[actix_web::test]
async fn a_semicolon_separated_latin_1_csv_is_stored_as_text(#[case] query: &str) {
    // As a German spreadsheet saves it: `;` between fields, Windows-1252 bytes, CRLF.
    let app = spawn_app().await;
    let csv = b"name;city;note\r\nM\xfcller GmbH;K\xf6ln;\x80 5, net\r\n\"A;B\";Gen\xe8ve;\r\n";
    let reply = post_csv(&app, query, &app.key, csv).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let rows = all_rows(&app, &id_of(&reply), 10).await;
    assert_eq!(
        rows,
        vec![
            json!({"row_id": "row-1", "position": 1, "values": {"name": "Müller GmbH", "city": "Köln", "note": "€ 5, net"}}),
            json!({"row_id": "row-2", "position": 2, "values": {"name": "A;B", "city": "Genève", "note": null}}),
        ]
    );
}

#[actix_web::test]
async fn a_tab_separated_utf_8_csv_with_a_byte_order_mark_is_read() {
    let app = spawn_app().await;
    let csv = "\u{feff}sku\tlabel\nA-1\tBolt, M6 — zinc\n".as_bytes();
    let reply = post_csv(&app, "?name=Parts&id_column=sku", &app.key, csv).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let rows = all_rows(&app, &id_of(&reply), 10).await;
    assert_eq!(rows[0]["row_id"], "A-1");
    assert_eq!(rows[0]["values"]["label"], "Bolt, M6 — zinc");
}

#[actix_web::test]
async fn bytes_that_are_not_utf_8_in_a_file_said_to_be_utf_8_are_422_naming_the_line() {
    let app = spawn_app().await;
    let csv = b"a,b\n1,2\n3,\xff\xfe\n";
    let reply = post_csv(&app, "?name=bad&encoding=utf-8", &app.key, csv).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.body["error"]["details"]["line"], 3, "{}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("not valid UTF-8"), "{message}");
    assert!(message.contains("encoding=windows-1252"), "{message}");
    assert_nothing_stored(&app).await;
}

#[rstest]
#[case("?name=x&delimiter=colon", "delimiter")]
#[case("?name=x&encoding=utf-16", "encoding")]
#[actix_web::test]
async fn an_unknown_csv_format_is_422_naming_the_parameter(
    #[case] query: &str,
    #[case] field: &str,
) {
    let app = spawn_app().await;
    let reply = post_csv(&app, query, &app.key, b"a,b\n1,2\n").await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.body["error"]["details"]["field"], field,
        "{}",
        reply.body
    );
    assert_nothing_stored(&app).await;
}

#[rstest]
#[case::duplicate_id(
    "?name=x&id_column=id",
    "id,v\nA,1\nB,2\nA,3\n",
    Some(4),
    "id",
    "duplicate id `A`"
)]
#[case::empty_id("?name=x&id_column=id", "id,v\nA,1\n,2\n", Some(3), "id", "empty id")]
#[case::unknown_id_column("?name=x&id_column=ref", "id,v\nA,1\n", Some(1), "id_column", "`ref`")]
#[case::missing_name("?id_column=id", "id,v\nA,1\n", None, "name", "name")]
#[case::empty_name("?name=%20%20", "id,v\nA,1\n", None, "name", "name")]
#[actix_web::test]
async fn bad_ids_and_names_are_422_naming_them(
    #[case] query: &str,
    #[case] csv: &str,
    #[case] line: Option<u64>,
    #[case] field: &str,
    #[case] text: &str,
) {
    let app = spawn_app().await;
    let reply = post_csv(&app, query, &app.key, csv.as_bytes()).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.body["error"]["details"]["field"], field,
        "{}",
        reply.body
    );
    if let Some(line) = line {
        assert_eq!(
            reply.body["error"]["details"]["line"], line,
            "{}",
            reply.body
        );
    }
    let message = reply.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains(text), "{message}");
    assert_nothing_stored(&app).await;
}

#[actix_web::test]
async fn a_duplicate_id_in_a_later_batch_names_its_line() {
    let app = spawn_app().await;
    let mut csv = String::from("id,v\n");
    for i in 0..5_000 {
        csv.push_str(&format!("id-{i},{i}\n"));
    }
    csv.push_str("id-17,again\n");
    let reply = post_csv(&app, "?name=dups&id_column=id", &app.key, csv.as_bytes()).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.body["error"]["details"]["line"], 5_002);
    assert!(reply.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("duplicate id `id-17`")));
    assert_nothing_stored(&app).await;
}

#[rstest]
#[case::nested_object(json!({"name": "x", "rows": [{"a": "1"}, {"a": {"b": 1}}]}), "rows[1].a")]
#[case::array_value(json!({"name": "x", "rows": [{"a": [1]}]}), "rows[0].a")]
#[case::row_not_an_object(json!({"name": "x", "rows": ["a"]}), "rows[0]")]
#[case::no_rows(json!({"name": "x", "rows": []}), "rows")]
#[case::missing_rows(json!({"name": "x"}), "rows")]
#[case::missing_name(json!({"rows": [{"a": "1"}]}), "name")]
#[case::empty_name(json!({"name": " ", "rows": [{"a": "1"}]}), "name")]
#[case::unknown_id_column(json!({"name": "x", "id_column": "id", "rows": [{"a": "1"}]}), "id_column")]
#[case::duplicate_id(json!({"name": "x", "id_column": "id", "rows": [{"id": "a"}, {"id": "b"}, {"id": "a"}]}), "rows[2].id")]
#[case::empty_id(json!({"name": "x", "id_column": "id", "rows": [{"id": "a"}, {"id": null}]}), "rows[1].id")]
#[case::numeric_id_duplicate(json!({"name": "x", "id_column": "id", "rows": [{"id": 1}, {"id": "1"}]}), "rows[1].id")]
#[case::empty_column_name(json!({"name": "x", "rows": [{"": "1"}]}), "rows[0].")]
#[case::unknown_field(json!({"name": "x", "rows": [{"a": "1"}], "colour": "red"}), "colour")]
#[actix_web::test]
async fn invalid_json_uploads_are_422_naming_the_field(#[case] body: Value, #[case] field: &str) {
    let app = spawn_app().await;
    let reply = app.post_json("/v1/reference-data", &app.key, &body).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.error_code(), "validation_failed");
    assert_eq!(
        reply.body["error"]["details"]["field"], field,
        "{}",
        reply.body
    );
    assert_nothing_stored(&app).await;
}

#[actix_web::test]
async fn other_content_types_are_415() {
    let app = spawn_app().await;
    let reply = app
        .send(
            app.client
                .post(app.url("/v1/reference-data?name=x"))
                .bearer_auth(&app.key),
            Some(("text/plain", b"a,b\n1,2\n".to_vec())),
        )
        .await;
    assert_eq!(reply.status, 415, "{}", reply.body);
    assert_eq!(reply.error_code(), "unsupported_media_type");
    let missing_boundary = app
        .send(
            app.client
                .post(app.url("/v1/reference-data?name=x"))
                .bearer_auth(&app.key),
            Some(("multipart/form-data", b"".to_vec())),
        )
        .await;
    assert_eq!(missing_boundary.status, 422, "{}", missing_boundary.body);
    assert_nothing_stored(&app).await;
}

#[actix_web::test]
async fn scopes_and_organisations_are_enforced() {
    let app = spawn_app().await;
    let read_only = post_csv(&app, "?name=x", &app.read_key, b"a\n1\n").await;
    assert_eq!(read_only.status, 403, "{}", read_only.body);
    assert_eq!(read_only.error_code(), "insufficient_scope");
    assert_eq!(
        read_only.body["error"]["details"]["required_scope"],
        "write"
    );
    assert_nothing_stored(&app).await;
    let anonymous = app
        .send(app.client.get(app.url("/v1/reference-data")), None)
        .await;
    assert_eq!(anonymous.status, 401);

    let created = post_csv(&app, "?name=mine", &app.key, b"a\n1\n").await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = id_of(&created);

    // A read key reads; it can't delete.
    let read = app
        .get(&format!("/v1/reference-data/{id}"), &app.read_key)
        .await;
    assert_eq!(read.status, 200);
    let delete = app
        .send(
            app.client
                .delete(app.url(&format!("/v1/reference-data/{id}")))
                .bearer_auth(&app.read_key),
            None,
        )
        .await;
    assert_eq!(delete.status, 403);

    // Another organisation sees nothing of it.
    for path in ["", "/rows", "/export"] {
        let reply = app
            .get(&format!("/v1/reference-data/{id}{path}"), &app.other_key)
            .await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
        assert_eq!(reply.error_code(), "not_found");
    }
    let delete = app
        .send(
            app.client
                .delete(app.url(&format!("/v1/reference-data/{id}")))
                .bearer_auth(&app.other_key),
            None,
        )
        .await;
    assert_eq!(delete.status, 404);
    let list = app.get("/v1/reference-data", &app.other_key).await;
    assert_eq!(list.body["data"], json!([]));
    let malformed = app.get("/v1/reference-data/not-a-uuid", &app.key).await;
    assert_eq!(malformed.status, 404);
    assert_eq!(app.count("reference_rows").await, 1);
}

#[actix_web::test]
async fn the_list_is_paginated_newest_first() {
    let app = spawn_app().await;
    for name in ["first", "second", "third"] {
        let reply = post_csv(&app, &format!("?name={name}"), &app.key, b"a\n1\n").await;
        assert_eq!(reply.status, 201);
    }
    let page = app.get("/v1/reference-data?limit=2", &app.key).await;
    let names: Vec<&str> = page.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, ["third", "second"]);
    assert_eq!(page.body["data"][0]["columns"][0]["type"], "integer");
    let cursor = page.body["pagination"]["next_cursor"]
        .as_str()
        .expect("a cursor");
    let next = app
        .get(
            &format!("/v1/reference-data?limit=2&cursor={cursor}"),
            &app.key,
        )
        .await;
    assert_eq!(next.body["data"][0]["name"], "first");
    assert_eq!(next.body["pagination"]["has_more"], false);
}

#[actix_web::test]
async fn an_export_round_trips_the_upload() {
    let app = spawn_app().await;
    let csv = "ref,name,address,amount\r\n\
               R1,\"Acme, Inc.\",\"Main St 1\nSpringfield\",12.50\r\n\
               R2,\"The \"\"Best\"\" Shop\",,7\r\n\
               R3,Globex,Elm St,\r\n";
    let reply = post_csv(
        &app,
        "?name=Round%20trip&id_column=ref",
        &app.key,
        csv.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = id_of(&reply);
    let (status, content_type, exported) =
        get_text(&app, &format!("/v1/reference-data/{id}/export"), &app.key).await;
    assert_eq!(status, 200);
    assert!(content_type.is_some_and(|t| t.starts_with("text/csv")));
    assert_eq!(exported, csv);

    // Uploading the export again gives the same rows.
    let again = post_csv(
        &app,
        "?name=again&id_column=ref",
        &app.key,
        exported.as_bytes(),
    )
    .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body["columns"], reply.body["columns"]);
    assert_eq!(
        all_rows(&app, &id_of(&again), 2).await,
        all_rows(&app, &id, 2).await
    );

    // Generated ids come first, as `row_id`.
    let generated = post_csv(&app, "?name=gen", &app.key, b"a,b\n1,x\n2,\n").await;
    let (_, _, exported) = get_text(
        &app,
        &format!("/v1/reference-data/{}/export", id_of(&generated)),
        &app.key,
    )
    .await;
    assert_eq!(exported, "row_id,a,b\r\nrow-1,1,x\r\nrow-2,2,\r\n");
}

#[actix_web::test]
async fn a_deleted_dataset_is_gone_with_its_rows() {
    let app = spawn_app().await;
    let reply = post_csv(&app, "?name=doomed", &app.key, b"a\n1\n2\n").await;
    assert_eq!(reply.status, 201);
    let id = id_of(&reply);
    let delete = app
        .send(
            app.client
                .delete(app.url(&format!("/v1/reference-data/{id}")))
                .bearer_auth(&app.key),
            None,
        )
        .await;
    assert_eq!(delete.status, 204);
    for path in ["", "/rows", "/export"] {
        let gone = app
            .get(&format!("/v1/reference-data/{id}{path}"), &app.key)
            .await;
        assert_eq!(gone.status, 404, "{path}");
    }
    let again = app
        .send(
            app.client
                .delete(app.url(&format!("/v1/reference-data/{id}")))
                .bearer_auth(&app.key),
            None,
        )
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(app.count("reference_rows").await, 0);
}

#[actix_web::test]
async fn a_large_csv_streams_into_one_dataset() {
    const ROWS: usize = 200_000;
    const ROWS_PER_CHUNK: usize = 1_000;
    let app = spawn_app().await;
    // Chunks made as the client sends them; row boundaries fall anywhere (odd chunk sizes).
    let chunks = (0..ROWS / ROWS_PER_CHUNK).map(|chunk| {
        let mut text = String::new();
        if chunk == 0 {
            text.push_str("invoice,vendor,amount,date\n");
        }
        for i in chunk * ROWS_PER_CHUNK..(chunk + 1) * ROWS_PER_CHUNK {
            text.push_str(&format!(
                "INV-{i:07},\"Vendor {}, Ltd\",{}.{:02},2024-{:02}-{:02}\n",
                i % 997,
                i % 10_000,
                i % 100,
                i % 12 + 1,
                i % 28 + 1
            ));
        }
        Ok::<_, std::io::Error>(Bytes::from(text))
    });
    let stream = futures_util::stream::iter(chunks);
    let started = Instant::now();
    let mut response = app
        .client
        .post(app.url("/v1/reference-data?name=big&id_column=invoice"))
        .bearer_auth(&app.key)
        .insert_header(("content-type", "text/csv"))
        .send_stream(stream)
        .await
        .expect("answered");
    let body: Value = response.json().limit(1 << 20).await.expect("JSON");
    assert_eq!(response.status().as_u16(), 201, "{body}");
    eprintln!("200k rows uploaded in {:?}", started.elapsed());
    assert_eq!(body["row_count"], ROWS);
    assert_eq!(
        body["columns"],
        json!([
            {"name": "invoice", "type": "string", "non_empty": ROWS},
            {"name": "vendor", "type": "string", "non_empty": ROWS},
            {"name": "amount", "type": "number", "non_empty": ROWS},
            {"name": "date", "type": "date", "non_empty": ROWS},
        ])
    );
    assert_eq!(app.count("reference_rows").await, ROWS as i64);
    let id = body["id"].as_str().expect("an id");
    let page = app
        .get(
            &format!("/v1/reference-data/{id}/rows?limit=1000"),
            &app.key,
        )
        .await;
    assert_eq!(page.body["data"][999]["row_id"], "INV-0000999");
    assert_eq!(page.body["data"][1]["values"]["vendor"], "Vendor 1, Ltd");
}

#[actix_web::test]
async fn any_text_survives_storage_and_the_worker_loader_reads_it_in_order() {
    use concord_models::ids::ReferenceDatasetId;
    use concord_models::reference_datasets::{ColumnType, ReferenceDataset, ReferenceRow};

    let app = spawn_app().await;
    let csv = "id,text,other\n\
               a,NULL,{x}\n\
               b,\"back\\slash \"\"q\"\" {1,2}\",Müller & Söhne 🚚\n\
               c,,  padded  \n";
    let reply = post_csv(&app, "?name=text&id_column=id", &app.key, csv.as_bytes()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id: ReferenceDatasetId = id_of(&reply).parse().expect("a dataset id");

    let mut conn = concord_models::database::connection(&app.pool)
        .await
        .expect("a connection");
    let dataset = ReferenceDataset::find_by_id(&mut conn, id)
        .await
        .expect("a query")
        .expect("the dataset");
    assert_eq!(dataset.id_column_index(), Some(0));
    let columns = dataset.columns();
    assert_eq!(columns.len(), 3);
    assert_eq!(columns[1].column_type, ColumnType::String);
    assert_eq!(columns[1].non_empty, 2);
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        ReferenceRow::load_all(&mut conn, id).await.expect("rows"),
        vec![
            ("a".to_owned(), vec![some("a"), some("NULL"), some("{x}")]),
            (
                "b".to_owned(),
                vec![
                    some("b"),
                    some("back\\slash \"q\" {1,2}"),
                    some("Müller & Söhne 🚚")
                ]
            ),
            ("c".to_owned(), vec![some("c"), None, some("  padded  ")]),
        ]
    );

    // Deleted: the worker finds nothing.
    let delete = app
        .send(
            app.client
                .delete(app.url(&format!("/v1/reference-data/{id}")))
                .bearer_auth(&app.key),
            None,
        )
        .await;
    assert_eq!(delete.status, 204);
    assert!(ReferenceDataset::find_by_id(&mut conn, id)
        .await
        .expect("a query")
        .is_none());
    assert!(ReferenceRow::load_all(&mut conn, id)
        .await
        .expect("rows")
        .is_empty());
}

#[actix_web::test]
async fn a_repeated_upload_with_its_idempotency_key_creates_nothing_new() {
    let app = spawn_app().await;
    let upload = || {
        app.send(
            app.client
                .post(app.url("/v1/reference-data?name=once"))
                .bearer_auth(&app.key)
                .insert_header(("idempotency-key", "ref-upload-1")),
            Some(("text/csv", b"a,b\n1,2\n3,4\n".to_vec())),
        )
    };
    let first = upload().await;
    assert_eq!(first.status, 201, "{}", first.body);
    let second = upload().await;
    assert_eq!(second.status, 201);
    assert_eq!(
        second.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(second.body["id"], first.body["id"]);
    assert_eq!(app.count("reference_datasets").await, 1);
    assert_eq!(app.count("reference_rows").await, 2);
}
