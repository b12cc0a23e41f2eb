//! The CLI's documented exit codes, and the one-line error that goes with each.

use std::fmt;
use std::process::ExitCode;

/// Exit codes, as README.md documents them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Error = 1,
    NoDaemon = 3,
    UnknownRunner = 4,
    InvalidConfig = 5,
    AuditBroken = 6,
    AutotestFailed = 7,
    /// Another daemon holds the data dir: the service unit does not restart on it
    /// (`RestartPreventExitStatus`), so a tray's engine and the service do not fight.
    Busy = 8,
    /// `qcity up` run by a service manager stopped to restart into another version (an
    /// update, a rollback): the unit restarts on it (`RestartForceExitStatus`).
    Restart = 9,
}

/// An error that ends the command: printed to stderr, then the process exits with `code`.
#[derive(Debug)]
pub struct CliError {
    pub code: Code,
    pub message: String,
}

impl CliError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Code::Error, message)
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code as u8)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Exit 5 for a bad configuration, else 1; the daemon's message as it is.
impl From<qcity_daemon::DaemonError> for CliError {
    fn from(e: qcity_daemon::DaemonError) -> Self {
        let code = if e.is_invalid_config() {
            Code::InvalidConfig
        } else if matches!(e, qcity_daemon::DaemonError::Busy { .. }) {
            Code::Busy
        } else {
            Code::Error
        };
        Self::new(code, e.to_string())
    }
}

/// Exit 3 when no daemon runs or answers, 4 and 5 for the API's `unknown_runner` (or
/// `unknown_task`, `unknown_channel`) and `invalid_config`, else 1.
use qcity_types::ErrorCode;

impl From<qcity_client::ClientError> for CliError {
    fn from(e: qcity_client::ClientError) -> Self {
        let code = match e.code() {
            _ if e.is_no_daemon() => Code::NoDaemon,
            Some(ErrorCode::UnknownRunner | ErrorCode::UnknownTask | ErrorCode::UnknownChannel) => {
                Code::UnknownRunner
            }
            Some(ErrorCode::InvalidConfig) => Code::InvalidConfig,
            _ => Code::Error,
        };
        Self::new(code, e.to_string())
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        Self::error(format!("{e:#}"))
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;
