use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// File names inside a configuration directory.
pub const MANIFEST_FILE: &str = "runner_manifest.json";
pub const DEVICE_FILE: &str = "qcity-device-config.json";
pub const CLOUD_FILE: &str = "qmoi_cloud_config.json";

/// `runner_manifest.json`: the runners this engine supervises.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunnerManifest {
    /// Path or URL of this file's JSON Schema, for editors; ignored by QCity.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Runners, each with a unique name.
    #[serde(default)]
    pub runners: Vec<RunnerSpec>,
    /// Commands run on a schedule or on demand, one instance at a time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskSpec>,
    /// Commands with inputs and outputs that may run on this machine or elsewhere
    /// (`qmoi_cloud_config.json` says where).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<crate::offload::JobSpec>,
    /// This manifest's version: a fleet node refuses a published manifest that is not newer
    /// than the one it applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Fleet roles: a node's name (`*`: every node) to the capabilities it offers
    /// (`build-linux`, `gpu`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, Vec<String>>,
}

/// A task: a command run on a schedule (`every_ms` or `cron`) or on demand, one instance at
/// a time, with a timeout and retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Unique name: letters, digits, `-`, `_` and `.`, 1 to 64 characters.
    pub name: String,
    /// Program and arguments, as an argv array (no shell).
    pub command: Vec<String>,
    /// Working directory; relative paths are relative to the configuration directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<PathBuf>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// When it runs by itself; without one it runs only on demand (`qcity task run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<TaskSchedule>,
    /// Milliseconds a run may take before it is stopped (default 3 600 000).
    #[serde(default = "default_task_timeout")]
    pub timeout_ms: u64,
    /// Further attempts after a failed one (default 0).
    #[serde(default)]
    pub retries: u32,
    /// Delay before the first retry, doubled for each next one (default 1 000).
    #[serde(default = "default_retry_delay")]
    pub retry_delay_ms: u64,
    /// Programs that must be on PATH for the task to run (`docker`, `git`…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// Part of `qcity autotest`.
    #[serde(default)]
    pub autotest: bool,
}

fn default_task_timeout() -> u64 {
    3_600_000
}
fn default_retry_delay() -> u64 {
    1_000
}

/// Exactly one of `every_ms` and `cron`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSchedule {
    /// Run every this many milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_ms: Option<u64>,
    /// A five-field cron expression (`minute hour day-of-month month day-of-week`) in
    /// `timezone`, UTC by default (`0 3 * * *`: every day at 03:00). Names (`JAN`, `MON-FRI`)
    /// and `@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly` are accepted; as in Vixie
    /// cron, a day matches either day field when both are restricted, both when either
    /// begins with `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// The IANA time zone `cron` is read in (`Europe/Berlin`); UTC if absent. Only with
    /// `cron`. A time skipped by a daylight-saving jump runs at the first instant after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// One supervised program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunnerSpec {
    /// Unique name: letters, digits, `-`, `_` and `.`, 1 to 64 characters.
    pub name: String,
    /// What kind of runner this is: `command` (any program), or `github`, `gitlab`, `buildkite`
    /// (CI runners whose output, exit codes and signals QCity knows).
    #[serde(default)]
    pub kind: RunnerKind,
    /// The platform whose status page this runner depends on (an id of `platforms`: `github`,
    /// `gitlab`, … or a custom page); default: the kind's (`github` for GitHub runners,
    /// `gitlab` for GitLab ones, none otherwise). While it reports an outage, the healer
    /// waits instead of fixing this runner's network failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Program and arguments, as an argv array (no shell). `command[0]` is looked up in PATH.
    pub command: Vec<String>,
    /// Working directory; relative paths are relative to the configuration directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<PathBuf>,
    /// Extra environment variables, added to the engine's own environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Start this runner when the engine starts (default true).
    #[serde(default = "default_true")]
    pub autostart: bool,
    /// When and how fast to restart the runner after it exits.
    #[serde(default)]
    pub restart: RestartSpec,
    /// Milliseconds between SIGTERM to the runner's process group and SIGKILL.
    /// Defaults to the device config's `supervisor.stop_grace_ms` (10 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_ms: Option<u64>,
    /// Health checks of this runner; its health is the worst of theirs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeSpec>,
    /// Kind `github` only: install QCity's job-started hook (`ACTIONS_RUNNER_HOOK_JOB_STARTED`),
    /// so that before each job the runner asks QCity whether this runner and this machine are
    /// healthy, and a job on an unhealthy machine fails at once with the reason.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub job_started_hook: bool,
    /// What the healer may do to fix this runner, and your own healing rules.
    #[serde(default, skip_serializing_if = "HealSpec::is_empty")]
    pub heal: HealSpec,
}

