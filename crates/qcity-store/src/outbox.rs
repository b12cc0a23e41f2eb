//! The notifier's outbox: a message is stored before it is sent and marked when it has been,
//! so a daemon killed with messages queued sends them after it starts again, each once.
//! Payloads are the notifier's rendered messages (JSON); the store does not read them.

use rusqlite::{OptionalExtension, params};

use crate::db::Store;
use crate::error::{Context, StoreError};

/// One queued (or finished) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub channel: String,
    pub created_ms: i64,
    pub payload: String,
    /// `queued`, `sent`, `failed` (the service refused it for good) or `expired`.
    pub state: String,
    pub attempts: u32,
    /// When a queued message may be tried (again).
    pub next_ms: i64,
    pub done_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// A channel's outbox at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxSummary {
    pub queued: u64,
    /// The newest message that finished, sent or not.
    pub last: Option<OutboxRow>,
    /// The newest error, of a message still queued or finished.
    pub last_error: Option<String>,
}

/// Finished messages kept per channel (the history `qcity notify list` reads).
const KEEP_FINISHED: i64 = 200;

const SELECT: &str = "SELECT id, channel, created_ms, payload, state, attempts, next_ms, done_ms, \
                      last_error FROM outbox";

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        channel: r.get(1)?,
        created_ms: r.get(2)?,
        payload: r.get(3)?,
        state: r.get(4)?,
        attempts: r.get(5)?,
        next_ms: r.get(6)?,
        done_ms: r.get(7)?,
        last_error: r.get(8)?,
    })
}

impl Store {
    /// Queues `payload` for `channel`; its id.
    pub fn outbox_push(
        &mut self,
        channel: &str,
        payload: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO outbox (channel, created_ms, payload, next_ms) VALUES (?1, ?2, ?3, ?2)",
                params![channel, now_ms, payload],
            )
            .ctx("queueing a message")?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The oldest queued message of `channel` (due or not): messages go out in order.
    pub fn outbox_head(&self, channel: &str) -> Result<Option<OutboxRow>, StoreError> {
        self.conn
            .query_row(
                &format!("{SELECT} WHERE channel = ?1 AND state = 'queued' ORDER BY id LIMIT 1"),
                [channel],
                read,
            )
            .optional()
            .ctx("reading the outbox")
    }

    /// A failed attempt worth repeating at `next_ms`.
    pub fn outbox_retry(&mut self, id: i64, next_ms: i64, error: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, next_ms = ?2, last_error = ?3
                 WHERE id = ?1",
                params![id, next_ms, error],
            )
            .ctx("recording a delivery attempt")?;
        Ok(())
    }

    /// The message's end: `sent`, `failed` or `expired`; older finished messages of its
    /// channel beyond the newest [`KEEP_FINISHED`] are dropped.
    pub fn outbox_finish(
        &mut self,
        id: i64,
        state: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().ctx("finishing a message")?;
        tx.execute(
            "UPDATE outbox SET state = ?2, attempts = attempts + 1, done_ms = ?3,
                 last_error = COALESCE(?4, last_error) WHERE id = ?1",
            params![id, state, now_ms, error],
        )
        .ctx("finishing a message")?;
        tx.execute(
            "DELETE FROM outbox WHERE state != 'queued'
                 AND channel = (SELECT channel FROM outbox WHERE id = ?1)
                 AND id NOT IN (SELECT id FROM outbox WHERE state != 'queued'
                     AND channel = (SELECT channel FROM outbox WHERE id = ?1)
                     ORDER BY id DESC LIMIT ?2)",
            params![id, KEEP_FINISHED],
        )
        .ctx("pruning the outbox")?;
        tx.commit().ctx("finishing a message")?;
        Ok(())
    }

    /// How many messages wait, the newest finished one and the newest error.
    pub fn outbox_summary(&self, channel: &str) -> Result<OutboxSummary, StoreError> {
        let queued: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE channel = ?1 AND state = 'queued'",
                [channel],
                |r| r.get(0),
            )
            .ctx("reading the outbox")?;
        let last = self
            .conn
            .query_row(
                &format!(
                    "{SELECT} WHERE channel = ?1 AND state != 'queued' ORDER BY id DESC LIMIT 1"
                ),
                [channel],
                read,
            )
            .optional()
            .ctx("reading the outbox")?;
        let last_error = self
            .conn
            .query_row(
                "SELECT last_error FROM outbox WHERE channel = ?1 AND last_error IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                [channel],
                |r| r.get(0),
            )
            .optional()
            .ctx("reading the outbox")?;
        Ok(OutboxSummary {
            queued: queued as u64,
            last,
            last_error,
        })
    }

    /// Every message of `channel`, oldest first (tests, diagnostics).
    pub fn outbox_all(&self, channel: &str) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("{SELECT} WHERE channel = ?1 ORDER BY id"))
            .ctx("reading the outbox")?;
        let rows = stmt
            .query_map([channel], read)
            .ctx("reading the outbox")?
            .collect::<Result<Vec<_>, _>>()
            .ctx("reading the outbox")?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_queue_in_order_and_finish_once_pruned_to_a_history() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("q.db")).unwrap();
        let a = s.outbox_push("slack", "{\"title\":\"a\"}", 10).unwrap();
        let b = s.outbox_push("slack", "{\"title\":\"b\"}", 11).unwrap();
        s.outbox_push("mail", "{}", 12).unwrap();
        assert_eq!(s.outbox_head("slack").unwrap().unwrap().id, a);
        s.outbox_retry(a, 5000, "status 503").unwrap();
        let head = s.outbox_head("slack").unwrap().unwrap();
        assert_eq!((head.id, head.attempts, head.next_ms), (a, 1, 5000));
        s.outbox_finish(a, "sent", None, 6000).unwrap();
        assert_eq!(s.outbox_head("slack").unwrap().unwrap().id, b);
        let sum = s.outbox_summary("slack").unwrap();
        assert_eq!(sum.queued, 1);
        assert_eq!(
            sum.last.as_ref().map(|r| (r.id, r.state.as_str())),
            Some((a, "sent"))
        );
        assert_eq!(sum.last_error.as_deref(), Some("status 503"));
        for i in 0..(KEEP_FINISHED + 5) {
            let id = s.outbox_push("mail", "{}", 100 + i).unwrap();
            s.outbox_finish(id, "sent", None, 200 + i).unwrap();
        }
        let mail = s.outbox_all("mail").unwrap();
        assert_eq!(
            mail.iter().filter(|r| r.state == "queued").count(),
            1,
            "queued kept"
        );
        assert_eq!(mail.len() as i64, KEEP_FINISHED + 1);
    }
}
