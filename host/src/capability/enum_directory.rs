//! E.164 number to user look-up in the DNS: ENUM (RFC 6116).
//!
//! A number `+15551234567` is looked up as the NAPTR records (RFC 3403) of
//! `7.6.5.4.3.2.1.5.5.5.1.e164.arpa.`: its digits reversed, one label each,
//! under a configurable suffix (`e164.arpa` for public ENUM, a private tree
//! for carrier or infrastructure ENUM). Of those records:
//!
//! * only terminal rules (flag `u`, RFC 6116 §3.4.1) whose Enumservices
//!   include `sip` (`E2U+sip`, or `sip` among several `+`-separated
//!   Enumservices, in any case, with or without a `:subtype`) are used.
//!   `E2U+pres` is *not* accepted: it yields `pres:` URIs (RFC 3953), which
//!   name a presence service rather than a User ID, and which the proxy
//!   cannot route; a user's presence is reached through their SIP address.
//!   Non-terminal rules (empty flags) are not followed;
//! * the rules are taken in `order`, then `preference` (RFC 3403 §4.1):
//!   the lowest order that yields at least one URI is the answer, and the
//!   rules of higher orders are not considered. Every URI of that order is
//!   returned, in preference order, each once: several URIs mean several
//!   User IDs, and a policy that needs a unique look-up (OMA SEC-2) sees
//!   that the number is ambiguous;
//! * each rule's regexp, a substitution expression (RFC 3402 §3.2:
//!   `!^.*$!sip:alice@example.com!`, the first character being the
//!   delimiter, `\1`–`\9` back-references, an optional `i` flag), is applied
//!   to the number in its E.164 form with the `+` (the Application Unique
//!   String, RFC 6116 §3.4): the first match is replaced, as `sed` does. The
//!   expression is compiled by the `regex` crate, whose syntax covers the
//!   POSIX ERE that ENUM records use; it matches leftmost-first where POSIX
//!   matches leftmost-longest, which differs only for alternations whose
//!   branches match different lengths. A rule whose expression does not
//!   compile, does not match, or does not produce a `sip:`/`sips:` URI is
//!   skipped.
//!
//! No record (NXDOMAIN, or a name without NAPTR records, or without usable
//! ones) is an empty answer. A timeout, a refusal or a server failure is
//! [`DirectoryError::Unavailable`], returned within the configured timeout:
//! a look-up never hangs.
//!
//! [`Directory::lookup`] is synchronous and is called from threads that may
//! or may not be inside a tokio runtime (the proxy calls plugins from
//! `spawn_blocking`; `sipwarden eval` has no runtime). So the resolver runs
//! on a dedicated thread with its own current-thread runtime; a look-up is
//! sent to it over a channel and waited for with a timeout. Look-ups run
//! concurrently on that runtime, and the resolver caches answers for their
//! TTL.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::{self as std_mpsc, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::rdata::NAPTR;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use sipwarden_grammar::normalize_e164;
use tokio::sync::mpsc as tokio_mpsc;

use super::CapabilityError;
use super::directory::{Directory, DirectoryError};

/// The public ENUM tree (RFC 6116 §3.2).
const DEFAULT_SUFFIX: &str = "e164.arpa";
/// How long a look-up may take, by default.
const DEFAULT_TIMEOUT_MS: u64 = 500;
/// The longest a look-up may be configured to take: a call to a plugin
/// waits for it.
const MAX_TIMEOUT_MS: u64 = 10_000;
/// The port of a server named without one.
const DNS_PORT: u16 = 53;
/// Compiled size limit of one rule's regular expression. A NAPTR regexp is
/// at most 255 bytes; this only bounds what a hostile one can cost.
const REGEX_SIZE_LIMIT: usize = 1 << 16;

