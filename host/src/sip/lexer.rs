//! The lexical pass: finds the header section, splits it into fields,
//! unfolds continuation lines and canonicalizes names. It knows nothing of
//! what the fields mean; `parse` checks that.
//!
//! It skips the line breaks that may precede a message (RFC 3261 §7.5) and,
//! beyond the RFC, takes a bare LF as a line end: some peers send them, and
//! nothing else could be meant.

use super::error::ParseError;
use super::headers::Headers;
use super::syntax::is_token;

/// What to do with a malformed header line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Fail: the message is not forwarded.
    Strict,
    /// Skip the line: enough to answer or frame a broken message.
    Salvage,
}

/// A message cut into its three parts.
pub(crate) struct Lexed<'a> {
    /// Not yet checked to be UTF-8: a salvaging caller only peeks at it.
    pub start_line: &'a [u8],
    pub headers: Headers,
    pub body: &'a [u8],
}

/// Skips the line breaks that may precede a message (RFC 3261 §7.5).
fn skip_leading_line_breaks(mut bytes: &[u8]) -> &[u8] {
    while let Some(rest) = bytes.strip_prefix(b"\r\n").or_else(|| bytes.strip_prefix(b"\n")) {
        bytes = rest;
    }
    bytes
}

/// The length of the header section including the empty line that ends it,
/// or `None` if that line has not arrived. `bytes` starts at the start line.
pub(crate) fn head_len(bytes: &[u8]) -> Option<usize> {
    let mut offset = 0;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        offset += line.len();
        if offset > line.len() && (line == b"\n" || line == b"\r\n") {
            return Some(offset);
        }
    }
    None
}

/// Cuts `bytes` into start line, header fields and body. In salvage mode only
/// an empty message fails, and a missing empty line makes the whole rest headers.
pub(crate) fn lex(bytes: &[u8], mode: Mode) -> Result<Lexed<'_>, ParseError> {
    let bytes = skip_leading_line_breaks(bytes);
    if bytes.is_empty() {
        return Err(ParseError::Empty);
    }
    let (head, body) = match head_len(bytes) {
        Some(len) => bytes.split_at(len),
        None if mode == Mode::Salvage => (bytes, &[][..]),
        None => return Err(ParseError::Unterminated),
    };
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty())
        .zip(1..);
    let start_line = lines.next().map_or(&[][..], |(line, _)| line);

    let mut fields = Fields { headers: Headers::new(), open: None };
    for (line, number) in lines {
        if let Err(error) = fields.line(line, number) {
            match mode {
                Mode::Strict => return Err(error),
                Mode::Salvage => fields.open = None,
            }
        }
    }
    fields.close();
    Ok(Lexed { start_line, headers: fields.headers, body })
}

/// Header fields being collected; the last one stays open for continuation lines.
struct Fields<'a> {
    headers: Headers,
    open: Option<(&'a str, String)>,
}

impl<'a> Fields<'a> {
    fn line(&mut self, line: &'a [u8], number: usize) -> Result<(), ParseError> {
        let bad = |reason| ParseError::BadLine { line: number, reason };
        let continuation = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if !continuation {
            self.close();
        }
        let text = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8 { line: number })?;
        if text.contains('\r') {
            return Err(bad("stray carriage return"));
        }
        let text = text.trim_matches([' ', '\t']);
        if continuation {
            // RFC 3261 §7.3.1: a line break plus white space is one SP.
            let (_, value) = self.open.as_mut().ok_or(bad("continuation line without a header"))?;
            if !value.is_empty() && !text.is_empty() {
                value.push(' ');
            }
            value.push_str(text);
            return Ok(());
        }
        let (name, value) = text.split_once(':').ok_or(bad("no colon after the header name"))?;
        // HCOLON allows white space before the colon.
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(bad("the header name is not a token"));
        }
        self.open = Some((name, value.trim_start_matches([' ', '\t']).to_owned()));
        Ok(())
    }

    fn close(&mut self) {
        if let Some((name, value)) = self.open.take() {
            self.headers.push_parsed(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(lexed: &Lexed<'_>) -> Vec<(String, String)> {
        lexed.headers.iter().map(|h| (h.name().to_string(), h.value().to_string())).collect()
    }

    #[test]
    fn unfolds_and_expands_compact_names() {
        let lexed = lex(
            b"\r\n\r\nINVITE sip:a@b SIP/2.0\r\nTO :\r\n sip:b@c ;\r\n\t tag = 1\r\nf: <sip:a@b>\r\nX-Empty:\r\n\r\nbody",
            Mode::Strict,
        )
        .unwrap();
        assert_eq!(lexed.start_line, b"INVITE sip:a@b SIP/2.0");
        assert_eq!(
            fields(&lexed),
            [
                ("To".into(), "sip:b@c ; tag = 1".into()),
                ("From".into(), "<sip:a@b>".into()),
                ("X-Empty".into(), String::new())
            ]
        );
        assert_eq!(lexed.body, b"body");
    }

    #[test]
    fn bare_lf_ends_lines() {
        let lexed =
            lex(b"\nOPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h\r\nCall-ID: x\n\nrest\r\n", Mode::Strict).unwrap();
        assert_eq!(lexed.headers.get("i"), Some("x"));
        assert_eq!(lexed.headers.get("v"), Some("SIP/2.0/UDP h"));
        assert_eq!(lexed.body, b"rest\r\n");
    }

    #[test]
    fn header_section_boundaries() {
        assert_eq!(head_len(b"A\r\nB: c\r\n\r\nbody"), Some(11));
        assert_eq!(head_len(b"A\nB: c\n\nbody"), Some(8));
        assert_eq!(head_len(b"A\r\nB: c\r\n"), None);
        assert!(matches!(lex(b"\r\n\r\n", Mode::Strict), Err(ParseError::Empty)));
        assert!(matches!(lex(b"A\r\nB: c\r\n", Mode::Strict), Err(ParseError::Unterminated)));
    }

    #[test]
    fn strict_mode_reports_the_line() {
        for (message, line, reason) in [
            (&b"A\r\n continued\r\n\r\n"[..], 2, "continuation line without a header"),
            (b"A\r\nVia: x\r\nno colon here\r\n\r\n", 3, "no colon after the header name"),
            (b"A\r\nBad Name: x\r\n\r\n", 2, "the header name is not a token"),
            (b"A\r\nX: a\rb\r\n\r\n", 2, "stray carriage return"),
        ] {
            match lex(message, Mode::Strict) {
                Err(ParseError::BadLine { line: l, reason: r }) => {
                    assert_eq!((l, r), (line, reason))
                }
                _ => panic!("{message:?} should fail on line {line}"),
            }
        }
        assert!(matches!(lex(b"A\r\nX: \xff\r\n\r\n", Mode::Strict), Err(ParseError::NotUtf8 { line: 2 })));
    }

    #[test]
    fn salvage_mode_skips_broken_lines() {
        let lexed = lex(
            b"A\r\nVia: v\r\nBad Name: x\r\n folded onto the bad line\r\nX: \xff\r\nTo: t\r\nCSeq: 1 A",
            Mode::Salvage,
        )
        .unwrap();
        assert_eq!(
            fields(&lexed),
            [("Via".into(), "v".into()), ("To".into(), "t".into()), ("CSeq".into(), "1 A".into())]
        );
    }
}
