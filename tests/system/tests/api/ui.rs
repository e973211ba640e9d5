//! The review UI (`/ui`) as reviewers meet it: ten results reviewed by keyboard alone in Debian's
//! headless Chromium (tests/system/browser/review.mjs, playwright-core), the decisions checked
//! through the API; and, over plain HTTP, what must be refused: a read-only key's decision,
//! another organisation's run, a form without its CSRF token, a page without a session.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::matching::{matching_worker, wait_for_status};

/// Documents a little off their rows, matched by a config whose threshold nothing reaches: every
/// result lands in the review band.
async fn run_to_review(app: &TestApp, documents: usize) -> String {
    let rows: Vec<Value> = (1..=documents)
        .map(|i| json!({"ref_id": format!("R{i}"), "vendor": format!("Vendor {i} Trading GmbH"), "invoice": format!("INV-{i:04}"), "amount": format!("{i}00.00")}))
        .collect();
    let dataset = app
        .post_json(
            "/v1/reference-data",
            &app.key,
            &json!({"name": "ledger", "id_column": "ref_id", "rows": rows}),
        )
        .await;
    assert_eq!(dataset.status, 201, "{}", dataset.body);
    let config = app
        .post_json(
            "/v1/matching/configs",
            &app.key,
            &json!({
                "name": "to review",
                "reference_data_id": dataset.body["id"],
                "scoring": "weighted",
                "field_mappings": [
                    {"source": "vendor_name", "target": "vendor", "strategy": "fuzzy", "params": {"kind": "name"}},
                    {"source": "invoice_number", "target": "invoice", "strategy": "fuzzy", "params": {"kind": "identifier"}},
                    {"source": "amount", "target": "amount", "strategy": "numeric_range", "params": {"tolerance_pct": 1}}
                ],
                "threshold": 0.999,
                "review_band": {"lower": 0.2}
            }),
        )
        .await;
    assert_eq!(config.status, 201, "{}", config.body);
    let docs: Vec<Value> = (1..=documents)
        .map(|i| json!({"document_id": format!("d{i:02}"), "filename": format!("d{i}.pdf"), "values": {"vendor_name": format!("Vendor {i} Trading Gmbh."), "invoice_number": format!("INV {i:04}"), "amount": format!("{i}01.00")}}))
        .collect();
    let job = app
        .post_json(
            "/v1/jobs",
            &app.key,
            &json!({"name": "to review", "documents": docs}),
        )
        .await;
    assert_eq!(job.status, 201, "{}", job.body);
    let run = app
        .post_json(
            &format!(
                "/v1/matching/configs/{}/run",
                config.body["id"].as_str().expect("an id")
            ),
            &app.key,
            &json!({"job_id": job.body["id"]}),
        )
        .await;
    assert_eq!(run.status, 202, "{}", run.body);
    let run = run.body["id"].as_str().expect("a run id").to_owned();
    wait_for_status(app, &run, "completed").await;
    run
}

async fn results(app: &TestApp, run: &str) -> Vec<Value> {
    let reply = app
        .get(
            &format!("/v1/matching/runs/{run}/results?limit=1000"),
            &app.key,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["data"].as_array().expect("results").clone()
}

/// An answer as text, with its status and headers.
struct Page {
    status: u16,
    headers: awc::http::header::HeaderMap,
    text: String,
}

async fn fetch(
    app: &TestApp,
    method: &str,
    path: &str,
    cookie: &str,
    form: Option<String>,
) -> Page {
    // Redirects are what is checked: not followed.
    let client = awc::Client::builder().disable_redirects().finish();
    let mut request = match method {
        "POST" => client.post(app.url(path)),
        _ => client.get(app.url(path)),
    };
    if !cookie.is_empty() {
        request = request.insert_header(("cookie", cookie.to_owned()));
    }
    let mut response = match form {
        Some(body) => request
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .send_body(body)
            .await
            .expect("answered"),
        None => request.send().await.expect("answered"),
    };
    let body = response.body().await.expect("a body");
    Page {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The `name=value` of a cookie the answer sets.
fn set_cookie(page: &Page, name: &str) -> String {
    page.headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

/// The value of the first hidden `csrf` field of a page.
fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let at = html.find(marker).expect("a csrf field") + marker.len();
    html[at..].split('"').next().expect("a value").to_owned()
}

/// Signs in with `key`: the session cookie and the session's CSRF token.
async fn sign_in(app: &TestApp, key: &str) -> (String, String) {
    let login = fetch(app, "GET", "/ui/login", "", None).await;
    assert_eq!(login.status, 200);
    let login_cookie = set_cookie(&login, "concord_login");
    let signed_in = fetch(
        app,
        "POST",
        "/ui/login",
        &login_cookie,
        Some(format!("key={key}&csrf={}", csrf_of(&login.text))),
    )
    .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.text);
    let session = set_cookie(&signed_in, "concord_session");
    let cookie_header = signed_in
        .headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("concord_session="))
        .expect("the session cookie")
        .to_owned();
    assert!(
        cookie_header.contains("HttpOnly") && cookie_header.contains("SameSite=Strict"),
        "{cookie_header}"
    );
    let runs = fetch(app, "GET", "/ui/runs", &session, None).await;
    assert_eq!(runs.status, 200, "{}", runs.text);
    let csrf = csrf_of(&runs.text);
    (session, csrf)
}

fn node() -> &'static str {
    "node"
}

