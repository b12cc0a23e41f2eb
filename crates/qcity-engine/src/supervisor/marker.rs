//! What every process QCity starts carries in its environment, so that it can be found again
//! by what it is, not by its process group: at start (processes a killed engine left, see
//! `reconcile`) and at a stop (processes that left their runner's group, see `sweep`).

/// The engine instance (the data dir's id): on every runner, task and heal command.
pub const INSTANCE_ENV: &str = "QCITY_INSTANCE";

/// The runner's name: on every process of that runner.
pub const RUNNER_ENV: &str = "QCITY_RUNNER";

/// The service manager's variables (systemd's notify socket and watchdog): the daemon's own.
/// A runner that inherited them could tell systemd the daemon is ready or alive.
pub const SERVICE_MANAGER_ENV: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// `QCITY_INSTANCE=id`, as it stands in an environment.
pub fn instance(id: &str) -> String {
    format!("{INSTANCE_ENV}={id}")
}

/// `QCITY_RUNNER=name`, as it stands in an environment.
pub fn runner(name: &str) -> String {
    format!("{RUNNER_ENV}={name}")
}
