"""The host grammar's own tests (host/grammar/src/*.rs), where they apply to
the Python port: the same inputs, accepted or refused the same way, with
the same error texts."""

import unittest

from sipwarden_sdk.grammar import (
    Address, AddressError, HostPort, ListError, ParamError, Params, QuotedError, SipUri, UriError, aor_of,
    canonical_host, check_uri, excerpt, is_token, quote, quoted_string, split_list, target_uri, unescape,
    unquote, uri_of,
)


def refusal(function, *args):
    try:
        function(*args)
    except ValueError as error:
        return error
    raise AssertionError(f"{function.__name__}{args!r} was accepted")


class Tokens(unittest.TestCase):
    """token.rs"""

    def test_tokens(self):
        self.assertTrue(is_token("!interesting-Method0123456789_*+`.%indeed'~"))
        for not_token in ["", "a b", "a:b", "a,b", "é", 'a"', "a#b", "a$b", "a&b", "a^b", "a|b", "<a>"]:
            self.assertFalse(is_token(not_token), not_token)

    def test_quoted_strings(self):
        self.assertEqual(quoted_string(r'"J Rosenberg \\\""  <sip:x>'), (r'"J Rosenberg \\\""', "  <sip:x>"))
        self.assertEqual(quoted_string('"\u0442"x'), ('"\u0442"', "x"))
        self.assertEqual(quoted_string('"a\tb"'), ('"a\tb"', ""))
        for text, kind in [
            ('x""', "NotQuoted"), ('"open', "Unterminated"), ('"a\\', "BadEscape"), ('"a\\\r"', "BadEscape"),
            ('"a\\\u00e9"', "BadEscape"), ('"a\u0000"', "ControlCharacter"), ('"a\r\nb"', "ControlCharacter"),
            ('"a\u0085"', "ControlCharacter"),
        ]:
            self.assertEqual(refusal(quoted_string, text), QuotedError(kind), repr(text))
        self.assertEqual(str(QuotedError("Unterminated")), "unterminated quoted string")

    def test_unquoting_and_quoting(self):
        self.assertEqual(unquote(r'"a\"b\\c"'), 'a"b\\c')
        self.assertEqual(unquote('"abc"'), "abc")
        self.assertEqual(unquote("token"), "token")
        self.assertEqual(quote('a "b" \\c'), r'"a \"b\" \\c"')
        self.assertEqual(quote("a\u0001b"), '"a\\\u0001b"')
        self.assertEqual(quote("a\tb"), '"a\tb"')
        self.assertIsNone(quote("a\nb"))
        self.assertIsNone(quote("a\u0085b"))


class Excerpts(unittest.TestCase):
    """excerpt.rs"""

    def test_excerpts_are_quoted_escaped_and_short(self):
        self.assertEqual(excerpt("a\r\nb"), '"a\\r\\nb"')
        self.assertEqual(excerpt("x" * 50), '"' + "x" * 48 + '…"')


class ParamLists(unittest.TestCase):
    """params.rs"""

    def test_lists(self):
        params, rest = Params.parse(' ;  tag = 98asjd8 ; lr;p="a;b, c";maddr=[::1] , next')
        self.assertEqual(rest, ", next")
        self.assertEqual(list(params), [("tag", "98asjd8"), ("lr", None), ("p", '"a;b, c"'), ("maddr", "[::1]")])
        self.assertEqual((params.get("TAG"), params.get("lr"), params.get("x")), ("98asjd8", "", None))
        self.assertEqual(params.as_str(), ' ;  tag = 98asjd8 ; lr;p="a;b, c";maddr=[::1]')
        empty, rest = Params.parse("  ")
        self.assertTrue(empty.is_empty())
        self.assertEqual(rest, "")

    def test_refusals(self):
        self.assertEqual(refusal(Params.parse, ";;tag=1"), ParamError("EmptyName"))
        self.assertEqual(refusal(Params.parse, ";=1"), ParamError("EmptyName"))
        self.assertEqual(refusal(Params.parse, ";a="), ParamError("EmptyValue", "a"))
        self.assertEqual(refusal(Params.parse, ';a="x'), ParamError("Quoted", QuotedError("Unterminated")))
        self.assertEqual(refusal(Params.parse, " junk"), ParamError("Unexpected", "j"))
        self.assertEqual(refusal(Params.parse, ";a=b c"), ParamError("Unexpected", "c"))
        self.assertEqual(str(ParamError("Unexpected", "<")), 'unexpected "<" where a parameter should start')


