//! Netstrings (`LEN:PAYLOAD,`, D. J. Bernstein's format), the framing of
//! Kamailio's JSON-RPC client: a length, so a reader never scans a payload
//! for its end, and a trailing comma, so a writer that lost count is caught.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// Why a stream stopped making sense. After any of these the stream cannot
/// be resynchronised: the connection is answered once and closed.
#[derive(Debug, thiserror::Error)]
pub(super) enum NetstringError {
    #[error("a netstring must start with its length in digits, then `:`")]
    BadLength,
    #[error("a netstring of {len} bytes; at most {max} are accepted")]
    TooLong { len: usize, max: usize },
    #[error("a netstring must end with `,`")]
    MissingComma,
    #[error("the connection closed inside a netstring")]
    Truncated,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Read one netstring's payload; `None` at a clean end of stream. Leading
/// white space between netstrings is skipped, as some writers send a line
/// feed after each.
pub(super) async fn read<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, NetstringError> {
    let mut len: usize = 0;
    let mut digits = 0usize;
    loop {
        let buf = reader.fill_buf().await?;
        let Some(&byte) = buf.first() else {
            return if digits == 0 { Ok(None) } else { Err(NetstringError::Truncated) };
        };
        reader.consume(1);
        match byte {
            b'0'..=b'9' => {
                digits += 1;
                len = len
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(usize::from(byte - b'0')))
                    .ok_or(NetstringError::TooLong { len: usize::MAX, max })?;
                if len > max {
                    return Err(NetstringError::TooLong { len, max });
                }
            }
            b':' if digits > 0 => break,
            b' ' | b'\t' | b'\r' | b'\n' if digits == 0 => {}
            _ => return Err(NetstringError::BadLength),
        }
    }
    let mut payload = vec![0; len];
    reader.read_exact(&mut payload).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => NetstringError::Truncated,
        _ => NetstringError::Io(e),
    })?;
    let mut comma = [0u8; 1];
    match reader.read_exact(&mut comma).await {
        Ok(_) if comma[0] == b',' => Ok(Some(payload)),
        Ok(_) => Err(NetstringError::MissingComma),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(NetstringError::Truncated),
        Err(e) => Err(e.into()),
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

    async fn read_all(input: &[u8], max: usize) -> Vec<Result<Option<Vec<u8>>, String>> {
        let mut reader = tokio::io::BufReader::new(input);
        let mut out = Vec::new();
        loop {
            let r = read(&mut reader, max).await.map_err(|e| e.to_string());
            let end = !matches!(r, Ok(Some(_)));
            out.push(r);
            if end {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn frames_and_their_faults() {
        assert_eq!(
            read_all(b"5:hello,\n0:,3:abc,", 10).await,
            [Ok(Some(b"hello".to_vec())), Ok(Some(Vec::new())), Ok(Some(b"abc".to_vec())), Ok(None)]
        );
        assert_eq!(encode(b"hello"), b"5:hello,");
        let last = |v: Vec<Result<Option<Vec<u8>>, String>>| v.last().cloned().unwrap().unwrap_err();
        assert!(last(read_all(b"11:hello world,", 10).await).contains("at most 10"));
        assert!(last(read_all(b"99999999999999999999999:", 10).await).contains("at most"));
        assert!(last(read_all(b"x:", 10).await).contains("length"));
        assert!(last(read_all(b":x,", 10).await).contains("length"));
        assert!(last(read_all(b"5:hello;", 10).await).contains("`,`"));
        assert!(last(read_all(b"5:hel", 10).await).contains("closed inside"));
        assert!(last(read_all(b"5", 10).await).contains("closed inside"));
    }
}
