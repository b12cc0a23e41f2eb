//! Playbooks: which fixes fit a failure, and in which order to try them.
//!
//! The classifier (`classify`) says what kind of failure it is; the built-in rule of that
//! category turns into actions from the runner's `heal` settings (a runner that says it is
//! outdated also gets `outdated-runner`). The user's rules come first and a user rule with a
//! built-in's name replaces it. Among the rules that match,
//! the one with the best observed success rate on this signature goes first:
//! `(successes + 1) / (attempts + 2)` (Laplace's rule of succession), so an untried rule
//! scores ½, one that failed twice ¼, one that worked twice ¾; ties keep the declared order.

use qcity_config::{HealAction, HealMatch, HealRule, HealSpec};
use qcity_store::RuleStats;
use regex::Regex;

use qcity_types::FailureCategory;

use crate::classify::Verdict;
use crate::signature::Failure;

/// A rule that fits a failure, with its learned score.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub rule: String,
    pub actions: Vec<HealAction>,
    pub score: f64,
    pub attempts: u64,
    pub successes: u64,
}

/// The network failures the `network-down` rule knows.
const NETWORK_DOWN: &str = r"(?i)could not resolve host|temporary failure in name resolution|name or service not known|connection refused|network is unreachable|no route to host|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|connection timed out";

/// How long `network-down` pauses before its restart when neither `heal.network_check` nor
/// the failing lines say what to wait for.
pub const NETWORK_PAUSE_MS: u64 = 5_000;

/// Fixes that may work on one signature within [`REPEAT_WINDOW`] before it is escalated
/// instead: a failure that keeps coming back after being fixed has a cause the fix does not
/// reach, and healing it forever would hide that.
pub const MAX_HEALS_PER_WINDOW: u64 = 3;
/// See [`MAX_HEALS_PER_WINDOW`].
pub const REPEAT_WINDOW_MS: i64 = 3_600_000;

/// How many times `rule` may have worked on a signature within [`REPEAT_WINDOW_MS`] before a
/// new occurrence is escalated rather than fixed again. A runner killed for memory again
/// after its restart with less concurrency needs a person (more memory, a smaller job), so
/// `oom-killed` escalates on the first repeat.
pub fn heals_allowed(rule: &str) -> u64 {
    if rule == "oom-killed" {
        1
    } else {
        MAX_HEALS_PER_WINDOW
    }
}

/// The `host:port` a network failure's lines name, if any: `/dev/tcp/HOST/PORT` (bash),
/// `HOST port PORT` (curl), `HOST:PORT` (Node, Go, Python), a URL (its port or the scheme's),
/// `Could not resolve host: HOST` (HOST:443).
pub fn network_target(f: &Failure) -> Option<String> {
    const PATTERNS: &[(&str, Option<&str>)] = &[
        (r"/dev/tcp/([^/\s]+)/(\d{1,5})\b", None),
        (
            r"(?i)\bto ([A-Za-z0-9][A-Za-z0-9.-]*) port (\d{1,5})\b",
            None,
        ),
        (
            r"(?i)\b((?:\d{1,3}\.){3}\d{1,3}|\[[0-9a-f:]+\]|localhost|[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.[a-z]{2,}):(\d{1,5})\b",
            None,
        ),
        (r"(?i)\bhttps://([A-Za-z0-9.-]+)(?:[/'\s]|$)", Some("443")),
        (r"(?i)\bhttp://([A-Za-z0-9.-]+)(?:[/'\s]|$)", Some("80")),
        (
            r"(?i)could not resolve host:?\s+'?([A-Za-z0-9.-]+[A-Za-z0-9])",
            Some("443"),
        ),
    ];
    let failing = compiled(NETWORK_DOWN)?;
    let lines: Vec<&String> = f.lines.iter().filter(|l| failing.is_match(l)).collect();
    for (pattern, port) in PATTERNS {
        let Some(re) = compiled(pattern) else {
            continue;
        };
        for line in &lines {
            let Some(c) = re.captures(line) else { continue };
            let host = &c[1];
            let port = c.get(2).map_or(port.unwrap_or_default(), |m| m.as_str());
            if port.parse::<u16>().is_ok_and(|p| p > 0) {
                return Some(format!("{host}:{port}"));
            }
        }
    }
    None
}

