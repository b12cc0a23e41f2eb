//! The healer's bus subscription: each failure starts a case for its runner unless one is
//! under way; a crash loop that comes during a case is kept for afterwards. An exit that
//! repeats a failure its runner is known for is counted, not a case (`repeats`): nothing is
//! read, mined, queried or published for it on the way; once a second while failures repeat,
//! their counts are written to the store in one transaction, and now and then said.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use qcity_types::{EventKind, RunnerState};

use crate::control::Control;
use crate::heal;
use crate::memory::{Memory, QUIET_AFTER_ESCALATION, lock, with_store};
use crate::repeats::{self, Verdict};
use crate::trigger::{CRASH_LOOP, Trigger};

/// The healer's subscriber queue.
const QUEUE: usize = 4096;

/// The healer's settings (`device.healer`), read at start and at each `config-applied`
/// rather than on every event.
#[derive(Debug, Clone, Copy)]
struct Settings {
    enabled: bool,
    dry_run: bool,
}

impl Settings {
    fn of(engine: &dyn Control) -> Settings {
        let healer = engine.config().device.healer;
        Settings {
            enabled: healer.enabled,
            dry_run: healer.dry_run,
        }
    }
}

/// Subscribes the healer to the bus; it stops when the engine is gone. Runners already
/// failing when it subscribes (they failed while the engine started) are taken on first.
pub(crate) fn spawn(control: Weak<dyn Control>, memory: Arc<Memory>) {
    let Some(engine) = control.upgrade() else {
        return;
    };
    // Subscribed first, then the status: a failure is in one or the other (or both, and
    // then the second finds its runner busy).
    let mut rx = engine.bus().subscribe("healer", QUEUE);
    let failing: Vec<Trigger> = engine
        .status()
        .iter()
        .filter_map(Trigger::from_status)
        .collect();
    let mut settings = Settings::of(&*engine);
    drop(engine);
    tokio::spawn(async move {
        for trigger in failing {
            let Some(engine) = control.upgrade() else {
                return;
            };
            take_on(engine, trigger, &memory, settings);
        }
        let flushing = Arc::new(AtomicBool::new(false));
        // When the repeats are next written and said; none while nothing repeats.
        let mut tick: Option<tokio::time::Instant> = None;
        loop {
            let ev = match tick {
                Some(at) => tokio::select! {
                    ev = rx.recv() => ev,
                    () = tokio::time::sleep_until(at) => {
                        tick = control
                            .upgrade()
                            .and_then(|engine| due(&*engine, &memory, &flushing));
                        continue;
                    }
                },
                None => tokio::select! {
                    ev = rx.recv() => ev,
                    () = memory.repeated.notified() => {
                        tick = Some(tokio::time::Instant::now() + repeats::FLUSH_EVERY);
                        continue;
                    }
                },
            };
            let Some(ev) = ev else {
                break;
            };
            match &ev.kind {
                EventKind::PlatformChanged {
                    platform,
                    name,
                    state,
                    ..
                } => {
                    lock(&memory.platforms).insert(platform.clone(), (*state, name.clone()));
                    continue;
                }
                EventKind::RunnerActivity {
                    runner,
                    activity: qcity_types::Activity::Offline { .. },
                } => {
                    if let Some(engine) = control.upgrade() {
                        offline_during_outage(&*engine, runner, &memory);
                    }
                    continue;
                }
                EventKind::ConfigApplied { .. } => {
                    memory.generation.fetch_add(1, Ordering::Relaxed);
                    if let Some(engine) = control.upgrade() {
                        settings = Settings::of(&*engine);
                    }
                    continue;
                }
                _ => {}
            }
            let Some(trigger) = Trigger::from_event(&ev.kind) else {
                continue;
            };
            let Some(engine) = control.upgrade() else {
                break;
            };
            take_on(engine, trigger, &memory, settings);
            if tick.is_none() && lock(&memory.repeats).pending() {
                tick = Some(tokio::time::Instant::now() + repeats::FLUSH_EVERY);
            }
        }
        // The engine is gone: the last repeats are written, if the store was opened.
        let (flushes, _) = lock(&memory.repeats).due(Instant::now());
        let store = memory.store.clone();
        if !flushes.is_empty() {
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(s) = lock(&store).as_mut() {
                    let _ = s.signatures_seen(&batch(&flushes));
                }
            })
            .await;
        }
    });
}

