//! A blocking SIP-over-TLS client (rustls), and a test PKI whose CA it
//! trusts: the proxy is given a certificate that CA issued for 127.0.0.1.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::crypto::ring;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::{CertificateDer, ServerName};

use super::LOOPBACK;
use super::sip::{self, Message};

/// A test CA and a certificate it issued for `localhost` and `127.0.0.1`.
pub struct TestPki {
    pub ca: CertificateDer<'static>,
    /// The server's certificate and key, PEM, for [`super::proxy::Config::tls_identity`].
    pub certificate_pem: String,
    pub key_pem: String,
}

impl TestPki {
    pub fn new() -> TestPki {
        let mut ca_params = CertificateParams::new(Vec::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA certificate");
        let key = KeyPair::generate().expect("server key");
        let params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("parameters");
        let certificate = params.signed_by(&key, &ca).expect("server certificate");
        TestPki { ca: ca.der().clone(), certificate_pem: certificate.pem(), key_pem: key.serialize_pem() }
    }
}

/// A TLS connection to the proxy, verified against the test CA.
pub struct TlsClient {
    stream: StreamOwned<ClientConnection, TcpStream>,
    pub local: SocketAddr,
    buffer: Vec<u8>,
}

/// A TLS client that trusts the test CA and nothing else.
pub fn client_config(ca: &CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).expect("trust the test CA");
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

impl TlsClient {
    pub fn connect(proxy: SocketAddr, ca: &CertificateDer<'static>) -> TlsClient {
        let name = ServerName::IpAddress(LOOPBACK.into());
        let connection = ClientConnection::new(client_config(ca), name).expect("a TLS client connection");
        let tcp = TcpStream::connect_timeout(&proxy, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("connect to the TLS port {proxy}: {e}"));
        let local = tcp.local_addr().expect("local address");
        let mut stream = StreamOwned::new(connection, tcp);
        stream.sock.set_write_timeout(Some(Duration::from_secs(5))).expect("set a write timeout");
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock).unwrap_or_else(|e| panic!("TLS handshake with {proxy}: {e}"));
        }
        TlsClient { stream, local, buffer: Vec::new() }
    }

    pub fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).expect("write over TLS");
        self.stream.flush().expect("flush over TLS");
    }

    /// The next message within `limit`.
    pub fn receive(&mut self, limit: Duration) -> Result<Message, String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(bytes) = sip::take_message(&mut self.buffer) {
                return Message::parse(&bytes).ok_or_else(|| "the proxy sent bytes that are not SIP".to_string());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no message over TLS within {limit:?}"));
            }
            self.stream.sock.set_read_timeout(Some(left)).expect("set a read timeout");
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("the proxy closed the TLS connection".to_string()),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => return Err(format!("read over TLS: {e}")),
            }
        }
    }

    /// Send a request and return its final response (within 5 s).
    pub fn exchange(&mut self, text: &str) -> Message {
        self.send(text);
        loop {
            let message = self.receive(Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"));
            if message.is_final() {
                return message;
            }
        }
    }
}
