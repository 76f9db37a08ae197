//! sipwarden's configuration file (`--config FILE`, TOML).
//!
//! Every key is documented in `docs/CONFIGURATION.md` and shown in
//! `examples/sipwarden.toml`. Relative paths are taken from the directory of
//! the configuration file, so a configuration and its files move together.
//! Unknown keys are errors: a misspelt key must not silently fall back to a
//! default.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::capability::{
    Algorithm, AuditRecorder, AuditSink, AuditTrail, Capabilities, CapabilityError, CredentialStore, DigestAuthority,
    Directory, Durability, EnumConfig, EnumDirectory, FileDirectory, Rotation,
};
use crate::decision::DecisionConfig;
use crate::policy::{EngineOptions, KeyError, TrustedKeys};
use crate::registrar::RegistrarConfig;
use crate::transport::{LimitsConfig, ListenConfig, TlsConfig, TlsIdentity, TransportConfig};

/// The configuration `sipwarden serve` runs with when given none.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.toml");

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file given with `--config`.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The message carries the line, column and key, as toml reports them.
    #[error("{path}: {message}")]
    Invalid {
        /// The file, or the name given to [`Config::parse`].
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
    /// A file the configuration names (the audit trail, a number directory,
    /// the credentials) could not be opened or read, or a capability's
    /// backend could not be started.
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    /// A key of `[plugins] trusted-keys` could not be read.
    #[error("[plugins] trusted-keys: {0}")]
    TrustedKey(#[from] KeyError),
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// The plugin directory and whether it is watched.
    #[serde(default)]
    pub plugins: PluginsConfig,
    /// The audit trail; absent: a plugin's audit calls fail as not
    /// configured.
    pub audit: Option<AuditConfig>,
    /// The number directory; absent: a plugin's look-ups fail as not
    /// configured.
    pub directory: Option<DirectoryConfig>,
    /// Digest credentials; absent: the store is empty and no user can
    /// authenticate.
    pub credentials: Option<CredentialsConfig>,
    /// SIP listening addresses; absent: no SIP listener, which only a
    /// decision service runs without.
    #[serde(default)]
    pub listen: ListenConfig,
    /// The TLS listeners' certificate and the trust roots.
    #[serde(default)]
    pub tls: TlsConfig,
    /// What the transport holds peers to: message size, timeouts,
    /// connections.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The proxy core: advertised host, Record-Route, transaction limit.
    #[serde(default)]
    pub proxy: ProxySection,
    /// The embedded registrar; absent: no registrar (upstream mode).
    pub registrar: Option<RegistrarConfig>,
    /// The next hop for requests the registrar does not serve; absent: they
    /// are refused (403), as the proxy is not an open relay.
    pub upstream: Option<UpstreamConfig>,
    /// The admin HTTP API; absent: no API.
    pub admin: Option<AdminConfig>,
    /// The decision service for a proxy sipwarden does not replace; absent:
    /// none. It runs with or without SIP listeners.
    pub decision: Option<DecisionConfig>,
}

/// `[admin]`: the admin HTTP API (health, plugins, reload, metrics).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdminConfig {
    /// Where the API listens. Loopback by default: the API can swap policies
    /// and shows what they do, so it is not for the network at large.
    #[serde(default = "default_admin_listen")]
    pub listen: std::net::SocketAddr,
    /// A bearer token every request must carry (`Authorization: Bearer …`);
    /// absent: no authentication (fine on loopback, not beyond).
    pub token: Option<String>,
}

/// Without the token: a configuration may be logged.
impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig { listen: default_admin_listen(), token: None }
    }
}

fn default_admin_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 9090))
}

/// `[proxy]`: the proxy core.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProxySection {
    /// The host written in Via and Record-Route (default: the first
    /// listener's address; loopback when that is unspecified).
    pub advertise: Option<AdvertisedHost>,
    /// Record-Route dialog-creating requests, so that in-dialog requests
    /// come back through the proxy and its policies.
    #[serde(default = "yes")]
    pub record_route: bool,
    /// Transactions in flight at most; beyond it new requests get 503.
    #[serde(default = "default_max_transactions")]
    pub max_transactions: usize,
}

impl Default for ProxySection {
    fn default() -> Self {
        ProxySection { advertise: None, record_route: true, max_transactions: default_max_transactions() }
    }
}

