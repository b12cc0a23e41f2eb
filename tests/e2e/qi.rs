//! `qcity qi install` against a real daemon: the release manifest and a tar.gz built and signed
//! here are served by an HTTP server on loopback; the install lands in the daemon's user data
//! directory with its default features, refused while the gate is closed (no autotest, a
//! failing one, an unhealthy runner); a tampered file or a bad signature is refused and
//! nothing is left behind.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use qcity_installer::verify::sign::KeyPair;
use sha2::Digest;

use crate::support::{Daemon, agent, text, unique, wait_until, write};

/// Serves the files of `dir` at `/NAME`.
fn serve(dir: &Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut req = Vec::new();
            let mut buf = [0u8; 2048];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&req)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            let resp = match std::fs::read(dir.join(path)) {
                Ok(body) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                }
                Err(_) => {
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                }
            };
            let _ = conn.write_all(&resp);
        }
    });
    base
}

/// What is wrong with the release the test serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    None,
    /// The asset's bytes were changed after hashing and signing.
    Tampered,
    /// The asset's hash is right, its signature (same key) is over other bytes.
    BadSignature,
    /// The asset is fine; the default feature's signature is over other bytes.
    BadFeatureSignature,
}

/// `dir`'s tree as a tar.gz at `archive`; its bytes.
fn tar_gz(dir: &Path, archive: &Path) -> Vec<u8> {
    assert!(
        Command::new("tar")
            .arg("-czf")
            .arg(archive)
            .arg("-C")
            .arg(dir)
            .arg(".")
            .status()
            .unwrap()
            .success()
    );
    std::fs::read(archive).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A release of one tar.gz asset for this machine and two features (`extras`, on by default,
/// and `docs`, off), signed; a daemon on `runner_manifest` whose machine checks cannot fail
/// (free disk and memory limits at 0), so its autotest passes or fails by the manifest's
/// own checks alone. Returns (daemon, xdg data dir, the directory that holds both, removed on
/// drop).
fn setup_with(
    flaw: Flaw,
    runner_manifest: &str,
) -> (Daemon, std::path::PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().to_path_buf();
    let tree = work.join("tree");
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    std::fs::write(tree.join("bin/qi"), "#!/bin/sh\necho QI 1.4.0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tree.join("bin/qi"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let site = work.join("site");
    std::fs::create_dir_all(&site).unwrap();
    let archive = site.join("qi-1.4.0.tar.gz");
    let bytes = tar_gz(&tree, &archive);
    let keys = KeyPair::from_seed([5; 32], [5; 8]);
    let mut sig = keys.sign(&bytes, "QI 1.4.0");
    match flaw {
        Flaw::Tampered => {
            let mut bad = bytes.clone();
            let n = bad.len();
            bad[n / 2] ^= 0xff;
            std::fs::write(&archive, bad).unwrap();
        }
        Flaw::BadSignature => sig = keys.sign(b"some other file", "QI 1.4.0"),
        Flaw::None | Flaw::BadFeatureSignature => {}
    }
    let mut features = Vec::new();
    for (name, default) in [("extras", true), ("docs", false)] {
        let ft = work.join(format!("feature-{name}"));
        std::fs::create_dir_all(&ft).unwrap();
        std::fs::write(ft.join(format!("{name}.txt")), name).unwrap();
        let file = format!("qi-{name}.tar.gz");
        let fb = tar_gz(&ft, &site.join(&file));
        let signed: &[u8] = if flaw == Flaw::BadFeatureSignature && default {
            b"not this feature"
        } else {
            &fb
        };
        features.push(serde_json::json!({
            "name": name, "description": format!("the {name}"), "default": default,
            "url": file, "size": fb.len(), "sha256": sha256(&fb),
            "signature": keys.sign(signed, name)
        }));
    }
    let arch = std::env::consts::ARCH;
    let manifest = serde_json::json!({
        "app": "QI",
        "versions": [{"version": "1.4.0", "assets": [{
            "os": "linux", "arch": arch, "format": "tar.gz",
            "url": "qi-1.4.0.tar.gz", "size": bytes.len(), "sha256": sha256(&bytes),
            "signature": sig
        }], "features": features}]
    });
    std::fs::write(site.join("releases.json"), manifest.to_string()).unwrap();
    let base = serve(&site);
    let key = keys.public_key().lines().nth(1).unwrap().to_string();
    let mut d = Daemon::start(runner_manifest);
    std::fs::write(
        d.conf().join("qcity-device-config.json"),
        serde_json::json!({
            "api": {"port": 0}, "supervisor": {"stop_grace_ms": 3000},
            "platforms": {"enabled": false},
            "resources": {"min_free_disk_mb": 0, "min_free_memory_mb": 0},
            "installer": {"manifest": format!("{base}/releases.json"), "public_key": key}
        })
        .to_string(),
    )
    .unwrap();
    let xdg = work.join("xdg");
    d.env
        .push(("XDG_DATA_HOME".into(), xdg.display().to_string()));
    d.signal(libc::SIGTERM);
    d.wait_exit();
    d.spawn();
    (d, xdg, tmp)
}

fn setup(flaw: Flaw) -> (Daemon, std::path::PathBuf, tempfile::TempDir) {
    setup_with(flaw, r#"{"runners": []}"#)
}

/// `POST /api/v1/qi/install` as the master: (status, body).
fn post_install(d: &Daemon, body: serde_json::Value) -> (u16, serde_json::Value) {
    let agent = agent();
    let mut resp = agent
        .post(format!("{}/qi/install", d.api_base()))
        .header("Authorization", format!("Bearer {}", d.token()))
        .send_json(body)
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap())
}

/// `qcity qi list --json`.
fn view(d: &Daemon) -> serde_json::Value {
    let out = d.qcity(&["qi", "list", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The files left in the daemon's downloads dir (recursively).
fn downloads_left(d: &Daemon) -> Vec<std::path::PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out);
            } else {
                out.push(e.path());
            }
        }
    }
    let mut out = Vec::new();
    walk(&d.data().join("downloads"), &mut out);
    out
}

/// The `qi-install` events' (phase, detail) in the store, oldest first.
fn install_events(d: &Daemon) -> Vec<(String, String)> {
    d.events("qi-install")
        .iter()
        .map(|e| {
            (
                e["phase"].as_str().unwrap_or("").to_string(),
                e["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn install_is_refused_until_an_autotest_passes_then_lands_in_the_user_dir() {
    let (d, xdg, _tmp) = setup(Flaw::None);
    let out = d.qcity(&["qi", "install"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("installing is blocked: no autotest has run yet"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !xdg.join("qcity/apps").exists(),
        "nothing installed while blocked"
    );

    let at = d.qcity(&["autotest"]);
    assert!(
        at.status.success(),
        "this machine's autotest: {}",
        text(&at.stdout)
    );
    let out = d.qcity(&["qi", "install"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let progress = text(&out.stderr);
    assert!(
        progress.contains("100%") && progress.contains("verifying qi-1.4.0.tar.gz"),
        "{progress}"
    );
    let launcher = xdg.join("qcity/apps/qi/1.4.0/bin/qi");
    let said = text(&out.stdout);
    assert!(said.contains("installed QI 1.4.0 in"), "{said}");
    let ran = Command::new(&launcher).output().unwrap();
    assert_eq!(text(&ran.stdout).trim(), "QI 1.4.0");
    assert!(xdg.join("applications/qcity-qi.desktop").is_file());
    // The default feature comes without being asked for; the other one does not.
    let features = xdg.join("qcity/apps/qi/1.4.0/features");
    assert!(features.join("extras/extras.txt").is_file(), "{said}");
    assert!(!features.join("docs").exists(), "{said}");
    assert!(
        said.contains("feature extras") && !said.contains("feature docs"),
        "{said}"
    );
}

#[test]
fn default_features_can_be_left_out_and_others_added() {
    let (d, xdg, _tmp) = setup(Flaw::None);
    assert!(d.qcity(&["autotest"]).status.success());
    let out = d.qcity(&[
        "qi",
        "install",
        "--no-feature",
        "extras",
        "--feature",
        "docs",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let features = xdg.join("qcity/apps/qi/1.4.0/features");
    assert!(features.join("docs/docs.txt").is_file());
    assert!(!features.join("extras").exists(), "left out");

    // A name the release does not have is refused before anything is downloaded.
    let out = d.qcity(&["qi", "install", "--no-feature", "extra"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("there is no feature `extra` (the release offers: extras, docs)"),
        "{}",
        text(&out.stderr)
    );
    // The dashboard's exact set: nothing checked, nothing added.
    std::fs::remove_dir_all(xdg.join("qcity/apps")).unwrap();
    let (status, body) = post_install(&d, serde_json::json!({"asset": 0, "features": []}));
    assert_eq!(status, 202, "{body}");
    let home = xdg.join("qcity/apps/qi/1.4.0");
    wait_until("the install", || {
        home.join("bin/qi").is_file().then_some(())
    });
    wait_until("the install's end", || {
        install_events(&d)
            .iter()
            .filter(|(phase, _)| phase == "installed")
            .nth(1)
            .cloned()
    });
    assert!(!home.join("features").exists(), "no feature was checked");
}

#[test]
fn a_failing_autotest_closes_the_gate_until_it_passes() {
    let m = r#"{"runners": [], "tasks": [
        {"name": "qi-smoke", "command": ["sh", "-c", "test -f smoke-ok || { echo 'smoke-ok is missing' >&2; exit 1; }"], "autotest": true}
    ]}"#;
    let (d, xdg, _tmp) = setup_with(Flaw::None, m);
    let at = d.qcity(&["autotest"]);
    assert_eq!(at.status.code(), Some(7), "{}", text(&at.stdout));

    let v = view(&d);
    assert_eq!(v["gate"]["open"], false, "{v}");
    let reasons = v["gate"]["reasons"].to_string();
    assert!(
        reasons.contains("the latest autotest failed") && reasons.contains("task:qi-smoke"),
        "{reasons}"
    );
    let listed = text(&d.qcity(&["qi", "list"]).stdout);
    assert!(
        listed.contains("install: blocked") && listed.contains("task:qi-smoke"),
        "{listed}"
    );
    let (status, body) = post_install(&d, serde_json::json!({"asset": 0}));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "gate_closed", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("the latest autotest failed") && message.contains("task:qi-smoke"),
        "{body}"
    );
    let out = d.qcity(&["qi", "install"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("task:qi-smoke"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        downloads_left(&d).is_empty(),
        "nothing downloaded while blocked"
    );
    assert!(!xdg.join("qcity/apps").exists());

    write(&d.conf().join("smoke-ok"), "");
    let at = d.qcity(&["autotest"]);
    assert!(at.status.success(), "{}", text(&at.stdout));
    let v = view(&d);
    assert_eq!(v["gate"]["open"], true, "{v}");
    let out = d.qcity(&["qi", "install"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(xdg.join("qcity/apps/qi/1.4.0/bin/qi").is_file());
}

#[test]
fn an_unhealthy_runner_closes_the_gate() {
    let name = unique("qi-gate");
    let m = format!(
        r#"{{"runners": [{{"name": "{name}", "command": ["sh", "-c", "exec sleep 300"],
            "probes": [{{"name": "marker", "exec": {{"command": ["test", "-f", "healthy"]}},
                         "interval_ms": 100, "failure_threshold": 1, "success_threshold": 1,
                         "start_grace_ms": 0}}]}}]}}"#
    );
    let (d, _xdg, _tmp) = setup_with(Flaw::None, &m);
    write(&d.conf().join("healthy"), "");
    d.wait_state(&name, "running");
    wait_until("the runner to be healthy", || {
        (d.runner(&name)["health"] == "healthy").then_some(())
    });
    assert!(d.qcity(&["autotest"]).status.success());
    assert_eq!(view(&d)["gate"]["open"], true);

    std::fs::remove_file(d.conf().join("healthy")).unwrap();
    wait_until("the runner to be unhealthy", || {
        (d.runner(&name)["health"] == "unhealthy").then_some(())
    });
    let v = view(&d);
    assert_eq!(v["gate"]["open"], false, "{v}");
    let (status, body) = post_install(&d, serde_json::json!({"asset": 0}));
    assert_eq!(status, 409, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("runner {name} is unhealthy (marker:")),
        "{body}"
    );

    write(&d.conf().join("healthy"), "");
    wait_until("the gate to open again", || {
        (view(&d)["gate"]["open"] == true).then_some(())
    });
}

#[test]
fn a_tampered_download_is_refused_and_deleted() {
    let (d, xdg, _tmp) = setup(Flaw::Tampered);
    assert!(d.qcity(&["autotest"]).status.success());
    let out = d.qcity(&["qi", "install"]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(
        said.contains("SHA-256 mismatch") && said.contains("deleted and nothing was installed"),
        "{said}"
    );
    assert!(!xdg.join("qcity/apps").exists(), "nothing installed");
    let left = downloads_left(&d);
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn a_bad_signature_is_refused_and_leaves_nothing_behind() {
    let (d, xdg, _tmp) = setup(Flaw::BadSignature);
    assert!(d.qcity(&["autotest"]).status.success());
    let (status, body) = post_install(&d, serde_json::json!({"asset": 0}));
    assert_eq!(status, 202, "{body}");
    let (_, detail) = wait_until("the install to fail", || {
        install_events(&d).into_iter().find(|(p, _)| p == "failed")
    });
    assert!(
        detail.contains("qi-1.4.0.tar.gz: bad signature: the signature does not match the file")
            && detail.contains("deleted and nothing was installed"),
        "{detail}"
    );
    assert!(
        !install_events(&d).iter().any(|(p, _)| p == "installing"),
        "it never got to installing"
    );
    let left = downloads_left(&d);
    assert!(left.is_empty(), "files left behind: {left:?}");
    assert!(!xdg.join("qcity/apps").exists(), "nothing installed");
    assert!(!xdg.join("applications").exists(), "no desktop entry");

    // The CLI says the same.
    let out = d.qcity(&["qi", "install"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bad signature"),
        "{}",
        text(&out.stderr)
    );
    assert!(downloads_left(&d).is_empty());
}

#[test]
fn a_feature_with_a_bad_signature_takes_the_verified_asset_with_it() {
    let (d, xdg, _tmp) = setup(Flaw::BadFeatureSignature);
    assert!(d.qcity(&["autotest"]).status.success());
    let out = d.qcity(&["qi", "install"]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(
        said.contains("qi-extras.tar.gz: bad signature")
            && said.contains("deleted and nothing was installed"),
        "{said}"
    );
    // The asset itself was verified first; it must not stay either.
    let left = downloads_left(&d);
    assert!(left.is_empty(), "files left behind: {left:?}");
    assert!(!xdg.join("qcity/apps").exists(), "nothing installed");
    let events = install_events(&d);
    assert!(
        events
            .iter()
            .any(|(p, detail)| p == "failed" && detail.contains("qi-extras.tar.gz: bad signature")),
        "{events:?}"
    );
    // Left out, the broken feature is not fetched and the rest installs.
    let out = d.qcity(&["qi", "install", "--no-feature", "extras"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(xdg.join("qcity/apps/qi/1.4.0/bin/qi").is_file());
}

/// The sample configuration's installer: the checked-in manifest, the files the sample
/// builder writes, the pinned sample key. On this x86_64 glibc machine the glibc tar.gz
/// fits; it installs with the optional feature, and the launcher runs.
#[test]
fn the_sample_release_installs_its_tar_gz_with_a_feature() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let mut d = Daemon::start(r#"{"runners": []}"#);
    let mut device: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.join("qcity-device-config.json")).unwrap(),
    )
    .unwrap();
    device["api"]["port"] = 0.into();
    device["platforms"] = serde_json::json!({"enabled": false});
    device["supervisor"]["stop_grace_ms"] = 3000.into();
    // The autotest then passes or fails by the manifest alone, not by this machine's load.
    device["resources"] = serde_json::json!({"min_free_disk_mb": 0, "min_free_memory_mb": 0});
    std::fs::write(
        d.conf().join("qcity-device-config.json"),
        device.to_string(),
    )
    .unwrap();
    let qi = d.conf().join("qi");
    std::fs::create_dir_all(&qi).unwrap();
    std::fs::copy(repo.join("qi/manifest.json"), qi.join("manifest.json")).unwrap();
    qcity_installer::sample::write(&qi).unwrap();
    let work = tempfile::tempdir().unwrap();
    let xdg = work.path().join("xdg");
    d.env
        .push(("XDG_DATA_HOME".into(), xdg.display().to_string()));
    d.signal(libc::SIGTERM);
    d.wait_exit();
    d.spawn();
    assert!(d.qcity(&["autotest"]).status.success());

    let listed = d.qcity(&["qi", "list", "--json"]);
    let view: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(view["app"], "qi-sample", "{view}");
    assert_eq!(view["gate"]["open"], true, "{view}");
    let options = view["options"].as_array().unwrap();
    let aarch64 = options.iter().find(|o| o["arch"] == "aarch64").unwrap();
    if std::env::consts::ARCH != "x86_64" {
        return;
    }
    assert_eq!(aarch64["fits"], false, "listed, not hidden: {aarch64}");
    let tarball = options
        .iter()
        .find(|o| o["format"] == "tar.gz" && o["fits"] == true && o["libc"]["kind"] == "glibc")
        .unwrap_or_else(|| panic!("no fitting glibc tar.gz: {view}"));
    let asset = tarball["asset"].as_u64().unwrap().to_string();

    let out = d.qcity(&[
        "qi",
        "install",
        "--asset",
        &asset,
        "--feature",
        "shell-completions",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("feature shell-completions"),
        "{}",
        text(&out.stdout)
    );
    let home = xdg.join("qcity/apps/qi-sample/1.0.0");
    let ran = Command::new(home.join("bin/qi-sample")).output().unwrap();
    assert_eq!(text(&ran.stdout), "QI sample 1.0.0 (x86_64, glibc)\n");
    assert!(
        home.join("features/shell-completions/completions/qi-sample.bash")
            .is_file()
    );
}
