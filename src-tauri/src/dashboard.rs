//! `qcity-dashboard`: the dashboard window, the Tauri app of the tray. The tray
//! (`qcity-tray`) starts it from its menu, a notification's click or a second launch, with
//! `--from-tray`, and writes it the routes to show on its stdin (it answers each one it has
//! shown with a line `shown ROUTE` on stdout, which the tray waits for); it can also be run
//! alone (`qcity-dashboard --data-dir D`) against an engine that serves D. It shows the
//! dashboard that the engine serves, logged in with the master's local token, and exits when
//! its window is closed, so WebKitGTK's memory goes with it.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use qcity_engine::datadir::DataDir;
use qcity_tray::link::Dirs;
use tauri::{AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindowBuilder, WindowEvent};

const WINDOW: &str = "main";

/// The window was asked to close: it is going, and the process with it. Set and read on the
/// main thread only, so a route is either shown before the close or not at all.
static CLOSING: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    qcity_tray::init_logging();
    let dirs = match Dirs::from_args(&args) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("qcity-dashboard: {e}");
            return ExitCode::from(2);
        }
    };
    let route = args
        .windows(2)
        .find(|w| w[0] == "--route")
        .map_or_else(|| "#/".to_string(), |w| w[1].clone());
    let from_tray = args.iter().any(|a| a == "--from-tray");
    let client = match qcity_client::Client::connect(&DataDir::new(&dirs.data)) {
        Ok(c) => c.with_face("tray"),
        Err(e) => {
            eprintln!("qcity-dashboard: no engine: {e}");
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
        .build(tauri::generate_context!());
    match app {
        // Closing the window is the last window closed: the process exits, as meant.
        Ok(app) => {
            app.run(|_, event| {
                if let RunEvent::WindowEvent {
                    event: WindowEvent::CloseRequested { .. } | WindowEvent::Destroyed,
                    ..
                } = event
                {
                    CLOSING.store(true, Ordering::Relaxed);
                }
            });
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("qcity-dashboard: {e}");
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

/// Shows `route` in the window, and tells the tray so. Without a window to show it in (it is
/// closing, or gone), no answer: the tray then waits for this process to end, and starts a
/// new one.
fn show(app: &AppHandle, route: &str) {
    if CLOSING.load(Ordering::Relaxed) {
        return;
    }
    let Some(w) = app.get_webview_window(WINDOW) else {
        return;
    };
    let _ = w.eval(format!("location.hash = {}", serde_json::json!(route)));
    if w.show().is_err() {
        return;
    }
    let _ = w.unminimize();
    let _ = w.set_focus();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "shown {route}").and_then(|()| out.flush());
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
