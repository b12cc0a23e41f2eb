//! One healing case, start to end: diagnose the failure and record its signature, rank the
//! fixes that fit, apply them one at a time (each validated, and rolled back when it did not
//! help), and escalate when none worked.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use qcity_config::HealAction;
use qcity_types::{EventKind, HealStep};

use crate::case::Case;
use crate::control::Control;
use crate::diagnose::{Diagnosis, Ranked, diagnose, diagnosis, plan_text};
use crate::memory::{Memory, QUIET_AFTER_ESCALATION, lock, with_store};
use crate::playbook::{self, Candidate};
use crate::trigger::{NEEDS_REGISTRATION, Trigger};
use crate::{actions, aside, repeats, validate};

/// A runner whose failure a restart cannot fix is stopped after the escalation only when its
/// category is at least this likely.
const HOLD_CONFIDENCE: f64 = 0.6;
/// Fixes tried per failure before escalating.
const MAX_FIXES: usize = 3;

/// Heals one failure. Whether it took the failure on (a fix tried, an escalation, a dry
/// run's plan), rather than leaving it to the restart policy.
pub(crate) async fn heal(engine: &dyn Control, trigger: Trigger, memory: &Memory) -> bool {
    let config = engine.config();
    let Some(d) = diagnose(engine, memory, &trigger) else {
        return false;
    };
    let Some((count, ranked)) = record(engine, memory, &trigger, &d).await else {
        return false;
    };
    let quiet_key = (trigger.runner.clone(), d.key.clone());
    if lock(&memory.cases)
        .quiet
        .get(&quiet_key)
        .is_some_and(|t| t.elapsed() < QUIET_AFTER_ESCALATION)
    {
        return false;
    }
    let Ranked {
        fixes,
        cannot,
        repeated,
    } = ranked;
    let d_platform = d.spec.platform().map(str::to_string);
    let case = Case {
        space_needed: playbook::disk_full(&d.failure, d.probe_kind),
        engine,
        cwd: d.plan.cwd.clone().unwrap_or_else(|| config.dir.clone()),
        env: d.plan.env.clone(),
        spec: d.spec.heal.clone(),
        failure: d.failure,
        key: d.key,
        dry_run: config.device.healer.dry_run,
        trigger,
    };
    let mut said = diagnosis(&case.failure, count, &fixes, &cannot);
    if !repeated.is_empty() {
        said.push_str(&format!("; came back after: {}", repeated.join(", ")));
    }
    case.publish(HealStep::Diagnosed, "", said);
    if fixes.is_empty() && cannot.is_empty() && repeated.is_empty() {
        // Nothing known about this failure: the restart policy (and its crash-loop
        // escalation) handles it; the signature is kept for the statistics.
        return false;
    }
    // A network failure while the runner's platform reports an outage is the platform's:
    // no fix can help, and one that deletes caches or re-registers could harm.
    let platforms = fixes
        .iter()
        .any(|f| f.rule == NETWORK_RULE || f.rule == OFFLINE_RULE);
    if let Some(platform) = d_platform.filter(|_| platforms) {
        wait_for_platform(&case, memory, &platform).await;
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
    let mut hopeless = None;
    for (i, fix) in fixes.iter().take(MAX_FIXES).enumerate() {
        if fix.actions.first() == Some(&HealAction::Escalate) {
            tried.push(format!("{}: escalates by design", fix.rule));
            // Stopping the runner on a guess would hurt more than a restart loop: only when
            // the category is likely.
            let likely = case.failure.verdict().confidence >= HOLD_CONFIDENCE;
            hopeless = (likely && playbook::RESTART_CANNOT_HELP.contains(&fix.rule.as_str()))
                .then_some(fix.rule.clone());
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
        let (db, store) = (engine.data_dir().db(), memory.store.clone());
        let (sig, rule) = (case.key.clone(), fix.rule.clone());
        let _ = tokio::task::spawn_blocking(move || {
            with_store(&store, &db, |s| {
                s.heal_outcome(&sig, &rule, ok, qcity_platform::clock::now_ms())
            })
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
    lock(&memory.cases).quiet.insert(quiet_key, Instant::now());
    if let Some(rule) = hopeless.filter(|_| case.trigger.probe.is_empty()) {
        hold(&case, &rule).await;
    }
    true
}

/// Stops a runner whose failure a restart cannot fix (a permission error, an error in the
/// user's code, a version-control state), so that its restart policy does not loop on it;
/// the master, told by the escalation, starts it again once the cause is fixed.
async fn hold(case: &Case<'_>, rule: &str) {
    let runner = &case.trigger.runner;
    match case
        .engine
        .control("healer", qcity_types::ControlAction::Stop, runner)
        .await
    {
        Ok(_) => case.publish(
            HealStep::Held,
            rule,
            format!(
                "stopped: restarting cannot fix this; fix the cause, then start it again (`qcity start {runner}`)"
            ),
        ),
        Err(e) => tracing::warn!(runner = %runner, error = %e, "healer: cannot stop the runner"),
    }
}

/// The rules that say a failure is the network's or the platform's (`playbook.rs`).
const NETWORK_RULE: &str = "network-down";
const OFFLINE_RULE: &str = "runner-offline";
/// The longest a case waits for its platform: an outage that outlasts it is no longer the
/// likely cause, and the fixes get their turn.
const PLATFORM_WAIT_MAX: Duration = Duration::from_secs(4 * 3600);

/// Waits while `platform` reports an outage, saying so once (a `waiting` step).
async fn wait_for_platform(case: &Case<'_>, memory: &Memory, platform: &str) {
    let Some((state, name)) = memory.outage(platform) else {
        return;
    };
    case.publish(
        HealStep::Waiting,
        "",
        format!("{name} reports a {}: waiting, not fixing", state.words()),
    );
    let started = Instant::now();
    while memory.outage(platform).is_some() && started.elapsed() < PLATFORM_WAIT_MAX {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Records the sighting of the signature (on a blocking thread, on the healer's one
/// connection to the store) and ranks the fixes by its history: (times seen, the fixes).
/// `None` when there is nothing more to do: the failure repeats one its runner is known for
/// (the same exit and signature under the same configuration: counted, see `repeats`), or
/// the store cannot be written.
async fn record(
    engine: &dyn Control,
    memory: &Memory,
    trigger: &Trigger,
    d: &Diagnosis,
) -> Option<(u64, Ranked)> {
    let generation = memory.generation.load(Ordering::Relaxed);
    let (now, now_ms) = (Instant::now(), qcity_platform::clock::now_ms());
    let read = lock(&memory.repeats).take_tail(&trigger.runner);
    let tail = read.unwrap_or_else(|| {
        repeats::tail_hash(
            &engine
                .logs(&trigger.runner, repeats::TAIL_LINES)
                .unwrap_or_default(),
        )
    });
    if trigger.is_exit()
        && lock(&memory.repeats).same_signature(trigger, &d.key, generation, tail, now, now_ms)
    {
        return None;
    }
    // Its repeats not written yet go with this sighting, so that the count it says is right.
    let repeated = lock(&memory.repeats).take_unflushed(&trigger.runner, &d.key);
    let db = engine.data_dir().db();
    let store = memory.store.clone();
    let row = qcity_store::SignatureRow {
        key: d.key.clone(),
        runner: d.failure.runner.clone(),
        exit: d.failure.exit.clone(),
        probe: d.failure.probe.clone(),
        templates: serde_json::to_string(&d.failure.templates).unwrap_or_default(),
        count: 0,
        first_ms: 0,
        last_ms: 0,
    };
    let sighting = row.clone();
    let stored = tokio::task::spawn_blocking(move || {
        with_store(&store, &db, |store| {
            let row = store.signature_seen_times(&sighting, 1 + repeated, now_ms)?;
            let stats = store.rule_stats(&row.key)?;
            let since = qcity_platform::clock::now_ms() - playbook::REPEAT_WINDOW_MS;
            let recent = store.successes_since(&row.key, since)?;
            Ok((row, stats, recent))
        })
    })
    .await;
    match stored {
        Ok(Ok((stored, stats, recent))) => {
            let ranked = d.rank(&stats, &recent);
            if trigger.is_exit() {
                lock(&memory.repeats).learned(repeats::Learned {
                    trigger: trigger.clone(),
                    generation,
                    tail,
                    key: d.key.clone(),
                    row,
                    count: stored.count,
                    say: say(d, &ranked),
                    nothing_to_do: ranked.fixes.is_empty()
                        && ranked.cannot.is_empty()
                        && ranked.repeated.is_empty(),
                });
            }
            Some((stored.count, ranked))
        }
        Ok(Err(e)) => {
            tracing::warn!(runner = %trigger.runner, error = %e, "healer: cannot record the signature");
            if repeated > 0 {
                lock(&memory.repeats).unwritten(vec![repeats::Flush {
                    row,
                    times: repeated,
                    last_ms: now_ms,
                }]);
            }
            None
        }
        Err(_) => None,
    }
}

/// The `diagnosed` step's detail for this diagnosis, for any count: what a repeating
/// failure's count says (as `heal` says it the first time).
fn say(d: &Diagnosis, ranked: &Ranked) -> repeats::Say {
    let failure = d.failure.clone();
    let (fixes, cannot) = (ranked.fixes.clone(), ranked.cannot.clone());
    let repeated = ranked.repeated.join(", ");
    std::sync::Arc::new(move |count| {
        let mut said = diagnosis(&failure, count, &fixes, &cannot);
        if !repeated.is_empty() {
            said.push_str(&format!("; came back after: {repeated}"));
        }
        said
    })
}

/// The wait before the fix tried `nth` (from 0) on one failure: none before the first, then
/// `base_ms` doubling.
fn retry_backoff(base_ms: u64, nth: usize) -> Duration {
    match nth {
        0 => Duration::ZERO,
        n => Duration::from_millis(base_ms.saturating_mul(1 << (n - 1).min(16))),
    }
}

/// Applies one fix and validates it; undoes it when it did not help, and drops what it kept
/// for the undo once it did. (worked, what happened, whether something was undone)
async fn attempt(case: &Case<'_>, fix: &Candidate) -> (bool, String, bool) {
    let mut undo = Vec::new();
    let mut restarted_at = None;
    for action in &fix.actions {
        match actions::apply(case, action, &mut undo).await {
            Ok(Some(from)) => restarted_at = Some(from),
            Ok(None) => {}
            Err(e) => {
                let detail = format!("{}: {e}", playbook::describe(action));
                return (false, detail, roll_back(case, fix, undo));
            }
        }
    }
    // A runner that failed is started again for the fix to show; one whose probe failed
    // while it ran is left running.
    if case.trigger.probe.is_empty() && restarted_at.is_none() {
        match actions::restart(case).await {
            Ok(from) => restarted_at = Some(from),
            Err(e) => return (false, format!("restart: {e}"), roll_back(case, fix, undo)),
        }
    }
    match validate::validate(case, restarted_at).await {
        Ok(mut detail) => {
            if let Some(freed) = aside::discard(undo) {
                detail.push_str(&format!("; {freed}"));
            }
            (true, detail, false)
        }
        Err(detail) => (false, detail, roll_back(case, fix, undo)),
    }
}

/// Puts cleaned directories back and says so with a `rolled-back` step. Whether there was
/// anything to put back.
fn roll_back(case: &Case<'_>, fix: &Candidate, undo: Vec<aside::Aside>) -> bool {
    match aside::restore(undo) {
        Some(said) => {
            case.publish(HealStep::RolledBack, &fix.rule, said);
            true
        }
        None => false,
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
    // A lost registration was escalated by the runner itself, with the steps to register:
    // a CI runner's exit that says so is the same news (its state follows from its lines).
    let ci_runner = case
        .engine
        .config()
        .manifest
        .runners
        .iter()
        .any(|r| r.name == case.trigger.runner && r.kind != qcity_config::RunnerKind::Command);
    let registration =
        ci_runner && f.verdict().category == qcity_types::FailureCategory::RegistrationRemoved;
    if f.exit != NEEDS_REGISTRATION && !registration {
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
