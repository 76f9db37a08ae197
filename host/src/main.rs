//! The `sipwarden` command line.
//!
//! Exit codes (the same for every command):
//! - 0: done (for `check`, the component can load);
//! - 2: the command line is wrong (clap's usage errors);
//! - 3: the input is unusable (a message that is not SIP, a configuration
//!   file with an error);
//! - 4: a plugin cannot load (not a component, wrong world, ungranted import,
//!   refused configuration…);
//! - 5: `serve` cannot listen (address in use, bad certificate…).

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sipwarden::capability::Capabilities;
use sipwarden::config::Config;
use sipwarden::policy::{self, Chain, Engine, EngineOptions, Manifest, TrustedKeys};
use sipwarden::sip;
use sipwarden::transport::{Origin, Transport};

#[derive(Parser)]
#[command(name = "sipwarden", version, about = "A WebAssembly policy-plugin host for SIP proxies")]
struct Cli {
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or
    /// `sipwarden=debug`. Default for `serve`:
    /// `warn,sipwarden=info,sipwarden::plugin=warn` (where it listens and
    /// what it loaded, not the lines plugins write per request); `warn` for
    /// the other commands.
    #[arg(long, global = true, env = "SIPWARDEN_LOG")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that a component is a sipwarden policy: print its world, imports
    /// and exports; exit 0 if it can load, 4 with the reason if not.
    Check(CheckArgs),
    /// Run a chain of plugins on one SIP message, as the proxy would, and
    /// print the verdict and edits as JSON.
    Eval(EvalArgs),
    /// Sign a component with an Ed25519 secret key (wasmsign2's format, PEM,
    /// DER or OpenSSH): embedded in the file, or detached in `NAME.wasm.sig`.
    /// wasmsign2 verifies what this signs, and the other way round.
    Sign(SignArgs),
    /// Verify a component's signature (embedded, or `NAME.wasm.sig` beside
    /// it) against public keys, as `[plugins] trusted-keys` would: exit 0
    /// naming the signer, 4 with the reason if refused.
    Verify(VerifyArgs),
    /// Make an Ed25519 key pair for signing plugins, in wasmsign2's format.
    Keygen(KeygenArgs),
    /// Run the SIP proxy. Without --config: UDP and TCP on 127.0.0.1:5060,
    /// TLS on 127.0.0.1:5061 (a self-signed development certificate),
    /// WebSocket on 127.0.0.1:5066 and secure WebSocket on 127.0.0.1:7443, the
    /// embedded registrar, and the bundled policies from plugins/bundle.
    /// SIGHUP reloads the plugins and the capability stores
    /// (docs/OPERATIONS.md).
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// The configuration file (docs/CONFIGURATION.md); default: the embedded one.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct SignArgs {
    /// The component (`NAME.wasm`).
    file: PathBuf,
    /// The secret key.
    #[arg(long)]
    key: PathBuf,
    /// Write the signature to `NAME.wasm.sig` and leave the component as it
    /// is, rather than embedding it.
    #[arg(long)]
    detached: bool,
    /// Where to write the signed component (embedded) or the signature
    /// (detached); default: the component itself, or `NAME.wasm.sig`.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct VerifyArgs {
    /// The component (`NAME.wasm`).
    file: PathBuf,
    /// A trusted public key file; repeat for several.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
}

#[derive(Args)]
struct KeygenArgs {
    /// Where to write the secret key (created, never overwritten; mode 0600).
    #[arg(long)]
    secret: PathBuf,
    /// Where to write the public key, for `[plugins] trusted-keys`.
    #[arg(long)]
    public: PathBuf,
}

#[derive(Args)]
struct CheckArgs {
    /// The component (`NAME.wasm`).
    file: PathBuf,
    /// The manifest to check it with (default: `NAME.toml` beside it, if
    /// any). With a manifest, the grants are checked and `init` is run with
    /// its configuration.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// A trusted public key: the component must be signed by it (or by
    /// another one given) to pass, as with `[plugins] trusted-keys`.
    #[arg(long = "trusted-key")]
    trusted_keys: Vec<PathBuf>,
}

#[derive(Args)]
struct EvalArgs {
    /// A directory of plugins (`NAME.wasm` with optional `NAME.toml`).
    #[arg(long, conflicts_with = "plugin")]
    plugins: Option<PathBuf>,
    /// A plugin file; repeat for a chain (a `NAME.toml` beside it is its manifest).
    #[arg(long)]
    plugin: Vec<PathBuf>,
    /// The sipwarden configuration (capabilities: audit, directory,
    /// credentials). Without it: the embedded default's demo stores when
    /// they are found (`plugins/bundle/stores`, from the repository root).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The transport the message is taken to have arrived over.
    #[arg(long, default_value = "udp")]
    transport: Transport,
    /// The address and port it is taken to have come from.
    #[arg(long, default_value = "127.0.0.1:5060")]
    source: SocketAddr,
    /// The status the next hop is taken to answer with when the chain lets
    /// the request through; plugins that observe responses (the manifest's
    /// `responses = true`) see it, or the chain's own answer.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(200..=699))]
    response: u16,
    /// A file of raw SIP (CRLF line endings, as on the wire); `-` for stdin.
    message: PathBuf,
}

