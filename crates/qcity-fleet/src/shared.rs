//! What this node's tasks share: its settings, its host, its slots, its connection state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qcity_types::{FleetNode, FleetRunning};
use tokio::sync::{Semaphore, watch};

use crate::host::{Host, NodeSettings};
use crate::setup::Ready;

pub(crate) struct Shared {
    pub settings: NodeSettings,
    pub host: Arc<dyn Host>,
    pub slots: Arc<Semaphore>,
    pub state: Mutex<State>,
    pub ready: watch::Sender<Option<Ready>>,
    /// How many capabilities have a puller (they share the slots).
    pub pullers: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
pub(crate) struct State {
    pub connected: bool,
    /// The connection was lost at least once (a later `Connected` is a reconnection).
    pub lost: bool,
    pub problem: String,
    /// Jobs running here, by run id.
    pub running: BTreeMap<String, FleetRunning>,
    pub manifest_refused: Option<String>,
    /// The newest well-signed manifest version in the bucket's history when the watch began.
    pub manifest_floor: Option<u64>,
    /// The live nodes as the last heartbeat round read them.
    pub nodes: Vec<FleetNode>,
}

impl Shared {
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn ack_wait(&self) -> Duration {
        Duration::from_secs(self.settings.fleet.ack_wait_seconds.max(1))
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.settings.fleet.heartbeat_seconds.max(1))
    }
}
