//! `sipwarden check`, `eval`, `sign`, `verify`, `keygen` and `serve`'s start-up errors, run as the plugin
//! author and the operator run them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sipwarden(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sipwarden"));
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("sipwarden runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A copy of the example plugin with its manifest, in a fresh directory.
fn example_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(common::wasm("block-scanners"), dir.path().join("block-scanners.wasm")).unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/plugins/block-scanners/block-scanners.toml");
    std::fs::copy(manifest, dir.path().join("block-scanners.toml")).unwrap();
    dir
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn assert_no_panic(out: &Output) {
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "sipwarden panicked: {err}");
}

#[test]
fn check_accepts_the_example_plugin() {
    let dir = example_dir();
    let wasm = dir.path().join("block-scanners.wasm");
    let out = sipwarden(&["check", wasm.to_str().unwrap()], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("a sipwarden policy component, built against contract 0.1.1"), "{stdout}");
    assert!(stdout.contains("exports: sipwarden:policy/policy@0.1.1"), "{stdout}");
    assert!(stdout.contains("sipwarden:policy/types@0.1.1"), "{stdout}");
    assert!(stdout.contains("capabilities it needs: none"), "{stdout}");
    assert!(stdout.contains("init accepted its configuration"), "{stdout}");
}

/// A plugin built against contract 0.1.0 (a binary kept from before 0.1.1
/// added functions) loads and decides in this host: within the `0.1` line
/// an upgrade of the host never breaks the plugins an operator has.
#[test]
fn a_plugin_built_against_contract_0_1_0_still_loads_and_decides() {
    let dir = example_dir();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/block-scanners-contract-0.1.0.wasm");
    std::fs::copy(fixture, dir.path().join("block-scanners.wasm")).unwrap();

    let wasm = dir.path().join("block-scanners.wasm");
    let out = sipwarden(&["check", wasm.to_str().unwrap()], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("built against contract 0.1.0 (this host speaks sipwarden:policy/plugin@0.1.1)"));
    assert!(stdout.contains("sipwarden:policy/types@0.1.0"), "{stdout}");

    let scanner = String::from_utf8(common::message("")).unwrap().replace("Phone/1.0", "friendly-scanner");
    let out = sipwarden(&["eval", "--plugins", dir.path().to_str().unwrap(), "-"], Some(scanner.as_bytes()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["decision"]["reply"]["status"], 403);
    let out = sipwarden(&["eval", "--plugins", dir.path().to_str().unwrap(), "-"], Some(&common::message("")));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["decision"]["decision"], "forward");
}

#[test]
fn check_names_what_a_hostile_plugin_needs() {
    let out = sipwarden(&["check", common::wasm("hostile").to_str().unwrap()], None);
    let stdout = text(&out.stdout);
    // No manifest beside it: loaded with every capability and `{}` as its
    // configuration, which this plugin refuses (it needs a `mode`).
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    assert!(stdout.contains("capabilities it needs: log, audit"), "{stdout}");
    assert!(text(&out.stderr).contains("refused its configuration: invalid configuration: missing field `mode`"));
}

