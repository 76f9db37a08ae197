//! Host bindings generated from `wit/policy.wit`: the one contract both sides
//! are generated from.

// The generated glue implements wasmtime's unsafe lifting traits; nothing
// else in the crate may use `unsafe`.
#![allow(unsafe_code)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Resource look-ups can fail (a guest passing a stale handle): report it
    // as a trap of that call rather than panicking the host.
    imports: { default: trappable },
    with: {
        "sipwarden:policy/types.request": crate::policy::view::RequestView,
        "sipwarden:policy/types.response": crate::policy::view::ResponseView,
    },
});

pub use self::sipwarden::policy::{audit, credentials, directory, log, types};
