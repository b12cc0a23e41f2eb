//! The actions a fix is made of: run a command as the runner would, restart it (as a face
//! does, through the engine's control), wait for an address or a while, set environment
//! variables on its next runs, or clean directories (moved aside, see `aside`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use qcity_config::HealAction;
use qcity_engine::supervisor::launcher::{self, Launch};
use qcity_types::ControlAction;

use crate::aside::{self, Aside};
use crate::case::Case;

/// Longest a `run` action may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// Between SIGTERM and SIGKILL for a heal command past its timeout.
const RUN_GRACE: Duration = Duration::from_secs(5);

/// Does one action. A restart returns the bus id from which its new run's events count; a
/// clean adds what it can undo to `undo`.
pub(crate) async fn apply(
    case: &Case<'_>,
    action: &HealAction,
    undo: &mut Vec<Aside>,
) -> Result<Option<u64>, String> {
    match action {
        HealAction::Restart => restart(case).await.map(Some),
        HealAction::Run(argv) => run(case, argv).await.map(|()| None),
        HealAction::Clean(dirs) => clean(case, dirs, undo).map(|()| None),
        HealAction::WaitTcp(addr) => wait_tcp(case, addr).await.map(|()| None),
        HealAction::WaitFree(addr) => wait_free(case, addr).await.map(|()| None),
        HealAction::RemoveStaleLock(path) => {
            let (cwd, path) = (case.cwd.clone(), path.clone());
            let removed =
                tokio::task::spawn_blocking(move || crate::stale_lock::remove(&cwd, &path))
                    .await
                    .map_err(|e| e.to_string())?;
            match removed {
                Ok(said) => {
                    tracing::info!(runner = %case.trigger.runner, "{said}");
                    Ok(None)
                }
                Err(why) => Err(format!("the lock is not provably stale: {why}")),
            }
        }
        HealAction::WaitMs(ms) => {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            Ok(None)
        }
        HealAction::Env(vars) => {
            if case.engine.set_heal_env(&case.trigger.runner, vars) {
                Ok(None)
            } else {
                Err("the runner is gone".into())
            }
        }
        HealAction::Escalate => Err("the rule escalates here".into()),
    }
}

/// Restarts the runner; returns the bus id from which its new run's events count.
pub(crate) async fn restart(case: &Case<'_>) -> Result<u64, String> {
    let from = case.engine.bus().next_id();
    case.engine
        .control("healer", ControlAction::Restart, &case.trigger.runner)
        .await
        .map_err(|e| e.to_string())?;
    Ok(from)
}

/// Runs `argv` in the runner's working dir with exactly the runner's environment.
async fn run(case: &Case<'_>, argv: &[String]) -> Result<(), String> {
    let end = launcher::run(Launch {
        argv,
        env: &case.env,
        clear_env: true,
        cwd: Some(&case.cwd),
        timeout: RUN_TIMEOUT,
        grace: RUN_GRACE,
        keep_output: 4096,
        inherit_fd: None,
        sink: None,
    })
    .await
    .map_err(|e| e.to_string())?;
    if end.timed_out {
        return Err(format!("still running after {} s", RUN_TIMEOUT.as_secs()));
    }
    if end.success() {
        return Ok(());
    }
    let last = end
        .output
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let status = match (end.code, end.signal) {
        (Some(code), _) => format!("exit status: {code}"),
        (None, Some(sig)) => format!("signal: {sig}"),
        (None, None) => "ended".to_string(),
    };
    Err(format!("{status} {last}").trim().to_string())
}

/// Empties each of `dirs` (relative to the runner's working dir); see [`aside::clean`].
fn clean(case: &Case<'_>, dirs: &[PathBuf], undo: &mut Vec<Aside>) -> Result<(), String> {
    aside::clean(
        &case.engine.data_dir().root().join("heal/aside"),
        &case.trigger.runner,
        &case.cwd,
        dirs,
        case.space_needed,
        undo,
    )
}

/// Waits until nothing accepts a connection on `addr` any more ([`wait_for`]).
async fn wait_free(case: &Case<'_>, addr: &str) -> Result<(), String> {
    wait_for(case, &format!("{addr} is still taken"), || async {
        if !answers(addr).await {
            return true;
        }
        // The restart policy may have started the runner meanwhile, and the port is its own
        // once it has stayed up past its bind (a second).
        let now = qcity_platform::clock::now_ms();
        case.engine.status().iter().any(|s| {
            s.name == case.trigger.runner
                && matches!(s.state, qcity_types::RunnerState::Running { since_ms, .. } if now - since_ms >= 1_000)
        })
    })
    .await
}

/// Waits until `addr` accepts a connection ([`wait_for`]).
async fn wait_tcp(case: &Case<'_>, addr: &str) -> Result<(), String> {
    wait_for(case, &format!("{addr} still does not answer"), || {
        answers(addr)
    })
    .await
}

/// Whether `addr` accepts a connection within 3 s.
async fn answers(addr: &str) -> bool {
    let connect = tokio::net::TcpStream::connect(addr);
    matches!(
        tokio::time::timeout(Duration::from_secs(3), connect).await,
        Ok(Ok(_))
    )
}

/// Asks `done` with backoff (0.5 s doubling to 10 s) until it holds, for up to ten
/// validation windows; `late` is the error after that.
async fn wait_for<F, Fut>(case: &Case<'_>, late: &str, mut done: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_millis(case.spec.validate_ms.saturating_mul(10));
    let mut delay = Duration::from_millis(500);
    loop {
        if done().await {
            return Ok(());
        }
        if Instant::now() + delay > deadline {
            return Err(late.to_string());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}
