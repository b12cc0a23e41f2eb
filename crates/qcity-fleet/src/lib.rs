//! The fleet: QCity machines sharing jobs over NATS JetStream, on the server Debian ships
//! (2.9). Without a `fleet` section in `qmoi_cloud_config.json` nothing here runs.
//!
//! - `wire.rs`: the streams, buckets and subjects, and what travels through them.
//! - `setup.rs`: the work-queue stream, one durable pull consumer per capability, and the
//!   key-value buckets (made as streams: 2.9's account answer defeats `create_key_value`).
//! - `node.rs`: this node: the connection (it reconnects with backoff; nothing local waits
//!   for it), its heartbeat, its workers, its view of the fleet.
//! - `worker.rs`: a capability's puller: a job taken only when a slot is free (load
//!   balancing by pull), progress acks while it runs, the result recorded once under the
//!   run's id (a redelivered job that had finished is dropped), the ack after.
//! - `submit.rs`: a job sent to the fleet: the capability chosen among live nodes (or its
//!   fallbacks, waiting with a reason), its output followed, its result awaited, its cancel,
//!   its end after the maximum deliveries.
//! - `manifest.rs`: the runner manifest published signed (minisign) and applied by each
//!   node only if the signature is good and the version newer.

mod files;
mod host;
mod manifest;
mod members;
mod node;
mod setup;
mod shared;
mod submit;
pub mod wire;
mod worker;

pub use host::{Assignment, Host, NodeSettings, Outcome, OutputSink};
pub use manifest::{ManifestError, check as check_manifest};
pub use node::Node;
pub use submit::{Progress, SubmitError, Submitted};

/// A fleet operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    #[error("not connected to NATS ({0})")]
    NotConnected(String),
    #[error("NATS: {0}")]
    Nats(String),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}
