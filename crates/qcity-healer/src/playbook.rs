//! Playbooks: which fixes fit a failure, and in which order to try them.
//!
//! The built-in rules recognise the common failures from the runner's own output (and its
//! exit or probe); each turns into actions from the runner's `heal` settings. The user's rules
//! come first and a user rule with a built-in's name replaces it. Among the rules that match,
//! the one with the best observed success rate on this signature goes first:
//! `(successes + 1) / (attempts + 2)` (Laplace's rule of succession), so an untried rule
//! scores ½, one that failed twice ¼, one that worked twice ¾; ties keep the declared order.

use qcity_config::{HealAction, HealMatch, HealRule, HealSpec};
use qcity_store::RuleStats;
use regex::Regex;

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

/// A built-in rule: how it is recognised, and its actions (or why it cannot act here).
struct Builtin {
    name: &'static str,
    matches: fn(&Failure, &str) -> bool,
    actions: fn(&HealSpec, &Failure) -> Result<Vec<HealAction>, &'static str>,
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
    let failing = Regex::new(NETWORK_DOWN).ok()?;
    let lines: Vec<&String> = f.lines.iter().filter(|l| failing.is_match(l)).collect();
    for (re, port) in PATTERNS {
        let Ok(re) = Regex::new(re) else { continue };
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

fn any_line(f: &Failure, re: &str) -> bool {
    // The patterns below are constants and compile; a failure to compile matches nothing.
    Regex::new(re).is_ok_and(|re| f.lines.iter().any(|l| re.is_match(l)))
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "registration-removed",
        matches: |f, _| f.exit == "needs registration",
        // Re-registering needs a token only the master has: never loop on it.
        actions: |_, _| Ok(vec![HealAction::Escalate]),
    },
    Builtin {
        name: "disk-full",
        matches: disk_full,
        actions: |h, _| {
            if h.cache_dirs.is_empty() {
                return Err("no heal.cache_dirs to clean");
            }
            Ok(vec![HealAction::Clean(h.cache_dirs.clone())])
        },
    },
    Builtin {
        name: "corrupted-cache",
        matches: |f, _| {
            any_line(
                f,
                r"(?i)corrupt|checksum mismatch|bad checksum|integrity check failed|unexpected end of (file|archive)",
            )
        },
        actions: |h, _| {
            if h.cache_dirs.is_empty() {
                return Err("no heal.cache_dirs to clear");
            }
            Ok(vec![
                HealAction::Clean(h.cache_dirs.clone()),
                HealAction::Restart,
            ])
        },
    },
    Builtin {
        name: "missing-dependency",
        matches: |f, _| {
            f.code == Some(127)
                || any_line(
                    f,
                    r"(?i)command not found|: not found$|ModuleNotFoundError|No module named|Cannot find module|cannot open shared object file",
                )
        },
        actions: |h, _| {
            if h.install_command.is_empty() {
                return Err("no heal.install_command to run");
            }
            Ok(vec![
                HealAction::Run(h.install_command.clone()),
                HealAction::Restart,
            ])
        },
    },
    Builtin {
        name: "network-down",
        matches: |f, _| any_line(f, NETWORK_DOWN),
        actions: |h, f| {
            let wait = match h.network_check.clone().or_else(|| network_target(f)) {
                Some(addr) => HealAction::WaitTcp(addr),
                None => HealAction::WaitMs(NETWORK_PAUSE_MS),
            };
            Ok(vec![wait, HealAction::Restart])
        },
    },
    Builtin {
        name: "oom-killed",
        matches: |f, _| {
            f.signal == Some(libc::SIGKILL)
                || f.code == Some(137)
                || any_line(f, r"(?i)out of memory|oom-?kill|cannot allocate memory")
        },
        actions: |h, _| {
            if h.low_memory_env.is_empty() {
                return Ok(vec![HealAction::Restart]);
            }
            Ok(vec![
                HealAction::Env(h.low_memory_env.clone()),
                HealAction::Restart,
            ])
        },
    },
    Builtin {
        name: "outdated-runner",
        matches: |f, _| {
            any_line(
                f,
                r"(?i)is outdated|no longer supported|must be updated|update required|version .* is deprecated",
            )
        },
        actions: |h, _| {
            if h.update_command.is_empty() {
                return Err("no heal.update_command to run");
            }
            Ok(vec![
                HealAction::Run(h.update_command.clone()),
                HealAction::Restart,
            ])
        },
    },
];

/// A full disk: a failing `disk` probe, or the output says so.
pub fn disk_full(f: &Failure, probe_kind: &str) -> bool {
    probe_kind == "disk"
        || any_line(
            f,
            r"(?i)no space left on device|\bENOSPC\b|disk (is )?full|quota exceeded",
        )
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
    for b in BUILTINS {
        if spec.rules.iter().any(|r| r.name == b.name) || !(b.matches)(f, probe_kind) {
            continue;
        }
        match (b.actions)(spec, f) {
            Ok(actions) => fit.push((b.name.to_string(), actions)),
            Err(why) => cannot.push(format!("{}: {why}", b.name)),
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
        HealAction::WaitMs(ms) => format!("wait {ms} ms"),
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
