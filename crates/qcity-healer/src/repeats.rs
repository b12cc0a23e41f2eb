//! A runner that keeps failing the same way, counted instead of diagnosed again.
//!
//! In a crash storm a runner exits the same way ten times a second. The first exit is
//! diagnosed (its output read, its signature mined and recorded, its fixes ranked: a
//! `diagnosed` step); when the healer leaves it to the restart policy (no fix fits), keeps
//! quiet about it (escalated lately) or only says what it would do (a dry run), the failure
//! is remembered for that runner. A later exit that ends the same way (exit, code, signal,
//! spawn error) under the same configuration is a repeat of it:
//!
//! - within [`CHECK_EVERY`] of the failure's last diagnosis or check, it is counted without
//!   reading anything;
//! - after that, the runner's output tail is hashed: the same tail is a repeat, another one
//!   is diagnosed afresh (and when its signature is the same, it is still counted as a
//!   repeat: nothing is recorded, ranked or published);
//! - at most [`LOOKS_PER_SECOND`] looks at a runner's output per second (a read and hash of
//!   its tail, and a diagnosis when it changed): exits beyond that are repeats of the
//!   failure they match, else of the runner's latest one (or, with none, left to the restart
//!   policy).
//!
//! Repeats are kept in memory and written to the store's signature row (its count, last
//! time and trend) every [`FLUSH_EVERY`] and with the signature's next recorded sighting, so
//! the `signatures` view lags by a second at most. A failure left to the restart policy (or
//! in a dry run) gets a `diagnosed` step with its count at most every [`REPORT_EVERY`] while
//! it repeats, and once more when the runner fails another way.
//!
//! No lock is held across I/O: the subscriber asks [`Repeats::exit`] on each exit, `record`
//! ([`crate::heal`]) tells what a diagnosis found, the case's end says what became of it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qcity_store::SignatureRow;

use crate::trigger::Trigger;

/// How long after a failure's diagnosis (or the last check of its output) the same exit is
/// counted without reading the runner's output.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Looks at a runner's output per second, at most (each a read and hash of its tail, and a
/// diagnosis when it changed).
pub(crate) const LOOKS_PER_SECOND: u32 = 4;
/// How often repeats are written to the store.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How often, at most, a repeating failure's count is published (a `diagnosed` step).
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(30);
/// Output lines hashed to tell the same output from another.
pub(crate) const TAIL_LINES: usize = 200;
/// Failures remembered per runner (a runner may alternate between a few).
const KNOWN_PER_RUNNER: usize = 4;

/// The `diagnosed` step's detail for a failure seen this many times.
pub(crate) type Say = Arc<dyn Fn(u64) -> String + Send + Sync>;

/// What the subscriber does with an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A repeat of a failure the runner is known for: counted.
    Repeat,
    /// Diagnose it (a case).
    Diagnose,
    /// Over the runner's looks per second, with nothing to count it as: left to the
    /// restart policy, as an exit during a case is.
    Skip,
}

/// What a diagnosis found, until its case ends ([`Repeats::case_ended`]).
pub(crate) struct Learned {
    pub trigger: Trigger,
    pub generation: u64,
    /// The hash of the output tail it was diagnosed from.
    pub tail: u64,
    pub key: String,
    /// The signature's row, to add repeats to.
    pub row: SignatureRow,
    /// Times seen, as recorded.
    pub count: u64,
    pub say: Say,
    /// No fix fits, none cannot act, none was left out: the restart policy's.
    pub nothing_to_do: bool,
}

/// What became of a known failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Left to the restart policy.
    Policy,
    /// Escalated lately: quiet until then.
    Quiet { until: Instant },
    /// Said what a fix would do, touching nothing.
    DryRun,
}

