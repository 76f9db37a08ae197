//! Signed plugins: which components an operator lets load.
//!
//! Signatures are the community's, not a format of ours: the WebAssembly
//! signatures design (github.com/wasm-signatures/design) as the `wasmsign2`
//! crate implements it, for components as for core modules. An Ed25519
//! signature covers the SHA-256 of every section of the file but the
//! signature's own, so no byte of the code can change unnoticed. It travels
//! either *embedded*, as a `signature` custom section first in the file
//! (wasmtime skips custom sections), or *detached*, in `NAME.wasm.sig` beside
//! the component. `wasmsign2 sign`/`verify` and `sipwarden sign`/`verify`
//! make and check the same signatures, and take the same keys: wasmsign2's
//! own files, PEM, DER, or OpenSSH `ssh-ed25519` keys.
//!
//! What is signed is the component. The manifest beside it is the
//! operator's own grant of capabilities and configuration, reviewed where it
//! is written, and pinned to the component by its `sha256` if the operator
//! wants both tied together.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmsign2::{Module, PublicKey, PublicKeySet, SecretKey, Section, SignatureData, WSError};

/// The detached signature of a component: `NAME.wasm.sig` beside `NAME.wasm`.
pub fn signature_path(wasm: &Path) -> PathBuf {
    let mut name = wasm.as_os_str().to_os_string();
    name.push(".sig");
    PathBuf::from(name)
}

/// The keys whose signatures an operator accepts (`[plugins] trusted-keys`).
/// With none, signatures are not required and not checked.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<TrustedKey>,
}

#[derive(Debug, Clone)]
struct TrustedKey {
    /// The file it was read from, as configured: how the operator names it.
    file: PathBuf,
    key: PublicKey,
    fingerprint: String,
}

/// Who signed a component that was let in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Signer {
    /// The trusted key's file, as `[plugins] trusted-keys` names it.
    pub key_file: PathBuf,
    /// The key's fingerprint, as `ssh-keygen -l` prints it for the same key:
    /// `SHA256:` and the unpadded base64 of the SHA-256 of its OpenSSH form.
    pub fingerprint: String,
    /// Whether the signature came from `NAME.wasm.sig` rather than the file.
    pub detached: bool,
}

/// Why a trusted key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The key file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file holds no Ed25519 public key in a format wasmsign2 reads.
    #[error(
        "{path}: not an Ed25519 public key (expected a wasmsign2 key file, PEM, DER, or OpenSSH `ssh-ed25519` lines)"
    )]
    NotAKey {
        /// The key file.
        path: PathBuf,
    },
    /// The file holds a secret key: a signing key belongs with whoever
    /// signs, never in a proxy's configuration.
    #[error("{path}: a secret key; give the public key (the `.pub` of the pair)")]
    Secret {
        /// The key file.
        path: PathBuf,
    },
}

/// Why a component's signature does not let it in.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// Trusted keys are configured and the component carries no signature,
    /// embedded or detached.
    #[error(
        "not signed, and [plugins] trusted-keys requires a signature (embedded, or detached in `NAME.wasm.sig` beside it)"
    )]
    Missing,
    /// The signature is intact, but no trusted key made it.
    #[error("signed by a key that is not trusted{}", key_id_note(key_ids))]
    Untrusted {
        /// The key identifiers the signatures carry, hex (empty: none given).
        key_ids: Vec<String>,
    },
    /// The component's bytes are not the ones that were signed (or the
    /// signature's were changed): a byte changed after signing.
    #[error("the signature does not match the component: it was changed after it was signed")]
    Altered,
    /// The signature cannot be read at all.
    #[error("the signature cannot be read: {0}")]
    Malformed(#[source] WSError),
}

fn key_id_note(key_ids: &[String]) -> String {
    match key_ids {
        [] => String::new(),
        ids => format!(" (key id {})", ids.join(", ")),
    }
}

impl TrustedKeys {
    /// No keys: signatures are neither required nor checked.
    pub fn none() -> TrustedKeys {
        TrustedKeys::default()
    }

    /// Read each key file. A file of OpenSSH lines may hold several keys,
    /// as an `authorized_keys` file does; every one is trusted.
    pub fn load(files: &[PathBuf]) -> Result<TrustedKeys, KeyError> {
        let mut keys = Vec::new();
        for file in files {
            let bytes = std::fs::read(file).map_err(|source| KeyError::Read { path: file.clone(), source })?;
            for key in read_public_keys(&bytes).ok_or_else(|| {
                if SecretKey::from_any(&bytes).is_ok() {
                    KeyError::Secret { path: file.clone() }
                } else {
                    KeyError::NotAKey { path: file.clone() }
                }
            })? {
                let fingerprint = fingerprint(&key);
                keys.push(TrustedKey { file: file.clone(), key, fingerprint });
            }
        }
        Ok(TrustedKeys { keys })
    }

