//! The artifacts brought back: the regular files of the job's directory on the host matched
//! here against the job's globs, their SHA-256 computed there, then one tar stream of them
//! unpacked into the run's staging directory. `artifacts::place` checks them afterwards.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use openssh::Stdio;
use tokio::io::AsyncWriteExt;

use super::connect::{Connection, one_line};
use super::script::RemoteDir;
use crate::artifacts::{MAX_ARTIFACTS, safe_relative};
use crate::exec::{Claim, ExecError, Work};

/// Brings back the files matching the job's globs; `Claim`s carry the host's SHA-256.
pub async fn artifacts(
    conn: &Connection,
    remote: &RemoteDir,
    work: &Work,
) -> Result<Vec<Claim>, ExecError> {
    if work.job.artifacts.is_empty() {
        return Ok(Vec::new());
    }
    let set = crate::artifacts::matcher(&work.job.artifacts)
        .map_err(|e| ExecError::Job(e.to_string()))?;
    let listed = conn
        .exec("list the job's files", &remote.list(), b"")
        .await?;
    let mut files: Vec<PathBuf> = listed
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(OsStr::from_bytes(p.strip_prefix(b"./").unwrap_or(p))))
        .filter(|p| set.is_match(p))
        .collect();
    files.sort();
    if files.len() > MAX_ARTIFACTS {
        return Err(ExecError::Job(format!(
            "more than {MAX_ARTIFACTS} files match the artifact globs"
        )));
    }
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let list = nul_list(&files);
    // The host hashes the files while it sends them: two commands on the one connection.
    let plain = files.iter().all(|f| {
        let b = f.as_os_str().as_bytes();
        !b.contains(&b'\n') && !b.contains(&b'\\')
    });
    let sum_line = remote.sums(plain);
    let dotted: Vec<PathBuf> = files.iter().map(|f| Path::new(".").join(f)).collect();
    let sum_list = nul_list(&dotted);
    let (sums, received) = tokio::join!(
        conn.exec("hash the artifacts", &sum_line, &sum_list),
        bring(conn, remote, work, &files, list.clone())
    );
    let sums = parse_sums(&sums?, files.len()).ok_or_else(|| {
        ExecError::Refused(format!(
            "{}: sha256sum gave an answer that is not one sum per file",
            conn.label
        ))
    })?;
    let mut received = received?;
    files
        .into_iter()
        .zip(sums)
        .map(|(path, sha256)| match received.remove(&path) {
            Some((bytes, got)) => Ok(Claim {
                bytes,
                path,
                sha256,
                received: Some(got),
            }),
            None => Err(ExecError::Job(format!(
                "{}: hashed on {} but not in the archive it sent",
                path.display(),
                conn.label
            ))),
        })
        .collect()
}

fn nul_list(files: &[PathBuf]) -> Vec<u8> {
    let mut list = Vec::new();
    for f in files {
        list.extend_from_slice(f.as_os_str().as_bytes());
        list.push(0);
    }
    list
}

/// `sha256sum`'s lines in the order of the files; a name with a newline or backslash makes
/// its line start with `\`, the sum is still its first 64 characters.
fn parse_sums(out: &[u8], n: usize) -> Option<Vec<String>> {
    let sums: Vec<String> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_prefix(b"\\").unwrap_or(l))
        .map(|l| {
            let sum = l.get(..64)?;
            sum.iter()
                .all(u8::is_ascii_hexdigit)
                .then(|| String::from_utf8_lossy(sum).to_ascii_lowercase())
        })
        .collect::<Option<_>>()?;
    (sums.len() == n).then_some(sums)
}