/// glibc's allocator spent a quarter of a policy call in malloc/free under
/// load (measured with perf on the chain benchmark); mimalloc's per-thread
/// free lists suit a proxy's many short-lived allocations. Built without
/// transparent huge pages (`no_thp`): mimalloc otherwise advises them for
/// its arena, and the kernel then backs every touched 2 MiB with a whole
/// page, which doubled the resident memory of an idle sipwarden with the
/// bundled policies (43 MiB against 21, of which 26 MiB huge pages).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A failure with the exit code it maps to.
struct Exit {
    code: u8,
    error: anyhow::Error,
}

/// What `eval` runs with when no `--config` is given: the stores of `serve`'s
/// embedded default (the demo directory and credentials under
/// `plugins/bundle/stores`, paths relative to where it is started) where
/// they exist, so that from the repository root the bundled policies decide
/// as `sipwarden serve` would; no stores elsewhere. Never its audit file:
/// `eval` shows the records instead of writing them.
fn embedded_stores() -> Config {
    let embedded = Config::embedded_default();
    let exists = |path: &std::path::Path| path.is_file();
    Config {
        directory: embedded
            .directory
            .filter(|d| !matches!(d, sipwarden::config::DirectoryConfig::File(path) if !exists(path))),
        credentials: embedded.credentials.filter(|c| exists(&c.file)),
        ..Config::default()
    }
}

/// `serve`'s log filter when none is given: its own events at info (what it
/// loaded, every address it listens on, reloads), plugins' lines only from
/// warn, since a peer can make a policy write one per request.
const SERVE_LOG: &str = "warn,sipwarden=info,sipwarden::plugin=warn";

