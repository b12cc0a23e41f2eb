//! Health probes: one task per probe, checking on its interval while its runner runs, turning
//! results into a passing/failing verdict with thresholds, and publishing each change.
//!
//! Only changes are events (`probe-changed`): a probe that keeps passing costs no store write.
//! The latest result of every probe is in the status table.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use qcity_config::{LogExpect, ProbeCheck, ProbeSpec, RunnerKind};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::bus::Bus;
use crate::clock::now_ms;
use crate::event::{EventKind, RunnerState};
use crate::kind::Activity;
use crate::output::RunnerOutput;
use crate::runner::RunnerPlan;
use crate::status::StatusTable;

/// A probe's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeState {
    /// No verdict yet (runner not running, in its start grace, or below the thresholds).
    Pending,
    Passing,
    Failing,
}

/// A probe's latest verdict and result, as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeStatus {
    pub name: String,
    pub state: ProbeState,
    pub critical: bool,
    /// What the last check found (`status 200`, `connection refused`…).
    pub detail: String,
    /// When it was last checked, ms since the epoch (0: never).
    pub checked_ms: i64,
}

/// A runner's health: the worst of its probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    Healthy,
    /// A non-critical probe fails.
    Degraded,
    /// A critical probe fails.
    Unhealthy,
}

/// The health of a set of probe verdicts; `None` without probes.
pub fn health_of(probes: &[ProbeStatus]) -> Option<Health> {
    if probes.is_empty() {
        return None;
    }
    Some(
        probes
            .iter()
            .map(|p| match (p.state, p.critical) {
                (ProbeState::Failing, true) => Health::Unhealthy,
                (ProbeState::Failing, false) => Health::Degraded,
                _ => Health::Healthy,
            })
            .max()
            .unwrap_or(Health::Healthy),
    )
}

/// What a probe task needs from the engine.
#[derive(Clone)]
pub struct ProbeContext {
    pub bus: Arc<Bus>,
    pub status: Arc<StatusTable>,
    pub output: Arc<RunnerOutput>,
}

/// Starts one task per probe of `plan`; they end when the handles are aborted.
pub fn spawn_probes(plan: &RunnerPlan, ctx: &ProbeContext) -> Vec<JoinHandle<()>> {
    // One copy of the plan (its environment is most of it) shared by the runner's probes.
    let shared = Arc::new(plan.clone());
    plan.probes
        .iter()
        .map(|spec| {
            ctx.status.set_probe(
                &plan.name,
                ProbeStatus {
                    name: spec.name.clone(),
                    state: ProbeState::Pending,
                    critical: spec.critical,
                    detail: String::new(),
                    checked_ms: 0,
                },
            );
            tokio::spawn(run(shared.clone(), spec.clone(), ctx.clone()))
        })
        .collect()
}

