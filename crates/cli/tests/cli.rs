//! The `concord` binary against the real stack: the gateway and the matching and resolution
//! workers started in this process (each test with its own database and broker namespace), the
//! CLI run as a child process exactly as a user runs it. What the CLI did is checked through the
//! API, never only through what it printed.

// Test code: helpers stop the test on a broken fixture (expect, panic).
#![allow(clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use concord_gateway::auth::{create_key, Scopes};
use concord_gateway::state::Limits;
use concord_gateway::{Application, GatewaySettings};
use concord_queue::Role;
use concord_service::ServiceSettings;
use concord_test_support::worker::{spawn_worker, TestWorker};
use concord_test_support::{amqp_url, test_topology, TestDatabase, TestTopology};
use serde_json::Value;

struct TestApp {
    address: String,
    /// read + write, organisation "acme".
    key: String,
    http: reqwest::Client,
    dir: PathBuf,
    database: TestDatabase,
    topology: TestTopology,
}

async fn spawn_app() -> TestApp {
    concord_telemetry::logging::init_for_tests();
    let database = TestDatabase::create().await;
    let topology = test_topology();
    concord_test_support::broker::declare(&topology).await;
    let settings = GatewaySettings {
        service: ServiceSettings {
            database_url: database.url.clone(),
            amqp_url: amqp_url(),
            topology: (*topology).clone(),
            db_pool_size: 8,
        },
        http_addr: "127.0.0.1:0".to_owned(),
        http_workers: 1,
        rate_limit_per_minute: 10_000,
        key_cache_ttl: GatewaySettings::DEFAULT_KEY_CACHE_TTL,
        intake_concurrency: 2,
        limits: Limits {
            // Several chunks even for a handful of documents.
            matching_chunk_size: 2,
            resolution_chunk_size: 2,
            ..Limits::default()
        },
    };
    let app = Application::build(settings)
        .await
        .expect("the gateway starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    let scopes = Scopes::parse_list("read,write").expect("valid scopes");
    let (_, _, secret) = create_key(&database.pool(), "acme", "cli test", &scopes)
        .await
        .expect("a key");
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let dir = std::env::temp_dir()
        .join("concord-cli-tests")
        .join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    TestApp {
        address,
        key: secret.expose().to_owned(),
        http: reqwest::Client::new(),
        dir,
        database,
        topology,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The test's files; the database goes with `TestDatabase`.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestApp {
    fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, content).expect("a test file");
        path
    }

    async fn matching_worker(&self) -> TestWorker {
        spawn_worker(
            &self.database,
            &self.topology,
            amqp_url(),
            Role::Matching,
            concord_matching_worker::NAME,
            concord_matching_worker::MatchingJobHandler::new,
        )
        .await
    }

    async fn resolution_worker(&self) -> TestWorker {
        spawn_worker(
            &self.database,
            &self.topology,
            amqp_url(),
            Role::Resolution,
            concord_resolution_worker::NAME,
            concord_resolution_worker::ResolutionJobHandler::new,
        )
        .await
    }

    /// Runs `concord ARGS` with this app's address and `key` in the environment.
    async fn concord_with_key(&self, key: &str, args: &[&str]) -> Run {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let url = self.address.clone();
        let key = key.to_owned();
        // The gateway runs on this test's thread: the child is waited for on another.
        tokio::task::spawn_blocking(move || {
            let output = Command::new(env!("CARGO_BIN_EXE_concord"))
                .args(&args)
                .env("CONCORD_URL", url)
                .env("CONCORD_KEY", key)
                .output()
                .expect("concord runs");
            Run {
                code: output.status.code().expect("an exit code"),
                stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
                stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
            }
        })
        .await
        .expect("the child is waited for")
    }

    async fn concord(&self, args: &[&str]) -> Run {
        self.concord_with_key(&self.key.clone(), args).await
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.address))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("an answer");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("JSON")
    }
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// stdout as the one JSON document `--output json` promises.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

const LEDGER: &str = "\
ref_id,vendor,invoice,date,amount,currency
R1,Acme GmbH,INV-1001,2024-03-14,1234.50,EUR
R2,Globex Corporation,INV-2002,2024-03-15,99.00,USD
R3,Initech LLC,77-3003,2024-02-01,5000.00,USD
R4,Acme GmbH,INV-1002,2024-04-14,1250.00,EUR
R5,Umbrella Ltd,U-5005,2024-01-20,42.00,GBP
R6,Hooli Inc,H-6006,2024-06-01,310.00,USD
";

