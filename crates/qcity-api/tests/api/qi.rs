//! The installer picker over the API: ranked options for this very machine, the gate that
//! stays closed while an autotest fails and opens once it passes, and a manifest with errors
//! named by field.

use qcity_api::qi::QiView;
use qcity_installer::verify::sign::KeyPair;

use crate::support::serve_with;

fn manifest(asset_extra: &str) -> String {
    let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let a = |os: &str, arch: &str, format: &str, libc: &str| {
        format!(
            r#"{{"os": "{os}", "arch": "{arch}", "format": "{format}", {libc}"url": "qi-{os}-{arch}.{format}", "size": 10, "sha256": "{sha}", "signature": "RWQ"{asset_extra}}}"#
        )
    };
    format!(
        r#"{{"app": "QI", "versions": [{{"version": "1.4.0", "assets": [{}, {}, {}, {}],
           "features": [{{"name": "ocr", "description": "Text recognition", "default": true, "url": "ocr.tgz", "size": 5, "sha256": "{sha}", "signature": "RWQ"}}]}}]}}"#,
        a("macos", "universal", "dmg", ""),
        a(
            "linux",
            "x86_64",
            "tar.gz",
            r#""libc": {"kind": "glibc", "min_version": "2.17"}, "#
        ),
        a(
            "linux",
            "x86_64",
            "deb",
            r#""libc": {"kind": "glibc", "min_version": "2.31"}, "#
        ),
        a("windows", "x86_64", "msi", ""),
    )
}