/// An interval whose ticks fall on multiples of `period` since a fixed origin, so that every
/// probe with the same interval runs in one burst: one wake-up of the engine per period
/// instead of one per probe (600 probes at 5 s would otherwise wake it 120 times a second).
pub fn aligned_interval(period: Duration) -> tokio::time::Interval {
    static ORIGIN: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(tokio::time::Instant::now);
    let now = tokio::time::Instant::now();
    let period_ns = period.as_nanos().max(1);
    let since = now.duration_since(origin).as_nanos();
    let next = origin + Duration::from_nanos(((since / period_ns + 1) * period_ns) as u64);
    let mut ticker = tokio::time::interval_at(next, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

/// Consecutive results, and the verdict they make.
struct Verdict {
    state: ProbeState,
    passes: u32,
    fails: u32,
}

impl Verdict {
    fn pending() -> Verdict {
        Verdict {
            state: ProbeState::Pending,
            passes: 0,
            fails: 0,
        }
    }

    fn record(&mut self, ok: bool, spec: &ProbeSpec) -> bool {
        if ok {
            self.passes += 1;
            self.fails = 0;
        } else {
            self.fails += 1;
            self.passes = 0;
        }
        let next = match self.state {
            _ if !ok && self.fails >= spec.failure_threshold => ProbeState::Failing,
            ProbeState::Failing if ok && self.passes >= spec.success_threshold => {
                ProbeState::Passing
            }
            ProbeState::Pending if ok => ProbeState::Passing,
            s => s,
        };
        let changed = next != self.state;
        self.state = next;
        changed
    }
}

async fn run(plan: Arc<RunnerPlan>, spec: ProbeSpec, ctx: ProbeContext) {
    let log = match spec.check() {
        ProbeCheck::Log(check) => Some(LogWatch::start(&ctx.output, &check.pattern)),
        _ => None,
    };
    let mut ticker = aligned_interval(Duration::from_millis(spec.interval_ms));
    let mut verdict = Verdict::pending();
    loop {
        ticker.tick().await;
        let since = match ctx.status.state(&plan.name) {
            Some(RunnerState::Running { since_ms, .. }) => since_ms,
            _ => {
                // A runner that is not running has no service to check; the verdict starts
                // again when it runs.
                if verdict.state != ProbeState::Pending {
                    verdict = Verdict::pending();
                    update(
                        &ctx,
                        &plan,
                        &spec,
                        &verdict,
                        "runner not running".into(),
                        false,
                    );
                }
                continue;
            }
        };
        if now_ms() - since < spec.start_grace_ms as i64 {
            continue;
        }
        let timeout = Duration::from_millis(spec.timeout_ms);
        let result =
            match tokio::time::timeout(timeout, check(&plan, &spec, log.as_ref(), &ctx.status))
                .await
            {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} ms", spec.timeout_ms)),
            };
        let ok = result.is_ok();
        let detail = result.unwrap_or_else(|e| e);
        let changed = verdict.record(ok, &spec);
        update(&ctx, &plan, &spec, &verdict, detail, changed);
    }
}

fn update(
    ctx: &ProbeContext,
    plan: &RunnerPlan,
    spec: &ProbeSpec,
    verdict: &Verdict,
    detail: String,
    changed: bool,
) {
    ctx.status.set_probe(
        &plan.name,
        ProbeStatus {
            name: spec.name.clone(),
            state: verdict.state,
            critical: spec.critical,
            detail: detail.clone(),
            checked_ms: now_ms(),
        },
    );
    if changed {
        ctx.bus.publish(EventKind::ProbeChanged {
            runner: plan.name.clone(),
            probe: spec.name.clone(),
            state: verdict.state,
            detail,
        });
    }
}

/// One check now, as `qcity autotest` runs it: no thresholds, no start grace. A `process`
/// probe passes while the runner runs; a `log` probe reports the verdict its running task
/// holds (a window of output cannot be judged in one look).
pub async fn check_once(
    plan: &RunnerPlan,
    spec: &ProbeSpec,
    status: &StatusTable,
) -> Result<String, String> {
    let running = matches!(status.state(&plan.name), Some(RunnerState::Running { .. }));
    match spec.check() {
        ProbeCheck::Process(_) if !running => Err("the runner is not running".into()),
        ProbeCheck::Log(_) => {
            let current = status
                .snapshot_of(&plan.name)
                .and_then(|s| s.probes.into_iter().find(|p| p.name == spec.name));
            match current {
                Some(p) if p.state == ProbeState::Failing => Err(p.detail),
                Some(p) if p.state == ProbeState::Passing => Ok(p.detail),
                _ => Ok("no verdict yet".into()),
            }
        }
        _ => {
            let timeout = Duration::from_millis(spec.timeout_ms);
            match tokio::time::timeout(timeout, check(plan, spec, None, status)).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} ms", spec.timeout_ms)),
            }
        }
    }
}

