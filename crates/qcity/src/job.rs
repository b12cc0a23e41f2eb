//! `qcity job run|list|show|cancel|targets`: offloaded jobs through the running daemon.

use std::io::Read;
use std::time::Duration;

use clap::Subcommand;
use qcity_client::Client;
use qcity_engine::datadir::DataDir;
use qcity_types::{JobRun, JobStarted, JobState, JobsView, Placement};

use crate::commands::{emit, encode};
use crate::exit::{CliError, CliResult};
use crate::format;

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Decide where a job runs (this machine's battery, load, memory and disk; each target's
    /// health and recent success; the job's `offload`; the mode), print the places in order
    /// with the reasons, run it there and follow its output to the end. A place that cannot
    /// be reached fails over to the next one. Exits 1 unless the job succeeded.
    #[command(after_help = crate::EXIT_CODES)]
    Run {
        /// The job's name, as in the manifest's `jobs`
        name: String,
        /// The place: local, fleet, ssh:NAME or github:NAME (no failover)
        #[arg(long = "where", value_name = "PLACE")]
        place: Option<String>,
        /// Only print where it would run and why; run nothing
        #[arg(long)]
        dry_run: bool,
        /// Return once started, with its id
        #[arg(long)]
        no_wait: bool,
        /// Print JSON (the placement and the run's record)
        #[arg(long)]
        json: bool,
    },
    /// The newest job runs, newest first.
    #[command(after_help = crate::EXIT_CODES)]
    List {
        /// Only the runs of this job
        #[arg(long)]
        job: Option<String>,
        /// How many
        #[arg(short, default_value_t = 20)]
        n: u32,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// One run: where it was placed and why, every attempt, its artifacts with their SHA-256.
    #[command(after_help = crate::EXIT_CODES)]
    Show {
        /// The run's id (JOB-…)
        id: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Cancel a run that has not ended: its place stops the command.
    #[command(after_help = crate::EXIT_CODES)]
    Cancel {
        /// The run's id (JOB-…)
        id: String,
    },
    /// The remote targets: health, jobs running, recent record; and the mode.
    #[command(after_help = crate::EXIT_CODES)]
    Targets {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

pub fn dispatch(data: &DataDir, command: &JobCommand) -> CliResult {
    match command {
        JobCommand::Run {
            name,
            place,
            dry_run,
            no_wait,
            json,
        } => run(data, name, place.as_deref(), *dry_run, *no_wait, *json),
        JobCommand::List { job, n, json } => list(data, job.as_deref(), *n, *json),
        JobCommand::Show { id, json } => show(data, id, *json),
        JobCommand::Cancel { id } => {
            let run: JobRun =
                Client::connect(data)?.post(&format!("/jobs/runs/{}/cancel", encode(id)))?;
            println!("{}: cancel sent (it was {})", run.id, run.state.as_str());
            Ok(())
        }
        JobCommand::Targets { json } => targets(data, *json),
    }
}

fn placement_text(p: &Placement) -> String {
    let mut out = format!("placement ({}): {}\n", p.mode, p.summary);
    let mut n = 0;
    for c in &p.candidates {
        let rank = if c.eligible {
            n += 1;
            format!("{n}.")
        } else {
            "-".to_string()
        };
        out.push_str(&format!(
            "  {rank:>3} {}: {}\n",
            c.place,
            c.reasons.join("; ")
        ));
    }
    out
}

fn run(
    data: &DataDir,
    name: &str,
    place: Option<&str>,
    dry_run: bool,
    no_wait: bool,
    json: bool,
) -> CliResult {
    let client = Client::connect(data)?;
    let mut body = serde_json::json!({"dry_run": dry_run});
    if let Some(p) = place {
        body["where"] = p.into();
    }
    let started: JobStarted = client.post_json(&format!("/jobs/{}/run", encode(name)), &body)?;
    let Some(run) = started.run else {
        if json {
            emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&started.placement).expect("json")
            ));
        } else {
            emit(&placement_text(&started.placement));
        }
        return Ok(());
    };
    if !json {
        emit(&placement_text(&started.placement));
        emit(&format!("started {}\n", run.id));
    }
    if no_wait {
        if json {
            emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&run).expect("json")
            ));
        }
        return Ok(());
    }
    // Follow: the log from where we are, and the record, until the record is final; then
    // what the log gained meanwhile.
    let mut from = 0u64;
    let log_path = format!("/jobs/runs/{}/log?bytes=1048576", encode(&run.id));
    let follow = |from: &mut u64| -> CliResult {
        loop {
            let mut chunk = String::new();
            client
                .stream(&format!("{log_path}&from={from}"))?
                .read_to_string(&mut chunk)
                .map_err(|e| CliError::error(format!("reading the job's log: {e}")))?;
            if chunk.is_empty() {
                return Ok(());
            }
            *from += chunk.len() as u64;
            emit(&chunk);
        }
    };
    // The run's own events wake the loop at once (its end above all); between them the log
    // is read four times a second for the command's output.
    let (wake_tx, wake) = std::sync::mpsc::channel::<()>();
    if let Ok(events) = client.events() {
        let id = run.id.clone();
        std::thread::spawn(move || {
            for e in events.map_while(Result::ok) {
                let ours = matches!(&e.kind, qcity_types::EventKind::Job { run, .. } if *run == id);
                if ours && wake_tx.send(()).is_err() {
                    break;
                }
            }
        });
    }
    let run = loop {
        let record: JobRun = client.get(&format!("/jobs/runs/{}", encode(&run.id)))?;
        if !json {
            follow(&mut from)?;
        }
        if record.state.is_final() {
            if !json {
                follow(&mut from)?;
            }
            break record;
        }
        if let Err(std::sync::mpsc::RecvTimeoutError::Disconnected) =
            wake.recv_timeout(Duration::from_millis(250))
        {
            // No event stream: read on a timer alone.
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    if json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&run).expect("json")
        ));
    }
    match run.state {
        JobState::Succeeded => Ok(()),
        _ => Err(CliError::error(format!(
            "job `{name}` {}: {}",
            run.state.as_str(),
            run.detail
        ))),
    }
}

