//! `qcity job` against a real daemon: the placement printed with its reasons, a job run and
//! followed to its end, its record and artifacts, a failing job's exit status, bad names.

use crate::support::{Daemon, text};

const MANIFEST: &str = r#"{"runners": [], "jobs": [
  {"name": "build", "working_dir": "work", "artifacts": ["out/*.txt"],
   "command": ["sh", "-c", "mkdir -p out && echo hello > out/a.txt && echo building now"]},
  {"name": "broken", "command": ["sh", "-c", "echo compiler says no; exit 4"]}
]}"#;

#[test]
fn a_job_is_placed_run_followed_and_recorded_through_the_cli() {
    let d = Daemon::new(MANIFEST);
    std::fs::create_dir_all(d.conf().join("work")).unwrap();
    let mut d = d;
    d.spawn();

    let out = d.qcity(&["job", "run", "build", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(
        plan.starts_with("placement (auto): here: no remote targets in qmoi_cloud_config.json\n"),
        "{plan}"
    );
    assert!(plan.contains("  1. local: "), "{plan}");
    assert_eq!(
        d.get_json("/jobs/runs").as_array().unwrap().len(),
        0,
        "a dry run ran"
    );

    let out = d.qcity(&["job", "run", "build"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let printed = text(&out.stdout);
    assert!(printed.contains("building now\n"), "{printed}");
    assert!(
        printed.contains("== succeeded: exited with code 0; 1 artifact verified =="),
        "{printed}"
    );
    assert_eq!(
        std::fs::read_to_string(d.conf().join("work/out/a.txt")).unwrap(),
        "hello\n"
    );

    let out = d.qcity(&["job", "list", "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = runs[0]["id"].as_str().unwrap().to_string();
    assert_eq!(runs[0]["state"], "succeeded");
    let out = d.qcity(&["job", "show", &id]);
    let shown = text(&out.stdout);
    assert!(shown.contains("1. local: ran (exit 0)"), "{shown}");
    let (sha, _) = qcity_platform::checksum::sha256_file(&d.conf().join("work/out/a.txt")).unwrap();
    assert!(
        shown.contains(&format!("{sha}  out/a.txt (6 bytes)")),
        "{shown}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.data().join("reports/builds.json")).unwrap())
            .unwrap();
    assert_eq!(report[0]["id"], id.as_str());

    let out = d.qcity(&["job", "run", "broken"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("compiler says no"));
    assert!(
        text(&out.stderr).contains("job `broken` failed: exited with code 4"),
        "{}",
        text(&out.stderr)
    );
    let events = d.events("job");
    assert!(
        events
            .iter()
            .any(|e| e["step"] == "placed" && e["run"] == id.as_str()),
        "{events:?}"
    );

    let out = d.qcity(&["job", "run", "nope"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no job `nope` in runner_manifest.json (jobs: build, broken)"),
        "{}",
        text(&out.stderr)
    );
    let out = d.qcity(&["job", "run", "build", "--where", "ssh:elsewhere"]);
    assert!(
        text(&out.stderr).contains("no place `ssh:elsewhere`"),
        "{}",
        text(&out.stderr)
    );
    let out = d.qcity(&["job", "cancel", &id]);
    assert!(
        text(&out.stderr).contains("has already ended"),
        "{}",
        text(&out.stderr)
    );
}
