//! Which network addresses the registry's own outgoing requests may reach, and address
//! ranges as operators write them.
//!
//! An import makes the server fetch from a URL that a client names, so without a limit
//! anyone allowed to push could use the server to probe what only it can reach: its own
//! loopback services, the cloud's metadata endpoint, the private network behind it.
//! [`Destinations`] therefore permits public addresses only, plus the ranges an operator
//! allowed. The check applies to every connection a [`crate::RemoteSource`] opens: names
//! are filtered when they are resolved ([`GuardedResolver`]), and addresses written
//! literally in a URL, a token realm or a redirect are checked before the request goes out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// A set of address ranges such as `10.0.0.0/8`, `fd00::/8` or a single address.
#[derive(Clone, Debug, Default)]
pub struct IpRanges {
    ranges: Vec<(IpAddr, u8)>,
}

impl IpRanges {
    /// Parses `ranges`; an error names the bad range, calling it a `what` (such as
    /// "trusted proxy range").
    pub fn parse(ranges: &[String], what: &str) -> Result<IpRanges, String> {
        let mut parsed = Vec::with_capacity(ranges.len());
        for range in ranges {
            let (address, prefix) = match range.split_once('/') {
                Some((address, prefix)) => (address, Some(prefix)),
                None => (range.as_str(), None),
            };
            let invalid = || {
                format!(
                    "{what} {range:?} is invalid; write an address or a CIDR range such as \
                     10.0.0.0/8"
                )
            };
            let address: IpAddr = address.trim().parse().map_err(|_| invalid())?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(text) => text.trim().parse::<u8>().map_err(|_| invalid())?,
            };
            if prefix > max {
                return Err(invalid());
            }
            parsed.push((address, prefix));
        }
        Ok(IpRanges { ranges: parsed })
    }

    /// Whether `address` lies in one of the ranges.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.ranges
            .iter()
            .any(|(network, prefix)| match (canonical(*network), address) {
                (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_matches(
                    u128::from(u32::from(net)),
                    u128::from(u32::from(ip)),
                    *prefix,
                    32,
                ),
                (IpAddr::V6(net), IpAddr::V6(ip)) => {
                    prefix_matches(u128::from(net), u128::from(ip), *prefix, 128)
                }
                _ => false,
            })
    }
}

/// IPv4-mapped IPv6 addresses (how a dual-stack socket reports IPv4 peers) as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_matches(network: u128, address: u128, prefix: u8, bits: u32) -> bool {
    let host_bits = bits - u32::from(prefix);
    if host_bits >= bits {
        return true;
    }
    (network >> host_bits) == (address >> host_bits)
}

/// What kind of non-public address `address` is, or `None` for a public one.
fn non_public_kind(address: IpAddr) -> Option<&'static str> {
    match canonical(address) {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => v6_kind(v6),
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (such as a cloud metadata service)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a carrier-grade NAT address")
    } else if ip.is_unspecified() || ip.is_broadcast() || a == 0 || a >= 224 {
        Some("not a unicast address")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a unique local (private) address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_unspecified() || first & 0xff00 == 0xff00 {
        Some("not a unicast address")
    } else {
        None
    }
}

/// The addresses outgoing requests may reach: every public address, and the ranges an
/// operator allowed on top (`allowed`), such as an internal registry's network.
#[derive(Clone, Debug, Default)]
pub struct Destinations {
    pub allowed: IpRanges,
}

impl Destinations {
    /// `Ok` when `address` may be reached; otherwise why not, in a sentence that says how
    /// an operator allows it.
    pub fn check(&self, address: IpAddr) -> Result<(), String> {
        match non_public_kind(address) {
            Some(kind) if !self.allowed.contains(address) => Err(format!(
                "{address} is {kind}; the registry fetches only from public addresses \
                 unless its operator allows more with --import-allowed-networks"
            )),
            _ => Ok(()),
        }
    }

    /// Checks the host of `url` when it is written as an address; names are checked
    /// when they are resolved.
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        let host = url.host_str().unwrap_or_default();
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            Ok(address) => self.check(address),
            Err(_) => Ok(()),
        }
    }
}