/// How the healer may fix a runner. The built-in rules use these settings; a rule whose
/// setting is absent is skipped (and the failure escalated with the reason).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HealSpec {
    /// Caches the runner rebuilds by itself, inside its working dir (relative, no `..`):
    /// emptied on a full disk or a corrupted cache. Their contents are kept in the data dir
    /// until the fix is proven, then deleted, and put back if it did not help; on a full disk
    /// whose data dir is on the same filesystem they are deleted at once (the space is
    /// needed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache_dirs: Vec<PathBuf>,
    /// Installs the runner's dependencies (argv), run when a command or module is missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub install_command: Vec<String>,
    /// Updates the runner (argv), run when it says it is outdated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub update_command: Vec<String>,
    /// `host:port` that answers once the network is back. Without it the healer waits for
    /// the `host:port` the failing lines name (`ECONNREFUSED 10.0.0.5:5432`,
    /// `/dev/tcp/HOST/PORT`, `HOST port PORT`, a URL, `Could not resolve host: HOST` as
    /// HOST:443), and when they name none it pauses 5 s before the restart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_check: Option<String>,
    /// Environment variables set on the runner when it was killed for memory (SIGKILL,
    /// exit 137, `out of memory`) and is restarted, e.g. `{"MAKEFLAGS": "-j1"}` for less
    /// concurrency; its later runs keep them until the engine restarts or the runner is
    /// reloaded. Empty: a plain restart. Killed again within an hour of such a fix: escalated.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub low_memory_env: BTreeMap<String, String>,
    /// Milliseconds waited before the second fix tried on one failure, doubled before each
    /// next one (default 2 000), so that a cause that passes by itself (a service coming
    /// back) is not blamed on the next fix too.
    pub retry_backoff_ms: u64,
    /// Milliseconds a fix has to prove itself (default 30 000): the failed probe passes
    /// again, or the runner stays up that long without failing.
    pub validate_ms: u64,
    /// Your rules, tried before the built-in ones (and learned from the same way).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<HealRule>,
}

impl Default for HealSpec {
    fn default() -> Self {
        Self {
            cache_dirs: Vec::new(),
            install_command: Vec::new(),
            update_command: Vec::new(),
            network_check: None,
            low_memory_env: BTreeMap::new(),
            retry_backoff_ms: 2_000,
            validate_ms: 30_000,
            rules: Vec::new(),
        }
    }
}

impl HealSpec {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A healing rule: when a failure matches, these actions run in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealRule {
    /// Letters, digits, `-` and `_`; a built-in rule's name overrides that rule.
    pub name: String,
    /// Every condition given must hold; at least one is given.
    #[serde(rename = "match")]
    pub matches: HealMatch,
    pub actions: Vec<HealAction>,
}

/// What a failure must show for a rule to apply.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HealMatch {
    /// The runner exited with one of these codes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exit_codes: Vec<i32>,
    /// A signal killed it: one of these numbers (9 for SIGKILL).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<i32>,
    /// This probe of the runner is failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// A log line near the failure contains this text (case-insensitive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A log line near the failure matches this regular expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The runner is crash-looping (the supervisor's crash-loop detector fired), not just
    /// failing once.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub crash_loop: bool,
}

impl HealMatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One step of a fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HealAction {
    /// Restart the runner.
    Restart,
    /// Run this program (argv) in the runner's working dir; it must exit 0.
    Run(Vec<String>),
    /// Empty these directories (inside the working dir) as `heal.cache_dirs` are; undone
    /// if the fix fails.
    Clean(Vec<PathBuf>),
    /// Wait, with backoff, until `host:port` accepts a connection.
    WaitTcp(String),
    /// Wait, with backoff, until nothing listens on `host:port` any more (the holder of a
    /// port the runner needs is gone).
    WaitFree(String),
    /// Pause this many milliseconds.
    WaitMs(u64),
    /// Remove this lock file (inside the working dir, named `*.lock`) if it is provably
    /// stale: no process has it open, no process works in its repository, and it is older
    /// than 10 s. Refused otherwise.
    RemoveStaleLock(PathBuf),
    /// Set these environment variables on the runner's next runs (until the engine
    /// restarts or the runner is reloaded).
    Env(BTreeMap<String, String>),
    /// Stop trying: tell the master, with the diagnostics.
    Escalate,
}

