//! Quoting untrusted text for an error message.

/// Quotes untrusted text for an error message or reason phrase: in double
/// quotes, control characters (line breaks included) escaped, at most 48
/// characters kept and `…` after a cut. What it returns can never inject a
/// header or a log line.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 48;
    let mut out: String = text.chars().take(MAX).flat_map(char::escape_debug).collect();
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    format!("\"{out}\"")
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn excerpts_are_quoted_escaped_and_short() {
        assert_eq!(excerpt("a\r\nb"), "\"a\\r\\nb\"");
        assert_eq!(excerpt(&"x".repeat(50)), format!("\"{}…\"", "x".repeat(48)));
    }
}
