//! The dashboard window, in a process of its own (`qcity-tray --window`). WebKitGTK stays
//! mapped, with its caches, in whichever process created a webview, even after the webview is
//! gone; so the tray never creates one. It starts this process instead, which shows the
//! dashboard and exits when its window is closed, giving all of that memory back.
//!
//! The tray holds the other end of this process's stdin: each line it writes is a route to
//! show (a second "Open dashboard", a notification's click), and the end of the stream (the
//! tray quit or died) closes the window.

use std::ffi::OsString;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use qcity_engine::datadir::DataDir;
use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindowBuilder};

const WINDOW: &str = "main";

/// `GDK_GL` as the user set it, before the tray turned GL off for itself.
pub(crate) static USER_GDK_GL: OnceLock<Option<OsString>> = OnceLock::new();

/// The arguments of a window process: `--window [--route ROUTE] [--from-tray] --data-dir D`.
pub(crate) fn is_window_mode(args: &[String]) -> bool {
    args.iter().any(|a| a == "--window")
}

/// The window process's `main`.
pub(crate) fn run(args: &[String], data: PathBuf) -> ExitCode {
    let route = args
        .windows(2)
        .find(|w| w[0] == "--route")
        .map_or_else(|| "#/".to_string(), |w| w[1].clone());
    let from_tray = args.iter().any(|a| a == "--from-tray");
    let client = match qcity::client::Client::connect(&DataDir::new(&data)) {
        Ok(c) => c.with_face("tray"),
        Err(e) => {
            eprintln!("qcity-tray --window: no engine: {e}");
            return ExitCode::FAILURE;
        }
    };
    let base = client.base().to_string();
    let script = login_script(&base, client.token().expose());
    let app = tauri::Builder::default()
        .setup(move |app| {
            let url = format!("{base}/{route}").parse()?;
            WebviewWindowBuilder::new(app, WINDOW, WebviewUrl::External(url))
                .title("QCity")
                .inner_size(1200.0, 800.0)
                .initialization_script(&script)
                .build()?;
            if from_tray {
                follow_tray(app.handle().clone());
            }
            Ok(())
        })
        .build(crate::context());
    match app {
        // Closing the window is the last window closed: the process exits, as meant.
        Ok(app) => {
            app.run(|_, _| {});
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("qcity-tray --window: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Routes from the tray, one a line, until the tray goes away.
fn follow_tray(app: AppHandle) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(route) = line else { break };
            let app2 = app.clone();
            let _ = app.run_on_main_thread(move || show(&app2, &route));
        }
        tracing::info!("the tray is gone: closing the dashboard window");
        app.exit(0);
    });
}

fn show(app: &AppHandle, route: &str) {
    let Some(w) = app.get_webview_window(WINDOW) else {
        return;
    };
    let _ = w.eval(format!("location.hash = {}", serde_json::json!(route)));
    let _ = w.show();
    let _ = w.unminimize();
    let _ = w.set_focus();
}

/// Runs before the dashboard's own scripts on every page of the window: on the engine's
/// origin only, and only without a session, it exchanges the local token for one, so the
/// desktop user is never asked for a password.
fn login_script(base: &str, token: &str) -> String {
    format!(
        r#"(function () {{
  if (location.origin !== {base}) return;
  var me = new XMLHttpRequest();
  me.open("GET", "/api/v1/auth/me", false);
  me.send();
  if (me.status === 200) return;
  var login = new XMLHttpRequest();
  login.open("POST", "/api/v1/auth/login", false);
  login.setRequestHeader("Content-Type", "application/json");
  login.setRequestHeader("X-QCity-Client", "tray");
  login.send(JSON.stringify({{ token: {token} }}));
}})();"#,
        base = serde_json::json!(base),
        token = serde_json::json!(token),
    )
}

/// The tray's side: the running window process, if any.
#[derive(Default)]
pub(crate) struct Windows {
    current: Arc<Mutex<Option<Running>>>,
}

struct Running {
    pid: u32,
    routes: ChildStdin,
}

impl Windows {
    /// Shows `route` in the window process, starting one when none is running.
    pub(crate) fn open(&self, data: &std::path::Path, route: &str) -> Result<(), String> {
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
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.args(["--window", "--from-tray", "--route", route, "--data-dir"])
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
