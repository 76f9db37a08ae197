//! The parts of the RFC 3261 §25 grammar a proxy must check before it relies
//! on a message: tokens, URIs, name-addr values, Via and Call-ID.
//!
//! Header values reach these functions unfolded (one line, LWS already reduced
//! to spaces and tabs), so "linear white space" here is just SP and HT.
//! Errors are short English phrases that [`super::ParseError`] wraps.

use super::error::excerpt;

pub(crate) use sipwarden_grammar::is_token;
use sipwarden_grammar::{Address, HostPort, Params, is_token_char};

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Checks a URI: any absolute URI (RFC 3261 §25.1 `absoluteURI`), and the full
/// SIP-URI structure for `sip:` and `sips:`. Headers (`?h=v`) are refused
/// where RFC 3261 §19.1.1 forbids them, as in a Request-URI. The grammar is
/// the one plugins read URIs with (`sipwarden_grammar::check_uri`).
pub(crate) fn check_uri(uri: &str, allow_headers: bool) -> Result<(), String> {
    sipwarden_grammar::check_uri(uri, allow_headers).map_err(|e| e.to_string())
}

/// A cursor over a header value.
struct Scanner<'a> {
    rest: &'a str,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self { rest: text }
    }

    fn skip_ws(&mut self) -> bool {
        let before = self.rest.len();
        self.rest = self.rest.trim_start_matches(is_ws);
        self.rest.len() < before
    }

    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let end = self.rest.find(|c| !keep(c)).unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }
}

/// The value of the parameter `name` (case-insensitive) in a parameter list
/// such as the one [`address_params`] returns; `None` for a flag, which
/// carries no value (a `;tag` without `=` is no tag).
pub(crate) fn find_param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    Params::parse(params).ok()?.0.get(name).filter(|value| !value.is_empty())
}

/// Parses `( name-addr / addr-spec ) *( SEMI param )` (From, To), checks the
/// display name and the URI, and returns the text of the parameters.
pub(crate) fn address_params(value: &str) -> Result<&str, String> {
    Address::parse(value).map(|address| address.params().as_str()).map_err(|e| e.to_string())
}

/// The parameters of a From or To value the parser has already checked
/// (`check_address`), without checking its URI again: asked on every
/// request (is it inside a dialog?), where the full check is most of the
/// cost. From and To cannot be edited by plugins, so what the parser checked
/// is what is here. `None` for a value that does not split as an address.
pub(crate) fn checked_address_params(value: &str) -> Option<&str> {
    Address::split(value).ok().map(|address| address.params().as_str())
}

/// Checks a From or To value: one address with well-formed parameters.
pub(crate) fn check_address(value: &str) -> Result<(), String> {
    Address::parse(value).map(|_| ()).map_err(|e| e.to_string())
}

/// One `via-parm` located in a Via header value.
pub(crate) struct ViaParm<'a> {
    /// The whole via-parm, trimmed.
    pub text: &'a str,
    /// Its parameters, from the first `;`.
    pub params: &'a str,
}

/// Reads `sent-protocol LWS sent-by *( SEMI via-params )`, stopping before a
/// comma. SLASH and COLON allow white space on both sides (RFC 3261 §25.1).
fn via_parm<'a>(scanner: &mut Scanner<'a>) -> Result<ViaParm<'a>, String> {
    scanner.skip_ws();
    let start = scanner.rest;
    for (index, part) in ["protocol name", "protocol version", "transport"].into_iter().enumerate() {
        if index > 0 {
            scanner.skip_ws();
            if !scanner.eat('/') {
                return Err("the protocol must be name/version/transport".into());
            }
            scanner.skip_ws();
        }
        if scanner.take_while(is_token_char).is_empty() {
            return Err(format!("missing {part}"));
        }
    }
    if !scanner.skip_ws() {
        return Err("no space between protocol and sent-by".into());
    }
    let host = if scanner.peek() == Some('[') {
        let end = scanner.rest.find(']').map_or(scanner.rest.len(), |at| at + 1);
        let (host, rest) = scanner.rest.split_at(end);
        scanner.rest = rest;
        host
    } else {
        scanner.take_while(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
    };
    scanner.skip_ws();
    let port = if scanner.eat(':') {
        scanner.skip_ws();
        Some(scanner.take_while(|c| c.is_ascii_digit()))
    } else {
        None
    };
    let hostport = match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    HostPort::parse(&hostport).map_err(|e| e.to_string())?;
    // The parameters, read as every header parameter list is.
    let params_start = scanner.rest;
    scanner.rest = Params::parse(scanner.rest).map_err(|e| e.to_string())?.1;
    let consumed = |from: &'a str| {
        from.get(..from.len().saturating_sub(scanner.rest.len())).unwrap_or_default().trim_end_matches(is_ws)
    };
    Ok(ViaParm { text: consumed(start), params: consumed(params_start) })
}

/// Checks a Via value: one or more comma-separated via-parms.
pub(crate) fn check_via(value: &str) -> Result<(), String> {
    let mut scanner = Scanner::new(value);
    loop {
        via_parm(&mut scanner)?;
        scanner.skip_ws();
        if !scanner.eat(',') {
            return Ok(());
        }
    }
}

/// The first via-parm of a Via value, if it is well formed.
pub(crate) fn first_via(value: &str) -> Option<ViaParm<'_>> {
    via_parm(&mut Scanner::new(value)).ok()
}

/// `callid = word [ "@" word ]` (RFC 3261 §25.1).
pub(crate) fn check_call_id(value: &str) -> Result<(), String> {
    let is_word =
        |word: &str| !word.is_empty() && word.chars().all(|c| is_token_char(c) || "()<>:\\\"/[]?{}".contains(c));
    let valid = match value.split_once('@') {
        Some((local, host)) => is_word(local) && is_word(host),
        None => is_word(value),
    };
    if valid { Ok(()) } else { Err(format!("{} is not word[@word]", excerpt(value))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vias() {
        let folded = "SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8  ,  SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239";
        assert_eq!(check_via(folded), Ok(()));
        let top = first_via(folded).unwrap();
        assert_eq!(top.text, "SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8");
        assert_eq!(find_param(top.params, "branch"), Some("z9hG4bK9ikj8"));
        assert_eq!(check_via("SIP/2.0/UDP [2001:db8::1]:5060;received=2001:db8::2;rport"), Ok(()));
        for bad in
            ["SIP/2.0/UDP 192.0.2.15;;,;,,", "SIP/2.0 host", "SIP/2.0/UDP", "SIP/2.0/UDPhost", "SIP/2.0/UDP host:port"]
        {
            assert!(check_via(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn call_ids() {
        assert_eq!(check_call_id("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"), Ok(()));
        assert!(check_call_id("a@b@c").is_err());
        assert!(check_call_id("has space").is_err());
        assert!(check_call_id("").is_err());
    }
}
