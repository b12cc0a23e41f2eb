//! The data dir's filesystem full (a real tmpfs): supervision goes on, reads answer, a control
//! answers at once that its record waits, nothing is lost or written half once space returns,
//! and the daemon still stops.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Daemon, text, unique, wait_until};

/// An API call that gives up after 10 s: before the fix, these calls never answered.
fn call(d: &Daemon, method: &str, path: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let url = format!("{}{path}", d.api_base());
    let auth = format!("Bearer {}", d.token());
    let resp = match method {
        "GET" => agent.get(&url).header("Authorization", &auth).call(),
        _ => agent.post(&url).header("Authorization", &auth).send_empty(),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path} got no answer: {e}"));
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap_or(Value::Null))
}

fn restarts(d: &Daemon, name: &str) -> u64 {
    d.runner(name)["restarts"].as_u64().unwrap()
}

#[test]
fn a_full_disk_keeps_supervising_answers_at_once_and_loses_nothing() {
    let flapper = unique("flapper");
    let steady = unique("steady");
    let manifest = format!(
        r#"{{"runners": [
  {{"name": "{flapper}", "command": ["sh", "-c", "echo up; sleep 0.1; exit 1"],
    "restart": {{"delay_ms": 50, "factor": 1.0, "crash_loop": null}}}},
  {{"name": "{steady}", "command": ["sleep", "600"]}}
]}}"#
    );
    let mut d = Daemon::new(&manifest);
    let Some(_unmount) = qcity_testkit::tmpfs(&d.data(), "8m") else {
        return;
    };
    d.spawn();
    d.wait_state(&steady, "running");

    let fill = qcity_testkit::fill(&d.data());
    // The flapper's events find no room: the writers say so, and a control says so at once.
    let (status, body) = wait_until("a control to meet the full disk", || {
        let (status, body) = call(&d, "POST", &format!("/runners/{steady}/restart"));
        (status != 200).then_some((status, body))
    });
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["code"], "disk_full", "{body}");
    assert!(body["message"].as_str().unwrap().contains("full"), "{body}");
    // Reads answer with what is stored.
    assert_eq!(call(&d, "GET", "/events?after=0&limit=5").0, 200);
    assert_eq!(call(&d, "GET", "/audit?n=5").0, 200);
    // Supervision goes on: the flapper keeps being restarted, and the steady runner was.
    let before = restarts(&d, &flapper);
    wait_until("the flapper's restarts on a full disk", || {
        (restarts(&d, &flapper) >= before + 3).then_some(())
    });
    assert_eq!(d.runner(&steady)["state"]["state"], "running");

    // Space returns: every event waiting in memory is written, in order, with a chain intact.
    std::fs::remove_file(&fill).unwrap();
    let recovered = wait_until("store-recovered events", || {
        let found = d.events("store-recovered");
        (found.len() >= 2).then_some(found)
    });
    let writers: Vec<&str> = recovered
        .iter()
        .map(|e| e["writer"].as_str().unwrap())
        .collect();
    assert!(
        writers.contains(&"journal") && writers.contains(&"audit"),
        "{recovered:?}"
    );
    let failed = d.events("store-failed");
    assert!(failed.iter().any(|e| e["disk_full"] == true), "{failed:?}");
    let restart_recorded = d
        .events("control")
        .iter()
        .any(|e| e["target"] == steady.as_str() && e["action"] == "restart");
    assert!(
        restart_recorded,
        "the restart done on the full disk was not recorded"
    );

    // Full again, the daemon still stops (it names what it could not write).
    let fill = qcity_testkit::fill(&d.data());
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));
    std::fs::remove_file(&fill).unwrap();
    let out = d.qcity(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
