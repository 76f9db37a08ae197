//! # sipwarden
//!
//! A WebAssembly policy-plugin host for SIP proxies. SIP requests are
//! decided by a chain of sandboxed policy components (the contract is
//! `wit/policy.wit`) before the proxy routes them.
//!
//! Reading order for a newcomer:
//! - [`sip`]: SIP messages: our own RFC 3261 parser (rsip measured wrong on
//!   RFC 4475, docs/DESIGN.md), framing, editing and serialization;
//! - [`transport`]: where a message came from;
//! - [`policy`]: the plugin engine, manifests and the chain;
//! - [`capability`]: what the host does for plugins (audit, directory,
//!   digest credentials), without handing them secrets;
//! - [`registrar`]: the embedded registrar and location service;
//! - [`proxy`]: the RFC 3261 proxy core that runs the chain on every request;
//! - [`decision`]: the same chain as a decision service, for a proxy
//!   sipwarden does not replace (Kamailio over JSON-RPC, anything over HTTP);
//! - [`reload`]: swapping plugins and stores while the proxy serves;
//! - [`admin`]: the admin HTTP API (plugins, reload, metrics);
//! - [`server`]: all of it put together for `sipwarden serve`;
//! - [`config`]: the configuration file.

#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod capability;
pub mod config;
pub mod decision;
mod listener;
pub mod policy;
pub mod proxy;
pub mod registrar;
pub mod reload;
pub mod server;
pub mod sip;
pub mod transport;

// What crosses threads: the engine, plugins and chain are shared by every
// task and blocking thread that decides a request, the proxy core and the
// decider by every connection, the reloader by the watcher, the signal
// handler and the admin API. A change that made one of them `!Send` or
// `!Sync` would fail here, where it is made, not at a distant spawn.
const _: () = {
    const fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<policy::Engine>();
    shared_across_threads::<policy::Plugin>();
    shared_across_threads::<policy::Chain>();
    shared_across_threads::<policy::SharedChain>();
    shared_across_threads::<capability::Capabilities>();
    shared_across_threads::<registrar::Registrar>();
    shared_across_threads::<transport::TransportLayer>();
    shared_across_threads::<proxy::Proxy>();
    shared_across_threads::<decision::Decider>();
    shared_across_threads::<reload::Reloader>();
};
