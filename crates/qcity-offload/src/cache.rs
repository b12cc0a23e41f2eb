//! A job's cache with the semantics of actions/cache, kept in the object store.
//!
//! The key is the job's `key` followed by one SHA-256 over its `key_files` (lockfiles); an
//! entry is immutable once saved. Restore tries the exact key, then the key and each of
//! `restore_keys` as a prefix, the newest match winning. An entry is two objects:
//! `caches/KEY.tar` (the cached directories) and `caches/KEY.json` (its SHA-256, size and
//! time), written in that order so a listed entry always has its archive. A restored archive
//! whose SHA-256 is not the recorded one is refused and nothing is unpacked. The size of all
//! entries is bounded: the least recently used are removed first (the use times are this
//! machine's, in `DATA/jobs/cache-index.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use qcity_config::CacheSpec;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}: {}", .path.display(), chain(.error))]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "cache `{key}` refused: its archive's SHA-256 {got} is not the {want} recorded when it was saved (changed in the store); nothing was restored"
    )]
    Tampered {
        key: String,
        want: String,
        got: String,
    },
    #[error("cache `{key}`: {error}")]
    Bad { key: String, error: String },
}

/// An error with its causes: the tar crate's "failed to unpack" says why only in its source
/// (a full disk, a permission).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |error| CacheError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// What `caches/KEY.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    pub key: String,
    pub sha256: String,
    pub bytes: u64,
    pub created_ms: i64,
    pub paths: Vec<String>,
}

/// The key of `spec` for the files in `dir`: `key` + the SHA-256 over each key file's
/// relative path and contents, in the order given (a missing file counts as empty, as
/// `hashFiles` skips what does not match).
pub fn key(spec: &CacheSpec, dir: &Path) -> Result<String, CacheError> {
    if spec.key_files.is_empty() {
        return Ok(spec.key.clone());
    }
    let mut h = Sha256::new();
    for f in &spec.key_files {
        h.update(f.as_bytes());
        h.update([0]);
        match std::fs::read(dir.join(f)) {
            Ok(bytes) => h.update(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&dir.join(f))(e)),
        }
        h.update([0]);
    }
    Ok(format!("{}{}", spec.key, hex::encode(h.finalize())))
}

fn tar_key(key: &str) -> String {
    format!("caches/{key}.tar")
}

fn meta_key(key: &str) -> String {
    format!("caches/{key}.json")
}

/// The entries in the store, by key.
async fn entries(store: &Store) -> Result<BTreeMap<String, EntryMeta>, CacheError> {
    let mut out = BTreeMap::new();
    for l in store.list("caches").await? {
        let Some(key) = l
            .key
            .strip_prefix("caches/")
            .and_then(|k| k.strip_suffix(".json"))
        else {
            continue;
        };
        let Some(bytes) = store.get_bytes(&l.key).await? else {
            continue;
        };
        match serde_json::from_slice::<EntryMeta>(&bytes) {
            Ok(meta) if meta.key == key => {
                out.insert(key.to_string(), meta);
            }
            _ => tracing::warn!("cache entry `{key}` has an unreadable record; ignored"),
        }
    }
    Ok(out)
}

/// Which saved entry a restore of `key` takes: the exact key, else the newest whose key
/// starts with `key` or (in order) one of `restore_keys`.
pub fn pick<'a>(
    key: &str,
    restore_keys: &[String],
    entries: &'a BTreeMap<String, EntryMeta>,
) -> Option<&'a EntryMeta> {
    if let Some(e) = entries.get(key) {
        return Some(e);
    }
    std::iter::once(key)
        .chain(restore_keys.iter().map(String::as_str))
        .find_map(|prefix| {
            entries
                .values()
                .filter(|e| e.key.starts_with(prefix))
                .max_by_key(|e| (e.created_ms, e.key.clone()))
        })
}

/// This machine's use times of the entries, for the LRU bound.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    used: BTreeMap<String, Used>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Used {
    bytes: u64,
    last_used_ms: i64,
}

fn index_path(data_root: &Path) -> PathBuf {
    data_root.join("jobs").join("cache-index.json")
}

fn read_index(data_root: &Path) -> Index {
    std::fs::read(index_path(data_root))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_index(data_root: &Path, index: &Index) -> Result<(), CacheError> {
    let path = index_path(data_root);
    if let Some(dir) = path.parent() {
        qcity_platform::private::create_dir(dir).map_err(io(dir))?;
    }
    let tmp = path.with_extension("json.tmp");
    qcity_platform::private::write(
        &tmp,
        &serde_json::to_vec(index).expect("an index serialises"),
    )
    .map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))
}

