//! The notifier's task: one bus subscription, one rule state per channel, and a tick a
//! second while a recovery or a rate-limit summary is due (none while nothing is).

use std::sync::Arc;
use std::time::Duration;

use qcity_config::Config;
use qcity_engine::Engine;
use qcity_types::EventKind;
use tokio::task::JoinHandle;

use crate::{Channel, Notifier, Shown};

/// A channel and the severity filter its config gives it.
pub struct Route {
    pub channel: Box<dyn Channel>,
    /// Reads the channel's filter from a config (again after each reload).
    pub shown: fn(&Config) -> Shown,
}

/// The notifier's subscriber queue. Notices are few; a burst of runner events beyond this is
/// summarised by the rate limit anyway.
const QUEUE: usize = 4096;

/// Starts the notifier on `engine`'s bus; it ends when the bus closes or the handle is
/// aborted.
pub fn start(engine: &Arc<Engine>, routes: Vec<Route>) -> JoinHandle<()> {
    let mut rx = engine.bus().subscribe("notifier", QUEUE);
    let config = engine.config();
    let mut routes: Vec<(Notifier, Route)> = routes
        .into_iter()
        .map(|r| (Notifier::new((r.shown)(&config)), r))
        .collect();
    let engine = Arc::downgrade(engine);
    tokio::spawn(async move {
        loop {
            // The clock only matters while a recovery or a summary is due: an idle daemon
            // is not woken every second for nothing.
            let due = routes.iter().any(|(n, _)| n.waiting());
            let tick = async {
                if due {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                event = rx.recv() => {
                    let Some(event) = event else { return };
                    // Its own decisions come back on the bus: they are no news.
                    if matches!(event.kind, EventKind::Notice { .. }) {
                        continue;
                    }
                    if matches!(event.kind, EventKind::ConfigApplied { .. })
                        && let Some(engine) = engine.upgrade()
                    {
                        let config = engine.config();
                        for (notifier, route) in &mut routes {
                            notifier.set_shown((route.shown)(&config));
                        }
                    }
                    for (notifier, route) in &mut routes {
                        for n in notifier.on_event(&event) {
                            route.channel.deliver(&n);
                        }
                    }
                }
                () = tick => {
                    let now = qcity_platform::clock::now_ms();
                    for (notifier, route) in &mut routes {
                        for n in notifier.tick(now) {
                            route.channel.deliver(&n);
                        }
                    }
                }
            }
        }
    })
}
