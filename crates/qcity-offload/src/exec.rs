//! What every executor (local, SSH, GitHub Actions) is given and what it returns.
//!
//! An executor runs one attempt of a job at one place. It streams the command's output into
//! the job's log as it comes, stops when `cancel` turns true, and brings the artifacts back
//! into `staging` with the SHA-256 the far side computed (`Claim`); `artifacts::place`
//! checks them before anything reaches the job's directory. An error says whether the place
//! failed (the job fails over to the next one) or the job itself did.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use qcity_config::JobSpec;
use tokio::sync::watch;

/// One attempt's input.
#[derive(Clone)]
pub struct Work {
    /// The run's id (`JOB-…`): names the remote directory and the GitHub correlation id.
    pub id: String,
    pub job: JobSpec,
    /// The job's directory here: inputs are read from it, artifacts land in it.
    pub dir: PathBuf,
    /// An empty directory of this run where a remote executor puts the artifacts it brings
    /// back, at their paths relative to the job's directory.
    pub staging: PathBuf,
    /// The configuration directory (a target's relative `identity_file` is relative to it).
    pub config_dir: PathBuf,
    /// The job's live output.
    pub log: Log,
    /// Turns true when the job is cancelled: the executor stops the command where it runs.
    pub cancel: watch::Receiver<bool>,
}

/// An artifact as the place that made it describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Relative to the job's directory (and to `staging`).
    pub path: PathBuf,
    /// The SHA-256 computed where the file was made, lowercase hex.
    pub sha256: String,
    pub bytes: u64,
    /// The SHA-256 of the bytes as they landed in staging, computed while they were written
    /// (`artifacts::HashingFile`); without it, `artifacts::place` reads the file.
    pub received: Option<String>,
}

/// How an attempt's command ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ran {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub cancelled: bool,
    /// For a remote place: the files in `staging`. For `local`: the files in place.
    pub artifacts: Vec<Claim>,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out && !self.cancelled
    }
}

/// Why an attempt did not run to an exit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The place could not be reached (connection refused, host unknown, DNS, a timeout).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The place refused the job (a host key or login refused, a dispatch 404/422, a token
    /// without access).
    #[error("refused: {0}")]
    Refused(String),
    /// The connection broke while the job ran (sshd killed, the run vanished).
    #[error("lost: {0}")]
    Lost(String),
    /// Something about the job rather than the place (an input missing here, no space for
    /// the artifacts): another place would not do better.
    #[error("{0}")]
    Job(String),
}

impl ExecError {
    /// Whether the next place should be tried.
    pub fn fails_over(&self) -> bool {
        !matches!(self, ExecError::Job(_))
    }

    /// The attempt's outcome word: `unreachable`, `refused`, `lost`, `error`.
    pub fn outcome(&self) -> &'static str {
        match self {
            ExecError::Unreachable(_) => "unreachable",
            ExecError::Refused(_) => "refused",
            ExecError::Lost(_) => "lost",
            ExecError::Job(_) => "error",
        }
    }
}

/// The job's log file, appended by whoever has output; readers tail the file.
#[derive(Clone)]
pub struct Log {
    file: Arc<Mutex<std::fs::File>>,
    path: PathBuf,
}

impl Log {
    /// Appends to `path`, creating it (owner-only) if needed.
    pub fn open(path: PathBuf) -> std::io::Result<Log> {
        let file = qcity_platform::private::options()
            .create(true)
            .append(true)
            .open(&path)?;
        Ok(Log {
            file: Arc::new(Mutex::new(file)),
            path,
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends `bytes`; a log that cannot be written loses the bytes, not the job.
    pub fn write(&self, bytes: &[u8]) {
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = f.write_all(bytes) {
            tracing::warn!(path = %self.path.display(), "job log: {e}");
        }
    }

    /// A line of QCity's own about the job (`== attempt 2 at ssh:box ==`), set apart from
    /// the command's output.
    pub fn note(&self, line: &str) {
        self.write(format!("\n== {line} ==\n").as_bytes());
    }

    /// The launcher's output sink writing here.
    pub fn sink(&self) -> qcity_engine::supervisor::launcher::OutputSink {
        let log = self.clone();
        Arc::new(move |bytes: &[u8]| log.write(bytes))
    }
}

/// Resolves when `cancel` turns true; never, if no one can cancel any more.
pub async fn cancelled(mut cancel: watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}
