//! TLS on both sides: the server configuration of the TLS listeners, the
//! client configuration of outbound connections, and reading a verified peer
//! certificate into a [`TlsPeer`].
//!
//! Everything uses rustls' ring provider. Trust is explicit: listeners trust
//! the client CA file, outbound connections the outbound CA file, and nothing
//! else (no system store, no bundled roots).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use x509_parser::asn1_rs::ToDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use super::{TlsIdentity, TlsPeer, TransportConfig, TransportError};

/// The names the development certificate is valid for.
const DEVELOPMENT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// What TLS listeners need: the acceptor, and the certificate it presents.
pub(super) struct TlsServer {
    pub acceptor: TlsAcceptor,
    pub certificate: CertificateDer<'static>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn setup_error(error: impl std::fmt::Display) -> TransportError {
    TransportError::TlsSetup(error.to_string())
}

/// The listeners' configuration: the configured identity (or a development
/// one), and client certificates requested when a client CA is configured.
pub(super) fn server(config: &TransportConfig) -> Result<TlsServer, TransportError> {
    let (chain, key) = match &config.tls_identity {
        Some(identity) => load_identity(identity)?,
        None => development_identity()?,
    };
    let certificate = chain.first().cloned().ok_or_else(|| setup_error("the certificate chain is empty"))?;
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().map_err(setup_error)?;
    let builder = match &config.client_ca {
        Some(path) => {
            let roots = Arc::new(load_roots(path, "client CA file")?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
                .allow_unauthenticated()
                .build()
                .map_err(setup_error)?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let server = builder.with_single_cert(chain, key).map_err(setup_error)?;
    Ok(TlsServer { acceptor: TlsAcceptor::from(Arc::new(server)), certificate })
}

/// The outbound configuration: upstream certificates verified against `ca`.
pub(super) fn client(ca: &Path) -> Result<TlsConnector, TransportError> {
    let roots = load_roots(ca, "outbound CA file")?;
    let client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(setup_error)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(client)))
}

fn load_identity(
    identity: &TlsIdentity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TransportError> {
    let chain = load_certificates(&identity.certificate, "certificate file")?;
    let key = PrivateKeyDer::from_pem_file(&identity.private_key).map_err(|e| TransportError::TlsFile {
        what: "private key file",
        path: identity.private_key.clone(),
        reason: e.to_string(),
    })?;
    Ok((chain, key))
}

/// A self-signed certificate, so TLS can be tried without any PKI. Each start
/// makes a new one; a client has to be told to trust it explicitly.
fn development_identity() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TransportError> {
    let names = DEVELOPMENT_NAMES.map(String::from).to_vec();
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|e| setup_error(format_args!("cannot generate a development certificate: {e}")))?;
    tracing::warn!(
        names = ?DEVELOPMENT_NAMES,
        "no [tls] certificate is configured: TLS listeners present a self-signed development certificate \
         that no client trusts by default; do not use this in production"
    );
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    Ok((vec![generated.cert.der().clone()], key.into()))
}

fn load_certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let error = |reason: String| TransportError::TlsFile { what, path: path.to_path_buf(), reason };
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| error(e.to_string()))?;
    if certificates.is_empty() {
        return Err(error("it holds no PEM certificate".into()));
    }
    Ok(certificates)
}

fn load_roots(path: &Path, what: &'static str) -> Result<RootCertStore, TransportError> {
    let mut roots = RootCertStore::empty();
    for certificate in load_certificates(path, what)? {
        roots.add(certificate).map_err(|e| TransportError::TlsFile {
            what,
            path: path.to_path_buf(),
            reason: format!("a certificate cannot be used as a trust anchor: {e}"),
        })?;
    }
    Ok(roots)
}

