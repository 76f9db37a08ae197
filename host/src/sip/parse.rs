//! Parsing one whole message, and salvaging the headers of a broken one.

use super::error::{ParseError, excerpt};
use super::headers::Headers;
use super::lexer::{Mode, lex};
use super::message::{Message, Request, Response};
use super::method::Method;
use super::syntax::{check_address, check_call_id, check_uri, check_via};

/// The headers without which no request or response can be handled or
/// answered (RFC 3261 §8.1.1; Max-Forwards is left out because RFC 2543
/// peers do not send it, RFC 4475 §3.4.1).
const REQUIRED: [&str; 5] = ["Via", "From", "To", "Call-ID", "CSeq"];

/// Headers that may appear only once (RFC 4475 §3.3.8). Content-Length
/// may repeat with one value; [`content_length`] checks that.
const SINGLE: [&str; 5] = ["From", "To", "Call-ID", "CSeq", "Max-Forwards"];

/// Parses one whole message: a datagram, or what [`super::frame()`] cut from a
/// stream.
///
/// The start line, the Request-URI and the headers a proxy relies on (Via,
/// From, To, Call-ID, CSeq, Max-Forwards, Content-Length) are checked against
/// the RFC 3261 grammar; other headers are kept as text. A body longer than
/// Content-Length is cut to it (RFC 3261 §18.3); without Content-Length the
/// body is the rest of the datagram.
pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
    let lexed = lex(bytes, Mode::Strict)?;
    let start_line = std::str::from_utf8(lexed.start_line).map_err(|_| ParseError::NotUtf8 { line: 1 })?;
    let headers = lexed.headers;
    if is_status_line(lexed.start_line) {
        let (status, reason) = status_line(start_line)?;
        check_headers(&headers, None)?;
        let body = datagram_body(&headers, lexed.body)?;
        Ok(Message::Response(Response { status, reason: reason.to_owned(), headers, body }))
    } else {
        let (method, uri) = request_line(start_line)?;
        check_headers(&headers, Some(&method))?;
        let body = datagram_body(&headers, lexed.body)?;
        Ok(Message::Request(Request { method, uri: uri.to_owned(), headers, body }))
    }
}

/// The headers of a request that failed to [`parse()`], read leniently
/// (malformed lines skipped), so that a proxy can still answer it with
/// [`Response::to_request_headers`]. `None` when the message is a response
/// (never answered) or lacks one of Via, From, To, Call-ID and CSeq, without
/// which no answer can be built (RFC 3261 §8.2.6).
pub fn salvage_request_headers(bytes: &[u8]) -> Option<Headers> {
    let lexed = lex(bytes, Mode::Salvage).ok()?;
    let complete = REQUIRED.iter().all(|name| lexed.headers.get(name).is_some());
    (complete && !is_status_line(lexed.start_line)).then_some(lexed.headers)
}

fn is_status_line(start_line: &[u8]) -> bool {
    start_line.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"SIP/"))
}

/// `Method SP Request-URI SP SIP-Version`, with exactly one space each: RFC
/// 4475 §3.1.2.8-10 expect extra white space to be refused.
fn request_line(line: &str) -> Result<(Method, &str), ParseError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadStartLine(
            "expected Method, Request-URI and SIP-Version separated by single spaces".into(),
        ));
    };
    check_version(version)?;
    let method =
        method.parse().map_err(|_| ParseError::BadStartLine(format!("{} is not a method", excerpt(method))))?;
    check_uri(uri, false).map_err(ParseError::BadRequestUri)?;
    Ok((method, uri))
}

/// `SIP-Version SP Status-Code SP Reason-Phrase`. A missing space before an
/// empty reason phrase is tolerated: the reason carries no meaning.
fn status_line(line: &str) -> Result<(u16, &str), ParseError> {
    let (version, rest) = line.split_once(' ').unwrap_or((line, ""));
    check_version(version)?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = Some(code)
        .filter(|code| code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|status| (100..=699).contains(status))
        .ok_or_else(|| ParseError::BadStartLine(format!("{} is not a status code from 100 to 699", excerpt(code))))?;
    if reason.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ParseError::BadStartLine("control character in the reason phrase".into()));
    }
    Ok((status, reason))
}

