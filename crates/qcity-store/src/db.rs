use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{Context, StoreError};
use crate::migrate;

/// One connection to the store. Open one per thread; WAL lets readers and one writer work at
/// the same time.
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating) the database: WAL, `synchronous=NORMAL` (durable across a crash of
    /// the process; a power cut may lose the last commits), busy timeout 5 s, a 512 KiB page
    /// cache (the daemon's memory budget is tight), and runs the migrations.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        // Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
        // database file's mode. The file holds password and session hashes.
        if !path.exists() {
            let created = qcity_platform::private::options()
                .write(true)
                .create_new(true)
                .open(path);
            if let Err(e) = created
                && e.kind() != std::io::ErrorKind::AlreadyExists
            {
                return Err(open_err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!("cannot create {}: {e}", path.display())),
                )));
            }
        }
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "cache_size", -512)
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;
        migrate::migrate(&mut conn)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn from_conn(conn: Connection, path: &Path) -> Store {
        Store {
            conn,
            path: path.to_path_buf(),
        }
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        migrate::version(&self.conn)
    }

    /// The journal mode in force (`wal`).
    pub fn journal_mode(&self) -> Result<String, StoreError> {
        self.conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .ctx("reading the journal mode")
    }
}
