"""Reading a policy's configuration (the manifest's `[config]` table, which
the host hands to `init` as JSON) against a declared schema, with the
refusals a Rust policy gives.

A Rust policy declares its configuration as a struct with
`#[derive(Deserialize)] #[serde(deny_unknown_fields, rename_all =
"kebab-case")]`, and the Rust SDK refuses what serde_json refuses, as
`invalid configuration: unknown field `foo`, expected one of `user-agents`,
… at line 1 column 6`. A Python twin of such a policy declares the same
fields here and refuses the same configurations with the same words,
position included, so that an operator sees one message whichever language
the plugin is in:

    SCHEMA = config.Schema(
        config.Field("user-agents", config.List(config.String), default=["friendly-scanner"]),
        config.Field("status", config.U16, default=403),
        config.Field("mark", config.Optional(config.String), default=None),
    )

A field without a default is required. What serde does not check (a
status range, an empty entry) the policy checks in `init` after reading.

The positions are serde_json's: the column is the byte offset where its
reader stood when it gave up (after a scalar it read, at the `[` or `{` of
a list or table it did not expect, after the key of an unknown field, after
the closing `}` for a missing field).
"""

import json
from json.decoder import scanstring

from . import rust


class ConfigError(ValueError):
    """A configuration the policy refuses. Raised from `init` (directly, or
    by `Schema.read`), its text is what the operator sees, as is."""


class _Refusal(Exception):
    """A serde error and where serde_json's reader stood (a character index)."""

    def __init__(self, message, index):
        super().__init__(message)
        self.message = message
        self.index = index


class _Node:
    """A JSON value and where it starts and ends in the text. The elements
    of an array are nodes (`items`), and so are the members of an object
    (`members`: key, index after the key, value node)."""

    __slots__ = ("value", "start", "end", "items", "members")

    def __init__(self, value, start, end, items=None, members=None):
        self.value, self.start, self.end, self.items, self.members = value, start, end, items, members


_WS = " \t\n\r"
_DECODER = json.JSONDecoder()


def _skip(text, i):
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _node(text, i):
    i = _skip(text, i)
    if text.startswith("[", i):
        items, j = [], _skip(text, i + 1)
        if text.startswith("]", j):
            return _Node([], i, j + 1, items=items)
        while True:
            item = _node(text, j)
            items.append(item)
            j = _skip(text, item.end)
            if text.startswith(",", j):
                j += 1
            elif text.startswith("]", j):
                return _Node([it.value for it in items], i, j + 1, items=items)
            else:
                raise ValueError("malformed JSON array")
    if text.startswith("{", i):
        members, j = [], _skip(text, i + 1)
        if text.startswith("}", j):
            return _Node({}, i, j + 1, members=members)
        while True:
            if not text.startswith('"', j):
                raise ValueError("malformed JSON object")
            key, after_key = scanstring(text, j + 1)
            j = _skip(text, after_key)
            if not text.startswith(":", j):
                raise ValueError("malformed JSON object")
            value = _node(text, j + 1)
            members.append((key, after_key, value))
            j = _skip(text, value.end)
            if text.startswith(",", j):
                j = _skip(text, j + 1)
            elif text.startswith("}", j):
                return _Node({k: v.value for k, _, v in members}, i, j + 1, members=members)
            else:
                raise ValueError("malformed JSON object")
    value, end = _DECODER.raw_decode(text, i)
    return _Node(value, i, end)


