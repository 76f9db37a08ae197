//! Hostile plugins are contained: each misbehaviour ends in the plugin's
//! failure policy (or a refusal at load), and the host serves the next
//! request normally.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sipwarden::capability::Capabilities;
use sipwarden::policy::{Chain, Decision, Engine, EngineOptions, LoadError, Manifest, StepResult};

fn engine() -> Engine {
    let options = EngineOptions { pool_slots: Some(64), ..EngineOptions::default() };
    Engine::new(&options, Capabilities::inert().unwrap()).unwrap()
}

fn manifest(text: &str) -> Manifest {
    Manifest::parse(text, Path::new("hostile.toml")).unwrap()
}

/// The hostile plugin in `mode`; it imports `audit`, granted unless `extra`
/// says otherwise.
fn hostile(engine: &Engine, mode: &str, extra: &str) -> Result<Chain, LoadError> {
    let grants = if extra.contains("capabilities") { "" } else { "capabilities = [\"log\", \"audit\"]" };
    let text = format!("{grants}\n{extra}\n[config]\nmode = \"{mode}\"\n");
    let plugin = engine.load_file_with(&common::wasm("hostile"), manifest(&text))?;
    Ok(Chain::new(vec![Arc::new(plugin)]))
}

/// Run a triggered request, assert the failure and the fail-closed answer,
/// then show that an ordinary request on the same chain is served.
fn assert_contained(chain: &Chain, expect: impl Fn(&str, &str)) {
    let outcome = chain.decide(common::request("X-Hostile: yes\r\n"), common::origin());
    match &outcome.decision {
        Decision::Respond { reply, failure: true, .. } => {
            assert_eq!((reply.status, reply.reason.as_str()), (500, "Policy Failure"));
        }
        other => panic!("expected the fail-closed answer, got {other:?}"),
    }
    match &outcome.steps[0].result {
        StepResult::Failed { kind, error, .. } => expect(kind, error),
        other => panic!("expected a failed step, got {other:?}"),
    }
    let next = chain.decide(common::request(""), common::origin());
    assert_eq!(next.decision, Decision::Forward, "the next request must be served normally");
}

#[test]
fn infinite_loop_is_stopped_by_the_deadline() {
    let engine = engine();
    let chain = hostile(&engine, "loop", "").unwrap();
    let started = Instant::now();
    assert_contained(&chain, |kind, error| {
        assert_eq!(kind, "deadline");
        assert_eq!(error, "deadline of 50 ms exceeded");
    });
    // Default deadline 50 ms; generous bound for a loaded CI machine.
    assert!(started.elapsed() < Duration::from_millis(1000), "took {:?}", started.elapsed());
    assert_eq!(chain.plugins()[0].stats().deadlines, 1);
}

#[test]
fn custom_deadline_is_honoured() {
    let engine = engine();
    let chain = hostile(&engine, "loop", "[limits]\ndeadline-ms = 5").unwrap();
    let started = Instant::now();
    let outcome = chain.decide(common::request("X-Hostile: yes\r\n"), common::origin());
    assert!(matches!(outcome.decision, Decision::Respond { failure: true, .. }));
    assert!(started.elapsed() < Duration::from_millis(500));
}

/// The epoch ticks at a tenth of the tightest deadline loaded; a tighter
/// plugin loaded later makes it tick faster, and that must not stop the
/// other plugins' calls before their own deadline.
#[test]
fn a_deadline_is_wall_clock_time_whatever_the_tick() {
    let engine = engine();
    let slow = hostile(&engine, "loop", "[limits]\ndeadline-ms = 300").unwrap();
    assert_eq!(engine.deadline_resolution(), Duration::from_millis(30));
    let stopped_after = |chain: &Chain| {
        let started = Instant::now();
        let outcome = chain.decide(common::request("X-Hostile: yes\r\n"), common::origin());
        assert!(matches!(outcome.decision, Decision::Respond { failure: true, .. }), "{outcome:?}");
        started.elapsed()
    };
    let took = stopped_after(&slow);
    assert!(took >= Duration::from_millis(300), "stopped early, after {took:?}");
    assert!(took < Duration::from_millis(1300), "took {took:?}");

    let _fast = hostile(&engine, "loop", "[limits]\ndeadline-ms = 10").unwrap();
    assert_eq!(engine.deadline_resolution(), Duration::from_millis(1));
    let took = stopped_after(&slow);
    assert!(took >= Duration::from_millis(300), "stopped early once the tick shrank, after {took:?}");
}

#[test]
fn unbounded_memory_growth_is_stopped_at_the_cap() {
    let engine = engine();
    let chain = hostile(&engine, "grow", "[limits]\nmemory-mib = 16").unwrap();
    assert_contained(&chain, |kind, error| {
        assert_eq!(kind, "memory");
        assert!(error.starts_with("memory cap of 16777216 bytes exceeded"), "{error}");
    });
    assert_eq!(chain.plugins()[0].stats().memory, 1);
}

