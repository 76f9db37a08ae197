"""Addresses of the hop a request came from, and the address prefixes
(`192.0.2.0/24`) by which policies name the peers they trust.

`Prefix` accepts and refuses exactly what the Rust SDK's `Prefix` does
(plugins/sdk/src/net.rs), with the same error texts, so that a manifest
entry means the same thing to a Python policy as to its Rust twin. For that
the addresses are read with a port of Rust's `IpAddr::from_str` and written
as Rust's `Display` writes them, not with the `ipaddress` module, which
differs at the edges: it takes IPv6 scope ids (`fe80::1%eth0`) and writes
`::ffff:192.0.2.7` as `::ffff:c000:207`.
"""

from . import rust

_DEC = {c: int(c) for c in "0123456789"}
_HEX = {c: int(c, 16) for c in "0123456789abcdefABCDEF"}


def _read_number(s, i, radix, max_digits, allow_zero_prefix, limit):
    """Rust's `Parser::read_number`: digits up to `max_digits`, value at most
    `limit`; a leading zero only when allowed (never in IPv4: `010` would
    read as octal elsewhere)."""
    digits = _DEC if radix == 10 else _HEX
    j, value, count = i, 0, 0
    n = len(s)
    while j < n and s[j] in digits:
        value = value * radix + digits[s[j]]
        count += 1
        j += 1
        if count > max_digits:
            return None
    if count == 0 or (not allow_zero_prefix and s[i] == "0" and count > 1) or value > limit:
        return None
    return value, j


def _read_ipv4(s, i):
    value = 0
    for group in range(4):
        if group > 0:
            if i >= len(s) or s[i] != ".":
                return None
            i += 1
        read = _read_number(s, i, 10, 3, False, 0xFF)
        if read is None:
            return None
        value = (value << 8) | read[0]
        i = read[1]
    return value, i


def _read_groups(s, i, limit):
    """Colon-separated 16-bit groups, at most `limit`, the last two of which
    may be an embedded IPv4 address; returns (groups, ended_in_ipv4, index)."""
    groups = []
    for k in range(limit):
        if k < limit - 1:
            j = i
            if k > 0:
                j = i + 1 if i < len(s) and s[i] == ":" else None
            if j is not None:
                v4 = _read_ipv4(s, j)
                if v4 is not None:
                    groups += [v4[0] >> 16, v4[0] & 0xFFFF]
                    return groups, True, v4[1]
        j = i
        if k > 0:
            if i >= len(s) or s[i] != ":":
                return groups, False, i
            j = i + 1
        read = _read_number(s, j, 16, 4, True, 0xFFFF)
        if read is None:
            return groups, False, i
        groups.append(read[0])
        i = read[1]
    return groups, False, i


def _read_ipv6(s, i):
    head, head_ipv4, i = _read_groups(s, i, 8)
    if len(head) < 8:
        if head_ipv4 or s[i:i + 2] != "::":
            return None
        # `::` stands for at least one group of zeros.
        tail, _, i = _read_groups(s, i + 2, 8 - (len(head) + 1))
        head = head + [0] * (8 - len(head) - len(tail)) + tail
    value = 0
    for group in head:
        value = (value << 16) | group
    return value, i


def parse_ip(text):
    """Rust's `IpAddr::from_str`: `(4, int)` or `(6, int)`, or None. As in
    Rust, IPv4 is tried first and the whole text must be consumed; IPv4
    followed by more text is not retried as IPv6 (it could not be one)."""
    v4 = _read_ipv4(text, 0)
    if v4 is not None:
        return (4, v4[0]) if v4[1] == len(text) else None
    v6 = _read_ipv6(text, 0)
    if v6 is not None and v6[1] == len(text):
        return 6, v6[0]
    return None


def parse_ipv6(text):
    """Rust's `Ipv6Addr::from_str`: the address as an int, or None."""
    read = _read_ipv6(text, 0)
    if read is None or read[1] != len(text):
        return None
    return read[0]


