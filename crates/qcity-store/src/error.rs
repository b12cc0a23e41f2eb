use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database error while {action}: {source}")]
    Sql {
        action: &'static str,
        source: rusqlite::Error,
    },
    #[error(
        "database schema version {found} is newer than this qcity supports ({supported}); \
         use a newer qcity"
    )]
    SchemaTooNew { found: u32, supported: u32 },
}

impl StoreError {
    /// The database could not be written because its filesystem is full (`SQLITE_FULL`).
    pub fn is_disk_full(&self) -> bool {
        let source = match self {
            StoreError::Open { source, .. } | StoreError::Sql { source, .. } => source,
            StoreError::SchemaTooNew { .. } => return false,
        };
        source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
    }
}

/// Adds the action to a rusqlite error.
pub(crate) trait Context<T> {
    fn ctx(self, action: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, rusqlite::Error> {
    fn ctx(self, action: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sql { action, source })
    }
}
