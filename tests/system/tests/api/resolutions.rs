//! Resolution end to end through the REST API: dialects and data policies (versioned, compiled
//! when saved), resolution runs over completed job runs resolved by a real resolution worker in
//! chunks, their results and the CSV export in the run's dialect.

use std::time::Duration;

use concord_queue::Role;
use concord_resolution_worker::{ResolutionJobHandler, NAME};
use concord_test_support::worker::{spawn_worker, TestWorker};
use concord_test_support::{amqp_url, eventually, Tap};
use rstest::rstest;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, AppOptions, TestApp};

pub(crate) fn country_entries() -> Value {
    json!([
        {"code": "DE", "label": "Germany", "aliases": ["Deutschland", "Allemagne", "DEU"]},
        {"code": "FR", "label": "France", "aliases": ["Frankreich", "FRA"]},
        {"code": "AT", "label": "Austria", "aliases": ["Österreich", "AUT"]},
        {"code": "AU", "label": "Australia", "aliases": ["AUS"]},
        {"code": "US", "label": "United States", "aliases": ["USA", "United States of America"]}
    ])
}

/// Every kind of rule: a lookup in an organisation's table and one in a built-in table, both
/// parsers, a compute over parsed fields, a regex, a format and a default.
fn policy_body() -> Value {
    json!({
        "fields": [
            {"field_key": "country", "type": "code", "description": "ISO 3166-1 alpha-2"},
            {"field_key": "currency", "type": "code"},
            {"field_key": "invoice_date", "type": "date"},
            {"field_key": "amount", "type": "number"},
            {"field_key": "gross", "type": "number"},
            {"field_key": "vendor", "type": "string"},
            {"field_key": "reference", "type": "string"},
            {"field_key": "paid", "type": "boolean"}
        ],
        "rules": [
            {"rule_type": "lookup", "target_field": "country", "config": {"table": "countries", "source_field": "country", "fallback": "none"}},
            {"rule_type": "lookup", "target_field": "currency", "config": {"table": "iso-4217", "source_field": "currency"}},
            {"rule_type": "parse_date", "target_field": "invoice_date", "config": {"source_field": "date", "order": "dmy"}},
            {"rule_type": "parse_number", "target_field": "amount", "config": {"source_field": "amount"}},
            {"rule_type": "compute", "target_field": "gross", "config": {"expression": "amount * 1.2"}},
            {"rule_type": "direct", "target_field": "vendor", "config": {"source_field": "vendor_name"}},
            {"rule_type": "regex_extract", "target_field": "reference", "config": {"source_field": "memo", "pattern": "INV-(\\d+)"}},
            {"rule_type": "format", "target_field": "reference", "config": {"template": "INV/{reference}"}},
            {"rule_type": "default", "target_field": "paid", "config": {"value": false}}
        ]
    })
}

fn documents() -> Value {
    json!([
        {"document_id": "d1", "filename": "d1.pdf", "values": {"country": "Deutschland", "currency": "€", "date": "14.03.2024", "amount": "1.234,50", "vendor_name": "  Acme GmbH ", "memo": "pay INV-1001 now"}},
        {"document_id": "d2", "filename": "d2.pdf", "values": {"country": "Frnace", "currency": "US dollars", "date": "2024-03-15", "amount": "99", "vendor_name": "Globex", "memo": "no reference"}},
        {"document_id": "d3", "filename": "d3.pdf", "values": {"country": "Atlantis", "currency": "XX", "date": "not a date", "amount": "n/a", "vendor_name": null}}
    ])
}

