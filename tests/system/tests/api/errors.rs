//! Every refusal in the one error envelope `{"error": {"code", "message", "details",
//! "request_id"}}`, with the status of its code: a NUL character anywhere a text is stored (no
//! 500 from PostgreSQL), a body over the JSON limit, a method a route does not have.

use serde_json::{json, Value};

use crate::helpers::{document, job_body, multipart_body, spawn_app, Reply, TestApp};

fn assert_envelope(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.error_code(), code, "{}", reply.body);
    let error = &reply.body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        reply.body
    );
    let request_id = error["request_id"].as_str().unwrap_or("");
    assert!(!request_id.is_empty(), "{}", reply.body);
    assert_eq!(reply.header("x-request-id").as_deref(), Some(request_id));
}

fn field(reply: &Reply) -> &str {
    reply.body["error"]["details"]["field"]
        .as_str()
        .unwrap_or("")
}

async fn assert_nul_refused(app: &TestApp, path: &str, key: &str, body: &Value, at: &str) {
    let reply = app.post_json(path, key, body).await;
    assert_envelope(&reply, 422, "validation_failed");
    assert_eq!(field(&reply), at, "{}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("NUL"), "{message}");
}

#[actix_web::test]
async fn a_nul_character_in_a_json_body_is_a_422_naming_the_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let mut named = job_body("a\u{0}b", 1);
    assert_nul_refused(&app, "/v1/jobs", &app.key, &named, "name").await;
    named["name"] = json!("fine");
    named["documents"] = json!([document("d1"), document("d\u{0}2")]);
    assert_nul_refused(
        &app,
        "/v1/jobs",
        &app.key,
        &named,
        "documents[1].document_id",
    )
    .await;
    let mut valued = job_body("values", 2);
    valued["documents"][0]["values"]["vendor_name"] = json!("Acme\u{0}");
    assert_nul_refused(
        &app,
        "/v1/jobs",
        &app.key,
        &valued,
        "documents[0].values.vendor_name",
    )
    .await;
    // A key of the extracted values is named too.
    let mut keyed = job_body("keys", 1);
    keyed["documents"][0]["values"] = json!({"total\u{0}": "1"});
    let reply = app.post_json("/v1/jobs", &app.key, &keyed).await;
    assert_envelope(&reply, 422, "validation_failed");
    assert!(
        field(&reply).starts_with("documents[0].values.total"),
        "{}",
        reply.body
    );
    assert_eq!(app.count("job_runs").await, 0);
    assert_eq!(app.count("documents").await, 0);

    assert_nul_refused(
        &app,
        "/v1/api-keys",
        &app.admin_key,
        &json!({"name": "ci\u{0}", "scopes": ["read"]}),
        "name",
    )
    .await;
    assert_nul_refused(
        &app,
        "/v1/matching/configs",
        &app.key,
        &json!({"name": "c\u{0}", "reference_data_id": "00000000-0000-0000-0000-000000000000",
                "field_mappings": []}),
        "name",
    )
    .await;
    // An escaped backslash before `u0000` is text, not a NUL: the request is judged on the rest.
    let reply = app
        .post_json("/v1/jobs", &app.key, &job_body("a\\u0000b", 1))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[actix_web::test]
async fn a_nul_character_in_ndjson_csv_multipart_or_a_query_is_a_422() {
    let app = spawn_app().await;
    let mut lines = document("d1").to_string().into_bytes();
    lines.push(b'\n');
    lines.extend_from_slice(
        json!({"document_id": "d2", "values": {"a": "x\u{0}"}})
            .to_string()
            .as_bytes(),
    );
    lines.push(b'\n');
    let reply = app
        .post_ndjson("/v1/jobs?name=lines", &app.key, lines)
        .await;
    assert_envelope(&reply, 422, "validation_failed");
    assert_eq!(reply.body["error"]["details"]["line"], 2, "{}", reply.body);
    assert_eq!(field(&reply), "values.a", "{}", reply.body);

    let reply = app
        .post_csv(
            "/v1/reference-data?name=ledger",
            &app.key,
            b"ref_id,vendor\nR1,Acme\nR2,Glob\x00ex\n",
        )
        .await;
    assert_envelope(&reply, 422, "validation_failed");
    assert_eq!(reply.body["error"]["details"]["line"], 3, "{}", reply.body);
    assert_eq!(field(&reply), "vendor", "{}", reply.body);

    let body = multipart_body(&[
        ("name", None, "led\u{0}ger".as_bytes()),
        ("file", Some("ledger.csv"), b"ref_id,vendor\nR1,Acme\n"),
    ]);
    let reply = app.post_multipart("/v1/reference-data", body).await;
    assert_envelope(&reply, 422, "validation_failed");
    assert_eq!(field(&reply), "name", "{}", reply.body);
    assert_eq!(app.count("reference_datasets").await, 0);
    assert_eq!(app.count("job_runs").await, 0);

    let reply = app.get("/v1/jobs?name=a%00b", &app.key).await;
    assert_envelope(&reply, 422, "validation_failed");
    assert_eq!(field(&reply), "name", "{}", reply.body);
}

#[actix_web::test]
async fn json_bodies_up_to_the_limit_are_read_and_larger_ones_are_a_413_in_the_envelope() {
    let app = spawn_app().await;
    // 1 MiB, four times actix's default: read, and judged on its content.
    let big = json!({"name": "x".repeat(1024 * 1024), "scopes": ["read"]});
    let reply = app.post_json("/v1/api-keys", &app.admin_key, &big).await;
    assert_ne!(reply.status, 413, "{}", reply.body);
    assert_envelope(&reply, 422, "validation_failed");
    // Over the limit.
    let huge = json!({"name": "x".repeat(17 * 1024 * 1024), "scopes": ["read"]});
    let reply = app.post_json("/v1/api-keys", &app.admin_key, &huge).await;
    assert_envelope(&reply, 413, "payload_too_large");
    assert_eq!(
        reply.body["error"]["details"]["limit_bytes"],
        16 * 1024 * 1024,
        "{}",
        reply.body
    );
}

#[actix_web::test]
async fn a_method_a_route_does_not_have_is_a_405_in_the_envelope() {
    let app = spawn_app().await;
    let reply = app
        .send(
            app.client.put(app.url("/v1/jobs")).bearer_auth(&app.key),
            None,
        )
        .await;
    assert_envelope(&reply, 405, "method_not_allowed");
    let message = reply.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("PUT") && message.contains("/v1/jobs"),
        "{message}"
    );
    // An unknown route stays a 404.
    let reply = app.get("/v1/nowhere", &app.key).await;
    assert_envelope(&reply, 404, "not_found");
}

