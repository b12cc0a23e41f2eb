//! Scheduled backups (`backup` in the device config): one when the newest archive is older
//! than `every_minutes` — so one soon after start when there is none, and a restart of the
//! daemon does not push the next one back — then the newest `keep` are kept. Each is an
//! event (`backup-taken`, `backup-failed`); a failure is tried again at the next interval.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use qcity_config::BackupSettings;
use qcity_engine::Engine;
use qcity_types::EventKind;

use crate::backup;

/// This daemon's archives in `dir`, oldest first, with their modification times.
fn archives(dir: &Path) -> Vec<(SystemTime, PathBuf)> {
    let mut found: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("qcity-backup-") && name.ends_with(".tar")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    found.sort();
    found
}

/// How long until the next backup is due: zero when one is due now.
fn due_in(dir: &Path, every: Duration, now: SystemTime) -> Duration {
    match archives(dir).last() {
        Some((taken, _)) => (*taken + every)
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
        None => Duration::ZERO,
    }
}

/// Removes the oldest archives beyond `keep`; returns what it removed.
fn prune(dir: &Path, keep: usize) -> Vec<String> {
    let all = archives(dir);
    let extra = all.len().saturating_sub(keep);
    all.into_iter()
        .take(extra)
        .filter(|(_, p)| std::fs::remove_file(p).is_ok())
        .map(|(_, p)| p.display().to_string())
        .collect()
}

/// Where the archives go: `dir` from the configuration directory, else `DATA/backups`.
pub fn dir_of(settings: &BackupSettings, config_dir: &Path, data_root: &Path) -> PathBuf {
    match &settings.dir {
        Some(d) => config_dir.join(d),
        None => data_root.join("backups"),
    }
}

/// Runs the schedule until the task is aborted.
pub fn spawn(engine: Arc<Engine>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let config = engine.config();
            // Read again each round: a reload may turn backups on, off, or change them.
            let Some(settings) = config.device.backup.clone() else {
                tokio::time::sleep(Duration::from_secs(60)).await;
                continue;
            };
            let every = Duration::from_secs(u64::from(settings.every_minutes) * 60);
            let dir = dir_of(&settings, &config.dir, engine.data_dir().root());
            let wait = due_in(&dir, every, SystemTime::now());
            if !wait.is_zero() {
                // At most a minute at a time, so a reload's new schedule is seen.
                tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
                continue;
            }
            let data = engine.data_dir().clone();
            let config_dir = config.dir.clone();
            let keep = settings.keep as usize;
            let taken = tokio::task::spawn_blocking(move || {
                backup::backup(&data, &config_dir, &dir).map(|b| (b, prune(&dir, keep)))
            })
            .await;
            match taken {
                Ok(Ok((b, removed))) => {
                    engine.bus().publish(EventKind::BackupTaken {
                        archive: b.archive.display().to_string(),
                        bytes: b.manifest.files.iter().map(|f| f.bytes).sum(),
                        audit_rows: b.manifest.audit_rows,
                        removed,
                    });
                }
                Ok(Err(e)) => {
                    tracing::error!("scheduled backup failed: {e}");
                    engine.bus().publish(EventKind::BackupFailed {
                        error: e.to_string(),
                    });
                    tokio::time::sleep(every).await;
                }
                Err(e) => {
                    tracing::error!("scheduled backup task failed: {e}");
                    tokio::time::sleep(every).await;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_now_without_an_archive_later_after_a_fresh_one_and_pruned_to_keep() {
        let dir = tempfile::tempdir().unwrap();
        let every = Duration::from_secs(3600);
        let now = SystemTime::now();
        assert_eq!(due_in(dir.path(), every, now), Duration::ZERO);
        for (i, age) in [(1, 7200), (2, 5400), (3, 60)] {
            let p = dir.path().join(format!("qcity-backup-{i}.tar"));
            std::fs::write(&p, b"x").unwrap();
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(now - Duration::from_secs(age)).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        let wait = due_in(dir.path(), every, now);
        assert!(wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3540));
        let removed = prune(dir.path(), 2);
        assert_eq!(removed.len(), 1);
        assert!(removed[0].ends_with("qcity-backup-1.tar"));
        assert!(dir.path().join("notes.txt").exists());
    }
}
