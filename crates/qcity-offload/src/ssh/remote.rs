//! Short commands on an open connection, and what a failed one means: the connection gone
//! (`Lost`: the job fails over) or the host unable to do it (`Refused`).

use openssh::Stdio;
use tokio::io::AsyncWriteExt;

use super::connect::{Connection, one_line};
use crate::exec::ExecError;

impl Connection {
    /// Runs `line` with `input` on its stdin and returns its stdout.
    pub async fn exec(&self, what: &str, line: &str, input: &[u8]) -> Result<Vec<u8>, ExecError> {
        let mut child = match self
            .session
            .raw_command(line)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await
        {
            Ok(c) => c,
            Err(e) => return Err(self.failed(what, &e.to_string()).await),
        };
        let stdin = child.stdin().take();
        let feed = async move {
            if let Some(mut stdin) = stdin {
                // A command that exits without reading all of it says so by its status.
                let _ = stdin.write_all(input).await;
                let _ = stdin.shutdown().await;
            }
        };
        let (_, out) = tokio::join!(feed, child.wait_with_output());
        match out {
            Ok(out) if out.status.success() => Ok(out.stdout),
            Ok(out) => {
                let said = one_line(&String::from_utf8_lossy(&out.stderr));
                Err(self
                    .failed(what, &format!("exit {:?}: {said}", out.status.code()))
                    .await)
            }
            Err(e) => Err(self.failed(what, &e.to_string()).await),
        }
    }

    /// `Lost` if the connection is down, else the host could not do `what`.
    pub async fn failed(&self, what: &str, said: &str) -> ExecError {
        match self.session.check().await {
            Err(e) => ExecError::Lost(format!(
                "the connection to {} was lost while {what}: {e}",
                self.label
            )),
            Ok(()) => ExecError::Refused(format!("{} could not {what}: {said}", self.label)),
        }
    }

    /// Closes the master connection; a failure only leaves a log line.
    pub async fn close(self) {
        if let Err(e) = self.session.close().await {
            tracing::debug!(host = %self.label, "ssh: closing: {e}");
        }
    }
}