/// `[directory] enum = { suffix = "e164.arpa", servers = ["127.0.0.1:5353"], timeout-ms = 500 }`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawEnumConfig")]
pub struct EnumConfig {
    /// The domain under which numbers are looked up, without a trailing dot.
    pub suffix: String,
    /// The DNS servers asked, by address and port.
    pub servers: Vec<SocketAddr>,
    /// How long a look-up may take before the directory counts as
    /// unavailable.
    pub timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawEnumConfig {
    #[serde(default = "default_suffix")]
    suffix: String,
    servers: Vec<String>,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
}

fn default_suffix() -> String {
    DEFAULT_SUFFIX.to_string()
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

impl TryFrom<RawEnumConfig> for EnumConfig {
    type Error = String;

    fn try_from(raw: RawEnumConfig) -> Result<EnumConfig, String> {
        let suffix = raw.suffix.strip_suffix('.').unwrap_or(&raw.suffix).to_ascii_lowercase();
        check_suffix(&suffix)?;
        if raw.servers.is_empty() {
            return Err("servers is empty: name at least one DNS server, e.g. \"192.0.2.53:53\"".into());
        }
        let servers = raw.servers.iter().map(|server| parse_server(server)).collect::<Result<_, _>>()?;
        if !(1..=MAX_TIMEOUT_MS).contains(&raw.timeout_ms) {
            return Err(format!("timeout-ms is {}, but must be 1-{MAX_TIMEOUT_MS}", raw.timeout_ms));
        }
        Ok(EnumConfig { suffix, servers, timeout: Duration::from_millis(raw.timeout_ms) })
    }
}

/// A domain name of letters, digits, hyphens and underscores, short enough
/// that 15 digit labels still fit in 255 octets.
fn check_suffix(suffix: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("suffix {suffix:?} {why}"));
    if suffix.is_empty() {
        return bad("is empty");
    }
    if suffix.len() > 200 {
        return bad("is too long for a domain name with 15 digit labels in front");
    }
    for label in suffix.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("has an empty or over-long label");
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return bad("is not a domain name");
        }
    }
    Ok(())
}

/// `IP:port`, `[IPv6]:port`, or a bare IP address (port 53).
fn parse_server(server: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = server.parse::<SocketAddr>() {
        return Ok(address);
    }
    match server.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, DNS_PORT)),
        Err(_) => Err(format!("server {server:?} is not an IP address with an optional port")),
    }
}

/// The domain name under which ENUM keeps a number's NAPTR records: its
/// digits reversed, one label each, then the suffix (RFC 6116 §2.4).
pub fn enum_domain(e164: &str, suffix: &str) -> String {
    let mut domain = String::with_capacity(2 * e164.len() + suffix.len() + 1);
    for digit in e164.chars().rev().filter(char::is_ascii_digit) {
        domain.push(digit);
        domain.push('.');
    }
    domain.push_str(suffix);
    domain.push('.');
    domain
}

type Answer = Result<Vec<String>, DirectoryError>;

/// One look-up, sent to the resolver thread.
struct Job {
    /// The number, E.164 with the `+`: the string the rules rewrite.
    number: String,
    name: Name,
    reply: std_mpsc::SyncSender<Answer>,
}

/// A [`Directory`] that asks the DNS (ENUM, RFC 6116).
pub struct EnumDirectory {
    suffix: String,
    timeout: Duration,
    jobs: tokio_mpsc::UnboundedSender<Job>,
}

impl EnumDirectory {
    /// Starts the resolver thread. Nothing is sent to the servers until the
    /// first look-up.
    pub fn start(config: &EnumConfig) -> Result<EnumDirectory, CapabilityError> {
        let (jobs, queue) = tokio_mpsc::unbounded_channel();
        let (started, ready) = std_mpsc::sync_channel(1);
        let servers = config.servers.clone();
        let timeout = config.timeout;
        // The runtime is built, run and dropped on its own thread only, so
        // that starting the directory from inside another runtime is safe.
        thread::Builder::new()
            .name("sipwarden-enum".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = started.send(Err(error));
                        return;
                    }
                };
                let resolver = {
                    let _context = runtime.enter();
                    resolver(&servers, timeout)
                };
                match resolver {
                    Ok(resolver) => {
                        let _ = started.send(Ok(()));
                        runtime.block_on(serve(resolver, queue, timeout));
                    }
                    Err(error) => {
                        let _ = started.send(Err(error));
                    }
                }
            })
            .map_err(|source| CapabilityError::Start { what: "the ENUM resolver", source })?;
        let outcome = ready.recv().unwrap_or_else(|_| Err(io::Error::other("the resolver thread ended at start")));
        outcome.map_err(|source| CapabilityError::Start { what: "the ENUM resolver", source })?;
        tracing::info!(suffix = %config.suffix, servers = ?config.servers, timeout_ms = timeout.as_millis() as u64, "ENUM number directory started");
        Ok(EnumDirectory { suffix: config.suffix.clone(), timeout, jobs })
    }
}

