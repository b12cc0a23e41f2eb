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

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        Self::error(format!("{e:#}"))
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;
