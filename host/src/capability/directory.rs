//! E.164 number to user look-up, the "unique look-up" of OMA SEC-2: a
//! plugin learns which users a number belongs to without reading the
//! directory itself.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use serde::Deserialize;
use sipwarden_grammar::{NumberError, normalize_e164};
use toml::Spanned;

use super::{CapabilityError, line_of, read_config, toml_error};

/// Maps telephone numbers to the URIs of the users they belong to.
pub trait Directory: Send + Sync {
    /// Returns the user URIs for a number, in the directory's order. The
    /// number may be in any form [`normalize_e164`] accepts; a number the
    /// directory does not know yields an empty list.
    fn lookup(&self, e164: &str) -> Result<Vec<String>, DirectoryError>;

    /// Whether a look-up may wait on I/O (the DNS, for ENUM).
    fn may_block(&self) -> bool {
        false
    }
}

/// Why a directory look-up produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The directory's backing service could not be asked; retrying later
    /// may succeed.
    #[error("the number directory is unavailable: {0}")]
    Unavailable(String),
    /// The number is not an E.164 number; retrying will not help.
    #[error("invalid number: {0}")]
    InvalidNumber(#[from] NumberError),
}

type Table = HashMap<String, Vec<String>>;

/// A [`Directory`] read from an operator-edited TOML file:
///
/// ```toml
/// [numbers]
/// "+15551234567" = ["sip:alice@example.com"]
/// "+1 555 765 4321" = ["sip:bob@example.com", "sip:bob-work@example.com"]
/// ```
///
/// Keys are normalized at load time, so two spellings of one number are a
/// configuration error rather than a silently ambiguous look-up.
pub struct FileDirectory {
    path: PathBuf,
    /// Swapped whole on reload: a look-up reads one table, never a mix.
    table: ArcSwap<Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default)]
    numbers: HashMap<Spanned<String>, Vec<Spanned<String>>>,
}

impl FileDirectory {
    /// Loads the directory file at `path`.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, CapabilityError> {
        let path = path.into();
        let table = read_table(&path)?;
        tracing::info!(path = %path.display(), numbers = table.len(), "number directory loaded");
        Ok(FileDirectory { path, table: ArcSwap::from_pointee(table) })
    }

    /// Re-reads the file and swaps the new table in at once. On error the
    /// previous table stays in use, so a typo cannot empty the directory.
    pub fn reload(&self) -> Result<(), CapabilityError> {
        let table = read_table(&self.path)?;
        tracing::info!(path = %self.path.display(), numbers = table.len(), "number directory reloaded");
        self.table.store(Arc::new(table));
        Ok(())
    }
}

impl Directory for FileDirectory {
    fn lookup(&self, e164: &str) -> Result<Vec<String>, DirectoryError> {
        let number = normalize_e164(e164)?;
        Ok(self.table.load().get(&number).cloned().unwrap_or_default())
    }
}

impl fmt::Debug for FileDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileDirectory").field("path", &self.path).field("numbers", &self.table.load().len()).finish()
    }
}

fn read_table(path: &Path) -> Result<Table, CapabilityError> {
    parse_table(&read_config(path)?, path)
}

fn parse_table(text: &str, path: &Path) -> Result<Table, CapabilityError> {
    let file: DirectoryFile = toml::from_str(text).map_err(|error| toml_error(path, text, &error))?;
    let error = |offset: usize, key: &str, message: String| CapabilityError::Config {
        path: path.to_path_buf(),
        line: Some(line_of(text, offset)),
        field: Some(format!("numbers.{key:?}")),
        message,
    };

    // In file order, so that a duplicate is reported against the first
    // spelling of its number.
    let mut entries: Vec<_> = file.numbers.into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);

    let mut table = Table::with_capacity(entries.len());
    let mut first_spelling: HashMap<String, (String, usize)> = HashMap::new();
    for (key, uris) in entries {
        let offset = key.span().start;
        let key = key.into_inner();
        let number = normalize_e164(&key).map_err(|e| error(offset, &key, e.to_string()))?;
        if let Some((first, first_offset)) = first_spelling.get(&number) {
            return Err(error(
                offset,
                &key,
                format!("is the same number ({number}) as {first:?} on line {}", line_of(text, *first_offset)),
            ));
        }
        let mut users = Vec::with_capacity(uris.len());
        for uri in uris {
            if !is_user_uri(uri.get_ref()) {
                return Err(error(
                    uri.span().start,
                    &key,
                    format!("{:?} is not a sip:, sips: or tel: URI", uri.get_ref()),
                ));
            }
            users.push(uri.into_inner());
        }
        first_spelling.insert(number.clone(), (key, offset));
        table.insert(number, users);
    }
    Ok(table)
}