const DOCUMENTS: &str = "\
document_id,file,vendor_name,invoice_number,invoice_date,amount
d1,d1.pdf,ACME Gmbh,INV 1001,14.03.2024,\"1.234,50 EUR\"
d2,d2.pdf,Globex Corp.,#2002,03/15/2024,$99.00
d3,d3.pdf,Initech,773003,2024-02-01,\"5,000.00\"
d4,d4.pdf,Wayne Enterprises,W-9,2024-05-05,10.00
d5,d5.pdf,Umbrella Ltd,U-5005,20 Jan 2024,
";

/// A config file as a user keeps it: no dataset id (given by `--reference-data`).
const CONFIG: &str = r#"{
  "name": "invoices to ledger",
  "scoring": "weighted",
  "field_mappings": [
    {"source": "vendor_name", "target": "vendor", "strategy": "fuzzy", "params": {"kind": "name"}, "weight": 2},
    {"source": "invoice_number", "target": "invoice", "strategy": "fuzzy", "params": {"kind": "identifier"}, "weight": 3},
    {"source": "invoice_date", "target": "date", "strategy": "date_range", "params": {"days": 3}, "weight": 1},
    {"source": "amount", "target": "amount", "strategy": "numeric_range", "params": {"tolerance_pct": 1}, "weight": 2}
  ],
  "threshold": 0.8,
  "review_band": {"lower": 0.6}
}"#;

