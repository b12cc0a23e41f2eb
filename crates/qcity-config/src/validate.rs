//! Semantic validation: named single-purpose passes over the deserialized files.
//!
//! Each pass records its errors at the offending value and never changes a value.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::path::JsonPath;
use crate::source::Source;
use crate::types::{DeviceConfig, RestartSpec, RunnerKind, RunnerSpec};

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
        if let Some(p) = &runner.platform
            && (!name_well_formed(p) || p.len() > MAX_NAME_LEN)
        {
            src.error(
                &at.key("platform"),
                "a platform id: letters, digits, `-` and `_` (`github`, `gitlab`, a custom page's id)",
            );
        }
        command_non_empty(&runner.command, &at, src);
        no_nul_in_command_or_env_values(runner, &at, src);
        env_names_valid(runner, &at, src);
        probes(runner, &at, src);
        job_hook_on_github_only(runner, &at, src);
        heal_rules(runner, &at.key("heal"), src);
    }
}

/// Rules are named, match on something, do something, and their patterns compile.
fn heal_rules(runner: &RunnerSpec, at: &JsonPath, src: &mut Source) {
    let heal = &runner.heal;
    if let Some(check) = &heal.network_check
        && let Err(e) = crate::probe_target::parse_host_port(check)
    {
        src.error(&at.key("network_check"), e);
    }
    env_names(&heal.low_memory_env, &at.key("low_memory_env"), src);
    for (i, dir) in heal.cache_dirs.iter().enumerate() {
        if let Err(e) = cache_dir_contained(dir, runner.working_dir.as_deref()) {
            src.error(&at.key("cache_dirs").index(i), e);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, rule) in heal.rules.iter().enumerate() {
        let at = at.key("rules").index(i);
        if !name_well_formed(&rule.name) {
            src.error(&at.key("name"), "use letters, digits, `-` and `_`");
        } else if !seen.insert(rule.name.as_str()) {
            src.error(&at.key("name"), format!("`{}` is given twice", rule.name));
        }
        if rule.matches.is_empty() {
            src.error(
                &at.key("match"),
                "give at least one of exit_codes, signals, probe, text, regex, crash_loop",
            );
        }
        if let Some(re) = &rule.matches.regex
            && let Err(e) = regex::Regex::new(re)
        {
            let last = e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            src.error(
                &at.key("match").key("regex"),
                format!("not a valid regular expression: {last}"),
            );
        }
        if let Some(probe) = &rule.matches.probe
            && !runner.probes.iter().any(|p| &p.name == probe)
        {
            src.error(
                &at.key("match").key("probe"),
                format!("runner `{}` has no probe `{probe}`", runner.name),
            );
        }
        if rule.actions.is_empty() {
            src.error(&at.key("actions"), "a rule needs at least one action");
        }
        for (j, action) in rule.actions.iter().enumerate() {
            let at = at.key("actions").index(j);
            match action {
                crate::types::HealAction::Run(argv) if argv.is_empty() => {
                    src.error(&at.key("run"), "the command is empty");
                }
                crate::types::HealAction::Clean(dirs) => {
                    if dirs.is_empty() {
                        src.error(&at.key("clean"), "give at least one directory");
                    }
                    for (k, dir) in dirs.iter().enumerate() {
                        if let Err(e) = cache_dir_contained(dir, runner.working_dir.as_deref()) {
                            src.error(&at.key("clean").index(k), e);
                        }
                    }
                }
                crate::types::HealAction::WaitTcp(addr) => {
                    if let Err(e) = crate::probe_target::parse_host_port(addr) {
                        src.error(&at.key("wait_tcp"), e);
                    }
                }
                crate::types::HealAction::WaitFree(addr) => {
                    if let Err(e) = crate::probe_target::parse_host_port(addr) {
                        src.error(&at.key("wait_free"), e);
                    }
                }
                crate::types::HealAction::RemoveStaleLock(path) => {
                    if path.extension().is_none_or(|e| e != "lock") {
                        src.error(&at.key("remove_stale_lock"), "only a `*.lock` file");
                    } else if let Err(e) = cache_dir_contained(path, runner.working_dir.as_deref())
                    {
                        src.error(&at.key("remove_stale_lock"), e);
                    }
                }
                crate::types::HealAction::Env(vars) => env_names(vars, &at.key("env"), src),
                _ => {}
            }
        }
    }
}

/// A directory the healer empties must be strictly inside the runner's working dir: the
/// healer deletes what it moved aside once a fix is proven, so `""`, `.`, `/`, a `..` step or
/// an absolute path elsewhere would let one line of config wipe a home directory.
fn cache_dir_contained(
    dir: &std::path::Path,
    working_dir: Option<&std::path::Path>,
) -> Result<(), String> {
    use std::path::Component;
    let shown = dir.display();
    if dir.as_os_str().is_empty() {
        return Err("an empty path; give a directory inside the runner's working dir".into());
    }
    if dir.components().any(|c| c == Component::ParentDir) {
        return Err(format!(
            "`{shown}`: `..` is not allowed; give a directory inside the runner's working dir"
        ));
    }
    let inside = if dir.is_absolute() {
        match working_dir.filter(|w| w.is_absolute()) {
            Some(w) if dir.starts_with(w) => dir.strip_prefix(w).unwrap_or(dir),
            _ => {
                return Err(format!(
                    "`{shown}` is outside the runner's working dir; give it relative to that dir"
                ));
            }
        }
    } else {
        dir
    };
    if !inside
        .components()
        .any(|c| matches!(c, Component::Normal(_)))
    {
        return Err(format!(
            "`{shown}` is the working dir (or the root) itself; give a directory inside it"
        ));
    }
    Ok(())
}

/// The job-started hook is the GitHub runner's feature.
fn job_hook_on_github_only(runner: &RunnerSpec, at: &JsonPath, src: &mut Source) {
    if runner.job_started_hook && runner.kind != RunnerKind::Github {
        src.error(
            &at.key("job_started_hook"),
            "only a `github` runner has a job-started hook; set `\"kind\": \"github\"` or remove it",
        );
    }
}

/// Every probe: one check, a unique name, sane timings, and a check that can run.
fn probes(runner: &RunnerSpec, at: &JsonPath, src: &mut Source) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, probe) in runner.probes.iter().enumerate() {
        let at = at.key("probes").index(i);
        if !name_well_formed(&probe.name) {
            src.error(
                &at.key("name"),
                format!(
                    "invalid probe name: use 1 to {MAX_NAME_LEN} letters, digits, `.`, `_` or `-`"
                ),
            );
        } else if let Some(first) = seen.insert(&probe.name, i) {
            src.error(
                &at.key("name"),
                format!(
                    "duplicate probe name `{}`: probes[{first}] has it",
                    probe.name
                ),
            );
        }
        let checks = probe.checks().len();
        if checks != 1 {
            src.error(
                &at,
                format!(
                    "a probe needs exactly one of `process`, `exec`, `http`, `tcp`, `log`, `runner`, `disk`; this one has {checks}"
                ),
            );
        }
        if probe.interval_ms < 100 {
            src.error(&at.key("interval_ms"), "must be at least 100");
        }
        if probe.timeout_ms == 0 {
            src.error(&at.key("timeout_ms"), "must be positive");
        }
        if probe.failure_threshold == 0 {
            src.error(&at.key("failure_threshold"), "must be at least 1");
        }
        if probe.success_threshold == 0 {
            src.error(&at.key("success_threshold"), "must be at least 1");
        }
        if let Some(exec) = &probe.exec {
            exec_runnable(exec, runner, &at.key("exec").key("command"), src);
        }
        if let Some(http) = &probe.http {
            http_check(http, &at.key("http"), src);
        }
        if let Some(tcp) = &probe.tcp
            && let Err(e) = crate::probe_target::parse_host_port(&tcp.address)
        {
            src.error(&at.key("tcp").key("address"), e);
        }
        if let Some(log) = &probe.log
            && let Err(e) = regex::Regex::new(&log.pattern)
        {
            // regex's message draws the pattern over several lines; its last says what is wrong.
            let what = e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            src.error(
                &at.key("log").key("pattern"),
                format!("not a valid regular expression: {what}"),
            );
        }
    }
}

