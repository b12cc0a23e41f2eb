//! The gate: whether this device may install now, and if not, why. It stays closed while no
//! installer is configured, the latest autotest failed or is too old (or none ran), a runner
//! is unhealthy, or the machine is.
//!
//! The facts come from whoever runs the gate (the API asks the engine) through [`Facts`], so
//! this crate needs no engine.

use qcity_config::InstallerSettings;
use serde::{Deserialize, Serialize};

/// Whether installing is allowed now, and if not, why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct Gate {
    pub open: bool,
    pub reasons: Vec<String>,
}

/// The latest autotest, as far as the gate cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Autotest {
    pub passed: bool,
    /// When it started, ms since the epoch.
    pub started_ms: i64,
    /// `name: reason` of each failed check.
    pub failed: Vec<String>,
}

/// Something unhealthy, with `name: detail` of each of its failing checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unhealthy {
    Runner { name: String, failing: Vec<String> },
    Machine { failing: Vec<String> },
}

/// What the gate looks at. The autotest is asked for only when an installer is configured.
pub trait Facts {
    /// The newest autotest: `None` when none ran, `Err` when it cannot be read.
    fn latest_autotest(&self) -> Result<Option<Autotest>, String>;
    /// The unhealthy runners (in their order), then the machine if it is unhealthy.
    fn unhealthy(&self) -> Vec<Unhealthy>;
    /// Now, ms since the epoch.
    fn now_ms(&self) -> i64 {
        qcity_platform::clock::now_ms()
    }
}

/// The gate for `installer` (the device config's `installer`) and `facts`.
pub fn check(installer: Option<&InstallerSettings>, facts: &impl Facts) -> Gate {
    let reasons = match installer {
        None => {
            let mut reasons = vec![
                "no release manifest is configured (`installer` in qcity-device-config.json)"
                    .to_string(),
            ];
            reasons.extend(unhealthy(facts));
            reasons
        }
        Some(settings) => blocked_by(settings.max_autotest_age_minutes, facts),
    };
    Gate {
        open: reasons.is_empty(),
        reasons,
    }
}

/// Why this device is not fit to change now: the latest autotest failed, is older than
/// `max_autotest_age_minutes` or none ran; a runner or the machine is unhealthy. Empty when
/// it is fit (the QI installer's gate; QCity's own update asks the same).
pub fn blocked_by(max_autotest_age_minutes: u64, facts: &impl Facts) -> Vec<String> {
    let mut reasons = Vec::new();
    match facts.latest_autotest() {
        Ok(None) => reasons.push("no autotest has run yet: run `qcity autotest`".into()),
        Err(e) => reasons.push(format!("cannot read the latest autotest: {e}")),
        Ok(Some(report)) => {
            let age_min = age_minutes(report.started_ms, facts.now_ms());
            if !report.passed {
                reasons.push(format!(
                    "the latest autotest failed ({})",
                    report.failed.join("; ")
                ));
            } else if age_min > max_autotest_age_minutes {
                reasons.push(format!(
                    "the latest autotest passed {age_min} minutes ago, more than the {max_autotest_age_minutes} allowed: run `qcity autotest`"
                ));
            }
        }
    }
    reasons.extend(unhealthy(facts));
    reasons
}

/// Whole minutes since an autotest that started at `started_ms` (0 for one from the future:
/// a clock set back).
pub fn age_minutes(started_ms: i64, now_ms: i64) -> u64 {
    ((now_ms - started_ms).max(0) / 60_000) as u64
}

/// Whether an autotest that started at `started_ms` is older than the gate allows.
pub fn too_old(started_ms: i64, now_ms: i64, max_minutes: u64) -> bool {
    age_minutes(started_ms, now_ms) > max_minutes
}

fn unhealthy(facts: &impl Facts) -> Vec<String> {
    facts
        .unhealthy()
        .into_iter()
        .map(|u| match u {
            Unhealthy::Runner { name, failing } => {
                format!("runner {name} is unhealthy ({})", failing.join("; "))
            }
            Unhealthy::Machine { failing } => {
                format!("this machine is unhealthy ({})", failing.join("; "))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        autotest: Result<Option<Autotest>, String>,
        unhealthy: Vec<Unhealthy>,
    }

    impl Facts for Fake {
        fn latest_autotest(&self) -> Result<Option<Autotest>, String> {
            self.autotest.clone()
        }
        fn unhealthy(&self) -> Vec<Unhealthy> {
            self.unhealthy.clone()
        }
        fn now_ms(&self) -> i64 {
            100 * 60_000
        }
    }

    fn settings() -> InstallerSettings {
        serde_json::from_str(
            r#"{"manifest": "m.json", "public_key": "k", "max_autotest_age_minutes": 60}"#,
        )
        .unwrap()
    }

    fn passed(minutes_ago: i64) -> Fake {
        Fake {
            autotest: Ok(Some(Autotest {
                passed: true,
                started_ms: (100 - minutes_ago) * 60_000,
                failed: Vec::new(),
            })),
            unhealthy: Vec::new(),
        }
    }

    #[test]
    fn open_after_a_recent_passing_autotest_on_a_healthy_machine() {
        let g = check(Some(&settings()), &passed(10));
        assert_eq!((g.open, g.reasons.len()), (true, 0));
    }

    #[test]
    fn closed_without_an_installer_or_a_fresh_passing_autotest() {
        let g = check(None, &passed(10));
        assert!(!g.open && g.reasons[0].starts_with("no release manifest is configured"));
        let g = check(Some(&settings()), &passed(61));
        assert_eq!(
            g.reasons,
            [
                "the latest autotest passed 61 minutes ago, more than the 60 allowed: run `qcity autotest`"
            ]
        );
        let none = Fake {
            autotest: Ok(None),
            unhealthy: Vec::new(),
        };
        assert_eq!(
            check(Some(&settings()), &none).reasons,
            ["no autotest has run yet: run `qcity autotest`"]
        );
        let failed = Fake {
            autotest: Ok(Some(Autotest {
                passed: false,
                started_ms: 0,
                failed: vec!["disk: 1 MB free".into(), "probe: down".into()],
            })),
            unhealthy: Vec::new(),
        };
        assert_eq!(
            check(Some(&settings()), &failed).reasons,
            ["the latest autotest failed (disk: 1 MB free; probe: down)"]
        );
    }

    #[test]
    fn closed_while_a_runner_or_the_machine_is_unhealthy() {
        let mut f = passed(1);
        f.unhealthy = vec![
            Unhealthy::Runner {
                name: "ci".into(),
                failing: vec!["http: status 500".into(), "tcp: refused".into()],
            },
            Unhealthy::Machine {
                failing: vec!["disk: 1 MB free".into()],
            },
        ];
        assert_eq!(
            check(Some(&settings()), &f).reasons,
            [
                "runner ci is unhealthy (http: status 500; tcp: refused)",
                "this machine is unhealthy (disk: 1 MB free)"
            ]
        );
    }
}