fn list(data: &DataDir, job: Option<&str>, n: u32, json: bool) -> CliResult {
    let mut path = format!("/jobs/runs?n={n}");
    if let Some(j) = job {
        path.push_str(&format!("&job={}", encode(j)));
    }
    let runs: Vec<JobRun> = Client::connect(data)?.get(&path)?;
    if json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&runs).expect("json")
        ));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.job.clone(),
                r.state.as_str().to_string(),
                r.place.clone().unwrap_or_else(|| "-".into()),
                format::ago(r.started_ms),
                r.detail.clone(),
            ]
        })
        .collect();
    emit(&format::table(
        &["ID", "JOB", "STATE", "PLACE", "STARTED", "DETAIL"],
        &rows,
    ));
    Ok(())
}

fn show(data: &DataDir, id: &str, json: bool) -> CliResult {
    let run: JobRun = Client::connect(data)?.get(&format!("/jobs/runs/{}", encode(id)))?;
    if json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&run).expect("json")
        ));
        return Ok(());
    }
    let mut out = format!(
        "{} ({}): {} at {}: {}\nstarted {} by {}\n",
        run.id,
        run.job,
        run.state.as_str(),
        run.place.as_deref().unwrap_or("-"),
        run.detail,
        format::utc(run.started_ms),
        run.actor
    );
    out.push_str(&placement_text(&run.placement));
    out.push_str("attempts:\n");
    for (i, a) in run.attempts.iter().enumerate() {
        let code = a
            .exit_code
            .map(|c| format!(" (exit {c})"))
            .unwrap_or_default();
        let detail = if a.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", a.detail)
        };
        out.push_str(&format!(
            "  {}. {}: {}{code}{detail}\n",
            i + 1,
            a.place,
            a.outcome
        ));
    }
    if !run.artifacts.is_empty() {
        out.push_str("artifacts:\n");
        for a in &run.artifacts {
            out.push_str(&format!(
                "  {}  {} ({} bytes)\n",
                a.sha256,
                a.path.display(),
                a.bytes
            ));
        }
    }
    emit(&out);
    Ok(())
}

fn targets(data: &DataDir, json: bool) -> CliResult {
    let view: JobsView = Client::connect(data)?.get("/jobs")?;
    if json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&view).expect("json")
        ));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = view
        .targets
        .iter()
        .map(|t| {
            vec![
                t.place.clone(),
                t.address.clone(),
                t.health.clone(),
                format!("{}/{}", t.running, t.max_jobs),
                format!("{}/{}", t.recent_ok, t.recent_total),
                t.detail.clone(),
            ]
        })
        .collect();
    emit(&format!("mode: {}\n", view.mode));
    emit(&format::table(
        &["TARGET", "ADDRESS", "HEALTH", "JOBS", "REACHED", "DETAIL"],
        &rows,
    ));
    Ok(())
}
