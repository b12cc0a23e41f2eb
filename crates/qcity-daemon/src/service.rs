//! `qcity up` as a service of the user's session. On Linux a systemd user unit that starts it
//! at login (at boot with lingering), restarts it when it fails, and restarts it when its
//! watchdog pings stop (`Type=notify`, see `readiness.rs`). On macOS a LaunchAgent that
//! starts it at login and restarts it after a failed exit (launchd has no watchdog).
//!
//! Not built yet: a system-wide unit, Windows services; the plans say so rather than guess.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The unit's file name.
pub const UNIT: &str = "qcity.service";

/// The LaunchAgent's label (and file name, with `.plist`).
pub const LABEL: &str = "dev.qcity.engine";

/// How systemd's watchdog is set: the daemon pings at half of it.
pub const WATCHDOG_SEC: u32 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(
        "only a user service is built (a systemd user unit): pass --user; a system-wide unit is not built yet"
    )]
    SystemWide,
    #[error(
        "installing a service is built for Linux (systemd) and macOS (launchd) only; on this system run `qcity up` from your session's startup"
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
# Tells qcity a service manager restarts it: after an update it exits 9 rather than exec.
Environment=QCITY_SERVICE=systemd
Restart=on-failure
RestartSec=2
# 8: another qcity (the tray's own engine) holds the data dir; the tray then serves it, and
# restarting every 2 s would only fail again.
RestartPreventExitStatus=8
# 9: stopped to restart into another version (an update, a rollback): started again at once.
RestartForceExitStatus=9
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

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The LaunchAgent's property list: started at login (`RunAtLoad`), started again after an
/// exit that was not clean (`KeepAlive.SuccessfulExit = false`: a `qcity` stopped on purpose
/// stays stopped), its output in the data dir's logs.
pub fn launchd_plist(d: &Daemon) -> String {
    let s = |p: &Path| format!("<string>{}</string>", xml(&p.to_string_lossy()));
    let logs = d.data_dir.join("logs");
    // The comment names the commands without their `--user`: an XML comment may not hold two
    // hyphens in a row.
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by "qcity service install"; "qcity service uninstall" removes it. -->
<plist version="1.0">
<dict>
  <key>Label</key><string>{LABEL}</string>
  <key>ProgramArguments</key>
  <array>{program}<string>up</string><string>--config</string>{config}<string>--data-dir</string>{data}</array>
  <key>EnvironmentVariables</key>
  <dict><key>QCITY_SERVICE</key><string>launchd</string></dict>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key>
  <dict><key>SuccessfulExit</key><false/></dict>
  <key>ThrottleInterval</key><integer>10</integer>
  <key>ProcessType</key><string>Background</string>
  <key>StandardOutPath</key>{out}
  <key>StandardErrorPath</key>{err}
</dict>
</plist>
"#,
        program = s(&d.program),
        config = s(&d.config_dir),
        data = s(&d.data_dir),
        out = s(&logs.join("qcity.out.log")),
        err = s(&logs.join("qcity.err.log")),
    )
}

/// Where LaunchAgents live: `~/Library/LaunchAgents`.
fn launch_agent_path() -> Result<PathBuf, ServiceError> {
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .ok_or(ServiceError::NoHome)?;
    Ok(PathBuf::from(home)
        .join("Library/LaunchAgents")
        .join(format!("{LABEL}.plist")))
}

/// `gui/UID`: the user's login session domain of launchd.
fn gui_domain() -> String {
    // SAFETY: getuid cannot fail.
    format!("gui/{}", unsafe { libc::getuid() })
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

/// The service manager of this system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Manager {
    Systemd,
    Launchd,
}

fn manager(user: bool) -> Result<Manager, ServiceError> {
    let m = if cfg!(target_os = "linux") {
        Manager::Systemd
    } else if cfg!(target_os = "macos") {
        Manager::Launchd
    } else {
        return Err(ServiceError::Unsupported);
    };
    if !user {
        return Err(ServiceError::SystemWide);
    }
    Ok(m)
}

/// Installing: the unit, then reload systemd and enable and start it (on macOS: the
/// LaunchAgent, bootstrapped into the login session).
pub fn install_plan(d: &Daemon, user: bool) -> Result<Plan, ServiceError> {
    Ok(match manager(user)? {
        Manager::Systemd => Plan {
            unit_path: user_unit_path()?,
            unit: Some(systemd_user_unit(d)),
            commands: vec![
                systemctl(&["daemon-reload"]),
                systemctl(&["enable", "--now", UNIT]),
            ],
        },
        Manager::Launchd => {
            let path = launch_agent_path()?;
            Plan {
                commands: vec![vec![
                    "launchctl".into(),
                    "bootstrap".into(),
                    gui_domain(),
                    path.display().to_string(),
                ]],
                unit_path: path,
                unit: Some(launchd_plist(d)),
            }
        }
    })
}

/// Removing: stop and disable it, remove the unit, reload systemd (on macOS: boot the
/// LaunchAgent out, remove it).
pub fn uninstall_plan(user: bool) -> Result<Plan, ServiceError> {
    Ok(match manager(user)? {
        Manager::Systemd => Plan {
            unit_path: user_unit_path()?,
            unit: None,
            commands: vec![
                systemctl(&["disable", "--now", UNIT]),
                systemctl(&["daemon-reload"]),
            ],
        },
        Manager::Launchd => Plan {
            unit_path: launch_agent_path()?,
            unit: None,
            commands: vec![vec![
                "launchctl".into(),
                "bootout".into(),
                format!("{}/{LABEL}", gui_domain()),
            ]],
        },
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
/// `systemctl --user` cannot be reached (or on macOS, where `launchctl print` tells).
pub fn state() -> Option<(String, String)> {
    if cfg!(target_os = "macos") {
        let out = Command::new("launchctl")
            .args(["print", &format!("{}/{LABEL}", gui_domain())])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let state = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("state = "))
            .unwrap_or("not loaded")
            .to_string();
        return Some(("loaded".into(), state));
    }
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

    /// The plist as Python's plistlib reads it (the format macOS's own parser takes).
    #[test]
    fn the_launch_agent_is_a_property_list_with_its_keys() {
        let d = Daemon {
            program: "/opt/q&a/qcity".into(),
            config_dir: "/Users/me/Library/Application Support/qcity".into(),
            data_dir: "/Users/me/qcity <data>".into(),
        };
        let text = launchd_plist(&d);
        let mut py = Command::new("python3")
            .args([
                "-c",
                "import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        use std::io::Write;
        py.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = py.wait_with_output().unwrap();
        assert!(out.status.success(), "plistlib refused:\n{text}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["Label"], LABEL);
        assert_eq!(
            v["ProgramArguments"],
            serde_json::json!([
                "/opt/q&a/qcity",
                "up",
                "--config",
                "/Users/me/Library/Application Support/qcity",
                "--data-dir",
                "/Users/me/qcity <data>"
            ])
        );
        assert_eq!(v["RunAtLoad"], true);
        assert_eq!(v["KeepAlive"]["SuccessfulExit"], false);
        assert_eq!(
            v["StandardErrorPath"],
            "/Users/me/qcity <data>/logs/qcity.err.log"
        );
    }

    #[test]
    fn exec_arguments_are_quoted_and_escaped() {
        assert_eq!(exec_arg(Path::new("/a b/c")), "\"/a b/c\"");
        assert_eq!(
            exec_arg(Path::new("/x/100%$HOME\"\\")),
            "\"/x/100%%$$HOME\\\"\\\\\""
        );
    }
}
