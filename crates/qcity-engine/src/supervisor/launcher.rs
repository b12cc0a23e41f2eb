//! Short-lived commands — exec probes, task attempts, heal commands — started and ended one way.
//!
//! Each command leads a session of its own (as a runner does, `spawn.rs`), with every signal
//! disposition reset, so one `kill(-pgid)` reaches everything it forked. A command that
//! outlives its timeout gets SIGTERM to its group, then SIGKILL after the grace period; and
//! whatever way the launch ends — exit, timeout, or the caller dropping the future (a probe's
//! own timeout, an engine shutting down) — the group is killed, so no grandchild is left
//! behind holding a pipe or a port.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// What to run and how.
pub struct Launch<'a, K, V> {
    pub argv: &'a [String],
    /// Variables set for the command.
    pub env: &'a [(K, V)],
    /// Whether the command starts from an empty environment (probes, heal commands: exactly the
    /// runner's) or from the engine's (tasks).
    pub clear_env: bool,
    pub cwd: Option<&'a Path>,
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL when the command times out.
    pub grace: Duration,
    /// The newest bytes of stdout+stderr kept; 0 sends the output to /dev/null.
    pub keep_output: usize,
    /// A descriptor the command keeps across exec (a task's lock: held as long as its run).
    pub inherit_fd: Option<RawFd>,
    /// Sees every chunk of output as it is read (a job's live log); needs `keep_output > 0`.
    pub sink: Option<OutputSink>,
}

/// A reader of a command's output as it comes.
pub type OutputSink = std::sync::Arc<dyn Fn(&[u8]) + Send + Sync>;

/// How a launched command ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finished {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// It outlived its timeout and was terminated.
    pub timed_out: bool,
    /// The newest `keep_output` bytes of its stdout and stderr, in the order written.
    pub output: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        !self.timed_out && self.code == Some(0)
    }
}

/// Why a command could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("empty command")]
    Empty,
    #[error("cannot create a pipe: {0}")]
    Pipe(io::Error),
    #[error("cannot start `{program}`: {source}")]
    Start { program: String, source: io::Error },
}

/// How long the output is still read after the group is gone: a descendant that left the
/// group (its own `setsid`) may hold the pipe open for ever.
const DRAIN: Duration = Duration::from_millis(500);

/// Runs `launch` to its end (or its timeout) and kills whatever is left of its group.
pub async fn run<K: AsRef<OsStr>, V: AsRef<OsStr>>(
    launch: Launch<'_, K, V>,
) -> Result<Finished, LaunchError> {
    let Some((program, args)) = launch.argv.split_first() else {
        return Err(LaunchError::Empty);
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if launch.clear_env {
        cmd.env_clear();
    }
    for var in crate::supervisor::marker::SERVICE_MANAGER_ENV {
        cmd.env_remove(var);
    }
    cmd.envs(launch.env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = launch.cwd {
        cmd.current_dir(dir);
    }
    let reader = if launch.keep_output > 0 {
        let (reader, writer) = io::pipe().map_err(LaunchError::Pipe)?;
        let w2 = writer.try_clone().map_err(LaunchError::Pipe)?;
        cmd.stdout(w2).stderr(writer);
        Some(reader)
    } else {
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        None
    };
    let keep_fd = launch.inherit_fd;
    // SAFETY: between fork and exec only async-signal-safe calls (setsid, fcntl, signal).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            if let Some(fd) = keep_fd
                && libc::fcntl(fd, libc::F_SETFD, 0) == -1
            {
                return Err(io::Error::last_os_error());
            }
            crate::supervisor::process::reset_signal_dispositions();
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| LaunchError::Start {
        program: program.clone(),
        source,
    })?;
    // The pipe's write ends live in the child (and `cmd`): drop ours so EOF comes.
    drop(cmd);
    // A session leader: its pid is its group's id.
    let group = GroupGuard(child.id().unwrap_or(0) as libc::pid_t);
    let tail = reader.map(|r| Tail::start(r.into(), launch.keep_output, launch.sink));
    let mut timed_out = false;
    let status = match tokio::time::timeout(launch.timeout, child.wait()).await {
        Ok(s) => s.ok(),
        Err(_) => {
            timed_out = true;
            group.signal(libc::SIGTERM);
            match tokio::time::timeout(launch.grace, child.wait()).await {
                Ok(s) => s.ok(),
                Err(_) => {
                    group.signal(libc::SIGKILL);
                    child.wait().await.ok()
                }
            }
        }
    };
    // Grandchildren go with the command, and with them their hold on the pipe.
    drop(group);
    let output = match tail {
        Some(t) => t.finish().await,
        None => String::new(),
    };
    Ok(Finished {
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        timed_out,
        output,
    })
}

/// Kills the command's whole group when dropped, however the launch ends.
struct GroupGuard(libc::pid_t);

impl GroupGuard {
    fn signal(&self, sig: libc::c_int) {
        if self.0 > 0 {
            // SAFETY: a signal to the command's own group; ESRCH once it is empty.
            unsafe { libc::kill(-self.0, sig) };
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

/// Reads the pipe as the command writes, keeping the newest bytes.
struct Tail {
    reader: tokio::task::JoinHandle<()>,
    bytes: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    keep: usize,
}

impl Tail {
    fn start(fd: OwnedFd, keep: usize, sink: Option<OutputSink>) -> Tail {
        let bytes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let shared = bytes.clone();
        let reader = tokio::spawn(async move {
            let Ok(mut pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
                return;
            };
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Some(sink) = &sink {
                    sink(&buf[..n]);
                }
                let mut tail = shared.lock().unwrap_or_else(|e| e.into_inner());
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * keep {
                    let cut = tail.len() - keep;
                    tail.drain(..cut);
                }
            }
        });
        Tail {
            reader,
            bytes,
            keep,
        }
    }

    /// What was read by EOF, or by [`DRAIN`] after the group ended if the pipe stays open.
    async fn finish(mut self) -> String {
        let _ = tokio::time::timeout(DRAIN, &mut self.reader).await;
        let mut tail = std::mem::take(&mut *self.bytes.lock().unwrap_or_else(|e| e.into_inner()));
        let cut = tail.len().saturating_sub(self.keep);
        tail.drain(..cut);
        String::from_utf8_lossy(&tail).into_owned()
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
