//! The ranking over a table of devices: the asset offered first, and the reasons shown.

use qcity_config::release::{AssetArch, AssetFormat, AssetLibc, AssetOs, LibcKind, ReleaseAsset};
use qcity_installer::device::{Device, Libc};
use qcity_installer::rank;

fn asset(
    os: AssetOs,
    arch: AssetArch,
    format: AssetFormat,
    libc: Option<(LibcKind, &str)>,
) -> ReleaseAsset {
    ReleaseAsset {
        os,
        arch,
        format,
        libc: libc.map(|(kind, min)| AssetLibc {
            kind,
            min_version: Some(min.to_string()),
        }),
        url: format!("qi.{}", format.as_str()),
        size: 1,
        sha256: "0".repeat(64),
        signature: "sig".into(),
    }
}

fn release() -> Vec<ReleaseAsset> {
    use AssetArch::*;
    use AssetFormat::*;
    use AssetOs::*;
    use LibcKind::*;
    vec![
        asset(Linux, X86_64, Deb, Some((Glibc, "2.31"))), // 0
        asset(Linux, Aarch64, Deb, Some((Glibc, "2.31"))), // 1
        asset(Linux, X86_64, Rpm, Some((Glibc, "2.28"))), // 2
        asset(Linux, X86_64, AppImage, Some((Glibc, "2.31"))), // 3
        asset(Linux, X86_64, TarGz, Some((Musl, "1.2"))), // 4
        asset(Linux, X86_64, TarGz, Some((Glibc, "2.17"))), // 5
        asset(Macos, Universal, Dmg, None),               // 6
        asset(Macos, Aarch64, Dmg, None),                 // 7
        asset(Windows, X86_64, Msi, None),                // 8
        asset(Windows, Aarch64, Msi, None),               // 9
        asset(Windows, X86_64, Exe, None),                // 10
    ]
}

struct D {
    os: AssetOs,
    id: &'static str,
    like: &'static [&'static str],
    arch: AssetArch,
    libc: Option<(LibcKind, (u32, u32))>,
    managers: &'static [&'static str],
    desktop: bool,
}

fn device(d: &D) -> Device {
    Device {
        os: d.os,
        os_id: d.id.into(),
        os_like: d.like.iter().map(|s| s.to_string()).collect(),
        os_name: d.id.into(),
        os_version: String::new(),
        arch: Some(d.arch),
        libc: d.libc.map(|(kind, v)| Libc {
            kind,
            version: Some(v),
        }),
        package_managers: d.managers.iter().map(|s| s.to_string()).collect(),
        desktop: d.desktop,
        free_disk_mb: Some(10_000),
    }
}

