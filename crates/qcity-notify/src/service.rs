//! The notifier's task: one bus subscription; the desktop's rule state (burst-limited
//! notices as `notice` events) and, for chat and mail channels, one detector whose notices
//! pass each channel's filter into its grouper, whose messages go to the outbox. It ticks
//! only while something is due (a recovery to confirm, a summary, a group to send): an idle
//! daemon is not woken for nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use qcity_config::{ChannelSettings, Config};
use qcity_engine::Engine;
use qcity_types::{EventKind, Notice};
use tokio::task::JoinHandle;

use crate::group::{Grouper, Timing};
use crate::remote::Remote;
use crate::rules::Detector;
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

/// The running notifier: its task, and the remote channels the API reports on.
pub struct Handle {
    task: JoinHandle<()>,
    stop: Arc<tokio::sync::Notify>,
    pub remote: Option<Arc<Remote>>,
}

impl Handle {
    /// Stops the notifier. What the groupers hold goes to the outbox first, so news waiting
    /// for its group is sent after the next start rather than lost; then the delivery
    /// workers have up to `grace` to send what is queued.
    pub async fn stop(self, grace: Duration) {
        self.stop.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
        if let Some(remote) = &self.remote {
            remote.drain(grace).await;
        }
    }
}

/// Two reads of a status page in a row must agree before an outage is news: it must stand
/// one poll interval.
fn platform_confirm_ms(config: &Config) -> i64 {
    config.device.platforms.interval_seconds as i64 * 1000
}

/// Whether channel `c` takes notice `n`: its severity, runner and kind.
pub fn accepts(c: &ChannelSettings, n: &Notice) -> bool {
    Shown::from(&c.severities).allows(n.severity)
        && (c.kinds.is_empty() || c.kinds.contains(&n.kind))
        && (c.runners.is_empty()
            || n.runner
                .as_deref()
                .is_some_and(|r| c.runners.iter().any(|p| glob(p, r))))
}

/// `*` matches any run of characters; everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The remote side of the task: a grouper per channel.
struct Groups {
    remote: Arc<Remote>,
    channels: Vec<ChannelSettings>,
    groupers: BTreeMap<String, Grouper>,
    detector: Detector,
    /// Each runner's platform, from the config.
    runner_platforms: BTreeMap<String, String>,
    /// Platforms in a partial or major outage now: the words a message uses for it.
    outages: BTreeMap<String, String>,
}

impl Groups {
    fn configure(&mut self, config: &Config) {
        let n = &config.device.notifications;
        let timing = Timing::from(&n.grouping);
        self.detector
            .set_platform_confirm_ms(platform_confirm_ms(config));
        self.remote.configure(&n.channels, &config.dir);
        self.groupers
            .retain(|name, _| n.channels.iter().any(|c| &c.name == name));
        for c in &n.channels {
            self.groupers
                .entry(c.name.clone())
                .or_insert_with(|| Grouper::new(timing))
                .set_timing(timing);
        }
        self.channels = n.channels.clone();
        self.runner_platforms = config
            .manifest
            .runners
            .iter()
            .filter_map(|r| Some((r.name.clone(), r.platform()?.to_string())))
            .collect();
    }

    /// Follows the platforms' states, for [`Groups::take`] to name a runner's outage.
    fn platform_changed(&mut self, e: &EventKind) {
        if let EventKind::PlatformChanged {
            platform,
            name,
            state,
            ..
        } = e
        {
            if state.is_outage() {
                let words = format!("{name} {}", state.words());
                self.outages.insert(platform.clone(), words);
            } else if *state != qcity_types::PlatformState::Unknown {
                // Unknown says nothing of the outage: it stays as last read.
                self.outages.remove(platform);
            }
        }
    }

