//! Which events deserve a notification, de-duplicated and rate-limited: pure state machines
//! fed with events and the clock, so every channel gets decisions made one way and tests need
//! no desktop.
//!
//! [`Detector`] turns events into notices:
//! - A runner failing (an unclean exit): `error`. The same runner is not announced again
//!   until it has recovered. A crash loop or a lost registration is announced by the engine's
//!   escalation (with what to do), not twice.
//! - An escalation: `critical`, with the healer's whole diagnosis in `details`.
//! - A platform the runners depend on in a partial or major outage: `error`; operational
//!   again: `info`. A page that cannot be read (`unknown`) is neither.
//! - A recovery: `info`, "fixed", once a runner that was announced as failing has been running
//!   for [`RECOVERED_AFTER_MS`] (a restart that fails again at once is no recovery), or when
//!   the healer validated a fix.
//!
//! [`Notifier`] is the desktop's: a detector, a severity filter, and at most [`BURST`]
//! notices per [`WINDOW_MS`]; the rest of the window's notices become one summary at its end
//! ("4 more: a failed, b failed, …"). Chat and mail channels group instead (`group.rs`).

use std::collections::{BTreeMap, HashSet};

use qcity_types::{Event, EventKind, HealStep, NoticeKind, PlatformState, RunnerState};
pub use qcity_types::{Notice, Severity};

pub const RECOVERED_AFTER_MS: i64 = 5_000;
pub const WINDOW_MS: i64 = 10_000;
pub const BURST: usize = 3;

/// Which severities are shown (a user setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    pub info: bool,
    pub error: bool,
    pub critical: bool,
}

impl Default for Shown {
    fn default() -> Self {
        Self {
            info: true,
            error: true,
            critical: true,
        }
    }
}

impl From<&qcity_config::SeverityFilter> for Shown {
    fn from(f: &qcity_config::SeverityFilter) -> Shown {
        Shown {
            info: f.info,
            error: f.error,
            critical: f.critical,
        }
    }
}

impl Shown {
    pub fn allows(&self, s: Severity) -> bool {
        match s {
            Severity::Info => self.info,
            Severity::Error => self.error,
            Severity::Critical => self.critical,
        }
    }
}

/// Events in, notices out: failures once per runner until it recovers, escalations, fixes.
#[derive(Debug, Default)]
pub struct Detector {
    /// Runners announced as failing and not yet recovered.
    failing: HashSet<String>,
    /// Failing runners running again since (ms): recovered once it lasts.
    running_since: BTreeMap<String, i64>,
    /// Platforms announced as in an outage and not yet operational again.
    outages: HashSet<String>,
    /// Outages read once, waiting to be read again (since, their notice): a status page
    /// that flaps for one poll is no news.
    unconfirmed: BTreeMap<String, (i64, Notice)>,
    /// How long an outage must stand before it is news: a poll interval, so two reads in
    /// a row agree.
    confirm_ms: i64,
}

impl Detector {
    /// Outages are announced once they have stood this long (the platforms' poll interval).
    pub fn set_platform_confirm_ms(&mut self, ms: i64) {
        self.confirm_ms = ms;
    }

    /// Whether [`Detector::tick`] has anything to do: a recovery or an outage to confirm.
    pub fn waiting(&self) -> bool {
        !self.running_since.is_empty() || !self.unconfirmed.is_empty()
    }

    /// Recoveries that lasted until `now`.
    pub fn tick(&mut self, now: i64) -> Vec<Notice> {
        let lasted: Vec<String> = self
            .running_since
            .iter()
            .filter(|(_, since)| now - **since >= RECOVERED_AFTER_MS)
            .map(|(r, _)| r.clone())
            .collect();
        let mut out = Vec::new();
        let stood: Vec<String> = self
            .unconfirmed
            .iter()
            .filter(|(_, (since, _))| now - since >= self.confirm_ms)
            .map(|(p, _)| p.clone())
            .collect();
        for platform in stood {
            if let Some((_, notice)) = self.unconfirmed.remove(&platform) {
                self.outages.insert(platform);
                out.push(notice);
            }
        }
        for runner in lasted {
            self.running_since.remove(&runner);
            if self.failing.remove(&runner) {
                out.push(notice(
                    NoticeKind::Fixed,
                    Severity::Info,
                    &runner,
                    format!("{runner} fixed"),
                    format!("{runner} is running again."),
                ));
            }
        }
        out
    }

