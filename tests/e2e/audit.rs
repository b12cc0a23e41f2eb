//! The audit log edited with SQL behind QCity's back: `qcity audit verify` names the row.

use std::path::Path;

use crate::daemon::manifest;
use crate::support::{Daemon, text, unique};

/// Runs `sql` on the store the way an intruder with file access would: dropping the
/// append-only triggers first.
fn tamper(db: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;",
    )
    .unwrap();
    conn.execute_batch(sql).unwrap();
}

fn snapshot(data: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    std::fs::read_dir(data)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("qcity.db"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn restore(data: &Path, snap: &[(std::path::PathBuf, Vec<u8>)]) {
    for e in std::fs::read_dir(data).unwrap().flatten() {
        if e.path().to_string_lossy().contains("qcity.db") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    for (p, bytes) in snap {
        std::fs::write(p, bytes).unwrap();
    }
}

#[test]
fn verify_names_the_row_that_was_edited_deleted_inserted_or_reordered() {
    let name = unique("audited");
    let mut d = Daemon::start(&manifest(&[(&name, "exec sleep 300")]));
    d.wait_state(&name, "running");
    for cmd in ["stop", "start", "restart"] {
        assert!(d.qcity(&[cmd, &name]).status.success());
    }
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));

    let out = d.qcity(&["audit", "verify"]);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(said.starts_with("audit log OK: "), "{said}");
    let rows: u64 = said["audit log OK: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rows >= 10, "{said}");
    let tail = text(&d.qcity(&["audit", "tail", "-n", "100"]).stdout);
    assert!(
        tail.contains("master:cli") && tail.contains("control.restart"),
        "{tail}"
    );

    let data = d.data();
    let db = data.join("qcity.db");
    let pristine = snapshot(&data);
    let cases = [
        (
            "UPDATE audit SET actor = 'mallory' WHERE seq = 4",
            "at row 4:",
        ),
        (
            "DELETE FROM audit WHERE seq = 5",
            "row 5 before it is missing",
        ),
        (
            "UPDATE audit SET seq = seq + 1000 WHERE seq >= 6; \
             INSERT INTO audit SELECT 6, ts_ms, 'mallory', action, target, detail, prev_hash, hash \
               FROM audit WHERE seq = 1006; \
             UPDATE audit SET seq = seq - 999 WHERE seq >= 1006;",
            "at row 6:",
        ),
        (
            "UPDATE audit SET seq = -1 WHERE seq = 7; UPDATE audit SET seq = 7 WHERE seq = 8; \
             UPDATE audit SET seq = 8 WHERE seq = -1;",
            "at row 7:",
        ),
        (
            &format!("DELETE FROM audit WHERE seq > {}", rows - 2),
            "newest rows after row",
        ),
    ];
    for (sql, expect) in cases {
        restore(&data, &pristine);
        tamper(&db, sql);
        let out = d.qcity(&["audit", "verify"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{sql}: {err}");
        assert!(
            err.contains("audit log BROKEN") && err.contains(expect),
            "{sql}: {err}"
        );
    }
}
