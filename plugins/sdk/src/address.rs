//! Reading name-addr header values (From, To, Contact, P-Asserted-Identity)
//! the way every policy needs to.

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
