//! Running a test in a network namespace of its own, with nothing but an
//! `lo` interface.
//!
//! For tests that feed the proxy messages written for other networks (the
//! RFC 4475 torture messages name hosts such as 192.0.2.53 and
//! services.example.com): whatever the proxy tries to send there cannot
//! leave the machine, and the fixed ports those messages name (5060, 5080…)
//! are free there whatever runs on the host.
//!
//! The test binary runs itself again, filtered to the one test, under
//! `unshare --net` (with `--user --map-root-user` when not root); the copy
//! inside sees `SIPWARDEN_E2E_NETNS` and runs the body.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::process::Guard;
use super::{require_tool, tail};

const INSIDE: &str = "SIPWARDEN_E2E_NETNS";

/// Run `body` in a private network namespace. `test` is the name of the
/// calling test function (the filter for the copy of the binary).
pub fn in_private_network(test: &str, body: impl FnOnce()) {
    if std::env::var_os(INSIDE).is_some() {
        return body();
    }
    let unshare = require_tool("unshare");
    require_tool("ip");
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let output = dir.path().join("output.log");
    let output_file = std::fs::File::create(&output).expect("create the output log");
    let mut command = Command::new(unshare);
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        command.args(["--user", "--map-root-user"]);
    }
    command
        .args(["--net", "--", "sh", "-c", r#"ip link set lo up && exec "$@""#, "sh"])
        .arg(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(INSIDE, "1")
        .stdin(Stdio::null())
        .stdout(output_file.try_clone().expect("clone a file handle"))
        .stderr(output_file);
    let mut inner = Guard::spawn(&format!("{test} in a private network"), command);
    let status = inner.wait_for_exit(Duration::from_secs(120));
    let text = std::fs::read_to_string(&output).unwrap_or_default();
    let ran = text.lines().any(|line| line.starts_with("test result: ok. 1 passed"));
    assert!(
        status.is_some_and(|s| s.success()) && ran,
        "{test} in a private network namespace: {}\n{}",
        status.map_or("killed after 120 s".to_string(), |s| s.to_string()),
        tail(&text, 150)
    );
    print!("{text}");
}
