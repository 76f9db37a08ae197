//! What the transport layer listens on and the limits it holds peers to.
//!
//! The configuration file spreads this over three tables, `[listen]`, `[tls]`
//! and `[limits]`, each deserialized by its own type here;
//! [`TransportConfig::from_tables`] puts them together into what
//! [`super::TransportLayer::bind`] takes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Everything [`super::TransportLayer::bind`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// UDP listening addresses; UDP is also sent from these sockets.
    pub udp: Vec<SocketAddr>,
    /// TCP listening addresses.
    pub tcp: Vec<SocketAddr>,
    /// TLS listening addresses. Without [`TransportConfig::tls_identity`]
    /// they present a development certificate.
    pub tls: Vec<SocketAddr>,
    /// SIP over WebSocket (RFC 7118) listening addresses: browsers' SIP
    /// stacks (JsSIP, SIP.js) connect here.
    pub ws: Vec<SocketAddr>,
    /// SIP over secure WebSocket listening addresses; they present the TLS
    /// listeners' certificate.
    pub wss: Vec<SocketAddr>,
    /// The web origins (`https://app.example.com`) whose pages may open a
    /// WebSocket; empty: any origin, and clients that send none. A browser
    /// always sends its page's origin, so this keeps other sites' pages
    /// from using a visitor's browser as a SIP client.
    pub ws_origins: Vec<String>,
    /// The certificate TLS listeners present. `None` with TLS listeners: a
    /// self-signed development certificate for localhost, 127.0.0.1 and ::1
    /// is generated at start (and a warning says so), so a test setup needs
    /// no PKI; no real client will trust it.
    pub tls_identity: Option<TlsIdentity>,
    /// When set, TLS listeners ask for a client certificate and verify it
    /// against these roots. A client without one is still accepted (a policy
    /// decides what it may do); a client whose certificate fails is not.
    /// The verified identity is in [`super::Origin::tls_peer`].
    pub client_ca: Option<PathBuf>,
    /// The roots that upstream servers' certificates are verified against.
    /// Outbound TLS needs it: no system or bundled roots are used, so that
    /// what the proxy trusts is exactly what the configuration says.
    pub outbound_ca: Option<PathBuf>,
    /// The largest message accepted, headers and body.
    pub max_message_bytes: usize,
    /// A stream peer that has started a message must finish it within this,
    /// so a slow-loris peer cannot hold a connection slot. It also bounds an
    /// inbound TLS handshake and a write to a peer that has stopped reading.
    pub header_timeout: Duration,
    /// A stream connection with no traffic either way (keep-alives count) for
    /// this long is closed.
    pub idle_timeout: Duration,
    /// Stream connections open at once, inbound and outbound together. New
    /// inbound connections beyond it are closed at once, so a flood of
    /// connections costs file descriptors only up to this number.
    pub max_connections: usize,
    /// Bounds an outbound TCP connect together with its TLS handshake.
    pub connect_timeout: Duration,
}

/// A certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    /// The leaf certificate first, then any intermediates.
    pub certificate: PathBuf,
    /// PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub private_key: PathBuf,
}

impl Default for TransportConfig {
    /// Listens nowhere, with the documented limits.
    fn default() -> Self {
        TransportConfig::from_tables(&ListenConfig::default(), &TlsConfig::default(), &LimitsConfig::default())
    }
}

impl TransportConfig {
    /// Puts the three configuration tables together. Relative paths in `tls`
    /// are taken as they are: the caller resolves them first.
    pub fn from_tables(listen: &ListenConfig, tls: &TlsConfig, limits: &LimitsConfig) -> Self {
        TransportConfig {
            udp: listen.udp.clone(),
            tcp: listen.tcp.clone(),
            tls: listen.tls.clone(),
            ws: listen.ws.clone(),
            wss: listen.wss.clone(),
            ws_origins: listen.ws_origins.clone(),
            tls_identity: tls.identity.clone(),
            client_ca: tls.client_ca.clone(),
            outbound_ca: tls.outbound_ca.clone(),
            max_message_bytes: limits.max_message_bytes,
            header_timeout: Duration::from_millis(limits.header_timeout_ms),
            idle_timeout: Duration::from_secs(limits.idle_timeout_secs),
            max_connections: limits.max_connections,
            connect_timeout: Duration::from_millis(limits.connect_timeout_ms),
        }
    }
}

/// `[listen]`: addresses per transport, e.g. `udp = ["0.0.0.0:5060"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ListenConfig {
    /// `udp`: UDP listening addresses; none by default.
    #[serde(default)]
    pub udp: Vec<SocketAddr>,
    /// `tcp`: TCP listening addresses; none by default.
    #[serde(default)]
    pub tcp: Vec<SocketAddr>,
    /// `tls`: TLS listening addresses; none by default.
    #[serde(default)]
    pub tls: Vec<SocketAddr>,
    /// `ws`: WebSocket listening addresses; none by default.
    #[serde(default)]
    pub ws: Vec<SocketAddr>,
    /// `wss`: secure WebSocket listening addresses; none by default.
    #[serde(default)]
    pub wss: Vec<SocketAddr>,
    /// `ws-origins`: see [`TransportConfig::ws_origins`]; none by default.
    #[serde(default)]
    pub ws_origins: Vec<String>,
}

