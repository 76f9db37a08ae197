//! SIP digest authentication: RFC 3261 §22 with the RFC 7616 / RFC 8760
//! algorithms (SHA-256 and MD5, `qop=auth` only).
//!
//! The host keeps only HA1 hashes, never passwords, and plugins never see
//! either: a plugin hands the raw `Authorization` header to
//! [`DigestAuthority::verify`] and receives a [`Verification`].
//!
//! Nonces are verifiable without server-side state: each one carries its
//! issue time and a salt, authenticated by an HMAC under a host secret. The
//! only state kept is the highest nonce count accepted per nonce, which is
//! what replay protection needs, and that table is bounded.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use md5::Md5;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sipwarden_grammar::{DigestParams, constant_time_eq};
use toml::Spanned;

use super::{CapabilityError, line_of, read_config, toml_error};

/// A digest algorithm the host accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// MD5, the RFC 3261 default, still all that many deployed UAs speak.
    Md5,
    /// SHA-256 (RFC 8760), offered first.
    Sha256,
}

impl Algorithm {
    /// The algorithm's token in `algorithm=` parameters.
    #[must_use]
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses an `algorithm=` token; `-sess` variants are not accepted.
    pub fn from_token(token: &str) -> Option<Self> {
        [Algorithm::Sha256, Algorithm::Md5].into_iter().find(|algorithm| token.eq_ignore_ascii_case(algorithm.token()))
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
        }
    }

    /// Hashes `parts` joined by `:` and returns lowercase hex, the shape of
    /// every intermediate value in RFC 7616.
    fn hash(self, parts: &[&str]) -> String {
        match self {
            Algorithm::Md5 => hash_joined::<Md5>(parts),
            Algorithm::Sha256 => hash_joined::<Sha256>(parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

fn hash_joined<D: Digest>(parts: &[&str]) -> String {
    let mut hasher = D::new();
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            hasher.update(b":");
        }
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Computes HA1 = H(username:realm:password), the value an operator stores in
/// the credential file in place of the password.
#[must_use]
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm.hash(&[username, realm, password])
}

/// The HA1 hashes of the users the host may authenticate, by realm and
/// username.
///
/// HA1 values are password equivalents for their realm, so `Debug` shows only
/// how many users there are.
#[derive(Default)]
pub struct CredentialStore {
    realms: HashMap<String, HashMap<String, Hashes>>,
}

struct Hashes {
    md5: Option<String>,
    sha256: Option<String>,
}

impl Hashes {
    fn get(&self, algorithm: Algorithm) -> Option<&str> {
        match algorithm {
            Algorithm::Md5 => self.md5.as_deref(),
            Algorithm::Sha256 => self.sha256.as_deref(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialFile {
    #[serde(default)]
    user: Vec<Spanned<UserEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct UserEntry {
    username: Spanned<String>,
    realm: Spanned<String>,
    ha1_md5: Option<Spanned<String>>,
    ha1_sha256: Option<Spanned<String>>,
}

impl CredentialStore {
    /// Loads the operator's credential file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CapabilityError> {
        let path = path.as_ref();
        Self::from_str(&read_config(path)?, path)
    }

    /// Parses credential-file text; `origin` names it in error messages.
    pub fn from_str(text: &str, origin: impl AsRef<Path>) -> Result<Self, CapabilityError> {
        let origin = origin.as_ref();
        let file: CredentialFile = toml::from_str(text).map_err(|error| toml_error(origin, text, &error))?;
        let error = |offset: usize, field: Option<&str>, message: String| CapabilityError::Config {
            path: origin.to_path_buf(),
            line: Some(line_of(text, offset)),
            field: field.map(str::to_owned),
            message,
        };

        let mut realms: HashMap<String, HashMap<String, (usize, Hashes)>> = HashMap::new();
        for entry in file.user {
            let entry_start = entry.span().start;
            let entry = entry.into_inner();
            for (field, value) in [("username", &entry.username), ("realm", &entry.realm)] {
                if value.get_ref().is_empty() {
                    return Err(error(value.span().start, Some(field), "must not be empty".into()));
                }
            }
            let hashes = Hashes {
                md5: checked_hex(entry.ha1_md5, Algorithm::Md5, "ha1-md5", &error)?,
                sha256: checked_hex(entry.ha1_sha256, Algorithm::Sha256, "ha1-sha256", &error)?,
            };
            let username = entry.username.into_inner();
            let realm = entry.realm.into_inner();
            if hashes.md5.is_none() && hashes.sha256.is_none() {
                return Err(error(
                    entry_start,
                    None,
                    format!("user {username:?} in realm {realm:?} has neither ha1-md5 nor ha1-sha256"),
                ));
            }
            let users = realms.entry(realm).or_default();
            if let Some((first_line, _)) = users.get(&username) {
                return Err(error(
                    entry_start,
                    Some("username"),
                    format!("user {username:?} is already defined for this realm on line {first_line}"),
                ));
            }
            users.insert(username, (line_of(text, entry_start), hashes));
        }

        let realms = realms
            .into_iter()
            .map(|(realm, users)| {
                let users = users.into_iter().map(|(name, (_, hashes))| (name, hashes));
                (realm, users.collect())
            })
            .collect();
        Ok(CredentialStore { realms })
    }

    /// The number of (username, realm) entries.
    pub fn len(&self) -> usize {
        self.realms.values().map(HashMap::len).sum()
    }

    /// Whether the store has no users at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn ha1(&self, username: &str, realm: &str, algorithm: Algorithm) -> Option<&str> {
        self.realms.get(realm)?.get(username)?.get(algorithm)
    }
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialStore").field("users", &self.len()).finish()
    }
}

/// Validates an HA1 field and normalizes it to lowercase hex.
fn checked_hex(
    value: Option<Spanned<String>>,
    algorithm: Algorithm,
    field: &str,
    error: &impl Fn(usize, Option<&str>, String) -> CapabilityError,
) -> Result<Option<String>, CapabilityError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let hex = value.get_ref();
    if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(error(value.span().start, Some(field), format!("expected {} hex digits", algorithm.hex_len())));
    }
    Ok(Some(hex.to_ascii_lowercase()))
}

/// Returns the current time in whole seconds since the Unix epoch.
///
/// Injectable so that tests can move time without sleeping.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The outcome of checking a digest `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The credentials are valid for this user in this realm.
    Verified {
        /// The username, as the UA sent it and the credential store holds it.
        username: String,
        /// The realm the credentials were checked in.
        realm: String,
    },
    /// The nonce was genuine but has expired (or cannot be tracked right
    /// now): challenge again with `stale=true` so the UA retries without
    /// asking its user for the password.
    Stale,
    /// The credentials are not acceptable.
    Rejected(RejectReason),
}

/// Why credentials were rejected. The messages are for operators' logs and
/// never contain credential material.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// Not Digest credentials, or without a directive `qop=auth` needs
    /// (`username`, `realm`, `nonce`, `uri`, `response`, `nc`, `cnonce`).
    #[error("the Authorization header is not well-formed Digest credentials")]
    Malformed,
    /// For another realm. A request may carry credentials for several
    /// (RFC 3261 §22.3): the plugins' credential check skips these.
    #[error("the credentials are for a different realm")]
    WrongRealm,
    /// The credential store has no HA1 for this username, realm and
    /// algorithm.
    #[error("no credentials are configured for this user, realm and algorithm")]
    UnknownUser,
    /// An algorithm other than MD5 and SHA-256 (`-sess` variants included),
    /// or one this authority does not offer
    /// ([`DigestAuthority::with_algorithms`]).
    #[error("the digest algorithm is not supported (only MD5 and SHA-256 are)")]
    UnsupportedAlgorithm,
    /// No `qop=auth`: `auth-int`, and RFC 2069 credentials without `qop`,
    /// are refused.
    #[error("the credentials do not use qop=auth, which this host requires")]
    UnsupportedQop,
    /// The `response` is not the one the stored HA1 gives: most often a
    /// wrong password.
    #[error("the digest response is wrong (wrong password?)")]
    BadResponse,
    /// The nonce count is not above the highest accepted for this nonce:
    /// a request replayed, or overtaken by a later one.
    #[error("the nonce count was already used (replayed request?)")]
    Replay,
    /// The nonce fails its HMAC: not issued by this host for this realm, or
    /// issued under another secret (see [`DigestAuthority::random`]).
    #[error("the nonce was not issued by this host (or its secret has changed)")]
    NonceForged,
    /// The `uri` directive does not name the Request-URI (RFC 7616
    /// §3.4.6). [`Capabilities::verify_digest`](super::Capabilities::verify_digest)
    /// checks it unless told not to; [`DigestAuthority::verify`] does not.
    #[error("the digest uri is not the Request-URI (credentials captured for another request?)")]
    UriMismatch,
}

