"""# sipwarden_sdk: SIP policies in Python, as WebAssembly components

A policy subclasses `Policy` and is exported with `export`; componentize-py
builds the module into a component (plugins/build-python does it, against a
world that imports only the capabilities the plugin's manifest lists):

    import sipwarden_sdk
    from sipwarden_sdk import Edit, Verdict

    class DenyAnonymous(sipwarden_sdk.Policy):
        def decide(self, request):
            sender = request.header("From")
            if sender is not None and "anonymous.invalid" in sender:
                return Verdict.reject(403, "Anonymous Not Allowed")
            return Verdict.pass_()

    Policy = sipwarden_sdk.export(DenyAnonymous)

The request is owned by the host: each of its methods asks the host for one
piece of it, so ask only what the decision needs, and the narrowest
question (`source()` rather than `origin()`, `in_dialog()` rather than
parsing `To`).

The pure-Python parts (verdicts, `Prefix`, `grammar`, `config`) import and
run without WebAssembly; the capability modules (`log`, `audit`,
`directory`, `credentials`) find their generated bindings when the world
has them, and raise `CapabilityNotGranted` when called without.
"""

from . import audit, config, credentials, directory, grammar, log, rust
from ._bindings import CapabilityNotGranted
from .config import ConfigError
from .net import Prefix
from .policy import Policy, export
from .verdict import Edit, Header, Verdict

__all__ = [
    "Policy", "export", "Verdict", "Edit", "Header", "Prefix", "ConfigError", "CapabilityNotGranted",
    "config", "grammar", "rust", "log", "audit", "directory", "credentials",
]
