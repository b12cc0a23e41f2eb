//! Load average, from `/proc/loadavg`, and the CPUs it spreads over.

/// The 1-minute load average; `None` when it cannot be read (not Linux).
#[cfg(target_os = "linux")]
pub fn load_1m() -> Option<f64> {
    parse_load_1m(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

#[cfg(not(target_os = "linux"))]
pub fn load_1m() -> Option<f64> {
    None
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_load_1m(loadavg: &str) -> Option<f64> {
    loadavg.split_whitespace().next()?.parse().ok()
}

/// CPUs available to this process (its affinity and cgroup quota count), read once:
/// `available_parallelism` parses the cgroup and mount tables on every call, which would be
/// most of a periodic reading's cost.
pub fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_field() {
        assert_eq!(parse_load_1m("0.52 0.58 0.59 1/467 12345\n"), Some(0.52));
        assert_eq!(parse_load_1m(""), None);
        assert!(cpus() >= 1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_has_a_load() {
        assert!(load_1m().is_some_and(|l| l >= 0.0));
    }
}
