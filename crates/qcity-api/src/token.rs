//! The master token: 32 random bytes, hex, in a file only the user can read.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const TOKEN_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the token file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot create the token file {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("the token file {path} is malformed: expected {expected} hex characters")]
    Malformed { path: PathBuf, expected: usize },
}

/// A secret that proves the master role. Its `Debug` output never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// Reads the token at `path`, creating it (mode 0600 from the first byte) if it is absent.
    /// A token file that others could read may have been read: it is replaced (mode 0600),
    /// with a warning. What the daemon calls at start.
    pub fn load_or_create(path: &Path) -> Result<Token, TokenError> {
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the token file was readable by others and may have been read: replaced with a new token (mode 0600)"
            );
            return Self::rotate(path);
        }
        match Self::load(path) {
            Err(TokenError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Self::create(path)
            }
            other => other,
        }
    }

    /// Reads the token at `path`.
    pub fn load(path: &Path) -> Result<Token, TokenError> {
        let read_err = |source| TokenError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(read_err)?;
        let mode = file.metadata().map_err(read_err)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "token file was readable by others; narrowing it to 0600");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(read_err)?;
        }
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(read_err)?;
        let text = text.trim();
        if text.len() != TOKEN_BYTES * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::Malformed {
                path: path.to_path_buf(),
                expected: TOKEN_BYTES * 2,
            });
        }
        Ok(Token(text.to_ascii_lowercase()))
    }

    fn create(path: &Path) -> Result<Token, TokenError> {
        let create_err = |source| TokenError::Create {
            path: path.to_path_buf(),
            source,
        };
        let bytes: [u8; TOKEN_BYTES] = rand::random();
        let token = Token(hex::encode(bytes));
        // create_new + mode: the file never exists with wider permissions, and two daemons
        // racing cannot both write one.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(create_err)?;
        file.write_all(token.0.as_bytes()).map_err(create_err)?;
        file.write_all(b"\n").map_err(create_err)?;
        file.sync_all().map_err(create_err)?;
        Ok(token)
    }

    /// Replaces the token at `path` with a new one (written whole, mode 0600, then renamed
    /// over the old), so the old one stops working everywhere.
    pub fn rotate(path: &Path) -> Result<Token, TokenError> {
        let tmp = path.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        let token = Self::create(&tmp)?;
        std::fs::rename(&tmp, path).map_err(|source| TokenError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(token)
    }

    /// The secret, for a client to send.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in time independent of where the first difference is.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_token_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let t1 = Token::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(t1.expose().len(), 64);
        let t2 = Token::load_or_create(&path).unwrap();
        assert_eq!(t1, t2);
        assert!(!format!("{t1:?}").contains(t1.expose()));
    }

    #[test]
    fn matches_only_the_exact_secret() {
        let dir = tempfile::tempdir().unwrap();
        let t = Token::load_or_create(&dir.path().join("token")).unwrap();
        assert!(t.matches(t.expose()));
        let mut other = t.expose().to_string();
        other.replace_range(63.., if other.ends_with('0') { "1" } else { "0" });
        assert!(!t.matches(&other));
        assert!(!t.matches(""));
        assert!(!t.matches(&t.expose()[..63]));
    }

    /// A token file others could read is replaced, not only narrowed (issue 16 #8).
    #[test]
    fn a_widened_token_file_is_replaced_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let old = Token::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let new = Token::load_or_create(&path).unwrap();
        assert_ne!(new.expose(), old.expose(), "a new token");
        assert_eq!(Token::load(&path).unwrap(), new, "on disk");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            Token::load_or_create(&path).unwrap(),
            new,
            "a narrow one is kept"
        );
    }

    #[test]
    fn malformed_or_widened_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "not-a-token").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Token::load(&path).unwrap_err().to_string();
        assert!(err.contains("malformed"), "{err}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a widened token file is narrowed");
    }
}
