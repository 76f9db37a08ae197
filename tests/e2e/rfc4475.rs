//! The RFC 4475 torture messages, sent as they are to the running proxy over
//! UDP and over TCP (each file on a connection of its own), with the outcome
//! of each file checked against the table below; afterwards the proxy still
//! answers OPTIONS.
//!
//! The proxy runs with the embedded registrar (127.0.0.1, localhost), no
//! upstream and no plugin, so requests for the corpus's domains are refused
//! (403 Relaying Denied) rather than forwarded. The outcomes of the invalid
//! messages follow the parser's verdicts (host/src/sip/rfc4475_tests.rs): 400
//! with the parse error as reason where the message can be answered, 505 for
//! SIP/7.0, nothing for responses and for messages too broken to answer.
//!
//! Both tests run in a private network namespace (harness::netns): the
//! messages name hosts such as 192.0.2.53, and over UDP responses go to the
//! ports their Vias name (5050, 5060, 5070 on 127.0.0.1, where `received`
//! points), which the test listens on there.

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use harness::netns::in_private_network;
use harness::proxy::{Config, Sipwarden};
use harness::sip::{self, Message, Received};
use harness::{LOOPBACK, rfc4475_dir};

/// What the proxy does with one file.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A final response with this status whose reason phrase contains the text.
    Answer(u16, &'static str),
    /// Forwarded along its Route (`<sip:127.0.0.1:5080>`): the test answers
    /// 200 there, and that 200 comes back.
    Forwarded,
    /// No response at all (within [`QUIET`]).
    Nothing,
    /// TCP only: no response, and the proxy closes the connection — at once
    /// when the stream cannot be framed (no, negative or several
    /// Content-Length), after `header-timeout-ms` when the declared body
    /// never comes.
    Closed,
    /// The final response of the file named, sent just before: this one has
    /// the same top Via branch and sent-by and the same method, so to the
    /// proxy it is a retransmission of that transaction (RFC 3261 §17.2.3),
    /// answered with the response already sent, Call-ID and all.
    Retransmission(&'static str),
}

use Expect::{Answer, Closed, Forwarded, Nothing, Retransmission};

const RELAYING_DENIED: Expect = Answer(403, "Relaying Denied");

/// (file, over UDP, over TCP), in INDEX.tsv order except that regescrt.dat
/// follows escnull.dat, whose transaction it repeats.
#[rustfmt::skip]
const OUTCOMES: [(&str, Expect, Expect); 49] = [
    // §3.1.1 valid: every request is answered (nobody serves example.com here).
    ("wsinv.dat",      Answer(503, ""),            Answer(503, "")),            // Route: services.example.com cannot be resolved
    ("intmeth.dat",    RELAYING_DENIED,            RELAYING_DENIED),
    ("esc01.dat",      RELAYING_DENIED,            RELAYING_DENIED),
    ("escnull.dat",    RELAYING_DENIED,            RELAYING_DENIED),            // REGISTER for example.com
    ("regescrt.dat",   Retransmission("escnull.dat"), Retransmission("escnull.dat")), // §3.3.14, same branch as escnull
    ("esc02.dat",      RELAYING_DENIED,            RELAYING_DENIED),
    ("lwsdisp.dat",    RELAYING_DENIED,            RELAYING_DENIED),
    ("longreq.dat",    RELAYING_DENIED,            RELAYING_DENIED),
    ("dblreq.dat",     RELAYING_DENIED,            RELAYING_DENIED),            // TCP: the INVITE after it is framed too
    ("semiuri.dat",    RELAYING_DENIED,            RELAYING_DENIED),
    ("transports.dat", RELAYING_DENIED,            RELAYING_DENIED),
    ("mpart01.dat",    Forwarded,                  Forwarded),                  // Route: <sip:127.0.0.1:5080>
    ("unreason.dat",   Nothing,                    Nothing),                    // a response, not ours
    ("noreason.dat",   Nothing,                    Nothing),                    // a response, not ours
    // §3.1.2 invalid: 400 with the parse error where answerable.
    ("badinv01.dat",   Answer(400, "Via"),         Answer(400, "Via")),
    ("clerr.dat",      Answer(400, "Content-Length"), Closed),                  // declares 9999 bytes of body
    ("ncl.dat",        Answer(400, "Content-Length"), Closed),                  // Content-Length: -999
    ("scalar02.dat",   Answer(400, "CSeq"),        Answer(400, "CSeq")),
    ("scalarlg.dat",   Nothing,                    Nothing),                    // a response
    ("quotbal.dat",    Answer(400, "To"),          Answer(400, "To")),
    ("ltgtruri.dat",   Answer(400, "Request-URI"), Answer(400, "Request-URI")),
    ("lwsruri.dat",    Answer(400, "start line"),  Answer(400, "start line")),
    ("lwsstart.dat",   Answer(400, "start line"),  Answer(400, "start line")),
    ("trws.dat",       Answer(400, "start line"),  Answer(400, "start line")),
    ("escruri.dat",    Answer(400, "Request-URI"), Answer(400, "Request-URI")),
    ("baddate.dat",    RELAYING_DENIED,            RELAYING_DENIED),            // Date is not the proxy's business
    ("regbadct.dat",   RELAYING_DENIED,            RELAYING_DENIED),            // Contact is the registrar's; example.com is not ours
    ("badaspec.dat",   Answer(400, "To"),          Answer(400, "To")),
    ("baddn.dat",      Answer(400, "From"),        Answer(400, "From")),
    ("badvers.dat",    Answer(505, "version"),     Answer(505, "version")),
    ("mismatch01.dat", Answer(400, "CSeq"),        Answer(400, "CSeq")),
    ("mismatch02.dat", Answer(400, "CSeq"),        Answer(400, "CSeq")),
    ("bigcode.dat",    Nothing,                    Nothing),                    // a response
    // §3.2 transaction.
    ("badbranch.dat",  RELAYING_DENIED,            RELAYING_DENIED),
    // §3.3 semantics.
    ("insuf.dat",      Nothing,                    Nothing),                    // no From, To, Call-ID: cannot be answered
    ("unkscm.dat",     Answer(416, ""),            Answer(416, "")),
    ("novelsc.dat",    Retransmission("unkscm.dat"), Retransmission("unkscm.dat")), // same branch as unkscm
    ("unksm2.dat",     RELAYING_DENIED,            RELAYING_DENIED),
    ("bext01.dat",     Answer(420, ""),            Answer(420, "")),            // Proxy-Require: nothing we support
    ("invut.dat",      RELAYING_DENIED,            RELAYING_DENIED),
    ("regaut01.dat",   RELAYING_DENIED,            RELAYING_DENIED),
    ("multi01.dat",    Answer(400, "From"),        Answer(400, "From")),
    ("mcl01.dat",      Answer(400, "Content-Length"), Closed),                  // two Content-Length values
    ("bcast.dat",      Nothing,                    Nothing),                    // a response
    ("zeromf.dat",     Answer(483, ""),            Answer(483, "")),
    ("cparam01.dat",   RELAYING_DENIED,            RELAYING_DENIED),
    ("cparam02.dat",   Retransmission("cparam01.dat"), Retransmission("cparam01.dat")), // same branch as cparam01
    ("sdp01.dat",      RELAYING_DENIED,            RELAYING_DENIED),
    // §3.4 compat.
    ("inv2543.dat",    RELAYING_DENIED,            Closed),                     // no Content-Length: cannot be framed on a stream
];

/// How long a file that gets no response is watched.
const QUIET: Duration = Duration::from_secs(1);
/// How long an answer may take.
const ANSWER: Duration = Duration::from_secs(3);
/// `header-timeout-ms` of the proxy under test.
const HEADER_TIMEOUT_MS: u64 = 500;

/// Where the forwarded mpart01.dat goes (its Route).
const NEXT_HOP_PORT: u16 = 5080;
/// The ports the corpus's Vias name on 127.0.0.1 (after `received`; 5061
/// for a TLS Via without a port).
const VIA_PORTS: [u16; 4] = [5050, 5060, 5061, 5070];

/// One torture message and what is expected of it.
struct Case {
    file: &'static str,
    udp: Expect,
    tcp: Expect,
    bytes: Vec<u8>,
    /// The Call-ID the answers carry: the file's own, or for a
    /// retransmission that of the file it repeats.
    answered_as: Option<String>,
}

fn corpus() -> Vec<Case> {
    let index = std::fs::read_to_string(rfc4475_dir().join("INDEX.tsv")).expect("read INDEX.tsv");
    let files: BTreeSet<&str> = index.lines().skip(1).filter_map(|line| line.split('\t').next()).collect();
    let listed: BTreeSet<&str> = OUTCOMES.iter().map(|(file, ..)| *file).collect();
    assert_eq!(files, listed, "the table must list every file of INDEX.tsv");
    let read = |file: &str| std::fs::read(rfc4475_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    OUTCOMES
        .iter()
        .map(|&(file, udp, tcp)| {
            let twin = match (udp, tcp) {
                (Retransmission(twin), _) | (_, Retransmission(twin)) => twin,
                _ => file,
            };
            Case { file, udp, tcp, bytes: read(file), answered_as: call_id_of(&read(twin)) }
        })
        .collect()
}

/// The Call-ID of a torture message, read leniently (`i:` too).
fn call_id_of(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes).lines().take_while(|l| !l.is_empty()).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("Call-ID") || name.eq_ignore_ascii_case("i")).then(|| value.trim().to_string())
    })
}