impl Directory for EnumDirectory {
    fn may_block(&self) -> bool {
        true
    }

    fn lookup(&self, e164: &str) -> Result<Vec<String>, DirectoryError> {
        let number = normalize_e164(e164)?;
        let domain = enum_domain(&number, &self.suffix);
        let name = Name::from_ascii(&domain)
            .map_err(|e| DirectoryError::Unavailable(format!("{domain} is not a domain name: {e}")))?;
        let (reply, answer) = std_mpsc::sync_channel(1);
        let stopped = || DirectoryError::Unavailable("the ENUM resolver has stopped".into());
        self.jobs.send(Job { number, name, reply }).map_err(|_| stopped())?;
        match answer.recv_timeout(self.timeout) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => Err(timed_out(&domain, self.timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(stopped()),
        }
    }
}

impl std::fmt::Debug for EnumDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnumDirectory").field("suffix", &self.suffix).field("timeout", &self.timeout).finish()
    }
}

fn timed_out(domain: &str, timeout: Duration) -> DirectoryError {
    DirectoryError::Unavailable(format!("no ENUM answer for {domain} within {} ms", timeout.as_millis()))
}

/// A resolver that asks only the configured servers, for fully qualified
/// names, without the system's search list or hosts file.
fn resolver(servers: &[SocketAddr], timeout: Duration) -> io::Result<TokioResolver> {
    let name_servers = servers
        .iter()
        .map(|server| {
            let mut config = NameServerConfig::udp_and_tcp(server.ip());
            for connection in &mut config.connections {
                connection.port = server.port();
            }
            config
        })
        .collect();
    let mut options = ResolverOpts::default();
    options.timeout = timeout;
    options.use_hosts_file = ResolveHosts::Never;
    Resolver::builder_with_config(ResolverConfig::from_name_servers(name_servers), TokioRuntimeProvider::default())
        .with_options(options)
        .build()
        .map_err(|e| io::Error::other(e.to_string()))
}

/// Runs look-ups side by side until the directory is dropped.
async fn serve(resolver: TokioResolver, mut queue: tokio_mpsc::UnboundedReceiver<Job>, timeout: Duration) {
    while let Some(job) = queue.recv().await {
        let resolver = resolver.clone();
        tokio::spawn(async move {
            let answer = match tokio::time::timeout(timeout, resolver.lookup(job.name.clone(), RecordType::NAPTR)).await
            {
                Ok(Ok(lookup)) => Ok(user_uris(&job.number, lookup.answers())),
                Ok(Err(error)) if error.is_no_records_found() => Ok(Vec::new()),
                Ok(Err(error)) => {
                    Err(DirectoryError::Unavailable(format!("ENUM look-up of {} failed: {error}", job.name)))
                }
                Err(_) => Err(timed_out(&job.name.to_ascii(), timeout)),
            };
            // The caller may have stopped waiting; then nobody needs it.
            let _ = job.reply.try_send(answer);
        });
    }
}