    /// Whether a signature is required: at least one key is trusted.
    pub fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The trusted keys' fingerprints, in configuration order.
    pub fn fingerprints(&self) -> impl Iterator<Item = (&Path, &str)> {
        self.keys.iter().map(|k| (k.file.as_path(), k.fingerprint.as_str()))
    }

    /// Let a component in, or say why not. With no trusted keys every
    /// component is let in, unchecked (`Ok(None)`); otherwise a signature by
    /// one of them is required (`Ok(Some(signer))`, the first trusted key in
    /// configuration order that signed it). `detached` is the contents of
    /// `NAME.wasm.sig` when there is one.
    pub fn admit(&self, bytes: &[u8], detached: Option<&[u8]>) -> Result<Option<Signer>, SignatureError> {
        if !self.required() {
            return Ok(None);
        }
        let set = PublicKeySet::new(self.keys.iter().map(|k| k.key.clone()).collect());
        match set.verify(&mut Cursor::new(bytes), detached) {
            Ok(valid) => {
                let signer = self.keys.iter().find(|k| valid.contains(&k.key)).map(|k| Signer {
                    key_file: k.file.clone(),
                    fingerprint: k.fingerprint.clone(),
                    detached: detached.is_some(),
                });
                // `verify` returns only keys of the set, so one is found.
                signer.map(Some).ok_or(SignatureError::Untrusted { key_ids: Vec::new() })
            }
            Err(WSError::NoSignatures) => Err(SignatureError::Missing),
            Err(WSError::VerificationFailed) => Err(self.why_not(bytes, detached)),
            Err(e) => Err(SignatureError::Malformed(e)),
        }
    }

    /// wasmsign2 says only that no trusted key verifies. Tell the operator
    /// which of the two it is: if the file's hash is among the signed
    /// hashes, the code is as it was signed and the signer is the problem;
    /// if not, the code changed after signing. A signature claiming one of
    /// the trusted keys' identifiers that does not verify over intact code
    /// was itself tampered with.
    fn why_not(&self, bytes: &[u8], detached: Option<&[u8]>) -> SignatureError {
        let claimed = match claimed(bytes, detached) {
            Ok(Some(claimed)) => claimed,
            Ok(None) => return SignatureError::Missing,
            Err(e) => return SignatureError::Malformed(e),
        };
        if !claimed.covers_content {
            return SignatureError::Altered;
        }
        let trusted_ids: Vec<Vec<u8>> = self.keys.iter().map(|k| default_key_id(&k.key)).collect();
        if claimed.key_ids.iter().any(|id| trusted_ids.contains(id)) {
            return SignatureError::Altered;
        }
        SignatureError::Untrusted { key_ids: claimed.key_ids.iter().map(hex::encode).collect() }
    }
}

/// What a component's signature says of itself, checked against no key:
/// for `sipwarden check` to show, and for telling an untrusted signer from
/// changed code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The key identifiers the signatures carry (signers may leave them out).
    pub key_ids: Vec<Vec<u8>>,
    /// Whether one of the signed hashes is the hash of the file as it is.
    pub covers_content: bool,
}

/// Read a component's signature without verifying it; `None` when it has
/// none.
pub fn claimed(bytes: &[u8], detached: Option<&[u8]>) -> Result<Option<Claimed>, WSError> {
    let mut cursor = Cursor::new(bytes);
    let stream = Module::init_from_reader(&mut cursor)?;
    let data = match detached {
        Some(detached) => SignatureData::deserialize(detached)?,
        None => {
            let mut sections = Module::iterate(stream)?;
            match sections.next() {
                Some(Ok(Section::Custom(custom))) if custom.is_signature_header() => custom.signature_data()?,
                Some(Err(e)) => return Err(e),
                _ => return Ok(None),
            }
        }
    };
    // What the signature covers starts after the preamble and, when it is
    // embedded, after the signature's own section: where the reader is now.
    let start = usize::try_from(cursor.position()).unwrap_or(usize::MAX);
    let hash = Sha256::digest(bytes.get(start..).unwrap_or_default()).to_vec();
    let sets = &data.signed_hashes_set;
    Ok(Some(Claimed {
        key_ids: sets.iter().flat_map(|s| &s.signatures).filter_map(|s| s.key_id.clone()).collect(),
        covers_content: sets.iter().any(|s| s.hashes.contains(&hash)),
    }))
}

