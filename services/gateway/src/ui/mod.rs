//! The review UI under `/ui`: server-rendered pages with a small script for the keyboard, for the
//! people who check the matches. Nothing is fetched from elsewhere: the style and the script are
//! compiled in and served here, under a content security policy that allows only this origin.
//!
//! **Sessions.** A reviewer signs in with an API key ([`session`]); the gateway answers with a
//! session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when served over TLS, 8 hours), whose
//! secret is stored as a hash. A session acts with its key's organisation and scopes: a `read`
//! key sees, only a `write` key decides; revoking the key ends its sessions. Another
//! organisation's run is a 404 like one that does not exist.
//!
//! **Forms.** Every form carries the session's CSRF token (the sign-in form a token of its own,
//! in a cookie and the form both); a `POST` without it, or with another, is refused (403) and
//! changes nothing.
//!
//! **Pages** ([`pages`]): the matching runs with their progress; a run's summary with the
//! histogram of its confidences (threshold and review band drawn on it) and its review queue
//! (pending first); one result, the document's values beside each candidate's field by field,
//! the evidence as a waterfall, the AI pass's suggestion, and the decision forms. Keys on a
//! result: `a` approve, `r` reject, `1`–`5` approve that candidate, `j`/`k` next/previous, `u`
//! undo the last decision, `n` focus the notes.

pub mod pages;
pub mod resolutions;
pub mod session;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};

use crate::error::ApiError;
use crate::html::escape;

pub fn configure(cfg: &mut web::ServiceConfig) {
    session::configure(cfg);
    pages::configure(cfg);
    resolutions::configure(cfg);
    cfg.route("/ui/assets/{asset}", web::get().to(asset));
}

/// Only this origin: scripts and styles served here, forms posted here.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const UI_CSS: &str = include_str!("assets/ui.css");
const UI_JS: &str = include_str!("assets/ui.js");

async fn asset(path: web::Path<String>) -> Result<HttpResponse, UiError> {
    let (content_type, body) = match path.as_str() {
        "ui.css" => ("text/css; charset=utf-8", UI_CSS),
        "ui.js" => ("text/javascript; charset=utf-8", UI_JS),
        other => return Err(ApiError::not_found("asset", other).into()),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body))
}

/// What a page handler fails with: a sign-in is needed (a redirect to it), or an API error
/// shown as a page with its status.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("sign in first")]
    SignIn,
    #[error("the form's CSRF token is missing or not this session's")]
    Csrf,
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<concord_models::StoreError> for UiError {
    fn from(error: concord_models::StoreError) -> Self {
        UiError::Api(error.into())
    }
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::SignIn => StatusCode::SEE_OTHER,
            UiError::Csrf => StatusCode::FORBIDDEN,
            UiError::Api(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            UiError::SignIn => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/ui/login"))
                .finish(),
            UiError::Csrf => page(
                StatusCode::FORBIDDEN,
                "Refused",
                None,
                "<p role=\"alert\">This form was refused: its CSRF token is missing or is not this session's. Reload the page and try again.</p>",
            ),
            UiError::Api(error) => {
                if let ApiError::Internal(source) = error {
                    tracing::error!(error = %source, "internal error on a review page");
                }
                let message = match error {
                    ApiError::Internal(_) => "Something failed on our side.".to_owned(),
                    other => other.to_string(),
                };
                page(
                    error.status_code(),
                    "Error",
                    None,
                    &format!(
                        "<p role=\"alert\"><strong>{}</strong> {}</p><p><a href=\"/ui/runs\">Back to the runs</a></p>",
                        escape(error.code().as_str()),
                        escape(&message)
                    ),
                )
            }
        }
    }
}

/// Who is signed in, for the page's header.
pub struct Header<'a> {
    pub organization: &'a str,
    pub scopes: &'a str,
    pub csrf: &'a str,
}

/// A whole page: the layout around `body`.
pub fn page(
    status: StatusCode,
    title: &str,
    header: Option<&Header<'_>>,
    body: &str,
) -> HttpResponse {
    let nav = match header {
        Some(h) => format!(
            "<nav aria-label=\"Main\"><a href=\"/ui/runs\">Matching runs</a><span class=\"who\">{} · {}</span><form method=\"post\" action=\"/ui/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sign out</button></form></nav>",
            escape(h.organization),
            escape(h.scopes),
            escape(h.csrf)
        ),
        None => String::new(),
    };
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} · Concord review</title><link rel=\"stylesheet\" href=\"/ui/assets/ui.css\"><script src=\"/ui/assets/ui.js\" defer></script></head><body><header><a class=\"brand\" href=\"/ui/runs\">Concord review</a>{nav}</header><main id=\"main\">{body}</main></body></html>",
        escape(title)
    );
    let mut response = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html);
    response.headers_mut().insert(
        header::HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

/// A redirect after a form (303: the browser follows it with a `GET`).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A form body as `T`: 422 naming the form when it does not read.
pub fn form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, UiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BodyRead("the form is not UTF-8".to_owned()))?;
    web::Query::<T>::from_query(text)
        .map(web::Query::into_inner)
        .map_err(|error| ApiError::validation("form", format!("invalid form: {error}")).into())
}

/// A form that carries only its CSRF token (sign out, undo).
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}
