//! Which requests need a confirmed identity (SEC-3 a–c, SEC-5, REG-5).

use sipwarden_sdk::Request;

/// The requests the operator listed, normalized in `init`.
pub(crate) struct Coverage {
    /// SEC-3 (a): methods that initiate a message. Case-sensitive, as
    /// methods are (RFC 3261 §7.1).
    pub(crate) message_methods: Vec<String>,
    /// SEC-3 (b): event packages whose SUBSCRIBE reads profile data.
    pub(crate) profile_events: Vec<String>,
    /// SEC-3 (c): methods that change privacy policy.
    pub(crate) privacy_methods: Vec<String>,
    /// SEC-3 (c): media types of privacy-policy documents.
    pub(crate) privacy_content_types: Vec<String>,
    /// SEC-3 (c): event packages whose SUBSCRIBE or PUBLISH concerns
    /// privacy policy.
    pub(crate) privacy_events: Vec<String>,
}

impl Coverage {
    /// Whether the identity of the user sending `req` must be confirmed.
    pub(crate) fn requires_confirmation(&self, req: &Request, method: &str) -> bool {
        // ACK and CANCEL cannot be challenged (RFC 3261 §22.1): they ride on
        // a transaction whose request was confirmed already.
        if method == "ACK" || method == "CANCEL" {
            return false;
        }
        is_registration(method)
            || self.initiates_message(method)
            || self.accesses_profile(req, method)
            || self.changes_privacy_policy(req, method)
    }

    fn initiates_message(&self, method: &str) -> bool {
        self.message_methods.iter().any(|m| m == method)
    }

    fn accesses_profile(&self, req: &Request, method: &str) -> bool {
        method == "SUBSCRIBE" && event_package(req).is_some_and(|event| self.profile_events.contains(&event))
    }

    fn changes_privacy_policy(&self, req: &Request, method: &str) -> bool {
        self.privacy_methods.iter().any(|m| m == method)
            || ((method == "SUBSCRIBE" || method == "PUBLISH")
                && event_package(req).is_some_and(|event| self.privacy_events.contains(&event)))
            || media_type(req).is_some_and(|media| self.privacy_content_types.contains(&media))
    }
}

/// SEC-5 / REG-5: users are authenticated when registering, always.
fn is_registration(method: &str) -> bool {
    method == "REGISTER"
}

/// The event package of the `Event` header (`presence` of
/// `presence;id=7`), lowercase: matching without regard to case can only
/// confirm more requests, never fewer.
fn event_package(req: &Request) -> Option<String> {
    let event = req.header("Event")?;
    Some(event.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

/// The media type of the `Content-Type` header, without parameters,
/// lowercase (RFC 2045 §5.1: type and subtype are case-insensitive).
fn media_type(req: &Request) -> Option<String> {
    let content_type = req.header("Content-Type")?;
    Some(content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}
