"""Verdicts, and the adapter `export` builds: configuration in, verdicts
lowered into the generated types, refusals as `Err`."""

import unittest

from sipwarden_sdk import Edit, Header, Verdict

from . import fake_bindings


class Verdicts(unittest.TestCase):
    def test_constructors_read_like_the_rust_sdk(self):
        self.assertEqual(Verdict.pass_().kind, "continue")
        self.assertEqual(Verdict.pass_().edits, ())
        edits = [Edit.add("X-Screened-By", "block-scanners"), Edit.set("Subject", "x"), Edit.remove("Priority"),
                 Edit.request_uri("sip:bob@example.com")]
        self.assertEqual(Verdict.pass_with(edits).edits, tuple(edits))
        reply = Verdict.respond(403, "TLS Required", [Header("Warning", '399 sipwarden "Use TLS"')])
        self.assertEqual((reply.kind, reply.status, reply.reason, reply.headers[0].value),
                         ("respond", 403, "TLS Required", '399 sipwarden "Use TLS"'))
        self.assertEqual(Verdict.reject(403, "Forbidden"), Verdict.respond(403, "Forbidden", []))
        self.assertEqual((Verdict.fail("down").kind, Verdict.fail("down").reason), ("fail", "down"))

    def test_wrong_types_fail_where_they_are_built(self):
        with self.assertRaises(TypeError):
            Verdict.reject("403", "Forbidden")
        with self.assertRaises(TypeError):
            Edit.add("X-A", 1)
        with self.assertRaises(TypeError):
            Verdict.pass_with([Header("X-A", "1")])
        with self.assertRaises(TypeError):
            Verdict.respond(403, "x", [("Warning", "y")])
        with self.assertRaises(AttributeError):
            Verdict.pass_().kind = "respond"


class Greeter:
    pass


def adapter(policy_class):
    import sipwarden_sdk
    return sipwarden_sdk.export(policy_class)()


class Export(unittest.TestCase):
    def test_init_decide_observe(self):
        with fake_bindings.world() as (modules, _):
            import sipwarden_sdk
            from sipwarden_sdk import config

            seen = []

            class Mark(sipwarden_sdk.Policy):
                config_schema = config.Schema(config.Field("mark", config.String, default="X-Seen"))

                def init(self, cfg):
                    self.verdict = Verdict.pass_with([Edit.add(cfg["mark"], "yes")])

                def decide(self, request):
                    return self.verdict

                def observe(self, request, response):
                    seen.append((request, response))

            exported = sipwarden_sdk.export(Mark)
            self.assertEqual(exported.__name__, "Policy")
            self.assertTrue(issubclass(exported, modules["exports"].Policy))
            # componentize-py makes a fresh object of the class for each call.
            exported().init('{"mark":"X-Screened-By"}')
            types = modules["types"]
            lowered = exported().decide("request")
            self.assertEqual(lowered, types.Verdict_Continue([types.Edit_AddHeader(types.Header("X-Screened-By", "yes"))]))
            self.assertIs(exported().decide("request"), lowered, "a verdict is lowered once")
            exported().observe("request", "response")
            self.assertEqual(seen, [("request", "response")])

    def test_every_verdict_lowers(self):
        with fake_bindings.world() as (modules, _):
            import sipwarden_sdk
            t = modules["types"]
            verdicts = iter([
                Verdict.respond(403, "TLS Required", [Header("Warning", "399 x")]),
                Verdict.fail("down"),
                Verdict.pass_with([Edit.request_uri("sip:b@h"), Edit.set("A", "1"), Edit.remove("B")]),
                t.Verdict_Fail("generated verdicts pass through"),
            ])

            class Each(sipwarden_sdk.Policy):
                def decide(self, request):
                    return next(verdicts)

            exported = sipwarden_sdk.export(Each)
            exported().init("{}")
            self.assertEqual(exported().decide(None), t.Verdict_Respond(t.Reply(403, "TLS Required", [t.Header("Warning", "399 x")])))
            self.assertEqual(exported().decide(None), t.Verdict_Fail("down"))
            self.assertEqual(exported().decide(None), t.Verdict_Continue(
                [t.Edit_SetRequestUri("sip:b@h"), t.Edit_SetHeader(t.Header("A", "1")), t.Edit_RemoveHeader("B")]))
            self.assertEqual(exported().decide(None), t.Verdict_Fail("generated verdicts pass through"))

    def test_refusals_become_err(self):
        with fake_bindings.world() as (modules, _):
            import sipwarden_sdk
            Err = modules["componentize_py_types"].Err

            class Picky(sipwarden_sdk.Policy):
                def init(self, cfg):
                    if cfg.get("mode") == "refuse":
                        raise sipwarden_sdk.ConfigError("this configuration is refused on purpose")
                    if cfg.get("mode") == "bug":
                        cfg["missing"]
                    if cfg.get("mode") == "return":
                        return "refused?"

                def decide(self, request):
                    return None

            exported = sipwarden_sdk.export(Picky)
            for config, message in [
                ('{"mode":"refuse"}', "this configuration is refused on purpose"),
                ('{"mode":"bug"}', "init failed: KeyError: 'missing'"),
                ('{"mode":"return"}', "init returned 'refused?': raise ConfigError to refuse a configuration"),
            ]:
                with self.assertRaises(Err) as refused:
                    exported().init(config)
                self.assertEqual(refused.exception.value, message)
            with self.assertRaises(RuntimeError):
                exported().decide(None)  # never initialised: a refused init keeps no policy
            exported().init("{}")
            with self.assertRaises(TypeError):
                exported().decide(None)  # decide returned None

    def test_export_takes_a_policy_class(self):
        with fake_bindings.world():
            import sipwarden_sdk
            with self.assertRaises(TypeError):
                sipwarden_sdk.export(Greeter)


if __name__ == "__main__":
    unittest.main()
