//! Probabilistic matching through the REST API: a config's first run trains its model (EM over
//! the run's documents), later runs reuse it, `/train` trains it again and `/model` shows it;
//! results explain themselves field by field in bits; one-to-one assignment across chunks handled
//! by two workers; a model that learns from reviewers' decisions.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, AppOptions, TestApp};
use crate::matching::{all_results, matching_worker, start_run, wait_for_status};

/// A small deterministic generator (xorshift64*), so every test sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const VENDORS: &[&str] = &[
    "Acme Office Supplies GmbH",
    "Globex Corporation",
    "Initech LLC",
    "Umbrella Logistics Ltd",
    "Hooli Inc.",
    "Stark Industries AG",
    "Wayne Enterprises Inc.",
    "Northwind Traders B.V.",
    "Vandelay Industries",
    "Cyberdyne Systems Corp.",
    "Tyrell Manufacturing SAS",
    "Soylent Foods S.r.l.",
];

/// One ledger row of the generated set.
struct Invoice {
    id: String,
    vendor: &'static str,
    number: String,
    day: u32,
    cents: u64,
}

/// A ledger of `n` invoices (vendors billing in sequences) and documents extracted from the
/// first `docs` of them with noise a real extractor makes; documents from `docs` on are
/// invoices that are not in the ledger (the vendor's next numbers). Returns the ledger rows,
/// the documents, and the truth (document id → row id or none).
fn invoice_set(
    seed: u64,
    n: usize,
    docs: usize,
    missing: usize,
) -> (Value, Value, Vec<(String, Option<String>)>) {
    invoice_set_with(seed, n, docs, missing, Noise::default())
}

/// How often a document's fields disagree with its row, in percent.
#[derive(Clone, Copy)]
struct Noise {
    /// The net amount where the ledger holds the gross.
    net_amount: u64,
    /// The delivery date where the invoice date was expected.
    date: u64,
    /// The invoice number read with two digits swapped.
    number: u64,
    /// One vendor (Hooli) invoices under a trading name, with its net amounts and delivery
    /// dates: only the invoice number agrees.
    trading_name: bool,
}

impl Default for Noise {
    fn default() -> Self {
        Noise {
            net_amount: 10,
            date: 0,
            number: 0,
            trading_name: false,
        }
    }
}

fn invoice_set_with(
    seed: u64,
    n: usize,
    docs: usize,
    missing: usize,
    noise: Noise,
) -> (Value, Value, Vec<(String, Option<String>)>) {
    let mut rng = Rng(seed);
    let mut next_number: HashMap<&str, u64> = HashMap::new();
    let invoices: Vec<Invoice> = (0..n + missing)
        .map(|i| {
            let vendor = VENDORS[rng.below(VENDORS.len() as u64) as usize];
            let number = next_number.entry(vendor).or_insert(1000 + rng.below(9000));
            *number += 1;
            Invoice {
                id: format!("R{i:04}"),
                vendor,
                number: format!("INV-{:06}", *number),
                day: 1 + rng.below(27) as u32,
                cents: 1_000 + rng.below(900_000),
            }
        })
        .collect();
    let rows: Vec<Value> = invoices[..n]
        .iter()
        .map(|inv| {
            json!({
                "ref_id": inv.id, "vendor": inv.vendor, "invoice": inv.number,
                "date": format!("2024-03-{:02}", inv.day),
                "amount": format!("{}.{:02}", inv.cents / 100, inv.cents % 100),
            })
        })
        .collect();
    let mut documents = Vec::new();
    let mut truth = Vec::new();
    let picked: Vec<usize> = (0..docs).chain(n..n + missing).collect();
    for (k, &i) in picked.iter().enumerate() {
        let inv = &invoices[i];
        let trading = noise.trading_name && inv.vendor == "Hooli Inc.";
        let vendor = if trading {
            "HLI Cloud Services Ltd".to_owned()
        } else if rng.chance(30) {
            inv.vendor.to_uppercase()
        } else {
            inv.vendor.replace('.', "")
        };
        let mut number = match rng.below(4) {
            0 => inv.number.replace("INV-", "#"),
            1 => inv.number.replace('-', " "),
            _ => inv.number.clone(),
        };
        if rng.chance(noise.number) {
            let mut chars: Vec<char> = number.chars().collect();
            let k = chars.len() - 2;
            chars.swap(k, k + 1);
            number = chars.into_iter().collect();
        }
        let day = if trading || rng.chance(noise.date) {
            // The delivery date, a few days after the invoice's.
            inv.day + 1 + rng.below(4) as u32
        } else {
            inv.day
        };
        let date = if rng.chance(50) {
            format!("{day:02}.03.2024")
        } else {
            format!("2024-03-{day:02}")
        };
        // A field that disagrees for a reason nobody foresaw: the net amount.
        let cents = if trading || rng.chance(noise.net_amount) {
            inv.cents * 100 / 119
        } else {
            inv.cents
        };
        let amount = format!("{},{:02} EUR", cents / 100, cents % 100);
        let id = format!("d{k:03}");
        documents.push(json!({
            "document_id": id, "filename": format!("{id}.pdf"),
            "values": {"vendor_name": vendor, "invoice_number": number, "invoice_date": date, "amount": amount}
        }));
        truth.push((id, (i < n).then(|| inv.id.clone())));
    }
    (json!(rows), json!(documents), truth)
}