/// A component signed with `secret`: the signed file, and the detached
/// signature when asked for one (the file is then returned unchanged).
#[derive(Debug)]
pub struct Signed {
    /// The component, with its embedded signature unless detached.
    pub component: Vec<u8>,
    /// The detached signature, for `NAME.wasm.sig`.
    pub detached: Option<Vec<u8>>,
    /// The fingerprint of the key that signed.
    pub fingerprint: String,
}

/// Sign a component. The signature carries the key's identifier
/// (wasmsign2's default, derived from the public key), so that a verifier
/// can tell "signed by another key" from "changed after signing". An
/// embedded signature replaces any earlier one; signing twice with the same
/// key gives the same file.
pub fn sign(component: &[u8], secret: &SecretKey, detached: bool) -> Result<Signed, WSError> {
    let public = PublicKey { pk: secret.sk.public_key(), key_id: None };
    let key_id = default_key_id(&public);
    let module = Module::deserialize(&mut Cursor::new(component))?;
    let fingerprint = fingerprint(&public);
    if detached {
        let (_, signature) = secret.sign_multi(module, Some(&key_id), true, false)?;
        return Ok(Signed { component: component.to_vec(), detached: Some(signature), fingerprint });
    }
    let signed = secret.sign(module, Some(&key_id))?;
    let mut out = Vec::with_capacity(component.len() + 256);
    signed.serialize(&mut out)?;
    Ok(Signed { component: out, detached: None, fingerprint })
}

/// Read a secret key in any format wasmsign2 reads (its own, PEM, DER,
/// OpenSSH).
pub fn read_secret_key(path: &Path) -> Result<SecretKey, KeyError> {
    let bytes = std::fs::read(path).map_err(|source| KeyError::Read { path: path.to_path_buf(), source })?;
    SecretKey::from_any(&bytes).map_err(|_| KeyError::NotAKey { path: path.to_path_buf() })
}

/// A new key pair, in wasmsign2's own file format: `(secret, public)`.
pub fn generate_key_pair() -> (Vec<u8>, Vec<u8>, String) {
    let pair = wasmsign2::KeyPair::generate();
    (pair.sk.to_bytes(), pair.pk.to_bytes(), fingerprint(&pair.pk))
}

/// Every public key in a key file: one in any of wasmsign2's formats, or
/// OpenSSH lines; `None` when there is none.
fn read_public_keys(bytes: &[u8]) -> Option<Vec<PublicKey>> {
    // OpenSSH lines first: wasmsign2's guess at a format would take only
    // the first of several.
    if let Some(set) = std::str::from_utf8(bytes).ok().and_then(|text| PublicKeySet::from_openssh(text).ok())
        && !set.is_empty()
    {
        let mut keys: Vec<PublicKey> = set.pks.into_iter().collect();
        // A set has no order; the fingerprint gives one, so that "the first
        // trusted key that signed" does not change from run to run.
        keys.sort_by_cached_key(fingerprint);
        return Some(keys);
    }
    PublicKey::from_any(bytes).ok().map(|key| vec![key])
}

/// wasmsign2's default key identifier for a public key.
fn default_key_id(key: &PublicKey) -> Vec<u8> {
    let bare = PublicKey { pk: key.pk, key_id: None };
    bare.attach_default_key_id().key_id.unwrap_or_default()
}

