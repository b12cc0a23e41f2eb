//! The healer, a bus subscriber: when a runner fails (a failing exit, a crash loop, a lost
//! registration, a probe turning failing) it turns the failure into a [`signature`], picks
//! the fixes that fit from the [`playbook`] (best observed success rate first), applies
//! them one at a time, proves each (the failed check must pass again), undoes what it can
//! when a fix did not help, and escalates with the diagnostics when nothing worked. Every
//! step is a `heal` event, so the journal, the audit log and the dashboard see it.
//!
//! One healing at a time per runner: failures while a fix is under way are that fix's
//! validation, not new work. A signature that was escalated stays quiet for
//! [`QUIET_AFTER_ESCALATION`], so a runner that keeps failing the same way does not page
//! the master on every restart.

pub mod playbook;
pub mod signature;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use qcity_config::{HealAction, HealSpec, ProbeCheck};
use qcity_logminer::Miner;
use qcity_store::Store;

use crate::bus::EventReceiver;
use crate::engine::Engine;
use playbook::{Candidate, candidates, describe};
use qcity_types::ProbeState;
use qcity_types::{ControlAction, EventKind, HealStep, RunnerState};
use signature::Failure;

/// How long an escalated signature is not healed again.
pub const QUIET_AFTER_ESCALATION: Duration = Duration::from_secs(600);
/// Fixes tried per failure before escalating.
const MAX_FIXES: usize = 3;
/// Output lines read around a failure.
const TAIL_LINES: usize = 200;
/// Longest a `run` action may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// Between SIGTERM and SIGKILL for a heal command past its timeout.
const RUN_GRACE: Duration = Duration::from_secs(5);

/// What set the healer off.
#[derive(Debug, Clone)]
struct Trigger {
    runner: String,
    exit: String,
    code: Option<i32>,
    signal: Option<i32>,
    /// A spawn error, added to the lines the signature is made of.
    error: Option<String>,
    /// The probe that turned failing (then the runner is still up).
    probe: String,
}

/// A [`Trigger`]'s `exit` for a crash loop.
const CRASH_LOOP: &str = "crash loop";

#[derive(Default)]
struct Shared {
    busy: HashSet<String>,
    /// A crash loop that came while its runner was being healed.
    pending: HashMap<String, Trigger>,
    quiet: HashMap<(String, String), Instant>,
}

/// The healer's memory between failures: the template miner and what is under way.
pub struct Healer {
    shared: Mutex<Shared>,
    miner: Mutex<Miner>,
}

/// Keys the healer's miner keeps. It only sees the few error lines of each failure, so a
/// few thousand templates outlive any realistic variety of failures, while the miner's
/// default cap (100 000 keys, about 160 MiB when full) is sized for whole log streams.
const MINER_KEYS: usize = 5_000;

impl Default for Healer {
    fn default() -> Self {
        Self {
            shared: Mutex::default(),
            miner: Mutex::new(Miner::new(MINER_KEYS)),
        }
    }
}

