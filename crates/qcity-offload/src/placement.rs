//! Where a job runs, and why: this machine's readings against the placement thresholds, each
//! target's health, load and recent success, the job's `offload` and the config's `mode`.
//! Pure: the same inputs give the same ranking, so `--dry-run` shows what a run would do.

use qcity_config::{OffloadMode, OffloadPolicy, PlacementSettings};
use qcity_types::{Candidate, Placement, Readings};

/// What is known of a remote target when a job is placed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetHealth {
    /// `ssh:box`, `github:ci`.
    pub place: String,
    /// Why it counts as down (its last attempt could not reach it, recently), if it does.
    pub down: Option<String>,
    /// Jobs it runs now, and how many it may.
    pub running: u32,
    pub max_jobs: u32,
    /// Of its recent finished attempts, how many ran to an exit (whatever the exit code).
    pub recent_ok: u32,
    pub recent_total: u32,
}

impl TargetHealth {
    /// Recent attempts that reached the place; an unknown place counts as reliable.
    fn success_rate(&self) -> f64 {
        if self.recent_total == 0 {
            1.0
        } else {
            f64::from(self.recent_ok) / f64::from(self.recent_total)
        }
    }

    fn record(&self) -> String {
        if self.recent_total == 0 {
            "no attempts yet".into()
        } else {
            format!(
                "{} of its last {} attempts reached it",
                self.recent_ok, self.recent_total
            )
        }
    }
}

/// Everything a placement is decided from.
pub struct Inputs<'a> {
    pub mode: OffloadMode,
    pub policy: OffloadPolicy,
    pub settings: &'a PlacementSettings,
    pub readings: &'a Readings,
    /// Free space where the job runs here, in MiB.
    pub job_dir_free_mb: Option<u64>,
    /// The configured targets, in the config's order.
    pub targets: &'a [TargetHealth],
    /// `--where`: `local` or a target's place.
    pub forced: Option<&'a str>,
}

/// Why this machine should not run the job now; empty when it is fine.
pub fn shortages(s: &PlacementSettings, r: &Readings, job_dir_free_mb: Option<u64>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(b) = &r.battery
        && b.on_battery()
        && b.percent < s.min_battery_percent
    {
        out.push(format!(
            "on battery at {} % (below {} %)",
            b.percent, s.min_battery_percent
        ));
    }
    if let Some(load) = r.load_1m {
        let per_cpu = load / r.cpus.max(1) as f64;
        if per_cpu > s.max_load_per_cpu {
            out.push(format!(
                "load {per_cpu:.2} per CPU (above {})",
                s.max_load_per_cpu
            ));
        }
    }
    if let Some(mb) = r.available_memory_mb
        && mb < s.min_free_memory_mb
    {
        out.push(format!(
            "{mb} MiB of memory available (below {} MiB)",
            s.min_free_memory_mb
        ));
    }
    if let Some(mb) = job_dir_free_mb
        && mb < s.min_free_disk_mb
    {
        out.push(format!(
            "{mb} MiB free where the job runs (below {} MiB)",
            s.min_free_disk_mb
        ));
    }
    out
}

/// Why this machine is fine, for the local candidate's reasons.
fn local_state(r: &Readings) -> String {
    let mut parts = Vec::new();
    match &r.battery {
        Some(b) if b.on_battery() => parts.push(format!("on battery at {} %", b.percent)),
        Some(_) => parts.push("on mains power".to_string()),
        None => {}
    }
    if let Some(load) = r.load_1m {
        parts.push(format!("load {:.2} per CPU", load / r.cpus.max(1) as f64));
    }
    if let Some(mb) = r.available_memory_mb {
        parts.push(format!("{mb} MiB of memory available"));
    }
    if parts.is_empty() {
        "no resource readings here".into()
    } else {
        parts.join(", ")
    }
}

/// Unknown `--where`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no place `{0}`: give local, or one of the targets in qmoi_cloud_config.json ({1})")]
pub struct UnknownPlace(pub String, pub String);

