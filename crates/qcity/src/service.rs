//! `qcity service`: the daemon as a service of the user's session (qcity-daemon's service.rs
//! writes the unit; this says what it did and what is left to the user).

use std::path::Path;

use qcity_daemon::service::{self, Daemon, Plan, ServiceError};
use qcity_engine::datadir::DataDir;

use crate::exit::{CliError, CliResult};

impl From<ServiceError> for CliError {
    fn from(e: ServiceError) -> Self {
        CliError::error(e.to_string())
    }
}

fn absolute(p: &Path) -> CliResult<std::path::PathBuf> {
    std::path::absolute(p).map_err(|e| CliError::error(format!("{}: {e}", p.display())))
}

fn print_commands(plan: &Plan) {
    for argv in &plan.commands {
        println!("  {}", argv.join(" "));
    }
}

fn linger_advice() {
    match service::lingering() {
        Some(true) => {}
        Some(false) => println!(
            "Lingering is off: the service starts at your login and stops at your last logout. \
             To run it from boot, run: loginctl enable-linger {}",
            std::env::var("USER").unwrap_or_else(|_| "$USER".into())
        ),
        None => {
            println!("(cannot tell from logind whether your user manager lingers after logout)")
        }
    }
}

pub fn install(config: &Path, data: &DataDir, user: bool, dry_run: bool) -> CliResult {
    let daemon = Daemon {
        program: std::env::current_exe()
            .map_err(|e| CliError::error(format!("cannot tell where this qcity is: {e}")))?,
        config_dir: absolute(config)?,
        data_dir: absolute(data.root())?,
    };
    let plan = service::install_plan(&daemon, user)?;
    let unit = plan.unit.as_deref().unwrap_or_default();
    if dry_run {
        println!("Would write {}:", plan.unit_path.display());
        print!("{unit}");
        println!("# end of unit");
        println!("Would run:");
        print_commands(&plan);
        return Ok(());
    }
    // One data dir, one engine: a daemon already on it (`qcity up`, the tray) keeps the lock
    // and the service would fail to start.
    if let Some(info) = qcity_api::DaemonInfo::running(&data.daemon_info()) {
        return Err(CliError::error(format!(
            "a qcity daemon (pid {}) already runs on {}: stop it (quit the tray, or stop `qcity up`), then install the service",
            info.pid,
            data.root().display()
        )));
    }
    service::apply_install(&plan)?;
    println!("Installed and started {}", plan.unit_path.display());
    println!("Logs: journalctl --user -u {}", service::UNIT);
    linger_advice();
    Ok(())
}

pub fn uninstall(user: bool, dry_run: bool) -> CliResult {
    let plan = service::uninstall_plan(user)?;
    if dry_run {
        println!("Would run:");
        print_commands(&plan);
        println!("Would remove {}", plan.unit_path.display());
        return Ok(());
    }
    service::apply_uninstall(&plan)?;
    println!("Stopped, disabled and removed {}", plan.unit_path.display());
    Ok(())
}

pub fn status(data: &DataDir, user: bool) -> CliResult {
    let plan = service::uninstall_plan(user)?;
    if !plan.unit_path.exists() {
        println!(
            "not installed ({} does not exist)",
            plan.unit_path.display()
        );
        return Ok(());
    }
    println!("unit: {}", plan.unit_path.display());
    match service::state() {
        Some((enabled, active)) => println!("{enabled}, {active}"),
        None => println!("systemctl --user cannot be reached (no user manager in this session?)"),
    }
    if let Some(info) = qcity_api::DaemonInfo::read(&data.daemon_info()) {
        println!("daemon: pid {} on http://{}", info.pid, info.addr);
    }
    linger_advice();
    Ok(())
}
