//! Check, stage and switch against real files and a real HTTP server on loopback, with
//! releases signed here by a test key: what is kept is only ever a verified version.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use qcity_config::UpdateSettings;
use qcity_config::update_manifest::daemon_target;
use qcity_installer::fetch::Trust;
use qcity_installer::verify::PublicKey;
use qcity_installer::verify::sign::KeyPair;
use qcity_update::versions::{self, BINARY};
use qcity_update::{Check, UpdateError, check, stage};
use semver::Version;

fn keys(seed: u8) -> KeyPair {
    KeyPair::from_seed([seed; 32], [seed, 1, 2, 3, 4, 5, 6, 7])
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

struct Release {
    dir: tempfile::TempDir,
    settings: UpdateSettings,
}

/// A release dir with `qcity-VERSION` (the bytes `body`) and `update.json` announcing
/// `announced`; the file signed by `signer` with `comment` as its trusted comment.
fn release(
    announced: &str,
    body: &[u8],
    signer: &KeyPair,
    comment: &str,
    pinned: &KeyPair,
) -> Release {
    let dir = tempfile::tempdir().unwrap();
    let file = format!("qcity-{announced}");
    std::fs::write(dir.path().join(&file), body).unwrap();
    let manifest = serde_json::json!({
        "version": announced,
        "notes": "faster restarts",
        "pub_date": "2026-12-01T12:00:00Z",
        "platforms": {
            daemon_target(): {
                "url": file,
                "signature": signer.sign(body, comment),
                "size": body.len(),
                "sha256": sha256(body),
            },
            "linux-x86_64-deb": {"url": "qcity-tray.deb", "signature": "dGF1cmk="},
        }
    });
    std::fs::write(
        dir.path().join("update.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    let settings = UpdateSettings::new(
        dir.path().join("update.json").display().to_string(),
        pinned.public_key(),
    );
    Release { dir, settings }
}

fn v(text: &str) -> Version {
    Version::parse(text).unwrap()
}

fn stage_it(
    offer: &qcity_update::Offer,
    data: &Path,
    pinned: &KeyPair,
) -> Result<PathBuf, UpdateError> {
    let key = PublicKey::parse(&pinned.public_key()).unwrap();
    stage(offer, data, &key, &Trust::default(), &mut |_, _| {})
}

fn offer(found: Check) -> qcity_update::Offer {
    match found {
        Check::Available(o) => o,
        other => panic!("expected an offer, got {other:?}"),
    }
}

#[test]
fn a_newer_signed_release_is_staged_verified_switched_to_and_back() {
    let k = keys(7);
    let body = b"#!/bin/sh\necho qcity 0.2.0\n".repeat(1000);
    let r = release(
        "0.2.0",
        &body,
        &k,
        "timestamp:1\tfile:qcity\tversion:0.2.0",
        &k,
    );
    let data = tempfile::tempdir().unwrap();
    let found = offer(check(&r.settings, r.dir.path(), &v("0.1.0"), &[]).unwrap());
    assert_eq!(found.version, v("0.2.0"));
    assert_eq!(found.notes.as_deref(), Some("faster restarts"));
    let bin = stage_it(&found, data.path(), &k).unwrap();
    assert_eq!(bin, data.path().join("versions/0.2.0").join(BINARY));
    assert_eq!(std::fs::read(&bin).unwrap(), body);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(!data.path().join("versions/.staging/0.2.0").exists());

    // The running version kept beside it, then the switch and the way back.
    let old = data.path().join("versions/0.1.0");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join(BINARY), b"old").unwrap();
    versions::switch_to(data.path(), "0.1.0").unwrap();
    versions::switch_to(data.path(), "0.2.0").unwrap();
    assert_eq!(versions::current(data.path()).as_deref(), Some("0.2.0"));
    assert_eq!(versions::previous(data.path()).as_deref(), Some("0.1.0"));
    assert_eq!(
        std::fs::read(versions::current_binary(data.path()).unwrap()).unwrap(),
        body
    );
    assert_eq!(versions::switch_back(data.path()).unwrap(), "0.1.0");
    assert_eq!(versions::current(data.path()).as_deref(), Some("0.1.0"));
    assert_eq!(versions::previous(data.path()).as_deref(), Some("0.2.0"));
    let mut kept = versions::kept(data.path());
    kept.sort();
    assert_eq!(kept, ["0.1.0", "0.2.0"]);
}

#[test]
fn the_running_version_is_up_to_date_and_an_older_one_is_refused_as_a_downgrade() {
    let k = keys(7);
    let r = release("0.2.0", b"bin", &k, "version:0.2.0", &k);
    match check(&r.settings, r.dir.path(), &v("0.2.0"), &[]).unwrap() {
        Check::UpToDate { version } => assert_eq!(version, v("0.2.0")),
        other => panic!("{other:?}"),
    }
    let err = check(&r.settings, r.dir.path(), &v("0.3.1"), &[]).unwrap_err();
    assert!(
        err.to_string().contains("older than the running 0.3.1"),
        "{err}"
    );
    // A version rolled back here before is not offered again.
    let err = check(&r.settings, r.dir.path(), &v("0.1.0"), &[v("0.2.0")]).unwrap_err();
    assert!(err.to_string().contains("rolled back"), "{err}");
}

#[test]
fn a_signature_that_does_not_vouch_for_the_announced_version_is_refused() {
    let k = keys(7);
    // An old, validly signed file announced as a new version (the downgrade the unsigned
    // manifest would allow).
    let r = release("0.9.0", b"old build", &k, "version:0.1.5", &k);
    let err = check(&r.settings, r.dir.path(), &v("0.1.0"), &[]).unwrap_err();
    assert!(err.to_string().contains("vouches for 0.1.5"), "{err}");
    let r = release("0.9.0", b"old build", &k, "timestamp:1 file:qcity", &k);
    let err = check(&r.settings, r.dir.path(), &v("0.1.0"), &[]).unwrap_err();
    assert!(err.to_string().contains("names no `version:`"), "{err}");
}

#[test]
fn another_key_or_a_tampered_file_keeps_nothing() {
    let pinned = keys(7);
    let data = tempfile::tempdir().unwrap();
    let body = b"new build".repeat(100);
    let r = release("0.2.0", &body, &keys(9), "version:0.2.0", &pinned);
    let found = offer(check(&r.settings, r.dir.path(), &v("0.1.0"), &[]).unwrap());
    let err = stage_it(&found, data.path(), &pinned).unwrap_err();
    assert!(err.to_string().contains("another key"), "{err}");
    assert!(versions::kept(data.path()).is_empty());
    assert!(!data.path().join("versions/.staging/0.2.0").exists());

    let r = release("0.2.0", &body, &pinned, "version:0.2.0", &pinned);
    let found = offer(check(&r.settings, r.dir.path(), &v("0.1.0"), &[]).unwrap());
    let mut tampered = body.clone();
    tampered[3] ^= 1;
    std::fs::write(r.dir.path().join("qcity-0.2.0"), &tampered).unwrap();
    let err = stage_it(&found, data.path(), &pinned).unwrap_err();
    assert!(err.to_string().contains("SHA-256 mismatch"), "{err}");
    assert!(versions::kept(data.path()).is_empty());
    assert_eq!(versions::current(data.path()), None);
}

#[test]
fn a_manifest_with_errors_names_each_line_and_field() {
    let k = keys(7);
    let dir = tempfile::tempdir().unwrap();
    let target = daemon_target();
    let text = format!(
        "{{\n  \"version\": \"two\",\n  \"platforms\": {{\n    \"{target}\": {{\"url\": \"ftp://x/q\", \"signature\": \"s\", \"sha256\": \"abc\"}}\n  }}\n}}\n"
    );
    std::fs::write(dir.path().join("update.json"), text).unwrap();
    let settings = UpdateSettings::new("update.json", k.public_key());
    let err = check(&settings, dir.path(), &v("0.1.0"), &[])
        .unwrap_err()
        .to_string();
    for want in [
        "update.json:2:",
        "version: `two` is not MAJOR.MINOR.PATCH",
        &format!("platforms.{target}.url"),
        &format!("platforms.{target}.size: the daemon's file needs its size"),
        &format!("platforms.{target}.sha256: expected 64 hex digits"),
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

/// Serves the files of `dir` over HTTP/1.1 on loopback (GET by path; one request per
/// connection).
fn serve(dir: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&req).to_string();
            let path = text
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            let (status, body) = match std::fs::read(dir.join(path)) {
                Ok(b) => ("200 OK", b),
                Err(_) => ("404 Not Found", Vec::new()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        }
    });
    base
}

#[test]
fn a_release_on_a_loopback_server_with_a_tauri_style_base64_signature_is_staged() {
    let k = keys(7);
    let body = b"served build".repeat(5000);
    let r = release("1.0.0", &body, &k, "version:1.0.0", &k);
    // Tauri's `.sig` files hold base64 of the minisign text; the manifest carries that.
    let path = r.dir.path().join("update.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let entry = &mut m["platforms"][daemon_target()];
    let sig = entry["signature"].as_str().unwrap().to_string();
    entry["signature"] = base64::engine::general_purpose::STANDARD.encode(sig).into();
    std::fs::write(&path, m.to_string()).unwrap();
    let base = serve(r.dir.path().to_path_buf());
    let settings = UpdateSettings::new(format!("{base}/update.json"), k.public_key());
    let data = tempfile::tempdir().unwrap();
    let found = offer(check(&settings, data.path(), &v("0.1.0"), &[]).unwrap());
    let mut seen = 0;
    let key = PublicKey::parse(&k.public_key()).unwrap();
    let bin = stage(
        &found,
        data.path(),
        &key,
        &Trust::default(),
        &mut |done, _| seen = done,
    )
    .unwrap();
    assert_eq!(seen, body.len() as u64);
    assert_eq!(std::fs::read(bin).unwrap(), body);

    let missing = UpdateSettings {
        manifest: format!("{base}/nothing.json"),
        ..settings
    };
    let err = check(&missing, data.path(), &v("0.1.0"), &[]).unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
}
