"""The host's reading of SIP syntax, in Python: tokens and quoted strings,
header parameters, name-addr / addr-spec and the lists they come in, URIs
(the check every URI passes, and `sip:` / `sips:` URIs in parts).

This is a port of the host's `sipwarden-grammar` crate (host/grammar), the
code the host parses messages with and the Rust SDK re-exports. In a
security product two readings of one identity are a hole waiting to open,
so a Python policy reads SIP here, and this module accepts, refuses and
splits what the crate does, with the same error texts (`str()` of an error
is the crate's `Display`). The tests in plugins/sdk-python/tests are the
crate's own, where they apply.

Not ported: `tel:` URIs (RFC 3966), E.164 normalisation, Digest
parameters. A policy that needs them asks the host (the `directory`
capability normalises numbers; `credentials` verifies Digest) or waits for
them here.

Values reach this module as the host hands them out: unfolded, one line,
white space reduced to SP and HT. A line break left in a value is refused
wherever it appears, never taken for white space.
"""

from . import rust
from .net import format_ipv6, parse_ip, parse_ipv6

__all__ = [
    "GrammarError", "QuotedError", "ParamError", "UriError", "AddressError", "ListError",
    "is_token", "is_token_char", "quoted_string", "unquote", "quote", "excerpt",
    "Params", "Address", "uri_of", "split_list",
    "check_uri", "HostPort", "SipUri", "canonical_host", "unescape", "target_uri", "aor_of",
]


# ---------------------------------------------------------------------------
# Errors

def excerpt(text):
    """Untrusted text quoted for an error message or reason phrase: in double
    quotes, control characters (line breaks included) escaped, at most 48
    characters kept and `…` after a cut. What it returns can never inject a
    header or a log line."""
    out = rust.escape_debug(text[:48])
    if len(text) > 48:
        out += "…"
    return f'"{out}"'


class GrammarError(ValueError):
    """Why a value was refused. `kind` names the case (the Rust variant:
    `"BadPort"`, `"TrailingText"`…), `fields` what it holds; `str()` is the
    short phrase the host would say, safe in a reason phrase."""

    _texts = {}

    def __init__(self, kind, *fields):
        if kind not in self._texts:
            raise ValueError(f"{type(self).__name__} has no kind {kind!r}")
        super().__init__(kind, *fields)
        self.kind = kind
        self.fields = fields

    def __str__(self):
        text = self._texts[self.kind]
        return text(*self.fields) if callable(text) else text

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(map(repr, (self.kind,) + self.fields))})"

    def __eq__(self, other):
        return type(other) is type(self) and (other.kind, other.fields) == (self.kind, self.fields)

    def __hash__(self):
        return hash((type(self), self.kind, self.fields))


class QuotedError(GrammarError):
    """Why a quoted string could not be read."""

    _texts = {
        "NotQuoted": "expected a quoted string",
        "BadEscape": "bad escape in a quoted string",
        "ControlCharacter": "control character in a quoted string",
        "Unterminated": "unterminated quoted string",
    }


class ParamError(GrammarError):
    """Why a header parameter list could not be read."""

    _texts = {
        "Unexpected": lambda c: f"unexpected {excerpt(c)} where a parameter should start",
        "EmptyName": "empty parameter name",
        "EmptyValue": lambda name: f"parameter {excerpt(name)} has an empty value",
        "Quoted": str,
    }


_PARTS = {"Uri": "URI", "User": "user part", "Password": "password", "Parameters": "URI parameters",
          "Headers": "URI headers"}


class UriError(GrammarError):
    """Why a URI was refused. A `BadEscape` holds the part (`"User"`…), a
    `BadCharacter` the character and the part."""

    _texts = {
        "NoScheme": "no scheme",
        "BadScheme": lambda scheme: f"{excerpt(scheme)} is not a URI scheme",
        "NothingAfterScheme": "nothing follows the scheme",
        "BadEscape": lambda part: f"bad % escape in the {_PARTS[part]}",
        "BadCharacter": lambda c, part: f"character {excerpt(c)} is not allowed in the {_PARTS[part]}",
        "EmptyUser": "empty user part",
        "HeadersNotAllowed": "URI headers (?name=value) are not allowed here",
        "EmptyParameter": "empty URI parameter",
        "MalformedHeader": "malformed URI header",
        "UnterminatedIpv6": "unterminated IPv6 reference",
        "BadIpv6": lambda address: f"{excerpt(address)} is not an IPv6 address",
        "JunkAfterIpv6": "junk after the IPv6 reference",
        "BadPort": lambda port: f"{excerpt(port)} is not a port number",
        "BadHost": lambda host: f"{excerpt(host)} is not a host name",
        "NotSip": lambda scheme: f"{excerpt(scheme)} URI is not a SIP URI",
    }


