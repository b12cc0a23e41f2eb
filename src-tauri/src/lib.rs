//! The QCity tray app: a thin face over the engine's HTTP API and event stream. It shows the
//! overall health as the tray icon (green, amber, red, grey) with a one-line summary, a menu
//! with every runner and its controls, desktop notifications from the engine's notifier
//! rules, and the dashboard in a window of its own process (`window`). The decisions
//! (colours, what to notify) are the engine crate's (`overall`, `notice`); this crate only
//! draws them.

mod link;
mod watch;
mod window;

use std::process::ExitCode;
use std::sync::Arc;

use qcity_engine::RunnerStatus;
use qcity_engine::overall::{Colour, Overall};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, RunEvent};
use tauri_plugin_autostart::ManagerExt;

use link::{Dirs, Link};

const TRAY_ID: &str = "qcity";

fn icon(colour: Colour) -> Image<'static> {
    let bytes: &'static [u8] = match colour {
        Colour::Green => include_bytes!("../icons/tray-green-44.png"),
        Colour::Amber => include_bytes!("../icons/tray-amber-44.png"),
        Colour::Red => include_bytes!("../icons/tray-red-44.png"),
        Colour::Grey => include_bytes!("../icons/tray-grey-44.png"),
    };
    Image::from_bytes(bytes).expect("the tray icons are valid PNGs")
}

/// What the tray shows now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum View {
    /// The engine answers: its runners.
    Up(Vec<RunnerStatus>),
    /// The engine does not answer, and why.
    Down(String),
}

pub fn run() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let window_mode = window::is_window_mode(&args);
    // The tray's threads (engine, watcher, notifications, GTK's) allocate little: without a
    // cap each one that meets contention gets a malloc arena of its own, kept for good.
    qcity::daemon::limit_malloc_arenas();
    if !window_mode {
        // GTK opens the X display by probing OpenGL for its visuals, which loads the GL
        // driver (Mesa's llvmpipe under Xvfb: libLLVM, about 50 MiB resident) into a process
        // that never draws with GL. The window process keeps the user's setting.
        window::USER_GDK_GL.get_or_init(|| std::env::var_os("GDK_GL"));
        if std::env::var_os("GDK_GL").is_none() {
            // SAFETY: no other thread exists yet, so none reads the environment meanwhile.
            unsafe { std::env::set_var("GDK_GL", "disable") };
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("QCITY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let dirs = match Dirs::from_args(&args) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("qcity-tray: {e}");
            return ExitCode::from(2);
        }
    };
    if window_mode {
        return window::run(&args, dirs.data);
    }
    // `--open`: show the dashboard at once (also what a second launch does).
    let open_at_start = args.iter().any(|a| a == "--open");
    let app = tauri::Builder::default()
        .manage(window::Windows::default())
        // A second launch only brings the first one's window up: one tray per user.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            tracing::info!("a second launch: showing the dashboard of the running tray");
            open_window(app, "#/");
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .setup(move |app| {
            let handle = app.handle().clone();
            TrayIconBuilder::with_id(TRAY_ID)
                .icon(icon(Colour::Grey))
                .title("QCity: starting")
                .tooltip("QCity: starting")
                .menu(&Menu::with_items(
                    app,
                    &[&MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?],
                )?)
                .on_menu_event(|app, event| on_menu(app, event.id().as_ref()))
                .build(app)?;
            let (link, how) = match Link::attach_or_start(&dirs) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!("cannot reach or start the engine: {e}");
                    show(&handle, &View::Down(e));
                    return Ok(());
                }
            };
            tracing::info!(engine = how, "qcity-tray is up");
            exit_on_signals(handle.clone());
            let link = Arc::new(link);
            app.manage(link.clone());
            watch::spawn(handle.clone(), link);
            if open_at_start {
                open_window(&handle, "#/");
            }
            Ok(())
        })
        .build(context());
    let app = match app {
        Ok(a) => a,
        Err(e) => {
            eprintln!("qcity-tray: {e}");
            return ExitCode::FAILURE;
        }
    };
    app.run(|app, event| match event {
        // Closing the last window keeps the tray (and the engine) running.
        RunEvent::ExitRequested {
            api, code: None, ..
        } => api.prevent_exit(),
        RunEvent::Exit => {
            if let Some(link) = app.try_state::<Arc<Link>>() {
                link.shutdown();
            }
        }
        _ => {}
    });
    ExitCode::SUCCESS
}

/// SIGTERM (a session logging out, `kill`) and SIGINT quit the app the way its Quit item does:
/// an in-process engine stops its runners first.
fn exit_on_signals(app: AppHandle) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        });
        tracing::info!("quitting on a signal");
        app.exit(0);
    });
}

/// Redraws the tray for `view`: icon, title, tooltip, menu.
pub(crate) fn show(app: &AppHandle, view: &View) {
    let (overall, runners) = match view {
        View::Up(runners) => (qcity_engine::overall::overall(runners), runners.as_slice()),
        View::Down(why) => (
            Overall {
                colour: Colour::Grey,
                summary: format!("engine not running: {why}"),
            },
            &[][..],
        ),
    };
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    let text = format!("QCity: {}", overall.summary);
    let _ = tray.set_icon(Some(icon(overall.colour)));
    let _ = tray.set_title(Some(&text));
    let _ = tray.set_tooltip(Some(&text));
    match menu(app, runners, matches!(view, View::Up(_))) {
        Ok(m) => {
            let _ = tray.set_menu(Some(m));
        }
        Err(e) => tracing::warn!("cannot build the tray menu: {e}"),
    }
}

