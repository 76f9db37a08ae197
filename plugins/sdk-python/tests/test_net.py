"""plugins/sdk/src/net.rs's tests, and the edges of Rust's address syntax
that Python's `ipaddress` reads differently."""

import ipaddress
import unittest
from dataclasses import dataclass

from sipwarden_sdk import Prefix
from sipwarden_sdk.net import format_ip, parse_ip


@dataclass
class IpAddress_Ipv4:  # noqa: N801 - named as componentize-py names it
    value: tuple


@dataclass
class IpAddress_Ipv6:  # noqa: N801
    value: tuple


def why(entry):
    try:
        Prefix.parse(entry)
    except ValueError as error:
        return str(error)
    return None


class Prefixes(unittest.TestCase):
    def test_prefixes_hold_their_addresses_only(self):
        peers = [Prefix.parse(p) for p in ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]]

        def trusted(address):
            return any(p.contains(address) for p in peers)

        for inside in ["192.0.2.1", "192.0.2.255", "2001:db8::7", "198.51.100.7", "::ffff:192.0.2.9",
                       "::ffff:c633:6407"]:
            self.assertTrue(trusted(inside), inside)
        for outside in ["192.0.3.1", "2001:db9::1", "198.51.100.8", "::ffff:c633:6408"]:
            self.assertFalse(trusted(outside), outside)
        everyone = Prefix.parse("0.0.0.0/0")
        self.assertTrue(everyone.contains("203.0.113.1"))
        self.assertFalse(everyone.contains("::1"))
        self.assertTrue(Prefix.parse("::/0").contains("2001:db8::1"))

    def test_bad_entries_say_what_is_wrong(self):
        for entry, expected in [
            ("192.0.2.0/33", "has a bad prefix length `/33` (0-32)"),
            ("2001:db8::/129", "has a bad prefix length `/129` (0-128)"),
            ("192.0.2.7/24", "has bits set beyond its /24 prefix (did you mean `192.0.2.0/24`?)"),
            ("192.0.2.0/+24", "has a bad prefix length `/+24` (0-32)"),
            ("192.0.2.0/", "has a bad prefix length `/` (0-32)"),
            ("10.1.0/16", "is not an IP address or CIDR prefix"),
            ("example.com", "is not an IP address or CIDR prefix"),
            ("", "is not an IP address or CIDR prefix"),
        ]:
            self.assertEqual(why(entry), expected, entry)

    def test_addresses_convert_field_for_field(self):
        self.assertTrue(Prefix.parse("192.0.2.7").contains(IpAddress_Ipv4((192, 0, 2, 7))))
        self.assertTrue(Prefix.parse("2001:db8::7").contains(IpAddress_Ipv6((0x2001, 0xDB8, 0, 0, 0, 0, 0, 7))))
        # An IPv4 peer on a dual-stack socket, as the contract could give it.
        self.assertTrue(Prefix.parse("192.0.2.0/24").contains(IpAddress_Ipv6((0, 0, 0, 0, 0, 0xFFFF, 0xC000, 0x0207))))
        self.assertTrue(Prefix.parse("192.0.2.0/24").contains(ipaddress.ip_address("192.0.2.9")))

    def test_rust_syntax_at_the_edges(self):
        """What Rust's `IpAddr::from_str` takes and refuses, where Python's
        `ipaddress` differs or a guess would: no scope ids, no leading zeros
        in IPv4, at most four hex digits a group, `::` for at least one
        group, IPv4 only at the end, a bit length of ASCII digits (leading
        zeros allowed, as `u8::from_str` allows them)."""
        for entry in ["fe80::1%eth0", "010.0.0.1", "1.2.3", "1.2.3.4.5", "::12345", "1:2:3:4:5:6:7:8::",
                      "1.2.3.4::", "[::1]", " ", "::ffff:1.2.3.4:5", "1::2::3", "256.0.0.1", "1:2:3:4:5:6:7:1.2.3.4"]:
            self.assertEqual(why(entry), "is not an IP address or CIDR prefix", entry)
        for entry in ["1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "::ffff:1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "0::0",
                      "0001:0db8::", "192.0.2.0/024", " 192.0.2.0/24\u3000"]:
            self.assertIsNone(why(entry), entry)
        self.assertEqual(why("1.2.3.4/2_4"), "has a bad prefix length `/2_4` (0-32)")
        self.assertEqual(why("1.2.3.4/٢٤"), "has a bad prefix length `/٢٤` (0-32)")
        self.assertEqual(why("1.2.3.4/256"), "has a bad prefix length `/256` (0-32)")
        self.assertEqual(why("::ffff:1.2.3.4/120"),
                         "has bits set beyond its /120 prefix (did you mean `::ffff:1.2.3.0/120`?)")
        self.assertEqual(why("2001:db8:0:0:1:0:0:1/127"),
                         "has bits set beyond its /127 prefix (did you mean `2001:db8:0:0:1::/127`?)")
        # U+001C is white space to Python's strip(), not to Rust's trim().
        self.assertEqual(why("\x1c192.0.2.1"), "is not an IP address or CIDR prefix")

    def test_rust_display(self):
        for text, shown in [("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("::", "::"), ("::1", "::1"),
                            ("1:0:0:2:0:0:0:3", "1:0:0:2::3"), ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"), ("::ffff:c000:207", "::ffff:192.0.2.7"),
                            ("::c000:207", "::c000:207"), ("1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0")]:
            self.assertEqual(format_ip(*parse_ip(text)), shown, text)

    def test_a_mapped_prefix_stays_ipv6(self):
        """As in Rust, the prefix itself is not made canonical: a
        `::ffff:…` entry matches no source, since sources are."""
        mapped = Prefix.parse("::ffff:192.0.2.0/120")
        self.assertFalse(mapped.contains("192.0.2.1"))
        self.assertFalse(mapped.contains("::ffff:192.0.2.1"))


if __name__ == "__main__":
    unittest.main()
