//! Running a plan for real: one project at a time under its own lock (a second run skips a
//! locked project rather than building it twice), each step with a timeout and retries with
//! exponential backoff, through the engine's launcher (its own session, nothing left behind).
//! What a build made is recorded with its SHA-256 in `DATA/reports/builds.json`.

use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use qcity_engine::supervisor::launcher::{self, Launch};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::scan::Project;

/// How a run goes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The data dir: its `locks/` and `reports/`.
    pub data_root: PathBuf,
    /// Each attempt of a step ends after this.
    pub timeout: Duration,
    /// Attempts after the first, for a step that fails.
    pub retries: u32,
    /// Before the first retry; doubled for each next one.
    pub backoff: Duration,
}

impl RunOptions {
    pub fn new(data_root: &Path) -> Self {
        RunOptions {
            data_root: data_root.to_path_buf(),
            timeout: Duration::from_secs(30 * 60),
            retries: 2,
            backoff: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub argv: Vec<String>,
    pub attempts: u32,
    pub ok: bool,
    pub code: Option<i32>,
    pub timed_out: bool,
    /// The newest lines of its output (the last attempt's).
    pub output_tail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
}

/// One project's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub project: PathBuf,
    pub ecosystem: String,
    pub started_ms: i64,
    pub finished_ms: i64,
    /// built, failed (after its retries: it needs a person), locked (another run holds the
    /// project), missing-toolchain.
    pub outcome: String,
    pub steps: Vec<StepRecord>,
    pub artifacts: Vec<Artifact>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: not a list of build records: {error}", .path.display())]
    Report {
        path: PathBuf,
        error: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |error| RunError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// The lock a run of `project_dir` holds: `DATA/locks/build-HASH.lock`.
pub fn lock_path(data_root: &Path, project_dir: &Path) -> PathBuf {
    let hash = hex::encode(Sha256::digest(project_dir.as_os_str().as_encoded_bytes()));
    data_root
        .join("locks")
        .join(format!("build-{}.lock", &hash[..16]))
}

/// The project's lock, or `None` when another run holds it.
fn lock(path: &Path) -> Result<Option<std::fs::File>, RunError> {
    let dir = path.parent().expect("a lock path has a directory");
    qcity_platform::private::create_dir(dir).map_err(io(dir))?;
    let file = qcity_platform::private::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io(path))?;
    // SAFETY: flock on a descriptor we own; released when the file is closed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    Ok((rc == 0).then_some(file))
}

/// What a build left where its ecosystem puts artifacts: for Cargo the executables directly in
/// `target/debug`, elsewhere every file under the folder (at most 1000).
fn artifacts(project: &Project) -> Vec<Artifact> {
    let Some(rel) = project.artifacts else {
        return Vec::new();
    };
    let root = project.dir.join(rel);
    let mut files = Vec::new();
    if project.ecosystem == "cargo" {
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                files.push(e.path());
            }
        }
    } else {
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                match e.file_type() {
                    Ok(t) if t.is_dir() => stack.push(e.path()),
                    Ok(t) if t.is_file() && files.len() < 1000 => files.push(e.path()),
                    _ => {}
                }
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let (sha256, bytes) = qcity_platform::checksum::sha256_file(&path).ok()?;
            Some(Artifact {
                path,
                sha256,
                bytes,
            })
        })
        .collect()
}

/// Runs `project`'s steps in order; the first step that still fails after its retries ends
/// the run.
pub async fn run(project: &Project, opts: &RunOptions) -> Result<BuildRecord, RunError> {
    let started_ms = qcity_platform::clock::now_ms();
    let mut record = BuildRecord {
        project: project.dir.clone(),
        ecosystem: project.ecosystem.to_string(),
        started_ms,
        finished_ms: started_ms,
        outcome: String::new(),
        steps: Vec::new(),
        artifacts: Vec::new(),
    };
    if project.missing {
        record.outcome = "missing-toolchain".into();
        return Ok(record);
    }
    let Some(_lock) = lock(&lock_path(&opts.data_root, &project.dir))? else {
        record.outcome = "locked".into();
        return Ok(record);
    };
    let no_env: &[(&str, &str)] = &[];
    let mut ok = true;
    for step in &project.steps {
        let mut delay = opts.backoff;
        let mut attempts = 0;
        let finished = loop {
            attempts += 1;
            let finished = launcher::run(Launch {
                argv: &step.argv,
                env: no_env,
                clear_env: false,
                cwd: Some(&project.dir),
                timeout: opts.timeout,
                grace: Duration::from_secs(10),
                keep_output: 8 * 1024,
                inherit_fd: None,
                sink: None,
            })
            .await;
            let finished = match finished {
                Ok(f) => f,
                Err(e) => launcher::Finished {
                    code: None,
                    output: e.to_string(),
                    ..Default::default()
                },
            };
            if finished.success() || attempts > opts.retries {
                break finished;
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        };
        let step_ok = finished.success();
        record.steps.push(StepRecord {
            name: step.name.to_string(),
            argv: step.argv.clone(),
            attempts,
            ok: step_ok,
            code: finished.code,
            timed_out: finished.timed_out,
            output_tail: finished.output,
        });
        if !step_ok {
            ok = false;
            break;
        }
    }
    if ok {
        record.artifacts = artifacts(project);
    }
    record.outcome = if ok { "built" } else { "failed" }.into();
    record.finished_ms = qcity_platform::clock::now_ms();
    Ok(record)
}

/// `DATA/reports/builds.json`.
pub fn report_path(data_root: &Path) -> PathBuf {
    data_root.join("reports").join("builds.json")
}

/// Appends `records` to the report: read, extended, written whole to a temporary file and
/// renamed over it, so a reader never sees half a file.
pub fn append_report(data_root: &Path, records: &[BuildRecord]) -> Result<(), RunError> {
    let path = report_path(data_root);
    let dir = path.parent().expect("a report path has a directory");
    qcity_platform::private::create_dir(dir).map_err(io(dir))?;
    // Jobs that end in the daemon append to the same file: one writer at a time.
    qcity_platform::private::update_locked(&path, |old| {
        let mut all: Vec<serde_json::Value> = match old {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|error| RunError::Report {
                path: path.clone(),
                error,
            })?,
            None => Vec::new(),
        };
        all.extend(
            records
                .iter()
                .map(|r| serde_json::to_value(r).expect("records serialise")),
        );
        Ok(serde_json::to_vec_pretty(&all).expect("records serialise"))
    })
    .map_err(io(&path))?
}

/// [`run`] for a caller without an async runtime (the CLI).
pub fn run_blocking(project: &Project, opts: &RunOptions) -> Result<BuildRecord, RunError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io(&project.dir))?;
    rt.block_on(run(project, opts))
}
