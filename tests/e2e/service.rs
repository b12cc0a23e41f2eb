//! `qcity up` under a service manager: systemd's notify protocol on a real datagram socket,
//! and the unit `qcity service install --user` writes.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::support::{Daemon, QCITY, agent, text, unique, wait_until};

/// Datagrams received within `window`, as text.
fn received(sock: &UnixDatagram, window: Duration) -> Vec<String> {
    let mut got = Vec::new();
    let end = Instant::now() + window;
    let mut buf = [0u8; 4096];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => break,
        }
    }
    got
}

fn pings(messages: &[String]) -> usize {
    messages.iter().filter(|m| m.contains("WATCHDOG=1")).count()
}

#[test]
fn ready_after_the_api_answers_watchdog_while_alive_stopping_at_the_end() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("notify");
    let sock = UnixDatagram::bind(&socket).unwrap();
    let env_seen = tmp.path().join("runner-env");
    let name = unique("envy");
    let mut d = Daemon::new(&format!(
        r#"{{"runners": [{{"name": "{name}", "command": ["sh", "-c", "env > '{}'; exec sleep 300"]}}]}}"#,
        env_seen.display()
    ));
    d.env = vec![
        ("NOTIFY_SOCKET".into(), socket.display().to_string()),
        // systemd's WatchdogSec=400ms: pings every 200 ms.
        ("WATCHDOG_USEC".into(), "400000".into()),
    ];
    d.spawn();

    // READY=1 comes once clients can connect: the API answers by then.
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let first = loop {
        let n = sock.recv(&mut buf).expect("READY=1 within 20 s");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.contains("READY=1") {
            break msg;
        }
    };
    assert!(first.contains("READY=1"), "{first}");
    let resp = agent()
        .get(format!("{}/runners", d.api_base()))
        .header("Authorization", format!("Bearer {}", d.token()))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let alive = received(&sock, Duration::from_secs(2));
    assert!(pings(&alive) >= 4, "pings in 2 s: {alive:?}");

    // A daemon that does not run sends none; it pings again once it runs.
    d.signal(libc::SIGSTOP);
    let _ = received(&sock, Duration::from_millis(100));
    let stopped = received(&sock, Duration::from_secs(1));
    d.signal(libc::SIGCONT);
    assert_eq!(pings(&stopped), 0, "{stopped:?}");
    let resumed = received(&sock, Duration::from_secs(2));
    assert!(pings(&resumed) >= 2, "{resumed:?}");

    // The runner's environment has none of the service manager's variables.
    let env = wait_until("the runner's environment", || {
        std::fs::read_to_string(&env_seen)
            .ok()
            .filter(|s| s.contains("QCITY_RUNNER"))
    });
    for var in ["NOTIFY_SOCKET", "WATCHDOG_USEC"] {
        assert!(!env.contains(var), "the runner saw {var}:\n{env}");
    }

    d.signal(libc::SIGTERM);
    let last = received(&sock, Duration::from_secs(5));
    assert_eq!(d.wait_exit(), Some(0));
    assert!(last.iter().any(|m| m.contains("STOPPING=1")), "{last:?}");
}

#[test]
fn service_install_dry_run_prints_a_unit_systemd_accepts_and_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let conf = home.path().join("my config");
    let data = home.path().join("data");
    let out = std::process::Command::new(QCITY)
        .args(["service", "install", "--user", "--dry-run", "--config"])
        .arg(&conf)
        .arg("--data-dir")
        .arg(&data)
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    let unit_path = home.path().join(".config/systemd/user/qcity.service");
    assert!(said.contains(&unit_path.display().to_string()), "{said}");
    assert!(
        said.contains("systemctl --user enable --now qcity.service"),
        "{said}"
    );
    assert!(!unit_path.exists(), "a dry run wrote the unit");
    assert!(!conf.exists() && !data.exists(), "a dry run created a dir");

    // The unit as printed, between its markers, checked by systemd itself.
    let unit: String = said
        .lines()
        .skip_while(|l| !l.starts_with("[Unit]"))
        .take_while(|l| !l.starts_with("# end of unit"))
        .map(|l| format!("{l}\n"))
        .collect();
    for line in [
        "Type=notify",
        "WatchdogSec=30",
        "Restart=on-failure",
        "KillMode=mixed",
        "RestartPreventExitStatus=8",
        "WantedBy=default.target",
    ] {
        assert!(unit.contains(line), "no {line} in:\n{unit}");
    }
    // Paths with a space are quoted as systemd reads them.
    assert!(unit.contains(&format!("\"{}\"", conf.display())), "{unit}");
    let file = home.path().join("qcity.service");
    std::fs::write(&file, &unit).unwrap();
    let verify = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&file)
        .output();
    match verify {
        Ok(v) => assert!(
            v.status.success() && v.stderr.is_empty(),
            "systemd-analyze verify:\n{}{}\n{unit}",
            text(&v.stdout),
            text(&v.stderr)
        ),
        Err(e) => panic!("systemd-analyze is needed (scripts/install-deps.sh installs it): {e}"),
    }
}
