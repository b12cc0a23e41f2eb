//! A consistent copy of the store while the daemon writes to it, and the checks a copy must
//! pass before it is trusted.
//!
//! `VACUUM INTO` takes the copy in one read transaction (SQLite's online backup API starts
//! over whenever another connection writes, which the daemon does all the time). SQLite does
//! not sync its output and an interrupted run leaves a broken file, so the copy goes to a
//! temporary file (0600 from its first byte: it holds password hashes), is synced, checked
//! with `PRAGMA integrity_check`, and only then renamed into place.

use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::db::Store;
use crate::error::{Context, StoreError};

impl Store {
    /// Writes a snapshot of the store to `dest`, which must not exist yet.
    pub fn snapshot(&self, dest: &Path) -> Result<(), StoreError> {
        let io = |error| StoreError::Snapshot {
            path: dest.to_path_buf(),
            error,
        };
        let tmp = tmp_path(dest);
        // VACUUM INTO takes an existing empty file and keeps its mode.
        qcity_platform::private::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io)?;
        let result = (|| {
            self.conn
                .execute("VACUUM INTO ?1", [tmp.to_string_lossy()])
                .ctx("writing a snapshot")?;
            std::fs::OpenOptions::new()
                .write(true)
                .open(&tmp)
                .and_then(|mut f| f.flush().and_then(|()| f.sync_all()))
                .map_err(io)?;
            check_file(&tmp)?;
            std::fs::rename(&tmp, dest).map_err(io)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Opens a snapshot (or any store file) read-only: no migration, nothing written, so a
    /// copy is checked as it is.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Store::from_conn(conn, path))
    }
}

fn tmp_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    dest.with_file_name(name)
}

/// `PRAGMA integrity_check` of a database file: whole, or what SQLite found wrong.
pub fn check_file(path: &Path) -> Result<(), StoreError> {
    let store = Store::open_read_only(path)?;
    let problems: Vec<String> = (|| {
        let mut stmt = store.conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<Vec<_>, _>>()
    })()
    .ctx("checking integrity")?;
    if problems == ["ok"] {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            problems: problems.join("; "),
        })
    }
}
