//! `qcity qi install` against a real daemon: the release manifest and a tar.gz built and signed
//! here are served by an HTTP server on loopback; the install lands in the daemon's user data
//! directory, refused while no autotest passed; a tampered file is refused and deleted.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use qcity_installer::verify::sign::KeyPair;
use sha2::Digest;

use crate::support::{Daemon, text};

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

/// A release of one tar.gz asset for this machine, signed; returns (daemon, xdg data dir,
/// the directory that holds both, removed on drop).
fn setup(tamper: bool) -> (Daemon, std::path::PathBuf, tempfile::TempDir) {
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
    assert!(
        Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(&tree)
            .arg(".")
            .status()
            .unwrap()
            .success()
    );
    let bytes = std::fs::read(&archive).unwrap();
    let keys = KeyPair::from_seed([5; 32], [5; 8]);
    let sha: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sig = keys.sign(&bytes, "QI 1.4.0");
    if tamper {
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n / 2] ^= 0xff;
        std::fs::write(&archive, bad).unwrap();
    }
    let arch = std::env::consts::ARCH;
    let manifest = serde_json::json!({
        "app": "QI",
        "versions": [{"version": "1.4.0", "assets": [{
            "os": "linux", "arch": arch, "format": "tar.gz",
            "url": "qi-1.4.0.tar.gz", "size": bytes.len(), "sha256": sha, "signature": sig
        }]}]
    });
    std::fs::write(site.join("releases.json"), manifest.to_string()).unwrap();
    let base = serve(&site);
    let key = keys.public_key().lines().nth(1).unwrap().to_string();
    let mut d = Daemon::start(r#"{"runners": []}"#);
    std::fs::write(
        d.conf().join("qcity-device-config.json"),
        serde_json::json!({
            "api": {"port": 0}, "supervisor": {"stop_grace_ms": 3000},
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

#[test]
fn install_is_refused_until_an_autotest_passes_then_lands_in_the_user_dir() {
    let (d, xdg, _tmp) = setup(false);
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
    assert!(
        text(&out.stdout).contains("installed QI 1.4.0 in"),
        "{}",
        text(&out.stdout)
    );
    let ran = Command::new(&launcher).output().unwrap();
    assert_eq!(text(&ran.stdout).trim(), "QI 1.4.0");
    assert!(xdg.join("applications/qcity-qi.desktop").is_file());
}

#[test]
fn a_tampered_download_is_refused_and_deleted() {
    let (d, xdg, _tmp) = setup(true);
    assert!(d.qcity(&["autotest"]).status.success());
    let out = d.qcity(&["qi", "install"]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(
        said.contains("SHA-256 mismatch") && said.contains("deleted and nothing was installed"),
        "{said}"
    );
    assert!(!xdg.join("qcity/apps").exists(), "nothing installed");
    let downloads = d.data().join("downloads/QI-1.4.0");
    let left: Vec<_> = std::fs::read_dir(&downloads)
        .map(|r| r.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "files left behind: {left:?}");
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
    device["supervisor"]["stop_grace_ms"] = 3000.into();
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
