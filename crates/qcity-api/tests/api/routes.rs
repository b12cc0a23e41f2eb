//! The route table, the OpenAPI document, and the master's controls, logs, events, audit and
//! reload over HTTP.

use std::collections::BTreeSet;

use qcity_api::{Access, ROUTES};
use qcity_types::RunnerStatus;
use qcity_types::{AuditEntry, AuditVerdict, ControlOutcome, ErrorBody, EventPage, LogTail};

use crate::support::{As, Req, serve};

fn concrete(path: &str) -> String {
    path.replace("{name}", "echo")
}

/// Never-ending responses; covered by their own tests.
fn is_stream(path: &str) -> bool {
    path.ends_with("/follow") || path.ends_with("/stream")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_a_missing_or_wrong_token() {
    let s = serve().await;
    let wrong = "0".repeat(64);
    for (method, path, access) in ROUTES.iter() {
        if *access == Access::Public {
            continue;
        }
        let path = concrete(path);
        for who in [
            As::Nobody,
            As::Bearer(&wrong),
            As::Bearer(""),
            As::Session(&wrong),
        ] {
            let r = s.send(Req::new(method.as_str(), &path, who)).await;
            assert_eq!(r.status, 401, "{method} {path} as {who:?}: {}", r.body);
            assert_eq!(r.code(), "unauthorized");
        }
    }
    let r = s
        .send(Req::new("GET", "/api/v1/no-such-path", As::Nobody))
        .await;
    assert_eq!(
        r.status, 401,
        "unknown paths do not reveal themselves without a token"
    );
    // Nothing was done: the runner is still running.
    let st: RunnerStatus = s.ok("GET", "/api/v1/runners/echo").await;
    assert_eq!(st.state.name(), "running");
    s.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_and_openapi_document_agree() {
    let s = serve().await;
    let doc: serde_json::Value = s.ok("GET", "/api/v1/openapi.json").await;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let role = op["x-qcity-role"].as_str().unwrap_or("?").to_string();
            documented.insert((method.to_uppercase(), path.clone(), role));
        }
    }
    let served: BTreeSet<_> = ROUTES
        .iter()
        .map(|(m, p, a)| {
            let role = match a {
                Access::Public => "public",
                Access::Viewer => "viewer",
                Access::Master => "master",
            };
            (m.as_str().to_string(), p.to_string(), role.to_string())
        })
        .collect();
    assert_eq!(documented, served, "openapi.json and the router differ");
    // Every route is served to the master: never an auth error or "no such path".
    for (method, path, _) in ROUTES.iter() {
        if is_stream(path) {
            continue;
        }
        let r = s.call(method.as_str(), &concrete(path)).await;
        assert!(
            !([401, 403, 405].contains(&r.status) || r.status == 404 && r.code() == "not_found"),
            "{method} {path}: {} {}",
            r.status,
            r.body
        );
    }
    let r = s.call("GET", "/api/v1/no-such-path").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "not_found"),
        "{}",
        r.body
    );
    let r = s.call("POST", "/api/v1/runners").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (405, "method_not_allowed"),
        "{}",
        r.body
    );
    s.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_logs_events_audit_and_reload() {
    let s = serve().await;
    let out: ControlOutcome = s.ok("POST", "/api/v1/runners/echo/stop").await;
    assert_eq!(out.state.name(), "stopped");
    let r = s.call("POST", "/api/v1/runners/nope/start").await;
    let err: ErrorBody = r.json();
    assert_eq!((r.status, err.code.as_str()), (404, "unknown_runner"));
    assert_eq!(err.message, "no runner named `nope`");

    let out: ControlOutcome = s.ok("POST", "/api/v1/runners/echo/start").await;
    assert_eq!(out.state.name(), "running");
    let mut lines = Vec::new();
    for _ in 0..100 {
        let tail: LogTail = s.ok("GET", "/api/v1/runners/echo/logs?n=5").await;
        lines = tail.lines;
        if !lines.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(lines.iter().all(|l| l == "hello-from-echo"), "{lines:?}");
    let r = s.call("GET", "/api/v1/runners/echo/logs?n=x").await;
    assert_eq!(r.status, 400, "{}", r.body);

    // The control events are durable when the API answered, with the client in the actor.
    let page: EventPage = s.ok("GET", "/api/v1/events?after=0&limit=1000").await;
    let controls: Vec<_> = page
        .events
        .iter()
        .filter(|e| e.kind.name() == "control")
        .collect();
    assert_eq!(controls.len(), 2, "{controls:?}");
    assert_eq!(page.next_after, page.events.last().unwrap().id);
    let audit: Vec<AuditEntry> = s.ok("GET", "/api/v1/audit?n=1000").await;
    assert!(
        audit
            .iter()
            .any(|r| r.actor == "master:test" && r.action == "control.stop" && r.target == "echo"),
        "{audit:?}"
    );
    let verdict: AuditVerdict = s.ok("GET", "/api/v1/audit/verify").await;
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
    let r = s.call("POST", "/api/v1/reload").await;
    let err: ErrorBody = r.json();
    assert_eq!(
        (r.status, err.code.as_str()),
        (422, "invalid_config"),
        "{}",
        r.body
    );
    assert!(
        err.errors[0].contains("runner_manifest.json:2:")
            && err.errors[0].contains("runners[0].restart.delay_ms"),
        "{err:?}"
    );
    let st: RunnerStatus = s.ok("GET", "/api/v1/runners/echo").await;
    assert_eq!(st.state.name(), "running");
    s.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_shows_what_runs_redacts_secrets_and_names_errors_on_disk() {
    let s = serve().await;
    let c: serde_json::Value = s.ok("GET", "/api/v1/config").await;
    assert_eq!(c["manifest"]["runners"][0]["name"], "echo");
    assert_eq!(c["on_disk"]["valid"], true);
    std::fs::write(
        s.conf.join("runner_manifest.json"),
        r#"{"runners": [{"name": "echo", "command": ["true"], "env": {"RUNNER_TOKEN": "s3cr3t", "LANG": "C"}},
  {"name": "bad", "command": []}]}"#,
    )
    .unwrap();
    let c: serde_json::Value = s.ok("GET", "/api/v1/config").await;
    assert_eq!(c["on_disk"]["valid"], false);
    let errors = c["on_disk"]["errors"].to_string();
    assert!(
        errors.contains("runner_manifest.json:2:") && errors.contains("runners[1].command"),
        "{errors}"
    );
    // A reload that is valid applies; the secret never comes back out.
    std::fs::write(
        s.conf.join("runner_manifest.json"),
        r#"{"runners": [{"name": "echo", "command": ["sleep", "30"], "env": {"RUNNER_TOKEN": "s3cr3t", "LANG": "C",
            "DATABASE_URL": "postgres://u:pa55word@h/db"}}]}"#,
    )
    .unwrap();
    s.ok::<serde_json::Value>("POST", "/api/v1/reload").await;
    let r = s.call("GET", "/api/v1/config").await;
    assert!(!r.body.contains("s3cr3t"), "{}", r.body);
    // A password inside a value is a secret too, whatever the variable's name (issue 16 #9).
    assert!(!r.body.contains("pa55word"), "{}", r.body);
    let c: serde_json::Value = r.json();
    assert_eq!(
        c["manifest"]["runners"][0]["env"]["RUNNER_TOKEN"],
        "<redacted>"
    );
    assert_eq!(c["manifest"]["runners"][0]["env"]["LANG"], "C");
    // A notification channel's secret written in its URL (a config warning) is not shown
    // either: only the URL's scheme is.
    let device = std::fs::read_to_string(s.conf.join("qcity-device-config.json"))
        .unwrap_or_else(|_| "{}".into());
    let mut device: serde_json::Value = serde_json::from_str(&device).unwrap();
    device["notifications"] = serde_json::json!({"channels": [
        {"name": "team", "url": "discord://1234/t0ken-s3cr3t"},
        {"name": "ref", "url": "tgram://{keyring://bot}/42"}
    ]});
    std::fs::write(s.conf.join("qcity-device-config.json"), device.to_string()).unwrap();
    s.ok::<serde_json::Value>("POST", "/api/v1/reload").await;
    let r = s.call("GET", "/api/v1/config").await;
    assert!(!r.body.contains("t0ken-s3cr3t"), "{}", r.body);
    let c: serde_json::Value = r.json();
    let channels = &c["device"]["notifications"]["channels"];
    assert_eq!(channels[0]["url"], "discord://<redacted>");
    assert_eq!(channels[1]["url"], "tgram://{keyring://bot}/42");
    s.engine.shutdown("test").await;
}

/// The checked-in `openapi.json` is what the daemon serves (it is generated from the route
/// table and the wire types); `QCITY_BLESS=1` rewrites it.
#[test]
fn the_checked_in_openapi_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = qcity_api::openapi_document();
    if std::env::var_os("QCITY_BLESS").is_some() {
        std::fs::write(&path, generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is stale: run `make openapi` (QCITY_BLESS=1 cargo test -p qcity-api --test api openapi) and commit it",
        path.display()
    );
}