/// The README's table of error codes is the code's: every code, with its status, and no other.
#[test]
fn the_readme_lists_every_error_code_with_its_status() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme
        .find("| code | status |")
        .expect("the README's table of error codes");
    let rows: Vec<(String, u16)> = readme[start..]
        .lines()
        .skip(2)
        .map(str::trim)
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells.get(1)?.trim_matches('`').to_owned();
            let status = cells.get(2)?.parse().ok()?;
            Some((code, status))
        })
        .collect();
    let expected: Vec<(String, u16)> = concord_gateway::error::ErrorCode::ALL
        .iter()
        .map(|code| (code.as_str().to_owned(), code.status().as_u16()))
        .collect();
    assert_eq!(rows, expected);
}

/// Every list and versioned read parses its query through one typed extractor: a bad value is a
/// 422 naming the parameter, on every route alike, before anything is read.
#[actix_web::test]
async fn query_parameters_are_refused_naming_the_parameter_on_every_list() {
    let app = spawn_app().await;
    let lists = [
        "/v1/jobs",
        "/v1/reference-data",
        "/v1/lookup-tables",
        "/v1/matching/configs",
        "/v1/matching/runs",
        "/v1/data-policies",
        "/v1/dialects",
        "/v1/resolutions",
        "/v1/api-keys",
    ];
    for list in lists {
        let key = if list == "/v1/api-keys" {
            &app.admin_key
        } else {
            &app.key
        };
        for (query, named) in [
            ("limit=0", "limit"),
            ("limit=ten", "limit"),
            ("cursor=%25%25%25", "cursor"),
            ("limit=5&limit=6", "query"),
        ] {
            let reply = app.get(&format!("{list}?{query}"), key).await;
            assert_envelope(&reply, 422, "validation_failed");
            assert_eq!(field(&reply), named, "{list}?{query}: {}", reply.body);
        }
        let fine = app
            .get(&format!("{list}?limit=2&unknown=ignored"), key)
            .await;
        assert_eq!(fine.status, 200, "{list}: {}", fine.body);
    }
    // The scope is checked first: a key without it learns nothing from its query.
    let reply = app.get("/v1/api-keys?limit=0", &app.key).await;
    assert_envelope(&reply, 403, "insufficient_scope");
    for (path, named) in [
        ("/v1/matching/runs?config_id=nope", "config_id"),
        ("/v1/lookup-tables?built_in=yes", "built_in"),
        ("/v1/lookup-tables/iso-4217?version=0", "version"),
        ("/v1/lookup-tables/iso-4217?version=two", "version"),
    ] {
        let reply = app.get(path, &app.key).await;
        assert_envelope(&reply, 422, "validation_failed");
        assert_eq!(field(&reply), named, "{path}: {}", reply.body);
    }
}
