use rstest::rstest;
use serde_json::{json, Value};

use crate::helpers::{document, job_body, ndjson, spawn_app};

#[actix_web::test]
async fn a_json_job_is_stored_and_read_back() {
    let app = spawn_app().await;
    let created = app.create_job("March invoices", 3).await;
    assert_eq!(created["status"], "completed");
    assert_eq!(created["source"], "rest");
    assert_eq!(created["document_count"], 3);
    let id = created["id"].as_str().expect("an id");

    let fetched = app.get(&format!("/v1/jobs/{id}"), &app.key).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body["name"], "March invoices");

    let documents = app.get(&format!("/v1/jobs/{id}/documents"), &app.key).await;
    let data = documents.body["data"].as_array().expect("documents");
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["document_id"], "doc-0");
    assert_eq!(data[0]["filename"], "doc-0.pdf");
    assert_eq!(
        data[0]["values"],
        json!({"vendor_name": "Acme GmbH", "amount": "1.234,50 EUR"})
    );
}

#[actix_web::test]
async fn lists_are_paginated_with_cursors() {
    let app = spawn_app().await;
    let job = app.create_job("paged", 5).await;
    for name in ["second", "third"] {
        app.create_job(name, 1).await;
    }
    // Jobs: newest first, two per page.
    let first = app.get("/v1/jobs?limit=2", &app.key).await;
    assert_eq!(first.body["pagination"]["has_more"], true);
    let names: Vec<&str> = first.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|j| j["name"].as_str())
        .collect();
    assert_eq!(names, ["third", "second"]);
    let cursor = first.body["pagination"]["next_cursor"]
        .as_str()
        .expect("a cursor");
    let second = app
        .get(&format!("/v1/jobs?limit=2&cursor={cursor}"), &app.key)
        .await;
    assert_eq!(second.body["data"][0]["name"], "paged");
    assert_eq!(second.body["pagination"]["has_more"], false);
    assert_eq!(second.body["pagination"]["next_cursor"], Value::Null);

    // Documents: in batch order, walking every page.
    let id = job["id"].as_str().expect("an id");
    let mut seen = Vec::new();
    let mut path = format!("/v1/jobs/{id}/documents?limit=2");
    loop {
        let page = app.get(&path, &app.key).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for doc in page.body["data"].as_array().expect("data") {
            seen.push(doc["document_id"].as_str().expect("an id").to_owned());
        }
        match page.body["pagination"]["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/jobs/{id}/documents?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, (0..5).map(|i| format!("doc-{i}")).collect::<Vec<_>>());

    let bad = app.get("/v1/jobs?limit=0", &app.key).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.body["error"]["details"]["field"], "limit");
    let bad = app.get("/v1/jobs?cursor=bm90LWEtdXVpZA", &app.key).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.body["error"]["details"]["field"], "cursor");
}

#[rstest]
#[case::missing_name(json!({"documents": []}), "name")]
#[case::name_wrong_type(json!({"name": 7, "documents": []}), "name")]
#[case::empty_name(json!({"name": "  ", "documents": []}), "name")]
#[case::missing_documents(json!({"name": "x"}), "documents")]
#[case::missing_document_id(json!({"name": "x", "documents": [{"values": {}}]}), "documents[0].document_id")]
#[case::empty_document_id(json!({"name": "x", "documents": [{"document_id": "", "values": {}}]}), "documents[0].document_id")]
#[case::value_not_a_string(json!({"name": "x", "documents": [{"document_id": "a", "values": {"total": 12.5}}]}), "documents[0].values.total")]
#[case::values_not_an_object(json!({"name": "x", "documents": [{"document_id": "a", "values": ["x"]}]}), "documents[0].values")]
#[case::duplicate_id(json!({"name": "x", "documents": [document("a"), document("b"), document("a")]}), "documents[2].document_id")]
#[case::unknown_field(json!({"name": "x", "documents": [], "priority": "high"}), "priority")]
#[actix_web::test]
async fn invalid_bodies_are_422_naming_the_field_and_store_nothing(
    #[case] body: Value,
    #[case] field: &str,
) {
    let app = spawn_app().await;
    let reply = app.post_json("/v1/jobs", &app.key, &body).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.error_code(), "validation_failed");
    assert_eq!(
        reply.body["error"]["details"]["field"], field,
        "{}",
        reply.body
    );
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(field.rsplit('.').next().unwrap_or(field))),
        "{}",
        reply.body
    );
    assert_eq!(app.count("job_runs").await, 0);
    assert_eq!(app.count("documents").await, 0);
}

