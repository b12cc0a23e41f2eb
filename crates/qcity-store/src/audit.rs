//! The append-only, hash-chained audit log.
//!
//! Each row stores `hash = hex(SHA-256(encode(seq, ts_ms, actor, action, target, detail,
//! prev_hash)))` where `prev_hash` is the previous row's hash (64 zeros for the first row)
//! and `encode` writes every field as `<decimal byte length>:<bytes>,` so no two different
//! rows encode the same. `audit_head` keeps the newest seq and hash, updated in the same
//! transaction, so removing the newest rows is seen too.
//!
//! What the chain proves: any edit, deletion, insertion or reordering of rows by someone who
//! did not also recompute every later hash and the head. What it cannot prove: someone who can
//! rewrite the whole file can rebuild a consistent chain; export `hash` of the head elsewhere
//! to pin it. Triggers refuse UPDATE and DELETE, so accidents through SQLite fail loudly.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use qcity_types::AuditEntry;

use crate::db::Store;
use crate::error::{Context, StoreError};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, by whom, to what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub ts_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// JSON with the details.
    pub detail: String,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditReport {
    Ok { rows: u64 },
    Broken { seq: u64, reason: String },
}

impl From<AuditReport> for qcity_types::AuditVerdict {
    fn from(r: AuditReport) -> Self {
        match r {
            AuditReport::Ok { rows } => Self {
                ok: true,
                rows: Some(rows),
                broken_at: None,
                reason: None,
            },
            AuditReport::Broken { seq, reason } => Self {
                ok: false,
                rows: None,
                broken_at: Some(seq),
                reason: Some(reason),
            },
        }
    }
}

fn row_hash(seq: u64, r: &AuditRecord, prev_hash: &str) -> String {
    let mut h = Sha256::new();
    let seq = seq.to_string();
    let ts = r.ts_ms.to_string();
    for field in [
        &seq, &ts, &r.actor, &r.action, &r.target, &r.detail, prev_hash,
    ] {
        h.update(field.len().to_string().as_bytes());
        h.update(b":");
        h.update(field.as_bytes());
        h.update(b",");
    }
    hex::encode(h.finalize())
}

impl Store {
    /// Appends records in one transaction, each chained to the one before. The head is read
    /// inside the same IMMEDIATE transaction, so two writers never fork the chain.
    pub fn audit_append(&mut self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("starting an audit append")?;
        let head: Option<(i64, String)> = tx
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .ctx("reading the audit head")?;
        let (mut seq, mut prev) = head
            .map(|(s, h)| (s as u64, h))
            .unwrap_or_else(|| (0, GENESIS.to_string()));
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO audit (seq, ts_ms, actor, action, target, detail, prev_hash, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .ctx("preparing the audit insert")?;
            for r in records {
                seq += 1;
                let hash = row_hash(seq, r, &prev);
                insert
                    .execute(params![
                        seq as i64, r.ts_ms, r.actor, r.action, r.target, r.detail, prev, hash
                    ])
                    .ctx("appending an audit row")?;
                prev = hash;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)",
            params![seq as i64, prev],
        )
        .ctx("moving the audit head")?;
        tx.commit().ctx("committing an audit append")
    }

    /// Walks the chain and reports the first row where it breaks.
    pub fn audit_verify(&self) -> Result<AuditReport, StoreError> {
        // One read transaction: the rows and the head of one moment. Read apart, an append
        // committed between them looked like rows removed (a false alarm under load).
        let snapshot = self
            .conn
            .unchecked_transaction()
            .ctx("starting the audit walk")?;
        let report = self.audit_walk();
        snapshot.finish().ctx("ending the audit walk")?;
        report
    }

    fn audit_walk(&self) -> Result<AuditReport, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, ts_ms, actor, action, target, detail, prev_hash, hash FROM audit ORDER BY seq")
            .ctx("preparing the audit walk")?;
        let mut rows = stmt.query([]).ctx("walking the audit log")?;
        let (mut last_seq, mut last_hash) = (0u64, GENESIS.to_string());
        let mut count = 0u64;
        while let Some(r) = rows.next().ctx("reading an audit row")? {
            let row = read_row(r).ctx("reading an audit row")?;
            if let Some(reason) = check_link(last_seq, &last_hash, &row) {
                return Ok(AuditReport::Broken {
                    seq: row.seq,
                    reason,
                });
            }
            last_seq = row.seq;
            last_hash = row.hash;
            count += 1;
        }
        let head: Option<(i64, String)> = self
            .conn
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .ctx("reading the audit head")?;
        let (head_seq, head_hash) = head
            .map(|(s, h)| (s as u64, h))
            .unwrap_or((0, GENESIS.into()));
        if head_seq > last_seq {
            let reason = format!(
                "the newest rows after row {last_seq} were removed (the log had {head_seq} rows)"
            );
            return Ok(AuditReport::Broken {
                seq: last_seq + 1,
                reason,
            });
        }
        if head_seq < last_seq {
            let reason = format!("rows after row {head_seq} were added outside QCity");
            return Ok(AuditReport::Broken {
                seq: head_seq + 1,
                reason,
            });
        }
        if head_hash != last_hash {
            let reason = "the newest row does not match the recorded chain head".to_string();
            return Ok(AuditReport::Broken {
                seq: last_seq,
                reason,
            });
        }
        Ok(AuditReport::Ok { rows: count })
    }

    /// The newest `n` rows, oldest first.
    pub fn audit_tail(&self, n: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT * FROM (SELECT seq, ts_ms, actor, action, target, detail, prev_hash, hash
                 FROM audit ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
            )
            .ctx("preparing the audit tail")?;
        let rows = stmt
            .query_map([n as i64], read_row)
            .ctx("querying the audit tail")?;
        rows.collect::<Result<_, _>>().ctx("reading the audit tail")
    }
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get::<_, i64>(0)? as u64,
        ts_ms: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        detail: r.get(5)?,
        prev_hash: r.get(6)?,
        hash: r.get(7)?,
    })
}

/// Why `row` does not follow the row (`prev_seq`, `prev_hash`), if it does not.
fn check_link(prev_seq: u64, prev_hash: &str, row: &AuditEntry) -> Option<String> {
    if row.seq != prev_seq + 1 {
        let missing = match row.seq - prev_seq - 1 {
            1 => format!("row {} before it is missing", prev_seq + 1),
            _ => format!(
                "rows {} to {} before it are missing",
                prev_seq + 1,
                row.seq - 1
            ),
        };
        return Some(format!("{missing} (deleted)"));
    }
    let record = AuditRecord {
        ts_ms: row.ts_ms,
        actor: row.actor.clone(),
        action: row.action.clone(),
        target: row.target.clone(),
        detail: row.detail.clone(),
    };
    if row_hash(row.seq, &record, &row.prev_hash) != row.hash {
        return Some("its content does not match its hash (the row was edited or moved)".into());
    }
    if row.prev_hash != prev_hash {
        return Some(format!(
            "it does not follow row {prev_seq} (a row was inserted, replaced or reordered)"
        ));
    }
    None
}
