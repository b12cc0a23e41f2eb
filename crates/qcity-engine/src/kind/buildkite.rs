//! The Buildkite agent (`buildkite-agent start`): its exit codes and the one output line that
//! decides one (from `../shared/facts/runners.md`). Its health-check server, when the agent is
//! started with `--health-check-addr` (or `BUILDKITE_AGENT_HEALTH_CHECK_ADDR`), answers `/` with
//! 200 and `OK: Buildkite agent is running`; the `runner` probe asks it.

use super::vocab::{ExitVerdict, LineEvent, Said};

pub fn parse(line: &str) -> Option<LineEvent> {
    if line.contains("failed to run startup hook") {
        return Some(LineEvent::StartupFailed {
            message: line.trim().to_string(),
        });
    }
    None
}

/// Codes: 0 success, 255 gracefully terminated, 128+N killed by signal N: all are left to the
/// restart policy. A failing `agent-startup` hook aborts every start the same way, so that one
/// stops the runner.
pub fn exit_verdict(_code: Option<i32>, said: &Said) -> ExitVerdict {
    match &said.startup_failed {
        Some(message) => ExitVerdict::Stop {
            reason: format!("the agent-startup hook failed ({message})"),
            advice: "fix the agent's `agent-startup` hook (run it by hand to see why it fails), then `qcity start NAME`".into(),
        },
        None => ExitVerdict::Policy,
    }
}

/// The address of the agent's health-check server, from its argv or its environment:
/// `--health-check-addr=HOST:PORT`, `--health-check-addr HOST:PORT`, or
/// `BUILDKITE_AGENT_HEALTH_CHECK_ADDR`. An empty host (`:3901`) listens everywhere; QCity asks
/// on loopback.
pub fn health_check_addr<'a>(
    argv: &'a [String],
    env: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<String> {
    const FLAG: &str = "--health-check-addr";
    let from_argv = argv.iter().enumerate().find_map(|(i, arg)| {
        if let Some(v) = arg.strip_prefix(FLAG).and_then(|r| r.strip_prefix('=')) {
            Some(v)
        } else if arg == FLAG {
            argv.get(i + 1).map(String::as_str)
        } else {
            None
        }
    });
    let addr = from_argv.or_else(|| {
        env.into_iter()
            .find(|(k, _)| *k == "BUILDKITE_AGENT_HEALTH_CHECK_ADDR")
            .map(|(_, v)| v)
    })?;
    let (host, port) = addr.rsplit_once(':')?;
    let host = match host {
        "" | "0.0.0.0" | "[::]" => "127.0.0.1",
        h => h,
    };
    Some(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_failed_startup_hook_stops_and_other_exits_follow_the_policy() {
        let mut said = Said::default();
        for code in [0, 1, 94, 137, 143, 255, -1] {
            assert_eq!(exit_verdict(Some(code), &said), ExitVerdict::Policy);
        }
        said.note(
            &parse("2026-08-22 10:00:00 FATAL failed to run startup hook: exit status 1").unwrap(),
        );
        assert!(matches!(
            exit_verdict(Some(1), &said),
            ExitVerdict::Stop { .. }
        ));
        assert_eq!(parse("2026-08-22 10:00:00 INFO Registering agent"), None);
    }

    #[test]
    fn the_health_check_address_comes_from_argv_or_env() {
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            health_check_addr(
                &argv(&["buildkite-agent", "start", "--health-check-addr=:3901"]),
                none
            ),
            Some("127.0.0.1:3901".into())
        );
        assert_eq!(
            health_check_addr(
                &argv(&[
                    "buildkite-agent",
                    "start",
                    "--health-check-addr",
                    "127.0.0.2:80"
                ]),
                none
            ),
            Some("127.0.0.2:80".into())
        );
        assert_eq!(
            health_check_addr(
                &argv(&["buildkite-agent", "start"]),
                [("BUILDKITE_AGENT_HEALTH_CHECK_ADDR", "localhost:9")]
            ),
            Some("localhost:9".into())
        );
        assert_eq!(
            health_check_addr(&argv(&["buildkite-agent", "start"]), none),
            None
        );
    }
}
