//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4).
//!
//! Per-plugin series are those of the version serving now: a replaced
//! plugin starts its counters again from zero, which Prometheus' `rate()`
//! reads as a counter reset. `sipwarden_plugin_info` says which version
//! (SHA-256) a series belongs to.

use std::fmt::Write;

use super::Sources;
use crate::decision::{DecisionStats, ObservationOutcome};
use crate::policy::{Bounded, LATENCY_BUCKETS, LatencySnapshot};
use crate::reload::Trigger;
use crate::transport::TransportStats;

/// The metrics, rendered now.
pub(super) fn render(sources: &Sources) -> String {
    let reloader = &sources.reloader;
    let mut out = Out(String::with_capacity(8192));
    let plugins = reloader.plugins();
    let serving: Vec<_> = plugins.iter().filter_map(|s| s.plugin.as_ref().map(|p| (s, p))).collect();

    out.family("sipwarden_plugin_info", "gauge", "A serving plugin version: always 1, labelled with its SHA-256.");
    for (status, plugin) in &serving {
        let position = status.position.map(|p| p.to_string()).unwrap_or_default();
        out.sample(
            "sipwarden_plugin_info",
            &[("plugin", plugin.name()), ("sha256", plugin.sha256()), ("position", &position)],
            1,
        );
    }

    out.family(
        "sipwarden_plugin_reload_refused",
        "gauge",
        "1 when the plugin's files on disk were refused at the last reload (see GET /plugins for why).",
    );
    for status in &plugins {
        let refused = u64::from(status.last_reload_error.is_some());
        out.sample("sipwarden_plugin_reload_refused", &[("plugin", &status.name)], refused);
    }

    out.family("sipwarden_plugin_call_seconds", "histogram", "Duration of plugin calls (decide or observe).");
    for (_, plugin) in &serving {
        let (decide, observe) = plugin.latency();
        out.histogram("sipwarden_plugin_call_seconds", plugin.name(), "decide", &decide);
        out.histogram("sipwarden_plugin_call_seconds", plugin.name(), "observe", &observe);
    }

    out.family("sipwarden_plugin_calls_total", "counter", "Requests a plugin was asked to decide.");
    for (_, plugin) in &serving {
        out.sample("sipwarden_plugin_calls_total", &[("plugin", plugin.name())], plugin.stats().calls);
    }

    out.family("sipwarden_plugin_verdicts_total", "counter", "Verdicts a plugin returned, by kind.");
    for (_, plugin) in &serving {
        let stats = plugin.stats();
        for (verdict, n) in [("continue", stats.continues), ("respond", stats.responds)] {
            out.sample("sipwarden_plugin_verdicts_total", &[("plugin", plugin.name()), ("verdict", verdict)], n);
        }
    }

    out.family("sipwarden_plugin_observed_total", "counter", "Responses shown to a plugin.");
    for (_, plugin) in &serving {
        out.sample("sipwarden_plugin_observed_total", &[("plugin", plugin.name())], plugin.stats().observed);
    }

    out.family("sipwarden_plugin_failures_total", "counter", "Failed plugin calls, by kind.");
    for (_, plugin) in &serving {
        let s = plugin.stats();
        let kinds = [
            ("trap", s.traps),
            ("deadline", s.deadlines),
            ("memory", s.memory),
            ("malformed-verdict", s.malformed),
            ("start", s.starts_failed),
            ("declined", s.declined),
        ];
        for (kind, n) in kinds {
            out.sample("sipwarden_plugin_failures_total", &[("plugin", plugin.name()), ("kind", kind)], n);
        }
    }

    out.family(
        "sipwarden_plugin_capability_refusals_total",
        "counter",
        "Capability calls refused at the plugin's [limits]: audit records, log lines dropped, directory look-ups, credential calls.",
    );
    for (_, plugin) in &serving {
        let refused = plugin.stats().refused;
        for capability in Bounded::ALL {
            let labels = [("plugin", plugin.name()), ("capability", capability.as_str())];
            out.sample("sipwarden_plugin_capability_refusals_total", &labels, refused.of(capability));
        }
    }

    if let Some(proxy) = &sources.proxy {
        out.family("sipwarden_transactions_total", "counter", "Server transactions by method and final status.");
        for t in proxy.transactions() {
            let status = t.status.to_string();
            out.sample("sipwarden_transactions_total", &[("method", t.method), ("status", &status)], t.count);
        }
        transport(&mut out, &proxy.transport_stats());
        if let Some(registrar) = proxy.registrar_stats() {
            out.family("sipwarden_registrar_aors", "gauge", "Addresses-of-record with at least one binding.");
            out.sample("sipwarden_registrar_aors", &[], registrar.aors);
            out.family("sipwarden_registrar_bindings", "gauge", "Contact bindings held by the embedded registrar.");
            out.sample("sipwarden_registrar_bindings", &[], registrar.bindings);
        }
    }
    if let Some(decider) = &sources.decider {
        decision(&mut out, &decider.stats());
    }

    let stats = reloader.stats();
    out.family("sipwarden_reloads_total", "counter", "Reloads, by what started them.");
    for (trigger, n) in Trigger::ALL.iter().zip(stats.reloads) {
        out.sample("sipwarden_reloads_total", &[("trigger", trigger.as_str())], n);
    }
    out.family("sipwarden_reload_changes_total", "counter", "Plugins added, replaced or removed by reloads.");
    for (change, n) in [("added", stats.added), ("replaced", stats.replaced), ("removed", stats.removed)] {
        out.sample("sipwarden_reload_changes_total", &[("change", change)], n);
    }
    out.family(
        "sipwarden_reload_failures_total",
        "counter",
        "What reloads could not take: plugin versions refused, store files that did not parse, an unreadable plugin directory.",
    );
    let failures = [
        ("plugin", stats.refused),
        ("directory", stats.directory_failures),
        ("credentials", stats.credentials_failures),
        ("plugin-dir", stats.directory_unreadable),
    ];
    for (kind, n) in failures {
        out.sample("sipwarden_reload_failures_total", &[("kind", kind)], n);
    }
    out.0
}

