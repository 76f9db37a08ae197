//! What a plugin may touch outside its own memory: nothing but the contract.
//!
//! A Rust component built for `wasm32-wasip2` imports WASI interfaces through
//! its standard library whether it uses them or not, so the host links WASI
//! for it to load at all, with every door shut: no preopened directory, no
//! environment, no arguments, no network (the default socket check refuses
//! every address and name look-ups are off), empty stdin, discarded
//! stdout/stderr, and clocks that do not move.

use std::time::Duration;

use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

/// A WASI context that grants nothing.
pub(crate) fn deny_all_wasi() -> WasiCtx {
    WasiCtxBuilder::new()
        .allow_ip_name_lookup(false)
        .allow_tcp(false)
        .allow_udp(false)
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock)
        .build()
}

/// Time is not a capability of the contract: a policy decides on the message
/// and what the host tells it, and the host stamps audit records itself.
/// Frozen clocks also take away the timer a plugin would need to probe the
/// host through timing.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}
