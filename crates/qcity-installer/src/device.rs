//! What this device is: OS and version, CPU architecture, C library and version, package
//! managers, desktop or headless, free disk. Read from the filesystem under a root (`/`; tests
//! point it at a fixture laid out like a real system) and from the environment.

use std::path::{Path, PathBuf};

use qcity_config::release::{AssetArch, AssetOs, LibcKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Device {
    pub os: AssetOs,
    /// `/etc/os-release` `ID` (`debian`, `fedora`, `alpine`…); `macos`, `windows` elsewhere.
    pub os_id: String,
    /// `ID_LIKE`: the families it belongs to (`debian`, `rhel fedora`…).
    pub os_like: Vec<String>,
    /// `PRETTY_NAME`, for people.
    pub os_name: String,
    pub os_version: String,
    /// None on an architecture no asset is built for.
    pub arch: Option<AssetArch>,
    pub libc: Option<Libc>,
    /// Package managers found on PATH: apt, dnf, zypper, pacman, apk, brew, winget.
    pub package_managers: Vec<String>,
    /// A graphical session (DISPLAY or WAYLAND_DISPLAY is set).
    pub desktop: bool,
    pub free_disk_mb: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Libc {
    pub kind: LibcKind,
    /// (major, minor), when known.
    pub version: Option<(u32, u32)>,
}

/// Where detection looks.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Filesystem root (`/`).
    pub root: PathBuf,
    /// PATH to search for package managers.
    pub path: Option<std::ffi::OsString>,
    pub display: bool,
    /// Where free space is measured (the install dir's filesystem).
    pub disk: PathBuf,
}

impl Probe {
    /// This machine, as it is.
    pub fn here() -> Probe {
        Probe {
            root: PathBuf::from("/"),
            path: std::env::var_os("PATH"),
            display: std::env::var_os("DISPLAY").is_some()
                || std::env::var_os("WAYLAND_DISPLAY").is_some(),
            disk: std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from),
        }
    }
}

const MANAGERS: [&str; 7] = ["apt", "dnf", "zypper", "pacman", "apk", "brew", "winget"];

/// Detects the device.
pub fn detect(p: &Probe) -> Device {
    let release = os_release(&p.root);
    let field = |k: &str| {
        release
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let os = if cfg!(target_os = "macos") {
        AssetOs::Macos
    } else if cfg!(windows) {
        AssetOs::Windows
    } else {
        AssetOs::Linux
    };
    let package_managers = MANAGERS
        .iter()
        .filter(|m| {
            p.path
                .as_deref()
                .is_some_and(|path| qcity_platform::path::which_in(path, m).is_some())
        })
        .map(|m| m.to_string())
        .collect();
    Device {
        os,
        os_id: field("ID").unwrap_or_else(|| "linux".into()),
        os_like: field("ID_LIKE")
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
        os_name: field("PRETTY_NAME")
            .or_else(|| field("NAME"))
            .unwrap_or_else(|| "Linux".into()),
        os_version: field("VERSION_ID").unwrap_or_default(),
        arch: match std::env::consts::ARCH {
            "x86_64" => Some(AssetArch::X86_64),
            "aarch64" => Some(AssetArch::Aarch64),
            _ => None,
        },
        libc: libc(&p.root),
        package_managers,
        desktop: p.display,
        free_disk_mb: qcity_platform::disk::free_mb(&p.disk),
    }
}

/// `/etc/os-release` (or `/usr/lib/os-release`) as key/value pairs, quotes removed.
fn os_release(root: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root.join("etc/os-release"))
        .or_else(|_| std::fs::read_to_string(root.join("usr/lib/os-release")))
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        })
        .collect()
}

/// musl when its loader is there; otherwise glibc, with the version this process runs on
/// (the device's own, since the binary is dynamically linked against it).
fn libc(root: &Path) -> Option<Libc> {
    let musl = ["lib", "usr/lib"].iter().any(|d| {
        std::fs::read_dir(root.join(d)).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("ld-musl-"))
        })
    });
    if musl {
        return Some(Libc {
            kind: LibcKind::Musl,
            version: None,
        });
    }
    Some(Libc {
        kind: LibcKind::Glibc,
        version: glibc_version(),
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc_version() -> Option<(u32, u32)> {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    qcity_config::release::parse_major_minor(&v.to_string_lossy())
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn glibc_version() -> Option<(u32, u32)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_debian_like_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/os-release"),
            "PRETTY_NAME=\"Ubuntu 24.04 LTS\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n",
        )
        .unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("apt"), "").unwrap();
        let d = detect(&Probe {
            root: dir.path().into(),
            path: Some(bin.into_os_string()),
            display: true,
            disk: dir.path().into(),
        });
        assert_eq!(d.os_id, "ubuntu");
        assert_eq!(d.os_like, ["debian"]);
        assert_eq!(d.os_name, "Ubuntu 24.04 LTS");
        assert_eq!(d.os_version, "24.04");
        assert_eq!(d.package_managers, ["apt"]);
        assert!(d.desktop && d.free_disk_mb.is_some());
        assert_eq!(d.libc.unwrap().kind, LibcKind::Glibc);
    }

    #[test]
    fn a_musl_loader_means_musl() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/ld-musl-x86_64.so.1"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/os-release"),
            "ID=alpine\nVERSION_ID=3.20.0\n",
        )
        .unwrap();
        let d = detect(&Probe {
            root: dir.path().into(),
            path: None,
            display: false,
            disk: dir.path().into(),
        });
        assert_eq!(d.os_id, "alpine");
        assert_eq!(d.libc.unwrap().kind, LibcKind::Musl);
        assert!(d.package_managers.is_empty() && !d.desktop);
    }
}