/// A failure a runner is known for, and its repeats since they were last written and said.
struct Known {
    trigger: Trigger,
    generation: u64,
    tail: u64,
    key: String,
    row: SignatureRow,
    count: u64,
    say: Say,
    outcome: Outcome,
    dry_run: bool,
    /// The last diagnosis or check of the output tail.
    checked: Instant,
    /// Repeats not written to the store yet, and the last one's time.
    unflushed: u64,
    last_ms: i64,
    /// Repeats not published yet, and when it was last published.
    unreported: u64,
    reported: Instant,
    /// The runner failed another way since: its count is due.
    superseded: bool,
}

impl Known {
    fn active(&self, generation: u64, now: Instant) -> bool {
        self.generation == generation
            && match self.outcome {
                Outcome::Quiet { until } => now < until,
                Outcome::Policy | Outcome::DryRun => true,
            }
    }

    fn repeat(&mut self, now_ms: i64) {
        self.count += 1;
        self.unflushed += 1;
        self.last_ms = self.last_ms.max(now_ms);
        if self.reports() {
            self.unreported += 1;
        }
    }

    /// Whether its repeats are published (a quiet failure stays quiet).
    fn reports(&self) -> bool {
        !matches!(self.outcome, Outcome::Quiet { .. })
    }

    /// Its count, when it repeated since it was last said: a `diagnosed` step's detail.
    fn report(&mut self, runner: &str, now: Instant) -> Option<Report> {
        if self.unreported == 0 {
            return None;
        }
        let secs = now.duration_since(self.reported).as_secs().max(1);
        let detail = format!(
            "{}; repeated {}× in the last {secs} s: the same exit again, counted, not diagnosed again",
            (self.say)(self.count),
            self.unreported
        );
        self.unreported = 0;
        self.reported = now;
        self.superseded = false;
        Some(Report {
            runner: runner.to_string(),
            key: self.key.clone(),
            detail,
            dry_run: self.dry_run,
        })
    }

    fn flush(&mut self) -> Option<Flush> {
        (self.unflushed > 0).then(|| Flush {
            row: self.row.clone(),
            times: std::mem::take(&mut self.unflushed),
            last_ms: self.last_ms,
        })
    }
}

/// Repeats to add to a signature's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Flush {
    pub row: SignatureRow,
    pub times: u64,
    pub last_ms: i64,
}

/// A repeating failure's count, to publish as a `diagnosed` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    pub runner: String,
    pub key: String,
    pub detail: String,
    pub dry_run: bool,
}

#[derive(Default)]
struct Runner {
    /// Most recently seen first.
    known: Vec<Known>,
    /// What the diagnosis under way found, until its case ends.
    learning: Option<Learned>,
    /// The output tail's hash read for the diagnosis under way.
    tail: Option<u64>,
    /// Looks at the output in the current second: (its start, how many).
    window: Option<(Instant, u32)>,
}

impl Runner {
    fn find(&self, t: &Trigger, generation: u64, now: Instant) -> Option<usize> {
        self.known
            .iter()
            .position(|k| k.trigger.same_failure(t) && k.active(generation, now))
    }

    /// Counts a look at the runner's output (and the diagnosis when it changed) against the
    /// runner's budget; false when it is spent.
    fn may_look(&mut self, now: Instant) -> bool {
        match &mut self.window {
            Some((start, n)) if now.duration_since(*start) < Duration::from_secs(1) => {
                if *n >= LOOKS_PER_SECOND {
                    return false;
                }
                *n += 1;
            }
            w => *w = Some((now, 1)),
        }
        true
    }

    fn promote(&mut self, i: usize) {
        if i > 0 {
            let k = self.known.remove(i);
            self.known.insert(0, k);
        }
    }
}

/// The failures each runner is known for, and their repeats.
#[derive(Default)]
pub(crate) struct Repeats {
    runners: HashMap<String, Runner>,
    /// Repeats of failures no longer remembered (or whose write failed), still to write.
    unwritten: Vec<Flush>,
    /// Counts of failures no longer remembered, still to publish.
    unsaid: Vec<Report>,
}

