//! The AI pass of resolution runs against the real PostgreSQL and RabbitMQ, a real resolution
//! worker and — the one place for a fake — a fake OpenAI-compatible server for the model's
//! protocol edge cases (429, 500, timeouts, malformed answers, ids that were not offered, a spent
//! budget); plus one run against the real local model when it is running. Every run completes,
//! with the right flags.

// Test code: helpers stop the test on a broken fixture (expect); small test counts cast exactly.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::expect_used
)]

use std::time::Duration;

use concord_ai_resolver::{AiTaskHandler, NAME};
use concord_llm::LlmSettings;
use concord_messages::{ResolutionJob, ResolutionJobChunk};
use concord_models::database::connection;
use concord_models::documents::Document;
use concord_models::ids::{DataPolicyId, LookupTableId, ResolutionRunId};
use concord_models::lookup_tables::{LookupTable, NewLookupEntry, NewLookupTable, TableRef};
use concord_models::resolution_results::{
    ResolutionResult, ResolutionResultFilter, ResolutionStatus,
};
use concord_models::resolution_runs::{
    NewResolutionRun, PolicySnapshot, ResolutionRun, ResolutionRunStatus,
};
use concord_models::DbPool;
use concord_queue::Role;
use concord_resolution_worker::ResolutionJobHandler;
use concord_test_support::worker::{seed_job_run, spawn_worker, TestWorker};
use concord_test_support::{amqp_url, eventually, test_topology, TestDatabase, TestTopology};
use diesel_async::AsyncConnection;
use rstest::rstest;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Documents: "Georgia" (a country and a U.S. state: only the model can choose), "Deutschland"
/// (settled by the rules), and a second "Georgia" (the same question: asked once).
const VALUES: [&str; 3] = ["Georgia", "Deutschland", "Georgia"];

struct Stack {
    _resolution: TestWorker,
    _ai: TestWorker,
    pool: DbPool,
    topology: TestTopology,
}

async fn stack(database: &TestDatabase, settings: LlmSettings) -> Stack {
    let topology = test_topology();
    let resolution = spawn_worker(
        database,
        &topology,
        amqp_url(),
        Role::Resolution,
        concord_resolution_worker::NAME,
        ResolutionJobHandler::new,
    )
    .await;
    let ai = spawn_worker(database, &topology, amqp_url(), Role::Ai, NAME, |context| {
        AiTaskHandler::from_settings(context, settings).expect("a model client")
    })
    .await;
    Stack {
        pool: resolution.pool.clone(),
        _resolution: resolution,
        _ai: ai,
        topology,
    }
}

/// A running run over the documents, with one chunk job published.
async fn start_run(stack: &Stack) -> ResolutionRunId {
    let mut conn = connection(&stack.pool).await.expect("a connection");
    let (run_id, job) = conn
        .transaction::<_, concord_models::StoreError, _>(async |conn| {
            let (organization_id, job_run_id) = seed_job_run(conn).await?;
            let entry = |code: &str, label: &str, aliases: &[&str]| NewLookupEntry {
                code: code.to_owned(),
                label: label.to_owned(),
                aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
                attributes: serde_json::Map::new(),
            };
            let table = LookupTable::insert(
                conn,
                NewLookupTable {
                    id: LookupTableId::generate(),
                    organization_id,
                    name: "regions".to_owned(),
                    description: None,
                    extends: None,
                },
                &[
                    entry("GE", "Georgia", &[]),
                    entry("US-GA", "Georgia (U.S. state)", &["Georgia"]),
                    entry("DE", "Germany", &["Deutschland"]),
                ],
            )
            .await?;
            let docs: Vec<Document> = VALUES
                .iter()
                .enumerate()
                .map(|(i, value)| Document {
                    job_run_id,
                    position: i as i32,
                    document_id: format!("doc-{i}"),
                    filename: format!("doc-{i}.pdf"),
                    field_values: json!({"country": value}),
                })
                .collect();
            Document::insert_all(conn, &docs).await?;
            let snapshot = PolicySnapshot {
                policy_id: DataPolicyId::generate(),
                name: "regions".to_owned(),
                version: 1,
                fields: serde_json::from_value(json!([
                    {"field_key": "country", "type": "code"},
                    {"field_key": "label", "type": "string"}
                ]))
                .expect("policy fields"),
                rules: serde_json::from_value(json!([
                    {"rule_type": "lookup", "target_field": "country", "config": {"table": "regions", "source_field": "country", "fallback": "llm"}},
                    {"rule_type": "format", "target_field": "label", "config": {"template": "region {country}"}}
                ]))
                .expect("policy rules"),
                tables: vec![TableRef {
                    name: "regions".to_owned(),
                    built_in: false,
                    table_id: Some(table.id.as_uuid()),
                    version: Some(table.version),
                    extends: None,
                }],
                chunk_size: 10,
            };
            let run = ResolutionRun::insert(
                conn,
                NewResolutionRun {
                    id: ResolutionRunId::generate(),
                    organization_id,
                    source_run_id: job_run_id,
                    status: ResolutionRunStatus::Pending,
                    policy_snapshot: concord_models::Json(snapshot),
                    dialect_snapshot: None,
                    documents_total: VALUES.len() as i32,
                    policy_id: None,
                    dialect_id: None,
                },
            )
            .await?;
            ResolutionRun::execute(conn, organization_id, run.id, 1).await?;
            let job = ResolutionJob {
                run_id: run.id.as_uuid(),
                organization_id: organization_id.as_uuid(),
                chunk: Some(ResolutionJobChunk {
                    index: 0,
                    start: 0,
                    end: VALUES.len() as u64,
                }),
            };
            Ok((run.id, job))
        })
        .await
        .expect("seeding a run");
    concord_test_support::broker::publish(
        &stack.topology.jobs_exchange(),
        concord_messages::jobs::RESOLUTION,
        "chunk-0",
        &serde_json::to_vec(&job).expect("json"),
        std::collections::HashMap::new(),
    )
    .await;
    run_id
}

