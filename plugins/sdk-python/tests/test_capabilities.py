"""Each capability works when the world imports it, and says what to do
when it does not; none needs the others."""

import unittest

from . import fake_bindings


class NotGranted(unittest.TestCase):
    def test_every_capability_names_the_fix(self):
        with fake_bindings.world():
            from sipwarden_sdk import CapabilityNotGranted, audit, credentials, directory, log
            for call, name in [
                (lambda: log.info("x"), "log"),
                (lambda: log.enabled(log.Level.DEBUG), "log"),
                (lambda: audit.append([audit.text("a", "b")]), "audit"),
                (lambda: directory.lookup("+15551234567"), "directory"),
                (lambda: credentials.verify(None, "example.com"), "credentials"),
                (lambda: credentials.challenge("example.com"), "credentials"),
            ]:
                with self.assertRaises(CapabilityNotGranted) as refused:
                    call()
                self.assertEqual(refused.exception.capability, name)
                self.assertIn(f'add "{name}" to `capabilities`', str(refused.exception))

    def test_without_any_bindings_the_pure_parts_still_work(self):
        from sipwarden_sdk import CapabilityNotGranted, Prefix, audit, log
        self.assertTrue(Prefix.parse("10.0.0.0/8").contains("10.1.2.3"))
        self.assertEqual(audit.optional("peer", None).kind, "null")
        with self.assertRaises(CapabilityNotGranted):
            log.warn("no bindings at all")


class Granted(unittest.TestCase):
    def test_log_formats_only_kept_lines(self):
        with fake_bindings.world("log") as (modules, calls):
            from sipwarden_sdk import log

            class Loud:
                def __str__(self):
                    calls.append("formatted")
                    return "loud"

            log.debug("%s users", Loud())  # below the kept level: not formatted
            log.info("%s users", Loud())
            log.warn("fixed text")
            self.assertEqual(calls, ["formatted", ("log", "INFO", "loud users"), ("log", "WARN", "fixed text")])
            self.assertFalse(log.enabled(log.Level.DEBUG))
            self.assertTrue(log.enabled(log.Level.ERROR))

    def test_audit_lowers_fields_and_raises_the_hosts_reason(self):
        with fake_bindings.world("audit") as (modules, calls):
            from sipwarden_sdk import audit
            a = modules["audit"]
            audit.append([audit.text("aor", "sip:a@h"), audit.integer("status", 403), audit.boolean("tls", True),
                          audit.optional("peer", None), audit.optional("subject", "CN=x")])
            self.assertEqual(calls[0][1], [
                a.Field("aor", a.Value_Text("sip:a@h")), a.Field("status", a.Value_Integer(403)),
                a.Field("tls", a.Value_Boolean(True)), a.Field("peer", a.Value_Null()),
                a.Field("subject", a.Value_Text("CN=x"))])
            a.state["refuse"] = "no audit trail is configured on this host"
            with self.assertRaises(audit.AuditError) as refused:
                audit.append([audit.text("event", "x")])
            self.assertEqual(str(refused.exception), "no audit trail is configured on this host")
            with self.assertRaises(TypeError):
                audit.integer("n", "1")

    def test_directory_answers_and_errors(self):
        with fake_bindings.world("directory") as (modules, calls):
            from sipwarden_sdk import directory
            d = modules["directory"]
            d.answers.update({"+1": ["sip:a@h", "sip:b@h"], "x": d.LookupError_InvalidNumber("not a number"),
                              "+2": d.LookupError_Unavailable("timed out")})
            self.assertEqual(directory.lookup("+1"), ["sip:a@h", "sip:b@h"])
            with self.assertRaises(directory.InvalidNumber) as invalid:
                directory.lookup("x")
            self.assertEqual(str(invalid.exception), "not a number")
            with self.assertRaises(directory.Unavailable):
                directory.lookup("+2")
            self.assertTrue(issubclass(directory.Unavailable, directory.DirectoryError))

    def test_credentials_verify_and_challenge(self):
        with fake_bindings.world("credentials") as (modules, calls):
            from sipwarden_sdk import credentials
            c = modules["credentials"]
            self.assertEqual(credentials.verify("req", "example.com"), credentials.Missing())
            self.assertEqual(calls[-1], ("verify", "req", "example.com", False))
            c.state["answer"] = c.Verification_Verified(c.Identity("alice", "example.com"))
            self.assertEqual(credentials.verify("req", "example.com", proxy=True),
                             credentials.Verified(credentials.Identity("alice", "example.com")))
            c.state["answer"] = c.Verification_Rejected("bad response")
            self.assertEqual(credentials.verify("req", "example.com"), credentials.Rejected("bad response"))
            c.state["answer"] = c.Verification_Stale()
            self.assertEqual(credentials.verify("req", "example.com"), credentials.Stale())
            self.assertEqual(credentials.challenge("example.com", stale=True), ['Digest realm="example.com", stale=TRUE'])


if __name__ == "__main__":
    unittest.main()
