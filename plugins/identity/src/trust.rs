//! The peers whose `P-Asserted-Identity` is believed (RFC 3325 §2.3, the
//! trust domain): known by the address a request came from, or by the name
//! in the TLS certificate they presented. Never by anything in the message.

use std::cell::OnceCell;
use std::net::IpAddr;

use sipwarden_sdk::{Prefix, Request, Source};

/// The configured trust domain.
pub(crate) struct TrustedPeers {
    networks: Vec<Prefix>,
    /// Compared by the host (`peer-named`) with the certificate's DNS names
    /// and URIs, without regard to case.
    names: Vec<String>,
}

impl TrustedPeers {
    /// Parses `trusted-peers` and `trusted-names`; the error names the entry
    /// that is wrong.
    pub(crate) fn new(peers: &[String], names: &[String]) -> Result<TrustedPeers, String> {
        let networks = peers
            .iter()
            .map(|entry| Prefix::parse(entry).map_err(|why| format!("trusted-peers: `{}` {why}", entry.trim())))
            .collect::<Result<_, _>>()?;
        let names = names
            .iter()
            .map(|name| {
                let name = name.trim();
                if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c.is_control()) {
                    Err(format!("trusted-names: `{name}` is not a DNS name or URI"))
                } else {
                    Ok(name.to_string())
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedPeers { networks, names })
    }

    /// Whether the hop a request came from belongs to the trust domain: its
    /// address is in a trusted prefix, or it presented over TLS a verified
    /// certificate with a trusted name.
    ///
    /// The host compares the certificate's names (`peer-named`) so that they
    /// never need to be copied into the plugin; it answers `false` for a hop
    /// that did not use TLS, and wildcard names are not special (RFC 5922
    /// §7.2 rules them out for SIP domains).
    pub(crate) fn trusts(&self, req: &Request, address: impl FnOnce() -> IpAddr) -> bool {
        (!self.networks.is_empty() && self.trusts_address(address()))
            || (!self.names.is_empty() && req.peer_named(&self.names))
    }

    fn trusts_address(&self, address: IpAddr) -> bool {
        self.networks.iter().any(|network| network.contains(address))
    }
}

/// The hop a request came from, asked of the host at most once, and only
/// when a decision depends on it.
pub(crate) struct Sender<'a> {
    req: &'a Request,
    peers: &'a TrustedPeers,
    source: OnceCell<Source>,
    trusted: OnceCell<bool>,
}

impl<'a> Sender<'a> {
    pub(crate) fn new(req: &'a Request, peers: &'a TrustedPeers) -> Self {
        Sender { req, peers, source: OnceCell::new(), trusted: OnceCell::new() }
    }

    /// Whether the hop belongs to the trust domain.
    pub(crate) fn is_trusted(&self) -> bool {
        *self.trusted.get_or_init(|| self.peers.trusts(self.req, || self.address()))
    }

    /// The hop's source address.
    pub(crate) fn address(&self) -> IpAddr {
        self.source.get_or_init(|| self.req.source()).address.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_listed_prefix_trusts_its_addresses() {
        let peers = TrustedPeers::new(&["192.0.2.0/24".into(), "2001:db8::/32".into()], &[]).unwrap();
        for (address, trusted) in
            [("192.0.2.9", true), ("::ffff:192.0.2.9", true), ("2001:db8::7", true), ("192.0.3.1", false)]
        {
            assert_eq!(peers.trusts_address(address.parse().unwrap()), trusted, "{address}");
        }
    }

    #[test]
    fn bad_entries_are_named() {
        let error = TrustedPeers::new(&["192.0.2.0/24".into(), " 192.0.2.7/24".into()], &[]).err().unwrap();
        assert_eq!(
            error,
            "trusted-peers: `192.0.2.7/24` has bits set beyond its /24 prefix (did you mean `192.0.2.0/24`?)"
        );
        let error = TrustedPeers::new(&[], &["core example".into()]).err().unwrap();
        assert_eq!(error, "trusted-names: `core example` is not a DNS name or URI");
    }
}
