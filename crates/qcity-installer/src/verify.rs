//! Checks a downloaded file before anything runs: its size, its SHA-256, and its minisign
//! signature (Ed25519) against the public key pinned in the device config.
//!
//! The signature is checked by the `minisign-verify` crate (the one Tauri's updater uses).
//! minisign's formats, as its documentation gives them:
//! - public key: `untrusted comment: …` then base64 of `"Ed"` ‖ key id (8 bytes) ‖ key (32);
//! - signature (`.minisig`): `untrusted comment: …`, base64 of algorithm (`"ED"`: the
//!   signature is over the file's BLAKE2b-512, minisign's default; `"Ed"`, legacy: over the
//!   file itself) ‖ key id (8) ‖ signature (64), `trusted comment: TEXT`, and base64 of the
//!   global signature (64 bytes, over signature ‖ TEXT).
//!
//! The order of the checks: the size; the signature's form and its key id (the manifest's
//! own, before a byte of the file is read); then one pass over the file for SHA-256 and the
//! prehashed signature (a legacy signature reads the file a second time).

use std::io::Read;
use std::path::Path;

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
    key: minisign_verify::PublicKey,
}

impl PublicKey {
    /// The key file's text, or just its base64 line (`RWQ…`).
    pub fn parse(text: &str) -> Result<PublicKey, VerifyError> {
        let line = text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .ok_or_else(|| VerifyError::PublicKey("empty".into()))?;
        let key = minisign_verify::PublicKey::from_base64(line).map_err(|e| {
            VerifyError::PublicKey(match e {
                minisign_verify::Error::UnsupportedAlgorithm => {
                    "not an Ed25519 minisign key (its first two bytes are not `Ed`)".into()
                }
                _ => {
                    "expected base64 of 42 bytes starting with `Ed` (a minisign public key)".into()
                }
            })
        })?;
        Ok(PublicKey { key })
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
    let signature = parse_signature(&expected.signature)?;
    // Prehashed (`ED`): hashed in the same pass as SHA-256. Legacy (`Ed`): `None`, checked
    // over the whole file below.
    let mut stream = match key.key.verify_stream(&signature) {
        Ok(stream) => Some(stream),
        Err(minisign_verify::Error::UnsupportedLegacyMode) => None,
        Err(e) => return Err(signature_error(e)),
    };
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        if let Some(stream) = stream.as_mut() {
            stream.update(&buf[..n]);
        }
    }
    let sha = hex::encode(sha.finalize());
    if !sha.eq_ignore_ascii_case(&expected.sha256) {
        return Err(VerifyError::Sha256 {
            expected: expected.sha256.to_ascii_lowercase(),
            actual: sha,
        });
    }
    match stream {
        Some(mut stream) => stream.finalize(),
        None => {
            let whole = std::fs::read(path).map_err(read_err)?;
            key.key.verify(&whole, &signature, true)
        }
    }
    .map_err(signature_error)
}

/// The trusted comment of a `.minisig` text, as written: not yet proven authentic (the
/// global signature over it is checked with the file, by [`verify_file`]).
pub fn trusted_comment(minisig: &str) -> Result<String, VerifyError> {
    Ok(parse_signature(minisig)?.trusted_comment().to_string())
}

/// A `.minisig` text, as minisign writes it; blank lines and spaces around lines are
/// forgiven (a manifest may wrap or indent it).
fn parse_signature(minisig: &str) -> Result<minisign_verify::Signature, VerifyError> {
    let lines: Vec<&str> = minisig
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    minisign_verify::Signature::decode(&lines.join("\n")).map_err(signature_error)
}

/// What failed, in words: the crate's own messages do not say it about a release file.
fn signature_error(e: minisign_verify::Error) -> VerifyError {
    use minisign_verify::Error as E;
    VerifyError::Signature(match e {
        E::InvalidEncoding => "not a minisign signature: expected `untrusted comment: …`, \
            a base64 line of 74 bytes, `trusted comment: …` and a base64 line of 64 bytes"
            .into(),
        E::UnsupportedAlgorithm | E::UnexpectedAlgorithm | E::UnsupportedLegacyMode => {
            "unknown signature algorithm (minisign's are `ED`, and the legacy `Ed`)".into()
        }
        E::UnexpectedKeyId => {
            "signed with another key than the one pinned in the device config".into()
        }
        // One error for both Ed25519 checks: the crate does not say which failed.
        E::InvalidSignature => {
            "the signature does not match the file, or its trusted comment was altered".into()
        }
        E::IoError(e) => e.to_string(),
    })
}

/// Writes minisign's formats, for tests and for the test suite's sample releases: a public
/// key and a prehashed (`ED`) signature with a trusted comment. Behind the `sign` feature:
/// nothing that ships signs.
#[cfg(feature = "sign")]
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

#[cfg(test)]
mod tests {
    use super::*;