#[actix_web::test]
async fn upload_job_config_run_watch_export_and_review() {
    let app = spawn_app().await;
    let _worker = app.matching_worker().await;

    // Upload: the dataset's document on stdout, progress lines on stderr (`--progress`).
    let ledger = app.file("ledger.csv", LEDGER);
    let upload = app
        .concord(&[
            "--output",
            "json",
            "--progress",
            "reference-data",
            "upload",
            path(&ledger),
            "--name",
            "ledger",
            "--id-column",
            "ref_id",
        ])
        .await;
    assert_eq!(upload.code, 0, "{upload:?}");
    let dataset = upload.json();
    assert_eq!(dataset["row_count"], 6);
    assert_eq!(dataset["id_column"], "ref_id");
    assert!(upload.stderr.contains("6 rows"), "{upload:?}");
    let dataset_id = dataset["id"].as_str().expect("an id");
    let stored = app.get(&format!("/v1/reference-data/{dataset_id}")).await;
    assert_eq!(stored["row_count"], 6);

    // A CSV job: one document per row, the file name from its column, empty cells null.
    let documents = app.file("march.csv", DOCUMENTS);
    let job = app
        .concord(&[
            "--output",
            "json",
            "jobs",
            "submit",
            path(&documents),
            "--name",
            "March",
            "--filename-column",
            "file",
        ])
        .await;
    assert_eq!(job.code, 0, "{job:?}");
    let job_id = job.json()["id"].as_str().expect("a job id").to_owned();
    let stored = app.get(&format!("/v1/jobs/{job_id}/documents")).await;
    let stored = stored["data"].as_array().expect("documents");
    assert_eq!(stored.len(), 5);
    assert_eq!(stored[0]["document_id"], "d1");
    assert_eq!(stored[0]["filename"], "d1.pdf");
    assert_eq!(stored[0]["values"]["amount"], "1.234,50 EUR");
    assert_eq!(stored[4]["values"].get("amount"), None, "{}", stored[4]);

    // A config from a file, the dataset given on the command line.
    let config = app.file("config.json", CONFIG);
    let created = app
        .concord(&[
            "--output",
            "json",
            "configs",
            "create",
            path(&config),
            "--reference-data",
            dataset_id,
        ])
        .await;
    assert_eq!(created.code, 0, "{created:?}");
    let config_id = created.json()["id"]
        .as_str()
        .expect("a config id")
        .to_owned();

    // Update = a new version.
    let updated = app
        .concord(&[
            "configs",
            "update",
            &config_id,
            path(&config),
            "--name",
            "invoices v2",
        ])
        .await;
    assert_eq!(updated.code, 0, "{updated:?}");
    assert!(updated.stdout.contains("version 2"), "{updated:?}");
    let stored = app.get(&format!("/v1/matching/configs/{config_id}")).await;
    assert_eq!(stored["version"], 2);
    assert_eq!(stored["name"], "invoices v2");

    // Start and watch: exit 0 once completed, the summary on stdout, progress on stderr.
    let run = app
        .concord(&[
            "--progress",
            "runs",
            "start",
            "--config",
            &config_id,
            "--job",
            &job_id,
            "--watch",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("completed: 5/5 documents"), "{run:?}");
    assert!(run.stderr.contains("completed"), "{run:?}");
    let run_id = run
        .stdout
        .split_whitespace()
        .nth(2)
        .expect("matching run <id>:")
        .trim_end_matches(':')
        .to_owned();
    let stored = app.get(&format!("/v1/matching/runs/{run_id}")).await;
    assert_eq!(stored["status"], "completed");
    assert_eq!(stored["rows_processed"], 5);

    // Watching an ended run answers at once; `--output json` is the run.
    let watched = app
        .concord(&["--output", "json", "runs", "watch", &run_id])
        .await;
    assert_eq!(watched.code, 0, "{watched:?}");
    assert_eq!(watched.json()["id"], run_id.as_str());

    // Export: the CSV in a file, one row per document.
    let export = app.dir.join("results.csv");
    let exported = app
        .concord(&[
            "--output",
            "json",
            "runs",
            "export",
            &run_id,
            "-o",
            path(&export),
        ])
        .await;
    assert_eq!(exported.code, 0, "{exported:?}");
    assert_eq!(exported.json()["rows"], 5);
    let csv = std::fs::read_to_string(&export).expect("the export");
    assert!(csv.starts_with("document_id,"), "{csv}");
    assert_eq!(csv.lines().count(), 6, "{csv}");

    // Review: the decisions are stored.
    let results = app
        .get(&format!("/v1/matching/runs/{run_id}/results?limit=100"))
        .await;
    let result_of = |document: &str| {
        results["data"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["document_id"] == document)
            .expect("a result")["id"]
            .as_str()
            .expect("an id")
            .to_owned()
    };
    let (d1, d2) = (result_of("d1"), result_of("d2"));
    let approved = app
        .concord(&[
            "review",
            "approve",
            &run_id,
            &d1,
            "--notes",
            "checked the PDF",
        ])
        .await;
    assert_eq!(approved.code, 0, "{approved:?}");
    let rejected = app
        .concord(&["--output", "json", "review", "reject", &run_id, &d2])
        .await;
    assert_eq!(rejected.code, 0, "{rejected:?}");
    assert_eq!(rejected.json()["status"], "rejected");
    let results = app
        .get(&format!("/v1/matching/runs/{run_id}/results?limit=100"))
        .await;
    let stored = |document: &str| {
        results["data"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["document_id"] == document)
            .expect("a result")
            .clone()
    };
    assert_eq!(stored("d1")["status"], "approved");
    assert_eq!(stored("d1")["review"]["notes"], "checked the PDF");
    assert_eq!(stored("d1")["matched_reference_row_id"], "R1");
    assert_eq!(stored("d2")["status"], "rejected");
    assert_eq!(stored("d2")["matched_reference_row_id"], Value::Null);

    // An approval naming a row that is not a candidate: the API's field, exit 1.
    let refused = app
        .concord(&["review", "approve", &run_id, &d1, "--row", "R-none"])
        .await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("field: matched_reference_row_id"),
        "{refused:?}"
    );
}

