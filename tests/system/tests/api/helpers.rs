use std::path::PathBuf;
use std::time::Duration;

use awc::Client;
use concord_gateway::auth::{create_key, Scopes};
use concord_gateway::state::Limits;
use concord_gateway::{Application, GatewaySettings};
use concord_service::ServiceSettings;
use concord_test_support::{amqp_url, test_topology, TestDatabase, TestTopology};
use serde_json::Value;

pub struct TestApp {
    pub address: String,
    pub pool: concord_models::DbPool,
    pub topology: TestTopology,
    /// read + write, organisation "acme".
    pub key: String,
    /// read only, organisation "acme".
    pub read_key: String,
    /// admin, organisation "acme".
    pub admin_key: String,
    /// read + write, organisation "globex".
    pub other_key: String,
    pub client: Client,
    pub database: TestDatabase,
}

pub struct AppOptions {
    pub rate_limit_per_minute: u32,
    pub amqp_url: String,
    pub matching_chunk_size: u32,
    pub resolution_chunk_size: u32,
    /// Webhook URLs on private addresses (the tests' receivers are on loopback).
    pub allow_private_webhook_targets: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 10_000,
            amqp_url: amqp_url(),
            matching_chunk_size: Limits::default().matching_chunk_size,
            resolution_chunk_size: Limits::default().resolution_chunk_size,
            allow_private_webhook_targets: true,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    concord_telemetry::logging::init_for_tests();
    let database = TestDatabase::create().await;
    let topology = test_topology();
    let options_direct = options.amqp_url == amqp_url();
    let settings = GatewaySettings {
        service: ServiceSettings {
            database_url: database.url.clone(),
            amqp_url: options.amqp_url,
            topology: (*topology).clone(),
            db_pool_size: 8,
        },
        http_addr: "127.0.0.1:0".to_owned(),
        http_workers: 1,
        rate_limit_per_minute: options.rate_limit_per_minute,
        key_cache_ttl: GatewaySettings::DEFAULT_KEY_CACHE_TTL,
        intake_concurrency: 2,
        limits: Limits {
            matching_chunk_size: options.matching_chunk_size,
            resolution_chunk_size: options.resolution_chunk_size,
            webhook_targets: concord_webhooks::target::TargetPolicy {
                allow_private: options.allow_private_webhook_targets,
            },
            ..Limits::default()
        },
    };
    if options_direct {
        // What the gateway declares in the background, declared before, so that the test can
        // publish and bind at once.
        concord_test_support::broker::declare(&topology).await;
    }
    let app = Application::build(settings)
        .await
        .expect("the gateway starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());

    let pool = database.pool();
    let key_for = |org: &'static str, scopes: &'static str| {
        let pool = pool.clone();
        async move {
            let scopes = Scopes::parse_list(scopes).expect("valid scopes");
            let (_, _, secret) = create_key(&pool, org, "test", &scopes)
                .await
                .expect("a key");
            secret.expose().to_owned()
        }
    };
    TestApp {
        key: key_for("acme", "read,write").await,
        read_key: key_for("acme", "read").await,
        admin_key: key_for("acme", "admin").await,
        other_key: key_for("globex", "read,write").await,
        address,
        pool,
        topology,
        client: Client::builder().timeout(Duration::from_secs(60)).finish(),
        database,
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The `error.code` of an error envelope.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    /// A second gateway on this app's database and broker namespace (a replica, as a deployment
    /// runs several): its base address.
    pub async fn another_gateway(&self, rate_limit_per_minute: u32) -> String {
        let settings = GatewaySettings {
            service: ServiceSettings {
                database_url: self.database.url.clone(),
                amqp_url: amqp_url(),
                topology: (*self.topology).clone(),
                db_pool_size: 4,
            },
            http_addr: "127.0.0.1:0".to_owned(),
            http_workers: 1,
            rate_limit_per_minute,
            key_cache_ttl: GatewaySettings::DEFAULT_KEY_CACHE_TTL,
            intake_concurrency: 1,
            limits: Limits::default(),
        };
        let app = Application::build(settings)
            .await
            .expect("the second gateway starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        actix_web::rt::spawn(app.run_until_stopped());
        address
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn send(&self, request: awc::ClientRequest, body: Option<(&str, Vec<u8>)>) -> Reply {
        let mut response = match body {
            Some((content_type, bytes)) => request
                .insert_header(("content-type", content_type))
                .send_body(bytes)
                .await
                .expect("the request is answered"),
            None => request.send().await.expect("the request is answered"),
        };
        let bytes = response
            .body()
            .limit(256 * 1024 * 1024)
            .await
            .expect("a body");
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.send(self.client.get(self.url(path)).bearer_auth(key), None)
            .await
    }

    pub async fn post_json(&self, path: &str, key: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("serialisable");
        self.send(
            self.client.post(self.url(path)).bearer_auth(key),
            Some(("application/json", bytes)),
        )
        .await
    }

    pub async fn put_json(&self, path: &str, key: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("serialisable");
        self.send(
            self.client.put(self.url(path)).bearer_auth(key),
            Some(("application/json", bytes)),
        )
        .await
    }

    pub async fn patch_json(&self, path: &str, key: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("serialisable");
        self.send(
            self.client.patch(self.url(path)).bearer_auth(key),
            Some(("application/json", bytes)),
        )
        .await
    }

    pub async fn delete(&self, path: &str, key: &str) -> Reply {
        self.send(self.client.delete(self.url(path)).bearer_auth(key), None)
            .await
    }

    pub async fn post_csv(&self, path: &str, key: &str, csv: &[u8]) -> Reply {
        self.send(
            self.client.post(self.url(path)).bearer_auth(key),
            Some(("text/csv", csv.to_vec())),
        )
        .await
    }

    /// Posts a [`multipart_body`] with the read-write key.
    pub async fn post_multipart(&self, path: &str, body: Vec<u8>) -> Reply {
        let content_type = format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}");
        self.send(
            self.client.post(self.url(path)).bearer_auth(&self.key),
            Some((&content_type, body)),
        )
        .await
    }

    pub async fn post_ndjson(&self, path: &str, key: &str, body: Vec<u8>) -> Reply {
        self.send(
            self.client.post(self.url(path)).bearer_auth(key),
            Some(("application/x-ndjson", body)),
        )
        .await
    }

    /// Submits a job by JSON and returns the created run.
    pub async fn create_job(&self, name: &str, documents: usize) -> Value {
        let reply = self
            .post_json("/v1/jobs", &self.key, &job_body(name, documents))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body
    }

    pub async fn count(&self, sql_table: &str) -> i64 {
        use diesel::sql_types::BigInt;
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = concord_models::database::connection(&self.pool)
            .await
            .expect("a connection");
        diesel::sql_query(format!("SELECT count(*) AS n FROM {sql_table}"))
            .get_result::<Count>(&mut conn)
            .await
            .expect("counting")
            .n
    }
}

pub const MULTIPART_BOUNDARY: &str = "concord-test-boundary";

/// A `multipart/form-data` body of `(name, filename, content)` parts.
pub fn multipart_body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, content) in parts {
        body.extend_from_slice(format!("--{MULTIPART_BOUNDARY}\r\n").as_bytes());
        match filename {
            Some(filename) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{MULTIPART_BOUNDARY}--\r\n").as_bytes());
    body
}

pub fn document(id: &str) -> Value {
    serde_json::json!({
        "document_id": id,
        "filename": format!("{id}.pdf"),
        "values": {"vendor_name": "Acme GmbH", "amount": "1.234,50 EUR", "po_number": null}
    })
}

pub fn job_body(name: &str, documents: usize) -> Value {
    serde_json::json!({
        "name": name,
        "documents": (0..documents).map(|i| document(&format!("doc-{i}"))).collect::<Vec<_>>(),
    })
}

pub fn ndjson(ids: impl IntoIterator<Item = String>) -> Vec<u8> {
    let mut body = Vec::new();
    for id in ids {
        body.extend_from_slice(document(&id).to_string().as_bytes());
        body.push(b'\n');
    }
    body
}

/// The test virtualenv (`make test-tools`, deploy/test-tools.sh).
pub fn test_venv() -> PathBuf {
    match std::env::var_os("CONCORD_TEST_VENV") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/concord-test-venv"),
    }
}

/// A program of the test virtualenv, or a failure saying how to install it.
pub fn test_tool(name: &str) -> PathBuf {
    let venv = test_venv();
    let program = venv.join("bin").join(name);
    assert!(
        program.exists(),
        "{name} is not installed in {}: run `make test-tools`",
        venv.display()
    );
    program
}
