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
    /// The method is looked at first; a header only when the method leaves
    /// it open, and each header once.
    pub(crate) fn requires_confirmation(&self, req: &Request, method: &str) -> bool {
        // ACK and CANCEL cannot be challenged (RFC 3261 §22.1): they ride on
        // a transaction whose request was confirmed already.
        if method == "ACK" || method == "CANCEL" {
            return false;
        }
        if is_registration(method) || self.initiates_message(method) || self.changes_privacy_by_method(method) {
            return true;
        }
        let event = if method == "SUBSCRIBE" || method == "PUBLISH" { event_package(req) } else { None };
        event.is_some_and(|event| self.accesses_profile(method, &event) || self.changes_privacy_by_event(&event))
            || self.changes_privacy_by_content(req)
    }

    /// SEC-3 (a).
    fn initiates_message(&self, method: &str) -> bool {
        self.message_methods.iter().any(|m| m == method)
    }

    /// SEC-3 (b), for the event package of a SUBSCRIBE or PUBLISH.
    fn accesses_profile(&self, method: &str, event: &str) -> bool {
        method == "SUBSCRIBE" && self.profile_events.iter().any(|e| e == event)
    }

    /// SEC-3 (c), by method.
    fn changes_privacy_by_method(&self, method: &str) -> bool {
        self.privacy_methods.iter().any(|m| m == method)
    }

    /// SEC-3 (c), for the event package of a SUBSCRIBE or PUBLISH.
    fn changes_privacy_by_event(&self, event: &str) -> bool {
        self.privacy_events.iter().any(|e| e == event)
    }

    /// SEC-3 (c), by the media type of any request.
    fn changes_privacy_by_content(&self, req: &Request) -> bool {
        media_type(req).is_some_and(|media| self.privacy_content_types.contains(&media))
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
