//! SEC-1 audit durability: with `[audit] durability = "strict"` each record
//! is written whole, in one write, before the response leaves the proxy. A
//! burst of REGISTERs from concurrent senders, with the proxy killed
//! (SIGKILL) in the middle of it, must leave a trail of whole JSON lines
//! that holds a record of every REGISTER that was answered.
//!
//! The proxy runs the bundled audit policy alone with the embedded
//! registrar: identity is configured out, so that every REGISTER is answered
//! 200 in one round trip; what is under test is the trail, not who may
//! register. A SIGKILL tests what the process leaves behind (whole lines,
//! records before responses); an fsync only matters for a machine crash,
//! which a test cannot stage.

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use harness::audit::{is_rfc3339_utc, read_trail};
use harness::proxy::{Config, Sipwarden};
use harness::ua::{Outgoing, Ua};
use harness::{LOOPBACK, wait_until};

const SENDERS: usize = 8;

/// Answered REGISTERs before the proxy is killed.
const KILL_AFTER: usize = 200;

/// What one sender saw: the Call-IDs it sent and those answered 200.
#[derive(Default)]
struct Sent {
    sent: Vec<String>,
    answered: Vec<String>,
}

/// Send REGISTERs for `user` one after the other (each retransmitted after
/// 0.5, 1 and 2 s, as timer E would), until one goes unanswered (the proxy
/// is gone) or `deadline`.
fn send_registers(proxy: SocketAddr, user: &str, answered_total: &AtomicUsize, deadline: Instant) -> Sent {
    let ua = Ua::bind(LOOPBACK, proxy);
    let contact = format!("Contact: {}", ua.contact(user));
    let (from, to) = (format!("<sip:{user}@127.0.0.1>"), format!("To: <sip:{user}@127.0.0.1>"));
    let mut outcome = Sent::default();
    while Instant::now() < deadline {
        let request =
            Outgoing::new("REGISTER", "sip:127.0.0.1", &from).header(&to).header(&contact).header("Expires: 300");
        outcome.sent.push(request.call_id.clone());
        match ua.exchange_text(&request.render(ua.local)) {
            Ok(response) => {
                assert_eq!(response.start, "SIP/2.0 200 OK", "REGISTER {}", request.call_id);
                outcome.answered.push(request.call_id);
                answered_total.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => break,
        }
    }
    outcome
}

#[test]
fn strict_audit_survives_sigkill_mid_burst() {
    let config = Config { audit: Some("strict".into()), ..Config::registrar() }.bundled_plugin("audit");
    let mut proxy = Sipwarden::start(&config);
    let answered_total = AtomicUsize::new(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let results = Mutex::new(Vec::new());

    std::thread::scope(|scope| {
        for n in 0..SENDERS {
            let (answered_total, results, target) = (&answered_total, &results, proxy.udp);
            scope.spawn(move || {
                let sent = send_registers(target, &format!("burst{n}"), answered_total, deadline);
                results.lock().unwrap_or_else(|e| e.into_inner()).push(sent);
            });
        }
        let reached = wait_until(Duration::from_secs(20), || answered_total.load(Ordering::Relaxed) >= KILL_AFTER);
        assert!(reached, "only {} REGISTERs answered in 20 s", answered_total.load(Ordering::Relaxed));
        // SAFETY: plain syscall on the proxy's own pid, which the guard has not reaped yet.
        let killed = unsafe { libc::kill(proxy.pid() as libc::pid_t, libc::SIGKILL) };
        assert_eq!(killed, 0, "kill -9 {}", proxy.pid());
    });
    assert!(wait_until(Duration::from_secs(5), || proxy.has_exited()), "the proxy survived SIGKILL");

    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let sent: BTreeSet<&str> = results.iter().flat_map(|r| &r.sent).map(String::as_str).collect();
    let answered: BTreeSet<&str> = results.iter().flat_map(|r| &r.answered).map(String::as_str).collect();
    // Each sender stopped at its first unanswered REGISTER (3.5 s of
    // retransmissions), none at the deadline.
    assert_eq!(sent.len() - answered.len(), SENDERS, "REGISTERs unanswered when the proxy died");
    assert!(answered.len() >= KILL_AFTER, "{} answered", answered.len());

    let records = read_trail(&proxy.audit_path()).unwrap_or_else(|e| panic!("{e}"));
    let mut by_call_id: BTreeMap<&str, usize> = BTreeMap::new();
    for record in &records {
        let time = record.get("time").and_then(|t| t.as_str()).unwrap_or_default();
        assert!(is_rfc3339_utc(time), "time {time:?} of {record:?}");
        let call_id = record.get("call-id").and_then(|c| c.as_str()).unwrap_or_default();
        assert!(sent.contains(call_id), "a record of a REGISTER nobody sent: {record:?}");
        *by_call_id.entry(call_id).or_default() += 1;
        if answered.contains(call_id) {
            let status = record.get("status").and_then(|s| s.as_u64());
            assert_eq!(status, Some(200), "record of an answered REGISTER: {record:?}");
        }
    }
    let missing: Vec<&&str> = answered.iter().filter(|id| !by_call_id.contains_key(**id)).collect();
    assert!(missing.is_empty(), "{} answered REGISTERs have no record, e.g. {:?}", missing.len(), &missing[..1]);
    let twice: Vec<_> = by_call_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "REGISTERs recorded more than once: {twice:?}");
    // At most the one REGISTER in flight per sender was recorded unanswered.
    assert!(records.len() <= answered.len() + SENDERS, "{} records, {} answered", records.len(), answered.len());
    println!("{} REGISTERs sent, {} answered, {} records", sent.len(), answered.len(), records.len());
}
