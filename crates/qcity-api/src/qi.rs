//! `GET /api/v1/qi`: the QI installer picker's view: this device, the newest release's
//! assets ranked for it with their reasons, its optional features, and the gate, which stays
//! closed (with the reasons) while the latest autotest failed or is too old, or a runner or
//! the machine is unhealthy.

use qcity_config::release::{
    AssetArch, AssetFormat, AssetLibc, AssetOs, ReleaseManifest, parse_release_manifest,
};
use qcity_engine::Engine;
use qcity_engine::probe::{Health, ProbeState};
use qcity_installer::device::{Device, Probe, detect};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QiView {
    pub device: Device,
    /// The app and its newest release, when the manifest could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Every asset of that release, those that fit first, best first.
    pub options: Vec<QiOption>,
    pub features: Vec<QiFeature>,
    pub gate: Gate,
    /// Why the manifest could not be used (every error, one per line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QiOption {
    /// The asset's index in the release.
    pub asset: usize,
    pub os: AssetOs,
    pub arch: AssetArch,
    pub format: AssetFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libc: Option<AssetLibc>,
    pub size: u64,
    pub fits: bool,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QiFeature {
    pub name: String,
    pub description: String,
    pub size: u64,
    pub default: bool,
}

/// Whether installing is allowed now, and if not, why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Gate {
    pub open: bool,
    pub reasons: Vec<String>,
}

/// The picker's view (blocking: it reads the manifest and the store).
pub fn view(engine: &Engine) -> QiView {
    let config = engine.config();
    let device = detect(&Probe::here());
    let mut out = QiView {
        device,
        app: None,
        version: None,
        options: Vec::new(),
        features: Vec::new(),
        gate: gate(engine),
        manifest_error: None,
    };
    let Some(settings) = &config.device.installer else {
        return out;
    };
    match read_manifest(&settings.manifest, &config.dir) {
        Err(e) => out.manifest_error = Some(e),
        Ok(m) => {
            out.app = Some(m.app.clone());
            if let Some(release) = m.versions.first() {
                out.version = Some(release.version.clone());
                out.options = qcity_installer::rank(&release.assets, &out.device)
                    .into_iter()
                    .map(|c| {
                        let a = &release.assets[c.asset];
                        QiOption {
                            asset: c.asset,
                            os: a.os,
                            arch: a.arch,
                            format: a.format,
                            libc: a.libc.clone(),
                            size: a.size,
                            fits: c.fits,
                            reasons: c.reasons,
                        }
                    })
                    .collect();
                out.features = release
                    .features
                    .iter()
                    .map(|f| QiFeature {
                        name: f.name.clone(),
                        description: f.description.clone(),
                        size: f.size,
                        default: f.default,
                    })
                    .collect();
                if !out.options.iter().any(|o| o.fits) {
                    let d = &out.device;
                    out.manifest_error = Some(format!(
                        "no asset of {} {} fits this device ({} on {:?}, {}); available: {}",
                        m.app,
                        release.version,
                        d.os_name,
                        d.arch,
                        d.libc
                            .map_or("unknown libc".into(), |l| format!("{:?}", l.kind)),
                        release
                            .assets
                            .iter()
                            .map(|a| format!("{:?}/{:?} {}", a.os, a.arch, a.format.as_str()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
    }
    out
}

fn read_manifest(url: &str, base: &std::path::Path) -> Result<ReleaseManifest, String> {
    let text = qcity_installer::fetch::fetch_text(url, base).map_err(|e| e.to_string())?;
    parse_release_manifest(url, text).map_err(|e| e.to_string())
}

/// Closed while: no installer is configured, the latest autotest failed or is older than the
/// configured age (or none ran), a runner is unhealthy, or the machine is.
pub fn gate(engine: &Engine) -> Gate {
    let config = engine.config();
    let mut reasons = Vec::new();
    match &config.device.installer {
        None => reasons.push(
            "no release manifest is configured (`installer` in qcity-device-config.json)".into(),
        ),
        Some(settings) => match engine.latest_autotest() {
            Ok(None) => reasons.push("no autotest has run yet: run `qcity autotest`".into()),
            Err(e) => reasons.push(format!("cannot read the latest autotest: {e}")),
            Ok(Some(report)) => {
                let age_min = (qcity_engine::clock::now_ms() - report.started_ms).max(0) / 60_000;
                if !report.passed {
                    let failed: Vec<String> = report
                        .checks
                        .iter()
                        .filter(|c| !c.passed)
                        .map(|c| format!("{}: {}", c.name, c.reason))
                        .collect();
                    reasons.push(format!(
                        "the latest autotest failed ({})",
                        failed.join("; ")
                    ));
                } else if age_min as u64 > settings.max_autotest_age_minutes {
                    reasons.push(format!(
                        "the latest autotest passed {age_min} minutes ago, more than the {} allowed: run `qcity autotest`",
                        settings.max_autotest_age_minutes
                    ));
                }
            }
        },
    }
    for r in engine.status() {
        if r.health == Some(Health::Unhealthy) {
            reasons.push(format!(
                "runner {} is unhealthy ({})",
                r.name,
                failing(&r.probes)
            ));
        }
    }
    let machine = engine.machine();
    if machine.health == Some(Health::Unhealthy) {
        reasons.push(format!(
            "this machine is unhealthy ({})",
            failing(&machine.resources)
        ));
    }
    Gate {
        open: reasons.is_empty(),
        reasons,
    }
}

/// `name: detail` of each failing check, joined.
fn failing(checks: &[qcity_engine::probe::ProbeStatus]) -> String {
    checks
        .iter()
        .filter(|p| p.state == ProbeState::Failing)
        .map(|p| format!("{}: {}", p.name, p.detail))
        .collect::<Vec<_>>()
        .join("; ")
}
