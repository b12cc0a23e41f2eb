//! Membership: each node puts its heartbeat (capabilities, load, the jobs it runs) under
//! its name in a bucket whose entries expire after three heartbeats (the bucket's max age:
//! 2.9 ignores a per-key TTL). The live nodes are the entries there.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use qcity_types::{FleetNode, FleetQueue};

use crate::setup::Ready;
use crate::shared::Shared;
use crate::wire::{self, NodeEntry};

pub(crate) async fn heartbeat(shared: Arc<Shared>, ready: Ready) {
    let mut tick = tokio::time::interval(shared.heartbeat());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        beat(&shared, &ready).await;
        if let Some(nodes) = live(&ready, shared.heartbeat()).await {
            shared.state().nodes = nodes;
        }
    }
}

/// Puts this node's entry now (also called when its jobs change, so the view is current).
pub(crate) async fn beat(shared: &Shared, ready: &Ready) {
    let entry = NodeEntry {
        name: shared.settings.name.clone(),
        capabilities: shared.host.capabilities(),
        running: shared.state().running.values().cloned().collect(),
        max_jobs: shared.settings.fleet.max_jobs,
        load_per_cpu: shared.host.load_per_cpu(),
        version: shared.settings.version.clone(),
        manifest_version: shared.host.manifest_version(),
        last_seen_ms: wire::now_ms(),
    };
    let Ok(bytes) = serde_json::to_vec(&entry) else {
        return;
    };
    if let Err(e) = ready.nodes.put(&entry.name, bytes.into()).await {
        tracing::debug!("fleet heartbeat: {e}");
    }
}

/// The first of `wanted` (a capability, then its fallbacks) that a live node taking jobs
/// has; else why none can take the job.
pub(crate) fn choose(nodes: &[FleetNode], wanted: &[&str]) -> Result<String, String> {
    let taker = |cap: &str| {
        nodes
            .iter()
            .any(|n| n.max_jobs > 0 && n.capabilities.iter().any(|c| c == cap))
    };
    match wanted.iter().find(|c| taker(c)) {
        Some(cap) => Ok((*cap).to_string()),
        None => Err(format!(
            "no live node has {} ({} live node{})",
            wanted.join(" or "),
            nodes.len(),
            if nodes.len() == 1 { "" } else { "s" }
        )),
    }
}

/// How long a read of the buckets may take: listing keys rides an ordered consumer that
/// can wait for ever when an entry expires under it.
const READ_WITHIN: Duration = Duration::from_secs(3);

/// The nodes whose heartbeat is recent, by name (`None`: the bucket could not be read).
pub(crate) async fn live(ready: &Ready, heartbeat: Duration) -> Option<Vec<FleetNode>> {
    tokio::time::timeout(READ_WITHIN, read_live(ready, heartbeat))
        .await
        .ok()
}

async fn read_live(ready: &Ready, heartbeat: Duration) -> Vec<FleetNode> {
    let Ok(keys) = ready.nodes.keys().await else {
        return Vec::new();
    };
    let keys: Vec<String> = keys.filter_map(|k| async { k.ok() }).collect().await;
    let horizon = wire::now_ms().saturating_sub(3 * heartbeat.as_millis() as u64);
    let mut nodes = Vec::new();
    for key in keys {
        if let Ok(Some(bytes)) = ready.nodes.get(&key).await
            && let Ok(node) = serde_json::from_slice::<FleetNode>(&bytes)
            && node.last_seen_ms >= horizon
        {
            nodes.push(node);
        }
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    nodes
}

/// Jobs waiting per capability (each capability's consumer: messages not yet delivered).
pub(crate) async fn queued(ready: &Ready) -> Vec<FleetQueue> {
    tokio::time::timeout(READ_WITHIN, read_queued(ready))
        .await
        .unwrap_or_default()
}

async fn read_queued(ready: &Ready) -> Vec<FleetQueue> {
    let mut out = Vec::new();
    let mut consumers = ready.jobs.consumers();
    while let Some(Ok(info)) = consumers.next().await {
        let capability = info
            .config
            .filter_subject
            .strip_prefix("qcity.jobs.")
            .unwrap_or(&info.config.filter_subject)
            .to_string();
        out.push(FleetQueue {
            capability,
            waiting: info.num_pending,
        });
    }
    out.sort_by(|a, b| a.capability.cmp(&b.capability));
    out
}
