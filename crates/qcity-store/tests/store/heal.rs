use qcity_store::{RuleStats, SignatureRow, Store};

fn sig(key: &str) -> SignatureRow {
    SignatureRow {
        key: key.into(),
        runner: "build".into(),
        exit: "exit 1".into(),
        probe: String::new(),
        templates: r#"["No space left on device"]"#.into(),
        count: 0,
        first_ms: 0,
        last_ms: 0,
    }
}

#[test]
fn signatures_count_sightings_rank_by_frequency_and_keep_their_trend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let mut s = Store::open(&path).unwrap();
    const HOUR: i64 = 3_600_000;
    for ts in [HOUR, HOUR + 10, 3 * HOUR + 5] {
        s.signature_seen(&sig("disk"), ts).unwrap();
    }
    let once = s.signature_seen(&sig("net"), 2 * HOUR).unwrap();
    assert_eq!(
        (once.count, once.first_ms, once.last_ms),
        (1, 2 * HOUR, 2 * HOUR)
    );
    drop(s);
    // Durable: a reopened store has the same rows.
    let s = Store::open(&path).unwrap();
    let top = s.top_signatures(10).unwrap();
    assert_eq!(
        top.iter()
            .map(|r| (r.key.as_str(), r.count))
            .collect::<Vec<_>>(),
        [("disk", 3), ("net", 1)]
    );
    assert_eq!((top[0].first_ms, top[0].last_ms), (HOUR, 3 * HOUR + 5));
    assert_eq!(
        s.signature_trend("disk", 0, HOUR).unwrap(),
        [(HOUR, 2), (3 * HOUR, 1)]
    );
    assert_eq!(
        s.signature_trend("disk", 2 * HOUR, HOUR).unwrap(),
        [(3 * HOUR, 1)]
    );
}

/// Repeats counted in memory and written together count as many sightings as one by one:
/// in the signature's count and in its trend.
#[test]
fn sightings_written_together_count_each_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("q.db")).unwrap();
    const HOUR: i64 = 3_600_000;
    let first = s.signature_seen(&sig("storm"), HOUR).unwrap();
    assert_eq!(first.count, 1);
    let row = s
        .signature_seen_times(&sig("storm"), 41, HOUR + 900)
        .unwrap();
    assert_eq!(
        (row.count, row.first_ms, row.last_ms),
        (42, HOUR, HOUR + 900)
    );
    s.signatures_seen(&[
        (sig("storm"), 500, 2 * HOUR + 1),
        (sig("other"), 3, 2 * HOUR + 2),
        (sig("none"), 0, 2 * HOUR + 3),
    ])
    .unwrap();
    // A batch written late never moves the last sighting back.
    s.signatures_seen(&[(sig("storm"), 8, HOUR + 5)]).unwrap();
    let top = s.top_signatures(10).unwrap();
    assert_eq!(
        top.iter()
            .map(|r| (r.key.as_str(), r.count, r.last_ms))
            .collect::<Vec<_>>(),
        [("storm", 550, 2 * HOUR + 1), ("other", 3, 2 * HOUR + 2)]
    );
    assert_eq!(
        s.signature_trend("storm", 0, HOUR).unwrap(),
        [(HOUR, 50), (2 * HOUR, 500)]
    );
}

#[test]
fn outcomes_are_counted_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("q.db")).unwrap();
    s.heal_outcome("k", "clean", false, 1).unwrap();
    s.heal_outcome("k", "clean", true, 2).unwrap();
    s.heal_outcome("k", "restart", false, 3).unwrap();
    s.heal_outcome("other", "restart", true, 4).unwrap();
    assert_eq!(
        s.rule_stats("k").unwrap(),
        [
            RuleStats {
                rule: "clean".into(),
                attempts: 2,
                successes: 1
            },
            RuleStats {
                rule: "restart".into(),
                attempts: 1,
                successes: 0
            }
        ]
    );
}