/// Plays the next hop of mpart01.dat on 127.0.0.1:5080: answers 200 to what
/// the proxy forwards there, and reports each request it got.
fn next_hop() -> mpsc::Receiver<Message> {
    let socket = UdpSocket::bind((LOOPBACK, NEXT_HOP_PORT)).expect("bind 127.0.0.1:5080 in the namespace");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 65536];
        while let Ok((n, from)) = socket.recv_from(&mut buffer) {
            let Some(request) = Message::parse(&buffer[..n]) else { continue };
            let response = sip::response_to(&request, 200, "OK");
            if tx.send(request).is_err() {
                return;
            }
            let _ = socket.send_to(response.as_bytes(), from);
        }
    });
    rx
}

/// What arrived for one file.
#[derive(Default)]
struct Outcome {
    /// Responses carrying the Call-ID the file is answered with, in order.
    answers: Vec<Message>,
    /// What the next hop on 127.0.0.1:5080 received meanwhile.
    forwarded: Option<Message>,
    /// TCP: the proxy closed the connection.
    closed: bool,
}

impl Outcome {
    fn final_response(&self) -> Option<&Message> {
        self.answers.iter().find(|m| m.is_final())
    }
}

/// Check an outcome against what was expected; `None` if it matches.
/// `earlier` holds the final response each file sent before got.
fn mismatch(case: &Case, expect: Expect, outcome: &Outcome, earlier: &BTreeMap<&str, Message>) -> Option<String> {
    let finals = outcome.answers.iter().filter(|m| m.is_final()).count();
    let first = outcome.final_response();
    let ok = match expect {
        Answer(status, reason) => first.is_some_and(|m| m.status() == Some(status) && m.reason().contains(reason)),
        Forwarded => outcome.forwarded.is_some() && first.is_some_and(|m| m.status() == Some(200)),
        Nothing => outcome.answers.is_empty(),
        Closed => outcome.answers.is_empty() && outcome.closed,
        Retransmission(twin) => {
            let same = |a: &Message, b: &Message| a.start == b.start && a.header("To") == b.header("To");
            finals == 1 && first.zip(earlier.get(twin)).is_some_and(|(a, b)| same(a, b))
        }
    };
    if ok {
        return None;
    }
    let starts: Vec<&str> = outcome.answers.iter().map(|m| m.start.as_str()).collect();
    let closed = if outcome.closed { ", then the connection closed" } else { "" };
    let forwarded = if outcome.forwarded.is_some() { " (and it was forwarded)" } else { "" };
    Some(format!("{}: expected {expect:?}, got {starts:?}{closed}{forwarded}", case.file))
}

