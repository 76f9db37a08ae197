//! # sipwarden
//!
//! A WebAssembly policy-plugin host for SIP proxies. SIP requests are
//! decided by a chain of sandboxed policy components (the contract is
//! `wit/policy.wit`) before the proxy routes them.
//!
//! Reading order for a newcomer:
//! - [`sip`]: SIP messages, our one wrapper around the `rsip` parser;
//! - [`transport`]: where a message came from;
//! - [`policy`]: the plugin engine, manifests and the chain;
//! - [`capability`]: what the host does for plugins (audit, directory,
//!   digest credentials), without handing them secrets;
//! - [`config`]: the configuration file.

#![deny(unsafe_code)]

pub mod capability;
pub mod config;
pub mod policy;
pub mod sip;
pub mod transport;
