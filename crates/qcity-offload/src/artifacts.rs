//! A job's artifacts: which files its globs match, their SHA-256, the check of what a remote
//! executor brought back, and the job's entry in `DATA/reports/builds.json`.
//!
//! What comes back is first put in the run's staging directory. Every file there is hashed
//! and compared with the hash computed where it was made; only when all of them match are
//! they moved into the job's directory (a rename each, so a reader sees the old file or the
//! new one, never half of one). A mismatch or a missing file leaves the user's files as
//! they were.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use qcity_types::JobArtifact;
use serde::Serialize;

use crate::exec::Claim;

/// At most this many artifacts per job: a glob that matches a whole tree by mistake should
/// fail loudly rather than hash a million files.
pub const MAX_ARTIFACTS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("`{glob}` is not a valid glob: {error}")]
    Glob { glob: String, error: String },
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{}: SHA-256 {got} does not match {want} computed where it was made: nothing was written over your files",
        .path.display()
    )]
    Mismatch {
        path: PathBuf,
        want: String,
        got: String,
    },
    #[error("{}: listed by the far side but not brought back: nothing was written over your files", .0.display())]
    Missing(PathBuf),
    #[error("{}: not a plain relative path", .0.display())]
    Unsafe(PathBuf),
    #[error("more than {MAX_ARTIFACTS} files match the artifact globs")]
    TooMany,
    #[error("{}: not a list of records: {error}", .path.display())]
    Report {
        path: PathBuf,
        error: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError + '_ {
    move |error| ArtifactError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// The matcher of a job's artifact globs (`dist/**`, `*.tar.gz`); `*` does not cross `/`.
pub fn matcher(globs: &[String]) -> Result<GlobSet, ArtifactError> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let glob = globset::GlobBuilder::new(g)
            .literal_separator(true)
            .build()
            .map_err(|e| ArtifactError::Glob {
                glob: g.clone(),
                error: e.kind().to_string(),
            })?;
        b.add(glob);
    }
    b.build().map_err(|e| ArtifactError::Glob {
        glob: globs.join(", "),
        error: e.to_string(),
    })
}

/// Whether `glob` compiles (for the config's errors).
pub fn glob_ok(glob: &str) -> Result<(), String> {
    Glob::new(glob)
        .map(|_| ())
        .map_err(|e| e.kind().to_string())
}

/// The regular files under `dir` (relative paths, sorted) that `set` matches. Symbolic links
/// are not followed: an artifact is a file the job made.
pub fn matching(dir: &Path, set: &GlobSet) -> Result<Vec<PathBuf>, ArtifactError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let entries = match std::fs::read_dir(dir.join(&rel)) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && rel.as_os_str().is_empty() => {
                return Ok(out);
            }
            Err(e) => return Err(io(&dir.join(&rel))(e)),
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = rel.join(entry.file_name());
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && set.is_match(&path) {
                out.push(path);
                if out.len() > MAX_ARTIFACTS {
                    return Err(ArtifactError::TooMany);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The artifacts of a job that ran in `dir` itself (locally): hashed where they are.
pub fn in_place(dir: &Path, globs: &[String]) -> Result<Vec<Claim>, ArtifactError> {
    if globs.is_empty() {
        return Ok(Vec::new());
    }
    let set = matcher(globs)?;
    matching(dir, &set)?
        .into_iter()
        .map(|path| {
            let full = dir.join(&path);
            let (sha256, bytes) =
                qcity_platform::checksum::sha256_file(&full).map_err(io(&full))?;
            Ok(Claim {
                path,
                sha256,
                bytes,
                received: None,
            })
        })
        .collect()
}

/// A file written while its SHA-256 is computed: what an executor brings back is hashed
/// once, as it lands in staging, rather than read again afterwards.
pub struct HashingFile {
    out: std::fs::File,
    sha: sha2::Sha256,
    bytes: u64,
}

impl HashingFile {
    pub fn create(path: &Path) -> std::io::Result<HashingFile> {
        use sha2::Digest;
        Ok(HashingFile {
            out: std::fs::File::create(path)?,
            sha: sha2::Sha256::new(),
            bytes: 0,
        })
    }

    /// Flushes; the SHA-256 (lowercase hex) and the size of what was written.
    pub fn finish(mut self) -> std::io::Result<(String, u64)> {
        use sha2::Digest;
        use std::io::Write;
        self.out.flush()?;
        Ok((hex::encode(self.sha.finalize()), self.bytes))
    }
}

impl std::io::Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.out.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A path an artifact may have: relative, no `..`, no root or prefix.
pub fn safe_relative(path: &Path) -> bool {
    !path.as_os_str().is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// Checks every claimed file in `staging`, then moves them all into `dir`. Nothing is moved
/// unless every file is there and matches.
pub fn place(
    staging: &Path,
    dir: &Path,
    claims: &[Claim],
) -> Result<Vec<JobArtifact>, ArtifactError> {
    for c in claims {
        if !safe_relative(&c.path) {
            return Err(ArtifactError::Unsafe(c.path.clone()));
        }
        let file = staging.join(&c.path);
        let got = match &c.received {
            Some(sha) if file.is_file() => sha.clone(),
            Some(_) => return Err(ArtifactError::Missing(c.path.clone())),
            None => match qcity_platform::checksum::sha256_file(&file) {
                Ok((sha, _)) => sha,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ArtifactError::Missing(c.path.clone()));
                }
                Err(e) => return Err(io(&file)(e)),
            },
        };
        if !got.eq_ignore_ascii_case(&c.sha256) {
            return Err(ArtifactError::Mismatch {
                path: c.path.clone(),
                want: c.sha256.clone(),
                got,
            });
        }
    }
    let mut placed = Vec::new();
    for c in claims {
        let to = dir.join(&c.path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let from = staging.join(&c.path);
        if std::fs::rename(&from, &to).is_err() {
            // Another filesystem: copy beside the target, then rename over it.
            let tmp = to.with_file_name(format!(
                ".{}.qcity-tmp",
                to.file_name().unwrap_or_default().to_string_lossy()
            ));
            std::fs::copy(&from, &tmp).map_err(io(&tmp))?;
            std::fs::rename(&tmp, &to).map_err(io(&to))?;
        }
        placed.push(JobArtifact {
            path: c.path.clone(),
            sha256: c.sha256.to_ascii_lowercase(),
            bytes: c.bytes,
            object: None,
        });
    }
    Ok(placed)
}

/// `1 artifact verified`, `3 artifacts verified`.
pub fn count(n: usize, what: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} artifact{s} {what}")
}

/// A job's entry in `DATA/reports/builds.json`, beside the build driver's entries.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport<'a> {
    pub job: &'a str,
    pub id: &'a str,
    pub place: Option<&'a str>,
    pub started_ms: i64,
    pub finished_ms: i64,
    pub outcome: &'a str,
    pub artifacts: &'a [JobArtifact],
}

