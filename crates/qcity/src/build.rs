//! `qcity build scan` and `qcity build run` (the work is qcity-build's).

use std::path::{Path, PathBuf};

use qcity_build::{Project, RunOptions};
use qcity_engine::datadir::DataDir;

use crate::exit::{CliError, CliResult};

fn root(dir: Option<&Path>) -> CliResult<PathBuf> {
    let dir = dir.unwrap_or(Path::new("."));
    std::path::absolute(dir)
        .ok()
        .filter(|d| d.is_dir())
        .ok_or_else(|| CliError::error(format!("{}: not a directory", dir.display())))
}

fn print_plan(p: &Project) {
    let missing = if p.missing {
        format!(" — {} is not installed: not built", p.toolchain)
    } else {
        String::new()
    };
    println!("{} ({}){missing}", p.dir.display(), p.ecosystem);
    if p.steps.is_empty() {
        println!("  nothing to run (no build or test script)");
    }
    for s in &p.steps {
        println!("  {:8} {}    # {}", s.name, s.argv.join(" "), s.why);
    }
}

pub fn scan(dir: Option<&Path>, json: bool) -> CliResult {
    let found = qcity_build::scan(&root(dir)?);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&found).expect("plans serialise")
        );
        return Ok(());
    }
    if found.is_empty() {
        println!(
            "no project found (no build marker under {})",
            root(dir)?.display()
        );
    }
    for p in &found {
        print_plan(p);
    }
    Ok(())
}

/// Tells the daemon on this data dir, which notifies (the tray, the desktop): a build that
/// failed after its retries, or cannot run for want of its toolchain, needs a person. Without
/// a daemon the command's own exit status and output are all there is.
fn escalate(data: &DataDir, r: &qcity_build::BuildRecord) {
    let project = r.project.display();
    let (reason, advice) = match r.steps.iter().find(|s| !s.ok) {
        Some(s) if r.outcome == "failed" => (
            format!(
                "build of {project} failed: `{}` after {} attempt(s)",
                s.argv.join(" "),
                s.attempts
            ),
            format!(
                "see its output in {}; the end of it:\n{}",
                qcity_build::report_path(data.root()).display(),
                s.output_tail
                    .lines()
                    .rev()
                    .take(10)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        ),
        _ => (
            format!(
                "{project} cannot be built: its {} toolchain is missing",
                r.ecosystem
            ),
            "install the toolchain (it is not on PATH), then run `qcity build run --apply` again"
                .to_string(),
        ),
    };
    let reason: String = reason.chars().take(300).collect();
    let advice: String = advice.chars().take(2000).collect();
    let body = serde_json::json!({ "reason": reason, "advice": advice });
    match qcity_client::Client::connect(data)
        .and_then(|c| c.post_json::<qcity_types::Escalated>("/escalations", &body))
    {
        Ok(_) => println!("escalated to the daemon: {reason}"),
        Err(e) => println!("not escalated ({e}): {reason}"),
    }
}

pub fn run(dir: Option<&Path>, data: &DataDir, apply: bool, retries: u32, json: bool) -> CliResult {
    let found = qcity_build::scan(&root(dir)?);
    if !apply {
        println!("dry run: what `--apply` would run");
        for p in &found {
            print_plan(p);
        }
        return Ok(());
    }
    let opts = RunOptions {
        retries,
        ..RunOptions::new(data.root())
    };
    let mut records = Vec::new();
    for p in &found {
        if !json {
            println!("{} ({})", p.dir.display(), p.ecosystem);
        }
        let r =
            qcity_build::run::run_blocking(p, &opts).map_err(|e| CliError::error(e.to_string()))?;
        if !json {
            for s in &r.steps {
                let how = if s.ok { "ok" } else { "FAILED" };
                println!(
                    "  {:8} {how} after {} attempt(s): {}",
                    s.name,
                    s.attempts,
                    s.argv.join(" ")
                );
                if !s.ok {
                    for line in s
                        .output_tail
                        .lines()
                        .rev()
                        .take(15)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                    {
                        println!("    | {line}");
                    }
                }
            }
            for a in &r.artifacts {
                println!("  artifact {} sha256 {}", a.path.display(), a.sha256);
            }
            println!("  => {}", r.outcome);
        }
        records.push(r);
    }
    qcity_build::append_report(data.root(), &records)
        .map_err(|e| CliError::error(e.to_string()))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&records).expect("records serialise")
        );
    } else {
        println!(
            "recorded in {}",
            qcity_build::report_path(data.root()).display()
        );
    }
    for r in records
        .iter()
        .filter(|r| matches!(r.outcome.as_str(), "failed" | "missing-toolchain"))
    {
        escalate(data, r);
    }
    let failed: Vec<String> = records
        .iter()
        .filter(|r| r.outcome == "failed")
        .map(|r| r.project.display().to_string())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::error(format!(
            "build failed after its retries, needs you: {}",
            failed.join(", ")
        )))
    }
}