# From and To values the host's parser accepts (most from RFC 4475).
GOOD_ADDRESSES = [
    "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
    r'"J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8',
    "caller<sip:caller@example.com>;tag=323",
    "token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;p=\"\u0442\";tag=_token~1'+`*%!-.",
    "isbn:2983792873",
    "<http://www.example.com>;tag=3234233",
    '"A;b" <sip:a@example.com;lr>;tag=x1',
    "<sip:bob@example.com>",
]


class Addresses(unittest.TestCase):
    """address.rs"""

    def test_addresses(self):
        for good in GOOD_ADDRESSES:
            Address.parse(good)
        for bad in [
            '"Mr. J. User <sip:j.user@example.com>',
            '"Watson, Thomas" < sip:t.watson@example.org >',
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "sip:a@example.com, sip:b@example.com",
            "<sip:a@example.com>;;tag=1",
            "<sip:a@example.com",
        ]:
            self.assertIsInstance(refusal(Address.parse, bad), AddressError, bad)
        to = Address.parse('"A;b" <sip:a@example.com;lr>;tag=x1')
        self.assertEqual(to.param("TAG"), "x1")
        self.assertIsNone(Address.parse("sip:a@example.com").param("tag"))

    def test_split_addresses_agree_with_parsed_ones(self):
        for good in GOOD_ADDRESSES:
            self.assertEqual(Address.split(good), Address.parse(good), good)

    def test_finds_uris_in_addresses(self):
        self.assertEqual(uri_of('"A <x>" <sip:a@b;lr>;tag=1'), "sip:a@b;lr")
        self.assertEqual(uri_of("sip:a@b;tag=1"), "sip:a@b")
        self.assertEqual(uri_of("<sip:p1.example.com;lr>"), "sip:p1.example.com;lr")
        self.assertEqual(refusal(uri_of, '"unterminated <sip:a@b>'),
                         AddressError("Quoted", QuotedError("Unterminated")))

    def test_list_and_address_grammar(self):
        self.assertEqual(
            split_list(' "a, b" <sip:x@h>;p="1,2" ,<sip:y,z@h>,sip:w@h '),
            ['"a, b" <sip:x@h>;p="1,2"', "<sip:y,z@h>", "sip:w@h"],
        )
        self.assertEqual(len(split_list('"a\\", b" <sip:x@h>')), 1)
        for bad in ['"open <sip:x@h>, <sip:y@h>', "<sip:x@h, sip:y@h", "<sip:x@h>,,<sip:y@h>"]:
            self.assertIsInstance(refusal(split_list, bad), ListError, bad)
        contact = Address.parse(
            'Alice  Smith <sip:alice@pc33.example.com;transport=tcp> ; +sip.instance="<urn:uuid:1;x>" ;q=0.7;ob')
        self.assertEqual(contact.uri, "sip:alice@pc33.example.com;transport=tcp")
        self.assertEqual(contact.param("+SIP.Instance"), '"<urn:uuid:1;x>"')
        self.assertEqual((contact.param("q"), contact.param("ob"), contact.param("expires")), ("0.7", "", None))
        self.assertEqual(Address.parse("sip:alice@h;expires=60").param("expires"), "60")
        for bad in ['"Alice" sip:a@h', "<sip:a@h", "<sip:a@h> junk", "<sip:a@h>;=1", "<sip:a@h>;a=",
                    'Al"ice <sip:a@h>', ""]:
            self.assertIsInstance(refusal(Address.parse, bad), AddressError, bad)

    def test_refusals_name_the_problem(self):
        def error(value):
            return refusal(Address.parse, value)
        self.assertEqual(str(error("<sip:bob@127.0.0.1:5061> junk")), "unexpected text after the address")
        self.assertEqual(error("sip:a@example.com, sip:b@example.com"), AddressError("TrailingText"))
        self.assertEqual(error('"Alice" sip:a@h'), AddressError("QuotedNameWithoutBrackets"))
        self.assertEqual(error("<sip:a@h"), AddressError("MissingClosingBracket"))
        self.assertEqual(error("< sip:a@h>"), AddressError("SpaceInBrackets"))
        self.assertEqual(error("Bell, A <sip:a@h>"), AddressError("BadDisplayName"))
        self.assertEqual(error("<sip:a@h>;=1"), AddressError("Param", ParamError("EmptyName")))
        self.assertEqual(error("  "), AddressError("MissingUri"))
        self.assertEqual(error("<>"), AddressError("MissingUri"))
        self.assertEqual(error("<sip:a@h:99999>"), AddressError("Uri", UriError("BadPort", "99999")))
        # An addr-spec cannot carry URI headers (RFC 3261 §20.10).
        self.assertEqual(error("sip:a@h?subject=x"), AddressError("Uri", UriError("HeadersNotAllowed")))
        Address.parse("<sip:a@h?subject=x>")
        self.assertEqual(str(refusal(split_list, '"Bob <sip:bob@h>')), "unterminated quoted string or <URI>")
        self.assertEqual(str(refusal(split_list, "<sip:bob@h>,")), "empty list element")
        self.assertEqual(refusal(split_list, " "), ListError("EmptyElement"))

    def test_display_names(self):
        def name(value):
            return Address.parse(value).display_name()
        self.assertEqual(name(r'"J Rosenberg \\\"" <sip:j@h>'), 'J Rosenberg \\"')
        self.assertEqual(name("Alice  Smith<sip:a@h>"), "Alice  Smith")
        self.assertIsNone(name("<sip:a@h>"))
        self.assertIsNone(name('"" <sip:a@h>'))
        self.assertIsNone(name("sip:a@h"))
        address = Address.parse("sip:a@h;tag=1")
        self.assertFalse(address.is_name_addr())
        self.assertEqual(list(address.params), [("tag", "1")])

    def test_splits_lists(self):
        self.assertEqual(split_list('"a, b" <sip:a@x>, <tel:+1>'), ['"a, b" <sip:a@x>', "<tel:+1>"])
        self.assertEqual(refusal(split_list, ' , "a\\", b" <sip:a@x>,,'), ListError("EmptyElement"))
        self.assertEqual(split_list('<sip:a"b@x>, <sip:c@d>'), ['<sip:a"b@x>', "<sip:c@d>"])
        self.assertEqual(split_list('<sip:a@b;lr>, "x, y" <sip:c@d>,sip:e@f'),
                         ["<sip:a@b;lr>", '"x, y" <sip:c@d>', "sip:e@f"])