/// The URL parses, and a `ca_file` goes with an `https://` URL and holds certificates.
fn http_check(http: &crate::types::HttpCheck, at: &JsonPath, src: &mut Source) {
    let tls = match crate::probe_target::parse_http_url(&http.url) {
        Ok(url) => Some(url.tls),
        Err(e) => {
            src.error(&at.key("url"), e);
            None
        }
    };
    let Some(ca_file) = &http.ca_file else { return };
    if tls == Some(false) {
        src.error(
            &at.key("ca_file"),
            format!(
                "`{}`: a CA file only applies to an https:// URL; use https:// or remove `ca_file`",
                ca_file.display()
            ),
        );
    } else if let Err(e) = crate::probe_target::read_ca_file(&src.dir().join(ca_file)) {
        src.error(&at.key("ca_file"), e);
    }
}

/// The probe's program exists: a path that exists, or a name found in the runner's PATH.
fn exec_runnable(
    exec: &crate::types::ExecCheck,
    runner: &RunnerSpec,
    at: &JsonPath,
    src: &mut Source,
) {
    let Some(program) = exec.command.first().filter(|p| !p.is_empty()) else {
        src.error(at, "command is empty: give the program and its arguments");
        return;
    };
    let found = if program.contains('/') {
        // Relative paths resolve against the runner's working dir at run time.
        !program.starts_with('/') || std::path::Path::new(program).exists()
    } else {
        let path = runner
            .env
            .get("PATH")
            .cloned()
            .or_else(|| std::env::var("PATH").ok())
            .unwrap_or_default();
        std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
    };
    if !found {
        src.error(&at.index(0), format!("program `{program}` not found"));
    }
}