/// `[proxy] advertise`: a host as a SIP URI writes it (a name, an IPv4
/// address or a bracketed IPv6 reference), checked when the configuration
/// loads: the proxy writes it into every Via and Record-Route, where
/// anything else (a port, a parameter, a line break) would make the
/// messages it sends malformed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AdvertisedHost(String);

impl AdvertisedHost {
    /// The host as configured, e.g. `proxy.example.net` or `[2001:db8::7]`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AdvertisedHost {
    type Error = String;

    fn try_from(host: String) -> Result<Self, String> {
        let refused = || {
            format!("`{}` is not a host (a name, an IPv4 address or [an IPv6 address], no port)", host.escape_debug())
        };
        match sipwarden_grammar::HostPort::parse(&host) {
            Ok(hostport) if hostport.port().is_none() => Ok(AdvertisedHost(host)),
            _ => Err(refused()),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_max_transactions() -> usize {
    100_000
}

/// `[upstream]`: the next hop for what the registrar does not serve.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UpstreamConfig {
    /// A SIP URI naming host, port and transport, e.g.
    /// `sip:core.example.net:5060;transport=tcp`.
    pub uri: String,
    /// Request-URI domains sent upstream; empty: every domain the embedded
    /// registrar does not serve.
    #[serde(default)]
    pub domains: Vec<String>,
}

/// `[plugins]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginsConfig {
    /// The plugin directory: `NAME.wasm` with optional `NAME.toml`.
    pub dir: Option<PathBuf>,
    /// Reload when a file of the directory (or a capability store) changes.
    /// Off: reload only on SIGHUP or `POST /reload`.
    #[serde(default = "yes")]
    pub watch: bool,
    /// Ed25519 public keys (files: wasmsign2's format, PEM, DER or OpenSSH
    /// lines). When any is given, every component must be signed by one of
    /// them, at start and at every reload; none: signatures are not checked.
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig { dir: None, watch: true, trusted_keys: Vec::new() }
    }
}

/// `[audit]`: the audit trail plugins append to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuditConfig {
    /// The JSON Lines file.
    pub path: PathBuf,
    /// `strict`: each record is on disk (fsync) before the call that wrote
    /// it returns; `batched`: records are synced every `batch-ms`.
    #[serde(default)]
    pub durability: DurabilityMode,
    /// With `batched`, how often records are written and synced, in
    /// milliseconds (at least 10); 100 by default. Ignored with `strict`.
    #[serde(default = "default_batch_ms")]
    pub batch_ms: u64,
    /// Rotate the file when it would pass this size; absent: never.
    pub rotate_bytes: Option<u64>,
}

fn default_batch_ms() -> u64 {
    100
}

/// `durability` of `[audit]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DurabilityMode {
    /// Every record is on disk before the plugin's call returns: a crash
    /// loses nothing. The default.
    #[default]
    Strict,
    /// Records are synced every `batch-ms`: a crash may lose the last
    /// interval's records, for one `fsync` per interval instead of per record.
    Batched,
}

/// `[directory]`: the E.164 number directory, from a file or from the DNS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawDirectoryConfig")]
pub enum DirectoryConfig {
    /// `file = "directory.toml"`: a TOML file of `"+number" = ["sip:user@domain", …]` under `[numbers]`.
    File(PathBuf),
    /// `enum = { servers = ["192.0.2.53"], suffix = "e164.arpa", timeout-ms = 500 }`: ENUM (RFC 6116).
    Enum(EnumConfig),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDirectoryConfig {
    file: Option<PathBuf>,
    #[serde(rename = "enum")]
    enum_servers: Option<EnumConfig>,
}

impl TryFrom<RawDirectoryConfig> for DirectoryConfig {
    type Error = &'static str;

    fn try_from(raw: RawDirectoryConfig) -> Result<DirectoryConfig, &'static str> {
        match (raw.file, raw.enum_servers) {
            (Some(file), None) => Ok(DirectoryConfig::File(file)),
            (None, Some(servers)) => Ok(DirectoryConfig::Enum(servers)),
            (Some(_), Some(_)) => Err("set either `file` or `enum`, not both"),
            (None, None) => Err("set `file` (a numbers file) or `enum` (ENUM servers)"),
        }
    }
}

/// `[credentials]`: digest authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CredentialsConfig {
    /// A TOML file of `[[user]]` entries with HA1 hashes, never passwords.
    pub file: PathBuf,
    /// How long a nonce stays valid.
    #[serde(default = "default_nonce_lifetime")]
    pub nonce_lifetime_secs: u64,
    /// The digest algorithms offered, in the order of the challenges.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<DigestAlgorithm>,
    /// Refuse credentials whose `uri` is not the Request-URI.
    #[serde(default = "yes")]
    pub check_uri: bool,
}

