//! SIP over TLS with a tokio-rustls client: registration, OPTIONS, and a
//! request reaching the registered client over its own connection.

mod harness;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use harness::proxy::{Config, Sipwarden};
use harness::sip::{self, Message};
use harness::{LOOPBACK, tail};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A test CA and a certificate it issued for `localhost` and `127.0.0.1`:
/// (CA certificate DER, leaf certificate PEM, leaf key PEM).
fn test_pki() -> (CertificateDer<'static>, String, String) {
    let mut ca_params = CertificateParams::new(Vec::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA certificate");
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("parameters");
    let certificate = params.signed_by(&key, &ca).expect("server certificate");
    (ca.der().clone(), certificate.pem(), key.serialize_pem())
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// A TLS connection to the proxy, as a SIP client sees it.
struct Client {
    tls: TlsStream<TcpStream>,
    local: SocketAddr,
    buffer: Vec<u8>,
}

impl Client {
    async fn connect(proxy: SocketAddr, config: ClientConfig) -> Client {
        let tcp = TcpStream::connect(proxy).await.expect("connect to the TLS port");
        let local = tcp.local_addr().expect("local address");
        let server_name = ServerName::IpAddress(LOOPBACK.into());
        let tls = TlsConnector::from(Arc::new(config)).connect(server_name, tcp).await.expect("TLS handshake");
        Client { tls, local, buffer: Vec::new() }
    }

    async fn send(&mut self, message: &str) {
        self.tls.write_all(message.as_bytes()).await.expect("write over TLS");
    }

    /// The next message from the proxy (within 5 s).
    async fn receive(&mut self) -> Message {
        let read = async {
            loop {
                if let Some(bytes) = sip::take_message(&mut self.buffer) {
                    return Message::parse(&bytes).expect("a SIP message");
                }
                let mut chunk = [0u8; 16384];
                let n = self.tls.read(&mut chunk).await.expect("read over TLS");
                assert!(n > 0, "the proxy closed the TLS connection");
                self.buffer.extend_from_slice(&chunk[..n]);
            }
        };
        tokio::time::timeout(Duration::from_secs(5), read).await.expect("a message over TLS within 5 s")
    }

    /// Send a request and return its final response.
    async fn request(&mut self, request: &str) -> Message {
        self.send(request).await;
        loop {
            let message = self.receive().await;
            if message.is_final() {
                return message;
            }
        }
    }
}

fn status_of(response: &Message, proxy: &Sipwarden) -> u16 {
    response.status().unwrap_or_else(|| panic!("not a response: {response:?}\n{}", tail(&proxy.log(), 40)))
}

/// With a certificate from a CA the client trusts: alice registers over TLS
/// (200 with her binding), OPTIONS to the proxy gets 200, and a MESSAGE sent
/// to alice from elsewhere reaches her over her TLS connection.
#[tokio::test]
async fn a_tls_client_registers_and_is_reached_over_its_connection() {
    let (ca, certificate, key) = test_pki();
    let proxy = Sipwarden::start(&Config::registrar().tls_identity(certificate, key));
    let mut roots = RootCertStore::empty();
    roots.add(ca).expect("trust the test CA");
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut alice = Client::connect(proxy.tls, config).await;

    let contact = format!("Contact: <sip:alice@{};transport=tls>", alice.local);
    let headers = ["To: <sip:alice@127.0.0.1>", &contact, "Expires: 300"];
    let register = sip::request("REGISTER", "sip:127.0.0.1", "TLS", alice.local, &headers, "");
    let response = alice.request(&register).await;
    assert_eq!(status_of(&response, &proxy), 200, "REGISTER over TLS: {}", response.start);
    let binding = response.header("Contact").unwrap_or_default();
    assert!(binding.contains("sip:alice@") && binding.contains("expires="), "200 lists no binding: {binding:?}");

    let options = sip::request("OPTIONS", &format!("sip:{};transport=tls", proxy.tls), "TLS", alice.local, &[], "");
    let response = alice.request(&options).await;
    assert_eq!(status_of(&response, &proxy), 200, "OPTIONS over TLS: {}", response.start);

    let bob = UdpSocket::bind((LOOPBACK, 0)).await.expect("bind a UDP socket");
    let message = sip::request(
        "MESSAGE",
        "sip:alice@127.0.0.1",
        "UDP",
        bob.local_addr().expect("local address"),
        &["Content-Type: text/plain"],
        "hello over TLS",
    );
    bob.send_to(message.as_bytes(), proxy.udp).await.expect("send the MESSAGE");
    let forwarded = alice.receive().await;
    assert!(forwarded.start.starts_with("MESSAGE "), "alice got `{}` instead of the MESSAGE", forwarded.start);
    let top_via = forwarded.header("Via").unwrap_or_default();
    assert!(top_via.starts_with("SIP/2.0/TLS"), "the proxy's Via on a TLS hop reads {top_via:?}");
    assert_eq!(forwarded.body, b"hello over TLS");
    alice.send(&sip::response_to(&forwarded, 200, "OK")).await;

    let mut datagram = vec![0u8; 65536];
    let answer = async {
        loop {
            let n = bob.recv(&mut datagram).await.expect("receive over UDP");
            let response = Message::parse(&datagram[..n]).expect("a SIP response");
            if response.is_final() {
                return response;
            }
        }
    };
    let response = tokio::time::timeout(Duration::from_secs(5), answer).await.expect("a final response within 5 s");
    assert_eq!(status_of(&response, &proxy), 200, "MESSAGE to alice: {}", response.start);
}

/// Without `[tls]` the proxy makes a self-signed development certificate; a
/// client that accepts it (and checks only its signatures) can use SIP over TLS.
#[tokio::test]
async fn the_development_certificate_serves_tls() {
    let proxy = Sipwarden::start(&Config::registrar());
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
        .with_no_client_auth();
    let mut client = Client::connect(proxy.tls, config).await;
    let options = sip::request("OPTIONS", &format!("sip:{};transport=tls", proxy.tls), "TLS", client.local, &[], "");
    let response = client.request(&options).await;
    assert_eq!(status_of(&response, &proxy), 200, "OPTIONS over TLS: {}", response.start);
}

/// Accepts whatever certificate the server presents; verifies the handshake
/// signatures with it.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