impl Repeats {
    /// An exit of `t.runner` (a [`Trigger::is_exit`]): a repeat (counted), or to diagnose.
    /// `tail` hashes the runner's output tail; it is called only when needed, at most once.
    pub fn exit(
        &mut self,
        t: &Trigger,
        generation: u64,
        now: Instant,
        now_ms: i64,
        tail: impl FnOnce() -> u64,
    ) -> Verdict {
        let r = self.runners.entry(t.runner.clone()).or_default();
        if let Some(i) = r.find(t, generation, now) {
            r.promote(i);
            if now.duration_since(r.known[0].checked) < CHECK_EVERY || !r.may_look(now) {
                r.known[0].repeat(now_ms);
                return Verdict::Repeat;
            }
            let hash = tail();
            let k = &mut r.known[0];
            if hash == k.tail {
                k.checked = now;
                k.repeat(now_ms);
                return Verdict::Repeat;
            }
            r.tail = Some(hash);
            return Verdict::Diagnose;
        }
        if !r.may_look(now) {
            return match r.known.iter_mut().find(|k| k.active(generation, now)) {
                Some(k) => {
                    k.repeat(now_ms);
                    Verdict::Repeat
                }
                None => Verdict::Skip,
            };
        }
        r.tail = Some(tail());
        Verdict::Diagnose
    }

    /// The output tail's hash read for `runner`'s diagnosis under way, if one was.
    pub fn take_tail(&mut self, runner: &str) -> Option<u64> {
        self.runners.get_mut(runner).and_then(|r| r.tail.take())
    }

    /// A diagnosis of `t` found signature `key`: when the runner is known for that signature
    /// (its output changed, not its failure), counted as a repeat, and true.
    pub fn same_signature(
        &mut self,
        t: &Trigger,
        key: &str,
        generation: u64,
        tail: u64,
        now: Instant,
        now_ms: i64,
    ) -> bool {
        let Some(r) = self.runners.get_mut(&t.runner) else {
            return false;
        };
        let Some(i) = r
            .known
            .iter()
            .position(|k| k.key == key && k.trigger.same_failure(t) && k.active(generation, now))
        else {
            return false;
        };
        r.promote(i);
        let k = &mut r.known[0];
        k.tail = tail;
        k.checked = now;
        k.repeat(now_ms);
        true
    }

    /// The repeats of `runner`'s signature `key` not written yet, taken: the caller writes
    /// them with the sighting it records.
    pub fn take_unflushed(&mut self, runner: &str, key: &str) -> u64 {
        self.runners.get_mut(runner).map_or(0, |r| {
            r.known
                .iter_mut()
                .filter(|k| k.key == key)
                .map(|k| std::mem::take(&mut k.unflushed))
                .sum()
        })
    }

    /// What a diagnosis of `l.trigger.runner` found, kept until its case ends.
    pub fn learned(&mut self, l: Learned) {
        let r = self.runners.entry(l.trigger.runner.clone()).or_default();
        r.learning = Some(l);
    }

    /// `runner`'s case ended. When it left the failure to the restart policy (`acted` false,
    /// nothing to do), kept quiet about it (`acted` false: `quiet_until`), or only said what
    /// it would do (`dry_run`), the failure is known from now on; a failure a fix was tried
    /// on is forgotten (its next occurrence is a case of its own).
    pub fn case_ended(
        &mut self,
        runner: &str,
        acted: bool,
        dry_run: bool,
        quiet_until: impl FnOnce(&str) -> Option<Instant>,
        now: Instant,
    ) {
        let Some(r) = self.runners.get_mut(runner) else {
            return;
        };
        let Some(l) = r.learning.take() else {
            return;
        };
        let outcome = match (acted, dry_run, l.nothing_to_do) {
            (false, _, true) => Outcome::Policy,
            (false, _, false) => match quiet_until(&l.key) {
                Some(until) => Outcome::Quiet { until },
                None => return,
            },
            (true, true, _) => Outcome::DryRun,
            (true, false, _) => {
                self.forget(runner, &l.key, now);
                return;
            }
        };
        // Another signature of the same exit, or the same one diagnosed again: the new one
        // replaces it. Any other failure of the runner is superseded: its count is due.
        let (mut replaced, mut said) = (Vec::new(), Vec::new());
        r.known.retain_mut(|k| {
            if k.key == l.key || k.trigger.same_failure(&l.trigger) {
                replaced.extend(k.flush());
                // The same signature's count is in the new `diagnosed` step.
                if k.key != l.key {
                    said.extend(k.report(runner, now));
                }
                false
            } else {
                k.superseded |= k.unreported > 0;
                true
            }
        });
        r.known.insert(
            0,
            Known {
                trigger: l.trigger,
                generation: l.generation,
                tail: l.tail,
                key: l.key,
                row: l.row,
                count: l.count,
                say: l.say,
                outcome,
                dry_run,
                checked: now,
                unflushed: 0,
                last_ms: 0,
                unreported: 0,
                reported: now,
                superseded: false,
            },
        );
        if r.known.len() > KNOWN_PER_RUNNER {
            let mut old = r.known.pop().expect("more than one");
            replaced.extend(old.flush());
            said.extend(old.report(runner, now));
        }
        self.keep(replaced);
        self.unsaid.extend(said);
    }

