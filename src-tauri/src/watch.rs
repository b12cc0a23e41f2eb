//! Follows the engine's event stream: keeps the tray's view of the runners current and shows
//! the desktop notices the daemon's notifier decided (`notice` events on the `desktop`
//! channel). The tray decides nothing itself: a second tray shows the same notices.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use qcity_client::Events;
use qcity_types::{Event, EventKind, RunnerStatus, UpdateView};
use qcity_types::{Notice, Severity};

use crate::link::Link;
use crate::{Cmd, Ui, View};

/// How often the tray asks whether a newer QCity is offered, besides its other occasions.
const UPDATE_CHECK_EVERY: Duration = Duration::from_secs(30 * 60);

/// What the stream reader hands the watcher.
enum Msg {
    Event(Box<Event>),
    /// The stream ended (the engine stopped or restarted).
    Lost(String),
}

pub(crate) fn spawn(ui: Ui, link: Arc<Link>) {
    std::thread::Builder::new()
        .name("qcity-tray-watch".into())
        .spawn(move || watch(ui, link))
        .expect("the watcher thread starts");
}

fn watch(ui: Ui, link: Arc<Link>) {
    // The tray sends the panel only what changed, so every view can go to it.
    let redraw = |ui: &Ui, view: View| {
        let _ = ui.send_event(Cmd::Show(view));
    };
    loop {
        let client = match link.client() {
            Ok(c) => c,
            Err(e) => {
                redraw(&ui, View::Down(e));
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        // The stream first, then the snapshot: nothing in between is missed (a change seen
        // twice only redraws the same view).
        let stream = match client.events() {
            Ok(s) => s,
            Err(e) => {
                redraw(&ui, View::Down(e.to_string()));
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || read_stream(stream, tx));
        let mut dirty = true;
        let mut refreshed = Instant::now() - Duration::from_secs(1);
        // The release manifest is read at each connection, after an update or an autotest
        // (the gate may have opened), and every half hour.
        let mut offered = None;
        let mut ask_update = true;
        let mut asked = Instant::now();
        loop {
            if ask_update || asked.elapsed() >= UPDATE_CHECK_EVERY {
                offered = client
                    .get::<UpdateView>("/update")
                    .ok()
                    .and_then(|v| v.available.map(|a| a.version));
                ask_update = false;
                asked = Instant::now();
                dirty = true;
            }
            if dirty && refreshed.elapsed() >= Duration::from_millis(150) {
                match client.get::<Vec<RunnerStatus>>("/runners") {
                    Ok(runners) => redraw(&ui, View::Up(runners, offered.clone())),
                    Err(e) => redraw(&ui, View::Down(e.to_string())),
                }
                dirty = false;
                refreshed = Instant::now();
            }
            let msg = rx.recv_timeout(Duration::from_millis(if dirty { 150 } else { 1000 }));
            match msg {
                Ok(Msg::Event(e)) => {
                    ask_update |= matches!(e.kind.name(), "update" | "autotest-finished");
                    dirty |= matches!(
                        e.kind.name(),
                        "runner-state" | "probe-changed" | "config-applied" | "runner-activity"
                    );
                    if let EventKind::Notice { channel, notice } = e.kind
                        && channel == "desktop"
                    {
                        deliver(&ui, notice);
                    }
                }
                Ok(Msg::Lost(why)) => {
                    redraw(&ui, View::Down(why));
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Hands the watcher each event of the stream, then why it ended.
fn read_stream(events: Events<impl std::io::Read>, tx: mpsc::Sender<Msg>) {
    for e in events {
        match e {
            Ok(e) => {
                if tx.send(Msg::Event(Box::new(e))).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Msg::Lost(format!("the event stream broke: {e}")));
                return;
            }
        }
    }
    let _ = tx.send(Msg::Lost("the engine closed the event stream".into()));
}

fn deliver(ui: &Ui, n: Notice) {
    let ui = ui.clone();
    let runner = n.runner.clone();
    let urgent = n.severity >= Severity::Error;
    std::thread::spawn(move || {
        notify_desktop(
            Some((ui, runner)),
            &n.title,
            &n.body,
            urgent || n.severity == Severity::Critical,
        );
    });
}

/// Shows a notification; a click opens the runner's page (or the overview). Blocks until it
/// is closed when it can be clicked, so call it off the UI thread.
pub(crate) fn notify_desktop(
    open: Option<(Ui, Option<String>)>,
    title: &str,
    body: &str,
    urgent: bool,
) {
    let mut n = notify_rust::Notification::new();
    n.appname("QCity").summary(title).body(body);
    #[cfg(all(unix, not(target_os = "macos")))]
    n.urgency(if urgent {
        notify_rust::Urgency::Critical
    } else {
        notify_rust::Urgency::Normal
    });
    let _ = urgent;
    if open.is_some() {
        n.action("default", "Open");
    }
    match n.show() {
        Ok(handle) => {
            #[cfg(all(unix, not(target_os = "macos")))]
            if let Some((ui, runner)) = open {
                handle.wait_for_action(move |action| {
                    if action == "default" {
                        let route = runner.map_or("#/".to_string(), |r| format!("#/runner/{r}"));
                        let _ = ui.send_event(Cmd::Open(route));
                    }
                });
            }
            #[cfg(not(all(unix, not(target_os = "macos"))))]
            let _ = (handle, open);
        }
        Err(e) => tracing::warn!("cannot show a desktop notification: {e}"),
    }
}
