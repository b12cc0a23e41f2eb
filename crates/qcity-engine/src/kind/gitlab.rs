//! GitLab Runner (19.4, `gitlab-runner run`): what its log lines mean. The strings are those of
//! `../shared/facts/runners.md`. Lines are matched on the message, so both the default text
//! format (`Job succeeded   duration_s=3.1 job=42 runner=ab12`) and `--log-format json`
//! (`{"msg":"Job succeeded","job":42,…}`) work. Its exit codes carry no meaning beyond
//! success or failure, so the restart policy alone decides.

use super::vocab::{LineEvent, field};

pub fn parse(line: &str) -> Option<LineEvent> {
    if line.contains("Checking for jobs... received") {
        return Some(LineEvent::JobStarted { job: job_of(line) });
    }
    if line.contains("Job succeeded") {
        return Some(LineEvent::JobCompleted {
            job: job_of(line),
            result: "succeeded".into(),
        });
    }
    // Before "Job failed:", which would also match the first words.
    if line.contains("Job failed (system failure):") {
        return Some(LineEvent::JobCompleted {
            job: job_of(line),
            result: "failed (system failure)".into(),
        });
    }
    if line.contains("Job failed:") {
        return Some(LineEvent::JobCompleted {
            job: job_of(line),
            result: "failed".into(),
        });
    }
    if line.contains("Checking for jobs... failed") {
        return Some(LineEvent::ConnectionLost {
            message: "checking for jobs failed".into(),
        });
    }
    if line.contains("Checking for jobs... GitLab instance currently unavailable") {
        return Some(LineEvent::ConnectionLost {
            message: "GitLab instance currently unavailable".into(),
        });
    }
    if let Some((_, rest)) = line.split_once("Runner ")
        && let Some((who, _)) = rest.split_once(" is unhealthy and will be disabled for ")
    {
        return Some(LineEvent::ConnectionLost {
            message: format!("runner {who} is unhealthy and disabled for a while"),
        });
    }
    if line.contains("Configuration loaded") {
        return Some(LineEvent::Listening);
    }
    None
}

/// The job id of a line, `job` when the line does not carry one.
fn job_of(line: &str) -> String {
    let json = line
        .split_once("\"job\":")
        .map(|(_, rest)| rest.split([',', '}']).next().unwrap_or("").trim());
    field(line, "job")
        .or(json)
        .filter(|j| !j.is_empty())
        .map_or_else(|| "job".to_string(), |j| j.trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_runner_lines_from_the_facts_file() {
        let cases = [
            (
                "Checking for jobs... received                       job=1234 repo_url=https://gitlab.example.com/g/p.git runner=ab12cd34",
                Some(LineEvent::JobStarted { job: "1234".into() }),
            ),
            (
                r#"{"job":77,"level":"info","msg":"Checking for jobs... received","runner":"ab12"}"#,
                Some(LineEvent::JobStarted { job: "77".into() }),
            ),
            (
                "Job succeeded                                       duration_s=3.2 job=1234 project=5 runner=ab12cd34",
                Some(LineEvent::JobCompleted {
                    job: "1234".into(),
                    result: "succeeded".into(),
                }),
            ),
            (
                "Job failed: exit code 1                             duration_s=1.0 job=1235 project=5 runner=ab12cd34",
                Some(LineEvent::JobCompleted {
                    job: "1235".into(),
                    result: "failed".into(),
                }),
            ),
            (
                "Job failed (system failure): prepare environment: exit status 1  job=1236 runner=ab12cd34",
                Some(LineEvent::JobCompleted {
                    job: "1236".into(),
                    result: "failed (system failure)".into(),
                }),
            ),
            (
                "Checking for jobs... failed                         runner=ab12cd34 status=couldn't execute POST",
                Some(LineEvent::ConnectionLost {
                    message: "checking for jobs failed".into(),
                }),
            ),
            (
                "Checking for jobs... GitLab instance currently unavailable  runner=ab12cd34",
                Some(LineEvent::ConnectionLost {
                    message: "GitLab instance currently unavailable".into(),
                }),
            ),
            (
                r#"Runner "https://gitlab.example.com/ab12cd34" is unhealthy and will be disabled for 3600 seconds!"#,
                Some(LineEvent::ConnectionLost {
                    message: r#"runner "https://gitlab.example.com/ab12cd34" is unhealthy and disabled for a while"#.into(),
                }),
            ),
            (
                "Configuration loaded                                builds=0 max_builds=1",
                Some(LineEvent::Listening),
            ),
            ("Starting multi-runner from /etc/gitlab-runner/config.toml...", None),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line), want, "{line}");
        }
    }
}
