//! Offload: the manifest's `jobs` and `qmoi_cloud_config.json` (where jobs may run, how the
//! place is chosen, the object store of artifacts and caches).

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A job: a command with inputs and outputs that may run on this machine or elsewhere
/// (`qcity job run NAME`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Unique name: letters, digits, `-`, `_` and `.`, 1 to 64 characters.
    pub name: String,
    /// Program and arguments, as an argv array (no shell), run in the job's directory.
    pub command: Vec<String>,
    /// The job's directory here; relative paths are relative to the configuration directory.
    /// Inputs, artifacts and cache paths are relative to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<PathBuf>,
    /// Extra environment variables (not secrets: they travel with the job).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Whether it may run elsewhere: `never`, `auto` (the cloud config's mode decides, the
    /// default) or `always` (never on this machine while a remote target is up).
    #[serde(default)]
    pub offload: OffloadPolicy,
    /// Files and directories (relative) sent with the job to an SSH host, and `git:REV`: the
    /// files of that commit of the repository the job's directory is in (`git archive`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// Globs (relative) of the files brought back, each with its SHA-256.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<String>,
    /// A cache restored before the command and saved after it succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheSpec>,
    /// Milliseconds a run may take before it is stopped (default 3 600 000).
    #[serde(default = "default_job_timeout")]
    pub timeout_ms: u64,
    /// On the fleet: the capability a node needs to take the job (`build-mac`; default
    /// `any`, which every node has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    /// On the fleet: capabilities tried in order when no live node has `capability`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback: Vec<String>,
}

fn default_job_timeout() -> u64 {
    3_600_000
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OffloadPolicy {
    Never,
    #[default]
    Auto,
    Always,
}

/// A cache with the semantics of actions/cache: the key is `key` followed by the SHA-256 of
/// `key_files`; restore tries the exact key, then each of `restore_keys` as a prefix, the
/// newest match winning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// Directories (relative) saved and restored.
    pub paths: Vec<String>,
    /// The key's fixed part, e.g. `npm-linux-`.
    pub key: String,
    /// Files (relative; lockfiles) whose contents make the key's hashed part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_files: Vec<String>,
    /// Prefixes tried in order when the exact key is missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore_keys: Vec<String>,
}

/// `qmoi_cloud_config.json`: where jobs may run and how the place is chosen. The file may be
/// absent: jobs then run here.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudConfig {
    /// Path or URL of this file's JSON Schema, for editors; ignored by QCity.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// `local-first` (remote only when this machine cannot), `auto` (remote when this
    /// machine is short of power or resources, the default) or `cloud-first`.
    #[serde(default)]
    pub mode: OffloadMode,
    /// When `auto` counts this machine as short.
    #[serde(default)]
    pub placement: PlacementSettings,
    /// Remote places a job may run, in the order of preference among equals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetSpec>,
    /// Retries of a failed placement, on the next target, with exponential backoff.
    #[serde(default)]
    pub retries: OffloadRetries,
    /// Where artifacts and caches are kept.
    #[serde(default)]
    pub store: StoreSettings,
    /// Several QCity machines sharing jobs over NATS JetStream; absent: nothing about NATS is
    /// loaded or needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetSettings>,
}

/// This machine in a fleet: the NATS servers, how it is known, how much it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetSettings {
    /// NATS servers with JetStream: `nats://HOST:PORT` on loopback, `tls://HOST:PORT`
    /// anywhere.
    pub servers: Vec<String>,
    /// Where the server's token is: `keyring://NAME` or `env://NAME` (none: no token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// This node's name in the fleet (default: the host name); its capabilities are the
    /// runner manifest's `roles` for this name and for `*`, and `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Fleet jobs this node runs at once (default 2; 0: it only sends jobs).
    #[serde(default = "default_fleet_slots")]
    pub max_jobs: u32,
    /// Seconds without a progress ack before a job is given to another node (default 30).
    #[serde(default = "default_ack_wait")]
    pub ack_wait_seconds: u64,
    /// Deliveries of one job before it is given up and escalated (default 5).
    #[serde(default = "default_max_deliver")]
    pub max_deliver: u32,
    /// Seconds between this node's heartbeats; a node unseen for three is gone (default 5).
    #[serde(default = "default_heartbeat")]
    pub heartbeat_seconds: u64,
    /// Seconds a job waits for a live node with its capability (or a fallback) before the
    /// next place is tried (default 120).
    #[serde(default = "default_fleet_wait")]
    pub wait_seconds: u64,
}