/// Only SIP/2.0 is spoken; another well-formed version is answered with 505
/// (RFC 3261 §8.2.2; RFC 4475 §3.1.2.16), anything else with 400.
fn check_version(version: &str) -> Result<(), ParseError> {
    if version.eq_ignore_ascii_case("SIP/2.0") {
        return Ok(());
    }
    let numbers = version
        .get(..4)
        .filter(|prefix| prefix.eq_ignore_ascii_case("SIP/"))
        .and_then(|_| version.get(4..))
        .and_then(|numbers| numbers.split_once('.'));
    match numbers {
        Some((major, minor)) if is_number(major) && is_number(minor) => {
            Err(ParseError::UnsupportedVersion(excerpt(version)))
        }
        _ => Err(ParseError::BadStartLine(format!("{} is not a SIP version", excerpt(version)))),
    }
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Checks the headers a proxy relies on. `method` is the request method, or
/// `None` for a response.
fn check_headers(headers: &Headers, method: Option<&Method>) -> Result<(), ParseError> {
    if let Some(missing) = REQUIRED.into_iter().find(|name| headers.get(name).is_none()) {
        return Err(ParseError::MissingHeader(missing));
    }
    if let Some(repeated) = SINGLE.into_iter().find(|name| headers.get_all(name).nth(1).is_some()) {
        return Err(ParseError::DuplicateHeader(repeated));
    }
    for via in headers.get_all("Via") {
        check_via(via).map_err(|reason| ParseError::header("Via", reason))?;
    }
    for name in ["From", "To"] {
        if let Some(value) = headers.get(name) {
            check_address(value).map_err(|reason| ParseError::header(name, reason))?;
        }
    }
    if let Some(call_id) = headers.get("Call-ID") {
        check_call_id(call_id).map_err(|reason| ParseError::header("Call-ID", reason))?;
    }
    if let Some(cseq) = headers.get("CSeq") {
        let (_, cseq_method) = parse_cseq(cseq).map_err(|reason| ParseError::header("CSeq", reason))?;
        // RFC 3261 §8.1.1.5: the same method for every request, ACK and
        // CANCEL included (RFC 4475 §3.1.2.17-18).
        if let Some(method) = method.filter(|method| **method != cseq_method) {
            return Err(ParseError::header(
                "CSeq",
                format!(
                    "method {} differs from the request method {}",
                    excerpt(cseq_method.as_str()),
                    excerpt(method.as_str())
                ),
            ));
        }
    }
    if let Some(max_forwards) = headers.get("Max-Forwards") {
        parse_max_forwards(max_forwards).map_err(|reason| ParseError::header("Max-Forwards", reason))?;
    }
    Ok(())
}

/// `CSeq = 1*DIGIT LWS Method`, the number within 32 bits (RFC 3261 §8.1.1.5).
pub(crate) fn parse_cseq(value: &str) -> Result<(u32, Method), String> {
    let mut words = value.split([' ', '\t']).filter(|word| !word.is_empty());
    let (Some(number), Some(method), None) = (words.next(), words.next(), words.next()) else {
        return Err("must be a sequence number and a method".into());
    };
    if !is_number(number) {
        return Err(format!("{} is not a sequence number", excerpt(number)));
    }
    let number = number.parse().map_err(|_| "the sequence number does not fit in 32 bits".to_owned())?;
    let method = method.parse().map_err(|_| format!("{} is not a method", excerpt(method)))?;
    Ok((number, method))
}

/// `Max-Forwards = 1*DIGIT`, from 0 to 255 (RFC 3261 §20.22).
pub(crate) fn parse_max_forwards(value: &str) -> Result<u32, String> {
    Some(value)
        .filter(|value| is_number(value))
        .and_then(|value| value.parse::<u8>().ok())
        .map(u32::from)
        .ok_or_else(|| format!("{} is not a number from 0 to 255", excerpt(value)))
}

/// The declared body length. Several Content-Length fields are accepted only
/// when they agree; otherwise the body's end is unknowable (RFC 4475 §3.3.9).
pub(crate) fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut declared = None;
    for value in headers.get_all("Content-Length") {
        if !is_number(value) {
            return Err(ParseError::header(
                "Content-Length",
                format!("{} is not a non-negative integer", excerpt(value)),
            ));
        }
        let length =
            value.parse::<usize>().map_err(|_| ParseError::header("Content-Length", "the length is too large"))?;
        if declared.is_some_and(|previous| previous != length) {
            return Err(ParseError::header("Content-Length", "several different lengths"));
        }
        declared = Some(length);
    }
    Ok(declared)
}

