"""Verdicts, edits and headers, so that a policy reads like the rule it
implements: `Verdict.reject(403, "Forbidden")`,
`Verdict.pass_with([Edit.add("X-Screened-By", "block-scanners")])`.

These are plain Python values (testable without WebAssembly); the adapter
`sipwarden_sdk.export` lowers them into the contract's generated types when
`decide` returns. They are immutable, and each remembers its lowered form:
a verdict built once in `init` and returned on every request is converted
once. The host checks every verdict (header names, values, status, size), so
these constructors only check the Python types, to fail at the line that
built a wrong one rather than somewhere in the bindings.
"""


def _text(what, value):
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


def _status(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise TypeError(f"status must be an int from 0 to 65535, not {value!r}")
    return value


class _Value:
    """An immutable value with equality by fields, and a slot for the
    lowered form that takes no part in equality."""

    __slots__ = ("_lowered",)
    _fields = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _init(self, **fields):
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_lowered", None)

    def _key(self):
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other):
        return type(other) is type(self) and other._key() == self._key()

    def __hash__(self):
        return hash((type(self), self._key()))

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"


class Header(_Value):
    """One header field: `Header("Warning", '399 sipwarden "Use TLS"')`."""

    __slots__ = ("name", "value")
    _fields = ("name", "value")

    def __init__(self, name, value):
        self._init(name=_text("a header name", name), value=_text("a header value", value))


class Edit(_Value):
    """A change to the request, applied before the next plugin runs. Build
    one with `Edit.request_uri`, `Edit.add`, `Edit.set` or `Edit.remove`."""

    __slots__ = ("kind", "value")
    _fields = ("kind", "value")

    #: The kinds, as the contract names them.
    SET_REQUEST_URI, ADD_HEADER, SET_HEADER, REMOVE_HEADER = (
        "set-request-uri", "add-header", "set-header", "remove-header")

    def __init__(self, kind, value):
        self._init(kind=kind, value=value)

    @classmethod
    def request_uri(cls, uri):
        """Replace the Request-URI (retargeting, RFC 3261 §16.5)."""
        return cls(cls.SET_REQUEST_URI, _text("a Request-URI", uri))

    @classmethod
    def add(cls, name, value):
        """Append a header value after any existing ones."""
        return cls(cls.ADD_HEADER, Header(name, value))

    @classmethod
    def set(cls, name, value):
        """Replace every value of a header with this one."""
        return cls(cls.SET_HEADER, Header(name, value))

    @classmethod
    def remove(cls, name):
        """Remove every value of a header."""
        return cls(cls.REMOVE_HEADER, _text("a header name", name))


class Verdict(_Value):
    """A policy's decision on one request.

    `kind` is `"continue"` (with `edits`), `"respond"` (with `status`,
    `reason`, `headers`) or `"fail"` (with `reason`).
    """

    __slots__ = ("kind", "edits", "status", "reason", "headers")
    _fields = ("kind", "edits", "status", "reason", "headers")

    CONTINUE, RESPOND, FAIL = "continue", "respond", "fail"

    def __init__(self, kind, edits=(), status=None, reason=None, headers=()):
        self._init(kind=kind, edits=tuple(edits), status=status, reason=reason, headers=tuple(headers))

    @classmethod
    def pass_(cls):
        """Let the request continue unchanged. (`pass` is a Python keyword.)"""
        return _PASS

    @classmethod
    def pass_with(cls, edits):
        """Let the request continue with these edits."""
        edits = tuple(edits)
        for edit in edits:
            if not isinstance(edit, Edit):
                raise TypeError(f"an edit must be an Edit, not {type(edit).__name__}")
        return cls(cls.CONTINUE, edits=edits)

    @classmethod
    def reject(cls, status, reason):
        """Answer the request with a status and reason phrase."""
        return cls(cls.RESPOND, status=_status(status), reason=_text("a reason phrase", reason))

    @classmethod
    def respond(cls, status, reason, headers):
        """Answer the request with a status, reason phrase and headers."""
        headers = tuple(headers)
        for header in headers:
            if not isinstance(header, Header):
                raise TypeError(f"a header must be a Header, not {type(header).__name__}")
        return cls(cls.RESPOND, status=_status(status), reason=_text("a reason phrase", reason), headers=headers)

    @classmethod
    def fail(cls, reason):
        """Say the policy cannot decide (a capability it needs is down): the
        host applies the failure policy of the plugin's manifest and logs
        `reason`."""
        return cls(cls.FAIL, reason=_text("a failure reason", reason))


_PASS = Verdict(Verdict.CONTINUE)
