//! HTTP digest (RFC 7616, `qop=auth`) as a SIP client answers a `401` or
//! `407` challenge (RFC 3261 §22, RFC 8760): the first challenge whose
//! algorithm it supports (SHA-256 or MD5), a fresh cnonce, `nc=00000001`.
//!
//! sipp 3.6 cannot stand in for this: it answers only the first challenge of
//! a response, and refuses SHA-256 ("authentication must use MD5 or
//! AKAv1-MD5"), which sipwarden offers first as RFC 8760 §2.4 asks.

use md5::Md5;
use sha2::{Digest, Sha256};

use super::sip::{Message, unique};

/// A user's name and password.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub username: &'a str,
    pub password: &'a str,
}

pub const ALICE: Credentials<'static> = Credentials { username: "alice", password: "alice-secret" };
pub const BOB: Credentials<'static> = Credentials { username: "bob", password: "bob-secret" };

/// The parameters of one `Digest` challenge, names lowercase, values unquoted.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Parse `Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"`.
    pub fn parse(value: &str) -> Option<Challenge> {
        let rest = value.trim().strip_prefix("Digest ")?;
        let mut params = Vec::new();
        let mut rest = rest.trim_start();
        while !rest.is_empty() {
            let eq = rest.find('=')?;
            let name = rest[..eq].trim().to_ascii_lowercase();
            let after = rest[eq + 1..].trim_start();
            let (value, next) = match after.strip_prefix('"') {
                Some(quoted) => {
                    let end = quoted.find('"')?;
                    (quoted[..end].to_string(), &quoted[end + 1..])
                }
                None => {
                    let end = after.find(',').unwrap_or(after.len());
                    (after[..end].trim().to_string(), &after[end..])
                }
            };
            params.push((name, value));
            rest = next.trim_start().trim_start_matches(',').trim_start();
        }
        Some(Challenge { params })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn algorithm(&self) -> &str {
        self.get("algorithm").unwrap_or("MD5")
    }
}

/// The challenges of a `401` (`WWW-Authenticate`) or `407`
/// (`Proxy-Authenticate`), in order.
pub fn challenges(response: &Message) -> Vec<Challenge> {
    let header = match response.status() {
        Some(401) => "WWW-Authenticate",
        Some(407) => "Proxy-Authenticate",
        _ => return Vec::new(),
    };
    response.headers_named(header).filter_map(Challenge::parse).collect()
}

fn hash(algorithm: &str, parts: &[&str]) -> String {
    let text = parts.join(":");
    match algorithm.to_ascii_uppercase().as_str() {
        "SHA-256" => hex::encode(Sha256::digest(text.as_bytes())),
        "MD5" => hex::encode(Md5::digest(text.as_bytes())),
        other => panic!("no digest algorithm {other}"),
    }
}

/// The credentials header line (`Authorization: …` after a 401,
/// `Proxy-Authorization: …` after a 407) answering the first supported
/// challenge of `response` for `method` and `uri`.
pub fn answer(response: &Message, credentials: Credentials<'_>, method: &str, uri: &str) -> String {
    let name = match response.status() {
        Some(401) => "Authorization",
        Some(407) => "Proxy-Authorization",
        _ => panic!("`{}` is not a challenge", response.start),
    };
    let challenge = challenges(response)
        .into_iter()
        .find(|c| ["SHA-256", "MD5"].iter().any(|a| c.algorithm().eq_ignore_ascii_case(a)))
        .unwrap_or_else(|| panic!("no SHA-256 or MD5 challenge in {response:?}"));
    format!("{name}: {}", credentials_for(&challenge, credentials, method, uri))
}

/// The value of the credentials answering `challenge`.
pub fn credentials_for(challenge: &Challenge, credentials: Credentials<'_>, method: &str, uri: &str) -> String {
    let algorithm = challenge.algorithm();
    let realm = challenge.get("realm").expect("a challenge names its realm");
    let nonce = challenge.get("nonce").expect("a challenge has a nonce");
    let qop = challenge.get("qop").expect("sipwarden challenges with qop");
    assert!(qop.split(',').any(|q| q.trim() == "auth"), "qop {qop:?} does not offer auth");
    let cnonce = unique("cn");
    let nc = "00000001";
    let ha1 = hash(algorithm, &[credentials.username, realm, credentials.password]);
    let ha2 = hash(algorithm, &[method, uri]);
    let response = hash(algorithm, &[&ha1, nonce, nc, &cnonce, "auth", &ha2]);
    format!(
        "Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", \
         algorithm={algorithm}, cnonce=\"{cnonce}\", qop=auth, nc={nc}",
        credentials.username
    )
}