fn is_user_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    ["sip", "sips", "tel"].iter().any(|known| scheme.eq_ignore_ascii_case(known))
        && !rest.is_empty()
        && !rest.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = r#"
[numbers]
"+15551234567" = ["sip:alice@example.com"]
"+1 555 765 4321" = [
    "sip:bob@example.com",
    "sip:bob-work@example.com",
]
"#;

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("numbers.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn lookup_finds_zero_one_or_several_users() {
        let dir = tempfile::tempdir().unwrap();
        let directory = FileDirectory::load(write(&dir, TABLE)).unwrap();
        assert_eq!(directory.lookup("+1 555 000 0000").unwrap(), Vec::<String>::new());
        assert_eq!(directory.lookup("tel:+1-555-123-4567").unwrap(), ["sip:alice@example.com"]);
        assert_eq!(directory.lookup("+15557654321").unwrap(), ["sip:bob@example.com", "sip:bob-work@example.com"]);
        assert!(matches!(
            directory.lookup("alice"),
            Err(DirectoryError::InvalidNumber(NumberError::InvalidCharacter('a')))
        ));
    }

    #[test]
    fn failed_reload_keeps_the_old_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, TABLE);
        let directory = FileDirectory::load(&path).unwrap();

        write(&dir, "[numbers]\n\"+15551234567\" = [\"mailto:alice@example.com\"]\n");
        let error = directory.reload().unwrap_err();
        assert!(error.to_string().contains("is not a sip:"), "{error}");
        assert_eq!(directory.lookup("+15557654321").unwrap().len(), 2);

        std::fs::remove_file(&path).unwrap();
        assert!(matches!(directory.reload(), Err(CapabilityError::Io { .. })));
        assert_eq!(directory.lookup("+15557654321").unwrap().len(), 2);

        write(&dir, "[numbers]\n\"+15557654321\" = [\"sip:carol@example.com\"]\n");
        directory.reload().unwrap();
        assert_eq!(directory.lookup("+15557654321").unwrap(), ["sip:carol@example.com"]);
        assert!(directory.lookup("+15551234567").unwrap().is_empty());
    }

    #[test]
    fn load_errors_name_file_line_and_key() {
        let path = Path::new("numbers.toml");
        let error = |text: &str| parse_table(text, path).unwrap_err().to_string();

        assert_eq!(
            error("[numbers]\n\"+15551234567\" = [\"sip:a@x\"]\n\"+1 (555) 123-4567\" = [\"sip:b@x\"]\n"),
            "numbers.toml:3: field numbers.\"+1 (555) 123-4567\": \
             is the same number (+15551234567) as \"+15551234567\" on line 2"
        );
        assert_eq!(
            error("[numbers]\n\"+1555\" = [\n  \"sip:a@x\",\n  \"alice\",\n]\n"),
            "numbers.toml:4: field numbers.\"+1555\": \"alice\" is not a sip:, sips: or tel: URI"
        );
        assert_eq!(
            error("[numbers]\n\n\"555-1234\" = [\"sip:a@x\"]\n"),
            "numbers.toml:3: field numbers.\"555-1234\": \
             the number has no leading '+' and no global phone-context"
        );
        let unknown = error("[number]\n\"+1555\" = [\"sip:a@x\"]\n");
        assert!(unknown.starts_with("numbers.toml:1: unknown field `number`"), "{unknown}");
        let not_a_list = error("[numbers]\n\"+1555\" = \"sip:a@x\"\n");
        assert!(not_a_list.starts_with("numbers.toml:2: "), "{not_a_list}");
    }

    #[test]
    fn empty_file_is_an_empty_directory() {
        assert!(parse_table("", Path::new("numbers.toml")).unwrap().is_empty());
    }
}
