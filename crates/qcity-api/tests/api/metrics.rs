//! `/metrics` on a live engine, checked by Prometheus's own `promtool` (Debian package
//! `prometheus`, installed by scripts/install-deps.sh).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::serve;

fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "promtool is installed (scripts/install-deps.sh installs the `prometheus` package)",
        );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_scrape_passes_promtool_and_follows_the_runners() {
    let s = serve().await;
    s.wait_running("echo").await;
    let r = s.call("GET", "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let (ok, said) = promtool_check(&r.body);
    assert!(ok, "promtool: {said}\n{}", r.body);
    for line in [
        "qcity_runner_up{runner=\"echo\"} 1",
        "qcity_runner_state{runner=\"echo\",state=\"running\"} 1",
        "qcity_runner_state{runner=\"echo\",state=\"stopped\"} 0",
        "qcity_runner_restarts_total{runner=\"echo\"} 0",
    ] {
        assert!(
            r.body.lines().any(|l| l == line),
            "{line} missing:\n{}",
            r.body
        );
    }
    assert!(
        r.body
            .contains("qcity_events_total{type=\"runner-state\"} ")
    );

    s.ok::<serde_json::Value>("POST", "/api/v1/runners/echo/stop")
        .await;
    s.ok::<serde_json::Value>("POST", "/api/v1/runners/echo/start")
        .await;
    let r = s.call("GET", "/metrics").await;
    let (ok, said) = promtool_check(&r.body);
    assert!(ok, "promtool: {said}");
    assert!(
        r.body
            .lines()
            .any(|l| l == "qcity_runner_restarts_total{runner=\"echo\"} 1"),
        "{}",
        r.body
    );
    // Without a token: nothing.
    let r = s
        .send(crate::support::Req::new(
            "GET",
            "/metrics",
            crate::support::As::Nobody,
        ))
        .await;
    assert_eq!(r.status, 401);
    s.engine.shutdown("test").await;
}
