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
    #[error("cannot write the snapshot {}: {error}", .path.display())]
    Snapshot {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is damaged: {problems}", .path.display())]
    Corrupt { path: PathBuf, problems: String },
}

impl StoreError {
    /// The database could not be written because its filesystem is full (`SQLITE_FULL`).
    pub fn is_disk_full(&self) -> bool {
        let source = match self {
            StoreError::Open { source, .. } | StoreError::Sql { source, .. } => source,
            StoreError::SchemaTooNew { .. } | StoreError::Corrupt { .. } => return false,
            StoreError::Snapshot { error, .. } => {
                return error.kind() == std::io::ErrorKind::StorageFull;
            }
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
