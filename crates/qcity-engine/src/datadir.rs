//! The files of one engine instance inside its data directory.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Paths inside a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The SQLite database: events, process ledger, audit log.
    pub fn db(&self) -> PathBuf {
        self.root.join("qcity.db")
    }
    /// Runner output files (`NAME.log`, `NAME.log.1`…).
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// The master token (mode 0600).
    pub fn token(&self) -> PathBuf {
        self.root.join("token")
    }
    /// Where the running daemon says how to reach it (address, pid).
    pub fn daemon_info(&self) -> PathBuf {
        self.root.join("daemon.json")
    }
    fn lock_file(&self) -> PathBuf {
        self.root.join("qcity.lock")
    }

    /// An id for this data directory, carried by every runner process in its environment.
    pub fn instance_id(&self) -> String {
        let canonical = self
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone());
        // FNV-1a: stable across builds, which std's hasher is not.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in canonical.as_os_str().as_encoded_bytes() {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{h:016x}")
    }

    /// Creates the directory (mode 0700), narrows what an older version or another tool left
    /// readable by others in it (with a warning), and takes the instance lock: one engine per
    /// data directory. The lock is released when the returned file is dropped or the process
    /// dies.
    pub fn lock(&self) -> Result<File, LockError> {
        qcity_platform::private::create_dir(&self.root).map_err(|source| LockError::Io {
            path: self.root.clone(),
            source,
        })?;
        let path = self.lock_file();
        let file = qcity_platform::private::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| LockError::Io {
                path: path.clone(),
                source,
            })?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(LockError::Busy {
                    path: self.root.clone(),
                });
            }
            return Err(LockError::Io { path, source: err });
        }
        // Only once the lock is ours: another engine's files are not ours to change. A token
        // others could read may have been read: it is removed, and the daemon makes a new one.
        let token = self.token();
        if std::fs::metadata(&token).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
            tracing::warn!(path = %token.display(), "the token file was readable by others and may have been read: removed, a new one replaces it");
            let _ = std::fs::remove_file(&token);
        }
        match qcity_platform::private::narrow_tree(&self.root) {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                data_dir = %self.root.display(),
                "{n} file(s) or directories were readable by others; narrowed to their owner"
            ),
            Err(e) => {
                tracing::warn!(data_dir = %self.root.display(), error = %e, "cannot narrow the data dir's modes")
            }
        }
        Ok(file)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another qcity engine is already running on data dir {path}")]
    Busy { path: PathBuf },
    #[error("cannot prepare data dir {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_engine_per_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::new(dir.path().join("data"));
        let held = d.lock().unwrap();
        assert!(matches!(d.lock(), Err(LockError::Busy { .. })));
        drop(held);
        d.lock().unwrap();
    }
}
