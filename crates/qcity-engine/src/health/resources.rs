//! The machine's own health: free disk where runners work, available memory, load, battery.
//!
//! The reads themselves (`statvfs`, `/proc/meminfo`, `/proc/loadavg`, the power-supply class)
//! are `qcity-platform`'s; here they become readings, verdicts and events. The power-supply
//! root is configurable so tests can use a directory laid out like the kernel's.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qcity_config::ResourceSettings;

use crate::bus::Bus;
use qcity_platform::clock::now_ms;
use qcity_types::{
    Battery, DiskReading, EventKind, MachineStatus, ProbeState, ProbeStatus, Readings, health_of,
};

/// Reads every resource; what cannot be read is `None`, never an error.
pub fn read(disk_paths: &[PathBuf], power_supply_root: &Path) -> Readings {
    Readings {
        disks: disk_paths
            .iter()
            .map(|p| DiskReading {
                path: p.clone(),
                free_mb: qcity_platform::disk::free_mb(p),
            })
            .collect(),
        available_memory_mb: qcity_platform::memory::available_mb(),
        load_1m: qcity_platform::load::load_1m(),
        cpus: qcity_platform::load::cpus(),
        battery: qcity_platform::power::read(power_supply_root).map(|p| Battery {
            percent: p.percent,
            status: p.status,
            ac_online: p.ac_online,
        }),
    }
}

/// A verdict per resource for `r` under `s`.
pub fn evaluate(r: &Readings, s: &ResourceSettings) -> Vec<ProbeStatus> {
    let at = now_ms();
    let verdict = |name: String, critical: bool, result: Option<Result<String, String>>| {
        let (state, detail) = match result {
            None => (ProbeState::Pending, "cannot be read here".to_string()),
            Some(Ok(d)) => (ProbeState::Passing, d),
            Some(Err(d)) => (ProbeState::Failing, d),
        };
        ProbeStatus {
            name,
            state,
            critical,
            detail,
            checked_ms: at,
        }
    };
    let mut out = Vec::new();
    for d in &r.disks {
        let result = d.free_mb.map(|free| {
            let text = format!("{free} MiB free on {}", d.path.display());
            if free < s.min_free_disk_mb {
                Err(format!("{text}, below {} MiB", s.min_free_disk_mb))
            } else {
                Ok(text)
            }
        });
        out.push(verdict(format!("disk:{}", d.path.display()), true, result));
    }
    let memory = r.available_memory_mb.map(|mb| {
        if mb < s.min_free_memory_mb {
            Err(format!(
                "{mb} MiB available, below {} MiB",
                s.min_free_memory_mb
            ))
        } else {
            Ok(format!("{mb} MiB available"))
        }
    });
    out.push(verdict("memory".into(), true, memory));
    let load = r.load_1m.map(|l| {
        let per_cpu = l / r.cpus.max(1) as f64;
        let text = format!("load {l:.2} on {} CPUs", r.cpus);
        if per_cpu > s.max_load_per_cpu {
            Err(format!("{text}, above {} per CPU", s.max_load_per_cpu))
        } else {
            Ok(text)
        }
    });
    out.push(verdict("load".into(), false, load));
    if let Some(b) = &r.battery {
        let power = if b.on_battery() {
            "on battery"
        } else {
            "on AC"
        };
        let text = format!("{}% {power} ({})", b.percent, b.status);
        let result = if b.on_battery() && b.percent < s.min_battery_percent {
            Err(format!("{text}, below {}%", s.min_battery_percent))
        } else {
            Ok(text)
        };
        out.push(verdict("battery".into(), false, Some(result)));
    }
    out
}

/// Reads the machine every `interval_ms`, keeps `status` current and publishes each change of
/// a resource's verdict; samples what each runner's processes use into `runners` on the same
/// tick (`usage.rs`). Ends when the returned handle is aborted.
pub fn spawn_monitor(
    bus: Arc<Bus>,
    status: Arc<Mutex<MachineStatus>>,
    settings: ResourceSettings,
    disk_paths: Vec<PathBuf>,
    runners: Arc<crate::status::StatusTable>,
    proc_root: PathBuf,
) -> tokio::task::JoinHandle<()> {
    let mut usage = crate::health::usage::UsageSampler::new(proc_root);
    tokio::spawn(async move {
        let mut ticker =
            crate::health::probe::aligned_interval(Duration::from_millis(settings.interval_ms));
        loop {
            ticker.tick().await;
            // A few small files from /proc and /sys and one statvfs per disk: cheaper inline
            // than a trip to the blocking pool.
            let readings = read(&disk_paths, &settings.power_supply_root);
            // One read of /proc/PID/stat per process on the machine, for all runners.
            usage.sample(&runners);
            let resources = evaluate(&readings, &settings);
            let health = health_of(&resources);
            let previous = {
                let mut st = status.lock().unwrap_or_else(|e| e.into_inner());
                let previous = std::mem::take(&mut st.resources);
                st.health = health;
                st.resources = resources.clone();
                st.readings = Some(readings);
                previous
            };
            for r in &resources {
                let before = previous.iter().find(|p| p.name == r.name).map(|p| p.state);
                if before != Some(r.state) {
                    bus.publish(EventKind::ResourceChanged {
                        resource: r.name.clone(),
                        state: r.state,
                        detail: r.detail.clone(),
                        health,
                    });
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcity_types::Health;

    fn write(root: &Path, entry: &str, file: &str, value: &str) {
        std::fs::create_dir_all(root.join(entry)).unwrap();
        std::fs::write(root.join(entry).join(file), format!("{value}\n")).unwrap();
    }

    fn battery(root: &Path) -> Battery {
        read(&[], root).battery.unwrap()
    }

    #[test]
    fn a_low_battery_degrades_the_machine_only_while_discharging() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(read(&[], root).battery, None, "a desktop without a battery");
        write(root, "AC", "type", "Mains");
        write(root, "AC", "online", "1");
        write(root, "BAT0", "type", "Battery");
        write(root, "BAT0", "capacity", "87");
        write(root, "BAT0", "status", "Charging");
        let b = battery(root);
        assert_eq!(
            (b.percent, b.ac_online, b.on_battery()),
            (87, Some(true), false)
        );
        write(root, "AC", "online", "0");
        write(root, "BAT0", "capacity", "15");
        write(root, "BAT0", "status", "Discharging");
        let b = battery(root);
        assert!(b.on_battery());
        let s = ResourceSettings::default();
        let r = Readings {
            disks: vec![],
            available_memory_mb: Some(4096),
            load_1m: Some(0.5),
            cpus: 2,
            battery: Some(b),
        };
        let v = evaluate(&r, &s);
        let bat = v.iter().find(|p| p.name == "battery").unwrap();
        assert_eq!(bat.state, ProbeState::Failing);
        assert_eq!(bat.detail, "15% on battery (Discharging), below 20%");
        assert_eq!(health_of(&v), Some(Health::Degraded));
    }

    #[test]
    fn the_real_machine_can_be_read() {
        let r = read(&[PathBuf::from("/")], Path::new("/sys/class/power_supply"));
        assert!(r.disks[0].free_mb.is_some());
        assert!(r.available_memory_mb.is_some_and(|m| m > 0));
        assert!(r.load_1m.is_some());
    }
}