/// A health check. Exactly one of `process`, `exec`, `http`, `tcp`, `log`, `runner` and `disk`
/// says what it checks; the other fields say how often and how many results make a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// Unique within the runner: letters, digits, `.`, `_` or `-`.
    pub name: String,
    /// Passes while the runner's process is running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessCheck>,
    /// Runs a command; passes when it exits with the expected code within the timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecCheck>,
    /// An HTTP GET (`http://` or `https://`); passes on the expected status (and body text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    /// Passes when a TCP connection to `address` opens within the timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    /// A regular expression on the runner's output lines within a time window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogCheck>,
    /// What the runner itself says (kind `github`/`gitlab`: not offline; `buildkite`: its
    /// health-check server answers, when it has one; any kind: its process runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<RunnerCheck>,
    /// Free space on the filesystem of a path (default: the runner's working dir).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskCheck>,
    /// Milliseconds between checks (default 10 000).
    #[serde(default = "default_probe_interval")]
    pub interval_ms: u64,
    /// Milliseconds a check may take (default 5 000).
    #[serde(default = "default_probe_timeout")]
    pub timeout_ms: u64,
    /// Consecutive failures that make the probe failing (default 3).
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// Consecutive successes that make a failing probe pass again (default 1).
    #[serde(default = "default_success_threshold")]
    pub success_threshold: u32,
    /// Milliseconds after the runner starts before results count (default 10 000).
    #[serde(default = "default_start_grace")]
    pub start_grace_ms: u64,
    /// A failing critical probe makes the runner unhealthy; a non-critical one, degraded.
    #[serde(default = "default_true")]
    pub critical: bool,
}

fn default_probe_interval() -> u64 {
    10_000
}
fn default_probe_timeout() -> u64 {
    5_000
}
fn default_failure_threshold() -> u32 {
    3
}
fn default_success_threshold() -> u32 {
    1
}
fn default_start_grace() -> u64 {
    10_000
}

/// `process: {}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessCheck {}

/// `exec: {command, expect_exit}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecCheck {
    /// Program and arguments, as an argv array; run in the runner's working dir and env.
    pub command: Vec<String>,
    /// The exit code that means healthy (default 0).
    #[serde(default)]
    pub expect_exit: i32,
}

/// `http: {url, status, body_contains, ca_file}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    /// `http://host:port/path` or `https://host:port/path`. Redirects are not followed: a
    /// redirect is the status it answers with.
    pub url: String,
    /// The expected status code (default 200).
    #[serde(default = "default_http_status")]
    pub status: u16,
    /// Text the response body must contain (searched in its first 64 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// A PEM file of CA certificates trusted for an `https://` URL on top of the system's
    /// roots (a service with a private authority); relative to the configuration directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

fn default_http_status() -> u16 {
    200
}

/// `tcp: {address}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    /// `host:port`.
    pub address: String,
}

/// `log: {pattern, window_ms, expect}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogCheck {
    /// A regular expression (Rust `regex` syntax) matched against each output line.
    pub pattern: String,
    /// How far back a match counts, in ms (default 60 000).
    #[serde(default = "default_log_window")]
    pub window_ms: u64,
    /// `absent` (default): failing while a line matched within the window (an error
    /// pattern). `present`: failing unless a line matched within the window (a heartbeat).
    #[serde(default)]
    pub expect: LogExpect,
}

fn default_log_window() -> u64 {
    60_000
}

/// `runner: {}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunnerCheck {}

/// `disk: {path, min_free_mb}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskCheck {
    /// The path whose filesystem is checked; relative paths are relative to the configuration
    /// directory (default: the runner's working dir, or the configuration directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Free space below this fails (default: the device config's `resources.min_free_disk_mb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_free_mb: Option<u64>,
}

/// Whether a log pattern is an error (`absent`) or a heartbeat (`present`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogExpect {
    #[default]
    Absent,
    Present,
}

