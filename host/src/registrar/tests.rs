use std::time::{Duration, Instant};

use super::*;
use crate::sip::{Message, parse};
use crate::transport::Transport;

/// A REGISTER as Linphone sends it over TCP: outbound and GRUU supported, a
/// `+sip.instance` and a `reg-id` on the contact.
const LINPHONE: &str = "REGISTER sip:localhost SIP/2.0
Via: SIP/2.0/TCP 192.168.1.20:49152;alias;branch=z9hG4bK.8Ymg6gFWk;rport
From: <sip:alice@localhost>;tag=Rq3cRBn~S
To: sip:alice@localhost
CSeq: 20 REGISTER
Call-ID: 7Zf0aE2Jk5
Max-Forwards: 70
Supported: replaces, outbound, gruu, path
Accept: application/sdp
Contact: <sip:alice@192.168.1.20:49152;transport=tcp>;+sip.instance=\"<urn:uuid:6b0b7b34-2f6c-00fb-a8b3-5a1b9d8e0c11>\";+org.linphone.specs=\"lime\";reg-id=1
Expires: 3600
User-Agent: Linphone-Desktop/5.2.4 (belle-sip/5.2.0)
Content-Length: 0

";

/// A REGISTER as the sipp `uac` scenarios send it over UDP: a bare Contact URI.
const SIPP: &str = "REGISTER sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4021-1-0
From: sipp <sip:bob@127.0.0.1>;tag=4021SIPpTag001
To: sipp <sip:bob@127.0.0.1>
Call-ID: 1-4021@127.0.0.1
CSeq: 1 REGISTER
Contact: sip:bob@127.0.0.1:5061
Max-Forwards: 70
Subject: Performance Test
Expires: 3600
Content-Length: 0

";

const DESKTOP: &str = "\"<urn:uuid:6b0b7b34-2f6c-00fb-a8b3-5a1b9d8e0c11>\"";
const PHONE: &str = "\"<urn:uuid:0e4a2b9c-58d1-4f7e-9c3a-7d2f1b6e8a40>\"";

fn message(text: &str) -> Request {
    match parse(text.replace('\n', "\r\n").as_bytes()) {
        Ok(Message::Request(request)) => request,
        other => panic!("{other:?}"),
    }
}

/// `template` with headers replaced; an empty value removes the header.
fn edit(template: &str, headers: &[(&str, &str)]) -> Request {
    let mut request = message(template);
    for &(name, value) in headers {
        if value.is_empty() {
            request.headers.remove(name);
        } else {
            request.headers.set(name, value).unwrap();
        }
    }
    request
}

/// Linphone registering device `instance` from `contact` with `call_id` and `cseq`.
fn linphone(instance: &str, contact: &str, call_id: &str, cseq: u32) -> Request {
    let contact = format!("<sip:alice@{contact};transport=tcp>;+sip.instance={instance};reg-id=1");
    edit(LINPHONE, &[("Contact", &contact), ("Call-ID", call_id), ("CSeq", &format!("{cseq} REGISTER"))])
}

fn origin(transport: Transport, source: &str) -> Origin {
    Origin { transport, source: source.parse().unwrap(), tls_peer: None }
}

fn registrar() -> Registrar {
    Registrar::new(RegistrarConfig { domains: vec!["localhost".into(), "127.0.0.1".into()], ..Default::default() })
}

fn contacts(response: &Response) -> Vec<&str> {
    response.headers.get_all("Contact").collect()
}

fn contact_uris(bindings: &[Binding]) -> Vec<&str> {
    bindings.iter().map(|binding| binding.contact.as_str()).collect()
}

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

