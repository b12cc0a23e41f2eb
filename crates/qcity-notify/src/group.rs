//! Grouping for chat and mail channels, as Alertmanager groups: the first notice of a quiet
//! channel waits `wait` for the rest of its burst; news about a group already sent waits
//! until `interval` after that message; failures still open are repeated every `repeat`; a
//! "fixed" is news, and the group ends once nothing is open. One message summarises all of
//! it. Quiet hours hold a message without a critical notice until they end. A pure state
//! machine, fed with notices and the clock (ms).

use std::collections::BTreeMap;

use qcity_types::{Notice, NoticeKind, Severity};

use crate::message::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub wait_ms: i64,
    pub interval_ms: i64,
    pub repeat_ms: i64,
}

impl From<&qcity_config::GroupingSettings> for Timing {
    fn from(g: &qcity_config::GroupingSettings) -> Timing {
        let ms = |s: u64| (s as i64).saturating_mul(1000);
        Timing {
            wait_ms: ms(g.wait_seconds),
            interval_ms: ms(g.interval_seconds),
            repeat_ms: ms(g.repeat_seconds),
        }
    }
}

/// Runners listed by name in one message; the rest are counted.
const LISTED: usize = 20;

#[derive(Debug)]
pub struct Grouper {
    timing: Timing,
    /// Open problems by (runner, kind): repeated until fixed.
    open: BTreeMap<(String, NoticeKind), Notice>,
    /// Notices not yet sent, in arrival order.
    news: Vec<Notice>,
    /// When this group last sent a message; `None`: no group (nothing sent or all fixed).
    last_sent: Option<i64>,
    /// When the news goes out.
    flush_at: Option<i64>,
}

impl Grouper {
    pub fn new(timing: Timing) -> Grouper {
        Grouper {
            timing,
            open: BTreeMap::new(),
            news: Vec::new(),
            last_sent: None,
            flush_at: None,
        }
    }

    pub fn set_timing(&mut self, timing: Timing) {
        self.timing = timing;
    }

    /// Takes a notice that passed the channel's filter.
    pub fn add(&mut self, n: Notice, now: i64) {
        let runner = n.runner.clone().unwrap_or_default();
        if n.kind == NoticeKind::Fixed {
            self.open.retain(|(r, _), _| *r != runner);
        } else if n.kind == NoticeKind::PlatformOutage {
            // Keyed by its platform: the outage is open until its end is news.
            let platform = n.platform.clone().unwrap_or_default();
            let key = (format!("platform:{platform}"), n.kind);
            if n.severity == Severity::Info {
                self.open.remove(&key);
            } else {
                self.open.insert(key, n.clone());
            }
        } else {
            self.open.insert((runner, n.kind), n.clone());
        }
        let critical = n.severity == Severity::Critical;
        self.news.push(n);
        let normal = match self.last_sent {
            Some(sent) => (sent + self.timing.interval_ms).max(now),
            None => now + self.timing.wait_ms,
        };
        self.flush_at = match self.flush_at {
            None => Some(normal),
            // News held for the end of the quiet hours goes out with a critical one.
            Some(at) if critical => Some(at.min(normal)),
            at => at,
        };
    }

