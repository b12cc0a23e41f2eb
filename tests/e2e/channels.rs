//! Chat and webhook channels from a real daemon: a burst of failures grouped into few
//! messages, queued messages surviving a kill -9, and a secret that reaches the receiver and
//! nowhere else. The receiver is a loopback HTTP server taking the generic webhook (our own
//! documented contract: JSON body, `X-Hub-Signature-256`, `X-QCity-Delivery`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::Digest;

use crate::support::{Daemon, text, wait_until};

/// One request the receiver took, and what it answered.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    status: u16,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver on loopback answering every request with `status` (changeable).
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start(status: u16) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(status));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s, st) = (got.clone(), status.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (g, s) = (g.clone(), s.clone());
                        std::thread::spawn(move || serve(conn, &g, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Receiver {
            port,
            got,
            status,
            stop,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// The requests it accepted (2xx), oldest first.
    fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.status < 300)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(mut conn: TcpStream, got: &Mutex<Vec<Received>>, status: &AtomicU16) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let code = status.load(Ordering::Relaxed);
    got.lock().unwrap().push(Received {
        at: Instant::now(),
        headers,
        body: buf[head_end..head_end + len].to_vec(),
        status: code,
    });
    let _ = write!(
        conn,
        "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

/// HMAC-SHA256 (RFC 2104), as GitHub signs webhooks: written out so the check does not share
/// code with the daemon's signer.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = sha2::Sha256::digest([pad(0x36), msg.to_vec()].concat());
    let outer = sha2::Sha256::digest([pad(0x5c), inner.to_vec()].concat());
    hex(&outer)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A daemon whose device config has `notifications` (the JSON given) and runs `manifest`.
fn daemon(manifest: &str, notifications: &str, env: &[(&str, &str)]) -> Daemon {
    let mut d = Daemon::new(manifest);
    std::fs::write(
        d.conf().join("qcity-device-config.json"),
        format!(
            r#"{{"api": {{"port": 0}}, "supervisor": {{"stop_grace_ms": 3000}},
                "platforms": {{"enabled": false}}, "notifications": {notifications}}}"#
        ),
    )
    .unwrap();
    d.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    d.spawn();
    d
}

/// Every file under `dir`, as bytes.
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

#[test]
fn a_crash_loop_of_twenty_runners_is_one_message_per_group_interval_signed_with_a_secret_seen_nowhere_else()
 {
    let rx = Receiver::start(200);
    let secret = format!("planted-{}-secret", std::process::id());
    let runners: Vec<String> = (0..20)
        .map(|i| {
            format!(
                r#"{{"name": "loop{i}", "command": ["sh", "-c", "exit 1"],
                    "restart": {{"delay_ms": 50, "factor": 1.0, "jitter_percent": 0,
                                 "crash_loop": {{"max_restarts": 3, "window_ms": 1000, "cooldown_ms": 500}}}}}}"#
            )
        })
        .collect();
    let manifest = format!(r#"{{"runners": [{}]}}"#, runners.join(","));
    let interval_s = 6;
    let d = daemon(
        &manifest,
        &format!(
            r#"{{"grouping": {{"wait_seconds": 2, "interval_seconds": {interval_s}, "repeat_seconds": 3600}},
                "channels": [{{"name": "hook",
                  "url": "json://127.0.0.1:{}/hook?secret={{env://QCITY_E2E_HOOK_SECRET}}"}}]}}"#,
            rx.port
        ),
        &[("QCITY_E2E_HOOK_SECRET", &secret)],
    );
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(14));
    let got = rx.accepted();
    // Every runner kept failing: crash loops entered and left again and again, dozens of
    // notices each; the channel got a grouped message per interval at most.
    let loops = d.events("runner-state").len();
    assert!(
        loops > 200,
        "the runners did crash-loop: {loops} state changes"
    );
    assert!(!got.is_empty(), "no message arrived");
    assert!(
        got.len() <= 14 / interval_s as usize + 1,
        "{} messages in 14 s with a {interval_s} s group interval",
        got.len()
    );
    for pair in got.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(interval_s * 1000 - 500),
            "two messages {gap:?} apart"
        );
    }
    let first = got[0].json();
    let first_wait = got[0].at - start;
    assert!(
        first_wait >= Duration::from_millis(1500),
        "group wait: {first_wait:?}"
    );
    for i in 0..20 {
        assert!(
            first["body"]
                .as_str()
                .unwrap()
                .contains(&format!("• loop{i} ")),
            "loop{i} missing from the first message: {first}"
        );
    }
    assert_eq!(first["source"], "qcity");
    assert!(
        first["severity"] == "error" || first["severity"] == "critical",
        "{first}"
    );
    // The crash loops (and the escalations they bring) were news in a later message if not
    // in the first.
    assert!(
        got.iter().any(|r| r.json()["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "crash-loop" || t == "escalation")),
        "no crash loop in {} messages",
        got.len()
    );
    // Signed with the secret the daemon read from its environment.
    for r in &got {
        let sig = r.header("X-Hub-Signature-256").expect("signed");
        assert_eq!(
            sig,
            format!("sha256={}", hmac_sha256(secret.as_bytes(), &r.body))
        );
        assert!(r.header("X-QCity-Delivery").is_some());
    }
    // The secret reached the receiver as a key only: not the data dir (store, journal,
    // audit, logs), not the API's answers, not the events.
    for (path, bytes) in files(&d.data()) {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in {}",
            path.display()
        );
    }
    for path in [
        "/config",
        "/notify/channels",
        "/events?after=0&limit=1000",
        "/runners",
    ] {
        let answer = d.get_json(path).to_string();
        assert!(!answer.contains(&secret), "the secret is in GET {path}");
    }
    let channels = d.get_json("/notify/channels");
    assert_eq!(channels[0]["name"], "hook", "{channels}");
    assert_eq!(channels[0]["service"], "webhook", "{channels}");
    assert_eq!(channels[0]["last_state"], "sent", "{channels}");
}