/// Field mappings without a single weight: what each field is worth is learned.
fn invoice_mappings() -> Value {
    json!([
        {"source": "vendor_name", "target": "vendor", "strategy": "fuzzy", "params": {"kind": "name"}},
        {"source": "invoice_number", "target": "invoice", "strategy": "fuzzy", "params": {"kind": "identifier"}},
        {"source": "invoice_date", "target": "date", "strategy": "date_range", "params": {"days": 5}},
        {"source": "amount", "target": "amount", "strategy": "numeric_range", "params": {"tolerance_pct": 2}}
    ])
}

async fn upload(app: &TestApp, rows: &Value) -> String {
    let reply = app
        .post_json(
            "/v1/reference-data",
            &app.key,
            &json!({"name": "ledger", "id_column": "ref_id", "rows": rows}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["id"].as_str().expect("a dataset id").to_owned()
}

async fn submit(app: &TestApp, documents: &Value) -> String {
    let reply = app
        .post_json(
            "/v1/jobs",
            &app.key,
            &json!({"name": "invoices", "documents": documents}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["id"].as_str().expect("a job id").to_owned()
}

async fn configure(app: &TestApp, body: Value) -> Value {
    let reply = app.post_json("/v1/matching/configs", &app.key, &body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

/// How many of the run's results are wrong: a wrong row, a row for a document that has none,
/// or no row for one that has one.
async fn mistakes(app: &TestApp, run_id: &str, truth: &[(String, Option<String>)]) -> usize {
    let results = all_results(app, run_id, "").await;
    let predicted: HashMap<&str, Option<&str>> = results
        .iter()
        .map(|r| {
            (
                r["document_id"].as_str().unwrap_or_default(),
                r["matched_reference_row_id"].as_str(),
            )
        })
        .collect();
    truth
        .iter()
        .filter(|(doc, row)| predicted.get(doc.as_str()).copied().flatten() != row.as_deref())
        .count()
}

/// The config's model once it is no longer training.
async fn model(app: &TestApp, config: &str) -> Value {
    concord_test_support::eventually(
        std::time::Duration::from_secs(60),
        "the model trained",
        || async {
            let reply = app
                .get(&format!("/v1/matching/configs/{config}/model"), &app.key)
                .await;
            (reply.status == 200 && reply.body["status"] != "training").then_some(reply.body)
        },
    )
    .await
}

async fn get_text(app: &TestApp, path: &str) -> String {
    let mut response = app
        .client
        .get(app.url(path))
        .bearer_auth(&app.key)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
    let body = response.body().limit(64 << 20).await.expect("a body");
    String::from_utf8(body.to_vec()).expect("utf-8")
}

#[actix_web::test]
async fn a_first_run_trains_the_model_and_later_runs_reuse_it() {
    let app = spawn_app_with(AppOptions {
        matching_chunk_size: 40,
        ..AppOptions::default()
    })
    .await;
    let (rows, documents, truth) = invoice_set(7, 300, 120, 20);
    let dataset = upload(&app, &rows).await;
    let job = submit(&app, &documents).await;
    let config = configure(
        &app,
        json!({"name": "invoices", "reference_data_id": dataset, "field_mappings": invoice_mappings()}),
    )
    .await;
    assert_eq!(config["scoring"], "probabilistic");
    assert_eq!(config["assignment"], "independent");
    let config_id = config["id"].as_str().expect("an id").to_owned();
    let before = app
        .get(&format!("/v1/matching/configs/{config_id}/model"), &app.key)
        .await;
    assert_eq!(before.status, 404);
    assert_eq!(before.error_code(), "model_not_trained");

    let _worker = matching_worker(&app).await;
    let run_id = start_run(&app, &config_id, &job).await;
    let run = wait_for_status(&app, &run_id, "completed").await;
    assert_eq!(run["rows_processed"], 140);

    // The model learnt from the run's documents, and says how.
    let trained = model(&app, &config_id).await;
    assert_eq!(trained["status"], "ready", "{trained}");
    assert_eq!(trained["config_version"], 1);
    assert_eq!(trained["job_id"], job.as_str());
    let m = &trained["model"];
    assert_eq!(m["training"]["method"], "em");
    assert_eq!(m["training"]["documents"], 140);
    assert!(m["training"]["pairs"].as_u64() > Some(140));
    assert!(m["training"]["random_pairs"].as_u64() > Some(0));
    assert!(m["training"]["iterations"].as_u64() > Some(0));
    assert!(m["training"]["converged"].is_boolean());
    assert!(m["training"]["last_change"].is_number());
    let lambda = m["lambda"].as_f64().expect("λ");
    assert!(
        (0.7..0.99).contains(&lambda),
        "λ {lambda}: 120 of 140 documents have a row"
    );
    let number = &m["fields"][1];
    assert_eq!(number["source"], "invoice_number");
    let levels = number["levels"].as_array().expect("levels");
    assert_eq!(levels[0]["name"], "exact");
    let weight = |l: &Value| l["weight"].as_f64().expect("a weight");
    assert!(
        weight(&levels[0]) > 5.0,
        "agreeing on the number is strong evidence: {number}"
    );
    let different = levels.last().expect("a last level");
    assert!(weight(different) < 0.0, "{number}");
    for level in levels {
        for p in ["m", "u", "u_candidates"] {
            let p = level[p].as_f64().expect("a probability");
            assert!(p > 0.0 && p < 1.0);
        }
    }
    // An anchor, when training found one, names a field, and every other field's levels carry
    // their parameters given that it agrees; without one, no level does.
    let anchor = m.get("anchor").and_then(|a| a["field"].as_u64());
    if let Some(a) = m.get("anchor") {
        assert!(a["gain_bits"].as_f64() > Some(0.0), "{a}");
        assert_eq!(
            a["source"],
            m["fields"][a["field"].as_u64().expect("a field") as usize]["source"]
        );
    }
    for (f, field) in m["fields"].as_array().expect("fields").iter().enumerate() {
        for level in field["levels"].as_array().expect("levels") {
            let given = level.get("when_anchor_agrees");
            assert_eq!(
                given.is_some(),
                anchor.is_some_and(|a| a != f as u64),
                "{field}"
            );
            if let Some(given) = given {
                let p = given["u"].as_f64().expect("u given the anchor");
                assert!(p > 0.0 && p < 1.0, "{given}");
            }
        }
    }

    // Results explain themselves: per field the level and what it adds, in bits.
    let results = all_results(&app, &run_id, "").await;
    let matched = results
        .iter()
        .find(|r| r["matched_reference_row_id"].is_string())
        .expect("a match");
    assert!(matched["match_weight"].is_number(), "{matched}");
    let evidence = matched["evidence"].as_array().expect("evidence");
    assert_eq!(evidence.len(), 4);
    assert!(evidence
        .iter()
        .all(|e| e["level"].is_string() && e["match_weight"].is_number()));
    let total: f64 = evidence
        .iter()
        .filter_map(|e| e["match_weight"].as_f64())
        .sum();
    let match_weight = matched["match_weight"].as_f64().expect("a match weight");
    assert!(
        (total - match_weight).abs() < 1e-6,
        "{total} vs {match_weight}"
    );
    assert!(matched["candidates"][0]["match_weight"].is_number());
    let wrong = mistakes(&app, &run_id, &truth).await;
    assert!(wrong <= 4, "{wrong} mistakes in 140 documents");
    // A net amount where the gross was expected does not sink a match the rest agrees on.
    let net = results.iter().filter(|r| {
        r["evidence"][3]["level"] != "exact" && r["matched_reference_row_id"].is_string()
    });
    assert!(net.count() >= 5);

    // The run detail's top results and the export carry the evidence too.
    let detail = app
        .get(&format!("/v1/matching/runs/{run_id}"), &app.key)
        .await;
    assert!(detail.body["top_results"][0]["evidence"][0]["level"].is_string());
    let export = get_text(&app, &format!("/v1/matching/runs/{run_id}/results/export")).await;
    let header = export.lines().next().expect("a header");
    assert!(header.contains(",match_weight,evidence,"), "{header}");
    assert!(export.contains("invoice_number=exact:+"), "{export}");

    // A second run reuses the model: no training, the same model.
    let again = start_run(&app, &config_id, &job).await;
    wait_for_status(&app, &again, "completed").await;
    let reused = model(&app, &config_id).await;
    assert_eq!(reused["trained_at"], trained["trained_at"]);
    assert_eq!(app.count("matching_models").await, 1);
    assert_eq!(mistakes(&app, &again, &truth).await, wrong);
}

#[actix_web::test]
async fn training_on_request_and_what_it_refuses() {
    let app = spawn_app().await;
    let (rows, documents, _) = invoice_set(11, 200, 80, 10);
    let dataset = upload(&app, &rows).await;
    let job = submit(&app, &documents).await;
    let config = configure(
        &app,
        json!({"name": "invoices", "reference_data_id": dataset, "field_mappings": invoice_mappings()}),
    )
    .await;
    let config_id = config["id"].as_str().expect("an id").to_owned();
    let train = format!("/v1/matching/configs/{config_id}/train");

    // Nothing to learn from yet.
    let none = app.post_json(&train, &app.key, &json!({})).await;
    assert_eq!(none.status, 422, "{}", none.body);
    assert_eq!(none.body["error"]["details"]["field"], "job_id");
    let unknown = app
        .post_json(&train, &app.key, &json!({"job_id": uuid::Uuid::now_v7()}))
        .await;
    assert_eq!(unknown.status, 422);
    let read_only = app
        .post_json(&train, &app.read_key, &json!({"job_id": job}))
        .await;
    assert_eq!(read_only.status, 403);
    let foreign = app
        .post_json(&train, &app.other_key, &json!({"job_id": job}))
        .await;
    assert_eq!(foreign.status, 404);

    // Trained on request, in a worker.
    let _worker = matching_worker(&app).await;
    let requested = app
        .post_json(&train, &app.key, &json!({"job_id": job}))
        .await;
    assert_eq!(requested.status, 202, "{}", requested.body);
    assert_eq!(requested.body["status"], "training");
    let trained = model(&app, &config_id).await;
    assert_eq!(trained["status"], "ready", "{trained}");
    assert_eq!(trained["model"]["training"]["documents"], 90);

    // A new version of the config has no model until it is trained; the old one stays.
    let mut body = json!({"name": "invoices v2", "field_mappings": invoice_mappings()});
    body["field_mappings"][2]["params"]["days"] = json!(10);
    let replaced = app
        .put_json(
            &format!("/v1/matching/configs/{config_id}"),
            &app.key,
            &body,
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.body["scoring"], "probabilistic");
    let current = app
        .get(&format!("/v1/matching/configs/{config_id}/model"), &app.key)
        .await;
    assert_eq!(current.status, 404);
    let first = app
        .get(
            &format!("/v1/matching/configs/{config_id}/model?version=1"),
            &app.key,
        )
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["config_version"], 1);

    // A weighted config learns nothing.
    let weighted = configure(
        &app,
        json!({"name": "weighted", "reference_data_id": dataset, "scoring": "weighted",
               "field_mappings": invoice_mappings()}),
    )
    .await;
    let refused = app
        .post_json(
            &format!(
                "/v1/matching/configs/{}/train",
                weighted["id"].as_str().unwrap_or_default()
            ),
            &app.key,
            &json!({"job_id": job}),
        )
        .await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.error_code(), "weighted_scoring");

    // Bad scoring, assignment and levels are named.
    for (patch, field) in [
        (json!({"scoring": "bayesian"}), "scoring"),
        (json!({"assignment": "many"}), "assignment"),
    ] {
        let mut body = json!({"name": "bad", "reference_data_id": dataset, "field_mappings": invoice_mappings()});
        for (k, v) in patch.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        let reply = app.post_json("/v1/matching/configs", &app.key, &body).await;
        assert_eq!(reply.status, 422, "{}", reply.body);
        assert_eq!(reply.body["error"]["details"]["field"], field);
    }
    let mut body =
        json!({"name": "bad", "reference_data_id": dataset, "field_mappings": invoice_mappings()});
    body["field_mappings"][0]["params"]["levels"] =
        json!([{"name": "exact", "min_score": 1.0}, {"name": "close", "min_score": 1.2}]);
    let reply = app.post_json("/v1/matching/configs", &app.key, &body).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.body["error"]["details"]["field"],
        "field_mappings[0].params.levels[1].min_score"
    );
}

/// Payments: each received payment pays one sent payment. Two received payments of the same
/// payer, amount and memo compete for the same sent payments.
fn payment_set(seed: u64, n: usize) -> (Value, Value, Vec<(String, Option<String>)>) {
    let mut rng = Rng(seed);
    let payers = [
        "J SMITH", "A JONES", "K TAYLOR", "B WHITE", "M KING", "R HILL",
    ];
    let mut rows = Vec::new();
    let mut documents = Vec::new();
    let mut truth = Vec::new();
    for i in 0..n {
        let payer = payers[rng.below(payers.len() as u64) as usize];
        let memo = format!("{payer} {:04X}", rng.below(0xFFFF));
        let day = 1 + rng.below(25) as u32;
        let cents = 1_000 + rng.below(50_000);
        rows.push(
            json!({"ref_id": format!("S{i:03}"), "date": format!("2024-05-{day:02}"),
                         "amount": format!("{}.{:02}", cents / 100, cents % 100), "memo": memo}),
        );
        let received = cents - cents * rng.below(3) / 100;
        let id = format!("p{i:03}");
        documents.push(
            json!({"document_id": id, "filename": format!("{id}.txt"), "values": {
            "date": format!("2024-05-{:02}", day + 1 + rng.below(2) as u32),
            "amount": format!("{}.{:02}", received / 100, received % 100), "memo": memo}}),
        );
        truth.push((id, Some(format!("S{i:03}"))));
    }
    // The contested pair: the same rent sent twice (on the 1st and the 3rd), both received on
    // the 4th: alone, each received payment's best row is the one sent on the 3rd.
    for (k, day) in [(0, 3), (1, 1)] {
        let id = format!("S9{k}");
        rows.push(json!({"ref_id": id, "date": format!("2024-05-{day:02}"), "amount": "950.00", "memo": "RENT FLAT 4"}));
        let doc = format!("rent{k}");
        documents.push(
            json!({"document_id": doc, "filename": "rent.txt", "values": {
            "date": "2024-05-04", "amount": "950.00", "memo": "RENT FLAT 4"}}),
        );
        truth.push((doc, Some(id)));
    }
    (json!(rows), json!(documents), truth)
}

#[actix_web::test]
async fn one_to_one_gives_each_row_to_one_document_across_workers() {
    let app = spawn_app_with(AppOptions {
        matching_chunk_size: 7,
        ..AppOptions::default()
    })
    .await;
    let (rows, documents, truth) = payment_set(3, 120);
    let dataset = upload(&app, &rows).await;
    let job = submit(&app, &documents).await;
    let mappings = json!([
        {"source": "date", "target": "date", "strategy": "date_range", "params": {"min_days": 1, "max_days": 10}},
        {"source": "amount", "target": "amount", "strategy": "numeric_range", "params": {"tolerance_pct": 5}},
        {"source": "memo", "target": "memo", "strategy": "fuzzy", "params": {"kind": "short_text"}}
    ]);
    let independent = configure(
        &app,
        json!({"name": "payments", "reference_data_id": dataset, "field_mappings": mappings}),
    )
    .await;
    let one_to_one = configure(
        &app,
        json!({"name": "payments 1:1", "reference_data_id": dataset, "field_mappings": mappings,
               "assignment": "one_to_one"}),
    )
    .await;
    assert_eq!(one_to_one["assignment"], "one_to_one");
    let _first = matching_worker(&app).await;
    let _second = matching_worker(&app).await;
    let mut outcomes = Vec::new();
    for config in [&independent, &one_to_one] {
        let run = start_run(&app, config["id"].as_str().expect("an id"), &job).await;
        wait_for_status(&app, &run, "completed").await;
        outcomes.push((run.clone(), all_results(&app, &run, "").await));
    }
    let (_, independent_results) = &outcomes[0];
    let (one_run, assigned) = &outcomes[1];
    let rows_of = |results: &[Value], docs: &[&str]| -> Vec<Option<String>> {
        docs.iter()
            .map(|d| {
                results
                    .iter()
                    .find(|r| r["document_id"] == *d)
                    .and_then(|r| {
                        r["candidates"][0]["reference_row_id"]
                            .as_str()
                            .map(str::to_owned)
                    })
            })
            .collect()
    };
    // Alone, both rent payments take the same row as their best.
    let alone = rows_of(independent_results, &["rent0", "rent1"]);
    assert_eq!(alone[0], alone[1], "{alone:?}");
    // One-to-one across the run (its 18 chunks on two workers): each its own row.
    let mut seen = HashSet::new();
    for result in assigned {
        if let Some(row) = result["matched_reference_row_id"].as_str() {
            assert!(seen.insert(row.to_owned()), "{row} matched twice");
        }
    }
    let rent: Vec<Option<&str>> = ["rent0", "rent1"]
        .iter()
        .map(|d| {
            assigned
                .iter()
                .find(|r| r["document_id"] == *d)
                .and_then(|r| r["matched_reference_row_id"].as_str())
        })
        .collect();
    // The two received payments are alike: which takes which is a tie, but each takes one.
    let rent: HashSet<Option<&str>> = rent.into_iter().collect();
    assert_eq!(
        rent,
        HashSet::from([Some("S90"), Some("S91")]),
        "{assigned:?}"
    );
    let run = app
        .get(&format!("/v1/matching/runs/{one_run}"), &app.key)
        .await;
    assert_eq!(
        run.body["rows_matched"].as_u64(),
        Some(seen.len() as u64),
        "the run's count follows the assignment"
    );
    assert!(mistakes(&app, one_run, &truth).await <= 3);
}

/// A reviewer works through a run's queue (the review band first, then the documents left
/// without a match, the most likely first, then the least confident matches), deciding 200
/// results by the truth; the model is trained again with those decisions. One vendor invoices
/// under a trading name, with net amounts and delivery dates — a kind of match the unlabelled
/// model cannot tell from a coincidence of invoice numbers, and the reviewer keeps approving.
/// The same documents and documents nobody reviewed, matched before and after.
#[actix_web::test]
async fn runs_after_reviews_make_fewer_mistakes() {
    let app = spawn_app().await;
    let noise = Noise {
        trading_name: true,
        ..Noise::default()
    };
    let (rows, documents, truth) = invoice_set_with(29, 900, 800, 60, noise);
    let dataset = upload(&app, &rows).await;
    // Two jobs of the same ledger: the one reviewed, and one nobody reviews.
    let (mut reviewed_docs, mut held_out_docs) = (Vec::new(), Vec::new());
    let (mut reviewed_truth, mut held_out_truth) = (Vec::new(), Vec::new());
    for (k, (doc, t)) in documents
        .as_array()
        .into_iter()
        .flatten()
        .zip(&truth)
        .enumerate()
    {
        if k % 2 == 0 {
            reviewed_docs.push(doc.clone());
            reviewed_truth.push(t.clone());
        } else {
            held_out_docs.push(doc.clone());
            held_out_truth.push(t.clone());
        }
    }
    let job = submit(&app, &json!(reviewed_docs)).await;
    let held_out = submit(&app, &json!(held_out_docs)).await;
    let config = configure(
        &app,
        json!({"name": "invoices", "reference_data_id": dataset, "field_mappings": invoice_mappings()}),
    )
    .await;
    let config_id = config["id"].as_str().expect("an id").to_owned();
    let _worker = matching_worker(&app).await;
    let first = start_run(&app, &config_id, &job).await;
    wait_for_status(&app, &first, "completed").await;
    let unlabelled = model(&app, &config_id).await;
    assert_eq!(unlabelled["labels_used"], 0);
    let first_held_out = start_run(&app, &config_id, &held_out).await;
    wait_for_status(&app, &first_held_out, "completed").await;
    let before = mistakes(&app, &first, &reviewed_truth).await;
    let before_held_out = mistakes(&app, &first_held_out, &held_out_truth).await;

    let truth_of: HashMap<&str, Option<&str>> = reviewed_truth
        .iter()
        .map(|(doc, row)| (doc.as_str(), row.as_deref()))
        .collect();
    let mut queue = all_results(&app, &first, "").await;
    queue.sort_by_key(|r: &Value| {
        let tier = if r["status"] == "needs_review" {
            0
        } else if r["matched_reference_row_id"].is_null() {
            1
        } else {
            2
        };
        let confidence = (r["confidence"].as_f64().unwrap_or(0.0) * 1e6) as i64;
        (tier, if tier == 1 { -confidence } else { confidence })
    });
    const REVIEWS: usize = 200;
    let (mut approved, mut rejected) = (0, 0);
    let with_candidates = queue
        .iter()
        .filter(|r| r["candidates"].as_array().is_some_and(|c| !c.is_empty()));
    for result in with_candidates.take(REVIEWS) {
        let document = result["document_id"].as_str().expect("a document id");
        let want = truth_of.get(document).copied().flatten();
        let offered = want.is_some()
            && result["candidates"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["reference_row_id"].as_str() == want);
        let body = if offered {
            approved += 1;
            json!({"status": "approved", "matched_reference_row_id": want})
        } else {
            rejected += 1;
            json!({"status": "rejected", "notes": "not this invoice"})
        };
        let path = format!(
            "/v1/matching/runs/{first}/results/{}/review",
            result["id"].as_str().expect("a result id")
        );
        let reply = app.post_json(&path, &app.key, &body).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert!(
        approved > 20 && rejected > 20,
        "{approved} approved, {rejected} rejected"
    );

    // Trained again: the reviewers' decisions are labels.
    let requested = app
        .post_json(
            &format!("/v1/matching/configs/{config_id}/train"),
            &app.key,
            &json!({"job_id": job}),
        )
        .await;
    assert_eq!(requested.status, 202, "{}", requested.body);
    let relearnt = model(&app, &config_id).await;
    assert_eq!(relearnt["status"], "ready", "{relearnt}");
    assert_eq!(relearnt["labels_used"], REVIEWS);
    assert_eq!(relearnt["model"]["training"]["labelled_matches"], approved);

    let second = start_run(&app, &config_id, &job).await;
    wait_for_status(&app, &second, "completed").await;
    let second_held_out = start_run(&app, &config_id, &held_out).await;
    wait_for_status(&app, &second_held_out, "completed").await;
    let after = mistakes(&app, &second, &reviewed_truth).await;
    let after_held_out = mistakes(&app, &second_held_out, &held_out_truth).await;
    eprintln!(
        "mistakes: reviewed job {before} before {REVIEWS} reviews, {after} after; \
         job nobody reviewed {before_held_out} before, {after_held_out} after"
    );
    assert!(
        after < before,
        "{after} mistakes after the reviews, {before} before"
    );
    assert!(
        after_held_out < before_held_out,
        "{after_held_out} mistakes after the reviews, {before_held_out} before, in a job nobody reviewed"
    );
}
