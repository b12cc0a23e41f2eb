//! The API over a real engine, served on loopback, called over HTTP.

use std::collections::BTreeSet;
use std::sync::Arc;

use qcity_api::types::{AuditEntry, AuditVerdict, ControlOutcome, ErrorBody, EventPage, LogTail};
use qcity_api::{ROUTES, Token};
use qcity_engine::{Engine, EngineOptions, RunnerStatus};

struct Server {
    _dir: tempfile::TempDir,
    conf: std::path::PathBuf,
    base: String,
    token: Token,
    agent: ureq::Agent,
    engine: Arc<Engine>,
}

const MANIFEST: &str = r#"{"runners": [
  {"name": "echo", "command": ["sh", "-c", "echo hello-from-echo; exec sleep 30"], "stop_grace_ms": 2000}
], "tasks": [{"name": "echo", "command": ["true"]}]}"#;

async fn serve() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("runner_manifest.json"), MANIFEST).unwrap();
    let config = qcity_config::load_dir(&conf).unwrap();
    let engine = Engine::start(EngineOptions::new(config, dir.path().join("data")))
        .await
        .unwrap();
    let token = Token::load_or_create(&engine.data_dir().token()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(qcity_api::serve(listener, engine.clone(), token.clone()));
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    Server {
        _dir: dir,
        conf,
        base,
        token,
        agent,
        engine,
    }
}

impl Server {
    fn call(&self, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let agent = self.agent.clone();
        let method = method.to_string();
        // ureq blocks; run it on a blocking thread so the server keeps serving.
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut resp = match method.as_str() {
                    "GET" => {
                        let mut r = agent.get(&url);
                        if let Some(a) = &auth {
                            r = r.header("Authorization", a);
                        }
                        r.header("X-QCity-Client", "test").call()
                    }
                    _ => {
                        let mut r = agent.post(&url);
                        if let Some(a) = &auth {
                            r = r.header("Authorization", a);
                        }
                        r.header("X-QCity-Client", "test").send_empty()
                    }
                }
                .unwrap();
                let status = resp.status().as_u16();
                (status, resp.body_mut().read_to_string().unwrap())
            })
            .join()
            .unwrap()
        })
    }

    fn ok<T: serde::de::DeserializeOwned>(&self, method: &str, path: &str) -> T {
        let (status, body) = self.call(method, path, Some(self.token.expose()));
        assert_eq!(status, 200, "{method} {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

fn concrete(path: &str) -> String {
    path.replace("{name}", "echo")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_a_missing_or_wrong_token() {
    let s = serve().await;
    let wrong = "0".repeat(64);
    for (method, path) in ROUTES.iter() {
        let path = concrete(path);
        for token in [None, Some(wrong.as_str()), Some("")] {
            let (status, body) = s.call(method.as_str(), &path, token);
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
            let err: ErrorBody = serde_json::from_str(&body).unwrap();
            assert_eq!(err.code, "unauthorized");
        }
    }
    let (status, _) = s.call("GET", "/api/v1/no-such-path", None);
    assert_eq!(
        status, 401,
        "unknown paths do not reveal themselves without a token"
    );
    // Nothing was done: the runner is still running.
    let st: RunnerStatus = s.ok("GET", "/api/v1/runners/echo");
    assert_eq!(st.state.name(), "running");
    s.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_and_openapi_document_agree() {
    let s = serve().await;
    let doc: serde_json::Value = s.ok("GET", "/api/v1/openapi.json");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<_> = ROUTES
        .iter()
        .map(|(m, p)| (m.as_str().to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served, "openapi.json and the router differ");
    for (method, path) in ROUTES.iter() {
        if path.ends_with("/follow") {
            continue; // a stream that never ends; covered below
        }
        let (status, body) = s.call(method.as_str(), &concrete(path), Some(s.token.expose()));
        assert_eq!(status, 200, "{method} {path}: {body}");
    }
    let (status, body) = s.call("GET", "/api/v1/no-such-path", Some(s.token.expose()));
    assert_eq!((status, body.contains("not_found")), (404, true), "{body}");
    let (status, body) = s.call("POST", "/api/v1/runners", Some(s.token.expose()));
    assert_eq!(
        (status, body.contains("method_not_allowed")),
        (405, true),
        "{body}"
    );
    s.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_logs_events_audit_and_reload() {
    let s = serve().await;
    let out: ControlOutcome = s.ok("POST", "/api/v1/runners/echo/stop");
    assert_eq!(out.state.name(), "stopped");
    let (status, body) = s.call("POST", "/api/v1/runners/nope/start", Some(s.token.expose()));
    let err: ErrorBody = serde_json::from_str(&body).unwrap();
    assert_eq!((status, err.code.as_str()), (404, "unknown_runner"));
    assert_eq!(err.message, "no runner named `nope`");

    let out: ControlOutcome = s.ok("POST", "/api/v1/runners/echo/start");
    assert_eq!(out.state.name(), "running");
    let mut lines = Vec::new();
    for _ in 0..100 {
        let tail: LogTail = s.ok("GET", "/api/v1/runners/echo/logs?n=5");
        lines = tail.lines;
        if !lines.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(lines.iter().all(|l| l == "hello-from-echo"), "{lines:?}");
    let (status, body) = s.call(
        "GET",
        "/api/v1/runners/echo/logs?n=x",
        Some(s.token.expose()),
    );
    assert_eq!(status, 400, "{body}");

    // The control events are durable when the API answered, with the client in the actor.
    let page: EventPage = s.ok("GET", "/api/v1/events?after=0&limit=1000");
    let controls: Vec<_> = page
        .events
        .iter()
        .filter(|e| e.kind.name() == "control")
        .collect();
    assert_eq!(controls.len(), 2, "{controls:?}");
    assert_eq!(page.next_after, page.events.last().unwrap().id);
    let audit: Vec<AuditEntry> = s.ok("GET", "/api/v1/audit?n=1000");
    assert!(
        audit
            .iter()
            .any(|r| r.actor == "master:test" && r.action == "control.stop" && r.target == "echo"),
        "{audit:?}"
    );
    let verdict: AuditVerdict = s.ok("GET", "/api/v1/audit/verify");
    assert!(
        verdict.ok && verdict.rows.unwrap() >= audit.len() as u64,
        "{verdict:?}"
    );

    // A bad manifest is refused with file:line:col:path; the runner keeps running.
    std::fs::write(
        s.conf.join("runner_manifest.json"),
        "{\"runners\": [\n  {\"name\": \"echo\", \"command\": [\"true\"], \"restart\": {\"delay_ms\": \"soon\"}}\n]}",
    )
    .unwrap();
    let (status, body) = s.call("POST", "/api/v1/reload", Some(s.token.expose()));
    let err: ErrorBody = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, err.code.as_str()),
        (422, "invalid_config"),
        "{body}"
    );
    assert!(
        err.errors[0].contains("runner_manifest.json:2:")
            && err.errors[0].contains("runners[0].restart.delay_ms"),
        "{err:?}"
    );
    let st: RunnerStatus = s.ok("GET", "/api/v1/runners/echo");
    assert_eq!(st.state.name(), "running");
    s.engine.shutdown("test").await;
}