async fn create_table(app: &TestApp, key: &str, name: &str) {
    let reply = app
        .post_json(
            "/v1/lookup-tables",
            key,
            &json!({"name": name, "entries": country_entries()}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

pub(crate) async fn create_policy(app: &TestApp, key: &str, body: &Value) -> String {
    let created = app
        .post_json(
            "/v1/data-policies",
            key,
            &json!({"name": "invoices", "description": "invoice header fields"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("a policy id").to_owned();
    let saved = app
        .put_json(&format!("/v1/data-policies/{id}"), key, body)
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    id
}

pub(crate) async fn create_job(app: &TestApp, key: &str, documents: &Value) -> String {
    let reply = app
        .post_json(
            "/v1/jobs",
            key,
            &json!({"name": "March invoices", "documents": documents}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["id"].as_str().expect("a job id").to_owned()
}

pub(crate) async fn resolution_worker(app: &TestApp) -> TestWorker {
    spawn_worker(
        &app.database,
        &app.topology,
        amqp_url(),
        Role::Resolution,
        NAME,
        ResolutionJobHandler::new,
    )
    .await
}

pub(crate) async fn wait_for_status(app: &TestApp, run_id: &str, status: &str) -> Value {
    eventually(
        Duration::from_secs(30),
        &format!("resolution {status}"),
        || async {
            let reply = app
                .get(&format!("/v1/resolutions/{run_id}"), &app.key)
                .await;
            (reply.body["status"] == status).then_some(reply.body)
        },
    )
    .await
}

pub(crate) async fn all_results(app: &TestApp, run_id: &str, query: &str) -> Vec<Value> {
    let mut results = Vec::new();
    let mut cursor = String::new();
    loop {
        let reply = app
            .get(
                &format!("/v1/resolutions/{run_id}/results?limit=4{query}{cursor}"),
                &app.key,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        results.extend(reply.body["data"].as_array().cloned().unwrap_or_default());
        match reply.body["pagination"]["next_cursor"].as_str() {
            Some(next) if reply.body["pagination"]["has_more"] == true => {
                cursor = format!("&cursor={next}");
            }
            _ => return results,
        }
    }
}

fn result<'a>(results: &'a [Value], document: &str, field: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["document_id"] == document && r["field_key"] == field)
        .unwrap_or_else(|| panic!("no result for {document}.{field}"))
}

#[actix_web::test]
async fn dialects_are_versioned_and_validated() {
    let app = spawn_app().await;
    let created = app
        .post_json(
            "/v1/dialects",
            &app.key,
            &json!({"name": "German CSV", "date_format": "DD.MM.YYYY", "number_locale": "de-DE", "delimiter": ";", "boolean_format": {"true": "ja", "false": "nein"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("an id").to_owned();
    assert_eq!(created.body["version"], 1);
    assert_eq!(created.body["delimiter"], ";");
    assert_eq!(created.body["encoding"], "utf-8");

    let patched = app
        .patch_json(
            &format!("/v1/dialects/{id}"),
            &app.key,
            &json!({"delimiter": "|", "null_representation": "NULL"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["version"], 2);
    assert_eq!(patched.body["delimiter"], "|");
    assert_eq!(patched.body["date_format"], "DD.MM.YYYY");
    let first = app
        .get(&format!("/v1/dialects/{id}?version=1"), &app.key)
        .await;
    assert_eq!(first.body["delimiter"], ";");
    assert_eq!(first.body["version"], 1);

    let bad = app
        .patch_json(
            &format!("/v1/dialects/{id}"),
            &app.key,
            &json!({"delimiter": "\""}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(bad.body["error"]["details"]["field"], "delimiter");
    let unknown = app
        .post_json(
            "/v1/dialects",
            &app.key,
            &json!({"name": "x", "date_fromat": "YYYY"}),
        )
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert_eq!(unknown.body["error"]["details"]["field"], "date_fromat");
    let nameless = app
        .post_json("/v1/dialects", &app.key, &json!({"delimiter": ","}))
        .await;
    assert_eq!(nameless.status, 422);
    assert_eq!(nameless.body["error"]["details"]["field"], "name");

    let listed = app.get("/v1/dialects", &app.key).await;
    assert_eq!(listed.body["data"][0]["id"], id.as_str());
    let foreign = app.get(&format!("/v1/dialects/{id}"), &app.other_key).await;
    assert_eq!(foreign.status, 404);
    assert_eq!(
        app.delete(&format!("/v1/dialects/{id}"), &app.key)
            .await
            .status,
        204
    );
    assert_eq!(
        app.get(&format!("/v1/dialects/{id}"), &app.key)
            .await
            .status,
        404
    );
}

#[actix_web::test]
async fn policies_are_versioned_and_read_back_inlined() {
    let app = spawn_app().await;
    create_table(&app, &app.key, "countries").await;
    let id = create_policy(&app, &app.key, &policy_body()).await;

    let policy = app.get(&format!("/v1/data-policies/{id}"), &app.key).await;
    assert_eq!(policy.status, 200);
    assert_eq!(policy.body["version"], 2);
    assert_eq!(policy.body["name"], "invoices");
    assert_eq!(policy.body["fields"].as_array().map(Vec::len), Some(8));
    assert_eq!(policy.body["rules"][0]["rule_type"], "lookup");
    let fields = app
        .get(&format!("/v1/data-policies/{id}/fields"), &app.key)
        .await;
    assert_eq!(fields.body["data"][2]["field_key"], "invoice_date");
    let rules = app
        .get(&format!("/v1/data-policies/{id}/rules"), &app.key)
        .await;
    assert_eq!(rules.body["data"].as_array().map(Vec::len), Some(9));
    let first = app
        .get(&format!("/v1/data-policies/{id}?version=1"), &app.key)
        .await;
    assert_eq!(first.body["fields"], json!([]));
    let missing_version = app
        .get(&format!("/v1/data-policies/{id}?version=9"), &app.key)
        .await;
    assert_eq!(missing_version.status, 404);

    let listed = app.get("/v1/data-policies", &app.key).await;
    assert_eq!(listed.body["data"][0]["id"], id.as_str());
    assert_eq!(
        app.get(&format!("/v1/data-policies/{id}"), &app.other_key)
            .await
            .status,
        404
    );
    let read_only = app
        .put_json(
            &format!("/v1/data-policies/{id}"),
            &app.read_key,
            &policy_body(),
        )
        .await;
    assert_eq!(read_only.status, 403);
    assert_eq!(
        app.delete(&format!("/v1/data-policies/{id}"), &app.key)
            .await
            .status,
        204
    );
    assert_eq!(
        app.get(&format!("/v1/data-policies/{id}"), &app.key)
            .await
            .status,
        404
    );
}

/// A policy body with one rule replaced.
fn with_rule(index: usize, rule: Value) -> Value {
    let mut body = policy_body();
    body["rules"][index] = rule;
    body
}

#[rstest]
#[case::cycle(
    with_rule(5, json!({"rule_type": "compute", "target_field": "vendor", "config": {"expression": "gross + 1"}}))
        .pipe(|mut b| { b["rules"][4] = json!({"rule_type": "compute", "target_field": "gross", "config": {"expression": "vendor"}}); b }),
    "cycle"
)]
#[case::unknown_target(
    with_rule(5, json!({"rule_type": "direct", "target_field": "vendr", "config": {"source_field": "vendor_name"}})),
    "rules[5]"
)]
#[case::unknown_table(
    with_rule(0, json!({"rule_type": "lookup", "target_field": "country", "config": {"table": "nations", "source_field": "country"}})),
    "rules[0]"
)]
#[case::unknown_rule_type(
    with_rule(5, json!({"rule_type": "guess", "target_field": "vendor", "config": {}})),
    "rules[5]"
)]
#[case::bad_regex(
    with_rule(6, json!({"rule_type": "regex_extract", "target_field": "reference", "config": {"source_field": "memo", "pattern": "INV-(\\d+"}})),
    "rules[6]"
)]
#[case::unknown_variable(
    with_rule(4, json!({"rule_type": "compute", "target_field": "gross", "config": {"expression": "amount * vat"}})),
    "rules[4]"
)]
#[case::threshold_out_of_range(
    with_rule(0, json!({"rule_type": "lookup", "target_field": "country", "config": {"table": "countries", "source_field": "country", "threshold": 1.5}})),
    "rules[0]"
)]
#[actix_web::test]
async fn a_policy_that_does_not_compile_is_refused_naming_the_rule(
    #[case] body: Value,
    #[case] expected_path: &str,
) {
    let app = spawn_app().await;
    create_table(&app, &app.key, "countries").await;
    let created = app
        .post_json("/v1/data-policies", &app.key, &json!({"name": "p"}))
        .await;
    let id = created.body["id"].as_str().expect("an id").to_owned();
    let reply = app
        .put_json(&format!("/v1/data-policies/{id}"), &app.key, &body)
        .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], "validation_failed");
    let errors = reply.body["error"]["details"]["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        errors.iter().any(|e| {
            e["field"]
                .as_str()
                .is_some_and(|f| f.contains(expected_path))
                || e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(expected_path))
        }),
        "no error about {expected_path}: {}",
        reply.body
    );
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("rule")),
        "{}",
        reply.body
    );
    // Nothing changed: the policy is still at version 1.
    let policy = app.get(&format!("/v1/data-policies/{id}"), &app.key).await;
    assert_eq!(policy.body["version"], 1);
}

