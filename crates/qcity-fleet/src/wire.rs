//! What travels through NATS: the names of the streams, buckets and subjects, a job as it
//! waits in the queue, its recorded result, a node's heartbeat and the signed manifest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The work-queue stream; a job waits on `qcity.jobs.CAPABILITY`.
pub const JOBS_STREAM: &str = "QCITY_JOBS";
pub const JOBS_SUBJECTS: &str = "qcity.jobs.>";
/// Heartbeats (key: the node's name); entries expire with the bucket's max age.
pub const NODES_BUCKET: &str = "qcity-nodes";
/// One result per job run (key: the run's id), written only if missing.
pub const RESULTS_BUCKET: &str = "qcity-results";
/// Jobs' inputs and artifacts (object store), `RUN/inputs.tar` and `RUN/DELIVERY/PATH`.
pub const FILES_BUCKET: &str = "qcity-files";
/// The signed runner manifest (key `manifest`).
pub const MANIFEST_BUCKET: &str = "qcity-manifest";
pub const MANIFEST_KEY: &str = "manifest";

/// The subject a job for `capability` is published on.
pub fn job_subject(capability: &str) -> String {
    format!("qcity.jobs.{capability}")
}

/// The durable consumer every node with `capability` pulls from: one per capability, as a
/// work-queue stream allows (a name may not hold `.`).
pub fn consumer_name(capability: &str) -> String {
    format!("cap-{}", capability.replace('.', "_2E"))
}

/// Core subjects of one run: its live output, the start notice, the cancel request.
pub fn output_subject(run: &str) -> String {
    format!("qcity.fleet.out.{run}")
}
pub fn started_subject(run: &str) -> String {
    format!("qcity.fleet.started.{run}")
}
pub fn cancel_subject(run: &str) -> String {
    format!("qcity.fleet.cancel.{run}")
}

/// A job as it waits in the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetJob {
    /// The run's id at the node that sent it: the result's key.
    pub run: String,
    pub job: String,
    pub capability: String,
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub timeout_ms: u64,
    /// The node that sent it.
    pub origin: String,
    /// The inputs as one tar archive in the files bucket, if the job has any.
    #[serde(default)]
    pub inputs: Option<FileRef>,
    /// Globs (relative) of the files the node sends back.
    #[serde(default)]
    pub artifacts: Vec<String>,
    /// When it was published, in milliseconds since the epoch.
    pub published_ms: u64,
}

/// How a job ended, recorded once under its run's id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FleetResult {
    pub run: String,
    /// The node that ran it (empty when it was given up or cancelled before any node did).
    pub node: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    #[serde(default)]
    pub timed_out: bool,
    #[serde(default)]
    pub cancelled: bool,
    /// Why it did not run to an exit, if it did not.
    #[serde(default)]
    pub error: Option<String>,
    /// The artifacts the node sent back, each in the files bucket with its SHA-256.
    #[serde(default)]
    pub artifacts: Vec<FileRef>,
    /// Which delivery of the job this was (1 for the first).
    pub delivery: u64,
    pub started_ms: u64,
    pub ended_ms: u64,
}

/// A file in the files bucket: its object, its path relative to the job's directory, its
/// SHA-256 computed where it was made, its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub object: String,
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// A node's heartbeat.
pub type NodeEntry = qcity_types::FleetNode;

/// A runner manifest as the master published it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedManifest {
    /// `runner_manifest.json`'s text, exactly as signed.
    pub manifest: String,
    /// Its minisign signature (the `.minisig` text).
    pub signature: String,
}

/// Milliseconds since the epoch, as the wire carries them.
pub fn now_ms() -> u64 {
    u64::try_from(qcity_platform::clock::now_ms()).unwrap_or(0)
}