/// What the peer's (already verified) leaf certificate says about it. `None`
/// if it presented none, or one that cannot be read.
pub(super) fn peer_identity(certificates: Option<&[CertificateDer<'_>]>) -> Option<TlsPeer> {
    let leaf = certificates?.first()?;
    let (_, certificate) = X509Certificate::from_der(leaf).ok()?;
    let mut peer = TlsPeer { subject: rfc4514(certificate.subject()), ..TlsPeer::default() };
    if let Ok(Some(names)) = certificate.subject_alternative_name() {
        for name in &names.value.general_names {
            match name {
                GeneralName::DNSName(dns) => peer.dns_names.push(dns.to_string()),
                GeneralName::URI(uri) => peer.uris.push(uri.to_string()),
                _ => {}
            }
        }
    }
    Some(peer)
}

/// A distinguished name as an RFC 4514 string: the most specific RDN first,
/// `+` between the attributes of one RDN, values escaped (§2.4), and
/// attributes without a standard short name as `OID=#hex-of-DER` (§2.3, §2.4).
fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> =
        name.iter_rdn().map(|rdn| rdn.iter().map(attribute).collect::<Vec<_>>().join("+")).collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn attribute(attribute: &AttributeTypeAndValue<'_>) -> String {
    let oid = attribute.attr_type().to_id_string();
    // RFC 4514 §3: the short names every implementation knows.
    let short = match oid.as_str() {
        "2.5.4.3" => Some("CN"),
        "2.5.4.7" => Some("L"),
        "2.5.4.8" => Some("ST"),
        "2.5.4.10" => Some("O"),
        "2.5.4.11" => Some("OU"),
        "2.5.4.6" => Some("C"),
        "2.5.4.9" => Some("STREET"),
        "0.9.2342.19200300.100.1.25" => Some("DC"),
        "0.9.2342.19200300.100.1.1" => Some("UID"),
        _ => None,
    };
    match (short, attribute.as_str()) {
        (Some(short), Ok(value)) => format!("{short}={}", escape(value)),
        (short, _) => {
            let mut out = format!("{}=#", short.unwrap_or(&oid));
            for byte in attribute.attr_value().to_der_vec().unwrap_or_default() {
                let _ = write!(out, "{byte:02x}");
            }
            out
        }
    }
}

/// RFC 4514 §2.4 escaping of an attribute value.
fn escape(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

    fn certificate(params: CertificateParams) -> CertificateDer<'static> {
        params.self_signed(&KeyPair::generate().unwrap()).unwrap().der().clone()
    }

    #[test]
    fn identity_from_subject_and_alt_names() {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "DE");
        dn.push(DnType::OrganizationName, "Example, Inc.");
        dn.push(DnType::CommonName, " edge#1 ");
        params.distinguished_name = dn;
        params.subject_alt_names = vec![
            SanType::DnsName("edge.example.com".try_into().unwrap()),
            SanType::URI("sip:edge.example.com".try_into().unwrap()),
            SanType::IpAddress("192.0.2.1".parse().unwrap()),
        ];
        let peer = peer_identity(Some(&[certificate(params)])).unwrap();
        assert_eq!(peer.subject, r"CN=\ edge#1\ ,O=Example\, Inc.,C=DE");
        assert_eq!(peer.dns_names, ["edge.example.com"]);
        assert_eq!(peer.uris, ["sip:edge.example.com"]);
    }

    #[test]
    fn unknown_attributes_are_hex() {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CustomDnType(vec![1, 2, 3, 4]), "x");
        params.distinguished_name = dn;
        let peer = peer_identity(Some(&[certificate(params)])).unwrap();
        // A UTF8String (tag 0x0c) of length 1 holding "x".
        assert_eq!(peer.subject, "1.2.3.4=#0c0178");
    }

    #[test]
    fn no_certificate_no_identity() {
        assert_eq!(peer_identity(None), None);
        assert_eq!(peer_identity(Some(&[])), None);
        assert_eq!(peer_identity(Some(&[CertificateDer::from(vec![1, 2, 3])])), None);
    }

    #[test]
    fn development_certificate_is_for_loopback() {
        let (chain, _) = development_identity().unwrap();
        let peer = peer_identity(Some(&chain)).unwrap();
        assert_eq!(peer.dns_names, ["localhost"]);
    }
}