fn exit(code: u8) -> impl FnOnce(anyhow::Error) -> Exit {
    move |error| Exit { code, error }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = if matches!(cli.command, Command::Serve(_)) { SERVE_LOG } else { "warn" };
    let filter = match tracing_subscriber::EnvFilter::try_new(cli.log.as_deref().unwrap_or(default)) {
        Ok(filter) => filter,
        Err(error) => {
            eprintln!("sipwarden: --log (or SIPWARDEN_LOG): {error}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let result = match cli.command {
        Command::Check(args) => check(args),
        Command::Eval(args) => eval(args),
        Command::Serve(args) => serve(args),
        Command::Sign(args) => sign(args),
        Command::Verify(args) => verify(args),
        Command::Keygen(args) => keygen(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Exit { code, error }) => {
            eprintln!("sipwarden: {}", said_once(&error));
            ExitCode::from(code)
        }
    }
}

/// An error and its causes on one line, each said once. sipwarden's errors
/// name their cause in their own message (so that a log line of one alone
/// is whole) and also return it as their `source`; a cause whose text the
/// line already holds is not repeated.
fn said_once(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn check(args: CheckArgs) -> Result<(), Exit> {
    let capabilities = Capabilities::inert().map_err(|e| exit(1)(e.into()))?;
    let trusted_keys = TrustedKeys::load(&args.trusted_keys).map_err(|e| exit(3)(e.into()))?;
    let options = EngineOptions { trusted_keys, ..EngineOptions::default() };
    let engine = Engine::new(&options, capabilities).map_err(|e| exit(1)(e.into()))?;
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("{}: cannot read", args.file.display())).map_err(exit(3))?;
    let detached = policy::read_detached_signature(&args.file).map_err(|e| exit(3)(e.into()))?;
    let name = args.file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    let manifest_path = args.manifest.clone().or_else(|| {
        let beside = args.file.with_extension("toml");
        beside.exists().then_some(beside)
    });
    let manifest = match &manifest_path {
        Some(path) => Some(Manifest::load(path).map_err(|e| exit(3)(e.into()))?),
        None => None,
    };

    let in_file = |e: policy::LoadError| exit(4)(anyhow::Error::new(e).context(args.file.display().to_string()));
    // First, as the proxy does: with trusted keys, a component they did not
    // sign is refused before anything compiles it.
    let signature = describe_signature(&engine, &bytes, detached.as_deref()).map_err(in_file)?;
    let component =
        engine.compile(&name, &bytes, manifest.as_ref().unwrap_or(&Manifest::default())).map_err(in_file)?;
    let (imports, exports) = engine.describe(&component);
    let mut needs = Vec::new();
    for import in &imports {
        if let Some(capability) = policy::capability_of(import).map_err(in_file)? {
            needs.push(capability.to_string());
        }
    }
    // `compile` found the policy export; its version is the contract the
    // plugin was built against, which may be older than the host's.
    let contract = exports.iter().find_map(|e| e.strip_prefix("sipwarden:policy/policy@")).unwrap_or("?");
    println!(
        "{}: a sipwarden policy component, built against contract {contract} (this host speaks {})",
        args.file.display(),
        policy::WORLD
    );
    println!("  sha256:  {}", hex_sha256(&bytes));
    println!("  exports: {}", exports.join(", "));
    println!("  imports: {}", imports.join(", "));
    println!("  capabilities it needs: {}", if needs.is_empty() { "none".to_string() } else { needs.join(", ") });
    println!("  signature: {signature}");
    match (manifest, manifest_path) {
        (Some(manifest), Some(path)) => {
            engine.load(&name, &bytes, detached.as_deref(), manifest).map_err(in_file)?;
            println!("  manifest {}: grants checked, init accepted its configuration", path.display());
        }
        _ => {
            let manifest = Manifest { capabilities: policy::Capability::ALL.to_vec(), ..Manifest::default() };
            engine.load(&name, &bytes, detached.as_deref(), manifest).map_err(in_file)?;
            println!("  no manifest: loaded with every capability and an empty configuration");
        }
    }
    println!("ok");
    Ok(())
}

/// The signature line of `check`: who signed, when keys are trusted;
/// otherwise what the signature claims, unverified.
fn describe_signature(engine: &Engine, bytes: &[u8], detached: Option<&[u8]>) -> Result<String, policy::LoadError> {
    let trusted = engine.trusted_keys();
    if trusted.required() {
        let signer = trusted.admit(bytes, detached)?;
        return Ok(match signer {
            Some(signer) => format!(
                "{}signed by {} ({})",
                if signer.detached { "detached, " } else { "" },
                signer.fingerprint,
                signer.key_file.display()
            ),
            None => "not checked".to_string(),
        });
    }
    let place = if detached.is_some() { "detached" } else { "embedded" };
    Ok(match policy::claimed(bytes, detached) {
        Ok(Some(claimed)) => {
            let ids: Vec<String> = claimed.key_ids.iter().map(hex::encode).collect();
            let ids = if ids.is_empty() { "no key id".to_string() } else { format!("key id {}", ids.join(", ")) };
            let intact = if claimed.covers_content { "" } else { ", and the file changed since it was signed" };
            format!("{place}, {ids}{intact}; not verified (give --trusted-key)")
        }
        Ok(None) => "none".to_string(),
        Err(e) => format!("unreadable: {e}"),
    })
}

fn sign(args: SignArgs) -> Result<(), Exit> {
    let secret = policy::read_secret_key(&args.key).map_err(|e| exit(3)(e.into()))?;
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("{}: cannot read", args.file.display())).map_err(exit(3))?;
    let signed = policy::sign(&bytes, &secret, args.detached)
        .with_context(|| format!("{}: cannot sign", args.file.display()))
        .map_err(exit(4))?;
    let (out, contents) = match &signed.detached {
        Some(signature) => (args.output.unwrap_or_else(|| policy::signature_path(&args.file)), signature),
        None => (args.output.unwrap_or_else(|| args.file.clone()), &signed.component),
    };
    write_replacing(&out, contents).map_err(exit(3))?;
    println!("{}: signed by {} ({})", args.file.display(), signed.fingerprint, out.display());
    Ok(())
}

fn verify(args: VerifyArgs) -> Result<(), Exit> {
    let trusted = TrustedKeys::load(&args.keys).map_err(|e| exit(3)(e.into()))?;
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("{}: cannot read", args.file.display())).map_err(exit(3))?;
    let detached = policy::read_detached_signature(&args.file).map_err(|e| exit(3)(e.into()))?;
    let in_file = |e: policy::SignatureError| exit(4)(anyhow::Error::new(e).context(args.file.display().to_string()));
    match trusted.admit(&bytes, detached.as_deref()).map_err(in_file)? {
        Some(signer) => {
            let how = if signer.detached { "detached signature" } else { "embedded signature" };
            println!("{}: {how} by {} ({})", args.file.display(), signer.fingerprint, signer.key_file.display());
            Ok(())
        }
        // `--key` is required, so the keys are never empty here.
        None => Err(exit(2)(anyhow::anyhow!("no keys given"))),
    }
}

