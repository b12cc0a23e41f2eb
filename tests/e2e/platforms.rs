//! Platform status from a real daemon: a loopback server speaking Atlassian Statuspage's v2
//! format stands in for GitHub's status page (the `custom` entry points the `github`
//! platform at it). The state is read, cached with ETags, `unknown` after a failed read; and
//! a GitHub runner that fails with network errors during a GitHub outage is waited for, not
//! fixed, until the page says the outage is over.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Daemon, agent, text, unique, wait_until, write};

/// What the stand-in answers, and what it was asked.
#[derive(Default)]
struct Page {
    status: u16,
    body: String,
    etag: String,
    /// The `If-None-Match` of every request, in order.
    asked: Vec<Option<String>>,
}

struct StatusServer {
    port: u16,
    page: Arc<Mutex<Page>>,
    stop: Arc<AtomicBool>,
}

impl StatusServer {
    fn start(body: &str) -> StatusServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let page = Arc::new(Mutex::new(Page {
            status: 200,
            body: body.into(),
            etag: "\"v1\"".into(),
            asked: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, st) = (page.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let p = p.clone();
                        std::thread::spawn(move || answer(conn, &p));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        StatusServer { port, page, stop }
    }

    fn set(&self, status: u16, body: &str, etag: &str) {
        let mut p = self.page.lock().unwrap();
        (p.status, p.body, p.etag) = (status, body.into(), etag.into());
    }

    fn asked(&self) -> Vec<Option<String>> {
        self.page.lock().unwrap().asked.clone()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v2/summary.json", self.port)
    }
}

impl Drop for StatusServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer(mut conn: TcpStream, page: &Mutex<Page>) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let if_none_match = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("if-none-match"))
        .map(|(_, v)| v.trim().to_string());
    let mut p = page.lock().unwrap();
    p.asked.push(if_none_match.clone());
    let reply = if p.status == 200 && if_none_match.as_deref() == Some(p.etag.as_str()) {
        format!(
            "HTTP/1.1 304 Not Modified\r\nETag: {}\r\nConnection: close\r\n\r\n",
            p.etag
        )
    } else {
        format!(
            "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nETag: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            p.status,
            p.etag,
            p.body.len(),
            p.body
        )
    };
    let _ = conn.write_all(reply.as_bytes());
}

/// A Statuspage v2 `summary.json` with `indicator`, and one incident when it is not `none`.
fn summary(indicator: &str, description: &str) -> String {
    let incidents = if indicator == "none" {
        "[]".to_string()
    } else {
        r#"[{"name": "Actions runs are failing", "status": "investigating", "impact": "critical",
             "created_at": "2026-12-05T10:00:00.000Z", "shortlink": "https://stspg.io/abc"}]"#
            .to_string()
    };
    format!(
        r#"{{"page": {{"id": "x", "name": "GitHub", "url": "https://www.githubstatus.com",
                      "updated_at": "2026-12-05T10:01:00.000Z"}},
            "status": {{"indicator": "{indicator}", "description": "{description}"}},
            "components": [], "incidents": {incidents}, "scheduled_maintenances": []}}"#
    )
}

/// A daemon watching only `github`, at the stand-in's address.
fn daemon(manifest: &str, server: &StatusServer) -> Daemon {
    let mut d = Daemon::new(manifest);
    std::fs::write(
        d.conf().join("qcity-device-config.json"),
        format!(
            r#"{{"api": {{"port": 0}}, "supervisor": {{"stop_grace_ms": 3000}},
                "platforms": {{"watch": ["github"], "interval_seconds": 60,
                  "custom": [{{"id": "github", "provider": "statuspage", "url": "{}"}}]}}}}"#,
            server.url()
        ),
    )
    .unwrap();
    d.spawn();
    d
}

fn refresh(d: &Daemon) {
    let status = agent()
        .post(format!("{}/platforms/refresh", d.api_base()))
        .header("Authorization", format!("Bearer {}", d.token()))
        .send_empty()
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 202);
}

fn github(d: &Daemon) -> Value {
    d.get_json("/platforms")[0].clone()
}

fn wait_state(d: &Daemon, state: &str) -> Value {
    wait_until(&format!("github {state}"), || {
        let g = github(d);
        (g["state"] == state).then_some(g)
    })
}

