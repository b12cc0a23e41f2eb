//! Installs a verified file.
//!
//! - **tar.gz**: unpacked into the user's app directory (`~/.local/share/qcity/apps/APP/VERSION`,
//!   with the system's `tar`), with a desktop entry in `~/.local/share/applications`.
//! - **AppImage**: copied into the app directory, made executable, with a desktop entry.
//! - **deb / rpm**: through the package manager (apt for a `.deb`; zypper for an `.rpm` on
//!   openSUSE/SUSE, dnf on Fedora, RHEL and the rest: [`RpmTool`]). On a desktop the command
//!   runs with `pkexec`, which asks for the password in a dialog; on a headless machine QCity
//!   does not escalate by itself and shows the exact command to run. Tests install a `.deb`
//!   into a private dpkg root.
//! - **dmg / msi / exe** are installed on their own systems, not from Linux.

use std::path::{Path, PathBuf};
use std::process::Command;

use qcity_config::release::AssetFormat;
use serde::{Deserialize, Serialize};

use crate::device::Device;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{command}` failed: {output}")]
    Command { command: String, output: String },
    #[error("{0}")]
    Unsupported(String),
}

/// Where a user-level install goes.
#[derive(Debug, Clone)]
pub struct Places {
    /// `~/.local/share/qcity/apps`.
    pub apps: PathBuf,
    /// `~/.local/share/applications`.
    pub applications: PathBuf,
    /// A private dpkg root (`dpkg --root`): for tests, and for users who want one.
    pub dpkg_root: Option<PathBuf>,
    /// A graphical session: package installs may ask for the password through pkexec.
    pub desktop: bool,
    /// What installs an `.rpm` here.
    pub rpm: RpmTool,
}

/// The package manager that installs an `.rpm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RpmTool {
    Dnf,
    Zypper,
}

impl RpmTool {
    /// zypper on openSUSE/SUSE, dnf on Fedora, RHEL and its rebuilds. The one on PATH wins
    /// when only one is; the distribution decides when both or neither are (an openSUSE box
    /// may carry dnf from a side repository, but zypper owns its package database).
    pub fn for_device(d: &Device) -> RpmTool {
        let has = |m: &str| d.package_managers.iter().any(|p| p == m);
        match (has("dnf"), has("zypper")) {
            (true, false) => RpmTool::Dnf,
            (false, true) => RpmTool::Zypper,
            _ => {
                let suse = ["suse", "opensuse", "sles", "sled"]
                    .iter()
                    .any(|n| d.os_id.starts_with(n) || d.os_like.iter().any(|l| l == n));
                if suse { RpmTool::Zypper } else { RpmTool::Dnf }
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RpmTool::Dnf => "dnf",
            RpmTool::Zypper => "zypper",
        }
    }

    /// The command that installs a local `.rpm`, without the file. zypper refuses a local
    /// package without an RPM GPG signature; the file's minisign signature was checked
    /// against the pinned key before this runs, so that check is not needed again.
    pub fn install_argv(self) -> &'static [&'static str] {
        match self {
            RpmTool::Dnf => &["dnf", "install", "-y"],
            RpmTool::Zypper => &[
                "zypper",
                "--non-interactive",
                "install",
                "--allow-unsigned-rpm",
            ],
        }
    }
}

impl Places {
    /// The XDG places of the current user on `device`.
    pub fn for_user(device: &Device) -> Option<Places> {
        let data = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
        Some(Places {
            apps: data.join("qcity/apps"),
            applications: data.join("applications"),
            dpkg_root: None,
            desktop: device.desktop,
            rpm: RpmTool::for_device(device),
        })
    }
}

/// What an install did, or what the user must run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// Installed; `launch` starts it.
    Installed {
        location: PathBuf,
        launch: Option<PathBuf>,
        desktop_entry: Option<PathBuf>,
    },
    /// Run this command (as root) to install; QCity does not escalate on a headless machine.
    RunThis { command: String },
}

