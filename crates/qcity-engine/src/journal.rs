//! Durable subscribers: the event journal and the audit log, each on its own thread with its
//! own SQLite connection. Each drains its queue in batches (one transaction per batch), so a
//! crash storm costs a few commits per second, and reports the last id it made durable.
//!
//! A commit that fails (a full disk, a database that cannot be written) is retried until it
//! succeeds, so no event is lost; meanwhile the writer says it is failing, so nobody waits on
//! it for ever: supervision goes on, reads answer with what is stored, and a control answers
//! that its record waits. `store-failed` and `store-recovered` events tell the rest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qcity_platform::proc;
use qcity_store::{AuditRecord, EventRow, LedgerOp, ProcessRecord, Store};
use tokio::sync::watch;

use crate::bus::{Bus, EventReceiver};
use qcity_types::{Event, EventKind, RunnerState};

const BATCH: usize = 4096;

/// How long a writer waits after the first event of a batch for the rest of it. A restart
/// publishes three events in a few microseconds; waiting puts them in one transaction, and
/// moves the writer's work out of the moment when the restarted runner needs the CPU.
const GROUP_COMMIT: Duration = Duration::from_millis(10);

/// What a writer has made durable, and whether it is failing now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterState {
    /// The last event id committed.
    pub durable: u64,
    /// Why the last commit failed, while it keeps failing.
    pub failing: Option<Failing>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    pub writer: &'static str,
    pub error: String,
    pub disk_full: bool,
}

/// Starts the event journal: events rows plus the runner process ledger.
pub fn spawn_journal(
    store: Store,
    bus: Arc<Bus>,
    rx: EventReceiver,
    proc_root: PathBuf,
) -> watch::Receiver<WriterState> {
    let mut ledger = LedgerTracker {
        proc_root,
        pids: HashMap::new(),
    };
    spawn_writer("journal", store, bus, rx, move |store, events| {
        let rows: Vec<EventRow> = events.iter().map(|e| event_row(e)).collect();
        let ops: Vec<LedgerOp> = events.iter().filter_map(|e| ledger.op(e)).collect();
        store.write_batch(&rows, &ops)
    })
}

/// Starts the audit writer: every control and state change, hash-chained.
pub fn spawn_audit(store: Store, bus: Arc<Bus>, rx: EventReceiver) -> watch::Receiver<WriterState> {
    spawn_writer("audit", store, bus, rx, |store, events| {
        let records: Vec<AuditRecord> = events.iter().map(|e| audit_record(e)).collect();
        store.audit_append(&records)
    })
}

fn spawn_writer<F>(
    name: &'static str,
    mut store: Store,
    bus: Arc<Bus>,
    mut rx: EventReceiver,
    mut write: F,
) -> watch::Receiver<WriterState>
where
    F: FnMut(&mut Store, &[Arc<Event>]) -> Result<(), qcity_store::StoreError> + Send + 'static,
{
    let (state_tx, state_rx) = watch::channel(WriterState::default());
    std::thread::Builder::new()
        .name(format!("qcity-{name}"))
        .spawn(move || {
            let mut batch = Vec::with_capacity(64);
            while let Some(first) = rx.blocking_recv() {
                batch.push(first);
                std::thread::sleep(GROUP_COMMIT);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(ev) => batch.push(ev),
                        Err(_) => break,
                    }
                }
                // A failed commit is retried: these rows must not be lost. The transaction
                // rolls back whole, so a retry never writes a row twice or half.
                let mut delay = Duration::from_millis(50);
                let mut failed_since: Option<Instant> = None;
                while let Err(err) = write(&mut store, &batch) {
                    if failed_since.is_none() {
                        failed_since = Some(Instant::now());
                        tracing::error!(writer = name, %err, "cannot write events; retrying until it can");
                        let failing = Failing {
                            writer: name,
                            error: err.to_string(),
                            disk_full: err.is_disk_full(),
                        };
                        state_tx.send_modify(|s| s.failing = Some(failing.clone()));
                        bus.publish(EventKind::StoreFailed {
                            writer: name.to_string(),
                            error: failing.error,
                            disk_full: failing.disk_full,
                        });
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                let last = batch.last().map(|e| e.id).unwrap_or(0);
                state_tx.send_modify(|s| {
                    s.durable = last;
                    s.failing = None;
                });
                if let Some(since) = failed_since {
                    let after_ms = since.elapsed().as_millis() as u64;
                    tracing::info!(writer = name, after_ms, "events are written again");
                    bus.publish(EventKind::StoreRecovered {
                        writer: name.to_string(),
                        after_ms,
                    });
                }
                batch.clear();
            }
        })
        .expect("spawn writer thread");
    state_rx
}