#[test]
fn a_status_page_is_read_cached_and_unknown_after_a_failed_read() {
    let server = StatusServer::start(&summary("none", "All Systems Operational"));
    let d = daemon(r#"{"runners": []}"#, &server);
    let g = wait_state(&d, "operational");
    assert_eq!(g["name"], "GitHub");
    assert_eq!(g["icon"], "github");
    assert_eq!(g["summary"], "All Systems Operational");
    assert!(g["as_of_ms"].is_i64(), "{g}");

    server.set(200, &summary("critical", "Major System Outage"), "\"v2\"");
    refresh(&d);
    let g = wait_state(&d, "major_outage");
    assert_eq!(
        g["incidents"][0]["title"], "Actions runs are failing",
        "{g}"
    );
    assert_eq!(g["incidents"][0]["url"], "https://stspg.io/abc", "{g}");
    let changed = d.events("platform-changed");
    assert_eq!(changed.last().unwrap()["previous"], "operational");

    // Unchanged: the next read asks with the ETag, gets a 304, and keeps what it knew.
    let before = server.asked().len();
    refresh(&d);
    wait_until("a conditional read", || {
        (server.asked().len() > before).then_some(())
    });
    assert_eq!(server.asked().last().unwrap().as_deref(), Some("\"v2\""));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(github(&d)["state"], "major_outage");

    // A failed read is `unknown`, never the last state; that one is kept with its time.
    server.set(500, "oops", "\"v3\"");
    refresh(&d);
    let g = wait_state(&d, "unknown");
    assert_eq!(g["last_known"], "major_outage", "{g}");
    assert_eq!(g["error"], "status 500", "{g}");
    // A body that is not the format: unknown too, saying why; nothing crashes.
    server.set(200, "{\"page\": 3", "\"v4\"");
    refresh(&d);
    wait_until("a parse error", || {
        let g = github(&d);
        (g["state"] == "unknown" && g["error"] != "status 500").then_some(())
    });

    let out = d.qcity(&["platforms"]);
    let table = text(&out.stdout);
    assert!(
        table.contains("GitHub") && table.contains("unknown (was major outage"),
        "{table}"
    );
    let metrics = d.metrics();
    assert!(
        metrics.contains(r#"qcity_platform_state{platform="github",state="unknown"} 1"#),
        "{metrics}"
    );
}

#[test]
fn a_github_runner_failing_on_the_network_during_a_github_outage_is_waited_for_not_fixed() {
    let server = StatusServer::start(&summary("critical", "Major System Outage"));
    let name = unique("gh");
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(
        &format!(
            r#"{{"runners": [{{"name": "{name}", "kind": "github", "working_dir": "{}",
                "command": ["sh", "-c", "[ -f go ] || exec sleep 600; echo 'fatal: unable to access https://github.com/: Could not resolve host: github.com' >&2; exit 1"],
                "restart": {{"policy": "never"}}}}]}}"#,
            dir.path().display()
        ),
        &server,
    );
    wait_state(&d, "major_outage");
    d.wait_state(&name, "running");
    write(&dir.path().join("go"), "");
    let out = d.qcity(&["restart", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let steps = |d: &Daemon| -> Vec<Value> {
        d.events("heal")
            .into_iter()
            .filter(|e| e["runner"] == name)
            .collect()
    };
    let waiting = wait_until("a waiting step", || {
        steps(&d).into_iter().find(|e| e["step"] == "waiting")
    });
    assert_eq!(
        waiting["detail"], "GitHub reports a major outage: waiting, not fixing",
        "{waiting}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !steps(&d).iter().any(|e| e["step"] == "applying"),
        "a fix during the outage: {:?}",
        steps(&d)
    );
    // The outage ends: the fix the diagnosis chose is tried.
    server.set(200, &summary("none", "All Systems Operational"), "\"v9\"");
    refresh(&d);
    wait_state(&d, "operational");
    let applying = wait_until("the fix after the outage", || {
        steps(&d).into_iter().find(|e| e["step"] == "applying")
    });
    assert_eq!(applying["rule"], "network-down", "{applying}");
}

#[test]
fn a_runner_that_goes_offline_during_its_platforms_outage_is_said_to_wait_for_it() {
    let server = StatusServer::start(&summary("critical", "Major System Outage"));
    let name = unique("gh-off");
    // It names its platform too (the kind would give the same; a `command` runner names it).
    let d = daemon(
        &format!(
            r#"{{"runners": [{{"name": "{name}", "kind": "github", "platform": "github",
                "command": ["sh", "-c", "[ -f go ] || exec sleep 600; echo '2026-12-05 10:04:00Z: Runner connect error: The HTTP request timed out. Retrying until reconnected.'; exec sleep 600"]}}]}}"#
        ),
        &server,
    );
    wait_state(&d, "major_outage");
    d.wait_state(&name, "running");
    write(&d.conf().join("go"), "");
    let out = d.qcity(&["restart", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let waiting = wait_until("a waiting step for the offline runner", || {
        d.events("heal")
            .into_iter()
            .find(|e| e["runner"] == name && e["step"] == "waiting")
    });
    assert_eq!(
        waiting["detail"],
        "offline while GitHub reports a major outage: waiting for the platform, not fixing",
        "{waiting}"
    );
}