class AddressError(GrammarError):
    """Why a header value is not one address. `Quoted`, `Uri` and `Param`
    hold the error of the part that was refused."""

    _texts = {
        "MissingUri": "missing URI",
        "SpaceInBrackets": "white space inside <>",
        "MissingClosingBracket": "missing > after the URI",
        "QuotedNameWithoutBrackets": "a quoted display name must be followed by <URI>",
        "BadDisplayName": "an unquoted display name must be a list of tokens",
        "Quoted": str,
        "Uri": str,
        "Param": str,
        "TrailingText": "unexpected text after the address",
    }


class ListError(GrammarError):
    """Why a header value could not be split into a list."""

    _texts = {
        "Unterminated": "unterminated quoted string or <URI>",
        "EmptyElement": "empty list element",
    }


# ---------------------------------------------------------------------------
# Tokens and quoted strings (RFC 3261 §25.1)

_TOKEN_EXTRA = frozenset("-.!%*_+`'~")


def is_token_char(c):
    """A character of an RFC 3261 `token` (methods, header and parameter
    names): SIP's token, not HTTP's, which adds `# $ & ^ |`."""
    return rust.is_ascii_alphanumeric(c) or c in _TOKEN_EXTRA


def is_token(text):
    """Whether `text` is an RFC 3261 `token`: one or more token characters."""
    return bool(text) and all(is_token_char(c) for c in text)


def _is_ws(c):
    return c == " " or c == "\t"


def _trim_ws(text):
    return text.strip(" \t")


def quoted_string(text):
    """Reads the `quoted-string` that `text` starts with: returns it, quotes
    included, and the text after its closing quote. Raises `QuotedError`.

    `qdtext` is any character but `"`, `\\` and controls other than HT (the
    C1 controls are refused too: nothing legitimate needs them, and a log
    that echoes them could be misread); a `quoted-pair` is `\\` and any
    ASCII character but CR and LF."""
    if not text.startswith('"'):
        raise QuotedError("NotQuoted")
    i, n = 1, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return text[:i + 1], text[i + 1:]
        if c == "\\":
            if i + 1 >= n or not text[i + 1].isascii() or text[i + 1] in "\r\n":
                raise QuotedError("BadEscape")
            i += 2
            continue
        if rust.is_control(c) and c != "\t":
            raise QuotedError("ControlCharacter")
        i += 1
    raise QuotedError("Unterminated")


def unquote(quoted):
    """The value of a quoted string (quotes included): quotes removed and
    each `quoted-pair` replaced by the character it escapes. Text that is not
    quoted comes back as it is."""
    if len(quoted) < 2 or not (quoted.startswith('"') and quoted.endswith('"')):
        return quoted
    inner = quoted[1:-1]
    if "\\" not in inner:
        return inner
    out, i = [], 0
    while i < len(inner):
        if inner[i] == "\\":
            out.append(inner[i + 1:i + 2])
            i += 2
        else:
            out.append(inner[i])
            i += 1
    return "".join(out)


def quote(value):
    """`value` as a quoted string that `quoted_string` reads back and
    `unquote` turns into `value` again; None when `value` holds what no
    quoted string can carry (a CR, an LF or a C1 control)."""
    out = ['"']
    for c in value:
        if c in "\r\n":
            return None
        if c == "\t":
            pass
        elif c in '"\\' or (c.isascii() and rust.is_control(c)):
            out.append("\\")
        elif rust.is_control(c):
            return None
        out.append(c)
    out.append('"')
    return "".join(out)


# ---------------------------------------------------------------------------
# Header parameters: *( SEMI generic-param )

