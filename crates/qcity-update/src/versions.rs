//! The versions kept under `DATA/versions/` and the switch between them.
//!
//! `DATA/versions/X.Y.Z/qcity` are complete, verified binaries (see `stage`); two symlinks
//! name the one to run and the one before it: `current -> X.Y.Z`, `previous -> W.V.U`. A
//! switch writes a new symlink under a temporary name and `rename`s it over the old one, then
//! fsyncs the directory: after a crash at any point, `current` names one complete version, the
//! old or the new, never a half-written file. Going back is the same switch the other way.

use std::path::{Path, PathBuf};

use crate::UpdateError;

/// The binary's name inside a version's directory.
pub const BINARY: &str = "qcity";

pub fn versions_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("versions")
}

/// The version `current` names, if any.
pub fn current(data_dir: &Path) -> Option<String> {
    link_target(&versions_dir(data_dir).join("current"))
}

/// The version `previous` names, if any.
pub fn previous(data_dir: &Path) -> Option<String> {
    link_target(&versions_dir(data_dir).join("previous"))
}

/// The binary of the version `current` names.
pub fn current_binary(data_dir: &Path) -> Option<PathBuf> {
    current(data_dir).map(|v| versions_dir(data_dir).join(v).join(BINARY))
}

/// Every kept version, oldest first (by semver; names that are not semver by name).
pub fn kept(data_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(versions_dir(data_dir)) else {
        return Vec::new();
    };
    let mut kept: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    kept.sort_by(
        |a, b| match (semver::Version::parse(a), semver::Version::parse(b)) {
            (Ok(a), Ok(b)) => a.cmp(&b),
            _ => a.cmp(b),
        },
    );
    kept
}

/// Makes `version` (a kept one) current; the version current before becomes `previous`.
pub fn switch_to(data_dir: &Path, version: &str) -> Result<(), UpdateError> {
    let dir = versions_dir(data_dir);
    let binary = dir.join(version).join(BINARY);
    if !binary.is_file() {
        return Err(UpdateError::Config(format!(
            "version {version} is not kept here ({} is missing)",
            binary.display()
        )));
    }
    if let Some(old) = current(data_dir).filter(|old| old != version) {
        set_link(&dir, "previous", &old)?;
    }
    set_link(&dir, "current", version)?;
    fsync_dir(&dir)
}

/// Makes `previous` current again (and the current one `previous`); the version switched
/// back to.
pub fn switch_back(data_dir: &Path) -> Result<String, UpdateError> {
    let prev = previous(data_dir)
        .ok_or_else(|| UpdateError::Config("no previous version is kept".into()))?;
    switch_to(data_dir, &prev)?;
    Ok(prev)
}

fn link_target(link: &Path) -> Option<String> {
    std::fs::read_link(link)
        .ok()?
        .file_name()?
        .to_str()
        .map(str::to_string)
}

/// `dir/name -> target`, replaced atomically.
fn set_link(dir: &Path, name: &str, target: &str) -> Result<(), UpdateError> {
    let tmp = dir.join(format!(".{name}.new"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(UpdateError::io(&tmp))?;
    let link = dir.join(name);
    std::fs::rename(&tmp, &link).map_err(UpdateError::io(&link))
}

pub(crate) fn fsync_dir(dir: &Path) -> Result<(), UpdateError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(UpdateError::io(dir))
}
