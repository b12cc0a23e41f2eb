//! What each runner's processes use (issue 24, point 10): real runners that burn CPU, hold
//! memory or have a child, read through `qcity status` (JSON and table) and `/metrics`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{Daemon, text, wait_until};

/// The four runners' `usage`, once every one of them says what the test needs.
fn measured(d: &Daemon) -> [Value; 4] {
    wait_until("every runner measured", || {
        let runners = d.status();
        let usage = |name: &str| {
            let r = runners.iter().find(|r| r["name"] == name)?;
            r["usage"].is_object().then(|| r["usage"].clone())
        };
        let got = [
            usage("burner")?,
            usage("idle")?,
            usage("allocator")?,
            usage("parent")?,
        ];
        let ready = got[0]["cpu_percent"].as_f64()? > 50.0
            && got[2]["memory_bytes"].as_u64()? >= 64 << 20
            && got[3]["processes"].as_u64()? >= 2;
        ready.then_some(got)
    })
}

fn promtool_check(metrics: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/install-deps.sh installs `prometheus`)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

#[test]
fn each_runner_shows_the_cpu_and_memory_of_its_processes() {
    let mut d = Daemon::new(
        r#"{"runners": [
            {"name": "burner", "command": ["sh", "-c", "while :; do :; done"]},
            {"name": "idle", "command": ["sleep", "1000"]},
            {"name": "allocator", "command": ["python3", "-c",
                "import time; b = b'x' * (64 << 20); time.sleep(1000)"]},
            {"name": "parent", "command": ["sh", "-c", "sleep 1000 & wait"]},
            {"name": "off", "command": ["sleep", "1000"], "autostart": false}
        ]}"#,
    );
    std::fs::write(
        d.conf().join("qcity-device-config.json"),
        r#"{"api": {"port": 0}, "supervisor": {"stop_grace_ms": 3000},
            "platforms": {"enabled": false},
            "resources": {"interval_ms": 500, "min_free_disk_mb": 0, "min_free_memory_mb": 0}}"#,
    )
    .unwrap();
    d.spawn();

    let [burner, idle, allocator, parent] = measured(&d);
    assert!(
        idle["cpu_percent"].as_f64().unwrap() < 10.0,
        "{idle} beside {burner}"
    );
    assert!(allocator["memory_bytes"].as_u64().unwrap() >= 64 << 20);
    assert!(idle["memory_bytes"].as_u64().unwrap() < 64 << 20, "{idle}");
    assert_eq!(idle["processes"], 1);
    assert!(parent["processes"].as_u64().unwrap() >= 2, "{parent}");
    let off = d.runner("off");
    assert!(off["usage"].is_null(), "{off}");

    let table = text(&d.qcity(&["status"]).stdout);
    let header = table.lines().next().unwrap();
    assert!(header.contains("CPU") && header.contains("MEM"), "{table}");
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_string()
    };
    assert!(row("allocator").contains(" MiB"), "{table}");
    assert!(row("burner").contains('%'), "{table}");
    assert!(row("off").split_whitespace().filter(|c| *c == "-").count() >= 3);

    let metrics = d.metrics();
    let (ok, said) = promtool_check(&metrics);
    assert!(ok, "promtool: {said}\n{metrics}");
    let value = |family: &str, runner: &str| -> Option<f64> {
        let prefix = format!("{family}{{runner=\"{runner}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.parse().unwrap())
    };
    for family in ["qcity_runner_cpu_percent", "qcity_runner_memory_bytes"] {
        assert!(
            metrics.contains(&format!("# TYPE {family} gauge")),
            "{metrics}"
        );
        for runner in ["burner", "idle", "allocator", "parent"] {
            assert!(
                value(family, runner).is_some(),
                "{family} {runner}:\n{metrics}"
            );
        }
        assert_eq!(value(family, "off"), None, "not running: no sample");
    }
    assert!(value("qcity_runner_memory_bytes", "allocator").unwrap() >= (64 << 20) as f64);
    assert!(value("qcity_runner_cpu_percent", "burner").unwrap() > 10.0);
}
