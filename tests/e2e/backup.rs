//! `qcity backup` during a storm of restarts, `qcity restore` into a fresh data dir and over a
//! running daemon, and a damaged archive refused.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{Daemon, qcity_in as qcity, text, unique};

fn storm(n: usize) -> String {
    let list: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"name": "{}", "command": ["sh", "-c", "sleep 0.05; exit 1"],
                    "restart": {{"delay_ms": 50, "factor": 1.0, "crash_loop": null}}}}"#,
                unique(&format!("storm{i}"))
            )
        })
        .collect();
    format!("{{\"runners\": [{}]}}", list.join(",\n"))
}

fn archive_in(dir: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tar"))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn a_backup_taken_in_a_restart_storm_restores_whole_and_a_damaged_one_is_refused() {
    let mut d = Daemon::start(&storm(10));
    std::thread::sleep(std::time::Duration::from_secs(1));
    let backups = d.dir.path().join("backups");
    let out = qcity(
        &["backup", "--to", backups.to_str().unwrap()],
        &d.data(),
        &d.conf(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("audit chain OK"), "{said}");
    let archive = archive_in(&backups);
    assert_eq!(
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Into a fresh data dir and config dir: whole, and its chain verifies.
    let fresh = tempfile::tempdir().unwrap();
    let (data2, conf2) = (fresh.path().join("data"), fresh.path().join("config"));
    let out = qcity(&["restore", archive.to_str().unwrap()], &data2, &conf2);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = qcity(&["audit", "verify"], &data2, &conf2);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_eq!(
        std::fs::read(conf2.join("runner_manifest.json")).unwrap(),
        std::fs::read(d.conf().join("runner_manifest.json")).unwrap()
    );

    // One flipped byte in the store's bytes: refused with the reason, nothing touched.
    let mut bytes = std::fs::read(&archive).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0xff;
    let damaged = d.dir.path().join("damaged.tar");
    std::fs::write(&damaged, &bytes).unwrap();
    let before = std::fs::read(data2.join("qcity.db")).unwrap();
    let out = qcity(&["restore", damaged.to_str().unwrap()], &data2, &conf2);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("does not match its SHA-256") || err.contains("not a QCity backup"),
        "{err}"
    );
    assert_eq!(std::fs::read(data2.join("qcity.db")).unwrap(), before);

    // Over the running daemon: it is stopped, the store swapped, the old one kept aside.
    let out = qcity(
        &["restore", archive.to_str().unwrap()],
        &d.data(),
        &d.conf(),
    );
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(d.wait_exit(), Some(0));
    let aside: Vec<PathBuf> = std::fs::read_dir(d.data().join("aside"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(aside[0].join("qcity.db").exists());
    let out = qcity(&["audit", "verify"], &d.data(), &d.conf());
    assert!(out.status.success(), "{}", text(&out.stdout));
    // And it starts again on the restored store.
    d.spawn();
    let out = qcity(&["audit", "verify"], &d.data(), &d.conf());
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn scheduled_backups_start_when_the_newest_is_too_old_and_keep_the_newest() {
    let mut d = Daemon::new(r#"{"runners": []}"#);
    std::fs::write(
        d.conf().join("qcity-device-config.json"),
        r#"{"api": {"port": 0}, "platforms": {"enabled": false},
            "backup": {"every_minutes": 60, "keep": 2, "dir": "../saved"}}"#,
    )
    .unwrap();
    let saved = d.dir.path().join("saved");
    std::fs::create_dir_all(&saved).unwrap();
    // Three archives of an earlier day, the newest older than the interval.
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    for i in 1..=3 {
        let p = saved.join(format!("qcity-backup-2026010{i}T000000Z.tar"));
        std::fs::write(&p, b"old").unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(day_ago + std::time::Duration::from_secs(i))
            .unwrap();
    }
    d.spawn();
    let taken = crate::support::wait_until("a backup-taken event", || {
        d.events("backup-taken").into_iter().next()
    });
    let archive = PathBuf::from(taken["archive"].as_str().unwrap());
    assert!(archive.starts_with(&saved) || archive.starts_with(d.conf().join("../saved")));
    assert_eq!(taken["removed"].as_array().unwrap().len(), 2, "{taken}");
    let left: Vec<String> = std::fs::read_dir(&saved)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(
        left.contains(&"qcity-backup-20260103T000000Z.tar".to_string()),
        "{left:?}"
    );
    // It is a whole archive: it restores.
    let fresh = tempfile::tempdir().unwrap();
    let out = qcity(
        &["restore", archive.to_str().unwrap()],
        &fresh.path().join("data"),
        &fresh.path().join("config"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}
