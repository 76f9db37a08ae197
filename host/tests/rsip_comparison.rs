//! Our SIP grammar against rsip 0.4, the parser the product brief named, on
//! the RFC 4475 torture corpus: which messages each accepts, against the
//! corpus class. docs/DESIGN.md ("The SIP parser is ours, not rsip's")
//! quotes the table this prints (`cargo test -p sipwarden --test
//! rsip_comparison -- --nocapture`); the assertions keep that section true.

use std::path::{Path, PathBuf};

use sipwarden::sip;

/// The corpus sits in `shared/` beside the project root: walk up until a
/// directory holds it.
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/corpus/rfc4475"))
        .find(|dir| dir.join("INDEX.tsv").is_file())
        .expect("shared/corpus/rfc4475 not found above CARGO_MANIFEST_DIR")
}

struct Row {
    file: String,
    class: String,
    ours: bool,
    rsip: bool,
}

fn rows() -> Vec<Row> {
    let dir = corpus_dir();
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).expect("INDEX.tsv");
    index
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let (file, class) = (fields.first()?, fields.get(3)?);
            let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            Some(Row {
                file: file.to_string(),
                class: class.to_string(),
                ours: sip::parse(&bytes).is_ok(),
                rsip: rsip::SipMessage::try_from(bytes.as_slice()).is_ok(),
            })
        })
        .collect()
}

/// Whether the class says a proxy must be able to read the message.
fn must_parse(class: &str) -> bool {
    matches!(class, "valid" | "compat")
}

#[test]
fn both_parsers_over_the_rfc_4475_corpus() {
    let rows = rows();
    assert!(rows.len() >= 40, "the corpus has {} messages", rows.len());
    let word = |accepted: bool| if accepted { "accepts" } else { "refuses" };
    println!("| message | class | sipwarden | rsip 0.4 |");
    println!("|---|---|---|---|");
    for row in &rows {
        println!("| {} | {} | {} | {} |", row.file, row.class, word(row.ours), word(row.rsip));
    }

    println!();
    println!("| class | messages | sipwarden accepts | rsip 0.4 accepts |");
    println!("|---|---|---|---|");
    let mut classes: Vec<&str> = rows.iter().map(|r| r.class.as_str()).collect();
    classes.sort_unstable();
    classes.dedup();
    for class in classes {
        let of_class: Vec<&Row> = rows.iter().filter(|r| r.class == class).collect();
        let ours = of_class.iter().filter(|r| r.ours).count();
        let theirs = of_class.iter().filter(|r| r.rsip).count();
        println!("| {class} | {} | {ours} | {theirs} |", of_class.len());
    }

    // Ours reads every message a proxy must read (the unit tests in
    // host/src/sip/rfc4475_tests.rs say why each other one is refused or kept).
    let refused: Vec<&str> = rows.iter().filter(|r| must_parse(&r.class) && !r.ours).map(|r| r.file.as_str()).collect();
    assert!(refused.is_empty(), "sipwarden refuses messages RFC 4475 says are valid: {refused:?}");

    // The claim docs/DESIGN.md makes of rsip 0.4. If this fails, rsip
    // changed under the lock file: measure again and rewrite that section.
    let rsip_refused: Vec<&str> =
        rows.iter().filter(|r| must_parse(&r.class) && !r.rsip).map(|r| r.file.as_str()).collect();
    println!("\nrsip 0.4 refuses these valid messages: {rsip_refused:?}");
    let rsip_accepted_invalid: Vec<&str> =
        rows.iter().filter(|r| r.class == "invalid" && r.rsip).map(|r| r.file.as_str()).collect();
    println!("rsip 0.4 accepts these invalid messages: {rsip_accepted_invalid:?}");
    assert!(!rsip_refused.is_empty(), "rsip 0.4 now reads every valid message: docs/DESIGN.md is out of date");
}

/// What rsip makes of Request-URIs the proxy routes on, beside ours.
#[test]
fn rsip_misreads_request_uris_that_we_route_on() {
    let uri = "sip:j.user@example.com";
    let ours = sip::SipUri::parse(uri).expect("ours reads it");
    assert_eq!(ours.host(), "example.com");
    let theirs = rsip::Uri::try_from(uri).map(|u| u.host_with_port.host.to_string());
    println!("{uri}: sipwarden host {:?}, rsip 0.4 host {theirs:?}", ours.host());
    assert_ne!(theirs.as_deref().ok(), Some("example.com"), "rsip 0.4 now reads {uri}: update docs/DESIGN.md");

    let v6 = "sip:[::1]:5060";
    let ours = sip::SipUri::parse(v6).expect("ours reads it");
    assert_eq!((ours.host(), ours.port()), ("[::1]", Some(5060)));
    println!("{v6}: rsip 0.4 reads it: {}", rsip::Uri::try_from(v6).is_ok());
}
