//! Signing in to the review UI with an API key, the session cookie, signing out, and
//! [`Reviewer`]: the signed-in reviewer as a handler's argument.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::Utc;
use concord_models::database::connection;
use concord_models::ids::ReviewSessionId;
use concord_models::organizations::Organization;
use concord_models::review_sessions::{NewReviewSession, ReviewSession};
use serde::Deserialize;

use super::{form, page, same_secret, see_other, CsrfForm, UiError};
use crate::auth::{authenticate, hash_key, Authenticated, Scope, Secret};
use crate::error::ApiError;
use crate::html::escape;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui", web::get().to(home))
        .route("/ui/login", web::get().to(login_page))
        .route("/ui/login", web::post().to(login))
        .route("/ui/logout", web::post().to(logout));
}

/// The session cookie.
const SESSION_COOKIE: &str = "concord_session";
/// The sign-in form's own CSRF token, before there is a session.
const LOGIN_COOKIE: &str = "concord_login";
/// How long a session lasts.
const SESSION_HOURS: i64 = 8;

/// A cookie of the request, by name.
fn cookie<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, under `/ui`; Secure when the request came
/// over TLS.
fn set_cookie(req: &HttpRequest, name: &str, value: &str, max_age_secs: i64) -> String {
    let secure = if req.connection_info().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

/// The signed-in reviewer: their session and key. Without a valid session, a page redirects to
/// the sign-in.
pub struct Reviewer {
    pub session: ReviewSession,
    pub key: Authenticated,
    pub organization: String,
}

impl Reviewer {
    pub fn require(&self, scope: Scope) -> Result<(), UiError> {
        self.key.require(scope).map_err(UiError::Api)
    }

    /// Refuses a form without this session's CSRF token.
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), UiError> {
        match token {
            Some(token) if same_secret(token, &self.session.csrf_token) => Ok(()),
            _ => Err(UiError::Csrf),
        }
    }

    pub fn header(&self) -> super::Header<'_> {
        super::Header {
            organization: &self.organization,
            scopes: if self.key.scopes.contains(&Scope::Write) {
                "can decide"
            } else {
                "read only"
            },
            csrf: &self.session.csrf_token,
        }
    }
}

impl FromRequest for Reviewer {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, UiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let secret = cookie(req, SESSION_COOKIE).map(str::to_owned);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let secret = secret.ok_or(UiError::SignIn)?;
            let state = state
                .ok_or_else(|| ApiError::Internal("no application state configured".into()))?;
            let mut conn = connection(&state.pool).await?;
            let (session, key) = ReviewSession::find_active(&mut conn, &hash_key(&secret))
                .await?
                .ok_or(UiError::SignIn)?;
            let organization = Organization::find(&mut conn, key.organization_id)
                .await?
                .ok_or_else(|| {
                    ApiError::internal_message(format!(
                        "the organisation of key `{}` is missing",
                        key.id
                    ))
                })?
                .name;
            Ok(Reviewer {
                key: Authenticated {
                    key_id: key.id,
                    organization_id: key.organization_id,
                    scopes: key.scopes.iter().filter_map(|s| s.parse().ok()).collect(),
                },
                session,
                organization,
            })
        })
    }
}

async fn home() -> HttpResponse {
    see_other("/ui/runs")
}

fn login_form(csrf: &str, problem: Option<&str>) -> String {
    let alert = problem
        .map(|p| format!("<p role=\"alert\" class=\"problem\">{}</p>", escape(p)))
        .unwrap_or_default();
    format!(
        "<h1>Sign in</h1>{alert}<form method=\"post\" action=\"/ui/login\" class=\"login\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><label for=\"key\">API key</label><input id=\"key\" name=\"key\" type=\"password\" autocomplete=\"off\" required autofocus><p class=\"hint\">A key with <code>read</code> lets you look; with <code>write</code> you can decide.</p><button type=\"submit\">Sign in</button></form>",
        escape(csrf)
    )
}

/// The sign-in page, with a fresh CSRF token in a cookie and in the form.
async fn login_page(req: HttpRequest) -> HttpResponse {
    let csrf = Secret::with_prefix("");
    let mut response = page(
        StatusCode::OK,
        "Sign in",
        None,
        &login_form(csrf.expose(), None),
    );
    if let Ok(value) =
        header::HeaderValue::from_str(&set_cookie(&req, LOGIN_COOKIE, csrf.expose(), 3600))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct LoginForm {
    key: Option<String>,
    csrf: Option<String>,
}

/// Signs in: the form's CSRF token must be the sign-in cookie's; the key must be valid. A new
/// session, its cookie, and the runs page.
async fn login(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let fields: LoginForm = form(&body)?;
    match (cookie(&req, LOGIN_COOKIE), fields.csrf.as_deref()) {
        (Some(expected), Some(given)) if same_secret(expected, given) => {}
        _ => return Err(UiError::Csrf),
    }
    let key = fields.key.unwrap_or_default();
    let authenticated = match authenticate(
        &state.pool,
        &state.keys,
        Some(&format!("Bearer {}", key.trim())),
    )
    .await
    {
        Ok(authenticated) => authenticated,
        Err(ApiError::Unauthorized(_)) => {
            let csrf = cookie(&req, LOGIN_COOKIE).unwrap_or_default().to_owned();
            return Ok(page(
                StatusCode::UNAUTHORIZED,
                "Sign in",
                None,
                &login_form(&csrf, Some("That key is not valid (unknown or revoked).")),
            ));
        }
        Err(other) => return Err(other.into()),
    };
    let secret = Secret::with_prefix("");
    let csrf = Secret::with_prefix("");
    let mut conn = connection(&state.pool).await?;
    ReviewSession::insert(
        &mut conn,
        NewReviewSession {
            id: ReviewSessionId::generate(),
            session_hash: &hash_key(secret.expose()),
            api_key_id: authenticated.key_id,
            csrf_token: csrf.expose(),
            expires_at: Utc::now() + chrono::Duration::hours(SESSION_HOURS),
        },
    )
    .await?;
    let mut response = see_other("/ui/runs");
    for value in [
        set_cookie(&req, SESSION_COOKIE, secret.expose(), SESSION_HOURS * 3600),
        set_cookie(&req, LOGIN_COOKIE, "", 0),
    ] {
        if let Ok(value) = header::HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// Signs out: the session is deleted and its cookie cleared.
async fn logout(
    req: HttpRequest,
    reviewer: Reviewer,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let fields: CsrfForm = form(&body)?;
    reviewer.check_csrf(fields.csrf.as_deref())?;
    let mut conn = connection(&state.pool).await?;
    ReviewSession::delete(&mut conn, reviewer.session.id).await?;
    let mut response = see_other("/ui/login");
    if let Ok(value) = header::HeaderValue::from_str(&set_cookie(&req, SESSION_COOKIE, "", 0)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_by_its_name_among_others() {
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::COOKIE, "a=1; concord_session=xyz; b=2"))
            .to_http_request();
        assert_eq!(cookie(&req, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&req, LOGIN_COOKIE), None);
    }

    #[test]
    fn the_session_cookie_is_http_only_and_same_site_strict() {
        let req = actix_web::test::TestRequest::default().to_http_request();
        let value = set_cookie(&req, SESSION_COOKIE, "s", 60);
        assert!(value.contains("HttpOnly") && value.contains("SameSite=Strict"));
        assert!(!value.contains("Secure"), "plain http: {value}");
    }
}