trait Pipe: Sized {
    fn pipe(self, f: impl FnOnce(Self) -> Self) -> Self {
        f(self)
    }
}
impl Pipe for Value {}

#[actix_web::test]
async fn a_run_resolves_every_document_and_field_and_exports_in_its_dialect() {
    let app = spawn_app_with(AppOptions {
        resolution_chunk_size: 2,
        ..AppOptions::default()
    })
    .await;
    let mut events = Tap::bind(&app.topology.events_exchange(), "resolution.#").await;
    create_table(&app, &app.key, "countries").await;
    let policy = create_policy(&app, &app.key, &policy_body()).await;
    let dialect = app
        .post_json(
            "/v1/dialects",
            &app.key,
            &json!({"name": "German", "date_format": "DD.MM.YYYY", "number_locale": "de-DE", "delimiter": ";", "null_representation": "-", "boolean_format": {"true": "ja", "false": "nein"}}),
        )
        .await;
    let dialect = dialect.body["id"]
        .as_str()
        .expect("a dialect id")
        .to_owned();
    let job = create_job(&app, &app.key, &documents()).await;
    let _worker = resolution_worker(&app).await;

    let created = app
        .post_json(
            "/v1/resolutions",
            &app.key,
            &json!({"source_run_id": job, "policy_id": policy, "dialect_id": dialect}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["status"], "pending");
    assert_eq!(created.body["policy_version"], 2);
    assert_eq!(created.body["counters"]["documents_total"], 3);
    let run_id = created.body["id"].as_str().expect("a run id").to_owned();
    assert_eq!(
        created.body["links"]["source_run"],
        format!("/v1/jobs/{job}")
    );

    // Changing the policy now does not change the run: it holds a snapshot.
    let mut changed = policy_body();
    changed["rules"][4]["config"]["expression"] = json!("amount * 2.0");
    app.put_json(&format!("/v1/data-policies/{policy}"), &app.key, &changed)
        .await;

    let executed = app
        .post_json(
            &format!("/v1/resolutions/{run_id}/execute"),
            &app.key,
            &json!({}),
        )
        .await;
    assert_eq!(executed.status, 202, "{}", executed.body);
    assert_eq!(executed.body["status"], "running");

    let done = wait_for_status(&app, &run_id, "completed").await;
    assert_eq!(done.body_counters(), (3, 3, 24));
    let again = app
        .post_json(
            &format!("/v1/resolutions/{run_id}/execute"),
            &app.key,
            &json!({}),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["status"], "completed");

    let results = all_results(&app, &run_id, "").await;
    assert_eq!(results.len(), 24);
    let country = result(&results, "d1", "country");
    assert_eq!(country["resolved_value"], "DE");
    assert_eq!(country["resolution_step"], "lookup");
    assert_eq!(country["original_value"], "Deutschland");
    let typo = result(&results, "d2", "country");
    assert_eq!(typo["resolved_value"], "FR", "{typo}");
    assert!(typo["confidence"].as_f64().is_some_and(|c| c < 1.0));
    assert_eq!(typo["candidates"][0]["code"], "FR");
    let nowhere = result(&results, "d3", "country");
    assert_eq!(nowhere["resolved_value"], Value::Null);
    assert_eq!(nowhere["status"], "unresolved");
    assert_eq!(nowhere["resolution_step"], Value::Null);
    assert_eq!(result(&results, "d1", "currency")["resolved_value"], "EUR");
    assert_eq!(result(&results, "d2", "currency")["resolved_value"], "USD");
    let date = result(&results, "d1", "invoice_date");
    assert_eq!(date["resolved_value"], "2024-03-14");
    assert_eq!(date["resolution_step"], "parse");
    assert_eq!(date["rendered_value"], "14.03.2024");
    assert_eq!(result(&results, "d1", "amount")["resolved_value"], 1234.5);
    let gross = result(&results, "d1", "gross");
    assert_eq!(gross["resolution_step"], "compute");
    assert!((gross["resolved_value"].as_f64().expect("a number") - 1481.4).abs() < 1e-9);
    assert_eq!(result(&results, "d3", "gross")["status"], "unresolved");
    assert_eq!(
        result(&results, "d1", "vendor")["resolved_value"],
        "Acme GmbH"
    );
    assert_eq!(
        result(&results, "d1", "vendor")["resolution_step"],
        "direct"
    );
    let reference = result(&results, "d1", "reference");
    assert_eq!(reference["resolved_value"], "INV/1001");
    assert_eq!(reference["resolution_step"], "format");
    assert_eq!(result(&results, "d2", "reference")["status"], "unresolved");
    assert_eq!(result(&results, "d1", "paid")["resolved_value"], false);
    assert_eq!(result(&results, "d1", "paid")["rendered_value"], "nein");

    // Filters.
    let lookups = all_results(&app, &run_id, "&step=lookup").await;
    assert_eq!(lookups.len(), 4, "{lookups:?}");
    let d2 = all_results(&app, &run_id, "&document_id=d2&field=country").await;
    assert_eq!(d2.len(), 1);
    let unresolved = all_results(&app, &run_id, "&status=unresolved").await;
    assert!(unresolved.iter().all(|r| r["resolved_value"].is_null()));
    let bad_step = app
        .get(
            &format!("/v1/resolutions/{run_id}/results?step=guess"),
            &app.key,
        )
        .await;
    assert_eq!(bad_step.status, 422);
    assert_eq!(bad_step.body["error"]["details"]["field"], "step");

    // The export: one row per document in the dialect.
    let export = app
        .client
        .get(app.url(&format!("/v1/resolutions/{run_id}/results/export")))
        .bearer_auth(&app.key)
        .send()
        .await
        .expect("an export")
        .body()
        .await
        .expect("a body");
    let text = String::from_utf8(export.to_vec()).expect("utf-8");
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "document_id;country;currency;invoice_date;amount;gross;vendor;reference;paid"
    );
    assert_eq!(
        lines[1],
        "d1;DE;EUR;14.03.2024;1234,5;1481,4;Acme GmbH;INV/1001;nein"
    );
    assert!(
        lines[3].starts_with("d3;-;-;-;-;-;-;-;nein"),
        "{}",
        lines[3]
    );
    assert_eq!(lines.len(), 4);

    let event = events
        .next(Duration::from_secs(10))
        .await
        .expect("a resolution.completed event");
    assert_eq!(event.routing_key, "resolution.completed");
    assert_eq!(event.body["data"]["run_id"], run_id.as_str());
    assert!(events.next(Duration::from_millis(500)).await.is_none());
}

