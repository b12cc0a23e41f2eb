//! `qcity update check|status`: whether QCity's release manifest offers a newer version, and
//! which versions are kept under the data dir. Reads the config and the manifest itself; no
//! daemon is needed.

use std::path::Path;

use clap::Subcommand;
use qcity_client::Client;
use qcity_engine::datadir::DataDir;
use qcity_update::{Check, record, versions};
use serde::Serialize;

use crate::exit::{CliError, CliResult};

#[derive(Debug, Subcommand)]
pub enum UpdateCommand {
    /// Read the release manifest named by `update` in the device config and say whether it
    /// offers a newer version for this machine. An older version (a downgrade or a replayed
    /// manifest), a file whose signature does not name the announced version, and a
    /// manifest with errors are refused with the reason.
    #[command(after_help = crate::EXIT_CODES)]
    Check {
        /// Config directory [default: $XDG_CONFIG_HOME/qcity or ~/.config/qcity]
        #[arg(long, value_name = "DIR")]
        config: Option<std::path::PathBuf>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Download the newer version `check` finds and keep it under DATA_DIR/versions/VERSION
    /// once verified: size, SHA-256, the minisign signature against the pinned key and the
    /// version it vouches for. Resumes an interrupted download; a file that fails a check
    /// is deleted and nothing is kept. Runs nothing.
    #[command(after_help = crate::EXIT_CODES)]
    Download {
        /// Config directory [default: $XDG_CONFIG_HOME/qcity or ~/.config/qcity]
        #[arg(long, value_name = "DIR")]
        config: Option<std::path::PathBuf>,
    },
    /// The running version, the versions kept under DATA_DIR/versions, an update waiting for
    /// its check, how the last one ended and the versions refused here.
    #[command(after_help = crate::EXIT_CODES)]
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Apply the newer release through the running daemon: an autotest first if the latest
    /// is stale, refused with the reasons while the gate is closed (a failed autotest, an
    /// unhealthy or failing runner), downloaded and verified, every runner drained (a job
    /// under way finishes first), then the daemon restarts into the new version, which must
    /// pass its autotest or is rolled back. Waits for that outcome unless --no-wait.
    #[command(after_help = crate::EXIT_CODES)]
    Apply {
        /// Return once the daemon restarts, without waiting for the new version's check
        #[arg(long)]
        no_wait: bool,
        /// Print JSON (the outcome, or the start with --no-wait)
        #[arg(long)]
        json: bool,
    },
    /// Go back to the previous version through the running daemon: runners drained as for
    /// an update; the version left is not offered again.
    #[command(after_help = crate::EXIT_CODES)]
    Rollback {
        /// Return once the daemon restarts, without waiting for it to serve again
        #[arg(long)]
        no_wait: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

/// `qcity update check --json`.
#[derive(Serialize)]
struct Checked {
    running: String,
    latest: String,
    available: bool,
    notes: Option<String>,
    pub_date: Option<String>,
}

/// The device config's `update` section.
fn settings(config_dir: &Path) -> CliResult<qcity_config::UpdateSettings> {
    let config = qcity_config::load_dir(config_dir)
        .map_err(|e| CliError::new(crate::exit::Code::InvalidConfig, e.to_string()))?;
    config.device.update.ok_or_else(|| {
        CliError::error(format!(
            "no update source: set `update.manifest` and `update.public_key` in {}",
            config_dir.join("qcity-device-config.json").display()
        ))
    })
}

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::error(e.to_string())
}

pub fn download(config_dir: &Path, data: &DataDir) -> CliResult {
    let settings = settings(config_dir)?;
    let running = qcity_update::running_version();
    let refused = record::refused_versions(data.root());
    let offer =
        match qcity_update::check(&settings, config_dir, &running, &refused).map_err(failed)? {
            Check::UpToDate { version } => {
                println!("up to date: {version}; nothing to download");
                return Ok(());
            }
            Check::Available(offer) => offer,
        };
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last = u64::MAX;
    let mut progress = |done: u64, total: u64| {
        // A line per 10 % (rewritten in place on a terminal).
        let tenth = done * 10 / total.max(1);
        if tenth != last {
            last = tenth;
            let pct = done * 100 / total.max(1);
            if tty {
                eprint!(
                    "\rdownloading {}: {pct:3}% ({done} of {total} bytes)",
                    offer.version
                );
            } else {
                eprintln!(
                    "downloading {}: {pct}% ({done} of {total} bytes)",
                    offer.version
                );
            }
        }
    };
    let kept = qcity_update::stage_with(&settings, config_dir, &offer, data.root(), &mut progress);
    if tty {
        eprintln!();
    }
    let kept = kept.map_err(failed)?;
    println!(
        "{} verified (size, SHA-256, signature, signed version) and kept: {}",
        offer.version,
        kept.display()
    );
    Ok(())
}

pub fn check(config_dir: &Path, data: &DataDir, json: bool) -> CliResult {
    let settings = settings(config_dir)?;
    let running = qcity_update::running_version();
    // As the daemon checks: a version rolled back here is not offered again.
    let refused = record::refused_versions(data.root());
    let found = qcity_update::check(&settings, config_dir, &running, &refused).map_err(failed)?;
    let out = match found {
        Check::UpToDate { version } => Checked {
            running: running.to_string(),
            latest: version.to_string(),
            available: false,
            notes: None,
            pub_date: None,
        },
        Check::Available(offer) => Checked {
            running: running.to_string(),
            latest: offer.version.to_string(),
            available: true,
            notes: offer.notes,
            pub_date: offer.pub_date,
        },
    };
    if json {
        return crate::commands::print_json(&out);
    }
    if out.available {
        println!("{} is available (running {})", out.latest, out.running);
        if let Some(date) = &out.pub_date {
            println!("published: {date}");
        }
        if let Some(notes) = &out.notes {
            println!("notes: {notes}");
        }
    } else {
        println!("up to date: {}", out.running);
    }
    Ok(())
}

/// `qcity update status --json`.
#[derive(Serialize)]
struct Status {
    running: String,
    current: Option<String>,
    previous: Option<String>,
    kept: Vec<String>,
    pending: Option<qcity_types::UpdatePending>,
    last: Option<qcity_types::UpdateOutcome>,
    refused: Vec<qcity_types::UpdateRefused>,
}

pub fn status(data: &DataDir, json: bool) -> CliResult {
    let root = data.root();
    let out = Status {
        running: qcity_types::version::get().to_string(),
        current: versions::current(root),
        previous: versions::previous(root),
        kept: versions::kept(root),
        pending: record::pending(root),
        last: record::last(root).map(|l| l.outcome),
        refused: record::refused(root),
    };
    if json {
        return crate::commands::print_json(&out);
    }
    println!("running: {}", out.running);
    if out.kept.is_empty() {
        println!(
            "no versions kept under {}",
            versions::versions_dir(root).display()
        );
        return Ok(());
    }
    println!("kept: {}", out.kept.join(", "));
    if let Some(c) = &out.current {
        println!("current: {c}");
    }
    if let Some(p) = &out.previous {
        println!("previous: {p}");
    }
    if let Some(p) = &out.pending {
        println!(
            "pending: {} (from {}), started {} time(s), not yet checked",
            p.to, p.from, p.tries
        );
    }
    if let Some(l) = &out.last {
        println!(
            "last: {} {} -> {}: {}",
            l.step.as_str(),
            l.from,
            l.to,
            l.detail
        );
    }
    for r in &out.refused {
        println!("refused: {}: {}", r.version, r.reason);
    }
    Ok(())
}

/// `qcity update apply|rollback`: asks the daemon (`path`), then waits until the version it
/// restarted into serves and its outcome is recorded.
pub fn apply(data: &DataDir, path: &str, no_wait: bool, json: bool) -> CliResult {
    let since = qcity_platform::clock::now_ms() - 1;
    let started: qcity_types::UpdateStarted = Client::connect(data)?.post(path)?;
    if no_wait {
        if json {
            return crate::commands::print_json(&started);
        }
        println!(
            "switched from {} to {}: the daemon restarts into {}",
            started.from, started.to, started.to
        );
        return Ok(());
    }
    if !json {
        eprintln!(
            "switched from {} to {}; waiting for {} to serve and pass its check…",
            started.from, started.to, started.to
        );
    }
    // The check's deadline is the daemon's (at most update.check_deadline_seconds); this
    // only bounds the wait for a daemon that never comes back.
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(3600);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let view = Client::connect(data).and_then(|c| c.get::<qcity_types::UpdateView>("/update"));
        // Done once the version the outcome names runs (committed: the new one; rolled
        // back: the one run again).
        if let Ok(view) = view
            && view.pending.is_none()
            && let Some(last) = view
                .last
                .as_ref()
                .filter(|l| l.ts_ms >= since && l.to == view.running)
        {
            let rolled_back =
                last.step == qcity_types::UpdateStep::RolledBack && !path.ends_with("rollback");
            if json {
                crate::commands::print_json(&view)?;
            } else if rolled_back {
                println!("{} was rolled back: {}", last.from, last.detail);
            } else {
                println!("{} is running: {}", view.running, last.detail);
            }
            if rolled_back {
                return Err(CliError::error(format!(
                    "the update to {} was rolled back; {} runs",
                    started.to, view.running
                )));
            }
            return Ok(());
        }
        if std::time::Instant::now() > give_up {
            return Err(CliError::error(format!(
                "the daemon did not report the outcome of the update to {} within an hour: see `qcity update status` and `qcity events`",
                started.to
            )));
        }
    }
}

/// At `qcity up`'s start: hands over to the kept version that should run, if it is not this
/// one ([`qcity_update::boot`]); returns when this binary runs.
pub fn boot(data: &Path, max_tries: u32) {
    use qcity_update::boot::{Boot, COUNTED_ENV, decide};
    let counted = std::env::var(COUNTED_ENV).ok();
    if counted.is_some() {
        // SAFETY: no other thread exists yet (the daemon's runtime starts after this).
        unsafe { std::env::remove_var(COUNTED_ENV) };
    }
    // Another daemon serves this data dir: this start fails on its lock (exit 8) and must
    // not count as a try of the version that one is checking.
    if qcity_daemon::DaemonInfo::read(&data.join("daemon.json")).is_some_and(|i| {
        i.pid != std::process::id() && qcity_engine::supervisor::process::pid_alive(i.pid)
    }) {
        return;
    }
    let own = qcity_types::version::get();
    if let Boot::Exec {
        binary,
        version,
        counted,
    } = decide(data, own, counted.as_deref(), max_tries)
    {
        tracing::info!(
            "running {version} ({}), kept under the data dir",
            binary.display()
        );
        let err = exec(&binary, counted.then_some(version.as_str()));
        tracing::error!("cannot run {}: {err}; running {own}", binary.display());
    }
}

/// After the daemon stopped to restart into `versions/current`: exit 9 for the service
/// manager that started it (its unit sets `QCITY_SERVICE`), else exec it in place (same pid,
/// same arguments), its start counted as a start would count it.
pub fn restart(data: &Path, why: &str, max_tries: u32) -> CliResult {
    use qcity_update::boot::{Boot, decide};
    if std::env::var_os("QCITY_SERVICE").is_some() {
        return Err(CliError::new(
            crate::exit::Code::Restart,
            format!(
                "{why}: exiting {} for the service manager to start it",
                crate::exit::Code::Restart as u8
            ),
        ));
    }
    let (binary, counted) = match decide(data, qcity_types::version::get(), None, max_tries) {
        Boot::Exec {
            binary,
            version,
            counted,
        } => (binary, counted.then_some(version)),
        // This version again (nothing else to run): a fresh start of it.
        Boot::RunSelf => (std::path::PathBuf::from("/proc/self/exe"), None),
    };
    let err = exec(&binary, counted.as_deref());
    Err(CliError::error(format!(
        "{why}, but {} cannot be run: {err}",
        binary.display()
    )))
}

/// Replaces this process with `binary` and this process's arguments; returns only on
/// failure.
fn exec(binary: &Path, counted: Option<&str>) -> std::io::Error {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = std::process::Command::new(binary);
    cmd.args(std::env::args_os().skip(1));
    if let Some(v) = counted {
        cmd.env(qcity_update::boot::COUNTED_ENV, v);
    }
    cmd.exec()
}