/// Whether `message` answers `case`: it carries the Call-ID the case is
/// answered with; for a file without Call-ID, one that no file has.
fn answers(case: &Case, message: &Message, known: &BTreeSet<String>) -> bool {
    match &case.answered_as {
        Some(id) => message.call_id() == Some(id.as_str()),
        None => message.call_id().is_none_or(|id| !known.contains(id)),
    }
}

fn wait_for(expect: Expect) -> Duration {
    match expect {
        Nothing => QUIET,
        Closed => Duration::from_millis(HEADER_TIMEOUT_MS) + ANSWER,
        _ => ANSWER,
    }
}

/// Listen on the Via ports; every response that arrives there comes out of
/// the channel.
fn via_listeners() -> (Vec<UdpSocket>, mpsc::Receiver<Message>) {
    let (tx, rx) = mpsc::channel();
    let sockets = VIA_PORTS
        .iter()
        .map(|&port| {
            let socket = UdpSocket::bind((LOOPBACK, port)).expect("bind a Via port in the namespace");
            let reader = socket.try_clone().expect("clone a socket");
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buffer = vec![0u8; 65536];
                while let Ok(n) = reader.recv(&mut buffer) {
                    if let Some(message) = Message::parse(&buffer[..n])
                        && tx.send(message).is_err()
                    {
                        return;
                    }
                }
            });
            socket
        })
        .collect();
    (sockets, rx)
}