/// A constant pattern of this file, compiled once: a diagnosis must not pay for compiling
/// them again (in a crash storm that was most of the daemon's time). A pattern that does not
/// compile matches nothing (the tests use each of them).
fn compiled(pattern: &'static str) -> Option<Regex> {
    type Cache = std::collections::HashMap<&'static str, Option<Regex>>;
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Cache>> = std::sync::OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pattern)
        .or_insert_with(|| Regex::new(pattern).ok())
        .clone()
}

fn any_line(f: &Failure, re: &'static str) -> bool {
    compiled(re).is_some_and(|re| f.lines.iter().any(|l| re.is_match(l)))
}

/// A runner that says it is outdated: updated, whatever else its output shows (a runner
/// refused for its version fails in many ways until it is updated).
fn outdated(f: &Failure) -> bool {
    any_line(
        f,
        r"(?i)is outdated|no longer supported|must be updated|update required|version .* is deprecated",
    )
}

/// A built-in rule that fits: its name and its actions, or why it cannot act here.
type Builtin = (&'static str, Result<Vec<HealAction>, String>);

/// The built-in fix for the diagnosed category: the first action the taxonomy gives it.
/// Crashes, timeouts and unknown failures have none: the restart policy restarts them, and
/// their signatures are kept for learning. A fix that deletes something (caches, a lock) is
/// only offered when the verdict is sure ([`Verdict::sure`]); below that the healer
/// escalates with its best guess.
fn builtin(spec: &HealSpec, f: &Failure, v: &Verdict, probe_kind: &str) -> Option<Builtin> {
    use FailureCategory as C;
    let unsure = || {
        Err(format!(
            "not sure enough to delete anything: {} (next {} {:.2})",
            v.phrase(),
            v.runner_up.0,
            v.runner_up.1
        ))
    };
    let clean = |then_restart: bool| {
        if spec.cache_dirs.is_empty() {
            return Err("no heal.cache_dirs to clean".to_string());
        }
        let mut actions = vec![HealAction::Clean(spec.cache_dirs.clone())];
        if then_restart {
            actions.push(HealAction::Restart);
        }
        Ok(actions)
    };
    let less_concurrency = || {
        if spec.low_memory_env.is_empty() {
            return Ok(vec![HealAction::Restart]);
        }
        Ok(vec![
            HealAction::Env(spec.low_memory_env.clone()),
            HealAction::Restart,
        ])
    };
    if f.exit == "needs registration" {
        // Re-registering needs a token only the master has: never loop on it.
        return Some(("registration-removed", Ok(vec![HealAction::Escalate])));
    }
    if probe_kind == "disk" {
        // The disk probe measured it: no doubt to weigh.
        return Some(("disk-full", clean(false)));
    }
    if v.confidence < LIKELY {
        // A guess is no ground for a fix, nor for an escalation: the restart policy, and
        // the signature kept for learning.
        return None;
    }
    Some(match v.category {
        C::DiskFull => ("disk-full", if v.sure() { clean(false) } else { unsure() }),
        C::CorruptCache => (
            "corrupted-cache",
            if v.sure() { clean(true) } else { unsure() },
        ),
        C::MissingCommand | C::MissingModule => (
            "missing-dependency",
            if spec.install_command.is_empty() {
                Err("no heal.install_command to run".to_string())
            } else {
                Ok(vec![
                    HealAction::Run(spec.install_command.clone()),
                    HealAction::Restart,
                ])
            },
        ),
        C::Network => {
            let wait = match spec.network_check.clone().or_else(|| network_target(f)) {
                Some(addr) => HealAction::WaitTcp(addr),
                None => HealAction::WaitMs(NETWORK_PAUSE_MS),
            };
            ("network-down", Ok(vec![wait, HealAction::Restart]))
        }
        C::OutOfMemory => ("oom-killed", less_concurrency()),
        C::ResourceLimit => ("resource-limit", less_concurrency()),
        C::PermissionDenied => ("permission-denied", Ok(vec![HealAction::Escalate])),
        C::PortInUse => {
            let wait = match port_target(f, v) {
                Some(addr) => HealAction::WaitFree(addr),
                None => HealAction::WaitMs(NETWORK_PAUSE_MS),
            };
            ("port-in-use", Ok(vec![wait, HealAction::Restart]))
        }
        C::VcsError => match stale_lock(f, v) {
            Some(lock) if v.sure() => (
                "stale-lock",
                Ok(vec![HealAction::RemoveStaleLock(lock), HealAction::Restart]),
            ),
            _ => ("vcs-error", Ok(vec![HealAction::Escalate])),
        },
        C::CodeError => ("code-error", Ok(vec![HealAction::Escalate])),
        C::RegistrationRemoved => ("registration-removed", Ok(vec![HealAction::Escalate])),
        C::RunnerOffline => (
            "runner-offline",
            Ok(vec![
                HealAction::WaitMs(NETWORK_PAUSE_MS),
                HealAction::Restart,
            ]),
        ),
        C::Crashed | C::Timeout | C::Unknown => return None,
    })
}

/// Below this confidence the category is a guess: no built-in rule acts on it.
pub const LIKELY: f64 = 0.4;

/// The rules whose actions end by escalating because a restart cannot help: after them the
/// runner is stopped, not left to restart into the same failure.
pub const RESTART_CANNOT_HELP: &[&str] = &["permission-denied", "code-error", "vcs-error"];

/// The lock file the evidence names, if any.
fn stale_lock(f: &Failure, v: &Verdict) -> Option<std::path::PathBuf> {
    v.evidence
        .iter()
        .chain(&f.lines)
        .find_map(|l| crate::stale_lock::named_lock(l))
}

/// The `host:port` a port-in-use failure names (in `v`'s evidence or its error lines):
/// `:::3000`, `0.0.0.0:8080`, `port 5000`.
pub fn port_target(f: &Failure, v: &Verdict) -> Option<String> {
    let re = compiled(
        r"(?i)(?:(\d{1,3}(?:\.\d{1,3}){3}|localhost|\[?::\]?)?:(\d{2,5})\b|\bport (\d{2,5})\b)",
    )?;
    let taken = compiled(r"(?i)address already in use|EADDRINUSE|in use|already")?;
    let lines = v
        .evidence
        .iter()
        .chain(&f.lines)
        .filter(|l| taken.is_match(l));
    for line in lines {
        for c in re.captures_iter(line) {
            let port = c.get(2).or(c.get(3)).map(|m| m.as_str())?;
            if port.parse::<u16>().is_ok_and(|p| p > 0) {
                let host = match c.get(1).map(|m| m.as_str()) {
                    Some(h)
                        if h.chars().next().is_some_and(|c| c.is_ascii_digit())
                            && h != "0.0.0.0" =>
                    {
                        h
                    }
                    _ => "127.0.0.1",
                };
                return Some(format!("{host}:{port}"));
            }
        }
    }
    None
}

/// A full disk: a failing `disk` probe, or the diagnosis says so.
pub fn disk_full(f: &Failure, probe_kind: &str) -> bool {
    probe_kind == "disk" || f.verdict().category == FailureCategory::DiskFull
}

/// Whether a user rule's conditions all hold.
pub fn rule_matches(m: &HealMatch, f: &Failure) -> bool {
    if m.is_empty() {
        return false;
    }
    if !m.exit_codes.is_empty() && !f.code.is_some_and(|c| m.exit_codes.contains(&c)) {
        return false;
    }
    if !m.signals.is_empty() && !f.signal.is_some_and(|s| m.signals.contains(&s)) {
        return false;
    }
    if m.crash_loop && f.exit != "crash loop" {
        return false;
    }
    if let Some(p) = &m.probe
        && *p != f.probe
    {
        return false;
    }
    if let Some(text) = &m.text {
        let text = text.to_lowercase();
        if !f.lines.iter().any(|l| l.to_lowercase().contains(&text)) {
            return false;
        }
    }
    if let Some(re) = &m.regex {
        // Validated when the configuration was loaded.
        if !Regex::new(re).is_ok_and(|re| f.lines.iter().any(|l| re.is_match(l))) {
            return false;
        }
    }
    true
}

/// The rules that fit `f`, best first, and the built-ins that fit but cannot act here, with
/// why. `probe_kind` is the failing probe's check (`disk`, `http`…) or empty.
pub fn candidates(
    spec: &HealSpec,
    f: &Failure,
    probe_kind: &str,
    stats: &[RuleStats],
) -> (Vec<Candidate>, Vec<String>) {
    let mut fit: Vec<(String, Vec<HealAction>)> = Vec::new();
    let mut cannot = Vec::new();
    for HealRule {
        name,
        matches,
        actions,
    } in &spec.rules
    {
        if rule_matches(matches, f) {
            fit.push((name.clone(), actions.clone()));
        }
    }
    let verdict = f.verdict();
    let outdated = outdated(f).then(|| {
        let actions = if spec.update_command.is_empty() {
            Err("no heal.update_command to run".to_string())
        } else {
            Ok(vec![
                HealAction::Run(spec.update_command.clone()),
                HealAction::Restart,
            ])
        };
        ("outdated-runner", actions)
    });
    let builtins = outdated
        .into_iter()
        .chain(builtin(spec, f, &verdict, probe_kind));
    for (name, actions) in builtins {
        if spec.rules.iter().any(|r| r.name == name) {
            continue;
        }
        match actions {
            Ok(actions) => fit.push((name.to_string(), actions)),
            Err(why) => cannot.push(format!("{name}: {why}")),
        }
    }
    let mut out: Vec<Candidate> = fit
        .into_iter()
        .map(|(rule, actions)| {
            let (attempts, successes) = stats
                .iter()
                .find(|s| s.rule == rule)
                .map_or((0, 0), |s| (s.attempts, s.successes));
            Candidate {
                score: (successes as f64 + 1.0) / (attempts as f64 + 2.0),
                rule,
                actions,
                attempts,
                successes,
            }
        })
        .collect();
    // Stable: equal scores keep the declared order.
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    (out, cannot)
}

/// How an action reads in events: `run npm ci`, `clean cache`, `wait for host:443`.
pub fn describe(a: &HealAction) -> String {
    match a {
        HealAction::Restart => "restart".into(),
        HealAction::Run(argv) => format!("run {}", argv.join(" ")),
        HealAction::Clean(dirs) => format!(
            "clean {}",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        HealAction::WaitTcp(addr) => format!("wait for {addr}"),
        HealAction::WaitFree(addr) => format!("wait until {addr} is free"),
        HealAction::WaitMs(ms) => format!("wait {ms} ms"),
        HealAction::RemoveStaleLock(path) => format!("remove the stale lock {}", path.display()),
        HealAction::Env(vars) => format!(
            "set {}",
            vars.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        HealAction::Escalate => "escalate".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(exit: &str, code: Option<i32>, signal: Option<i32>, lines: &[&str]) -> Failure {
        Failure {
            runner: "r".into(),
            exit: exit.into(),
            code,
            signal,
            probe: String::new(),
            lines: lines.iter().map(|s| s.to_string()).collect(),
            templates: Vec::new(),
            tail: Vec::new(),
            verdict: None,
        }
    }

    fn spec() -> HealSpec {
        HealSpec {
            cache_dirs: vec!["cache".into()],
            install_command: vec!["npm".into(), "ci".into()],
            ..HealSpec::default()
        }
    }

    fn names(c: &[Candidate]) -> Vec<&str> {
        c.iter().map(|c| c.rule.as_str()).collect()
    }

    #[test]
    fn builtins_recognise_the_common_failures_from_real_output() {
        let cases: &[(Failure, &str)] = &[
            (
                failure(
                    "exit 1",
                    Some(1),
                    None,
                    &["write /w/x.o: No space left on device"],
                ),
                "disk-full",
            ),
            (
                failure("exit 127", Some(127), None, &["sh: 1: yarn: not found"]),
                "missing-dependency",
            ),
            (
                failure(
                    "exit 1",
                    Some(1),
                    None,
                    &["ModuleNotFoundError: No module named 'requests'"],
                ),
                "missing-dependency",
            ),
            (
                failure(
                    "exit 1",
                    Some(1),
                    None,
                    &["curl: (6) Could not resolve host: github.com"],
                ),
                "network-down",
            ),
            (
                failure("signal 9 (SIGKILL)", None, Some(9), &[]),
                "oom-killed",
            ),
            (
                failure("needs registration", None, None, &[]),
                "registration-removed",
            ),
            (
                failure(
                    "exit 1",
                    Some(1),
                    None,
                    &["error: checksum mismatch for cache entry 3f2a"],
                ),
                "corrupted-cache",
            ),
        ];
        for (f, rule) in cases {
            let (c, _) = candidates(&spec(), f, "", &[]);
            assert_eq!(names(&c).first(), Some(rule), "{:?}", f.lines);
        }
    }

    #[test]
    fn network_down_waits_for_the_host_the_lines_name_or_pauses() {
        let target = |line: &str| {
            let f = failure("exit 1", Some(1), None, &[line]);
            let (c, _) = candidates(&HealSpec::default(), &f, "", &[]);
            assert_eq!(c[0].rule, "network-down", "{line}");
            c[0].actions[0].clone()
        };
        let wait = |a: &str| HealAction::WaitTcp(a.into());
        assert_eq!(
            target("bash: line 1: /dev/tcp/127.0.0.1/5432: Connection refused"),
            wait("127.0.0.1:5432")
        );
        assert_eq!(
            target(
                "curl: (7) Failed to connect to localhost port 8080 after 0 ms: Connection refused"
            ),
            wait("localhost:8080")
        );
        assert_eq!(
            target("Error: connect ECONNREFUSED 10.0.0.5:5432"),
            wait("10.0.0.5:5432")
        );
        assert_eq!(
            target(
                "fatal: unable to access 'https://github.com/o/r/': Could not resolve host: github.com"
            ),
            wait("github.com:443")
        );
        assert_eq!(
            target("curl: (6) Could not resolve host: example.org"),
            wait("example.org:443")
        );
        assert_eq!(
            target("ConnectionRefusedError: [Errno 111] Connection refused"),
            HealAction::WaitMs(NETWORK_PAUSE_MS)
        );
        // The configured check wins over what the lines say.
        let f = failure(
            "exit 1",
            Some(1),
            None,
            &["connect ECONNREFUSED 10.0.0.5:5432"],
        );
        let spec = HealSpec {
            network_check: Some("gw:53".into()),
            ..HealSpec::default()
        };
        let (c, _) = candidates(&spec, &f, "", &[]);
        assert_eq!(c[0].actions, [wait("gw:53"), HealAction::Restart]);
    }

    #[test]
    fn oom_restarts_with_the_low_memory_env() {
        let f = failure("signal 9 (SIGKILL)", None, Some(9), &[]);
        let (c, _) = candidates(&HealSpec::default(), &f, "", &[]);
        assert_eq!(c[0].actions, [HealAction::Restart]);
        let spec = HealSpec {
            low_memory_env: [("MAKEFLAGS".to_string(), "-j1".to_string())].into(),
            ..HealSpec::default()
        };
        let (c, _) = candidates(&spec, &f, "", &[]);
        assert_eq!(c[0].actions[1], HealAction::Restart);
        assert_eq!(describe(&c[0].actions[0]), "set MAKEFLAGS=-j1");
        assert_eq!(heals_allowed("oom-killed"), 1);
    }

    #[test]
    fn a_builtin_without_its_setting_says_why_it_cannot_act() {
        let f = failure("exit 1", Some(1), None, &["Cannot find module 'left-pad'"]);
        let (c, cannot) = candidates(&HealSpec::default(), &f, "", &[]);
        assert!(c.is_empty());
        assert_eq!(
            cannot,
            ["missing-dependency: no heal.install_command to run"]
        );
    }

    #[test]
    fn the_rule_that_worked_goes_first() {
        let mut spec = spec();
        let rule = |name: &str| HealRule {
            name: name.into(),
            matches: HealMatch {
                exit_codes: vec![3],
                ..HealMatch::default()
            },
            actions: vec![HealAction::Restart],
        };
        spec.rules = vec![rule("first"), rule("second")];
        let f = failure("exit 3", Some(3), None, &[]);
        let (c, _) = candidates(&spec, &f, "", &[]);
        assert_eq!(names(&c), ["first", "second"], "untried: declared order");
        let stats = [
            RuleStats {
                rule: "first".into(),
                attempts: 2,
                successes: 0,
            },
            RuleStats {
                rule: "second".into(),
                attempts: 1,
                successes: 1,
            },
        ];
        let (c, _) = candidates(&spec, &f, "", &stats);
        assert_eq!(names(&c), ["second", "first"]);
        assert_eq!((c[0].score, c[1].score), (2.0 / 3.0, 0.25));
    }

    #[test]
    fn a_user_rule_replaces_the_builtin_of_its_name() {
        let mut spec = spec();
        spec.rules = vec![HealRule {
            name: "disk-full".into(),
            matches: HealMatch {
                text: Some("no space left".into()),
                ..HealMatch::default()
            },
            actions: vec![HealAction::Escalate],
        }];
        let f = failure("exit 1", Some(1), None, &["No space left on device"]);
        let (c, _) = candidates(&spec, &f, "", &[]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].actions, [HealAction::Escalate]);
    }
}