/// What a probe checks, once validated: exactly one check.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeCheck<'a> {
    Process(&'a ProcessCheck),
    Exec(&'a ExecCheck),
    Http(&'a HttpCheck),
    Tcp(&'a TcpCheck),
    Log(&'a LogCheck),
    Runner(&'a RunnerCheck),
    Disk(&'a DiskCheck),
}

impl ProbeSpec {
    /// The checks this probe names (a valid probe names exactly one).
    pub fn checks(&self) -> Vec<ProbeCheck<'_>> {
        let mut v = Vec::new();
        if let Some(c) = &self.process {
            v.push(ProbeCheck::Process(c));
        }
        if let Some(c) = &self.exec {
            v.push(ProbeCheck::Exec(c));
        }
        if let Some(c) = &self.http {
            v.push(ProbeCheck::Http(c));
        }
        if let Some(c) = &self.tcp {
            v.push(ProbeCheck::Tcp(c));
        }
        if let Some(c) = &self.log {
            v.push(ProbeCheck::Log(c));
        }
        if let Some(c) = &self.runner {
            v.push(ProbeCheck::Runner(c));
        }
        if let Some(c) = &self.disk {
            v.push(ProbeCheck::Disk(c));
        }
        v
    }

    /// The one check of a validated probe.
    pub fn check(&self) -> ProbeCheck<'_> {
        self.checks()
            .into_iter()
            .next()
            .expect("validated probes name exactly one check")
    }
}

/// The kind of runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunnerKind {
    /// Any program; its state is its process state.
    #[default]
    Command,
    /// The GitHub Actions runner: `command` runs `bin/Runner.Listener run` (better than
    /// `run.sh`, which turns the listener's exit codes into 0). QCity follows its output
    /// (connected, listening, running a job, offline) and its exit codes: a deleted
    /// registration is not restarted but waits in `needs-registration`.
    Github,
    /// GitLab Runner: `command` runs `gitlab-runner run`. QCity follows its log lines (jobs
    /// received, succeeded or failed; checks for jobs failing); a pause sends SIGQUIT, which
    /// lets its jobs finish, and a stop sends SIGTERM to it alone, which aborts them.
    Gitlab,
    /// The Buildkite agent: `command` runs `buildkite-agent start`. A pause sends SIGTERM, which
    /// finishes the current job; a stop sends SIGQUIT to it alone, which cancels the job. With
    /// `--health-check-addr`, the `runner` probe asks its health-check server.
    Buildkite,
}

impl RunnerSpec {
    /// The platform this runner depends on: its own `platform`, or its kind's.
    pub fn platform(&self) -> Option<&str> {
        self.platform.as_deref().or(self.kind.platform())
    }
}

impl RunnerKind {
    /// The platform (its id in the status catalog) this kind of runner takes its jobs
    /// from: while that platform reports an outage, the healer waits instead of fixing.
    pub fn platform(self) -> Option<&'static str> {
        match self {
            RunnerKind::Github => Some("github"),
            RunnerKind::Gitlab => Some("gitlab"),
            // buildkite.com has a status page, but it is not in the catalog yet.
            RunnerKind::Buildkite | RunnerKind::Command => None,
        }
    }
}

/// When to restart a runner that exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Restart after every exit, clean or not.
    #[default]
    Always,
    /// Restart only after a non-zero exit code or a signal.
    OnFailure,
    /// Never restart.
    Never,
}

/// Restart policy with exponential backoff.
///
/// The n-th consecutive restart waits `delay_ms * factor^(n-1)`, capped at `max_delay_ms`, with
/// ±`jitter_percent` % random jitter. After `reset_after_ms` of uptime the count starts again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartSpec {
    /// always | on-failure | never.
    #[serde(default)]
    pub policy: RestartPolicy,
    /// Delay before the first restart, in ms (default 100).
    #[serde(default = "default_delay_ms")]
    pub delay_ms: u64,
    /// Cap of the delay, in ms (default 30 000). Must be >= `delay_ms`.
    #[serde(default = "default_max_delay_ms")]
    pub max_delay_ms: u64,
    /// Growth factor of the delay per consecutive restart (default 2.0, 1.0 to 10.0).
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// Random jitter applied to each delay, in percent (default 20, 0 to 100).
    #[serde(default = "default_jitter_percent")]
    pub jitter_percent: u8,
    /// Uptime after which the runner counts as stable and the backoff resets, in ms (default 30 000).
    #[serde(default = "default_reset_after_ms")]
    pub reset_after_ms: u64,
    /// Crash-loop detection; `null` turns it off. Default: 5 restarts within 60 s,
    /// cool-down 300 s.
    #[serde(default = "default_crash_loop")]
    pub crash_loop: Option<CrashLoopSpec>,
}

/// Crash-loop detection: `max_restarts` restarts within `window_ms` put the runner in
/// `crash-looping`; it is tried again after `cooldown_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrashLoopSpec {
    /// Restarts within the window that make a crash loop (default 5, at least 1).
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    /// Window in ms (default 60 000).
    #[serde(default = "default_window_ms")]
    pub window_ms: u64,
    /// Pause before the next attempt, in ms (default 300 000).
    #[serde(default = "default_cooldown_ms")]
    pub cooldown_ms: u64,
}

