//! The job's inputs sent as one tar stream into `tar -xf -` on the host, over the same
//! connection. The archive is written by a blocking thread straight into a pipe that is the
//! remote command's stdin: nothing is staged on disk and nothing is held whole in memory.

use std::os::fd::OwnedFd;
use std::path::Path;

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
    let packed = tokio::task::spawn_blocking(move || pack(&dir, &inputs, writer));
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

/// Every input is a plain relative path that exists in the job's directory: checked before
/// connecting, as no host would do better.
pub fn check(work: &Work) -> Result<(), ExecError> {
    work.job
        .inputs
        .iter()
        .try_for_each(|input| check_one(&work.dir, input))
}

fn check_one(dir: &Path, input: &str) -> Result<(), ExecError> {
    if let Some(rev) = input.strip_prefix("git:") {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "--quiet", "--verify"])
            .arg(format!("{rev}^{{commit}}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        return if ok {
            Ok(())
        } else {
            Err(ExecError::Job(format!(
                "input `{input}`: `{rev}` is not a commit of a git repository at {}",
                dir.display()
            )))
        };
    }
    if !crate::artifacts::safe_relative(Path::new(input)) {
        return Err(ExecError::Job(format!(
            "input `{input}` is not a plain relative path"
        )));
    }
    match std::fs::symlink_metadata(dir.join(input)) {
        Ok(_) => Ok(()),
        Err(_) => Err(ExecError::Job(format!(
            "input `{input}` does not exist in {}",
            dir.display()
        ))),
    }
}

/// Writes the archive of `inputs` (files and directories, symbolic links kept as links).
fn pack(
    dir: &Path,
    inputs: &[String],
    writer: std::io::PipeWriter,
) -> Result<(), (String, std::io::Error)> {
    let mut tar = tar::Builder::new(writer);
    tar.follow_symlinks(false);
    for input in inputs {
        if let Some(rev) = input.strip_prefix("git:") {
            add_git_tree(&mut tar, dir, rev).map_err(|e| (format!("input `{input}`"), e))?;
            continue;
        }
        let path = dir.join(input);
        let added = if path.is_dir() && !path.is_symlink() {
            tar.append_dir_all(input, &path)
        } else {
            tar.append_path_with_name(&path, input)
        };
        added.map_err(|e| (format!("input `{input}`"), e))?;
    }
    tar.finish().map_err(|e| ("the inputs".to_string(), e))
}

/// The files of commit `rev` of the repository at `dir` (what `git archive` gives: tracked
/// files only, as committed), appended to `tar`.
fn add_git_tree(
    tar: &mut tar::Builder<std::io::PipeWriter>,
    dir: &Path,
    rev: &str,
) -> std::io::Result<()> {
    let mut git = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["archive", "--format=tar", rev])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let out = git.stdout.take().expect("piped");
    let mut archive = tar::Archive::new(out);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let mut header = entry.header().clone();
        match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Directory => {
                tar.append_data(&mut header, &path, &mut entry)?
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name()?.unwrap_or_default().into_owned();
                tar.append_link(&mut header, &path, target)?
            }
            // The commit id `git archive` puts first, and anything else: not files.
            _ => {}
        }
    }
    let done = git.wait_with_output()?;
    if !done.status.success() {
        return Err(std::io::Error::other(format!(
            "git archive {rev}: {}",
            String::from_utf8_lossy(&done.stderr).trim()
        )));
    }
    Ok(())
}
