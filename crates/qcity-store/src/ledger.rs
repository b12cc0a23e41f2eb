//! The process ledger: which process each runner is running, so that an engine killed with
//! SIGKILL can find (and end) what it left behind at its next start.

use rusqlite::{Transaction, params};

use crate::db::Store;
use crate::error::{Context, StoreError};

/// A runner's current process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRecord {
    pub runner: String,
    pub pid: u32,
    pub pgid: u32,
    /// Start time in clock ticks after boot (`/proc/PID/stat` field 22); with the pid it
    /// identifies the process across pid reuse. 0 when unknown.
    pub start_ticks: u64,
    pub started_ms: i64,
}

/// A change to the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerOp {
    /// The runner now runs this process (replaces its previous record).
    Started(ProcessRecord),
    /// The runner's process `pid` is gone (ignored if the ledger already holds a newer one).
    Gone { runner: String, pid: u32 },
}

pub(crate) fn apply(tx: &Transaction<'_>, op: &LedgerOp) -> Result<(), StoreError> {
    match op {
        LedgerOp::Started(p) => tx
            .execute(
                "INSERT OR REPLACE INTO processes (runner, pid, pgid, start_ticks, started_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![p.runner, p.pid, p.pgid, p.start_ticks as i64, p.started_ms],
            )
            .ctx("recording a process"),
        LedgerOp::Gone { runner, pid } => tx
            .execute(
                "DELETE FROM processes WHERE runner = ?1 AND pid = ?2",
                params![runner, pid],
            )
            .ctx("forgetting a process"),
    }
    .map(|_| ())
}

impl Store {
    /// Every process the ledger says is running.
    pub fn processes(&self) -> Result<Vec<ProcessRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT runner, pid, pgid, start_ticks, started_ms FROM processes ORDER BY runner",
            )
            .ctx("preparing the ledger query")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ProcessRecord {
                    runner: r.get(0)?,
                    pid: r.get(1)?,
                    pgid: r.get(2)?,
                    start_ticks: r.get::<_, i64>(3)? as u64,
                    started_ms: r.get(4)?,
                })
            })
            .ctx("querying the ledger")?;
        rows.collect::<Result<_, _>>().ctx("reading the ledger")
    }
}