/// The URIs the NAPTR records give for a number: the usable rules of the
/// lowest order that has any, in preference order, each URI once.
pub fn user_uris(number: &str, answers: &[Record]) -> Vec<String> {
    let mut rules: Vec<&NAPTR> = answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::NAPTR(naptr) => Some(naptr),
            _ => None,
        })
        .filter(|naptr| is_sip_rule(naptr))
        .collect();
    rules.sort_by_key(|naptr| (naptr.order, naptr.preference));

    let mut uris: Vec<String> = Vec::new();
    let mut order = None;
    for rule in rules {
        if order.is_some_and(|order| order != rule.order) {
            break;
        }
        let Some(uri) = apply_rule(number, rule) else {
            continue;
        };
        order = Some(rule.order);
        if !uris.contains(&uri) {
            uris.push(uri);
        }
    }
    uris
}

/// A terminal rule (flag `u`) offering the `sip` Enumservice.
fn is_sip_rule(naptr: &NAPTR) -> bool {
    naptr.flags.eq_ignore_ascii_case(b"u") && offers_sip(&naptr.services)
}

/// `E2U+sip`, or `sip` among the Enumservices of `E2U+a+b:c…` (RFC 6116
/// §3.4.3), compared without regard to case.
fn offers_sip(services: &[u8]) -> bool {
    let Ok(services) = std::str::from_utf8(services) else {
        return false;
    };
    let mut parts = services.split('+');
    parts.next().is_some_and(|tag| tag.eq_ignore_ascii_case("E2U"))
        && parts.any(|service| service.split(':').next().is_some_and(|kind| kind.eq_ignore_ascii_case("sip")))
}

/// The URI a rule rewrites the number to, when it gives a SIP URI.
fn apply_rule(number: &str, rule: &NAPTR) -> Option<String> {
    let rewritten = std::str::from_utf8(&rule.regexp)
        .map_err(|_| "the regexp is not UTF-8".to_string())
        .and_then(Substitution::parse)
        .map(|substitution| substitution.apply(number));
    match rewritten {
        Ok(Some(uri)) if is_sip_uri(&uri) => Some(uri),
        Ok(Some(uri)) => {
            tracing::warn!(number, uri, "ENUM E2U+sip rule gives no sip: URI; skipped");
            None
        }
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(number, error, "ENUM rule has an unusable regexp; skipped");
            None
        }
    }
}

fn is_sip_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    (scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips"))
        && !rest.is_empty()
        && !rest.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A NAPTR substitution expression (RFC 3402 §3.2):
/// `delim ere delim repl delim [i]`.
#[derive(Debug)]
pub struct Substitution {
    regex: Regex,
    replacement: Vec<Piece>,
}

#[derive(Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
}

impl Substitution {
    /// Parses and compiles an expression such as `!^\+1(.*)$!sip:\1@example.com!`.
    pub fn parse(expression: &str) -> Result<Substitution, String> {
        let mut chars = expression.chars();
        let delimiter = chars.next().ok_or("the regexp is empty")?;
        if delimiter == '\\' || delimiter.is_ascii_digit() || delimiter == 'i' {
            return Err(format!("{delimiter:?} cannot delimit a substitution expression"));
        }

        let mut ere = String::new();
        loop {
            match chars.next().ok_or("the regular expression is not terminated")? {
                c if c == delimiter => break,
                '\\' => match chars.next().ok_or("the regular expression ends in a backslash")? {
                    c if c == delimiter => ere.push_str(&regex::escape(&c.to_string())),
                    c => {
                        ere.push('\\');
                        ere.push(c);
                    }
                },
                c => ere.push(c),
            }
        }

        let mut replacement = Vec::new();
        let mut text = String::new();
        loop {
            match chars.next().ok_or("the replacement is not terminated")? {
                c if c == delimiter => break,
                '\\' => match chars.next().ok_or("the replacement ends in a backslash")? {
                    digit @ '1'..='9' => {
                        if !text.is_empty() {
                            replacement.push(Piece::Text(std::mem::take(&mut text)));
                        }
                        replacement.push(Piece::Group(digit as usize - '0' as usize));
                    }
                    c => text.push(c),
                },
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            replacement.push(Piece::Text(text));
        }

        let case_insensitive = match chars.as_str() {
            "" => false,
            "i" => true,
            flags => return Err(format!("unknown flags {flags:?} (only \"i\" is defined)")),
        };
        let regex = RegexBuilder::new(&ere)
            .case_insensitive(case_insensitive)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| format!("the regular expression does not compile: {e}"))?;
        if let Some(group) = replacement.iter().find_map(|piece| match piece {
            Piece::Group(n) if *n >= regex.captures_len() => Some(*n),
            _ => None,
        }) {
            return Err(format!("the replacement refers to group {group}, which the expression does not have"));
        }
        Ok(Substitution { regex, replacement })
    }