fn default_fleet_slots() -> u32 {
    2
}
fn default_ack_wait() -> u64 {
    30
}
fn default_max_deliver() -> u32 {
    5
}
fn default_heartbeat() -> u64 {
    5
}
fn default_fleet_wait() -> u64 {
    120
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OffloadMode {
    LocalFirst,
    #[default]
    Auto,
    CloudFirst,
}

/// The thresholds under which `auto` sends a job elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PlacementSettings {
    /// On battery (no mains adapter online) below this charge, in percent (default 50).
    pub min_battery_percent: u8,
    /// 1-minute load average per CPU above this (default 1.5).
    pub max_load_per_cpu: f64,
    /// Available memory below this, in MiB (default 1024).
    pub min_free_memory_mb: u64,
    /// Free space in the job's directory below this, in MiB (default 2048).
    pub min_free_disk_mb: u64,
}

impl Default for PlacementSettings {
    fn default() -> Self {
        PlacementSettings {
            min_battery_percent: 50,
            max_load_per_cpu: 1.5,
            min_free_memory_mb: 1024,
            min_free_disk_mb: 2048,
        }
    }
}

/// How often and how patiently a job is retried on the next target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OffloadRetries {
    /// Placements tried in all, the first included (default 3).
    pub attempts: u32,
    /// Delay before the second placement, doubled for each next one (default 2 000).
    pub delay_ms: u64,
    /// The longest delay (default 60 000).
    pub max_delay_ms: u64,
}

impl Default for OffloadRetries {
    fn default() -> Self {
        OffloadRetries {
            attempts: 3,
            delay_ms: 2_000,
            max_delay_ms: 60_000,
        }
    }
}

/// A remote target: exactly one of `ssh` and `github`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Unique name: letters, digits, `-`, `_` and `.` (`--where ssh:NAME`).
    pub name: String,
    /// A host reached over SSH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshTarget>,
    /// A GitHub Actions workflow started by `workflow_dispatch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<GithubTarget>,
    /// Jobs it runs at once (default 2).
    #[serde(default = "default_target_slots")]
    pub max_jobs: u32,
}

fn default_target_slots() -> u32 {
    2
}

/// A host reached with the system's `ssh`: keys from the user's agent or `identity_file`,
/// never a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SshTarget {
    /// Host name or address.
    pub host: String,
    /// TCP port (default 22).
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    /// User to log in as (default: ssh's own choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Private key file (relative to the configuration directory); without one, the agent's
    /// keys and ssh's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    /// known_hosts file to check the host key against (default ssh's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<PathBuf>,
    /// `strict` (an unknown or changed host key is refused, the default) or `accept-new`
    /// (an unknown key is recorded, a changed one refused).
    #[serde(default)]
    pub host_key_check: HostKeyCheck,
    /// Directory on the host where jobs run: relative to the login's home, or absolute
    /// (default `.cache/qcity/jobs`).
    #[serde(default = "default_remote_dir")]
    pub remote_dir: String,
    /// Seconds to wait for the connection (default 10).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_seconds: u64,
}

fn default_ssh_port() -> u16 {
    22
}
fn default_remote_dir() -> String {
    ".cache/qcity/jobs".into()
}
fn default_connect_timeout() -> u64 {
    10
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyCheck {
    #[default]
    Strict,
    AcceptNew,
}

/// A workflow of a GitHub repository that takes `correlation_id` and `job` inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubTarget {
    /// `OWNER/REPO`.
    pub repo: String,
    /// The workflow's file name (`offload.yml`) or id.
    pub workflow: String,
    /// Branch or tag the workflow runs on (default `main`).
    #[serde(rename = "ref", default = "default_git_ref")]
    pub git_ref: String,
    /// Where the token is: `keyring://NAME` or `env://NAME` (default `env://GITHUB_TOKEN`).
    #[serde(default = "default_github_token")]
    pub token: String,
    /// The REST API's root (default `https://api.github.com`; `http://` only on loopback).
    #[serde(default = "default_github_api")]
    pub api_url: String,
    /// Seconds between status polls (default 5).
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: u64,
}

fn default_git_ref() -> String {
    "main".into()
}
fn default_github_token() -> String {
    "env://GITHUB_TOKEN".into()
}
fn default_github_api() -> String {
    "https://api.github.com".into()
}
fn default_poll_seconds() -> u64 {
    5
}

/// The object store of artifacts and caches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `s3://BUCKET[/PREFIX]`; without one, a directory in the data dir (`DATA/store`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The S3 endpoint (`https://…`, `http://` only on loopback); default AWS's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The S3 region (default `us-east-1`).
    pub region: String,
    /// Where the access key id is: `keyring://NAME` or `env://NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Where the secret access key is: `keyring://NAME` or `env://NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// The caches' total size; the least recently used are removed above it (default 2048).
    pub cache_max_mb: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            url: None,
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: None,
            secret_access_key: None,
            cache_max_mb: 2048,
        }
    }
}

impl TargetSpec {
    /// `ssh:NAME` or `github:NAME`, as `--where` names it.
    pub fn place(&self) -> String {
        let kind = if self.github.is_some() {
            "github"
        } else {
            "ssh"
        };
        format!("{kind}:{}", self.name)
    }
}
