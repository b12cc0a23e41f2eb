//! The healer's memory: each failure signature with how often and when it was seen, and the
//! outcome of every fix tried for it (what the healer learns its preferences from).

use rusqlite::params;

use crate::db::Store;
use crate::error::{Context, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRow {
    /// A stable hash of the other four fields.
    pub key: String,
    pub runner: String,
    /// `exit 1`, `signal 9 (SIGKILL)`, `crash loop`, `needs registration`, or empty.
    pub exit: String,
    /// The failing probe, or empty.
    pub probe: String,
    /// The log templates that explain it, as a JSON array of strings.
    pub templates: String,
    pub count: u64,
    pub first_ms: i64,
    pub last_ms: i64,
}

/// How one rule has done on one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleStats {
    pub rule: String,
    pub attempts: u64,
    pub successes: u64,
}

impl Store {
    /// Records one more sighting of `sig` at `ts_ms`; returns the row as stored.
    pub fn signature_seen(
        &mut self,
        sig: &SignatureRow,
        ts_ms: i64,
    ) -> Result<SignatureRow, StoreError> {
        self.signature_seen_times(sig, 1, ts_ms)
    }

    /// Records `times` sightings of `sig` (at least one), the last at `ts_ms`, in one
    /// transaction: the healer counts a failure's repeats in memory and writes them with its
    /// next sighting. Returns the row as stored.
    pub fn signature_seen_times(
        &mut self,
        sig: &SignatureRow,
        times: u64,
        ts_ms: i64,
    ) -> Result<SignatureRow, StoreError> {
        let tx = self
            .conn
            .transaction()
            .ctx("recording a failure signature")?;
        add_sightings(&tx, sig, times.max(1), ts_ms)?;
        let row = tx
            .prepare_cached(&format!("{SELECT} WHERE key = ?1"))
            .and_then(|mut st| st.query_row([&sig.key], read_signature))
            .ctx("reading a failure signature")?;
        tx.commit().ctx("recording a failure signature")?;
        Ok(row)
    }

    /// Several signatures' sightings in one transaction: (signature, times, last seen at).
    /// Entries with no sighting are skipped.
    pub fn signatures_seen(
        &mut self,
        batch: &[(SignatureRow, u64, i64)],
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction()
            .ctx("recording failure signatures")?;
        for (sig, times, ts_ms) in batch.iter().filter(|b| b.1 > 0) {
            add_sightings(&tx, sig, *times, *ts_ms)?;
        }
        tx.commit().ctx("recording failure signatures")
    }

    /// The most frequent signatures, most seen first (ties: most recent first).
    pub fn top_signatures(&self, limit: usize) -> Result<Vec<SignatureRow>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "{SELECT} ORDER BY count DESC, last_ms DESC LIMIT ?1"
            ))
            .ctx("listing failure signatures")?;
        let rows = st
            .query_map([limit as i64], read_signature)
            .ctx("listing failure signatures")?;
        rows.collect::<Result<_, _>>()
            .ctx("listing failure signatures")
    }

    /// How often `key` was seen per `bucket_ms` since `since_ms`: (bucket start, count),
    /// oldest first, empty buckets left out.
    pub fn signature_trend(
        &self,
        key: &str,
        since_ms: i64,
        bucket_ms: i64,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let bucket = bucket_ms.max(1);
        let mut st = self
            .conn
            .prepare(
                "SELECT (ts_ms / ?3) * ?3 AS b, COUNT(*) FROM signature_hits
                 WHERE key = ?1 AND ts_ms >= ?2 GROUP BY b ORDER BY b",
            )
            .ctx("reading a signature's trend")?;
        let rows = st
            .query_map(params![key, since_ms, bucket], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })
            .ctx("reading a signature's trend")?;
        rows.collect::<Result<_, _>>()
            .ctx("reading a signature's trend")
    }

    pub fn heal_outcome(
        &mut self,
        signature: &str,
        rule: &str,
        ok: bool,
        ts_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO heal_outcomes (signature, rule, ok, ts_ms) VALUES (?1, ?2, ?3, ?4)",
                params![signature, rule, ok, ts_ms],
            )
            .ctx("recording a fix's outcome")?;
        Ok(())
    }

    /// How many fixes of `signature` worked since `since_ms`, per rule (rules with none left
    /// out).
    pub fn successes_since(
        &self,
        signature: &str,
        since_ms: i64,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT rule, COUNT(*) FROM heal_outcomes
                 WHERE signature = ?1 AND ok AND ts_ms >= ?2 GROUP BY rule ORDER BY rule",
            )
            .ctx("reading recent fix outcomes")?;
        let rows = st
            .query_map(params![signature, since_ms], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })
            .ctx("reading recent fix outcomes")?;
        rows.collect::<Result<Vec<_>, _>>()
            .ctx("reading recent fix outcomes")
    }

    /// Every rule tried on `signature`, with its attempts and successes.
    pub fn rule_stats(&self, signature: &str) -> Result<Vec<RuleStats>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT rule, COUNT(*), SUM(ok) FROM heal_outcomes WHERE signature = ?1
                 GROUP BY rule ORDER BY rule",
            )
            .ctx("reading fix outcomes")?;
        let rows = st
            .query_map([signature], |r| {
                Ok(RuleStats {
                    rule: r.get(0)?,
                    attempts: r.get::<_, i64>(1)? as u64,
                    successes: r.get::<_, i64>(2)? as u64,
                })
            })
            .ctx("reading fix outcomes")?;
        rows.collect::<Result<_, _>>().ctx("reading fix outcomes")
    }
}

/// Adds `times` sightings of `sig` at `ts_ms`: its count, its last time (never moved back),
/// and one `signature_hits` row per sighting (the trend counts them).
fn add_sightings(
    conn: &rusqlite::Connection,
    sig: &SignatureRow,
    times: u64,
    ts_ms: i64,
) -> Result<(), StoreError> {
    let times = times.min(i64::MAX as u64) as i64;
    conn.prepare_cached(
        "INSERT INTO signatures (key, runner, exit, probe, templates, count, first_ms, last_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT (key) DO UPDATE SET count = count + excluded.count,
             last_ms = MAX(last_ms, excluded.last_ms)",
    )
    .and_then(|mut st| {
        st.execute(params![
            sig.key,
            sig.runner,
            sig.exit,
            sig.probe,
            sig.templates,
            times,
            ts_ms
        ])
    })
    .ctx("recording a failure signature")?;
    conn.prepare_cached(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)
         INSERT INTO signature_hits (key, ts_ms) SELECT ?1, ?2 FROM n",
    )
    .and_then(|mut st| st.execute(params![sig.key, ts_ms, times]))
    .ctx("recording a failure signature")?;
    Ok(())
}

const SELECT: &str =
    "SELECT key, runner, exit, probe, templates, count, first_ms, last_ms FROM signatures";

fn read_signature(r: &rusqlite::Row<'_>) -> rusqlite::Result<SignatureRow> {
    Ok(SignatureRow {
        key: r.get(0)?,
        runner: r.get(1)?,
        exit: r.get(2)?,
        probe: r.get(3)?,
        templates: r.get(4)?,
        count: r.get::<_, i64>(5)? as u64,
        first_ms: r.get(6)?,
        last_ms: r.get(7)?,
    })
}