/// The `uri` directive of Digest credentials: the host checks it against the
/// Request-URI (RFC 7616 §3.4.6), so that credentials cannot be replayed on a
/// request to another target.
pub fn digest_uri(authorization: &str) -> Option<String> {
    DigestParams::parse(authorization).ok()?.get("uri").map(str::to_string)
}

const TIMESTAMP_LEN: usize = 8;
const SALT_LEN: usize = 8;
const TAG_LEN: usize = 16;
const NONCE_LEN: usize = TIMESTAMP_LEN + SALT_LEN + TAG_LEN;
/// Length of a nonce in unpadded base64: anything else is not ours, and is
/// refused before decoding.
const ENCODED_NONCE_LEN: usize = (NONCE_LEN * 4).div_ceil(3);

type RawNonce = [u8; NONCE_LEN];

const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(300);
const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// Issues digest challenges and verifies the credentials sent in reply.
///
/// A nonce is `base64url(timestamp ‖ salt ‖ HMAC-SHA256(secret, timestamp ‖
/// salt ‖ realm)[..16])`, so any authority holding the same secret can check
/// it without remembering it. The salt keeps two challenges issued in the
/// same second apart, which matters because replay protection is tracked
/// per nonce.
pub struct DigestAuthority {
    key: Hmac<Sha256>,
    nonce_lifetime: u64,
    clock: Clock,
    /// The latest time seen, so that a wall clock stepping backwards can
    /// neither revive an expired nonce nor shorten the replay window.
    latest: AtomicU64,
    /// A counter that tells apart nonces issued in the same second; seeded
    /// from the wall clock so that a restart does not repeat earlier nonces.
    salt: AtomicU64,
    replay: Mutex<ReplayWindow>,
    /// The algorithms offered, in the order of the challenges; credentials
    /// of any other algorithm are refused.
    algorithms: Vec<Algorithm>,
}

