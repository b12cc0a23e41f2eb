//! The local executor: the job's command in its own directory here, through the engine's
//! launcher (its own session; the whole group killed on timeout, cancel or drop), its output
//! streamed into the job's log. Its artifacts are already in place: they are only hashed.

use std::time::Duration;

use qcity_engine::supervisor::launcher::{self, Launch};

use crate::exec::{ExecError, Ran, Work};

/// Runs `work` here to its end, its timeout or its cancel.
pub async fn run(work: &Work) -> Result<Ran, ExecError> {
    let env: Vec<(&String, &String)> = work.job.env.iter().collect();
    let launched = launcher::run(Launch {
        argv: &work.job.command,
        env: &env,
        clear_env: false,
        cwd: Some(&work.dir),
        timeout: Duration::from_millis(work.job.timeout_ms),
        grace: Duration::from_secs(10),
        keep_output: 1,
        inherit_fd: None,
        sink: Some(work.log.sink()),
    });
    let finished = tokio::select! {
        f = launched => f.map_err(|e| ExecError::Job(e.to_string()))?,
        // Dropping the launch kills the command's group.
        _ = crate::exec::cancelled(work.cancel.clone()) => return Ok(Ran { cancelled: true, ..Ran::default() }),
    };
    let mut ran = Ran {
        code: finished.code,
        signal: finished.signal,
        timed_out: finished.timed_out,
        ..Ran::default()
    };
    if ran.success() {
        ran.artifacts = crate::artifacts::in_place(&work.dir, &work.job.artifacts)
            .map_err(|e| ExecError::Job(e.to_string()))?;
    }
    Ok(ran)
}
