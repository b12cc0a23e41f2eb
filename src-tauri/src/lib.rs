//! The QCity tray app: a thin face over the engine's HTTP API and event stream. It shows the
//! overall health as the tray icon (green, amber, red, grey) with a one-line summary, a menu
//! with every runner and its controls, and desktop notifications from the engine's notifier
//! rules. The decisions (colours, what to notify) are the engine crate's (`overall`,
//! `notice`); this crate only draws them.
//!
//! The tray process is built on Tauri's own windowing and tray crates (`tao`, `tray-icon`,
//! `muda`) without Tauri's webview runtime: WebKitGTK, once linked, keeps about 35 MiB of
//! its libraries resident in a process that never shows a page. The dashboard is the Tauri
//! app `qcity-dashboard` (`src/dashboard.rs`), a process of its own that the tray starts
//! (`window`) and that exits when its window closes.

mod autostart;
pub mod link;
mod menu;
mod single;
mod watch;
mod window;

use std::process::ExitCode;
use std::sync::Arc;
use std::thread::JoinHandle;

use qcity_types::RunnerStatus;
use qcity_types::{Colour, Overall};
use tao::event::{Event, StartCause};
use tao::event_loop::{ControlFlow, EventLoopBuilder, EventLoopProxy};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

use link::{Dirs, Link};

const TRAY_ID: &str = "qcity";

/// What the tray shows now.
#[derive(Debug)]
pub(crate) enum View {
    /// The engine answers: its runners, and the newer QCity its release manifest offers.
    Up(Vec<RunnerStatus>, Option<String>),
    /// The engine does not answer, and why.
    Down(String),
}

/// What the other threads ask of the tray's event loop, the one thread that may touch the
/// tray icon and its menu.
#[derive(Debug)]
pub(crate) enum Cmd {
    /// The engine is reached or started (or could not be): the start-up thread is done.
    Linked,
    /// Redraw for this view.
    Show(View),
    /// A click on a menu item, by its id.
    Menu(String),
    /// Show the dashboard at this route (a notification's click, a second launch).
    Open(String),
    /// Quit as the menu's Quit does (a signal).
    Quit,
}

/// A handle on the event loop from any thread.
pub(crate) type Ui = EventLoopProxy<Cmd>;

/// What the icon shows: the engine's overall colour, or that the engine does not answer (its
/// own pale icon: "all paused" is grey, and must not read as "not running").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    Colour(Colour),
    Down,
}

fn icon(look: Look) -> Icon {
    let bytes: &'static [u8] = match look {
        Look::Colour(Colour::Green) => include_bytes!("../../icons/tray-green-44.png"),
        Look::Colour(Colour::Amber) => include_bytes!("../../icons/tray-amber-44.png"),
        Look::Colour(Colour::Red) => include_bytes!("../../icons/tray-red-44.png"),
        Look::Colour(Colour::Grey) => include_bytes!("../../icons/tray-grey-44.png"),
        Look::Down => include_bytes!("../../icons/tray-down-44.png"),
    };
    decode_rgba(bytes).expect("the tray icons are valid 8-bit RGBA PNGs")
}

fn decode_rgba(png_bytes: &[u8]) -> Result<Icon, String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("the PNG is too large")?];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    if info.color_type != png::ColorType::Rgba || info.bit_depth != png::BitDepth::Eight {
        return Err(format!(
            "{:?} {:?}, not 8-bit RGBA",
            info.color_type, info.bit_depth
        ));
    }
    buf.truncate(info.buffer_size());
    Icon::from_rgba(buf, info.width, info.height).map_err(|e| e.to_string())
}

