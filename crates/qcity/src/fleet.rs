//! `qcity fleet status|publish`: the fleet through the running daemon.

use std::path::PathBuf;

use clap::Subcommand;
use qcity_client::Client;
use qcity_engine::datadir::DataDir;
use qcity_types::{FleetView, ManifestPublish, ManifestPublished};

use crate::commands::emit;
use crate::exit::{CliError, CliResult};
use crate::format;

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// The fleet as this node sees it: its connection, the live nodes with their
    /// capabilities, load and jobs, the queue per capability, the runner manifest version.
    #[command(after_help = crate::EXIT_CODES)]
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Publish a runner manifest signed with minisign (`minisign -Sm runner_manifest.json`)
    /// to every node of the fleet; each verifies it against its pinned key before applying.
    #[command(after_help = crate::EXIT_CODES)]
    Publish {
        /// The manifest (with a `version` newer than the fleet's)
        manifest: PathBuf,
        /// Its signature (default: MANIFEST.minisig)
        #[arg(long)]
        signature: Option<PathBuf>,
    },
}

pub fn dispatch(data: &DataDir, command: &FleetCommand) -> CliResult {
    match command {
        FleetCommand::Status { json } => status(data, *json),
        FleetCommand::Publish {
            manifest,
            signature,
        } => {
            let signature = signature.clone().unwrap_or_else(|| {
                let mut p = manifest.clone().into_os_string();
                p.push(".minisig");
                p.into()
            });
            let read = |p: &PathBuf| {
                std::fs::read_to_string(p)
                    .map_err(|e| CliError::error(format!("{}: {e}", p.display())))
            };
            let body = ManifestPublish {
                manifest: read(manifest)?,
                signature: read(&signature)?,
            };
            let body = serde_json::to_value(&body).expect("json");
            let done: ManifestPublished =
                Client::connect(data)?.post_json("/fleet/manifest", &body)?;
            println!(
                "runner manifest version {} published to the fleet",
                done.version
            );
            Ok(())
        }
    }
}

fn status(data: &DataDir, json: bool) -> CliResult {
    let view: FleetView = Client::connect(data)?.get("/fleet")?;
    if json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&view).expect("json")
        ));
        return Ok(());
    }
    if !view.configured {
        emit("no fleet: add a `fleet` section to qmoi_cloud_config.json\n");
        return Ok(());
    }
    let state = if view.connected {
        format!("connected to {}", view.servers.join(", "))
    } else {
        format!("not connected ({})", view.problem)
    };
    emit(&format!(
        "node {} ({}): {state}\n",
        view.node,
        view.capabilities.join(", ")
    ));
    match (&view.manifest_version, &view.manifest_refused) {
        (Some(v), _) => emit(&format!("runner manifest version {v}\n")),
        (None, _) => emit("runner manifest without a version\n"),
    }
    if let Some(why) = &view.manifest_refused {
        emit(&format!("{why}\n"));
    }
    let now = qcity_platform::clock::now_ms().max(0) as u64;
    let rows: Vec<Vec<String>> = view
        .nodes
        .iter()
        .map(|n| {
            let jobs: Vec<&str> = n.running.iter().map(|r| r.job.as_str()).collect();
            vec![
                n.name.clone(),
                n.capabilities.join(","),
                format!("{}/{}", n.running.len(), n.max_jobs),
                n.load_per_cpu.map_or("-".into(), |l| format!("{l:.2}")),
                n.version.clone(),
                format!("{} s ago", now.saturating_sub(n.last_seen_ms) / 1000),
                jobs.join(","),
            ]
        })
        .collect();
    emit(&format::table(
        &[
            "NODE",
            "CAPABILITIES",
            "JOBS",
            "LOAD/CPU",
            "VERSION",
            "SEEN",
            "RUNNING",
        ],
        &rows,
    ));
    for q in &view.queued {
        emit(&format!("queued for {}: {}\n", q.capability, q.waiting));
    }
    Ok(())
}
