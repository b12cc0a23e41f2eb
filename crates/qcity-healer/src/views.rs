//! The healer as the API shows it: what it would do about a runner now (nothing touched,
//! nothing recorded), and the signatures it learned from.

use qcity_config::HealAction;
use qcity_store::Store;
use qcity_types::{FixView, HealPlan, SignatureView};

use crate::control::Control;
use crate::diagnose::{Ranked, diagnose, plan_text};
use crate::memory::Memory;
use crate::playbook::{self, Candidate, describe};
use crate::trigger::Trigger;

fn fix_view(c: &Candidate) -> FixView {
    FixView {
        rule: c.rule.clone(),
        actions: c.actions.iter().map(describe).collect(),
        attempts: c.attempts,
        successes: c.successes,
        score: c.score,
    }
}

/// What the healer would do about `runner` now.
pub(crate) fn plan(engine: &dyn Control, memory: &Memory, runner: &str) -> HealPlan {
    let quiet = HealPlan {
        runner: runner.to_string(),
        signature: None,
        summary: "not failing".into(),
        category: None,
        confidence: 0.0,
        evidence: Vec::new(),
        lines: Vec::new(),
        templates: Vec::new(),
        fixes: Vec::new(),
        cannot: Vec::new(),
        would: "nothing: the runner is not failing".into(),
    };
    let Some(trigger) = engine
        .status()
        .iter()
        .find(|s| s.name == runner)
        .and_then(Trigger::from_status)
    else {
        return quiet;
    };
    let Some(d) = diagnose(engine, memory, &trigger) else {
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
    let Ranked {
        fixes,
        cannot,
        repeated,
    } = d.rank(&stats, &recent);
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
    let verdict = d.failure.verdict();
    HealPlan {
        runner: runner.to_string(),
        signature: Some(d.key),
        summary: d.failure.summary(),
        category: Some(verdict.category),
        confidence: (verdict.confidence * 100.0).round() / 100.0,
        evidence: verdict.evidence,
        lines: d.failure.lines,
        templates: d.failure.templates,
        fixes: fixes.iter().map(fix_view).collect(),
        cannot,
        would,
    }
}

/// The most frequent signatures, with their trend and the fixes tried on them.
pub(crate) fn signatures(
    engine: &dyn Control,
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