#[test]
fn rfc4475_corpus_over_udp() {
    in_private_network("rfc4475_corpus_over_udp", || {
        let mut proxy = Sipwarden::start(&Config::registrar());
        let next_hop = next_hop();
        let (sockets, responses) = via_listeners();
        let corpus = corpus();
        let known: BTreeSet<String> = corpus.iter().filter_map(|case| call_id_of(&case.bytes)).collect();
        let (mut earlier, mut failures) = (BTreeMap::new(), Vec::new());
        for case in &corpus {
            sockets[0].send_to(&case.bytes, proxy.udp).expect("send a torture message");
            let deadline = Instant::now() + wait_for(case.udp);
            let mut outcome = Outcome::default();
            while let Some(left) = Some(deadline.saturating_duration_since(Instant::now())).filter(|d| !d.is_zero()) {
                let Ok(message) = responses.recv_timeout(left) else { break };
                if answers(case, &message, &known) {
                    outcome.answers.push(message);
                    if outcome.final_response().is_some() && case.udp != Nothing {
                        break;
                    }
                }
            }
            outcome.forwarded = next_hop.try_recv().ok();
            failures.extend(mismatch(case, case.udp, &outcome, &earlier));
            earlier.extend(outcome.final_response().map(|m| (case.file, m.clone())));
        }
        proxy.assert_serving("the RFC 4475 corpus over UDP");
        assert!(failures.is_empty(), "{} of 49 files over UDP:\n{}", failures.len(), failures.join("\n"));
    });
}

#[test]
fn rfc4475_corpus_over_tcp() {
    in_private_network("rfc4475_corpus_over_tcp", || {
        let mut proxy = Sipwarden::start(&Config::registrar().limit("header-timeout-ms", HEADER_TIMEOUT_MS));
        let next_hop = next_hop();
        let corpus = corpus();
        let known: BTreeSet<String> = corpus.iter().filter_map(|case| call_id_of(&case.bytes)).collect();
        let (mut earlier, mut failures) = (BTreeMap::new(), Vec::new());
        for case in &corpus {
            let mut stream = TcpStream::connect(proxy.tcp).expect("connect to the proxy");
            stream.write_all(&case.bytes).expect("send a torture message");
            let deadline = Instant::now() + wait_for(case.tcp);
            let (mut buffer, mut outcome) = (Vec::new(), Outcome::default());
            loop {
                match sip::read_stream(&mut stream, &mut buffer, deadline.saturating_duration_since(Instant::now())) {
                    Received::Message(message) if answers(case, &message, &known) => {
                        outcome.answers.push(message);
                        if outcome.final_response().is_some() && case.tcp != Nothing {
                            break;
                        }
                    }
                    Received::Message(_) => {}
                    Received::Closed => {
                        outcome.closed = true;
                        break;
                    }
                    Received::TimedOut => break,
                }
            }
            outcome.forwarded = next_hop.try_recv().ok();
            failures.extend(mismatch(case, case.tcp, &outcome, &earlier));
            earlier.extend(outcome.final_response().map(|m| (case.file, m.clone())));
        }
        proxy.assert_serving("the RFC 4475 corpus over TCP");
        assert!(failures.is_empty(), "{} of 49 files over TCP:\n{}", failures.len(), failures.join("\n"));
    });
}