fn touch(data_root: &Path, key: &str, bytes: u64) -> Result<(), CacheError> {
    let mut index = read_index(data_root);
    index.used.insert(
        key.to_string(),
        Used {
            bytes,
            last_used_ms: qcity_platform::clock::now_ms(),
        },
    );
    write_index(data_root, &index)
}

/// Restores the entry `pick` chooses into `dir`; returns its key, or `None` when nothing
/// matches. The archive is checked, then unpacked beside the job's files and each cached
/// directory moved into place, so a failure leaves the job's files as they were.
pub async fn restore(
    store: &Store,
    spec: &CacheSpec,
    key: &str,
    dir: &Path,
    data_root: &Path,
) -> Result<Option<String>, CacheError> {
    let all = entries(store).await?;
    let Some(meta) = pick(key, &spec.restore_keys, &all).cloned() else {
        return Ok(None);
    };
    let work = tempfile::Builder::new()
        .prefix(".qcity-cache-")
        .tempdir_in(dir)
        .map_err(io(dir))?;
    let mut archive = store.get_readable(&tar_key(&meta.key), work.path()).await?;
    let unpacked = work.path().join("files");
    std::fs::create_dir(&unpacked).map_err(io(&unpacked))?;
    let (spec_paths, key, want) = (spec.paths.clone(), meta.key.clone(), meta.sha256.clone());
    let to = unpacked.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Seek;
        let (got, _) = qcity_platform::checksum::sha256_reader(&mut archive).map_err(io(&to))?;
        if !got.eq_ignore_ascii_case(&want) {
            return Err(CacheError::Tampered { key, want, got });
        }
        archive.rewind().map_err(io(&to))?;
        extract(archive, &to, &spec_paths).map_err(|e| match e {
            Extract::Io(path, error) => CacheError::Io { path, error },
            Extract::Bad(error) => CacheError::Bad { key, error },
        })
    })
    .await
    .map_err(|e| CacheError::Bad {
        key: meta.key.clone(),
        error: e.to_string(),
    })??;
    for p in &spec.paths {
        let from = unpacked.join(p);
        if !from.exists() {
            continue;
        }
        let to = dir.join(p);
        if to.exists() {
            std::fs::remove_dir_all(&to)
                .or_else(|_| std::fs::remove_file(&to))
                .map_err(io(&to))?;
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::rename(&from, &to).map_err(io(&to))?;
    }
    touch(data_root, &meta.key, meta.bytes)?;
    Ok(Some(meta.key))
}

enum Extract {
    Io(PathBuf, std::io::Error),
    Bad(String),
}

