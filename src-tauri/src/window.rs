//! The tray's side of the dashboard window, which is another program: `qcity-dashboard`, the
//! Tauri app beside this one (`src/dashboard.rs`). The tray starts it on "Open dashboard" and
//! it exits when its window is closed, taking WebKitGTK's memory with it.
//!
//! The tray holds the other end of that process's stdin: each line it writes is a route to
//! show (a second "Open dashboard", a notification's click), and the end of the stream (the
//! tray quit or died) closes the window.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

/// `GDK_GL` as the user set it, before the tray turned GL off for itself.
pub(crate) static USER_GDK_GL: OnceLock<Option<OsString>> = OnceLock::new();

/// The dashboard program's file name, installed beside the tray's.
pub(crate) const DASHBOARD: &str = "qcity-dashboard";

/// The running window process, if any.
#[derive(Default)]
pub(crate) struct Windows {
    current: Arc<Mutex<Option<Running>>>,
}

struct Running {
    pid: u32,
    routes: ChildStdin,
}

/// Where the dashboard program is: beside this one.
fn dashboard_exe() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let dashboard = exe.with_file_name(DASHBOARD);
    if dashboard.is_file() {
        Ok(dashboard)
    } else {
        Err(format!(
            "the dashboard program is missing: {}",
            dashboard.display()
        ))
    }
}

impl Windows {
    /// Shows `route` in the window process, starting one when none is running.
    pub(crate) fn open(&self, data: &Path, route: &str) -> Result<(), String> {
        use std::io::Write;
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = current.as_mut() {
            // A write to a window process that is just exiting fails: a new one is started.
            if writeln!(r.routes, "{route}")
                .and_then(|()| r.routes.flush())
                .is_ok()
            {
                tracing::info!(pid = r.pid, "the dashboard window is open: focusing it");
                return Ok(());
            }
        }
        let mut cmd = Command::new(dashboard_exe()?);
        cmd.args(["--from-tray", "--route", route, "--data-dir"])
            .arg(data)
            .stdin(Stdio::piped());
        match USER_GDK_GL.get() {
            Some(Some(v)) => cmd.env("GDK_GL", v),
            _ => cmd.env_remove("GDK_GL"),
        };
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the dashboard window: {e}"))?;
        let pid = child.id();
        tracing::info!(pid, "started the dashboard window process");
        let routes = child.stdin.take().expect("stdin is piped");
        *current = Some(Running { pid, routes });
        let slot = self.current.clone();
        std::thread::spawn(move || reap(child, &slot));
        Ok(())
    }
}

/// Waits for the window process to end, so that it leaves no zombie and the next "Open
/// dashboard" starts a new one.
fn reap(mut child: Child, slot: &Mutex<Option<Running>>) {
    let pid = child.id();
    let status = child.wait();
    tracing::info!(pid, ?status, "the dashboard window process ended");
    let mut current = slot.lock().unwrap_or_else(|e| e.into_inner());
    if current.as_ref().is_some_and(|r| r.pid == pid) {
        *current = None;
    }
}
