//! API keys: random bearer tokens stored as SHA-256 hashes, with scopes.

use std::collections::HashMap;
use std::fmt;
use std::future::{ready, Ready};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, FromRequest, HttpMessage, HttpRequest};
use concord_models::api_keys::{ApiKey, NewApiKey};
use concord_models::database::connection;
use concord_models::ids::{ApiKeyId, OrganizationId};
use concord_models::organizations::Organization;
use concord_models::DbPool;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::request_context::respond;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "admin" => Ok(Scope::Admin),
            other => Err(format!(
                "unknown scope `{other}` (expected read, write or admin)"
            )),
        }
    }
}

/// A non-empty, duplicate-free set of scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    pub fn parse_list(text: &str) -> Result<Scopes, String> {
        let mut scopes = Vec::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let scope: Scope = part.parse()?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err("at least one scope is required (read, write, admin)".to_owned());
        }
        Ok(Scopes(scopes))
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn as_strings(&self) -> Vec<String> {
        self.0.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

/// The plaintext of a credential (an API key, a reconciliation token), shown once when it is
/// created; only its [`hash_key`] is stored.
pub struct Secret(String);

const KEY_PREFIX: &str = "cnc_";

impl Secret {
    /// A new API key.
    pub fn generate() -> Self {
        Self::with_prefix(KEY_PREFIX)
    }

    /// 24 random bytes in hex after `prefix`, which says what kind of credential it is.
    pub fn with_prefix(prefix: &str) -> Self {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        Secret(format!("{prefix}{}", hex::encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first characters, stored to let people recognise a key in listings.
    pub fn display_prefix(&self) -> &str {
        &self.0[..12.min(self.0.len())]
    }
}

pub fn hash_key(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Creates the organisation if needed and a key for it.
pub async fn create_key(
    pool: &DbPool,
    organization: &str,
    name: &str,
    scopes: &Scopes,
) -> Result<(Organization, ApiKey, Secret), ApiError> {
    let organization = {
        let mut conn = connection(pool).await?;
        Organization::find_or_create(&mut conn, organization).await?
    };
    let (key, secret) = create_key_for(pool, organization.id, name, scopes).await?;
    Ok((organization, key, secret))
}

pub async fn create_key_for(
    pool: &DbPool,
    organization_id: OrganizationId,
    name: &str,
    scopes: &Scopes,
) -> Result<(ApiKey, Secret), ApiError> {
    let mut conn = connection(pool).await?;
    let secret = Secret::generate();
    let hash = hash_key(secret.expose());
    let key = ApiKey::insert(
        &mut conn,
        NewApiKey {
            id: ApiKeyId::generate(),
            organization_id,
            name,
            key_prefix: secret.display_prefix(),
            key_hash: &hash,
            scopes: scopes.as_strings(),
        },
    )
    .await?;
    Ok((key, secret))
}

/// Who is calling: set by the auth middleware on every `/v1` request.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub key_id: ApiKeyId,
    pub organization_id: OrganizationId,
    pub scopes: Vec<Scope>,
}

impl Authenticated {
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(scope))
        }
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Authenticated>()
                .cloned()
                .ok_or_else(|| ApiError::Unauthorized("authentication required".to_owned())),
        )
    }
}

/// A scope a handler requires, as a type: `Authorized<Read>`, `Authorized<Write>`,
/// `Authorized<Admin>`.
pub trait RequiredScope {
    const SCOPE: Scope;
}

/// The `read` scope.
pub struct Read;
/// The `write` scope.
pub struct Write;
/// The `admin` scope.
pub struct Admin;

impl RequiredScope for Read {
    const SCOPE: Scope = Scope::Read;
}
impl RequiredScope for Write {
    const SCOPE: Scope = Scope::Write;
}
impl RequiredScope for Admin {
    const SCOPE: Scope = Scope::Admin;
}

/// The request's key, holding scope `S`: as an extractor, 401 without a key and 403
/// (`insufficient_scope`) when the key lacks `S` — a handler taking it cannot forget the check.
/// Derefs to the [`Authenticated`] key (its organisation, its scopes).
pub struct Authorized<S: RequiredScope> {
    key: Authenticated,
    scope: std::marker::PhantomData<S>,
}