impl DigestAuthority {
    /// Creates an authority from a 256-bit secret. Share the secret between
    /// proxies that must accept each other's nonces; keep it out of plugins.
    pub fn new(secret: [u8; 32]) -> Self {
        // HMAC zero-pads keys shorter than the hash's block size, so this
        // block is the same key as `secret`, without a fallible constructor.
        let mut block = [0u8; 64];
        block[..secret.len()].copy_from_slice(&secret);
        let salt_seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos() as u64);
        DigestAuthority {
            key: Hmac::<Sha256>::new(&block.into()),
            nonce_lifetime: DEFAULT_NONCE_LIFETIME.as_secs(),
            clock: Arc::new(system_clock),
            latest: AtomicU64::new(0),
            salt: AtomicU64::new(salt_seed),
            replay: Mutex::new(ReplayWindow::new(DEFAULT_REPLAY_CAPACITY)),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
        }
    }

    /// Offer these algorithms, in this order (default: SHA-256, then MD5, as
    /// RFC 8760 §2.4 asks). Many deployed UAs (sipp 3.6, sipsak) answer only
    /// the first challenge and only with MD5: a deployment that serves them
    /// lists MD5 first. An empty list keeps the default.
    pub fn with_algorithms(mut self, algorithms: Vec<Algorithm>) -> Self {
        if !algorithms.is_empty() {
            self.algorithms = algorithms;
        }
        self
    }

    /// Creates an authority with a fresh random secret. Nonces it issues
    /// become [`RejectReason::NonceForged`] once the process restarts.
    pub fn random() -> Result<Self, CapabilityError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(CapabilityError::Random)?;
        Ok(Self::new(secret))
    }

    /// How long a nonce stays valid (default 300 s, at least 1 s).
    #[must_use]
    pub fn with_nonce_lifetime(mut self, lifetime: Duration) -> Self {
        self.nonce_lifetime = lifetime.as_secs().max(1);
        self
    }

    /// Replaces the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How many live nonces replay protection may track (default 100 000).
    /// Beyond that, credentials with a not-yet-tracked nonce are answered
    /// [`Verification::Stale`] until older nonces expire.
    #[must_use]
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        self.replay = Mutex::new(ReplayWindow::new(capacity));
        self
    }

    /// Header values for `WWW-Authenticate` / `Proxy-Authenticate`: one
    /// challenge per algorithm, SHA-256 first (RFC 8760 §2.4), sharing one
    /// nonce.
    pub fn challenge(&self, realm: &str, stale: bool) -> Vec<String> {
        let nonce = URL_SAFE_NO_PAD.encode(self.issue_nonce(realm));
        let realm = quote(realm);
        let stale = if stale { ", stale=true" } else { "" };
        self.algorithms
            .iter()
            .map(|algorithm| {
                format!("Digest realm={realm}, nonce=\"{nonce}\", algorithm={algorithm}, qop=\"auth\"{stale}")
            })
            .collect()
    }

    /// Checks the raw value of an `Authorization` or `Proxy-Authorization`
    /// header for a request with `method`, in `realm`.
    ///
    /// The nonce count is recorded only for credentials whose response is
    /// correct, so forged requests cannot burn nonce counts of genuine
    /// clients. The `uri` parameter is trusted as sent; comparing it with the
    /// Request-URI is the caller's business.
    pub fn verify(&self, store: &CredentialStore, authorization: &str, method: &str, realm: &str) -> Verification {
        let outcome = self.evaluate(store, authorization, method, realm);
        match &outcome {
            Verification::Verified { username, .. } => {
                tracing::debug!(%username, realm, "digest credentials verified");
            }
            Verification::Stale => tracing::debug!(realm, "digest nonce stale"),
            Verification::Rejected(reason) => {
                tracing::debug!(realm, %reason, "digest credentials rejected");
            }
        }
        outcome
    }

    fn evaluate(&self, store: &CredentialStore, authorization: &str, method: &str, realm: &str) -> Verification {
        use RejectReason::*;
        let reject = Verification::Rejected;

        let Ok(params) = DigestParams::parse(authorization) else {
            return reject(Malformed);
        };
        let (Some(username), Some(claimed_realm), Some(nonce), Some(uri), Some(response)) = (
            params.get("username"),
            params.get("realm"),
            params.get("nonce"),
            params.get("uri"),
            params.get("response"),
        ) else {
            return reject(Malformed);
        };
        if claimed_realm != realm {
            return reject(WrongRealm);
        }
        let algorithm = match params.get("algorithm") {
            None => Algorithm::Md5,
            Some(token) => match Algorithm::from_token(token) {
                Some(algorithm) => algorithm,
                None => return reject(UnsupportedAlgorithm),
            },
        };
        if !self.algorithms.contains(&algorithm) {
            return reject(UnsupportedAlgorithm);
        }
        let qop = match params.get("qop") {
            Some(qop) if qop.eq_ignore_ascii_case("auth") => qop,
            _ => return reject(UnsupportedQop),
        };
        let (Some(nc), Some(cnonce)) = (params.get("nc"), params.get("cnonce")) else {
            return reject(Malformed);
        };
        let Some(count) = parse_nonce_count(nc) else {
            return reject(Malformed);
        };

        let Some((raw_nonce, issued)) = self.check_nonce(nonce, realm) else {
            return reject(NonceForged);
        };
        let now = self.now();
        let expires = issued.saturating_add(self.nonce_lifetime);
        if now >= expires {
            return Verification::Stale;
        }

        let Some(ha1) = store.ha1(username, realm, algorithm) else {
            return reject(UnknownUser);
        };
        let input = ResponseInput { nonce, nc, cnonce, qop, method, uri };
        let expected = expected_response(algorithm, ha1, &input);
        if !constant_time_eq(expected.as_bytes(), response.to_ascii_lowercase().as_bytes()) {
            return reject(BadResponse);
        }

        let admission =
            self.replay.lock().unwrap_or_else(PoisonError::into_inner).admit(raw_nonce, expires, count, now);
        match admission {
            Admission::Accepted => Verification::Verified { username: username.to_owned(), realm: realm.to_owned() },
            Admission::Replay => reject(Replay),
            Admission::Full => {
                tracing::warn!(realm, "digest replay table is full; answering stale until nonces expire");
                Verification::Stale
            }
        }
    }

    fn now(&self) -> u64 {
        let now = (self.clock)();
        now.max(self.latest.fetch_max(now, Ordering::Relaxed))
    }

    fn issue_nonce(&self, realm: &str) -> RawNonce {
        let timestamp = self.now().to_be_bytes();
        let salt = self.salt.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        let tag = self.nonce_mac(&timestamp, &salt, realm).finalize().into_bytes();
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..TIMESTAMP_LEN].copy_from_slice(&timestamp);
        nonce[TIMESTAMP_LEN..TIMESTAMP_LEN + SALT_LEN].copy_from_slice(&salt);
        nonce[TIMESTAMP_LEN + SALT_LEN..].copy_from_slice(&tag[..TAG_LEN]);
        nonce
    }

    /// Returns the raw nonce and its issue time if this host issued it for
    /// `realm`.
    fn check_nonce(&self, nonce: &str, realm: &str) -> Option<(RawNonce, u64)> {
        if nonce.len() != ENCODED_NONCE_LEN {
            return None;
        }
        let raw: RawNonce = URL_SAFE_NO_PAD.decode(nonce).ok()?.try_into().ok()?;
        let (timestamp, rest) = raw.split_at(TIMESTAMP_LEN);
        let (salt, tag) = rest.split_at(SALT_LEN);
        self.nonce_mac(timestamp, salt, realm).verify_truncated_left(tag).ok()?;
        let issued = u64::from_be_bytes(timestamp.try_into().ok()?);
        Some((raw, issued))
    }

    fn nonce_mac(&self, timestamp: &[u8], salt: &[u8], realm: &str) -> Hmac<Sha256> {
        let mut mac = self.key.clone();
        mac.update(timestamp);
        mac.update(salt);
        mac.update(realm.as_bytes());
        mac
    }
}