#[test]
fn two_devices_of_one_user_get_two_bindings() {
    let registrar = registrar();
    let t0 = Instant::now();
    let desktop = linphone(DESKTOP, "192.168.1.20:49152", "desk-1", 20);
    let response = registrar.register(&desktop, &origin(Transport::Tcp, "192.168.1.20:49152"), Some(FlowToken(7)), t0);
    assert_eq!((response.status, response.reason.as_str()), (200, "OK"));
    assert_eq!(
        contacts(&response),
        [
            "<sip:alice@192.168.1.20:49152;transport=tcp>;expires=3600;+sip.instance=\"<urn:uuid:6b0b7b34-2f6c-00fb-a8b3-5a1b9d8e0c11>\";reg-id=1"
        ]
    );

    let phone = linphone(PHONE, "100.64.7.9:37000", "phone-1", 3);
    let response =
        registrar.register(&phone, &origin(Transport::Tls, "203.0.113.9:37000"), Some(FlowToken(8)), t0 + secs(5));
    assert_eq!(response.status, 200);
    assert_eq!(contacts(&response).len(), 2);

    let bindings = registrar.lookup("sip:alice@localhost", t0 + secs(10));
    assert_eq!(
        contact_uris(&bindings),
        ["sip:alice@100.64.7.9:37000;transport=tcp", "sip:alice@192.168.1.20:49152;transport=tcp"]
    );
    assert_eq!(bindings[0].flow, Some(FlowToken(8)));
    assert_eq!(bindings[0].source, origin(Transport::Tls, "203.0.113.9:37000"));
    assert_eq!(bindings[1].flow, Some(FlowToken(7)));
    assert_eq!(bindings[1].aor, "sip:alice@localhost");
    assert_eq!(registrar.stats(), RegistrarStats { aors: 1, bindings: 2 });
}

#[test]
fn a_device_that_moves_networks_replaces_its_binding() {
    let registrar = registrar();
    let t0 = Instant::now();
    let wifi = linphone(DESKTOP, "192.168.1.20:49152", "wifi-call", 20);
    registrar.register(&wifi, &origin(Transport::Tcp, "192.168.1.20:49152"), Some(FlowToken(1)), t0);

    // On the mobile network the app starts a new registration: new address,
    // new connection, new Call-ID, and a CSeq that starts over.
    let mobile = linphone(DESKTOP, "100.64.3.7:41000", "lte-call", 1);
    let response =
        registrar.register(&mobile, &origin(Transport::Tcp, "198.51.100.4:41000"), Some(FlowToken(2)), t0 + secs(60));
    assert_eq!(response.status, 200);
    assert_eq!(contacts(&response).len(), 1);

    let bindings = registrar.lookup("sip:alice@localhost", t0 + secs(61));
    assert_eq!(contact_uris(&bindings), ["sip:alice@100.64.3.7:41000;transport=tcp"]);
    let binding = &bindings[0];
    assert_eq!(binding.instance.as_deref(), Some("<urn:uuid:6b0b7b34-2f6c-00fb-a8b3-5a1b9d8e0c11>"));
    assert_eq!((binding.call_id.as_str(), binding.cseq, binding.flow), ("lte-call", 1, Some(FlowToken(2))));
    assert_eq!(binding.expires_at, t0 + secs(60 + 3600));
    assert_eq!(registrar.stats(), RegistrarStats { aors: 1, bindings: 1 });
}

#[test]
fn without_an_instance_the_contact_uri_identifies_the_binding() {
    let registrar = registrar();
    let t0 = Instant::now();
    let from = origin(Transport::Udp, "127.0.0.1:5061");
    assert_eq!(registrar.register(&message(SIPP), &from, None, t0).status, 200);

    // Equal under RFC 3261 §19.1.4: host case, an escaped unreserved character.
    for (cseq, contact) in [(2, "<sip:bob@127.0.0.1:5061>"), (3, "\"Bob\" <sip:%62ob@127.0.0.1:5061>;expires=1800")] {
        let request = edit(SIPP, &[("Contact", contact), ("CSeq", &format!("{cseq} REGISTER"))]);
        assert_eq!(registrar.register(&request, &from, None, t0).status, 200);
        assert_eq!(registrar.lookup("sip:bob@127.0.0.1", t0).len(), 1, "{contact}");
    }

    // Another port or transport is another contact.
    for (cseq, contact) in [(4, "sip:bob@127.0.0.1:5062"), (5, "<sip:bob@127.0.0.1:5061;transport=tcp>")] {
        let request = edit(SIPP, &[("Contact", contact), ("CSeq", &format!("{cseq} REGISTER"))]);
        assert_eq!(registrar.register(&request, &from, None, t0).status, 200);
    }
    assert_eq!(registrar.lookup("sip:bob@127.0.0.1", t0).len(), 3);
}