    /// Forgets `runner`'s failure `key` (a fix was tried on it); its repeats are still written.
    fn forget(&mut self, runner: &str, key: &str, now: Instant) {
        if let Some(r) = self.runners.get_mut(runner) {
            let (mut gone, mut said) = (Vec::new(), Vec::new());
            r.known.retain_mut(|k| {
                let keep = k.key != key;
                if !keep {
                    gone.extend(k.flush());
                    said.extend(k.report(runner, now));
                }
                keep
            });
            self.keep(gone);
            self.unsaid.extend(said);
        }
    }

    /// Repeats to write and counts to publish now: every repeat not written yet, and the
    /// counts of failures that repeated since they were last published [`REPORT_EVERY`] ago,
    /// or that the runner left for another failure.
    pub fn due(&mut self, now: Instant) -> (Vec<Flush>, Vec<Report>) {
        let mut flushes = std::mem::take(&mut self.unwritten);
        let mut reports = std::mem::take(&mut self.unsaid);
        for (runner, r) in &mut self.runners {
            for k in &mut r.known {
                flushes.extend(k.flush());
                if k.superseded || now.duration_since(k.reported) >= REPORT_EVERY {
                    reports.extend(k.report(runner, now));
                }
            }
        }
        (flushes, reports)
    }

    /// Repeats whose write failed, to try again with the next ones.
    pub fn unwritten(&mut self, flushes: Vec<Flush>) {
        self.keep(flushes);
    }

    /// Keeps repeats to write, one entry per signature however long the store fails.
    fn keep(&mut self, flushes: Vec<Flush>) {
        for f in flushes {
            match self.unwritten.iter_mut().find(|u| u.row.key == f.row.key) {
                Some(u) => {
                    u.times += f.times;
                    u.last_ms = u.last_ms.max(f.last_ms);
                }
                None => self.unwritten.push(f),
            }
        }
    }

    /// Whether anything waits to be written or published.
    pub fn pending(&self) -> bool {
        !self.unwritten.is_empty()
            || !self.unsaid.is_empty()
            || self
                .runners
                .values()
                .flat_map(|r| &r.known)
                .any(|k| k.unflushed > 0 || k.unreported > 0)
    }
}