def _next_param(rest):
    """The next `SEMI generic-param` of `rest`: (param or None, rest).
    None at the end of the text or at a comma, where `rest` is left with its
    white space skipped. Raises `ParamError`."""
    text = rest.lstrip(" \t")
    if not text or text[0] == ",":
        return None, text
    if text[0] != ";":
        raise ParamError("Unexpected", text[0])
    after_semi = text[1:].lstrip(" \t")
    end = 0
    while end < len(after_semi) and is_token_char(after_semi[end]):
        end += 1
    name, after_name = after_semi[:end], after_semi[end:]
    if not name:
        raise ParamError("EmptyName")
    after_name = after_name.lstrip(" \t")
    if not after_name.startswith("="):
        return (name, None), after_name
    value_text = after_name[1:].lstrip(" \t")
    if value_text.startswith('"'):
        try:
            value, after = quoted_string(value_text)
        except QuotedError as error:
            raise ParamError("Quoted", error) from None
    else:
        # gen-value: token / host, so IPv6 references too.
        end = 0
        while end < len(value_text) and (is_token_char(value_text[end]) or value_text[end] in "[]:"):
            end += 1
        value, after = value_text[:end], value_text[end:]
    if not value:
        raise ParamError("EmptyValue", name)
    return (name, value), after


class Params:
    """One header parameter list, checked when it was read.

    `generic-param = token [ EQUAL gen-value ]`, white space allowed around
    `;` and `=`. Names compare without regard to case; values are handed out
    as written, a quoted value with its quotes (`unquote` reads it)."""

    __slots__ = ("text",)

    def __init__(self, text=""):
        self.text = text

    @classmethod
    def parse(cls, text):
        """Reads parameters from the start of `text` up to its end or a comma
        outside a quoted value; returns them and the rest (empty, or starting
        at that comma). Raises `ParamError`."""
        rest, end = text, 0
        while True:
            param, rest = _next_param(rest)
            if param is None:
                break
            end = len(text) - len(rest)
        return cls(text[:end]), rest

    def as_str(self):
        return self.text

    def __iter__(self):
        """The parameters in order: (name as written, value as written or
        None for a flag such as `lr`)."""
        rest = self.text
        while True:
            param, rest = _next_param(rest)
            if param is None:
                return
            yield param

    def is_empty(self):
        return next(iter(self), None) is None

    def get(self, name):
        """The value of the first parameter `name` (case-insensitive): None
        when absent, "" for a flag."""
        folded = rust.to_ascii_lowercase(name)
        for key, value in self:
            if rust.to_ascii_lowercase(key) == folded:
                return "" if value is None else value
        return None

    def __eq__(self, other):
        return isinstance(other, Params) and other.text == self.text

    def __repr__(self):
        return f"Params({self.text!r})"


# ---------------------------------------------------------------------------
# Addresses (RFC 3261 §20.10, §25.1)

def _find_unquoted(text, target):
    """The index of the first `target` outside a quoted string (a quoted
    display name or parameter value, where `<`, `,` and `;` are text)."""
    quoted = escaped = False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            if c == "\\":
                escaped = True
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == target:
            return i
    return None


def _first_of(text, chars):
    for i, c in enumerate(text):
        if c in chars:
            return i
    return len(text)


class Address:
    """One address of a header value: `( name-addr / addr-spec ) *( SEMI
    generic-param )`.

    In the addr-spec form (no `<>`), the URI ends at the first `;`, `,` or
    white space, and what follows `;` are header parameters, never the URI's
    own: `sip:alice@example.com;tag=1` is the URI `sip:alice@example.com`
    with a `tag` (RFC 3261 §20.10)."""

    __slots__ = ("display", "uri", "bracketed", "params")

    def __init__(self, display, uri, bracketed, params):
        self.display = display  # as written: quoted with its quotes, or tokens; None when absent
        self.uri = uri          # without the angle brackets
        self.bracketed = bracketed
        self.params = params

    @classmethod
    def parse(cls, value):
        """Reads one address and checks all of it: the display name, the URI
        (`check_uri`; URI headers only inside `<>`), the parameters, and that
        nothing follows. Raises `AddressError`."""
        return _read_address(value, True)

    @classmethod
    def split(cls, value):
        """As `parse`, without checking the URI's characters: for a value
        the host has accepted before (it checks From and To when it parses
        the message)."""
        return _read_address(value, False)

    def display_name(self):
        """The display name, unquoted if it was quoted; None when there is
        none or it is empty."""
        if self.display is None:
            return None
        return unquote(self.display) or None

    def is_name_addr(self):
        """Whether the URI was in `<>`."""
        return self.bracketed

    def param(self, name):
        """The value of the first header parameter `name` (case-insensitive):
        None when absent, "" for a flag, a quoted value with its quotes."""
        return self.params.get(name)

    def __eq__(self, other):
        return isinstance(other, Address) and (self.display, self.uri, self.bracketed, self.params) == (
            other.display, other.uri, other.bracketed, other.params)

    def __repr__(self):
        return f"Address(display={self.display!r}, uri={self.uri!r}, bracketed={self.bracketed}, {self.params!r})"


