//! Secrets and signatures. A secret is `whsec_` followed by the base64 of its key; a signature
//! is the base64 of HMAC-SHA256, under that key, of `{webhook-id}.{webhook-timestamp}.{body}`,
//! sent as `v1,<signature>` (several, space-separated, while a secret is being rotated).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The prefix of every secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of a generated key (Standard Webhooks asks for 24 to 64).
const KEY_BYTES: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("a webhook secret starts with `whsec_`")]
    Prefix,
    #[error("a webhook secret's key is not base64: {0}")]
    Base64(String),
    #[error("a webhook secret's key is empty")]
    Empty,
    #[error("a webhook secret's key cannot key HMAC-SHA256")]
    Key,
}

/// A signing key, read from its `whsec_` form.
#[derive(Clone)]
pub struct Secret {
    keyed: HmacSha256,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    /// A new random secret, in its `whsec_` form.
    pub fn generate() -> String {
        let mut key = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut key);
        format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
    }

    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Prefix)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|e| SecretError::Base64(e.to_string()))?;
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        let keyed = <HmacSha256 as KeyInit>::new_from_slice(&key).map_err(|_| SecretError::Key)?;
        Ok(Secret { keyed })
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header of a message: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Whether one of the `v1` signatures in the header (space-separated) is this secret's for
    /// the message, compared in constant time.
    pub fn verify(&self, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        header.split(' ').any(|candidate| {
            let Some(encoded) = candidate.strip_prefix("v1,") else {
                return false;
            };
            let Ok(tag) = STANDARD.decode(encoded) else {
                return false;
            };
            self.mac(id, timestamp, body).verify_slice(&tag).is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries (their test vector).
    #[test]
    fn signs_the_reference_example() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let timestamp = 1_614_265_330;
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign(id, timestamp, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(secret.verify(
            id,
            timestamp,
            body,
            "v1,bad v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        ));
    }

    #[test]
    fn a_changed_body_id_or_time_fails_verification() {
        let secret = Secret::parse(&Secret::generate()).expect("a generated secret parses");
        let header = secret.sign("msg_1", 10, b"{}");
        assert!(secret.verify("msg_1", 10, b"{}", &header));
        assert!(!secret.verify("msg_1", 10, b"{ }", &header));
        assert!(!secret.verify("msg_2", 10, b"{}", &header));
        assert!(!secret.verify("msg_1", 11, b"{}", &header));
        let other = Secret::parse(&Secret::generate()).expect("secret");
        assert!(!other.verify("msg_1", 10, b"{}", &header));
    }

    #[test]
    fn secrets_are_prefixed_base64() {
        assert_eq!(Secret::parse("MfKQ").map(|_| ()), Err(SecretError::Prefix));
        assert!(matches!(
            Secret::parse("whsec_***"),
            Err(SecretError::Base64(_))
        ));
        assert_eq!(Secret::parse("whsec_").map(|_| ()), Err(SecretError::Empty));
    }
}