/// Every task: a well-formed unique name, a command, one schedule that parses.
pub(crate) fn tasks(tasks: &[crate::types::TaskSpec], src: &mut Source) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, task) in tasks.iter().enumerate() {
        let at = JsonPath::root().key("tasks").index(i);
        let name = &task.name;
        if !name_well_formed(name) {
            src.error(
                &at.key("name"),
                format!(
                    "invalid task name: use 1 to {MAX_NAME_LEN} letters, digits, `.`, `_` or `-`"
                ),
            );
        } else if let Some(earlier) = first.insert(name, i) {
            src.error(
                &at.key("name"),
                format!("duplicate task name `{name}`: tasks[{earlier}] has it"),
            );
        }
        command_non_empty(&task.command, &at, src);
        if task.timeout_ms == 0 {
            src.error(&at.key("timeout_ms"), "must be positive");
        }
        if let Some(schedule) = &task.schedule {
            let at = at.key("schedule");
            match (&schedule.every_ms, &schedule.cron) {
                (Some(_), Some(_)) | (None, None) => {
                    src.error(&at, "give exactly one of `every_ms` and `cron`")
                }
                (Some(ms), None) if *ms < 1000 => {
                    src.error(&at.key("every_ms"), "must be at least 1000")
                }
                (None, Some(expr)) => {
                    if let Err(e) = crate::cron::Cron::parse(expr, None) {
                        src.error(&at.key("cron"), format!("not a cron expression: {e}"));
                    }
                }
                _ => {}
            }
            if let Some(tz) = &schedule.timezone {
                if schedule.cron.is_none() {
                    src.error(&at.key("timezone"), "only applies to `cron`");
                } else if let Err(e) = crate::cron::time_zone(tz) {
                    src.error(&at.key("timezone"), e);
                }
            }
        }
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
    session_hours_in_range(device, src);
    installer_sane(device, src);
    update_sane(device, src);
    log_max_bytes_minimum(device, src);
    resource_thresholds_sane(device, src);
    backup_schedule_in_range(device, src);
    notifications(device, src);
    platforms(device, src);
    if let Some(key) = &device.fleet_manifest_key {
        public_key_sane(key, &JsonPath::root().key("fleet_manifest_key"), src);
    }
}