def _read_address(value, check):
    text = _trim_ws(value)
    display = bracketed = None
    if text.startswith('"'):
        try:
            quoted, after = quoted_string(text)
        except QuotedError as error:
            raise AddressError("Quoted", error) from None
        inner = after.lstrip(" \t")
        if not inner.startswith("<"):
            raise AddressError("QuotedNameWithoutBrackets")
        display, bracketed = quoted, inner[1:]
    else:
        opening = _find_unquoted(text, "<")
        if opening is not None:
            name = _trim_ws(text[:opening])
            if not all(word == "" or is_token(word) for word in _split_ws(name)):
                raise AddressError("BadDisplayName")
            display, bracketed = (name or None), text[opening + 1:]
    if bracketed is not None:
        uri, closing, after = bracketed.partition(">")
        if not closing:
            raise AddressError("MissingClosingBracket")
        if " " in uri or "\t" in uri:
            raise AddressError("SpaceInBrackets")
    else:
        end = _first_of(text, ";, \t")
        uri, after = text[:end], text[end:]
    if not uri:
        raise AddressError("MissingUri")
    if check:
        try:
            check_uri(uri, bracketed is not None)
        except UriError as error:
            raise AddressError("Uri", error) from None
    try:
        params, rest = Params.parse(after)
    except ParamError as error:
        if error.kind == "Unexpected":
            raise AddressError("TrailingText") from None
        raise AddressError("Param", error) from None
    if rest:
        raise AddressError("TrailingText")
    return Address(display, uri, bracketed is not None, params)


def _split_ws(text):
    """Rust's `text.split(is_ws)`: on every SP and HT, empty words kept."""
    return text.replace("\t", " ").split(" ")


def uri_of(value):
    """The URI of one address in a header value (From, To, Contact, Route,
    P-Asserted-Identity), read and checked as `Address.parse` reads it:
    `"Alice" <sip:a@b;lr>;tag=1` gives `sip:a@b;lr`, `sip:a@b;tag=1` gives
    `sip:a@b`. Raises `AddressError`."""
    return Address.parse(value).uri


def split_list(value):
    """Splits a header value at the commas that separate its elements: not
    those in a quoted string (`"Doe, John"`), nor those inside `<…>` (a SIP
    user part may hold a comma). Elements come back without surrounding
    white space. Raises `ListError` for an unterminated quote or `<`, and
    for an empty element (`a,,b`, a trailing comma)."""
    elements = []
    quoted = escaped = bracketed = False
    start = 0
    for i, c in enumerate(value):
        if escaped:
            escaped = False
            continue
        if quoted:
            if c == "\\":
                escaped = True
            elif c == '"':
                quoted = False
            continue
        if c == '"' and not bracketed:
            quoted = True
        elif c == "<":
            bracketed = True
        elif c == ">":
            bracketed = False
        elif c == "," and not bracketed:
            elements.append(_trim_ws(value[start:i]))
            start = i + 1
    if quoted or bracketed:
        raise ListError("Unterminated")
    elements.append(_trim_ws(value[start:]))
    if any(not element for element in elements):
        raise ListError("EmptyElement")
    return elements


# ---------------------------------------------------------------------------
# URIs (RFC 3261 §19.1, §25.1)