fn default_algorithms() -> Vec<DigestAlgorithm> {
    vec![DigestAlgorithm(Algorithm::Sha256), DigestAlgorithm(Algorithm::Md5)]
}

/// `"SHA-256"` or `"MD5"` in `[credentials] algorithms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DigestAlgorithm(pub Algorithm);

impl TryFrom<String> for DigestAlgorithm {
    type Error = String;

    fn try_from(token: String) -> Result<Self, String> {
        Algorithm::from_token(&token)
            .map(DigestAlgorithm)
            .ok_or_else(|| format!("unknown digest algorithm `{token}` (expected \"SHA-256\" or \"MD5\")"))
    }
}

fn default_nonce_lifetime() -> u64 {
    300
}

impl Config {
    /// The embedded default (`sipwarden serve` without `--config`); its
    /// relative paths are taken from the current directory.
    pub fn embedded_default() -> Config {
        // A unit test parses it: it cannot fail in a build that passed them.
        Config::parse(EMBEDDED_DEFAULT, Path::new("<embedded default>")).unwrap_or_default()
    }

    /// The transport layer's settings.
    pub fn transport(&self) -> TransportConfig {
        TransportConfig::from_tables(&self.listen, &self.tls, &self.limits)
    }

    /// Read a configuration file; relative paths in it are resolved against
    /// its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut config = Config::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Parse configuration text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(dir) = &mut self.plugins.dir {
            resolve(dir);
        }
        self.plugins.trusted_keys.iter_mut().for_each(resolve);
        if let Some(audit) = &mut self.audit {
            resolve(&mut audit.path);
        }
        if let Some(DirectoryConfig::File(file)) = &mut self.directory {
            resolve(file);
        }
        if let Some(credentials) = &mut self.credentials {
            resolve(&mut credentials.file);
        }
        if let Some(TlsIdentity { certificate, private_key }) = &mut self.tls.identity {
            resolve(certificate);
            resolve(private_key);
        }
        for ca in [&mut self.tls.client_ca, &mut self.tls.outbound_ca].into_iter().flatten() {
            resolve(ca);
        }
    }

    /// How plugins are compiled and which signatures let them in: the
    /// default tuning, with `[plugins] trusted-keys` read.
    pub fn engine_options(&self) -> Result<EngineOptions, ConfigError> {
        Ok(EngineOptions { trusted_keys: TrustedKeys::load(&self.plugins.trusted_keys)?, ..EngineOptions::default() })
    }

    /// The capabilities this configuration describes.
    pub fn capabilities(&self) -> Result<Capabilities, ConfigError> {
        self.capabilities_and_stores().map(|(capabilities, _)| capabilities)
    }

    /// The capabilities, and the stores behind them that a reload re-reads.
    pub fn capabilities_and_stores(&self) -> Result<(Capabilities, Stores), ConfigError> {
        let audit: Arc<dyn AuditTrail> = match &self.audit {
            Some(audit) => Arc::new(audit.open()?),
            None => Capabilities::no_audit(),
        };
        self.capabilities_with(audit)
    }

    /// As [`Config::capabilities`], but without an `[audit]` section the
    /// records are kept in memory and returned, for `sipwarden eval` to print.
    pub fn capabilities_for_eval(&self) -> Result<(Capabilities, Option<Arc<AuditRecorder>>), ConfigError> {
        match &self.audit {
            Some(_) => Ok((self.capabilities()?, None)),
            None => {
                let recorder = Arc::new(AuditRecorder::default());
                Ok((self.capabilities_with(recorder.clone())?.0, Some(recorder)))
            }
        }
    }

    fn capabilities_with(&self, audit: Arc<dyn AuditTrail>) -> Result<(Capabilities, Stores), ConfigError> {
        // A file directory is also kept aside, for reloads when its file changes.
        let (directory, file_directory): (Arc<dyn Directory>, Option<Arc<FileDirectory>>) = match &self.directory {
            Some(DirectoryConfig::File(path)) => {
                let file = Arc::new(FileDirectory::load(path)?);
                (file.clone(), Some(file))
            }
            Some(DirectoryConfig::Enum(config)) => (Arc::new(EnumDirectory::start(config)?), None),
            None => (Capabilities::no_directory(), None),
        };
        let (store, lifetime, algorithms, check_uri) = match &self.credentials {
            Some(c) => (
                CredentialStore::load(&c.file)?,
                Duration::from_secs(c.nonce_lifetime_secs),
                c.algorithms.iter().map(|a| a.0).collect(),
                c.check_uri,
            ),
            None => (CredentialStore::default(), Duration::from_secs(default_nonce_lifetime()), Vec::new(), true),
        };
        let digest = DigestAuthority::random()?.with_nonce_lifetime(lifetime).with_algorithms(algorithms);
        let stores = Stores {
            directory: match (&self.directory, file_directory) {
                (Some(DirectoryConfig::File(path)), Some(store)) => Some((path.clone(), store)),
                _ => None,
            },
            credentials: self.credentials.as_ref().map(|c| c.file.clone()),
        };
        Ok((Capabilities::new(audit, directory, store, digest).with_digest_uri_check(check_uri), stores))
    }
}

