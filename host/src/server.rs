//! `sipwarden serve`: the transport, the proxy core, the registrar and the
//! policy chain, put together from a configuration.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::admin::{Admin, Sources};
use crate::capability::Capabilities;
use crate::config::{Config, ConfigError};
use crate::decision::{BindError, Decider, DecisionService, Interface};
use crate::policy::{Engine, LoadError, SharedChain};
use crate::proxy::{Local, Proxy, ProxyOptions, Upstream};
use crate::registrar::Registrar;
use crate::reload::{self, Loaded, Reloader};
use crate::sip::SipUri;
use crate::transport::{Listeners, Transport, TransportError, TransportLayer};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The audit trail, a capability store or a capability's backend could
    /// not be set up.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A plugin of the directory could not be loaded: the server does not
    /// start with a policy missing.
    #[error(transparent)]
    Plugins(#[from] LoadError),
    /// A SIP listener could not be bound, or the TLS files are unusable.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// `[plugins] dir` is not set.
    #[error("[plugins] dir is not set: sipwarden needs a plugin directory (it may be empty)")]
    NoPluginDir,
    /// `[upstream] uri` does not parse as a SIP URI.
    #[error("[upstream] uri `{uri}` is not a SIP URI: {reason}")]
    Upstream {
        /// The URI as configured.
        uri: String,
        /// Why it does not parse.
        reason: String,
    },
    /// Neither `[listen]` nor `[decision]` gives an address: there would be
    /// nothing to serve.
    #[error("no listener is configured: set at least one address in [listen] or [decision]")]
    NoListener,
    /// A decision service listener could not be bound.
    #[error(transparent)]
    Decision(#[from] BindError),
    /// The admin API could not be bound.
    #[error("[admin] cannot listen on {addr}: {source}")]
    Admin {
        /// `[admin] listen`.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// A started server.
pub struct Server {
    /// The SIP proxy; `None` when sipwarden only decides for another proxy.
    pub proxy: Option<Proxy>,
    /// The SIP listeners, bound but not read until [`Server::run`]; with
    /// port 0 in `[listen]`, [`TransportLayer::local_addr`] tells the port.
    pub transport: TransportLayer,
    /// The engine every plugin runs in, with the capabilities of the
    /// configuration.
    pub engine: Engine,
    /// Where the decision service listens, when `[decision]` is configured.
    pub decision_addrs: Vec<(Interface, SocketAddr)>,
    decision: Option<DecisionService>,
    /// Reloads the plugin directory and the stores: `POST /reload`, SIGHUP
    /// and the file watch all go through it.
    pub reloader: Arc<Reloader>,
    /// Where the admin API listens, when `[admin]` is configured.
    pub admin_addr: Option<SocketAddr>,
    admin: Option<Admin>,
    background: Background,
    listeners: Listeners,
}

/// The reload triggers that run beside the proxy; stopped with the server
/// (or when a server that never ran is dropped).
#[derive(Default)]
struct Background {
    watch: Option<reload::Watch>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        self.watch = None;
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Server {
    /// Load the plugins, bind the listeners and build the proxy. Nothing is
    /// served until [`Server::run`].
    pub async fn start(config: &Config) -> Result<Server, ServeError> {
        let (capabilities, stores): (Capabilities, _) = config.capabilities_and_stores()?;
        let engine = Engine::new(&config.engine_options()?, capabilities)?;
        let trusted = engine.trusted_keys();
        for (file, fingerprint) in trusted.fingerprints() {
            tracing::info!(key = %file.display(), fingerprint, "trusted plugin signing key");
        }
        if !trusted.required() {
            tracing::info!("no [plugins] trusted-keys: plugin signatures are not checked");
        }
        let dir = config.plugins.dir.as_ref().ok_or(ServeError::NoPluginDir)?;
        let loaded = Loaded::load_dir(&engine, dir)?;
        let chain = loaded.chain();
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
                    .map(SipUri::into_owned)
                    .map_err(|e| ServeError::Upstream { uri: up.uri.clone(), reason: e.to_string() })?,
                domains: up.domains.clone(),
            }),
            None => None,
        };

        // One chain for whatever decides: the proxy, the decision service,
        // or both; reloads swap it for all of them at once.
        let chain = SharedChain::new(chain);
        let decision = match &config.decision {
            Some(d) => Some(DecisionService::bind(d, Decider::new(chain.clone(), d)).await?),
            None => None,
        };
        let decision_addrs = decision.as_ref().map(DecisionService::local_addrs).unwrap_or_default();
        for (interface, addr) in &decision_addrs {
            tracing::info!(%addr, interface = interface.as_str(), "decision service listening");
        }

        let (transport, unstarted) = TransportLayer::open(&config.transport()).await?;
        let listeners: Vec<_> = [Transport::Udp, Transport::Tcp, Transport::Tls, Transport::Ws, Transport::Wss]
            .into_iter()
            .filter_map(|t| transport.local_addr(t).map(|a| (t, a)))
            .collect();
        let proxy = match listeners.first() {
            Some(first) => {
                let advertise = config
                    .proxy
                    .advertise
                    .as_ref()
                    .map(|host| host.as_str().to_string())
                    .unwrap_or_else(|| advertised_ip(first.1.ip()));
                let local = Local { advertise, listeners: listeners.clone() };
                let registrar = config.registrar.clone().map(|r| Arc::new(Registrar::new(r)));
                let options = ProxyOptions {
                    record_route: config.proxy.record_route,
                    max_transactions: config.proxy.max_transactions,
                };
                Some(Proxy::new(transport.clone(), chain.clone(), registrar, upstream, local, options))
            }
            None if decision.is_some() => None,
            None => return Err(ServeError::NoListener),
        };

        let reloader = Arc::new(Reloader::new(engine.clone(), chain, dir.clone(), stores, loaded));
        let mut background = Background::default();
        if config.plugins.watch {
            // Without the watch, SIGHUP and the API still reload: not a
            // reason to refuse to serve.
            match reload::watch(reloader.clone(), reload::DEBOUNCE) {
                Ok(watch) => background.watch = Some(watch),
                Err(e) => tracing::warn!("{e}; reload with SIGHUP or POST /reload instead"),
            }
        }
        match reload::on_hangup(reloader.clone()) {
            Ok(task) => background.tasks.push(task),
            Err(e) => tracing::warn!("cannot handle SIGHUP: {e}"),
        }
        let admin = match &config.admin {
            Some(admin) => {
                let sources = Sources {
                    reloader: reloader.clone(),
                    proxy: proxy.clone(),
                    decider: decision.as_ref().map(|d| d.decider().clone()),
                };
                Some(
                    Admin::bind(admin, sources)
                        .await
                        .map_err(|source| ServeError::Admin { addr: admin.listen, source })?,
                )
            }
            None => None,
        };
        let admin_addr = admin.as_ref().and_then(|a| a.local_addr().ok());
        if let Some(addr) = admin_addr {
            tracing::info!(%addr, "admin API listening");
        }
        Ok(Server {
            proxy,
            transport,
            engine,
            decision_addrs,
            decision,
            reloader,
            admin_addr,
            admin,
            background,
            listeners: unstarted,
        })
    }

    /// Serve until ctrl-c or SIGTERM arrives.
    pub async fn run(self) {
        let Server { proxy, transport, listeners, admin, decision, mut background, .. } = self;
        if let Some(admin) = admin {
            background.tasks.push(tokio::spawn(admin.serve()));
        }
        if let Some(decision) = decision {
            background.tasks.extend(decision.serve());
        }
        match proxy {
            Some(proxy) => background.tasks.push(proxy.start(listeners)),
            // Decision service only: there is no SIP listener to read.
            None => drop(listeners),
        }
        shutdown_signal().await;
        tracing::info!("shutting down");
        drop(background);
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
