//! Backups: a data dir's store and its config dir in one tar archive, with a manifest of
//! SHA-256 sums; and a restore that trusts nothing in an archive until every sum, the store's
//! integrity and its audit chain have been checked.
//!
//! The store is copied while the daemon runs (`Store::snapshot`: one read transaction), so a
//! backup never stops supervision. A restore swaps files, so it needs the daemon stopped: the
//! CLI stops it first. What a restore replaces is kept aside, never deleted.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use qcity_engine::datadir::DataDir;
use qcity_store::{AuditReport, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's name inside an archive.
pub const MANIFEST: &str = "MANIFEST.json";
const FORMAT: &str = "qcity-backup/1";
/// The store's path inside an archive.
const STORE: &str = "store/qcity.db";
/// Where the config files go inside an archive.
const CONFIG: &str = "config/";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub created_ms: i64,
    pub qcity_version: String,
    pub audit_rows: u64,
    pub files: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the audit chain of {} is broken at row {seq}: {reason}", .path.display())]
    AuditBroken {
        path: PathBuf,
        seq: u64,
        reason: String,
    },
    #[error("{}: not a QCity backup: {why}", .archive.display())]
    NotABackup { archive: PathBuf, why: String },
    #[error(
        "{}: {path} does not match its SHA-256 in the manifest: the archive is damaged",
        .archive.display()
    )]
    Mismatch { archive: PathBuf, path: String },
    #[error("{}: {path} is in the manifest but not in the archive", .archive.display())]
    Missing { archive: PathBuf, path: String },
    #[error("{}: {path} is in the archive but not in the manifest", .archive.display())]
    Unlisted { archive: PathBuf, path: String },
    #[error("no QCity store at {} (has `qcity up` run with this data dir?)", .0.display())]
    NoStore(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |error| BackupError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct Backup {
    pub archive: PathBuf,
    pub manifest: Manifest,
}

fn now_ms() -> i64 {
    qcity_platform::clock::now_ms()
}

/// `20261205T170102Z`: sorts as it was taken.
fn stamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm): no date crate for one file name.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn sha256_file(path: &Path) -> Result<(String, u64), BackupError> {
    qcity_platform::checksum::sha256_file(path).map_err(io(path))
}