/// The OpenSSH fingerprint of an Ed25519 key: `SHA256:` and the unpadded
/// base64 of the SHA-256 of its wire form (`string "ssh-ed25519"`,
/// `string key`), which is what `ssh-keygen -l` prints.
fn fingerprint(key: &PublicKey) -> String {
    const ALGORITHM: &[u8] = b"ssh-ed25519";
    let raw: &[u8] = key.pk.as_ref();
    let mut wire = Vec::with_capacity(4 + ALGORITHM.len() + 4 + raw.len());
    for part in [ALGORITHM, raw] {
        // Both lengths are constants far below u32::MAX.
        wire.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        wire.extend_from_slice(part);
    }
    let digest = Sha256::digest(&wire);
    format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: preamble and one custom section, so that the
    /// tests need no plugin build. What wasmtime would make of it does not
    /// matter here; only its bytes are signed.
    fn component() -> Vec<u8> {
        let mut bytes = vec![0, b'a', b's', b'm', 0x0d, 0, 1, 0];
        let name = b"sipwarden-test";
        let payload_len = 1 + name.len() + 4;
        bytes.push(0);
        bytes.push(payload_len as u8);
        bytes.push(name.len() as u8);
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(b"code");
        bytes
    }

    fn pair() -> (SecretKey, PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let (secret, public, _) = generate_key_pair();
        let public_path = dir.path().join("ops.pub");
        std::fs::write(&public_path, public).unwrap();
        (SecretKey::from_bytes(&secret).unwrap(), public_path, dir)
    }

    #[test]
    fn an_embedded_signature_by_a_trusted_key_admits_and_names_it() {
        let (secret, public, _dir) = pair();
        let trusted = TrustedKeys::load(std::slice::from_ref(&public)).unwrap();
        let signed = sign(&component(), &secret, false).unwrap();
        let signer = trusted.admit(&signed.component, None).unwrap().unwrap();
        assert_eq!(signer.key_file, public);
        assert_eq!(signer.fingerprint, signed.fingerprint);
        assert!(!signer.detached);
        // Signing again replaces the signature: the same file.
        assert_eq!(sign(&signed.component, &secret, false).unwrap().component, signed.component);
    }

    #[test]
    fn a_detached_signature_admits_the_unchanged_file() {
        let (secret, public, _dir) = pair();
        let trusted = TrustedKeys::load(&[public]).unwrap();
        let signed = sign(&component(), &secret, true).unwrap();
        assert_eq!(signed.component, component());
        let sig = signed.detached.unwrap();
        assert!(trusted.admit(&component(), Some(&sig)).unwrap().unwrap().detached);
    }

    #[test]
    fn each_refusal_says_which_it_is() {
        let (secret, public, _dir) = pair();
        let trusted = TrustedKeys::load(&[public]).unwrap();
        let missing = trusted.admit(&component(), None).unwrap_err();
        assert!(matches!(missing, SignatureError::Missing), "{missing}");

        let (stranger, _, _other) = pair();
        let by_stranger = sign(&component(), &stranger, false).unwrap().component;
        let untrusted = trusted.admit(&by_stranger, None).unwrap_err();
        assert!(matches!(&untrusted, SignatureError::Untrusted { key_ids } if key_ids.len() == 1), "{untrusted}");

        let mut changed = sign(&component(), &secret, false).unwrap().component;
        let last = changed.len() - 1;
        changed[last] ^= 1;
        let altered = trusted.admit(&changed, None).unwrap_err();
        assert!(matches!(altered, SignatureError::Altered), "{altered}");

        let sig = sign(&component(), &secret, true).unwrap().detached.unwrap();
        let mut changed = component();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        let altered = trusted.admit(&changed, Some(&sig)).unwrap_err();
        assert!(matches!(altered, SignatureError::Altered), "detached: {altered}");
    }

    #[test]
    fn without_trusted_keys_nothing_is_checked() {
        assert_eq!(TrustedKeys::none().admit(&component(), None).unwrap(), None);
    }

    #[test]
    fn openssh_keys_are_trusted_with_the_fingerprint_ssh_keygen_prints() {
        // `ssh-keygen -t ed25519 -N '' -C ops` and `ssh-keygen -lf ops.pub`:
        // 256 SHA256:bu04BocBfun83T5/NqUz5fro3kw1Uc4uuAvmTERvINU ops (ED25519)
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ops.pub");
        std::fs::write(&path, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGgM5lS9nhYI1fULF6iu54gyXFCXKT5XrECaWeaFTm64 ops\n")
            .unwrap();
        let trusted = TrustedKeys::load(&[path]).unwrap();
        let fingerprints: Vec<_> = trusted.fingerprints().map(|(_, f)| f.to_string()).collect();
        assert_eq!(fingerprints, ["SHA256:bu04BocBfun83T5/NqUz5fro3kw1Uc4uuAvmTERvINU"]);
    }

    #[test]
    fn a_key_file_that_is_not_a_public_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pub");
        std::fs::write(&junk, "not a key").unwrap();
        assert!(matches!(TrustedKeys::load(&[junk]), Err(KeyError::NotAKey { .. })));
        let (secret, _, _) = generate_key_pair();
        let secret_path = dir.path().join("ops.sec");
        std::fs::write(&secret_path, secret).unwrap();
        assert!(matches!(TrustedKeys::load(&[secret_path]), Err(KeyError::Secret { .. })));
        let gone = dir.path().join("gone.pub");
        assert!(matches!(TrustedKeys::load(&[gone]), Err(KeyError::Read { .. })));
    }
}
