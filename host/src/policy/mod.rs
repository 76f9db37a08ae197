//! The policy engine: WebAssembly components that decide SIP requests.
//!
//! Reading order: [`manifest`] (what the operator says about a plugin),
//! `signature` (which components may load at all), `engine` (compiling and
//! checking a component), `plugin` (running one: pooled instances,
//! deadlines, memory caps, failures), `chain` (running them in order),
//! `verdict` (what a plugin may answer), `view` (what a plugin may see and
//! call), `sandbox` (what it may not touch).

mod bindings;
mod budget;
mod chain;
mod engine;
mod latency;
pub mod manifest;
mod plugin;
mod sandbox;
mod signature;
mod verdict;
mod view;

pub use budget::{Bounded, LOG_INTERVAL, Refusals};
pub use chain::{Chain, Decision, Outcome, SharedChain, Step, StepResult};
pub use engine::{
    Engine, EngineOptions, LoadError, POLICY_EXPORT, WORLD, WasmError, capability_of, read_detached_signature,
};
pub(crate) use latency::Latency;
pub use latency::{BUCKETS as LATENCY_BUCKETS, LatencySnapshot};
pub use manifest::{Capability, Manifest, ManifestError};
pub use plugin::{Failure, Plugin, PluginStats};
pub use signature::{
    Claimed, KeyError, SignatureError, Signed, Signer, TrustedKeys, claimed, generate_key_pair, read_secret_key, sign,
    signature_path,
};
pub use verdict::{Edit, MalformedVerdict, Reply, Verdict};
pub use view::{MemoryCapExceeded, RequestView, ResponseView};
/// A signing key, as [`sign`] takes it (wasmsign2's).
pub use wasmsign2::SecretKey;