#[test]
fn messages_queued_when_the_daemon_is_killed_are_each_delivered_once_after_restart() {
    // The receiver is down for now: every attempt gets a 503 and stays queued.
    let rx = Receiver::start(503);
    let mut d = daemon(
        r#"{"runners": []}"#,
        &format!(
            r#"{{"channels": [{{"name": "hook", "url": "json://127.0.0.1:{}/in"}}]}}"#,
            rx.port
        ),
        &[],
    );
    let mut ids = Vec::new();
    for i in 0..10 {
        // Half through the CLI, half through the API: the same queue.
        if i % 2 == 0 {
            let out = d.qcity(&["notify", "test", "hook"]);
            let said = text(&out.stdout);
            assert!(out.status.success(), "{said}{}", text(&out.stderr));
            let id = said.split_whitespace().nth(3).unwrap().parse().unwrap();
            ids.push(id);
        } else {
            let (status, body) = d.post("/notify/channels/hook/test");
            assert_eq!(status, 200, "{body}");
            ids.push(body["message"].as_i64().unwrap());
        }
    }
    wait_until("a refused attempt", || {
        (!rx.received().is_empty()).then_some(())
    });
    let out = d.qcity(&["notify", "list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["queued"], 10, "{list}");
    assert_eq!(
        list[0]["last_error"], "webhook: 503 Service Unavailable: (empty answer)",
        "{list}"
    );
    let table = text(&d.qcity(&["notify", "list"]).stdout);
    assert!(
        table.contains("hook") && table.contains("webhook"),
        "{table}"
    );
    d.signal(libc::SIGKILL);
    d.wait_exit();
    assert!(rx.accepted().is_empty());

    rx.status.store(200, Ordering::Relaxed);
    d.spawn();
    let delivered = wait_until("all ten delivered", || {
        let got = rx.accepted();
        (got.len() >= 10).then_some(got)
    });
    // A moment more: a duplicate would come now.
    std::thread::sleep(Duration::from_secs(2));
    let delivered_ids: Vec<i64> = rx
        .accepted()
        .iter()
        .map(|r| r.header("X-QCity-Delivery").unwrap().parse().unwrap())
        .collect();
    assert_eq!(delivered_ids, ids, "each once, in order");
    assert_eq!(delivered[0].json()["title"], "QCity test message");
    assert_eq!(d.get_json("/notify/channels")[0]["queued"], 0);
    // A refusal for good (410: the webhook is gone) is not retried: the message is marked
    // failed and a `notify-failed` event says so.
    rx.status.store(410, Ordering::Relaxed);
    let (_, body) = d.post("/notify/channels/hook/test");
    let id = body["message"].as_i64().unwrap();
    let failed = wait_until("a notify-failed event", || {
        d.events("notify-failed")
            .into_iter()
            .find(|e| e["message"] == id)
    });
    assert_eq!(failed["channel"], "hook", "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("410"),
        "{failed}"
    );
    assert_eq!(d.get_json("/notify/channels")[0]["last_state"], "failed");
    let attempts = rx.received().iter().filter(|r| r.status == 410).count();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        rx.received().iter().filter(|r| r.status == 410).count(),
        attempts
    );
    // An unknown channel is named.
    let (status, body) = d.post("/notify/channels/nope/test");
    assert_eq!(status, 404);
    assert_eq!(body["code"], "unknown_channel", "{body}");
    let out = d.qcity(&["notify", "test", "nope"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no channel `nope`"));
}

#[test]
fn a_webhook_secret_in_the_os_keyring_signs_the_daemons_messages() {
    let Some(keyring) = qcity_secrets::testing::PrivateKeyring::start_or_skip() else {
        return;
    };
    let secret = format!("from-the-keyring-{}", std::process::id());
    let mut set = keyring.command(crate::support::QCITY);
    let mut child = set
        .args(["secret", "set", "hook-key"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(secret.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rx = Receiver::start(200);
    let d = daemon(
        r#"{"runners": []}"#,
        &format!(
            r#"{{"channels": [{{"name": "hook",
                 "url": "json://127.0.0.1:{}/in?secret={{keyring://hook-key}}"}}]}}"#,
            rx.port
        ),
        &[("DBUS_SESSION_BUS_ADDRESS", keyring.address())],
    );
    let (status, body) = d.post("/notify/channels/hook/test");
    assert_eq!(status, 200, "{body}");
    let got = wait_until("the signed test message", || rx.accepted().pop());
    assert_eq!(
        got.header("X-Hub-Signature-256"),
        Some(format!("sha256={}", hmac_sha256(secret.as_bytes(), &got.body)).as_str())
    );
    for (path, bytes) in files(&d.data()) {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in {}",
            path.display()
        );
    }
}