#[test]
fn a_register_without_contact_is_a_query() {
    let registrar = registrar();
    let t0 = Instant::now();
    let from = origin(Transport::Udp, "127.0.0.1:5061");
    registrar.register(&message(SIPP), &from, None, t0);

    let query = edit(SIPP, &[("Contact", ""), ("CSeq", "2 REGISTER")]);
    let response = registrar.register(&query, &from, None, t0 + secs(100));
    assert_eq!(response.status, 200);
    assert_eq!(contacts(&response), ["<sip:bob@127.0.0.1:5061>;expires=3500"]);
    assert_eq!(registrar.lookup("sip:bob@127.0.0.1", t0)[0].cseq, 1, "a query changes nothing");

    let nobody = edit(SIPP, &[("Contact", ""), ("To", "<sip:carol@127.0.0.1>")]);
    let response = registrar.register(&nobody, &from, None, t0);
    assert_eq!((response.status, contacts(&response).len()), (200, 0));
}

#[test]
fn star_removes_every_binding() {
    let registrar = registrar();
    let t0 = Instant::now();
    let from = origin(Transport::Tcp, "192.168.1.20:49152");
    registrar.register(&linphone(DESKTOP, "192.168.1.20:49152", "desk", 20), &from, None, t0);
    registrar.register(&linphone(PHONE, "10.1.1.1:5060", "phone", 20), &from, None, t0);

    let star = edit(LINPHONE, &[("Contact", "*"), ("Expires", "0"), ("Call-ID", "logout"), ("CSeq", "1 REGISTER")]);
    let response = registrar.register(&star, &from, None, t0 + secs(1));
    assert_eq!((response.status, contacts(&response).len()), (200, 0));
    assert!(registrar.lookup("sip:alice@localhost", t0 + secs(1)).is_empty());
    assert_eq!(registrar.stats(), RegistrarStats::default());
}

#[test]
fn star_needs_expires_zero_a_contact_of_its_own_and_a_newer_cseq() {
    let registrar = registrar();
    let t0 = Instant::now();
    let from = origin(Transport::Tcp, "192.168.1.20:49152");
    registrar.register(&linphone(DESKTOP, "192.168.1.20:49152", "desk", 20), &from, None, t0);

    for (headers, status) in [
        (vec![("Contact", "*"), ("Expires", "3600")], 400),
        (vec![("Contact", "*"), ("Expires", "")], 400),
        (vec![("Contact", "*, <sip:alice@192.168.1.20>"), ("Expires", "0")], 400),
        (vec![("Contact", "*"), ("Expires", "0"), ("Call-ID", "desk"), ("CSeq", "20 REGISTER")], 500),
    ] {
        let response = registrar.register(&edit(LINPHONE, &headers), &from, None, t0);
        assert_eq!(response.status, status, "{headers:?}");
    }
    assert_eq!(registrar.lookup("sip:alice@localhost", t0).len(), 1);

    let newer = edit(LINPHONE, &[("Contact", "*"), ("Expires", "0"), ("Call-ID", "desk"), ("CSeq", "21 REGISTER")]);
    assert_eq!(registrar.register(&newer, &from, None, t0).status, 200);
    assert!(registrar.lookup("sip:alice@localhost", t0).is_empty());
}

#[test]
fn the_contact_parameter_overrides_the_header_which_overrides_the_default() {
    let t0 = Instant::now();
    let from = origin(Transport::Udp, "127.0.0.1:5061");
    for (contact, expires, granted) in [
        ("<sip:bob@127.0.0.1:5061>;expires=120", "3600", 120),
        ("<sip:bob@127.0.0.1:5061>", "300", 300),
        ("<sip:bob@127.0.0.1:5061>", "", 3600),
        ("<sip:bob@127.0.0.1:5061>;expires=86400", "60", 3600),
        ("<sip:bob@127.0.0.1:5061>", "99999999999999999999", 3600),
        // RFC 3261 §10.2.1.1: unreadable intervals count as an hour.
        ("<sip:bob@127.0.0.1:5061>;expires=soon", "60", 3600),
        ("<sip:bob@127.0.0.1:5061>", "Thu, 01 Dec 2094 16:00:00 GMT", 3600),
    ] {
        let request = edit(SIPP, &[("Contact", contact), ("Expires", expires)]);
        let response = registrar().register(&request, &from, None, t0);
        assert_eq!(contacts(&response), [format!("<sip:bob@127.0.0.1:5061>;expires={granted}")], "{contact} {expires}");
    }
}

