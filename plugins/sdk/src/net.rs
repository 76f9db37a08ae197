//! Addresses of the hop a request came from: the contract's IP addresses as
//! the standard library's, and the address prefixes (`192.0.2.0/24`) by
//! which policies name the peers they trust.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::IpAddress;

/// An address prefix from a policy's configuration: `192.0.2.0/24`,
/// `2001:db8::/32`, or one address (`192.0.2.7`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    network: IpAddr,
    bits: u8,
}

impl Prefix {
    /// Parse a configuration entry. The error says what is wrong, worded to
    /// follow the entry: `` format!("`{entry}` {why}") ``.
    ///
    /// An address with bits set beyond its prefix (`192.0.2.7/24`) is
    /// refused rather than masked: it is most likely a typo for `/32` or
    /// `.0/24`, and guessing could trust 255 peers by accident.
    pub fn parse(entry: &str) -> Result<Prefix, String> {
        let entry = entry.trim();
        let (address, bits) = match entry.split_once('/') {
            Some((address, bits)) => (address, Some(bits)),
            None => (entry, None),
        };
        let network = address.parse::<IpAddr>().map_err(|_| "is not an IP address or CIDR prefix".to_string())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            // Digits only: `u8::from_str` would also take `+24`.
            Some(text) => match text.parse::<u8>() {
                Ok(bits) if bits <= max && text.bytes().all(|b| b.is_ascii_digit()) => bits,
                _ => return Err(format!("has a bad prefix length `/{text}` (0-{max})")),
            },
        };
        let masked = masked(network, bits);
        if masked != network {
            return Err(format!("has bits set beyond its /{bits} prefix (did you mean `{masked}/{bits}`?)"));
        }
        Ok(Prefix { network, bits })
    }

    /// Whether `address` is in the prefix. An IPv4 peer seen through a
    /// dual-stack socket (`::ffff:192.0.2.7`) is compared as the IPv4
    /// address it is.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.network.is_ipv4() == address.is_ipv4() && masked(address, self.bits) == self.network
    }
}

/// The address with every bit after the first `bits` cleared.
fn masked(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits.min(32))).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits.min(128))).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

impl From<IpAddress> for IpAddr {
    fn from(address: IpAddress) -> IpAddr {
        match address {
            IpAddress::Ipv4((a, b, c, d)) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(address: &str) -> IpAddr {
        address.parse().unwrap()
    }

    #[test]
    fn prefixes_hold_their_addresses_only() {
        let peers: Vec<Prefix> =
            ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"].into_iter().map(|p| Prefix::parse(p).unwrap()).collect();
        let trusted = |address: &str| peers.iter().any(|p| p.contains(ip(address)));
        for inside in
            ["192.0.2.1", "192.0.2.255", "2001:db8::7", "198.51.100.7", "::ffff:192.0.2.9", "::ffff:c633:6407"]
        {
            assert!(trusted(inside), "{inside}");
        }
        for outside in ["192.0.3.1", "2001:db9::1", "198.51.100.8", "::ffff:c633:6408"] {
            assert!(!trusted(outside), "{outside}");
        }
        let everyone = Prefix::parse("0.0.0.0/0").unwrap();
        assert!(everyone.contains(ip("203.0.113.1")) && !everyone.contains(ip("::1")));
        assert!(Prefix::parse("::/0").unwrap().contains(ip("2001:db8::1")));
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        for (entry, why) in [
            ("192.0.2.0/33", "has a bad prefix length `/33` (0-32)"),
            ("2001:db8::/129", "has a bad prefix length `/129` (0-128)"),
            ("192.0.2.7/24", "has bits set beyond its /24 prefix (did you mean `192.0.2.0/24`?)"),
            ("192.0.2.0/+24", "has a bad prefix length `/+24` (0-32)"),
            ("192.0.2.0/", "has a bad prefix length `/` (0-32)"),
            ("10.1.0/16", "is not an IP address or CIDR prefix"),
            ("example.com", "is not an IP address or CIDR prefix"),
            ("", "is not an IP address or CIDR prefix"),
        ] {
            assert_eq!(Prefix::parse(entry), Err(why.to_string()), "{entry}");
        }
    }

    #[test]
    fn addresses_convert_field_for_field() {
        assert_eq!(IpAddr::from(IpAddress::Ipv4((192, 0, 2, 7))), "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(
            IpAddr::from(IpAddress::Ipv6((0x2001, 0xdb8, 0, 0, 0, 0, 0, 7))),
            "2001:db8::7".parse::<IpAddr>().unwrap()
        );
    }
}
