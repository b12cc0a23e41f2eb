//! Runner kinds: what a runner's output lines and exit codes mean, how it is stopped and how
//! it is drained. The per-kind facts are in `github`, `gitlab` and `buildkite`; this module is
//! the one place the supervisor asks, so it never matches on a kind itself.

pub mod buildkite;
pub mod github;
pub mod gitlab;
pub mod job_hook;
mod vocab;

use qcity_config::RunnerKind;

pub use vocab::{Drain, ExitVerdict, LineEvent, LineParser, Said, StopSignal};

/// The parser of a kind's output lines; `None` for kinds whose output says nothing to QCity.
pub fn parser(kind: RunnerKind) -> Option<LineParser> {
    match kind {
        RunnerKind::Command => None,
        RunnerKind::Github => Some(github::parse),
        RunnerKind::Gitlab => Some(gitlab::parse),
        RunnerKind::Buildkite => Some(buildkite::parse),
    }
}

/// What an exit with `code` means, given what the runner said before it.
pub fn exit_verdict(kind: RunnerKind, code: Option<i32>, said: &Said) -> ExitVerdict {
    match kind {
        RunnerKind::Command | RunnerKind::Gitlab => ExitVerdict::Policy,
        RunnerKind::Github => github::exit_verdict(code, said),
        RunnerKind::Buildkite => buildkite::exit_verdict(code, said),
    }
}

pub fn drain(kind: RunnerKind) -> Drain {
    match kind {
        RunnerKind::Command => Drain::Stop,
        RunnerKind::Github => Drain::UntilJobEnds,
        // gitlab-runner: SIGQUIT finishes the running jobs, then exits.
        RunnerKind::Gitlab => Drain::Signal(libc::SIGQUIT),
        // buildkite-agent: SIGTERM finishes the current job, then disconnects.
        RunnerKind::Buildkite => Drain::Signal(libc::SIGTERM),
    }
}

pub fn stop_signal(kind: RunnerKind) -> StopSignal {
    match kind {
        RunnerKind::Command | RunnerKind::Github => StopSignal {
            signal: libc::SIGTERM,
            group: true,
        },
        // gitlab-runner aborts its jobs on SIGTERM; SIGQUIT would wait for them.
        RunnerKind::Gitlab => StopSignal {
            signal: libc::SIGTERM,
            group: false,
        },
        // buildkite-agent waits for the job on SIGTERM; SIGQUIT cancels it and disconnects.
        RunnerKind::Buildkite => StopSignal {
            signal: libc::SIGQUIT,
            group: false,
        },
    }
}

/// Whether an `Offline` activity holds until the output says it reconnected. GitLab Runner
/// prints nothing when a poll succeeds without a job, so its offline lines count only while
/// they keep coming (it repeats them every `check_interval`, 3 s by default).
pub fn offline_is_sticky(kind: RunnerKind) -> bool {
    kind != RunnerKind::Gitlab
}

/// The `host:port` of the runner's own health-check server, if its kind has one and it is
/// turned on (a Buildkite agent with `--health-check-addr`).
pub fn health_server(
    kind: RunnerKind,
    argv: &[String],
    env: &[crate::supervisor::spawn::EnvVar],
) -> Option<String> {
    match kind {
        RunnerKind::Buildkite => buildkite::health_check_addr(
            argv,
            env.iter()
                .filter_map(|(k, v)| Some((k.to_str()?, v.to_str()?))),
        ),
        RunnerKind::Command | RunnerKind::Github | RunnerKind::Gitlab => None,
    }
}

/// How long a non-sticky offline line counts.
pub const OFFLINE_WINDOW_MS: i64 = 30_000;