/// `DATA/reports/builds.json`.
pub fn report_path(data_root: &Path) -> PathBuf {
    data_root.join("reports").join("builds.json")
}

/// Appends `entry` to the report: read, extended, written whole to a temporary file and
/// renamed over it, so a reader never sees half a file. Entries of other kinds (the build
/// driver's) are kept as they are.
pub fn append_report(data_root: &Path, entry: &JobReport<'_>) -> Result<(), ArtifactError> {
    let path = report_path(data_root);
    let dir = path.parent().expect("a report path has a directory");
    qcity_platform::private::create_dir(dir).map_err(io(dir))?;
    // Jobs end concurrently, and `qcity build` appends too: one writer at a time.
    qcity_platform::private::update_locked(&path, |old| {
        let mut all: Vec<serde_json::Value> = match old {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|error| ArtifactError::Report {
                    path: path.clone(),
                    error,
                })?
            }
            None => Vec::new(),
        };
        all.push(serde_json::to_value(entry).expect("a report entry serialises"));
        Ok(serde_json::to_vec_pretty(&all).expect("records serialise"))
    })
    .map_err(io(&path))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(path: &str, sha256: &str, received: Option<&str>) -> Claim {
        Claim {
            path: PathBuf::from(path),
            sha256: sha256.into(),
            bytes: 5,
            received: received.map(str::to_string),
        }
    }

    #[test]
    fn nothing_is_placed_unless_every_file_matches_what_its_maker_hashed() {
        let tmp = tempfile::tempdir().unwrap();
        let (staging, dir) = (tmp.path().join("staging"), tmp.path().join("dir"));
        std::fs::create_dir_all(staging.join("out")).unwrap();
        std::fs::create_dir_all(dir.join("out")).unwrap();
        std::fs::write(staging.join("out/a"), "fresh").unwrap();
        std::fs::write(staging.join("out/b"), "fresh").unwrap();
        std::fs::write(dir.join("out/a"), "old").unwrap();
        let good = qcity_platform::checksum::sha256_file(&staging.join("out/a"))
            .unwrap()
            .0;
        let bad = "0".repeat(64);
        // The second file does not match: the first is not placed either.
        let e = place(
            &staging,
            &dir,
            &[claim("out/a", &good, None), claim("out/b", &bad, None)],
        )
        .unwrap_err();
        assert!(matches!(e, ArtifactError::Mismatch { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(dir.join("out/a")).unwrap(), "old");
        // What landed differs from what was made: refused without reading it again.
        let e = place(&staging, &dir, &[claim("out/a", &good, Some(&bad))]).unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
        let e = place(&staging, &dir, &[claim("../x", &good, None)]).unwrap_err();
        assert!(matches!(e, ArtifactError::Unsafe(_)));
        let e = place(&staging, &dir, &[claim("out/gone", &good, None)]).unwrap_err();
        assert!(matches!(e, ArtifactError::Missing(_)));
        let placed = place(&staging, &dir, &[claim("out/a", &good, Some(&good))]).unwrap();
        assert_eq!(placed[0].sha256, good);
        assert_eq!(std::fs::read_to_string(dir.join("out/a")).unwrap(), "fresh");
    }
}