#[test]
fn check_refuses_what_is_not_a_policy() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        ("garbage.wasm", b"GET / HTTP/1.1\r\n\r\n", "not WebAssembly"),
        ("core.wasm", b"\0asm\x01\0\0\0", "a core WebAssembly module, not a component"),
        ("empty-component.wasm", b"\0asm\x0d\0\x01\0", "does not export `sipwarden:policy/policy@0.1.1`"),
        ("truncated.wasm", b"\0asm\x0d\0\x01\0\x07\x05", "invalid component"),
    ];
    for (name, bytes, expect) in cases {
        let path = write(dir.path(), name, bytes);
        let out = sipwarden(&["check", path.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(4), "{name}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(expect), "{name}: {}", text(&out.stderr));
        assert_no_panic(&out);
    }
    let out = sipwarden(&["check", dir.path().join("absent.wasm").to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("absent.wasm: cannot read"));
}

#[test]
fn check_reports_a_bad_manifest_with_its_line() {
    let dir = example_dir();
    write(dir.path(), "block-scanners.toml", b"order = 1\n[limits]\nmemory-mib = 100000\n");
    let out = sipwarden(&["check", dir.path().join("block-scanners.wasm").to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("block-scanners.toml") && err.contains("line 3") && err.contains("memory-mib"), "{err}");
}

#[test]
fn eval_prints_the_verdict_as_json() {
    let dir = example_dir();
    let plugins = dir.path().to_str().unwrap();

    let scanner = String::from_utf8(common::message("")).unwrap().replace("Phone/1.0", "friendly-scanner");
    let out = sipwarden(&["eval", "--plugins", plugins, "-"], Some(scanner.as_bytes()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["decision"]["decision"], "respond");
    assert_eq!(report["decision"]["reply"]["status"], 403);
    assert_eq!(report["decision"]["by"], "block-scanners");
    assert_eq!(report["steps"][0]["result"], "respond");

    let msg = write(dir.path(), "ok.sip", &common::message(""));
    let out = sipwarden(
        &["eval", "--plugin", dir.path().join("block-scanners.wasm").to_str().unwrap(), msg.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["decision"]["decision"], "forward");
    assert_eq!(report["steps"][0]["edits"][0]["edit"], "add-header");
    assert_eq!(report["steps"][0]["edits"][0]["name"], "X-Screened-By");
    let forwarded = report["request"].as_str().unwrap();
    assert!(forwarded.contains("\r\nX-Screened-By: block-scanners\r\n"), "{forwarded}");
}

#[test]
fn eval_refuses_bad_input_clearly() {
    let dir = example_dir();
    let plugins = dir.path().to_str().unwrap();
    let full = common::message("");
    let truncated = &full[..full.len() - 4];
    let mut not_utf8 = full.clone();
    let at = not_utf8.windows(5).position(|w| w == b"Phone").unwrap();
    not_utf8[at] = 0xff;
    let cases: [(&str, &[u8], &str); 5] = [
        ("empty.sip", b"", "empty message"),
        ("http.sip", b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "not a valid SIP request"),
        ("truncated.sip", truncated, "not a valid SIP request"),
        ("binary.sip", &not_utf8, "not a valid SIP request"),
        ("response.sip", b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n", "a SIP response"),
    ];
    for (name, bytes, expect) in cases {
        let path = write(dir.path(), name, bytes);
        let out = sipwarden(&["eval", "--plugins", plugins, path.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(3), "{name}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains(name) && err.contains(expect), "{name}: {err}");
        assert_no_panic(&out);
    }
}

#[test]
fn eval_refuses_an_unloadable_chain() {
    let dir = example_dir();
    write(dir.path(), "broken.wasm", b"\0asm\x01\0\0\0");
    let msg = write(dir.path(), "ok.sip", &common::message(""));
    let out = sipwarden(&["eval", "--plugins", dir.path().to_str().unwrap(), msg.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(4));
    let err = text(&out.stderr);
    assert!(err.contains("broken.wasm") && err.contains("core WebAssembly module"), "{err}");
}

#[test]
fn help_and_usage_errors() {
    for args in [&["--help"][..], &["check", "--help"], &["eval", "--help"]] {
        let out = sipwarden(args, None);
        assert!(out.status.success());
        assert!(text(&out.stdout).contains("Usage"));
    }
    let out = sipwarden(&["eval"], None);
    assert_eq!(out.status.code(), Some(2));
}

/// An error names its cause once, however many layers carried it: a store
/// that cannot be read, and a log filter that does not parse.
#[test]
fn errors_say_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent.toml");
    let config = write(
        dir.path(),
        "sipwarden.toml",
        format!("[plugins]\ndir = {:?}\n[directory]\nfile = {:?}\n", dir.path(), absent).as_bytes(),
    );
    let out = sipwarden(&["serve", "--config", config.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("absent.toml"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");

    let out = sipwarden(&["--log", "sipwarden=[", "check", dir.path().to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("sipwarden: --log (or SIPWARDEN_LOG): "), "{}", text(&out.stderr));
}

/// Without `--config`, `eval` run from the repository root uses the
/// embedded default's demo stores, as `sipwarden serve` does: lookup-guard
/// finds bob's number in `plugins/bundle/stores/directory.toml`. Run from
/// elsewhere it has no directory, and the same message is refused.
#[test]
fn eval_without_config_takes_the_embedded_defaults_stores_where_they_are() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let to_a_number =
        String::from_utf8(common::message("")).unwrap().replacen("sip:bob@example.com", "tel:+15557654321", 1);
    let msg = write(dir.path(), "tel.sip", to_a_number.as_bytes());
    // The bundled policy with its manifest beside it (`plugins/build`).
    let plugin = root.join("plugins/bundle/lookup-guard.wasm");
    let run = |cwd: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_sipwarden"))
            .args(["eval", "--plugin", plugin.to_str().unwrap(), msg.to_str().unwrap()])
            .current_dir(cwd)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let in_repo = run(&root);
    assert_eq!(in_repo["decision"]["decision"], "forward", "{in_repo}");
    assert!(in_repo["request"].as_str().unwrap().starts_with("MESSAGE sip:bob@example.com SIP/2.0"), "{in_repo}");
    let elsewhere = run(dir.path());
    assert_eq!(elsewhere["decision"]["decision"], "respond", "{elsewhere}");
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).to_string_lossy().into_owned()
}

/// The workflow of docs/OPERATIONS.md, step by step: make a key pair, sign,
/// verify, check with the trusted key; then what a verifier says of a
/// changed byte, an untrusted key and no signature.
#[test]
fn keygen_sign_verify_and_check_as_the_operator_runs_them() {
    let dir = example_dir();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let wasm = path("block-scanners.wasm");

    let out = sipwarden(&["keygen", "--secret", &path("ops.sec"), "--public", &path("ops.pub")], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fingerprint = text(&out.stdout).split(':').take(2).collect::<Vec<_>>().join(":");
    assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
    let again = sipwarden(&["keygen", "--secret", &path("ops.sec"), "--public", &path("other.pub")], None);
    assert_eq!(again.status.code(), Some(3), "never overwrites a key: {}", text(&again.stderr));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path("ops.sec")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the secret key is its owner's only: {mode:o}");
    }

    let unsigned = std::fs::read(&wasm).unwrap();
    let out = sipwarden(&["check", &wasm], None);
    assert!(text(&out.stdout).contains("signature: none"), "{}", text(&out.stdout));
    let out = sipwarden(&["verify", &wasm, "--key", &path("ops.pub")], None);
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out.stderr).contains("block-scanners.wasm: not signed"), "{}", text(&out.stderr));

    let out = sipwarden(&["sign", &wasm, "--key", &path("ops.sec")], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("signed by {fingerprint}")), "{}", text(&out.stdout));
    let out = sipwarden(&["verify", &wasm, "--key", &path("ops.pub")], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("embedded signature by {fingerprint}")), "{}", text(&out.stdout));
    let out = sipwarden(&["check", &wasm], None);
    assert!(text(&out.stdout).contains("; not verified (give --trusted-key)"), "{}", text(&out.stdout));
    let out = sipwarden(&["check", &wasm, "--trusted-key", &path("ops.pub")], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("signature: signed by {fingerprint}")), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("init accepted its configuration"), "a signed component loads");

    // Untrusted: another key pair's public key.
    sipwarden(&["keygen", "--secret", &path("b.sec"), "--public", &path("b.pub")], None);
    let out = sipwarden(&["verify", &wasm, "--key", &path("b.pub")], None);
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out.stderr).contains("signed by a key that is not trusted"), "{}", text(&out.stderr));

    // One byte changed after signing.
    let mut bytes = std::fs::read(&wasm).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&wasm, &bytes).unwrap();
    for args in
        [vec!["verify", &wasm, "--key", &path("ops.pub")], vec!["check", &wasm, "--trusted-key", &path("ops.pub")]]
    {
        let out = sipwarden(&args, None);
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        assert!(text(&out.stderr).contains("it was changed after it was signed"), "{}", text(&out.stderr));
        assert_no_panic(&out);
    }

    // Detached: the component is left as it was, its signature beside it.
    std::fs::write(&wasm, &unsigned).unwrap();
    let out = sipwarden(&["sign", &wasm, "--key", &path("ops.sec"), "--detached"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&wasm).unwrap(), unsigned);
    assert!(dir.path().join("block-scanners.wasm.sig").exists());
    let out = sipwarden(&["verify", &wasm, "--key", &path("b.pub"), "--key", &path("ops.pub")], None);
    assert!(text(&out.stdout).contains(&format!("detached signature by {fingerprint}")), "{}", text(&out.stdout));
}

#[test]
fn openssh_keys_sign_and_verify_with_ssh_keygens_fingerprint() {
    let dir = example_dir();
    let wasm = dir.path().join("block-scanners.wasm").to_string_lossy().into_owned();
    let out = sipwarden(&["sign", &wasm, "--key", &fixture("signer_ed25519")], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = sipwarden(&["verify", &wasm, "--key", &fixture("signer_ed25519.pub")], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // What `ssh-keygen -lf signer_ed25519.pub` printed (fixtures/README.md).
    assert!(text(&out.stdout).contains("SHA256:g1pK1SprKnbiSkUlo9Tkk3C5WbwtvBSyVUWxWEegYHI"), "{}", text(&out.stdout));

    let out = sipwarden(&["verify", &wasm, "--key", &fixture("signer_ed25519")], None);
    assert_eq!(out.status.code(), Some(3), "a secret key is refused as a trusted key");
    assert!(text(&out.stderr).contains("a secret key; give the public key"), "{}", text(&out.stderr));
}