async fn completed(pool: &DbPool, run_id: ResolutionRunId) -> ResolutionRun {
    eventually(Duration::from_secs(240), "the run to complete", || async {
        let mut conn = connection(pool).await.ok()?;
        let run = ResolutionRun::find_by_id(&mut conn, run_id).await.ok()??;
        (run.status == ResolutionRunStatus::Completed).then_some(run)
    })
    .await
}

async fn results(pool: &DbPool, run_id: ResolutionRunId) -> Vec<ResolutionResult> {
    let mut conn = connection(pool).await.expect("a connection");
    ResolutionResult::list(
        &mut conn,
        run_id,
        &ResolutionResultFilter::default(),
        None,
        100,
    )
    .await
    .expect("results")
}

fn settings(base_url: String) -> LlmSettings {
    LlmSettings {
        base_url,
        model: "fake-model".to_owned(),
        api_key: Some("sk-test-secret".to_owned()),
        concurrency: 2,
        timeout: Duration::from_millis(700),
        max_retries: 2,
        items_per_prompt: 4,
        budget_per_run: 20,
    }
}

/// A chat completion whose message content is `content`.
fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52}
    })
}

fn answer(choice: Value, confidence: f64) -> String {
    json!({"answers": [{"item_id": "v0", "choice": choice, "confidence": confidence, "rationale": "Georgia the country, by the code list."}]}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_answer_resolves_the_value_and_what_reads_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(completion(&answer(json!("GE"), 0.9))),
        )
        .mount(&server)
        .await;
    let database = TestDatabase::create().await;
    let stack = stack(&database, settings(format!("{}/v1", server.uri()))).await;
    let run_id = start_run(&stack).await;
    let run = completed(&stack.pool, run_id).await;
    assert_eq!(run.fields_waiting, 0);
    assert_eq!(run.ai_items, 1, "the two Georgias are one question");
    assert_eq!(run.ai_accepted, 2);
    assert_eq!(run.ai_calls, 1);
    let rows = results(&stack.pool, run_id).await;
    let country = |doc: i32| {
        rows.iter()
            .find(|r| r.document_position == doc && r.field_key == "country")
            .expect("a result")
    };
    for doc in [0, 2] {
        let row = country(doc);
        assert_eq!(row.resolved_value, Some(json!("GE")));
        assert_eq!(row.resolution_step.map(|s| s.as_str()), Some("llm"));
        assert_eq!(row.model.as_deref(), Some("fake-model"));
        assert!(row.rationale.is_some());
        assert_eq!(row.ai_flag, None);
        assert!((row.confidence - 0.9).abs() < 1e-9);
    }
    assert_eq!(country(1).resolved_value, Some(json!("DE")));
    assert_eq!(
        country(1).resolution_step.map(|s| s.as_str()),
        Some("lookup")
    );
    let label = rows
        .iter()
        .find(|r| r.document_position == 0 && r.field_key == "label")
        .expect("a label");
    assert_eq!(label.resolved_value, Some(json!("region GE")));
    assert_eq!(label.status, ResolutionStatus::Resolved);
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1));
}