pub fn run() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // The tray's threads (engine, watcher, notifications, GTK's) allocate little: without a
    // cap each one that meets contention gets a malloc arena of its own, kept for good.
    qcity_daemon::limit_malloc_arenas();
    // GTK opens the X display by probing OpenGL for its visuals, which loads the GL driver
    // (Mesa's llvmpipe under Xvfb: libLLVM, about 50 MiB resident) into a process that never
    // draws with GL. The dashboard's process gets the user's setting back (`window`).
    window::USER_GDK_GL.get_or_init(|| std::env::var_os("GDK_GL"));
    if std::env::var_os("GDK_GL").is_none() {
        // SAFETY: no other thread exists yet, so none reads the environment meanwhile.
        unsafe { std::env::set_var("GDK_GL", "disable") };
    }
    init_logging();
    let dirs = match Dirs::from_args(&args) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("qcity-tray: {e}");
            return ExitCode::from(2);
        }
    };
    // `--open`: show the dashboard at once (also what a second launch does).
    let open_at_start = args.iter().any(|a| a == "--open");
    let instance = match single::Instance::claim() {
        single::Claim::Primary(i) => i,
        single::Claim::Secondary => {
            tracing::info!("qcity-tray already runs in this session: showed its dashboard");
            return ExitCode::SUCCESS;
        }
    };
    if let Err(e) = init_display() {
        eprintln!("qcity-tray: cannot open the display: {e}");
        return ExitCode::FAILURE;
    }
    let event_loop = EventLoopBuilder::<Cmd>::with_user_event().build();
    let ui = event_loop.create_proxy();
    instance.on_second_launch(ui.clone());
    {
        let ui = ui.clone();
        tray_icon::menu::MenuEvent::set_event_handler(Some(
            move |e: tray_icon::menu::MenuEvent| {
                let _ = ui.send_event(Cmd::Menu(e.id.0));
            },
        ));
    }
    exit_on_signals(ui.clone());
    let mut tray = Tray {
        ui: ui.clone(),
        icon: None,
        starting: None,
        link: None,
        windows: window::Windows::default(),
        autostart: autostart::Autostart::new(),
        open_at_start,
        drawn: Drawn::default(),
        _instance: instance,
    };
    event_loop.run(move |event, _, control_flow| {
        *control_flow = ControlFlow::Wait;
        match event {
            Event::NewEvents(StartCause::Init) => tray.start(&dirs),
            Event::UserEvent(Cmd::Quit) => *control_flow = ControlFlow::Exit,
            Event::UserEvent(Cmd::Menu(id)) if id == "quit" => *control_flow = ControlFlow::Exit,
            Event::UserEvent(cmd) => tray.on(cmd),
            Event::LoopDestroyed => tray.stop(),
            _ => {}
        }
    })
}

/// Sends what is queued on the session bus: the reply to the menu's Quit click and the icon's
/// removal would otherwise die with the process, and the panel would see an error.
#[cfg(target_os = "linux")]
fn flush_session_bus() {
    if let Ok(bus) = gtk::gio::bus_get_sync(gtk::gio::BusType::Session, gtk::gio::Cancellable::NONE)
    {
        let _ = bus.flush_sync(gtk::gio::Cancellable::NONE);
    }
}

#[cfg(not(target_os = "linux"))]
fn flush_session_bus() {}

/// GTK on the display, with an error rather than the event loop's panic when there is none.
#[cfg(target_os = "linux")]
fn init_display() -> Result<(), String> {
    gtk::init().map_err(|e| e.to_string())
}

#[cfg(not(target_os = "linux"))]
fn init_display() -> Result<(), String> {
    Ok(())
}

/// Logs to stderr, filtered by `QCITY_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("QCITY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// The event loop's state: everything here lives on its thread.
struct Tray {
    ui: Ui,
    icon: Option<TrayIcon>,
    /// Reaching or starting the engine, off the event loop so that the icon shows at once.
    starting: Option<JoinHandle<Result<(Link, &'static str), String>>>,
    link: Option<Arc<Link>>,
    windows: window::Windows,
    autostart: autostart::Autostart,
    open_at_start: bool,
    /// What the tray shows now.
    drawn: Drawn,
    _instance: single::Instance,
}

/// What was last sent to the panel.
#[derive(Default)]
struct Drawn {
    look: Option<Look>,
    text: String,
    menu: Option<menu::Key>,
}

impl Tray {
    fn start(&mut self, dirs: &Dirs) {
        let built = TrayIconBuilder::new()
            .with_id(TRAY_ID)
            .with_icon(icon(Look::Down))
            .with_title("QCity: starting")
            .with_tooltip("QCity: starting")
            .with_menu(Box::new(menu::starting()))
            .build();
        match built {
            Ok(i) => self.icon = Some(i),
            Err(e) => tracing::error!("cannot show the tray icon: {e}"),
        }
        let ui = self.ui.clone();
        let dirs = dirs.clone();
        self.starting = Some(std::thread::spawn(move || {
            let linked = Link::attach_or_start(&dirs);
            let _ = ui.send_event(Cmd::Linked);
            linked
        }));
    }

    fn on(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Linked => self.linked(),
            Cmd::Show(view) => self.show(&view),
            Cmd::Menu(id) => self.on_menu(&id),
            Cmd::Open(route) => self.open_window(&route),
            Cmd::Quit => {}
        }
    }

    fn linked(&mut self) {
        let Some(starting) = self.starting.take() else {
            return;
        };
        match starting.join() {
            Ok(Ok((link, how))) => {
                tracing::info!(engine = how, "qcity-tray is up");
                let link = Arc::new(link);
                self.link = Some(link.clone());
                watch::spawn(self.ui.clone(), link);
                if self.open_at_start {
                    self.open_window("#/");
                }
            }
            Ok(Err(e)) => {
                tracing::error!("cannot reach or start the engine: {e}");
                self.show(&View::Down(e));
            }
            Err(_) => tracing::error!("the engine's start-up thread panicked"),
        }
    }