_UNRESERVED = frozenset("-_.!~*'()")
_RESERVED = frozenset(";/?:@&=+$,[]")
_USER = frozenset("&=+$,;?/")
_PASSWORD = frozenset("&=+$,")
_PARAM = frozenset("[]/:&+$")
_HEADER = frozenset("[]/?:+$")


def _is_unreserved(c):
    return rust.is_ascii_alphanumeric(c) or c in _UNRESERVED


def _check_chars(part, extra, what):
    """Only unreserved characters, characters from `extra` and well-formed
    `%HH` escapes; raises `UriError` naming the first other one, whole."""
    i, n = 0, len(part)
    while i < n:
        c = part[i]
        if c == "%":
            if not (i + 2 < n and rust.is_ascii_hexdigit(part[i + 1]) and rust.is_ascii_hexdigit(part[i + 2])):
                raise UriError("BadEscape", what)
            i += 3
        elif _is_unreserved(c) or c in extra:
            i += 1
        else:
            raise UriError("BadCharacter", c, what)


def check_uri(uri, allow_headers):
    """Checks a URI: any absolute URI (RFC 3261 §25.1 `absoluteURI`), and the
    full SIP-URI structure for `sip:` and `sips:`. URI headers (`?h=v`) are
    refused unless `allow_headers` (a Request-URI must not have them).
    Raises `UriError`."""
    scheme, colon, rest = uri.partition(":")
    if not colon:
        raise UriError("NoScheme")
    if not (scheme and rust.is_ascii_alphabetic(scheme[0])
            and all(rust.is_ascii_alphanumeric(c) or c in "+-." for c in scheme[1:])):
        raise UriError("BadScheme", scheme)
    if not rest:
        raise UriError("NothingAfterScheme")
    _check_chars(rest, _RESERVED, "Uri")
    if rust.to_ascii_lowercase(scheme) in ("sip", "sips"):
        _check_sip_uri(rest, allow_headers)


def _check_sip_uri(rest, allow_headers):
    """`[ userinfo "@" ] hostport uri-parameters [ headers ]`. Neither
    userinfo nor what follows the host may contain `@`, so the first `@` ends
    the userinfo even though the user part may contain `?`."""
    userinfo, at, host_part = rest.partition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if not user:
            raise UriError("EmptyUser")
        _check_chars(user, _USER, "User")
        if colon:
            _check_chars(password, _PASSWORD, "Password")
    else:
        host_part = rest
    host_part, question, headers = host_part.partition("?")
    if question and not allow_headers:
        raise UriError("HeadersNotAllowed")
    params = host_part.split(";")
    HostPort.parse(params[0])
    for param in params[1:]:
        name, equals, value = param.partition("=")
        if not name or (equals and not value):
            raise UriError("EmptyParameter")
        _check_chars(name, _PARAM, "Parameters")
        _check_chars(value, _PARAM, "Parameters")
    if question:
        for header in headers.split("&"):
            name, equals, value = header.partition("=")
            if not equals or not name:
                raise UriError("MalformedHeader")
            _check_chars(name, _HEADER, "Headers")
            _check_chars(value, _HEADER, "Headers")


def _check_hostname(host):
    """A host name or IPv4 address: dot-separated labels of letters, digits
    and inner hyphens, with an optional final dot."""
    labels = host[:-1] if host.endswith(".") else host
    valid = bool(labels) and all(
        label and not label.startswith("-") and not label.endswith("-")
        and all(rust.is_ascii_alphanumeric(c) or c == "-" for c in label)
        for label in labels.split(".")
    )
    if not valid:
        raise UriError("BadHost", host)


