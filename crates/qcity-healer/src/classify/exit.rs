//! What the end of a process says, as the supervisor saw it: the exit code or the signal,
//! read with the conventions of the shell (126 not executable, 127 not found, 128+N killed by
//! signal N), `timeout` (124) and the tool that ran (curl's 6/7/28, git's 128, cargo's 101,
//! docker's 125–127, pytest's 1…), and the runner's kind. Each is a feature with a prior, like
//! the line cues.

use qcity_types::FailureCategory as C;

/// An exit feature: its name and the category it suggests, with the prior weight.
pub struct ExitFeature {
    pub name: &'static str,
    pub suggests: C,
    pub prior: f64,
}

const fn ef(name: &'static str, suggests: C, prior: f64) -> ExitFeature {
    ExitFeature {
        name,
        suggests,
        prior,
    }
}

/// Every exit feature (names are the model's features).
pub const FEATURES: &[ExitFeature] = &[
    ef("exit:1", C::Unknown, 0.3),
    ef("exit:2", C::Unknown, 0.1),
    ef("exit:other", C::Unknown, 0.1),
    ef("exit:126", C::PermissionDenied, 1.5),
    ef("exit:127", C::MissingCommand, 2.0),
    ef("exit:124", C::Timeout, 2.0),
    ef("exit:137", C::OutOfMemory, 1.0),
    ef("exit:128+crash", C::Crashed, 1.0),
    ef("exit:153", C::ResourceLimit, 1.0),
    ef("exit:152", C::ResourceLimit, 1.0),
    ef("signal:kill", C::OutOfMemory, 1.0),
    ef("signal:crash", C::Crashed, 2.0),
    ef("signal:xfsz", C::ResourceLimit, 2.0),
    ef("signal:xcpu", C::ResourceLimit, 2.0),
    ef("signal:term", C::Timeout, 0.3),
    ef("signal:other", C::Unknown, 0.1),
    ef("curl:6", C::Network, 2.0),
    ef("curl:7", C::Network, 2.0),
    ef("curl:28", C::Timeout, 2.0),
    ef("curl:23", C::DiskFull, 0.5),
    ef("curl:52", C::Network, 1.5),
    ef("curl:56", C::Network, 1.5),
    ef("tool:timeout", C::Timeout, 1.5),
    ef("wget:4", C::Network, 1.5),
    ef("getent:2", C::Network, 1.5),
    ef("git:128", C::VcsError, 0.3),
    ef("cargo:101", C::CodeError, 0.5),
    ef("docker:125", C::Network, 0.3),
    ef("test-runner:1", C::CodeError, 0.5),
    ef("compiler:1", C::CodeError, 0.5),
    ef("kind:ci-runner", C::RunnerOffline, 0.2),
    ef("needs-registration", C::RegistrationRemoved, 6.0),
    ef("kernel:oom-kill", C::OutOfMemory, 3.0),
];

/// Signals a program raises on itself when it crashes.
const CRASH_SIGNALS: &[i32] = &[
    libc::SIGSEGV,
    libc::SIGABRT,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGTRAP,
    libc::SIGSYS,
];

/// The tool a command runs: the program's file name, or for `sh -c SCRIPT` (any shell) the
/// script's first word that is not an assignment or `exec`.
pub fn tool(command: &[String]) -> String {
    let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    let Some(first) = command.first() else {
        return String::new();
    };
    let first = base(first);
    let shell = matches!(first.as_str(), "sh" | "bash" | "dash" | "zsh" | "ash");
    if shell && let Some(i) = command.iter().position(|a| a == "-c" || a == "-ec") {
        let script = command.get(i + 1).map_or("", String::as_str);
        let word = script
            .split_whitespace()
            .find(|w| !w.contains('=') && !matches!(*w, "exec" | "set" | "-e" | "env"));
        return word.map(base).unwrap_or(first);
    }
    if first == "env"
        && let Some(w) = command.iter().skip(1).find(|w| !w.contains('='))
    {
        return base(w);
    }
    first
}

/// The exit features of one end.
pub fn features(
    code: Option<i32>,
    signal: Option<i32>,
    tool: &str,
    kind: &str,
    needs_registration: bool,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    if needs_registration {
        out.push("needs-registration");
    }
    if matches!(kind, "github" | "gitlab" | "buildkite") {
        out.push("kind:ci-runner");
    }
    if let Some(s) = signal {
        out.push(match s {
            libc::SIGKILL => "signal:kill",
            libc::SIGXFSZ => "signal:xfsz",
            libc::SIGXCPU => "signal:xcpu",
            libc::SIGTERM | libc::SIGINT | libc::SIGHUP => "signal:term",
            s if CRASH_SIGNALS.contains(&s) => "signal:crash",
            _ => "signal:other",
        });
    }
    if tool == "timeout" {
        out.push("tool:timeout");
    }
    let Some(code) = code else {
        return out;
    };
    out.push(match code {
        0 => return out,
        1 => "exit:1",
        2 => "exit:2",
        124 => "exit:124",
        126 => "exit:126",
        127 => "exit:127",
        137 => "exit:137",
        152 => "exit:152",
        153 => "exit:153",
        c if c > 128 && CRASH_SIGNALS.contains(&(c - 128)) => "exit:128+crash",
        _ => "exit:other",
    });
    let tool_code = match (tool, code) {
        ("curl", 6) => Some("curl:6"),
        ("curl", 7) => Some("curl:7"),
        ("curl", 28) => Some("curl:28"),
        ("curl", 23) => Some("curl:23"),
        ("curl", 52) => Some("curl:52"),
        ("curl", 56) => Some("curl:56"),
        ("wget", 4) => Some("wget:4"),
        // getent: the key (a host name) was not found.
        ("getent", 2) => Some("getent:2"),
        ("git", 128) => Some("git:128"),
        ("cargo", 101) => Some("cargo:101"),
        ("docker", 125) => Some("docker:125"),
        ("pytest" | "jest" | "mocha" | "vitest" | "ctest" | "go", 1) => Some("test-runner:1"),
        ("gcc" | "g++" | "cc" | "c++" | "clang" | "rustc" | "javac" | "tsc" | "make", 1 | 2) => {
            Some("compiler:1")
        }
        _ => None,
    };
    out.extend(tool_code);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_tool_is_the_program_or_the_scripts_first_word() {
        assert_eq!(tool(&argv(&["/usr/bin/curl", "-sf", "x"])), "curl");
        assert_eq!(tool(&argv(&["sh", "-c", "FOO=1 exec git fetch"])), "git");
        assert_eq!(tool(&argv(&["env", "A=b", "cargo", "build"])), "cargo");
        assert_eq!(tool(&argv(&["bash"])), "bash");
        assert_eq!(tool(&[]), "");
    }

    #[test]
    fn exit_codes_read_with_the_shell_and_the_tool() {
        assert_eq!(
            features(Some(127), None, "sh", "command", false),
            ["exit:127"]
        );
        assert_eq!(
            features(Some(139), None, "sh", "command", false),
            ["exit:128+crash"]
        );
        assert_eq!(
            features(Some(7), None, "curl", "command", false),
            ["exit:other", "curl:7"]
        );
        assert_eq!(
            features(None, Some(libc::SIGSEGV), "a.out", "github", false),
            ["kind:ci-runner", "signal:crash"]
        );
        assert!(features(Some(0), None, "x", "command", false).is_empty());
    }
}