/// Starts the healer on `rx`; it stops when the engine is gone.
pub(crate) fn spawn(healer: Arc<Healer>, engine: Weak<Engine>, mut rx: EventReceiver) {
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            let Some(trigger) = trigger(&ev.kind) else {
                continue;
            };
            let Some(engine) = engine.upgrade() else {
                return;
            };
            if !engine.config().device.healer.enabled {
                continue;
            }
            {
                let mut shared = lock(&healer.shared);
                if !shared.busy.insert(trigger.runner.clone()) {
                    // The detector fires on the exit whose own healing is just starting, so
                    // a crash loop nearly always arrives while busy: kept for afterwards.
                    if trigger.exit == CRASH_LOOP {
                        shared.pending.insert(trigger.runner.clone(), trigger);
                    }
                    continue;
                }
            }
            let healer = healer.clone();
            tokio::spawn(async move {
                let runner = trigger.runner.clone();
                let mut next = Some(trigger);
                while let Some(t) = next.take() {
                    let acted = heal(&engine, t, &healer).await;
                    // A crash loop during a fix is that fix failing its validation, already
                    // handled; one after a failure left to the restart policy is new, unless
                    // the runner has come out of it since.
                    let looping = engine.status().iter().any(|s| {
                        s.name == runner && matches!(s.state, RunnerState::CrashLooping { .. })
                    });
                    let mut shared = lock(&healer.shared);
                    next = shared.pending.remove(&runner).filter(|_| looping && !acted);
                    if next.is_none() {
                        shared.busy.remove(&runner);
                    }
                }
            });
        }
    });
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn trigger(kind: &EventKind) -> Option<Trigger> {
    let t = |runner: &str, exit: String| Trigger {
        runner: runner.to_string(),
        exit,
        code: None,
        signal: None,
        error: None,
        probe: String::new(),
    };
    match kind {
        EventKind::RunnerState { runner, state, .. } => match state {
            RunnerState::Exited { exit } if !exit.success() => Some(Trigger {
                code: exit.code,
                signal: exit.signal,
                error: exit.error.clone(),
                ..t(runner, exit.describe())
            }),
            RunnerState::CrashLooping { .. } => Some(t(runner, CRASH_LOOP.into())),
            RunnerState::NeedsRegistration { .. } => Some(t(runner, "needs registration".into())),
            _ => None,
        },
        EventKind::ProbeChanged {
            runner,
            probe,
            state: ProbeState::Failing,
            ..
        } => Some(Trigger {
            probe: probe.clone(),
            ..t(runner, String::new())
        }),
        _ => None,
    }
}

/// A healing's context: the engine, the runner's settings and the failure.
struct Case<'a> {
    engine: &'a Arc<Engine>,
    trigger: Trigger,
    spec: HealSpec,
    cwd: PathBuf,
    env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    failure: Failure,
    key: String,
    dry_run: bool,
    /// The failure is a full disk: what a clean frees must be freed now, not kept for an undo.
    space_needed: bool,
}

impl Case<'_> {
    fn publish(&self, step: HealStep, rule: &str, detail: String) {
        self.engine.bus().publish(EventKind::Heal {
            runner: self.trigger.runner.clone(),
            signature: self.key.clone(),
            step,
            rule: rule.to_string(),
            detail,
            dry_run: self.dry_run,
        });
    }
}

/// A failure diagnosed: the runner's settings and how it runs, the failure and its key.
struct Diagnosis {
    spec: qcity_config::RunnerSpec,
    plan: crate::supervisor::runner::RunnerPlan,
    failure: Failure,
    key: String,
    probe_kind: &'static str,
}

fn diagnose(engine: &Engine, healer: &Healer, trigger: &Trigger) -> Option<Diagnosis> {
    let spec = engine
        .config()
        .manifest
        .runners
        .iter()
        .find(|r| r.name == trigger.runner)
        .cloned()?;
    let plan = engine.plan(&trigger.runner)?;
    let mut tail = engine.logs(&trigger.runner, TAIL_LINES).unwrap_or_default();
    if let Some(e) = &trigger.error {
        tail.push(format!("spawn failed: {e}"));
    }
    let failure = Failure::new(
        &trigger.runner,
        (trigger.exit.clone(), trigger.code, trigger.signal),
        &trigger.probe,
        tail,
        &mut lock(&healer.miner),
    );
    let probe_kind = spec
        .probes
        .iter()
        .find(|p| p.name == trigger.probe)
        .map_or("", |p| check_kind(p.check()));
    Some(Diagnosis {
        key: failure.key(),
        spec,
        plan,
        failure,
        probe_kind,
    })
}