#[actix_web::test]
async fn a_reviewer_decides_ten_results_by_keyboard_alone_in_chromium() {
    let app = spawn_app().await;
    let _worker = matching_worker(&app).await;
    let run = run_to_review(&app, 14).await;
    let before = results(&app, &run).await;
    let waiting = before
        .iter()
        .filter(|r| r["status"] == "needs_review")
        .count();
    assert!(waiting >= 12, "{waiting} results to review");

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let script = dir.join("review.mjs");
    let shots = std::env::var("CONCORD_UI_SCREENSHOTS").unwrap_or_default();
    let (url, key) = (app.address.clone(), app.key.clone());
    let run_id = run.clone();
    let output = actix_web::rt::task::spawn_blocking(move || {
        Command::new(node())
            .current_dir(&dir)
            .arg(script)
            .args([url, key, run_id, "10".to_owned(), shots])
            .stdin(Stdio::null())
            .output()
            .expect("node runs (make test-tools installs playwright-core)")
    })
    .await
    .expect("the browser ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("the report");
    assert_eq!(
        report["foreign"],
        json!([]),
        "no request leaves the gateway"
    );
    let decisions = report["decisions"].as_array().expect("decisions");
    assert_eq!(decisions.len(), 10, "{report}");

    // Through the API: exactly those ten are decided, each as its key said.
    let after = results(&app, &run).await;
    let decided: Vec<&Value> = after
        .iter()
        .filter(|r| r["status"] == "approved" || r["status"] == "rejected")
        .collect();
    assert_eq!(decided.len(), 10, "{report}");
    for decision in decisions {
        let id = decision["document_id"].as_str().expect("a document id");
        let stored = after
            .iter()
            .find(|r| r["document_id"] == id)
            .unwrap_or_else(|| panic!("no result for {id}"));
        assert_eq!(stored["status"], "approved", "{id}: {stored}");
        assert_eq!(stored["resolved_by"], "reviewer", "{id}");
        let first = &before
            .iter()
            .find(|r| r["document_id"] == id)
            .expect("before")["candidates"][0]["reference_row_id"];
        assert_eq!(
            &stored["matched_reference_row_id"], first,
            "{id}: the first candidate"
        );
    }
    let keystrokes = report["keystrokes"].as_u64().expect("a count");
    // One key per decision, plus `j` to start and Enter to sign in.
    assert_eq!(keystrokes, 12, "{report}");
    println!(
        "review UI: 10 decisions in {keystrokes} keystrokes (1 per decision after sign-in), {} requests by the browser",
        report["requests"]
    );
}

#[actix_web::test]
async fn what_a_reviewer_may_not_do_is_refused() {
    let app = spawn_app().await;
    let _worker = matching_worker(&app).await;
    let run = run_to_review(&app, 3).await;
    let before = results(&app, &run).await;
    let result = before[0]["id"].as_str().expect("an id").to_owned();
    let page = format!("/ui/runs/{run}/results/{result}");
    let decide = format!("{page}/decide");

    // No session: sent to sign in.
    let anonymous = fetch(&app, "GET", &page, "", None).await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(
        anonymous
            .headers
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/ui/login")
    );
    // A wrong key is refused on the sign-in page.
    let login = fetch(&app, "GET", "/ui/login", "", None).await;
    let wrong = fetch(
        &app,
        "POST",
        "/ui/login",
        &set_cookie(&login, "concord_login"),
        Some(format!("key=cnc_nope&csrf={}", csrf_of(&login.text))),
    )
    .await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    // A sign-in form without its token is refused.
    let forged = fetch(
        &app,
        "POST",
        "/ui/login",
        "",
        Some(format!("key={}", app.key)),
    )
    .await;
    assert_eq!(forged.status, 403, "{}", forged.text);

    // A read-only key sees the result, without a decision form, and cannot decide.
    let (read_session, read_csrf) = sign_in(&app, &app.read_key).await;
    // The queue, filtered by confidence (in percent).
    let queue = |query: &str| {
        let path = format!("/ui/runs/{run}{query}");
        let session = read_session.clone();
        let app = &app;
        async move { fetch(app, "GET", &path, &session, None).await }
    };
    let all = queue("?min=0&max=100").await;
    assert_eq!(
        all.text.matches("<tr><td><a href=").count(),
        3,
        "{}",
        all.text
    );
    let none = queue("?min=99.5").await;
    assert!(none.text.contains("Nothing here."), "{}", none.text);
    assert_eq!(queue("?min=101").await.status, 422);
    assert_eq!(queue("?max=x").await.status, 422);
    let seen = fetch(&app, "GET", &page, &read_session, None).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert!(
        seen.text.contains("read only") && !seen.text.contains("/decide"),
        "{}",
        seen.text
    );
    assert!(seen
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("default-src 'none'")));
    let refused = fetch(
        &app,
        "POST",
        &decide,
        &read_session,
        Some(format!("csrf={read_csrf}&decision=approved")),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.text);

    // A writer's form without the CSRF token, or with another session's, changes nothing.
    let (session, csrf) = sign_in(&app, &app.key).await;
    let no_token = fetch(
        &app,
        "POST",
        &decide,
        &session,
        Some("decision=approved".to_owned()),
    )
    .await;
    assert_eq!(no_token.status, 403, "{}", no_token.text);
    let other_token = fetch(
        &app,
        "POST",
        &decide,
        &session,
        Some(format!("csrf={read_csrf}&decision=approved")),
    )
    .await;
    assert_eq!(other_token.status, 403);
    assert_eq!(results(&app, &run).await, before, "nothing was decided");

    // Another organisation's reviewer: the run does not exist for them.
    let (other_session, _) = sign_in(&app, &app.other_key).await;
    let hidden = fetch(&app, "GET", &page, &other_session, None).await;
    assert_eq!(hidden.status, 404, "{}", hidden.text);
    let hidden_run = fetch(
        &app,
        "GET",
        &format!("/ui/runs/{run}"),
        &other_session,
        None,
    )
    .await;
    assert_eq!(hidden_run.status, 404);

    // With its token, the writer decides; undo puts the result back as it was.
    let approved = fetch(
        &app,
        "POST",
        &decide,
        &session,
        Some(format!("csrf={csrf}&decision=rejected&notes=wrong+vendor")),
    )
    .await;
    assert_eq!(approved.status, 303, "{}", approved.text);
    let stored = results(&app, &run).await;
    assert_eq!(stored[0]["status"], "rejected");
    assert_eq!(
        stored[0]["review"]["notes"], "wrong vendor",
        "{}",
        stored[0]
    );
    let undone = fetch(
        &app,
        "POST",
        "/ui/undo",
        &session,
        Some(format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(undone.status, 303, "{}", undone.text);
    assert_eq!(
        results(&app, &run).await,
        before,
        "undo restores the result"
    );

    // Signing out ends the session.
    let out = fetch(
        &app,
        "POST",
        "/ui/logout",
        &session,
        Some(format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(out.status, 303);
    let after = fetch(&app, "GET", "/ui/runs", &session, None).await;
    assert_eq!(after.status, 303, "the session is gone");
}

#[actix_web::test]
async fn a_probabilistic_run_shows_its_histogram_model_and_evidence_in_bits() {
    let app = spawn_app().await;
    let _worker = matching_worker(&app).await;
    let dataset = crate::matching::upload_reference_data(&app, &app.key).await;
    let config = crate::matching::create_config(&app, &dataset).await;
    let job = crate::matching::create_job(&app).await;
    let run = crate::matching::start_run(&app, &config, &job).await;
    wait_for_status(&app, &run, "completed").await;
    let (session, _) = sign_in(&app, &app.read_key).await;

    let page = fetch(
        &app,
        "GET",
        &format!("/ui/runs/{run}?show=all"),
        &session,
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("class=\"histogram\""), "{}", page.text);
    assert!(page.text.contains("5 results"), "every result is counted");
    assert!(page.text.contains("class=\"threshold\"") && page.text.contains("class=\"floor\""));
    assert!(page.text.contains("<h2>Model</h2>"), "{}", page.text);
    assert!(page.text.contains("weight (bits)"));
    for field in ["vendor_name", "invoice_number", "invoice_date", "amount"] {
        assert!(
            page.text.contains(&format!("{field} · ")),
            "{field}: {}",
            page.text
        );
    }
    let model = fetch(
        &app,
        "GET",
        &format!("/ui/configs/{config}/model"),
        &session,
        None,
    )
    .await;
    assert_eq!(model.status, 200, "{}", model.text);
    assert!(
        model.text.contains("weight (bits)") && model.text.contains("Trained"),
        "{}",
        model.text
    );
    let (other_session, _) = sign_in(&app, &app.other_key).await;
    let hidden = fetch(
        &app,
        "GET",
        &format!("/ui/configs/{config}/model"),
        &other_session,
        None,
    )
    .await;
    assert_eq!(hidden.status, 404, "{}", hidden.text);
    let bad = fetch(
        &app,
        "GET",
        &format!("/ui/runs/{run}?show=some"),
        &session,
        None,
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.text);

    let first = results(&app, &run).await[0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let result = fetch(
        &app,
        "GET",
        &format!("/ui/runs/{run}/results/{first}"),
        &session,
        None,
    )
    .await;
    assert_eq!(result.status, 200, "{}", result.text);
    assert!(
        result.text.contains("bits"),
        "a waterfall in bits: {}",
        result.text
    );
    assert!(
        result.text.contains("ACME Gmbh"),
        "the document's values: {}",
        result.text
    );
}

#[actix_web::test]
async fn a_reviewer_settles_an_unresolved_value_learns_its_spelling_and_the_next_run_resolves_it() {
    use crate::resolutions as r;
    let app = spawn_app().await;
    let _worker = r::resolution_worker(&app).await;
    let table = app
        .post_json(
            "/v1/lookup-tables",
            &app.key,
            &json!({"name": "countries", "entries": r::country_entries()}),
        )
        .await;
    assert_eq!(table.status, 201, "{}", table.body);
    let table_id = table.body["id"].as_str().expect("an id").to_owned();
    let policy = r::create_policy(
        &app,
        &app.key,
        &json!({
            "fields": [{"field_key": "country", "type": "code"}],
            "rules": [{"rule_type": "lookup", "target_field": "country", "config": {"table": "countries", "source_field": "country", "fallback": "none"}}]
        }),
    )
    .await;
    let documents = json!([
        {"document_id": "d1", "values": {"country": "Alemania"}},
        {"document_id": "d2", "values": {"country": "Frankreich"}}
    ]);
    let resolve = |job: String| {
        let app = &app;
        let policy = policy.clone();
        async move {
            let created = app
                .post_json(
                    "/v1/resolutions",
                    &app.key,
                    &json!({"source_run_id": job, "policy_id": policy}),
                )
                .await;
            assert_eq!(created.status, 201, "{}", created.body);
            let id = created.body["id"].as_str().expect("an id").to_owned();
            let started = app
                .post_json(
                    &format!("/v1/resolutions/{id}/execute"),
                    &app.key,
                    &json!({}),
                )
                .await;
            assert_eq!(started.status, 202, "{}", started.body);
            r::wait_for_status(app, &id, "completed").await;
            id
        }
    };
    let job = r::create_job(&app, &app.key, &documents).await;
    let first = resolve(job.clone()).await;
    let before = r::all_results(&app, &first, "").await;
    let spanish = before
        .iter()
        .find(|x| x["document_id"] == "d1")
        .expect("d1");
    assert_eq!(spanish["status"], "unresolved", "{spanish}");

    // The run's page lists the value; a writer adds it as an alias of DE.
    let (session, csrf) = sign_in(&app, &app.key).await;
    let page = fetch(
        &app,
        "GET",
        &format!("/ui/resolutions/{first}"),
        &session,
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("Alemania"), "{}", page.text);
    let runs = fetch(&app, "GET", "/ui/runs", &session, None).await;
    assert!(
        runs.text.contains(&format!("/ui/resolutions/{first}")),
        "{}",
        runs.text
    );
    let settle = format!("/ui/resolutions/{first}/settle");
    let position = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let at = page.text.find(&marker).expect("a settle form") + marker.len();
        page.text[at..]
            .split('"')
            .next()
            .expect("a value")
            .to_owned()
    };
    let (document, field) = (position("document_position"), position("field_position"));
    let form = |code: &str, alias: bool| {
        format!(
            "csrf={csrf}&document_position={document}&field_position={field}&code={code}{}",
            if alias { "&alias=on" } else { "" }
        )
    };
    let not_offered = fetch(&app, "POST", &settle, &session, Some(form("XX", true))).await;
    assert_eq!(
        not_offered.status, 422,
        "only a candidate: {}",
        not_offered.text
    );
    let forged = fetch(
        &app,
        "POST",
        &settle,
        &session,
        Some(format!(
            "document_position={document}&field_position={field}&code=DE"
        )),
    )
    .await;
    assert_eq!(forged.status, 403);
    let code = spanish["candidates"][0]["code"]
        .as_str()
        .expect("a candidate")
        .to_owned();
    let added = fetch(&app, "POST", &settle, &session, Some(form(&code, true))).await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert!(added.text.contains("version 2"), "{}", added.text);
    let table = app
        .get(&format!("/v1/lookup-tables/{table_id}"), &app.key)
        .await;
    assert_eq!(table.body["version"], 2, "{}", table.body);
    let settled = r::all_results(&app, &first, "").await;
    let spanish_now = settled
        .iter()
        .find(|x| x["document_id"] == "d1")
        .expect("d1");
    assert_eq!(spanish_now["status"], "resolved", "{spanish_now}");
    assert_eq!(spanish_now["resolution_step"], "reviewer");
    assert_eq!(spanish_now["resolved_value"], code.as_str());
    let run = app.get(&format!("/v1/resolutions/{first}"), &app.key).await;
    assert_eq!(run.body["counters"]["fields_unresolved"], 0, "{}", run.body);
    let again = fetch(&app, "POST", &settle, &session, Some(form(&code, false))).await;
    assert_eq!(again.status, 409, "{}", again.text);

    // A read-only key cannot.
    let (read_session, read_csrf) = sign_in(&app, &app.read_key).await;
    let refused = fetch(
        &app,
        "POST",
        &settle,
        &read_session,
        Some(format!(
            "csrf={read_csrf}&document_position={document}&field_position={field}&code={code}"
        )),
    )
    .await;
    assert_eq!(refused.status, 403);

    // The next run resolves the spelling without anyone.
    let second = resolve(job).await;
    let after = r::all_results(&app, &second, "").await;
    let spanish = after.iter().find(|x| x["document_id"] == "d1").expect("d1");
    assert_eq!(spanish["status"], "resolved", "{spanish}");
    assert_eq!(spanish["resolution_step"], "lookup");
    assert_eq!(spanish["resolved_value"], code.as_str());
}

#[actix_web::test]
async fn in_chromium_a_read_only_key_another_organisation_and_a_form_without_its_token_are_refused()
{
    let app = spawn_app().await;
    let _worker = matching_worker(&app).await;
    let run = run_to_review(&app, 3).await;
    let before = results(&app, &run).await;
    let result = before[0]["id"].as_str().expect("an id").to_owned();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let args = [
        app.address.clone(),
        app.read_key.clone(),
        app.other_key.clone(),
        app.key.clone(),
        run.clone(),
        result,
    ];
    let output = actix_web::rt::task::spawn_blocking(move || {
        Command::new(node())
            .current_dir(&dir)
            .arg("refusals.mjs")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("node runs (make test-tools installs playwright-core)")
    })
    .await
    .expect("the browser ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("the report");
    assert_eq!(report["read_only_form"], 0, "{report}");
    assert_eq!(report["read_only_url_kept"], true, "{report}");
    assert_eq!(report["other_org_status"], 404, "{report}");
    assert_eq!(report["csrf_status"], 403, "{report}");
    assert_eq!(results(&app, &run).await, before, "nothing was decided");
}
