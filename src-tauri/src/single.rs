//! One tray per desktop session: the first launch owns a well-known name on the session bus
//! (a GApplication, `dev.qcity.tray`, the app's identifier); a second launch asks that one
//! to show its dashboard and exits, having started nothing.

use crate::{Cmd, Ui};

pub(crate) enum Claim {
    /// This process is the session's tray.
    Primary(Instance),
    /// Another process is, and has been asked to show its dashboard.
    Secondary,
}

/// Holds the name while the tray runs.
pub(crate) struct Instance {
    #[cfg(target_os = "linux")]
    app: Option<gtk::gio::Application>,
}

#[cfg(target_os = "linux")]
impl Instance {
    pub(crate) fn claim() -> Claim {
        use gtk::gio::prelude::*;
        let app =
            gtk::gio::Application::new(Some("dev.qcity.tray"), gtk::gio::ApplicationFlags::empty());
        if let Err(e) = app.register(gtk::gio::Cancellable::NONE) {
            // No session bus (a bare X session, an SSH forward): nothing to be unique in.
            tracing::warn!("no single-instance check, without a D-Bus session: {e}");
            return Claim::Primary(Instance { app: None });
        }
        if app.is_remote() {
            // Sends `Activate` to the first tray and waits until it is on the bus.
            app.run_with_args(&["qcity-tray"]);
            return Claim::Secondary;
        }
        Claim::Primary(Instance { app: Some(app) })
    }

    /// A second launch's `Activate` shows the dashboard. It arrives through the event loop's
    /// main context, which the event loop turns.
    pub(crate) fn on_second_launch(&self, ui: Ui) {
        use gtk::gio::prelude::*;
        if let Some(app) = &self.app {
            app.connect_activate(move |_| {
                tracing::info!("a second launch: showing the dashboard of the running tray");
                let _ = ui.send_event(Cmd::Open("#/".into()));
            });
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl Instance {
    pub(crate) fn claim() -> Claim {
        tracing::warn!("the single-instance check is built for Linux only");
        Claim::Primary(Instance {})
    }

    pub(crate) fn on_second_launch(&self, _ui: Ui) {}
}
