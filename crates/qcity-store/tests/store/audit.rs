use qcity_store::{AuditRecord, AuditReport, Store};
use rusqlite::Connection;

use crate::db;

fn rec(n: usize) -> AuditRecord {
    AuditRecord {
        ts_ms: 1000 + n as i64,
        actor: "alice".into(),
        action: "control.restart".into(),
        target: format!("runner-{n}"),
        detail: "{}".into(),
    }
}

/// A store with 10 rows, written through two connections.
fn ten_rows() -> (tempfile::TempDir, std::path::PathBuf) {
    let (d, path) = db();
    let mut a = Store::open(&path).unwrap();
    let mut b = Store::open(&path).unwrap();
    a.audit_append(&(0..4).map(rec).collect::<Vec<_>>())
        .unwrap();
    b.audit_append(&(4..7).map(rec).collect::<Vec<_>>())
        .unwrap();
    a.audit_append(&(7..10).map(rec).collect::<Vec<_>>())
        .unwrap();
    (d, path)
}

/// Tampers as an attacker with the file would: drop the append-only triggers first.
fn tamper(path: &std::path::Path, sql: &str) {
    let c = Connection::open(path).unwrap();
    c.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
        .unwrap();
    c.execute_batch(sql).unwrap();
}

fn verify(path: &std::path::Path) -> AuditReport {
    Store::open(path).unwrap().audit_verify().unwrap()
}

fn broken_at(path: &std::path::Path) -> (u64, String) {
    match verify(path) {
        AuditReport::Broken { seq, reason } => (seq, reason),
        ok => panic!("tampering not detected: {ok:?}"),
    }
}

#[test]
fn two_writers_keep_one_intact_chain() {
    let (_d, path) = ten_rows();
    assert_eq!(verify(&path), AuditReport::Ok { rows: 10 });
    let tail = Store::open(&path).unwrap().audit_tail(3).unwrap();
    assert_eq!(
        tail.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![8, 9, 10]
    );
    assert_eq!(tail[0].prev_hash.len(), 64);
    assert_eq!(tail[1].prev_hash, tail[0].hash);
}

#[test]
fn updates_and_deletes_through_sqlite_are_refused() {
    let (_d, path) = ten_rows();
    let c = Connection::open(&path).unwrap();
    assert!(
        c.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 3", [])
            .is_err()
    );
    assert!(c.execute("DELETE FROM audit WHERE seq = 3", []).is_err());
    assert_eq!(verify(&path), AuditReport::Ok { rows: 10 });
}

#[test]
fn an_edited_row_is_named() {
    let (_d, path) = ten_rows();
    tamper(&path, "UPDATE audit SET actor = 'mallory' WHERE seq = 4");
    let (seq, reason) = broken_at(&path);
    assert_eq!(seq, 4);
    assert!(reason.contains("edited"), "{reason}");
}

#[test]
fn a_deleted_row_is_named() {
    let (_d, path) = ten_rows();
    tamper(&path, "DELETE FROM audit WHERE seq = 6");
    let (seq, reason) = broken_at(&path);
    assert_eq!(seq, 7);
    assert!(reason.contains("row 6 before it is missing"), "{reason}");
}

#[test]
fn an_inserted_row_is_named() {
    let (_d, path) = ten_rows();
    // Make room by moving rows up, as an attacker inserting row 5 must.
    tamper(
        &path,
        "UPDATE audit SET seq = seq + 1000 WHERE seq >= 5;
         UPDATE audit SET seq = seq - 999 WHERE seq >= 1005;
         INSERT INTO audit SELECT 5, ts_ms, 'mallory', action, target, detail, hash, hash FROM audit WHERE seq = 4;",
    );
    let (seq, _) = broken_at(&path);
    assert_eq!(seq, 5);
}

#[test]
fn reordered_rows_are_named() {
    let (_d, path) = ten_rows();
    tamper(
        &path,
        "UPDATE audit SET seq = 100 WHERE seq = 3;
         UPDATE audit SET seq = 3 WHERE seq = 8;
         UPDATE audit SET seq = 8 WHERE seq = 100;",
    );
    let (seq, _) = broken_at(&path);
    assert_eq!(seq, 3);
}

#[test]
fn removing_the_newest_rows_is_seen() {
    let (_d, path) = ten_rows();
    tamper(&path, "DELETE FROM audit WHERE seq >= 9");
    let (seq, reason) = broken_at(&path);
    assert_eq!(seq, 9);
    assert!(
        reason.contains("newest rows after row 8 were removed"),
        "{reason}"
    );
}

#[test]
fn a_forged_row_appended_at_the_end_is_seen() {
    let (_d, path) = ten_rows();
    tamper(
        &path,
        "INSERT INTO audit SELECT 11, ts_ms, 'mallory', action, target, detail, hash, hash FROM audit WHERE seq = 10",
    );
    let (seq, _) = broken_at(&path);
    assert_eq!(seq, 11);
}

/// A verify while another connection keeps appending sees one moment of the log: never rows
/// from before an append and a head from after it (which looked like removed rows).
#[test]
fn verifying_while_rows_are_appended_gives_no_false_alarm() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (_d, path) = db();
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (path, stop, appended) = (path.clone(), stop.clone(), appended.clone());
        std::thread::spawn(move || {
            let mut w = Store::open(&path).unwrap();
            while !stop.load(Ordering::Relaxed) {
                let n = appended.load(Ordering::Relaxed);
                w.audit_append(&[rec(n)]).expect("an append");
                appended.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while appended.load(Ordering::Relaxed) < 10 {
        std::thread::yield_now();
    }
    let reader = Store::open(&path).unwrap();
    let start = appended.load(Ordering::Relaxed);
    let verdicts: Vec<AuditReport> = (0..40).map(|_| reader.audit_verify().unwrap()).collect();
    let during = appended.load(Ordering::Relaxed) - start;
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(during > 0, "rows were appended while verifying");
    let alarms: Vec<&AuditReport> = verdicts
        .iter()
        .filter(|v| !matches!(v, AuditReport::Ok { .. }))
        .collect();
    assert!(
        alarms.is_empty(),
        "{} false alarms in 40 verifies ({during} rows appended meanwhile): {:?}",
        alarms.len(),
        alarms.first()
    );
}
