//! The QI app's release manifest: versions, and per version the downloadable assets (one per
//! OS, architecture, libc and format) and optional features. QCity reads it from the URL or
//! path in the device config, picks the asset that fits the device, and verifies size,
//! SHA-256 and signature before anything is installed.
//!
//! [`parse_release_manifest`] reports every error as `origin:line:col: path: message`, like
//! the configuration files.

use std::collections::HashMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ConfigErrors;
use crate::path::JsonPath;
use crate::source::Source;

/// `release_manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseManifest {
    /// Path or URL of this file's JSON Schema, for editors; ignored by QCity.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The application's name, as shown to the user.
    pub app: String,
    /// Releases, newest first.
    pub versions: Vec<ReleaseVersion>,
}

/// One release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseVersion {
    /// `MAJOR.MINOR.PATCH`, optionally `-pre`.
    pub version: String,
    /// Release notes, one paragraph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub assets: Vec<ReleaseAsset>,
    /// Optional parts the user may add or leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<ReleaseFeature>,
}

/// One downloadable build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseAsset {
    pub os: AssetOs,
    pub arch: AssetArch,
    /// Linux only: the C library it needs; absent means it needs none (static).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libc: Option<AssetLibc>,
    pub format: AssetFormat,
    /// `https://…`, `http://` on a loopback host only, or a file path (relative to the
    /// manifest's directory).
    pub url: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file, 64 hex digits.
    pub sha256: String,
    /// The file's minisign signature (the `.minisig` text), checked with the public key
    /// pinned in the device config.
    pub signature: String,
}

/// Where a file is and how to check it: the four fields an asset and a feature share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseFile {
    /// `https://…`, `http://` on a loopback host only, or a file path (relative to the
    /// manifest's directory).
    pub url: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file, 64 hex digits.
    pub sha256: String,
    /// The Ed25519 signature of the file (minisign's, base64), checked with the public key
    /// pinned in the device config.
    pub signature: String,
}

/// An optional part, downloaded and verified like an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseFeature {
    /// Letters, digits, `-` and `_`.
    pub name: String,
    pub description: String,
    /// Chosen unless the user leaves it out.
    #[serde(default)]
    pub default: bool,
    /// `https://…`, `http://` on a loopback host only, or a file path (relative to the
    /// manifest's directory).
    pub url: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file, 64 hex digits.
    pub sha256: String,
    /// The file's minisign signature (the `.minisig` text), checked with the public key
    /// pinned in the device config.
    pub signature: String,
}

impl ReleaseAsset {
    pub fn file(&self) -> ReleaseFile {
        ReleaseFile {
            url: self.url.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            signature: self.signature.clone(),
        }
    }
}