impl Default for RestartSpec {
    fn default() -> Self {
        Self {
            policy: RestartPolicy::default(),
            delay_ms: default_delay_ms(),
            max_delay_ms: default_max_delay_ms(),
            factor: default_factor(),
            jitter_percent: default_jitter_percent(),
            reset_after_ms: default_reset_after_ms(),
            crash_loop: default_crash_loop(),
        }
    }
}

impl Default for CrashLoopSpec {
    fn default() -> Self {
        Self {
            max_restarts: default_max_restarts(),
            window_ms: default_window_ms(),
            cooldown_ms: default_cooldown_ms(),
        }
    }
}

/// `qcity-device-config.json`: settings of this device.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Path or URL of this file's JSON Schema, for editors; ignored by QCity.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The local HTTP API.
    #[serde(default)]
    pub api: ApiSettings,
    /// Supervisor defaults for every runner.
    #[serde(default)]
    pub supervisor: SupervisorSettings,
    /// Thresholds of the machine's own health: disk, memory, load, battery.
    #[serde(default)]
    pub resources: ResourceSettings,
    /// Where QCity's own releases are and how they are trusted; absent: no self-update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateSettings>,
    /// The QI app's installer picker; absent: the picker is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installer: Option<InstallerSettings>,
    /// The healer: on, off, or dry run.
    #[serde(default)]
    pub healer: HealerSettings,
    /// Which notifications are shown.
    #[serde(default)]
    pub notifications: NotificationSettings,
    /// Scheduled backups of the store and the config (`qcity backup`); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSettings>,
    /// The status pages of the platforms the runners depend on (GitHub, GitLab, the clouds).
    #[serde(default)]
    pub platforms: PlatformSettings,
    /// The minisign public key (`RWQ…`) that signs the fleet's runner manifest; without it
    /// a node applies no manifest from the fleet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_manifest_key: Option<String>,
}

/// Which status pages the daemon polls, and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PlatformSettings {
    /// Poll at all (default true). Off: no request leaves the machine and nothing is logged.
    pub enabled: bool,
    /// Seconds between two polls of one page, with up to 10 % jitter (default 180; 60 to
    /// 3600). Errors back off, doubling up to 30 minutes.
    pub interval_seconds: u64,
    /// The built-in platforms to watch, by id (`github`, `gitlab`, `vercel`, `netlify`,
    /// `huggingface`, `gitpod`, `aws`, `gcp`, `azure`, `digitalocean`); absent: all of them,
    /// `[]`: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<Vec<String>>,
    /// More status pages, or a built-in one at another address (same `id`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<CustomPlatform>,
}

impl Default for PlatformSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_seconds: 180,
            watch: None,
            custom: Vec::new(),
        }
    }
}

/// The ids of the platforms QCity knows the status page of (`qcity-status`'s catalog).
pub const BUILTIN_PLATFORMS: [&str; 10] = [
    "github",
    "gitlab",
    "vercel",
    "netlify",
    "huggingface",
    "gitpod",
    "aws",
    "gcp",
    "azure",
    "digitalocean",
];

/// A status page by its address and format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomPlatform {
    /// Letters, digits, `-` and `_`; a built-in id replaces that platform's page.
    pub id: String,
    /// As shown (default: the built-in's name, or the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The page's format.
    pub provider: PlatformProvider,
    /// The machine-readable endpoint (`https://…/api/v2/summary.json`); `http://` only on
    /// loopback.
    pub url: String,
}

/// A status page's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PlatformProvider {
    /// Atlassian Statuspage v2 (`/api/v2/summary.json`).
    Statuspage,
    /// Status.io's public status API.
    StatusIo,
    /// Better Stack (`/index.json`).
    BetterStack,
    /// Google Cloud (`incidents.json`).
    Gcp,
    /// AWS Health (`public/currentevents`).
    Aws,
    /// Azure's status RSS feed.
    Azure,
}

/// Scheduled backups: one when the newest archive in `dir` is older than `every_minutes`
/// (so also one soon after start when there is none), the newest `keep` kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// Minutes between backups (default 1440: daily; 5 to 525600).
    #[serde(default = "default_backup_every_minutes")]
    pub every_minutes: u32,
    /// How many archives to keep, newest first (default 7, 1 to 1000); older ones are deleted.
    #[serde(default = "default_backup_keep")]
    pub keep: u32,
    /// Where the archives go (default: `backups` in the data dir); a relative path is taken
    /// from the configuration directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
}