#[test]
fn expires_zero_removes_one_binding() {
    let registrar = registrar();
    let t0 = Instant::now();
    let from = origin(Transport::Udp, "127.0.0.1:5061");
    let two = edit(SIPP, &[("Contact", "<sip:bob@127.0.0.1:5061>, <sip:bob@127.0.0.1:5071>")]);
    assert_eq!(contacts(&registrar.register(&two, &from, None, t0)).len(), 2);

    let remove = edit(SIPP, &[("Contact", "<sip:bob@127.0.0.1:5071>;expires=0"), ("CSeq", "2 REGISTER")]);
    let response = registrar.register(&remove, &from, None, t0);
    assert_eq!(contacts(&response), ["<sip:bob@127.0.0.1:5061>;expires=3600"]);

    // Removing a contact that is not bound is no error.
    let again = edit(SIPP, &[("Contact", "<sip:bob@127.0.0.1:5071>"), ("Expires", "0"), ("CSeq", "3 REGISTER")]);
    assert_eq!(registrar.register(&again, &from, None, t0).status, 200);
    assert_eq!(registrar.stats(), RegistrarStats { aors: 1, bindings: 1 });
}

#[test]
fn too_brief_an_interval_gets_423_with_min_expires() {
    let registrar = registrar();
    let t0 = Instant::now();
    let from = origin(Transport::Udp, "127.0.0.1:5061");
    for (contact, expires) in [("<sip:bob@127.0.0.1:5061>;expires=30", "3600"), ("<sip:bob@127.0.0.1:5061>", "59")] {
        let both = format!("<sip:bob@127.0.0.1:5099>, {contact}");
        let response = registrar.register(&edit(SIPP, &[("Contact", &both), ("Expires", expires)]), &from, None, t0);
        assert_eq!((response.status, response.reason.as_str()), (423, "Interval Too Brief"));
        assert_eq!(response.headers.get("Min-Expires"), Some("60"));
    }
    assert_eq!(registrar.stats(), RegistrarStats::default(), "nothing of a refused request is kept");

    let at_minimum = edit(SIPP, &[("Expires", "60")]);
    assert_eq!(registrar.register(&at_minimum, &from, None, t0).status, 200);
}

#[test]
fn bindings_expire_and_are_purged() {
    let registrar = registrar();
    let t0 = Instant::now();
    let from = origin(Transport::Udp, "127.0.0.1:5061");
    registrar.register(&edit(SIPP, &[("Expires", "60")]), &from, None, t0);
    registrar.register(
        &edit(SIPP, &[("To", "<sip:carol@127.0.0.1>"), ("Contact", "<sip:carol@127.0.0.1:5062>")]),
        &from,
        None,
        t0,
    );

    assert_eq!(registrar.lookup("sip:bob@127.0.0.1", t0 + secs(59)).len(), 1);
    assert!(registrar.lookup("sip:bob@127.0.0.1", t0 + secs(60)).is_empty());
    assert_eq!(registrar.stats(), RegistrarStats { aors: 2, bindings: 2 }, "not purged yet");

    // An expired binding no longer orders requests: the same CSeq binds afresh.
    let again = edit(SIPP, &[("Expires", "60")]);
    assert_eq!(registrar.register(&again, &from, None, t0 + secs(90)).status, 200);
    assert_eq!(registrar.stats(), RegistrarStats { aors: 2, bindings: 2 });

    assert_eq!(registrar.purge(t0 + secs(150)), 1);
    assert_eq!(registrar.stats(), RegistrarStats { aors: 1, bindings: 1 });
    assert_eq!(registrar.purge(t0 + secs(150)), 0);
    assert_eq!(registrar.purge(t0 + secs(3600)), 1);
    assert_eq!(registrar.stats(), RegistrarStats::default());
}

