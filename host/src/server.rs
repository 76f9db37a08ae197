//! `sipwarden serve`: the transport, the proxy core, the registrar and the
//! policy chain, put together from a configuration.

use std::net::IpAddr;
use std::sync::Arc;

use crate::capability::Capabilities;
use crate::config::{Config, ConfigError};
use crate::policy::{Chain, Engine, EngineOptions, LoadError};
use crate::proxy::{Local, Proxy, ProxyOptions, Upstream};
use crate::registrar::Registrar;
use crate::sip::SipUri;
use crate::transport::{Transport, TransportError, TransportLayer};

/// The configuration `sipwarden serve` runs with when given none.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.toml");

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Plugins(#[from] LoadError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("[plugins] dir is not set: sipwarden needs a plugin directory (it may be empty)")]
    NoPluginDir,
    #[error("[upstream] uri `{uri}` is not a SIP URI: {reason}")]
    Upstream { uri: String, reason: String },
    #[error("no listener is configured: set at least one address in [listen]")]
    NoListener,
}

/// A started server.
pub struct Server {
    pub proxy: Proxy,
    pub transport: TransportLayer,
    pub engine: Engine,
    inbound: tokio::sync::mpsc::Receiver<crate::transport::Inbound>,
}

impl Server {
    /// Load the plugins, bind the listeners and build the proxy. Nothing is
    /// served until [`Server::run`].
    pub async fn start(config: &Config) -> Result<Server, ServeError> {
        let capabilities: Capabilities = config.capabilities()?;
        let engine = Engine::new(&EngineOptions::default(), capabilities)?;
        let dir = config.plugins.dir.as_ref().ok_or(ServeError::NoPluginDir)?;
        let chain = Chain::load_dir(&engine, dir)?;
        for plugin in chain.plugins() {
            tracing::info!(
                plugin = plugin.name(),
                sha256 = plugin.sha256(),
                order = plugin.manifest().order,
                "plugin loaded"
            );
        }
        if chain.plugins().is_empty() {
            tracing::warn!(dir = %dir.display(), "no plugins: every request passes unchecked");
        }

        let upstream = match &config.upstream {
            Some(up) => Some(Upstream {
                uri: SipUri::parse(&up.uri)
                    .map_err(|e| ServeError::Upstream { uri: up.uri.clone(), reason: e.to_string() })?,
                domains: up.domains.clone(),
            }),
            None => None,
        };

        let (transport, inbound) = TransportLayer::bind(&config.transport()).await?;
        let listeners: Vec<_> = [Transport::Udp, Transport::Tcp, Transport::Tls]
            .into_iter()
            .filter_map(|t| transport.local_addr(t).map(|a| (t, a)))
            .collect();
        let Some(first) = listeners.first() else { return Err(ServeError::NoListener) };
        let advertise = config.proxy.advertise.clone().unwrap_or_else(|| advertised_ip(first.1.ip()));
        let local = Local { advertise, listeners };
        let registrar = config.registrar.clone().map(|r| Arc::new(Registrar::new(r)));
        let options =
            ProxyOptions { record_route: config.proxy.record_route, max_transactions: config.proxy.max_transactions };
        let proxy = Proxy::new(transport.clone(), chain, registrar, upstream, local, options);
        Ok(Server { proxy, transport, engine, inbound })
    }

    /// Serve until the listeners close or ctrl-c / SIGTERM arrives.
    pub async fn run(self) {
        let Server { proxy, transport, inbound, .. } = self;
        tokio::select! {
            () = proxy.run(inbound) => {}
            () = shutdown_signal() => tracing::info!("shutting down"),
        }
        transport.shutdown().await;
    }
}

/// An unspecified listen address (`0.0.0.0`) cannot go in a Via: advertise
/// loopback and let the operator set `[proxy] advertise` for anything else.
fn advertised_ip(ip: IpAddr) -> String {
    match ip {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