#[rstest]
#[case::not_offered(ResponseTemplate::new(200).set_body_json(completion(&answer(json!("ref_999"), 0.99))), "not_offered")]
#[case::malformed(ResponseTemplate::new(200).set_body_json(completion("the answer is GE")), "malformed")]
#[case::server_error(ResponseTemplate::new(500).set_body_string("boom"), "server_error")]
#[case::rate_limited(ResponseTemplate::new(429).insert_header("Retry-After", "1").set_body_string("slow down"), "rate_limited")]
#[case::timeout(ResponseTemplate::new(200).set_body_json(completion(&answer(json!("GE"), 0.9))).set_delay(Duration::from_secs(3)), "timeout")]
#[case::low_confidence(ResponseTemplate::new(200).set_body_json(completion(&answer(json!("GE"), 0.2))), "low_confidence")]
#[case::no_choice(ResponseTemplate::new(200).set_body_json(completion(&answer(Value::Null, 0.8))), "no_choice")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_cannot_be_used_leaves_the_value_unresolved_and_flagged(
    #[case] response: ResponseTemplate,
    #[case] flag: &str,
) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(response)
        .mount(&server)
        .await;
    let database = TestDatabase::create().await;
    let stack = stack(&database, settings(format!("{}/v1", server.uri()))).await;
    let run_id = start_run(&stack).await;
    let run = completed(&stack.pool, run_id).await;
    assert_eq!(run.fields_waiting, 0);
    assert_eq!(run.ai_accepted, 0);
    assert_eq!(run.ai_flagged, 2);
    let rows = results(&stack.pool, run_id).await;
    for doc in [0, 2] {
        let row = rows
            .iter()
            .find(|r| r.document_position == doc && r.field_key == "country")
            .expect("a result");
        assert_eq!(row.resolved_value, None, "{row:?}");
        assert_eq!(row.status, ResolutionStatus::Unresolved);
        assert_eq!(row.ai_flag.as_deref(), Some(flag));
        let codes: Vec<&str> = row
            .candidates
            .as_ref()
            .into_iter()
            .flat_map(|c| &c.0)
            .map(|c| c.code.as_str())
            .collect();
        assert!(
            codes.contains(&"GE") && codes.contains(&"US-GA"),
            "{codes:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_leaves_the_values_flagged_and_the_run_completes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(completion(&answer(json!("GE"), 0.9))),
        )
        .mount(&server)
        .await;
    let database = TestDatabase::create().await;
    let mut settings = settings(format!("{}/v1", server.uri()));
    settings.budget_per_run = 0;
    let stack = stack(&database, settings).await;
    let run_id = start_run(&stack).await;
    let run = completed(&stack.pool, run_id).await;
    assert_eq!(run.ai_calls, 0);
    assert_eq!(run.ai_flagged, 2);
    let rows = results(&stack.pool, run_id).await;
    assert!(rows
        .iter()
        .filter(|r| r.field_key == "country" && r.document_position != 1)
        .all(|r| r.ai_flag.as_deref() == Some("budget_spent")));
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(0));
}

/// Against the real local model (`make llm-up`): the run completes and every answer it used is
/// one of the offered codes. Skipped when no model server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_completes_against_the_real_local_model() {
    let settings = LlmSettings::from_env().expect("LLM settings");
    let models = format!("{}/models", settings.base_url.trim_end_matches('/'));
    let up = tokio::time::timeout(Duration::from_secs(2), async {
        tokio::net::TcpStream::connect(
            models
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or("127.0.0.1:8081"),
        )
        .await
    })
    .await
    .is_ok_and(|c| c.is_ok());
    if !up {
        eprintln!("no local model at {models}; `make llm-up` starts it — skipped");
        return;
    }
    let database = TestDatabase::create().await;
    let stack = stack(&database, settings).await;
    let run_id = start_run(&stack).await;
    let run = completed(&stack.pool, run_id).await;
    assert_eq!(run.fields_waiting, 0);
    assert_eq!(run.ai_items, 1);
    for row in results(&stack.pool, run_id).await {
        if row.document_position != 1 && row.field_key == "country" {
            match &row.resolved_value {
                Some(value) => {
                    assert!(value == &json!("GE") || value == &json!("US-GA"), "{row:?}");
                    assert!(row.model.is_some());
                }
                None => assert!(row.ai_flag.is_some(), "{row:?}"),
            }
        }
    }
}