/// The system resolver, keeping only the addresses [`Destinations`] permits; a name with
/// none left fails with the reason for the first one refused.
pub struct GuardedResolver {
    pub destinations: Arc<Destinations>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let destinations = Arc::clone(&self.destinations);
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let permitted: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match destinations.check(addr.ip()) {
                    Ok(()) => true,
                    Err(reason) => {
                        refused.get_or_insert(reason);
                        false
                    }
                })
                .collect();
            if permitted.is_empty() {
                let reason = refused.unwrap_or_else(|| "it has no address".to_string());
                return Err(format!("{host} resolves to {reason}").into());
            }
            let addrs: Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(list: &[&str]) -> IpRanges {
        IpRanges::parse(
            &list.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            "range",
        )
        .expect("valid ranges")
    }

    #[test]
    fn ranges_match_by_prefix() {
        let set = ranges(&["10.0.0.0/8", "192.168.1.7", "fd00::/8"]);
        for inside in ["10.1.2.3", "192.168.1.7", "fd12::1", "::ffff:10.9.9.9"] {
            assert!(set.contains(inside.parse().unwrap()), "{inside}");
        }
        for outside in ["11.0.0.1", "192.168.1.8", "fe80::1", "::1"] {
            assert!(!set.contains(outside.parse().unwrap()), "{outside}");
        }
        assert!(ranges(&["0.0.0.0/0"]).contains("8.8.8.8".parse().unwrap()));
        assert!(!IpRanges::default().contains("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn bad_ranges_are_refused_with_the_range_named() {
        for bad in ["10.0.0.0/33", "::/129", "ten/8", "10.0.0.0/x", ""] {
            let err = IpRanges::parse(&[bad.to_string()], "trusted proxy range").unwrap_err();
            assert!(
                err.contains(&format!("trusted proxy range {bad:?}")),
                "{err}"
            );
        }
    }

    #[test]
    fn only_public_addresses_pass_by_default() {
        let default = Destinations::default();
        for public in [
            "8.8.8.8",
            "140.82.112.3",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(default.check(public.parse().unwrap()).is_ok(), "{public}");
        }
        for (address, kind) in [
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("10.0.0.5", "private"),
            ("172.16.3.4", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "metadata"),
            ("100.64.0.1", "carrier-grade"),
            ("0.0.0.0", "unicast"),
            ("fd00::1", "unique local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "unicast"),
        ] {
            let refused = default.check(address.parse().unwrap()).unwrap_err();
            assert!(refused.contains(kind), "{address}: {refused}");
            assert!(refused.contains("--import-allowed-networks"), "{refused}");
        }
    }

    #[test]
    fn allowed_ranges_open_exactly_those_addresses() {
        let destinations = Destinations {
            allowed: ranges(&["10.1.0.0/16", "127.0.0.1"]),
        };
        assert!(destinations.check("10.1.2.3".parse().unwrap()).is_ok());
        assert!(destinations.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(destinations.check("10.2.0.1".parse().unwrap()).is_err());
        assert!(destinations.check("127.0.0.2".parse().unwrap()).is_err());
        let url = |u: &str| Url::parse(u).unwrap();
        assert!(destinations
            .check_url(&url("http://169.254.169.254/latest"))
            .is_err());
        assert!(destinations
            .check_url(&url("http://[fe80::1]:5000/v2/"))
            .is_err());
        assert!(destinations
            .check_url(&url("http://127.0.0.1:5000/v2/"))
            .is_ok());
        assert!(destinations
            .check_url(&url("https://registry.example.com/v2/"))
            .is_ok());
    }

    #[tokio::test]
    async fn names_resolving_only_to_refused_addresses_fail_with_the_reason() {
        let resolver = GuardedResolver {
            destinations: Arc::new(Destinations::default()),
        };
        let err = match resolver.resolve("localhost".parse().unwrap()).await {
            Ok(addrs) => panic!("localhost resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(err) => err.to_string(),
        };
        assert!(err.starts_with("localhost resolves to "), "{err}");
        assert!(err.contains("loopback"), "{err}");

        let allowed = GuardedResolver {
            destinations: Arc::new(Destinations {
                allowed: ranges(&["127.0.0.0/8", "::1"]),
            }),
        };
        let addrs: Vec<SocketAddr> = allowed
            .resolve("localhost".parse().unwrap())
            .await
            .expect("allowed")
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        assert!(!addrs.is_empty());
    }
}
