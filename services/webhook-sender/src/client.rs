//! The HTTP client of the deliveries: a request timeout, no redirects (a redirect could lead to
//! an address the target policy refuses) and no proxy, and a resolver that refuses a name
//! resolving to a forbidden address — the check is made on the addresses actually connected to.
//! URLs whose host is an address literal never reach the resolver: the delivery loop checks
//! them before sending.

use std::net::SocketAddr;

use concord_webhooks::target::TargetPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::settings::DeliverySettings;

/// Resolves with the system's resolver, then refuses the name if any address is forbidden.
struct GuardedResolver {
    policy: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for address in &addresses {
                policy.check_address(&host, address.ip())?;
            }
            let addresses: Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

pub fn build(settings: &DeliverySettings) -> Result<reqwest::Client, reqwest::Error> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only when another thread installed a provider meanwhile: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
        .timeout(settings.request_timeout)
        .connect_timeout(settings.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("Concord-Webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(std::sync::Arc::new(GuardedResolver {
            policy: settings.targets,
        }))
        .build()
}
