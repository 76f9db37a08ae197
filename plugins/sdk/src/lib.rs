//! # sipwarden-sdk: SIP policies as WebAssembly components
//!
//! A policy is a type that implements [`Policy`] and is exported with
//! [`export_policy!`]. Build it for `wasm32-wasip2` as a `cdylib` and drop the
//! `.wasm` into sipwarden's plugin directory:
//!
//! ```ignore
//! use sipwarden_sdk::{export_policy, Policy, Request, Verdict};
//!
//! struct DenyAnonymous;
//!
//! impl Policy for DenyAnonymous {
//!     fn decide(&self, req: &Request) -> Verdict {
//!         match req.header("From") {
//!             Some(from) if from.contains("anonymous.invalid") => Verdict::reject(403, "Anonymous Not Allowed"),
//!             _ => Verdict::pass(),
//!         }
//!     }
//! }
//!
//! export_policy!(DenyAnonymous);
//! ```
//!
//! The request is owned by the host: [`Request`]'s methods ask the host for
//! one piece of it at a time, which is what makes a policy cheap to run.
//! Each question is a call into the host (about 0.1 µs on the project's
//! VM), and a string answer also costs an allocation in the plugin's memory.
//! So ask only what the decision needs, and the narrowest question:
//! [`Request::source`] rather than [`Request::origin`] for the transport and
//! address, [`Request::peer_named`] to trust a TLS peer by name,
//! [`Request::in_dialog`] rather than parsing `To`, and the [`debug!`] family
//! of macros, which format a line only when the host's filter keeps it.
//!
//! Capabilities (`log`, `audit`, `directory`, `credentials`) are imported only
//! if the policy calls them, and the operator must grant each one in the
//! plugin's manifest: a plugin whose imports are not granted does not load.
//!
//! To read what the request says (an address, a URI, a Digest parameter, a
//! list of name-addrs), use [`grammar`]: it is the host's own reading of SIP
//! (the `sipwarden-grammar` crate, re-exported), so a policy and the host
//! never disagree on who `sip:%61lice@example.com` is. The names policies
//! use most are re-exported here too ([`Address`], [`SipUri`], [`TelUri`],
//! [`split_list`]…).

#![deny(unsafe_code)]

/// The bindings generated from `wit/policy.wit` (the only unsafe code of the
/// SDK, written by wit-bindgen), for what this crate does
/// not wrap.
#[allow(missing_docs, unsafe_code)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "plugin",
        pub_export_macro: true,
        default_bindings_module: "sipwarden_sdk::bindings",
        export_macro_name: "__export_policy_bindings",
        runtime_path: "sipwarden_sdk::__wit_bindgen::rt",
    });
}

// The generated bindings name the wit-bindgen runtime through this crate, so
// that a plugin depends on `sipwarden-sdk` alone.
extern crate self as sipwarden_sdk;
#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub mod address;
mod capability;
mod net;
mod verdict;

pub use bindings::sipwarden::policy::types::{
    Edit, Header, IpAddress, Origin, Reply, Request, Response, Source, TlsPeer, Transport, Verdict,
};
pub use capability::{audit, credentials, directory, log};
pub use net::Prefix;
/// The host's reading of SIP syntax: URIs, addresses, parameters, Digest
/// values, numbers.
pub use sipwarden_grammar as grammar;
pub use sipwarden_grammar::{Address, SipUri, TelUri, Uri, is_token, split_list, unescape, uri_of};

/// A policy plugin.
///
/// The host creates the policy once per instance with [`Policy::init`], then
/// calls [`Policy::decide`] for each request the manifest routes to it. The
/// host may run several instances side by side and replaces an instance that
/// trapped, so state kept in `self` is a per-instance cache, not a shared
/// store.
pub trait Policy: Sized + 'static {
    /// The plugin's configuration: the manifest's `[config]` table.
    type Config: serde::de::DeserializeOwned;

    /// Build the policy from its configuration. An `Err` refuses the
    /// configuration; the operator sees the message and the plugin does not
    /// load.
    fn init(config: Self::Config) -> Result<Self, String>;

    /// Decide one request.
    fn decide(&self, req: &Request) -> Verdict;

    /// See the response to a request this policy let through (only when the
    /// manifest sets `responses = true`).
    fn observe(&self, _req: &Request, _resp: &Response) {}
}

/// Export a [`Policy`] implementation as the component's `policy` interface.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        const _: () = {
            use $crate::bindings::exports::sipwarden::policy::policy::Guest;

            ::std::thread_local! {
                static POLICY: ::std::cell::RefCell<::std::option::Option<$policy>> =
                    const { ::std::cell::RefCell::new(None) };
            }

            struct Export;

            impl Guest for Export {
                fn init(config: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                    let policy = $crate::__init::<$policy>(&config)?;
                    POLICY.with(|p| *p.borrow_mut() = Some(policy));
                    Ok(())
                }

                fn decide(req: &$crate::Request) -> $crate::Verdict {
                    POLICY.with(|p| match p.borrow().as_ref() {
                        Some(policy) => <$policy as $crate::Policy>::decide(policy, req),
                        None => $crate::__not_initialised(),
                    })
                }

                fn observe(req: &$crate::Request, resp: &$crate::Response) {
                    POLICY.with(|p| {
                        if let Some(policy) = p.borrow().as_ref() {
                            <$policy as $crate::Policy>::observe(policy, req, resp)
                        }
                    })
                }
            }

    $crate::bindings::__export_policy_bindings!(Export with_types_in $crate::bindings);
        };
    };
}

#[doc(hidden)]
pub fn __init<P: Policy>(config: &str) -> Result<P, String> {
    let config: P::Config = serde_json::from_str(config).map_err(|e| format!("invalid configuration: {e}"))?;
    P::init(config)
}

#[doc(hidden)]
pub fn __not_initialised() -> ! {
    // The host always calls `init` first; reaching this is a host bug, and a
    // trap is the only honest answer.
    panic!("sipwarden policy called before init")
}
