//! Reading name-addr header values (From, To, Contact, P-Asserted-Identity)
//! and the URIs in them the way every policy needs to.

use std::borrow::Cow;

/// The text after a quoted display name (`"Bob <x>" <sip:bob@example.com>`
/// gives ` <sip:bob@example.com>`), or the whole value when there is none.
/// The display name may itself contain `<`, `;` or escaped quotes, so it is
/// skipped before a policy looks for the URI. An unterminated quote leaves
/// nothing.
pub fn after_display_name(field: &str) -> &str {
    let Some(quoted) = field.strip_prefix('"') else { return field };
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return &quoted[i + 1..],
            _ => {}
        }
    }
    ""
}

/// A URI part (a SIP user part, RFC 3261 §25.1) with its `%HH` escapes
/// decoded: `%61lice` is `alice`. `None` when an escape is broken or the
/// result is not UTF-8. Borrows when there is nothing to decode.
pub fn unescape(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains('%') {
        return Some(text.into());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            index += 3;
        } else {
            out.push(byte);
            index += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_and_broken_ones_refuse() {
        assert_eq!(unescape("%61lice").as_deref(), Some("alice"));
        assert!(matches!(unescape("alice"), Some(Cow::Borrowed("alice"))));
        assert_eq!(unescape("%2B1%20555").as_deref(), Some("+1 555"));
        for broken in ["a%2", "a%+1", "a%zz", "%ff", "%"] {
            assert_eq!(unescape(broken), None, "{broken}");
        }
    }
}
