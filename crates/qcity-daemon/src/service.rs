//! `qcity up` as a service of the user's session: a systemd user unit that starts it at login
//! (at boot with lingering), restarts it when it fails, and restarts it when its watchdog
//! pings stop (`Type=notify`, see `readiness.rs`).
//!
//! Built: systemd user units on Linux. Not built yet: a system-wide unit, macOS LaunchAgents,
//! Windows services; `plan` says so rather than guessing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The unit's file name.
pub const UNIT: &str = "qcity.service";

/// How systemd's watchdog is set: the daemon pings at half of it.
pub const WATCHDOG_SEC: u32 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(
        "only a user service is built (a systemd user unit): pass --user; a system-wide unit is not built yet"
    )]
    SystemWide,
    #[error(
        "installing a service is built for Linux (systemd) only; on this system run `qcity up` from your session's startup"
    )]
    Unsupported,
    #[error("neither XDG_CONFIG_HOME nor HOME is set: cannot tell where user units live")]
    NoHome,
    #[error("cannot write {}: {error}", .path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot remove {}: {error}", .path.display())]
    Remove {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
}

/// What `qcity up` runs with under the service.
#[derive(Debug, Clone)]
pub struct Daemon {
    pub program: PathBuf,
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
}

/// Where user units live: `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`.
pub fn user_unit_path() -> Result<PathBuf, ServiceError> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|h| PathBuf::from(h).join(".config"))
            .ok_or(ServiceError::NoHome)?,
    };
    Ok(base.join("systemd/user").join(UNIT))
}

/// One argument of `ExecStart=` as systemd reads it: quoted, with `\`, `"`, `%` (specifiers)
/// and `$` (variables) escaped.
fn exec_arg(arg: &Path) -> String {
    let mut out = String::from("\"");
    for c in arg.to_string_lossy().chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The unit's text.
pub fn systemd_user_unit(d: &Daemon) -> String {
    format!(
        "# Written by `qcity service install --user`; `qcity service uninstall --user` removes it.
[Unit]
Description=QCity Runners Engine: keeps self-hosted CI runners and automation alive

[Service]
# READY=1 once the API listens; WATCHDOG=1 from the daemon's loop, every {half} s.
Type=notify
NotifyAccess=main
WatchdogSec={WATCHDOG_SEC}
ExecStart={program} up --config {config} --data-dir {data}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=2
# SIGTERM to the daemon only: it stops each runner with its own grace period, and whatever
# is left when the stop times out is killed.
KillMode=mixed

[Install]
WantedBy=default.target
",
        half = WATCHDOG_SEC / 2,
        program = exec_arg(&d.program),
        config = exec_arg(&d.config_dir),
        data = exec_arg(&d.data_dir),
    )
}

/// What installing or removing writes and runs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub unit_path: PathBuf,
    /// The unit to write; `None` when removing.
    pub unit: Option<String>,
    /// Commands to run before the file is removed or after it is written.
    pub commands: Vec<Vec<String>>,
}

fn systemctl(args: &[&str]) -> Vec<String> {
    std::iter::once("systemctl")
        .chain(std::iter::once("--user"))
        .chain(args.iter().copied())
        .map(str::to_string)
        .collect()
}

fn check_platform(user: bool) -> Result<(), ServiceError> {
    if !cfg!(target_os = "linux") {
        return Err(ServiceError::Unsupported);
    }
    if !user {
        return Err(ServiceError::SystemWide);
    }
    Ok(())
}

/// Installing: the unit, then reload systemd and enable and start it.
pub fn install_plan(d: &Daemon, user: bool) -> Result<Plan, ServiceError> {
    check_platform(user)?;
    Ok(Plan {
        unit_path: user_unit_path()?,
        unit: Some(systemd_user_unit(d)),
        commands: vec![
            systemctl(&["daemon-reload"]),
            systemctl(&["enable", "--now", UNIT]),
        ],
    })
}

/// Removing: stop and disable it, remove the unit, reload systemd.
pub fn uninstall_plan(user: bool) -> Result<Plan, ServiceError> {
    check_platform(user)?;
    Ok(Plan {
        unit_path: user_unit_path()?,
        unit: None,
        commands: vec![
            systemctl(&["disable", "--now", UNIT]),
            systemctl(&["daemon-reload"]),
        ],
    })
}

fn run(argv: &[String]) -> Result<String, ServiceError> {
    let failed = |detail: String| ServiceError::Command {
        command: argv.join(" "),
        detail,
    };
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Writes the unit (0644, atomically) and runs the commands.
pub fn apply_install(plan: &Plan) -> Result<(), ServiceError> {
    if let Some(unit) = &plan.unit {
        let write = |error| ServiceError::Write {
            path: plan.unit_path.clone(),
            error,
        };
        let dir = plan
            .unit_path
            .parent()
            .expect("a unit path has a directory");
        std::fs::create_dir_all(dir).map_err(write)?;
        let tmp = plan.unit_path.with_extension("service.tmp");
        std::fs::write(&tmp, unit).map_err(write)?;
        std::fs::rename(&tmp, &plan.unit_path).map_err(write)?;
    }
    for argv in &plan.commands {
        run(argv)?;
    }
    Ok(())
}

/// Runs the commands (a unit that was never started is not an error), then removes the unit.
pub fn apply_uninstall(plan: &Plan) -> Result<(), ServiceError> {
    for argv in &plan.commands {
        if let Err(e) = run(argv) {
            tracing::warn!("{e}");
        }
    }
    match std::fs::remove_file(&plan.unit_path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(ServiceError::Remove {
            path: plan.unit_path.clone(),
            error,
        }),
    }
}

/// Whether the user manager outlives the user's sessions (`loginctl enable-linger`): without
/// it the service starts only at login and stops at the last logout. `None` when logind
/// cannot tell.
pub fn lingering() -> Option<bool> {
    let user = std::env::var("USER").ok()?;
    let out = run(&[
        "loginctl".into(),
        "show-user".into(),
        user,
        "--property=Linger".into(),
        "--value".into(),
    ])
    .ok()?;
    Some(out == "yes")
}

/// The unit's state as systemd reports it: (is-enabled, is-active); `None` when
/// `systemctl --user` cannot be reached.
pub fn state() -> Option<(String, String)> {
    let ask = |what: &str| {
        let out = Command::new("systemctl")
            .args(["--user", what, UNIT])
            .output()
            .ok()?;
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!said.is_empty()).then_some(said)
    };
    Some((ask("is-enabled")?, ask("is-active")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_arguments_are_quoted_and_escaped() {
        assert_eq!(exec_arg(Path::new("/a b/c")), "\"/a b/c\"");
        assert_eq!(
            exec_arg(Path::new("/x/100%$HOME\"\\")),
            "\"/x/100%%$$HOME\\\"\\\\\""
        );
    }
}
