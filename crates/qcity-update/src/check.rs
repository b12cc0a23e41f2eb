//! Whether the release manifest offers this machine a newer version.

use std::path::{Path, PathBuf};

use qcity_config::UpdateSettings;
use qcity_config::release::ReleaseFile;
use qcity_config::update_manifest::{daemon_target, parse_update_manifest};
use qcity_installer::fetch::{Trust, fetch_text};
use semver::Version;

use crate::UpdateError;
use crate::signed::{minisig_text, vouches_for};

/// What a check found.
#[derive(Debug, Clone)]
pub enum Check {
    /// The manifest's version is the running one.
    UpToDate { version: Version },
    /// A newer version for this machine.
    Available(Offer),
}

/// A newer release, as the manifest describes it (not yet downloaded or verified).
#[derive(Debug, Clone)]
pub struct Offer {
    pub version: Version,
    pub notes: Option<String>,
    pub pub_date: Option<String>,
    /// The daemon's file; its `signature` is the `.minisig` text.
    pub file: ReleaseFile,
    /// What relative URLs are resolved against: the manifest's directory.
    pub base: PathBuf,
    /// Where the manifest was read (for messages).
    pub origin: String,
}

/// Where the manifest is and how `https://` is trusted, from the device config.
pub struct Source {
    pub origin: String,
    pub base: PathBuf,
    pub trust: Trust,
}

impl Source {
    pub fn new(settings: &UpdateSettings, config_dir: &Path) -> Result<Source, UpdateError> {
        let trust = Trust::from_ca_file(settings.ca_file.as_deref(), config_dir)?;
        let is_url = settings.manifest.contains("://");
        let (origin, base) = if is_url {
            (settings.manifest.clone(), config_dir.to_path_buf())
        } else {
            let path = config_dir.join(&settings.manifest);
            let base = path.parent().unwrap_or(config_dir).to_path_buf();
            (path.display().to_string(), base)
        };
        Ok(Source {
            origin,
            base,
            trust,
        })
    }
}

/// Reads the manifest and compares its version with `running`. An older version is refused
/// (a downgrade, or an old manifest replayed), and so is one in `refused` (rolled back
/// here before); so is a signature that does not name the manifest's version.
pub fn check(
    settings: &UpdateSettings,
    config_dir: &Path,
    running: &Version,
    refused: &[Version],
) -> Result<Check, UpdateError> {
    let source = Source::new(settings, config_dir)?;
    let text = fetch_text(&settings.manifest, config_dir, &source.trust)?;
    let target = daemon_target();
    let manifest =
        parse_update_manifest(&source.origin, text, &target).map_err(UpdateError::Manifest)?;
    let version = Version::parse(manifest.version()).map_err(|e| {
        UpdateError::Config(format!(
            "{}: version `{}`: {e}",
            source.origin, manifest.version
        ))
    })?;
    if version == *running {
        return Ok(Check::UpToDate { version });
    }
    if version < *running {
        return Err(UpdateError::Refused(format!(
            "the manifest offers {version}, older than the running {running} \
             (a downgrade, or an old manifest replayed)"
        )));
    }
    if refused.contains(&version) {
        return Err(UpdateError::Refused(format!(
            "{version} was rolled back on this machine before; a newer release is needed"
        )));
    }
    let mut file = manifest
        .daemon_file(&target)
        .ok_or_else(|| UpdateError::NoTarget {
            origin: source.origin.clone(),
            target: target.clone(),
        })?;
    // A relative address is relative to the manifest: its directory, or its URL's.
    if !file.url.contains("://") && settings.manifest.contains("://") {
        let dir = settings
            .manifest
            .rsplit_once('/')
            .map_or(settings.manifest.as_str(), |(d, _)| d);
        file.url = format!("{dir}/{}", file.url.trim_start_matches("./"));
    }
    file.signature = minisig_text(&file.signature).map_err(|e| {
        UpdateError::Refused(format!(
            "{}: platforms.{target}.signature: {e}",
            source.origin
        ))
    })?;
    vouches_for(&file.signature, &version.to_string())?;
    Ok(Check::Available(Offer {
        version,
        notes: manifest.notes,
        pub_date: manifest.pub_date,
        file,
        base: source.base,
        origin: source.origin,
    }))
}
