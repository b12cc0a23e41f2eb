//! The tray's side of the dashboard window, which is another program: `qcity-dashboard`, the
//! Tauri app beside this one (`src/dashboard.rs`). The tray starts it on "Open dashboard" and
//! it exits when its window is closed, taking WebKitGTK's memory with it.
//!
//! The tray holds the other end of that process's stdin: each line it writes is a route to
//! show (a second "Open dashboard", a notification's click), and the end of the stream (the
//! tray quit or died) closes the window. The process answers on its stdout with a line
//! `shown ROUTE` once its window shows that route.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// `GDK_GL` as the user set it, before the tray turned GL off for itself.
pub(crate) static USER_GDK_GL: OnceLock<Option<OsString>> = OnceLock::new();

/// The dashboard program's file name, installed beside the tray's.
pub(crate) const DASHBOARD: &str = "qcity-dashboard";

/// How long a window process has to show a route written to it, or else to end. A live one
/// shows it in milliseconds, and one whose window has just closed ends in well under a
/// second; one still starting up under load may take seconds, and is better not killed.
const ANSWER: Duration = Duration::from_secs(5);

/// How long a killed window process has to end.
const KILLED: Duration = Duration::from_secs(5);

/// `SIGKILL`, the same number on every Unix.
const SIGKILL: i32 = 9;

/// The running window process, if any. Cloned, it is the same slot.
#[derive(Clone, Default)]
pub(crate) struct Windows {
    current: Arc<Mutex<Option<Running>>>,
}

struct Running {
    pid: u32,
    routes: ChildStdin,
    /// What became of the routes written to it, and of the process.
    heard: Receiver<Heard>,
}

enum Heard {
    /// It showed this route (a line of its stdout, from `listen`).
    Shown(String),
    /// It ended and was reaped (from `reap`).
    Ended,
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
    /// Shows `route` in the window process, starting one when none is running or the one
    /// running does not show it. This can wait some seconds: not on the event loop.
    pub(crate) fn open(&self, data: &Path, route: &str) -> Result<(), String> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut old) = current.take() {
            match old.show(route) {
                Outcome::Shown => {
                    tracing::info!(pid = old.pid, "the dashboard window is open: focusing it");
                    *current = Some(old);
                    return Ok(());
                }
                Outcome::Ended => tracing::info!(
                    pid = old.pid,
                    "the dashboard window process ended without showing the route: starting another"
                ),
                Outcome::Silent => {
                    tracing::warn!(
                        pid = old.pid,
                        "the dashboard window process showed nothing and did not end: killing it"
                    );
                    // Gone before the next one starts, so that it never shows a second window.
                    old.kill();
                }
            }
        }
        let mut cmd = Command::new(dashboard_exe()?);
        cmd.args(["--from-tray", "--route", route, "--data-dir"])
            .arg(data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
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
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tell, heard) = mpsc::channel();
        *current = Some(Running { pid, routes, heard });
        let slot = self.current.clone();
        let tell2 = tell.clone();
        std::thread::spawn(move || listen(stdout, pid, &tell2));
        std::thread::spawn(move || reap(child, &tell, &slot));
        Ok(())
    }
}

/// What became of a route written to the window process.
enum Outcome {
    Shown,
    Ended,
    /// Neither within `ANSWER`: the process is stuck.
    Silent,
}

impl Running {
    /// Writes `route` to the process and waits until it says it has shown it, or has ended.
    /// That the write succeeds proves nothing: a process whose window has just closed keeps
    /// its stdin open until it has exited (its reading thread is still in `read`), and takes
    /// the route with it. A write that fails (it has exited) waits for its end all the same.
    fn show(&mut self, route: &str) -> Outcome {
        let _ = writeln!(self.routes, "{route}").and_then(|()| self.routes.flush());
        let deadline = Instant::now() + ANSWER;
        loop {
            match self
                .heard
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Heard::Shown(r)) if r == route => return Outcome::Shown,
                // Not this route's answer.
                Ok(Heard::Shown(_)) => {}
                Ok(Heard::Ended) | Err(RecvTimeoutError::Disconnected) => return Outcome::Ended,
                Err(RecvTimeoutError::Timeout) => return Outcome::Silent,
            }
        }
    }

    /// Kills the process and waits for its end.
    fn kill(self) {
        // `reap` has not told of its end, so the pid is still this process's: `reap` tells
        // as soon as `wait` returns, and a freed pid is not handed out again in that instant.
        let _ = qcity_engine::supervisor::process::signal_pid(self.pid, SIGKILL);
        let deadline = Instant::now() + KILLED;
        loop {
            match self
                .heard
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Heard::Shown(_)) => {}
                Ok(Heard::Ended) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    tracing::error!(
                        pid = self.pid,
                        "the killed dashboard window process does not end"
                    );
                    return;
                }
            }
        }
    }
}

/// Passes on the process's answers: a line `shown ROUTE` for each route it has shown. Its
/// other output (its libraries' chatter) goes to the log.
fn listen(stdout: ChildStdout, pid: u32, tell: &Sender<Heard>) {
    for line in BufReader::new(stdout).split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line);
        match line.strip_prefix("shown ") {
            Some(route) => {
                if tell.send(Heard::Shown(route.to_string())).is_err() {
                    break;
                }
            }
            None => tracing::debug!(pid, "dashboard window process: {line}"),
        }
    }
}

/// Waits for the window process to end, so that it leaves no zombie and the next "Open
/// dashboard" starts a new one.
fn reap(mut child: Child, tell: &Sender<Heard>, slot: &Mutex<Option<Running>>) {
    let pid = child.id();
    let status = child.wait();
    tracing::info!(pid, ?status, "the dashboard window process ended");
    // Told before the slot is locked: `open` holds it while it waits for this.
    let _ = tell.send(Heard::Ended);
    let mut current = slot.lock().unwrap_or_else(|e| e.into_inner());
    // The slot may hold the next process by now.
    if current.as_ref().is_some_and(|r| r.pid == pid) {
        *current = None;
    }
}
