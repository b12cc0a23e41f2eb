//! `qcity update check|status`: whether QCity's release manifest offers a newer version, and
//! which versions are kept under the data dir. Reads the config and the manifest itself; no
//! daemon is needed.

use std::path::Path;

use clap::Subcommand;
use qcity_engine::datadir::DataDir;
use qcity_update::{Check, versions};
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
    /// The running version and the versions kept under DATA_DIR/versions.
    #[command(after_help = crate::EXIT_CODES)]
    Status {
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
    let offer = match qcity_update::check(&settings, config_dir, &running, &[]).map_err(failed)? {
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

pub fn check(config_dir: &Path, json: bool) -> CliResult {
    let settings = settings(config_dir)?;
    let running = qcity_update::running_version();
    let found = qcity_update::check(&settings, config_dir, &running, &[]).map_err(failed)?;
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
}

pub fn status(data: &DataDir, json: bool) -> CliResult {
    let root = data.root();
    let mut kept = versions::kept(root);
    kept.sort_by(
        |a, b| match (semver::Version::parse(a), semver::Version::parse(b)) {
            (Ok(a), Ok(b)) => a.cmp(&b),
            _ => a.cmp(b),
        },
    );
    let out = Status {
        running: qcity_update::VERSION.to_string(),
        current: versions::current(root),
        previous: versions::previous(root),
        kept,
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
    Ok(())
}
