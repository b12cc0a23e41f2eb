//! Batteries and mains adapters, from the kernel's power-supply class
//! (`/sys/class/power_supply` on Linux).
//!
//! The root is a parameter: tests lay out a directory like the kernel's. Where there is no
//! such directory (another OS, a desktop without a battery) the reading is `None`.

use std::path::{Path, PathBuf};

/// The power-supply class summed up: the first battery, and whether any adapter is online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerSupply {
    /// Charge of the first battery (by entry name), in percent, at most 100.
    pub percent: u8,
    /// Its `status`: `Charging`, `Discharging`, `Full`, `Not charging` as the kernel says.
    pub status: String,
    /// Whether a mains adapter says it is online (`None`: there is no adapter entry).
    pub ac_online: Option<bool>,
}

/// Reads the class under `root`: each entry's `type` is `Battery` or `Mains`; batteries
/// have `capacity` and `status`, adapters `online`. `None` without a battery that gives its
/// capacity.
pub fn read(root: &Path) -> Option<PowerSupply> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    let read = |dir: &Path, file: &str| {
        std::fs::read_to_string(dir.join(file))
            .ok()
            .map(|s| s.trim().to_string())
    };
    let mut ac_online = None;
    let mut battery = None;
    for dir in &entries {
        match read(dir, "type").as_deref() {
            Some("Mains") => {
                let online = read(dir, "online").as_deref() == Some("1");
                ac_online = Some(ac_online.unwrap_or(false) || online);
            }
            Some("Battery") if battery.is_none() => {
                let percent = read(dir, "capacity").and_then(|c| c.parse::<u8>().ok());
                if let Some(percent) = percent {
                    battery = Some((percent.min(100), read(dir, "status").unwrap_or_default()));
                }
            }
            _ => {}
        }
    }
    battery.map(|(percent, status)| PowerSupply {
        percent,
        status,
        ac_online,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, entry: &str, file: &str, value: &str) {
        std::fs::create_dir_all(root.join(entry)).unwrap();
        std::fs::write(root.join(entry).join(file), format!("{value}\n")).unwrap();
    }

    #[test]
    fn reads_a_power_supply_class_laid_out_like_the_kernels() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(read(&root.join("absent")), None, "no class at all");
        assert_eq!(read(root), None, "a desktop without a battery");
        write(root, "AC", "type", "Mains");
        write(root, "AC", "online", "1");
        assert_eq!(read(root), None, "an adapter alone is no battery");
        write(root, "BAT0", "type", "Battery");
        write(root, "BAT0", "capacity", "87");
        write(root, "BAT0", "status", "Charging");
        assert_eq!(
            read(root),
            Some(PowerSupply {
                percent: 87,
                status: "Charging".into(),
                ac_online: Some(true),
            })
        );
        write(root, "AC", "online", "0");
        write(root, "BAT0", "capacity", "15");
        write(root, "BAT0", "status", "Discharging");
        write(root, "BAT1", "type", "Battery");
        write(root, "BAT1", "capacity", "120");
        assert_eq!(
            read(root),
            Some(PowerSupply {
                percent: 15,
                status: "Discharging".into(),
                ac_online: Some(false),
            }),
            "the first battery counts"
        );
    }
}
