//! The GitHub runner's job-started hook (`ACTIONS_RUNNER_HOOK_JOB_STARTED`, facts in
//! `../shared/facts/runners.md`): the runner runs the script with `bash -e` before each job,
//! and any non-zero exit fails the job. QCity's script asks the engine, through the face that
//! started it (the `qcity` binary's `hook job-started`), whether this runner and this machine
//! are healthy; so a job on an unhealthy machine fails at once, with the reason in its log,
//! instead of halfway through.

use std::io;
use std::path::{Path, PathBuf};

/// The environment variable the runner reads.
pub const ENV: &str = "ACTIONS_RUNNER_HOOK_JOB_STARTED";

#[derive(Debug, Clone)]
pub struct JobHook {
    /// A program with a `hook job-started --data-dir DIR NAME` command (the `qcity` binary).
    program: PathBuf,
    data_dir: PathBuf,
}

impl JobHook {
    pub fn new(program: PathBuf, data_dir: PathBuf) -> Self {
        Self { program, data_dir }
    }

    /// Where `runner`'s script lives (an absolute path, as the runner requires).
    pub fn script_path(&self, runner: &str) -> PathBuf {
        self.data_dir
            .join("hooks")
            .join(format!("{runner}-job-started.sh"))
    }

    /// Writes `runner`'s script (mode 0700: its owner runs it, nobody else reads it), replacing
    /// it whole.
    pub fn install(&self, runner: &str) -> io::Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.script_path(runner);
        let dir = path.parent().expect("a file in the hooks dir");
        qcity_platform::private::create_dir(dir)?;
        let tmp = dir.join(format!(".{runner}-job-started.sh.tmp"));
        qcity_platform::private::write(
            &tmp,
            script(&self.program, &self.data_dir, runner).as_bytes(),
        )?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }
}

fn script(program: &Path, data_dir: &Path, runner: &str) -> String {
    format!(
        "#!/bin/bash\n\
         # Written by QCity for the runner `{runner}`: before each job, ask QCity whether this\n\
         # runner and this machine are healthy. A non-zero exit fails the job with the reason.\n\
         exec {} hook job-started --data-dir {} {}\n",
        quote(&program.to_string_lossy()),
        quote(&data_dir.to_string_lossy()),
        quote(runner)
    )
}

/// One shell word, whatever `s` holds.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_passes_odd_paths_as_single_words() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("it's data");
        let hook = JobHook::new(PathBuf::from("/opt/q city/qcity"), data.clone());
        let path = hook.install("gh-1").unwrap();
        assert_eq!(path, data.join("hooks/gh-1-job-started.sh"));
        // The script's own words, as bash splits them: echo them instead of exec'ing.
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("exec ", "printf '%s\\n' ");
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(text)
            .output()
            .unwrap();
        let words: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(
            words,
            [
                "/opt/q city/qcity",
                "hook",
                "job-started",
                "--data-dir",
                &data.to_string_lossy(),
                "gh-1"
            ]
        );
    }
}
