//! The local executor: the job's command in its own directory here, through the engine's
//! launcher (its own session; the whole group killed on timeout, cancel or drop), its output
//! streamed into the job's log. Its artifacts are already in place: they are only hashed.
//! A job the fleet gives this node runs the same way (`fleet.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use qcity_engine::supervisor::launcher::{self, Launch, OutputSink};
use tokio::sync::watch;

use crate::exec::{ExecError, Ran, Work};

/// Runs `work` here to its end, its timeout or its cancel.
pub async fn run(work: &Work) -> Result<Ran, ExecError> {
    command(&Command {
        argv: &work.job.command,
        env: &work.job.env,
        dir: &work.dir,
        timeout_ms: work.job.timeout_ms,
        sink: work.log.sink(),
        cancel: work.cancel.clone(),
        artifacts: &work.job.artifacts,
    })
    .await
    .map_err(ExecError::Job)
}

/// A job's command as it runs on this machine.
pub(crate) struct Command<'a> {
    pub argv: &'a [String],
    pub env: &'a BTreeMap<String, String>,
    pub dir: &'a Path,
    pub timeout_ms: u64,
    pub sink: OutputSink,
    pub cancel: watch::Receiver<bool>,
    /// Globs of the artifacts, hashed in place after a success.
    pub artifacts: &'a [String],
}

/// Runs `c` to its end, its timeout or its cancel; `Err` says why it could not run.
pub(crate) async fn command(c: &Command<'_>) -> Result<Ran, String> {
    let env: Vec<(&String, &String)> = c.env.iter().collect();
    let launched = launcher::run(Launch {
        argv: c.argv,
        env: &env,
        clear_env: false,
        cwd: Some(c.dir),
        timeout: Duration::from_millis(c.timeout_ms),
        grace: Duration::from_secs(10),
        keep_output: 1,
        inherit_fd: None,
        sink: Some(c.sink.clone()),
    });
    let finished = tokio::select! {
        f = launched => f.map_err(|e| e.to_string())?,
        // Dropping the launch kills the command's group.
        _ = crate::exec::cancelled(c.cancel.clone()) => return Ok(Ran { cancelled: true, ..Ran::default() }),
    };
    let mut ran = Ran {
        code: finished.code,
        signal: finished.signal,
        timed_out: finished.timed_out,
        ..Ran::default()
    };
    if ran.success() {
        ran.artifacts =
            crate::artifacts::in_place(c.dir, c.artifacts).map_err(|e| e.to_string())?;
    }
    Ok(ran)
}
