//! `qcity backup` and `qcity restore` (qcity-daemon's backup.rs does the work).

use std::path::Path;
use std::time::{Duration, Instant};

use qcity_daemon::backup::{self, BackupError};
use qcity_engine::datadir::DataDir;

use crate::exit::{CliError, CliResult};

impl From<BackupError> for CliError {
    fn from(e: BackupError) -> Self {
        CliError::error(e.to_string())
    }
}

pub fn backup(data: &DataDir, config: &Path, to: Option<&Path>) -> CliResult {
    let to = to.map_or_else(|| data.root().join("backups"), Path::to_path_buf);
    let b = backup::backup(data, config, &to)?;
    let bytes: u64 = b.manifest.files.iter().map(|f| f.bytes).sum();
    println!(
        "{}: {} file(s), {bytes} bytes, audit chain OK ({} rows)",
        b.archive.display(),
        b.manifest.files.len(),
        b.manifest.audit_rows
    );
    Ok(())
}

/// The daemon on this data dir, if one runs: its pid.
fn running_daemon(data: &DataDir) -> Option<u32> {
    qcity_api::DaemonInfo::running(&data.daemon_info()).map(|i| i.pid)
}

pub fn restore(archive: &Path, data: &DataDir, config: &Path) -> CliResult {
    // Checked before anything is stopped: a bad archive leaves the running daemon alone.
    let checked = backup::unpack_for_restore(archive, data)?;
    println!(
        "{}: every sum matches, store whole, audit chain OK ({} rows, taken by qcity {})",
        archive.display(),
        checked.manifest.audit_rows,
        checked.manifest.qcity_version
    );
    if let Some(pid) = running_daemon(data) {
        println!("stopping the daemon (pid {pid}) and its runners");
        // SAFETY: a plain signal to a process we found by its daemon.json.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(120);
        while running_daemon(data).is_some() {
            if Instant::now() > deadline {
                return Err(CliError::error(format!(
                    "the daemon (pid {pid}) did not stop within 120 s; nothing was restored"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let restored = backup::restore(checked, data, config)?;
    println!(
        "restored: audit chain OK ({} rows); what it replaced is in {}",
        restored.audit_rows,
        restored.aside.display()
    );
    // Started again where a service manager runs it; by hand otherwise.
    let unit = qcity_daemon::service::user_unit_path()
        .ok()
        .filter(|u| u.exists());
    match unit {
        Some(_) => match std::process::Command::new("systemctl")
            .args(["--user", "start", qcity_daemon::service::UNIT])
            .status()
        {
            Ok(s) if s.success() => println!("started again: systemctl --user start qcity.service"),
            _ => println!(
                "start QCity again: systemctl --user start qcity.service (it did not start)"
            ),
        },
        None => println!("start QCity again: `qcity up`"),
    }
    Ok(())
}
