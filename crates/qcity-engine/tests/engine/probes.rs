//! Health probes against real servers on loopback and real runner output.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use qcity_types::EventKind;
use qcity_types::{Health, ProbeState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use qcity_testkit::{Harness, probe, runner, wait_probe};

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

/// A loopback HTTP/1.1 server that answers each request with `parts`, written 20 ms apart so
/// that each is its own segment, and never closes a connection itself (keep-alive): a client
/// that waits for the close to end the body waits in vain.
async fn keep_alive_server(parts: &'static [&'static str]) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                    if !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        continue;
                    }
                    req.clear();
                    for part in parts {
                        if sock.write_all(part.as_bytes()).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_probe_reads_a_chunked_body_whose_text_spans_chunks() {
    static CHUNKED: &[&str] = &[
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n",
        "5\r\nall g\r\n",
        "7\r\nood her\r\n",
        "2\r\ne!\r\n",
        "0\r\n\r\n",
    ];
    let port = keep_alive_server(CHUNKED).await;
    let url = format!("http://127.0.0.1:{port}/health");
    let mut r = runner("web", "exec sleep 300");
    r.probes = vec![
        probe(serde_json::json!({
            "name": "whole", "http": {"url": url, "body_contains": "all good here!"}
        })),
        // The body is checked: text it lacks fails.
        probe(serde_json::json!({
            "name": "lacking", "http": {"url": url, "body_contains": "all bad"}
        })),
    ];
    let mut h = Harness::start(vec![r]).await;
    let (_, detail) = wait_probe(&mut h, "whole", ProbeState::Passing, 0).await;
    assert_eq!(detail, "status 200");
    let (_, detail) = wait_probe(&mut h, "lacking", ProbeState::Failing, 0).await;
    assert_eq!(detail, "status 200, but the body lacks `all bad`");
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_probe_ends_a_body_at_its_length_and_reports_a_redirect() {
    static SIZED: &[&str] = &[
        "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n",
        "ready: yes\r\n",
    ];
    static MOVED: &[&str] =
        &["HTTP/1.1 301 Moved Permanently\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"];
    let sized = keep_alive_server(SIZED).await;
    let moved = keep_alive_server(MOVED).await;
    let mut r = runner("web", "exec sleep 300");
    r.probes = vec![
        probe(serde_json::json!({
            "name": "sized",
            "http": {"url": format!("http://127.0.0.1:{sized}/"), "body_contains": "ready: yes"}
        })),
        probe(serde_json::json!({
            "name": "moved", "http": {"url": format!("http://127.0.0.1:{moved}/")}
        })),
    ];
    let mut h = Harness::start(vec![r]).await;
    // Within the probe's 1 s timeout, though the server keeps the connection open.
    let (_, detail) = wait_probe(&mut h, "sized", ProbeState::Passing, 0).await;
    assert_eq!(detail, "status 200");
    // Not followed: the redirect is the answer.
    let (_, detail) = wait_probe(&mut h, "moved", ProbeState::Failing, 0).await;
    assert_eq!(detail, "status 301, expected 200");
    h.engine.shutdown("test").await;
}

/// A loopback HTTPS server answering 200 `secure` as `127.0.0.1`, whose certificate is signed
/// by an authority made here: (port, the authority's PEM).
async fn tls_server() -> (u16, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: an error here.
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let resp =
                    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure";
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, ca.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_probe_trusts_its_ca_file_and_refuses_an_unknown_authority() {
    let (port, ca_pem) = tls_server().await;
    let url = format!("https://127.0.0.1:{port}/health");
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    std::fs::create_dir_all(&conf).unwrap();
    // Relative to the config dir, as the config file gives it.
    std::fs::write(conf.join("service-ca.pem"), ca_pem).unwrap();
    let mut r = runner("web", "exec sleep 300");
    r.probes = vec![
        probe(serde_json::json!({
            "name": "trusted",
            "http": {"url": url, "body_contains": "secure", "ca_file": "service-ca.pem"}
        })),
        // The system's roots alone: this authority is not among them.
        probe(serde_json::json!({"name": "untrusted", "http": {"url": url}})),
    ];
    let cfg = qcity_testkit::config(&conf, vec![r]);
    qcity_testkit::write_manifest(&conf, &cfg);
    let mut h = Harness::start_with(dir, cfg).await;
    let (_, detail) = wait_probe(&mut h, "trusted", ProbeState::Passing, 0).await;
    assert_eq!(detail, "status 200");
    let (_, detail) = wait_probe(&mut h, "untrusted", ProbeState::Failing, 0).await;
    assert!(
        detail.starts_with(&format!("127.0.0.1:{port}: ")) && detail.contains("certificate"),
        "{detail}"
    );
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
    let mut cfg = qcity_testkit::config(&conf, vec![runner("idle", "exec sleep 300")]);
    cfg.device.resources.interval_ms = 100;
    cfg.device.resources.power_supply_root = power.clone();
    cfg.device.resources.min_free_disk_mb = min_free_disk_mb;
    qcity_testkit::write_manifest(&conf, &cfg);
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
