use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use sipwarden::transport::{Flow, Target, TlsIdentity, TlsPeer, Transport, TransportConfig, TransportError};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::*;

/// A test CA that issues server and client certificates.
struct Ca {
    certificate: Certificate,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "Test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        Ca { certificate, issuer: Issuer::new(params, key) }
    }

    fn issue(&self, mut params: CertificateParams) -> (Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        params.is_ca = IsCa::ExplicitNoCa;
        (params.signed_by(&key, &self.issuer).unwrap(), key)
    }

    fn write_pem(&self, dir: &Path) -> std::path::PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.certificate.pem()).unwrap();
        path
    }
}

fn key_der(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivatePkcs8KeyDer::from(key.serialize_der()).into()
}

fn client_config(root: CertificateDer<'static>, client: Option<(Certificate, KeyPair)>) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(root).unwrap();
    let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    match client {
        Some((certificate, key)) => {
            builder.with_client_auth_cert(vec![certificate.der().clone()], key_der(&key)).unwrap()
        }
        None => builder.with_no_client_auth(),
    }
}

async fn connect(server: SocketAddr, config: ClientConfig) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(server).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap()
}

#[tokio::test]
async fn handshake_with_the_development_certificate() {
    let (layer, mut inbound) = bind(&config(&[Transport::Tls])).await;
    let server = layer.local_addr(Transport::Tls).unwrap();
    let certificate = layer.tls_certificate().unwrap();
    let mut client = connect(server, client_config(certificate, None)).await;

    client.write_all(&request("tls")).await.unwrap();
    let message = next(&mut inbound).await;
    assert_eq!(message.bytes, request("tls"));
    assert_eq!(message.origin.transport, Transport::Tls);
    assert_eq!(message.origin.source, client.get_ref().0.local_addr().unwrap());
    assert_eq!(message.origin.tls_peer, None, "no client certificate was asked for");

    let Flow::Stream(flow) = message.flow else { panic!("a stream flow") };
    let back = Target { flow: Some(flow), ..target(Transport::Tls, message.origin.source) };
    layer.send(&back, bytes(response("tls"))).await.unwrap();
    assert_eq!(read_exactly(&mut client, response("tls").len()).await, response("tls"));
}

#[tokio::test]
async fn client_certificates_identify_the_peer() {
    let ca = Ca::new();
    let dir = tempfile::tempdir().unwrap();
    let config = TransportConfig { client_ca: Some(ca.write_pem(dir.path())), ..config(&[Transport::Tls]) };
    let (layer, mut inbound) = bind(&config).await;
    let server = layer.local_addr(Transport::Tls).unwrap();

    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "Example");
    params.distinguished_name.push(DnType::CommonName, "alice");
    params.subject_alt_names = vec![
        SanType::DnsName("alice.example.com".try_into().unwrap()),
        SanType::URI("sip:alice@example.com".try_into().unwrap()),
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let alice = ca.issue(params);
    let mut client = connect(server, client_config(layer.tls_certificate().unwrap(), Some(alice))).await;
    client.write_all(&request("alice")).await.unwrap();
    let message = next(&mut inbound).await;
    assert_eq!(
        message.origin.tls_peer,
        Some(TlsPeer {
            subject: "CN=alice,O=Example".into(),
            dns_names: vec!["alice.example.com".into()],
            uris: vec!["sip:alice@example.com".into()],
        })
    );

    // A client without a certificate is accepted, without an identity.
    let mut anonymous = connect(server, client_config(layer.tls_certificate().unwrap(), None)).await;
    anonymous.write_all(&request("anonymous")).await.unwrap();
    assert_eq!(next(&mut inbound).await.origin.tls_peer, None);
}

#[tokio::test]
async fn outbound_tls_verifies_the_upstream() {
    let ca = Ca::new();
    let dir = tempfile::tempdir().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "upstream");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let (certificate, key) = ca.issue(params);
    let identity = TlsIdentity { certificate: dir.path().join("cert.pem"), private_key: dir.path().join("key.pem") };
    std::fs::write(&identity.certificate, certificate.pem()).unwrap();
    std::fs::write(&identity.private_key, key.serialize_pem()).unwrap();
    let upstream_config = TransportConfig { tls_identity: Some(identity), ..config(&[Transport::Tls]) };
    let (upstream, mut upstream_inbound) = bind(&upstream_config).await;
    let addr = upstream.local_addr(Transport::Tls).unwrap();

    let (proxy, mut proxy_inbound) =
        bind(&TransportConfig { outbound_ca: Some(ca.write_pem(dir.path())), ..config(&[]) }).await;
    let to_upstream = Target { server_name: Some("localhost".into()), ..target(Transport::Tls, addr) };
    proxy.send(&to_upstream, bytes(request("up"))).await.unwrap();
    let received = next(&mut upstream_inbound).await;
    assert_eq!(received.bytes, request("up"));
    assert_eq!(received.origin.transport, Transport::Tls);

    // The answer comes back over the proxy's connection, with the upstream's verified identity.
    let Flow::Stream(flow) = received.flow else { panic!("a stream flow") };
    let back = Target { flow: Some(flow), ..target(Transport::Tls, received.origin.source) };
    upstream.send(&back, bytes(response("up"))).await.unwrap();
    let answer = next(&mut proxy_inbound).await;
    assert_eq!(answer.bytes, response("up"));
    assert_eq!(answer.origin.tls_peer.unwrap().subject, "CN=upstream");

    // The certificate is for localhost, not for the IP address.
    let by_address = target(Transport::Tls, addr);
    proxy.shutdown().await;
    let (proxy, _inbound) = bind(&TransportConfig { outbound_ca: Some(ca.write_pem(dir.path())), ..config(&[]) }).await;
    let error = proxy.send(&by_address, bytes(request("ip"))).await.unwrap_err();
    assert!(matches!(error, TransportError::Connect { .. }), "{error}");
}

#[tokio::test]
async fn outbound_tls_needs_trust_roots() {
    let (layer, _inbound) = bind(&config(&[])).await;
    let addr = "127.0.0.1:5061".parse().unwrap();
    let error = layer.send(&target(Transport::Tls, addr), bytes(request("x"))).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot connect over tls to 127.0.0.1:5061: no [tls] outbound-ca is configured to verify upstream certificates"
    );
}

#[tokio::test]
async fn unusable_tls_files_fail_bind() {
    let dir = tempfile::tempdir().unwrap();
    let missing = TlsIdentity { certificate: dir.path().join("none.pem"), private_key: dir.path().join("none.key") };
    let bad_identity = TransportConfig { tls_identity: Some(missing), ..config(&[Transport::Tls]) };
    let error = TransportLayer::bind(&bad_identity).await.err().unwrap().to_string();
    assert!(error.starts_with("cannot use the TLS certificate file "), "{error}");

    std::fs::write(dir.path().join("empty.pem"), "no PEM here\n").unwrap();
    let bad_ca = TransportConfig { client_ca: Some(dir.path().join("empty.pem")), ..config(&[Transport::Tls]) };
    let error = TransportLayer::bind(&bad_ca).await.err().unwrap().to_string();
    assert!(error.ends_with("empty.pem: it holds no PEM certificate"), "{error}");
}