class Uris(unittest.TestCase):
    """uri.rs"""

    def test_request_uris(self):
        for good in [
            "sip:user@example.com",
            "sips:[2001:db8::10]:5061;transport=tls",
            "sip:user;par=u%40example.net@example.com",
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
            "@example.com",
            "nobodyKnowsThisScheme:totallyopaquecontent",
            "soap.beep://192.0.2.103:3002",
            "tel:+1-972-555-2222",
        ]:
            check_uri(good, False)
        for bad in [
            "<sip:user@example.com>",
            "sip:user@example.com?Route=%3Csip:example.com%3E",
            "sip:user@exa mple.com",
            "sip:@example.com",
            "sip:user@example.com:99999",
            "sip:user@example.com;;lr",
            "sip:user@[::1",
            "sip:%zz@example.com",
            "sip:",
            "1sip:x",
        ]:
            self.assertIsInstance(refusal(check_uri, bad, False), UriError, bad)
        check_uri("sip:user@example.com?Route=%3Csip:example.com%3E", True)
        # The refusal names the character, whole, and the part it is in.
        self.assertEqual(str(refusal(check_uri, "sip:j%C3%A9r\u00f4me@example.com", False)),
                         'character "\u00f4" is not allowed in the URI')
        self.assertEqual(str(refusal(check_uri, "sip:alice%4@example.com", False)), "bad % escape in the URI")
        self.assertEqual(str(refusal(check_uri, "sip:alice@example.com;x=%4", False)), "bad % escape in the URI")

    def test_refusals_are_typed(self):
        for uri, headers, error in [
            ("sip:a@b:99999", False, UriError("BadPort", "99999")),
            ("sip:a@[::1]x", False, UriError("JunkAfterIpv6")),
            ("sip:a@[::g]", False, UriError("BadIpv6", "::g")),
            ("sip:a@b?x", True, UriError("MalformedHeader")),
            ("sip:a@-b", False, UriError("BadHost", "-b")),
            ("sip:a@b;x=", False, UriError("EmptyParameter")),
            ("sip::pw@b", False, UriError("EmptyUser")),
            ('sip:a:p"w@b', False, UriError("BadCharacter", '"', "Uri")),
            ("sip:a:p;w@b", False, UriError("BadCharacter", ";", "Password")),
            ("sip:a@b;x=?", True, UriError("EmptyParameter")),
            ("sip:a@b;x=@", True, UriError("BadCharacter", "@", "Parameters")),
        ]:
            self.assertEqual(refusal(check_uri, uri, headers), error, uri)
        check_uri("sip:a@b;x?h=[", True)
        self.assertEqual(refusal(SipUri.parse, "tel:+1"), UriError("NotSip", "tel"))
        self.assertEqual(str(UriError("NotSip", "tel")), '"tel" URI is not a SIP URI')

    def test_parses_routing_parts(self):
        u = SipUri.parse("sip:alice@Example.COM:5070;transport=TCP;lr")
        self.assertEqual((u.user, u.host, u.port), ("alice", "example.com", 5070))
        self.assertEqual((u.param("transport"), u.param("lr"), u.param("maddr")), ("TCP", "", None))
        self.assertEqual(str(u), "sip:alice@example.com:5070;transport=TCP;lr")
        u = SipUri.parse("sips:[2001:db8::1]:5061")
        self.assertTrue(u.is_secure())
        self.assertEqual(u.ip(), (6, 0x20010DB8000000000000000000000001))
        self.assertEqual(SipUri.parse("sip:j.user@example.com").host, "example.com")
        self.assertIsInstance(refusal(SipUri.parse, "tel:+15551234567"), UriError)
        self.assertIsInstance(refusal(SipUri.parse, "sip:a@b:99999"), UriError)

    def test_every_part(self):
        u = SipUri.parse("SIPS:Bob%2C:se%63ret@[2001:DB8::1]:5061;Transport=TLS;LR?Subject=Hi&X=%20")
        self.assertEqual(u.as_str(), "sips:Bob%2C:se%63ret@[2001:db8::1]:5061;transport=TLS;lr?Subject=Hi&X=%20")
        self.assertEqual((u.scheme(), u.user, u.password), ("sips", "Bob%2C", "se%63ret"))
        self.assertEqual((u.host, u.port, u.port_or_default()), ("[2001:db8::1]", 5061, 5061))
        self.assertEqual(u.params(), [("transport", "TLS"), ("lr", None)])
        self.assertEqual(u.param("TRANSPORT"), "TLS")
        self.assertEqual(u.headers(), [("Subject", "Hi"), ("X", "%20")])
        self.assertEqual(u.canonical_user(), "Bob%2C")
        self.assertEqual(u.canonical_host(), "[2001:db8::1]")
        self.assertEqual(u.binding_key(), "sips:Bob%2C@[2001:db8::1]:5061;transport=tls")
        plain = SipUri.parse("sip:example.com")
        self.assertEqual((plain.user, len(plain.params()), len(plain.headers())), (None, 0, 0))
        self.assertEqual(plain.port_or_default(), 5060)
        self.assertEqual(plain.as_str(), "sip:example.com")
        # The user part may hold `?` and `;`: the first `@` ends it.
        odd = SipUri.parse("sip:a?b;c@h;p?h=v")
        self.assertEqual((odd.user, odd.host, odd.param("p"), len(odd.headers())), ("a?b;c", "h", "", 1))

    def test_escapes_and_case_compare_as_rfc_3261_says(self):
        alice = SipUri.parse("sip:alice@atlanta.com")
        for same in ["sip:%61lice@atlanta.com", "SIP:%61lice@ATLANTA.com", "sip:alice@atlanta.com.",
                     "sip:alice@atlanta.com:5060", "sip:alice:pw@atlanta.com;transport=tcp"]:
            self.assertTrue(alice.same_target(SipUri.parse(same)), same)
        for other in ["sip:Alice@atlanta.com", "sips:alice@atlanta.com", "sip:alice@atlanta.com:5070",
                      "sip:atlanta.com"]:
            self.assertFalse(alice.same_target(SipUri.parse(other)), other)
        # A reserved character is not its escape.
        self.assertFalse(SipUri.parse("sip:+1@h").same_target(SipUri.parse("sip:%2B1@h")))
        self.assertEqual(SipUri.parse("sip:%2b1@h").canonical_user(), "%2B1")
        self.assertEqual(SipUri.parse("sip:%c3%a9@h").canonical_user(), "%C3%A9")

    def test_unescaping(self):
        self.assertEqual(unescape("%61lice"), "alice")
        self.assertEqual(unescape("alice"), "alice")
        self.assertEqual(unescape("%2B1%20555"), "+1 555")
        for broken in ["a%2", "a%+1", "a%zz", "%ff", "%"]:
            self.assertIsNone(unescape(broken), broken)

    def test_aor_canonical_form(self):
        for text, aor in [
            ("sip:alice@example.com", "sip:alice@example.com"),
            ("SIP:alice@EXAMPLE.COM:5060;transport=tcp", "sip:alice@example.com"),
            ('"Alice, A." <sip:Alice@Example.COM:5070;transport=TLS?Subject=hi>;tag=88sja8x',
             "sip:Alice@example.com"),
            ("Alice <sips:alice@example.com>", "sips:alice@example.com"),
            ("<SIPS:alice@example.com:5061>", "sips:alice@example.com"),
            ("sip:alice:secret@example.com", "sip:alice@example.com"),
            ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@atlanta.com"),
            ("sip:alice%2fbob@example.com", "sip:alice%2Fbob@example.com"),
            ("sip:alice;day=tuesday@example.com", "sip:alice;day=tuesday@example.com"),
            ("sip:+15551234567@example.com;user=phone", "sip:+15551234567@example.com"),
            ("sip:example.com", "sip:example.com"),
            ("sip:bob@[2001:DB8:0::1]:5060", "sip:bob@[2001:db8::1]"),
            ("sip:bob@example.com.", "sip:bob@example.com"),
            ("tel:+15551234567", None),
            ("<tel:+15551234567>;tag=x", None),
            ("sip:", None),
            ("sip:alice@exa mple.com", None),
            ("sip:alice@example.com:99999", None),
            ('"unterminated <sip:a@b>', None),
            ("not a uri", None),
        ]:
            self.assertEqual(aor_of(text), aor, text)

    def test_target_uris(self):
        self.assertEqual(target_uri(" sip:alice;day=tuesday@h "), "sip:alice;day=tuesday@h")
        self.assertEqual(target_uri('"Bob" <sip:bob@h>;tag=1'), "sip:bob@h")
        self.assertIsNone(target_uri("<sip:bob@h"))

    def test_binding_keys(self):
        def key(text):
            return SipUri.parse(text).binding_key()
        self.assertEqual(key("sip:%62ob@127.0.0.1:5061"), key("sip:bob@127.0.0.1:5061"))
        self.assertNotEqual(key("sip:bob@127.0.0.1:5061"), key("sip:bob@127.0.0.1:5061;transport=tcp"))
        self.assertEqual(key("sip:bob@h;transport=TCP"), "sip:bob@h;transport=tcp")

    def test_canonical_hosts(self):
        self.assertEqual(canonical_host("EXAMPLE.com."), "example.com")
        self.assertEqual(canonical_host("2001:DB8:0::1"), "[2001:db8::1]")
        self.assertEqual(canonical_host("[2001:DB8:0::1]"), "[2001:db8::1]")
        self.assertEqual(canonical_host("192.0.2.1"), "192.0.2.1")

    def test_host_ports(self):
        hp = HostPort.parse("[::1]:5060")
        self.assertEqual((hp.host, hp.port), ("[::1]", 5060))
        self.assertEqual(HostPort.parse("Example.com"), HostPort("Example.com", None))
        for bad in ["", "host:", "host:port", "host:+1", "[::1", "a..b", "a_b", "[::1]5060"]:
            self.assertIsInstance(refusal(HostPort.parse, bad), UriError, bad)


if __name__ == "__main__":
    unittest.main()
