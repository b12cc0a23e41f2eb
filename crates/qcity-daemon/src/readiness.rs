//! What the daemon tells a service manager (systemd's `Type=notify`): `READY=1` once clients
//! can connect, `WATCHDOG=1` while the daemon's loop turns, `STOPPING=1` when it stops.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing. The pings come from the
//! daemon's own loop, the one that also handles signals, reloads and the API server: if the
//! runtime is wedged, they stop and systemd restarts the daemon (`WatchdogSec=`). Runners,
//! tasks and heal commands never see these variables (the engine leaves them out).

use std::time::Duration;

use sd_notify::NotifyState;

fn send(state: NotifyState<'_>) {
    if let Err(error) = sd_notify::notify(&[state]) {
        tracing::warn!(%error, "cannot notify the service manager");
    }
}

/// Clients can connect: the API listens and `daemon.json` is written.
pub fn ready(runners: usize) {
    send(NotifyState::Ready);
    send(NotifyState::Status(&format!(
        "supervising {runners} runners"
    )));
}

/// Stopping every runner.
pub fn stopping() {
    send(NotifyState::Stopping);
}

/// The daemon's loop turned.
pub fn alive() {
    send(NotifyState::Watchdog);
}

/// How often to say so, when the service manager watches: half its interval, as sd_notify(3)
/// advises.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|every| (every / 2).max(Duration::from_millis(10)))
}

/// Ticks at the watchdog period, or never.
pub async fn tick(dog: &mut Option<tokio::time::Interval>) {
    match dog {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
