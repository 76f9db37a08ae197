//! The peers whose `P-Asserted-Identity` is believed (RFC 3325 §2.3, the
//! trust domain): known by the address a request came from, or by the name
//! in the TLS certificate they presented. Never by anything in the message.

use std::cell::OnceCell;
use std::net::IpAddr;

use sipwarden_sdk::{Origin, Request, Transport};

/// The configured trust domain.
pub(crate) struct TrustedPeers {
    networks: Vec<Network>,
    /// Lowercase; compared with the certificate's DNS names and URIs.
    names: Vec<String>,
}

/// An address prefix: `192.0.2.0/24`, `2001:db8::/32`, or one address.
struct Network {
    base: IpAddr,
    prefix: u32,
}

impl TrustedPeers {
    /// Parses `trusted-peers` and `trusted-names`; the error names the entry
    /// that is wrong.
    pub(crate) fn new(peers: &[String], names: &[String]) -> Result<TrustedPeers, String> {
        let networks = peers.iter().map(|entry| Network::parse(entry)).collect::<Result<_, _>>()?;
        let names = names
            .iter()
            .map(|name| {
                let name = name.trim();
                if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c.is_control()) {
                    Err(format!("trusted-names: {name:?} is not a DNS name or URI"))
                } else {
                    Ok(name.to_ascii_lowercase())
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedPeers { networks, names })
    }

    /// Whether the hop a request came from belongs to the trust domain.
    pub(crate) fn trusts(&self, origin: &Origin) -> bool {
        self.trusts_address(&origin.address) || self.trusts_certificate(origin)
    }

    fn trusts_address(&self, address: &str) -> bool {
        if self.networks.is_empty() {
            return false;
        }
        // An IPv4 peer reached over a dual-stack socket shows up as
        // `::ffff:192.0.2.1`: compare it as the IPv4 address it is.
        let Ok(address) = address.parse::<IpAddr>().map(|a| a.to_canonical()) else {
            return false;
        };
        self.networks.iter().any(|network| network.contains(address))
    }

    /// A certificate names the peer only over TLS, and the host presents one
    /// only when it verified it; wildcard names are not special (RFC 5922
    /// §7.2 rules them out for SIP domains).
    fn trusts_certificate(&self, origin: &Origin) -> bool {
        let Some(peer) = &origin.tls_peer else {
            return false;
        };
        if !matches!(origin.transport, Transport::Tls | Transport::Wss) {
            return false;
        }
        peer.dns_names.iter().chain(&peer.uris).any(|name| self.names.iter().any(|t| t.eq_ignore_ascii_case(name)))
    }
}

/// The hop a request came from, asked of the host at most once, and only
/// when a decision depends on it: `origin()` is the dearest query of the
/// request (an address, and the TLS peer's subject and names).
pub(crate) struct Sender<'a> {
    req: &'a Request,
    peers: &'a TrustedPeers,
    origin: OnceCell<Origin>,
    trusted: OnceCell<bool>,
}

impl<'a> Sender<'a> {
    pub(crate) fn new(req: &'a Request, peers: &'a TrustedPeers) -> Self {
        Sender { req, peers, origin: OnceCell::new(), trusted: OnceCell::new() }
    }

    /// Whether the hop belongs to the trust domain.
    pub(crate) fn is_trusted(&self) -> bool {
        *self.trusted.get_or_init(|| self.peers.trusts(self.origin()))
    }

    /// The hop's source address, for the log.
    pub(crate) fn address(&self) -> &str {
        &self.origin().address
    }

    fn origin(&self) -> &Origin {
        self.origin.get_or_init(|| self.req.origin())
    }
}

impl Network {
    fn parse(entry: &str) -> Result<Network, String> {
        let refuse = |why: &str| format!("trusted-peers: {entry:?} {why}");
        let (address, prefix) = match entry.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (entry.trim(), None),
        };
        let base: IpAddr = address.parse().map_err(|_| refuse("is not an IP address or CIDR prefix"))?;
        let width = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            // Digits only: `u32::from_str` would also take `+24`.
            Some(prefix) => match prefix.parse::<u32>() {
                Ok(length) if length <= width && prefix.bytes().all(|b| b.is_ascii_digit()) => length,
                _ => return Err(refuse(&format!("has a prefix length that is not 0-{width}"))),
            },
        };
        let network = Network { base, prefix };
        if network.mask(base) != base {
            // `192.0.2.7/24` is most likely a typo for `/32` or `.0/24`:
            // refusing it beats trusting 255 peers by accident.
            return Err(refuse(&format!("has address bits set beyond the /{prefix} prefix")));
        }
        Ok(network)
    }

    fn contains(&self, address: IpAddr) -> bool {
        match (self.base, address) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => self.mask(address) == self.base,
            _ => false,
        }
    }

    /// `address` with the bits beyond the prefix cleared.
    fn mask(&self, address: IpAddr) -> IpAddr {
        match address {
            IpAddr::V4(v4) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix.min(32)).unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix.min(128)).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(address: &str) -> Origin {
        Origin { transport: Transport::Udp, address: address.into(), port: 5060, tls_peer: None }
    }

    #[test]
    fn prefixes_match_their_addresses_only() {
        let peers =
            TrustedPeers::new(&["192.0.2.0/24".into(), "2001:db8::/32".into(), "198.51.100.7".into()], &[]).unwrap();
        for trusted in
            ["192.0.2.1", "192.0.2.255", "2001:db8::7", "198.51.100.7", "::ffff:192.0.2.9", "::ffff:c633:6407"]
        {
            assert!(peers.trusts(&origin(trusted)), "{trusted}");
        }
        for untrusted in ["192.0.3.1", "2001:db9::1", "198.51.100.8", "::ffff:c633:6408", "not an address"] {
            assert!(!peers.trusts(&origin(untrusted)), "{untrusted}");
        }
        let everyone = TrustedPeers::new(&["0.0.0.0/0".into()], &[]).unwrap();
        assert!(everyone.trusts(&origin("203.0.113.1")) && !everyone.trusts(&origin("::1")));
    }

    #[test]
    fn bad_entries_are_named() {
        for (entry, why) in [
            ("192.0.2.0/33", "has a prefix length that is not 0-32"),
            ("2001:db8::/129", "has a prefix length that is not 0-128"),
            ("192.0.2.7/24", "has address bits set beyond the /24 prefix"),
            ("192.0.2.0/+24", "has a prefix length that is not 0-32"),
            ("192.0.2.0/", "has a prefix length that is not 0-32"),
            ("example.com", "is not an IP address or CIDR prefix"),
            ("", "is not an IP address or CIDR prefix"),
        ] {
            let error = TrustedPeers::new(&[entry.into()], &[]).err().unwrap();
            assert_eq!(error, format!("trusted-peers: {entry:?} {why}"));
        }
    }
}
