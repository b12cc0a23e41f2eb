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
}

/// One supervised program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunnerSpec {
    /// Unique name: letters, digits, `-`, `_` and `.`, 1 to 64 characters.
    pub name: String,
    /// What kind of runner this is: `command` (any program) or `github` (the GitHub Actions
    /// runner, whose output and exit codes QCity reads).
    #[serde(default)]
    pub kind: RunnerKind,
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
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            host: default_api_host(),
            port: default_api_port(),
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

/// `qmoi_cloud_config.json`: executors and the object store arrive in later versions; today
/// the file may be absent or `{}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudConfig {
    /// Path or URL of this file's JSON Schema, for editors; ignored by QCity.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

/// Everything loaded from one configuration directory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub dir: PathBuf,
    pub manifest: RunnerManifest,
    pub device: DeviceConfig,
    pub cloud: CloudConfig,
}

impl Config {
    /// The stop grace period of `runner`, falling back to the device default.
    pub fn stop_grace_ms(&self, runner: &RunnerSpec) -> u64 {
        runner
            .stop_grace_ms
            .unwrap_or(self.device.supervisor.stop_grace_ms)
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
