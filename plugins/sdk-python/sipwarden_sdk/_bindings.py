"""Finding the generated bindings of the world a plugin was built against.

componentize-py generates a module for each interface the world imports
(`wit_world.imports.log`, …) and nothing for the others, and
plugins/build-python builds each plugin against a world that imports only
the capabilities its manifest lists. So each capability module of the SDK
looks for its bindings when it is imported (at build time, in the snapshot
componentize-py takes) and tolerates their absence: a plugin that does not
use `audit` builds without it, and one that calls a capability its world
lacks gets `CapabilityNotGranted` naming the fix, instead of a trap.
Outside WebAssembly (the SDK's own tests) there are no bindings at all.
"""

import importlib


class CapabilityNotGranted(RuntimeError):
    """The plugin called a capability that is not in the world it was built
    against, because its manifest does not list it."""

    def __init__(self, name):
        super().__init__(
            f"the `{name}` capability is not in this plugin's world: add \"{name}\" to `capabilities` "
            f"in its manifest (NAME.toml) and rebuild it with plugins/build-python"
        )
        self.capability = name


def binding(name):
    """The generated module `wit_world.imports.<name>`, or None when the
    world does not import that interface (or there are no bindings)."""
    try:
        return importlib.import_module(f"wit_world.imports.{name}")
    except ImportError:
        return None


def err_type():
    """componentize-py's `Err`, the exception a `result` error arrives as
    (and `init` refuses with); None outside WebAssembly."""
    try:
        return importlib.import_module("componentize_py_types").Err
    except ImportError:
        return None
