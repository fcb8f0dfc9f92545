//! Registry addresses as people type them (`127.0.0.1:5000`, `registry.example.com`,
//! `https://h:8443/`) turned into one canonical form.
//!
//! Guarantees: the canonical URL is `scheme://host[:port]` with no path and no trailing
//! slash; a missing scheme means `http` for loopback hosts (a local test registry rarely
//! has a certificate) and `https` for everything else; two addresses name the same
//! registry exactly when their host and effective port match, whatever the spelling.

use std::net::IpAddr;

use reqwest::Url;

use super::error::{ClientError, Result};

/// A registry's canonical address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryUrl {
    url: Url,
}

impl RegistryUrl {
    /// Parses and normalises an address; fails on anything but `http`/`https` hosts.
    pub fn parse(input: &str) -> Result<RegistryUrl> {
        let trimmed = input.trim();
        let bad = |reason: &str| ClientError::BadUrl {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        if trimmed.is_empty() {
            return Err(bad("it is empty"));
        }
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_string()
        } else {
            let authority = trimmed.split('/').next().unwrap_or(trimmed);
            let scheme = if is_loopback_authority(authority) {
                "http"
            } else {
                "https"
            };
            format!("{scheme}://{trimmed}")
        };
        let mut url = Url::parse(&with_scheme).map_err(|err| bad(&err.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("only http and https are supported"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("it has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials do not belong in the address; use -u and -p",
            ));
        }
        // Docker's credential protocol sends addresses such as `https://h/v1/`; only the
        // scheme, host and port identify a registry.
        url.set_path("");
        url.set_query(None);
        url.set_fragment(None);
        Ok(RegistryUrl { url })
    }

    /// `scheme://host[:port]`, the key of berth's login state.
    pub fn as_str(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// `host[:port]` as docker and podman key their credentials (no default port).
    pub fn host_port(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    /// The URL of a path on this registry, e.g. `/v2/`.
    pub fn join(&self, path: &str) -> Url {
        let mut url = self.url.clone();
        url.set_path(path);
        url
    }

    /// The base URL to build request paths on.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether both name the same registry: same host and same effective port.
    pub fn same_registry(&self, other: &RegistryUrl) -> bool {
        let host = |u: &Url| u.host_str().unwrap_or_default().to_ascii_lowercase();
        host(&self.url) == host(&other.url)
            && self.url.port_or_known_default() == other.url.port_or_known_default()
    }
}

impl std::fmt::Display for RegistryUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `host[:port]` names this machine: `localhost`, 127.0.0.0/8 or `::1`.
fn is_loopback_authority(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(input: &str) -> String {
        RegistryUrl::parse(input).unwrap().to_string()
    }

    #[test]
    fn loopback_without_scheme_is_http_and_others_https() {
        assert_eq!(canonical("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(canonical("127.1.2.3:5000"), "http://127.1.2.3:5000");
        assert_eq!(canonical("localhost:5000"), "http://localhost:5000");
        assert_eq!(canonical("LOCALHOST"), "http://localhost");
        assert_eq!(canonical("[::1]:5000"), "http://[::1]:5000");
        assert_eq!(
            canonical("registry.example.com"),
            "https://registry.example.com"
        );
        assert_eq!(canonical("10.0.0.5:5000"), "https://10.0.0.5:5000");
        assert_eq!(
            canonical("localhost.example.com"),
            "https://localhost.example.com"
        );
    }

    #[test]
    fn explicit_scheme_is_kept_and_path_and_trailing_slash_dropped() {
        assert_eq!(
            canonical("https://127.0.0.1:5000/"),
            "https://127.0.0.1:5000"
        );
        assert_eq!(
            canonical("http://reg.example.com/"),
            "http://reg.example.com"
        );
        assert_eq!(
            canonical("https://index.docker.io/v1/"),
            "https://index.docker.io"
        );
        assert_eq!(canonical("  h.example:8443  "), "https://h.example:8443");
        // The default port is not part of the canonical form.
        assert_eq!(canonical("https://h.example:443"), "https://h.example");
    }

    #[test]
    fn host_port_is_what_docker_keys_credentials_by() {
        assert_eq!(
            RegistryUrl::parse("127.0.0.1:5000").unwrap().host_port(),
            "127.0.0.1:5000"
        );
        assert_eq!(
            RegistryUrl::parse("https://h.example/")
                .unwrap()
                .host_port(),
            "h.example"
        );
        assert_eq!(
            RegistryUrl::parse("[::1]:5000").unwrap().host_port(),
            "[::1]:5000"
        );
    }

    #[test]
    fn bad_addresses_are_refused_with_a_reason() {
        for input in [
            "",
            "   ",
            "ftp://h",
            "https://",
            "http://user:pw@h",
            "h:notaport",
        ] {
            let err = RegistryUrl::parse(input).unwrap_err();
            assert!(matches!(err, ClientError::BadUrl { .. }), "{input}: {err}");
        }
    }

    #[test]
    fn same_registry_compares_host_and_effective_port() {
        let a = RegistryUrl::parse("https://H.example").unwrap();
        let b = RegistryUrl::parse("h.example:443").unwrap();
        let c = RegistryUrl::parse("h.example:5000").unwrap();
        let d = RegistryUrl::parse("http://h.example").unwrap();
        assert!(a.same_registry(&b));
        assert!(!a.same_registry(&c));
        assert!(!a.same_registry(&d));
        let local = RegistryUrl::parse("127.0.0.1:5000").unwrap();
        assert!(local.same_registry(&RegistryUrl::parse("http://127.0.0.1:5000/").unwrap()));
    }
}
