//! Decided requests waiting for their final reply, for the plugins that
//! asked to observe it.
//!
//! The proxy reports a reply without saying which decision it belongs to:
//! the reply names its transaction itself. Call-ID, CSeq and the From tag
//! are copied from the request into every response to it (RFC 3261 §8.2.6),
//! whichever hop wrote the response, so they find the request without the
//! proxy's script keeping an identifier.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::policy::Plugin;
use crate::sip::{self, Method};
use crate::transport::Origin;

/// Which transaction a request or a reply belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    call_id: String,
    cseq: u32,
    method: Method,
    from_tag: Option<String>,
}

impl Key {
    pub(super) fn of_request(request: &sip::Request) -> Option<Key> {
        Key::of(request.call_id(), request.cseq(), request.from_tag())
    }

    pub(super) fn of_response(response: &sip::Response) -> Option<Key> {
        Key::of(response.call_id(), response.cseq(), response.from_tag())
    }

    /// Requests and responses read these the same way (`dialog_accessors`).
    fn of(call_id: Option<&str>, cseq: Option<(u32, Method)>, from_tag: Option<&str>) -> Option<Key> {
        let (cseq, method) = cseq?;
        Some(Key { call_id: call_id?.to_string(), cseq, method, from_tag: from_tag.map(str::to_string) })
    }
}

/// A decided request and the plugins waiting to see its reply.
pub(super) struct Waiting {
    pub(super) observers: Vec<Arc<Plugin>>,
    pub(super) request: sip::Request,
    pub(super) origin: Origin,
    expires: Instant,
}

/// Requests waiting for replies, at most `max` of them, each for `ttl`.
pub(super) struct Pending {
    waiting: Mutex<HashMap<Key, Waiting>>,
    max: usize,
    ttl: Duration,
}

impl Pending {
    pub(super) fn new(max: usize, ttl: Duration) -> Pending {
        Pending { waiting: Mutex::new(HashMap::new()), max, ttl }
    }

    /// Wait for the reply to `request`. False when as many requests as
    /// allowed are waiting already: the request is decided all the same,
    /// without its observation, rather than memory growing without bound.
    pub(super) fn wait(
        &self,
        key: Key,
        observers: Vec<Arc<Plugin>>,
        request: sip::Request,
        origin: Origin,
        now: Instant,
    ) -> bool {
        let mut waiting = self.lock();
        if waiting.len() >= self.max && !waiting.contains_key(&key) {
            return false;
        }
        waiting.insert(key, Waiting { observers, request, origin, expires: now + self.ttl });
        true
    }

    /// The request a reply answers, if it is waiting; it waits no more.
    pub(super) fn take(&self, key: &Key) -> Option<Waiting> {
        self.lock().remove(key)
    }

    /// Forget the requests whose reply did not come in time; how many.
    pub(super) fn purge(&self, now: Instant) -> usize {
        let mut waiting = self.lock();
        let before = waiting.len();
        waiting.retain(|_, w| w.expires > now);
        before - waiting.len()
    }

    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Waiting>> {
        // Plain data: a panic elsewhere cannot leave it half-updated.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Transport;

    fn request(call_id: &str, cseq: u32) -> sip::Request {
        let text = format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK{cseq}\r\n\
             From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:alice@example.com>\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\nContent-Length: 0\r\n\r\n"
        );
        match sip::parse(text.as_bytes()) {
            Ok(sip::Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn origin() -> Origin {
        Origin { transport: Transport::Udp, source: "192.0.2.7:5060".parse().unwrap(), tls_peer: None }
    }

    #[test]
    fn a_reply_finds_its_request_whoever_wrote_it() {
        let pending = Pending::new(10, Duration::from_secs(5));
        let now = Instant::now();
        let r = request("c1", 7);
        assert!(pending.wait(Key::of_request(&r).unwrap(), Vec::new(), r.clone(), origin(), now));
        // A reply from another hop: another Via, a To tag; the same transaction.
        let mut reply = sip::Response::to_request(&r, 200, "OK");
        reply.headers.set("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKother").unwrap();
        reply.headers.set("To", "<sip:alice@example.com>;tag=registrar").unwrap();
        let key = Key::of_response(&reply).unwrap();
        assert!(pending.take(&key).is_some());
        assert!(pending.take(&key).is_none(), "one reply per request");
        let other = sip::Response::to_request(&request("c1", 8), 200, "OK");
        assert!(pending.take(&Key::of_response(&other).unwrap()).is_none(), "another CSeq, another request");
    }

    #[test]
    fn bounded_in_number_and_in_time() {
        let pending = Pending::new(2, Duration::from_secs(5));
        let now = Instant::now();
        for (i, expect) in [(1, true), (2, true), (3, false)] {
            let r = request("c", i);
            assert_eq!(pending.wait(Key::of_request(&r).unwrap(), Vec::new(), r, origin(), now), expect);
        }
        assert_eq!(pending.purge(now + Duration::from_secs(4)), 0);
        assert_eq!(pending.purge(now + Duration::from_secs(5)), 2);
        assert_eq!(pending.len(), 0);
    }
}