#[actix_web::test]
async fn refusals_name_the_line_or_field_and_store_nothing() {
    let app = spawn_app().await;

    // A broken line (a field too many) in the middle of the upload.
    let broken = app.file(
        "broken.csv",
        "ref_id,vendor,amount\nR1,Acme,10\nR2,Globex,20\nR3,Initech,30,surplus\nR4,Hooli,40\n",
    );
    let upload = app
        .concord(&[
            "reference-data",
            "upload",
            path(&broken),
            "--name",
            "broken",
        ])
        .await;
    assert_eq!(upload.code, 1, "{upload:?}");
    assert!(upload.stderr.contains("validation_failed"), "{upload:?}");
    assert!(upload.stderr.contains("line: 4"), "{upload:?}");
    assert_eq!(
        upload.stdout, "",
        "text mode prints nothing on stdout for a failure"
    );
    let json = app
        .concord(&[
            "--output",
            "json",
            "reference-data",
            "upload",
            path(&broken),
            "--name",
            "broken",
        ])
        .await;
    assert_eq!(json.code, 1, "{json:?}");
    let error = json.json();
    assert_eq!(error["error"]["code"], "validation_failed");
    assert_eq!(error["error"]["details"]["line"], 4);
    assert_eq!(error["error"]["exit_code"], 1);
    assert!(error["error"]["request_id"].is_string(), "{error}");
    let datasets = app.get("/v1/reference-data").await;
    assert_eq!(datasets["data"].as_array().expect("a list").len(), 0);

    // A CSV job whose second document repeats the first's id: named by its CSV line, which a
    // quoted field spanning two lines puts one further than its document's number.
    let jobs = app.file(
        "jobs.csv",
        "document_id,memo\nd1,\"two\nlines\"\nd1,again\n",
    );
    let job = app
        .concord(&["jobs", "submit", path(&jobs), "--name", "dup"])
        .await;
    assert_eq!(job.code, 1, "{job:?}");
    assert!(job.stderr.contains("line: 4"), "{job:?}");
    assert!(job.stderr.contains("jobs.csv, line 4"), "{job:?}");
    let listed = app.get("/v1/jobs").await;
    assert_eq!(listed["data"].as_array().expect("a list").len(), 0);

    // A CSV without the id column: the CLI names it before anything is sent (a usage error).
    let no_id = app.file("no-id.csv", "id,memo\n1,x\n");
    let local = app
        .concord(&["jobs", "submit", path(&no_id), "--name", "x"])
        .await;
    assert_eq!(local.code, 2, "{local:?}");
    assert!(
        local.stderr.contains("no column `document_id`"),
        "{local:?}"
    );

    // A config whose mapping names a strategy that does not exist: the API's JSON path.
    let ledger = app.file("ledger.csv", LEDGER);
    let upload = app
        .concord(&[
            "--output",
            "json",
            "reference-data",
            "upload",
            path(&ledger),
            "--name",
            "ledger",
        ])
        .await;
    assert_eq!(upload.code, 0, "{upload:?}");
    let dataset_id = upload.json()["id"].as_str().expect("an id").to_owned();
    let bad = app.file(
        "bad-config.json",
        &CONFIG.replace("\"date_range\"", "\"telepathy\""),
    );
    let config = app
        .concord(&[
            "--output",
            "json",
            "configs",
            "create",
            path(&bad),
            "--reference-data",
            &dataset_id,
        ])
        .await;
    assert_eq!(config.code, 1, "{config:?}");
    let field = config.json()["error"]["details"]["field"]
        .as_str()
        .expect("a field")
        .to_owned();
    assert!(field.starts_with("field_mappings[2]"), "{field}");

    // A file that is not JSON: the CLI names its line, exit 2.
    let not_json = app.file("broken.json", "{\n  \"name\": \"x\",\n  oops\n}");
    let local = app.concord(&["configs", "create", path(&not_json)]).await;
    assert_eq!(local.code, 2, "{local:?}");
    assert!(local.stderr.contains("broken.json, line 3"), "{local:?}");
}

#[actix_web::test]
async fn a_wrong_key_exits_with_the_unauthorized_code() {
    let app = spawn_app().await;
    let ledger = app.file("ledger.csv", LEDGER);
    let run = app
        .concord_with_key(
            "cnc_not_a_key",
            &[
                "reference-data",
                "upload",
                path(&ledger),
                "--name",
                "ledger",
            ],
        )
        .await;
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stderr.contains("unauthorized (401)"), "{run:?}");
    let json = app
        .concord_with_key("cnc_not_a_key", &["--output", "json", "runs", "watch", "x"])
        .await;
    assert_eq!(json.code, 5, "{json:?}");
    assert_eq!(json.json()["error"]["code"], "unauthorized");
}

