//! The job's command on the host: its output streamed into the job's log as it arrives, its
//! exit code kept; on timeout or cancel its process group is killed by a second command on
//! the same connection (TERM, then KILL after a grace), since closing our side of the
//! channel would leave a command without a terminal running on.

use std::time::Duration;

use openssh::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::connect::{Connection, one_line};
use super::script::RemoteDir;
use crate::exec::{ExecError, Log, Ran, Work};

/// The time the group has between TERM and KILL.
const GRACE: Duration = Duration::from_secs(10);

/// Runs the job's command to its exit, its timeout or its cancel.
pub async fn run(conn: &Connection, remote: &RemoteDir, work: &Work) -> Result<Ran, ExecError> {
    let env: Vec<(&String, &String)> = work.job.env.iter().collect();
    let line = remote.run(&env, &work.job.command)?;
    let mut child = match conn
        .session
        .raw_command(&line)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .await
    {
        Ok(c) => c,
        Err(e) => return Err(conn.failed("start the command", &e.to_string()).await),
    };
    let stdout = child.stdout().take();
    let stderr = child.stderr().take();
    let log = work.log.clone();
    let ended = async move {
        // The remote's stderr joins its stdout; ssh's own stderr (a broken channel) is
        // logged too, and kept for the error.
        let (_, said, status) = tokio::join!(
            pump(stdout, Some(&log)),
            pump(stderr, Some(&log)),
            child.wait()
        );
        (said, status)
    };
    tokio::pin!(ended);
    let limit = tokio::time::sleep(Duration::from_millis(work.job.timeout_ms));
    let mut ran = Ran::default();
    let (said, status) = tokio::select! {
        r = &mut ended => r,
        _ = limit => {
            work.log.note(&format!("timed out after {} ms: stopping", work.job.timeout_ms));
            ran.timed_out = true;
            stop(conn, remote, &mut ended).await;
            return Ok(ran);
        }
        _ = crate::exec::cancelled(work.cancel.clone()) => {
            work.log.note("cancelled: stopping");
            ran.cancelled = true;
            stop(conn, remote, &mut ended).await;
            return Ok(ran);
        }
    };
    ran.code = Some(exit_code(conn, status, &said).await?);
    Ok(ran)
}

/// The command's exit code, or the lost connection that ended it.
async fn exit_code(
    conn: &Connection,
    status: Result<std::process::ExitStatus, openssh::Error>,
    said: &[u8],
) -> Result<i32, ExecError> {
    match status {
        Ok(s) => match s.code() {
            Some(c) => Ok(c),
            // The local ssh client was killed by a signal: the channel is gone.
            None => Err(conn.failed("running the command", "ssh was killed").await),
        },
        // openssh reads 127 as "not found": it is the command's code all the same.
        Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(127),
        // 255 is ssh's own failure, or a command that exited 255: the connection tells.
        Err(openssh::Error::RemoteProcessTerminated) => match conn.session.check().await {
            Ok(()) => Ok(255),
            Err(e) => Err(ExecError::Lost(format!(
                "the connection to {} was lost while the command ran: {e}; ssh said: {}",
                conn.label,
                one_line(&String::from_utf8_lossy(said))
            ))),
        },
        Err(e) => Err(conn.failed("running the command", &e.to_string()).await),
    }
}

/// Kills the group (TERM, then KILL after the grace) and waits for the command's end.
async fn stop<F: std::future::Future + Unpin>(
    conn: &Connection,
    remote: &RemoteDir,
    ended: &mut F,
) {
    signal(conn, remote, "TERM").await;
    if tokio::time::timeout(GRACE, &mut *ended).await.is_ok() {
        return;
    }
    signal(conn, remote, "KILL").await;
    // A safety limit: a connection that hangs now must not hang the job.
    let _ = tokio::time::timeout(GRACE, ended).await;
}

async fn signal(conn: &Connection, remote: &RemoteDir, sig: &str) {
    tracing::debug!(host = %conn.label, dir = %remote.dir, "ssh: kill -{sig} the job's group");
    if let Err(e) = conn.exec("stop the command", &remote.kill(sig), b"").await {
        tracing::warn!(host = %conn.label, "ssh: kill -{sig}: {e}");
    }
}

/// Copies `from` into the log as it arrives; returns the last 4 KiB.
async fn pump<R: AsyncRead + Unpin>(from: Option<R>, log: Option<&Log>) -> Vec<u8> {
    let mut tail = Vec::new();
    let Some(mut from) = from else {
        return tail;
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return tail,
            Ok(n) => {
                if let Some(log) = log {
                    log.write(&buf[..n]);
                }
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 4096 {
                    tail.drain(..tail.len() - 4096);
                }
            }
        }
    }
}
