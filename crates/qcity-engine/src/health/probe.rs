//! Health probes: one task per probe, checking on its interval while its runner runs, turning
//! results into a passing/failing verdict with thresholds, and publishing each change.
//!
//! Only changes are events (`probe-changed`): a probe that keeps passing costs no store write.
//! The latest result of every probe is in the status table.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use qcity_config::{LogExpect, ProbeCheck, ProbeSpec};
use tokio::task::JoinHandle;

use crate::bus::Bus;
use crate::status::StatusTable;
use crate::supervisor::output::RunnerOutput;
use crate::supervisor::runner::RunnerPlan;
use qcity_platform::clock::now_ms;
use qcity_types::{Activity, EventKind, ProbeState, ProbeStatus, RunnerState};

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
    // An http probe's client: taken at its first check and kept (see `http_client`).
    let mut http = None;
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
        let checked = check(&plan, &spec, log.as_ref(), &mut http, &ctx.status);
        let result = match tokio::time::timeout(timeout, checked).await {
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
    let judged = ctx.status.set_probe(
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
            health: judged.health,
            colour: judged.colour,
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
            match tokio::time::timeout(timeout, check(plan, spec, None, &mut None, status)).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} ms", spec.timeout_ms)),
            }
        }
    }
}

/// One check: `Ok(what it found)` or `Err(why it failed)`. `http` keeps an http probe's
/// client from one check to the next.
async fn check(
    plan: &RunnerPlan,
    spec: &ProbeSpec,
    log: Option<&LogWatch>,
    http: &mut Option<reqwest::Client>,
    status: &StatusTable,
) -> Result<String, String> {
    match spec.check() {
        ProbeCheck::Runner(_) => runner_check(plan, status).await,
        ProbeCheck::Disk(disk) => {
            let path = disk.path.as_deref().unwrap_or(Path::new("."));
            let min = disk.min_free_mb.unwrap_or(0);
            match qcity_platform::disk::free_mb(path) {
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
            let end = crate::supervisor::launcher::run(crate::supervisor::launcher::Launch {
                argv: &exec.command,
                env: &plan.env,
                clear_env: true,
                cwd: plan.cwd.as_deref(),
                timeout: Duration::from_millis(spec.timeout_ms),
                grace: EXEC_GRACE,
                keep_output: 0,
                inherit_fd: None,
                sink: None,
            })
            .await
            .map_err(|e| e.to_string())?;
            match end.code {
                _ if end.timed_out => Err(format!("no answer within {} ms", spec.timeout_ms)),
                Some(code) if code == exec.expect_exit => Ok(format!("exit {code}")),
                Some(code) => Err(format!("exit {code}, expected {}", exec.expect_exit)),
                None => Err("killed by a signal".into()),
            }
        }
        ProbeCheck::Http(http_check) => {
            let url = qcity_config::probe_target::parse_http_url(&http_check.url)?;
            let client = match http {
                Some(client) => client,
                None => {
                    // A client with the system's roots reads and parses the whole CA
                    // store (tens of ms): not on a runtime thread, where it would hold up
                    // runners starting and restarting meanwhile.
                    let (tls, ca_file) = (url.tls, http_check.ca_file.clone());
                    let client =
                        tokio::task::spawn_blocking(move || http_client(tls, ca_file.as_deref()))
                            .await
                            .map_err(|e| format!("cannot set up the HTTP client: {e}"))??;
                    http.insert(client)
                }
            };
            let target = host_port(&url.host, url.port);
            let (status, body) = http_get(client, &http_check.url, &target).await?;
            if status != http_check.status {
                return Err(format!("status {status}, expected {}", http_check.status));
            }
            if let Some(text) = &http_check.body_contains
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
    if let Some(addr) = crate::kind::health_server(plan.kind, &plan.argv, &plan.env) {
        let (host, port) = qcity_config::probe_target::parse_host_port(&addr)?;
        let target = host_port(&host, port);
        let client = http_client(false, None)?;
        let (code, body) = http_get(&client, &format!("http://{target}/"), &target)
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

/// Between SIGTERM and SIGKILL for an exec probe past its timeout: a check, not a service.
const EXEC_GRACE: Duration = Duration::from_millis(500);

/// The largest response read; a health endpoint answers in far less.
const MAX_RESPONSE: usize = 64 * 1024;

/// `host:port`, the IPv6 host in brackets: the server as errors name it, and a URL's authority.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// What an http probe's client trusts: the key of the shared clients.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Trust {
    /// `http://`: no certificate to check, so no root store is loaded.
    Plain,
    /// `https://`: the system's roots and these certificates (DER, from a `ca_file`).
    System(Vec<Vec<u8>>),
}

/// The client for an http probe: one per trust, shared by every probe with that trust and
/// kept for the engine's life (a client with the system's roots holds its own parsed copy of
/// them, so one per probe would cost hundreds of copies). `ca_file` is read now: a probe
/// calls this at its first check, so a changed file counts once the probe starts again (a
/// reload that changes it, or a restart).
fn http_client(tls: bool, ca_file: Option<&Path>) -> Result<reqwest::Client, String> {
    type Clients = std::sync::Mutex<std::collections::HashMap<Trust, reqwest::Client>>;
    static CLIENTS: std::sync::OnceLock<Clients> = std::sync::OnceLock::new();
    let trust = match (tls, ca_file) {
        (false, _) => Trust::Plain,
        (true, None) => Trust::System(Vec::new()),
        (true, Some(path)) => Trust::System(
            qcity_config::probe_target::read_ca_file(path)?
                .into_iter()
                .map(|der| der.to_vec())
                .collect(),
        ),
    };
    // Held while building, so probes starting together load the system's roots once.
    let mut clients = CLIENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(client) = clients.get(&trust) {
        return Ok(client.clone());
    }
    let client = build_client(&trust).map_err(|e| match ca_file {
        Some(path) => format!("cannot use the CA file `{}`: {e}", path.display()),
        None => format!("cannot set up the HTTP client: {e}"),
    })?;
    clients.insert(trust, client.clone());
    Ok(client)
}

fn build_client(trust: &Trust) -> Result<reqwest::Client, String> {
    // reqwest is built without a crypto provider of its own (its default, aws-lc-rs, is a
    // heavy native build): rustls' ring, which ureq uses too, becomes the process default.
    // Err means one is installed already, which reqwest then uses.
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    let builder = reqwest::Client::builder()
        .user_agent("qcity-probe")
        // A redirect is the endpoint's answer, reported as its status (`status 301,
        // expected 200`). Following it would check another endpoint, perhaps on another
        // host, and a redirect to a login page would pass; a service whose healthy answer
        // is a redirect expects that status.
        .redirect(reqwest::redirect::Policy::none())
        // The service itself is checked, not a path to it through a proxy set in the
        // daemon's environment.
        .no_proxy()
        // A new connection per check, as before: it proves the service still accepts
        // connections, and hundreds of probes hold no idle sockets between checks.
        .pool_max_idle_per_host(0);
    let builder = match trust {
        Trust::Plain => builder.tls_certs_only([]),
        Trust::System(extra) => builder.tls_certs_merge(
            extra
                .iter()
                .map(|der| reqwest::Certificate::from_der(der))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| innermost(&e).to_string())?,
        ),
    };
    builder.build().map_err(|e| innermost(&e).to_string())
}

/// The last error in `e`'s chain of sources: what actually went wrong (`Connection refused
/// (os error 111)`, `invalid peer certificate: UnknownIssuer`).
fn innermost<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> &'a (dyn std::error::Error + 'static) {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause
}

/// A GET of `url`: (status, the body's first `MAX_RESPONSE` bytes as text). The body ends
/// where its length or its last chunk says, not at the close of a keep-alive connection.
/// Errors begin with `target` (`host:port`).
async fn http_get(
    client: &reqwest::Client,
    url: &str,
    target: &str,
) -> Result<(u16, String), String> {
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{target}: {}", innermost(&e)))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while body.len() < MAX_RESPONSE {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err(format!("{target}: reading the response: {}", innermost(&e))),
        }
    }
    body.truncate(MAX_RESPONSE);
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
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

    #[tokio::test]
    async fn a_refused_connection_names_the_server() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = http_client(false, None).unwrap();
        let target = host_port("127.0.0.1", port);
        let err = http_get(&client, &format!("http://{target}/"), &target)
            .await
            .unwrap_err();
        assert!(
            err.starts_with(&format!("127.0.0.1:{port}: ")) && err.contains("refused"),
            "{err}"
        );
        assert_eq!(host_port("::1", 80), "[::1]:80");
    }
}
