//! Which assets fit a device, best first, and why.
//!
//! An asset **fits** when it can run here:
//! - its OS is the device's;
//! - its architecture is the device's, or it is a macOS universal build;
//! - on Linux, its C library is the device's and new enough (a glibc build needs at least its
//!   `min_version`; glibc builds do not run on musl);
//! - a `.deb` needs dpkg/apt and an `.rpm` needs dnf or zypper.
//!
//! Among the assets that fit, the score prefers, in order:
//! 1. the format the system manages itself: `.deb` on Debian/Ubuntu, `.rpm` on
//!    Fedora/RHEL/openSUSE, `.dmg` on macOS, `.msi` (then `.exe`) on Windows;
//! 2. on other Linux systems, musl builds on musl, an AppImage on a desktop, a tar.gz on a
//!    headless machine;
//! 3. the native architecture over a universal build.
//!
//! The assets that do not fit are kept, after the others, with the reason: the user sees what
//! exists and why it was not offered.

use qcity_config::release::{AssetArch, AssetFormat, AssetOs, LibcKind, ReleaseAsset};
use serde::{Deserialize, Serialize};

use crate::device::Device;

/// One asset as ranked for a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// Its index in the release's `assets`.
    pub asset: usize,
    pub fits: bool,
    pub score: i32,
    /// Why it was ranked so (or why it does not fit), for the user.
    pub reasons: Vec<String>,
}

/// The release's assets for `device`: those that fit first, best first; then the others.
pub fn rank(assets: &[ReleaseAsset], device: &Device) -> Vec<Choice> {
    let mut out: Vec<Choice> = assets
        .iter()
        .enumerate()
        .map(|(i, a)| judge(i, a, device))
        .collect();
    // Stable: equal scores keep the manifest's order.
    out.sort_by(|a, b| b.fits.cmp(&a.fits).then(b.score.cmp(&a.score)));
    out
}

fn judge(index: usize, a: &ReleaseAsset, d: &Device) -> Choice {
    let mut reasons = Vec::new();
    let mut score = 0;
    let mut fits = true;
    let mut no = |reasons: &mut Vec<String>, why: String| {
        fits = false;
        reasons.push(why);
    };

    if a.os != d.os {
        no(
            &mut reasons,
            format!(
                "built for {}, this device runs {}",
                os_name(a.os),
                os_name(d.os)
            ),
        );
    }
    match (a.arch, d.arch) {
        (x, Some(y)) if x == y => {
            score += 20;
            reasons.push(format!("native {} build", arch_name(x)));
        }
        (AssetArch::Universal, Some(_)) if a.os == AssetOs::Macos => {
            score += 10;
            reasons.push("universal build (runs natively on Intel and Apple silicon)".into());
        }
        (x, y) => no(
            &mut reasons,
            format!(
                "built for {}, this CPU is {}",
                arch_name(x),
                y.map_or("another architecture", arch_name)
            ),
        ),
    }
    if a.os == AssetOs::Linux && d.os == AssetOs::Linux {
        match (&a.libc, d.libc) {
            (None, _) => reasons.push("static build: needs no C library".into()),
            (Some(need), Some(have)) if need.kind != have.kind => no(
                &mut reasons,
                format!(
                    "needs {}, this system has {}",
                    libc_name(need.kind),
                    libc_name(have.kind)
                ),
            ),
            (Some(need), Some(have)) => {
                let min = need
                    .min_version
                    .as_deref()
                    .and_then(qcity_config::release::parse_major_minor);
                match (min, have.version) {
                    (Some(min), Some(v)) if v < min => no(
                        &mut reasons,
                        format!(
                            "needs {} {}.{} or newer, this system has {}.{}",
                            libc_name(need.kind),
                            min.0,
                            min.1,
                            v.0,
                            v.1
                        ),
                    ),
                    (Some(min), Some(v)) => reasons.push(format!(
                        "{} {}.{} here meets its minimum {}.{}",
                        libc_name(need.kind),
                        v.0,
                        v.1,
                        min.0,
                        min.1
                    )),
                    _ => reasons.push(format!("built for {}", libc_name(need.kind))),
                }
                if need.kind == LibcKind::Musl {
                    score += 15;
                    reasons.push("a musl build on a musl system".into());
                }
            }
            (Some(need), None) => reasons.push(format!(
                "needs {}; this system's C library is unknown",
                libc_name(need.kind)
            )),
        }
    }
    score += format_score(a.format, d, &mut reasons, &mut fits);
    Choice {
        asset: index,
        fits,
        score,
        reasons,
    }
}

/// How well the format suits the system, with the reason; `fits` turns false when the system
/// cannot install it at all.
fn format_score(f: AssetFormat, d: &Device, reasons: &mut Vec<String>, fits: &mut bool) -> i32 {
    let family = |names: &[&str]| {
        names
            .iter()
            .any(|n| d.os_id == *n || d.os_like.iter().any(|l| l == n))
    };
    let has = |m: &str| d.package_managers.iter().any(|p| p == m);
    match f {
        AssetFormat::Deb if has("apt") || family(&["debian", "ubuntu"]) => {
            reasons.push(format!(
                ".deb: {} installs and updates it with apt",
                d.os_name
            ));
            60
        }
        AssetFormat::Rpm
            if has("dnf") || has("zypper") || family(&["fedora", "rhel", "suse", "opensuse"]) =>
        {
            // The tool the install runs, so the reason never names another one.
            let manager = crate::install::RpmTool::for_device(d).name();
            reasons.push(format!(
                ".rpm: {} installs and updates it with {manager}",
                d.os_name
            ));
            60
        }
        AssetFormat::Deb | AssetFormat::Rpm => {
            *fits = false;
            reasons.push(format!(
                ".{}: this system has no {} to install it",
                f.as_str(),
                if f == AssetFormat::Deb {
                    "apt/dpkg"
                } else {
                    "dnf or zypper"
                }
            ));
            0
        }
        AssetFormat::AppImage if d.desktop => {
            reasons.push("AppImage: runs on any desktop Linux, installed per user".into());
            40
        }
        AssetFormat::AppImage => {
            reasons.push("AppImage: a desktop app on a machine without a desktop session".into());
            20
        }
        AssetFormat::TarGz if d.desktop => {
            reasons.push("tar.gz: unpacked into your user directory".into());
            30
        }
        AssetFormat::TarGz => {
            reasons.push(
                "tar.gz: unpacked into your user directory (suits a headless machine)".into(),
            );
            45
        }
        AssetFormat::Dmg => {
            reasons.push(".dmg: the usual macOS install".into());
            60
        }
        AssetFormat::Msi => {
            reasons.push(".msi: Windows Installer, removable from Settings".into());
            60
        }
        AssetFormat::Exe => {
            reasons.push(".exe: a setup program".into());
            50
        }
    }
}

fn os_name(os: AssetOs) -> &'static str {
    match os {
        AssetOs::Linux => "Linux",
        AssetOs::Macos => "macOS",
        AssetOs::Windows => "Windows",
    }
}

fn arch_name(a: AssetArch) -> &'static str {
    match a {
        AssetArch::X86_64 => "x86_64",
        AssetArch::Aarch64 => "arm64",
        AssetArch::Universal => "universal",
    }
}

fn libc_name(k: LibcKind) -> &'static str {
    match k {
        LibcKind::Glibc => "glibc",
        LibcKind::Musl => "musl",
    }
}