impl fmt::Debug for DigestAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuthority")
            .field("nonce_lifetime", &Duration::from_secs(self.nonce_lifetime))
            .finish_non_exhaustive()
    }
}

fn system_clock() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// The per-nonce inputs of an RFC 7616 `qop=auth` response.
struct ResponseInput<'a> {
    nonce: &'a str,
    nc: &'a str,
    cnonce: &'a str,
    qop: &'a str,
    method: &'a str,
    uri: &'a str,
}

/// response = H(HA1:nonce:nc:cnonce:qop:H(method:uri)).
fn expected_response(algorithm: Algorithm, ha1: &str, input: &ResponseInput<'_>) -> String {
    let ha2 = algorithm.hash(&[input.method, input.uri]);
    algorithm.hash(&[ha1, input.nonce, input.nc, input.cnonce, input.qop, &ha2])
}

fn parse_nonce_count(nc: &str) -> Option<u32> {
    if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(nc, 16).ok()
}

/// Renders `value` as an HTTP/SIP quoted-string.
fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// The highest nonce count accepted for each live nonce.
struct ReplayWindow {
    capacity: usize,
    highest: HashMap<RawNonce, u32>,
    /// Expiry times, soonest first, so that eviction never scans the map.
    expiries: BinaryHeap<Reverse<(u64, RawNonce)>>,
}

