//! Semantic validation: named single-purpose passes over the deserialized files.
//!
//! Each pass records its errors at the offending value and never changes a value.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::path::JsonPath;
use crate::source::Source;
use crate::types::{DeviceConfig, RestartSpec, RunnerSpec};

/// Smallest accepted `supervisor.log_max_bytes`.
const MIN_LOG_MAX_BYTES: u64 = 4096;
/// Longest accepted runner name.
const MAX_NAME_LEN: usize = 64;

/// The runners that deserialized, each with its index in the file's `runners` array.
pub(crate) fn runners(runners: &[(usize, RunnerSpec)], src: &mut Source) {
    runner_names_unique(runners, src);
    for (index, runner) in runners {
        let at = JsonPath::root().key("runners").index(*index);
        runner_name_well_formed(runner, &at, src);
        command_non_empty(runner, &at, src);
        no_nul_in_command_or_env_values(runner, &at, src);
        env_names_valid(runner, &at, src);
    }
}

/// The `restart` objects that deserialized, each with its runner's index. They are checked
/// apart from their runners so that a bad runner field does not hide a bad restart value.
pub(crate) fn restarts(restarts: &[(usize, RestartSpec)], src: &mut Source) {
    for (index, restart) in restarts {
        let at = JsonPath::root().key("runners").index(*index).key("restart");
        restart_delays_ordered(restart, &at, src);
        backoff_factor_in_range(restart, &at, src);
        jitter_at_most_100(restart, &at, src);
        crash_loop_counts_positive(restart, &at, src);
    }
}

/// `qcity-device-config.json`.
pub(crate) fn device(device: &DeviceConfig, src: &mut Source) {
    api_host_loopback(device, src);
    log_max_bytes_minimum(device, src);
}

/// A duplicate is reported at the second runner, naming the first one's index.
fn runner_names_unique(runners: &[(usize, RunnerSpec)], src: &mut Source) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (index, runner) in runners {
        if let Some(earlier) = first.get(runner.name.as_str()) {
            let at = JsonPath::root().key("runners").index(*index).key("name");
            let msg = format!(
                "duplicate runner name `{}`: runners[{earlier}] has it",
                runner.name
            );
            src.error(&at, msg);
        } else {
            first.insert(&runner.name, *index);
        }
    }
}

/// Names match `^[A-Za-z0-9._-]{1,64}$`: they appear in file names, URLs and log lines.
fn runner_name_well_formed(runner: &RunnerSpec, at: &JsonPath, src: &mut Source) {
    let name = &runner.name;
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > MAX_NAME_LEN || !chars_ok {
        let msg = format!(
            "invalid runner name {}: use 1 to {MAX_NAME_LEN} letters, digits, `.`, `_` or `-`",
            serde_json::Value::from(name.as_str())
        );
        src.error(&at.key("name"), msg);
    }
}

/// `command` needs a program: non-empty, with a non-empty `command[0]`.
fn command_non_empty(runner: &RunnerSpec, at: &JsonPath, src: &mut Source) {
    let at = at.key("command");
    match runner.command.first() {
        None => src.error(&at, "command is empty: give the program and its arguments"),
        Some(program) if program.is_empty() => src.error(&at.index(0), "program name is empty"),
        Some(_) => {}
    }
}

/// A NUL byte cannot be passed to a process in its arguments or environment.
fn no_nul_in_command_or_env_values(runner: &RunnerSpec, at: &JsonPath, src: &mut Source) {
    for (i, arg) in runner.command.iter().enumerate() {
        if arg.contains('\0') {
            src.error(&at.key("command").index(i), "contains a NUL character");
        }
    }
    for (name, value) in &runner.env {
        if value.contains('\0') {
            src.error(&at.key("env").key(name), "contains a NUL character");
        }
    }
}

/// Environment variable names are non-empty and contain neither `=` nor NUL.
fn env_names_valid(runner: &RunnerSpec, at: &JsonPath, src: &mut Source) {
    for name in runner.env.keys() {
        let problem = if name.is_empty() {
            "environment variable name is empty"
        } else if name.contains('=') {
            "environment variable name contains `=`"
        } else if name.contains('\0') {
            "environment variable name contains a NUL character"
        } else {
            continue;
        };
        src.key_error(&at.key("env").key(name), problem);
    }
}

fn restart_delays_ordered(restart: &RestartSpec, at: &JsonPath, src: &mut Source) {
    if restart.max_delay_ms < restart.delay_ms {
        let msg = format!(
            "max_delay_ms ({}) is less than delay_ms ({})",
            restart.max_delay_ms, restart.delay_ms
        );
        src.error(&at.key("max_delay_ms"), msg);
    }
}

fn backoff_factor_in_range(restart: &RestartSpec, at: &JsonPath, src: &mut Source) {
    if !(1.0..=10.0).contains(&restart.factor) {
        let msg = format!(
            "factor {} is out of range: must be from 1.0 to 10.0",
            restart.factor
        );
        src.error(&at.key("factor"), msg);
    }
}

fn jitter_at_most_100(restart: &RestartSpec, at: &JsonPath, src: &mut Source) {
    if restart.jitter_percent > 100 {
        let msg = format!("jitter_percent {} is more than 100", restart.jitter_percent);
        src.error(&at.key("jitter_percent"), msg);
    }
}

fn crash_loop_counts_positive(restart: &RestartSpec, at: &JsonPath, src: &mut Source) {
    let Some(crash_loop) = &restart.crash_loop else {
        return;
    };
    let at = at.key("crash_loop");
    if crash_loop.max_restarts < 1 {
        src.error(
            &at.key("max_restarts"),
            "max_restarts must be at least 1 (use `crash_loop: null` to turn detection off)",
        );
    }
    if crash_loop.window_ms < 1 {
        src.error(&at.key("window_ms"), "window_ms must be at least 1");
    }
}

/// The API is local only: `localhost` or a loopback address (127.0.0.0/8, ::1).
fn api_host_loopback(device: &DeviceConfig, src: &mut Source) {
    let host = &device.api.host;
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        let msg = format!(
            "{} is not a loopback address: use 127.0.0.1, ::1 or localhost",
            serde_json::Value::from(host.as_str())
        );
        src.error(&JsonPath::root().key("api").key("host"), msg);
    }
}

fn log_max_bytes_minimum(device: &DeviceConfig, src: &mut Source) {
    let bytes = device.supervisor.log_max_bytes;
    if bytes < MIN_LOG_MAX_BYTES {
        let msg = format!("log_max_bytes {bytes} is less than {MIN_LOG_MAX_BYTES}");
        src.error(
            &JsonPath::root().key("supervisor").key("log_max_bytes"),
            msg,
        );
    }
}