#[test]
fn panic_is_a_trap() {
    let engine = engine();
    let chain = hostile(&engine, "panic", "").unwrap();
    assert_contained(&chain, |kind, error| {
        assert_eq!(kind, "trap");
        assert!(error.starts_with("trapped:"), "{error}");
    });
    assert_eq!(chain.plugins()[0].stats().traps, 1);
}

#[test]
fn oversized_verdict_is_refused() {
    let engine = engine();
    let chain = hostile(&engine, "oversized", "").unwrap();
    assert_contained(&chain, |kind, error| {
        assert_eq!(kind, "malformed-verdict");
        assert!(error.contains("5000 headers and edits"), "{error}");
    });
}

#[test]
fn header_injection_is_refused() {
    let engine = engine();
    let chain = hostile(&engine, "inject", "").unwrap();
    assert_contained(&chain, |kind, error| {
        assert_eq!(kind, "malformed-verdict");
        assert!(error.contains("line break"), "{error}");
    });
}

#[test]
fn ungranted_import_is_refused_at_load() {
    let engine = engine();
    let err = hostile(&engine, "audit", "capabilities = [\"log\"]").err().expect("must be refused");
    let text = err.to_string();
    assert!(
        text.contains("imports `sipwarden:policy/audit@0.1.1`, but its manifest does not grant the `audit` capability"),
        "{text}"
    );
    // Granted, the same component loads; the host has no audit trail
    // configured, so the capability answers with an error the plugin sees.
    let chain = hostile(&engine, "audit", "capabilities = [\"log\", \"audit\"]").unwrap();
    let outcome = chain.decide(common::request("X-Hostile: yes\r\n"), common::origin());
    match outcome.decision {
        Decision::Respond { reply, failure: false, .. } => {
            assert_eq!(reply.status, 500);
            assert_eq!(reply.reason, "no audit trail is configured on this host");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn files_are_out_of_reach() {
    let engine = engine();
    let chain = hostile(&engine, "file", "").unwrap();
    let outcome = chain.decide(common::request("X-Hostile: yes\r\n"), common::origin());
    match outcome.decision {
        Decision::Respond { reply, .. } => {
            assert_eq!(reply.status, 403, "the plugin must not have read the file: {}", reply.reason);
            assert!(reply.reason.starts_with("file refused"), "{}", reply.reason);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sockets_are_out_of_reach() {
    let engine = engine();
    let chain = hostile(&engine, "socket", "").unwrap();
    let outcome = chain.decide(common::request("X-Hostile: yes\r\n"), common::origin());
    match outcome.decision {
        Decision::Respond { reply, .. } => {
            assert_eq!(reply.status, 403, "the plugin must not have connected: {}", reply.reason);
            assert!(reply.reason.starts_with("socket refused"), "{}", reply.reason);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn refused_configuration_fails_the_load() {
    let engine = engine();
    let err = hostile(&engine, "refuse-config", "").err().expect("must be refused");
    assert!(err.to_string().contains("refused its configuration: this configuration is refused on purpose"), "{err}");
    let err = hostile(&engine, "no-such-mode", "").err().expect("must be refused");
    assert!(err.to_string().contains("invalid configuration"), "{err}");
}

#[test]
fn a_plugin_that_cannot_decide_gets_its_failure_policy() {
    let engine = engine();
    let chain = hostile(&engine, "decline", "").unwrap();
    assert_contained(&chain, |kind, error| {
        assert_eq!(kind, "declined");
        assert_eq!(error, "could not decide: directory unavailable");
    });
    let open = hostile(&engine, "decline", "[failure]\nmode = \"open\"").unwrap();
    let outcome = open.decide(common::request("X-Hostile: yes\r\n"), common::origin());
    assert_eq!(outcome.decision, Decision::Forward);
    assert_eq!(open.plugins()[0].stats().declined, 1);
}

#[test]
fn fail_open_skips_the_plugin() {
    let engine = engine();
    let chain = hostile(&engine, "panic", "[failure]\nmode = \"open\"").unwrap();
    let outcome = chain.decide(common::request("X-Hostile: yes\r\n"), common::origin());
    assert_eq!(outcome.decision, Decision::Forward);
    assert!(matches!(outcome.steps[0].result, StepResult::Failed { kind: "trap", .. }));
}

#[test]
fn fail_closed_status_is_configurable() {
    let engine = engine();
    let chain = hostile(&engine, "panic", "[failure]\nstatus = 503\nreason = \"Try Later\"").unwrap();
    let outcome = chain.decide(common::request("X-Hostile: yes\r\n"), common::origin());
    match outcome.decision {
        Decision::Respond { reply, failure: true, by } => {
            assert_eq!((reply.status, reply.reason.as_str(), by.as_ref()), (503, "Try Later", "hostile"));
        }
        other => panic!("{other:?}"),
    }
}

/// Traps on one thread never disturb requests on another: each call has an
/// instance to itself, and a trapped instance is thrown away.
#[test]
fn traps_do_not_leak_into_concurrent_requests() {
    let engine = engine();
    let chain = hostile(&engine, "panic", "").unwrap();
    std::thread::scope(|s| {
        let hostile = s.spawn(|| {
            for _ in 0..200 {
                let outcome = chain.decide(common::request("X-Hostile: yes\r\n"), common::origin());
                assert!(matches!(outcome.decision, Decision::Respond { failure: true, .. }));
            }
        });
        for _ in 0..2000 {
            let outcome = chain.decide(common::request(""), common::origin());
            assert_eq!(outcome.decision, Decision::Forward);
        }
        hostile.join().unwrap();
    });
    let stats = chain.plugins()[0].stats();
    assert_eq!((stats.traps, stats.continues), (200, 2000));
}

// ----- capabilities bounded as tightly as verdicts -----------------------------

/// The reason phrase of the hostile plugin's answer to a triggered request.
fn answer(chain: &Chain) -> String {
    match chain.decide(common::request("X-Hostile: yes\r\n"), common::origin()).decision {
        Decision::Respond { reply, failure: false, .. } => reply.reason,
        other => panic!("expected the plugin's own answer, got {other:?}"),
    }
}

/// The adversary that once wrote 56 MB in one decision: 1 MiB records, a
/// hundred times, ignoring the refusals. Not one is written (the default
/// record bound is 8 KiB), every refusal is counted, and the next request
/// is served.
#[test]
fn an_audit_flood_writes_nothing_past_the_record_bound() {
    let recorder = Arc::new(sipwarden::capability::AuditRecorder::default());
    let engine = common::engine_recording_audit(&recorder);
    // A long deadline: the bound, not the deadline, must be what stops it
    // (and copying 100 MB into the host takes a while in a debug build).
    let chain = hostile(&engine, "audit-flood", "[limits]\ndeadline-ms = 10000").unwrap();
    assert_eq!(answer(&chain), "0 accepted");
    assert!(recorder.records().is_empty());
    assert_eq!(chain.plugins()[0].stats().refused.audit, 100);
    assert_eq!(chain.decide(common::request(""), common::origin()).decision, Decision::Forward);
}

/// Small records: `audit-records-per-call` of them per call, and across
/// calls no more than `audit-bytes-per-second` allows.
#[test]
fn audit_records_are_bounded_per_call_and_per_second() {
    let recorder = Arc::new(sipwarden::capability::AuditRecorder::default());
    let engine = common::engine_recording_audit(&recorder);
    let chain = hostile(&engine, "audit-many", "[limits]\naudit-records-per-call = 3").unwrap();
    assert_eq!(answer(&chain), "3 accepted");
    assert_eq!(recorder.records().len(), 3);
    assert_eq!(chain.plugins()[0].stats().refused.audit, 97);

    // A record of this plugin is `{"flood":"x"}`, 13 bytes of JSON: 130
    // bytes a second let ten through, then only what comes back while the
    // calls run (a record's worth every 100 ms).
    let limits = "[limits]\naudit-records-per-call = 100\naudit-bytes-per-second = 130";
    let recorder = Arc::new(sipwarden::capability::AuditRecorder::default());
    let chain = hostile(&common::engine_recording_audit(&recorder), "audit-many", limits).unwrap();
    let started = Instant::now();
    assert_eq!(answer(&chain), "10 accepted");
    let second = answer(&chain);
    // What came back while the calls ran: one record per 100 ms.
    let refilled = (started.elapsed().as_millis() / 100) as usize;
    let accepted: usize = second.trim_end_matches(" accepted").parse().unwrap();
    assert!(accepted <= refilled, "{second} after {:?}", started.elapsed());
    assert_eq!(recorder.records().len(), 10 + accepted);
}

/// Ten thousand 4 KiB log lines in one call, at a level the operator's
/// filter shows: at most a second's worth (`log-lines-per-second`, 100 by
/// default) is written, cut to `log-line-bytes`; the rest is dropped and
/// counted. Lines the filter hides cost nothing.
#[test]
fn a_log_flood_is_cut_and_counted() {
    let engine = engine();
    // Copying 40 MB into the host takes a while in a debug build.
    let flood = || hostile(&engine, "log-flood", "[limits]\ndeadline-ms = 10000").unwrap();
    let triggered = || common::request("X-Hostile: yes\r\n");

    let hidden = flood();
    assert_eq!(hidden.decide(triggered(), common::origin()).decision, Decision::Forward);
    assert_eq!(hidden.plugins()[0].stats().refused.log, 0, "no subscriber shows warnings here");

    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::sink)
        .finish();
    let (written, elapsed) = tracing::subscriber::with_default(subscriber, || {
        // tracing caches each callsite's interest globally; a callsite
        // another test's thread registers meanwhile can be cached as
        // "never". Run a flood once, rebuild the cache, then measure another.
        drop(flood().decide(triggered(), common::origin()));
        tracing::callsite::rebuild_interest_cache();
        let chain = flood();
        let started = Instant::now();
        let outcome = chain.decide(triggered(), common::origin());
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(outcome.decision, Decision::Forward);
        (10_000 - chain.plugins()[0].stats().refused.log, elapsed)
    });
    // One second's worth at once, then 100 a second while the call ran.
    assert!(written as f64 <= 100.0 + 100.0 * elapsed + 1.0, "{written} lines written in {elapsed:.3} s");
    assert!(written >= 100, "{written} lines written");
}