/// The ranking of places for a job.
pub fn decide(i: &Inputs<'_>) -> Result<Placement, UnknownPlace> {
    let short = shortages(i.settings, i.readings, i.job_dir_free_mb);
    let local = |eligible: bool, mut reasons: Vec<String>| {
        if short.is_empty() {
            reasons.insert(0, local_state(i.readings));
        } else {
            reasons.splice(0..0, short.iter().cloned());
        }
        Candidate {
            place: "local".into(),
            eligible,
            reasons,
        }
    };
    if let Some(place) = i.forced {
        let candidate = if place == "local" {
            local(true, vec!["named by --where".into()])
        } else {
            let Some(t) = i.targets.iter().find(|t| t.place == place) else {
                let known: Vec<&str> = std::iter::once("local")
                    .chain(i.targets.iter().map(|t| t.place.as_str()))
                    .collect();
                return Err(UnknownPlace(place.to_string(), known.join(", ")));
            };
            let mut reasons = vec!["named by --where".to_string()];
            reasons.extend(t.down.iter().map(|d| format!("down: {d}")));
            reasons.push(t.record());
            Candidate {
                place: t.place.clone(),
                eligible: true,
                reasons,
            }
        };
        return Ok(Placement {
            mode: "forced".into(),
            summary: format!("{place}, as --where names it; no failover"),
            candidates: vec![candidate],
        });
    }
    let mode = match i.mode {
        OffloadMode::LocalFirst => "local-first",
        OffloadMode::Auto => "auto",
        OffloadMode::CloudFirst => "cloud-first",
    };
    if i.policy == OffloadPolicy::Never {
        let mut candidates = vec![local(true, vec!["the job says offload: never".into()])];
        candidates.extend(i.targets.iter().map(|t| Candidate {
            place: t.place.clone(),
            eligible: false,
            reasons: vec!["the job says offload: never".into()],
        }));
        return Ok(Placement {
            mode: mode.into(),
            summary: "here: the job says offload: never".into(),
            candidates,
        });
    }
    // Remote targets: the usable ones by recent success, then free slots, then config order.
    let mut usable: Vec<&TargetHealth> = Vec::new();
    let mut unusable: Vec<Candidate> = Vec::new();
    for t in i.targets {
        if let Some(d) = &t.down {
            unusable.push(Candidate {
                place: t.place.clone(),
                eligible: false,
                reasons: vec![format!("down: {d}")],
            });
        } else if t.running >= t.max_jobs {
            unusable.push(Candidate {
                place: t.place.clone(),
                eligible: false,
                reasons: vec![format!(
                    "full: {} of {} jobs running",
                    t.running, t.max_jobs
                )],
            });
        } else {
            usable.push(t);
        }
    }
    usable.sort_by(|a, b| {
        b.success_rate()
            .total_cmp(&a.success_rate())
            .then((a.running * b.max_jobs).cmp(&(b.running * a.max_jobs)))
    });
    let remote: Vec<Candidate> = usable
        .iter()
        .map(|t| Candidate {
            place: t.place.clone(),
            eligible: true,
            reasons: vec![
                t.record(),
                format!("{} of {} job slots in use", t.running, t.max_jobs),
            ],
        })
        .collect();
    let remote_first = !remote.is_empty()
        && match (i.policy, i.mode) {
            (OffloadPolicy::Always, _) | (_, OffloadMode::CloudFirst) => true,
            (_, OffloadMode::LocalFirst) => false,
            (_, OffloadMode::Auto) => !short.is_empty(),
        };
    let summary = if i.targets.is_empty() {
        "here: no remote targets in qmoi_cloud_config.json".to_string()
    } else if remote.is_empty() {
        "here: no remote target can take it now".to_string()
    } else if remote_first {
        match (i.policy, i.mode) {
            (OffloadPolicy::Always, _) => "elsewhere: the job says offload: always".to_string(),
            (_, OffloadMode::CloudFirst) => "elsewhere: mode cloud-first".to_string(),
            _ => format!("elsewhere: this machine is short ({})", short.join("; ")),
        }
    } else if i.mode == OffloadMode::LocalFirst {
        "here: mode local-first; remote targets only if this machine fails".to_string()
    } else {
        "here: this machine has what the job needs".to_string()
    };
    let local_reason = if remote_first {
        "last resort: every remote target failed"
    } else {
        "first choice"
    };
    let local = local(true, vec![local_reason.into()]);
    let mut candidates = Vec::new();
    if remote_first {
        candidates.extend(remote);
        candidates.push(local);
    } else {
        candidates.push(local);
        candidates.extend(remote);
    }
    candidates.extend(unusable);
    Ok(Placement {
        mode: mode.into(),
        summary,
        candidates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcity_types::Battery;

    fn readings(battery: Option<(u8, bool)>) -> Readings {
        Readings {
            disks: vec![],
            available_memory_mb: Some(8000),
            load_1m: Some(0.5),
            cpus: 4,
            battery: battery.map(|(percent, ac)| Battery {
                percent,
                status: if ac { "Charging" } else { "Discharging" }.into(),
                ac_online: Some(ac),
            }),
        }
    }

    fn target(place: &str) -> TargetHealth {
        TargetHealth {
            place: place.into(),
            max_jobs: 2,
            ..TargetHealth::default()
        }
    }

    fn places(p: &Placement) -> Vec<(&str, bool)> {
        p.candidates
            .iter()
            .map(|c| (c.place.as_str(), c.eligible))
            .collect()
    }

    fn decide_with(
        mode: OffloadMode,
        policy: OffloadPolicy,
        r: &Readings,
        targets: &[TargetHealth],
    ) -> Placement {
        decide(&Inputs {
            mode,
            policy,
            settings: &PlacementSettings::default(),
            readings: r,
            job_dir_free_mb: Some(100_000),
            targets,
            forced: None,
        })
        .unwrap()
    }

    #[test]
    fn auto_on_low_battery_goes_elsewhere_and_says_why() {
        let targets = [target("ssh:box")];
        let p = decide_with(
            OffloadMode::Auto,
            OffloadPolicy::Auto,
            &readings(Some((30, false))),
            &targets,
        );
        assert_eq!(places(&p), [("ssh:box", true), ("local", true)]);
        assert_eq!(
            p.summary,
            "elsewhere: this machine is short (on battery at 30 % (below 50 %))"
        );
        assert_eq!(
            p.candidates[1].reasons[0],
            "on battery at 30 % (below 50 %)"
        );
    }

    #[test]
    fn auto_on_mains_or_a_full_battery_stays_here() {
        let targets = [target("ssh:box")];
        for b in [Some((30, true)), Some((90, false)), None] {
            let p = decide_with(
                OffloadMode::Auto,
                OffloadPolicy::Auto,
                &readings(b),
                &targets,
            );
            assert_eq!(places(&p), [("local", true), ("ssh:box", true)], "{b:?}");
            assert_eq!(p.summary, "here: this machine has what the job needs");
        }
    }

    #[test]
    fn a_down_or_full_target_is_listed_last_and_not_tried() {
        let mut down = target("ssh:down");
        down.down = Some("connection refused".into());
        let mut full = target("ssh:full");
        full.running = 2;
        let mut flaky = target("ssh:flaky");
        (flaky.recent_ok, flaky.recent_total) = (1, 4);
        let good = target("ssh:good");
        let p = decide_with(
            OffloadMode::CloudFirst,
            OffloadPolicy::Auto,
            &readings(None),
            &[down, full, flaky, good],
        );
        assert_eq!(
            places(&p),
            [
                ("ssh:good", true),
                ("ssh:flaky", true),
                ("local", true),
                ("ssh:down", false),
                ("ssh:full", false)
            ]
        );
        assert_eq!(p.candidates[3].reasons, ["down: connection refused"]);
        assert_eq!(p.candidates[4].reasons, ["full: 2 of 2 jobs running"]);
    }

    #[test]
    fn never_and_no_targets_stay_here_and_where_must_name_a_place() {
        let targets = [target("ssh:box")];
        let low = readings(Some((5, false)));
        let p = decide_with(
            OffloadMode::CloudFirst,
            OffloadPolicy::Never,
            &low,
            &targets,
        );
        assert_eq!(places(&p), [("local", true), ("ssh:box", false)]);
        let p = decide_with(OffloadMode::CloudFirst, OffloadPolicy::Always, &low, &[]);
        assert_eq!(places(&p), [("local", true)]);
        assert_eq!(
            p.summary,
            "here: no remote targets in qmoi_cloud_config.json"
        );
        let err = decide(&Inputs {
            mode: OffloadMode::Auto,
            policy: OffloadPolicy::Auto,
            settings: &PlacementSettings::default(),
            readings: &low,
            job_dir_free_mb: None,
            targets: &targets,
            forced: Some("ssh:nope"),
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no place `ssh:nope`: give local, or one of the targets in qmoi_cloud_config.json (local, ssh:box)"
        );
    }
}
