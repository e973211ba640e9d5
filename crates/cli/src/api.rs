//! The HTTP side: one client per invocation, `Authorization: Bearer <key>` on every request,
//! answers read into the caller's typed struct (and kept as the JSON document `--output json`
//! prints), refusals read from the API's error envelope.

use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{CliError, ErrorEnvelope};

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request without a streamed body may take (uploads and exports have none).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a GET answered 429 is tried again (after its `Retry-After`).
const RATE_LIMIT_RETRIES: u32 = 5;

/// An answer: the typed fields the CLI reads, and the whole document for `--output json`.
#[derive(Debug)]
pub struct Answer<T> {
    pub value: T,
    pub document: serde_json::Value,
}

pub struct Api {
    http: reqwest::Client,
    base: String,
    authorization: HeaderValue,
}

impl Api {
    pub fn new(url: &str, key: &str) -> Result<Api, CliError> {
        let base = url.trim_end_matches('/').to_owned();
        let parsed = Url::parse(&base)
            .map_err(|e| CliError::Usage(format!("--url / CONCORD_URL `{url}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CliError::Usage(format!(
                "--url / CONCORD_URL `{url}`: expected an http:// or https:// address"
            )));
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            CliError::Usage("--key / CONCORD_KEY holds characters a header cannot carry".into())
        })?;
        authorization.set_sensitive(true);
        // reqwest's rustls has no crypto provider of its own here (`rustls-no-provider`): ring,
        // which the workspace already builds, is installed unless the process has one.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Err only when another thread installed one meanwhile, which is as good.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("concord-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Usage(format!("the HTTP client cannot start: {e}")))?;
        Ok(Api {
            http,
            base,
            authorization,
        })
    }

    /// The address of an API path (`/v1/...`) with its query parameters.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, CliError> {
        let mut url = Url::parse(&format!("{}{path}", self.base)).map_err(|e| {
            CliError::Usage(format!("`{}{path}` is not an address: {e}", self.base))
        })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    pub fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http
            .request(method, url)
            .header(AUTHORIZATION, self.authorization.clone())
    }

    /// Sends a request; a refusal becomes [`CliError::Api`] from its envelope.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, CliError> {
        let (client, request) = request.build_split();
        let request = request.map_err(|e| CliError::Usage(format!("the request: {e}")))?;
        let url = request.url().clone();
        let response = client
            .execute(request)
            .await
            .map_err(|e| unreachable(&url, &e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(refusal(response).await)
        }
    }

    /// Reads a successful answer into `T`, keeping the document.
    pub async fn read<T: DeserializeOwned>(response: Response) -> Result<Answer<T>, CliError> {
        let url = response.url().to_string();
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable_str(&url, &e))?;
        let document: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| CliError::NotTheApi {
                url: url.clone(),
                status,
                reason: format!("the body is not JSON: {e}"),
            })?;
        let value = T::deserialize(&document).map_err(|e| CliError::NotTheApi {
            url,
            status,
            reason: format!("unexpected answer: {e}"),
        })?;
        Ok(Answer { value, document })
    }

    /// GET a JSON resource; a 429 is waited out and asked again a few times.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Answer<T>, CliError> {
        let url = self.url(path, &[])?;
        let mut attempt = 0;
        loop {
            let request = self
                .request(Method::GET, url.clone())
                .timeout(REQUEST_TIMEOUT);
            match self.send_keeping_429(request).await? {
                Sent::Answered(response) => return Api::read(response).await,
                Sent::RateLimited(wait, error) => {
                    attempt += 1;
                    if attempt > RATE_LIMIT_RETRIES {
                        return Err(error);
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// A JSON body sent with `method`.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Answer<T>, CliError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| CliError::Usage(format!("the request body cannot be written: {e}")))?;
        let request = self
            .request(method, self.url(path, &[])?)
            .timeout(REQUEST_TIMEOUT)
            .header(CONTENT_TYPE, "application/json")
            .body(bytes);
        Api::read(self.send(request).await?).await
    }

    async fn send_keeping_429(&self, request: RequestBuilder) -> Result<Sent, CliError> {
        let (client, request) = request.build_split();
        let request = request.map_err(|e| CliError::Usage(format!("the request: {e}")))?;
        let url = request.url().clone();
        let response = client
            .execute(request)
            .await
            .map_err(|e| unreachable(&url, &e))?;
        if response.status().is_success() {
            return Ok(Sent::Answered(response));
        }
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let wait = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs);
            return Ok(Sent::RateLimited(wait, refusal(response).await));
        }
        Err(refusal(response).await)
    }
}

enum Sent {
    Answered(Response),
    RateLimited(Duration, CliError),
}

/// A non-success answer: the API's envelope, or proof that something else answered.
pub async fn refusal(response: Response) -> CliError {
    let url = response.url().to_string();
    let status = response.status().as_u16();
    match response.bytes().await {
        Err(e) => unreachable_str(&url, &e),
        Ok(bytes) => match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
            Ok(envelope) => CliError::Api {
                status,
                body: Box::new(envelope.error),
            },
            Err(_) => CliError::NotTheApi {
                url,
                status,
                reason: format!(
                    "no error envelope in the body: {}",
                    String::from_utf8_lossy(bytes.get(..200).unwrap_or(&bytes))
                ),
            },
        },
    }
}

/// A request that got no answer.
pub fn unreachable(url: &Url, error: &reqwest::Error) -> CliError {
    unreachable_str(url.as_str(), error)
}

fn unreachable_str(url: &str, error: &reqwest::Error) -> CliError {
    // reqwest's Display is terse ("error sending request"): the causes say why.
    let mut reason = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        reason.push_str(": ");
        reason.push_str(&inner.to_string());
        cause = inner.source();
    }
    CliError::Unreachable {
        url: url.to_owned(),
        reason,
    }
}
