//! Messages: their accessors, their serialization and the responses a proxy
//! builds itself.

use std::borrow::Cow;
use std::hash::{DefaultHasher, Hash, Hasher};

use super::error::ParseError;
use super::headers::Headers;
use super::method::Method;
use super::parse::{parse_cseq, parse_max_forwards};
use super::syntax::{address_params, check_uri, checked_address_params, find_param, first_via};

/// A SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request (RFC 3261 §7.1).
    Request(Request),
    /// A response (RFC 3261 §7.2), which goes back along the request's Vias.
    Response(Response),
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method of the request line.
    pub method: Method,
    /// The Request-URI. [`super::parse()`] and [`Request::set_uri`] check it;
    /// assign it directly only from trusted text.
    pub uri: String,
    /// The header fields, in order.
    pub headers: Headers,
    /// The body, e.g. an SDP offer. [`Request::to_bytes`] writes its length
    /// as Content-Length, whatever the headers say.
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// From 100 to 699.
    pub status: u16,
    /// May be empty.
    pub reason: String,
    /// The header fields, in order.
    pub headers: Headers,
    /// The body. [`Response::to_bytes`] writes its length as
    /// Content-Length, whatever the headers say.
    pub body: Vec<u8>,
}

impl Message {
    /// The header fields, whichever kind of message this is.
    pub fn headers(&self) -> &Headers {
        match self {
            Self::Request(request) => &request.headers,
            Self::Response(response) => &response.headers,
        }
    }

    /// The header fields, to edit.
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Self::Request(request) => &mut request.headers,
            Self::Response(response) => &mut response.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        match self {
            Self::Request(request) => &request.body,
            Self::Response(response) => &response.body,
        }
    }

    /// The message on the wire; see [`Request::to_bytes`].
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Request(request) => request.to_bytes(),
            Self::Response(response) => response.to_bytes(),
        }
    }
}

/// Accessors that read the same headers in requests and responses. They
/// return `None` when the header is absent or too malformed to read, which a
/// message from [`super::parse()`] never is.
macro_rules! dialog_accessors {
    () => {
        /// The Call-ID: with the From and To tags, what identifies a dialog
        /// (RFC 3261 §12).
        pub fn call_id(&self) -> Option<&str> {
            self.headers.get("Call-ID")
        }

        /// The CSeq sequence number and method.
        pub fn cseq(&self) -> Option<(u32, Method)> {
            parse_cseq(self.headers.get("CSeq")?).ok()
        }

        /// The first via-parm of the first Via field: the hop a response to
        /// this message goes back to.
        pub fn top_via(&self) -> Option<&str> {
            Some(first_via(self.headers.get("Via")?)?.text)
        }

        /// The `branch` parameter of the top via-parm: the transaction id
        /// (RFC 3261 §17.2.3).
        pub fn via_branch(&self) -> Option<&str> {
            find_param(first_via(self.headers.get("Via")?)?.params, "branch")
        }

        /// The `tag` parameter of From: the requesting UA's half of the
        /// dialog id (RFC 3261 §19.3).
        pub fn from_tag(&self) -> Option<&str> {
            find_param(checked_address_params(self.headers.get("From")?)?, "tag")
        }

        /// The `tag` parameter of To: the answering UA's half, absent from a
        /// request outside a dialog.
        pub fn to_tag(&self) -> Option<&str> {
            find_param(checked_address_params(self.headers.get("To")?)?, "tag")
        }
    };
}

impl Request {
    dialog_accessors!();

    /// Replaces the Request-URI with `uri` if it is a valid one.
    pub fn set_uri(&mut self, uri: &str) -> Result<(), ParseError> {
        check_uri(uri, false).map_err(ParseError::BadRequestUri)?;
        self.uri = uri.to_owned();
        Ok(())
    }

    /// How many more hops the request may take (RFC 3261 §8.1.1.6): the
    /// proxy answers 483 at 0.
    pub fn max_forwards(&self) -> Option<u32> {
        parse_max_forwards(self.headers.get("Max-Forwards")?).ok()
    }

    /// The request on the wire: CRLF line ends, headers in order under their
    /// canonical names, and one Content-Length equal to the body length, in
    /// place of the first Content-Length field or after the other headers.
    pub fn to_bytes(&self) -> Vec<u8> {
        let start_line = format!("{} {} SIP/2.0", self.method, one_line(&self.uri));
        serialize(&start_line, &self.headers, &self.body)
    }
}

impl Response {
    dialog_accessors!();

