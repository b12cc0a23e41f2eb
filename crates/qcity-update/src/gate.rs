//! Whether this machine may change now: the gate QCity's update shares with the QI installer
//! (`qcity_installer::gate`: a fresh passing autotest, no unhealthy runner, a healthy
//! machine), with its facts read from the engine. An update also waits while a runner is
//! failing (shown red: a crash loop, an unclean exit): one change at a time.

use qcity_engine::Engine;
use qcity_installer::gate::{Autotest, Facts, Unhealthy};
use qcity_types::{Colour, Health, ProbeState, ProbeStatus};

/// The gate's facts, read from the engine.
pub struct EngineFacts<'a>(pub &'a Engine);

impl Facts for EngineFacts<'_> {
    fn latest_autotest(&self) -> Result<Option<Autotest>, String> {
        let report = self.0.latest_autotest().map_err(|e| e.to_string())?;
        Ok(report.map(|r| Autotest {
            passed: r.passed,
            started_ms: r.started_ms,
            failed: r
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| format!("{}: {}", c.name, c.reason))
                .collect(),
        }))
    }

    fn unhealthy(&self) -> Vec<Unhealthy> {
        let mut out: Vec<Unhealthy> = self
            .0
            .status()
            .into_iter()
            .filter(|r| r.health == Some(Health::Unhealthy))
            .map(|r| Unhealthy::Runner {
                failing: failing(&r.probes),
                name: r.name,
            })
            .collect();
        let machine = self.0.machine();
        if machine.health == Some(Health::Unhealthy) {
            out.push(Unhealthy::Machine {
                failing: failing(&machine.resources),
            });
        }
        out
    }
}

/// `name: detail` of each failing check.
fn failing(checks: &[ProbeStatus]) -> Vec<String> {
    checks
        .iter()
        .filter(|p| p.state == ProbeState::Failing)
        .map(|p| format!("{}: {}", p.name, p.detail))
        .collect()
}

/// Why an update may not be applied now; empty when it may. Blocking (reads the store).
pub fn blocked_by(engine: &Engine, max_autotest_age_minutes: u64) -> Vec<String> {
    let mut reasons =
        qcity_installer::gate::blocked_by(max_autotest_age_minutes, &EngineFacts(engine));
    for r in engine.status() {
        // Unhealthy ones are named above already.
        if r.colour == Colour::Red && r.health != Some(Health::Unhealthy) {
            reasons.push(format!("runner {} is failing ({})", r.name, r.state.name()));
        }
    }
    reasons
}

/// Whether the latest autotest is missing or older than `max_age_minutes` (the updater runs
/// one first, rather than refuse for that alone). Blocking.
pub fn autotest_stale(engine: &Engine, max_age_minutes: u64) -> bool {
    match engine.latest_autotest() {
        // The gate's own measure, so "stale" here is what the gate would refuse as stale.
        Ok(Some(r)) => qcity_installer::gate::too_old(
            r.started_ms,
            qcity_platform::clock::now_ms(),
            max_age_minutes,
        ),
        _ => true,
    }
}
