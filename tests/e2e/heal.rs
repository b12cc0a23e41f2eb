//! `qcity heal --dry-run` and `qcity signatures` against a real daemon whose runner misses
//! a command and has no install command configured: the healer knows the fix but may not
//! apply it, and says so.

use crate::support::{Daemon, text, wait_until};

#[test]
fn the_dry_run_names_the_failure_and_why_the_fix_cannot_act() {
    let d = Daemon::start(
        r#"{"runners": [{
            "name": "tooling",
            "command": ["sh", "-c", "echo building; qi-linter --strict; exit 127"],
            "restart": {"policy": "never"}
        }]}"#,
    );
    // The healer records the failure and escalates (it may not install anything).
    let listed = wait_until("a signature", || {
        let out = d.qcity(&["signatures"]);
        let t = text(&out.stdout);
        t.contains("tooling").then_some(t)
    });
    assert!(listed.contains("exit 127"), "{listed}");

    let out = d.qcity(&["heal", "tooling", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.starts_with("tooling: exit 127"), "{said}");
    assert!(
        said.contains("diagnosis: missing-command (confidence "),
        "the category and how sure: {said}"
    );
    assert!(
        said.contains("qi-linter: not found"),
        "the explaining line: {said}"
    );
    assert!(
        said.contains("cannot act: missing-dependency: no heal.install_command to run"),
        "{said}"
    );
    assert!(
        said.contains("would: escalate: a rule fits but cannot act here"),
        "{said}"
    );

    let json = d.qcity(&["heal", "tooling", "--dry-run", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(plan["runner"], "tooling");
    assert!(plan["signature"].is_string());
    assert_eq!(plan["category"], "missing-command");
    assert!(plan["confidence"].as_f64().unwrap() >= 0.8, "{plan}");
    assert!(
        plan["evidence"][0]
            .as_str()
            .unwrap()
            .contains("qi-linter: not found"),
        "{plan}"
    );

    // The plan is the only thing `heal` shows: `--dry-run` is no longer needed to say so.
    let bare = d.qcity(&["heal", "tooling"]);
    assert!(bare.status.success(), "{}", text(&bare.stderr));
    assert_eq!(text(&bare.stdout), text(&out.stdout));

    let unknown = d.qcity(&["heal", "nobody", "--dry-run"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("nobody"),
        "{}",
        text(&unknown.stderr)
    );
}