fn menu(app: &AppHandle, runners: &[RunnerStatus], up: bool) -> tauri::Result<Menu<tauri::Wry>> {
    let m = Menu::new(app)?;
    m.append(&MenuItem::with_id(
        app,
        "open",
        "Open dashboard",
        up,
        None::<&str>,
    )?)?;
    m.append(&PredefinedMenuItem::separator(app)?)?;
    for r in runners {
        let state = r.state.name();
        let running = matches!(state, "running" | "starting" | "backoff");
        let paused = matches!(state, "paused" | "pausing");
        let id = |action: &str| format!("runner/{}/{action}", r.name);
        let items = [
            MenuItem::with_id(app, id("page"), "Open its page", true, None::<&str>)?,
            MenuItem::with_id(app, id("start"), "Start", !running && !paused, None::<&str>)?,
            MenuItem::with_id(app, id("stop"), "Stop", state != "stopped", None::<&str>)?,
            MenuItem::with_id(app, id("restart"), "Restart", true, None::<&str>)?,
            if paused {
                MenuItem::with_id(app, id("resume"), "Resume", true, None::<&str>)?
            } else {
                MenuItem::with_id(app, id("pause"), "Pause", running, None::<&str>)?
            },
        ];
        let colour = qcity_engine::overall::colour_of(r).as_str();
        let refs: Vec<&dyn tauri::menu::IsMenuItem<tauri::Wry>> = items
            .iter()
            .map(|i| i as &dyn tauri::menu::IsMenuItem<tauri::Wry>)
            .collect();
        m.append(&Submenu::with_id_and_items(
            app,
            format!("runner/{}", r.name),
            format!("{} — {state} ({colour})", r.name),
            true,
            &refs,
        )?)?;
    }
    if !runners.is_empty() {
        m.append(&PredefinedMenuItem::separator(app)?)?;
    }
    m.append(&MenuItem::with_id(
        app,
        "pause-all",
        "Pause all",
        up,
        None::<&str>,
    )?)?;
    m.append(&MenuItem::with_id(
        app,
        "resume-all",
        "Resume all",
        up,
        None::<&str>,
    )?)?;
    m.append(&MenuItem::with_id(
        app,
        "autotest",
        "Run autotests",
        up,
        None::<&str>,
    )?)?;
    let autostart = app.autolaunch().is_enabled().unwrap_or(false);
    m.append(&CheckMenuItem::with_id(
        app,
        "autostart",
        "Start at login",
        true,
        autostart,
        None::<&str>,
    )?)?;
    m.append(&PredefinedMenuItem::separator(app)?)?;
    m.append(&MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?)?;
    Ok(m)
}

fn on_menu(app: &AppHandle, id: &str) {
    match id {
        "open" => open_window(app, "#/"),
        "quit" => app.exit(0),
        "autostart" => {
            let a = app.autolaunch();
            let r = if a.is_enabled().unwrap_or(false) {
                a.disable()
            } else {
                a.enable()
            };
            if let Err(e) = r {
                tracing::warn!("cannot change start at login: {e}");
            }
        }
        "pause-all" | "resume-all" | "autotest" => {
            let action = id.to_string();
            api_call(app, move |client| match action.as_str() {
                "autotest" => {
                    let report: serde_json::Value =
                        client.post("/autotest").map_err(|e| e.to_string())?;
                    let passed = report["passed"].as_bool().unwrap_or(false);
                    watch::notify_desktop(
                        None,
                        if passed {
                            "Autotests passed"
                        } else {
                            "Autotests failed"
                        },
                        &format!(
                            "{} checks",
                            report["checks"].as_array().map_or(0, |c| c.len())
                        ),
                        !passed,
                    );
                    Ok(())
                }
                action => {
                    let verb = action.trim_end_matches("-all");
                    let runners: Vec<RunnerStatus> =
                        client.get("/runners").map_err(|e| e.to_string())?;
                    for r in runners {
                        let _ = client
                            .post::<serde_json::Value>(&format!("/runners/{}/{verb}", r.name));
                    }
                    Ok(())
                }
            });
        }
        other => {
            if let Some(rest) = other.strip_prefix("runner/")
                && let Some((name, action)) = rest.rsplit_once('/')
            {
                if action == "page" {
                    open_window(app, &format!("#/runner/{name}"));
                    return;
                }
                let path = format!("/runners/{name}/{action}");
                api_call(app, move |client| {
                    client
                        .post::<serde_json::Value>(&path)
                        .map(drop)
                        .map_err(|e| e.to_string())
                });
            }
        }
    }
}

/// Calls the API off the UI thread; a failure becomes a notification.
fn api_call(
    app: &AppHandle,
    f: impl FnOnce(&qcity::client::Client) -> Result<(), String> + Send + 'static,
) {
    let Some(link) = app.try_state::<Arc<Link>>().map(|l| l.inner().clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let result = link.client().and_then(|c| f(&c));
        if let Err(e) = result {
            watch::notify_desktop(None, "QCity: the action failed", &e, true);
        }
    });
}

/// The app's configuration and assets, embedded once for both kinds of process.
fn context() -> tauri::Context<tauri::Wry> {
    tauri::generate_context!()
}

/// Shows the dashboard at `route`: in the window process when one is open, else in a new one.
pub(crate) fn open_window(app: &AppHandle, route: &str) {
    tracing::info!(route, "showing the dashboard");
    let Some(link) = app.try_state::<Arc<Link>>().map(|l| l.inner().clone()) else {
        return;
    };
    // The window process finds the engine the same way; asking here first turns an engine
    // that is gone into a notification rather than a window that cannot load.
    if let Err(e) = link.client() {
        watch::notify_desktop(None, "QCity: no engine", &e, true);
        return;
    }
    if let Err(e) = app.state::<window::Windows>().open(link.data.root(), route) {
        tracing::error!("{e}");
        watch::notify_desktop(None, "QCity: no dashboard", &e, true);
    }
}
