//! Which URLs a webhook may call. A URL is `http` or `https` with a host; the addresses its host
//! stands for must all be public: private (RFC 1918, IPv6 unique local), loopback, link-local,
//! shared (carrier-grade NAT), unspecified, broadcast and multicast addresses are refused, so
//! that a webhook cannot be pointed at the service's own network. An operator may allow them
//! (`CONCORD_WEBHOOKS_ALLOW_PRIVATE_TARGETS`), for a receiver on the same machine, say.
//!
//! The gateway checks a URL when it is registered and the sender checks again, on the addresses
//! it actually connects to, at every attempt (a name may resolve elsewhere later).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use url::Url;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("not a URL: {0}")]
    Invalid(String),
    #[error("the scheme must be http or https, not `{0}`")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("`{host}` is {address}, in a private, loopback, link-local or multicast range")]
    Forbidden { host: String, address: IpAddr },
}

/// How long a registration waits for the name's addresses.
pub const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether private targets may be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetPolicy {
    pub allow_private: bool,
}

impl TargetPolicy {
    /// Parses the URL and checks its form (and its address, when the host is one).
    pub fn check_url(&self, text: &str) -> Result<Url, TargetError> {
        let url = Url::parse(text).map_err(|e| TargetError::Invalid(e.to_string()))?;
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(TargetError::Scheme(other.to_owned())),
        }
        let host = url.host().ok_or(TargetError::NoHost)?;
        let literal = match host {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(_) => None,
        };
        if let Some(address) = literal {
            self.check_address(&host.to_string(), address)?;
        }
        Ok(url)
    }

    /// Refuses a forbidden address unless the policy allows private targets.
    pub fn check_address(&self, host: &str, address: IpAddr) -> Result<(), TargetError> {
        if !self.allow_private && is_forbidden(address) {
            return Err(TargetError::Forbidden {
                host: host.to_owned(),
                address,
            });
        }
        Ok(())
    }

    /// Checks the URL, then every address its host resolves to now. A name that does not
    /// resolve (within [`RESOLVE_TIMEOUT`]) passes: the sender checks again at each attempt, on
    /// the addresses it connects to, and the attempt fails.
    pub async fn check_resolved(&self, text: &str) -> Result<Url, TargetError> {
        let url = self.check_url(text)?;
        if self.allow_private {
            return Ok(url);
        }
        if let (Some(url::Host::Domain(domain)), Some(port)) =
            (url.host(), url.port_or_known_default())
        {
            let lookup = tokio::net::lookup_host((domain, port));
            if let Ok(Ok(addresses)) = tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
                for address in addresses {
                    self.check_address(domain, address.ip())?;
                }
            }
        }
        Ok(url)
    }
}

/// True for an address no webhook may reach by default.
pub fn is_forbidden(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_forbidden_v4(v4),
            None => is_forbidden_v6(v6),
        },
    }
}

fn is_forbidden_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        // 0.0.0.0/8 ("this network") and 100.64.0.0/10 (shared, carrier-grade NAT)
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

fn is_forbidden_v6(v6: Ipv6Addr) -> bool {
    let first = v6.segments()[0];
    v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_multicast_addresses_are_refused() {
        let policy = TargetPolicy::default();
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
            "http://224.0.0.1/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::]/",
        ] {
            assert!(
                matches!(policy.check_url(url), Err(TargetError::Forbidden { .. })),
                "{url} passed"
            );
        }
    }

    #[test]
    fn public_addresses_and_names_pass_and_the_setting_allows_private_ones() {
        let policy = TargetPolicy::default();
        assert!(policy.check_url("https://93.184.216.34/hook").is_ok());
        assert!(policy.check_url("https://hooks.example.com/x").is_ok());
        assert!(policy.check_url("http://[2606:4700::1]/").is_ok());
        let open = TargetPolicy {
            allow_private: true,
        };
        assert!(open.check_url("http://127.0.0.1:9/").is_ok());
    }

    #[test]
    fn only_http_urls_with_a_host_are_accepted() {
        let policy = TargetPolicy::default();
        assert_eq!(
            policy.check_url("ftp://example.com/").map(|_| ()),
            Err(TargetError::Scheme("ftp".to_owned()))
        );
        assert!(matches!(
            policy.check_url("not a url"),
            Err(TargetError::Invalid(_))
        ));
        assert!(policy.check_url("file:///etc/passwd").is_err());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        let policy = TargetPolicy::default();
        assert!(matches!(
            policy.check_resolved("http://localhost:8080/").await,
            Err(TargetError::Forbidden { .. })
        ));
    }
}
