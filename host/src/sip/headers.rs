//! Header names and the ordered header list.

use super::error::{FieldError, excerpt};
use super::syntax::is_token;

/// Compact forms (RFC 3261 §7.3.3 and the RFCs that registered more) with the
/// full names they stand for. Look-ups fold case.
const COMPACT: [(char, &str); 20] = [
    ('a', "Accept-Contact"),
    ('b', "Referred-By"),
    ('c', "Content-Type"),
    ('d', "Request-Disposition"),
    ('e', "Content-Encoding"),
    ('f', "From"),
    ('i', "Call-ID"),
    ('j', "Reject-Contact"),
    ('k', "Supported"),
    ('l', "Content-Length"),
    ('m', "Contact"),
    ('n', "Identity-Info"),
    ('o', "Event"),
    ('r', "Refer-To"),
    ('s', "Subject"),
    ('t', "To"),
    ('u', "Allow-Events"),
    ('v', "Via"),
    ('x', "Session-Expires"),
    ('y', "Identity"),
];

/// Registered names that have no compact form.
const WELL_KNOWN: [&str; 56] = [
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Authentication-Info",
    "Authorization",
    "Call-Info",
    "Content-Disposition",
    "Content-Language",
    "CSeq",
    "Date",
    "Error-Info",
    "Expires",
    "History-Info",
    "In-Reply-To",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Access-Network-Info",
    "P-Asserted-Identity",
    "P-Associated-URI",
    "P-Called-Party-ID",
    "P-Charging-Vector",
    "P-Preferred-Identity",
    "P-Visited-Network-ID",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Reply-To",
    "Replaces",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Security-Client",
    "Security-Server",
    "Security-Verify",
    "Server",
    "Service-Route",
    "SIP-ETag",
    "SIP-If-Match",
    "Subscription-State",
    "Timestamp",
    "Unsupported",
    "User-Agent",
    "Warning",
    "WWW-Authenticate",
];

/// Every registered name by its lowercase spelling. Look-ups by name happen
/// on every header a policy reads, so this is a hash map with a fast hasher.
static BY_LOWERCASE: std::sync::LazyLock<rustc_hash::FxHashMap<String, &'static str>> =
    std::sync::LazyLock::new(|| {
        WELL_KNOWN
            .into_iter()
            .chain(COMPACT.into_iter().map(|(_, full)| full))
            .map(|name| (name.to_ascii_lowercase(), name))
            .collect()
    });

/// The registered name equal to `name` but for case.
fn full_name(name: &str) -> Option<&'static str> {
    // Longer than any registered name: not one of them.
    let mut buf = [0u8; 32];
    let lower = buf.get_mut(..name.len())?;
    lower.copy_from_slice(name.as_bytes());
    lower.make_ascii_lowercase();
    let lower = std::str::from_utf8(lower).ok()?;
    BY_LOWERCASE.get(lower).copied()
}

/// The full name a compact form stands for, or the name itself.
fn expand_compact(name: &str) -> &str {
    let mut chars = name.chars();
    if let (Some(letter), None) = (chars.next(), chars.next()) {
        let letter = letter.to_ascii_lowercase();
        if let Some((_, full)) = COMPACT.iter().find(|(compact, _)| *compact == letter) {
            return full;
        }
    }
    name
}

/// The canonical form of a header name: compact forms expanded, well-known
/// names in the case the RFCs write them, any other name as sent.
///
/// Every name the module stores goes through this, so a header reads the same
/// whichever form the peer used: `canonical_name("f")`, `("FROM")` and
/// `("From")` are all `"From"`.
pub fn canonical_name(name: &str) -> &str {
    let expanded = expand_compact(name);
    if expanded.len() != name.len() {
        return expanded;
    }
    full_name(name).unwrap_or(name)
}

/// One header field: its canonical name and its value, unfolded and trimmed.
///
/// A `Header` is checked when it is made (the name a token, the value one
/// line), so adding one to [`Headers`] cannot fail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Header {
    name: String,
    value: String,
}

impl Header {
    /// A field from caller input: a line break in a value would let it
    /// smuggle extra header lines into the serialized message.
    pub fn new(name: &str, value: impl Into<String>) -> Result<Header, FieldError> {
        let value = value.into();
        if !is_token(name) {
            return Err(FieldError::NotToken(excerpt(name)));
        }
        let name = canonical_name(name).to_owned();
        if value.contains(['\r', '\n']) {
            return Err(FieldError::LineBreak(name));
        }
        Ok(Header { name, value })
    }

    /// A field the host builds from parts already checked: pieces of fields
    /// the lexer read (a Via or Route entry put back), numbers, tokens and
    /// the advertised host (checked when the configuration loads). No check
    /// is repeated, so adding it cannot fail.
    pub(crate) fn from_checked_parts(name: &'static str, value: String) -> Header {
        debug_assert!(is_token(name) && !value.contains(['\r', '\n']), "{name}: {value:?}");
        Header { name: canonical_name(name).to_owned(), value }
    }

    /// The canonical name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value, on one line (a folded value is unfolded, RFC 3261
    /// §7.3.1). A list such as `a, b` is one value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The name and the value, for a caller that keeps them apart.
    pub fn into_parts(self) -> (String, String) {
        (self.name, self.value)
    }
}

