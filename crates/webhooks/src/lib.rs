//! Webhooks as [Standard Webhooks](https://www.standardwebhooks.com/) writes them, shared by the
//! gateway (which registers endpoints) and the webhook sender (which calls them):
//!
//! - [`signature`]: an endpoint's secret (`whsec_<base64 key>`) and the `webhook-signature` of a
//!   message, `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`;
//! - [`target`]: which URLs may be called — http(s) only, and never an address in a private,
//!   loopback, link-local, unspecified or multicast range unless the operator allows it.

pub mod signature;
pub mod target;

/// The headers every delivery carries.
pub mod headers {
    /// The delivery's id: the same on every attempt of one delivery, so receivers can drop
    /// duplicates.
    pub const ID: &str = "webhook-id";
    /// The attempt's time, in seconds since the Unix epoch.
    pub const TIMESTAMP: &str = "webhook-timestamp";
    /// `v1,<base64 signature>`.
    pub const SIGNATURE: &str = "webhook-signature";
}
