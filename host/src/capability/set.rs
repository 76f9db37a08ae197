//! The capabilities an engine hands to its plugins, and the audit trails a
//! plugin's records can go to.

use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use serde_json::{Map, Value};

use super::audit::refuse_secrets;
use super::{
    AuditSink, CapabilityError, CredentialStore, DigestAuthority, Directory, DirectoryError, RejectReason,
    Verification, digest_uri,
};

/// The field every audit trail stamps with the plugin's name, so that a
/// record says which policy wrote it and no plugin can pose as another.
const PLUGIN_FIELD: &str = "plugin";

/// Where plugins' audit records go.
pub trait AuditTrail: Send + Sync {
    /// Append one record written by `plugin`.
    fn append(&self, plugin: &str, record: Map<String, Value>) -> Result<(), CapabilityError>;

    /// Whether an append may wait on I/O (a strict trail waits for fsync).
    fn may_block(&self) -> bool {
        false
    }
}

fn stamp(plugin: &str, mut record: Map<String, Value>) -> Result<Map<String, Value>, CapabilityError> {
    refuse_secrets(&record)?;
    if record.contains_key(PLUGIN_FIELD) {
        return Err(CapabilityError::ReservedField { field: PLUGIN_FIELD.into() });
    }
    record.insert(PLUGIN_FIELD.into(), Value::String(plugin.into()));
    Ok(record)
}

impl AuditTrail for AuditSink {
    fn append(&self, plugin: &str, record: Map<String, Value>) -> Result<(), CapabilityError> {
        AuditSink::append(self, stamp(plugin, record)?)
    }

    fn may_block(&self) -> bool {
        self.is_strict()
    }
}

/// Keeps records in memory, so that `sipwarden eval` can show a plugin
/// author what their policy would have recorded.
#[derive(Debug, Default)]
pub struct AuditRecorder {
    records: Mutex<Vec<Value>>,
}

impl AuditRecorder {
    /// The records appended so far.
    pub fn records(&self) -> Vec<Value> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl AuditTrail for AuditRecorder {
    fn append(&self, plugin: &str, record: Map<String, Value>) -> Result<(), CapabilityError> {
        let record = stamp(plugin, record)?;
        self.records.lock().unwrap_or_else(PoisonError::into_inner).push(Value::Object(record));
        Ok(())
    }
}

/// Stands in for a capability the host was not configured with: every use
/// fails with an error that says so, and the plugin's failure handling takes
/// over, rather than a silent no-op passing for success.
struct NotConfigured(&'static str);

impl AuditTrail for NotConfigured {
    fn append(&self, _plugin: &str, _record: Map<String, Value>) -> Result<(), CapabilityError> {
        Err(CapabilityError::NotConfigured(self.0))
    }
}

impl Directory for NotConfigured {
    fn lookup(&self, _e164: &str) -> Result<Vec<String>, DirectoryError> {
        Err(DirectoryError::Unavailable(format!("no {} is configured on this host", self.0)))
    }
}

/// Whether the digest `uri` names the request's target: the same SIP URI
/// but for an explicit default port (clients write `sip:host:5060` for
/// `sip:host`), or the same text for any other scheme.
fn same_target(digest_uri: &str, request_uri: &str) -> bool {
    use crate::sip::SipUri;
    match (SipUri::parse(digest_uri), SipUri::parse(request_uri)) {
        (Ok(a), Ok(b)) => a.same_target(&b),
        _ => digest_uri == request_uri,
    }
}

/// Everything the host does on plugins' behalf.
pub struct Capabilities {
    audit: Arc<dyn AuditTrail>,
    directory: Arc<dyn Directory>,
    credentials: ArcSwap<CredentialStore>,
    digest: DigestAuthority,
    check_digest_uri: bool,
}

impl Capabilities {
    /// Whether a call of `capability` may wait on I/O: a strict audit trail
    /// waits for fsync, an ENUM directory for the DNS. Calls that cannot
    /// are CPU only and may run on an async worker.
    pub fn may_block(&self, capability: crate::policy::Capability) -> bool {
        use crate::policy::Capability;
        match capability {
            Capability::Audit => self.audit.may_block(),
            Capability::Directory => self.directory.may_block(),
            Capability::Log | Capability::Credentials => false,
        }
    }

    /// Capabilities from these backends, with the digest `uri` check on
    /// ([`Capabilities::with_digest_uri_check`]).
    /// [`Capabilities::no_audit`] and [`Capabilities::no_directory`] stand in
    /// for a backend the host is not configured with.
    pub fn new(
        audit: Arc<dyn AuditTrail>,
        directory: Arc<dyn Directory>,
        credentials: CredentialStore,
        digest: DigestAuthority,
    ) -> Capabilities {
        Capabilities {
            audit,
            directory,
            credentials: ArcSwap::from_pointee(credentials),
            digest,
            check_digest_uri: true,
        }
    }

    /// A host with no audit trail, no directory and no credentials: enough
    /// to load and check plugins, and every capability call fails or finds
    /// no one.
    pub fn inert() -> Result<Capabilities, CapabilityError> {
        Ok(Capabilities::new(
            Arc::new(NotConfigured("audit trail")),
            Arc::new(NotConfigured("directory")),
            CredentialStore::default(),
            DigestAuthority::random()?,
        ))
    }

    /// A host without an audit trail.
    pub fn no_audit() -> Arc<dyn AuditTrail> {
        Arc::new(NotConfigured("audit trail"))
    }

    /// A host without a directory.
    pub fn no_directory() -> Arc<dyn Directory> {
        Arc::new(NotConfigured("directory"))
    }

    /// Where plugins' audit records go.
    pub fn audit(&self) -> &dyn AuditTrail {
        &*self.audit
    }

    /// The number directory plugins look E.164 numbers up in.
    pub fn directory(&self) -> &dyn Directory {
        &*self.directory
    }

    /// Check a digest `Authorization` / `Proxy-Authorization` value sent
    /// with a request to `request_uri`.
    pub fn verify_digest(&self, authorization: &str, method: &str, request_uri: &str, realm: &str) -> Verification {
        let outcome = self.digest.verify(&self.credentials.load(), authorization, method, realm);
        match outcome {
            Verification::Verified { .. }
                if self.check_digest_uri
                    && !digest_uri(authorization).is_some_and(|uri| same_target(&uri, request_uri)) =>
            {
                Verification::Rejected(RejectReason::UriMismatch)
            }
            other => other,
        }
    }

    /// `WWW-Authenticate` / `Proxy-Authenticate` values for a challenge.
    pub fn challenge(&self, realm: &str, stale: bool) -> Vec<String> {
        self.digest.challenge(realm, stale)
    }

    /// Whether verified credentials must name the Request-URI in their `uri`
    /// (default: yes, RFC 7616 §3.4.6). Some test clients (sipp 3.6) write
    /// the proxy's address there instead: turning the check off trades away
    /// protection against credentials captured in flight and used first on
    /// another target (nonce counts still stop replays).
    pub fn with_digest_uri_check(mut self, check: bool) -> Capabilities {
        self.check_digest_uri = check;
        self
    }

    /// Swap in a re-read credential store; calls in progress finish with the
    /// old one.
    pub fn replace_credentials(&self, store: CredentialStore) {
        self.credentials.store(Arc::new(store));
    }
}