#[actix_web::test]
async fn a_cancelled_run_exits_4() {
    let app = spawn_app().await;
    // No worker: the run stays queued until it is cancelled.
    let ledger = app.file("ledger.csv", LEDGER);
    let upload = app
        .concord(&[
            "--output",
            "json",
            "reference-data",
            "upload",
            path(&ledger),
            "--name",
            "l",
        ])
        .await;
    let dataset_id = upload.json()["id"].as_str().expect("an id").to_owned();
    // A JSON job file (a bare array of documents), named by `--name`.
    let documents = app.file(
        "march.json",
        r#"[{"document_id": "d1", "filename": "d1.pdf", "values": {"vendor_name": "Acme GmbH", "invoice_number": "INV-1001"}},
            {"document_id": "d2", "values": {"vendor_name": "Globex", "amount": null}}]"#,
    );
    let job = app
        .concord(&[
            "--output",
            "json",
            "jobs",
            "submit",
            path(&documents),
            "--name",
            "m",
        ])
        .await;
    assert_eq!(job.code, 0, "{job:?}");
    assert_eq!(job.json()["name"], "m");
    assert_eq!(job.json()["document_count"], 2);
    let job_id = job.json()["id"].as_str().expect("a job id").to_owned();
    let config = app.file("config.json", CONFIG);
    let created = app
        .concord(&[
            "--output",
            "json",
            "configs",
            "create",
            path(&config),
            "--reference-data",
            &dataset_id,
        ])
        .await;
    let config_id = created.json()["id"].as_str().expect("an id").to_owned();
    let started = app
        .concord(&[
            "--output", "json", "runs", "start", "--config", &config_id, "--job", &job_id,
        ])
        .await;
    assert_eq!(started.code, 0, "{started:?}");
    let run = started.json();
    assert_eq!(run["status"], "queued");
    let run_id = run["id"].as_str().expect("a run id").to_owned();
    let cancelled = app.concord(&["runs", "cancel", &run_id]).await;
    assert_eq!(cancelled.code, 0, "{cancelled:?}");
    let watched = app
        .concord(&["--output", "json", "runs", "watch", &run_id])
        .await;
    assert_eq!(watched.code, 4, "{watched:?}");
    assert_eq!(watched.json()["error"]["details"]["status"], "cancelled");
    assert!(watched.stderr.contains("ended cancelled"), "{watched:?}");
}

#[actix_web::test]
async fn a_policy_and_a_resolution_run_to_completion_and_export() {
    let app = spawn_app().await;
    let _worker = app.resolution_worker().await;
    let policy = app.file(
        "policy.json",
        r#"{
          "name": "invoice header",
          "fields": [
            {"field_key": "vendor", "type": "string"},
            {"field_key": "amount", "type": "number"}
          ],
          "rules": [
            {"rule_type": "direct", "target_field": "vendor", "config": {"source_field": "vendor_name"}},
            {"rule_type": "parse_number", "target_field": "amount", "config": {"source_field": "amount"}}
          ]
        }"#,
    );
    let created = app
        .concord(&["--output", "json", "policies", "create", path(&policy)])
        .await;
    assert_eq!(created.code, 0, "{created:?}");
    let policy_id = created.json()["id"].as_str().expect("an id").to_owned();
    let updated = app
        .concord(&["policies", "update", &policy_id, path(&policy)])
        .await;
    assert_eq!(updated.code, 0, "{updated:?}");
    assert_eq!(
        app.get(&format!("/v1/data-policies/{policy_id}")).await["version"],
        2
    );

    let ndjson = app.file(
        "docs.ndjson",
        "{\"document_id\": \"a\", \"values\": {\"vendor_name\": \" Acme \", \"amount\": \"1.234,50\"}}\n\
         {\"document_id\": \"b\", \"values\": {\"vendor_name\": \"Globex\", \"amount\": \"99\"}}\n\
         {\"document_id\": \"c\", \"values\": {\"vendor_name\": null, \"amount\": \"n/a\"}}\n",
    );
    let job = app
        .concord(&[
            "--output",
            "json",
            "jobs",
            "submit",
            path(&ndjson),
            "--name",
            "n",
        ])
        .await;
    assert_eq!(job.code, 0, "{job:?}");
    assert_eq!(job.json()["document_count"], 3);
    let job_id = job.json()["id"].as_str().expect("an id").to_owned();

    let run = app
        .concord(&[
            "--output",
            "json",
            "resolutions",
            "start",
            "--job",
            &job_id,
            "--policy",
            &policy_id,
            "--watch",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = run.json();
    assert_eq!(run["status"], "completed");
    assert_eq!(run["counters"]["documents_processed"], 3);
    let run_id = run["id"].as_str().expect("an id").to_owned();
    let stored = app.get(&format!("/v1/resolutions/{run_id}")).await;
    assert_eq!(stored["status"], "completed");

    let export = app.dir.join("resolved.csv");
    let exported = app
        .concord(&[
            "resolutions",
            "export",
            &run_id,
            "--output-file",
            path(&export),
        ])
        .await;
    assert_eq!(exported.code, 0, "{exported:?}");
    let csv = std::fs::read_to_string(&export).expect("the export");
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.contains("Acme"), "{csv}");
    assert!(!app.dir.join("resolved.csv.part").exists());
}
