//! Checks a downloaded file before anything runs: its size, its SHA-256, and its minisign
//! signature (Ed25519) against the public key pinned in the device config.
//!
//! minisign's formats, as its documentation gives them:
//! - public key: `untrusted comment: …` then base64 of `"Ed"` ‖ key id (8 bytes) ‖ key (32);
//! - signature (`.minisig`): `untrusted comment: …`, base64 of algorithm (`"ED"`: the
//!   signature is over the file's BLAKE2b-512; `"Ed"`: over the file itself) ‖ key id (8) ‖
//!   signature (64), `trusted comment: TEXT`, and base64 of the global signature (64 bytes,
//!   over signature ‖ TEXT).

use std::io::Read;
use std::path::Path;

use base64::Engine;
use blake2::Digest as _;
use ed25519_dalek::{Signature, VerifyingKey};
use qcity_config::release::ReleaseFile;
use sha2::Digest as _;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("size mismatch: {actual} bytes, the manifest says {expected}")]
    Size { expected: u64, actual: u64 },
    #[error("SHA-256 mismatch: the file hashes to {actual}, the manifest says {expected}")]
    Sha256 { expected: String, actual: String },
    #[error("bad public key: {0}")]
    PublicKey(String),
    #[error("bad signature: {0}")]
    Signature(String),
}

/// A minisign public key.
#[derive(Debug, Clone)]
pub struct PublicKey {
    key_id: [u8; 8],
    key: VerifyingKey,
}

impl PublicKey {
    /// The key file's text, or just its base64 line (`RWQ…`).
    pub fn parse(text: &str) -> Result<PublicKey, VerifyError> {
        let line = last_data_line(text).ok_or_else(|| VerifyError::PublicKey("empty".into()))?;
        let raw = b64(line).map_err(VerifyError::PublicKey)?;
        if raw.len() != 42 || &raw[..2] != b"Ed" {
            return Err(VerifyError::PublicKey(
                "expected 42 bytes starting with `Ed` (a minisign public key)".into(),
            ));
        }
        let key: [u8; 32] = raw[10..].try_into().expect("32 bytes");
        Ok(PublicKey {
            key_id: raw[2..10].try_into().expect("8 bytes"),
            key: VerifyingKey::from_bytes(&key)
                .map_err(|e| VerifyError::PublicKey(e.to_string()))?,
        })
    }
}

/// Size, SHA-256 and signature of the file at `path` against `expected`.
pub fn verify_file(
    path: &Path,
    expected: &ReleaseFile,
    key: &PublicKey,
) -> Result<(), VerifyError> {
    let read_err = |source| VerifyError::Read {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    let actual = file.metadata().map_err(read_err)?.len();
    if actual != expected.size {
        return Err(VerifyError::Size {
            expected: expected.size,
            actual,
        });
    }
    // One pass for both hashes: SHA-256 for the manifest, BLAKE2b-512 for the signature.
    let mut sha = sha2::Sha256::new();
    let mut blake = blake2::Blake2b512::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        blake.update(&buf[..n]);
    }
    let sha = hex::encode(sha.finalize());
    if !sha.eq_ignore_ascii_case(&expected.sha256) {
        return Err(VerifyError::Sha256 {
            expected: expected.sha256.to_ascii_lowercase(),
            actual: sha,
        });
    }
    let prehash = blake.finalize();
    verify_signature(key, &expected.signature, &prehash, || {
        std::fs::read(path).map_err(|e| VerifyError::Read {
            path: path.display().to_string(),
            source: e,
        })
    })
}

/// Checks a `.minisig` text. `prehash` is the file's BLAKE2b-512; `whole` reads the file for
/// the legacy non-prehashed algorithm.
fn verify_signature(
    key: &PublicKey,
    minisig: &str,
    prehash: &[u8],
    whole: impl FnOnce() -> Result<Vec<u8>, VerifyError>,
) -> Result<(), VerifyError> {
    let bad = |m: &str| VerifyError::Signature(m.to_string());
    let lines: Vec<&str> = minisig
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let sig_line = lines
        .iter()
        .find(|l| !l.starts_with("untrusted comment:") && !l.starts_with("trusted comment:"))
        .ok_or_else(|| bad("no signature line"))?;
    let raw = b64(sig_line).map_err(VerifyError::Signature)?;
    if raw.len() != 74 {
        return Err(bad("expected 74 bytes: algorithm, key id, signature"));
    }
    if raw[2..10] != key.key_id {
        return Err(bad(
            "signed with another key than the one pinned in the device config",
        ));
    }
    let signature = Signature::from_bytes(&raw[10..74].try_into().expect("64 bytes"));
    let ok = match &raw[..2] {
        b"ED" => key.key.verify_strict(prehash, &signature).is_ok(),
        b"Ed" => key.key.verify_strict(&whole()?, &signature).is_ok(),
        _ => return Err(bad("unknown signature algorithm")),
    };
    if !ok {
        return Err(bad("the signature does not match the file"));
    }
    // The trusted comment, when present, is signed too.
    if let Some(pos) = lines.iter().position(|l| l.starts_with("trusted comment:")) {
        let text = lines[pos]
            .trim_start_matches("trusted comment:")
            .trim_start();
        let global = lines
            .get(pos + 1)
            .ok_or_else(|| bad("the trusted comment has no signature"))?;
        let global = b64(global).map_err(VerifyError::Signature)?;
        let global = Signature::from_bytes(
            &global
                .as_slice()
                .try_into()
                .map_err(|_| bad("the global signature is not 64 bytes"))?,
        );
        let mut signed = raw[10..74].to_vec();
        signed.extend_from_slice(text.as_bytes());
        if key.key.verify_strict(&signed, &global).is_err() {
            return Err(bad("the trusted comment was altered"));
        }
    }
    Ok(())
}

fn last_data_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
}

fn b64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| format!("not base64: {e}"))
}

/// Writes minisign's formats, for tests and for the test suite's sample releases: a public
/// key and a prehashed (`ED`) signature with a trusted comment.
pub mod sign {
    use base64::Engine;
    use blake2::Digest as _;
    use ed25519_dalek::{Signer, SigningKey};

    pub struct KeyPair {
        pub signing: SigningKey,
        pub key_id: [u8; 8],
    }

    impl KeyPair {
        pub fn from_seed(seed: [u8; 32], key_id: [u8; 8]) -> KeyPair {
            KeyPair {
                signing: SigningKey::from_bytes(&seed),
                key_id,
            }
        }

        /// The public key file's text.
        pub fn public_key(&self) -> String {
            let mut raw = b"Ed".to_vec();
            raw.extend_from_slice(&self.key_id);
            raw.extend_from_slice(self.signing.verifying_key().as_bytes());
            format!(
                "untrusted comment: minisign public key\n{}\n",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        }

        /// A `.minisig` for `data`.
        pub fn sign(&self, data: &[u8], trusted_comment: &str) -> String {
            let prehash = blake2::Blake2b512::digest(data);
            let signature = self.signing.sign(&prehash).to_bytes();
            let mut raw = b"ED".to_vec();
            raw.extend_from_slice(&self.key_id);
            raw.extend_from_slice(&signature);
            let mut global_msg = signature.to_vec();
            global_msg.extend_from_slice(trusted_comment.as_bytes());
            let global = self.signing.sign(&global_msg).to_bytes();
            let e = &base64::engine::general_purpose::STANDARD;
            format!(
                "untrusted comment: signature from minisign secret key\n{}\ntrusted comment: {trusted_comment}\n{}\n",
                e.encode(raw),
                e.encode(global)
            )
        }
    }
}
