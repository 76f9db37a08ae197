//! Load for SIP over WebSocket, used by `bench/websocket` (not a test):
//!
//! ```sh
//! # hold N idle WebSocket connections for SECONDS, then close them
//! cargo run --release -p sipwarden --example ws_load -- idle 127.0.0.1:5066 10000 10
//! # send MESSAGEs at RATE a second for SECONDS over one connection, ws or tcp
//! cargo run --release -p sipwarden --example ws_load -- messages ws 127.0.0.1:5066 1000 10
//! ```
//!
//! `idle` prints how many connections were open at once; `messages` prints
//! the requests sent, the final responses received and their status counts.
//! Every request is a MESSAGE to a user nobody registered, answered by the
//! proxy itself (480): a whole transaction through the transport, the
//! parser, the chain and the registrar, with no other process involved.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

fn message(transport: &str, n: u64) -> String {
    format!(
        "MESSAGE sip:nobody@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} load.invalid;branch=z9hG4bK-load-{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:load@127.0.0.1>;tag=l{n}\r\nTo: <sip:nobody@127.0.0.1>\r\n\
         Call-ID: load-{n}@load.invalid\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    )
}

async fn connect(addr: SocketAddr) -> anyhow::Result<tokio_tungstenite::WebSocketStream<TcpStream>> {
    let stream = TcpStream::connect(addr).await?;
    let mut request = format!("ws://{addr}/").into_client_request()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
    let (socket, _) = tokio_tungstenite::client_async(request, stream).await?;
    Ok(socket)
}

async fn idle(addr: SocketAddr, count: usize, seconds: u64) -> anyhow::Result<()> {
    let mut held = Vec::with_capacity(count);
    for i in 0..count {
        held.push(connect(addr).await.with_context(|| format!("connection {i}"))?);
    }
    println!("open={}", held.len());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    Ok(())
}

/// The status code of a response's start line.
fn status(text: &[u8]) -> Option<u16> {
    let line = text.split(|&b| b == b'\r').next()?;
    std::str::from_utf8(line).ok()?.split(' ').nth(1)?.parse().ok()
}

async fn messages(transport: &str, addr: SocketAddr, rate: u64, seconds: u64) -> anyhow::Result<()> {
    let total = rate * seconds;
    let interval = Duration::from_secs(1) / u32::try_from(rate.max(1)).unwrap_or(u32::MAX);
    let started = Instant::now();
    let statuses: BTreeMap<u16, u64> = match transport {
        "ws" => {
            let (mut sink, mut stream) = connect(addr).await?.split();
            let reader = tokio::spawn(async move {
                let mut statuses = BTreeMap::new();
                let mut seen = 0;
                while seen < total {
                    match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
                        Ok(Some(Ok(Message::Text(text)))) => {
                            if let Some(code) = status(text.as_bytes()).filter(|c| *c >= 200) {
                                *statuses.entry(code).or_insert(0) += 1;
                                seen += 1;
                            }
                        }
                        Ok(Some(Ok(_))) => {}
                        _ => break,
                    }
                }
                statuses
            });
            for n in 0..total {
                tokio::time::sleep_until((started + interval * u32::try_from(n).unwrap_or(u32::MAX)).into()).await;
                sink.send(Message::text(message("WS", n))).await?;
            }
            reader.await?
        }
        "tcp" => {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut read, mut write) = stream.into_split();
            let reader = tokio::spawn(async move {
                let mut statuses = BTreeMap::new();
                let mut seen = 0;
                let mut buffer = Vec::new();
                let mut chunk = vec![0; 16 * 1024];
                while seen < total {
                    match tokio::time::timeout(Duration::from_secs(5), read.read(&mut chunk)).await {
                        Ok(Ok(n)) if n > 0 => buffer.extend_from_slice(&chunk[..n]),
                        _ => break,
                    }
                    // Responses carry Content-Length: 0: each ends at CRLFCRLF.
                    while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        let response: Vec<u8> = buffer.drain(..end + 4).collect();
                        if let Some(code) = status(&response).filter(|c| *c >= 200) {
                            *statuses.entry(code).or_insert(0) += 1;
                            seen += 1;
                        }
                    }
                }
                statuses
            });
            for n in 0..total {
                tokio::time::sleep_until((started + interval * u32::try_from(n).unwrap_or(u32::MAX)).into()).await;
                write.write_all(message("TCP", n).as_bytes()).await?;
            }
            reader.await?
        }
        other => bail!("transport is ws or tcp, not {other}"),
    };
    let answered: u64 = statuses.values().sum();
    println!("sent={total} answered={answered} statuses={statuses:?}");
    if answered < total {
        bail!("{} requests were not answered", total - answered);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["idle", addr, count, seconds] => idle(addr.parse()?, count.parse()?, seconds.parse()?).await,
        ["messages", transport, addr, rate, seconds] => {
            messages(transport, addr.parse()?, rate.parse()?, seconds.parse()?).await
        }
        _ => bail!("usage: ws_load idle ADDR COUNT SECONDS | ws_load messages ws|tcp ADDR RATE SECONDS"),
    }
}