#[test]
fn cseq_orders_the_requests_of_one_registration() {
    let registrar = registrar();
    let t0 = Instant::now();
    let from = origin(Transport::Tcp, "192.168.1.20:49152");
    let register = |call_id: &str, cseq: u32| {
        registrar.register(&linphone(DESKTOP, "192.168.1.20:49152", call_id, cseq), &from, None, t0)
    };
    assert_eq!(register("reg", 20).status, 200);

    for cseq in [20, 19] {
        let response = register("reg", cseq);
        assert_eq!(response.status, 500);
        assert_eq!(response.reason, format!("Out of Order: CSeq {cseq} is not above 20 for this Call-ID"));
    }
    assert_eq!(register("reg", 21).status, 200);
    // Another Call-ID is another registration of the same device: it replaces.
    assert_eq!(register("reboot", 1).status, 200);
    let bindings = registrar.lookup("sip:alice@localhost", t0);
    assert_eq!(bindings.iter().map(|b| (b.call_id.as_str(), b.cseq)).collect::<Vec<_>>(), [("reboot", 1)]);
}

#[test]
fn contact_lists_split_only_at_separating_commas() {
    let registrar = registrar();
    let t0 = Instant::now();
    let request = edit(
        SIPP,
        &[(
            "Contact",
            "\"Bob, desk\" <sip:bob@192.0.2.1:5060>;expires=600, <sip:bob,home@192.0.2.2>;q=0.5,sip:bob@192.0.2.3",
        )],
    );
    let mut request = request;
    request.headers.push("m", "\"Bob \\\"the, builder\\\"\" <sip:bob@192.0.2.4>;q=0.9").unwrap();
    let response = registrar.register(&request, &origin(Transport::Udp, "127.0.0.1:5061"), None, t0);
    assert_eq!(response.status, 200);
    let bindings = registrar.lookup("sip:bob@127.0.0.1", t0);
    assert_eq!(
        contact_uris(&bindings),
        ["sip:bob@192.0.2.1:5060", "sip:bob@192.0.2.3", "sip:bob@192.0.2.4", "sip:bob,home@192.0.2.2"]
    );
    assert_eq!(bindings[0].expires_at, t0 + secs(600));
}

#[test]
fn a_contact_repeated_in_one_request_counts_once() {
    let registrar = registrar();
    let t0 = Instant::now();
    let twice =
        edit(SIPP, &[("Contact", "<sip:bob@127.0.0.1:5061>;expires=600, <sip:%62ob@127.0.0.1:5061>;expires=1200")]);
    let response = registrar.register(&twice, &origin(Transport::Udp, "127.0.0.1:5061"), None, t0);
    assert_eq!(response.status, 200);
    assert_eq!(contacts(&response), ["<sip:%62ob@127.0.0.1:5061>;expires=1200"]);
}

#[test]
fn foreign_domains_and_non_sip_addresses_get_404() {
    let registrar = registrar();
    let from = origin(Transport::Udp, "127.0.0.1:5061");
    for to in ["<sip:bob@example.org>", "<sip:bob@127.0.0.2>", "<tel:+15551234567>"] {
        let response = registrar.register(&edit(SIPP, &[("To", to)]), &from, None, Instant::now());
        assert_eq!((response.status, response.reason.as_str()), (404, "Not Found"), "{to}");
    }
    assert_eq!(registrar.stats(), RegistrarStats::default());

    for served in
        ["sip:localhost", "sip:alice@LOCALHOST:5060;transport=tcp", "Bob <sip:bob@127.0.0.1>", "sip:localhost."]
    {
        assert!(registrar.serves(served), "{served}");
    }
    for foreign in ["sip:example.org", "sips:bob@127.0.0.2", "tel:+15551234567", "garbage"] {
        assert!(!registrar.serves(foreign), "{foreign}");
    }
    let anywhere = Registrar::new(RegistrarConfig::default());
    assert!(anywhere.serves("sip:bob@example.org") && !anywhere.serves("tel:+15551234567"));
}

#[test]
fn too_many_bindings_get_403_and_change_nothing() {
    let registrar = Registrar::new(RegistrarConfig { max_bindings_per_aor: 2, ..Default::default() });
    let t0 = Instant::now();
    let from = origin(Transport::Tcp, "192.168.1.20:49152");
    registrar.register(&linphone(DESKTOP, "192.168.1.20:49152", "desk", 1), &from, None, t0);
    registrar.register(&linphone(PHONE, "10.0.0.2:5060", "phone", 1), &from, None, t0);

    let tablet = linphone("\"<urn:uuid:tablet>\"", "10.0.0.3:5060", "tablet", 1);
    let response = registrar.register(&tablet, &from, None, t0);
    assert_eq!((response.status, response.reason.as_str()), (403, "Too Many Registrations"));
    assert_eq!(registrar.lookup("sip:alice@localhost", t0).len(), 2);

    let refresh = linphone(PHONE, "10.0.0.2:5060", "phone", 2);
    assert_eq!(registrar.register(&refresh, &from, None, t0).status, 200);
}