def _unexpected(node):
    """serde's `Unexpected`, as serde_json writes it, and where its reader
    stood: after a scalar, at the opening bracket of a list or table."""
    value = node.value
    if value is None:
        return "null", node.end
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`", node.end
    if isinstance(value, int):
        return f"integer `{value}`", node.end
    if isinstance(value, float):
        return f"floating point `{rust.float_text(value)}`", node.end
    if isinstance(value, str):
        return f"string {rust.debug_str(value)}", node.end
    if isinstance(value, list):
        return "sequence", node.start
    return "map", node.start


def _invalid_type(node, expected):
    what, index = _unexpected(node)
    return _Refusal(f"invalid type: {what}, expected {expected}", index)


def _one_of(names):
    if len(names) == 1:
        return f"`{names[0]}`"
    if len(names) == 2:
        return f"`{names[0]}` or `{names[1]}`"
    return "one of " + ", ".join(f"`{name}`" for name in names)


class Type:
    """A kind of value: reads a JSON node, or refuses it as serde would."""

    expected = "a value"

    def read(self, node):
        raise NotImplementedError


class _String(Type):
    expected = "a string"

    def read(self, node):
        if isinstance(node.value, str):
            return node.value
        raise _invalid_type(node, self.expected)


class _Bool(Type):
    expected = "a boolean"

    def read(self, node):
        if isinstance(node.value, bool):
            return node.value
        raise _invalid_type(node, self.expected)


class Integer(Type):
    """A Rust integer type: `Integer("u16", 0, 65535)`."""

    def __init__(self, name, low, high):
        self.expected, self.low, self.high = name, low, high

    def read(self, node):
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool):
            if self.low <= value <= self.high:
                return value
            raise _Refusal(f"invalid value: integer `{value}`, expected {self.expected}", node.end)
        raise _invalid_type(node, self.expected)


class List(Type):
    """`Vec<T>`: a list, each element read as `item`."""

    expected = "a sequence"

    def __init__(self, item):
        self.item = item

    def read(self, node):
        if node.items is None:
            raise _invalid_type(node, self.expected)
        return [self.item.read(element) for element in node.items]


class Optional(Type):
    """`Option<T>`: null is None (TOML has no null, but NaN becomes one)."""

    def __init__(self, item):
        self.item = item
        self.expected = item.expected

    def read(self, node):
        return None if node.value is None else self.item.read(node)


class Enum(Type):
    """A Rust enum of unit variants, each named by a string
    (`#[serde(rename_all = "kebab-case")]`)."""

    def __init__(self, *variants):
        self.variants = variants
        self.expected = _one_of(variants) if variants else "no variant"

    def read(self, node):
        if isinstance(node.value, str):
            if node.value in self.variants:
                return node.value
            names = f"expected {_one_of(self.variants)}" if self.variants else "there are no variants"
            raise _Refusal(f"unknown variant `{node.value}`, {names}", node.end)
        if node.members is not None:
            # The `{"variant": value}` form: serde_json reads the first key as
            # the variant, and a unit variant takes no value.
            if not node.members:
                raise _Refusal("expected value", node.end)
            key, after_key, value = node.members[0]
            if key not in self.variants:
                names = f"expected {_one_of(self.variants)}" if self.variants else "there are no variants"
                raise _Refusal(f"unknown variant `{key}`, {names}", after_key)
            raise _invalid_type(value, "unit")
        # serde_json takes only a string or a table for an enum, and says so
        # one character past where the value starts.
        raise _Refusal("expected value", node.start + 1)


String = _String()
Bool = _Bool()
U8 = Integer("u8", 0, 0xFF)
U16 = Integer("u16", 0, 0xFFFF)
U32 = Integer("u32", 0, 0xFFFFFFFF)
U64 = Integer("u64", 0, 0xFFFFFFFFFFFFFFFF)
I64 = Integer("i64", -(1 << 63), (1 << 63) - 1)

_REQUIRED = object()


class Field:
    """A named field of the configuration: its name in the manifest, its
    type, and its default (none: the field is required)."""

    def __init__(self, name, type, default=_REQUIRED):
        self.name, self.type, self.default = name, type, default

    @property
    def required(self):
        return self.default is _REQUIRED


class Schema:
    """The fields a configuration may have; any other is refused."""

    def __init__(self, *fields):
        self.fields = {field.name: field for field in fields}
        self._names = [field.name for field in fields]

    def read(self, text):
        """The configuration in `text` (the JSON `init` receives) as a dict of
        every declared field by its manifest name, defaults filled in. Raises
        `ConfigError` with serde_json's words when a Rust policy with these
        fields would refuse it."""
        try:
            top = _node(text, 0)
            if top.members is None:
                raise ValueError("the configuration is not a JSON object")
            if _skip(text, top.end) != len(text):
                raise ValueError("trailing characters after the configuration")
            values = {}
            for key, after_key, node in top.members:
                field = self.fields.get(key)
                if field is None:
                    expected = f"expected {_one_of(self._names)}" if self._names else "there are no fields"
                    raise _Refusal(f"unknown field `{key}`, {expected}", after_key)
                if key in values:
                    raise _Refusal(f"duplicate field `{key}`", after_key)
                values[key] = field.type.read(node)
            for name in self._names:
                if name not in values:
                    field = self.fields[name]
                    if field.required:
                        raise _Refusal(f"missing field `{name}`", top.end)
                    values[name] = _copy(field.default)
            return values
        except _Refusal as refusal:
            raise ConfigError(f"invalid configuration: {refusal.message} at {_position(text, refusal.index)}") from None
        except ValueError as error:
            raise ConfigError(f"invalid configuration: {error}") from None


def _copy(default):
    """A default that is a list is handed out fresh, so that a policy that
    changes its list does not change the next instance's default."""
    return list(default) if isinstance(default, list) else default


def _position(text, index):
    """serde_json's `line L column C` for a character index: lines counted
    by `\\n`, columns in bytes from the start of the line."""
    before = text[:index]
    line_start = before.rfind("\n") + 1
    return f"line {before.count(chr(10)) + 1} column {len(before[line_start:].encode())}"
