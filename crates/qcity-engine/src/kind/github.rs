//! The GitHub Actions runner (actions/runner 2.336): what its output lines and its listener's
//! exit codes mean. The strings and codes are those of `../shared/facts/runners.md`; lines are
//! matched on their stable part (the `{UTC}: ` prefix and the job names vary).

use super::vocab::{ExitVerdict, LineEvent, Said};

/// Reads one line of the listener's output.
pub fn parse(line: &str) -> Option<LineEvent> {
    // The `√` of the connected line is printed in colour: match the words only.
    if line.contains("Connected to GitHub") {
        return Some(LineEvent::Connected);
    }
    if line.ends_with(": Listening for Jobs") {
        return Some(LineEvent::Listening);
    }
    if let Some((_, job)) = line.split_once(": Running job: ") {
        return Some(LineEvent::JobStarted {
            job: job.to_string(),
        });
    }
    if let Some((head, result)) = line.split_once(" completed with result: ")
        && let Some((_, job)) = head.split_once(": Job ")
    {
        return Some(LineEvent::JobCompleted {
            job: job.to_string(),
            result: result.trim().to_string(),
        });
    }
    if let Some((_, rest)) = line.split_once(": Runner connect error: ") {
        let message = rest.trim_end_matches(" Retrying until reconnected.");
        return Some(LineEvent::ConnectionLost {
            message: message.trim_end_matches('.').to_string(),
        });
    }
    if line.ends_with(": Runner reconnected.") {
        return Some(LineEvent::Reconnected);
    }
    if line.contains("The runner registration has been deleted from the server")
        || line.contains("The runner no longer exists on the server")
    {
        return Some(LineEvent::RegistrationDeleted);
    }
    if line.contains("Runner is not configured.") {
        return Some(LineEvent::NotConfigured);
    }
    if line.contains("A session for this runner already exists.") {
        return Some(LineEvent::SessionConflict);
    }
    if line.contains("Runner update in progress") {
        return Some(LineEvent::Updating);
    }
    None
}

const REGISTER: &str = "register it again (`./config.sh --url URL --token TOKEN` in the runner's directory), then `qcity start NAME`";

/// The listener's exit code, read with what its output said before it exited.
///
/// Codes (`Runner.ReturnCode`): 0 success, 1 terminated error, 2 retryable error, 3/4 updating,
/// 5 session conflict, 7 version deprecated.
pub fn exit_verdict(code: Option<i32>, said: &Said) -> ExitVerdict {
    if said.registration_deleted {
        return ExitVerdict::NeedsRegistration {
            reason: "the runner's registration was deleted on GitHub".into(),
            advice: REGISTER.into(),
        };
    }
    if said.not_configured {
        return ExitVerdict::NeedsRegistration {
            reason: "the runner is not configured (no registration in its directory)".into(),
            advice: REGISTER.into(),
        };
    }
    match code {
        Some(1) => ExitVerdict::Stop {
            reason: "the runner listener exited with a terminated error (code 1)".into(),
            advice: "read its output (`qcity logs NAME`) and its `_diag/Runner_*.log`; start it again once fixed".into(),
        },
        Some(5) => ExitVerdict::Stop {
            reason: "another runner process holds this registration's session (code 5)".into(),
            advice: "stop the other copy of this runner (a service installed with svc.sh?), then start this one".into(),
        },
        Some(7) => ExitVerdict::Stop {
            reason: "this runner version is deprecated and GitHub refuses it (code 7)".into(),
            advice: "update the runner (download the current release into its directory), then start it".into(),
        },
        _ => ExitVerdict::Policy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(registration_deleted: bool, not_configured: bool) -> Said {
        Said {
            registration_deleted,
            not_configured,
            ..Said::default()
        }
    }

    #[test]
    fn parses_the_listener_lines_from_the_facts_file() {
        let cases = [
            (
                "\u{1b}[32m√ Connected to GitHub\u{1b}[0m",
                Some(LineEvent::Connected),
            ),
            ("Current runner version: '2.336.0'", None),
            (
                "2026-08-22 10:00:00Z: Listening for Jobs",
                Some(LineEvent::Listening),
            ),
            (
                "2026-08-22 10:00:05Z: Running job: build (ubuntu, 3.12)",
                Some(LineEvent::JobStarted {
                    job: "build (ubuntu, 3.12)".into(),
                }),
            ),
            (
                "2026-08-22 10:03:05Z: Job build (ubuntu, 3.12) completed with result: Succeeded",
                Some(LineEvent::JobCompleted {
                    job: "build (ubuntu, 3.12)".into(),
                    result: "Succeeded".into(),
                }),
            ),
            (
                "2026-08-22 10:04:00Z: Runner connect error: The HTTP request timed out. Retrying until reconnected.",
                Some(LineEvent::ConnectionLost {
                    message: "The HTTP request timed out".into(),
                }),
            ),
            (
                "2026-08-22 10:05:00Z: Runner reconnected.",
                Some(LineEvent::Reconnected),
            ),
            (
                "Failed to create a session. The runner registration has been deleted from the server, please re-configure. Runner registrations are automatically deleted for runners that have not connected to the service recently.",
                Some(LineEvent::RegistrationDeleted),
            ),
            (
                "The runner no longer exists on the server. Cleaning up local configuration.",
                Some(LineEvent::RegistrationDeleted),
            ),
            ("Runner is not configured.", Some(LineEvent::NotConfigured)),
            (
                "A session for this runner already exists.",
                Some(LineEvent::SessionConflict),
            ),
            (
                "Runner update in progress, do not shutdown runner.",
                Some(LineEvent::Updating),
            ),
            ("echo Running job: not a listener line", None),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line), want, "{line}");
        }
    }

    #[test]
    fn exit_codes_map_as_the_facts_file_says() {
        assert_eq!(exit_verdict(Some(2), &Said::default()), ExitVerdict::Policy);
        assert_eq!(exit_verdict(Some(3), &Said::default()), ExitVerdict::Policy);
        assert_eq!(exit_verdict(Some(4), &Said::default()), ExitVerdict::Policy);
        assert_eq!(exit_verdict(Some(0), &Said::default()), ExitVerdict::Policy);
        assert_eq!(exit_verdict(None, &Said::default()), ExitVerdict::Policy);
        for code in [1, 5, 7] {
            assert!(
                matches!(
                    exit_verdict(Some(code), &Said::default()),
                    ExitVerdict::Stop { .. }
                ),
                "{code}"
            );
        }
        // Deleted registration: code 1 at session creation, code 0 while listening.
        for code in [0, 1] {
            assert!(matches!(
                exit_verdict(Some(code), &said(true, false)),
                ExitVerdict::NeedsRegistration { .. }
            ));
        }
        assert!(matches!(
            exit_verdict(Some(1), &said(false, true)),
            ExitVerdict::NeedsRegistration { .. }
        ));
    }
}