    /// When the groups next need the clock, if ever (the detector: within a second).
    fn next_due(&self, now: i64) -> Option<i64> {
        let groups = self.groupers.values().filter_map(Grouper::next_due).min();
        let detector = self.detector.waiting().then_some(now + 1000);
        match (groups, detector) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Everything the groupers hold, queued now whatever its timing.
    async fn drain(&mut self, now: i64) {
        let mut due = Vec::new();
        for (name, g) in &mut self.groupers {
            if let Some(msg) = g.drain(now) {
                due.push((name.clone(), msg));
            }
        }
        for (name, msg) in due {
            if let Err(e) = self.remote.queue(&name, msg).await {
                tracing::error!(channel = %name, "a message is lost: {e}");
            }
        }
    }

    fn take(&mut self, notices: Vec<Notice>, now: i64) {
        for mut n in notices {
            if n.kind != qcity_types::NoticeKind::Fixed
                && let Some(runner) = &n.runner
                && let Some(platform) = self.runner_platforms.get(runner)
            {
                n.platform = self.outages.get(platform).cloned();
            }
            for c in &self.channels {
                if accepts(c, &n)
                    && let Some(g) = self.groupers.get_mut(&c.name)
                {
                    g.add(n.clone(), now);
                }
            }
        }
    }

    /// Messages now due, queued in the outbox.
    async fn flush(&mut self, now: i64) {
        let mut due = Vec::new();
        for c in &self.channels {
            let quiet = c.quiet_hours.as_ref().and_then(|q| q.until(now));
            if let Some(g) = self.groupers.get_mut(&c.name)
                && let Some(msg) = g.due(now, quiet)
            {
                due.push((c.name.clone(), msg));
            }
        }
        for (name, msg) in due {
            if let Err(e) = self.remote.queue(&name, msg).await {
                tracing::error!(channel = %name, "a message is lost: {e}");
            }
        }
    }
}

/// Starts the notifier on `engine`'s bus; it ends when the bus closes or it is aborted.
/// `remote`: the outbox and workers of the chat and mail channels (none in tests of the
/// desktop alone).
pub fn start(engine: &Arc<Engine>, routes: Vec<Route>, remote: Option<Arc<Remote>>) -> Handle {
    let mut rx = engine.bus().subscribe("notifier", QUEUE);
    let config = engine.config();
    let mut routes: Vec<(Notifier, Route)> = routes
        .into_iter()
        .map(|r| {
            let mut n = Notifier::new((r.shown)(&config));
            n.set_platform_confirm_ms(platform_confirm_ms(&config));
            (n, r)
        })
        .collect();
    let mut groups = remote.clone().map(|remote| {
        let mut g = Groups {
            remote,
            channels: Vec::new(),
            groupers: BTreeMap::new(),
            detector: Detector::default(),
            runner_platforms: BTreeMap::new(),
            outages: BTreeMap::new(),
        };
        g.configure(&config);
        g
    });
    let engine = Arc::downgrade(engine);
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopping = stop.clone();
    let task = tokio::spawn(async move {
        loop {
            let now = qcity_platform::clock::now_ms();
            let desktop = routes
                .iter()
                .any(|(n, _)| n.waiting())
                .then_some(now + 1000);
            let remote = groups.as_ref().and_then(|g| g.next_due(now));
            let wake = match (desktop, remote) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let tick = async {
                match wake {
                    Some(at) => {
                        let ms = (at - now).clamp(10, 3_600_000) as u64;
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = stopping.notified() => {
                    if let Some(g) = &mut groups {
                        g.drain(qcity_platform::clock::now_ms()).await;
                    }
                    return;
                }
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
                            notifier.set_platform_confirm_ms(platform_confirm_ms(&config));
                        }
                        if let Some(g) = &mut groups {
                            g.configure(&config);
                        }
                    }
                    for (notifier, route) in &mut routes {
                        for n in notifier.on_event(&event) {
                            route.channel.deliver(&n);
                        }
                    }
                    if let Some(g) = &mut groups {
                        g.platform_changed(&event.kind);
                        let notices = g.detector.on_event(&event).into_iter().collect();
                        g.take(notices, event.ts_ms);
                        g.flush(event.ts_ms).await;
                    }
                }
                () = tick => {
                    let now = qcity_platform::clock::now_ms();
                    for (notifier, route) in &mut routes {
                        for n in notifier.tick(now) {
                            route.channel.deliver(&n);
                        }
                    }
                    if let Some(g) = &mut groups {
                        let notices = g.detector.tick(now);
                        g.take(notices, now);
                        g.flush(now).await;
                    }
                }
            }
        }
    });
    Handle { task, stop, remote }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("build-*", "build-linux"));
        assert!(glob("*", "x"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(glob("exact", "exact"));
        assert!(!glob("build-*", "test-build"));
        assert!(!glob("a*c", "ab"));
        assert!(!glob("exact", "exactly"));
    }
}