    /// Rewrites the first match in `input`, as `sed` does; `None` when the
    /// expression does not match.
    pub fn apply(&self, input: &str) -> Option<String> {
        let captures = self.regex.captures(input)?;
        let whole = captures.get(0)?;
        let mut output = String::with_capacity(input.len() + 32);
        output.push_str(&input[..whole.start()]);
        for piece in &self.replacement {
            match piece {
                Piece::Text(text) => output.push_str(text),
                Piece::Group(n) => output.push_str(captures.get(*n).map_or("", |m| m.as_str())),
            }
        }
        output.push_str(&input[whole.end()..]);
        Some(output)
    }
}

// The same dnsmasq fixture as the integration tests.
#[cfg(test)]
#[path = "../../tests/common/dnsmasq.rs"]
mod dnsmasq;

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::UdpSocket;
    use std::time::Instant;

    #[test]
    fn domain_is_the_reversed_digits_under_the_suffix() {
        assert_eq!(enum_domain("+15551234567", "e164.arpa"), "7.6.5.4.3.2.1.5.5.5.1.e164.arpa.");
        assert_eq!(enum_domain("+4", "e164.example.net"), "4.e164.example.net.");
    }

    #[test]
    fn substitution_expressions() {
        let apply = |expression: &str, input: &str| Substitution::parse(expression).unwrap().apply(input);
        assert_eq!(apply("!^.*$!sip:alice@example.com!", "+15551234567").as_deref(), Some("sip:alice@example.com"));
        assert_eq!(
            apply(r"!^\+1(555)(.*)$!sip:\2@\1.example.com!", "+15551234567").as_deref(),
            Some("sip:1234567@555.example.com")
        );
        // A delimiter inside the expression is escaped; a literal backslash too.
        assert_eq!(apply(r"/^\+(.*)$/sip:\1\/x@example.com/", "+4").as_deref(), Some("sip:4/x@example.com"));
        assert_eq!(apply(r"#^\+4#sip:ab@x#", "+45").as_deref(), Some("sip:ab@x5"), "sed-like: the rest stays");
        assert_eq!(apply("!^.*$!SIP:Alice@X!i", "+4").as_deref(), Some("SIP:Alice@X"));
        assert_eq!(apply("!^\\+44!sip:x@y!", "+15551234567"), None, "no match");
        assert_eq!(apply("!(a)?4$!<\\1>!", "+4").as_deref(), Some("+<>"), "an unmatched group is empty");

        for (bad, why) in [
            ("", "empty"),
            ("!^.*$", "not terminated"),
            ("!^.*$!sip:x", "not terminated"),
            ("!^.*$!sip:\\2!", "group 2"),
            ("!(!x!", "does not compile"),
            ("!^.*$!x!g", "unknown flags"),
            ("1^.*$1x1", "cannot delimit"),
        ] {
            let error = Substitution::parse(bad).unwrap_err();
            assert!(error.contains(why), "{bad:?}: {error}");
        }
    }

    #[test]
    fn services_that_count() {
        for yes in ["E2U+sip", "e2u+SIP", "E2U+voice:tel+sip", "E2U+sip:x"] {
            assert!(offers_sip(yes.as_bytes()), "{yes}");
        }
        for no in ["E2U+pres", "E2U+sips", "sip", "E2U", "E2U+email:mailto", "SIP+D2U", "x+sip"] {
            assert!(!offers_sip(no.as_bytes()), "{no}");
        }
    }

    fn rule(order: u16, preference: u16, flags: &str, services: &str, regexp: &str) -> Record {
        let naptr = NAPTR::new(
            order,
            preference,
            flags.as_bytes().into(),
            services.as_bytes().into(),
            regexp.as_bytes().into(),
            Name::root(),
        );
        Record::from_rdata(Name::from_ascii("7.6.5.4.3.2.1.5.5.5.1.e164.arpa.").unwrap(), 60, RData::NAPTR(naptr))
    }

    #[test]
    fn rules_are_taken_by_order_then_preference() {
        let n = "+15551234567";
        let records = [
            rule(200, 10, "u", "E2U+sip", "!^.*$!sip:later@example.com!"),
            rule(100, 20, "u", "E2U+sip", "!^.*$!sip:second@example.com!"),
            rule(100, 10, "u", "E2U+sip", "!^.*$!sip:first@example.com!"),
            rule(100, 5, "u", "E2U+pres", "!^.*$!pres:first@example.com!"),
            rule(100, 30, "u", "E2U+sip", "!^.*$!sip:first@example.com!"),
            rule(100, 1, "", "E2U+sip", ""),
        ];
        assert_eq!(user_uris(n, &records), ["sip:first@example.com", "sip:second@example.com"]);

        // An order whose rules all fail to apply gives way to the next.
        let records = [
            rule(10, 10, "u", "E2U+sip", "!^\\+44.*$!sip:uk@example.com!"),
            rule(10, 20, "u", "E2U+sip", "!^.*$!mailto:x@example.com!"),
            rule(20, 10, "u", "E2U+sip", "!^.*$!sip:alice@example.com!"),
        ];
        assert_eq!(user_uris(n, &records), ["sip:alice@example.com"]);
        assert!(user_uris(n, &[rule(10, 10, "u", "E2U+email:mailto", "!^.*$!mailto:a@b!")]).is_empty());
    }

    #[test]
    fn configuration_is_checked() {
        #[derive(Debug, Deserialize)]
        struct Section {
            #[allow(dead_code)]
            r#enum: EnumConfig,
        }
        let parse = |text: &str| toml::from_str::<Section>(text).map(|s| s.r#enum).map_err(|e| e.to_string());
        let config = parse("enum = { servers = [\"127.0.0.1:5353\", \"::1\"] }").unwrap();
        assert_eq!(config.suffix, "e164.arpa");
        assert_eq!(config.servers, ["127.0.0.1:5353".parse().unwrap(), "[::1]:53".parse().unwrap()]);
        assert_eq!(config.timeout, Duration::from_millis(500));
        let config =
            parse("enum = { suffix = \"E164.Example.NET.\", servers = [\"192.0.2.1\"], timeout-ms = 200 }").unwrap();
        assert_eq!((config.suffix.as_str(), config.timeout), ("e164.example.net", Duration::from_millis(200)));

        for (bad, why) in [
            ("enum = { servers = [] }", "servers is empty"),
            ("enum = { servers = [\"dns.example\"] }", "not an IP address"),
            ("enum = { servers = [\"127.0.0.1\"], timeout-ms = 0 }", "must be 1-10000"),
            ("enum = { servers = [\"127.0.0.1\"], suffix = \"a..b\" }", "empty or over-long label"),
            ("enum = { servers = [\"127.0.0.1\"], suffix = \"a b\" }", "not a domain name"),
            ("enum = { servers = [\"127.0.0.1\"], timeout = 3 }", "unknown field `timeout`"),
            ("enum = { }", "missing field `servers`"),
        ] {
            let error = parse(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    use super::dnsmasq::Dnsmasq;

    fn directory(servers: Vec<SocketAddr>, timeout_ms: u64) -> EnumDirectory {
        let config = EnumConfig { suffix: "e164.arpa".into(), servers, timeout: Duration::from_millis(timeout_ms) };
        EnumDirectory::start(&config).unwrap()
    }

    const ALICE: &str = "7.6.5.4.3.2.1.5.5.5.1.e164.arpa,100,10,u,E2U+sip,!^.*$!sip:alice@example.com!";
    const BOB_HOME: &str = "1.2.3.4.5.6.7.5.5.5.1.e164.arpa,100,10,u,E2U+sip,!^.*$!sip:bob@example.com!";
    const BOB_WORK: &str = r"1.2.3.4.5.6.7.5.5.5.1.e164.arpa,100,20,u,E2U+sip,!^\+1(.*)$!sip:\1@work.example.com!";
    const BOB_MAIL: &str = "1.2.3.4.5.6.7.5.5.5.1.e164.arpa,100,5,u,E2U+email:mailto,!^.*$!mailto:bob@example.com!";

    #[test]
    fn dnsmasq_answers_none_one_or_several() {
        let dns = Dnsmasq::start(&[ALICE, BOB_HOME, BOB_WORK, BOB_MAIL]);
        let directory = directory(vec![dns.address], 2000);
        assert_eq!(directory.lookup("tel:+1-555-123-4567").unwrap(), ["sip:alice@example.com"]);
        assert_eq!(
            directory.lookup("+1 555 765 4321").unwrap(),
            ["sip:bob@example.com", "sip:5557654321@work.example.com"]
        );
        assert_eq!(directory.lookup("+15550000000").unwrap(), Vec::<String>::new(), "NXDOMAIN");
        assert!(matches!(directory.lookup("alice"), Err(DirectoryError::InvalidNumber(_))));

        // Look-ups run side by side and share the cache.
        let directory = std::sync::Arc::new(directory);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let directory = directory.clone();
                thread::spawn(move || directory.lookup("+15551234567").unwrap())
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap(), ["sip:alice@example.com"]);
        }
    }

    #[test]
    fn a_server_that_refuses_is_unavailable() {
        // dnsmasq has no upstream for names outside its local tree: it
        // refuses them.
        let dns = Dnsmasq::start(&[ALICE]);
        let config = EnumConfig {
            suffix: "e164.example.net".into(),
            servers: vec![dns.address],
            timeout: Duration::from_millis(2000),
        };
        let directory = EnumDirectory::start(&config).unwrap();
        match directory.lookup("+15551234567") {
            Err(DirectoryError::Unavailable(why)) => {
                assert!(why.contains("7.6.5.4.3.2.1.5.5.5.1.e164.example.net"), "{why}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    #[test]
    fn a_silent_server_is_unavailable_within_the_timeout() {
        // Bound, never read: queries go unanswered.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let directory = directory(vec![silent.local_addr().unwrap()], 300);
        for _ in 0..2 {
            let started = Instant::now();
            match directory.lookup("+15551234567") {
                Err(DirectoryError::Unavailable(why)) => {
                    assert!(why.contains("within 300 ms") || why.contains("timed out"), "{why}")
                }
                other => panic!("expected Unavailable, got {other:?}"),
            }
            let elapsed = started.elapsed();
            assert!(elapsed >= Duration::from_millis(250) && elapsed < Duration::from_millis(600), "took {elapsed:?}");
        }
    }

    #[test]
    fn works_from_inside_a_runtime_and_without_one() {
        let dns = Dnsmasq::start(&[ALICE]);
        let directory = std::sync::Arc::new(directory(vec![dns.address], 2000));
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let inside = directory.clone();
        let found = runtime
            .block_on(async move { tokio::task::spawn_blocking(move || inside.lookup("+15551234567")).await.unwrap() });
        assert_eq!(found.unwrap(), ["sip:alice@example.com"]);
        // Started inside a runtime, dropped there too.
        runtime.block_on(async move {
            let inner = EnumDirectory::start(&EnumConfig {
                suffix: "e164.arpa".into(),
                servers: vec![dns.address],
                timeout: Duration::from_millis(2000),
            })
            .unwrap();
            tokio::task::spawn_blocking(move || inner.lookup("+15551234567").unwrap()).await.unwrap()
        });
        assert_eq!(directory.lookup("+15551234567").unwrap(), ["sip:alice@example.com"]);
    }
}
