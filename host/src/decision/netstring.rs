//! Netstrings (`LEN:PAYLOAD,`, D. J. Bernstein's format), the framing of
//! Kamailio's JSON-RPC client: a length, so a reader never scans a payload
//! for its end, and a trailing comma, so a writer that lost count is caught.

use bytes::{Bytes, BytesMut};

/// Why a stream stopped making sense. After any of these the stream cannot
/// be resynchronised: the connection is answered once and closed.
#[derive(Debug, thiserror::Error)]
pub(super) enum NetstringError {
    #[error("a netstring must start with its length in digits, then `:`")]
    BadLength,
    #[error("a netstring longer than {max} bytes")]
    TooLong { max: usize },
    #[error("a netstring must end with `,`")]
    MissingComma,
    #[error("the connection closed inside a netstring")]
    Truncated,
}

/// Netstrings cut out of bytes as they arrive. Reading into [`buffer`]
/// and taking frames are separate steps, so that a read can be abandoned
/// (in a `select!`) without losing a byte.
///
/// [`buffer`]: Decoder::buffer
pub(super) struct Decoder {
    buffer: BytesMut,
    max: usize,
}

impl Decoder {
    /// A decoder refusing payloads over `max` bytes.
    pub(super) fn new(max: usize) -> Decoder {
        Decoder { buffer: BytesMut::with_capacity(8192), max }
    }

    /// Where the next bytes read go.
    pub(super) fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buffer
    }

    /// Whether bytes of an unfinished netstring are waiting.
    pub(super) fn is_mid_frame(&self) -> bool {
        self.buffer.iter().any(|b| !b.is_ascii_whitespace())
    }

    /// The next whole netstring's payload, if the buffer holds one. White
    /// space between netstrings is skipped, as some writers send a line
    /// feed after each.
    pub(super) fn next_frame(&mut self) -> Result<Option<Bytes>, NetstringError> {
        let start = self.buffer.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let mut len: usize = 0;
        let mut at = start;
        loop {
            let Some(&byte) = self.buffer.get(at) else { return Ok(None) };
            match byte {
                b'0'..=b'9' => {
                    len = len
                        .checked_mul(10)
                        .and_then(|l| l.checked_add(usize::from(byte - b'0')))
                        .filter(|&l| l <= self.max)
                        .ok_or(NetstringError::TooLong { max: self.max })?;
                }
                b':' if at > start => break,
                _ => return Err(NetstringError::BadLength),
            }
            at += 1;
        }
        let payload = at + 1;
        let Some(&end) = self.buffer.get(payload + len) else { return Ok(None) };
        if end != b',' {
            return Err(NetstringError::MissingComma);
        }
        let mut frame = self.buffer.split_to(payload + len + 1);
        frame.truncate(payload + len);
        Ok(Some(frame.split_off(payload).freeze()))
    }
}

/// One payload as a netstring.
pub(super) fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 12);
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(payload);
    out.push(b',');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` in pieces of `step` bytes, taking frames as they come.
    fn frames(input: &[u8], step: usize, max: usize) -> (Vec<Vec<u8>>, Option<String>) {
        let mut decoder = Decoder::new(max);
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            decoder.buffer().extend_from_slice(piece);
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => out.push(frame.to_vec()),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e.to_string())),
                }
            }
        }
        let truncated = decoder.is_mid_frame().then(|| NetstringError::Truncated.to_string());
        (out, truncated)
    }

    #[test]
    fn frames_and_their_faults_whatever_the_pieces() {
        for step in [1, 2, 7, 100] {
            let (got, error) = frames(b"5:hello,\n0:,3:abc,", step, 10);
            assert_eq!(got, [b"hello".to_vec(), Vec::new(), b"abc".to_vec()], "pieces of {step}");
            assert_eq!(error, None);
        }
        assert_eq!(encode(b"hello"), b"5:hello,");
        let error = |input: &[u8]| frames(input, 3, 10).1.unwrap_or_default();
        assert!(error(b"11:hello world,").contains("longer than 10"));
        assert!(error(b"99999999999999999999999:").contains("longer than"));
        assert!(error(b"x:").contains("length"));
        assert!(error(b":x,").contains("length"));
        assert!(error(b"5:hello;").contains("`,`"));
        assert!(error(b"5:hel").contains("closed inside"));
        assert!(error(b"5").contains("closed inside"));
    }
}