fn keygen(args: KeygenArgs) -> Result<(), Exit> {
    let (secret, public, fingerprint) = policy::generate_key_pair();
    write_new(&args.secret, &secret, true).map_err(exit(3))?;
    write_new(&args.public, &public, false).map_err(exit(3))?;
    println!("{fingerprint}: secret key {}, public key {}", args.secret.display(), args.public.display());
    Ok(())
}

/// Replace a file whole: written beside it, then renamed over it, so that a
/// proxy watching the plugin directory never reads half a component.
fn write_replacing(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut staging = path.as_os_str().to_os_string();
    staging.push(".signing");
    let staging = PathBuf::from(staging);
    std::fs::write(&staging, contents).with_context(|| format!("{}: cannot write", staging.display()))?;
    std::fs::rename(&staging, path).with_context(|| format!("{}: cannot write", path.display()))
}

/// Create a file that must not exist yet; a secret one readable by its
/// owner only.
fn write_new(path: &Path, contents: &[u8], secret: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("{}: cannot create", path.display()))?;
    file.write_all(contents).with_context(|| format!("{}: cannot write", path.display()))
}

fn serve(args: ServeArgs) -> Result<(), Exit> {
    use sipwarden::server::{ServeError, Server};
    let config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| exit(3)(e.into()))?,
        None => Config::embedded_default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sipwarden")
        .build()
        .context("cannot start the async runtime")
        .map_err(exit(1))?;
    runtime.block_on(async {
        let server = Server::start(&config).await.map_err(|e| {
            let code = match e {
                ServeError::Config(_)
                | ServeError::NoPluginDir
                | ServeError::Upstream { .. }
                | ServeError::NoListener => 3,
                ServeError::Plugins(_) => 4,
                ServeError::Transport(_) | ServeError::Admin { .. } | ServeError::Decision(_) => 5,
            };
            exit(code)(e.into())
        })?;
        server.run().await;
        Ok(())
    })
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn eval(args: EvalArgs) -> Result<(), Exit> {
    let raw = read_message(&args.message).map_err(exit(3))?;
    let request = match sip::parse(&raw) {
        Ok(sip::Message::Request(request)) => request,
        Ok(sip::Message::Response(_)) => {
            return Err(exit(3)(anyhow::anyhow!(
                "{}: a SIP response; policies decide requests",
                args.message.display()
            )));
        }
        Err(e) => return Err(exit(3)(anyhow::anyhow!("{}: not a valid SIP request: {e}", args.message.display()))),
    };

    let config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| exit(3)(e.into()))?,
        None => embedded_stores(),
    };
    let (capabilities, recorder) = config.capabilities_for_eval().map_err(|e| exit(3)(e.into()))?;
    let options = config.engine_options().map_err(|e| exit(3)(e.into()))?;
    let engine = Engine::new(&options, capabilities).map_err(|e| exit(1)(e.into()))?;
    let chain = load_chain(&engine, &args).map_err(exit(4))?;

    let origin = Origin { transport: args.transport, source: args.source, tls_peer: None };
    let outcome = chain.decide(request, origin);
    let mut report = serde_json::json!({
        "decision": outcome.decision,
        "steps": outcome.steps,
    });
    if outcome.decision == policy::Decision::Forward {
        report["request"] = String::from_utf8_lossy(&outcome.request.to_bytes()).into();
    }
    // The final response, as the proxy would show it to the observers.
    let response = match &outcome.decision {
        policy::Decision::Respond { reply, .. } => reply.to_response(&outcome.request),
        policy::Decision::Forward => {
            sip::Response::to_request(&outcome.request, args.response, reason_of(args.response))
        }
    };
    report["response"] = String::from_utf8_lossy(&response.to_bytes()).into();
    Chain::observe(&outcome.observers, outcome.request, outcome.origin, response);
    if let Some(recorder) = recorder {
        report["audit"] = recorder.records().into();
    }
    let text = serde_json::to_string_pretty(&report).context("cannot encode the report").map_err(exit(1))?;
    println!("{text}");
    Ok(())
}

/// A reason phrase for a status given on the command line.
fn reason_of(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        _ => "Response",
    }
}

fn load_chain(engine: &Engine, args: &EvalArgs) -> anyhow::Result<Chain> {
    if let Some(dir) = &args.plugins {
        return Ok(Chain::load_dir(engine, dir)?);
    }
    if args.plugin.is_empty() {
        anyhow::bail!("no plugins: give --plugins DIR or --plugin FILE");
    }
    let plugins = args.plugin.iter().map(|p| engine.load_file(p).map(Arc::new)).collect::<Result<_, _>>()?;
    Ok(Chain::new(plugins))
}

/// The message bytes, from a file or stdin; empty input is an error, not a
/// request with nothing in it.
fn read_message(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).context("cannot read stdin")?;
        buf
    } else {
        std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        anyhow::bail!("{}: empty message", path.display());
    }
    Ok(bytes)
}
