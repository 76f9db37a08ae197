//! The chain: plugins run in order on every request.
//!
//! The first plugin that answers ends the chain; edits accumulate and the
//! plugins after an edit see the edited request. A plugin that fails is
//! handled by its own failure policy: failing closed answers the request,
//! failing open skips the plugin.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;

use super::engine::{Engine, LoadError};
use super::manifest::FailureMode;
use super::plugin::{Failure, Plugin};
use super::verdict::{self, Edit, Reply, Verdict};
use super::view::{RequestView, ResponseView};
use crate::sip;
use crate::transport::Origin;

/// An ordered set of plugins.
#[derive(Clone, Default)]
pub struct Chain {
    plugins: Vec<Arc<Plugin>>,
}

/// The chain that serves now, shared by whatever decides requests (the
/// proxy, the decision service) and swapped by reloads.
///
/// A request is decided on the chain it loaded: a swap never changes the
/// plugins under a decision in progress.
#[derive(Clone, Default)]
pub struct SharedChain(Arc<ArcSwap<Chain>>);

impl SharedChain {
    /// Serve `chain` until the first [`SharedChain::store`].
    pub fn new(chain: Chain) -> SharedChain {
        SharedChain(Arc::new(ArcSwap::from_pointee(chain)))
    }

    /// The chain new requests run through.
    pub fn load(&self) -> Arc<Chain> {
        self.0.load_full()
    }

    /// Serve `chain` from now on.
    pub fn store(&self, chain: Chain) {
        self.0.store(Arc::new(chain));
    }
}

/// The chain's decision on one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// Route the (possibly edited) request onwards.
    Forward,
    /// Answer with this reply instead.
    Respond {
        /// The status, reason and headers of the answer;
        /// [`Reply::to_response`] makes it the response to the request.
        reply: Reply,
        /// The plugin that answered.
        by: Arc<str>,
        /// True when the answer comes from a failure policy, not a verdict.
        failure: bool,
    },
}

/// What one plugin did with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum StepResult {
    /// The plugin let the request through.
    Continue {
        /// The edits it made, applied before the next plugin ran; often none.
        edits: Vec<Edit>,
    },
    /// The plugin answered the request, which ended the chain.
    Respond {
        /// Its answer.
        reply: Reply,
    },
    /// The plugin failed; its failure policy decided what happened next.
    Failed {
        /// What kind of failure, as in logs and metrics: `deadline`,
        /// `memory`, `trap`, `malformed-verdict`, `start` or `declined`.
        kind: &'static str,
        /// The failure, in words.
        error: String,
        /// Closed: the chain answered with the policy's status and ended.
        /// Open: the chain went on without the plugin.
        mode: FailureMode,
    },
}

/// One plugin's step, in the order they ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The plugin's name (its file stem).
    pub plugin: Arc<str>,
    /// What it did.
    #[serde(flatten)]
    pub result: StepResult,
}

/// The result of running the chain on a request.
#[derive(Debug)]
pub struct Outcome {
    /// The request with every accepted edit applied.
    pub request: sip::Request,
    /// The hop the request came from, as given to [`Chain::decide`].
    pub origin: Origin,
    /// Forward the request, or answer it.
    pub decision: Decision,
    /// Every plugin that saw the request, in chain order; the plugins whose
    /// `methods` leave the request out, and those after an answer, are not
    /// in it.
    pub steps: Vec<Step>,
    /// The plugins that let the request through and asked to see its
    /// response, for [`Chain::observe`].
    pub observers: Vec<Arc<Plugin>>,
}

impl Chain {
    /// A chain of these plugins, ordered by their manifests' `order`, then
    /// by name so that the order never depends on the file system.
    pub fn new(mut plugins: Vec<Arc<Plugin>>) -> Chain {
        plugins.sort_by(|a, b| a.manifest().order.cmp(&b.manifest().order).then_with(|| a.name().cmp(b.name())));
        Chain { plugins }
    }