/// The devices of the table: (name, device, the asset it should get first).
fn devices() -> Vec<(&'static str, D, usize)> {
    use AssetArch::*;
    use AssetOs::*;
    use LibcKind::*;
    vec![
        (
            "Debian 12 desktop",
            D {
                os: Linux,
                id: "debian",
                like: &[],
                arch: X86_64,
                libc: Some((Glibc, (2, 36))),
                managers: &["apt"],
                desktop: true,
            },
            0,
        ),
        (
            "Ubuntu on arm64",
            D {
                os: Linux,
                id: "ubuntu",
                like: &["debian"],
                arch: Aarch64,
                libc: Some((Glibc, (2, 39))),
                managers: &["apt"],
                desktop: false,
            },
            1,
        ),
        (
            "Fedora 40",
            D {
                os: Linux,
                id: "fedora",
                like: &[],
                arch: X86_64,
                libc: Some((Glibc, (2, 39))),
                managers: &["dnf"],
                desktop: true,
            },
            2,
        ),
        (
            "openSUSE",
            D {
                os: Linux,
                id: "opensuse-tumbleweed",
                like: &["opensuse", "suse"],
                arch: X86_64,
                libc: Some((Glibc, (2, 40))),
                managers: &["zypper"],
                desktop: true,
            },
            2,
        ),
        (
            "Alpine",
            D {
                os: Linux,
                id: "alpine",
                like: &[],
                arch: X86_64,
                libc: Some((Musl, (1, 2))),
                managers: &["apk"],
                desktop: false,
            },
            4,
        ),
        (
            "Arch desktop",
            D {
                os: Linux,
                id: "arch",
                like: &[],
                arch: X86_64,
                libc: Some((Glibc, (2, 40))),
                managers: &["pacman"],
                desktop: true,
            },
            3,
        ),
        (
            "Arch headless",
            D {
                os: Linux,
                id: "arch",
                like: &[],
                arch: X86_64,
                libc: Some((Glibc, (2, 40))),
                managers: &["pacman"],
                desktop: false,
            },
            5,
        ),
        (
            "CentOS 7 (old glibc)",
            D {
                os: Linux,
                id: "centos",
                like: &["rhel", "fedora"],
                arch: X86_64,
                libc: Some((Glibc, (2, 17))),
                managers: &[],
                desktop: false,
            },
            5,
        ),
        (
            "macOS on Apple silicon",
            D {
                os: Macos,
                id: "macos",
                like: &[],
                arch: Aarch64,
                libc: None,
                managers: &["brew"],
                desktop: true,
            },
            7,
        ),
        (
            "macOS on Intel",
            D {
                os: Macos,
                id: "macos",
                like: &[],
                arch: X86_64,
                libc: None,
                managers: &[],
                desktop: true,
            },
            6,
        ),
        (
            "Windows x64",
            D {
                os: Windows,
                id: "windows",
                like: &[],
                arch: X86_64,
                libc: None,
                managers: &["winget"],
                desktop: true,
            },
            8,
        ),
        (
            "Windows on arm64",
            D {
                os: Windows,
                id: "windows",
                like: &[],
                arch: Aarch64,
                libc: None,
                managers: &[],
                desktop: true,
            },
            9,
        ),
    ]
}

fn named(name: &str) -> Device {
    let (_, d, _) = devices().into_iter().find(|(n, _, _)| *n == name).unwrap();
    device(&d)
}

#[test]
fn each_device_gets_the_asset_that_suits_it() {
    let table = devices();
    let assets = release();
    for (name, d, want) in &table {
        let ranked = rank(&assets, &device(d));
        assert_eq!(ranked.len(), assets.len(), "{name}: every asset is listed");
        let top = &ranked[0];
        assert!(top.fits, "{name}: nothing fits: {ranked:#?}");
        assert_eq!(
            top.asset, *want,
            "{name}: got {:?}, reasons {:?}",
            assets[top.asset].format, top.reasons
        );
        assert!(!top.reasons.is_empty(), "{name}: no reasons");
        // Everything that fits comes before everything that does not.
        let first_misfit = ranked.iter().position(|c| !c.fits).unwrap_or(ranked.len());
        assert!(ranked[first_misfit..].iter().all(|c| !c.fits), "{name}");
    }
}

#[test]
fn assets_that_cannot_run_say_why() {
    let assets = release();
    let centos = named("CentOS 7 (old glibc)");
    let ranked = rank(&assets, &centos);
    let says = |i: usize, reason: &str| {
        let c = ranked.iter().find(|c| c.asset == i).unwrap();
        assert!(!c.fits, "asset {i} should not fit");
        assert!(
            c.reasons.iter().any(|r| r == reason),
            "asset {i}: {reason:?} not in {:?}",
            c.reasons
        );
    };
    says(2, "needs glibc 2.28 or newer, this system has 2.17");
    says(1, "built for arm64, this CPU is x86_64");
    says(6, "built for macOS, this device runs Linux");
    let alpine = named("Alpine");
    let ranked = rank(&assets, &alpine);
    let deb = ranked.iter().find(|c| c.asset == 0).unwrap();
    assert!(!deb.fits);
    assert!(
        deb.reasons
            .iter()
            .any(|r| r == "needs glibc, this system has musl"),
        "{:?}",
        deb.reasons
    );
    assert!(
        deb.reasons
            .iter()
            .any(|r| r == ".deb: this system has no apt/dpkg to install it"),
        "{:?}",
        deb.reasons
    );
}
