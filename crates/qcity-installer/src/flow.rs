//! The install flow: the picker's view (this device, the newest release's assets ranked for
//! it with their reasons, its optional features, the [gate](crate::gate)), then an install:
//! pick ([`prepare`]: the gate, the asset, the features, the key), fetch, verify and install
//! ([`run`]), each step reported through a callback (the API publishes them as events).

use std::path::{Path, PathBuf};

use qcity_config::release::{
    AssetArch, AssetFormat, AssetLibc, AssetOs, ReleaseAsset, ReleaseFeature, ReleaseManifest,
    parse_release_manifest,
};
use qcity_config::{Config, InstallerSettings};
use serde::{Deserialize, Serialize};

use crate::device::{Device, Probe, detect};
use crate::gate::{self, Facts, Gate};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QiFeature {
    pub name: String,
    pub description: String,
    pub size: u64,
    pub default: bool,
}

/// The picker's view for `config` (blocking: it reads the manifest, and `facts` may read the
/// store).
pub fn view(config: &Config, facts: &impl Facts) -> QiView {
    let device = detect(&Probe::here());
    let mut out = QiView {
        device,
        app: None,
        version: None,
        options: Vec::new(),
        features: Vec::new(),
        gate: gate::check(config.device.installer.as_ref(), facts),
        manifest_error: None,
    };
    let Some(settings) = &config.device.installer else {
        return out;
    };
    match read_manifest(settings, &config.dir) {
        Err(e) => out.manifest_error = Some(e),
        Ok(m) => {
            out.app = Some(m.app.clone());
            if let Some(release) = m.versions.first() {
                out.version = Some(release.version.clone());
                out.options = crate::rank(&release.assets, &out.device)
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
                            .map(|a| {
                                format!("{:?}/{:?} {}", a.os, a.arch, a.format.as_str())
                                    .to_lowercase()
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
    }
    out
}

fn read_manifest(
    settings: &InstallerSettings,
    config_dir: &Path,
) -> Result<ReleaseManifest, String> {
    let url = &settings.manifest;
    let text = crate::fetch::fetch_text(url, config_dir, &trust(settings, config_dir)?)
        .map_err(|e| e.to_string())?;
    parse_release_manifest(url, text).map_err(|e| e.to_string())
}

/// The authorities `https://` sources are checked against: `installer.ca_file` when set.
fn trust(settings: &InstallerSettings, config_dir: &Path) -> Result<crate::fetch::Trust, String> {
    crate::fetch::Trust::from_ca_file(settings.ca_file.as_deref(), config_dir)
        .map_err(|e| format!("installer.ca_file: {e}"))
}

/// `POST /api/v1/qi/install`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    /// The asset's index in the newest release (as `options[].asset` gives it).
    #[serde(deserialize_with = "integral")]
    #[schemars(range(max = MAX_ASSET))]
    pub asset: usize,
    /// Exactly these optional features (by name), as the dashboard's checkboxes give them
    /// (they start at the defaults). Absent: the release's default features, plus `add`,
    /// minus `without`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// Features to add to the defaults (`qcity qi install --feature X`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    /// Default features to leave out (`qcity qi install --no-feature X`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub without: Vec<String>,
}

/// The features an install gets: the defaults unless the request leaves them out (or names
/// its own set). Every name must be one of the release's features.
pub fn choose_features(
    offered: &[ReleaseFeature],
    req: &InstallRequest,
) -> Result<Vec<ReleaseFeature>, String> {
    let unknown = |name: &String| {
        (!offered.iter().any(|f| &f.name == name)).then(|| {
            let names: Vec<&str> = offered.iter().map(|f| f.name.as_str()).collect();
            format!(
                "there is no feature `{name}` (the release offers: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )
        })
    };
    let named = req
        .features
        .iter()
        .flatten()
        .chain(&req.add)
        .chain(&req.without);
    if let Some(e) = named.filter_map(unknown).next() {
        return Err(e);
    }
    if req.features.is_some() && !(req.add.is_empty() && req.without.is_empty()) {
        return Err("give either `features` (the exact set) or `add`/`without`, not both".into());
    }
    if let Some(both) = req.add.iter().find(|n| req.without.contains(n)) {
        return Err(format!("feature `{both}` is both added and left out"));
    }
    Ok(offered
        .iter()
        .filter(|f| match &req.features {
            Some(exact) => exact.contains(&f.name),
            None => (f.default || req.add.contains(&f.name)) && !req.without.contains(&f.name),
        })
        .cloned()
        .collect())
}

/// Why an install cannot start (the API answers each with its own status and code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The gate is closed, or no installer is configured.
    #[error("{0}")]
    GateClosed(String),
    /// The release manifest cannot be read or lists no release.
    #[error("{0}")]
    InvalidManifest(String),
    /// The request names an asset or features the release does not have.
    #[error("{0}")]
    BadRequest(String),
    /// The asset cannot run on this device.
    #[error("{0}")]
    DoesNotFit(String),
    /// `installer.public_key` or `installer.ca_file` is unusable.
    #[error("{0}")]
    InvalidConfig(String),
}

/// Everything an install needs, checked.
pub struct Plan {
    app: String,
    version: String,
    asset: ReleaseAsset,
    features: Vec<ReleaseFeature>,
    manifest_url: String,
    config_dir: PathBuf,
    key: crate::verify::PublicKey,
    trust: crate::fetch::Trust,
    device: Device,
    downloads: PathBuf,
}

/// Checks the gate (enforced here, on the server) and the request; blocking. Files are
/// downloaded into `downloads`.
pub fn prepare(
    config: &Config,
    facts: &impl Facts,
    downloads: PathBuf,
    req: &InstallRequest,
) -> Result<Plan, Refusal> {
    let g = gate::check(config.device.installer.as_ref(), facts);
    if !g.open {
        return Err(Refusal::GateClosed(format!(
            "installing is blocked: {}",
            g.reasons.join("; ")
        )));
    }
    let settings = config
        .device
        .installer
        .clone()
        .ok_or_else(|| Refusal::GateClosed("no installer is configured".to_string()))?;
    let m = read_manifest(&settings, &config.dir).map_err(Refusal::InvalidManifest)?;
    let release = m
        .versions
        .first()
        .ok_or_else(|| Refusal::InvalidManifest("the manifest lists no release".to_string()))?;
    let device = detect(&Probe::here());
    let choice = crate::rank(&release.assets, &device)
        .into_iter()
        .find(|c| c.asset == req.asset)
        .ok_or_else(|| {
            Refusal::BadRequest(format!(
                "release {} has no asset {}",
                release.version, req.asset
            ))
        })?;
    if !choice.fits {
        return Err(Refusal::DoesNotFit(format!(
            "asset {} cannot run here: {}",
            req.asset,
            choice.reasons.join("; ")
        )));
    }
    let features = choose_features(&release.features, req)
        .map_err(|e| Refusal::BadRequest(format!("release {}: {e}", release.version)))?;
    let key = crate::verify::PublicKey::parse(&settings.public_key)
        .map_err(|e| Refusal::InvalidConfig(format!("installer.public_key: {e}")))?;
    Ok(Plan {
        app: m.app.clone(),
        version: release.version.clone(),
        asset: release.assets[req.asset].clone(),
        features,
        manifest_url: settings.manifest.clone(),
        config_dir: config.dir.clone(),
        key,
        trust: trust(&settings, &config.dir).map_err(Refusal::InvalidConfig)?,
        device,
        downloads,
    })
}

/// A step of an install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Downloading,
    Verifying,
    Installing,
    Installed,
    Failed,
}

/// What [`run`] reports: a step, with progress while downloading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub phase: Phase,
    /// The file (asset or feature) the step is about.
    pub file: String,
    pub done: u64,
    pub total: u64,
    /// The outcome, for `Installed` and `Failed`.
    pub detail: String,
}

/// Downloads, verifies and installs, reporting each step to `report`; blocking. A file that
/// fails verification is deleted and nothing is installed. The last step is `Installed` or
/// `Failed`.
pub fn run(plan: Plan, report: impl Fn(Step)) {
    let publish = |phase, file: &str, done, total, detail: String| {
        report(Step {
            phase,
            file: file.to_string(),
            done,
            total,
            detail,
        });
    };
    let result = (|| -> Result<String, String> {
        let dir = plan
            .downloads
            .join(format!("{}-{}", plan.app, plan.version));
        let mut files = vec![(plan.asset.file(), None)];
        files.extend(
            plan.features
                .iter()
                .map(|f| (f.file(), Some(f.name.clone()))),
        );
        let mut fetched = Vec::new();
        for (file, feature) in files {
            let (url, base) = resolve(&file.url, &plan.manifest_url, &plan.config_dir);
            let name = url.rsplit('/').next().unwrap_or("file").to_string();
            let dest = dir.join(&name);
            let mut last = std::time::Instant::now() - std::time::Duration::from_secs(1);
            let progress = &mut |done, total| {
                if done == total || last.elapsed() >= std::time::Duration::from_millis(200) {
                    last = std::time::Instant::now();
                    publish(Phase::Downloading, &name, done, total, String::new());
                }
            };
            crate::fetch::download(&url, &base, &dest, file.size, &plan.trust, progress)
                .map_err(|e| format!("{name}: {e}"))?;
            publish(Phase::Verifying, &name, file.size, file.size, String::new());
            if let Err(e) = crate::verify::verify_file(&dest, &file, &plan.key) {
                // The files verified before it go too: they belong to an install that will
                // not happen, and a retry downloads and checks them again.
                let _ = std::fs::remove_file(&dest);
                for (f, _) in &fetched {
                    let _ = std::fs::remove_file(f);
                }
                let _ = std::fs::remove_dir(&dir);
                return Err(format!(
                    "{name}: {e}; the download was deleted and nothing was installed"
                ));
            }
            fetched.push((dest, feature));
        }
        let (main, _) = &fetched[0];
        let name = main
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        publish(Phase::Installing, &name, 0, 0, String::new());
        let places = crate::install::Places::for_user(&plan.device)
            .ok_or("no home directory to install into")?;
        let outcome =
            crate::install::install(plan.asset.format, main, &plan.app, &plan.version, &places)
                .map_err(|e| e.to_string())?;
        let mut said = match &outcome {
            crate::install::Outcome::Installed { location, .. } => {
                format!(
                    "installed {} {} in {}",
                    plan.app,
                    plan.version,
                    location.display()
                )
            }
            crate::install::Outcome::RunThis { command } => {
                format!("verified; to install, run: {command}")
            }
        };
        if let crate::install::Outcome::Installed { location, .. } = &outcome {
            for (file, feature) in fetched.iter().skip(1) {
                let name = feature.clone().unwrap_or_default();
                let into = location.join("features").join(&name);
                crate::install::unpack_tar_gz(file, &into, None)
                    .map_err(|e| format!("feature {name}: {e}"))?;
                said.push_str(&format!("; feature {name}"));
            }
        }
        Ok(said)
    })();
    match result {
        Ok(detail) => publish(Phase::Installed, "", 0, 0, detail),
        Err(detail) => publish(Phase::Failed, "", 0, 0, detail),
    }
}

/// A file's URL and the directory a relative path is read from: relative to the manifest
/// (its URL's directory, or its file's directory).
fn resolve(file: &str, manifest: &str, config_dir: &Path) -> (String, PathBuf) {
    if file.contains("://") {
        return (file.to_string(), config_dir.to_path_buf());
    }
    if manifest.starts_with("http://") || manifest.starts_with("https://") {
        let dir = manifest.rsplit_once('/').map_or(manifest, |(d, _)| d);
        return (
            format!("{dir}/{}", file.trim_start_matches("./")),
            config_dir.to_path_buf(),
        );
    }
    let path = config_dir.join(manifest);
    let base = path
        .parent()
        .map_or(config_dir.to_path_buf(), |p| p.to_path_buf());
    (file.to_string(), base)
}

/// The largest asset index a request may name (a release has far fewer assets).
pub const MAX_ASSET: usize = 65_535;

/// An index as JSON may write it: `3` or `3.0` (both are the integer 3 to JSON Schema, and so
/// to clients generated from the API's document).
fn integral<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = f64::deserialize(d)?;
    if n >= 0.0 && n.fract() == 0.0 && n <= MAX_ASSET as f64 {
        Ok(n as usize)
    } else {
        Err(serde::de::Error::custom(format!(
            "`{n}` is not an asset index (a whole number from 0 to {MAX_ASSET})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered() -> Vec<ReleaseFeature> {
        [("ocr", true), ("themes", true), ("docs", false)]
            .into_iter()
            .map(|(name, default)| ReleaseFeature {
                name: name.into(),
                description: String::new(),
                default,
                url: format!("{name}.tgz"),
                size: 1,
                sha256: "0".repeat(64),
                signature: "sig".into(),
            })
            .collect()
    }

    fn chosen(req: InstallRequest) -> Result<Vec<String>, String> {
        choose_features(&offered(), &req).map(|v| v.into_iter().map(|f| f.name).collect())
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_unless_left_out() {
        assert_eq!(
            chosen(InstallRequest::default()),
            Ok(strings(&["ocr", "themes"]))
        );
        let req = InstallRequest {
            add: strings(&["docs"]),
            without: strings(&["ocr"]),
            ..Default::default()
        };
        assert_eq!(chosen(req), Ok(strings(&["themes", "docs"])));
        // The dashboard's checkboxes: exactly the set sent, empty included.
        let req = InstallRequest {
            features: Some(Vec::new()),
            ..Default::default()
        };
        assert_eq!(chosen(req), Ok(Vec::new()));
        let req = InstallRequest {
            features: Some(strings(&["docs"])),
            ..Default::default()
        };
        assert_eq!(chosen(req), Ok(strings(&["docs"])));
    }

    #[test]
    fn unknown_or_contradictory_names_are_refused() {
        let req = InstallRequest {
            without: strings(&["orc"]),
            ..Default::default()
        };
        assert_eq!(
            chosen(req),
            Err("there is no feature `orc` (the release offers: ocr, themes, docs)".into())
        );
        let req = InstallRequest {
            add: strings(&["docs"]),
            without: strings(&["docs"]),
            ..Default::default()
        };
        assert!(chosen(req).unwrap_err().contains("both added and left out"));
        let req = InstallRequest {
            features: Some(strings(&["docs"])),
            without: strings(&["ocr"]),
            ..Default::default()
        };
        assert!(chosen(req).unwrap_err().contains("not both"));
    }

    #[test]
    fn a_request_without_features_deserializes_to_the_defaults() {
        let req: InstallRequest = serde_json::from_str(r#"{"asset": 0}"#).unwrap();
        assert!(req.features.is_none() && req.add.is_empty() && req.without.is_empty());
        assert_eq!(chosen(req), Ok(strings(&["ocr", "themes"])));
    }

    #[test]
    fn relative_files_are_read_beside_the_manifest() {
        let dir = Path::new("/etc/qcity");
        assert_eq!(
            resolve("qi.deb", "https://example.org/qi/releases.json", dir),
            ("https://example.org/qi/qi.deb".into(), dir.to_path_buf())
        );
        assert_eq!(
            resolve("qi.deb", "qi/manifest.json", dir),
            ("qi.deb".into(), dir.join("qi"))
        );
        assert_eq!(
            resolve("https://cdn.example.org/qi.deb", "qi/manifest.json", dir),
            ("https://cdn.example.org/qi.deb".into(), dir.to_path_buf())
        );
    }
}