trait Counters {
    fn body_counters(&self) -> (i64, i64, i64);
}

impl Counters for Value {
    /// (documents_total, documents_processed, resolved + unresolved + waiting)
    fn body_counters(&self) -> (i64, i64, i64) {
        let c = &self["counters"];
        let n = |k: &str| c[k].as_i64().unwrap_or(-1);
        (
            n("documents_total"),
            n("documents_processed"),
            n("fields_resolved") + n("fields_unresolved") + n("fields_waiting"),
        )
    }
}

#[actix_web::test]
async fn values_an_llm_fallback_must_settle_wait_and_go_to_the_ai_queue() {
    let app = spawn_app().await;
    // "Georgia" is a country and a U.S. state: no rule can choose, the LLM must.
    let table = app
        .post_json(
            "/v1/lookup-tables",
            &app.key,
            &json!({"name": "regions", "entries": [
                {"code": "GE", "label": "Georgia"},
                {"code": "US-GA", "label": "Georgia (U.S. state)", "aliases": ["Georgia"]},
                {"code": "DE", "label": "Germany", "aliases": ["Deutschland"]}
            ]}),
        )
        .await;
    assert_eq!(table.status, 201, "{}", table.body);
    let body = json!({
        "fields": [{"field_key": "country", "type": "code"}],
        "rules": [{"rule_type": "lookup", "target_field": "country", "config": {"table": "regions", "source_field": "country", "fallback": "llm"}}]
    });
    let policy = create_policy(&app, &app.key, &body).await;
    let job = create_job(
        &app,
        &app.key,
        &json!([
            {"document_id": "a", "filename": "a.pdf", "values": {"country": "Deutschland"}},
            {"document_id": "b", "filename": "b.pdf", "values": {"country": "Georgia"}},
            {"document_id": "c", "filename": "c.pdf", "values": {}}
        ]),
    )
    .await;
    let _worker = resolution_worker(&app).await;
    let created = app
        .post_json(
            "/v1/resolutions",
            &app.key,
            &json!({"source_run_id": job, "policy_id": policy}),
        )
        .await;
    let run_id = created.body["id"].as_str().expect("a run id").to_owned();
    app.post_json(
        &format!("/v1/resolutions/{run_id}/execute"),
        &app.key,
        &json!({}),
    )
    .await;
    let run = eventually(
        Duration::from_secs(30),
        "every document processed",
        || async {
            let reply = app
                .get(&format!("/v1/resolutions/{run_id}"), &app.key)
                .await;
            (reply.body["counters"]["documents_processed"] == 3).then_some(reply.body)
        },
    )
    .await;
    // The run waits for the ai-resolver: still running, one value waiting.
    assert_eq!(
        run["status"],
        "running",
        "{:?}",
        all_results(&app, &run_id, "").await
    );
    assert_eq!(run["counters"]["fields_waiting"], 1);
    assert_eq!(run["counters"]["fields_resolved"], 1);
    let waiting = all_results(&app, &run_id, "&status=waiting").await;
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0]["document_id"], "b");
    assert_eq!(waiting[0]["resolved_value"], Value::Null);
    let codes: Vec<&str> = waiting[0]["candidates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert!(
        codes.contains(&"GE") && codes.contains(&"US-GA"),
        "{codes:?}"
    );
    eventually(Duration::from_secs(10), "an AI task for the run", || async {
        (app.count(&format!(
            "outbox_messages WHERE routing_key = 'ai' AND payload->>'run_id' = '{run_id}' AND payload->>'run_kind' = 'resolution'"
        ))
        .await
            == 1)
            .then_some(())
    })
    .await;
}

