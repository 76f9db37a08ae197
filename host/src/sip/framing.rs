//! Cutting messages out of a stream transport (TCP, TLS): RFC 3261 §18.3.

use super::error::ParseError;
use super::lexer::{Mode, head_len, lex};
use super::parse::content_length;

/// What the start of a stream buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet to know; read more and call again.
    Incomplete,
    /// That many bytes of keep-alive to consume (RFC 5626 §4.4.1): 4 is a
    /// CRLFCRLF ping, which the receiver answers with a CRLF pong; 2 (CRLF) is
    /// a pong or a stray line break, and 1 a bare LF.
    KeepAlive(usize),
    /// The first message is that many bytes long, body included: hand them
    /// to [`super::parse()`].
    Message(usize),
}

/// Finds where the first message in `buf` ends.
///
/// On a stream Content-Length is mandatory, since nothing else marks the end
/// of the body. Errors mean the stream cannot be resynchronized and should be
/// closed; [`ParseError::TooLarge`] comes as soon as the header section or the
/// declared total exceeds `max_message`, without waiting for the bytes.
/// Header lines that are malformed are skipped here: [`super::parse()`] reports
/// them once the message is cut, so it can still be answered.
pub fn frame(buf: &[u8], max_message: usize) -> Result<Frame, ParseError> {
    match buf {
        [] | [b'\r'] | [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] => return Ok(Frame::Incomplete),
        [b'\r', b'\n', b'\r', b'\n', ..] => return Ok(Frame::KeepAlive(4)),
        [b'\r', b'\n', ..] => return Ok(Frame::KeepAlive(2)),
        [b'\n', ..] => return Ok(Frame::KeepAlive(1)),
        _ => {}
    }
    let too_large = ParseError::TooLarge { limit: max_message };
    let Some(head) = head_len(buf) else {
        // The header section is already longer than the buffer.
        return if buf.len() >= max_message { Err(too_large) } else { Ok(Frame::Incomplete) };
    };
    let headers = lex(buf.get(..head).unwrap_or_default(), Mode::Salvage)?.headers;
    let body = content_length(&headers)?.ok_or(ParseError::MissingHeader("Content-Length"))?;
    let total = head.checked_add(body).filter(|total| *total <= max_message).ok_or(too_large)?;
    Ok(if buf.len() >= total { Frame::Message(total) } else { Frame::Incomplete })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
        From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\
        Content-Length: 5\r\n\r\nhello";

    #[test]
    fn waits_for_the_whole_message() {
        for cut in 1..OPTIONS.len() {
            assert_eq!(frame(&OPTIONS[..cut], 4096), Ok(Frame::Incomplete), "cut at {cut}");
        }
        assert_eq!(frame(OPTIONS, 4096), Ok(Frame::Message(OPTIONS.len())));
    }

    #[test]
    fn two_messages_in_one_buffer() {
        let mut buf = OPTIONS.to_vec();
        buf.extend_from_slice(b"\r\n\r\n");
        buf.extend_from_slice(&OPTIONS[..OPTIONS.len() - 2]);
        let Ok(Frame::Message(first)) = frame(&buf, 4096) else { panic!("first message") };
        assert_eq!(&buf[..first], OPTIONS);
        let rest = &buf[first..];
        assert_eq!(frame(rest, 4096), Ok(Frame::KeepAlive(4)));
        assert_eq!(frame(&rest[4..], 4096), Ok(Frame::Incomplete));
        buf.extend_from_slice(b"lo");
        assert_eq!(frame(&buf[first + 4..], 4096), Ok(Frame::Message(OPTIONS.len())));
    }

    #[test]
    fn keep_alives() {
        assert_eq!(frame(b"", 100), Ok(Frame::Incomplete));
        assert_eq!(frame(b"\r", 100), Ok(Frame::Incomplete));
        assert_eq!(frame(b"\r\n", 100), Ok(Frame::Incomplete));
        assert_eq!(frame(b"\r\n\r", 100), Ok(Frame::Incomplete));
        assert_eq!(frame(b"\r\n\r\n", 100), Ok(Frame::KeepAlive(4)));
        assert_eq!(frame(b"\r\nOPTIONS", 100), Ok(Frame::KeepAlive(2)));
        assert_eq!(frame(b"\nOPTIONS", 100), Ok(Frame::KeepAlive(1)));
    }

    #[test]
    fn too_large_without_waiting() {
        // The header section alone passes the limit before it is complete.
        assert_eq!(frame(&OPTIONS[..60], 60), Err(ParseError::TooLarge { limit: 60 }));
        assert_eq!(frame(&OPTIONS[..59], 60), Ok(Frame::Incomplete));
        // The declared total passes it while the body has not arrived.
        let head = OPTIONS.len() - 5;
        assert_eq!(frame(&OPTIONS[..head], head + 4), Err(ParseError::TooLarge { limit: head + 4 }));
        assert_eq!(frame(OPTIONS, OPTIONS.len()), Ok(Frame::Message(OPTIONS.len())));
        let huge = b"MESSAGE sip:a@b SIP/2.0\r\nl: 99999999999999999999999\r\n\r\n";
        assert!(matches!(frame(huge, 1 << 16), Err(ParseError::BadHeader { name: "Content-Length", .. })));
        let overflow = format!("MESSAGE sip:a@b SIP/2.0\r\nl: {}\r\n\r\n", usize::MAX);
        assert_eq!(frame(overflow.as_bytes(), 1 << 16), Err(ParseError::TooLarge { limit: 1 << 16 }));
    }

    #[test]
    fn content_length_is_mandatory_on_a_stream() {
        let message = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n";
        assert_eq!(frame(message, 4096), Err(ParseError::MissingHeader("Content-Length")));
        let compact = b"OPTIONS sip:a@b SIP/2.0\nl: 2\n\nhi";
        assert_eq!(frame(compact, 4096), Ok(Frame::Message(compact.len())));
        let conflicting = b"OPTIONS sip:a@b SIP/2.0\r\nl: 2\r\nContent-Length: 3\r\n\r\nhi";
        assert!(matches!(frame(conflicting, 4096), Err(ParseError::BadHeader { name: "Content-Length", .. })));
    }
}
