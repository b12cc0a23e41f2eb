//! `qcity update check|status` as a user runs them: the real binary, a release manifest
//! signed here with a test key, the key pinned in the device config.

use std::path::Path;

use qcity_installer::verify::sign::KeyPair;
use sha2::Digest as _;

use crate::support::{QCITY, qcity_in, text};

fn keys() -> KeyPair {
    KeyPair::from_seed([3; 32], [3, 1, 2, 3, 4, 5, 6, 7])
}

/// A config dir whose device config pins `keys()` and names `update.json` beside it,
/// announcing `version` (signed for `signed`).
fn config_with_release(dir: &Path, version: &str, signed: &str) {
    let k = keys();
    let body = format!("#!/bin/sh\necho {version}\n").into_bytes();
    std::fs::write(dir.join("qcity-new"), &body).unwrap();
    let target = qcity_config::update_manifest::daemon_target();
    let manifest = serde_json::json!({
        "version": version,
        "notes": "the healer explains itself",
        "platforms": {target: {
            "url": "qcity-new",
            "signature": k.sign(&body, &format!("version:{signed}")),
            "size": body.len(),
            "sha256": hex::encode(sha2::Sha256::digest(&body)),
        }}
    });
    std::fs::write(dir.join("update.json"), manifest.to_string()).unwrap();
    std::fs::write(
        dir.join("qcity-device-config.json"),
        serde_json::json!({"update": {"manifest": "update.json", "public_key": k.public_key()}})
            .to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("runner_manifest.json"), r#"{"runners": []}"#).unwrap();
}

fn check(conf: &Path, data: &Path, json: bool) -> std::process::Output {
    let conf = conf.to_str().unwrap();
    let mut args = vec!["update", "check", "--config", conf];
    if json {
        args.push("--json");
    }
    qcity_in(&args, data, Path::new(conf))
}

#[test]
fn update_check_reports_a_newer_signed_release_and_refuses_a_downgrade_or_an_unvouched_version() {
    let conf = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let running = text(
        &std::process::Command::new(QCITY)
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    );
    let running = running.trim().strip_prefix("qcity ").unwrap().to_string();

    config_with_release(conf.path(), "99.0.0", "99.0.0");
    let out = check(conf.path(), data.path(), false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!("99.0.0 is available (running {running})")),
        "{said}"
    );
    assert!(said.contains("the healer explains itself"), "{said}");
    let out = check(conf.path(), data.path(), true);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["available"], true);
    assert_eq!(v["latest"], "99.0.0");
    assert_eq!(v["running"], running.as_str());

    config_with_release(conf.path(), &running, &running);
    let out = check(conf.path(), data.path(), false);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), format!("up to date: {running}"));

    config_with_release(conf.path(), "0.0.1", "0.0.1");
    let out = check(conf.path(), data.path(), false);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("older than the running"),
        "{}",
        text(&out.stderr)
    );

    config_with_release(conf.path(), "99.0.0", "0.0.1");
    let out = check(conf.path(), data.path(), false);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("vouches for 0.0.1"),
        "{}",
        text(&out.stderr)
    );

    // Nothing was downloaded or kept by a check.
    let out = qcity_in(&["update", "status"], data.path(), conf.path());
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("no versions kept"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn update_check_without_an_update_source_says_what_to_set() {
    let conf = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        conf.path().join("runner_manifest.json"),
        r#"{"runners": []}"#,
    )
    .unwrap();
    let out = check(conf.path(), data.path(), false);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("no update source: set `update.manifest` and `update.public_key`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn update_download_keeps_only_a_verified_release() {
    let conf = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let c = conf.path().to_str().unwrap();
    config_with_release(conf.path(), "99.0.0", "99.0.0");

    // A file changed after signing: refused, nothing kept.
    let good = std::fs::read(conf.path().join("qcity-new")).unwrap();
    let mut bad = good.clone();
    bad[0] ^= 1;
    std::fs::write(conf.path().join("qcity-new"), &bad).unwrap();
    let out = qcity_in(
        &["update", "download", "--config", c],
        data.path(),
        conf.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("SHA-256 mismatch"),
        "{}",
        text(&out.stderr)
    );
    assert!(!data.path().join("versions/99.0.0").exists());

    std::fs::write(conf.path().join("qcity-new"), &good).unwrap();
    let out = qcity_in(
        &["update", "download", "--config", c],
        data.path(),
        conf.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("99.0.0 verified"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("downloading 99.0.0: 100%"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read(data.path().join("versions/99.0.0/qcity")).unwrap(),
        good
    );
    let out = qcity_in(&["update", "status", "--json"], data.path(), conf.path());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kept"], serde_json::json!(["99.0.0"]));
    assert_eq!(v["current"], serde_json::Value::Null);
}
