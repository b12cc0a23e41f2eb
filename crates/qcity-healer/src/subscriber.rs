//! The healer's bus subscription: each failure starts a case for its runner unless one is
//! under way; a crash loop that comes during a case is kept for afterwards.

use std::sync::{Arc, Weak};

use qcity_types::RunnerState;

use crate::control::Control;
use crate::heal;
use crate::memory::{Memory, lock};
use crate::trigger::{CRASH_LOOP, Trigger};

/// The healer's subscriber queue.
const QUEUE: usize = 4096;

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
    drop(engine);
    tokio::spawn(async move {
        for trigger in failing {
            let Some(engine) = control.upgrade() else {
                return;
            };
            take_on(engine, trigger, &memory);
        }
        while let Some(ev) = rx.recv().await {
            if let qcity_types::EventKind::PlatformChanged {
                platform,
                name,
                state,
                ..
            } = &ev.kind
            {
                lock(&memory.platforms).insert(platform.clone(), (*state, name.clone()));
                continue;
            }
            if let qcity_types::EventKind::RunnerActivity {
                runner,
                activity: qcity_types::Activity::Offline { .. },
            } = &ev.kind
                && let Some(engine) = control.upgrade()
            {
                offline_during_outage(&*engine, runner, &memory);
                continue;
            }
            let Some(trigger) = Trigger::from_event(&ev.kind) else {
                continue;
            };
            let Some(engine) = control.upgrade() else {
                return;
            };
            take_on(engine, trigger, &memory);
        }
    });
}

/// Starts a case for `trigger`'s runner, unless the healer is off or one is under way.
fn take_on(engine: Arc<dyn Control>, trigger: Trigger, memory: &Arc<Memory>) {
    if !engine.config().device.healer.enabled {
        return;
    }
    {
        let mut cases = lock(&memory.cases);
        if !cases.busy.insert(trigger.runner.clone()) {
            // The detector fires on the exit whose own healing is just starting, so a crash
            // loop nearly always arrives while busy: kept for afterwards.
            if trigger.exit == CRASH_LOOP {
                cases.pending.insert(trigger.runner.clone(), trigger);
            }
            return;
        }
    }
    let memory = memory.clone();
    tokio::spawn(async move {
        let runner = trigger.runner.clone();
        let mut next = Some(trigger);
        while let Some(t) = next.take() {
            let acted = heal::heal(&*engine, t, &memory).await;
            // A crash loop during a fix is that fix failing its validation, already handled;
            // one after a failure left to the restart policy is new, unless the runner has
            // come out of it since.
            let looping = engine
                .status()
                .iter()
                .any(|s| s.name == runner && matches!(s.state, RunnerState::CrashLooping { .. }));
            let mut cases = lock(&memory.cases);
            next = cases.pending.remove(&runner).filter(|_| looping && !acted);
            if next.is_none() {
                cases.busy.remove(&runner);
            }
        }
    });
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
    engine.bus().publish(qcity_types::EventKind::Heal {
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
