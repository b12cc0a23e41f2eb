//! A failure diagnosed: read from the runner's output tail, turned into a signature, and the
//! fixes that fit it ranked by what worked before.

use qcity_config::ProbeCheck;
use qcity_engine::supervisor::runner::RunnerPlan;
use qcity_store::RuleStats;

use crate::control::Control;
use crate::memory::{Memory, lock};
use crate::playbook::{self, Candidate, candidates, describe};
use crate::signature::Failure;
use crate::trigger::Trigger;

/// Output lines read around a failure.
const TAIL_LINES: usize = 200;

/// A failure diagnosed: the runner's settings and how it runs, the failure and its key.
pub(crate) struct Diagnosis {
    pub spec: qcity_config::RunnerSpec,
    pub plan: RunnerPlan,
    pub failure: Failure,
    pub key: String,
    pub probe_kind: &'static str,
}

/// The fixes for a diagnosis: those to try, best first; the rules that fit but cannot act,
/// with why; the fixes left out because the failure keeps coming back after them, with why.
pub(crate) struct Ranked {
    pub fixes: Vec<Candidate>,
    pub cannot: Vec<String>,
    pub repeated: Vec<String>,
}

/// Reads the failure from the runner's output; `None` when the runner is gone.
pub(crate) fn diagnose(
    engine: &dyn Control,
    memory: &Memory,
    trigger: &Trigger,
) -> Option<Diagnosis> {
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
    let kind = serde_json::to_value(spec.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let tool = crate::classify::exit::tool(&spec.command);
    let failure = Failure::new(
        &trigger.runner,
        (trigger.exit.clone(), trigger.code, trigger.signal),
        &trigger.probe,
        tail.clone(),
        &mut lock(&memory.miner),
    )
    .classified(&tail, &tool, &kind);
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

impl Diagnosis {
    /// Ranks the fitting rules by `stats` (this signature's outcomes), leaving out those
    /// that `recent` (its successes within the repeat window) says not to repeat.
    pub fn rank(&self, stats: &[RuleStats], recent: &[(String, u64)]) -> Ranked {
        let (fixes, cannot) = candidates(&self.spec.heal, &self.failure, self.probe_kind, stats);
        let (fixes, repeated) = not_repeated(fixes, recent);
        Ranked {
            fixes,
            cannot,
            repeated,
        }
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

/// The `diagnosed` step's detail: the failure, how often it was seen, the fixes and what
/// cannot act.
pub(crate) fn diagnosis(f: &Failure, count: u64, fixes: &[Candidate], cannot: &[String]) -> String {
    let mut out = format!("{} (seen {count}×)", f.summary());
    if let Some(v) = &f.verdict {
        out.push_str(&format!("; {}", v.phrase()));
        if let Some(line) = v.evidence.last() {
            out.push_str(&format!(" from \"{line}\""));
        }
    }
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

/// A fix's actions as one phrase: `clean cache, then restart`.
pub(crate) fn plan_text(c: &Candidate) -> String {
    c.actions
        .iter()
        .map(describe)
        .collect::<Vec<_>>()
        .join(", then ")
}