/// One check: `Ok(what it found)` or `Err(why it failed)`.
async fn check(
    plan: &RunnerPlan,
    spec: &ProbeSpec,
    log: Option<&LogWatch>,
    status: &StatusTable,
) -> Result<String, String> {
    match spec.check() {
        ProbeCheck::Runner(_) => runner_check(plan, status).await,
        ProbeCheck::Disk(disk) => {
            let path = disk.path.as_deref().unwrap_or(Path::new("."));
            let min = disk.min_free_mb.unwrap_or(0);
            match crate::resources::free_disk_mb(path) {
                None => Err(format!("cannot read the free space of {}", path.display())),
                Some(free) if free < min => Err(format!(
                    "{free} MB free on {}, below {min} MB",
                    path.display()
                )),
                Some(free) => Ok(format!("{free} MB free on {}", path.display())),
            }
        }
        // The caller only checks while the runner is running.
        ProbeCheck::Process(_) => Ok("running".into()),
        ProbeCheck::Exec(exec) => {
            let mut cmd = tokio::process::Command::new(&exec.command[0]);
            cmd.args(&exec.command[1..])
                .env_clear()
                .envs(plan.env.iter().map(|(k, v)| (k, v)))
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true);
            if let Some(dir) = &plan.cwd {
                cmd.current_dir(dir);
            }
            let status = cmd
                .status()
                .await
                .map_err(|e| format!("cannot run `{}`: {e}", exec.command[0]))?;
            match status.code() {
                Some(code) if code == exec.expect_exit => Ok(format!("exit {code}")),
                Some(code) => Err(format!("exit {code}, expected {}", exec.expect_exit)),
                None => Err("killed by a signal".into()),
            }
        }
        ProbeCheck::Http(http) => {
            let (host, port, path) = qcity_config::probe_target::parse_http_url(&http.url)?;
            let (status, body) = http_get(&host, port, &path).await?;
            if status != http.status {
                return Err(format!("status {status}, expected {}", http.status));
            }
            if let Some(text) = &http.body_contains
                && !body.contains(text.as_str())
            {
                return Err(format!("status {status}, but the body lacks `{text}`"));
            }
            Ok(format!("status {status}"))
        }
        ProbeCheck::Tcp(tcp) => {
            let (host, port) = qcity_config::probe_target::parse_host_port(&tcp.address)?;
            tokio::net::TcpStream::connect((host.as_str(), port))
                .await
                .map(|_| "connected".to_string())
                .map_err(|e| format!("{}: {e}", tcp.address))
        }
        ProbeCheck::Log(check) => {
            let last = log.map_or(0, |w| w.last_match_ms.load(Ordering::Relaxed));
            let recent = last > 0 && now_ms() - last <= check.window_ms as i64;
            let window = check.window_ms / 1000;
            match (check.expect, recent) {
                (LogExpect::Absent, false) => Ok(format!("no match in the last {window} s")),
                (LogExpect::Absent, true) => Err(format!(
                    "`{}` matched in the last {window} s",
                    check.pattern
                )),
                (LogExpect::Present, true) => Ok(format!("matched in the last {window} s")),
                (LogExpect::Present, false) => Err(format!(
                    "`{}` did not match in the last {window} s",
                    check.pattern
                )),
            }
        }
    }
}

/// What the runner itself says: its state, what its output says (offline?), and for a
/// Buildkite agent with a health-check server, that server's answer.
async fn runner_check(plan: &RunnerPlan, status: &StatusTable) -> Result<String, String> {
    match status.state(&plan.name) {
        Some(RunnerState::Running { .. }) => {}
        Some(RunnerState::NeedsRegistration { reason }) => {
            return Err(format!("needs registration: {reason}"));
        }
        Some(other) => return Err(format!("the runner is {}", other.name())),
        None => return Err("the runner is not running".into()),
    }
    if plan.kind == RunnerKind::Buildkite {
        let env = plan
            .env
            .iter()
            .filter_map(|(k, v)| Some((k.to_str()?, v.to_str()?)));
        if let Some(addr) = crate::buildkite::health_check_addr(&plan.argv, env) {
            let (host, port) = qcity_config::probe_target::parse_host_port(&addr)?;
            let (code, body) = http_get(&host, port, "/")
                .await
                .map_err(|e| format!("health-check server {addr}: {e}"))?;
            if code != 200 || !body.starts_with("OK") {
                return Err(format!(
                    "health-check server {addr} answered {code}: {}",
                    body.trim()
                ));
            }
            return Ok(format!("health-check server {addr}: {}", body.trim()));
        }
    }
    match status.activity_of(&plan.name) {
        Some((Activity::Offline { reason }, at_ms))
            if crate::kind::offline_is_sticky(plan.kind)
                || now_ms() - at_ms <= crate::kind::OFFLINE_WINDOW_MS =>
        {
            Err(format!("offline: {reason}"))
        }
        Some((Activity::RunningJob { job }, _)) => Ok(format!("running job {job}")),
        Some((Activity::Offline { .. }, _)) | Some((Activity::Connecting, _)) | None => {
            Ok("running".into())
        }
        Some((Activity::Listening, _)) | Some((Activity::JobCompleted { .. }, _)) => {
            Ok("listening for jobs".into())
        }
        Some((Activity::Updating, _)) => Ok("updating itself".into()),
    }
}

