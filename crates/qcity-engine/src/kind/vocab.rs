//! The words every kind's module speaks: what an output line says, what an exit means, how a
//! stop and a drain are asked for. The per-kind modules answer in these; `kind/mod.rs` asks them.

use qcity_types::Activity;

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

/// Reads `field=value` from a logfmt-style line (`job=1234 runner=ab12`).
pub(crate) fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|word| {
        word.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
            .map(|v| v.trim_matches('"'))
    })
}
