//! Example policy: refuse requests sent by known SIP scanners.
//!
//! Internet-facing SIP services are probed around the clock by tools that
//! announce themselves in `User-Agent` (`friendly-scanner`, `sipvicious`, …)
//! or use a tell-tale `From` user. This policy answers them with a final
//! response (403 by default) so the request goes no further, and can mark
//! every other request so that the next hop sees it was screened.
//!
//! Configuration (the manifest's `[config]` table):
//!
//! ```toml
//! [config]
//! user-agents = ["friendly-scanner", "sipvicious", "sipcli"]   # substrings, case-insensitive
//! from-users = ["100", "1000"]                                 # exact From user parts
//! status = 403
//! reason = "Forbidden"
//! mark = "X-Screened-By"                                       # optional: header added to what passes
//! ```

use serde::Deserialize;
use sipwarden_sdk::{Edit, Policy, Request, Verdict, export_policy};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    #[serde(default = "default_user_agents")]
    user_agents: Vec<String>,
    #[serde(default)]
    from_users: Vec<String>,
    #[serde(default = "default_status")]
    status: u16,
    #[serde(default = "default_reason")]
    reason: String,
    #[serde(default)]
    mark: Option<String>,
}

fn default_user_agents() -> Vec<String> {
    ["friendly-scanner", "sipvicious", "sipcli", "sip-scan", "sundayddr"].map(String::from).to_vec()
}

fn default_status() -> u16 {
    403
}

fn default_reason() -> String {
    "Forbidden".to_string()
}

struct BlockScanners {
    user_agents: Vec<String>,
    from_users: Vec<String>,
    status: u16,
    reason: String,
    mark: Option<String>,
}

impl Policy for BlockScanners {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        if !(400..=699).contains(&config.status) {
            return Err(format!("status {} is not a final error status (400-699)", config.status));
        }
        if config.user_agents.iter().any(String::is_empty) {
            return Err("user-agents: an empty entry would match every request".to_string());
        }
        Ok(BlockScanners {
            user_agents: config.user_agents.iter().map(|s| s.to_ascii_lowercase()).collect(),
            from_users: config.from_users,
            status: config.status,
            reason: config.reason,
            mark: config.mark,
        })
    }

    fn decide(&self, req: &Request) -> Verdict {
        if let Some(agent) = req.header("User-Agent")
            && self.user_agents.iter().any(|bad| contains_ignoring_case(&agent, bad))
        {
            return Verdict::reject(self.status, self.reason.clone());
        }
        if let Some(from) = req.header("From")
            && let Some(user) = uri_user(&from)
            && self.from_users.iter().any(|bad| bad == user)
        {
            return Verdict::reject(self.status, self.reason.clone());
        }
        match &self.mark {
            Some(header) => Verdict::pass_with(vec![Edit::add(header.as_str(), "block-scanners")]),
            None => Verdict::pass(),
        }
    }
}

/// Whether `needle` (already lowercase) occurs in `haystack`, ignoring ASCII
/// case, without allocating.
fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    haystack.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The user part of the first SIP URI in a name-addr or addr-spec.
fn uri_user(field: &str) -> Option<&str> {
    let start = field.find("sip:").map(|i| i + 4).or_else(|| field.find("sips:").map(|i| i + 5))?;
    let rest = &field[start..];
    let at = rest.find('@')?;
    let user = &rest[..at];
    // A user part never contains these; if one appears first, there was no user.
    if user.contains(['>', ';', ' ']) { None } else { Some(user) }
}

export_policy!(BlockScanners);
