//! `daemon.json` in the data dir: how a client finds the daemon that serves it (where the API
//! listens, which process). The daemon writes it once it listens; clients read it, then the
//! token beside it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What `daemon.json` in the data dir tells clients: where the API listens, which process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    pub addr: SocketAddr,
    pub version: String,
    pub config_dir: PathBuf,
}

impl DaemonInfo {
    pub fn read(path: &Path) -> Option<DaemonInfo> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// What `daemon.json` at `path` says, if its process still runs (not a zombie): a daemon
    /// killed without a chance to remove the file leaves it behind.
    pub fn running(path: &Path) -> Option<DaemonInfo> {
        let info = DaemonInfo::read(path)?;
        qcity_platform::proc::stat(Path::new("/proc"), info.pid)
            .is_some_and(|s| !matches!(s.state, 'Z' | 'X'))
            .then_some(info)
    }

    /// Written whole or not at all: clients never read half a file.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        qcity_platform::private::write(
            &tmp,
            &serde_json::to_vec_pretty(self).expect("serializable"),
        )?;
        std::fs::rename(tmp, path)
    }
}