    /// Load every `*.wasm` of a directory (each with its `NAME.toml`, if
    /// any). One plugin that fails to load fails the whole directory: an
    /// operator must never run a chain with a policy silently missing.
    pub fn load_dir(engine: &Engine, dir: &Path) -> Result<Chain, LoadError> {
        let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Read { path: dir.to_path_buf(), source })?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| LoadError::Read { path: dir.to_path_buf(), source })?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "wasm") {
                paths.push(path);
            }
        }
        paths.sort();
        let plugins = paths.iter().map(|p| engine.load_file(p).map(Arc::new)).collect::<Result<_, _>>()?;
        Ok(Chain::new(plugins))
    }

    /// The plugins, in the order they run.
    pub fn plugins(&self) -> &[Arc<Plugin>] {
        &self.plugins
    }

    /// Whether deciding a `method` request may wait on I/O (a plugin that
    /// sees it may append to a strict audit trail or ask ENUM): such a
    /// decision runs on a blocking thread; any other is a few microseconds
    /// of CPU and runs where the request is, without a thread hand-off.
    pub fn may_block(&self, method: &sip::Method) -> bool {
        self.plugins.iter().any(|p| p.manifest().sees(method) && p.may_block())
    }

    /// Run the chain on a request.
    pub fn decide(&self, request: sip::Request, origin: Origin) -> Outcome {
        let mut view = RequestView::new(request, origin);
        let mut steps = Vec::new();
        let mut observers = Vec::new();
        for plugin in &self.plugins {
            if !plugin.manifest().sees(&view.request.method) {
                continue;
            }
            let (back, result) = plugin.decide(view);
            view = back;
            match result {
                Ok(Verdict::Continue { edits }) => {
                    // Every edit is logged here, once for all plugins, so a
                    // plugin need not spend a log call on what it changed.
                    if !edits.is_empty() {
                        tracing::debug!(plugin = plugin.name(), ?edits, "continue with edits");
                    }
                    verdict::apply(&mut view.request, &edits);
                    if plugin.manifest().responses {
                        observers.push(plugin.clone());
                    }
                    steps.push(Step { plugin: plugin.name_arc().clone(), result: StepResult::Continue { edits } });
                }
                Ok(Verdict::Respond(reply)) => {
                    tracing::debug!(plugin = plugin.name(), status = reply.status, reason = %reply.reason, "respond");
                    steps.push(Step {
                        plugin: plugin.name_arc().clone(),
                        result: StepResult::Respond { reply: reply.clone() },
                    });
                    let decision = Decision::Respond { reply, by: plugin.name_arc().clone(), failure: false };
                    return finish(view, decision, steps, observers);
                }
                Err(failure) => {
                    let policy = &plugin.manifest().failure;
                    steps.push(Step {
                        plugin: plugin.name_arc().clone(),
                        result: StepResult::Failed {
                            kind: failure.kind(),
                            error: failure.to_string(),
                            mode: policy.mode,
                        },
                    });
                    if policy.mode == FailureMode::Closed {
                        let reply = Reply {
                            status: policy.status.code(),
                            reason: policy.reason.as_str().to_string(),
                            headers: Vec::new(),
                        };
                        let decision = Decision::Respond { reply, by: plugin.name_arc().clone(), failure: true };
                        return finish(view, decision, steps, observers);
                    }
                    skipped(plugin, &failure);
                }
            }
        }
        finish(view, Decision::Forward, steps, observers)
    }

    /// Show a response to the plugins that asked for it. Observation cannot
    /// change the response, so a failure here is logged and counted only.
    pub fn observe(observers: &[Arc<Plugin>], request: sip::Request, origin: Origin, response: sip::Response) {
        let mut req = RequestView::new(request, origin);
        let mut resp = ResponseView { response };
        for plugin in observers {
            let (r, s, _result) = plugin.observe(req, resp);
            req = r;
            resp = s;
        }
    }
}

fn finish(view: RequestView, decision: Decision, steps: Vec<Step>, observers: Vec<Arc<Plugin>>) -> Outcome {
    Outcome { request: view.request, origin: view.origin, decision, steps, observers }
}

fn skipped(plugin: &Plugin, failure: &Failure) {
    tracing::warn!(
        plugin = plugin.name(),
        kind = failure.kind(),
        "failing open: request continues without this plugin"
    );
}