fn default_backup_every_minutes() -> u32 {
    1440
}

fn default_backup_keep() -> u32 {
    7
}

/// Notifications, per channel.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationSettings {
    /// The tray app's desktop notifications, per severity.
    pub desktop: SeverityFilter,
    /// How notices for chat and mail channels are gathered into messages.
    pub grouping: GroupingSettings,
    /// Chat, mail and webhook channels (Slack, Discord, Telegram, WhatsApp, ntfy, email, a
    /// JSON webhook); none by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelSettings>,
}

/// Alertmanager's grouping, with its defaults: the first notice of a quiet channel waits
/// `wait_seconds` for the rest of its burst, news about a group that was already sent waits
/// `interval_seconds`, and failures still open are repeated every `repeat_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GroupingSettings {
    /// Seconds to gather a burst before its first message (default 30; 0 to 3600).
    pub wait_seconds: u64,
    /// Seconds between messages about the same open group (default 300; 1 to 86400).
    pub interval_seconds: u64,
    /// Seconds before failures still open are announced again (default 14400 = 4 h; at least
    /// `interval_seconds`, at most 604800).
    pub repeat_seconds: u64,
}

impl Default for GroupingSettings {
    fn default() -> Self {
        Self {
            wait_seconds: 30,
            interval_seconds: 300,
            repeat_seconds: 14_400,
        }
    }
}

/// One chat, mail or webhook channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// The channel's name (`qcity notify test NAME`): letters, digits, `-`, `_`.
    pub name: String,
    /// Apprise-style URL: `slack://{keyring://NAME}`, `discord://ID/{keyring://NAME}`,
    /// `tgram://{keyring://NAME}/CHAT_ID`, `mailto://USER:{env://NAME}@HOST:587/TO,TO?from=FROM`,
    /// `whatsapp://{keyring://NAME}@PHONE_ID/TO`, `ntfy://TOPIC`, `ntfys://HOST/TOPIC`,
    /// `json://HOST:PORT/PATH?secret={keyring://NAME}`. Secret parts are written as
    /// `{keyring://NAME}` (the OS keyring, `qcity secret set NAME`) or `{env://NAME}`; a literal
    /// secret works but is a warning.
    pub url: String,
    /// The service's base URL instead of its public one (`http://127.0.0.1:8080` for a
    /// relay or a test server, a self-hosted instance): `https://`, or `http://` on loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Which severities this channel gets (all by default).
    #[serde(default)]
    pub severities: SeverityFilter,
    /// Only notices about these runners (`*` matches any run of characters); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runners: Vec<String>,
    /// Only these kinds of notice; empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<qcity_types::NoticeKind>,
    /// Hours when only critical notices are sent; the rest wait and go out as one message
    /// when the quiet hours end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
}

/// A daily quiet time, `from` to `to` (`22:00` to `07:00` spans midnight).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`, 24-hour clock.
    pub from: String,
    /// `HH:MM`, 24-hour clock.
    pub to: String,
    /// An IANA time zone (`Europe/Paris`); absent: UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// On or off per severity (all on by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SeverityFilter {
    /// Recoveries ("fixed"), autotest results.
    pub info: bool,
    /// A runner failing, crash-looping, needing registration.
    pub error: bool,
    /// Escalations: something needs you.
    pub critical: bool,
}

impl Default for SeverityFilter {
    fn default() -> Self {
        Self {
            info: true,
            error: true,
            critical: true,
        }
    }
}

impl QuietHours {
    /// When the quiet hours that `now_ms` falls in end (ms), or `None` outside them. An empty
    /// span (`from` = `to`) is never quiet.
    pub fn until(&self, now_ms: i64) -> Option<i64> {
        use chrono::{TimeZone, Timelike};
        let from = crate::cron::clock_time(&self.from)?;
        let to = crate::cron::clock_time(&self.to)?;
        let tz = match &self.time_zone {
            Some(name) => crate::cron::time_zone(name).ok()?,
            None => chrono_tz::UTC,
        };
        let local = tz.timestamp_millis_opt(now_ms).single()?;
        let minute = local.hour() * 60 + local.minute();
        let quiet = if from <= to {
            (from..to).contains(&minute)
        } else {
            minute >= from || minute < to
        };
        if !quiet {
            return None;
        }
        // Minutes to the end, counted on the local clock; a DST change inside the span moves
        // the end by its hour, which a quiet time can bear.
        let left = (to + 1440 - minute) % 1440;
        let into_minute =
            i64::from(local.second()) * 1000 + i64::from(local.timestamp_subsec_millis());
        Some(now_ms + i64::from(left) * 60_000 - into_minute)
    }
}

