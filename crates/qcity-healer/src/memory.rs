//! The healer's memory between failures: the template miner, which runners are being
//! healed, which escalated signatures stay quiet, the failures that repeat, and the healer's
//! one connection to the store.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qcity_logminer::Miner;
use qcity_store::{Store, StoreError};

use crate::repeats::Repeats;
use crate::trigger::Trigger;

/// How long an escalated signature is not healed again.
pub const QUIET_AFTER_ESCALATION: Duration = Duration::from_secs(600);

/// Keys the healer's miner keeps. It only sees the few error lines of each failure, so a
/// few thousand templates outlive any realistic variety of failures, while the miner's
/// default cap (100 000 keys, about 160 MiB when full) is sized for whole log streams.
const MINER_KEYS: usize = 5_000;

/// The healer's memory between failures: the template miner and what is under way.
pub(crate) struct Memory {
    pub cases: Mutex<Cases>,
    pub miner: Mutex<Miner>,
    /// Each platform's state and name as its last `platform-changed` event said: a runner
    /// of a platform in an outage is not fixed but waited for.
    pub platforms: Mutex<HashMap<String, (qcity_types::PlatformState, String)>>,
    /// The failures each runner keeps repeating, counted rather than diagnosed again.
    pub repeats: Mutex<Repeats>,
    /// Told when a case counted a repeat, so that the subscriber writes it.
    pub repeated: tokio::sync::Notify,
    /// The configuration's generation: one more at each `config-applied` (a failure known
    /// under another configuration is diagnosed again: its rules may have changed).
    pub generation: AtomicU64,
    /// The store, opened once (on the blocking pool) and kept: see [`with_store`].
    pub store: Arc<Mutex<Option<Store>>>,
}

#[derive(Default)]
pub(crate) struct Cases {
    /// Runners being healed.
    pub busy: HashSet<String>,
    /// A crash loop that came while its runner was being healed.
    pub pending: HashMap<String, Trigger>,
    /// Escalated (runner, signature)s, and when.
    pub quiet: HashMap<(String, String), Instant>,
}

impl Default for Memory {
    fn default() -> Self {
        Self {
            cases: Mutex::default(),
            miner: Mutex::new(Miner::new(MINER_KEYS)),
            platforms: Mutex::default(),
            repeats: Mutex::default(),
            repeated: tokio::sync::Notify::new(),
            generation: AtomicU64::new(0),
            store: Arc::default(),
        }
    }
}

impl Memory {
    /// `platform`'s state and name while it reports a partial or major outage, as its last
    /// `platform-changed` event said.
    pub fn outage(&self, platform: &str) -> Option<(qcity_types::PlatformState, String)> {
        lock(&self.platforms)
            .get(platform)
            .filter(|(state, _)| state.is_outage())
            .cloned()
    }
}

/// Runs `f` on the healer's connection to the store at `db`, opening it first if needed
/// (blocking: call it on the blocking pool). A connection that failed is closed, and the next
/// call opens a new one.
pub(crate) fn with_store<T>(
    store: &Mutex<Option<Store>>,
    db: &Path,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut slot = lock(store);
    let conn = match &mut *slot {
        Some(s) => s,
        None => slot.insert(Store::open(db)?),
    };
    let out = f(conn);
    if out.is_err() {
        *slot = None;
    }
    out
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
