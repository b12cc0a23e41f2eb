//! Health probes against real servers on loopback and real runner output.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use qcity_engine::EventKind;
use qcity_engine::probe::{Health, ProbeState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Harness, probe, runner, wait_probe};

fn health(h: &Harness, runner: &str) -> Option<Health> {
    h.engine
        .status()
        .into_iter()
        .find(|s| s.name == runner)
        .unwrap()
        .health
}

/// A real HTTP server on loopback that answers 200 "ok" or 500, as `healthy` says.
async fn http_server(healthy: Arc<AtomicBool>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let healthy = healthy.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = sock.read(&mut buf).await;
                let resp = if healthy.load(Ordering::SeqCst) {
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                } else {
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfail"
                };
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_probe_follows_a_server_that_starts_failing() {
    let healthy = Arc::new(AtomicBool::new(true));
    let port = http_server(healthy.clone()).await;
    let mut r = runner("web", "exec sleep 300");
    r.probes = vec![probe(serde_json::json!({
        "name": "health", "http": {"url": format!("http://127.0.0.1:{port}/health"), "body_contains": "ok"}
    }))];
    let mut h = Harness::start(vec![r]).await;
    let (id, detail) = wait_probe(&mut h, "health", ProbeState::Passing, 0).await;
    assert_eq!(detail, "status 200");
    assert_eq!(health(&h, "web"), Some(Health::Healthy));

    healthy.store(false, Ordering::SeqCst);
    let (id, detail) = wait_probe(&mut h, "health", ProbeState::Failing, id).await;
    assert_eq!(detail, "status 500, expected 200");
    assert_eq!(health(&h, "web"), Some(Health::Unhealthy));

    healthy.store(true, Ordering::SeqCst);
    wait_probe(&mut h, "health", ProbeState::Passing, id).await;
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_probe_fails_when_the_port_closes() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut r = runner("db", "exec sleep 300");
    r.probes = vec![probe(serde_json::json!({
        "name": "port", "tcp": {"address": format!("127.0.0.1:{port}")}
    }))];
    let mut h = Harness::start(vec![r]).await;
    let (id, _) = wait_probe(&mut h, "port", ProbeState::Passing, 0).await;
    drop(listener);
    let (_, detail) = wait_probe(&mut h, "port", ProbeState::Failing, id).await;
    assert!(detail.contains("refused"), "{detail}");
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_probe_sees_an_error_line_and_a_soft_exec_probe_degrades() {
    let mut r = runner(
        "job",
        "echo starting; sleep 0.5; echo 'ERROR: disk full'; exec sleep 300",
    );
    r.probes = vec![
        probe(serde_json::json!({
            "name": "errors", "log": {"pattern": "^ERROR:", "window_ms": 60000}
        })),
        probe(serde_json::json!({
            "name": "soft", "exec": {"command": ["false"]}, "critical": false
        })),
    ];
    let mut h = Harness::start(vec![r]).await;
    let (id, _) = wait_probe(&mut h, "errors", ProbeState::Passing, 0).await;
    wait_probe(&mut h, "soft", ProbeState::Failing, 0).await;
    assert_eq!(
        health(&h, "job"),
        Some(Health::Degraded),
        "only a non-critical probe fails"
    );
    let (_, detail) = wait_probe(&mut h, "errors", ProbeState::Failing, id).await;
    assert_eq!(detail, "`^ERROR:` matched in the last 60 s");
    assert_eq!(health(&h, "job"), Some(Health::Unhealthy));
    h.engine.shutdown("test").await;
}

fn set(root: &std::path::Path, entry: &str, file: &str, value: &str) {
    std::fs::create_dir_all(root.join(entry)).unwrap();
    std::fs::write(root.join(entry).join(file), format!("{value}\n")).unwrap();
}

async fn wait_resource(h: &mut Harness, name: &str, state: ProbeState) -> String {
    let name = name.to_string();
    let ev = h
        .wait_event(&format!("{name} {state:?}"), move |e| {
            matches!(&e.kind, EventKind::ResourceChanged { resource, state: s, .. } if resource.starts_with(name.as_str()) && *s == state)
        })
        .await;
    let EventKind::ResourceChanged { detail, .. } = &ev.kind else {
        unreachable!()
    };
    detail.clone()
}

/// A machine whose battery (a fixture laid out like the kernel's power-supply class) and disk
/// thresholds are ours to set.
async fn machine(min_free_disk_mb: u64) -> (Harness, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let power = dir.path().join("power_supply");
    set(&power, "AC", "type", "Mains");
    set(&power, "AC", "online", "1");
    set(&power, "BAT0", "type", "Battery");
    set(&power, "BAT0", "capacity", "80");
    set(&power, "BAT0", "status", "Charging");
    let conf = dir.path().join("config");
    std::fs::create_dir_all(&conf).unwrap();
    let mut cfg = crate::support::config(&conf, vec![runner("idle", "exec sleep 300")]);
    cfg.device.resources.interval_ms = 100;
    cfg.device.resources.power_supply_root = power.clone();
    cfg.device.resources.min_free_disk_mb = min_free_disk_mb;
    crate::support::write_manifest(&conf, &cfg);
    (Harness::start_with(dir, cfg).await, power)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_battery_discharging_at_15_percent_degrades_the_machine() {
    let (mut h, power) = machine(1).await;
    assert_eq!(
        wait_resource(&mut h, "battery", ProbeState::Passing).await,
        "80% on AC (Charging)"
    );
    set(&power, "AC", "online", "0");
    set(&power, "BAT0", "status", "Discharging");
    set(&power, "BAT0", "capacity", "15");
    assert_eq!(
        wait_resource(&mut h, "battery", ProbeState::Failing).await,
        "15% on battery (Discharging), below 20%"
    );
    let m = h.engine.machine();
    let battery = m.resources.iter().find(|r| r.name == "battery").unwrap();
    assert!(!battery.critical);
    assert!(m.health >= Some(Health::Degraded), "{m:?}");
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_threshold_above_the_real_free_space_makes_the_machine_unhealthy() {
    let (mut h, _) = machine(u64::MAX / 4).await;
    let detail = wait_resource(&mut h, "disk:", ProbeState::Failing).await;
    assert!(
        detail.contains("MiB free on ") && detail.contains("below"),
        "{detail}"
    );
    assert_eq!(h.engine.machine().health, Some(Health::Unhealthy));
    h.engine.shutdown("test").await;
}