/// The healer's switches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HealerSettings {
    /// Diagnose and fix failures (default true).
    pub enabled: bool,
    /// Diagnose and say what it would do, touching nothing (default false).
    pub dry_run: bool,
}

impl Default for HealerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            dry_run: false,
        }
    }
}

/// Where QCity's own releases are (`qcity update`) and how they are trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettings {
    /// The release manifest, in the Tauri updater's static JSON format: `https://…`,
    /// `http://` on loopback, or a path (relative to the configuration directory).
    pub manifest: String,
    /// The minisign public key that signs every release (the `RWQ…` line). A release's
    /// signature must also name its version in its trusted comment (`version:X.Y.Z`).
    pub public_key: String,
    /// PEM certificates to trust for `https://` instead of the public roots; relative to the
    /// configuration directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// An update is applied only after an autotest that passed within this many minutes
    /// (default 60); an older one is run again first.
    #[serde(default = "default_update_autotest_age")]
    pub max_autotest_age_minutes: u64,
    /// Seconds to wait for runners in a job to finish it before an update (default 600); then
    /// the update is called off and the runners resumed.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_seconds: u64,
    /// Seconds the new version has, from its start, to serve the API and pass its autotest
    /// (default 300); otherwise the previous version is started again.
    #[serde(default = "default_check_deadline")]
    pub check_deadline_seconds: u64,
    /// Starts the new version gets to pass its check (default 3): a version that crashes
    /// before passing is rolled back on the start after the last try.
    #[serde(default = "default_start_tries")]
    pub max_start_tries: u32,
}

impl UpdateSettings {
    /// The defaults, also what applies to an update under way when `update` is gone from
    /// the config.
    pub const MAX_AUTOTEST_AGE_MINUTES: u64 = 60;
    pub const DRAIN_TIMEOUT_SECONDS: u64 = 600;
    pub const CHECK_DEADLINE_SECONDS: u64 = 300;
    pub const MAX_START_TRIES: u32 = 3;

    /// A manifest and its key, every other setting at its default.
    pub fn new(manifest: impl Into<String>, public_key: impl Into<String>) -> Self {
        Self {
            manifest: manifest.into(),
            public_key: public_key.into(),
            ca_file: None,
            max_autotest_age_minutes: default_update_autotest_age(),
            drain_timeout_seconds: default_drain_timeout(),
            check_deadline_seconds: default_check_deadline(),
            max_start_tries: default_start_tries(),
        }
    }
}

fn default_update_autotest_age() -> u64 {
    UpdateSettings::MAX_AUTOTEST_AGE_MINUTES
}

fn default_drain_timeout() -> u64 {
    UpdateSettings::DRAIN_TIMEOUT_SECONDS
}

fn default_check_deadline() -> u64 {
    UpdateSettings::CHECK_DEADLINE_SECONDS
}

fn default_start_tries() -> u32 {
    UpdateSettings::MAX_START_TRIES
}

/// Where the QI app's releases are and how they are trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallerSettings {
    /// The release manifest: `https://…`, `http://` on loopback, or a path (relative to the
    /// configuration directory).
    pub manifest: String,
    /// The minisign public key that signs every release file (the `RWQ…` line).
    pub public_key: String,
    /// The latest `qcity autotest` must have passed within this many minutes (default 1440).
    #[serde(default = "default_autotest_age")]
    pub max_autotest_age_minutes: u64,
    /// PEM certificates to trust for `https://` instead of the public roots (a private
    /// mirror with its own authority); relative to the configuration directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

fn default_autotest_age() -> u64 {
    1440
}

/// Machine resources and the thresholds that make the machine unhealthy (disk, memory) or
/// degraded (load, battery).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceSettings {
    /// Milliseconds between readings (default 10 000).
    pub interval_ms: u64,
    /// Free space below this on the data dir or a runner's working dir: unhealthy (default 1024).
    pub min_free_disk_mb: u64,
    /// Available memory below this: unhealthy (default 256).
    pub min_free_memory_mb: u64,
    /// 1-minute load average per CPU above this: degraded (default 2.0).
    pub max_load_per_cpu: f64,
    /// Battery below this percentage while not on AC power: degraded (default 20).
    pub min_battery_percent: u8,
    /// Where the kernel's power-supply interface is (default `/sys/class/power_supply`).
    pub power_supply_root: PathBuf,
}