#[test]
fn outbound_registrations_keep_their_flow() {
    let registrar = registrar();
    let t0 = Instant::now();
    let from = origin(Transport::Tcp, "192.168.1.20:49152");
    let response = registrar.register(&message(LINPHONE), &from, Some(FlowToken(42)), t0);
    assert_eq!(response.headers.get("Require"), Some("outbound"));
    let binding = &registrar.lookup("sip:alice@localhost", t0)[0];
    assert_eq!((binding.reg_id, binding.flow), (Some(1), Some(FlowToken(42))));

    // Behind an edge proxy that does not keep flows, outbound cannot work.
    let edge = "SIP/2.0/TCP edge.example.net;branch=z9hG4bK-edge1, SIP/2.0/TCP 192.168.1.20:49152;branch=z9hG4bK.x";
    let response = registrar.register(&edit(LINPHONE, &[("Via", edge)]), &from, None, t0);
    assert_eq!((response.status, response.reason.as_str()), (439, "First Hop Lacks Outbound Support"));

    // One that does marks its Path entry with `ob`.
    let request = edit(LINPHONE, &[("Via", edge), ("Path", "<sip:edge.example.net;lr;ob>"), ("CSeq", "21 REGISTER")]);
    let response = registrar.register(&request, &from, None, t0);
    assert_eq!(response.status, 200);
    assert_eq!(response.headers.get("Require"), Some("outbound"));

    // reg-id without an instance is ignored, and so is outbound.
    let request = edit(SIPP, &[("Contact", "<sip:bob@127.0.0.1:5061>;reg-id=1"), ("Supported", "outbound")]);
    let response = registrar.register(&request, &from, None, t0);
    assert_eq!((response.status, response.headers.get("Require")), (200, None));
    assert_eq!(registrar.lookup("sip:bob@127.0.0.1", t0)[0].reg_id, None);

    // A flow binds a single contact.
    let two = format!("{}, <sip:alice@192.168.1.20:5060>", message(LINPHONE).headers.get("Contact").unwrap());
    let response = registrar.register(&edit(LINPHONE, &[("Contact", &two), ("CSeq", "22 REGISTER")]), &from, None, t0);
    assert_eq!((response.status, response.reason.as_str()), (400, "Bad Contact: reg-id with more than one contact"));
}

#[test]
fn path_is_stored_and_returned() {
    let registrar = registrar();
    let t0 = Instant::now();
    let request = edit(
        SIPP,
        &[
            ("Via", "SIP/2.0/UDP p3.example.com;branch=z9hG4bKp3, SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4021-1-0"),
            ("Supported", "path"),
            ("Path", "<sip:p3.example.com;lr>,<sip:p1.example.net;lr>"),
        ],
    );
    let response = registrar.register(&request, &origin(Transport::Udp, "192.0.2.33:5060"), None, t0);
    assert_eq!(
        response.headers.get_all("Path").collect::<Vec<_>>(),
        ["<sip:p3.example.com;lr>,<sip:p1.example.net;lr>"]
    );
    assert_eq!(
        registrar.lookup("sip:bob@127.0.0.1", t0)[0].path,
        ["<sip:p3.example.com;lr>", "<sip:p1.example.net;lr>"]
    );

    let broken = edit(SIPP, &[("Path", "<sip:p3.example.com;lr")]);
    assert_eq!(registrar.register(&broken, &origin(Transport::Udp, "192.0.2.33:5060"), None, t0).status, 400);
}

#[test]
fn required_extensions_must_be_known() {
    let registrar = registrar();
    let from = origin(Transport::Udp, "127.0.0.1:5061");
    let response = registrar.register(&edit(SIPP, &[("Require", "path, gruu,100rel")]), &from, None, Instant::now());
    assert_eq!((response.status, response.headers.get("Unsupported")), (420, Some("gruu, 100rel")));
    let response = registrar.register(&edit(SIPP, &[("Require", "Path")]), &from, None, Instant::now());
    assert_eq!(response.status, 200);
}

