"""Capability `audit`: append structured records to the host's audit trail.
The host adds the time and the plugin's name, and refuses fields named like
secrets.

    from sipwarden_sdk import audit
    audit.append([audit.text("aor", aor), audit.integer("status", 403),
                  audit.boolean("tls", True), audit.optional("peer", subject)])

`append` raises `AuditError` with the host's reason when the sink cannot
take the record (no trail configured, a field named like a secret, a limit
reached): the policy decides whether that ends the request.
"""

from ._bindings import CapabilityNotGranted, binding, err_type

_audit = binding("audit")
_Err = err_type()


class AuditError(Exception):
    """The host did not take the record; `str()` is its reason."""


class Field:
    """A named value of a record: text, integer, boolean or null."""

    __slots__ = ("key", "kind", "value")

    def __init__(self, key, kind, value):
        if not isinstance(key, str):
            raise TypeError(f"an audit field's key must be a str, not {type(key).__name__}")
        self.key, self.kind, self.value = key, kind, value

    def __eq__(self, other):
        return isinstance(other, Field) and (self.key, self.kind, self.value) == (other.key, other.kind, other.value)

    def __repr__(self):
        return f"audit.{self.kind}({self.key!r}, {self.value!r})"


def text(key, value):
    """A text field."""
    if not isinstance(value, str):
        raise TypeError(f"audit.text({key!r}, …) takes a str, not {type(value).__name__}")
    return Field(key, "text", value)


def integer(key, value):
    """An integer field (a signed 64-bit number)."""
    if isinstance(value, bool) or not isinstance(value, int) or not -(1 << 63) <= value < (1 << 63):
        raise TypeError(f"audit.integer({key!r}, …) takes an int in the i64 range, not {value!r}")
    return Field(key, "integer", value)


def boolean(key, value):
    """A boolean field."""
    if not isinstance(value, bool):
        raise TypeError(f"audit.boolean({key!r}, …) takes a bool, not {type(value).__name__}")
    return Field(key, "boolean", value)


def optional(key, value):
    """A text field when `value` is a str, null when it is None."""
    return Field(key, "null", None) if value is None else text(key, value)


def _lower(field):
    if field.kind == "text":
        value = _audit.Value_Text(field.value)
    elif field.kind == "integer":
        value = _audit.Value_Integer(field.value)
    elif field.kind == "boolean":
        value = _audit.Value_Boolean(field.value)
    else:
        value = _audit.Value_Null()
    return _audit.Field(field.key, value)


def append(fields):
    """Append one record; raises `AuditError` with the host's reason."""
    if _audit is None:
        raise CapabilityNotGranted("audit")
    try:
        _audit.append([_lower(field) for field in fields])
    except _Err as refused:
        raise AuditError(refused.value) from None