enum Admission {
    Accepted,
    Replay,
    Full,
}

impl ReplayWindow {
    fn new(capacity: usize) -> Self {
        ReplayWindow { capacity, highest: HashMap::new(), expiries: BinaryHeap::new() }
    }

    /// Records `count` for `nonce` if it is higher than any accepted before.
    ///
    /// An entry is dropped only once its nonce is stale, at which point the
    /// staleness check refuses the nonce before its count matters.
    fn admit(&mut self, nonce: RawNonce, expires: u64, count: u32, now: u64) -> Admission {
        while let Some(Reverse((expiry, expired))) = self.expiries.peek() {
            if *expiry > now {
                break;
            }
            self.highest.remove(expired);
            self.expiries.pop();
        }
        let full = self.highest.len() >= self.capacity;
        match self.highest.entry(nonce) {
            Entry::Occupied(highest) if count <= *highest.get() => Admission::Replay,
            Entry::Occupied(mut highest) => {
                highest.insert(count);
                Admission::Accepted
            }
            Entry::Vacant(_) if full => Admission::Full,
            Entry::Vacant(slot) => {
                slot.insert(count);
                self.expiries.push(Reverse((expires, nonce)));
                Admission::Accepted
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    const REALM: &str = "example.com";
    const PASSWORD: &str = "correct horse";

    fn store() -> CredentialStore {
        let text = format!(
            "[[user]]\nusername = \"alice\"\nrealm = \"{REALM}\"\nha1-md5 = \"{}\"\nha1-sha256 = \"{}\"\n",
            ha1(Algorithm::Md5, "alice", REALM, PASSWORD),
            ha1(Algorithm::Sha256, "alice", REALM, PASSWORD),
        );
        CredentialStore::from_str(&text, "users.toml").unwrap()
    }

    /// An authority whose clock the test controls.
    fn authority() -> (DigestAuthority, Arc<AtomicU64>) {
        let time = Arc::new(AtomicU64::new(1_700_000_000));
        let clock_time = Arc::clone(&time);
        let authority = DigestAuthority::new([7; 32]).with_clock(Arc::new(move || clock_time.load(Ordering::Relaxed)));
        (authority, time)
    }

    /// Answers a challenge the way a UA (or sipp) does.
    fn answer(challenge: &str, password: &str, nc: u32) -> String {
        let params = DigestParams::parse(challenge).unwrap();
        let algorithm = Algorithm::from_token(params.get("algorithm").unwrap()).unwrap();
        let nonce = params.get("nonce").unwrap();
        let realm = params.get("realm").unwrap();
        let uri = "sip:bob@example.com";
        let cnonce = "0a4f113b";
        let nc = format!("{nc:08x}");
        let ha1 = algorithm.hash(&["alice", realm, password]);
        let ha2 = algorithm.hash(&["INVITE", uri]);
        let response = algorithm.hash(&[&ha1, nonce, &nc, cnonce, "auth", &ha2]);
        format!(
            "Digest username=\"alice\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm={algorithm}, cnonce=\"{cnonce}\", qop=auth, nc={nc}"
        )
    }

    fn verified() -> Verification {
        Verification::Verified { username: "alice".into(), realm: REALM.into() }
    }

    #[test]
    fn round_trip_for_both_algorithms() {
        let (authority, _) = authority();
        let challenges = authority.challenge(REALM, false);
        assert_eq!(challenges.len(), 2);
        assert!(challenges[0].contains("algorithm=SHA-256"));
        assert!(challenges[1].contains("algorithm=MD5"));
        // The two challenges share a nonce, so each answer gets its own.
        for index in 0..2 {
            let header = answer(&authority.challenge(REALM, false)[index], PASSWORD, 1);
            assert_eq!(authority.verify(&store(), &header, "INVITE", REALM), verified());
        }
    }

    #[test]
    fn missing_algorithm_means_md5() {
        let (authority, _) = authority();
        let challenge = &authority.challenge(REALM, false)[1];
        let header = answer(challenge, PASSWORD, 1).replace(", algorithm=MD5", "");
        assert_eq!(authority.verify(&store(), &header, "INVITE", REALM), verified());
    }

    #[test]
    fn rfc7616_example_responses() {
        // RFC 7616 §3.9.1: Mufasa / "Circle of Life".
        let realm = "http-auth@example.org";
        let input = ResponseInput {
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            nc: "00000001",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            qop: "auth",
            method: "GET",
            uri: "/dir/index.html",
        };
        let md5 = ha1(Algorithm::Md5, "Mufasa", realm, "Circle of Life");
        assert_eq!(expected_response(Algorithm::Md5, &md5, &input), "8ca523f5e9506fed4657c9700eebdbec");
        let sha256 = ha1(Algorithm::Sha256, "Mufasa", realm, "Circle of Life");
        assert_eq!(
            expected_response(Algorithm::Sha256, &sha256, &input),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn expired_nonce_is_stale_and_challenge_says_so() {
        let (authority, time) = authority();
        let header = answer(&authority.challenge(REALM, false)[0], PASSWORD, 1);
        time.fetch_add(300, Ordering::Relaxed);
        assert_eq!(authority.verify(&store(), &header, "INVITE", REALM), Verification::Stale);
        assert!(authority.challenge(REALM, true)[0].ends_with(", stale=true"));
    }

    #[test]
    fn clock_stepping_back_does_not_revive_a_nonce() {
        let (authority, time) = authority();
        let challenge = authority.challenge(REALM, false).remove(0);
        time.fetch_add(301, Ordering::Relaxed);
        let header = answer(&challenge, PASSWORD, 1);
        assert_eq!(authority.verify(&store(), &header, "INVITE", REALM), Verification::Stale);
        time.fetch_sub(301, Ordering::Relaxed);
        assert_eq!(authority.verify(&store(), &header, "INVITE", REALM), Verification::Stale);
    }

    #[test]
    fn forged_or_foreign_nonces_are_rejected() {
        let (authority, _) = authority();
        let challenge = authority.challenge(REALM, false).remove(0);
        let nonce = DigestParams::parse(&challenge).unwrap().get("nonce").unwrap().to_owned();
        // Flip one character of the tag.
        let mut forged = nonce.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        let header = answer(&challenge.replace(&nonce, &forged), PASSWORD, 1);
        assert_eq!(
            authority.verify(&store(), &header, "INVITE", REALM),
            Verification::Rejected(RejectReason::NonceForged)
        );
        // A nonce from another secret.
        let other = DigestAuthority::new([8; 32]);
        let header = answer(&other.challenge(REALM, false)[0], PASSWORD, 1);
        assert_eq!(
            authority.verify(&store(), &header, "INVITE", REALM),
            Verification::Rejected(RejectReason::NonceForged)
        );
    }

    #[test]
    fn replayed_nonce_count_is_rejected_and_increasing_count_accepted() {
        let (authority, _) = authority();
        let challenge = authority.challenge(REALM, false).remove(0);
        let store = store();
        let verify = |nc| authority.verify(&store, &answer(&challenge, PASSWORD, nc), "INVITE", REALM);
        assert_eq!(verify(1), verified());
        assert_eq!(verify(1), Verification::Rejected(RejectReason::Replay));
        assert_eq!(verify(2), verified());
        assert_eq!(verify(5), verified());
        assert_eq!(verify(3), Verification::Rejected(RejectReason::Replay));
    }

    #[test]
    fn wrong_password_is_rejected_and_does_not_burn_the_count() {
        let (authority, _) = authority();
        let challenge = authority.challenge(REALM, false).remove(0);
        let wrong = answer(&challenge, "guess", 9);
        assert_eq!(
            authority.verify(&store(), &wrong, "INVITE", REALM),
            Verification::Rejected(RejectReason::BadResponse)
        );
        let right = answer(&challenge, PASSWORD, 1);
        assert_eq!(authority.verify(&store(), &right, "INVITE", REALM), verified());
    }

    #[test]
    fn full_replay_table_answers_stale() {
        let (authority, time) = authority();
        let authority = authority.with_replay_capacity(1);
        let first = answer(&authority.challenge(REALM, false)[0], PASSWORD, 1);
        let second = answer(&authority.challenge(REALM, false)[0], PASSWORD, 1);
        assert_eq!(authority.verify(&store(), &first, "INVITE", REALM), verified());
        assert_eq!(authority.verify(&store(), &second, "INVITE", REALM), Verification::Stale);
        // Once the first nonce expires its slot is free again.
        time.fetch_add(300, Ordering::Relaxed);
        let third = answer(&authority.challenge(REALM, false)[0], PASSWORD, 1);
        assert_eq!(authority.verify(&store(), &third, "INVITE", REALM), verified());
    }

    #[test]
    fn other_rejections() {
        let (authority, _) = authority();
        let challenge = authority.challenge(REALM, false).remove(0);
        let header = answer(&challenge, PASSWORD, 1);
        let cases = [
            (header.replace("qop=auth, ", ""), RejectReason::UnsupportedQop),
            (header.replace("qop=auth", "qop=auth-int"), RejectReason::UnsupportedQop),
            (header.replace("SHA-256", "SHA-256-sess"), RejectReason::UnsupportedAlgorithm),
            (header.replace("\"alice\"", "\"mallory\""), RejectReason::UnknownUser),
            (header.replace("Digest ", "Basic "), RejectReason::Malformed),
            (header.replace("nc=00000001", "nc=1"), RejectReason::Malformed),
        ];
        for (header, reason) in cases {
            assert_eq!(
                authority.verify(&store(), &header, "INVITE", REALM),
                Verification::Rejected(reason),
                "{header}"
            );
        }
        assert_eq!(
            authority.verify(&store(), &header, "INVITE", "other.example"),
            Verification::Rejected(RejectReason::WrongRealm)
        );
    }

    #[test]
    fn ugly_headers_never_panic() {
        let (authority, _) = authority();
        let ugly = [
            "",
            "Digest",
            "Digest ",
            "Digest =",
            "Digest a",
            "Digest a=",
            "Digest a=\"",
            "Digest a=\"\\",
            "Digest a=\"x\"b=1",
            "Digest a=1, a=2",
            "Digest ,,,,",
            "Digest username=\"é\u{0}\", realm=\"example.com\", nonce=\"\u{1F600}\", uri=\"\", response=\"\", qop=auth, nc=00000001, cnonce=\"\"",
            "Digest nonce=\"////\", username=alice, realm=example.com, uri=x, response=y, qop=auth, nc=ffffffff, cnonce=z",
            "\u{FEFF}Digest username=alice",
        ];
        for header in ugly {
            assert!(matches!(authority.verify(&store(), header, "INVITE", REALM), Verification::Rejected(_)));
        }
    }

    #[test]
    fn realm_is_quoted_in_challenges() {
        let (authority, _) = authority();
        let challenge = authority.challenge("a \"b\" \\c", false).remove(0);
        let params = DigestParams::parse(&challenge).unwrap();
        assert_eq!(params.get("realm"), Some("a \"b\" \\c"));
    }

    #[test]
    fn store_reports_file_line_and_field() {
        let bad_hex = "[[user]]\nusername = \"alice\"\nrealm = \"r\"\nha1-md5 = \"abc\"\n";
        let error = CredentialStore::from_str(bad_hex, "users.toml").unwrap_err();
        assert_eq!(error.to_string(), "users.toml:4: field ha1-md5: expected 32 hex digits");

        let unknown = "[[user]]\nusername = \"alice\"\nrealm = \"r\"\npassword = \"x\"\n";
        let error = CredentialStore::from_str(unknown, "users.toml").unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("users.toml:4: unknown field `password`"), "{message}");
        assert!(!message.contains("\"x\""), "{message}");

        let neither = "[[user]]\nusername = \"alice\"\nrealm = \"r\"\n";
        let error = CredentialStore::from_str(neither, "users.toml").unwrap_err();
        assert!(error.to_string().starts_with("users.toml:1: user \"alice\""), "{error}");

        let md5 = "0".repeat(32);
        let twice = format!(
            "[[user]]\nusername = \"a\"\nrealm = \"r\"\nha1-md5 = \"{md5}\"\n\
             [[user]]\nusername = \"a\"\nrealm = \"r\"\nha1-md5 = \"{md5}\"\n"
        );
        let error = CredentialStore::from_str(&twice, "users.toml").unwrap_err();
        assert_eq!(
            error.to_string(),
            "users.toml:5: field username: user \"a\" is already defined for this realm on line 1"
        );
    }

    #[test]
    fn store_loads_from_disk_and_hides_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let sha = ha1(Algorithm::Sha256, "bob", REALM, "pw").to_uppercase();
        std::fs::write(&path, format!("[[user]]\nusername = \"bob\"\nrealm = \"{REALM}\"\nha1-sha256 = \"{sha}\"\n"))
            .unwrap();
        let store = CredentialStore::load(&path).unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(store.ha1("bob", REALM, Algorithm::Sha256), Some(sha.to_lowercase().as_str()));
        assert_eq!(store.ha1("bob", REALM, Algorithm::Md5), None);
        assert_eq!(format!("{store:?}"), "CredentialStore { users: 1 }");

        let missing = CredentialStore::load(dir.path().join("absent.toml")).unwrap_err();
        assert!(missing.to_string().starts_with("cannot read "), "{missing}");
    }
}