/// `[tls]`: `certificate` and `private-key` (both or neither), `client-ca`,
/// `outbound-ca`; see [`TransportConfig`] for what each does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "TlsTable")]
pub struct TlsConfig {
    /// `certificate` and `private-key`: see [`TransportConfig::tls_identity`].
    pub identity: Option<TlsIdentity>,
    /// `client-ca`: see [`TransportConfig::client_ca`].
    pub client_ca: Option<PathBuf>,
    /// `outbound-ca`: see [`TransportConfig::outbound_ca`].
    pub outbound_ca: Option<PathBuf>,
}

/// `[tls]` as written, before the certificate and key are paired.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TlsTable {
    certificate: Option<PathBuf>,
    private_key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    outbound_ca: Option<PathBuf>,
}

impl TryFrom<TlsTable> for TlsConfig {
    type Error = &'static str;

    fn try_from(table: TlsTable) -> Result<Self, Self::Error> {
        let identity = match (table.certificate, table.private_key) {
            (Some(certificate), Some(private_key)) => Some(TlsIdentity { certificate, private_key }),
            (None, None) => None,
            _ => return Err("`certificate` and `private-key` must be given together"),
        };
        Ok(TlsConfig { identity, client_ca: table.client_ca, outbound_ca: table.outbound_ca })
    }
}

/// `[limits]`: see [`TransportConfig`] for what each limit is for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct LimitsConfig {
    /// `max-message-bytes`: [`TransportConfig::max_message_bytes`]; 65535
    /// by default.
    pub max_message_bytes: usize,
    /// `header-timeout-ms`: [`TransportConfig::header_timeout`], in
    /// milliseconds; 5000 by default.
    pub header_timeout_ms: u64,
    /// `idle-timeout-secs`: [`TransportConfig::idle_timeout`], in seconds;
    /// 300 by default.
    pub idle_timeout_secs: u64,
    /// `max-connections`: [`TransportConfig::max_connections`]; 1024 by default.
    pub max_connections: usize,
    /// `connect-timeout-ms`: [`TransportConfig::connect_timeout`], in
    /// milliseconds; 3000 by default.
    pub connect_timeout_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_bytes: 65_535,
            header_timeout_ms: 5_000,
            idle_timeout_secs: 300,
            max_connections: 1024,
            connect_timeout_ms: 3_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        listen: ListenConfig,
        #[serde(default)]
        tls: TlsConfig,
        #[serde(default)]
        limits: LimitsConfig,
    }

    fn parse(text: &str) -> Result<TransportConfig, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        Ok(TransportConfig::from_tables(&file.listen, &file.tls, &file.limits))
    }

    #[test]
    fn defaults() {
        let config = parse("").unwrap();
        assert_eq!(config, TransportConfig::default());
        assert_eq!(config.max_message_bytes, 65_535);
        assert_eq!(config.header_timeout, Duration::from_secs(5));
        assert_eq!(config.idle_timeout, Duration::from_secs(300));
        assert_eq!(config.max_connections, 1024);
        assert_eq!(config.connect_timeout, Duration::from_secs(3));
        assert!(config.udp.is_empty() && config.tls_identity.is_none());
    }

    #[test]
    fn all_tables() {
        let config = parse(
            r#"
            [listen]
            udp = ["0.0.0.0:5060", "[::]:5060"]
            tls = ["127.0.0.1:5061"]
            [tls]
            certificate = "cert.pem"
            private-key = "key.pem"
            client-ca = "clients.pem"
            [limits]
            max-message-bytes = 4096
            header-timeout-ms = 250
            "#,
        )
        .unwrap();
        assert_eq!(config.udp.len(), 2);
        assert_eq!(config.tls, vec!["127.0.0.1:5061".parse().unwrap()]);
        let identity = config.tls_identity.unwrap();
        assert_eq!(identity.private_key, PathBuf::from("key.pem"));
        assert_eq!(config.client_ca, Some(PathBuf::from("clients.pem")));
        assert_eq!(config.outbound_ca, None);
        assert_eq!(config.max_message_bytes, 4096);
        assert_eq!(config.header_timeout, Duration::from_millis(250));
        assert_eq!(config.max_connections, 1024);
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        let unknown = parse("[limits]\nmax-conections = 5\n").unwrap_err();
        assert!(unknown.contains("max-conections"), "{unknown}");
        let half = parse("[tls]\ncertificate = \"cert.pem\"\n").unwrap_err();
        assert!(half.contains("must be given together"), "{half}");
        let typo = parse("[tls]\ncertificat = \"cert.pem\"\n").unwrap_err();
        assert!(typo.contains("certificat"), "{typo}");
        assert!(parse("[listen]\nudp = [\"localhost:5060\"]\n").is_err());
    }
}
