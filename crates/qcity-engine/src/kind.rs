//! Runner kinds: what a runner's output lines and exit codes mean, how it is stopped and how
//! it is drained. The per-kind facts are in `github`, `gitlab` and `buildkite`; this module is
//! the one place the supervisor asks, so it never matches on a kind itself.

use qcity_config::RunnerKind;
use serde::{Deserialize, Serialize};

/// Reads one line of a runner's output.
pub type LineParser = fn(&str) -> Option<LineEvent>;

/// What one output line of a runner says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    Connected,
    Listening,
    JobStarted {
        job: String,
    },
    JobCompleted {
        job: String,
        result: String,
    },
    ConnectionLost {
        message: String,
    },
    Reconnected,
    /// The registration was deleted on the server; restarting cannot help.
    RegistrationDeleted,
    /// The runner directory holds no registration (`config.sh` never ran, or its files went).
    NotConfigured,
    /// Another listener holds this registration's session.
    SessionConflict,
    /// A self-update started; the listener will exit with code 3 or 4.
    Updating,
    /// The runner refuses to start for a reason that a restart does not change.
    StartupFailed {
        message: String,
    },
}

/// What the runner is doing, as far as its output tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "activity", rename_all = "kebab-case")]
pub enum Activity {
    /// Started, not yet connected.
    Connecting,
    /// Connected and waiting for a job.
    Listening,
    /// Running a job.
    RunningJob { job: String },
    /// The last job ended with this result, and no new `Listening for Jobs` line came yet.
    JobCompleted { job: String, result: String },
    /// Lost its connection and retrying.
    Offline { reason: String },
    /// Updating itself.
    Updating,
}

impl LineEvent {
    /// The activity this signal moves the runner to, if it moves it.
    pub fn activity(&self) -> Option<Activity> {
        Some(match self {
            Self::Connected | Self::Reconnected | Self::Listening => Activity::Listening,
            Self::JobStarted { job } => Activity::RunningJob { job: job.clone() },
            Self::JobCompleted { job, result } => Activity::JobCompleted {
                job: job.clone(),
                result: result.clone(),
            },
            Self::ConnectionLost { message } => Activity::Offline {
                reason: message.clone(),
            },
            Self::Updating => Activity::Updating,
            Self::RegistrationDeleted
            | Self::NotConfigured
            | Self::SessionConflict
            | Self::StartupFailed { .. } => return None,
        })
    }
}

/// Output signals that decide what an exit means, since the last spawn.
#[derive(Debug, Default, Clone)]
pub struct Said {
    pub registration_deleted: bool,
    pub not_configured: bool,
    pub startup_failed: Option<String>,
}

impl Said {
    pub fn note(&mut self, event: &LineEvent) {
        match event {
            LineEvent::RegistrationDeleted => self.registration_deleted = true,
            LineEvent::NotConfigured => self.not_configured = true,
            LineEvent::StartupFailed { message } => self.startup_failed = Some(message.clone()),
            _ => {}
        }
    }
}

/// What to do when the runner exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitVerdict {
    /// Let the restart policy decide (retryable errors, updates, success).
    Policy,
    /// Do not restart: it must be registered again. `reason` says why.
    NeedsRegistration { reason: String, advice: String },
    /// Do not restart, and tell the master: restarting cannot fix this.
    Stop { reason: String, advice: String },
}

/// How a pause lets the work in hand finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Nothing to finish: stop at once (`command`).
    Stop,
    /// Wait for the output's job-completion line, then stop (`github`, whose listener has no
    /// drain signal).
    UntilJobEnds,
    /// Send this signal to the runner's own process; it finishes its jobs and exits by itself
    /// (`gitlab`: SIGQUIT, `buildkite`: SIGTERM).
    Signal(i32),
}

/// How a stop asks the runner to end, before SIGKILL after the grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopSignal {
    pub signal: i32,
    /// To the whole process group, or to the runner's own process only (which then stops its
    /// jobs its own way, as an agent that cancels jobs cleanly does).
    pub group: bool,
}

/// The parser of a kind's output lines; `None` for kinds whose output says nothing to QCity.
pub fn parser(kind: RunnerKind) -> Option<LineParser> {
    match kind {
        RunnerKind::Command => None,
        RunnerKind::Github => Some(crate::github::parse),
        RunnerKind::Gitlab => Some(crate::gitlab::parse),
        RunnerKind::Buildkite => Some(crate::buildkite::parse),
    }
}

/// What an exit with `code` means, given what the runner said before it.
pub fn exit_verdict(kind: RunnerKind, code: Option<i32>, said: &Said) -> ExitVerdict {
    match kind {
        RunnerKind::Command | RunnerKind::Gitlab => ExitVerdict::Policy,
        RunnerKind::Github => crate::github::exit_verdict(code, said),
        RunnerKind::Buildkite => crate::buildkite::exit_verdict(code, said),
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
    env: &[(std::ffi::OsString, std::ffi::OsString)],
) -> Option<String> {
    match kind {
        RunnerKind::Buildkite => crate::buildkite::health_check_addr(
            argv,
            env.iter()
                .filter_map(|(k, v)| Some((k.to_str()?, v.to_str()?))),
        ),
        RunnerKind::Command | RunnerKind::Github | RunnerKind::Gitlab => None,
    }
}

/// How long a non-sticky offline line counts.
pub const OFFLINE_WINDOW_MS: i64 = 30_000;

/// Reads `field=value` from a logfmt-style line (`job=1234 runner=ab12`).
pub(crate) fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|word| {
        word.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
            .map(|v| v.trim_matches('"'))
    })
}