class HostPort:
    """`host [ ":" port ]` (RFC 3261 §25.1 `hostport`, also a Via's
    sent-by): a host name, an IPv4 address or a bracketed IPv6 reference."""

    __slots__ = ("host", "port")

    def __init__(self, host, port):
        self.host = host  # as written: an IPv6 reference keeps its brackets
        self.port = port  # an int, or None when none is written

    @classmethod
    def parse(cls, text):
        """Reads `text`, which must be a `hostport` and nothing else. Raises
        `UriError`."""
        if text.startswith("["):
            address, closing, after = text[1:].partition("]")
            if not closing:
                raise UriError("UnterminatedIpv6")
            if parse_ipv6(address) is None:
                raise UriError("BadIpv6", address)
            if after and not after.startswith(":"):
                raise UriError("JunkAfterIpv6")
            host, port = text[:len(address) + 2], (after[1:] if after else None)
        else:
            host, colon, port = text.partition(":")
            _check_hostname(host)
            port = port if colon else None
        if port is not None:
            if not port or not all(rust.is_ascii_digit(c) for c in port) or int(port) > 0xFFFF:
                raise UriError("BadPort", port)
            port = int(port)
        return cls(host, port)

    def __eq__(self, other):
        return isinstance(other, HostPort) and (self.host, self.port) == (other.host, other.port)

    def __repr__(self):
        return f"HostPort({self.host!r}, {self.port!r})"


class SipUri:
    """A `sip:` or `sips:` URI (RFC 3261 §19.1), checked against the grammar
    when it was parsed, so every part it hands out is well formed.

    It keeps the text it was read from, with the parts RFC 3261 §19.1.4
    compares without regard to case (scheme, host, parameter names) in lower
    case, everything else as written, escapes included. There is
    deliberately no `==`: two spellings RFC 3261 calls equivalent differ as
    text. Compare with `same_target`, `aor` or `binding_key`."""

    __slots__ = ("text", "secure", "user", "password", "host", "port", "_params", "_headers")

    @classmethod
    def parse(cls, text):
        """Parses a bare URI (not a name-addr: see `Address`). URI headers
        are allowed. Raises `UriError` (`NotSip` for another scheme)."""
        check_uri(text, True)
        colon = text.index(":")
        scheme = rust.to_ascii_lowercase(text[:colon])
        if scheme not in ("sip", "sips"):
            raise UriError("NotSip", scheme)
        rest = text[colon + 1:]
        userinfo, at, host_part = rest.partition("@")
        if at:
            user, colon_in_userinfo, password = userinfo.partition(":")
            password = password if colon_in_userinfo else None
        else:
            user = password = None
            host_part = rest
        before_headers, question, headers = host_part.partition("?")
        hostport_text, semi, params = before_headers.partition(";")
        hostport = HostPort.parse(hostport_text)
        uri = cls.__new__(cls)
        uri.secure = scheme == "sips"
        uri.user = user
        uri.password = password
        uri.host = rust.to_ascii_lowercase(hostport.host)
        uri.port = hostport.port
        uri._params = [_fold_param_name(p) for p in params.split(";")] if semi else []
        uri._headers = headers if question else None
        # The text, with the folded parts folded in place (ASCII only).
        rebuilt = scheme + ":"
        if at:
            rebuilt += userinfo + "@"
        rebuilt += uri.host + hostport_text[len(hostport.host):]
        if semi:
            rebuilt += ";" + ";".join(uri._params)
        if question:
            rebuilt += "?" + headers
        uri.text = rebuilt
        return uri

    def as_str(self):
        return self.text

    def __str__(self):
        return self.text

    def __repr__(self):
        return f"SipUri({self.text!r})"

    def is_secure(self):
        """`sips:`: every hop must be secured (RFC 3261 §26.2.2)."""
        return self.secure

    def scheme(self):
        return "sips" if self.secure else "sip"

    def port_or_default(self):
        """The port, or the scheme's default: 5061 for `sips:`, 5060 for `sip:`."""
        if self.port is not None:
            return self.port
        return 5061 if self.secure else 5060

    def ip(self):
        """The host as `(version, int)` if it is an IP address, else None."""
        host = self.host
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return parse_ip(host)

    def params(self):
        """The URI parameters in order: (name in lower case, value as written
        or None for a flag such as `lr`)."""
        out = []
        for param in self._params:
            name, equals, value = param.partition("=")
            out.append((name, value if equals else None))
        return out

    def param(self, name):
        """The value of the first URI parameter `name` (case-insensitive):
        None when absent, "" for a flag."""
        folded = rust.to_ascii_lowercase(name)
        for key, value in self.params():
            if key == folded:
                return "" if value is None else value
        return None

    def headers(self):
        """The URI headers (`?name=value&…`) in order, as written."""
        if self._headers is None:
            return []
        out = []
        for header in self._headers.split("&"):
            name, equals, value = header.partition("=")
            out.append((name, value) if equals else (header, ""))
        return out

    def canonical_user(self):
        """The user part in the form users are compared in (RFC 3261
        §19.1.4): escapes of unreserved characters decoded, other escapes in
        upper-case hex. None without a user part."""
        return None if self.user is None else _canonical_user(self.user)

    def canonical_host(self):
        return canonical_host(self.host)

    def aor(self):
        """The canonical address-of-record: `sip:user@host` (`sips:` kept),
        canonical user and host, without password, port, parameters and
        headers."""
        user = self.canonical_user()
        if user is None:
            return f"{self.scheme()}:{self.canonical_host()}"
        return f"{self.scheme()}:{user}@{self.canonical_host()}"

    def binding_key(self):
        """What identifies a Contact URI in a location service: the aor, the
        port when written and the transport in lower case."""
        key = self.aor()
        if self.port is not None:
            key += f":{self.port}"
        transport = self.param("transport")
        if transport is not None:
            key += f";transport={rust.to_ascii_lowercase(transport)}"
        return key

    def same_target(self, other):
        """Whether two URIs name the same target: scheme, canonical user and
        host, and port, the default port counting as written."""
        return (self.secure == other.secure and self.canonical_user() == other.canonical_user()
                and self.canonical_host() == other.canonical_host()
                and self.port_or_default() == other.port_or_default())