fn event_row(e: &Event) -> EventRow {
    EventRow {
        id: e.id,
        ts_ms: e.ts_ms,
        kind: e.kind.name().to_string(),
        runner: e.kind.runner().map(str::to_string),
        data: serde_json::to_string(e).unwrap_or_default(),
    }
}

fn audit_record(e: &Event) -> AuditRecord {
    let (actor, action, target, detail) = match &e.kind {
        EventKind::Control {
            actor,
            action,
            target,
            outcome,
        } => (
            actor.clone(),
            format!("control.{}", action.as_str()),
            target.clone(),
            serde_json::json!({ "outcome": outcome, "event": e.id }).to_string(),
        ),
        EventKind::RunnerState { runner, state, .. } => (
            "engine".to_string(),
            format!("state.{}", state.name()),
            runner.clone(),
            serde_json::json!({ "state": state, "event": e.id }).to_string(),
        ),
        EventKind::Auth {
            actor,
            action,
            user,
            client,
            detail,
        } => (
            actor.clone(),
            format!("auth.{}", action.as_str()),
            user.clone(),
            serde_json::json!({ "client": client, "detail": detail, "event": e.id }).to_string(),
        ),
        EventKind::Update {
            actor, step, to, ..
        } => (
            actor.clone(),
            format!("update.{}", step.as_str()),
            to.clone(),
            serde_json::to_string(e).unwrap_or_default(),
        ),
        other => (
            "engine".to_string(),
            other.name().to_string(),
            other.runner().unwrap_or_default().to_string(),
            serde_json::to_string(e).unwrap_or_default(),
        ),
    };
    AuditRecord {
        ts_ms: e.ts_ms,
        actor,
        action,
        target,
        detail,
    }
}

/// Turns runner state events into ledger operations: which process each runner runs.
struct LedgerTracker {
    proc_root: PathBuf,
    pids: HashMap<String, u32>,
}

impl LedgerTracker {
    fn op(&mut self, e: &Event) -> Option<LedgerOp> {
        let EventKind::RunnerState { runner, state, .. } = &e.kind else {
            return None;
        };
        match state {
            RunnerState::Running {
                pid,
                pgid,
                since_ms,
            } => {
                self.pids.insert(runner.clone(), *pid);
                Some(LedgerOp::Started(ProcessRecord {
                    runner: runner.clone(),
                    pid: *pid,
                    pgid: *pgid,
                    start_ticks: start_ticks(&self.proc_root, *pid),
                    started_ms: *since_ms,
                }))
            }
            RunnerState::Exited { .. } | RunnerState::Stopped | RunnerState::Paused => {
                let pid = self.pids.remove(runner)?;
                Some(LedgerOp::Gone {
                    runner: runner.clone(),
                    pid,
                })
            }
            _ => None,
        }
    }
}

/// 0 when the process is already gone (then its `Gone` follows in the same or next batch).
fn start_ticks(proc_root: &Path, pid: u32) -> u64 {
    proc::stat(proc_root, pid)
        .map(|s| s.start_ticks)
        .unwrap_or(0)
}
