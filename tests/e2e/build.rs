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