/// The regular files under `dir`, relative, sorted; symlinks and special files are skipped.
fn config_files(dir: &Path) -> Result<Vec<PathBuf>, BackupError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io(&d))? {
            let entry = entry.map_err(io(&d))?;
            let kind = entry.file_type().map_err(io(&entry.path()))?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let rel = entry
                    .path()
                    .strip_prefix(dir)
                    .expect("under dir")
                    .to_path_buf();
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn audit_rows(store_file: &Path) -> Result<u64, BackupError> {
    match Store::open_read_only(store_file)?.audit_verify()? {
        AuditReport::Ok { rows } => Ok(rows),
        AuditReport::Broken { seq, reason } => Err(BackupError::AuditBroken {
            path: store_file.to_path_buf(),
            seq,
            reason,
        }),
    }
}

/// Takes a backup of `data`'s store and of `config_dir` into `to_dir` (created 0700):
/// `qcity-backup-STAMP.tar`, 0600, written under a temporary name and renamed when whole.
pub fn backup(data: &DataDir, config_dir: &Path, to_dir: &Path) -> Result<Backup, BackupError> {
    let db = data.db();
    if !db.exists() {
        return Err(BackupError::NoStore(data.root().to_path_buf()));
    }
    qcity_platform::private::create_dir(to_dir).map_err(io(to_dir))?;
    let created_ms = now_ms();
    let name = format!("qcity-backup-{}", stamp(created_ms));
    let work = to_dir.join(format!(".{name}.work"));
    qcity_platform::private::create_dir(&work).map_err(io(&work))?;
    let result = (|| {
        let snap = work.join("qcity.db");
        Store::open(&db)?.snapshot(&snap)?;
        let rows = audit_rows(&snap)?;

        let mut files: Vec<(String, PathBuf)> = vec![(STORE.to_string(), snap)];
        for rel in config_files(config_dir)? {
            files.push((
                format!("{CONFIG}{}", rel.to_string_lossy()),
                config_dir.join(&rel),
            ));
        }
        let mut entries = Vec::with_capacity(files.len());
        for (path, file) in &files {
            let (sha256, bytes) = sha256_file(file)?;
            entries.push(Entry {
                path: path.clone(),
                sha256,
                bytes,
            });
        }
        let manifest = Manifest {
            format: FORMAT.to_string(),
            created_ms,
            qcity_version: qcity_types::version::get().to_string(),
            audit_rows: rows,
            files: entries,
        };

        let archive = to_dir.join(format!("{name}.tar"));
        let tmp = to_dir.join(format!(".{name}.tar.tmp"));
        let out = qcity_platform::private::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        let mut tar = tar::Builder::new(out);
        for (path, file) in &files {
            tar.append_path_with_name(file, path).map_err(io(file))?;
        }
        let text = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o600);
        header.set_mtime((created_ms / 1000) as u64);
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST, text.as_slice())
            .map_err(io(&tmp))?;
        let mut out = tar.into_inner().map_err(io(&tmp))?;
        out.flush()
            .and_then(|()| out.sync_all())
            .map_err(io(&tmp))?;
        std::fs::rename(&tmp, &archive).map_err(io(&archive))?;
        Ok(Backup { archive, manifest })
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// An archive unpacked and checked, in a private directory next to where it will go.
#[derive(Debug)]
pub struct Verified {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Verified {
    pub fn store(&self) -> PathBuf {
        self.dir.join(STORE)
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join(CONFIG)
    }
}

/// The unpacked copy does not outlive its use, whether it was swapped in or not.
impl Drop for Verified {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Unpacks `archive` into `work` (created 0700) and checks it: the manifest's format, every
/// file's SHA-256 (none missing, none extra), the store's integrity and its audit chain.
pub fn verify(archive: &Path, work: &Path) -> Result<Verified, BackupError> {
    let not = |why: String| BackupError::NotABackup {
        archive: archive.to_path_buf(),
        why,
    };
    qcity_platform::private::create_dir(work).map_err(io(work))?;
    let file = std::fs::File::open(archive).map_err(io(archive))?;
    let mut tar = tar::Archive::new(file);
    let mut manifest: Option<Manifest> = None;
    let mut sums: Vec<(String, String, u64)> = Vec::new();
    for entry in tar.entries().map_err(|e| not(e.to_string()))? {
        let mut entry = entry.map_err(|e| not(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| not(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        // Only the names a backup writes: nothing absolute, no `..`, nothing but files.
        let safe = !path.starts_with('/')
            && !path.split('/').any(|c| c == ".." || c.is_empty())
            && (path == MANIFEST || path == STORE || path.starts_with(CONFIG));
        if !safe || !entry.header().entry_type().is_file() {
            return Err(not(format!("unexpected entry `{path}`")));
        }
        if path == MANIFEST {
            let mut text = Vec::new();
            entry
                .read_to_end(&mut text)
                .map_err(|e| not(e.to_string()))?;
            manifest =
                Some(serde_json::from_slice(&text).map_err(|e| not(format!("{MANIFEST}: {e}")))?);
            continue;
        }
        let dest = work.join(&path);
        if let Some(parent) = dest.parent() {
            qcity_platform::private::create_dir(parent).map_err(io(parent))?;
        }
        let mut out = qcity_platform::private::options()
            .write(true)
            .create_new(true)
            .open(&dest)
            .map_err(io(&dest))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut bytes = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(|e| not(e.to_string()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io(&dest))?;
            bytes += n as u64;
        }
        out.sync_all().map_err(io(&dest))?;
        sums.push((path, hex::encode(hasher.finalize()), bytes));
    }
    let manifest = manifest.ok_or_else(|| not(format!("no {MANIFEST}")))?;
    if manifest.format != FORMAT {
        return Err(not(format!(
            "format `{}`, this qcity reads `{FORMAT}`",
            manifest.format
        )));
    }
    for listed in &manifest.files {
        let Some((_, sha, bytes)) = sums.iter().find(|(p, _, _)| *p == listed.path) else {
            return Err(BackupError::Missing {
                archive: archive.to_path_buf(),
                path: listed.path.clone(),
            });
        };
        if *sha != listed.sha256 || *bytes != listed.bytes {
            return Err(BackupError::Mismatch {
                archive: archive.to_path_buf(),
                path: listed.path.clone(),
            });
        }
    }
    if let Some((path, _, _)) = sums
        .iter()
        .find(|(p, _, _)| !manifest.files.iter().any(|f| f.path == *p))
    {
        return Err(BackupError::Unlisted {
            archive: archive.to_path_buf(),
            path: path.clone(),
        });
    }
    let verified = Verified {
        dir: work.to_path_buf(),
        manifest,
    };
    if !verified.store().exists() {
        return Err(not(format!("no {STORE}")));
    }
    qcity_store::check_file(&verified.store())?;
    audit_rows(&verified.store())?;
    Ok(verified)
}

/// What a restore replaced, and where the replaced files are now.
#[derive(Debug, Clone)]
pub struct Restored {
    pub audit_rows: u64,
    pub aside: PathBuf,
}

/// Unpacks `archive` inside `data` (where the swap is a rename on one filesystem) and checks
/// it as [`verify`] does; nothing of the data dir is touched.
pub fn unpack_for_restore(archive: &Path, data: &DataDir) -> Result<Verified, BackupError> {
    qcity_platform::private::create_dir(data.root()).map_err(io(data.root()))?;
    let work = data.root().join(format!(".restore-{}", stamp(now_ms())));
    verify(archive, &work).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&work);
    })
}

/// Restores a checked archive (from [`unpack_for_restore`]) into `data` and `config_dir`; the
/// daemon must not be running. Moves the current store (with its `-wal` and `-shm`) and config
/// files to `DATA/aside/restore-STAMP/`, and the archive's in; then checks the store in place
/// again.
pub fn restore(
    verified: Verified,
    data: &DataDir,
    config_dir: &Path,
) -> Result<Restored, BackupError> {
    let stamp = stamp(now_ms());
    let aside = data.root().join("aside").join(format!("restore-{stamp}"));
    qcity_platform::private::create_dir(&aside.join("config")).map_err(io(&aside))?;
    let db = data.db();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        let from = db.with_file_name(&name);
        if from.exists() {
            std::fs::rename(&from, aside.join(&name)).map_err(io(&from))?;
        }
    }
    std::fs::rename(verified.store(), &db).map_err(io(&db))?;
    std::fs::create_dir_all(config_dir).map_err(io(config_dir))?;
    for rel in config_files(&verified.config())? {
        let to = config_dir.join(&rel);
        if to.exists() {
            let kept = aside.join("config").join(&rel);
            if let Some(parent) = kept.parent() {
                qcity_platform::private::create_dir(parent).map_err(io(parent))?;
            }
            std::fs::copy(&to, &kept).map_err(io(&to))?;
            // Inside the data dir, where every file is its owner's only.
            std::fs::set_permissions(&kept, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .map_err(io(&kept))?;
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        // Copied, not renamed: the config dir may be on another filesystem.
        std::fs::copy(verified.config().join(&rel), &to).map_err(io(&to))?;
    }
    drop(verified);
    qcity_store::check_file(&db)?;
    let audit_rows = audit_rows(&db)?;
    Ok(Restored { audit_rows, aside })
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps_are_utc_and_sort() {
        assert_eq!(super::stamp(0), "19700101T000000Z");
        assert_eq!(super::stamp(1_796_490_062_000), "20261205T170102Z");
    }
}
