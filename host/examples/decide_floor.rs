//! The floor under `bench/decision`'s CPU per decision: a JSON-RPC server
//! on netstrings that decides nothing. It reads each call, takes its `id`
//! and answers a fixed `continue`, so its CPU per call is what any server
//! of this protocol pays on this machine (the kernel's side of a loopback
//! round trip, a wake-up, reading and writing one frame) before a policy
//! runs. Used by `bench/decision` (not a test):
//!
//! ```sh
//! cargo run --release -p sipwarden --example decide_floor -- tokio 127.0.0.1:5092
//! ```
//!
//! Two forms, to tell the runtime's share from the kernel's:
//! - `tokio`: a multi-thread runtime as `sipwarden serve` builds it, one
//!   task per connection (sipwarden's JSON-RPC front end);
//! - `thread`: one blocking thread per connection, reading with `read(2)`.
//!
//! It serves until killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// The part of a call the floor reads: JSON-RPC needs the id to answer.
#[derive(Deserialize)]
struct Call {
    id: serde_json::Value,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(addr)) = (args.first(), args.get(1).and_then(|a| a.parse::<SocketAddr>().ok())) else {
        eprintln!("usage: decide_floor tokio|thread ADDR");
        std::process::exit(2);
    };
    match mode.as_str() {
        "tokio" => serve_tokio(addr),
        "thread" => serve_threads(addr),
        _ => {
            eprintln!("decide_floor: the mode is `tokio` or `thread`");
            std::process::exit(2);
        }
    }
}

/// The answer to one call's payload, as a netstring.
fn answer(payload: &[u8]) -> Vec<u8> {
    let id = serde_json::from_slice::<Call>(payload).map(|call| call.id).unwrap_or_default();
    let body = serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {"action": "continue"}}).to_string();
    format!("{}:{body},", body.len()).into_bytes()
}

/// The length prefix of a netstring, read up to its `:`.
fn length(prefix: &[u8]) -> Option<usize> {
    std::str::from_utf8(prefix.strip_suffix(b":")?).ok()?.trim().parse().ok()
}

fn serve_tokio(addr: SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let (read, mut write) = stream.into_split();
                let mut read = tokio::io::BufReader::new(read);
                let mut prefix = Vec::new();
                loop {
                    prefix.clear();
                    if read.read_until(b':', &mut prefix).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let Some(len) = length(&prefix) else { return };
                    let mut payload = vec![0; len + 1];
                    if read.read_exact(&mut payload).await.is_err()
                        || write.write_all(&answer(&payload[..len])).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
}

fn serve_threads(addr: SocketAddr) {
    let listener = TcpListener::bind(addr).expect("bind");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || connection(stream));
    }
}

fn connection(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut write) = stream.try_clone() else { return };
    let mut read = BufReader::new(stream);
    let mut prefix = Vec::new();
    loop {
        prefix.clear();
        if read.read_until(b':', &mut prefix).unwrap_or(0) == 0 {
            return;
        }
        let Some(len) = length(&prefix) else { return };
        let mut payload = vec![0; len + 1];
        if read.read_exact(&mut payload).is_err() || write.write_all(&answer(&payload[..len])).is_err() {
            return;
        }
    }
}
