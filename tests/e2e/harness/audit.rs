//! The proxy's audit trail (`[audit] path`): JSON Lines, one record a line,
//! each with a `time` (RFC 3339, UTC) the host adds.

use std::path::Path;

use serde_json::{Map, Value};

/// Every record of the trail at `path`, in order. An error names the first
/// line that is not a JSON object, and a last line without its newline (a
/// torn write): strict durability writes each record whole.
pub fn read_trail(path: &Path) -> Result<Vec<Map<String, Value>>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("read {}: {e}", path.display())),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        let last = text.lines().last().unwrap_or_default();
        return Err(format!("{}: the last line is torn (no newline): {last:?}", path.display()));
    }
    text.lines()
        .enumerate()
        .map(|(i, line)| match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(record)) => Ok(record),
            Ok(other) => Err(format!("{} line {}: not a JSON object: {other}", path.display(), i + 1)),
            Err(e) => Err(format!("{} line {}: not JSON ({e}): {line:?}", path.display(), i + 1)),
        })
        .collect()
}

/// Whether `text` is an RFC 3339 date-time in UTC (`Z`), such as
/// `2026-11-28T01:17:15.443Z`, with plausible field values.
pub fn is_rfc3339_utc(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes.get(range.clone()).filter(|b| b.iter().all(u8::is_ascii_digit)).map(|_| text[range].parse::<u32>().ok())
    };
    let (Some(Some(_year)), Some(Some(month)), Some(Some(day))) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let (Some(Some(hour)), Some(Some(minute)), Some(Some(second))) = (digits(11..13), digits(14..16), digits(17..19))
    else {
        return false;
    };
    let separators = bytes.get(4) == Some(&b'-')
        && bytes.get(7) == Some(&b'-')
        && bytes.get(10) == Some(&b'T')
        && bytes.get(13) == Some(&b':')
        && bytes.get(16) == Some(&b':');
    let rest = &text[19.min(text.len())..];
    let fraction_ok = match rest.strip_prefix('.') {
        Some(fraction) => {
            let digits = fraction.trim_end_matches('Z');
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && fraction.ends_with('Z')
        }
        None => rest == "Z",
    };
    separators
        && fraction_ok
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60
}

/// The record without its `time`, after checking that it has one in
/// RFC 3339 (UTC); the failure names the record.
pub fn without_time(record: &Map<String, Value>) -> Value {
    let mut record = record.clone();
    match record.remove("time") {
        Some(Value::String(time)) if is_rfc3339_utc(&time) => Value::Object(record),
        other => panic!("record without an RFC 3339 UTC time ({other:?}): {record:?}"),
    }
}
