use qcity_store::{EventRow, LedgerOp, ProcessRecord, SCHEMA_VERSION, Store, StoreError};

use crate::db;

fn ev(id: u64) -> EventRow {
    EventRow {
        id,
        ts_ms: id as i64 * 10,
        kind: "k".into(),
        runner: Some("r".into()),
        data: format!("{{\"id\":{id}}}"),
    }
}

#[test]
fn migrations_are_idempotent_and_data_survives_reopen() {
    let (_d, path) = db();
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(s.journal_mode().unwrap(), "wal");
    s.write_batch(&[ev(1), ev(2)], &[]).unwrap();
    drop(s);
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(s.last_event_id().unwrap(), 2);
}

#[test]
fn a_newer_schema_is_refused() {
    let (_d, path) = db();
    drop(Store::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(c);
    match Store::open(&path) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn desktop_notices_stored_before_notice_kinds_get_the_kind_their_severity_meant() {
    let (_d, path) = db();
    let mut s = Store::open(&path).unwrap();
    let notice = |id: u64, severity: &str| EventRow {
        id,
        ts_ms: 1,
        kind: "notice".into(),
        runner: Some("a".into()),
        data: format!(
            r#"{{"id":{id},"ts_ms":1,"type":"notice","channel":"desktop","notice":{{"severity":"{severity}","title":"t","body":"b","runner":"a"}}}}"#
        ),
    };
    s.write_batch(
        &[notice(1, "info"), notice(2, "error"), notice(3, "critical")],
        &[],
    )
    .unwrap();
    drop(s);
    // As a database of schema 4 holds them.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.pragma_update(None, "user_version", 4).unwrap();
    drop(c);
    let s = Store::open(&path).unwrap();
    let kinds: Vec<String> = s
        .events_after(0, 10)
        .unwrap()
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_str(&r.data).unwrap();
            v["notice"]["kind"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(kinds, ["fixed", "failure", "escalation"]);
}

#[test]
fn events_page_in_id_order_and_ids_are_unique() {
    let (_d, path) = db();
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.last_event_id().unwrap(), 0);
    let batch: Vec<_> = (1..=25).map(ev).collect();
    s.write_batch(&batch, &[]).unwrap();
    let page = s.events_after(10, 5).unwrap();
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![11, 12, 13, 14, 15]
    );
    assert_eq!(page[0], ev(11));
    assert!(s.write_batch(&[ev(3)], &[]).is_err());
    // The failed batch left nothing behind.
    assert_eq!(s.events_after(0, 100).unwrap().len(), 25);
}

#[test]
fn the_ledger_tracks_each_runners_current_process() {
    let (_d, path) = db();
    let mut s = Store::open(&path).unwrap();
    let rec = |runner: &str, pid| ProcessRecord {
        runner: runner.into(),
        pid,
        pgid: pid,
        start_ticks: 99,
        started_ms: 5,
    };
    s.write_batch(
        &[],
        &[
            LedgerOp::Started(rec("a", 10)),
            LedgerOp::Started(rec("b", 20)),
        ],
    )
    .unwrap();
    s.write_batch(&[], &[LedgerOp::Started(rec("a", 11))])
        .unwrap();
    // A late "gone" for the old pid does not remove the new process.
    s.write_batch(
        &[],
        &[LedgerOp::Gone {
            runner: "a".into(),
            pid: 10,
        }],
    )
    .unwrap();
    assert_eq!(s.processes().unwrap(), vec![rec("a", 11), rec("b", 20)]);
    s.write_batch(
        &[],
        &[LedgerOp::Gone {
            runner: "b".into(),
            pid: 20,
        }],
    )
    .unwrap();
    assert_eq!(s.processes().unwrap(), vec![rec("a", 11)]);
}
