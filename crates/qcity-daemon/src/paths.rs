//! Where the configuration and the data live when no flag says: the XDG base directories.

use std::path::PathBuf;

use crate::DaemonError;

fn xdg(var: &str, fallback: &str) -> Result<PathBuf, DaemonError> {
    if let Some(dir) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir).join("qcity"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| DaemonError::NoHome {
            var: var.to_string(),
        })?;
    Ok(PathBuf::from(home).join(fallback).join("qcity"))
}

/// `$XDG_CONFIG_HOME/qcity`, else `~/.config/qcity`.
pub fn default_config_dir() -> Result<PathBuf, DaemonError> {
    xdg("XDG_CONFIG_HOME", ".config")
}

/// `$XDG_DATA_HOME/qcity`, else `~/.local/share/qcity`.
pub fn default_data_dir() -> Result<PathBuf, DaemonError> {
    xdg("XDG_DATA_HOME", ".local/share")
}

/// `explicit`, or the default config dir, where the sample configuration is written on first
/// use (and said so on stderr).
pub fn config_dir_or_sample(explicit: Option<PathBuf>) -> Result<PathBuf, DaemonError> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    let dir = default_config_dir()?;
    if crate::sample::install_if_missing(&dir).map_err(|error| DaemonError::Sample {
        dir: dir.clone(),
        error,
    })? {
        eprintln!(
            "qcity: first run: created the sample configuration in {}",
            dir.display()
        );
    }
    Ok(dir)
}