    /// The notice this event causes, if any.
    pub fn on_event(&mut self, e: &Event) -> Option<Notice> {
        let failing = |this: &mut Self, kind, runner: &str, title: String, body: String| {
            this.running_since.remove(runner);
            if !this.failing.insert(runner.to_string()) {
                return None;
            }
            Some(notice(kind, Severity::Error, runner, title, body))
        };
        match &e.kind {
            EventKind::RunnerState { runner, state, .. } => match state {
                RunnerState::Exited { exit } if !exit.success() => failing(
                    self,
                    NoticeKind::Failure,
                    runner,
                    format!("{runner} failed"),
                    format!("{runner} stopped: {}.", exit.describe()),
                ),
                // The engine escalates every crash loop and every lost registration with what
                // to do; that escalation is the one notice (a second, "is crash-looping",
                // said the same thing without the advice). The runner counts as announced.
                RunnerState::CrashLooping { .. } | RunnerState::NeedsRegistration { .. } => {
                    self.running_since.remove(runner);
                    self.failing.insert(runner.clone());
                    None
                }
                RunnerState::Running { .. } => {
                    if self.failing.contains(runner) {
                        self.running_since.insert(runner.clone(), e.ts_ms);
                    }
                    None
                }
                RunnerState::Backoff { .. } | RunnerState::Starting => None,
                _ => {
                    // Stopped or paused on purpose: nothing to recover from any more.
                    self.running_since.remove(runner);
                    self.failing.remove(runner);
                    None
                }
            },
            EventKind::Escalation {
                runner,
                reason,
                advice,
            } => Some(Notice {
                kind: NoticeKind::Escalation,
                severity: Severity::Critical,
                title: match runner {
                    Some(r) => format!("{r} needs you"),
                    None => "QCity needs you".to_string(),
                },
                body: format!("{reason}\n{}", advice.lines().next().unwrap_or("")),
                runner: runner.clone(),
                details: advice.clone(),
                platform: None,
            }),
            EventKind::Heal {
                runner,
                step: HealStep::Validated,
                rule,
                dry_run: false,
                ..
            } => {
                self.running_since.remove(runner);
                self.failing.remove(runner).then(|| {
                    notice(
                        NoticeKind::Fixed,
                        Severity::Info,
                        runner,
                        format!("{runner} fixed"),
                        format!("The healer fixed {runner} ({rule})."),
                    )
                })
            }
            EventKind::PlatformChanged {
                platform,
                name,
                state,
                previous,
                summary,
            } => {
                // `unknown` is a failed read, never an outage, nor the end of one.
                if state.is_outage() && !previous.is_outage() {
                    let notice = Notice {
                        kind: NoticeKind::PlatformOutage,
                        severity: Severity::Error,
                        title: format!("{name}: {}", state.words()),
                        body: summary.clone(),
                        runner: None,
                        details: String::new(),
                        platform: Some(name.clone()),
                    };
                    if self.confirm_ms <= 0 {
                        self.outages.insert(platform.clone());
                        return Some(notice);
                    }
                    self.unconfirmed.insert(platform.clone(), (e.ts_ms, notice));
                    None
                } else if !state.is_outage()
                    && *state != PlatformState::Unknown
                    && self.unconfirmed.remove(platform).is_some()
                {
                    // Over before it was read twice: a flap, no news either way.
                    None
                } else if *state == PlatformState::Operational && self.outages.remove(platform) {
                    Some(Notice {
                        kind: NoticeKind::PlatformOutage,
                        severity: Severity::Info,
                        title: format!("{name} is operational again"),
                        body: summary.clone(),
                        runner: None,
                        details: String::new(),
                        platform: Some(name.clone()),
                    })
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

fn notice(
    kind: NoticeKind,
    severity: Severity,
    runner: &str,
    title: String,
    body: String,
) -> Notice {
    Notice {
        kind,
        severity,
        title,
        body,
        runner: Some(runner.to_string()),
        details: String::new(),
        platform: None,
    }
}

/// The desktop's notifier: a detector, a severity filter and a burst limit.
#[derive(Debug, Default)]
pub struct Notifier {
    detector: Detector,
    shown: Shown,
    window_start: i64,
    sent_in_window: usize,
    held: Vec<Notice>,
}

impl Notifier {
    pub fn new(shown: Shown) -> Self {
        Self {
            shown,
            ..Self::default()
        }
    }

    pub fn set_shown(&mut self, shown: Shown) {
        self.shown = shown;
    }

    /// See [`Detector::set_platform_confirm_ms`].
    pub fn set_platform_confirm_ms(&mut self, ms: i64) {
        self.detector.set_platform_confirm_ms(ms);
    }

    /// The notices this event causes now.
    pub fn on_event(&mut self, e: &Event) -> Vec<Notice> {
        let now = e.ts_ms;
        let mut out = self.tick(now);
        if let Some(n) = self.detector.on_event(e) {
            out.extend(self.admit(n, now));
        }
        out
    }

    /// Whether [`Notifier::tick`] has anything to do: a recovery to confirm or notices held
    /// for a summary. While it has not, nobody needs to call it (an idle daemon sleeps).
    pub fn waiting(&self) -> bool {
        self.detector.waiting() || !self.held.is_empty()
    }

    /// Call about once a second: recoveries that lasted, and the summary of a closed window.
    pub fn tick(&mut self, now: i64) -> Vec<Notice> {
        let mut out = Vec::new();
        for n in self.detector.tick(now) {
            out.extend(self.admit(n, now));
        }
        if now - self.window_start >= WINDOW_MS && !self.held.is_empty() {
            out.push(self.summary());
            self.window_start = now;
            self.sent_in_window = 1;
        }
        out
    }

    fn admit(&mut self, n: Notice, now: i64) -> Vec<Notice> {
        if !self.shown.allows(n.severity) {
            return Vec::new();
        }
        if now - self.window_start >= WINDOW_MS {
            let mut out = Vec::new();
            if !self.held.is_empty() {
                out.push(self.summary());
            }
            self.window_start = now;
            self.sent_in_window = out.len();
            self.sent_in_window += 1;
            out.push(n);
            return out;
        }
        if self.sent_in_window < BURST || n.severity == Severity::Critical {
            self.sent_in_window += 1;
            return vec![n];
        }
        self.held.push(n);
        Vec::new()
    }

    fn summary(&mut self) -> Notice {
        let held = std::mem::take(&mut self.held);
        let severity = held
            .iter()
            .map(|n| n.severity)
            .max()
            .unwrap_or(Severity::Info);
        let kind = held
            .iter()
            .map(|n| n.kind)
            .max()
            .unwrap_or(NoticeKind::Failure);
        let titles: Vec<&str> = held.iter().map(|n| n.title.as_str()).collect();
        let mut runners: Vec<&str> = held.iter().filter_map(|n| n.runner.as_deref()).collect();
        runners.dedup();
        Notice {
            kind,
            severity,
            title: format!("{} more", held.len()),
            body: titles.join(", "),
            runner: (runners.len() == 1).then(|| runners[0].to_string()),
            details: String::new(),
            platform: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcity_types::ExitInfo;

    fn ev(ts_ms: i64, kind: EventKind) -> Event {
        Event { id: 0, ts_ms, kind }
    }

    fn state(ts: i64, runner: &str, state: RunnerState) -> Event {
        ev(
            ts,
            EventKind::RunnerState {
                runner: runner.into(),
                actions: state.actions(),
                state,
                health: None,
                colour: Default::default(),
            },
        )
    }

    fn exited(ts: i64, runner: &str, code: i32) -> Event {
        state(
            ts,
            runner,
            RunnerState::Exited {
                exit: ExitInfo {
                    code: Some(code),
                    signal: None,
                    uptime_ms: 5,
                    error: None,
                    at_ms: ts,
                },
            },
        )
    }

    fn running(ts: i64, runner: &str) -> Event {
        state(
            ts,
            runner,
            RunnerState::Running {
                pid: 1,
                pgid: 1,
                since_ms: ts,
            },
        )
    }

    fn titles(v: &[Notice]) -> Vec<&str> {
        v.iter().map(|n| n.title.as_str()).collect()
    }

    #[test]
    fn a_failure_is_announced_once_and_fixed_once_it_lasts() {
        let mut n = Notifier::default();
        let first = n.on_event(&exited(0, "build", 1));
        assert_eq!(titles(&first), ["build failed"]);
        assert_eq!(first[0].body, "build stopped: exit 1.");
        assert_eq!(first[0].runner.as_deref(), Some("build"));
        // Restarted, fails again at once: nothing new, and no "fixed".
        assert!(n.on_event(&running(100, "build")).is_empty());
        assert!(n.on_event(&exited(200, "build", 1)).is_empty());
        assert!(n.tick(20_000).is_empty());
        assert!(n.on_event(&running(30_000, "build")).is_empty());
        assert!(n.tick(30_000 + RECOVERED_AFTER_MS - 1).is_empty());
        let fixed = n.tick(30_000 + RECOVERED_AFTER_MS);
        assert_eq!(titles(&fixed), ["build fixed"]);
        assert!(n.tick(60_000).is_empty(), "once");
    }

    #[test]
    fn a_burst_becomes_three_notices_and_one_summary() {
        let mut n = Notifier::default();
        let mut out = Vec::new();
        for (i, r) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            out.extend(n.on_event(&exited(i as i64 * 10, r, 1)));
        }
        assert_eq!(titles(&out), ["a failed", "b failed", "c failed"]);
        let later = n.tick(WINDOW_MS);
        assert_eq!(titles(&later), ["2 more"]);
        assert_eq!(later[0].body, "d failed, e failed");
        assert_eq!(later[0].severity, Severity::Error);
    }

    #[test]
    fn escalations_always_pass_and_a_severity_can_be_turned_off() {
        let mut n = Notifier::new(Shown {
            error: false,
            ..Shown::default()
        });
        assert!(n.on_event(&exited(0, "a", 1)).is_empty());
        for i in 0..5 {
            let got = n.on_event(&ev(
                i,
                EventKind::Escalation {
                    runner: Some("a".into()),
                    reason: "crashed 5 times".into(),
                    advice: "qcity logs a\nmore".into(),
                },
            ));
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].severity, Severity::Critical);
            assert_eq!(got[0].body, "crashed 5 times\nqcity logs a");
        }
    }

    #[test]
    fn a_crash_loop_is_one_notice_with_the_advice_and_its_recovery_is_told() {
        let mut n = Notifier::default();
        let looping = ev(
            10,
            EventKind::RunnerState {
                runner: "crashy".into(),
                state: RunnerState::CrashLooping {
                    restarts: 3,
                    window_ms: 60_000,
                    until_ms: 600_000,
                },
                health: None,
                colour: qcity_types::Colour::Red,
                actions: Vec::new(),
            },
        );
        let mut got = n.on_event(&looping);
        // The engine's escalation follows every crash loop.
        got.extend(n.on_event(&ev(
            11,
            EventKind::Escalation {
                runner: Some("crashy".into()),
                reason: "crashy restarted 3 times within 60s and keeps failing".into(),
                advice: "run `qcity logs crashy` to see why".into(),
            },
        )));
        assert_eq!(titles(&got), ["crashy needs you"]);
        assert!(got[0].body.contains("qcity logs crashy"), "{}", got[0].body);
        // Counted as announced: running again for long enough is told as fixed.
        assert!(n.on_event(&running(700_000, "crashy")).is_empty());
        assert_eq!(
            titles(&n.tick(700_000 + RECOVERED_AFTER_MS)),
            ["crashy fixed"]
        );
    }

    #[test]
    fn a_validated_fix_is_a_recovery_and_a_stop_is_not_a_failure_left_open() {
        let mut n = Notifier::default();
        n.on_event(&exited(0, "a", 127));
        let fixed = n.on_event(&ev(
            50,
            EventKind::Heal {
                runner: "a".into(),
                signature: "k".into(),
                step: HealStep::Validated,
                rule: "missing-dependency".into(),
                detail: String::new(),
                dry_run: false,
            },
        ));
        assert_eq!(titles(&fixed), ["a fixed"]);
        assert_eq!(fixed[0].body, "The healer fixed a (missing-dependency).");
        n.on_event(&exited(20_000, "b", 1));
        n.on_event(&state(20_100, "b", RunnerState::Stopped));
        n.on_event(&running(20_200, "b"));
        assert!(n.tick(60_000).is_empty(), "stopped on purpose: no fixed");
    }

    #[test]
    fn a_platform_outage_is_news_once_and_its_end_too_but_unknown_is_neither() {
        let changed = |ts, state, previous| {
            ev(
                ts,
                EventKind::PlatformChanged {
                    platform: "github".into(),
                    name: "GitHub".into(),
                    state,
                    previous,
                    summary: "Partial System Outage".into(),
                },
            )
        };
        use qcity_types::PlatformState as P;
        let mut d = Detector::default();
        assert!(
            d.on_event(&changed(0, P::Operational, P::Unknown))
                .is_none()
        );
        let n = d
            .on_event(&changed(1, P::PartialOutage, P::Operational))
            .unwrap();
        assert_eq!(
            (n.kind, n.severity),
            (NoticeKind::PlatformOutage, Severity::Error)
        );
        assert_eq!(n.title, "GitHub: partial outage");
        assert!(
            d.on_event(&changed(2, P::MajorOutage, P::PartialOutage))
                .is_none()
        );
        assert!(
            d.on_event(&changed(3, P::Unknown, P::MajorOutage))
                .is_none()
        );
        let n = d.on_event(&changed(4, P::Operational, P::Unknown)).unwrap();
        assert_eq!(n.title, "GitHub is operational again");
        assert_eq!(n.severity, Severity::Info);
        assert!(
            d.on_event(&changed(5, P::Unknown, P::Operational))
                .is_none()
        );
        assert!(
            d.on_event(&changed(6, P::Operational, P::Unknown))
                .is_none(),
            "no outage to end"
        );
    }

    #[test]
    fn an_outage_is_news_once_a_poll_interval_later_and_a_flap_is_none() {
        use qcity_types::PlatformState as P;
        let changed = |ts, state, previous| {
            ev(
                ts,
                EventKind::PlatformChanged {
                    platform: "gitlab".into(),
                    name: "GitLab".into(),
                    state,
                    previous,
                    summary: String::new(),
                },
            )
        };
        let mut d = Detector::default();
        d.set_platform_confirm_ms(180_000);
        assert!(
            d.on_event(&changed(0, P::MajorOutage, P::Operational))
                .is_none()
        );
        assert!(d.waiting());
        assert!(d.tick(179_999).is_empty());
        let n = d.tick(180_000);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].title, "GitLab: major outage");
        // A flap: out and back within one interval.
        let mut d = Detector::default();
        d.set_platform_confirm_ms(180_000);
        assert!(
            d.on_event(&changed(0, P::PartialOutage, P::Operational))
                .is_none()
        );
        assert!(
            d.on_event(&changed(60_000, P::Operational, P::PartialOutage))
                .is_none()
        );
        assert!(d.tick(400_000).is_empty());
    }
}