/// Installs `file` (already verified) as `app` `version`.
pub fn install(
    format: AssetFormat,
    file: &Path,
    app: &str,
    version: &str,
    places: &Places,
) -> Result<Outcome, InstallError> {
    let slug: String = app
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let dir = places.apps.join(&slug).join(version);
    match format {
        AssetFormat::TarGz => {
            unpack_tar_gz(file, &dir, Some(&slug))?;
            let launch = find_launcher(&dir, &slug);
            let entry = launch
                .as_deref()
                .map(|exe| desktop_entry(places, &slug, app, exe))
                .transpose()?;
            Ok(Outcome::Installed {
                location: dir,
                launch,
                desktop_entry: entry,
            })
        }
        AssetFormat::AppImage => {
            mkdir(&dir)?;
            let exe = dir.join(format!("{slug}.AppImage"));
            std::fs::copy(file, &exe).map_err(io(&exe))?;
            set_executable(&exe)?;
            let entry = desktop_entry(places, &slug, app, &exe)?;
            Ok(Outcome::Installed {
                location: dir,
                launch: Some(exe),
                desktop_entry: Some(entry),
            })
        }
        AssetFormat::Deb => match &places.dpkg_root {
            Some(root) => {
                let admin = root.join("var/lib/dpkg");
                mkdir(&admin.join("info"))?;
                mkdir(&admin.join("updates"))?;
                let status = admin.join("status");
                if !status.exists() {
                    std::fs::write(&status, "").map_err(io(&status))?;
                }
                run(Command::new("dpkg")
                    .arg(format!("--root={}", root.display()))
                    .arg(format!("--instdir={}", root.display()))
                    .arg(format!("--admindir={}", admin.display()))
                    .args([
                        "--force-not-root",
                        "--force-bad-path",
                        "--force-script-chrootless",
                        "-i",
                    ])
                    .arg(file))?;
                Ok(Outcome::Installed {
                    location: root.clone(),
                    launch: None,
                    desktop_entry: None,
                })
            }
            None => package_manager(places, &["apt-get", "install", "-y"], file),
        },
        AssetFormat::Rpm => package_manager(places, places.rpm.install_argv(), file),
        AssetFormat::Dmg | AssetFormat::Msi | AssetFormat::Exe => {
            Err(InstallError::Unsupported(format!(
                "a .{} installs on its own system, not here",
                format.as_str()
            )))
        }
    }
}

/// Unpacks a tar.gz into `into` with the system's tar, owned by the user. With `app` given,
/// an archive whose entries all sit in one top-level directory named after the app
/// (`qi-1.0/bin/qi`, the usual layout) has that directory taken as the root, so `bin/` is
/// found the same either way; a lone `bin/` stays as it is.
pub fn unpack_tar_gz(archive: &Path, into: &Path, app: Option<&str>) -> Result<(), InstallError> {
    let mut name = into.file_name().unwrap_or_default().to_os_string();
    name.push(".unpacking");
    let staging = into.with_file_name(name);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    mkdir(&staging)?;
    run(Command::new("tar")
        .arg("--no-same-owner")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(&staging))?;
    let top: Vec<PathBuf> = std::fs::read_dir(&staging)
        .map_err(io(&staging))?
        .flatten()
        .map(|e| e.path())
        .collect();
    let named_after_app = |p: &Path| {
        app.is_some_and(|app| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.to_ascii_lowercase().starts_with(app))
        })
    };
    let root = match top.as_slice() {
        [only] if only.is_dir() && named_after_app(only) => only.clone(),
        _ => staging.clone(),
    };
    // A reinstall of the same version replaces the old tree.
    if into.exists() {
        std::fs::remove_dir_all(into).map_err(io(into))?;
    }
    std::fs::rename(&root, into).map_err(io(into))?;
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    Ok(())
}

/// On a desktop, pkexec asks for the password; otherwise the user gets the command.
fn package_manager(places: &Places, argv: &[&str], file: &Path) -> Result<Outcome, InstallError> {
    let command = format!(
        "sudo {} {}",
        argv.join(" "),
        shell_word(&file.display().to_string())
    );
    if !places.desktop || !qcity_platform::path::on_path("pkexec") {
        return Ok(Outcome::RunThis { command });
    }
    run(Command::new("pkexec").args(argv).arg(file))?;
    Ok(Outcome::Installed {
        location: PathBuf::from("/"),
        launch: None,
        desktop_entry: None,
    })
}

/// `bin/SLUG`, `SLUG`, or the only executable at the top of the unpacked tree.
fn find_launcher(dir: &Path, slug: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    for candidate in [dir.join("bin").join(slug), dir.join(slug)] {
        if executable(&candidate) {
            return Some(candidate);
        }
    }
    let mut found = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| executable(p));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

fn desktop_entry(
    places: &Places,
    slug: &str,
    app: &str,
    exe: &Path,
) -> Result<PathBuf, InstallError> {
    mkdir(&places.applications)?;
    let path = places.applications.join(format!("qcity-{slug}.desktop"));
    let text = format!(
        "[Desktop Entry]\nType=Application\nName={app}\nExec={}\nTerminal=false\nComment=Installed by QCity\n",
        shell_word(&exe.display().to_string())
    );
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok(path)
}

fn set_executable(p: &Path) -> Result<(), InstallError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).map_err(io(p))
}

fn mkdir(p: &Path) -> Result<(), InstallError> {
    std::fs::create_dir_all(p).map_err(io(p))
}

fn run(cmd: &mut Command) -> Result<(), InstallError> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|e| InstallError::Command {
        command: shown.clone(),
        output: e.to_string(),
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(InstallError::Command {
        command: shown,
        output: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

fn shell_word(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}