impl ReleaseFeature {
    pub fn file(&self) -> ReleaseFile {
        ReleaseFile {
            url: self.url.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            signature: self.signature.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetOs {
    Linux,
    Macos,
    Windows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetArch {
    X86_64,
    Aarch64,
    /// A macOS universal binary (x86_64 and arm64).
    Universal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetLibc {
    pub kind: LibcKind,
    /// The oldest version it runs on, `MAJOR.MINOR` (glibc `2.31`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LibcKind {
    Glibc,
    Musl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AssetFormat {
    #[serde(rename = "deb")]
    Deb,
    #[serde(rename = "rpm")]
    Rpm,
    #[serde(rename = "AppImage")]
    AppImage,
    #[serde(rename = "tar.gz")]
    TarGz,
    #[serde(rename = "dmg")]
    Dmg,
    #[serde(rename = "msi")]
    Msi,
    #[serde(rename = "exe")]
    Exe,
}

impl AssetFormat {
    /// The OS a format is for; `None`: any (an archive).
    pub fn os(self) -> Option<AssetOs> {
        match self {
            Self::Deb | Self::Rpm | Self::AppImage => Some(AssetOs::Linux),
            Self::Dmg => Some(AssetOs::Macos),
            Self::Msi | Self::Exe => Some(AssetOs::Windows),
            Self::TarGz => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deb => "deb",
            Self::Rpm => "rpm",
            Self::AppImage => "AppImage",
            Self::TarGz => "tar.gz",
            Self::Dmg => "dmg",
            Self::Msi => "msi",
            Self::Exe => "exe",
        }
    }
}

/// Parses and validates a release manifest read from `origin` (its URL or path, for the
/// messages). Every error names the line, column and field.
pub fn parse_release_manifest(origin: &str, text: String) -> Result<ReleaseManifest, ConfigErrors> {
    let mut src = Source::new(PathBuf::from(origin), text);
    let manifest = read_parts(&mut src);
    let (errors, _) = src.into_findings();
    match manifest {
        Some(m) if errors.is_empty() => Ok(m),
        _ => Err(ConfigErrors(errors)),
    }
}

/// Deserializes the root, each version, each asset and each feature on its own, so that one
/// bad part does not hide the errors of the others. None if any part failed.
fn read_parts(src: &mut Source) -> Option<ReleaseManifest> {
    let root = JsonPath::root();
    let value = src.parse()?;
    let mut map = src.object(value, &root)?;
    let versions = map.remove("versions");
    let mut ok = true;
    map.insert("versions".into(), serde_json::Value::Array(Vec::new()));
    let mut manifest: Option<ReleaseManifest> =
        src.deserialize(&serde_json::Value::Object(map), &root);
    let Some(serde_json::Value::Array(items)) = versions else {
        src.error(&root.key("versions"), "expected a list of releases");
        return None;
    };
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = root.key("versions").index(i);
        let Some(mut vmap) = src.object(item, &at) else {
            ok = false;
            continue;
        };
        let listed = vmap
            .get("assets")
            .and_then(|a| a.as_array())
            .map_or(0, Vec::len);
        let assets = take_list(src, &mut vmap, "assets", &at, &mut ok, asset_valid);
        let features = take_list(src, &mut vmap, "features", &at, &mut ok, feature_valid);
        vmap.insert("assets".into(), serde_json::Value::Array(Vec::new()));
        match src.deserialize::<ReleaseVersion>(&serde_json::Value::Object(vmap), &at) {
            Some(mut v) => {
                v.assets = assets;
                v.features = features;
                version_valid(&v, listed, &at, &mut seen, i, src);
                out.push(v);
            }
            None => ok = false,
        }
    }
    if out.is_empty() && ok {
        src.error(
            &root.key("versions"),
            "no versions: list at least one release",
        );
    }
    if let Some(m) = &mut manifest {
        if m.app.trim().is_empty() {
            src.error(&root.key("app"), "the app needs a name");
        }
        m.versions = out;
    }
    manifest.filter(|_| ok)
}

/// Each item of `map[key]` deserialized on its own; a missing list is empty.
fn take_list<T: serde::de::DeserializeOwned>(
    src: &mut Source,
    map: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
    at: &JsonPath,
    ok: &mut bool,
    check: fn(&T, &JsonPath, &mut Source),
) -> Vec<T> {
    match map.remove(key) {
        None => Vec::new(),
        Some(serde_json::Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let at = at.key(key).index(i);
                let v = src.deserialize::<T>(&item, &at);
                *ok &= v.is_some();
                if let Some(v) = &v {
                    check(v, &at, src);
                }
                v
            })
            .collect(),
        Some(_) => {
            src.error(&at.key(key), "expected a list");
            *ok = false;
            Vec::new()
        }
    }
}

fn version_valid(
    v: &ReleaseVersion,
    listed: usize,
    at: &JsonPath,
    seen: &mut HashMap<String, usize>,
    i: usize,
    src: &mut Source,
) {
    if !version_well_formed(&v.version) {
        src.error(
            &at.key("version"),
            format!("`{}` is not MAJOR.MINOR.PATCH (optionally -pre)", v.version),
        );
    } else if let Some(first) = seen.insert(v.version.clone(), i) {
        src.error(
            &at.key("version"),
            format!("version {} is listed twice (versions[{first}])", v.version),
        );
    }
    if listed == 0 {
        src.error(&at.key("assets"), "a release needs at least one asset");
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (j, f) in v.features.iter().enumerate() {
        if let Some(first) = names.insert(&f.name, j) {
            src.error(
                &at.key("features").index(j).key("name"),
                format!("feature `{}` is listed twice (features[{first}])", f.name),
            );
        }
    }
}

fn asset_valid(a: &ReleaseAsset, at: &JsonPath, src: &mut Source) {
    file_valid(&a.file(), at, src);
    if let Some(os) = a.format.os()
        && os != a.os
    {
        src.error(
            &at.key("format"),
            format!("a {} is not a {:?} package", a.format.as_str(), a.os).to_lowercase(),
        );
    }
    if a.libc.is_some() && a.os != AssetOs::Linux {
        src.error(&at.key("libc"), "only Linux assets name a libc");
    }
    if let Some(libc) = &a.libc
        && let Some(min) = &libc.min_version
        && parse_major_minor(min).is_none()
    {
        src.error(
            &at.key("libc").key("min_version"),
            format!("`{min}` is not MAJOR.MINOR"),
        );
    }
    if a.arch == AssetArch::Universal && a.os != AssetOs::Macos {
        src.error(&at.key("arch"), "only macOS builds are universal");
    }
}

fn feature_valid(f: &ReleaseFeature, at: &JsonPath, src: &mut Source) {
    let ok = !f.name.is_empty()
        && f.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        src.error(&at.key("name"), "use letters, digits, `-` and `_`");
    }
    file_valid(&f.file(), at, src);
}

fn file_valid(f: &ReleaseFile, at: &JsonPath, src: &mut Source) {
    source_valid(&f.url, &f.signature, at, src);
    size_valid(f.size, at, src);
    sha256_valid(&f.sha256, at, src);
}

/// Where a release file is and its signature (every manifest's file has both).
pub(crate) fn source_valid(url: &str, signature: &str, at: &JsonPath, src: &mut Source) {
    if let Err(e) = url_allowed(url) {
        src.error(&at.key("url"), e);
    }
    if signature.trim().is_empty() {
        src.error(
            &at.key("signature"),
            "every file is signed: the signature is missing",
        );
    }
}

pub(crate) fn size_valid(size: u64, at: &JsonPath, src: &mut Source) {
    if size == 0 {
        src.error(&at.key("size"), "must be positive");
    }
}

pub(crate) fn sha256_valid(sha256: &str, at: &JsonPath, src: &mut Source) {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        src.error(&at.key("sha256"), "expected 64 hex digits");
    }
}

/// `https://`, `http://` to a loopback host (tests, a local mirror), or a path.
pub fn url_allowed(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or("");
        if host == "localhost" || host == "127.0.0.1" || rest.starts_with("[::1]") {
            return Ok(());
        }
        return Err(format!(
            "`{url}`: plain http is allowed only on loopback; use https"
        ));
    }
    if url.contains("://") {
        return Err(format!("`{url}`: use https:// or a file path"));
    }
    if url.is_empty() {
        return Err("the url is empty".into());
    }
    Ok(())
}

pub(crate) fn version_well_formed(v: &str) -> bool {
    let core = v.split_once('-').map_or(v, |(c, _)| c);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `2.31` → (2, 31).
pub fn parse_major_minor(v: &str) -> Option<(u32, u32)> {
    let mut it = v.trim().split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next().unwrap_or("0").parse().ok()?;
    Some((major, minor))
}
