//! Versioned, embedded migrations tracked with `PRAGMA user_version`. A database whose
//! version is newer than this binary knows is refused, never downgraded.

use rusqlite::Connection;

use crate::error::{Context, StoreError};

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: events, process ledger, audit log.
    "CREATE TABLE events (
        id     INTEGER PRIMARY KEY,
        ts_ms  INTEGER NOT NULL,
        kind   TEXT NOT NULL,
        runner TEXT,
        data   TEXT NOT NULL
    );
    CREATE INDEX events_runner ON events (runner, id);
    CREATE INDEX events_kind ON events (kind, id);
    CREATE TABLE processes (
        runner      TEXT PRIMARY KEY,
        pid         INTEGER NOT NULL,
        pgid        INTEGER NOT NULL,
        start_ticks INTEGER NOT NULL,
        started_ms  INTEGER NOT NULL
    );
    CREATE TABLE audit (
        seq       INTEGER PRIMARY KEY,
        ts_ms     INTEGER NOT NULL,
        actor     TEXT NOT NULL,
        action    TEXT NOT NULL,
        target    TEXT NOT NULL,
        detail    TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    );
    CREATE TABLE audit_head (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        seq  INTEGER NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    // 2: dashboard users and their sessions.
    "CREATE TABLE users (
        name       TEXT PRIMARY KEY,
        role       TEXT NOT NULL,
        phc        TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        id_hash    TEXT PRIMARY KEY,
        user       TEXT NOT NULL,
        role       TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user);",
    // 3: the healer: failure signatures and the outcome of every fix tried.
    "CREATE TABLE signatures (
        key       TEXT PRIMARY KEY,
        runner    TEXT NOT NULL,
        exit      TEXT NOT NULL,
        probe     TEXT NOT NULL,
        templates TEXT NOT NULL,
        count     INTEGER NOT NULL,
        first_ms  INTEGER NOT NULL,
        last_ms   INTEGER NOT NULL
    );
    CREATE TABLE heal_outcomes (
        id        INTEGER PRIMARY KEY,
        signature TEXT NOT NULL,
        rule      TEXT NOT NULL,
        ok        INTEGER NOT NULL,
        ts_ms     INTEGER NOT NULL
    );
    CREATE INDEX heal_outcomes_signature ON heal_outcomes (signature, rule);
    CREATE TABLE signature_hits (
        key   TEXT NOT NULL,
        ts_ms INTEGER NOT NULL
    );
    CREATE INDEX signature_hits_key ON signature_hits (key, ts_ms);",
    // 4: the notifier's outbox: each message for a chat or mail channel until delivered.
    "CREATE TABLE outbox (
        id         INTEGER PRIMARY KEY,
        channel    TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        payload    TEXT NOT NULL,
        state      TEXT NOT NULL DEFAULT 'queued',
        attempts   INTEGER NOT NULL DEFAULT 0,
        next_ms    INTEGER NOT NULL,
        done_ms    INTEGER,
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox (channel, state, id);",
    // 5: notices got a `kind` (what a channel's filter chooses from); the desktop notices
    // stored before it get the one their severity meant, so the journal still reads them.
    "UPDATE events SET data = json_set(data, '$.notice.kind',
        CASE json_extract(data, '$.notice.severity')
            WHEN 'info' THEN 'fixed'
            WHEN 'critical' THEN 'escalation'
            ELSE 'failure' END)
     WHERE kind = 'notice' AND json_extract(data, '$.notice.kind') IS NULL;",
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub(crate) fn version(conn: &Connection) -> Result<u32, StoreError> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .ctx("reading the schema version")
}

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found = version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().ctx("starting a migration")?;
        tx.execute_batch(sql).ctx("migrating the schema")?;
        tx.pragma_update(None, "user_version", i as u32 + 1)
            .ctx("setting the schema version")?;
        tx.commit().ctx("committing a migration")?;
    }
    Ok(())
}