impl<S: RequiredScope> std::ops::Deref for Authorized<S> {
    type Target = Authenticated;

    fn deref(&self) -> &Authenticated {
        &self.key
    }
}

impl<S: RequiredScope> FromRequest for Authorized<S> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let key = match Authenticated::from_request(req, payload).into_inner() {
            Ok(key) => key,
            Err(error) => return ready(Err(error)),
        };
        ready(key.require(S::SCOPE).map(|()| Authorized {
            key,
            scope: std::marker::PhantomData,
        }))
    }
}

/// Keys this gateway has recently found valid, by hash: a busy key is looked up in PostgreSQL
/// once per `ttl` (`CONCORD_KEY_CACHE_MS`, default 1,000; 0 looks every request up), not on
/// every request. Revocation: a key revoked through this gateway is refused at once; one revoked
/// through another replica (or the command line) is refused here within `ttl`. Unknown keys are
/// never kept, so a new key works at once.
pub struct KeyCache {
    ttl: Duration,
    keys: Mutex<HashMap<Vec<u8>, (Authenticated, Instant)>>,
}

/// Keys kept at most; beyond it, expired ones are dropped, then all.
const KEYS_KEPT: usize = 10_000;

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, (Authenticated, Instant)>> {
        // Poisoned only by a panic elsewhere while held; the map is still a valid map.
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, hash: &[u8]) -> Option<Authenticated> {
        let keys = self.keys();
        let (key, found_at) = keys.get(hash)?;
        (found_at.elapsed() < self.ttl).then(|| key.clone())
    }

    fn keep(&self, hash: Vec<u8>, key: Authenticated) {
        if self.ttl.is_zero() {
            return;
        }
        let mut keys = self.keys();
        if keys.len() >= KEYS_KEPT {
            let ttl = self.ttl;
            keys.retain(|_, (_, found_at)| found_at.elapsed() < ttl);
            if keys.len() >= KEYS_KEPT {
                keys.clear();
            }
        }
        keys.insert(hash, (key, Instant::now()));
    }

    /// Drops a revoked key: its next request is looked up (and refused).
    pub fn forget(&self, key_id: ApiKeyId) {
        self.keys().retain(|_, (key, _)| key.key_id != key_id);
    }
}

/// Resolves an `Authorization` header value (`Bearer <key>`) to its key, from `cache` while the
/// key was found valid less than its `ttl` ago. Used for REST requests and for intake messages
/// alike.
pub async fn authenticate(
    pool: &DbPool,
    cache: &KeyCache,
    authorization: Option<&str>,
) -> Result<Authenticated, ApiError> {
    let header = authorization.ok_or_else(|| {
        ApiError::Unauthorized("missing `Authorization: Bearer <key>` header".to_owned())
    })?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be `Bearer <key>`".to_owned())
        })?;
    let hash = hash_key(token);
    if let Some(key) = cache.get(&hash) {
        return Ok(key);
    }
    let mut conn = connection(pool).await?;
    let key = ApiKey::find_active_by_hash(&mut conn, &hash)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the API key is not valid".to_owned()))?;
    let key = Authenticated {
        key_id: key.id,
        organization_id: key.organization_id,
        scopes: key.scopes.iter().filter_map(|s| s.parse().ok()).collect(),
    };
    cache.keep(hash, key.clone());
    Ok(key)
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(respond(
            req,
            ApiError::Internal("no application state configured".into()),
        ));
    };
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    match authenticate(&state.pool, &state.keys, header).await {
        Ok(authenticated) => {
            req.extensions_mut().insert(authenticated);
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Err(error) => Ok(respond(req, error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_distinct_and_hash_stably() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with(KEY_PREFIX));
        assert_eq!(hash_key(a.expose()), hash_key(a.expose()));
        assert_ne!(hash_key(a.expose()), hash_key(b.expose()));
    }

    #[test]
    fn scope_lists_parse_and_reject_unknown_scopes() {
        let scopes = Scopes::parse_list("read, write,read").expect("valid");
        assert!(scopes.contains(Scope::Read) && scopes.contains(Scope::Write));
        assert!(!scopes.contains(Scope::Admin));
        assert!(Scopes::parse_list("read,owner").is_err());
        assert!(Scopes::parse_list("").is_err());
    }
}
