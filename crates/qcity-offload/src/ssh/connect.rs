//! The connection: the system `ssh` as a ControlMaster (openssh crate), so the user's agent,
//! keys and known_hosts work as with their own `ssh`. `BatchMode=yes` (openssh sets it) means
//! no password or passphrase prompt can ever happen. What `ssh` says when it cannot connect
//! is sorted into the error that decides failover.

use std::path::{Path, PathBuf};
use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder};
use qcity_config::{HostKeyCheck, SshTarget};

use crate::exec::ExecError;

/// An open session and the directory of its control socket (removed on drop).
pub struct Connection {
    pub session: Session,
    /// `host:port`, for messages.
    pub label: String,
    _control: tempfile::TempDir,
}

/// The control socket's directory: a unix socket path is limited to about 100 bytes, and
/// openssh adds `.ssh-connectionXXXXXX/master.XXXXXXXXXXXXXXXX`, so it lives in /tmp.
fn control_dir() -> Result<tempfile::TempDir, ExecError> {
    let base = Path::new("/tmp");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    tempfile::Builder::new()
        .prefix("qcity-ssh-")
        .tempdir_in(&base)
        .map_err(|e| {
            ExecError::Job(format!(
                "cannot make a directory in {}: {e}",
                base.display()
            ))
        })
}

pub async fn open(target: &SshTarget, config_dir: &Path) -> Result<Connection, ExecError> {
    let label = format!("{}:{}", target.host, target.port);
    if target.host.is_empty() || target.host.starts_with('-') {
        // ssh would read it as an option.
        return Err(ExecError::Job(format!(
            "`{}` is not a host name",
            target.host
        )));
    }
    let control = control_dir()?;
    let mut b = SessionBuilder::default();
    b.port(target.port)
        .connect_timeout(Duration::from_secs(target.connect_timeout_seconds.max(1)))
        // A host that vanishes without closing the connection is noticed in about 30 s.
        .server_alive_interval(Duration::from_secs(10))
        .control_directory(control.path())
        .known_hosts_check(match target.host_key_check {
            HostKeyCheck::Strict => KnownHosts::Strict,
            HostKeyCheck::AcceptNew => KnownHosts::Add,
        });
    if let Some(user) = &target.user {
        b.user(user.clone());
    }
    if let Some(key) = &target.identity_file {
        b.keyfile(config_dir.join(key));
    }
    let known_hosts = target.known_hosts.as_ref().map(|k| config_dir.join(k));
    if let Some(k) = &known_hosts {
        b.user_known_hosts_file(k);
    }
    tracing::debug!(host = %label, "ssh: connecting");
    match b.connect_mux(&target.host).await {
        Ok(session) => Ok(Connection {
            session,
            label,
            _control: control,
        }),
        Err(e) => Err(connect_error(&label, target, known_hosts, e)),
    }
}

/// Sorts a failed connection: the host said no (its key, our login) or could not be reached.
fn connect_error(
    label: &str,
    target: &SshTarget,
    known_hosts: Option<PathBuf>,
    e: openssh::Error,
) -> ExecError {
    let said = match &e {
        openssh::Error::Connect(io) if io.kind() == std::io::ErrorKind::NotFound => {
            return ExecError::Unreachable(format!(
                "the `ssh` program could not be started to reach {label}: {io}"
            ));
        }
        openssh::Error::Connect(io) => io.to_string(),
        openssh::Error::Master(io) => {
            return ExecError::Job(format!(
                "cannot prepare the ssh connection to {label}: {io}"
            ));
        }
        other => other.to_string(),
    };
    let said = one_line(&said);
    let file = known_hosts
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.ssh/known_hosts".into());
    if said.contains("IDENTIFICATION HAS CHANGED")
        || said.contains("host key for") && said.contains("has changed")
    {
        ExecError::Refused(format!(
            "the host key of {label} has changed since it was recorded in {file}: if the host was reinstalled, remove its old line there; otherwise someone may be in between"
        ))
    } else if said.contains("Host key verification failed") || said.contains("host key is known") {
        ExecError::Refused(format!(
            "the host key of {label} is not in known_hosts {file}: add it (ssh-keyscan -p {} {} >> {file}), or set host_key_check accept-new",
            target.port, target.host
        ))
    } else if said.contains("Permission denied")
        || said.contains("Too many authentication failures")
    {
        let key = match &target.identity_file {
            Some(k) => format!("the key file {}", k.display()),
            None => "the agent's keys and ssh's default keys".into(),
        };
        ExecError::Refused(format!(
            "{label} refused the login{}: {key} not accepted (add its public key to the host's authorized_keys): {said}",
            target
                .user
                .as_deref()
                .map(|u| format!(" as {u}"))
                .unwrap_or_default()
        ))
    } else {
        ExecError::Unreachable(format!("cannot connect to {label}: {said}"))
    }
}

/// ssh's lines joined, without the noise of a host added to known_hosts.
pub fn one_line(s: &str) -> String {
    s.lines()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .collect::<Vec<_>>()
        .join("; ")
}
