//! `qcity backup` during a storm of restarts, `qcity restore` into a fresh data dir and over a
//! running daemon, and a damaged archive refused.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{Daemon, QCITY, text, unique};

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

fn qcity(args: &[&str], data: &Path, config: &Path) -> std::process::Output {
    std::process::Command::new(QCITY)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("QCITY_CONFIG_DIR", config)
        .env("QCITY_LOG", "warn")
        .output()
        .unwrap()
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
