//! The SSH executor: one attempt of a job on a host reached with the system's `ssh`.
//!
//! One connection (a ControlMaster) carries every step: the job's directory made as
//! `<remote_dir>/<id>` under the login's home, the inputs sent as one tar stream, the command
//! run in a session of its own (so a timeout or cancel kills its whole group), its output
//! streamed into the job's log, then on exit 0 the artifacts brought back into staging with
//! the SHA-256 the host computed. The job's directory on the host is removed at the end.
//!
//! - `connect.rs`: the session (host keys strict or accept-new, keys from the agent or a
//!   key file, never a password) and what a failed connection means.
//! - `script.rs`: the remote shell lines, every argument quoted.
//! - `remote.rs`: short commands and what their failure means (`Lost` or `Refused`).
//! - `inputs.rs`, `command.rs`, `fetch.rs`: the three steps.

mod command;
mod connect;
mod fetch;
mod inputs;
mod remote;
mod script;

pub use script::shell_quote;

use qcity_config::SshTarget;

use crate::exec::{ExecError, Ran, Work};
use connect::Connection;
use script::RemoteDir;

/// Runs one attempt of `work` on the SSH host `target` (named `name` in the config).
pub async fn run(name: &str, target: &SshTarget, work: &Work) -> Result<Ran, ExecError> {
    crate::inputs::check(work)?;
    let conn = tokio::select! {
        c = connect::open(target, &work.config_dir) => c?,
        _ = crate::exec::cancelled(work.cancel.clone()) => {
            return Ok(Ran { cancelled: true, ..Ran::default() });
        }
    };
    tracing::info!(place = name, host = %conn.label, job = %work.id, "ssh: connected");
    let remote = RemoteDir::new(&target.remote_dir, &work.id);
    let ran = attempt(&conn, &remote, work).await;
    // Leaving the host clean (removing a large artifact takes a while) and ending the
    // master are nobody's wait: the attempt is over. A lost connection cannot remove
    // anything.
    let lost = matches!(ran, Err(ExecError::Lost(_)));
    let (place, job) = (name.to_string(), work.id.clone());
    tokio::spawn(async move {
        if !lost
            && let Err(e) = conn
                .exec("remove the job's directory", &remote.remove(), b"")
                .await
        {
            tracing::warn!(place, job, "ssh: {e}");
        }
        tracing::debug!(job, "ssh: cleaned up");
        conn.close().await;
    });
    ran
}

async fn attempt(conn: &Connection, remote: &RemoteDir, work: &Work) -> Result<Ran, ExecError> {
    tokio::select! {
        sent = inputs::send(conn, remote, work) => sent?,
        _ = crate::exec::cancelled(work.cancel.clone()) => {
            return Ok(Ran { cancelled: true, ..Ran::default() });
        }
    }
    tracing::debug!(job = %work.id, "ssh: inputs sent");
    let mut ran = command::run(conn, remote, work).await?;
    tracing::debug!(job = %work.id, code = ?ran.code, "ssh: command ended");
    if ran.success() {
        ran.artifacts = fetch::artifacts(conn, remote, work).await?;
        tracing::debug!(job = %work.id, n = ran.artifacts.len(), "ssh: artifacts brought back");
    }
    Ok(ran)
}
