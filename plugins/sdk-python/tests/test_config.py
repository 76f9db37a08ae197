"""The configuration reader refuses what serde_json and serde's derive
refuse in a Rust policy, with the same words and positions. The expected
texts were taken from the Rust block-scanners and hostile plugins, run by
`sipwarden check` on the same manifests (the JSON is what the host hands
to `init`: keys sorted, no white space)."""

import unittest

from sipwarden_sdk import ConfigError, config
from sipwarden_sdk.rust import debug_str, float_text

BLOCK_SCANNERS = config.Schema(
    config.Field("user-agents", config.List(config.String), default=["friendly-scanner"]),
    config.Field("from-users", config.List(config.String), default=[]),
    config.Field("status", config.U16, default=403),
    config.Field("reason", config.String, default="Forbidden"),
    config.Field("mark", config.Optional(config.String), default=None),
)

HOSTILE_MODES = ["loop", "grow", "panic", "oversized", "inject", "file", "socket", "audit", "audit-flood",
                 "audit-many", "log-flood", "refuse-config", "decline"]
HOSTILE = config.Schema(config.Field("mode", config.Enum(*HOSTILE_MODES)))


def refusal(schema, text):
    try:
        schema.read(text)
    except ConfigError as error:
        return str(error).removeprefix("invalid configuration: ")
    raise AssertionError(f"{text} was accepted")


class Reading(unittest.TestCase):
    def test_defaults_fill_what_is_missing(self):
        self.assertEqual(BLOCK_SCANNERS.read("{}"), {
            "user-agents": ["friendly-scanner"], "from-users": [], "status": 403, "reason": "Forbidden",
            "mark": None})
        read = BLOCK_SCANNERS.read('{"mark":"X-Screened-By","status":480}')
        self.assertEqual((read["mark"], read["status"]), ("X-Screened-By", 480))

    def test_defaults_are_not_shared(self):
        BLOCK_SCANNERS.read("{}")["user-agents"].append("x")
        self.assertEqual(BLOCK_SCANNERS.read("{}")["user-agents"], ["friendly-scanner"])

    def test_refusals_read_as_serde_writes_them(self):
        expected_one_of = "expected one of `user-agents`, `from-users`, `status`, `reason`, `mark`"
        for text, message in [
            ('{"foo":1,"status":"x","user-agents":["a"]}', f"unknown field `foo`, {expected_one_of} at line 1 column 6"),
            ('{"status":70000}', "invalid value: integer `70000`, expected u16 at line 1 column 15"),
            ('{"status":-1}', "invalid value: integer `-1`, expected u16 at line 1 column 12"),
            ('{"status":0.00001}', "invalid type: floating point `0.00001`, expected u16 at line 1 column 17"),
            ('{"status":1e+300}', "invalid type: floating point `1e+300`, expected u16 at line 1 column 16"),
            ('{"status":null}', "invalid type: null, expected u16 at line 1 column 14"),
            ('{"status":"\u00e9\u0301\\n\\u0000\'x"}',
             "invalid type: string \"\u00e9\\u{301}\\n\\0'x\", expected u16 at line 1 column 26"),
            ('{"user-agents":["a",1]}', "invalid type: integer `1`, expected a string at line 1 column 21"),
            ('{"user-agents":["a",[1]]}', "invalid type: sequence, expected a string at line 1 column 20"),
            ('{"user-agents":"x"}', "invalid type: string \"x\", expected a sequence at line 1 column 18"),
            ('{"mark":1}', "invalid type: integer `1`, expected a string at line 1 column 9"),
            ('{"status":{"$__toml_private_datetime":"1979-05-27"}}',
             "invalid type: map, expected u16 at line 1 column 10"),
            ('{"reason":{"a":1}}', "invalid type: map, expected a string at line 1 column 10"),
        ]:
            self.assertEqual(refusal(BLOCK_SCANNERS, text), message, text)

    def test_enums_and_required_fields(self):
        expected = "expected one of " + ", ".join(f"`{mode}`" for mode in HOSTILE_MODES)
        for text, message in [
            ("{}", "missing field `mode` at line 1 column 2"),
            ('{"mode":1}', "expected value at line 1 column 9"),
            ('{"mode":"x"}', f"unknown variant `x`, {expected} at line 1 column 11"),
            ('{"mode":[1]}', "expected value at line 1 column 9"),
            ('{"mode":{"a":1}}', f"unknown variant `a`, {expected} at line 1 column 12"),
            ('{"mode":1.5}', "expected value at line 1 column 9"),
            ('{"mode":true}', "expected value at line 1 column 9"),
            ('{"mode":"loop","x":1}', "unknown field `x`, expected `mode` at line 1 column 18"),
            ('{"mode":{"loop":1}}', "invalid type: integer `1`, expected unit at line 1 column 17"),
            ('{"mode":{}}', "expected value at line 1 column 10"),
            ('{"mode":{"b":2,"loop":"x"}}', f"unknown variant `b`, {expected} at line 1 column 12"),
        ]:
            self.assertEqual(refusal(HOSTILE, text), message, text)
        self.assertEqual(HOSTILE.read('{"mode":"grow"}'), {"mode": "grow"})

    def test_columns_count_bytes(self):
        self.assertEqual(refusal(BLOCK_SCANNERS, '{"reason":"\u00e9","status":"x"}'),
                         'invalid type: string "x", expected u16 at line 1 column 27')


class RustText(unittest.TestCase):
    def test_floats_as_serde_json_writes_them(self):
        for value, text in [(403.0, "403.0"), (1e-5, "0.00001"), (1e300, "1e+300"), (0.1, "0.1"),
                            (1.5e-7, "1.5e-7"), (1e16, "1e+16"), (1e15, "1000000000000000.0"), (-2.5, "-2.5"),
                            (1e-6, "1e-6"), (0.0, "0.0"), (-0.0, "-0.0")]:
            self.assertEqual(float_text(value), text, value)

    def test_debug_strings(self):
        self.assertEqual(debug_str('a"b\\c\'\t\x7f\u00a0\u200b'), '"a\\"b\\\\c\'\\t\\u{7f}\\u{a0}\\u{200b}"')


if __name__ == "__main__":
    unittest.main()
