//! A paced load of `decide` calls over JSON-RPC on netstrings, as Kamailio's
//! janssonrpcc sends them, timing each call's round trip. Used by
//! `bench/decision` (not a test):
//!
//! ```sh
//! cargo run --release -p sipwarden --example decide_load -- 127.0.0.1:5090 1000 20
//! ```
//!
//! Arguments: the decision service's JSON-RPC address, calls per second,
//! seconds. Every call decides the same MESSAGE (alice to bob, asserted by a
//! trusted core: the bundled policies let it continue when identity trusts
//! 127.0.0.1). Prints one line: calls, answers, errors and the round trip's
//! p50, p99 and max in microseconds; exits 1 if any call went unanswered or
//! was refused.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;

const MESSAGE: &str = "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n\
    Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK-load-CALL;rport\r\n\
    Max-Forwards: 70\r\n\
    From: <sip:alice@127.0.0.1>;tag=load-CALL\r\n\
    To: <sip:bob@127.0.0.1>\r\n\
    Call-ID: load-CALL@127.0.0.1\r\n\
    CSeq: 1 MESSAGE\r\n\
    P-Asserted-Identity: <sip:alice@127.0.0.1>\r\n\
    Content-Type: text/plain\r\n\
    Content-Length: 12\r\n\r\nHello, Bob.\n";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(addr), Some(rate), Some(seconds)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: decide_load ADDR RATE SECONDS");
        std::process::exit(2);
    };
    let (rate, seconds): (u64, u64) = match (rate.parse(), seconds.parse()) {
        (Ok(r), Ok(s)) if r > 0 && s > 0 => (r, s),
        _ => {
            eprintln!("decide_load: RATE and SECONDS are positive whole numbers");
            std::process::exit(2);
        }
    };
    let calls = rate * seconds;
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| {
        eprintln!("decide_load: cannot connect to {addr}: {e}");
        std::process::exit(1);
    });
    stream.set_nodelay(true).ok();
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut writer = stream.try_clone().expect("clone the stream");

    let start = Instant::now();
    // When each call was sent, in nanoseconds since `start`.
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..calls).map(|_| AtomicU64::new(0)).collect());
    let reader = {
        let sent = sent.clone();
        std::thread::spawn(move || read_answers(stream, &sent, start, calls))
    };

    let interval = Duration::from_nanos(1_000_000_000 / rate);
    for id in 0..calls {
        let due = start + interval * u32::try_from(id).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let message = MESSAGE.replace("CALL", &id.to_string());
        let params = serde_json::json!({
            "message-base64": base64::engine::general_purpose::STANDARD.encode(message),
            "transport": "udp", "source": "127.0.0.1", "port": 5071,
        });
        let call = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "decide", "params": params}).to_string();
        sent[id as usize].store(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if let Err(e) = writer.write_all(format!("{}:{call},", call.len()).as_bytes()) {
            eprintln!("decide_load: the connection failed after {id} calls: {e}");
            break;
        }
    }
    let (mut rtts, errors) = reader.join().expect("the reader thread");
    rtts.sort_unstable();
    let pct = |p: f64| rtts.get(((rtts.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0);
    println!(
        "calls {calls} answered {} errors {errors} p50_us {:.1} p99_us {:.1} max_us {:.1}",
        rtts.len() + errors as usize,
        pct(0.50) as f64 / 1000.0,
        pct(0.99) as f64 / 1000.0,
        rtts.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    if rtts.len() as u64 != calls || errors > 0 {
        std::process::exit(1);
    }
}

/// Read answers until every call has one or the stream goes quiet: the
/// round trips in nanoseconds, and how many answers were errors.
fn read_answers(stream: TcpStream, sent: &[AtomicU64], start: Instant, calls: u64) -> (Vec<u64>, u64) {
    let mut reader = BufReader::new(stream);
    let mut rtts = Vec::with_capacity(calls as usize);
    let mut errors = 0;
    let mut length = Vec::new();
    while (rtts.len() as u64 + errors) < calls {
        length.clear();
        match reader.read_until(b':', &mut length) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Some(len) = std::str::from_utf8(&length[..length.len() - 1]).ok().and_then(|t| t.trim().parse().ok())
        else {
            break;
        };
        let mut payload = vec![0u8; len + 1];
        if reader.read_exact(&mut payload).is_err() {
            break;
        }
        let received = start.elapsed().as_nanos() as u64;
        let answer: serde_json::Value = serde_json::from_slice(&payload[..len]).unwrap_or_default();
        let id = answer["id"].as_u64().filter(|&id| id < calls);
        match (id, answer.get("result")) {
            (Some(id), Some(_)) => rtts.push(received.saturating_sub(sent[id as usize].load(Ordering::Relaxed))),
            _ => {
                if errors < 5 {
                    eprintln!("decide_load: refused: {answer}");
                }
                errors += 1;
            }
        }
    }
    (rtts, errors)
}