def format_ipv4(value):
    return "%d.%d.%d.%d" % (value >> 24, (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF)


def format_ipv6(value):
    """Rust's `Display` for `Ipv6Addr`: RFC 5952, the first longest run of two
    or more zero groups as `::`, and IPv4-mapped addresses as `::ffff:a.b.c.d`."""
    if value >> 32 == 0xFFFF:
        return "::ffff:" + format_ipv4(value & 0xFFFFFFFF)
    groups = [(value >> (16 * (7 - k))) & 0xFFFF for k in range(8)]
    best_start, best_len, start, length = 0, 0, 0, 0
    for k, group in enumerate(groups):
        if group == 0:
            if length == 0:
                start = k
            length += 1
            if length > best_len:
                best_start, best_len = start, length
        else:
            length = 0
    if best_len > 1:
        before = ":".join("%x" % g for g in groups[:best_start])
        after = ":".join("%x" % g for g in groups[best_start + best_len:])
        return before + "::" + after
    return ":".join("%x" % g for g in groups)


def format_ip(version, value):
    return format_ipv4(value) if version == 4 else format_ipv6(value)


def _masked(version, value, bits):
    width = 32 if version == 4 else 128
    mask = ((1 << bits) - 1) << (width - bits)
    return value & mask


def address_of(address):
    """An address as `(version, int)`: a contract `IpAddress` (the generated
    `types.IpAddress_Ipv4` / `IpAddress_Ipv6`, whose `value` is a tuple of 4
    bytes or 8 16-bit groups), an `ipaddress` address, or text."""
    value = getattr(address, "value", None)
    if isinstance(value, tuple):
        if len(value) == 4:
            a, b, c, d = value
            return 4, (a << 24) | (b << 16) | (c << 8) | d
        if len(value) == 8:
            n = 0
            for group in value:
                n = (n << 16) | group
            return 6, n
    version = getattr(address, "version", None)
    if version in (4, 6) and hasattr(address, "packed"):
        return version, int(address)
    if isinstance(address, str):
        parsed = parse_ip(address)
        if parsed is not None:
            return parsed
        raise ValueError(f"`{address}` is not an IP address")
    raise TypeError(f"not an IP address: {address!r}")


class Prefix:
    """An address prefix from a policy's configuration: `192.0.2.0/24`,
    `2001:db8::/32`, or one address (`192.0.2.7`, `::1`).

    Parse entries once, in `init`, and ask `contains` on each request.
    """

    __slots__ = ("version", "network", "bits", "_mask")

    def __init__(self, version, network, bits):
        self.version = version
        self.network = network
        self.bits = bits
        width = 32 if version == 4 else 128
        self._mask = ((1 << bits) - 1) << (width - bits)

    @classmethod
    def parse(cls, entry):
        """Parse a configuration entry, or raise `ValueError` saying what is
        wrong, worded to follow the entry: `f"`{entry}` {error}"`.

        An address with bits set beyond its prefix (`192.0.2.7/24`) is
        refused rather than masked: it is most likely a typo for `/32` or
        `.0/24`, and guessing could trust 255 peers by accident.
        """
        entry = rust.trim(entry)
        address, slash, bits_text = entry.partition("/")
        parsed = parse_ip(address)
        if parsed is None:
            raise ValueError("is not an IP address or CIDR prefix")
        version, network = parsed
        width = 32 if version == 4 else 128
        if not slash:
            bits = width
        else:
            # Digits only: Rust's `u8::from_str` would also take `+24`, and
            # Python's `int` takes `2_4` and non-ASCII digits.
            bits = int(bits_text) if bits_text and all(rust.is_ascii_digit(c) for c in bits_text) else None
            if bits is None or bits > 255 or bits > width:
                raise ValueError(f"has a bad prefix length `/{bits_text}` (0-{width})")
        masked = _masked(version, network, bits)
        if masked != network:
            raise ValueError(
                f"has bits set beyond its /{bits} prefix (did you mean `{format_ip(version, masked)}/{bits}`?)"
            )
        return cls(version, network, bits)

    def contains(self, address):
        """Whether `address` (see `address_of`) is in the prefix. An IPv4 peer
        seen through a dual-stack socket (`::ffff:192.0.2.7`) is compared as
        the IPv4 address it is."""
        version, value = address_of(address)
        if version == 6 and value >> 32 == 0xFFFF:
            version, value = 4, value & 0xFFFFFFFF
        return version == self.version and value & self._mask == self.network

    def __eq__(self, other):
        return isinstance(other, Prefix) and (self.version, self.network, self.bits) == (
            other.version, other.network, other.bits)

    def __hash__(self):
        return hash((self.version, self.network, self.bits))

    def __str__(self):
        return f"{format_ip(self.version, self.network)}/{self.bits}"

    def __repr__(self):
        return f"Prefix({str(self)!r})"
