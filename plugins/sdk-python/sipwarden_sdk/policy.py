"""The `Policy` base class a plugin author subclasses, and `export`, which
adapts it to the `policy` interface componentize-py builds the component
from.

    class BlockScanners(sipwarden_sdk.Policy):
        def init(self, config): ...
        def decide(self, request): return Verdict.pass_()

    Policy = sipwarden_sdk.export(BlockScanners)

componentize-py looks for a class named `Policy` in the app module that
implements the generated `wit_world.exports.Policy` protocol, and it makes
a fresh object of that class for every call. So the adapter keeps the
author's policy object in the closure `export` builds, once per instance of
the component, as the Rust SDK keeps it in a thread-local: `init` replaces
it, `decide` and `observe` use it.
"""

import json

from ._bindings import err_type
from .config import ConfigError
from .verdict import Edit, Verdict


class Policy:
    """A policy plugin. Subclass it and override `decide` (and `init` and
    `observe` as needed); its `__init__` must take no arguments.

    The host creates the policy once per instance, calling `init` with the
    manifest's `[config]` table, then calls `decide` for each request the
    manifest routes to it. The host may run several instances side by side
    and replaces any that failed, so state kept in `self` is a per-instance
    cache, not a shared store.
    """

    #: An optional `sipwarden_sdk.config.Schema`: when set, `init` receives
    #: the configuration read against it (every declared field, defaults
    #: filled in), and a configuration it does not fit is refused with the
    #: words serde would use for the same fields in a Rust policy.
    config_schema = None

    def init(self, config):
        """Build the policy from its configuration, a dict (the manifest's
        `[config]` table). Refuse a configuration by raising
        `ConfigError(message)`: the operator sees `message` and the plugin
        does not load. (Any other exception refuses it too, named with its
        type, so that a bug in `init` is reported rather than trapped.)"""

    def decide(self, request):
        """Decide one request: return a `Verdict`. `request` is the host's
        `types.Request`: ask it `method()`, `uri()`, `header(name)`,
        `header_values(name)`, `headers()`, `body()`, `source()`,
        `origin()`, `peer_named(names)`, `in_dialog()`. An exception that
        escapes is a failure: the instance is thrown away and the
        manifest's failure policy applies."""
        raise NotImplementedError(f"{type(self).__name__} does not override decide")

    def observe(self, request, response):
        """See the response to a request this policy let through (only when
        the manifest sets `responses = true`). The default does nothing."""


def read_config(policy_class, text):
    """The configuration `init` receives: the JSON text read against the
    class's `config_schema`, or parsed as it is. Raises `ConfigError`."""
    schema = getattr(policy_class, "config_schema", None)
    if schema is not None:
        return schema.read(text)
    try:
        config = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"invalid configuration: {error}") from None
    if not isinstance(config, dict):
        raise ConfigError("invalid configuration: not a table")
    return config


def start(policy_class, text):
    """A new policy of `policy_class`, initialised with the configuration
    in `text`; raises `ConfigError` with what the operator should read."""
    config = read_config(policy_class, text)
    try:
        policy = policy_class()
        returned = policy.init(config)
    except ConfigError:
        raise
    except Exception as error:  # a bug in init: report it, with its type
        raise ConfigError(f"init failed: {type(error).__name__}: {error}") from None
    if returned is not None:
        # Refusing is raising; a returned error string must not pass for
        # an accepted configuration.
        raise ConfigError(f"init returned {returned!r}: raise ConfigError to refuse a configuration")
    return policy


class Lowering:
    """Converts the SDK's verdicts into the generated `types` values. A
    verdict keeps its lowered form, so one built once (in `init`) and
    returned on every request is converted once."""

    def __init__(self, types):
        self.types = types
        self.generated = (types.Verdict_Continue, types.Verdict_Respond, types.Verdict_Fail)

    def header(self, header):
        return self.types.Header(header.name, header.value)

    def edit(self, edit):
        t = self.types
        if edit.kind == Edit.ADD_HEADER:
            return t.Edit_AddHeader(self.header(edit.value))
        if edit.kind == Edit.SET_HEADER:
            return t.Edit_SetHeader(self.header(edit.value))
        if edit.kind == Edit.REMOVE_HEADER:
            return t.Edit_RemoveHeader(edit.value)
        return t.Edit_SetRequestUri(edit.value)

    def verdict(self, verdict):
        if isinstance(verdict, Verdict):
            lowered = verdict._lowered
            if lowered is None:
                lowered = self._build(verdict)
                object.__setattr__(verdict, "_lowered", lowered)
            return lowered
        if isinstance(verdict, self.generated):
            return verdict
        raise TypeError(f"decide must return a Verdict, not {type(verdict).__name__}")

    def _build(self, verdict):
        t = self.types
        if verdict.kind == Verdict.CONTINUE:
            return t.Verdict_Continue([self.edit(edit) for edit in verdict.edits])
        if verdict.kind == Verdict.RESPOND:
            return t.Verdict_Respond(
                t.Reply(verdict.status, verdict.reason, [self.header(h) for h in verdict.headers]))
        return t.Verdict_Fail(verdict.reason)


def export(policy_class):
    """The class componentize-py exports as the `policy` interface, built
    around `policy_class` (a subclass of `Policy`). Assign it to `Policy` at
    the top level of the app module: `Policy = sipwarden_sdk.export(Mine)`.

    Called at the top level, it runs when componentize-py takes its
    snapshot, so the bindings are imported once, at build time."""
    if not (isinstance(policy_class, type) and issubclass(policy_class, Policy)):
        raise TypeError("export takes a subclass of sipwarden_sdk.Policy")
    from wit_world import exports
    from wit_world.imports import types

    Err = err_type()
    lowering = Lowering(types)
    instance = {"policy": None}

    class Export(exports.Policy):
        def init(self, config: str) -> None:
            try:
                policy = start(policy_class, config)
            except ConfigError as refused:
                raise Err(str(refused)) from None
            instance["policy"] = policy

        def decide(self, req: types.Request) -> types.Verdict:
            policy = instance["policy"]
            if policy is None:
                # The host always calls init first; reaching this is a host
                # bug, and failing the call is the only honest answer.
                raise RuntimeError("sipwarden policy called before init")
            return lowering.verdict(policy.decide(req))

        def observe(self, req: types.Request, resp: types.Response) -> None:
            policy = instance["policy"]
            if policy is not None:
                policy.observe(req, resp)

    Export.__name__ = Export.__qualname__ = "Policy"
    Export.__doc__ = f"The policy interface, served by {policy_class.__name__}."
    return Export