    /// On the way out: an in-process engine stops its runners first (also one still
    /// starting when Quit came).
    fn stop(&mut self) {
        if let Some(starting) = self.starting.take()
            && let Ok(Ok((link, _))) = starting.join()
        {
            link.shutdown();
        }
        if let Some(link) = self.link.take() {
            link.shutdown();
        }
        // The icon leaves the panel before the process ends.
        self.icon = None;
        flush_session_bus();
    }

    /// Redraws the tray for `view`: icon, title, tooltip, menu.
    fn show(&mut self, view: &View) {
        let look = match view {
            View::Up(..) => None,
            View::Down(_) => Some(Look::Down),
        };
        let (overall, runners, update) = match view {
            View::Up(runners, update) => (
                qcity_types::overall(runners),
                runners.as_slice(),
                update.clone(),
            ),
            View::Down(why) => (
                Overall {
                    colour: Colour::Grey,
                    summary: format!("engine not running: {why}"),
                },
                &[][..],
                None,
            ),
        };
        let Some(tray) = &self.icon else {
            return;
        };
        let text = format!("QCity: {}", overall.summary);
        let menu = menu::key(
            runners,
            matches!(view, View::Up(..)),
            self.autostart.is_enabled(),
            update,
        );
        // Only what changed is sent: each new icon is a new file the panel loads. The menu
        // goes first, so a panel that sees the new icon finds the menu that goes with it.
        if self.drawn.menu.as_ref() != Some(&menu) {
            match menu::build(&menu) {
                Ok(m) => {
                    tracing::debug!(?menu, "menu rebuilt");
                    tray.set_menu(Some(Box::new(m)));
                    self.drawn.menu = Some(menu);
                }
                Err(e) => tracing::warn!("cannot build the tray menu: {e}"),
            }
        }
        let look = look.unwrap_or(Look::Colour(overall.colour));
        if self.drawn.look != Some(look) {
            match tray.set_icon(Some(icon(look))) {
                Ok(()) => self.drawn.look = Some(look),
                Err(e) => tracing::warn!("cannot change the tray icon: {e}"),
            }
        }
        if self.drawn.text != text {
            tray.set_title(Some(&text));
            let _ = tray.set_tooltip(Some(&text));
            self.drawn.text = text;
        }
    }

    fn on_menu(&mut self, id: &str) {
        match menu::action(id) {
            menu::Action::Open(route) => self.open_window(&route),
            menu::Action::ToggleAutostart => {
                if let Err(e) = self.autostart.toggle() {
                    tracing::warn!("cannot change start at login: {e}");
                }
            }
            menu::Action::Api(call) => {
                let Some(link) = self.link.clone() else {
                    return;
                };
                std::thread::spawn(move || {
                    if let Err(e) = link.client().and_then(|c| menu::call(&c, &call)) {
                        watch::notify_desktop(None, "QCity: the action failed", &e, true);
                    }
                });
            }
            menu::Action::None => {}
        }
    }

    /// Shows the dashboard at `route`: in the window process when one is open, else in a new
    /// one.
    fn open_window(&self, route: &str) {
        tracing::info!(route, "showing the dashboard");
        let Some(link) = self.link.clone() else {
            return;
        };
        // The window process finds the engine the same way; asking here first turns an
        // engine that is gone into a notification rather than a window that cannot load.
        if let Err(e) = link.client() {
            watch::notify_desktop(None, "QCity: no engine", &e, true);
            return;
        }
        // Off the event loop: the window process may take seconds to answer, or to end, and
        // the icon and the menu must not freeze meanwhile.
        let windows = self.windows.clone();
        let route = route.to_string();
        std::thread::spawn(move || {
            if let Err(e) = windows.open(link.data.root(), &route) {
                tracing::error!("{e}");
                watch::notify_desktop(None, "QCity: no dashboard", &e, true);
            }
        });
    }
}

/// SIGTERM (a session logging out, `kill`) and SIGINT quit the app the way its Quit item does:
/// an in-process engine stops its runners first.
fn exit_on_signals(ui: Ui) {
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
        let _ = ui.send_event(Cmd::Quit);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tray_icon_decodes() {
        for c in [Colour::Green, Colour::Amber, Colour::Red, Colour::Grey] {
            icon(Look::Colour(c));
        }
        icon(Look::Down);
    }

    #[test]
    fn a_file_that_is_not_a_png_is_an_error() {
        assert!(decode_rgba(b"not a png").is_err());
    }
}
