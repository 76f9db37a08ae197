"""SEC-4 / REG-1 in Python: signalling and registration data are transported
securely.

The twin of plugins/secure-transport (Rust): the same configuration, refused
with the same words, and the same decision on every request, Warning
included.

> **SEC-4** Signalling and user data SHALL be transported securely.
> **REG-1** Registration data SHALL be transported securely.

A request of the enforced methods that arrives over a plain transport (UDP,
TCP, or WebSocket without TLS) is refused, unless it comes from a trusted
peer (the SIP/IP core, whose links the operator secures otherwise). TLS and
secure WebSocket (`wss`) pass. The refusal carries a Warning that tells the
client where to go instead:

    SIP/2.0 403 TLS Required
    Warning: 399 proxy.example.com "Use TLS: send to sips:proxy.example.com:5061"

Without `tls-uri` the warn-agent is the pseudonym `sipwarden` and the text
gives no address: `Warning: 399 sipwarden "Use TLS"`.

**SIPS (RFC 3261 §26.2.2).** A request whose Request-URI or To is a `sips:`
URI asks for TLS on every hop. One that arrives over a plain transport is
refused with the same status and the reason `SIPS Requires TLS` (and the
same Warning), whatever its method and even from a trusted peer.

**Methods.** By default every method that carries IM signalling or user data
is enforced; `OPTIONS` is not (load balancers probe with it over UDP).

Configuration (the manifest's `[config]` table):

    [config]
    methods = ["REGISTER", "MESSAGE", "INVITE", "UPDATE", "PRACK", "INFO", "BYE",
               "SUBSCRIBE", "NOTIFY", "PUBLISH", "REFER"]   # the default
    trusted-peers = ["10.1.0.0/16", "2001:db8:c0::/48", "192.0.2.7"]   # default none
    status = 403                 # 400-699 (default 403)
    reason = "TLS Required"      # (default "TLS Required")
    tls-uri = "sips:proxy.example.com:5061"   # for the Warning (default none)

A source address is matched as the hop that sent the request, never as
anything the message claims; an IPv4 peer seen on a dual-stack socket
(`::ffff:10.1.2.3`) is matched as its IPv4 address (`Prefix.contains`).
"""

from wit_world.imports.types import Transport

import sipwarden_sdk
from sipwarden_sdk import ConfigError, Header, Prefix, Verdict, config, rust
from sipwarden_sdk.grammar import AddressError, SipUri, UriError, is_token, uri_of

CONFIG = config.Schema(
    config.Field("methods", config.List(config.String),
                 default=["REGISTER", "MESSAGE", "INVITE", "UPDATE", "PRACK", "INFO", "BYE", "SUBSCRIBE", "NOTIFY",
                          "PUBLISH", "REFER"]),
    config.Field("trusted-peers", config.List(config.String), default=[]),
    config.Field("status", config.U16, default=403),
    config.Field("reason", config.String, default="TLS Required"),
    config.Field("tls-uri", config.Optional(config.String), default=None),
)

#: The reason phrase of a `sips:` request refused for its plain transport.
SIPS_REASON = "SIPS Requires TLS"

#: The warn-agent when no `tls-uri` names the proxy (a pseudonym, RFC 3261 §20.43).
PSEUDONYM = "sipwarden"

#: TLS and secure WebSocket (RFC 7118) are secure; UDP, TCP and plain WebSocket are not.
SECURE = frozenset({Transport.TLS, Transport.WSS})


class SecureTransport(sipwarden_sdk.Policy):
    config_schema = CONFIG

    def init(self, config):
        status, reason = config["status"], config["reason"]
        if not 400 <= status <= 699:
            raise ConfigError(f"status {status} is not a final error status (400-699)")
        if not reason or any(rust.is_control(c) for c in reason):
            raise ConfigError(
                f"reason {rust.debug_str(reason)} must be a non-empty phrase without control characters")
        bad = next((method for method in config["methods"] if not is_token(method)), None)
        if bad is not None:
            raise ConfigError(f"methods: `{bad}` is not a SIP method name")
        trusted = []
        for entry in config["trusted-peers"]:
            try:
                trusted.append(Prefix.parse(entry))
            except ValueError as why:
                raise ConfigError(f"trusted-peers: `{rust.trim(entry)}` {why}") from None
        tls_uri = config["tls-uri"]
        if tls_uri is None:
            warning = f'399 {PSEUDONYM} "Use TLS"'
        else:
            try:
                host = tls_uri_host(tls_uri)
            except ValueError as why:
                raise ConfigError(f"tls-uri: `{tls_uri}` {why}") from None
            warning = f'399 {host} "Use TLS: send to {tls_uri}"'
        # Methods compare case-sensitively (RFC 3261 §7.1).
        self.methods = frozenset(config["methods"])
        self.trusted_peers = tuple(trusted)
        # Every refusal carries the Warning; both are built once.
        self.refusal = Verdict.respond(status, reason, [Header("Warning", warning)])
        self.sips_refusal = Verdict.respond(status, SIPS_REASON, [Header("Warning", warning)])

    def decide(self, request):
        source = request.source()
        if source.transport in SECURE:
            return Verdict.pass_()
        if asks_for_sips(request):
            return self.sips_refusal
        if request.method() in self.methods and not self.is_trusted(source.address):
            return self.refusal
        return Verdict.pass_()

    def is_trusted(self, address):
        """Whether the hop that sent the request is a trusted peer."""
        return any(prefix.contains(address) for prefix in self.trusted_peers)


def asks_for_sips(request):
    """Whether the Request-URI or the To is a `sips:` URI (RFC 3261 §26.2.2).
    The To is read as the host reads it (`grammar.uri_of`); the host refused
    the request before any policy ran if it could not."""
    if is_sips(request.uri()):
        return True
    to = request.header("To")
    if to is None:
        return False
    try:
        return is_sips(uri_of(to))
    except AddressError:
        return False


def is_sips(uri):
    return rust.to_ascii_lowercase(rust.trim_start(uri)[:5]) == "sips:"


def tls_uri_host(uri):
    """The host of a `sips:` URI, for the warn-agent; raises `ValueError`
    saying why the URI cannot name where TLS is served."""
    if any(c == '"' or c == "\\" or rust.is_control(c) or rust.is_whitespace(c) for c in uri):
        raise ValueError("contains a quote, a backslash, a space or a control character")
    if not is_sips(uri):
        raise ValueError("is not a sips: URI (e.g. sips:proxy.example.com:5061)")
    try:
        parsed = SipUri.parse(uri)
    except UriError as error:
        if error.kind == "BadPort":
            raise ValueError(f"has a bad port `{error.fields[0]}`") from None
        raise ValueError(f"is not a valid sips: URI ({error})") from None
    if parsed.user is not None or parsed.headers():
        raise ValueError("must name the proxy by host and port, nothing else (e.g. sips:proxy.example.com:5061)")
    if parsed.port == 0:
        raise ValueError("has a bad port `0`")
    return parsed.host


Policy = sipwarden_sdk.export(SecureTransport)