/// Free disk and memory limits at 0: this machine's autotest cannot fail on them, so it
/// passes or fails by the manifest's checks alone.
fn device_config() -> String {
    let key = KeyPair::from_seed([3; 32], [3; 8]).public_key();
    let line = key.lines().nth(1).unwrap();
    format!(
        r#"{{"installer": {{"manifest": "releases.json", "public_key": "{line}", "max_autotest_age_minutes": 60}},
            "resources": {{"min_free_disk_mb": 0, "min_free_memory_mb": 0}}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_picker_ranks_for_this_machine_and_opens_after_an_autotest() {
    let m = manifest("");
    let d = device_config();
    let s = serve_with(&[("releases.json", &m), ("qcity-device-config.json", &d)]).await;
    let v: QiView = s.ok("GET", "/api/v1/qi").await;
    assert_eq!(
        (v.app.as_deref(), v.version.as_deref()),
        (Some("QI"), Some("1.4.0"))
    );
    assert_eq!(v.options.len(), 4, "every asset is listed");
    assert_eq!(v.features[0].name, "ocr");
    // This machine (Debian, x86_64, glibc, apt) gets the .deb; macOS and Windows builds are
    // listed as not fitting, with the reason.
    if std::path::Path::new("/usr/bin/apt").exists() && cfg!(target_arch = "x86_64") {
        assert_eq!(v.options[0].format.as_str(), "deb", "{:#?}", v.options);
        assert!(v.options[0].fits);
    }
    let mac = v
        .options
        .iter()
        .find(|o| o.format.as_str() == "dmg")
        .unwrap();
    assert!(
        !mac.fits && mac.reasons.iter().any(|r| r.contains("built for macOS")),
        "{mac:?}"
    );
    assert!(!v.gate.open);
    assert!(
        v.gate
            .reasons
            .iter()
            .any(|r| r.contains("no autotest has run yet")),
        "{:?}",
        v.gate.reasons
    );

    let report: serde_json::Value = s.ok("POST", "/api/v1/autotest").await;
    assert_eq!(report["passed"], true, "{report}");
    let v: QiView = s.ok("GET", "/api/v1/qi").await;
    assert!(v.gate.open, "{:?}", v.gate.reasons);
    assert!(v.gate.reasons.is_empty());
    s.engine.shutdown("test").await;
}

/// An install request as the master.
async fn install(s: &crate::support::Server, body: serde_json::Value) -> crate::support::Resp {
    s.send(
        crate::support::Req::new(
            "POST",
            "/api/v1/qi/install",
            crate::support::As::Bearer(s.token.expose()),
        )
        .json(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_autotest_task_closes_the_gate_and_a_passing_one_opens_it() {
    let runners = r#"{"runners": [], "tasks": [
        {"name": "qi-ready", "command": ["test", "-f", "ready"], "autotest": true}
    ]}"#;
    let (m, d) = (manifest(""), device_config());
    let s = serve_with(&[
        ("releases.json", &m),
        ("qcity-device-config.json", &d),
        ("runner_manifest.json", runners),
    ])
    .await;
    let report: serde_json::Value = s.ok("POST", "/api/v1/autotest").await;
    assert_eq!(report["passed"], false, "{report}");
    let v: QiView = s.ok("GET", "/api/v1/qi").await;
    assert!(!v.gate.open);
    assert_eq!(v.gate.reasons.len(), 1, "{:?}", v.gate.reasons);
    assert!(
        v.gate.reasons[0].starts_with("the latest autotest failed (task:qi-ready: "),
        "{:?}",
        v.gate.reasons
    );
    let fits = v.options.iter().find(|o| o.fits).map(|o| o.asset);
    let r = install(&s, serde_json::json!({"asset": fits.unwrap_or(1)})).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "gate_closed".to_string()),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("installing is blocked: the latest autotest failed (task:qi-ready: "),
        "{}",
        r.body
    );

    std::fs::write(s.conf.join("ready"), "").unwrap();
    let report: serde_json::Value = s.ok("POST", "/api/v1/autotest").await;
    assert_eq!(report["passed"], true, "{report}");
    let v: QiView = s.ok("GET", "/api/v1/qi").await;
    assert!(v.gate.open, "{:?}", v.gate.reasons);
    // Past the gate, the request itself is judged: a feature that does not exist.
    let r = install(
        &s,
        serde_json::json!({"asset": fits.unwrap_or(1), "without": ["nope"]}),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "bad_request".to_string()),
        "{}",
        r.body
    );
    assert!(r.body.contains("there is no feature `nope`"), "{}", r.body);
    s.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_with_errors_is_named_by_field() {
    let m = manifest("").replace(r#""size": 10"#, r#""size": "ten""#);
    let d = device_config();
    let s = serve_with(&[("releases.json", &m), ("qcity-device-config.json", &d)]).await;
    let v: QiView = s.ok("GET", "/api/v1/qi").await;
    let e = v.manifest_error.expect("an error");
    assert!(
        e.contains("releases.json:1:") && e.contains("versions[0].assets[0].size"),
        "{e}"
    );
    assert!(v.options.is_empty());
    s.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fitting_asset_says_what_was_detected_and_what_exists() {
    let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let m = format!(
        r#"{{"app": "QI", "versions": [{{"version": "1.4.0", "assets": [
            {{"os": "windows", "arch": "x86_64", "format": "msi", "url": "qi.msi", "size": 1, "sha256": "{sha}", "signature": "RWQ"}},
            {{"os": "macos", "arch": "universal", "format": "dmg", "url": "qi.dmg", "size": 1, "sha256": "{sha}", "signature": "RWQ"}}]}}]}}"#
    );
    let d = device_config();
    let s = serve_with(&[("releases.json", &m), ("qcity-device-config.json", &d)]).await;
    let v: QiView = s.ok("GET", "/api/v1/qi").await;
    let e = v.manifest_error.expect("a message");
    assert!(
        e.contains("no asset of QI 1.4.0 fits this device")
            && e.contains(&v.device.os_name)
            && e.contains("available: windows/x86_64 msi, macos/universal dmg"),
        "{e}"
    );
    assert!(v.options.iter().all(|o| !o.fits));
    // Even with the gate open, the server refuses a build that cannot run here.
    let report: serde_json::Value = s.ok("POST", "/api/v1/autotest").await;
    assert_eq!(report["passed"], true, "{report}");
    let r = install(&s, serde_json::json!({"asset": 0})).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "does_not_fit".to_string()),
        "{}",
        r.body
    );
    s.engine.shutdown("test").await;
}