/// The body of a datagram: what Content-Length declares, or everything after
/// the header section when it is absent (RFC 3261 §18.3).
fn datagram_body(headers: &Headers, body: &[u8]) -> Result<Vec<u8>, ParseError> {
    let Some(declared) = content_length(headers)? else {
        return Ok(body.to_vec());
    };
    let kept = body.get(..declared).ok_or(ParseError::Truncated { declared, available: body.len() })?;
    if kept.len() < body.len() {
        tracing::debug!(
            declared,
            discarded = body.len() - kept.len(),
            "discarding bytes after the body Content-Length declares"
        );
    }
    Ok(kept.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADERS: &str = "Via: SIP/2.0/UDP client.example.com;branch=z9hG4bK74bf9\r\n\
        From: Alice <sip:alice@example.com>;tag=9fxced76sl\r\n\
        To: <sip:bob@example.com>\r\n\
        Call-ID: 3848276298220188511@example.com\r\n";

    fn request(start_line: &str, extra: &str, body: &str) -> Vec<u8> {
        format!("{start_line}\r\n{HEADERS}{extra}\r\n{body}").into_bytes()
    }

    fn message(extra: &str, body: &str) -> Vec<u8> {
        request("MESSAGE sip:bob@example.com SIP/2.0", &format!("CSeq: 1 MESSAGE\r\n{extra}"), body)
    }

    #[test]
    fn parses_a_request() {
        let Ok(Message::Request(request)) = parse(&message("Max-Forwards: 70\r\nContent-Length: 5\r\n", "hello"))
        else {
            panic!("not a request");
        };
        assert_eq!(request.method, Method::MESSAGE);
        assert_eq!(request.uri, "sip:bob@example.com");
        assert_eq!(request.headers.len(), 7);
        assert_eq!(request.body, b"hello");
    }

    #[test]
    fn bare_lf_and_compact_forms() {
        let text = "\nINFO sip:b@example.com SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK1\nf: <sip:a@example.com>;tag=1\n\
            t: sip:b@example.com\ni: x@y\nCSeq: 2 INFO\nl: 3\n\nabc";
        let Ok(Message::Request(request)) = parse(text.as_bytes()) else { panic!("bare LF refused") };
        assert_eq!(request.call_id(), Some("x@y"));
        assert_eq!(request.via_branch(), Some("z9hG4bK1"));
        assert_eq!(
            request.headers.iter().map(|h| h.name()).collect::<Vec<_>>(),
            ["Via", "From", "To", "Call-ID", "CSeq", "Content-Length"]
        );
        assert_eq!(request.body, b"abc");
    }

    #[test]
    fn content_length_frames_the_datagram_body() {
        let parse_body = |extra: &str, body: &str| parse(&message(extra, body)).map(|m| m.body().to_vec());
        assert_eq!(parse_body("Content-Length: 5\r\n", "hello"), Ok(b"hello".to_vec()));
        // Extra bytes after the declared body are not part of the message.
        assert_eq!(parse_body("Content-Length: 2\r\n", "hello"), Ok(b"he".to_vec()));
        // Without Content-Length a datagram's body is all that follows.
        assert_eq!(parse_body("", "hello"), Ok(b"hello".to_vec()));
        // Repeating the same length is harmless.
        assert_eq!(parse_body("l: 5\r\nContent-Length: 05\r\n", "hello"), Ok(b"hello".to_vec()));
        assert_eq!(
            parse_body("Content-Length: 6\r\n", "hello"),
            Err(ParseError::Truncated { declared: 6, available: 5 })
        );
        for bad in ["-1", "+5", "5 5", "", "0x5", "99999999999999999999999"] {
            let error = parse_body(&format!("Content-Length: {bad}\r\n"), "hello");
            assert!(matches!(error, Err(ParseError::BadHeader { name: "Content-Length", .. })), "{bad}: {error:?}");
        }
        let error = parse_body("Content-Length: 5\r\nl: 4\r\n", "hello");
        assert!(matches!(error, Err(ParseError::BadHeader { name: "Content-Length", .. })));
    }

    #[test]
    fn request_lines() {
        for good in ["MESSAGE sip:bob@example.com SIP/2.0", "MESSAGE sip:bob@example.com sip/2.0"] {
            assert!(parse(&request(good, "CSeq: 1 MESSAGE\r\n", "")).is_ok(), "{good}");
        }
        for (bad, expected) in [
            ("MESSAGE  sip:bob@example.com SIP/2.0", "BadStartLine"),
            ("MESSAGE sip:bob@example.com SIP/2.0 ", "BadStartLine"),
            ("MESSAGE\tsip:bob@example.com\tSIP/2.0", "BadStartLine"),
            ("MESSAGE sip:bob@example.com", "BadStartLine"),
            ("MESSAGE sip:bob@example.com HTTP/1.1", "BadStartLine"),
            ("MESSAGE sip:bob@example.com SIP/1.0", "UnsupportedVersion"),
            ("MESS@GE sip:bob@example.com SIP/2.0", "BadStartLine"),
            ("MESSAGE <sip:bob@example.com> SIP/2.0", "BadRequestUri"),
            ("MESSAGE sip:bob@example.com;lr;; SIP/2.0", "BadRequestUri"),
        ] {
            let error = parse(&request(bad, "CSeq: 1 MESSAGE\r\n", "")).unwrap_err();
            assert!(format!("{error:?}").starts_with(expected), "{bad}: {error:?}");
        }
        let start_line = b"MESSAGE sip:b\xffob@example.com SIP/2.0\r\n\r\n";
        assert_eq!(parse(start_line), Err(ParseError::NotUtf8 { line: 1 }));
    }

    #[test]
    fn status_lines() {
        let response = |start_line: &str| {
            parse(&request(start_line, "CSeq: 1 INVITE\r\n", "")).map(|m| match m {
                Message::Response(response) => (response.status, response.reason),
                Message::Request(_) => panic!("{start_line} is a response"),
            })
        };
        assert_eq!(response("SIP/2.0 180 Ringing"), Ok((180, "Ringing".into())));
        assert_eq!(response("SIP/2.0 699 "), Ok((699, String::new())));
        assert_eq!(response("SIP/2.0 200"), Ok((200, String::new())));
        assert_eq!(response("SIP/2.0 404 Not  Found  "), Ok((404, "Not  Found  ".into())));
        for bad in [
            "SIP/2.0 99 Low",
            "SIP/2.0 700 High",
            "SIP/2.0 2000 OK",
            "SIP/2.0  200 OK",
            "SIP/2.0 2x0 OK",
            "SIP/2.0 200 O\u{7}K",
        ] {
            assert!(matches!(response(bad), Err(ParseError::BadStartLine(_))), "{bad}");
        }
        assert!(matches!(response("SIP/3.0 200 OK"), Err(ParseError::UnsupportedVersion(_))));
    }

    #[test]
    fn required_and_single_headers() {
        for name in REQUIRED {
            let mut text = String::from_utf8(message("", "")).unwrap();
            let start = text.find(&format!("\r\n{name}:")).unwrap() + 2;
            let end = start + text[start..].find("\r\n").unwrap() + 2;
            text.replace_range(start..end, "");
            assert_eq!(parse(text.as_bytes()), Err(ParseError::MissingHeader(name)));
        }
        assert_eq!(parse(&message("t: <sip:carol@example.com>\r\n", "")), Err(ParseError::DuplicateHeader("To")));
        assert_eq!(
            parse(&message("Max-Forwards: 70\r\nMax-Forwards: 69\r\n", "")),
            Err(ParseError::DuplicateHeader("Max-Forwards"))
        );
    }

    #[test]
    fn cseq_and_max_forwards() {
        let cseq = |value: &str| parse(&request("ACK sip:bob@example.com SIP/2.0", &format!("CSeq: {value}\r\n"), ""));
        assert!(cseq("4294967295 ACK").is_ok());
        assert!(cseq("  0007 \t ACK").is_ok());
        for bad in ["4294967296 ACK", "1 INVITE", "1 ack", "ACK", "1", "1 ACK extra", "-1 ACK", "1 A@K"] {
            assert!(matches!(cseq(bad), Err(ParseError::BadHeader { name: "CSeq", .. })), "{bad}");
        }
        for (value, expected) in [("0", Some(0)), ("255", Some(255)), ("070", Some(70))] {
            let Ok(Message::Request(request)) = parse(&message(&format!("Max-Forwards: {value}\r\n"), "")) else {
                panic!("{value}")
            };
            assert_eq!(request.max_forwards(), expected);
        }
        for bad in ["256", "-1", "+1", "", "seventy"] {
            let error = parse(&message(&format!("Max-Forwards: {bad}\r\n"), ""));
            assert!(matches!(error, Err(ParseError::BadHeader { name: "Max-Forwards", .. })), "{bad}");
        }
    }

    #[test]
    fn salvage_answers_only_answerable_requests() {
        let broken = request("INVITE  sip:bob@example.com SIP/2.0", "CSeq: 1 INVITE\r\nBad Line\r\n", "");
        assert!(parse(&broken).is_err());
        let headers = salvage_request_headers(&broken).unwrap();
        assert_eq!(headers.get("CSeq"), Some("1 INVITE"));
        let response = request("SIP/2.0 200 OK", "CSeq: 1 INVITE\r\n", "");
        assert_eq!(salvage_request_headers(&response), None);
        let no_cseq = request("INVITE sip:bob@example.com SIP/2.0", "", "");
        assert_eq!(salvage_request_headers(&no_cseq), None);
        assert_eq!(salvage_request_headers(b"\r\n"), None);
    }
}