/// The hash of a runner's output tail: the same lines, the same hash.
pub(crate) fn tail_hash(lines: &[String]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    lines.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(runner: &str, code: i32) -> Trigger {
        Trigger {
            runner: runner.into(),
            exit: format!("exit {code}"),
            code: Some(code),
            signal: None,
            error: None,
            probe: String::new(),
        }
    }

    fn row(key: &str) -> SignatureRow {
        SignatureRow {
            key: key.into(),
            runner: "storm".into(),
            exit: "exit 3".into(),
            probe: String::new(),
            templates: "[]".into(),
            count: 0,
            first_ms: 0,
            last_ms: 0,
        }
    }

    /// What a diagnosis of `t` learned: signature `key`, left to the restart policy.
    fn learn(rep: &mut Repeats, t: &Trigger, key: &str, tail: u64, now: Instant) {
        rep.learned(Learned {
            trigger: t.clone(),
            generation: 1,
            tail,
            key: key.into(),
            row: row(key),
            count: 1,
            say: Arc::new(|n| format!("exit 3 (seen {n}×); no fix fits")),
            nothing_to_do: true,
        });
        rep.case_ended(&t.runner, false, false, |_| None, now);
    }

    #[test]
    fn the_same_failure_repeated_is_recorded_once_with_its_count() {
        let mut rep = Repeats::default();
        let t0 = Instant::now();
        let t = exit("storm", 3);
        let mut reads = 0;
        assert_eq!(rep.exit(&t, 1, t0, 0, || 7), Verdict::Diagnose);
        assert_eq!(rep.take_tail("storm"), Some(7));
        learn(&mut rep, &t, "k3", 7, t0);
        // 10 exits a second for 3 s: each a repeat; the tail is read about once a second.
        for i in 1..=30u32 {
            let now = t0 + Duration::from_millis(100 * u64::from(i));
            let v = rep.exit(&t, 1, now, i64::from(i), || {
                reads += 1;
                7
            });
            assert_eq!(v, Verdict::Repeat, "exit {i}");
        }
        assert!(reads <= 3, "the tail was read {reads} times");
        assert!(rep.pending());
        let (flushes, reports) = rep.due(t0 + Duration::from_secs(3));
        assert_eq!(
            flushes,
            [Flush {
                row: row("k3"),
                times: 30,
                last_ms: 30
            }]
        );
        assert!(reports.is_empty(), "not yet: {reports:?}");
        assert!(rep.due(t0 + Duration::from_secs(4)).0.is_empty());
        // The count is published after REPORT_EVERY: seen 31 times, 30 of them repeats.
        let (_, reports) = rep.due(t0 + REPORT_EVERY);
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(
            reports[0]
                .detail
                .starts_with("exit 3 (seen 31×); no fix fits; repeated 30×"),
            "{reports:?}"
        );
        assert!(!rep.pending());
    }

    #[test]
    fn a_different_failure_is_diagnosed_afresh() {
        let mut rep = Repeats::default();
        let t0 = Instant::now();
        let t3 = exit("storm", 3);
        assert_eq!(rep.exit(&t3, 1, t0, 0, || 7), Verdict::Diagnose);
        learn(&mut rep, &t3, "k3", 7, t0);
        let ms = |n| t0 + Duration::from_millis(n);
        // Another exit code, another runner, another configuration: diagnosed.
        assert_eq!(
            rep.exit(&exit("storm", 4), 1, ms(10), 1, || 7),
            Verdict::Diagnose
        );
        assert_eq!(
            rep.exit(&exit("other", 3), 1, ms(20), 2, || 7),
            Verdict::Diagnose
        );
        assert_eq!(rep.exit(&t3, 2, ms(30), 3, || 7), Verdict::Diagnose);
        // The same exit with other output, once the last check is old enough: diagnosed;
        // and when its signature is the same, counted without being recorded again.
        assert_eq!(rep.exit(&t3, 1, ms(500), 4, || 8), Verdict::Repeat);
        assert_eq!(rep.exit(&t3, 1, ms(1_500), 5, || 8), Verdict::Diagnose);
        assert!(rep.same_signature(&t3, "k3", 1, 8, ms(1_500), 5));
        assert_eq!(rep.exit(&t3, 1, ms(2_600), 6, || 8), Verdict::Repeat);
        assert!(!rep.same_signature(&t3, "k9", 1, 9, ms(2_600), 6));
        assert_eq!(rep.take_unflushed("storm", "k3"), 3);
        // A failure a fix was tried on is forgotten: its next exit is a case again.
        rep.learned(Learned {
            trigger: exit("fixed", 1),
            generation: 1,
            tail: 1,
            key: "k1".into(),
            row: row("k1"),
            count: 1,
            say: Arc::new(|n| format!("{n}")),
            nothing_to_do: false,
        });
        rep.case_ended("fixed", true, false, |_| None, ms(10));
        assert_eq!(
            rep.exit(&exit("fixed", 1), 1, ms(20), 7, || 1),
            Verdict::Diagnose
        );
        // A failure escalated lately is quiet until then: repeats, then diagnosed again.
        let quiet = exit("quiet", 2);
        rep.learned(Learned {
            trigger: quiet.clone(),
            generation: 1,
            tail: 1,
            key: "kq".into(),
            row: row("kq"),
            count: 1,
            say: Arc::new(|n| format!("{n}")),
            nothing_to_do: false,
        });
        rep.case_ended("quiet", false, false, |_| Some(ms(5_000)), ms(0));
        assert_eq!(rep.exit(&quiet, 1, ms(100), 8, || 1), Verdict::Repeat);
        assert_eq!(rep.exit(&quiet, 1, ms(5_000), 9, || 1), Verdict::Diagnose);
        let (_, reports) = rep.due(ms(60_000));
        assert!(
            reports.iter().all(|r| r.runner != "quiet"),
            "a quiet failure stays quiet: {reports:?}"
        );
    }

    #[test]
    fn a_failures_count_is_said_when_the_runner_fails_another_way() {
        let mut rep = Repeats::default();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let t3 = exit("storm", 3);
        learn(&mut rep, &t3, "k3", 7, t0);
        for i in 1..=5 {
            assert_eq!(rep.exit(&t3, 1, ms(i * 100), 0, || 7), Verdict::Repeat);
        }
        // Another exit: the repeats of the first are said at the next write, not 30 s later.
        let t4 = exit("storm", 4);
        assert_eq!(rep.exit(&t4, 1, ms(600), 0, || 7), Verdict::Diagnose);
        learn(&mut rep, &t4, "k4", 7, ms(600));
        let (_, reports) = rep.due(ms(1_000));
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].key, "k3");
        assert!(
            reports[0]
                .detail
                .contains("(seen 6×); no fix fits; repeated 5×"),
            "{reports:?}"
        );
        // The same exit with another signature replaces it, and says its count too.
        assert_eq!(rep.exit(&t4, 1, ms(700), 0, || 7), Verdict::Repeat);
        learn(&mut rep, &t4, "k5", 8, ms(2_000));
        let (flushes, reports) = rep.due(ms(2_100));
        assert_eq!(
            reports.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ["k4"]
        );
        assert_eq!(
            flushes
                .iter()
                .map(|f| (f.row.key.as_str(), f.times))
                .collect::<Vec<_>>(),
            [("k4", 1)]
        );
        assert!(!rep.pending());
    }

    #[test]
    fn the_work_per_runner_per_second_is_bounded() {
        let mut rep = Repeats::default();
        let t0 = Instant::now();
        let mut diagnosed = 0;
        let mut reads = 0;
        // A runner whose every exit differs from the last (another code, other output),
        // 100 exits a second for 5 s.
        for i in 0..500u64 {
            let now = t0 + Duration::from_millis(10 * i);
            let t = exit("wild", (i % 50) as i32);
            let v = rep.exit(&t, 1, now, i as i64, || {
                reads += 1;
                i
            });
            if v == Verdict::Diagnose {
                diagnosed += 1;
                let tail = rep.take_tail("wild").unwrap();
                learn(&mut rep, &t, &format!("k{}", i % 50), tail, now);
            }
        }
        assert!(
            reads <= 5 * LOOKS_PER_SECOND,
            "{reads} reads of the tail in 5 s"
        );
        assert!(diagnosed <= reads, "{diagnosed} diagnoses");
        // Those beyond the budget were counted as repeats of the runner's latest failures.
        let (flushes, _) = rep.due(t0 + Duration::from_secs(6));
        let counted: u64 = flushes.iter().map(|f| f.times).sum();
        assert_eq!(counted + u64::from(diagnosed), 500);
    }
}
