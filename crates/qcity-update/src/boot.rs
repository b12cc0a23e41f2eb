//! Which binary `qcity up` runs: decided before the daemon starts, from `DATA/versions/`.
//!
//! `current` names the version to run. The binary a user or a service manager starts (the
//! packaged one) hands over to it when it is newer, or when its own version was rolled back
//! here. An update switched to but not yet checked (`pending.json`) is counted at each start
//! of its version, ChromeOS-style: once `update.max_start_tries` starts went by without its
//! check passing (it crashed, or hung until killed), this start switches back to the previous
//! version and runs that instead. The counting happens here, before any of the new
//! version's code runs, so a release that cannot even start is rolled back too.

use std::path::{Path, PathBuf};

use crate::record;
use crate::versions::{self, BINARY, versions_dir};

/// Set on the process a start hands over to, naming the version whose try it already
/// counted, so that process does not count it again.
pub const COUNTED_ENV: &str = "QCITY_UPDATE_TRY";

/// What this start runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// This binary.
    RunSelf,
    /// The kept `version` at `binary` (exec it with the same arguments).
    Exec {
        binary: PathBuf,
        version: String,
        /// Whether this start counted a try of it (set [`COUNTED_ENV`] on the exec).
        counted: bool,
    },
}

/// Decides for a start of version `own`; `counted` is [`COUNTED_ENV`]'s value, if set.
/// Counts the try and rolls back as described above; never fails (a problem is logged and
/// this binary runs).
pub fn decide(data_dir: &Path, own: &str, counted: Option<&str>, max_tries: u32) -> Boot {
    let mut current = versions::current(data_dir);
    let mut counted_now = false;
    if let Some(mut p) = record::pending(data_dir).filter(|p| current.as_deref() == Some(&p.to)) {
        let already = p.to == own && counted == Some(own);
        if !already {
            if p.tries >= max_tries {
                current = roll_back(data_dir, &p);
            } else {
                p.tries += 1;
                if let Err(e) = record::set_pending(data_dir, &p) {
                    tracing::warn!("cannot count the start of {}: {e}", p.to);
                }
                counted_now = true;
            }
        }
    }
    let Some(current) = current.filter(|c| c != own) else {
        return Boot::RunSelf;
    };
    let binary = versions_dir(data_dir).join(&current).join(BINARY);
    if !binary.is_file() {
        tracing::warn!(
            "versions/current names {current}, but {} is missing: running {own}",
            binary.display()
        );
        return Boot::RunSelf;
    }
    let newer = match (
        semver::Version::parse(&current),
        semver::Version::parse(own),
    ) {
        (Ok(c), Ok(o)) => c > o,
        _ => false,
    };
    let own_refused = record::refused(data_dir).iter().any(|r| r.version == own);
    if newer || own_refused {
        Boot::Exec {
            binary,
            version: current,
            counted: counted_now,
        }
    } else {
        // A newer QCity was installed over the one kept here (a package upgrade): it runs.
        Boot::RunSelf
    }
}

/// Switches back from the pending update that used up its tries; the version now current.
fn roll_back(data_dir: &Path, p: &qcity_types::UpdatePending) -> Option<String> {
    let detail = format!(
        "{} did not pass its post-update check in {} starts (it crashed or hung); {} runs again",
        p.to, p.tries, p.from
    );
    tracing::error!("rolling back: {detail}");
    // The daemon that starts next tells (event, audit, escalation): `published` false.
    if let Err(e) = record::roll_back(data_dir, &p.to, &p.from, &detail, false) {
        tracing::error!("cannot roll back from {} to {}: {e}", p.to, p.from);
    }
    versions::current(data_dir)
}