    /// The response a proxy or server sends itself to `request` (RFC 3261
    /// §8.2.6): see [`Response::to_request_headers`].
    pub fn to_request(request: &Request, status: u16, reason: &str) -> Response {
        Self::to_request_headers(&request.headers, status, reason)
    }

    /// A response built from a request's headers alone, so that a request
    /// that failed to parse can be answered from what
    /// [`super::salvage_request_headers`] recovered.
    ///
    /// It copies every Via in order, From, To, Call-ID and CSeq, and has an
    /// empty body. Above 100 a To without a tag gets one, derived from the
    /// request so that a retransmission is answered with the same tag.
    pub fn to_request_headers(request: &Headers, status: u16, reason: &str) -> Response {
        let mut headers = Headers::new();
        for via in request.get_all("Via") {
            headers.push_parsed("Via", via.to_owned());
        }
        if let Some(from) = request.get("From") {
            headers.push_parsed("From", from.to_owned());
        }
        if let Some(to) = request.get("To") {
            let tagged = address_params(to).is_ok_and(|params| find_param(params, "tag").is_some());
            let to = if status > 100 && !tagged { format!("{to};tag={}", local_tag(request)) } else { to.to_owned() };
            headers.push_parsed("To", to);
        }
        for name in ["Call-ID", "CSeq"] {
            if let Some(value) = request.get(name) {
                headers.push_parsed(name, value.to_owned());
            }
        }
        // Content-Length is written by `to_bytes`, after any header the
        // caller adds (a challenge, a registrar's Contacts).
        Response { status, reason: reason.to_owned(), headers, body: Vec::new() }
    }

    /// The response on the wire; see [`Request::to_bytes`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let start_line = format!("SIP/2.0 {:03} {}", self.status, one_line(&self.reason));
        serialize(&start_line, &self.headers, &self.body)
    }
}

/// A To tag that identifies the request's transaction: the same for its
/// retransmissions, which repeat these headers byte for byte.
fn local_tag(request: &Headers) -> String {
    let mut hasher = DefaultHasher::new();
    for name in ["Call-ID", "From", "CSeq"] {
        request.get(name).hash(&mut hasher);
    }
    request.get("Via").and_then(first_via).map(|via| via.text).hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The fields assigned directly may hold anything; a line break in them would
/// let the text forge header lines, so it is sent as a space.
fn one_line(text: &str) -> Cow<'_, str> {
    if text.contains(['\r', '\n']) { Cow::Owned(text.replace(['\r', '\n'], " ")) } else { Cow::Borrowed(text) }
}