/// Starts a case for `trigger`'s runner, unless the healer is off, one is under way, or the
/// failure repeats one the runner is known for (then it is counted).
fn take_on(engine: Arc<dyn Control>, trigger: Trigger, memory: &Arc<Memory>, settings: Settings) {
    if !settings.enabled {
        return;
    }
    {
        let mut cases = lock(&memory.cases);
        if cases.busy.contains(&trigger.runner) {
            // The detector fires on the exit whose own healing is just starting, so a crash
            // loop nearly always arrives while busy: kept for afterwards.
            if trigger.exit == CRASH_LOOP {
                cases.pending.insert(trigger.runner.clone(), trigger);
            }
            return;
        }
    }
    if trigger.is_exit() {
        let generation = memory.generation.load(Ordering::Relaxed);
        let now_ms = qcity_platform::clock::now_ms();
        let verdict =
            lock(&memory.repeats).exit(&trigger, generation, Instant::now(), now_ms, || {
                repeats::tail_hash(
                    &engine
                        .logs(&trigger.runner, repeats::TAIL_LINES)
                        .unwrap_or_default(),
                )
            });
        if verdict != Verdict::Diagnose {
            return;
        }
    }
    if !lock(&memory.cases).busy.insert(trigger.runner.clone()) {
        return;
    }
    let memory = memory.clone();
    tokio::spawn(async move {
        let runner = trigger.runner.clone();
        let mut next = Some(trigger);
        while let Some(t) = next.take() {
            let acted = heal::heal(&*engine, t, &memory).await;
            let quiet: Vec<(String, Instant)> = lock(&memory.cases)
                .quiet
                .iter()
                .filter(|((r, _), _)| *r == runner)
                .map(|((_, key), at)| (key.clone(), *at + QUIET_AFTER_ESCALATION))
                .collect();
            lock(&memory.repeats).case_ended(
                &runner,
                acted,
                settings.dry_run,
                |key| quiet.iter().find(|q| q.0 == key).map(|q| q.1),
                Instant::now(),
            );
            if lock(&memory.repeats).pending() {
                memory.repeated.notify_one();
            }
            // A crash loop during a fix is that fix failing its validation, already handled;
            // one after a failure left to the restart policy is new, unless the runner has
            // come out of it since.
            let pending = lock(&memory.cases).pending.remove(&runner);
            let looping = pending.is_some()
                && engine.status().iter().any(|s| {
                    s.name == runner && matches!(s.state, RunnerState::CrashLooping { .. })
                });
            let mut cases = lock(&memory.cases);
            next = pending.filter(|_| looping && !acted);
            if next.is_none() {
                cases.busy.remove(&runner);
            }
        }
    });
}

/// Writes the repeats counted since the last time (on the blocking pool, one transaction;
/// not while the last write is still under way) and publishes the counts that are due, as
/// `diagnosed` steps. When to come again: `None` when nothing is left.
fn due(
    engine: &dyn Control,
    memory: &Arc<Memory>,
    flushing: &Arc<AtomicBool>,
) -> Option<tokio::time::Instant> {
    let (flushes, reports) = lock(&memory.repeats).due(Instant::now());
    for r in reports {
        engine.bus().publish(EventKind::Heal {
            runner: r.runner,
            signature: r.key,
            step: qcity_types::HealStep::Diagnosed,
            rule: String::new(),
            detail: r.detail,
            dry_run: r.dry_run,
        });
    }
    if !flushes.is_empty() {
        if flushing.swap(true, Ordering::AcqRel) {
            lock(&memory.repeats).unwritten(flushes);
        } else {
            let (db, memory, flushing) = (engine.data_dir().db(), memory.clone(), flushing.clone());
            tokio::task::spawn_blocking(move || {
                let written =
                    with_store(&memory.store, &db, |s| s.signatures_seen(&batch(&flushes)));
                if let Err(e) = written {
                    tracing::debug!(error = %e, "healer: cannot write the repeats; kept for the next try");
                    lock(&memory.repeats).unwritten(flushes);
                }
                flushing.store(false, Ordering::Release);
            });
        }
    }
    lock(&memory.repeats)
        .pending()
        .then(|| tokio::time::Instant::now() + repeats::FLUSH_EVERY)
}

fn batch(flushes: &[repeats::Flush]) -> Vec<(qcity_store::SignatureRow, u64, i64)> {
    flushes
        .iter()
        .map(|f| (f.row.clone(), f.times, f.last_ms))
        .collect()
}

/// A runner that lost its platform while the platform reports an outage: nothing to fix,
/// and the master should know why it is offline (a `waiting` step, no case).
fn offline_during_outage(engine: &dyn Control, runner: &str, memory: &Memory) {
    let config = engine.config();
    let Some(platform) = config
        .manifest
        .runners
        .iter()
        .find(|r| r.name == runner)
        .and_then(|r| r.platform().map(str::to_string))
    else {
        return;
    };
    let Some((state, name)) = memory.outage(&platform) else {
        return;
    };
    engine.bus().publish(EventKind::Heal {
        runner: runner.to_string(),
        signature: String::new(),
        step: qcity_types::HealStep::Waiting,
        rule: String::new(),
        detail: format!(
            "offline while {name} reports a {}: waiting for the platform, not fixing",
            state.words()
        ),
        dry_run: config.device.healer.dry_run,
    });
}
