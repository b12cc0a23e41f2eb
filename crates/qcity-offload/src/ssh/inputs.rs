//! The job's inputs sent as one tar stream into `tar -xf -` on the host, over the same
//! connection. The archive is written by a blocking thread straight into a pipe that is the
//! remote command's stdin: nothing is staged on disk and nothing is held whole in memory.

use std::os::fd::OwnedFd;

use openssh::Stdio;

use super::connect::{Connection, one_line};
use super::script::RemoteDir;
use crate::exec::{ExecError, Work};

/// Makes the job's directory on the host and unpacks the inputs into it.
pub async fn send(conn: &Connection, remote: &RemoteDir, work: &Work) -> Result<(), ExecError> {
    if work.job.inputs.is_empty() {
        return conn
            .exec("make the job's directory", &remote.mkdir(), b"")
            .await
            .map(drop);
    }
    let (reader, writer) = std::io::pipe()
        .map_err(|e| ExecError::Job(format!("cannot make a pipe for the inputs: {e}")))?;
    let child = {
        // The command holds the pipe's reading end until it is dropped: drop it right away.
        let mut cmd = conn.session.raw_command(remote.extract());
        cmd.stdin(Stdio::from(OwnedFd::from(reader)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd.spawn().await
    };
    let child = match child {
        Ok(c) => c,
        Err(e) => return Err(conn.failed("receive the inputs", &e.to_string()).await),
    };
    let dir = work.dir.clone();
    let inputs = work.job.inputs.clone();
    let packed = tokio::task::spawn_blocking(move || crate::inputs::pack(&dir, &inputs, writer));
    let (packed, out) = tokio::join!(packed, child.wait_with_output());
    let packed = packed.map_err(|e| ExecError::Job(format!("packing the inputs: {e}")))?;
    // A file that cannot be read here is the job's fault, whatever the host then said; a
    // broken pipe only echoes the host's side failing.
    if let Err((what, e)) = &packed
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(ExecError::Job(format!("cannot send {what}: {e}")));
    }
    match out {
        Ok(out) if out.status.success() => {
            packed.map_err(|(what, e)| ExecError::Job(format!("cannot send {what}: {e}")))
        }
        // The host's side failed first: that is why the pipe broke, if it did.
        Ok(out) => {
            let said = one_line(&String::from_utf8_lossy(&out.stderr));
            Err(conn.failed("unpack the inputs", &said).await)
        }
        Err(e) => Err(conn.failed("receive the inputs", &e.to_string()).await),
    }
}
