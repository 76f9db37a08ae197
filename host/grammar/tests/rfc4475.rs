//! The RFC 4475 torture messages, read in place from `shared/corpus/rfc4475`:
//! the Request-URIs, From, To and Contact values of every message, read with
//! this crate, have the outcome the host's parser and registrar give them.

use std::path::{Path, PathBuf};

use sipwarden_grammar::{Address, check_uri, split_list};

/// The corpus sits in `shared/` beside the project root: walk up from the
/// crate until a directory holds it.
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/corpus/rfc4475"))
        .find(|dir| dir.join("INDEX.tsv").is_file())
        .expect("shared/corpus/rfc4475 not found above CARGO_MANIFEST_DIR")
}

fn files() -> Vec<String> {
    let index = std::fs::read_to_string(corpus_dir().join("INDEX.tsv")).unwrap();
    index.lines().skip(1).map(|line| line.split('\t').next().unwrap().to_owned()).collect()
}

/// A message's start line and its header fields, unfolded (continuation
/// lines joined with one space), names as written.
struct Head {
    start: String,
    fields: Vec<(String, String)>,
}

fn head(file: &str) -> Head {
    let bytes = std::fs::read(corpus_dir().join(file)).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line));
    let start = lines.next().unwrap_or_default().to_owned();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim_start_matches([' ', '\t']));
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim_end_matches([' ', '\t']).to_owned(), value.to_owned()));
        }
    }
    for (_, value) in &mut fields {
        *value = value.trim_matches([' ', '\t']).to_owned();
    }
    Head { start, fields }
}

impl Head {
    fn values<'a>(&'a self, names: &'a [&str]) -> impl Iterator<Item = &'a str> {
        self.fields
            .iter()
            .filter(|(name, _)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v.as_str())
    }

    /// The Request-URI of a request whose start line is three parts.
    fn request_uri(&self) -> Option<&str> {
        let parts: Vec<&str> = self.start.split(' ').collect();
        match parts.as_slice() {
            [method, uri, version] if !method.starts_with("SIP/") && version.starts_with("SIP/") => Some(uri),
            _ => None,
        }
    }
}

/// The messages whose Request-URI `check_uri` refuses, as the host's parser
/// does (host/src/sip/rfc4475_tests.rs: `BadRequestUri`). lwsruri, lwsstart
/// and trws fail in their start line, before any URI is read.
const BAD_REQUEST_URIS: [&str; 2] = ["ltgtruri.dat", "escruri.dat"];

/// The messages with a From or To that `Address::parse` refuses, as the
/// host's parser does (`BadHeader { name: "From" | "To" }`).
const BAD_ADDRESSES: [&str; 3] = ["quotbal.dat", "badaspec.dat", "baddn.dat"];

/// The messages with a Contact element that is not an address: badinv01's
/// `;;;;` (RFC 4475 §3.1.2.1) and regbadct's addr-spec with URI headers
/// (§3.1.2.13, which a registrar must refuse).
const BAD_CONTACTS: [&str; 2] = ["badinv01.dat", "regbadct.dat"];

#[test]
fn corpus_is_all_there() {
    assert_eq!(files().len(), 49);
}

#[test]
fn request_uris_have_the_host_parsers_outcome() {
    let mut checked = 0;
    for file in files() {
        let head = head(&file);
        let Some(uri) = head.request_uri() else { continue };
        checked += 1;
        let outcome = check_uri(uri, false);
        assert_eq!(outcome.is_err(), BAD_REQUEST_URIS.contains(&file.as_str()), "{file}: {uri}: {outcome:?}");
    }
    assert_eq!(checked, 41);
}

#[test]
fn from_and_to_have_the_host_parsers_outcome() {
    for file in files() {
        let head = head(&file);
        let outcomes: Vec<_> =
            head.values(&["From", "f", "To", "t"]).map(|value| (value, Address::parse(value))).collect();
        let refused = outcomes.iter().any(|(_, outcome)| outcome.is_err());
        assert_eq!(refused, BAD_ADDRESSES.contains(&file.as_str()), "{file}: {outcomes:?}");
        for (value, outcome) in outcomes {
            if let Ok(address) = outcome {
                assert_eq!(Address::split(value), Ok(address), "{file}: {value}");
            }
        }
    }
}

#[test]
fn contacts_read_as_a_registrar_reads_them() {
    for file in files() {
        let head = head(&file);
        let refused =
            head.values(&["Contact", "m"]).filter(|value| *value != "*").any(|value| match split_list(value) {
                Ok(elements) => elements.into_iter().any(|element| Address::parse(element).is_err()),
                Err(_) => true,
            });
        assert_eq!(refused, BAD_CONTACTS.contains(&file.as_str()), "{file}");
    }
}