/// Heals one failure. Whether it took the failure on (a fix tried, an escalation, a dry
/// run's plan), rather than leaving it to the restart policy.
async fn heal(engine: &Arc<Engine>, trigger: Trigger, healer: &Healer) -> bool {
    let config = engine.config();
    let Some(Diagnosis {
        spec,
        plan,
        failure,
        key,
        probe_kind,
    }) = diagnose(engine, healer, &trigger)
    else {
        return false;
    };
    let db = engine.data_dir().db();
    let row = qcity_store::SignatureRow {
        key: key.clone(),
        runner: failure.runner.clone(),
        exit: failure.exit.clone(),
        probe: failure.probe.clone(),
        templates: serde_json::to_string(&failure.templates).unwrap_or_default(),
        count: 0,
        first_ms: 0,
        last_ms: 0,
    };
    let stored = tokio::task::spawn_blocking(move || {
        let mut store = Store::open(&db)?;
        let row = store.signature_seen(&row, qcity_platform::clock::now_ms())?;
        let stats = store.rule_stats(&row.key)?;
        let since = qcity_platform::clock::now_ms() - playbook::REPEAT_WINDOW_MS;
        let recent = store.successes_since(&row.key, since)?;
        Ok::<_, qcity_store::StoreError>((row, stats, recent))
    })
    .await;
    let (row, stats, recent) = match stored {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::warn!(runner = %trigger.runner, error = %e, "healer: cannot record the signature");
            return false;
        }
        Err(_) => return false,
    };
    let quiet_key = (trigger.runner.clone(), key.clone());
    if lock(&healer.shared)
        .quiet
        .get(&quiet_key)
        .is_some_and(|t| t.elapsed() < QUIET_AFTER_ESCALATION)
    {
        return false;
    }
    let (fixes, cannot) = candidates(&spec.heal, &failure, probe_kind, &stats);
    let (fixes, repeated) = not_repeated(fixes, &recent);
    let space_needed = playbook::disk_full(&failure, probe_kind);
    let case = Case {
        space_needed,
        engine,
        cwd: plan.cwd.clone().unwrap_or_else(|| config.dir.clone()),
        env: plan.env.clone(),
        spec: spec.heal.clone(),
        failure,
        key,
        dry_run: config.device.healer.dry_run,
        trigger,
    };
    let mut said = diagnosis(&case.failure, row.count, &fixes, &cannot);
    if !repeated.is_empty() {
        said.push_str(&format!("; came back after: {}", repeated.join(", ")));
    }
    case.publish(HealStep::Diagnosed, "", said);
    if fixes.is_empty() && cannot.is_empty() && repeated.is_empty() {
        // Nothing known about this failure: the restart policy (and its crash-loop
        // escalation) handles it; the signature is kept for the statistics.
        return false;
    }
    if case.dry_run {
        match fixes.first() {
            Some(c) => case.publish(HealStep::WouldApply, &c.rule, plan_text(c)),
            None => case.publish(
                HealStep::WouldApply,
                "",
                "no fix can act here: it would escalate".into(),
            ),
        }
        return true;
    }
    let mut tried = repeated;
    for (i, fix) in fixes.iter().take(MAX_FIXES).enumerate() {
        if fix.actions.first() == Some(&HealAction::Escalate) {
            tried.push(format!("{}: escalates by design", fix.rule));
            break;
        }
        let mut plan = plan_text(fix);
        if i > 0 {
            let backoff = retry_backoff(case.spec.retry_backoff_ms, i);
            tokio::time::sleep(backoff).await;
            plan.push_str(&format!(" (after a {} ms backoff)", backoff.as_millis()));
        }
        case.publish(HealStep::Applying, &fix.rule, plan);
        let (ok, detail, undone) = attempt(&case, fix).await;
        let db = engine.data_dir().db();
        let (sig, rule) = (case.key.clone(), fix.rule.clone());
        let _ = tokio::task::spawn_blocking(move || {
            Store::open(&db)?.heal_outcome(&sig, &rule, ok, qcity_platform::clock::now_ms())
        })
        .await;
        if ok {
            case.publish(HealStep::Validated, &fix.rule, detail);
            return true;
        }
        // A rolled-back fix has said so with its `rolled-back` step; one with nothing to undo
        // still needs its own end, or the dashboard shows it applying forever.
        if !undone {
            case.publish(HealStep::Failed, &fix.rule, detail.clone());
        }
        tried.push(format!("{}: {detail}", fix.rule));
    }
    escalate(&case, &tried, &cannot);
    lock(&healer.shared).quiet.insert(quiet_key, Instant::now());
    true
}

/// The wait before the fix tried `nth` (from 0) on one failure: none before the first, then
/// `base_ms` doubling.
fn retry_backoff(base_ms: u64, nth: usize) -> Duration {
    match nth {
        0 => Duration::ZERO,
        n => Duration::from_millis(base_ms.saturating_mul(1 << (n - 1).min(16))),
    }
}