def _fold_param_name(param):
    name, equals, value = param.partition("=")
    return rust.to_ascii_lowercase(name) + equals + value


def _hex_byte(text):
    if len(text) == 2 and rust.is_ascii_hexdigit(text[0]) and rust.is_ascii_hexdigit(text[1]):
        return int(text, 16)
    return None


def _canonical_user(user):
    if "%" not in user:
        return user
    out, i = [], 0
    while i < len(user):
        byte = _hex_byte(user[i + 1:i + 3]) if user[i] == "%" else None
        if byte is None:
            out.append(user[i])
            i += 1
            continue
        out.append(chr(byte) if _is_unreserved(chr(byte)) else "%%%02X" % byte)
        i += 3
    return "".join(out)


def canonical_host(host):
    """A host in the form hosts are compared in: lower case, without the
    final dot of a fully qualified name, IPv6 addresses in brackets and in
    their RFC 5952 form (`[2001:DB8:0::1]` is `[2001:db8::1]`)."""
    unbracketed = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    v6 = parse_ipv6(unbracketed)
    if v6 is not None:
        return f"[{format_ipv6(v6)}]"
    return rust.to_ascii_lowercase(host[:-1] if host.endswith(".") else host)


def unescape(text):
    """A URI part with its `%HH` escapes decoded (`%61lice` is `alice`): what
    the part means, for reading a number or comparing with a user name. None
    when an escape is broken or the result is not UTF-8."""
    if "%" not in text:
        return text
    data = text.encode()
    out, i = bytearray(), 0
    while i < len(data):
        if data[i] == 0x25:  # %
            byte = _hex_byte(data[i + 1:i + 3].decode("latin-1"))
            if byte is None:
                return None
            out.append(byte)
            i += 3
        else:
            out.append(data[i])
            i += 1
    try:
        return out.decode()
    except UnicodeDecodeError:
        return None


def target_uri(uri_or_name_addr):
    """The URI of a Request-URI or of a name-addr, as text. Text without `<`
    is read as a bare URI, whose `;` parameters are the URI's own. None for
    a name-addr that does not read as one; the URI itself is not checked."""
    text = _trim_ws(uri_or_name_addr)
    if _find_unquoted(text, "<") is not None:
        try:
            return Address.parse(text).uri
        except AddressError:
            return None
    return text


def aor_of(uri_or_name_addr):
    """The canonical address-of-record (`SipUri.aor`) of a Request-URI or a
    name-addr, read as `target_uri` reads it; None for text that is not a
    valid URI or name-addr, and for schemes other than `sip` and `sips`."""
    uri = target_uri(uri_or_name_addr)
    if uri is None:
        return None
    try:
        return SipUri.parse(uri).aor()
    except UriError:
        return None