fn serialize(start_line: &str, headers: &Headers, body: &[u8]) -> Vec<u8> {
    let length = body.len().to_string();
    // Sized exactly: a message kept for retransmissions then holds no spare
    // capacity, and `Bytes::from` takes the vector without a copy or a
    // second allocation.
    let size = start_line.len()
        + 2
        + fields(headers, &length).map(|(name, value)| name.len() + value.len() + 4).sum::<usize>()
        + 2
        + body.len();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(start_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in fields(headers, &length) {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    debug_assert_eq!(out.len(), size, "the size computed for the message");
    out
}

/// The header fields as written: in order, with one Content-Length, the
/// body's `length`, where the first one stood (or at the end).
fn fields<'a>(headers: &'a Headers, length: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
    let mut length_written = false;
    let given = headers.into_iter().filter_map(move |header| {
        if header.name() != "Content-Length" {
            return Some((header.name(), header.value()));
        }
        if std::mem::replace(&mut length_written, true) { None } else { Some(("Content-Length", length)) }
    });
    let has_length = headers.into_iter().any(|header| header.name() == "Content-Length");
    given.chain((!has_length).then_some(("Content-Length", length)))
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
        v: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds , SIP/2.0/UDP relay.example.com;branch=z9hG4bK1\r\n\
        Via: SIP/2.0/TCP origin.example.com;branch=z9hG4bK0\r\n\
        Max-Forwards: 70\r\n\
        t: Bob <sip:bob@example.com>\r\n\
        f: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n\
        i: a84b4c76e66710@pc33.example.com\r\n\
        CSeq: 314159 INVITE\r\n\
        l: 5\r\n\
        X-Custom: kept as sent\r\n\
        \r\n\
        v=0\r\n";

    fn invite() -> Request {
        match parse(INVITE) {
            Ok(Message::Request(request)) => request,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn accessors() {
        let request = invite();
        assert_eq!(request.call_id(), Some("a84b4c76e66710@pc33.example.com"));
        assert_eq!(request.cseq(), Some((314159, Method::INVITE)));
        assert_eq!(request.top_via(), Some("SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds"));
        assert_eq!(request.via_branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(request.from_tag(), Some("1928301774"));
        assert_eq!(request.to_tag(), None);
        assert_eq!(request.max_forwards(), Some(70));
    }

    #[test]
    fn serializes_canonically() {
        let mut request = invite();
        request.headers.push_front("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1").unwrap();
        request.headers.set("Max-Forwards", "69").unwrap();
        let expected = "INVITE sip:bob@example.com SIP/2.0\r\n\
            Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n\
            Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds , SIP/2.0/UDP relay.example.com;branch=z9hG4bK1\r\n\
            Via: SIP/2.0/TCP origin.example.com;branch=z9hG4bK0\r\n\
            Max-Forwards: 69\r\n\
            To: Bob <sip:bob@example.com>\r\n\
            From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n\
            Call-ID: a84b4c76e66710@pc33.example.com\r\n\
            CSeq: 314159 INVITE\r\n\
            Content-Length: 5\r\n\
            X-Custom: kept as sent\r\n\
            \r\n\
            v=0\r\n";
        assert_eq!(String::from_utf8(request.to_bytes()).unwrap(), expected);
        assert_eq!(parse(expected.as_bytes()), Ok(Message::Request(request)));
    }

    #[test]
    fn content_length_always_matches_the_body() {
        let mut request = invite();
        request.body = b"longer body".to_vec();
        let text = String::from_utf8(request.to_bytes()).unwrap();
        assert!(text.contains("\r\nContent-Length: 11\r\nX-Custom"));
        assert_eq!(text.matches("Content-Length").count(), 1);

        request.headers.remove("Content-Length");
        request.headers.push("l", "999").unwrap();
        request.headers.push("Content-Length", "998").unwrap();
        let text = String::from_utf8(request.to_bytes()).unwrap();
        assert!(text.ends_with("X-Custom: kept as sent\r\nContent-Length: 11\r\n\r\nlonger body"));
        assert_eq!(text.matches("Content-Length").count(), 1);

        request.headers.remove("l");
        assert!(String::from_utf8(request.to_bytes()).unwrap().ends_with("Content-Length: 11\r\n\r\nlonger body"));
    }

    #[test]
    fn assigned_fields_cannot_forge_lines() {
        let mut request = invite();
        request.uri = "sip:x SIP/2.0\r\nInjected: yes".into();
        assert!(!String::from_utf8(request.to_bytes()).unwrap().contains("\r\nInjected"));
        assert!(request.set_uri("sip:carol@example.com;lr").is_ok());
        assert_eq!(request.uri, "sip:carol@example.com;lr");
        assert!(matches!(request.set_uri("sip:carol@example.com\r\nX: y"), Err(ParseError::BadRequestUri(_))));
        assert_eq!(request.uri, "sip:carol@example.com;lr");
    }

    #[test]
    fn responses_to_a_request() {
        let request = invite();
        let response = Response::to_request(&request, 486, "Busy Here");
        let text = String::from_utf8(response.to_bytes()).unwrap();
        let tag = response.to_tag().unwrap().to_owned();
        assert_eq!(
            text,
            format!(
                "SIP/2.0 486 Busy Here\r\n\
                Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds , SIP/2.0/UDP relay.example.com;branch=z9hG4bK1\r\n\
                Via: SIP/2.0/TCP origin.example.com;branch=z9hG4bK0\r\n\
                From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n\
                To: Bob <sip:bob@example.com>;tag={tag}\r\n\
                Call-ID: a84b4c76e66710@pc33.example.com\r\n\
                CSeq: 314159 INVITE\r\n\
                Content-Length: 0\r\n\r\n"
            )
        );
        assert!(matches!(parse(text.as_bytes()), Ok(Message::Response(_))));

        // A retransmission gets the same tag; another transaction another one.
        assert_eq!(Response::to_request(&invite(), 486, "Busy Here").to_tag(), Some(tag.as_str()));
        let mut next = invite();
        next.headers.set("CSeq", "314160 INVITE").unwrap();
        assert_ne!(Response::to_request(&next, 486, "Busy Here").to_tag(), Some(tag.as_str()));

        // 100 Trying has no tag; a To that has one keeps it.
        assert_eq!(Response::to_request(&request, 100, "Trying").to_tag(), None);
        let mut in_dialog = invite();
        in_dialog.headers.set("To", "<sip:bob@example.com>;tag=abc").unwrap();
        let response = Response::to_request(&in_dialog, 200, "OK");
        assert_eq!(response.headers.get("To"), Some("<sip:bob@example.com>;tag=abc"));
        assert_eq!((response.call_id(), response.cseq()), (request.call_id(), request.cseq()));
    }
}
