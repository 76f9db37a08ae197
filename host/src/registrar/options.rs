//! Option tags (RFC 3261 §19.2) in Require and Supported: the registrar's
//! own small reading, since it is the only part of sipwarden that acts on
//! them (`outbound`, `path`).

/// Whether a header such as Supported or Require lists the option tag `tag`.
pub(super) fn lists_tag<'a>(values: impl Iterator<Item = &'a str>, tag: &str) -> bool {
    option_tags(values).any(|listed| listed.eq_ignore_ascii_case(tag))
}

/// The option tags of headers such as Supported or Require.
pub(super) fn option_tags<'a>(values: impl Iterator<Item = &'a str>) -> impl Iterator<Item = &'a str> {
    values.flat_map(|value| value.split(',')).map(|tag| tag.trim_matches([' ', '\t'])).filter(|tag| !tag.is_empty())
}