    // Made by minisign 0.11 itself (`minisign -G -W`, then `minisign -S` and `minisign -S -l`
    // of `DATA`), so this module is checked against the real tool, not only against `sign`.
    const DATA: &[u8] = b"QCity: a file signed by minisign 0.11 itself\n";
    const KEY: &str = "untrusted comment: minisign public key 3CD17655EF37CB9F
RWSfyzfvVXbRPNVtoGC47fBczzQu5ddUew+H8NvPkxcOwJB0ZNDuNttI
";
    const PREHASHED: &str = "untrusted comment: signature from minisign secret key
RUSfyzfvVXbRPBIfa6+PJ74KKHumRZK9tncCQq4pxLObX3ntPcO8GhaAzGq7QJKy/fPVUGFcnstyfCSogPkAd80HRDaAKmdgRw4=
trusted comment: data.txt prehashed
8NZm9Lm7s0hFpVJPVpVus5Hs4PnzE3kA5TKVUmONWkEzkxE6MbkCEuqt8Fia8oZ3sL8xVsCPokSmwasDOKMvCQ==
";
    const LEGACY: &str = "untrusted comment: signature from minisign secret key
RWSfyzfvVXbRPEDjx1xAdvBul7PE1t0i4i+4BUCb/WE0LW9FP16u0FXuJrb4iF9/qEfpbPyWFCN1U5mXx9NXOpSlJaaECUEdhAA=
trusted comment: data.txt legacy
x6UWvNd9TlFGLARWZDg96xWmLG4NlEfbmVJFuVbZMC2eAOMtAR110w3SXt9BVXFLNLQoMNCmNZVDR4RvAGtWBg==
";

    fn check(data: &[u8], minisig: &str, key: &str) -> Result<(), VerifyError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.txt");
        std::fs::write(&path, data).unwrap();
        let file = ReleaseFile {
            url: "data.txt".into(),
            size: data.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(data)),
            signature: minisig.into(),
        };
        verify_file(&path, &file, &PublicKey::parse(key)?)
    }

    #[test]
    fn minisigns_own_prehashed_and_legacy_signatures_verify() {
        check(DATA, PREHASHED, KEY).unwrap();
        check(DATA, LEGACY, KEY).unwrap();
        // The key's base64 line alone, and a manifest that indents the signature.
        let indented: String = PREHASHED.lines().map(|l| format!("  {l}\n\n")).collect();
        check(DATA, &indented, KEY.lines().nth(1).unwrap()).unwrap();
    }

    #[test]
    fn other_bytes_an_altered_comment_or_a_broken_signature_are_refused() {
        let other = b"QCity: a file signed by minisign 0.11 itselF\n";
        for minisig in [PREHASHED, LEGACY] {
            let err = check(other, minisig, KEY).unwrap_err();
            assert!(err.to_string().contains("does not match the file"), "{err}");
            let altered = minisig.replace("data.txt", "data.exe");
            let err = check(DATA, &altered, KEY).unwrap_err();
            assert!(err.to_string().contains("trusted comment"), "{err}");
        }
        let malformed = [
            String::new(),
            PREHASHED.lines().take(2).collect::<Vec<_>>().join("\n"),
            PREHASHED.replace("RUSfyzfv", "RUSfyzf!"),
            PREHASHED.replace("trusted comment: data", "comment: data"),
        ];
        for minisig in &malformed {
            let err = check(DATA, minisig, KEY).unwrap_err();
            assert!(
                err.to_string().contains("not a minisign signature"),
                "{err}"
            );
        }
        // A key id that is not the pinned key's.
        let foreign = KEY.replace("RWSfyzfv", "RWSAyzfv");
        let err = check(DATA, PREHASHED, &foreign).unwrap_err();
        assert!(err.to_string().contains("another key"), "{err}");
        // `RUS…` encodes `ED`, `RVS…` encodes `ET`: no minisign algorithm.
        let unknown = PREHASHED.replace("RUSfyzfv", "RVSfyzfv");
        let err = check(DATA, &unknown, KEY).unwrap_err();
        assert!(
            err.to_string().contains("unknown signature algorithm"),
            "{err}"
        );
    }

    #[test]
    fn a_public_key_that_is_not_one_is_named() {
        for (text, says) in [
            ("", "empty"),
            ("untrusted comment: nothing else\n", "empty"),
            ("RWSfyzfvVXbRPNVt", "42 bytes"),
            ("not base64 at all!", "42 bytes"),
            (
                "RVSfyzfvVXbRPNVtoGC47fBczzQu5ddUew+H8NvPkxcOwJB0ZNDuNttI",
                "not an Ed25519",
            ),
        ] {
            let err = PublicKey::parse(text).unwrap_err();
            assert!(err.to_string().contains(says), "{text:?}: {err}");
        }
    }
}