#[actix_web::test]
async fn malformed_json_is_400_with_its_position() {
    let app = spawn_app().await;
    let reply = app
        .send(
            app.client.post(app.url("/v1/jobs")).bearer_auth(&app.key),
            Some((
                "application/json",
                b"{\"name\": \"x\",\n  \"documents\": [".to_vec(),
            )),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error_code(), "malformed_json");
    assert_eq!(reply.body["error"]["details"]["line"], 2);
}

#[actix_web::test]
async fn more_than_ten_thousand_json_documents_are_refused() {
    let app = spawn_app().await;
    let reply = app
        .post_json("/v1/jobs", &app.key, &job_body("big", 10_001))
        .await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.body["error"]["details"]["field"], "documents");
    assert!(reply.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("application/x-ndjson")));
}

#[actix_web::test]
async fn other_content_types_are_415() {
    let app = spawn_app().await;
    let reply = app
        .send(
            app.client.post(app.url("/v1/jobs")).bearer_auth(&app.key),
            Some(("text/plain", b"hello".to_vec())),
        )
        .await;
    assert_eq!(reply.status, 415);
    assert_eq!(reply.error_code(), "unsupported_media_type");
}

#[actix_web::test]
async fn an_ndjson_stream_is_stored_in_order() {
    let app = spawn_app().await;
    // Crosses several insert batches; blank lines and a last line without newline are fine.
    let mut body = ndjson((0..2_500).map(|i| format!("n{i}")));
    body.extend_from_slice(b"\n\r\n");
    body.extend_from_slice(document("last").to_string().as_bytes());
    let reply = app
        .post_ndjson("/v1/jobs?name=stream", &app.key, body)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["document_count"], 2_501);
    assert_eq!(reply.body["name"], "stream");
    let id = reply.body["id"].as_str().expect("an id");
    let page = app
        .get(
            &format!("/v1/jobs/{id}/documents?limit=1000&cursor="),
            &app.key,
        )
        .await;
    assert_eq!(page.body["data"][999]["document_id"], "n999");
    assert_eq!(app.count("documents").await, 2_501);
}

#[rstest]
#[case::not_json(b"{\"document_id\": \"x\", \"values\": {}}\nthis is not json\n".to_vec(), 2, None)]
#[case::missing_id(b"{\"document_id\": \"x\", \"values\": {}}\n\n{\"values\": {}}\n".to_vec(), 3, Some("document_id"))]
#[case::wrong_type(b"{\"document_id\": \"x\", \"values\": {\"a\": 1}}\n".to_vec(), 1, Some("values.a"))]
#[actix_web::test]
async fn a_bad_ndjson_line_is_422_naming_it_and_stores_nothing(
    #[case] body: Vec<u8>,
    #[case] line: u64,
    #[case] field: Option<&str>,
) {
    let app = spawn_app().await;
    let reply = app.post_ndjson("/v1/jobs?name=bad", &app.key, body).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.body["error"]["details"]["line"], line);
    if let Some(field) = field {
        assert_eq!(reply.body["error"]["details"]["field"], field);
    }
    assert!(reply.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with(&format!("line {line}:"))));
    assert_eq!(app.count("job_runs").await, 0);
    assert_eq!(app.count("documents").await, 0);
    assert_eq!(app.count("outbox_messages").await, 0);
}

#[actix_web::test]
async fn a_bad_line_after_many_good_ones_rolls_everything_back() {
    let app = spawn_app().await;
    let mut body = ndjson((0..3_000).map(|i| format!("n{i}")));
    body.extend_from_slice(document("n17").to_string().as_bytes());
    let reply = app.post_ndjson("/v1/jobs?name=dup", &app.key, body).await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.body["error"]["details"]["line"], 3_001);
    assert!(reply.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("duplicate document_id `n17`")));
    assert_eq!(app.count("job_runs").await, 0);
    assert_eq!(app.count("documents").await, 0);
}

#[actix_web::test]
async fn an_ndjson_upload_needs_a_name() {
    let app = spawn_app().await;
    let reply = app
        .post_ndjson("/v1/jobs", &app.key, ndjson(["a".to_owned()]))
        .await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.body["error"]["details"]["field"], "name");
}