/// Leaves out the fixes that already worked on this signature as often as they may within
/// the repeat window ([`playbook::heals_allowed`]), and all of them once the signature was
/// healed [`playbook::MAX_HEALS_PER_WINDOW`] times in it: healing the same failure over and
/// over is a loop, for a person to break. The fixes left, and why each other one was left out.
fn not_repeated(fixes: Vec<Candidate>, recent: &[(String, u64)]) -> (Vec<Candidate>, Vec<String>) {
    let healed = |rule: &str| recent.iter().find(|r| r.0 == rule).map_or(0, |r| r.1);
    let total: u64 = recent.iter().map(|r| r.1).sum();
    let hour = playbook::REPEAT_WINDOW_MS / 60_000;
    let (mut keep, mut left) = (Vec::new(), Vec::new());
    for fix in fixes {
        let n = healed(&fix.rule);
        if total >= playbook::MAX_HEALS_PER_WINDOW || n >= playbook::heals_allowed(&fix.rule) {
            left.push(format!(
                "{}: it worked {n}× in the last {hour} min ({total}× in all) and the failure came back",
                fix.rule
            ));
        } else {
            keep.push(fix);
        }
    }
    (keep, left)
}

fn check_kind(c: ProbeCheck<'_>) -> &'static str {
    match c {
        ProbeCheck::Process(_) => "process",
        ProbeCheck::Exec(_) => "exec",
        ProbeCheck::Http(_) => "http",
        ProbeCheck::Tcp(_) => "tcp",
        ProbeCheck::Log(_) => "log",
        ProbeCheck::Runner(_) => "runner",
        ProbeCheck::Disk(_) => "disk",
    }
}

fn diagnosis(f: &Failure, count: u64, fixes: &[Candidate], cannot: &[String]) -> String {
    let mut out = format!("{} (seen {count}×)", f.summary());
    if fixes.is_empty() {
        out.push_str("; no fix fits");
    } else {
        let list: Vec<String> = fixes
            .iter()
            .map(|c| {
                format!(
                    "{} ({}/{} worked, score {:.2})",
                    c.rule, c.successes, c.attempts, c.score
                )
            })
            .collect();
        out.push_str(&format!("; fixes: {}", list.join(", ")));
    }
    if !cannot.is_empty() {
        out.push_str(&format!("; cannot: {}", cannot.join(", ")));
    }
    out
}

fn plan_text(c: &Candidate) -> String {
    c.actions
        .iter()
        .map(describe)
        .collect::<Vec<_>>()
        .join(", then ")
}

/// Applies one fix and validates it; undoes it when it did not help, and drops what it kept
/// for the undo once it did. (worked, what happened, whether something was undone)
async fn attempt(case: &Case<'_>, fix: &Candidate) -> (bool, String, bool) {
    let mut undo = Vec::new();
    let mut restarted_at = None;
    for action in &fix.actions {
        let done = match action {
            HealAction::Restart => restart(case).await.map(|id| {
                restarted_at = Some(id);
            }),
            HealAction::Run(argv) => run(case, argv).await,
            HealAction::Clean(dirs) => clean(case, dirs, &mut undo),
            HealAction::WaitTcp(addr) => wait_tcp(case, addr).await,
            HealAction::WaitMs(ms) => {
                tokio::time::sleep(Duration::from_millis(*ms)).await;
                Ok(())
            }
            HealAction::Env(vars) => {
                if case.engine.set_heal_env(&case.trigger.runner, vars) {
                    Ok(())
                } else {
                    Err("the runner is gone".into())
                }
            }
            HealAction::Escalate => Err("the rule escalates here".into()),
        };
        if let Err(e) = done {
            let detail = format!("{}: {e}", describe(action));
            let undone = rollback(case, fix, undo);
            return (false, detail, undone);
        }
    }
    // A runner that failed is started again for the fix to show; one whose probe failed
    // while it ran is left running.
    if case.trigger.probe.is_empty() && restarted_at.is_none() {
        match restart(case).await {
            Ok(id) => restarted_at = Some(id),
            Err(e) => {
                let undone = rollback(case, fix, undo);
                return (false, format!("restart: {e}"), undone);
            }
        }
    }
    let verdict = validate(case, restarted_at).await;
    match verdict {
        Ok(mut detail) => {
            if let Some(freed) = discard(undo) {
                detail.push_str(&format!("; {freed}"));
            }
            (true, detail, false)
        }
        Err(detail) => {
            let undone = rollback(case, fix, undo);
            (false, detail, undone)
        }
    }
}

/// Restarts the runner; returns the bus id from which its new run's events count.
async fn restart(case: &Case<'_>) -> Result<u64, String> {
    let from = case.engine.bus().next_id();
    case.engine
        .control("healer", ControlAction::Restart, &case.trigger.runner)
        .await
        .map_err(|e| e.to_string())?;
    Ok(from)
}

async fn run(case: &Case<'_>, argv: &[String]) -> Result<(), String> {
    let end = crate::supervisor::launcher::run(crate::supervisor::launcher::Launch {
        argv,
        env: &case.env,
        clear_env: true,
        cwd: Some(&case.cwd),
        timeout: RUN_TIMEOUT,
        grace: RUN_GRACE,
        keep_output: 4096,
        inherit_fd: None,
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

/// What a `clean` can undo: the directory's place and where its contents were put.
struct Aside {
    dir: PathBuf,
    kept: PathBuf,
}

/// Asides older than this are deleted at the next clean: what a killed engine or a failed
/// restore left behind.
const ASIDE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Empties each directory, leaving an empty one in its place. Its contents go into the data
/// dir's `heal/aside`, kept for the undo until the fix is proven (then deleted by
/// [`discard`]). When that is on another filesystem the move itself gives the runner's disk
/// its space back. When it is on the same one, a rename frees nothing: if the failure is a
/// full disk the space is needed now, so the contents are deleted at once and there is no
/// undo; otherwise (a corrupted cache) they are renamed aside and the undo is kept. A full
/// disk whose data dir cannot take the copy either has the contents deleted in place.
fn clean(case: &Case<'_>, dirs: &[PathBuf], undo: &mut Vec<Aside>) -> Result<(), String> {
    let stamp = qcity_platform::clock::now_ms();
    let asides = case.engine.data_dir().root().join("heal/aside");
    prune_asides(&asides, stamp);
    let root = asides.join(&case.trigger.runner).join(stamp.to_string());
    let made_root = std::fs::create_dir_all(&root);
    let failed = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    for (i, d) in dirs.iter().enumerate() {
        let dir = case.cwd.join(d);
        if !dir.exists() {
            continue;
        }
        let kept = root.join(format!(
            "{i}-{}",
            d.file_name().unwrap_or_default().to_string_lossy()
        ));
        let same_disk = same_device(&dir, &root);
        let moved = match &made_root {
            Ok(()) => move_dir(&dir, &kept),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        };
        match moved {
            Ok(()) => {}
            // The data dir has no room for the copy either: the space matters more than the
            // undo.
            Err(_) if case.space_needed => {
                std::fs::remove_dir_all(&dir).map_err(|e| failed(&dir, e))?;
                std::fs::create_dir_all(&dir).map_err(|e| failed(&dir, e))?;
                continue;
            }
            Err(e) => return Err(failed(&dir, e)),
        }
        std::fs::create_dir_all(&dir).map_err(|e| failed(&dir, e))?;
        if same_disk && case.space_needed {
            std::fs::remove_dir_all(&kept).map_err(|e| failed(&kept, e))?;
            continue;
        }
        undo.push(Aside { dir, kept });
    }
    let _ = std::fs::remove_dir(&root);
    Ok(())
}

fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

/// Deletes `heal/aside/RUNNER/STAMP` directories older than [`ASIDE_MAX_AGE`].
fn prune_asides(asides: &Path, now_ms: i64) {
    let max_age = ASIDE_MAX_AGE.as_millis() as i64;
    for runner in std::fs::read_dir(asides).into_iter().flatten().flatten() {
        for stamp in std::fs::read_dir(runner.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let old = stamp
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i64>().ok())
                .is_some_and(|t| now_ms - t > max_age);
            if old {
                let _ = std::fs::remove_dir_all(stamp.path());
            }
        }
        let _ = std::fs::remove_dir(runner.path());
    }
}

/// A proven fix keeps no undo: deletes what was moved aside. Says what was freed, if anything.
fn discard(undo: Vec<Aside>) -> Option<String> {
    let mut freed = Vec::new();
    for a in undo {
        match std::fs::remove_dir_all(&a.kept) {
            Ok(()) => freed.push(format!("deleted the old {}", a.dir.display())),
            Err(e) => {
                tracing::warn!(path = %a.kept.display(), error = %e, "healer: cannot delete an aside")
            }
        }
        if let Some(parent) = a.kept.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
    (!freed.is_empty()).then(|| freed.join("; "))
}

/// Puts cleaned directories back; says so with a `rolled-back` event. Whether there was
/// anything to put back.
fn rollback(case: &Case<'_>, fix: &Candidate, undo: Vec<Aside>) -> bool {
    if undo.is_empty() {
        return false;
    }
    let mut said = Vec::new();
    for a in undo.into_iter().rev() {
        let back = std::fs::remove_dir_all(&a.dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .and_then(|()| move_dir(&a.kept, &a.dir));
        if let Some(parent) = a.kept.parent() {
            let _ = std::fs::remove_dir(parent);
        }
        said.push(match back {
            Ok(()) => format!("restored {}", a.dir.display()),
            Err(e) => format!(
                "could not restore {} ({e}); its contents are kept in {}",
                a.dir.display(),
                a.kept.display()
            ),
        });
    }
    case.publish(HealStep::RolledBack, &fix.rule, said.join("; "));
    true
}

/// Renames, or copies and deletes across filesystems.
fn move_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::rename(from, to) {
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            if let Err(e) = copy_tree(from, to) {
                let _ = std::fs::remove_dir_all(to);
                return Err(e);
            }
            std::fs::remove_dir_all(from)
        }
        other => other,
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ty = entry.file_type()?;
        if ty.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Waits with backoff (0.5 s doubling to 10 s) until `addr` accepts a connection, for up to
/// ten validation windows.
async fn wait_tcp(case: &Case<'_>, addr: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_millis(case.spec.validate_ms.saturating_mul(10));
    let mut delay = Duration::from_millis(500);
    loop {
        let connect = tokio::net::TcpStream::connect(addr);
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(3), connect).await {
            return Ok(());
        }
        if Instant::now() + delay > deadline {
            return Err(format!("{addr} still does not answer"));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// The fix worked when the failed probe passes again within the window, or, for a runner
/// that failed, when its new run stays up (or ends cleanly) through the window.
async fn validate(case: &Case<'_>, from: Option<u64>) -> Result<String, String> {
    let window = Duration::from_millis(case.spec.validate_ms);
    let runner = &case.trigger.runner;
    let mut rx = case.engine.bus().subscribe("healer-validate", 1024);
    let from = from.unwrap_or(0);
    let probe = &case.trigger.probe;
    if !probe.is_empty() {
        let passing = |engine: &Engine| {
            engine.status().iter().any(|s| {
                s.name == *runner
                    && s.probes
                        .iter()
                        .any(|p| p.name == *probe && p.state == ProbeState::Passing)
            })
        };
        if passing(case.engine) {
            return Ok(format!("probe {probe} passes"));
        }
    }
    let deadline = tokio::time::Instant::now() + window;
    loop {
        let ev = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) | Err(_) => break,
        };
        if ev.id < from || ev.kind.runner() != Some(runner.as_str()) {
            continue;
        }
        match &ev.kind {
            EventKind::ProbeChanged {
                probe: p,
                state: ProbeState::Passing,
                ..
            } if p == probe => return Ok(format!("probe {probe} passes again")),
            EventKind::RunnerState { state, .. } => match state {
                RunnerState::Exited { exit } if !exit.success() => {
                    return Err(format!("it failed again: {}", exit.describe()));
                }
                RunnerState::CrashLooping { .. } | RunnerState::NeedsRegistration { .. } => {
                    return Err(format!("it failed again: {}", state.name()));
                }
                _ => {}
            },
            _ => {}
        }
    }
    if !probe.is_empty() {
        return Err(format!(
            "probe {probe} still failing after {} ms",
            window.as_millis()
        ));
    }
    let state = case
        .engine
        .status()
        .into_iter()
        .find(|s| s.name == *runner)
        .map(|s| s.state);
    match state {
        Some(RunnerState::Running { .. }) => Ok(format!("up for {} ms", window.as_millis())),
        Some(RunnerState::Exited { exit }) if exit.success() => Ok("finished cleanly".into()),
        other => Err(format!(
            "not running after {} ms ({})",
            window.as_millis(),
            other.map_or("gone".into(), |s| s.name().to_string())
        )),
    }
}

/// Tells the master: the signature, the fixes tried and why each failed, the rules that
/// could not act, and the last lines of output.
fn escalate(case: &Case<'_>, tried: &[String], cannot: &[String]) {
    let f = &case.failure;
    let mut advice = Vec::new();
    if !tried.is_empty() {
        advice.push(format!("fixes tried: {}", tried.join("; ")));
    }
    if !cannot.is_empty() {
        advice.push(format!("could not act: {}", cannot.join("; ")));
    }
    if !f.tail.is_empty() {
        advice.push(format!("last lines:\n{}", f.tail.join("\n")));
    }
    // A lost registration was escalated by the runner itself, with the steps to register.
    if f.exit != "needs registration" {
        case.engine.bus().publish(EventKind::Escalation {
            runner: Some(case.trigger.runner.clone()),
            reason: format!(
                "the healer could not fix {} (signature {})",
                f.summary(),
                case.key
            ),
            advice: advice.join("\n"),
        });
    }
    case.publish(HealStep::Escalated, "", advice.join("\n"));
}

/// A fix as the plan and the signature list show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FixView {
    pub rule: String,
    /// The actions, as words (`run npm ci`, `restart`); empty in a signature's history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    pub attempts: u64,
    pub successes: u64,
    /// `(successes + 1) / (attempts + 2)`: the order fixes are tried in.
    pub score: f64,
}

/// What the healer would do about a runner now (`qcity heal --dry-run`). Nothing is touched
/// and nothing recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HealPlan {
    pub runner: String,
    /// The failure's signature; absent when the runner is not failing.
    pub signature: Option<String>,
    pub summary: String,
    /// The output lines that explain the failure, and their templates.
    pub lines: Vec<String>,
    pub templates: Vec<String>,
    /// Fixes that fit, in the order they would be tried.
    pub fixes: Vec<FixView>,
    /// Built-in rules that fit but cannot act, with why.
    pub cannot: Vec<String>,
    /// One sentence: what it would do.
    pub would: String,
}

/// A failure signature with its history (`GET /api/v1/signatures`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SignatureView {
    pub key: String,
    pub runner: String,
    pub exit: String,
    pub probe: String,
    pub templates: Vec<String>,
    pub count: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// Sightings per hour over the last 24 hours: (hour start, count), empty hours left out.
    pub trend: Vec<(i64, u64)>,
    /// Every fix tried on it, best first.
    pub fixes: Vec<FixView>,
}

fn fix_view(c: &Candidate) -> FixView {
    FixView {
        rule: c.rule.clone(),
        actions: c.actions.iter().map(describe).collect(),
        attempts: c.attempts,
        successes: c.successes,
        score: c.score,
    }
}

/// The trigger the runner's status shows now, if it is failing.
fn current_trigger(engine: &Engine, runner: &str) -> Option<Trigger> {
    let st = engine.status().into_iter().find(|s| s.name == runner)?;
    let base = |exit: String| Trigger {
        runner: runner.to_string(),
        exit,
        code: st.last_exit.as_ref().and_then(|e| e.code),
        signal: st.last_exit.as_ref().and_then(|e| e.signal),
        error: st.last_exit.as_ref().and_then(|e| e.error.clone()),
        probe: String::new(),
    };
    let failed_exit = st.last_exit.as_ref().filter(|e| !e.success());
    match &st.state {
        RunnerState::CrashLooping { .. } => Some(base("crash loop".into())),
        RunnerState::NeedsRegistration { .. } => Some(base("needs registration".into())),
        RunnerState::Exited { .. } | RunnerState::Backoff { .. } => {
            failed_exit.map(|e| base(e.describe()))
        }
        _ => st
            .probes
            .iter()
            .find(|p| p.state == ProbeState::Failing)
            .map(|p| Trigger {
                probe: p.name.clone(),
                code: None,
                signal: None,
                error: None,
                ..base(String::new())
            }),
    }
}

/// What the healer would do about `runner` now.
pub(crate) fn plan(engine: &Engine, healer: &Healer, runner: &str) -> HealPlan {
    let quiet = HealPlan {
        runner: runner.to_string(),
        signature: None,
        summary: "not failing".into(),
        lines: Vec::new(),
        templates: Vec::new(),
        fixes: Vec::new(),
        cannot: Vec::new(),
        would: "nothing: the runner is not failing".into(),
    };
    let Some(trigger) = current_trigger(engine, runner) else {
        return quiet;
    };
    let Some(d) = diagnose(engine, healer, &trigger) else {
        return quiet;
    };
    let store = Store::open(&engine.data_dir().db());
    let stats = store
        .as_ref()
        .map_or(Ok(Vec::new()), |s| s.rule_stats(&d.key))
        .unwrap_or_default();
    let since = qcity_platform::clock::now_ms() - playbook::REPEAT_WINDOW_MS;
    let recent = store
        .as_ref()
        .map_or(Ok(Vec::new()), |s| s.successes_since(&d.key, since))
        .unwrap_or_default();
    let (fixes, cannot) = candidates(&d.spec.heal, &d.failure, d.probe_kind, &stats);
    let (fixes, repeated) = not_repeated(fixes, &recent);
    let would = match fixes.first() {
        _ if !engine.config().device.healer.enabled => {
            "nothing: the healer is off (`healer.enabled` in the device config)".to_string()
        }
        None if !repeated.is_empty() => {
            format!("escalate: it came back after {}", repeated.join(", "))
        }
        Some(c) if c.actions.first() == Some(&HealAction::Escalate) => {
            format!("escalate ({})", c.rule)
        }
        Some(c) => format!(
            "apply {}: {}, then check it for {} ms",
            c.rule,
            plan_text(c),
            d.spec.heal.validate_ms
        ),
        None if !cannot.is_empty() => "escalate: a rule fits but cannot act here".into(),
        None => "nothing: no rule fits; the restart policy handles it".into(),
    };
    HealPlan {
        runner: runner.to_string(),
        signature: Some(d.key),
        summary: d.failure.summary(),
        lines: d.failure.lines,
        templates: d.failure.templates,
        fixes: fixes.iter().map(fix_view).collect(),
        cannot,
        would,
    }
}

/// The most frequent signatures, with their trend and the fixes tried on them.
pub(crate) fn signatures(
    engine: &Engine,
    limit: usize,
) -> Result<Vec<SignatureView>, qcity_store::StoreError> {
    const HOUR: i64 = 3_600_000;
    let store = Store::open(&engine.data_dir().db())?;
    let since = qcity_platform::clock::now_ms() - 24 * HOUR;
    let mut out = Vec::new();
    for row in store.top_signatures(limit)? {
        let mut fixes: Vec<FixView> = store
            .rule_stats(&row.key)?
            .into_iter()
            .map(|s| FixView {
                score: (s.successes as f64 + 1.0) / (s.attempts as f64 + 2.0),
                rule: s.rule,
                actions: Vec::new(),
                attempts: s.attempts,
                successes: s.successes,
            })
            .collect();
        fixes.sort_by(|a, b| b.score.total_cmp(&a.score));
        out.push(SignatureView {
            trend: store.signature_trend(&row.key, since, HOUR)?,
            templates: serde_json::from_str(&row.templates).unwrap_or_default(),
            key: row.key,
            runner: row.runner,
            exit: row.exit,
            probe: row.probe,
            count: row.count,
            first_ms: row.first_ms,
            last_ms: row.last_ms,
            fixes,
        });
    }
    Ok(out)
}
