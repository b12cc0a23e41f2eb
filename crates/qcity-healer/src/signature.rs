//! A failure turned into a signature: runner + how it ended + the failing probe + the
//! templates of the log lines that explain it. Templates, not lines, so that the same
//! failure with another job id, path or timestamp has the same signature.

use qcity_logminer::Miner;

use crate::classify::{Input, Verdict, classify};

/// What the healer knows about one failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub runner: String,
    /// `exit 127`, `signal 9 (SIGKILL)`, `crash loop`, `needs registration`, or empty when a
    /// probe failed while the runner runs.
    pub exit: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// The failing probe, or empty.
    pub probe: String,
    /// The error lines near the end of the output, oldest first (at most [`MAX_LINES`]).
    pub lines: Vec<String>,
    /// Their templates, deduplicated, in order.
    pub templates: Vec<String>,
    /// The last lines of output, for an escalation.
    pub tail: Vec<String>,
    /// What kind of failure it is, from the whole output tail, the exit and the runner
    /// ([`Failure::classified`]); `None` until classified.
    pub verdict: Option<Verdict>,
}

/// Error lines kept per failure.
pub const MAX_LINES: usize = 5;

impl Failure {
    /// Builds the failure from the runner's last output lines, mining their templates.
    pub fn new(
        runner: &str,
        exit: (String, Option<i32>, Option<i32>),
        probe: &str,
        tail: Vec<String>,
        miner: &mut Miner,
    ) -> Failure {
        let lines = error_lines(&tail);
        // All lines first: the miner regroups once, when the first template is asked for.
        let keys: Vec<u32> = lines.iter().map(|line| miner.add(line)).collect();
        let mut templates: Vec<String> = Vec::new();
        for key in keys {
            let t = miner.template_text(key);
            if !templates.contains(&t) {
                templates.push(t);
            }
        }
        let keep = tail.len().saturating_sub(20);
        Failure {
            runner: runner.to_string(),
            exit: exit.0,
            code: exit.1,
            signal: exit.2,
            probe: probe.to_string(),
            lines,
            templates,
            tail: tail[keep..].to_vec(),
            verdict: None,
        }
    }

    /// Classifies the failure from `tail` (the whole output tail, not only the error lines:
    /// the decisive line often does not look like one), the exit, and the runner's `tool`
    /// and `kind`.
    pub fn classified(mut self, tail: &[String], tool: &str, kind: &str) -> Failure {
        // Only a SIGKILL asks the kernel: its OOM killer sends nothing else.
        let killed = self.signal == Some(libc::SIGKILL) || self.code == Some(137);
        self.verdict = Some(classify(&Input {
            lines: tail,
            code: self.code,
            signal: self.signal,
            tool,
            kind,
            needs_registration: self.exit == "needs registration",
            kernel_oom: killed && crate::classify::kernel::OOM.recent_kill(),
        }));
        self
    }

    /// The verdict; a failure not classified yet is classified from the lines it kept.
    pub fn verdict(&self) -> Verdict {
        if let Some(v) = &self.verdict {
            return v.clone();
        }
        let mut lines = self.tail.clone();
        lines.extend(
            self.lines
                .iter()
                .filter(|l| !self.tail.contains(l))
                .cloned(),
        );
        classify(&Input {
            lines: &lines,
            code: self.code,
            signal: self.signal,
            tool: "",
            kind: "command",
            needs_registration: self.exit == "needs registration",
            kernel_oom: false,
        })
    }

    /// The stable key: FNV-1a (64 bit) of the four parts, as hex.
    pub fn key(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let parts = [&self.runner, &self.exit, &self.probe]
            .into_iter()
            .chain(self.templates.iter());
        for part in parts {
            for b in part.bytes().chain([0u8]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{h:016x}")
    }

    /// One line for events and the CLI.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.exit.is_empty() {
            parts.push(self.exit.clone());
        }
        if !self.probe.is_empty() {
            parts.push(format!("probe {} failing", self.probe));
        }
        if let Some(t) = self.templates.last() {
            parts.push(format!("\"{t}\""));
        }
        if parts.is_empty() {
            parts.push("no diagnostics".into());
        }
        parts.join(", ")
    }
}

/// Words that mark a line as explaining a failure.
const ERROR_WORDS: &[&str] = &[
    "error",
    "fail",
    "fatal",
    "panic",
    "exception",
    "traceback",
    "denied",
    "not found",
    "no such",
    "no space",
    "refused",
    "unreachable",
    "timed out",
    "timeout",
    "killed",
    "out of memory",
    "cannot",
    "can't",
    "could not",
    "unable",
    "corrupt",
    "mismatch",
    "invalid",
    "deprecated",
    "outdated",
    "unsupported",
    "no longer",
    "must be updated",
    "resolve",
];

/// The last error-looking lines of `tail`, oldest first.
pub fn error_lines(tail: &[String]) -> Vec<String> {
    let mut out: Vec<String> = tail
        .iter()
        .rev()
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            ERROR_WORDS.iter().any(|w| lower.contains(w))
        })
        .take(MAX_LINES)
        .cloned()
        .collect();
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(tail: &[&str], miner: &mut Miner) -> Failure {
        Failure::new(
            "build",
            ("exit 1".into(), Some(1), None),
            "",
            tail.iter().map(|s| s.to_string()).collect(),
            miner,
        )
    }

    #[test]
    fn the_same_failure_with_other_numbers_and_paths_has_the_same_signature() {
        let mut miner = Miner::default();
        let a = failure(
            &[
                "job 41 started",
                "fatal: unable to write /tmp/work/41/out.o: No space left on device",
            ],
            &mut miner,
        );
        let b = failure(
            &[
                "job 97 started",
                "fatal: unable to write /tmp/work/97/obj.o: No space left on device",
            ],
            &mut miner,
        );
        assert_eq!(a.lines.len(), 1, "only the error line explains it");
        assert_eq!(a.key(), b.key());
        let other = failure(&["error: connection refused by 10.0.0.7:443"], &mut miner);
        assert_ne!(a.key(), other.key());
    }

    #[test]
    fn error_lines_keep_the_last_few_in_order() {
        let tail: Vec<String> = (0..10).map(|i| format!("error {i}")).collect();
        let lines = error_lines(&tail);
        assert_eq!(
            lines,
            ["error 5", "error 6", "error 7", "error 8", "error 9"]
        );
        assert!(error_lines(&["all good".to_string()]).is_empty());
    }
}