/// The interval in range; custom pages named once, at an allowed address.
fn platforms(device: &DeviceConfig, src: &mut Source) {
    let p = &device.platforms;
    let at = JsonPath::root().key("platforms");
    if !(60..=3600).contains(&p.interval_seconds) {
        src.error(&at.key("interval_seconds"), "must be 60 to 3600");
    }
    for (i, id) in p.watch.iter().flatten().enumerate() {
        let known =
            crate::BUILTIN_PLATFORMS.contains(&id.as_str()) || p.custom.iter().any(|c| &c.id == id);
        if !known {
            src.error(
                &at.key("watch").index(i),
                format!(
                    "no platform `{id}`: the built-in ones are {}; add others under custom",
                    crate::BUILTIN_PLATFORMS.join(", ")
                ),
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, c) in p.custom.iter().enumerate() {
        let at = at.key("custom").index(i);
        if !name_well_formed(&c.id) || c.id.len() > MAX_NAME_LEN {
            src.error(&at.key("id"), "use 1 to 64 letters, digits, `-` and `_`");
        } else if !seen.insert(c.id.as_str()) {
            src.error(&at.key("id"), format!("`{}` is given twice", c.id));
        }
        match crate::probe_target::parse_http_url(&c.url) {
            Err(e) => src.error(&at.key("url"), e),
            Ok(u) if !u.tls && !crate::probe_target::is_loopback_host(&u.host) => src.error(
                &at.key("url"),
                "plain http is allowed only on loopback; use https",
            ),
            Ok(_) => {}
        }
    }
}

/// Grouping times in range; each channel named once, its URL parsed, its endpoint safe, its
/// quiet hours readable; a literal secret is a warning.
fn notifications(device: &DeviceConfig, src: &mut Source) {
    let n = &device.notifications;
    let at = JsonPath::root().key("notifications");
    let g = &n.grouping;
    let gat = at.key("grouping");
    if g.wait_seconds > 3600 {
        src.error(&gat.key("wait_seconds"), "must be at most 3600");
    }
    if !(1..=86_400).contains(&g.interval_seconds) {
        src.error(&gat.key("interval_seconds"), "must be 1 to 86400");
    }
    if g.repeat_seconds < g.interval_seconds || g.repeat_seconds > 604_800 {
        src.error(
            &gat.key("repeat_seconds"),
            "must be at least interval_seconds and at most 604800 (a week)",
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (i, c) in n.channels.iter().enumerate() {
        let at = at.key("channels").index(i);
        if !name_well_formed(&c.name) || c.name.len() > MAX_NAME_LEN {
            src.error(&at.key("name"), "use 1 to 64 letters, digits, `-` and `_`");
        } else if c.name == "desktop" {
            src.error(&at.key("name"), "`desktop` is the tray's own channel");
        } else if !seen.insert(c.name.as_str()) {
            src.error(&at.key("name"), format!("`{}` is given twice", c.name));
        }
        match crate::channel_url::parse(&c.url) {
            Err(e) => src.error(&at.key("url"), e),
            Ok(url) => {
                for what in url.literal_secrets() {
                    src.warn(
                        &at.key("url"),
                        format!(
                            "{what} is written in the file: store it with `qcity secret set NAME` and write {{keyring://NAME}} in its place"
                        ),
                    );
                }
            }
        }
        if let Some(endpoint) = &c.endpoint {
            match crate::probe_target::parse_http_url(endpoint) {
                Err(e) => src.error(&at.key("endpoint"), e),
                Ok(u) if !u.tls && !crate::probe_target::is_loopback_host(&u.host) => src.error(
                    &at.key("endpoint"),
                    "plain http is allowed only on loopback; use https",
                ),
                Ok(_) => {}
            }
        }
        for (j, r) in c.runners.iter().enumerate() {
            if r.is_empty()
                || !r.chars().all(|ch| {
                    ch == '*' || ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.'
                })
            {
                src.error(
                    &at.key("runners").index(j),
                    "a runner name, or a pattern with `*`",
                );
            }
        }
        if let Some(q) = &c.quiet_hours {
            let qat = at.key("quiet_hours");
            for (key, value) in [("from", &q.from), ("to", &q.to)] {
                if crate::cron::clock_time(value).is_none() {
                    src.error(
                        &qat.key(key),
                        format!("`{value}` is not a time: write HH:MM"),
                    );
                }
            }
            if let Some(tz) = &q.time_zone
                && let Err(e) = crate::cron::time_zone(tz)
            {
                src.error(&qat.key("time_zone"), e);
            }
        }
    }
}

fn backup_schedule_in_range(device: &DeviceConfig, src: &mut Source) {
    let Some(b) = &device.backup else {
        return;
    };
    let at = JsonPath::root().key("backup");
    if !(5..=525_600).contains(&b.every_minutes) {
        src.error(
            &at.key("every_minutes"),
            format!("{} is outside 5 to 525600 minutes", b.every_minutes),
        );
    }
    if !(1..=1000).contains(&b.keep) {
        src.error(&at.key("keep"), format!("{} is outside 1 to 1000", b.keep));
    }
}

fn resource_thresholds_sane(device: &DeviceConfig, src: &mut Source) {
    let r = &device.resources;
    let at = JsonPath::root().key("resources");
    if r.interval_ms < 100 {
        src.error(&at.key("interval_ms"), "must be at least 100");
    }
    if r.max_load_per_cpu.is_nan() || r.max_load_per_cpu <= 0.0 {
        src.error(&at.key("max_load_per_cpu"), "must be positive");
    }
    if r.min_battery_percent > 100 {
        src.error(&at.key("min_battery_percent"), "must be at most 100");
    }
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

/// A runner name that breaks `name_well_formed` is reported with its value.
fn runner_name_well_formed(runner: &RunnerSpec, at: &JsonPath, src: &mut Source) {
    let name = &runner.name;
    if !name_well_formed(name) {
        let msg = format!(
            "invalid runner name {}: use 1 to {MAX_NAME_LEN} letters, digits, `.`, `_` or `-`",
            serde_json::Value::from(name.as_str())
        );
        src.error(&at.key("name"), msg);
    }
}

/// Runner, probe and task names match `^[A-Za-z0-9._-]{1,64}$`: they appear in file names,
/// URLs and log lines.
pub(crate) fn name_well_formed(name: &str) -> bool {
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    !name.is_empty() && name.len() <= MAX_NAME_LEN && chars_ok
}

/// `command` needs a program: non-empty, with a non-empty `command[0]`.
pub(crate) fn command_non_empty(command: &[String], at: &JsonPath, src: &mut Source) {
    let at = at.key("command");
    match command.first() {
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
    env_names(&runner.env, &at.key("env"), src);
}

pub(crate) fn env_names(
    vars: &std::collections::BTreeMap<String, String>,
    at: &JsonPath,
    src: &mut Source,
) {
    for name in vars.keys() {
        let problem = if name.is_empty() {
            "environment variable name is empty"
        } else if name.contains('=') {
            "environment variable name contains `=`"
        } else if name.contains('\0') {
            "environment variable name contains a NUL character"
        } else {
            continue;
        };
        src.key_error(&at.key(name), problem);
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

fn installer_sane(device: &DeviceConfig, src: &mut Source) {
    let Some(i) = &device.installer else {
        return;
    };
    let at = JsonPath::root().key("installer");
    release_source_sane(&i.manifest, &i.public_key, &at, src);
    if i.max_autotest_age_minutes == 0 {
        src.error(&at.key("max_autotest_age_minutes"), "must be positive");
    }
}

fn update_sane(device: &DeviceConfig, src: &mut Source) {
    let Some(u) = &device.update else {
        return;
    };
    let at = JsonPath::root().key("update");
    release_source_sane(&u.manifest, &u.public_key, &at, src);
    for (key, value) in [
        ("max_autotest_age_minutes", u.max_autotest_age_minutes),
        ("drain_timeout_seconds", u.drain_timeout_seconds),
        ("check_deadline_seconds", u.check_deadline_seconds),
        ("max_start_tries", u64::from(u.max_start_tries)),
    ] {
        if value == 0 {
            src.error(&at.key(key), "must be positive");
        }
    }
}

/// A release manifest's address and the key that signs its files (installer, update).
fn release_source_sane(manifest: &str, public_key: &str, at: &JsonPath, src: &mut Source) {
    if let Err(e) = crate::release::url_allowed(manifest) {
        src.error(&at.key("manifest"), e);
    }
    public_key_sane(public_key, &at.key("public_key"), src);
}

/// A minisign public key: the key file's text or its base64 line, as the verifier reads it.
fn public_key_sane(public_key: &str, at: &JsonPath, src: &mut Source) {
    let key_line = public_key
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"));
    match key_line {
        None => src.error(
            at,
            "the minisign public key is required: what it signs is verified before use",
        ),
        Some(line) => {
            if minisign_verify::PublicKey::from_base64(line).is_err() {
                src.error(
                    at,
                    "not a minisign public key: expected the base64 of 42 bytes starting with `Ed` (`RWQ…`)",
                );
            }
        }
    }
}

fn session_hours_in_range(device: &DeviceConfig, src: &mut Source) {
    let hours = device.api.session_hours;
    if !(1..=720).contains(&hours) {
        src.error(
            &JsonPath::root().key("api").key("session_hours"),
            format!("{hours} is outside 1 to 720 hours"),
        );
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
