//! The fleet: QCity machines sharing jobs over NATS JetStream, as the API shows it
//! (`GET /api/v1/fleet`, `qcity fleet status`) and as its `fleet` events tell it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a `fleet` event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FleetStep {
    /// This node reached the NATS server and its streams are ready.
    Connected,
    /// The connection to NATS broke; local runners go on, the node reconnects.
    Disconnected,
    /// This node took a job from the work queue (`detail`: its capability and delivery).
    Took,
    /// This node ran a job to its end and recorded the result.
    Done,
    /// A job whose result another delivery had already recorded: this one is dropped.
    Duplicate,
    /// A job was delivered the maximum number of times without a result: given up.
    GaveUp,
    /// A master published a signed runner manifest to the fleet from this node (`detail`:
    /// its version and who).
    ManifestPublished,
    /// A runner manifest from the fleet was verified and applied (`detail`: its version).
    ManifestApplied,
    /// A runner manifest from the fleet was refused (bad signature, not newer, invalid);
    /// the last good one stays.
    ManifestRefused,
}

/// A node of the fleet as its last heartbeat describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FleetNode {
    pub name: String,
    pub capabilities: Vec<String>,
    /// Fleet jobs it runs now, and how many it may.
    pub running: Vec<FleetRunning>,
    pub max_jobs: u32,
    /// 1-minute load average per CPU, when the node can read it.
    pub load_per_cpu: Option<f64>,
    /// QCity's version on the node.
    pub version: String,
    /// The runner manifest version it applied from the fleet, if any.
    pub manifest_version: Option<u64>,
    /// Milliseconds since the epoch of its last heartbeat.
    pub last_seen_ms: u64,
}

/// A job a node runs now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FleetRunning {
    /// The run's id at the node that sent it (`JOB-…`).
    pub run: String,
    pub job: String,
    pub capability: String,
    /// Milliseconds since the epoch.
    pub started_ms: u64,
}

/// The fleet as this node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FleetView {
    /// Whether `qmoi_cloud_config.json` has a `fleet` section; without one the rest is empty.
    pub configured: bool,
    /// This node's name.
    pub node: String,
    /// This node's capabilities.
    pub capabilities: Vec<String>,
    /// Whether this node is connected to NATS now.
    pub connected: bool,
    /// The servers it connects to.
    pub servers: Vec<String>,
    /// Why it is not connected, or other trouble, in words; empty when all is well.
    pub problem: String,
    /// Live nodes (heartbeat within three periods), this one included when connected.
    pub nodes: Vec<FleetNode>,
    /// Jobs waiting in the queue per capability.
    pub queued: Vec<FleetQueue>,
    /// The runner manifest version applied from the fleet, and the last refusal.
    pub manifest_version: Option<u64>,
    pub manifest_refused: Option<String>,
}

/// Jobs waiting for a node with this capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FleetQueue {
    pub capability: String,
    pub waiting: u64,
}
