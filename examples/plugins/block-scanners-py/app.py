"""Example policy, in Python: refuse requests sent by known SIP scanners.

The twin of examples/plugins/block-scanners (Rust): the same configuration,
refused with the same words, and the same decision on every request.

Internet-facing SIP services are probed around the clock by tools that
announce themselves in `User-Agent` (`friendly-scanner`, `sipvicious`, …)
or use a tell-tale `From` user. This policy answers them with a final
response (403 by default) so the request goes no further, and can mark
every other request so that the next hop sees it was screened.

Configuration (the manifest's `[config]` table):

    [config]
    user-agents = ["friendly-scanner", "sipvicious", "sipcli"]   # substrings, ASCII case-insensitive
    from-users = ["100", "1000"]                                 # exact From user parts
    status = 403
    reason = "Forbidden"
    mark = "X-Screened-By"                                       # optional: header added to what passes

Everything costly happens at import (the schema, the table that folds
case), which componentize-py runs at build time, or in `init`: the
verdicts are built once, so `decide` only reads two headers and compares.
"""

import sipwarden_sdk
from sipwarden_sdk import ConfigError, Edit, Verdict, config, rust

CONFIG = config.Schema(
    config.Field("user-agents", config.List(config.String),
                 default=["friendly-scanner", "sipvicious", "sipcli", "sip-scan", "sundayddr"]),
    config.Field("from-users", config.List(config.String), default=[]),
    config.Field("status", config.U16, default=403),
    config.Field("reason", config.String, default="Forbidden"),
    config.Field("mark", config.Optional(config.String), default=None),
)


class BlockScanners(sipwarden_sdk.Policy):
    config_schema = CONFIG

    def init(self, config):
        status = config["status"]
        if not 400 <= status <= 699:
            raise ConfigError(f"status {status} is not a final error status (400-699)")
        if "" in config["user-agents"]:
            raise ConfigError("user-agents: an empty entry would match every request")
        # Lower-cased once; the User-Agent is folded the same way (ASCII
        # only, as the Rust twin's `eq_ignore_ascii_case`) on each request.
        self.user_agents = tuple(rust.to_ascii_lowercase(agent) for agent in config["user-agents"])
        self.from_users = frozenset(config["from-users"])
        self.refusal = Verdict.reject(status, config["reason"])
        mark = config["mark"]
        self.passed = Verdict.pass_with([Edit.add(mark, "block-scanners")]) if mark is not None else Verdict.pass_()

    def decide(self, request):
        agent = request.header("User-Agent")
        if agent is not None:
            agent = rust.to_ascii_lowercase(agent)
            if any(bad in agent for bad in self.user_agents):
                return self.refusal
        sender = request.header("From")
        if sender is not None:
            user = uri_user(sender)
            if user is not None and user in self.from_users:
                return self.refusal
        return self.passed


def uri_user(field):
    """The user part of the first SIP URI in a name-addr or addr-spec, read
    as the Rust twin reads it: after the first `sip:` (or, failing that, the
    first `sips:`), up to the next `@`."""
    start = field.find("sip:")
    if start >= 0:
        start += 4
    else:
        start = field.find("sips:")
        if start < 0:
            return None
        start += 5
    rest = field[start:]
    at = rest.find("@")
    if at < 0:
        return None
    user = rest[:at]
    # A user part never contains these; if one appears first, there was no user.
    if ">" in user or ";" in user or " " in user:
        return None
    return user


Policy = sipwarden_sdk.export(BlockScanners)