/// The tar stream of `files` unpacked into staging; each file's size and SHA-256 as it
/// landed.
async fn bring(
    conn: &Connection,
    remote: &RemoteDir,
    work: &Work,
    files: &[PathBuf],
    list: Vec<u8>,
) -> Result<BTreeMap<PathBuf, (u64, String)>, ExecError> {
    let (reader, writer) = std::io::pipe()
        .map_err(|e| ExecError::Job(format!("cannot make a pipe for the artifacts: {e}")))?;
    let child = {
        // Dropped at once: our copy of the writing end must close for the reader's EOF.
        let mut cmd = conn.session.raw_command(remote.pack());
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::from(OwnedFd::from(writer)))
            .stderr(Stdio::piped());
        cmd.spawn().await
    };
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Err(conn.failed("send the artifacts", &e.to_string()).await),
    };
    let stdin = child.stdin().take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(&list).await;
            let _ = stdin.shutdown().await;
        }
    };
    let staging = work.staging.clone();
    let wanted: Vec<PathBuf> = files.to_vec();
    let unpacked = tokio::task::spawn_blocking(move || unpack(reader, &staging, &wanted));
    let (_, unpacked, out) = tokio::join!(feed, unpacked, child.wait_with_output());
    let unpacked = unpacked.map_err(|e| ExecError::Job(format!("unpacking the artifacts: {e}")))?;
    match out {
        Ok(out) if out.status.success() => unpacked,
        Ok(out) => {
            let said = one_line(&String::from_utf8_lossy(&out.stderr));
            unpacked?;
            Err(conn.failed("send the artifacts", &said).await)
        }
        Err(e) => {
            unpacked?;
            Err(conn.failed("send the artifacts", &e.to_string()).await)
        }
    }
}

/// Unpacks regular files at plain relative paths that were asked for; anything else is
/// refused. On an error (a full disk), what was written is removed again.
fn unpack(
    from: std::io::PipeReader,
    staging: &Path,
    wanted: &[PathBuf],
) -> Result<BTreeMap<PathBuf, (u64, String)>, ExecError> {
    let mut done = BTreeMap::new();
    let result = unpack_into(from, staging, wanted, &mut done);
    if result.is_err() {
        for path in done.keys() {
            let _ = std::fs::remove_file(staging.join(path));
            // Directories made for it, if now empty.
            let mut dir = path.parent();
            while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
                if std::fs::remove_dir(staging.join(d)).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
    }
    result.map(|()| done)
}

fn unpack_into(
    from: std::io::PipeReader,
    staging: &Path,
    wanted: &[PathBuf],
    done: &mut BTreeMap<PathBuf, (u64, String)>,
) -> Result<(), ExecError> {
    let fail = |what: &str, e: std::io::Error| {
        ExecError::Job(format!(
            "cannot unpack the artifacts into {}: {what}: {e}",
            staging.display()
        ))
    };
    let mut archive = tar::Archive::new(from);
    for entry in archive.entries().map_err(|e| fail("reading", e))? {
        let mut entry = entry.map_err(|e| fail("reading", e))?;
        let path = entry.path().map_err(|e| fail("a path", e))?.into_owned();
        let regular = matches!(
            entry.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous
        );
        if !regular || !safe_relative(&path) || wanted.binary_search(&path).is_err() {
            return Err(ExecError::Job(format!(
                "the artifacts' archive holds `{}`, which is not a file asked for: refused",
                path.display()
            )));
        }
        let to = staging.join(&path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(&parent.display().to_string(), e))?;
        }
        // Counted before writing, so a half-written file is removed too.
        done.insert(path.clone(), (0, String::new()));
        let mut out = crate::artifacts::HashingFile::create(&to)
            .map_err(|e| fail(&path.display().to_string(), e))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| fail(&path.display().to_string(), e))?;
        let landed = out
            .finish()
            .map_err(|e| fail(&path.display().to_string(), e))?;
        if let Ok(mode) = entry.header().mode() {
            use std::os::unix::fs::PermissionsExt;
            // The file's mode bits as the host had them (an executable stays one), no more.
            let _ = std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode & 0o777));
        }
        done.insert(path, (landed.1, landed.0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_read_in_order_even_for_escaped_names() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let out = format!("{a}  x.txt\n\\{b}  we\\nird\n");
        assert_eq!(parse_sums(out.as_bytes(), 2), Some(vec![a, "b".repeat(64)]));
        assert_eq!(parse_sums(out.as_bytes(), 3), None);
        assert_eq!(parse_sums(b"nothex  x\n", 1), None);
    }
}