/// Unpacks `archive` into `to`: directories, regular files (their mode and time kept) and
/// symbolic links, each at a path checked here (relative, inside the cached paths, not under
/// a link the archive made); anything else is refused. Files are written as tar itself
/// writes them (the mode given at creation, the time set on the open file): the tar crate's
/// own unpacking resolves both directories of every entry again and changes each file's mode
/// after, which costs more than the unpacking itself on a cache of many small files.
fn extract(archive: std::fs::File, to: &Path, paths: &[String]) -> Result<(), Extract> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tar = tar::Archive::new(std::io::BufReader::with_capacity(1 << 16, archive));
    let reading = |e| Extract::Io(to.to_path_buf(), e);
    let mut links: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    let mut made: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for entry in tar.entries().map_err(reading)? {
        let mut entry = entry.map_err(reading)?;
        let path = entry.path().map_err(reading)?.into_owned();
        let inside = paths.iter().any(|p| path.starts_with(p));
        let through_link = path.ancestors().skip(1).any(|a| links.contains(a));
        if !crate::artifacts::safe_relative(&path) || !inside || through_link {
            return Err(Extract::Bad(format!(
                "entry `{}` is outside the cached paths",
                path.display()
            )));
        }
        let file = to.join(&path);
        let at = |e| Extract::Io(file.clone(), e);
        if let Some(parent) = file.parent()
            && !made.contains(parent)
        {
            std::fs::create_dir_all(parent).map_err(|e| Extract::Io(parent.to_path_buf(), e))?;
            made.insert(parent.to_path_buf());
        }
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        if kind.is_dir() {
            if made.insert(file.clone()) {
                std::fs::create_dir_all(&file).map_err(at)?;
            }
        } else if kind.is_file() {
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&file)
                .map_err(at)?;
            std::io::copy(&mut entry, &mut out).map_err(at)?;
            if let Ok(mtime) = entry.header().mtime() {
                let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
                out.set_modified(when).map_err(at)?;
            }
        } else if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(at)?
                .ok_or_else(|| Extract::Bad(format!("link `{}` has no target", path.display())))?;
            std::os::unix::fs::symlink(target, &file).map_err(at)?;
            links.insert(path);
        } else {
            return Err(Extract::Bad(format!(
                "entry `{}` is neither a file, a directory nor a symbolic link",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Saves the cached paths under `key` unless an entry of that key exists (entries are
/// immutable); then removes the least recently used entries above `max_bytes`. Returns
/// whether it saved.
pub async fn save(
    store: &Store,
    spec: &CacheSpec,
    key: &str,
    dir: &Path,
    data_root: &Path,
    max_bytes: u64,
) -> Result<bool, CacheError> {
    if store.get_bytes(&meta_key(key)).await?.is_some() {
        return Ok(false);
    }
    let work = tempfile::tempdir().map_err(io(Path::new("/tmp")))?;
    let archive = work.path().join("cache.tar");
    {
        let file = std::fs::File::create(&archive).map_err(io(&archive))?;
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
        tar.follow_symlinks(false);
        for p in &spec.paths {
            let full = dir.join(p);
            if full.is_dir() {
                tar.append_dir_all(p, &full).map_err(io(&full))?;
            } else if full.is_file() {
                tar.append_path_with_name(&full, p).map_err(io(&full))?;
            }
        }
        tar.into_inner()
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .map_err(io(&archive))?;
    }
    let (sha256, bytes) = qcity_platform::checksum::sha256_file(&archive).map_err(io(&archive))?;
    store.put_file(&tar_key(key), &archive).await?;
    let meta = EntryMeta {
        key: key.to_string(),
        sha256,
        bytes,
        created_ms: qcity_platform::clock::now_ms(),
        paths: spec.paths.clone(),
    };
    store
        .put_bytes(
            &meta_key(key),
            serde_json::to_vec(&meta).expect("meta serialises"),
        )
        .await?;
    touch(data_root, key, bytes)?;
    evict(store, data_root, max_bytes).await?;
    Ok(true)
}

/// Removes the least recently used entries until the total is at most `max_bytes`.
pub async fn evict(
    store: &Store,
    data_root: &Path,
    max_bytes: u64,
) -> Result<Vec<String>, CacheError> {
    let all = entries(store).await?;
    let index = read_index(data_root);
    // An entry this machine never used counts as used when it was made.
    let mut by_use: Vec<(i64, &EntryMeta)> = all
        .values()
        .map(|e| {
            let used = index
                .used
                .get(&e.key)
                .map_or(e.created_ms, |u| u.last_used_ms);
            (used, e)
        })
        .collect();
    by_use.sort_by_key(|(t, e)| (*t, e.key.clone()));
    let mut total: u64 = all.values().map(|e| e.bytes).sum();
    let mut removed = Vec::new();
    for (_, e) in by_use {
        if total <= max_bytes {
            break;
        }
        store.delete(&meta_key(&e.key)).await?;
        store.delete(&tar_key(&e.key)).await?;
        total = total.saturating_sub(e.bytes);
        removed.push(e.key.clone());
    }
    if !removed.is_empty() {
        let mut index = index;
        for k in &removed {
            index.used.remove(k);
        }
        write_index(data_root, &index)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(key: &str, created_ms: i64) -> (String, EntryMeta) {
        (
            key.to_string(),
            EntryMeta {
                key: key.into(),
                sha256: String::new(),
                bytes: 1,
                created_ms,
                paths: vec![],
            },
        )
    }

    #[test]
    fn exact_then_prefixes_in_order_the_newest_winning() {
        let all: BTreeMap<_, _> = [
            meta("npm-linux-aaa", 10),
            meta("npm-linux-bbb", 30),
            meta("npm-mac-ccc", 40),
        ]
        .into_iter()
        .collect();
        let keys = |k: &str, r: &[&str]| {
            let r: Vec<String> = r.iter().map(|s| s.to_string()).collect();
            pick(k, &r, &all).map(|e| e.key.clone())
        };
        assert_eq!(
            keys("npm-linux-aaa", &["npm-"]).as_deref(),
            Some("npm-linux-aaa")
        );
        assert_eq!(
            keys("npm-linux-zzz", &["npm-linux-"]).as_deref(),
            Some("npm-linux-bbb")
        );
        assert_eq!(
            keys("npm-linux-zzz", &["npm-"]).as_deref(),
            Some("npm-mac-ccc")
        );
        assert_eq!(
            keys("npm-linux-zzz", &["npm-win-", "npm-linux-"]).as_deref(),
            Some("npm-linux-bbb")
        );
        assert_eq!(keys("pip-", &["pip-"]), None);
    }
}
