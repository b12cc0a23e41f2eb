//! The store on real SQLite files.

mod audit;
mod basics;
mod heal;

use std::path::PathBuf;

pub fn db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qcity.db");
    (dir, path)
}
