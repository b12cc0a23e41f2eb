//! Available memory, from `/proc/meminfo`.

/// `MemAvailable` in MiB: what can be allocated without swapping; `None` when it cannot be
/// read (not Linux, or a kernel before 3.14).
#[cfg(target_os = "linux")]
pub fn available_mb() -> Option<u64> {
    parse_available_mb(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

#[cfg(not(target_os = "linux"))]
pub fn available_mb() -> Option<u64> {
    None
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_available_mb(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_available() {
        let text = "MemTotal:       24576000 kB\nMemFree:         1024000 kB\nMemAvailable:   16384000 kB\n";
        assert_eq!(parse_available_mb(text), Some(16000));
        assert_eq!(parse_available_mb("MemTotal: 1 kB\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_has_memory_available() {
        assert!(available_mb().is_some_and(|mb| mb > 0));
    }
}
