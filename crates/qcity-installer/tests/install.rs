//! Installs from real archives made here with the system's tar and dpkg-deb: a tar.gz into a
//! user directory, a .deb into a private dpkg root.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use qcity_config::release::AssetFormat;
use qcity_installer::device::{Probe, detect};
use qcity_installer::install::{Outcome, Places, RpmTool, install};

fn places(root: &Path, desktop: bool) -> Places {
    Places {
        apps: root.join("share/qcity/apps"),
        applications: root.join("share/applications"),
        dpkg_root: None,
        desktop,
        rpm: RpmTool::Dnf,
    }
}

fn script(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_tar_gz_lands_in_the_user_directory_with_a_desktop_entry() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    script(&tree.join("bin/qi"), "#!/bin/sh\necho QI 1.4.0\n");
    std::fs::write(tree.join("README"), "QI").unwrap();
    let archive = dir.path().join("qi.tar.gz");
    ok(Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&tree)
        .arg("."));

    let home = dir.path().join("home");
    let out = install(
        AssetFormat::TarGz,
        &archive,
        "QI",
        "1.4.0",
        &places(&home, true),
    )
    .unwrap();
    let Outcome::Installed {
        location,
        launch,
        desktop_entry,
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(location, home.join("share/qcity/apps/qi/1.4.0"));
    let launch = launch.expect("a launcher");
    assert_eq!(launch, location.join("bin/qi"));
    let said = Command::new(&launch).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&said.stdout).trim(), "QI 1.4.0");
    let entry = std::fs::read_to_string(desktop_entry.unwrap()).unwrap();
    assert!(
        entry.contains("Name=QI") && entry.contains(&format!("Exec={}", launch.display())),
        "{entry}"
    );
}

#[test]
fn a_deb_installs_into_a_private_dpkg_root_and_headless_gets_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
    std::fs::write(
        pkg.join("DEBIAN/control"),
        "Package: qi\nVersion: 1.4.0\nArchitecture: all\nMaintainer: QCity tests <tests@localhost>\nDescription: QI test package\n",
    )
    .unwrap();
    script(&pkg.join("usr/bin/qi"), "#!/bin/sh\necho QI 1.4.0\n");
    let deb = dir.path().join("qi_1.4.0_all.deb");
    ok(Command::new("dpkg-deb")
        .arg("--root-owner-group")
        .arg("--build")
        .arg(&pkg)
        .arg(&deb));

    let root = dir.path().join("root");
    let mut p = places(&dir.path().join("home"), false);
    p.dpkg_root = Some(root.clone());
    let out = install(AssetFormat::Deb, &deb, "QI", "1.4.0", &p).unwrap();
    assert!(matches!(out, Outcome::Installed { .. }), "{out:?}");
    assert!(root.join("usr/bin/qi").is_file());
    let status = Command::new("dpkg")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args(["-s", "qi"])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("Status: install ok installed") && status.contains("Version: 1.4.0"),
        "{status}"
    );

    // Without a private root, on a headless machine: the exact command, nothing run.
    let out = install(
        AssetFormat::Deb,
        &deb,
        "QI",
        "1.4.0",
        &places(dir.path(), false),
    )
    .unwrap();
    assert_eq!(
        out,
        Outcome::RunThis {
            command: format!("sudo apt-get install -y {}", deb.display())
        }
    );
}

/// A system root with this os-release and these programs on its PATH, as detection sees it.
fn system(root: &Path, os_release: &str, programs: &[&str]) -> qcity_installer::Device {
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/os-release"), os_release).unwrap();
    let bin = root.join("usr/bin");
    for p in programs {
        script(&bin.join(p), "#!/bin/sh\nexit 0\n");
    }
    detect(&Probe {
        root: root.into(),
        path: Some(bin.into_os_string()),
        display: false,
        disk: root.into(),
    })
}

#[test]
fn an_rpm_goes_to_zypper_on_opensuse_and_to_dnf_on_fedora_and_rhel() {
    let dir = tempfile::tempdir().unwrap();
    let rpm = dir.path().join("qi-1.4.0.x86_64.rpm");
    std::fs::write(&rpm, "not run").unwrap();
    let cases = [
        (
            "opensuse",
            "ID=\"opensuse-tumbleweed\"\nID_LIKE=\"opensuse suse\"\nPRETTY_NAME=\"openSUSE Tumbleweed\"\n",
            &["zypper", "rpm"][..],
            "sudo zypper --non-interactive install --allow-unsigned-rpm",
        ),
        (
            // dnf from a side repository does not own openSUSE's package database.
            "leap-with-dnf",
            "ID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\n",
            &["zypper", "dnf"][..],
            "sudo zypper --non-interactive install --allow-unsigned-rpm",
        ),
        (
            "fedora",
            "ID=fedora\nPRETTY_NAME=\"Fedora Linux 40\"\n",
            &["dnf", "rpm"][..],
            "sudo dnf install -y",
        ),
        (
            "rhel",
            "ID=\"rhel\"\nID_LIKE=\"fedora\"\n",
            &["dnf"][..],
            "sudo dnf install -y",
        ),
        (
            "rocky-without-tools-on-path",
            "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n",
            &[][..],
            "sudo dnf install -y",
        ),
    ];
    for (name, os_release, programs, want) in cases {
        let device = system(&dir.path().join(name), os_release, programs);
        let mut p = Places::for_user(&device).expect("HOME is set");
        p.apps = dir.path().join(name).join("apps");
        let out = install(AssetFormat::Rpm, &rpm, "QI", "1.4.0", &p).unwrap();
        assert_eq!(
            out,
            Outcome::RunThis {
                command: format!("{want} {}", rpm.display())
            },
            "{name}"
        );
        // The ranking's reason names the same tool.
        let asset = qcity_config::release::ReleaseAsset {
            os: device.os,
            arch: device
                .arch
                .unwrap_or(qcity_config::release::AssetArch::X86_64),
            libc: None,
            format: AssetFormat::Rpm,
            url: "qi.rpm".into(),
            size: 1,
            sha256: "0".repeat(64),
            signature: "sig".into(),
        };
        let ranked = qcity_installer::rank(&[asset], &device);
        let tool = want.split_whitespace().nth(1).unwrap();
        assert!(
            ranked[0]
                .reasons
                .iter()
                .any(|r| r.ends_with(&format!("with {tool}"))),
            "{name}: {:?}",
            ranked[0].reasons
        );
    }
}