    /// When [`Grouper::due`] has something to do next, if ever.
    pub fn next_due(&self) -> Option<i64> {
        let repeat = match (self.last_sent, self.open.is_empty()) {
            (Some(sent), false) => Some(sent + self.timing.repeat_ms),
            _ => None,
        };
        match (self.flush_at, repeat) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The message due at `now`, if one is. `quiet_until`: the end of the quiet hours `now`
    /// is in, if it is: only a message with a critical notice goes out then.
    pub fn due(&mut self, now: i64, quiet_until: Option<i64>) -> Option<Message> {
        let news_due = self.flush_at.is_some_and(|t| t <= now) && !self.news.is_empty();
        let repeat_due = !news_due
            && !self.open.is_empty()
            && self
                .last_sent
                .is_some_and(|sent| sent + self.timing.repeat_ms <= now);
        if !news_due && !repeat_due {
            if self.news.is_empty() {
                self.flush_at = None;
            }
            return None;
        }
        if let Some(end) = quiet_until {
            let critical = self.news.iter().any(|n| n.severity == Severity::Critical);
            if !critical {
                // Held: the news goes out as one message when the quiet hours end.
                if news_due {
                    self.flush_at = Some(end);
                } else {
                    self.last_sent = Some(end - self.timing.repeat_ms);
                }
                return None;
            }
        }
        Some(self.send(now))
    }

    /// The news as one message now, whatever its timing and the quiet hours (the daemon is
    /// stopping: in the outbox it survives the stop).
    pub fn drain(&mut self, now: i64) -> Option<Message> {
        (!self.news.is_empty()).then(|| self.send(now))
    }

    /// The news (and what is still open) as one message, sent at `now`.
    fn send(&mut self, now: i64) -> Message {
        let news = std::mem::take(&mut self.news);
        let msg = self.render(&news);
        self.flush_at = None;
        self.last_sent = (!self.open.is_empty()).then_some(now);
        msg
    }

    fn render(&self, news: &[Notice]) -> Message {
        let still: Vec<&Notice> = self
            .open
            .values()
            .filter(|o| !news.iter().any(|n| n.runner == o.runner))
            .collect();
        let severity = news
            .iter()
            .chain(still.iter().copied())
            .map(|n| n.severity)
            .max()
            .unwrap_or(Severity::Info);
        // One line per runner, its gravest news (the latest of equals): a runner that
        // failed and then crash-looped is one line, so a burst of twenty runners is twenty.
        let mut lines: Vec<&Notice> = Vec::new();
        for n in news {
            match lines
                .iter_mut()
                .find(|l| l.runner == n.runner && n.runner.is_some())
            {
                Some(l) if n.severity >= l.severity => *l = n,
                Some(_) => {}
                None => lines.push(n),
            }
        }
        // Runners failing during their platform's outage are that outage's, not each
        // their own problem: the message says so first.
        let mut outages: Vec<&str> = lines.iter().filter_map(|n| blamed_on(n)).collect();
        outages.sort();
        outages.dedup();
        let under_one = outages.len() == 1 && lines.iter().all(|n| blamed_on(n).is_some());
        let title = match &lines[..] {
            [] => format!("{} still open", plural(still.len(), "problem")),
            [one] if blamed_on(one).is_some() => {
                format!("{} ({})", one.title, outages[0])
            }
            [one] => one.title.clone(),
            many if under_one => {
                format!("{}: {} affected", outages[0], plural(many.len(), "runner"))
            }
            many => summary_title(many),
        };
        let mut body = String::new();
        for outage in &outages {
            let runners: Vec<&str> = lines
                .iter()
                .filter(|n| blamed_on(n) == Some(outage))
                .filter_map(|n| n.runner.as_deref())
                .collect();
            body.push_str(&format!(
                "{outage}: its status page reports it; {} failing with it ({}); the healer waits for the platform rather than fixing them.\n",
                plural(runners.len(), "runner"),
                runners.join(", ")
            ));
        }
        for n in lines.iter().take(LISTED) {
            if lines.len() > 1 {
                body.push_str(&format!("• {}: {}\n", n.title, first_line(&n.body)));
            } else {
                body.push_str(&n.body);
                body.push('\n');
            }
        }
        if lines.len() > LISTED {
            body.push_str(&format!("… and {} more\n", lines.len() - LISTED));
        }
        // An escalation's diagnosis in full, whatever else was news.
        for n in news.iter().filter(|n| !n.details.is_empty()) {
            body.push_str(&format!("\n{} — diagnosis:\n{}\n", n.title, n.details));
        }
        if !still.is_empty() {
            let mut names: Vec<&str> = still.iter().map(|n| n.title.as_str()).collect();
            names.dedup();
            let shown: Vec<&str> = names.iter().take(LISTED).copied().collect();
            body.push_str(&format!("Still open: {}", shown.join(", ")));
            if names.len() > LISTED {
                body.push_str(&format!(" and {} more", names.len() - LISTED));
            }
            body.push('\n');
        }
        let mut runners: Vec<String> = news
            .iter()
            .chain(still.iter().copied())
            .filter_map(|n| n.runner.clone())
            .collect();
        runners.sort();
        runners.dedup();
        let mut tags: Vec<String> = news.iter().map(|n| n.kind.as_str().to_string()).collect();
        tags.sort();
        tags.dedup();
        let link_runner = (runners.len() == 1).then(|| runners[0].clone());
        tags.extend(runners.into_iter().take(5));
        Message {
            id: 0,
            severity,
            title,
            body: body.trim_end().to_string(),
            link: link_runner.map(|r| format!("#/runner/{r}")),
            tags,
        }
    }
}

/// The platform outage a runner's notice comes with (a platform's own notice names its
/// platform, not an outage it is blamed on).
fn blamed_on(n: &Notice) -> Option<&str> {
    n.runner.as_ref().and(n.platform.as_deref())
}

/// "12 failed, 3 crash-looping, 1 fixed".
fn summary_title(news: &[&Notice]) -> String {
    let mut counts: BTreeMap<NoticeKind, usize> = BTreeMap::new();
    for n in news {
        *counts.entry(n.kind).or_default() += 1;
    }
    counts
        .iter()
        .map(|(kind, n)| match kind {
            NoticeKind::Failure => format!("{n} failed"),
            NoticeKind::CrashLoop => format!("{n} crash-looping"),
            NoticeKind::NeedsRegistration => format!("{n} need registration"),
            NoticeKind::Escalation => format!("{n} escalated"),
            NoticeKind::Fixed => format!("{n} fixed"),
            NoticeKind::PlatformOutage => plural(*n, "platform change"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timing = Timing {
        wait_ms: 30_000,
        interval_ms: 300_000,
        repeat_ms: 4 * 3_600_000,
    };

    fn n(kind: NoticeKind, runner: &str) -> Notice {
        let (severity, title) = match kind {
            NoticeKind::Fixed => (Severity::Info, format!("{runner} fixed")),
            NoticeKind::Escalation => (Severity::Critical, format!("{runner} needs you")),
            _ => (Severity::Error, format!("{runner} failed")),
        };
        Notice {
            kind,
            severity,
            title,
            body: format!("{runner} stopped: exit 1."),
            runner: Some(runner.into()),
            details: String::new(),
            platform: None,
        }
    }

    #[test]
    fn a_burst_waits_and_goes_out_as_one_message() {
        let mut g = Grouper::new(T);
        for (i, r) in ["a", "b", "c"].iter().enumerate() {
            g.add(n(NoticeKind::Failure, r), i as i64 * 1000);
        }
        assert_eq!(g.next_due(), Some(30_000));
        assert!(g.due(29_999, None).is_none());
        let m = g.due(30_000, None).unwrap();
        assert_eq!(m.title, "3 failed");
        assert_eq!(m.severity, Severity::Error);
        assert!(
            m.body.contains("• a failed: a stopped: exit 1."),
            "{}",
            m.body
        );
        assert!(g.due(30_001, None).is_none(), "once");
    }

    #[test]
    fn news_about_a_sent_group_waits_for_the_interval_then_a_fix_ends_it() {
        let mut g = Grouper::new(T);
        g.add(n(NoticeKind::Failure, "a"), 0);
        assert_eq!(g.due(30_000, None).unwrap().title, "a failed");
        g.add(n(NoticeKind::Failure, "b"), 40_000);
        assert_eq!(g.next_due(), Some(330_000));
        assert!(g.due(329_999, None).is_none());
        let m = g.due(330_000, None).unwrap();
        assert_eq!(m.title, "b failed");
        assert!(m.body.contains("Still open: a failed"), "{}", m.body);
        g.add(n(NoticeKind::Fixed, "a"), 400_000);
        g.add(n(NoticeKind::Fixed, "b"), 400_001);
        let m = g.due(630_000, None).unwrap();
        assert_eq!((m.title.as_str(), m.severity), ("2 fixed", Severity::Info));
        assert_eq!(g.next_due(), None, "group over: no repeat");
        // A new failure starts a new group: group wait again.
        g.add(n(NoticeKind::Failure, "c"), 700_000);
        assert_eq!(g.next_due(), Some(730_000));
    }

    #[test]
    fn open_problems_repeat_and_quiet_hours_hold_all_but_critical() {
        let mut g = Grouper::new(T);
        g.add(n(NoticeKind::Failure, "a"), 0);
        g.due(30_000, None).unwrap();
        let repeat_at = 30_000 + T.repeat_ms;
        assert_eq!(g.next_due(), Some(repeat_at));
        let m = g.due(repeat_at, None).unwrap();
        assert_eq!(m.title, "1 problem still open");
        // In quiet hours: an error waits for their end, an escalation does not.
        let t = repeat_at + 1000;
        g.add(n(NoticeKind::Failure, "b"), t);
        let quiet_end = t + 2 * 3_600_000;
        assert!(g.due(t + T.interval_ms, Some(quiet_end)).is_none());
        assert_eq!(g.next_due(), Some(quiet_end));
        g.add(n(NoticeKind::Escalation, "c"), t + 1);
        let m = g.due(t + T.interval_ms, Some(quiet_end)).unwrap();
        assert_eq!(m.severity, Severity::Critical);
        assert_eq!(m.title, "1 failed, 1 escalated");
    }

    #[test]
    fn an_escalation_carries_its_whole_diagnosis_and_links_its_runner() {
        let mut g = Grouper::new(T);
        let mut esc = n(NoticeKind::Escalation, "build");
        esc.body = "the healer could not fix exit 1 (signature 3f2a)\nfixes tried: …".into();
        esc.details =
            "fixes tried: clean-caches: still failing\nlast lines:\nerror: linker `cc` not found"
                .into();
        g.add(n(NoticeKind::Failure, "build"), 0);
        g.add(esc, 10);
        let m = g.due(30_000, None).unwrap();
        assert_eq!(m.title, "build needs you", "one runner: its gravest news");
        assert_eq!(m.severity, Severity::Critical);
        assert!(m.body.contains("signature 3f2a"), "{}", m.body);
        assert!(
            m.body.contains("clean-caches: still failing")
                && m.body.contains("linker `cc` not found"),
            "{}",
            m.body
        );
        assert_eq!(m.link.as_deref(), Some("#/runner/build"));
    }

    #[test]
    fn a_large_burst_lists_twenty_and_counts_the_rest() {
        let mut g = Grouper::new(T);
        for i in 0..30 {
            g.add(n(NoticeKind::Failure, &format!("r{i}")), i);
        }
        let m = g.due(40_000, None).unwrap();
        assert_eq!(m.title, "30 failed");
        assert!(m.body.ends_with("… and 10 more"), "{}", m.body);
        assert_eq!(m.link, None);
    }

    #[test]
    fn runners_failing_in_their_platforms_outage_are_grouped_under_it() {
        let mut g = Grouper::new(T);
        for r in ["gh1", "gh2", "gh3"] {
            let mut f = n(NoticeKind::Failure, r);
            f.platform = Some("GitHub major outage".into());
            g.add(f, 0);
        }
        let m = g.due(30_000, None).unwrap();
        assert_eq!(m.title, "GitHub major outage: 3 runners affected");
        assert!(
            m.body.starts_with("GitHub major outage: its status page reports it; 3 runners failing with it (gh1, gh2, gh3)"),
            "{}",
            m.body
        );
        let mut one = n(NoticeKind::Failure, "gh4");
        one.platform = Some("GitHub major outage".into());
        let mut g = Grouper::new(T);
        g.add(one, 0);
        assert_eq!(
            g.due(30_000, None).unwrap().title,
            "gh4 failed (GitHub major outage)"
        );
    }

    #[test]
    fn a_platform_outage_stays_open_until_its_end_is_news() {
        let platform = |severity, title: &str| Notice {
            kind: NoticeKind::PlatformOutage,
            severity,
            title: title.into(),
            body: String::new(),
            runner: None,
            details: String::new(),
            platform: Some("GitHub".into()),
        };
        let mut g = Grouper::new(T);
        g.add(platform(Severity::Error, "GitHub: major outage"), 0);
        let m = g.due(30_000, None).unwrap();
        assert_eq!(m.title, "GitHub: major outage", "not blamed on itself");
        assert_eq!(g.next_due(), Some(30_000 + T.repeat_ms), "open: repeated");
        g.add(
            platform(Severity::Info, "GitHub is operational again"),
            60_000,
        );
        let m = g.due(30_000 + T.interval_ms, None).unwrap();
        assert_eq!(m.title, "GitHub is operational again");
        assert_eq!(g.next_due(), None, "closed by its end");
    }
}
