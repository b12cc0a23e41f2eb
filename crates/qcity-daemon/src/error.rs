//! Why the daemon cannot start (or stopped early). The CLI maps these to its exit codes:
//! [`DaemonError::is_invalid_config`] is exit 5, the rest exit 1.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use qcity_api::TokenError;
use qcity_config::ConfigErrors;
use qcity_engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration has errors, every one of them listed.
    #[error("{errors}\n{} error(s) in {}", .errors.0.len(), .dir.display())]
    InvalidConfig { dir: PathBuf, errors: ConfigErrors },
    #[error("{}: api.host: `{host}` is not an IP address (use 127.0.0.1 or ::1)", .file.display())]
    HostNotAnIp { file: PathBuf, host: String },
    #[error(
        "{}: api.host: `{ip}` is not a loopback address; this version only listens on loopback (127.0.0.1 or ::1)",
        .file.display()
    )]
    HostNotLoopback { file: PathBuf, ip: IpAddr },
    /// Neither the XDG variable nor HOME says where the default directory is.
    #[error("neither {var} nor HOME is set: pass the directory explicitly")]
    NoHome { var: String },
    /// The sample configuration cannot be written.
    #[error("cannot create {}: {error}", .dir.display())]
    Sample { dir: PathBuf, error: io::Error },
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    #[error(
        "cannot listen on {addr}: {error} (another qcity with a different data dir? set api.port in {})",
        .device_file.display()
    )]
    Listen {
        addr: SocketAddr,
        error: io::Error,
        device_file: PathBuf,
    },
    #[error("{0}")]
    LocalAddr(io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(io::Error),
    /// Another daemon holds the data dir's lock.
    #[error("another qcity is already running with data dir {}", .data_dir.display())]
    Busy { data_dir: PathBuf },
    #[error(transparent)]
    Engine(EngineError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("cannot write {}: {error}", .path.display())]
    DaemonInfo { path: PathBuf, error: io::Error },
}

impl DaemonError {
    /// The configuration is at fault (the CLI's exit 5).
    pub fn is_invalid_config(&self) -> bool {
        matches!(
            self,
            Self::InvalidConfig { .. } | Self::HostNotAnIp { .. } | Self::HostNotLoopback { .. }
        )
    }
}
