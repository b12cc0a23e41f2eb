//! Files only their owner may read: the data dir holds password and session hashes, the
//! token, runner output. Directories are created 0700 and files 0600 from the first byte;
//! [`narrow_tree`] narrows what an older version or another tool left wider.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` and its missing parents with mode 0700.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Options that create a file with mode 0600 (set the access mode on them).
pub fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(0o600);
    o
}

/// Writes `path` whole with mode 0600 (created or truncated).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f: File = options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(bytes)
}

/// Rewrites `path` (mode 0600) from what it holds now, with one writer at a time across
/// processes: an exclusive `flock` on `PATH.lock` is held from the read to the rename, so two
/// writers appending to the same file (`qcity build` and a job ending in the daemon) cannot
/// both read the old contents and lose one's entry. `update` gets the current bytes (`None`
/// when there is no file) and returns the new ones; the file is replaced atomically.
pub fn update_locked<E>(
    path: &Path,
    update: impl FnOnce(Option<Vec<u8>>) -> Result<Vec<u8>, E>,
) -> Result<Result<(), E>, io::Error> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock = options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)?;
    // SAFETY: flock on a descriptor we own; released when `lock` is closed below.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let current = match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let bytes = match update(current) {
        Ok(b) => b,
        Err(e) => return Ok(Err(e)),
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path)?;
    drop(lock);
    Ok(Ok(()))
}

/// Narrows every directory under `root` (itself included) to 0700 and every file to at most
/// its owner's bits; returns how many it changed. Symbolic links are left alone.
pub fn narrow_tree(root: &Path) -> io::Result<usize> {
    let mut changed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o700))?;
                changed += 1;
            }
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        } else if meta.is_file() && mode & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o700))?;
            changed += 1;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn concurrent_locked_updates_lose_nothing() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("report.txt");
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        update_locked(&path, |old| {
                            let mut text = old.unwrap_or_default();
                            // Slow the read-modify-write so that writers would overlap.
                            std::thread::sleep(std::time::Duration::from_micros(200));
                            text.extend_from_slice(format!("{w}-{i}\n").as_bytes());
                            Ok::<_, ()>(text)
                        })
                        .unwrap()
                        .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 100, "every append kept");
        assert_eq!(mode(&path), 0o600);
        // An update that fails leaves the file as it was.
        let r = update_locked(&path, |_| Err::<Vec<u8>, _>("bad"));
        assert_eq!(r.unwrap(), Err("bad"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn new_files_are_private_and_old_ones_are_narrowed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let dir = d.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        write(&dir.join("f"), b"x").unwrap();
        assert_eq!(mode(&dir.join("f")), 0o600);
        let wide = d.path().join("wide");
        std::fs::create_dir(&wide).unwrap();
        std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(wide.join("log"), b"x").unwrap();
        std::fs::set_permissions(wide.join("log"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(wide.join("hook.sh"), b"x").unwrap();
        std::fs::set_permissions(wide.join("hook.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        assert_eq!(narrow_tree(d.path()).unwrap(), 3, "wide, log and hook.sh");
        assert_eq!(mode(&wide), 0o700);
        assert_eq!(mode(&wide.join("log")), 0o600);
        assert_eq!(
            mode(&wide.join("hook.sh")),
            0o700,
            "the owner keeps its execute bit"
        );
        assert_eq!(narrow_tree(d.path()).unwrap(), 0);
    }
}
