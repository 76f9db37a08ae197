//! How sipwarden serves its TCP services (the admin API, the decision
//! service): an accept loop bounded in connections, each connection in a
//! task of its own, and HTTP/1.1 with a deadline on the request head.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// How long an HTTP client may take to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Accept connections on `listener` until the task is dropped, at most as
/// many at once as `permits` holds (more wait to be accepted), each served
/// by `serve` in a task of its own. `what` names the service in logs.
pub(crate) async fn accept_each<F, Fut>(listener: TcpListener, permits: Arc<Semaphore>, what: &'static str, serve: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: wait rather than spin.
                tracing::warn!("{what}: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let served = serve(stream, peer);
        tokio::spawn(async move {
            served.await;
            drop(permit);
        });
    }
}

/// Serve one HTTP/1.1 connection, every request answered by `handle`.
pub(crate) async fn serve_http<H, Fut>(stream: TcpStream, peer: SocketAddr, what: &'static str, handle: H)
where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let handle = handle.clone();
        async move { Ok::<_, Infallible>(handle(request).await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, "{what} connection: {e}");
    }
}