#[test]
fn malformed_contacts_get_400() {
    let registrar = registrar();
    let from = origin(Transport::Udp, "127.0.0.1:5061");
    for (contact, reason) in [
        ("<sip:bob@127.0.0.1:5061> junk", "Bad Contact: unexpected text after the address"),
        ("\"Bob <sip:bob@127.0.0.1:5061>", "Bad Contact: unterminated quoted string or <URI>"),
        ("<sip:bob@127.0.0.1:5061>;q=1.5", "Bad Contact: malformed q"),
        ("<sip:bob@127.0.0.1:5061>;reg-id=one;+sip.instance=\"<urn:uuid:1>\"", "Bad Contact: malformed reg-id"),
        ("<sip:bob@127.0.0.1:5061>;+sip.instance=\"\"", "Bad Contact: empty +sip.instance"),
        ("<sip:bob@127.0.0.1:99999>", "Bad Contact: invalid URI"),
        ("<sip:bob@127.0.0.1>,", "Bad Contact: empty list element"),
    ] {
        let response = registrar.register(&edit(SIPP, &[("Contact", contact)]), &from, None, Instant::now());
        assert_eq!((response.status, response.reason.as_str()), (400, reason), "{contact}");
    }
    assert_eq!(registrar.stats(), RegistrarStats::default());
}

#[test]
fn lookup_prefers_higher_q_then_the_latest_refresh() {
    let registrar = registrar();
    let t0 = Instant::now();
    let from = origin(Transport::Udp, "127.0.0.1:5061");
    for (cseq, contact) in [
        (1, "<sip:bob@192.0.2.1>;q=0.2"),
        (2, "<sip:bob@192.0.2.2>"),
        (3, "<sip:bob@192.0.2.3>;q=0.8"),
        (4, "<sip:bob@192.0.2.4>;q=0.2"),
        (5, "<sip:bob@192.0.2.5>;q=1.0"),
    ] {
        let request = edit(SIPP, &[("Contact", contact), ("CSeq", &format!("{cseq} REGISTER"))]);
        registrar.register(&request, &from, None, t0);
    }
    let bindings = registrar.lookup("\"Bob\" <sip:bob@127.0.0.1:5060>", t0);
    assert_eq!(
        contact_uris(&bindings),
        ["sip:bob@192.0.2.5", "sip:bob@192.0.2.2", "sip:bob@192.0.2.3", "sip:bob@192.0.2.4", "sip:bob@192.0.2.1"]
    );
    assert!(registrar.lookup("tel:+15551234567", t0).is_empty());
}

#[test]
fn only_register_is_handled() {
    let registrar = registrar();
    let options = message(&SIPP.replace("REGISTER", "OPTIONS"));
    let response = registrar.register(&options, &origin(Transport::Udp, "127.0.0.1:5061"), None, Instant::now());
    assert_eq!((response.status, response.headers.get("Allow")), (405, Some("REGISTER")));
}

#[test]
fn configuration() {
    let config: RegistrarConfig =
        toml::from_str("domains = [\"LocalHost\", \"::1\"]\nmin-expires = 30\nmax-bindings-per-aor = 4").unwrap();
    assert_eq!(
        config,
        RegistrarConfig {
            domains: vec!["LocalHost".into(), "::1".into()],
            min_expires: 30,
            max_bindings_per_aor: 4,
            ..Default::default()
        }
    );
    assert!(toml::from_str::<RegistrarConfig>("max_expires = 10").is_err());

    let registrar = Registrar::new(config);
    assert!(registrar.serves("sip:alice@localhost") && registrar.serves("sip:alice@[0:0::1]:5060"));

    // Contradictory bounds are made consistent rather than refused.
    let registrar = Registrar::new(RegistrarConfig {
        min_expires: 600,
        max_expires: 300,
        default_expires: 60,
        ..Default::default()
    });
    let response = registrar.register(
        &edit(SIPP, &[("Expires", "")]),
        &origin(Transport::Udp, "127.0.0.1:5061"),
        None,
        Instant::now(),
    );
    assert_eq!(contacts(&response), ["<sip:bob@127.0.0.1:5061>;expires=600"]);
}

#[test]
fn the_registrar_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Registrar>();
}
