//! What the fleet needs from the daemon it runs in, and what it hands it.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use qcity_config::FleetSettings;
use qcity_types::FleetStep;
use tokio::sync::watch;

use crate::wire::FleetJob;

/// What the fleet needs from the daemon it runs in.
pub trait Host: Send + Sync + 'static {
    /// Runs a job taken from the queue to its end (or its cancel).
    fn run(&self, assignment: Assignment) -> BoxFuture<'static, Outcome>;
    /// This node's capabilities now (they follow the runner manifest's `roles`).
    fn capabilities(&self) -> Vec<String>;
    /// The runner manifest version applied here, if it has one.
    fn manifest_version(&self) -> Option<u64>;
    /// Writes a verified runner manifest and reloads; `Err` says why it was not applied
    /// (the last good one then stays).
    fn apply_manifest(&self, text: String) -> BoxFuture<'static, Result<(), String>>;
    /// Something happened worth an event.
    fn news(&self, step: FleetStep, run: Option<&str>, detail: String);
    /// 1-minute load per CPU, for the heartbeat.
    fn load_per_cpu(&self) -> Option<f64>;
}

/// Where a job's output goes as it comes.
pub type OutputSink = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// A job this node took.
pub struct Assignment {
    pub job: FleetJob,
    /// An empty directory of its own where it runs.
    pub dir: PathBuf,
    /// Its output, as it comes (sent on to the node that is waiting for it).
    pub output: OutputSink,
    /// Turns true when the job is cancelled.
    pub cancel: watch::Receiver<bool>,
    /// The job's inputs as a tar archive (its SHA-256 checked), to unpack into `dir`
    /// before the command runs.
    pub inputs: Option<PathBuf>,
}

/// How a job ran here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub cancelled: bool,
    /// Why it did not run to an exit, if it did not.
    pub error: Option<String>,
    /// The files the job's `artifacts` globs matched in `dir`: relative path, SHA-256, size.
    pub artifacts: Vec<(String, String, u64)>,
}

/// How this node joins the fleet.
#[derive(Clone)]
pub struct NodeSettings {
    pub fleet: FleetSettings,
    /// This node's name (the setting's, or the host name).
    pub name: String,
    /// The token for the servers, already read from its reference.
    pub token: Option<String>,
    /// The minisign public key pinned for the runner manifest.
    pub manifest_key: Option<String>,
    /// Where the jobs it takes run (`DATA/fleet`).
    pub work_dir: PathBuf,
    /// QCity's version, for the heartbeat.
    pub version: String,
}
