"""How the Rust side writes and reads text, for the few places where a Python
policy must say or accept exactly what its Rust twin does.

A Python plugin and a Rust one that implement the same rule must refuse the
same configurations with the same words and read the same bytes the same
way. Python's own notions differ in small ways that matter there:
`str.strip()` removes characters Rust's `str::trim()` keeps (U+001C..U+001F),
`str.lower()` folds non-ASCII letters where Rust's `to_ascii_lowercase` does
not, `repr()` quotes differently from Rust's `{:?}`, and `repr(1e-05)` is not
what serde_json prints. Each helper here is the Rust behaviour, named after
the Rust function it stands for.
"""

import unicodedata
from decimal import Decimal

#: `char::is_whitespace`: the Unicode White_Space property.
WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_WHITESPACE_TEXT = "".join(sorted(WHITESPACE))

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def trim(text: str) -> str:
    """`str::trim`: strip Unicode White_Space from both ends."""
    return text.strip(_WHITESPACE_TEXT)


def trim_start(text: str) -> str:
    """`str::trim_start`."""
    return text.lstrip(_WHITESPACE_TEXT)


def is_whitespace(c: str) -> bool:
    """`char::is_whitespace`."""
    return c in WHITESPACE


def is_control(c: str) -> bool:
    """`char::is_control`: general category Cc (U+0000..U+001F, U+007F..U+009F)."""
    o = ord(c)
    return o < 0x20 or 0x7F <= o <= 0x9F


def to_ascii_lowercase(text: str) -> str:
    """`str::to_ascii_lowercase`: A-Z folded, every other character kept."""
    return text.translate(_ASCII_LOWER)


def is_ascii_alphanumeric(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9")


def is_ascii_alphabetic(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def is_ascii_digit(c: str) -> bool:
    return "0" <= c <= "9"


def is_ascii_hexdigit(c: str) -> bool:
    return ("0" <= c <= "9") or ("a" <= c <= "f") or ("A" <= c <= "F")


# Rust escapes, in `{:?}` and `char::escape_debug`, what its tables call not
# printable (general categories Zs but the space, Zl, Zp, Cc, Cf, Cs, Co, Cn)
# and grapheme extenders. Python's unicodedata follows its own Unicode
# version, so characters assigned between the two versions may differ; every
# ASCII and commonly used character agrees.
_NOT_PRINTABLE = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"})
_OTHER_GRAPHEME_EXTEND = frozenset(
    [0x09BE, 0x09D7, 0x0B3E, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6, 0x0D3E, 0x0D57, 0x0DCF, 0x0DDF,
     0x1B35, 0x200C, 0x302E, 0x302F, 0xFF9E, 0xFF9F, 0x1133E, 0x11357, 0x114B0, 0x114BD, 0x115AF, 0x11930,
     0x1D165, 0x1D16E, 0x1D16F, 0x1D170, 0x1D171, 0x1D172]
    + list(range(0xE0020, 0xE0080))
)
_SIMPLE_ESCAPES = {"\0": "\\0", "\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"'}


def _escape_char(c: str, escape_single_quote: bool) -> str:
    simple = _SIMPLE_ESCAPES.get(c)
    if simple is not None:
        return simple
    if c == "'":
        return "\\'" if escape_single_quote else c
    if " " <= c <= "~":
        return c
    category = unicodedata.category(c)
    if (category in _NOT_PRINTABLE and c != " ") or category in ("Mn", "Me") or ord(c) in _OTHER_GRAPHEME_EXTEND:
        return "\\u{%x}" % ord(c)
    return c


def escape_debug(text: str) -> str:
    """Each character through `char::escape_debug` (quotes of both kinds escaped)."""
    return "".join(_escape_char(c, True) for c in text)


def debug_str(text: str) -> str:
    """`format!("{:?}", text)` for a `str`: in double quotes, `'` left alone."""
    return '"' + "".join(_escape_char(c, False) for c in text) + '"'


def float_text(value: float) -> str:
    """A finite `f64` as serde_json writes it in its errors (the `zmij`
    crate): the shortest digits that read back as the same number, in
    positional form for decimal exponents from -5 to 15 (`403.0`,
    `0.00001`) and as `1.5e-7`, `1e+300` otherwise.
    """
    if value == 0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digits)).lstrip("0")
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    length = len(digits)
    leading = length + exponent - 1  # the decimal exponent of the first digit
    out = "-" if sign else ""
    if -5 <= leading <= 15:
        if exponent >= 0:
            return out + digits + "0" * exponent + ".0"
        if leading >= 0:
            return out + digits[:leading + 1] + "." + digits[leading + 1:]
        return out + "0." + "0" * (-leading - 1) + digits
    mantissa = digits if length == 1 else digits[0] + "." + digits[1:]
    return out + mantissa + ("e+" if leading >= 0 else "e-") + str(abs(leading))
