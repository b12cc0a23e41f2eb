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
