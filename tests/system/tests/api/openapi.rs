//! The OpenAPI document and the docs page: `/openapi.json` is served without a key, is OpenAPI
//! 3.1, documents every route the gateway's router registers (read from its source, so a new
//! route without its `#[utoipa::path]` fails here) and nothing it does not serve; `/docs` is a
//! page whose assets all come from the gateway itself. Then schemathesis (`make test-tools`)
//! runs against the live gateway with real resources behind it: no 5xx, every response valid
//! against its schema, its status and content type documented.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use concord_gateway::auth::{create_key, Scopes};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, test_tool, AppOptions, TestApp};
use crate::matching::{
    create_config, create_job, matching_worker, start_run, upload_reference_data, wait_for_status,
};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(method, path)` of every route registered in `files`: `web::resource("/p")` followed by
/// `.route(web::get()…)`, and `.route("/p", web::get()…)`. Path patterns lose their regexes
/// (`{id:.*}` → `{id}`).
fn routes_in(files: &[PathBuf]) -> BTreeSet<(String, String)> {
    let resource = regex::Regex::new(r#"web::resource\(\s*"([^"]+)"\s*\)"#).expect("a regex");
    let named =
        regex::Regex::new(r#"\.route\(\s*"([^"]+)"\s*,\s*web::(\w+)\(\)"#).expect("a regex");
    let on_resource = regex::Regex::new(r#"\.route\(\s*web::(\w+)\(\)"#).expect("a regex");
    let pattern = regex::Regex::new(r"\{(\w+):[^}]*\}").expect("a regex");
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("a source file");
        let mut events: Vec<(usize, Option<String>, Option<String>)> = Vec::new();
        for m in resource.captures_iter(&text) {
            let whole = m.get(0).expect("a match");
            events.push((whole.start(), Some(m[1].to_owned()), None));
        }
        for m in named.captures_iter(&text) {
            let whole = m.get(0).expect("a match");
            events.push((whole.start(), Some(m[1].to_owned()), Some(m[2].to_owned())));
        }
        for m in on_resource.captures_iter(&text) {
            let whole = m.get(0).expect("a match");
            events.push((whole.start(), None, Some(m[1].to_owned())));
        }
        events.sort_by_key(|(at, _, _)| *at);
        let mut current: Option<String> = None;
        for (_, path, method) in events {
            match (path, method) {
                (Some(path), None) => current = Some(path),
                (Some(path), Some(method)) => {
                    routes.insert((method, pattern.replace_all(&path, "{$1}").into_owned()));
                    current = None;
                }
                (None, Some(method)) => {
                    let path = current.clone().unwrap_or_else(|| {
                        panic!(
                            "{}: .route(web::{method}()) outside a resource",
                            file.display()
                        )
                    });
                    routes.insert((method, pattern.replace_all(&path, "{$1}").into_owned()));
                }
                (None, None) => {}
            }
        }
    }
    routes
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            // The review UI's pages are HTML for browsers, not operations of the API.
            if path.ends_with("services/gateway/src/ui") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The routes the gateway serves: its own (under `src/`) and the ops routes of
/// `concord-telemetry`.
fn served_routes() -> BTreeSet<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    rust_files(&root.join("services/gateway/src"), &mut files);
    files.push(root.join("crates/telemetry/src/ops.rs"));
    routes_in(&files)
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                operations.insert((method.to_owned(), path.clone()));
            }
        }
    }
    operations
}

#[test]
fn the_route_scanner_finds_both_ways_of_registering_a_route() {
    let dir = std::env::temp_dir().join(format!("concord-routes-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let file = dir.join("routes.rs");
    std::fs::write(
        &file,
        r#"cfg.service(web::resource("/a").route(web::get().to(a)).route(web::post().to(b)))
             .route("/a/{id:[0-9]+}", web::delete().to(c));"#,
    )
    .expect("written");
    let routes = routes_in(&[file]);
    std::fs::remove_dir_all(&dir).expect("removed");
    let expected: BTreeSet<(String, String)> =
        [("get", "/a"), ("post", "/a"), ("delete", "/a/{id}")]
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
    assert_eq!(routes, expected);
}

#[actix_web::test]
async fn the_document_is_openapi_3_1_and_documents_every_route_the_gateway_serves() {
    let app = spawn_app_with(AppOptions::default()).await;
    let reply = app
        .send(app.client.get(app.url("/openapi.json")), None)
        .await;
    assert_eq!(reply.status, 200, "no key is needed: {}", reply.body);
    let doc = reply.body;
    let version = doc["openapi"].as_str().unwrap_or("");
    assert!(version.starts_with("3.1."), "{version}");

    let documented = documented(&doc);
    let served = served_routes();
    assert!(
        served.len() > 50,
        "the scanner found {} routes",
        served.len()
    );
    let undocumented: Vec<_> = served
        .iter()
        .filter(|(method, path)| {
            !documented.contains(&(method.clone(), format!("/v1{path}")))
                && !documented.contains(&(method.clone(), path.clone()))
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "routes without #[utoipa::path] (CODE_STYLE.md, \"A new endpoint\"): {undocumented:?}"
    );

    // And every documented operation is one the router answers (not its 404 for no route, not a
    // 405 for a method the path does not have).
    let placeholder = regex::Regex::new(r"\{[^}]+\}").expect("a regex");
    for (method, path) in &documented {
        let concrete = placeholder
            .replace_all(path, uuid::Uuid::new_v4().to_string().as_str())
            .into_owned();
        let url = app.url(&concrete);
        let request = match method.as_str() {
            "get" => app.client.get(url),
            "post" => app.client.post(url),
            "put" => app.client.put(url),
            "patch" => app.client.patch(url),
            _ => app.client.delete(url),
        };
        let reply = app.send(request.bearer_auth(&app.admin_key), None).await;
        let message = reply.body["error"]["message"].as_str().unwrap_or("");
        assert!(
            reply.status != 405 && !message.starts_with("no route"),
            "{method} {path} is documented but not served: {} {}",
            reply.status,
            reply.body
        );
    }
}

#[actix_web::test]
async fn the_docs_page_loads_only_assets_the_gateway_serves() {
    let app = spawn_app_with(AppOptions::default()).await;
    let mut response = app
        .client
        .get(app.url("/docs"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let policy = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(!policy.contains("http"), "{policy}");
    let html = String::from_utf8(response.body().await.expect("a body").to_vec()).expect("UTF-8");

    let reference = regex::Regex::new(r#"(?:src|href)\s*=\s*"([^"]*)""#).expect("a regex");
    let assets: Vec<String> = reference
        .captures_iter(&html)
        .map(|c| c[1].to_owned())
        .collect();
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")),
        "{assets:?}"
    );
    for asset in &assets {
        assert!(
            asset.starts_with('/') && !asset.starts_with("//"),
            "{asset} is not same-origin"
        );
        let mut response = app
            .client
            .get(app.url(asset))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status().as_u16(), 200, "{asset}");
        let body = response
            .body()
            .limit(4 * 1024 * 1024)
            .await
            .expect("a body");
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{asset} names another origin"
        );
    }
    let script = app
        .send(app.client.get(app.url("/docs/docs.js")), None)
        .await;
    assert_eq!(script.status, 200);
    let unknown = app
        .send(app.client.get(app.url("/docs/other.js")), None)
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_code(), "not_found");
}

async fn resolution_worker(app: &TestApp) -> concord_test_support::worker::TestWorker {
    concord_test_support::worker::spawn_worker(
        &app.database,
        &app.topology,
        concord_test_support::amqp_url(),
        concord_queue::Role::Resolution,
        concord_resolution_worker::NAME,
        concord_resolution_worker::ResolutionJobHandler::new,
    )
    .await
}

/// Debian's Chromium, which `make test-tools` installs.
const CHROMIUM: &str = "/usr/bin/chromium";

#[actix_web::test]
async fn the_docs_page_renders_in_headless_chromium_with_no_request_leaving_the_machine() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is not installed: run `make test-tools`"
    );
    let app = spawn_app_with(AppOptions::default()).await;
    let url = app.url("/docs");
    let profile = std::env::temp_dir().join(format!("concord-chromium-{}", uuid::Uuid::new_v4()));
    let mut command = Command::new(CHROMIUM);
    command
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Any name but the gateway's loopback address resolves to nothing: a request for an
            // asset elsewhere would fail and leave the page unrendered.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&url)
        .stdin(Stdio::null());
    let output = actix_web::rt::task::spawn_blocking(move || command.output())
        .await
        .expect("the browser task")
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The script fetched /openapi.json from the gateway and rendered it: operations by their
    // summaries, the error-code table, the security scheme.
    for rendered in [
        "Start a matching run",
        "Match one document now (no run)",
        "index_warming",
        "api_key",
    ] {
        assert!(
            dom.contains(rendered),
            "`{rendered}` is not on the rendered page:\n{dom}"
        );
    }
    assert!(
        !dom.contains("could not be loaded"),
        "the page did not load its document:\n{dom}"
    );
}

#[actix_web::test]
async fn the_served_document_validates_as_openapi_3_1_and_its_examples_as_their_schemas() {
    let validator = test_tool("openapi-spec-validator");
    let app = spawn_app_with(AppOptions::default()).await;
    let reply = app
        .send(app.client.get(app.url("/openapi.json")), None)
        .await;
    assert_eq!(reply.status, 200);
    let path = std::env::temp_dir().join(format!("concord-openapi-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, reply.body.to_string()).expect("written");
    let document = path.clone();
    let checked = path.clone();
    let output = actix_web::rt::task::spawn_blocking(move || {
        Command::new(validator)
            .args(["--schema", "3.1", "--validation-errors", "all"])
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .expect("the validator runs")
    })
    .await
    .expect("the validator ends");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("OK"), "{text}");

    // And every example in it is valid against its schema.
    let python = test_tool("python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemathesis/examples.py");
    let output = actix_web::rt::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(&checked)
            .stdin(Stdio::null())
            .output()
            .expect("the example check runs")
    })
    .await
    .expect("the example check ends");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{text}");
    assert!(text.contains(", 0 invalid"), "{text}");
    std::fs::remove_file(&document).expect("removed");
}

/// What the run works on: a completed matching run with its results, a completed resolution
/// run, and one of each resource for the operations that read, change or delete one.
struct Fixtures {
    values: Vec<(&'static str, Vec<(&'static str, String)>)>,
}

async fn created(app: &TestApp, path: &str, body: Value) -> String {
    let reply = app.post_json(path, &app.key, &body).await;
    assert_eq!(reply.status, 201, "{path}: {}", reply.body);
    reply.body["id"].as_str().expect("an id").to_owned()
}

async fn fixtures(app: &TestApp, revocable_key: String) -> Fixtures {
    let dataset = upload_reference_data(app, &app.key).await;
    let other_dataset = upload_reference_data(app, &app.key).await;
    let config = create_config(app, &dataset).await;
    let other_config = create_config(app, &dataset).await;
    let job = create_job(app).await;
    let run = start_run(app, &config, &job).await;
    wait_for_status(app, &run, "completed").await;
    let results = app
        .get(&format!("/v1/matching/runs/{run}/results"), &app.key)
        .await;
    let result = results.body["data"][0]["id"]
        .as_str()
        .expect("a result")
        .to_owned();

    let table = |name: &str| {
        json!({"name": name, "entries": [
            {"code": "ACME", "label": "Acme GmbH", "aliases": ["Acme"]},
            {"code": "GLOBEX", "label": "Globex Corporation", "attributes": {"country": "US"}}
        ]})
    };
    let lookup_table = created(app, "/v1/lookup-tables", table("vendors")).await;
    let other_table = created(app, "/v1/lookup-tables", table("vendors-2")).await;
    let policy_body = |name: &str| {
        json!({
            "name": name,
            "fields": [
                {"field_key": "vendor", "type": "code"},
                {"field_key": "amount", "type": "number"},
                {"field_key": "invoice_date", "type": "date"}
            ],
            "rules": [
                {"rule_type": "lookup", "target_field": "vendor", "config": {"table": "vendors", "source_field": "vendor_name"}},
                {"rule_type": "parse_number", "target_field": "amount", "config": {"source_field": "amount"}},
                {"rule_type": "parse_date", "target_field": "invoice_date", "config": {"source_field": "invoice_date", "order": "dmy"}}
            ]
        })
    };
    let policy = created(app, "/v1/data-policies", policy_body("invoices")).await;
    let other_policy = created(app, "/v1/data-policies", policy_body("invoices 2")).await;
    let dialect_body =
        |name: &str| json!({"name": name, "date_format": "DD.MM.YYYY", "number_locale": "de-DE"});
    let dialect = created(app, "/v1/dialects", dialect_body("german")).await;
    let other_dialect = created(app, "/v1/dialects", dialect_body("german 2")).await;
    let resolution = created(
        app,
        "/v1/resolutions",
        json!({"source_run_id": job, "policy_id": policy, "dialect_id": dialect}),
    )
    .await;
    let started = app
        .post_json(
            &format!("/v1/resolutions/{resolution}/execute"),
            &app.key,
            &json!({}),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.body);
    concord_test_support::eventually(Duration::from_secs(30), "the resolution run", || async {
        let reply = app
            .get(&format!("/v1/resolutions/{resolution}"), &app.key)
            .await;
        (reply.body["status"] == "completed").then_some(())
    })
    .await;

    let token = |name: &str| {
        let name = name.to_owned();
        let path = format!("/v1/matching/configs/{config}/reconciliation-tokens");
        async move {
            let reply = app.post_json(&path, &app.key, &json!({"name": name})).await;
            assert_eq!(reply.status, 201, "{}", reply.body);
            (
                reply.body["id"].as_str().expect("an id").to_owned(),
                reply.body["token"].as_str().expect("a token").to_owned(),
            )
        }
    };
    let (_, reconciliation_token) = token("openrefine").await;
    let (revocable_token, _) = token("revocable").await;

    let id = |value: &String| vec![("id", value.clone())];
    let mut values = vec![
        ("get_job", id(&job)),
        ("list_documents", id(&job)),
        ("get_dataset", id(&dataset)),
        ("list_rows", id(&dataset)),
        ("export_dataset", id(&dataset)),
        ("delete_dataset", id(&other_dataset)),
        ("get_config", id(&config)),
        ("replace_config", id(&config)),
        ("get_model", id(&config)),
        ("train_model", id(&config)),
        ("start_run", id(&config)),
        ("start_smart_run", id(&config)),
        ("delete_config", id(&other_config)),
        ("list_matching_runs", vec![("config_id", config.clone())]),
        ("get_matching_run", id(&run)),
        ("get_matching_progress", id(&run)),
        ("cancel_matching_run", id(&run)),
        ("ai_resolve", id(&run)),
        ("list_match_results", id(&run)),
        ("export_match_results", id(&run)),
        (
            "review_result",
            vec![("id", run.clone()), ("result_id", result)],
        ),
        ("get_lookup_table", id(&lookup_table)),
        ("list_lookup_entries", id(&lookup_table)),
        ("replace_lookup_table", id(&lookup_table)),
        ("delete_lookup_table", id(&other_table)),
        ("get_policy", id(&policy)),
        ("get_policy_fields", id(&policy)),
        ("get_policy_rules", id(&policy)),
        ("replace_policy", id(&policy)),
        ("delete_policy", id(&other_policy)),
        ("get_dialect", id(&dialect)),
        ("update_dialect", id(&dialect)),
        ("delete_dialect", id(&other_dialect)),
        ("get_resolution", id(&resolution)),
        ("execute_resolution", id(&resolution)),
        ("list_resolution_results", id(&resolution)),
        ("export_resolution_results", id(&resolution)),
        ("revoke_api_key", id(&revocable_key)),
        ("create_reconciliation_token", id(&config)),
        ("list_reconciliation_tokens", id(&config)),
        (
            "revoke_reconciliation_token",
            vec![("id", config.clone()), ("token_id", revocable_token)],
        ),
    ];
    values.push(("docs_asset", vec![("asset", "docs.js".to_owned())]));
    for operation in [
        "reconciliation_service",
        "reconcile",
        "reconciliation_suggest_entity",
        "reconciliation_suggest_property",
        "reconciliation_preview",
    ] {
        values.push((operation, vec![("token", reconciliation_token.clone())]));
    }
    Fixtures { values }
}

/// The schemathesis configuration: the key, and for each operation on a resource the id of a
/// real one (the rest of each request is generated).
fn config(key: &str, fixtures: &Fixtures) -> String {
    let mut toml = format!(
        "headers = {{ Authorization = \"Bearer {key}\" }}\nrequest-timeout = 30\n\n[phases.stateful]\ngeneration.max-examples = {STATEFUL_SCENARIOS}\n"
    );
    for (operation, parameters) in &fixtures.values {
        let values: Vec<String> = parameters
            .iter()
            .map(|(name, value)| format!("{name} = \"{value}\""))
            .collect();
        toml.push_str(&format!(
            "\n[[operations]]\ninclude-operation-id = \"{operation}\"\nparameters = {{ {} }}\n",
            values.join(", ")
        ));
    }
    toml
}

/// Examples per operation and phase: with the coverage phase's own cases, about 3,400 requests (with the
/// stateful sequences) in about 40 s here. `CONCORD_SCHEMATHESIS_EXAMPLES` asks for more (a deeper run by hand).
const MAX_EXAMPLES: &str = "10";
/// Sequences of linked calls (create, then read, change, delete what was created).
const STATEFUL_SCENARIOS: u32 = 60;
/// The run's bound: it takes well under a minute here; a hang fails the test instead of CI.
const TIME_LIMIT: Duration = Duration::from_secs(300);

#[actix_web::test]
async fn schemathesis_finds_no_server_error_and_no_response_outside_the_document() {
    let schemathesis = test_tool("schemathesis");
    let app = spawn_app_with(AppOptions {
        rate_limit_per_minute: 10_000_000,
        ..AppOptions::default()
    })
    .await;
    let _worker = matching_worker(&app).await;
    let _resolver = resolution_worker(&app).await;
    let scopes = Scopes::parse_list("read,write,admin").expect("scopes");
    let (_, _, secret) = create_key(&app.pool, "acme", "schemathesis", &scopes)
        .await
        .expect("a key");
    let (_, revocable, _) = create_key(&app.pool, "acme", "to revoke", &scopes)
        .await
        .expect("a key");
    let fixtures = fixtures(&app, revocable.id.to_string()).await;

    let dir = std::env::temp_dir().join(format!("concord-schemathesis-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let config_path = dir.join("schemathesis.toml");
    std::fs::write(&config_path, config(secret.expose(), &fixtures)).expect("written");
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemathesis/hooks.py");
    let log_path = dir.join("schemathesis.log");
    let log = std::fs::File::create(&log_path).expect("a log file");
    let mut command = Command::new(&schemathesis);
    command
        .arg("--config-file")
        .arg(&config_path)
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            &std::env::var("CONCORD_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.to_owned()),
            "--seed",
            "20261204",
            "--workers",
            "2",
            "--no-color",
        ])
        .current_dir(&dir)
        .env("SCHEMATHESIS_HOOKS", &hooks)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("a handle"))
        .stderr(log);
    let started = Instant::now();
    let status = actix_web::rt::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("schemathesis starts");
        loop {
            if let Some(status) = child.try_wait().expect("waiting") {
                return Some(status);
            }
            if started.elapsed() > TIME_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .expect("the run ends");
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    println!("{output}");
    let status =
        status.unwrap_or_else(|| panic!("schemathesis ran over {TIME_LIMIT:?}:\n{output}"));
    assert!(
        status.success(),
        "schemathesis found failures (after {:?}):\n{output}",
        started.elapsed()
    );
    assert!(output.contains("passed"), "{output}");
    std::fs::remove_dir_all(&dir).expect("the run's directory is removed");
}
