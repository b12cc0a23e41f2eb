//! A job's inputs: checked before anything is sent (each a plain relative path that exists,
//! or `git:REV` a commit), and packed as one tar archive (files and directories, links kept
//! as links, a commit's files as `git archive` gives them) for whichever place takes them.

use std::path::Path;

use crate::exec::{ExecError, Work};

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

/// Writes the archive of `inputs` into `writer` (files and directories, symbolic links kept as links).
pub fn pack<W: std::io::Write>(
    dir: &Path,
    inputs: &[String],
    writer: W,
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
fn add_git_tree<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
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