/// The header fields of a message, in order.
///
/// Order matters in SIP (Via, Route, Record-Route are read top-down), so this
/// is a list, not a map. Names are stored canonical (see [`canonical_name`])
/// and every look-up folds case and accepts compact forms. Each field keeps
/// its own line: `Via: a, b` stays one field whose value is `a, b`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<Header>,
}

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    /// The values of every field named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        // Stored names are canonical, and canonical names differ from any
        // other spelling of a full name only by case: expanding compact forms
        // is all a look-up needs.
        let name = expand_compact(name);
        self.fields.iter().filter(move |field| field.name.eq_ignore_ascii_case(name)).map(|field| field.value.as_str())
    }

    /// Every field, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.fields.iter()
    }

    /// The number of fields (not of comma-separated values).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there is no field at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Appends a field.
    pub fn push(&mut self, name: &str, value: impl Into<String>) -> Result<(), FieldError> {
        self.append(Header::new(name, value)?);
        Ok(())
    }

    /// Inserts a field before all others: how a proxy adds its Via.
    pub fn push_front(&mut self, name: &str, value: impl Into<String>) -> Result<(), FieldError> {
        self.prepend(Header::new(name, value)?);
        Ok(())
    }

    /// Appends a field already checked.
    pub fn append(&mut self, field: Header) {
        self.fields.push(field);
    }

    /// Inserts a field already checked before all others.
    pub fn prepend(&mut self, field: Header) {
        self.fields.insert(0, field);
    }

    /// Replaces every field named `name` by one holding `value`, at the place
    /// of the first; appends it when there was none.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> Result<(), FieldError> {
        self.replace(Header::new(name, value)?);
        Ok(())
    }

    /// [`Headers::set`] with a field already checked.
    pub fn replace(&mut self, field: Header) {
        let name = field.name.clone();
        let mut field = Some(field);
        self.fields.retain_mut(|existing| {
            if !existing.name.eq_ignore_ascii_case(&name) {
                return true;
            }
            // The first field of that name takes the new value; later ones go.
            match field.take() {
                Some(new) => {
                    *existing = new;
                    true
                }
                None => false,
            }
        });
        self.fields.extend(field);
    }

    /// Removes every field named `name`; returns how many there were.
    pub fn remove(&mut self, name: &str) -> usize {
        let name = canonical_name(name);
        let before = self.fields.len();
        self.fields.retain(|field| !field.name.eq_ignore_ascii_case(name));
        before - self.fields.len()
    }

    /// Appends a field the lexer already checked.
    pub(crate) fn push_parsed(&mut self, name: &str, value: String) {
        self.fields.push(Header { name: canonical_name(name).to_owned(), value });
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(headers: &Headers) -> Vec<(&str, &str)> {
        headers.iter().map(|h| (h.name.as_str(), h.value.as_str())).collect()
    }

    #[test]
    fn canonical_names() {
        for (sent, canonical) in [
            ("f", "From"),
            ("F", "From"),
            ("FROM", "From"),
            ("i", "Call-ID"),
            ("call-id", "Call-ID"),
            ("cseq", "CSeq"),
            ("www-authenticate", "WWW-Authenticate"),
            ("v", "Via"),
            ("l", "Content-Length"),
            ("m", "Contact"),
            ("o", "Event"),
            ("u", "Allow-Events"),
            ("y", "Identity"),
            ("n", "Identity-Info"),
            ("x", "Session-Expires"),
            ("event", "Event"),
            ("max-forwards", "Max-Forwards"),
            ("p-asserted-identity", "P-Asserted-Identity"),
            ("X-Custom", "X-Custom"),
            ("q", "q"),
            ("", ""),
        ] {
            assert_eq!(canonical_name(sent), canonical, "{sent}");
        }
    }

    #[test]
    fn look_ups_fold_case_and_compact_forms() {
        let mut headers = Headers::new();
        headers.push("f", "<sip:a@example.com>;tag=1").unwrap();
        headers.push("x-thing", "one").unwrap();
        headers.push("X-THING", "two").unwrap();
        for name in ["f", "F", "from", "FROM", "From"] {
            assert_eq!(headers.get(name), Some("<sip:a@example.com>;tag=1"));
        }
        assert_eq!(headers.get_all("X-Thing").collect::<Vec<_>>(), ["one", "two"]);
        assert_eq!(headers.get("To"), None);
        assert_eq!(headers.iter().next().map(|h| h.name.as_str()), Some("From"));
    }

    #[test]
    fn editing() {
        let mut headers = Headers::new();
        headers.push("Via", "SIP/2.0/UDP b").unwrap();
        headers.push("Route", "<sip:r1>").unwrap();
        headers.push("v", "SIP/2.0/UDP c").unwrap();
        headers.push("Route", "<sip:r2>").unwrap();
        headers.push_front("VIA", "SIP/2.0/UDP a").unwrap();
        assert_eq!(headers.get_all("via").collect::<Vec<_>>(), ["SIP/2.0/UDP a", "SIP/2.0/UDP b", "SIP/2.0/UDP c"]);

        headers.set("route", "<sip:only>").unwrap();
        assert_eq!(
            names(&headers),
            [("Via", "SIP/2.0/UDP a"), ("Via", "SIP/2.0/UDP b"), ("Route", "<sip:only>"), ("Via", "SIP/2.0/UDP c")]
        );
        headers.set("Max-Forwards", "69").unwrap();
        assert_eq!(headers.iter().last().map(|h| h.value.as_str()), Some("69"));

        assert_eq!(headers.remove("v"), 3);
        assert_eq!(headers.remove("Via"), 0);
        assert_eq!(names(&headers), [("Route", "<sip:only>"), ("Max-Forwards", "69")]);
        assert_eq!(headers.len(), 2);
    }

    #[test]
    fn refuses_what_would_break_serialization() {
        let mut headers = Headers::new();
        assert!(matches!(headers.push("X-A", "a\r\nInjected: yes"), Err(FieldError::LineBreak(_))));
        assert!(matches!(headers.push("Bad Name", "a"), Err(FieldError::NotToken(_))));
        assert!(matches!(headers.set("", "a"), Err(FieldError::NotToken(_))));
        assert!(headers.is_empty());
    }
}