impl Default for ResourceSettings {
    fn default() -> Self {
        Self {
            interval_ms: 10_000,
            min_free_disk_mb: 1024,
            min_free_memory_mb: 256,
            max_load_per_cpu: 2.0,
            min_battery_percent: 20,
            power_supply_root: PathBuf::from("/sys/class/power_supply"),
        }
    }
}

/// The local HTTP API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Address to listen on (default `127.0.0.1`). Only loopback addresses are accepted.
    #[serde(default = "default_api_host")]
    pub host: String,
    /// TCP port (default 7717; 0 picks a free port, written to `daemon.json` in the data dir).
    #[serde(default = "default_api_port")]
    pub port: u16,
    /// How long a dashboard login lasts, in hours (default 12, 1 to 720).
    #[serde(default = "default_session_hours")]
    pub session_hours: u32,
    /// Host names the API answers to besides `127.0.0.1`, `localhost` and `[::1]`. Requests
    /// naming any other host are refused, which defeats DNS rebinding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
}

fn default_session_hours() -> u32 {
    12
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            host: default_api_host(),
            port: default_api_port(),
            session_hours: default_session_hours(),
            allowed_hosts: Vec::new(),
        }
    }
}

/// Supervisor defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupervisorSettings {
    /// Milliseconds between SIGTERM and SIGKILL when stopping a runner (default 10 000).
    #[serde(default = "default_stop_grace_ms")]
    pub stop_grace_ms: u64,
    /// Size at which a runner's log file is rotated, in bytes (default 10 MiB, at least 4096).
    #[serde(default = "default_log_max_bytes")]
    pub log_max_bytes: u64,
    /// Rotated log files kept per runner besides the current one (default 3).
    #[serde(default = "default_log_keep")]
    pub log_keep: u32,
    /// Bytes of each runner's latest output kept in memory for `qcity logs` (default 64 KiB).
    #[serde(default = "default_tail_bytes")]
    pub tail_bytes: u64,
}

impl Default for SupervisorSettings {
    fn default() -> Self {
        Self {
            stop_grace_ms: default_stop_grace_ms(),
            log_max_bytes: default_log_max_bytes(),
            log_keep: default_log_keep(),
            tail_bytes: default_tail_bytes(),
        }
    }
}

/// Everything loaded from one configuration directory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub dir: PathBuf,
    pub manifest: RunnerManifest,
    pub device: DeviceConfig,
    pub cloud: crate::offload::CloudConfig,
    /// What works as written but should not stay so (a literal secret), placed like errors.
    pub warnings: Vec<crate::ConfigError>,
}

impl Config {
    /// The stop grace period of `runner`, falling back to the device default.
    pub fn stop_grace_ms(&self, runner: &RunnerSpec) -> u64 {
        runner
            .stop_grace_ms
            .unwrap_or(self.device.supervisor.stop_grace_ms)
    }

    /// A job's directory: relative to the config dir, the config dir by default.
    pub fn job_dir(&self, job: &crate::offload::JobSpec) -> PathBuf {
        self.working_dir(job.working_dir.as_deref())
    }

    /// Where a runner or task with this `working_dir` runs: relative to the config dir, and
    /// the config dir itself by default.
    pub fn working_dir(&self, working_dir: Option<&std::path::Path>) -> PathBuf {
        match working_dir {
            Some(dir) => self.dir.join(dir),
            None => self.dir.clone(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_delay_ms() -> u64 {
    100
}
fn default_max_delay_ms() -> u64 {
    30_000
}
fn default_factor() -> f64 {
    2.0
}
fn default_jitter_percent() -> u8 {
    20
}
fn default_reset_after_ms() -> u64 {
    30_000
}
fn default_crash_loop() -> Option<CrashLoopSpec> {
    Some(CrashLoopSpec::default())
}
fn default_max_restarts() -> u32 {
    5
}
fn default_window_ms() -> u64 {
    60_000
}
fn default_cooldown_ms() -> u64 {
    300_000
}
fn default_api_host() -> String {
    "127.0.0.1".to_string()
}
fn default_api_port() -> u16 {
    7717
}
fn default_stop_grace_ms() -> u64 {
    10_000
}
fn default_log_max_bytes() -> u64 {
    10 * 1024 * 1024
}
fn default_log_keep() -> u32 {
    3
}
fn default_tail_bytes() -> u64 {
    64 * 1024
}
