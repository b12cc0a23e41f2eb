use rusqlite::params;

use crate::db::Store;
use crate::error::{Context, StoreError};
use crate::ledger::{self, LedgerOp};

/// One stored event. Ids are assigned by the engine and strictly increase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: u64,
    pub ts_ms: i64,
    pub kind: String,
    pub runner: Option<String>,
    /// The whole event as JSON.
    pub data: String,
}

impl Store {
    /// Appends events and applies ledger operations in one transaction.
    pub fn write_batch(&mut self, events: &[EventRow], ops: &[LedgerOp]) -> Result<(), StoreError> {
        let tx = self.conn.transaction().ctx("starting an event batch")?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (id, ts_ms, kind, runner, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .ctx("preparing the event insert")?;
            for e in events {
                insert
                    .execute(params![e.id as i64, e.ts_ms, e.kind, e.runner, e.data])
                    .ctx("inserting an event")?;
            }
            for op in ops {
                ledger::apply(&tx, op)?;
            }
        }
        tx.commit().ctx("committing an event batch")
    }

    /// The id of the newest event, 0 when there is none.
    pub fn last_event_id(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|id| id as u64)
            .ctx("reading the last event id")
    }

    /// Up to `limit` events with ids greater than `after_id`, oldest first.
    pub fn events_after(&self, after_id: u64, limit: usize) -> Result<Vec<EventRow>, StoreError> {
        self.events_matching(&EventQuery {
            after: after_id,
            limit,
            ..EventQuery::default()
        })
    }

    /// The events `q` asks for, oldest first.
    pub fn events_matching(&self, q: &EventQuery) -> Result<Vec<EventRow>, StoreError> {
        // With `before`, the newest page below it; otherwise the oldest page above `after`.
        let order = if q.before.is_some() { "DESC" } else { "ASC" };
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT id, ts_ms, kind, runner, data FROM events
                 WHERE id > ?1 AND id < ?2 AND (?3 IS NULL OR kind = ?3) AND (?4 IS NULL OR runner = ?4)
                 ORDER BY id {order} LIMIT ?5"
            ))
            .ctx("preparing the event query")?;
        let rows = stmt
            .query_map(
                params![
                    q.after as i64,
                    q.before.map_or(i64::MAX, |b| b as i64),
                    q.kind,
                    q.runner,
                    q.limit as i64
                ],
                read_event,
            )
            .ctx("querying events")?;
        let mut rows: Vec<EventRow> = rows.collect::<Result<_, _>>().ctx("reading events")?;
        if q.before.is_some() {
            rows.reverse();
        }
        Ok(rows)
    }

    /// The newest `limit` events of `kind` about `subject` (the runner or task column),
    /// oldest first.
    pub fn events_about(
        &self,
        kind: &str,
        subject: &str,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, ts_ms, kind, runner, data FROM events WHERE kind = ?1 AND runner = ?2 ORDER BY id DESC LIMIT ?3",
            )
            .ctx("preparing the event query")?;
        let rows = stmt
            .query_map(params![kind, subject, limit as i64], read_event)
            .ctx("querying events")?;
        let mut rows: Vec<EventRow> = rows.collect::<Result<_, _>>().ctx("reading events")?;
        rows.reverse();
        Ok(rows)
    }

    /// The newest event of `kind`.
    pub fn latest_of_kind(&self, kind: &str) -> Result<Option<EventRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, ts_ms, kind, runner, data FROM events WHERE kind = ?1 ORDER BY id DESC LIMIT 1",
            )
            .ctx("preparing the event query")?;
        let mut rows = stmt
            .query_map(params![kind], read_event)
            .ctx("querying events")?;
        rows.next().transpose().ctx("reading events")
    }
}

/// Which events to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Ids greater than this.
    pub after: u64,
    /// Ids smaller than this; then the newest matching page is returned.
    pub before: Option<u64>,
    pub limit: usize,
    /// Only this type (`runner-state`…).
    pub kind: Option<String>,
    /// Only events about this runner (or task).
    pub runner: Option<String>,
}

fn read_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        id: r.get::<_, i64>(0)? as u64,
        ts_ms: r.get(1)?,
        kind: r.get(2)?,
        runner: r.get(3)?,
        data: r.get(4)?,
    })
}
