//! QCity's own release manifest, in the Tauri updater's static JSON format, so one release
//! pipeline serves the tray window (`tauri-plugin-updater`) and the daemon:
//!
//! ```json
//! {"version": "0.2.0", "notes": "…", "pub_date": "2026-12-01T12:00:00Z",
//!  "platforms": {"linux-x86_64-daemon": {"url": "…", "signature": "…", "size": 1, "sha256": "…"},
//!                "linux-x86_64-deb": {"url": "…", "signature": "…"}}}
//! ```
//!
//! The daemon's binary is the `{os}-{arch}-daemon` entry; it must carry `size` and `sha256`
//! besides the signature (Tauri's entries need only `url` and `signature`, and Tauri ignores
//! the extra fields). [`parse_update_manifest`] reports every error as
//! `origin:line:col: path: message`, like the configuration files.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::ConfigErrors;
use crate::path::JsonPath;
use crate::release::{self, ReleaseFile};
use crate::source::Source;

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateManifest {
    /// `MAJOR.MINOR.PATCH`, optionally `-pre`; a leading `v` is allowed (as Tauri allows it).
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pub_date: Option<String>,
    /// By target: `linux-x86_64-daemon` (this binary), `linux-x86_64-deb`, `darwin-aarch64`…
    pub platforms: BTreeMap<String, UpdatePlatform>,
}

/// One target's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatePlatform {
    /// `https://…`, `http://` on a loopback host, or a path relative to the manifest.
    pub url: String,
    /// The minisign signature: the `.minisig` text, or its base64 (what Tauri's `.sig`
    /// files hold).
    pub signature: String,
    /// Size in bytes (required for the daemon's entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// SHA-256, 64 hex digits (required for the daemon's entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The manifest key of this machine's daemon binary: `linux-x86_64-daemon`.
pub fn daemon_target() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    format!("{os}-{}-daemon", std::env::consts::ARCH)
}

impl UpdateManifest {
    /// The version without a leading `v`.
    pub fn version(&self) -> &str {
        self.version.strip_prefix('v').unwrap_or(&self.version)
    }

    /// The daemon's file for `target`, once the manifest has been validated by
    /// [`parse_update_manifest`] (which checks that entry's size and SHA-256).
    pub fn daemon_file(&self, target: &str) -> Option<ReleaseFile> {
        let p = self.platforms.get(target)?;
        Some(ReleaseFile {
            url: p.url.clone(),
            size: p.size?,
            sha256: p.sha256.clone()?,
            signature: p.signature.clone(),
        })
    }
}

/// Parses and validates a manifest read from `origin` (its URL or path, for the messages).
/// `daemon_target`'s entry, when present, must be complete; every error names the line,
/// column and field.
pub fn parse_update_manifest(
    origin: &str,
    text: String,
    daemon_target: &str,
) -> Result<UpdateManifest, ConfigErrors> {
    let mut src = Source::new(PathBuf::from(origin), text);
    let root = JsonPath::root();
    let manifest = src
        .parse()
        .and_then(|value| src.deserialize::<UpdateManifest>(&value, &root));
    if let Some(m) = &manifest {
        if !release::version_well_formed(m.version()) {
            src.error(
                &root.key("version"),
                format!("`{}` is not MAJOR.MINOR.PATCH (optionally -pre)", m.version),
            );
        }
        if m.platforms.is_empty() {
            src.error(&root.key("platforms"), "no platforms: list at least one");
        }
        for (target, p) in &m.platforms {
            let at = root.key("platforms").key(target);
            release::source_valid(&p.url, &p.signature, &at, &mut src);
            if target != daemon_target {
                continue;
            }
            match p.size {
                None => src.error(&at.key("size"), "the daemon's file needs its size in bytes"),
                Some(size) => release::size_valid(size, &at, &mut src),
            }
            match &p.sha256 {
                None => src.error(&at.key("sha256"), "the daemon's file needs its SHA-256"),
                Some(h) => release::sha256_valid(h, &at, &mut src),
            }
        }
    }
    let (errors, _) = src.into_findings();
    match manifest {
        Some(m) if errors.is_empty() => Ok(m),
        _ => Err(ConfigErrors(errors)),
    }
}
