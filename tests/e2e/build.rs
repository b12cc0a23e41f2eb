//! `qcity build` from the command line: the plan as JSON, and a dry run that builds nothing.

use crate::support::{qcity_in as qcity, text};

#[test]
fn build_scan_and_a_dry_run_plan_without_building() {
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("proj");
    std::fs::create_dir_all(proj.join("src")).unwrap();
    std::fs::write(
        proj.join("Cargo.toml"),
        "[package]\nname = \"proj\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    std::fs::write(proj.join("src/main.rs"), "fn main() {}\n").unwrap();
    let data = tmp.path().join("data");
    let out = qcity(
        &["build", "scan", tmp.path().to_str().unwrap(), "--json"],
        &data,
        &tmp.path().join("conf"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plans: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plans[0]["ecosystem"], "cargo");
    assert_eq!(plans[0]["steps"][0]["argv"][1], "build");
    let out = qcity(
        &["build", "run", tmp.path().to_str().unwrap()],
        &data,
        &tmp.path().join("conf"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("dry run"),
        "{}",
        text(&out.stdout)
    );
    assert!(!proj.join("target").exists(), "a dry run built");
    assert!(!data.join("reports/builds.json").exists());
}

#[test]
fn a_build_that_fails_after_its_retries_is_escalated_to_the_daemon() {
    let d = crate::support::Daemon::start(r#"{"runners": []}"#);
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("Makefile"),
        "all:\n\t@echo compiler says no; false\n",
    )
    .unwrap();
    let out = qcity(
        &[
            "build",
            "run",
            tmp.path().to_str().unwrap(),
            "--apply",
            "--retries",
            "1",
        ],
        &d.data(),
        &d.conf(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("escalated to the daemon"),
        "{}",
        text(&out.stdout)
    );
    let escalations = d.events("escalation");
    let e = escalations
        .iter()
        .find(|e| e["reason"].as_str().unwrap_or("").contains("build of"))
        .unwrap_or_else(|| panic!("no build escalation in {escalations:?}"));
    assert!(
        e["reason"].as_str().unwrap().contains("after 2 attempt(s)"),
        "{e}"
    );
    assert!(
        e["advice"].as_str().unwrap().contains("compiler says no"),
        "{e}"
    );
    // The report has it too.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.data().join("reports/builds.json")).unwrap())
            .unwrap();
    assert_eq!(report[0]["outcome"], "failed");
}
