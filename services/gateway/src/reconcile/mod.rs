//! The W3C Reconciliation Service API (version 0.2) over a matching config, for OpenRefine and
//! other reconciliation clients: the wire format in [`protocol`], the service at
//! `/reconcile/{token}` in [`service`], and the tokens that open it, managed under
//! `/v1/matching/configs/{id}/reconciliation-tokens`, in [`tokens`].
//!
//! OpenRefine sends no `Authorization` header, so the credential rides in the service's URL: a
//! read-only token of one config. It is stored as a hash only, revocable, and never logged —
//! every path the gateway logs goes through [`redact_path`].

pub mod protocol;
pub mod service;
pub mod tokens;

use std::borrow::Cow;

use actix_web::web;

/// The token management routes (under `/v1`).
pub fn configure_tokens(cfg: &mut web::ServiceConfig) {
    tokens::configure(cfg);
}

/// The service's routes (outside `/v1`: the token is the credential).
pub fn configure_service(cfg: &mut web::ServiceConfig) {
    service::configure(cfg);
}

/// Where a service URL's token begins.
const SERVICE_PREFIX: &str = "/reconcile/";

/// A request path as it may be logged: a reconciliation service's token replaced by `{token}`.
pub fn redact_path(path: &str) -> Cow<'_, str> {
    match path.strip_prefix(SERVICE_PREFIX) {
        Some(rest) if !rest.is_empty() => {
            let after_token = rest.find('/').map_or("", |at| &rest[at..]);
            Cow::Owned(format!("{SERVICE_PREFIX}{{token}}{after_token}"))
        }
        _ => Cow::Borrowed(path),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_path;
    use rstest::rstest;

    #[rstest]
    #[case("/reconcile/crt_0123abcd", "/reconcile/{token}")]
    #[case("/reconcile/crt_0123abcd/preview", "/reconcile/{token}/preview")]
    #[case(
        "/reconcile/crt_0123abcd/suggest/entity",
        "/reconcile/{token}/suggest/entity"
    )]
    #[case("/reconcile/", "/reconcile/")]
    #[case(
        "/v1/matching/configs/1/reconciliation-tokens",
        "/v1/matching/configs/1/reconciliation-tokens"
    )]
    #[case("/reconciled/crt_x", "/reconciled/crt_x")]
    fn a_logged_path_never_holds_a_token(#[case] path: &str, #[case] logged: &str) {
        assert_eq!(redact_path(path), logged);
        if path.contains("crt_") && path.starts_with("/reconcile/") {
            assert!(!redact_path(path).contains("crt_"));
        }
    }
}
