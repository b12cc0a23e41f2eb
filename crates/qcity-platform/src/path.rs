//! Finding a program the way a shell would: on PATH, or at the path it names.
//!
//! A match is a regular file of that name; the execute bit is not looked at (what runs a
//! program, `posix_spawn` in the engine's `spawn`, resolves and checks it itself).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Where `program` is: itself when it names a path (has a `/`), otherwise the first
/// directory of `path` (PATH's syntax, `:`-separated) holding a file of that name.
pub fn which_in(path: &OsStr, program: &str) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        return Path::new(program).is_file().then(|| PathBuf::from(program));
    }
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// [`which_in`] this process's PATH (none set: only a program naming a path is found).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    which_in(&path, program)
}

/// Whether [`which`] finds `program`.
pub fn on_path(program: &str) -> bool {
    which(program).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_directory_holding_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(b.join("tool")).unwrap(); // a directory is not a program
        std::fs::write(b.join("apt"), "").unwrap();
        std::fs::write(a.join("apt"), "").unwrap();
        let path = std::env::join_paths([&b, &a]).unwrap();
        assert_eq!(which_in(&path, "apt"), Some(b.join("apt")));
        assert_eq!(which_in(&path, "tool"), None);
        assert_eq!(which_in(&path, "dnf"), None);
        assert_eq!(which_in(&path, ""), None);
        assert_eq!(which_in(OsStr::new(""), "apt"), None);
    }

    #[test]
    fn a_program_naming_a_path_is_looked_at_there() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, "").unwrap();
        let named = tool.to_str().unwrap();
        assert_eq!(which_in(OsStr::new(""), named), Some(tool.clone()));
        assert_eq!(which(named), Some(tool));
        assert!(!on_path(dir.path().join("gone").to_str().unwrap()));
    }

    #[cfg(unix)]
    #[test]
    fn the_shell_is_on_this_machines_path() {
        assert!(on_path("sh"));
        assert!(!on_path("qcity-no-such-program"));
    }
}
