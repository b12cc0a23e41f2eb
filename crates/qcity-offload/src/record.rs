//! Job runs on disk: `DATA/jobs/ID/run.json` (the record, rewritten whole by rename at each
//! step, so a reader never sees half of it), `output.log` (the live output) and `staging/`
//! (what a remote place brought back, until it is checked).

use std::path::{Path, PathBuf};

use qcity_types::{JobRun, JobState};

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("no job run `{0}`")]
    Unknown(String),
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: not a job record: {error}", .path.display())]
    Corrupt {
        path: PathBuf,
        error: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RecordError + '_ {
    move |error| RecordError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// The runs' directory, `DATA/jobs`.
#[derive(Debug, Clone)]
pub struct Records {
    root: PathBuf,
}

impl Records {
    pub fn new(data_root: &Path) -> Records {
        Records {
            root: data_root.join("jobs"),
        }
    }

    /// A new run id: `JOB-YYYYMMDDTHHMMSS-XXXXXX`, sortable by its start.
    pub fn new_id() -> String {
        let now = qcity_platform::clock::now_ms();
        let secs = now.div_euclid(1000);
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = qcity_config::cron::civil_from_days(days);
        let tail: u32 = rand::random::<u32>() & 0xff_ffff;
        format!(
            "JOB-{y:04}{m:02}{d:02}T{:02}{:02}{:02}-{tail:06x}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }

    /// An id as the API or the CLI gives it: only ids of the form we make reach the disk.
    pub fn valid_id(id: &str) -> bool {
        id.len() <= 40
            && id.starts_with("JOB-")
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("output.log")
    }

    pub fn staging(&self, id: &str) -> PathBuf {
        self.dir(id).join("staging")
    }

    /// Creates the run's directory and writes its first record.
    pub fn create(&self, run: &JobRun) -> Result<(), RecordError> {
        let dir = self.dir(&run.id);
        qcity_platform::private::create_dir(&dir.join("staging")).map_err(io(&dir))?;
        self.save(run)
    }

    /// Writes `run` whole, by rename.
    pub fn save(&self, run: &JobRun) -> Result<(), RecordError> {
        let path = self.dir(&run.id).join("run.json");
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(run).expect("a job run serialises");
        qcity_platform::private::write(&tmp, &text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    pub fn load(&self, id: &str) -> Result<JobRun, RecordError> {
        if !Self::valid_id(id) {
            return Err(RecordError::Unknown(id.to_string()));
        }
        let path = self.dir(id).join("run.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RecordError::Unknown(id.to_string()));
            }
            Err(e) => return Err(io(&path)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|error| RecordError::Corrupt { path, error })
    }

    /// The newest `n` runs, newest first (of job `job` only, if given). A record that cannot
    /// be read is skipped with a warning rather than hiding every other run.
    pub fn list(&self, job: Option<&str>, n: usize) -> Vec<JobRun> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| Self::valid_id(id))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let mut out = Vec::new();
        for id in ids {
            if out.len() >= n {
                break;
            }
            match self.load(&id) {
                Ok(run) if job.is_none_or(|j| run.job == j) => out.push(run),
                Ok(_) => {}
                Err(e) => tracing::warn!("job record skipped: {e}"),
            }
        }
        out
    }

    /// A run's log, open; `None` while it has none yet.
    fn open_log(&self, id: &str) -> Result<Option<(std::fs::File, PathBuf)>, RecordError> {
        if !Self::valid_id(id) || !self.dir(id).join("run.json").exists() {
            return Err(RecordError::Unknown(id.to_string()));
        }
        let path = self.log_path(id);
        match std::fs::File::open(&path) {
            Ok(f) => Ok(Some((f, path))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// At most `max` bytes of a run's output from byte `from`, ending after its last whole
    /// line (a follower asks again from `from` + the bytes it got, and never sees half a
    /// line or half a character); a chunk of `max` bytes without a newline is given whole.
    pub fn log_from(&self, id: &str, from: u64, max: u64) -> Result<String, RecordError> {
        use std::io::{Read, Seek, SeekFrom};
        let Some((mut f, path)) = self.open_log(id)? else {
            return Ok(String::new());
        };
        f.seek(SeekFrom::Start(from)).map_err(io(&path))?;
        let mut bytes = Vec::new();
        f.take(max).read_to_end(&mut bytes).map_err(io(&path))?;
        match bytes.iter().rposition(|b| *b == b'\n') {
            Some(nl) => bytes.truncate(nl + 1),
            None if (bytes.len() as u64) < max => bytes.clear(),
            None => {}
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The last `max` bytes of a run's output, cut at a line start.
    pub fn log_tail(&self, id: &str, max: u64) -> Result<String, RecordError> {
        use std::io::{Read, Seek, SeekFrom};
        let Some((mut f, path)) = self.open_log(id)? else {
            return Ok(String::new());
        };
        let len = f.metadata().map_err(io(&path))?.len();
        // One byte before the window too: whether the window starts a line.
        let start = len.saturating_sub(max + 1);
        f.seek(SeekFrom::Start(start)).map_err(io(&path))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(io(&path))?;
        if len > max
            && let Some(nl) = bytes.iter().position(|b| *b == b'\n')
        {
            bytes.drain(..=nl);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Runs a previous daemon left unfinished (it stopped or crashed while they ran): ended as
    /// failed, with the reason, so every record is complete.
    pub fn close_orphans(&self) -> Vec<JobRun> {
        let mut closed = Vec::new();
        for mut run in self.list(None, usize::MAX) {
            if run.state.is_final() {
                continue;
            }
            let now = qcity_platform::clock::now_ms();
            run.state = JobState::Failed;
            run.finished_ms = Some(now);
            run.detail = "QCity stopped while the job ran; run it again".into();
            for a in run.attempts.iter_mut().filter(|a| a.finished_ms.is_none()) {
                a.finished_ms = Some(now);
                a.outcome = "lost".into();
                a.detail = "QCity stopped while it ran".into();
            }
            match self.save(&run) {
                Ok(()) => closed.push(run),
                Err(e) => tracing::warn!("job record not closed: {e}"),
            }
        }
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_gets_whole_lines_from_its_offset() {
        let tmp = tempfile::tempdir().unwrap();
        let records = Records::new(tmp.path());
        let id = Records::new_id();
        std::fs::create_dir_all(records.dir(&id)).unwrap();
        std::fs::write(records.dir(&id).join("run.json"), "{}").unwrap();
        std::fs::write(records.log_path(&id), "one\ntwo\nthr").unwrap();
        assert_eq!(records.log_from(&id, 0, 1000).unwrap(), "one\ntwo\n");
        assert_eq!(
            records.log_from(&id, 8, 1000).unwrap(),
            "",
            "half a line waits"
        );
        assert_eq!(records.log_from(&id, 0, 5).unwrap(), "one\n");
        assert_eq!(
            records.log_from(&id, 8, 2).unwrap(),
            "th",
            "a full chunk without a newline"
        );
        assert_eq!(records.log_tail(&id, 7).unwrap(), "two\nthr");
        assert!(records.log_from("JOB-nope", 0, 10).is_err());
    }

    #[test]
    fn ids_are_well_formed_and_paths_are_refused() {
        let id = Records::new_id();
        assert!(Records::valid_id(&id), "{id}");
        assert!(!Records::valid_id("../etc"));
        assert!(!Records::valid_id("JOB-../x"));
    }
}