/// The largest response read; a health endpoint answers in far less.
const MAX_RESPONSE: usize = 64 * 1024;

/// A plain HTTP/1.1 GET: (status, body as text). Chunked bodies are searched as they come.
async fn http_get(host: &str, port: u16, path: &str) -> Result<(u16, String), String> {
    let mut stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("{host}:{port}: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: qcity-probe\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the response: {e}"))?;
        if n == 0 || buf.len() >= MAX_RESPONSE {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| "not an HTTP response".to_string())?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Follows a runner's output and remembers when `pattern` last matched a line.
struct LogWatch {
    last_match_ms: Arc<AtomicI64>,
    _task: AbortOnDrop,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl LogWatch {
    fn start(output: &Arc<RunnerOutput>, pattern: &str) -> LogWatch {
        let last_match_ms = Arc::new(AtomicI64::new(0));
        // Validated at config load; an invalid one here matches nothing.
        let re = regex::Regex::new(pattern).ok();
        let mut rx = output.follow();
        let last = last_match_ms.clone();
        let task = tokio::spawn(async move {
            let Some(re) = re else { return };
            loop {
                match rx.recv().await {
                    Ok(chunk) => {
                        let text = String::from_utf8_lossy(&chunk);
                        if text.lines().any(|l| re.is_match(l)) {
                            last.store(now_ms(), Ordering::Relaxed);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        LogWatch {
            last_match_ms,
            _task: AbortOnDrop(task),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(failure_threshold: u32, success_threshold: u32) -> ProbeSpec {
        serde_json::from_value(serde_json::json!({
            "name": "p", "process": {},
            "failure_threshold": failure_threshold, "success_threshold": success_threshold
        }))
        .unwrap()
    }

    #[test]
    fn thresholds_make_the_verdict() {
        let s = spec(3, 2);
        let mut v = Verdict::pending();
        assert!(v.record(true, &s), "first pass: pending -> passing");
        assert!(!v.record(false, &s) && !v.record(false, &s));
        assert_eq!(
            v.state,
            ProbeState::Passing,
            "two failures are below the threshold"
        );
        assert!(v.record(false, &s));
        assert_eq!(v.state, ProbeState::Failing);
        assert!(
            !v.record(true, &s),
            "one pass is below the success threshold"
        );
        assert!(v.record(true, &s));
        assert_eq!(v.state, ProbeState::Passing);
    }

    #[test]
    fn health_is_the_worst_probe() {
        let p = |state, critical| ProbeStatus {
            name: "p".into(),
            state,
            critical,
            detail: String::new(),
            checked_ms: 0,
        };
        assert_eq!(health_of(&[]), None);
        assert_eq!(
            health_of(&[p(ProbeState::Passing, true), p(ProbeState::Pending, true)]),
            Some(Health::Healthy)
        );
        assert_eq!(
            health_of(&[p(ProbeState::Passing, true), p(ProbeState::Failing, false)]),
            Some(Health::Degraded)
        );
        assert_eq!(
            health_of(&[p(ProbeState::Failing, false), p(ProbeState::Failing, true)]),
            Some(Health::Unhealthy)
        );
    }
}
