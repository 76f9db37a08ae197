"""Stand-ins for the modules componentize-py generates (`wit_world`,
`componentize_py_types`), shaped as it generates them for
wit/policy.wit, so that the SDK's adapter and capability modules can be
tested on plain CPython. Only the shapes matter: dataclasses named and
laid out as the generated ones, and capability functions that record
their calls and answer what a test tells them to.
"""

import contextlib
import enum
import importlib
import sys
import types as pytypes
from dataclasses import dataclass
from typing import Union

CAPABILITIES = ("log", "audit", "directory", "credentials")


def _module(name, **attrs):
    module = pytypes.ModuleType(name)
    module.__dict__.update(attrs)
    return module


@dataclass(frozen=True)
class Err(Exception):
    value: object


def _types_module():
    @dataclass
    class Header:
        name: str
        value: str

    @dataclass
    class Edit_SetRequestUri:
        value: str

    @dataclass
    class Edit_AddHeader:
        value: Header

    @dataclass
    class Edit_SetHeader:
        value: Header

    @dataclass
    class Edit_RemoveHeader:
        value: str

    @dataclass
    class Reply:
        status: int
        reason: str
        headers: list

    @dataclass
    class Verdict_Continue:
        value: list

    @dataclass
    class Verdict_Respond:
        value: Reply

    @dataclass
    class Verdict_Fail:
        value: str

    Edit = Union[Edit_SetRequestUri, Edit_AddHeader, Edit_SetHeader, Edit_RemoveHeader]
    Verdict = Union[Verdict_Continue, Verdict_Respond, Verdict_Fail]

    class Request:
        pass

    class Response:
        pass

    return _module("wit_world.imports.types", **{k: v for k, v in locals().items()})


def _log_module(calls):
    class Level(enum.Enum):
        TRACE = 0
        DEBUG = 1
        INFO = 2
        WARN = 3
        ERROR = 4

    state = {"kept": Level.INFO.value}

    def log(level, message):
        calls.append(("log", level.name, message))

    def enabled(level):
        return level.value >= state["kept"]

    return _module("wit_world.imports.log", Level=Level, log=log, enabled=enabled, state=state)


def _audit_module(calls):
    @dataclass
    class Value_Text:
        value: str

    @dataclass
    class Value_Integer:
        value: int

    @dataclass
    class Value_Boolean:
        value: bool

    @dataclass
    class Value_Null:
        pass

    @dataclass
    class Field:
        key: str
        value: object

    state = {"refuse": None}

    def append(fields):
        calls.append(("append", fields))
        if state["refuse"] is not None:
            raise Err(state["refuse"])

    return _module("wit_world.imports.audit", Value_Text=Value_Text, Value_Integer=Value_Integer,
                   Value_Boolean=Value_Boolean, Value_Null=Value_Null, Field=Field, append=append, state=state)


def _directory_module(calls):
    @dataclass
    class LookupError_InvalidNumber:
        value: str

    @dataclass
    class LookupError_Unavailable:
        value: str

    answers = {}

    def lookup(number):
        calls.append(("lookup", number))
        answer = answers[number]
        if isinstance(answer, (LookupError_InvalidNumber, LookupError_Unavailable)):
            raise Err(answer)
        return answer

    return _module("wit_world.imports.directory", LookupError_InvalidNumber=LookupError_InvalidNumber,
                   LookupError_Unavailable=LookupError_Unavailable, lookup=lookup, answers=answers)


def _credentials_module(calls):
    @dataclass
    class Identity:
        username: str
        realm: str

    @dataclass
    class Verification_Verified:
        value: Identity

    @dataclass
    class Verification_Missing:
        pass

    @dataclass
    class Verification_Stale:
        pass

    @dataclass
    class Verification_Rejected:
        value: str

    state = {"answer": Verification_Missing()}

    def verify(req, realm, proxy):
        calls.append(("verify", req, realm, proxy))
        return state["answer"]

    def challenge(realm, stale):
        calls.append(("challenge", realm, stale))
        return [f'Digest realm="{realm}", stale={str(stale).upper()}']

    return _module("wit_world.imports.credentials", Identity=Identity, Verification_Verified=Verification_Verified,
                   Verification_Missing=Verification_Missing, Verification_Stale=Verification_Stale,
                   Verification_Rejected=Verification_Rejected, verify=verify, challenge=challenge, state=state)


_MAKERS = {"log": _log_module, "audit": _audit_module, "directory": _directory_module,
           "credentials": _credentials_module}


def _reload_sdk():
    import sipwarden_sdk
    for name in CAPABILITIES + ("policy",):
        importlib.reload(importlib.import_module(f"sipwarden_sdk.{name}"))
    importlib.reload(sipwarden_sdk)


@contextlib.contextmanager
def world(*capabilities):
    """Bindings of a world importing these capabilities, installed for the
    duration; yields (modules by name, the list of recorded calls)."""
    calls = []
    types = _types_module()

    class Policy:  # the generated protocol: only its name and methods matter
        pass

    modules = {
        "componentize_py_types": _module("componentize_py_types", Err=Err),
        "wit_world": _module("wit_world"),
        "wit_world.exports": _module("wit_world.exports", Policy=Policy),
        "wit_world.imports": _module("wit_world.imports", types=types),
        "wit_world.imports.types": types,
    }
    for name in capabilities:
        modules[f"wit_world.imports.{name}"] = _MAKERS[name](calls)
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        _reload_sdk()
        yield {name.rsplit(".", 1)[-1]: module for name, module in modules.items()}, calls
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        _reload_sdk()