/// The capability stores that operators edit while sipwarden runs: a reload
/// re-reads them (see `crate::reload`).
#[derive(Debug, Clone, Default)]
pub struct Stores {
    /// `[directory] file` and the number directory read from it.
    pub directory: Option<(PathBuf, Arc<FileDirectory>)>,
    /// `[credentials] file`: re-read into a new store that replaces the
    /// capabilities' one.
    pub credentials: Option<PathBuf>,
}

impl AuditConfig {
    fn open(&self) -> Result<AuditSink, CapabilityError> {
        let durability = match self.durability {
            DurabilityMode::Strict => Durability::Strict,
            DurabilityMode::Batched => Durability::Batched { interval: Duration::from_millis(self.batch_ms) },
        };
        AuditSink::open(&self.path, durability, self.rotate_bytes.map(|max_bytes| Rotation { max_bytes }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses() {
        let c = Config::parse(EMBEDDED_DEFAULT, Path::new("default.toml")).unwrap();
        assert_eq!(c.listen.udp, vec!["127.0.0.1:5060".parse().unwrap()]);
        assert_eq!(c.listen.tls, vec!["127.0.0.1:5061".parse().unwrap()]);
        assert!(c.registrar.is_some() && c.upstream.is_none());
        assert_eq!(c.admin.map(|a| a.listen), Some("127.0.0.1:9090".parse().unwrap()));
    }

    #[test]
    fn the_documented_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sipwarden.toml");
        let c = Config::load(&path).unwrap();
        assert!(c.audit.is_some() && c.directory.is_some() && c.credentials.is_some() && c.registrar.is_some());
        assert_eq!(c.limits, LimitsConfig::default());
        assert!(c.plugins.dir.unwrap().ends_with("../plugins/bundle"));
    }

    #[test]
    fn empty_is_default() {
        let c = Config::parse("", Path::new("x.toml")).unwrap();
        assert!(c.audit.is_none() && c.plugins.dir.is_none());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let err = Config::parse("[audit]\npath = \"a.jsonl\"\ndurability = \"sometimes\"\n", Path::new("sw.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("sw.toml: ") && err.contains("line 3") && err.contains("sometimes"), "{err}");
        let err = Config::parse("[plugin]\ndir = \"p\"\n", Path::new("sw.toml")).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("unknown field `plugin`"), "{err}");
    }

    #[test]
    fn advertise_is_a_host_or_the_file_says_where_it_is_not() {
        for host in ["proxy.example.net", "192.0.2.7", "[2001:db8::7]", "EXAMPLE.net"] {
            let c = Config::parse(&format!("[proxy]\nadvertise = \"{host}\"\n"), Path::new("sw.toml")).unwrap();
            assert_eq!(c.proxy.advertise.as_ref().map(AdvertisedHost::as_str), Some(host));
        }
        for bad in ["proxy.example.net\\r\\nX-Injected: 1", "192.0.2.7:5060", "host;lr", "a@b", "", "two words"] {
            let err = Config::parse(&format!("[proxy]\nadvertise = \"{bad}\"\n"), Path::new("sw.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("sw.toml: ") && err.contains("line 2") && err.contains("is not a host"), "{err}");
        }
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let mut c =
            Config::parse("[plugins]\ndir = \"plugins\"\n[audit]\npath = \"/var/a.jsonl\"\n", Path::new("x")).unwrap();
        c.resolve_paths(Path::new("/etc/sipwarden"));
        assert_eq!(c.plugins.dir.unwrap(), Path::new("/etc/sipwarden/plugins"));
        assert_eq!(c.audit.unwrap().path, Path::new("/var/a.jsonl"));
    }
}
