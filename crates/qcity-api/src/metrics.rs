//! `GET /metrics`: the Prometheus text exposition (format 0.0.4) of runners (their CPU and
//! memory too), probes, the machine's resources and event counts. Label values are escaped as
//! the format requires; `promtool check metrics` passes on it (a test runs it on a live scrape).

use std::fmt::Write;

use qcity_engine::Engine;
use qcity_types::STATE_NAMES;
use qcity_types::{Health, ProbeState};

pub fn render(engine: &Engine, platforms: &[qcity_types::PlatformStatus]) -> String {
    let runners = engine.status();
    let machine = engine.machine();
    let counts = engine.event_counts();
    let mut m = Metrics(String::with_capacity(256 + runners.len() * 1024));

    m.family("qcity_build_info", "gauge", "The running QCity version.");
    m.sample(
        "qcity_build_info",
        &[("version", qcity_types::version::get())],
        1.0,
    );

    m.family(
        "qcity_runner_up",
        "gauge",
        "1 while the runner's process runs.",
    );
    for r in &runners {
        let up = r.pid.is_some() && r.state.name() == "running";
        m.sample(
            "qcity_runner_up",
            &[("runner", &r.name)],
            f64::from(u8::from(up)),
        );
    }
    m.family(
        "qcity_runner_state",
        "gauge",
        "The runner's state: 1 for the state it is in, 0 for the others.",
    );
    for r in &runners {
        for s in STATE_NAMES {
            let v = f64::from(u8::from(r.state.name() == s));
            m.sample(
                "qcity_runner_state",
                &[("runner", &r.name), ("state", s)],
                v,
            );
        }
    }
    m.family(
        "qcity_runner_restarts_total",
        "counter",
        "Starts after the first one since the engine started.",
    );
    for r in &runners {
        m.sample(
            "qcity_runner_restarts_total",
            &[("runner", &r.name)],
            r.restarts as f64,
        );
    }
    m.family(
        "qcity_runner_uptime_seconds",
        "gauge",
        "Seconds since the runner's current process started (0 when not running).",
    );
    for r in &runners {
        let up = r.uptime_ms.unwrap_or(0) as f64 / 1000.0;
        m.sample("qcity_runner_uptime_seconds", &[("runner", &r.name)], up);
    }
    m.family(
        "qcity_runner_cpu_percent",
        "gauge",
        "CPU used by the runner's processes (group and descendants) between the last two samples, in percent of one core; absent while not measured.",
    );
    for r in &runners {
        if let Some(u) = r.usage {
            m.sample(
                "qcity_runner_cpu_percent",
                &[("runner", &r.name)],
                u.cpu_percent,
            );
        }
    }
    m.family(
        "qcity_runner_memory_bytes",
        "gauge",
        "Resident memory of the runner's processes (group and descendants), in bytes; absent while not measured.",
    );
    for r in &runners {
        if let Some(u) = r.usage {
            m.sample(
                "qcity_runner_memory_bytes",
                &[("runner", &r.name)],
                u.memory_bytes as f64,
            );
        }
    }
    m.family(
        "qcity_runner_health",
        "gauge",
        "The runner's health: 1 for its verdict, 0 for the others; absent without probes.",
    );
    for r in &runners {
        if let Some(h) = r.health {
            health(&mut m, "qcity_runner_health", Some(("runner", &r.name)), h);
        }
    }
    m.family(
        "qcity_probe_passing",
        "gauge",
        "1 while the probe passes, 0 while it fails; absent while it has no verdict.",
    );
    for r in &runners {
        for p in &r.probes {
            if let Some(v) = verdict(p.state) {
                m.sample(
                    "qcity_probe_passing",
                    &[("runner", &r.name), ("probe", &p.name)],
                    v,
                );
            }
        }
    }
    m.family(
        "qcity_machine_health",
        "gauge",
        "The machine's health: 1 for its verdict, 0 for the others.",
    );
    if let Some(h) = machine.health {
        health(&mut m, "qcity_machine_health", None, h);
    }
    m.family(
        "qcity_resource_passing",
        "gauge",
        "1 while a machine resource (disk, memory, load, battery) is within its threshold.",
    );
    for p in &machine.resources {
        if let Some(v) = verdict(p.state) {
            m.sample("qcity_resource_passing", &[("resource", &p.name)], v);
        }
    }
    m.family(
        "qcity_events_total",
        "counter",
        "Events published since the engine started, by type.",
    );
    for (kind, n) in &counts {
        m.sample("qcity_events_total", &[("type", kind)], *n as f64);
    }
    if !platforms.is_empty() {
        m.family(
            "qcity_platform_state",
            "gauge",
            "A platform's status page: 1 for the state it reports (unknown: not readable), 0 for the others.",
        );
        for p in platforms {
            for s in qcity_types::PlatformState::ALL {
                let v = f64::from(u8::from(p.state == s));
                m.sample(
                    "qcity_platform_state",
                    &[("platform", &p.id), ("state", s.as_str())],
                    v,
                );
            }
        }
        m.family(
            "qcity_platform_incidents",
            "gauge",
            "Incidents and maintenances in progress on a platform, as last read.",
        );
        for p in platforms {
            m.sample(
                "qcity_platform_incidents",
                &[("platform", &p.id)],
                p.incidents.len() as f64,
            );
        }
    }
    m.0
}

fn verdict(s: ProbeState) -> Option<f64> {
    match s {
        ProbeState::Passing => Some(1.0),
        ProbeState::Failing => Some(0.0),
        ProbeState::Pending => None,
    }
}

fn health(m: &mut Metrics, name: &str, label: Option<(&str, &str)>, h: Health) {
    for (word, is) in [
        ("healthy", Health::Healthy),
        ("degraded", Health::Degraded),
        ("unhealthy", Health::Unhealthy),
    ] {
        let mut labels: Vec<(&str, &str)> = label.into_iter().collect();
        labels.push(("health", word));
        m.sample(name, &labels, f64::from(u8::from(h == is)));
    }
}

struct Metrics(String);

impl Metrics {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// Label values: backslash, double quote and newline are escaped.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