#[actix_web::test]
async fn a_run_needs_a_completed_job_run_of_the_caller_and_known_policy_and_dialect() {
    let app = spawn_app().await;
    create_table(&app, &app.key, "countries").await;
    let policy = create_policy(&app, &app.key, &policy_body()).await;
    let job = create_job(&app, &app.key, &documents()).await;
    let foreign_job = create_job(&app, &app.other_key, &documents()).await;
    let create = |body: Value| {
        let app = &app;
        async move { app.post_json("/v1/resolutions", &app.key, &body).await }
    };

    // An id in the body that names nothing of the caller's organisation is a 422 naming the
    // field, whether it never existed or is another organisation's.
    let field = |reply: &crate::helpers::Reply| reply.body["error"]["details"]["field"].clone();
    let unknown = create(json!({"source_run_id": uuid::Uuid::now_v7(), "policy_id": policy})).await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert_eq!(field(&unknown), "source_run_id");
    let foreign = create(json!({"source_run_id": foreign_job, "policy_id": policy})).await;
    assert_eq!(foreign.status, 422, "{}", foreign.body);
    assert_eq!(field(&foreign), "source_run_id");
    // A job run that has not completed.
    {
        use diesel_async::RunQueryDsl;
        let mut conn = concord_models::database::connection(&app.pool)
            .await
            .expect("a connection");
        diesel::sql_query(format!(
            "UPDATE job_runs SET status = 'processing' WHERE id = '{job}'"
        ))
        .execute(&mut conn)
        .await
        .expect("an update");
    }
    let pending_job = create(json!({"source_run_id": job, "policy_id": policy})).await;
    assert_eq!(pending_job.status, 409, "{}", pending_job.body);
    assert_eq!(pending_job.error_code(), "job_not_completed");
    let job = create_job(&app, &app.key, &documents()).await;
    let no_policy = create(json!({"source_run_id": job, "policy_id": uuid::Uuid::now_v7()})).await;
    assert_eq!(no_policy.status, 422, "{}", no_policy.body);
    assert_eq!(field(&no_policy), "policy_id");
    let no_dialect = create(
        json!({"source_run_id": job, "policy_id": policy, "dialect_id": uuid::Uuid::now_v7()}),
    )
    .await;
    assert_eq!(no_dialect.status, 422, "{}", no_dialect.body);
    assert_eq!(field(&no_dialect), "dialect_id");
    let bad = create(json!({"source_run_id": "nope", "policy_id": policy})).await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(app.count("resolution_runs").await, 0);

    let ok = create(json!({"source_run_id": job, "policy_id": policy})).await;
    assert_eq!(ok.status, 201);
    let run_id = ok.body["id"].as_str().expect("an id");
    // Another organisation can neither see nor execute it.
    assert_eq!(
        app.get(&format!("/v1/resolutions/{run_id}"), &app.other_key)
            .await
            .status,
        404
    );
    let foreign_execute = app
        .post_json(
            &format!("/v1/resolutions/{run_id}/execute"),
            &app.other_key,
            &json!({}),
        )
        .await;
    assert_eq!(foreign_execute.status, 404);
    let listed = app.get("/v1/resolutions", &app.key).await;
    assert_eq!(listed.body["data"][0]["id"], run_id);
    assert_eq!(
        app.get("/v1/resolutions", &app.other_key).await.body["data"],
        json!([])
    );
}