/// The SIP transports: datagrams, stream connections, bytes.
fn transport(out: &mut Out, stats: &TransportStats) {
    out.family(
        "sipwarden_transport_datagrams_total",
        "counter",
        "UDP datagrams received, sent, and dropped as too large.",
    );
    let datagrams = [("in", stats.datagrams_in), ("out", stats.datagrams_out), ("dropped", stats.datagrams_dropped)];
    for (direction, n) in datagrams {
        out.sample("sipwarden_transport_datagrams_total", &[("direction", direction)], n);
    }
    out.family("sipwarden_transport_bytes_total", "counter", "SIP bytes received and sent, over every transport.");
    for (direction, n) in [("in", stats.bytes_in), ("out", stats.bytes_out)] {
        out.sample("sipwarden_transport_bytes_total", &[("direction", direction)], n);
    }
    out.family("sipwarden_transport_connections", "gauge", "TCP and TLS connections open now, inbound and outbound.");
    out.sample("sipwarden_transport_connections", &[], stats.connections_open);
    out.family(
        "sipwarden_transport_connection_events_total",
        "counter",
        "TCP and TLS connections accepted, opened by the proxy, refused at the limit, closed for a timeout or for bytes that could not be framed.",
    );
    let events = [
        ("accepted", stats.connections_accepted),
        ("opened", stats.connections_opened),
        ("refused", stats.connections_refused),
        ("timed-out", stats.connections_timed_out),
        ("framing-error", stats.framing_errors),
    ];
    for (event, n) in events {
        out.sample("sipwarden_transport_connection_events_total", &[("event", event)], n);
    }
}

/// The decision service: latency, outcomes, observations, connections.
fn decision(out: &mut Out, stats: &DecisionStats) {
    out.family(
        "sipwarden_decision_seconds",
        "histogram",
        "Time from a decide call read to its answer ready (the chain and its capabilities).",
    );
    for (bound, count) in LATENCY_BUCKETS.iter().zip(stats.latency.cumulative()) {
        out.sample("sipwarden_decision_seconds_bucket", &[("le", &bound.to_string())], count);
    }
    out.sample("sipwarden_decision_seconds_bucket", &[("le", "+Inf")], stats.latency.count());
    out.sample("sipwarden_decision_seconds_sum", &[], stats.latency.sum_nanos as f64 / 1e9);
    out.sample("sipwarden_decision_seconds_count", &[], stats.latency.count());

    out.family("sipwarden_decisions_total", "counter", "decide calls, by front end and outcome.");
    for (via, outcome, n) in &stats.decisions {
        out.sample("sipwarden_decisions_total", &[("interface", via.as_str()), ("outcome", outcome.as_str())], n);
    }
    out.family(
        "sipwarden_decision_observations_total",
        "counter",
        "Replies reported with observe, and decided requests whose reply never came.",
    );
    for (outcome, n) in &stats.observations {
        let result: &ObservationOutcome = outcome;
        out.sample("sipwarden_decision_observations_total", &[("result", result.as_str())], n);
    }
    out.family("sipwarden_decision_waiting", "gauge", "Decided requests waiting for their reply to be reported.");
    out.sample("sipwarden_decision_waiting", &[], stats.waiting);
    out.family("sipwarden_decision_connections", "gauge", "Proxies connected to the decision service now.");
    for (via, open, _) in &stats.connections {
        out.sample("sipwarden_decision_connections", &[("interface", via.as_str())], open);
    }
    out.family("sipwarden_decision_connections_total", "counter", "Connections accepted by the decision service.");
    for (via, _, total) in &stats.connections {
        out.sample("sipwarden_decision_connections_total", &[("interface", via.as_str())], total);
    }
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = writeln!(self.0, "{name}{} {value}", label_set(labels));
    }

    fn histogram(&mut self, name: &str, plugin: &str, call: &str, latency: &LatencySnapshot) {
        for (bound, count) in LATENCY_BUCKETS.iter().zip(latency.cumulative()) {
            let le = bound.to_string();
            self.sample(&format!("{name}_bucket"), &[("plugin", plugin), ("call", call), ("le", &le)], count);
        }
        let labels = [("plugin", plugin), ("call", call)];
        self.sample(&format!("{name}_bucket"), &[("plugin", plugin), ("call", call), ("le", "+Inf")], latency.count());
        self.sample(&format!("{name}_sum"), &labels, latency.sum_nanos as f64 / 1e9);
        self.sample(&format!("{name}_count"), &labels, latency.count());
    }
}

fn label_set(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    format!("{{{}}}", inner.join(","))
}

/// Label values escape `\`, `"` and line feeds.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
