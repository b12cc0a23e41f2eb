//! `load_dir` on real temporary directories: error format, positions, and all-errors reporting.

use qcity_config::{
    ApiSettings, CloudConfig, CrashLoopSpec, DeviceConfig, RestartPolicy, RestartSpec, load_dir,
};
use tempfile::TempDir;

const MANIFEST: &str = "runner_manifest.json";
const DEVICE: &str = "qcity-device-config.json";

/// A temp dir holding `files`.
fn dir_with(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// The error lines of loading `files`, with the temp dir shown as `<dir>`.
fn errors(files: &[(&str, &str)]) -> Vec<String> {
    let dir = dir_with(files);
    let errs = load_dir(dir.path()).expect_err("config should be rejected");
    let prefix = dir.path().display().to_string();
    errs.0
        .iter()
        .map(|e| e.to_string().replace(&prefix, "<dir>"))
        .collect()
}

fn manifest_errors(manifest: &str) -> Vec<String> {
    errors(&[(MANIFEST, manifest)])
}

#[test]
fn wrong_type_deep_in_a_runner_names_file_line_column_and_path() {
    let manifest = r#"{
  "runners": [
    { "name": "a", "command": ["true"] },
    { "name": "b", "command": ["true"] },
    {
      "name": "c",
      "command": ["true"],
      "restart": {
        "policy": "always",
        "delay_ms": "x"
      }
    }
  ]
}"#;
    let dir = dir_with(&[(MANIFEST, manifest)]);
    let errs = load_dir(dir.path()).unwrap_err();
    assert_eq!(errs.0.len(), 1, "{errs}");
    let e = &errs.0[0];
    assert_eq!(e.file, dir.path().join(MANIFEST));
    assert_eq!((e.line, e.column), (10, 21));
    assert_eq!(e.path, "runners[2].restart.delay_ms");
    assert_eq!(
        errs.to_string(),
        format!(
            "{}:10:21: runners[2].restart.delay_ms: invalid type: string \"x\", expected u64",
            dir.path().join(MANIFEST).display()
        )
    );
}

#[test]
fn unknown_field_points_at_the_key_and_suggests_the_known_one() {
    let manifest = r#"{"runners": [
  {"name": "a", "command": ["true"], "restart": {"delay": 5}}
]}"#;
    assert_eq!(
        manifest_errors(manifest),
        [
            "<dir>/runner_manifest.json:2:50: runners[0].restart.delay: unknown field `delay`, \
          did you mean `delay_ms`? Expected one of `policy`, `delay_ms`, `max_delay_ms`, \
          `factor`, `jitter_percent`, `reset_after_ms`, `crash_loop`"
        ]
    );
}

#[test]
fn unknown_top_level_field_and_misspelt_runner_field() {
    let manifest = r#"{"runner": [], "runners": [{"name": "a", "comand": ["true"]}]}"#;
    let errs = manifest_errors(manifest);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    let want = [
        "<dir>/runner_manifest.json:1:2: runner: unknown field `runner`, did you mean `runners`? ",
        "<dir>/runner_manifest.json:1:42: runners[0].comand: unknown field `comand`, did you \
         mean `command`? ",
    ];
    for (got, want) in errs.iter().zip(want) {
        assert!(got.starts_with(want), "{got}");
    }
}

#[test]
fn unknown_policy_variant_suggests_the_known_one() {
    let manifest = r#"{"runners": [{"name": "a", "command": ["true"],
  "restart": {"policy": "on_failure"}}]}"#;
    assert_eq!(
        manifest_errors(manifest),
        [
            "<dir>/runner_manifest.json:2:25: runners[0].restart.policy: unknown variant \
          `on_failure`, did you mean `on-failure`? Expected one of `always`, `on-failure`, `never`"
        ]
    );
}

#[test]
fn errors_in_two_runners_are_both_reported() {
    let manifest = r#"{"runners": [
  {"name": "a", "command": "true"},
  {"name": "b", "command": ["true"]},
  {"name": "c", "command": ["true"]},
  {"name": "d", "command": ["true"], "autostart": "yes", "restart": {"factor": 0.5}}
]}"#;
    assert_eq!(
        manifest_errors(manifest),
        [
            "<dir>/runner_manifest.json:2:28: runners[0].command: invalid type: string \"true\", \
             expected a sequence",
            "<dir>/runner_manifest.json:5:51: runners[3].autostart: invalid type: string \"yes\", \
             expected a boolean",
            "<dir>/runner_manifest.json:5:80: runners[3].restart.factor: factor 0.5 is out of \
             range: must be from 1.0 to 10.0",
        ]
    );
}

#[test]
fn duplicate_name_is_reported_at_the_second_runner_naming_the_first() {
    let manifest = r#"{"runners": [
  {"name": "build", "command": ["true"]},
  {"name": "other", "command": ["true"]},
  {"name": "build", "command": ["true"]}
]}"#;
    assert_eq!(
        manifest_errors(manifest),
        [
            "<dir>/runner_manifest.json:4:12: runners[2].name: duplicate runner name `build`: \
          runners[0] has it"
        ]
    );
}

#[test]
fn json_syntax_error_has_its_position_and_stops_that_file_only() {
    let device = "{\"api\": {\"host\": \"0.0.0.0\"}}";
    let errs = errors(&[
        (
            MANIFEST,
            "{\n  \"runners\": [\n    {\"name\": \"a\",}\n  ]\n}",
        ),
        (DEVICE, device),
    ]);
    assert_eq!(
        errs,
        [
            "<dir>/runner_manifest.json:3:18: trailing comma",
            "<dir>/qcity-device-config.json:1:18: api.host: \"0.0.0.0\" is not a loopback \
             address: use 127.0.0.1, ::1 or localhost",
        ]
    );
}

#[test]
fn missing_manifest_is_one_error_naming_the_file() {
    assert_eq!(
        errors(&[]),
        ["<dir>/runner_manifest.json: required file is missing"]
    );
}

#[test]
fn a_file_that_cannot_be_read_is_an_error_without_position() {
    let dir = dir_with(&[]);
    std::fs::create_dir(dir.path().join(MANIFEST)).unwrap();
    let errs = load_dir(dir.path()).unwrap_err();
    let e = &errs.0[0];
    assert_eq!((e.line, e.column, e.path.as_str()), (0, 0, ""));
    assert!(
        e.message.starts_with("not a regular file (a directory)"),
        "{}",
        e.message
    );
}

#[test]
fn optional_files_absent_give_defaults_and_dir_is_kept() {
    let dir = dir_with(&[(
        MANIFEST,
        r#"{"runners": [{"name": "a", "command": ["true"], "working_dir": "sub/dir"}]}"#,
    )]);
    let config = load_dir(dir.path()).unwrap();
    assert_eq!(config.dir, dir.path());
    assert_eq!(config.device, DeviceConfig::default());
    assert_eq!(config.cloud, CloudConfig::default());
    let runner = &config.manifest.runners[0];
    assert_eq!(
        runner.working_dir.as_deref(),
        Some(std::path::Path::new("sub/dir"))
    );
    assert_eq!(runner.restart, RestartSpec::default());
    assert!(runner.autostart);
}

#[test]
fn crash_loop_null_turns_detection_off_and_absent_gives_the_default() {
    let manifest = r#"{"runners": [
  {"name": "off", "command": ["true"], "restart": {"crash_loop": null}},
  {"name": "default", "command": ["true"], "restart": {"policy": "never"}},
  {"name": "custom", "command": ["true"], "restart": {"crash_loop": {"max_restarts": 2}}}
]}"#;
    let dir = dir_with(&[(MANIFEST, manifest)]);
    let runners = load_dir(dir.path()).unwrap().manifest.runners;
    assert_eq!(runners[0].restart.crash_loop, None);
    assert_eq!(
        runners[1].restart.crash_loop,
        Some(CrashLoopSpec::default())
    );
    assert_eq!(runners[1].restart.policy, RestartPolicy::Never);
    let custom = CrashLoopSpec {
        max_restarts: 2,
        ..CrashLoopSpec::default()
    };
    assert_eq!(runners[2].restart.crash_loop, Some(custom));
}

#[test]
fn device_and_cloud_files_are_read() {
    let device = r#"{"api": {"host": "::1", "port": 0}, "supervisor": {"log_keep": 1}}"#;
    let dir = dir_with(&[
        (MANIFEST, "{}"),
        (DEVICE, device),
        ("qmoi_cloud_config.json", "{}"),
    ]);
    let config = load_dir(dir.path()).unwrap();
    assert_eq!(
        config.device.api,
        ApiSettings {
            host: "::1".into(),
            port: 0,
            ..ApiSettings::default()
        }
    );
    assert_eq!(config.device.supervisor.log_keep, 1);
    assert_eq!(config.device.supervisor.tail_bytes, 64 * 1024);
    assert!(config.manifest.runners.is_empty());
}

#[test]
fn semantic_passes_report_every_bad_value_without_repairing_it() {
    let manifest = r#"{"runners": [
  {"name": "bad name!", "command": []},
  {"name": "", "command": [""], "env": {"A=B": "1", "": "2"}},
  {"name": "r", "command": ["x"], "restart": {"delay_ms": 500, "max_delay_ms": 100,
    "jitter_percent": 101, "crash_loop": {"max_restarts": 0, "window_ms": 0}}}
]}"#;
    let device = r#"{"api": {"host": "192.168.1.2"}, "supervisor": {"log_max_bytes": 4095}}"#;
    let cloud = r#"{"executors": []}"#;
    let errs = errors(&[
        (MANIFEST, manifest),
        (DEVICE, device),
        ("qmoi_cloud_config.json", cloud),
    ]);
    let expected = [
        "<dir>/runner_manifest.json:2:12: runners[0].name: invalid runner name \"bad name!\": \
         use 1 to 64 letters, digits, `.`, `_` or `-`",
        "<dir>/runner_manifest.json:2:36: runners[0].command: command is empty: give the \
         program and its arguments",
        "<dir>/runner_manifest.json:3:12: runners[1].name: invalid runner name \"\": use 1 to 64 \
         letters, digits, `.`, `_` or `-`",
        "<dir>/runner_manifest.json:3:28: runners[1].command[0]: program name is empty",
        "<dir>/runner_manifest.json:3:41: runners[1].env[\"A=B\"]: environment variable name \
         contains `=`",
        "<dir>/runner_manifest.json:3:53: runners[1].env[\"\"]: environment variable name is empty",
        "<dir>/runner_manifest.json:4:80: runners[2].restart.max_delay_ms: max_delay_ms (100) is \
         less than delay_ms (500)",
        "<dir>/runner_manifest.json:5:23: runners[2].restart.jitter_percent: jitter_percent 101 \
         is more than 100",
        "<dir>/runner_manifest.json:5:59: runners[2].restart.crash_loop.max_restarts: \
         max_restarts must be at least 1 (use `crash_loop: null` to turn detection off)",
        "<dir>/runner_manifest.json:5:75: runners[2].restart.crash_loop.window_ms: window_ms \
         must be at least 1",
        "<dir>/qcity-device-config.json:1:18: api.host: \"192.168.1.2\" is not a loopback \
         address: use 127.0.0.1, ::1 or localhost",
        "<dir>/qcity-device-config.json:1:66: supervisor.log_max_bytes: log_max_bytes 4095 is \
         less than 4096",
        "<dir>/qmoi_cloud_config.json:1:2: executors: unknown field `executors`, expected one \
         of `$schema`, `mode`, `placement`, `targets`, `retries`, `store`, `fleet`",
    ];
    assert_eq!(errs, expected);
}

#[test]
fn loopback_hosts_are_accepted() {
    for host in ["127.0.0.1", "127.1.2.3", "::1", "localhost"] {
        let device = format!(r#"{{"api": {{"host": "{host}"}}}}"#);
        let dir = dir_with(&[(MANIFEST, "{}"), (DEVICE, &device)]);
        assert_eq!(load_dir(dir.path()).unwrap().device.api.host, host);
    }
}

#[test]
fn arrays_are_not_accepted_where_objects_belong() {
    let manifest = r#"{"runners": [["a", "command", ["true"]],
  {"name": "b", "command": ["true"], "restart": []},
  {"name": "c", "command": ["true"], "restart": {"crash_loop": [5]}}]}"#;
    assert_eq!(
        manifest_errors(manifest),
        [
            "<dir>/runner_manifest.json:1:14: runners[0]: invalid type: sequence, expected an \
             object",
            "<dir>/runner_manifest.json:2:49: runners[1].restart: invalid type: sequence, \
             expected an object",
            "<dir>/runner_manifest.json:3:64: runners[2].restart.crash_loop: invalid type: \
             sequence, expected an object or null",
        ]
    );
    assert_eq!(
        manifest_errors("[]"),
        ["<dir>/runner_manifest.json:1:1: invalid type: sequence, expected an object"]
    );
}

#[test]
fn missing_required_field_points_at_the_runner() {
    let manifest = "{\"runners\": [\n  {\"command\": [\"true\"]}\n]}";
    assert_eq!(
        manifest_errors(manifest),
        ["<dir>/runner_manifest.json:2:3: runners[0]: missing field `name`"]
    );
}

#[test]
fn probe_errors_name_the_field_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("runner_manifest.json"),
        r#"{"runners": [{"name": "r", "command": ["true"], "probes": [
  {"name": "both", "tcp": {"address": "127.0.0.1:1"}, "process": {}},
  {"name": "re", "log": {"pattern": "error: (unclosed"}},
  {"name": "url", "http": {"url": "ftp://example.org/health"}},
  {"name": "cmd", "exec": {"command": ["qcity-no-such-probe-program"]}},
  {"name": "addr", "tcp": {"address": "localhost"}, "interval_ms": 5},
  {"name": "re", "process": {}}
]}, {"name": "plain", "command": ["true"], "job_started_hook": true}]}"#,
    )
    .unwrap();
    let errs = qcity_config::load_dir(dir.path()).unwrap_err().to_string();
    for want in [
        "runners[0].probes[0]: a probe needs exactly one of",
        "runners[0].probes[1].log.pattern: not a valid regular expression",
        "runners[0].probes[2].http.url: `ftp://example.org/health`: only http:// and https:// URLs",
        "runners[0].probes[3].exec.command[0]: program `qcity-no-such-probe-program` not found",
        "runners[0].probes[4].tcp.address: `localhost`: expected host:port",
        "runners[0].probes[4].interval_ms: must be at least 100",
        "runners[0].probes[5].name: duplicate probe name `re`",
        "runners[1].job_started_hook: only a `github` runner has a job-started hook",
    ] {
        assert!(errs.contains(want), "missing {want:?} in:\n{errs}");
    }
    assert!(errs.contains("runner_manifest.json:3:"), "{errs}");
}

#[test]
fn an_http_probe_ca_file_must_be_readable_pem_and_go_with_https() {
    let manifest = r#"{"runners": [{"name": "r", "command": ["true"], "probes": [
  {"name": "ok", "http": {"url": "https://127.0.0.1:8443/", "ca_file": "ca.pem"}},
  {"name": "missing", "http": {"url": "https://127.0.0.1/", "ca_file": "no-such.pem"}},
  {"name": "text", "http": {"url": "https://127.0.0.1/", "ca_file": "notes.txt"}},
  {"name": "broken", "http": {"url": "https://127.0.0.1/", "ca_file": "broken.pem"}},
  {"name": "plain", "http": {"url": "http://127.0.0.1/", "ca_file": "ca.pem"}}
]}]}"#;
    // The config check reads PEM blocks; the engine parses the certificates themselves.
    let ca = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let broken = "-----BEGIN CERTIFICATE-----\nno base64 here!\n-----END CERTIFICATE-----\n";
    let errs = errors(&[
        (MANIFEST, manifest),
        ("ca.pem", ca),
        ("notes.txt", "not a certificate\n"),
        ("broken.pem", broken),
    ]);
    assert_eq!(errs.len(), 4, "{errs:#?}");
    let want = [
        "<dir>/runner_manifest.json:3:72: runners[0].probes[1].http.ca_file: cannot read `<dir>/no-such.pem`: ",
        "<dir>/runner_manifest.json:4:69: runners[0].probes[2].http.ca_file: `<dir>/notes.txt` holds no CERTIFICATE block",
        "<dir>/runner_manifest.json:5:71: runners[0].probes[3].http.ca_file: `<dir>/broken.pem` is not a PEM file: ",
        "<dir>/runner_manifest.json:6:69: runners[0].probes[4].http.ca_file: `ca.pem`: a CA file only applies to an https:// URL",
    ];
    for (got, want) in errs.iter().zip(want) {
        assert!(got.starts_with(want), "{got:?} should start with {want:?}");
    }
}

#[test]
fn task_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("runner_manifest.json"),
        r#"{"tasks": [
  {"name": "ok", "command": ["true"], "schedule": {"cron": "0 3 * * *"}, "autotest": true},
  {"name": "bad", "command": ["true"], "schedule": {"cron": "0 25 * * *"}},
  {"name": "both", "command": ["true"], "schedule": {"cron": "* * * * *", "every_ms": 5000}},
  {"name": "ok", "command": []}
]}"#,
    )
    .unwrap();
    let errs = qcity_config::load_dir(dir.path()).unwrap_err().to_string();
    for want in [
        "tasks[1].schedule.cron: not a cron expression: hour `25`: number out of bounds (allowed: 0-23)",
        "tasks[2].schedule: give exactly one of `every_ms` and `cron`",
        "tasks[3].name: duplicate task name `ok`",
        "tasks[3].command: command is empty",
    ] {
        assert!(errs.contains(want), "missing {want:?} in:\n{errs}");
    }
}

#[test]
fn cron_time_zones_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("runner_manifest.json"),
        r#"{"tasks": [
  {"name": "berlin", "command": ["true"], "schedule": {"cron": "0 3 * * MON-FRI", "timezone": "Europe/Berlin"}},
  {"name": "typo", "command": ["true"], "schedule": {"cron": "@daily", "timezone": "Europe/Berln"}},
  {"name": "nowhere", "command": ["true"], "schedule": {"cron": "0 3 * * *", "timezone": "Mars/Olympus"}},
  {"name": "period", "command": ["true"], "schedule": {"every_ms": 60000, "timezone": "UTC"}},
  {"name": "seconds", "command": ["true"], "schedule": {"cron": "0 0 3 * * *", "timezone": "UTC"}},
  {"name": "names", "command": ["true"], "schedule": {"cron": "0 3 * MON *"}}
]}"#,
    )
    .unwrap();
    let errs = qcity_config::load_dir(dir.path()).unwrap_err().to_string();
    for want in [
        "tasks[1].schedule.timezone: unknown time zone `Europe/Berln` (did you mean `Europe/Berlin`?)",
        "tasks[2].schedule.timezone: unknown time zone `Mars/Olympus`: expected an IANA name",
        "tasks[3].schedule.timezone: only applies to `cron`",
        "tasks[4].schedule.cron: not a cron expression: `0 0 3 * * *`: expected 5 fields \
         (minute hour day-of-month month day-of-week), found 6 (a seconds field is not supported)",
        "tasks[5].schedule.cron: not a cron expression: month `MON`: `MON` is not a month name",
    ] {
        assert!(errs.contains(want), "missing {want:?} in:\n{errs}");
    }
    assert!(!errs.contains("tasks[0]"), "{errs}");
    assert!(errs.contains("runner_manifest.json:3:"), "{errs}");
}

#[test]
fn cache_dirs_the_healer_would_delete_must_be_inside_the_working_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("runner_manifest.json"),
        r#"{"runners": [{"name": "r", "command": ["true"], "working_dir": "/srv/runner",
  "heal": {"cache_dirs": ["", "/", "..", "cache/../../etc", "/home/me", ".", "/srv/runner", "cache", "/srv/runner/tmp"],
           "rules": [{"name": "wipe", "match": {"text": "x"},
                      "actions": [{"clean": ["/"]}, {"clean": []}, {"clean": ["build"]}]}]}}]}"#,
    )
    .unwrap();
    let errs = qcity_config::load_dir(dir.path()).unwrap_err().to_string();
    for want in [
        "runners[0].heal.cache_dirs[0]: an empty path",
        "runners[0].heal.cache_dirs[1]: `/` is outside the runner's working dir",
        "runners[0].heal.cache_dirs[2]: `..`: `..` is not allowed",
        "runners[0].heal.cache_dirs[3]: `cache/../../etc`: `..` is not allowed",
        "runners[0].heal.cache_dirs[4]: `/home/me` is outside the runner's working dir",
        "runners[0].heal.cache_dirs[5]: `.` is the working dir (or the root) itself",
        "runners[0].heal.cache_dirs[6]: `/srv/runner` is the working dir (or the root) itself",
        "runners[0].heal.rules[0].actions[0].clean[0]: `/` is outside the runner's working dir",
        "runners[0].heal.rules[0].actions[1].clean: give at least one directory",
    ] {
        assert!(errs.contains(want), "missing {want:?} in:\n{errs}");
    }
    for fine in ["cache_dirs[7]", "cache_dirs[8]", "actions[2]"] {
        assert!(
            !errs.contains(fine),
            "{fine} is inside the working dir:\n{errs}"
        );
    }
}

#[test]
fn heal_environment_variables_are_checked_like_the_runners_own() {
    let manifest = r#"{"runners": [
  {"name": "r", "command": ["x"], "heal": {"low_memory_env": {"MAKEFLAGS=": "-j1"},
    "rules": [{"name": "less", "match": {"signals": [9]},
      "actions": [{"env": {"": "1"}}, {"wait_ms": 100}, "restart"]}]}}
]}"#;
    let errs = errors(&[(MANIFEST, manifest)]);
    assert_eq!(
        errs,
        [
            "<dir>/runner_manifest.json:2:63: runners[0].heal.low_memory_env[\"MAKEFLAGS=\"]: \
             environment variable name contains `=`",
            "<dir>/runner_manifest.json:4:28: runners[0].heal.rules[0].actions[0].env[\"\"]: \
             environment variable name is empty",
        ]
    );
}

/// A FIFO in a config file's place is refused at once (reading it waited for a writer), and
/// so is a directory (issue 16 #10).
#[test]
fn a_fifo_or_a_directory_as_a_config_file_is_refused_without_waiting() {
    let dir = dir_with(&[]);
    let fifo = dir.path().join(MANIFEST);
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::fs::create_dir(dir.path().join(DEVICE)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let path = dir.path().to_path_buf();
    std::thread::spawn(move || tx.send(load_dir(&path)).unwrap());
    let errs = rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("load_dir answers without waiting on the FIFO")
        .expect_err("rejected");
    let text = errs.to_string();
    assert!(
        text.contains("runner_manifest.json: not a regular file (a FIFO)"),
        "{text}"
    );
    assert!(
        text.contains("qcity-device-config.json: not a regular file (a directory)"),
        "{text}"
    );
}

/// Text that is not UTF-8 is named by line and column (issue 16 #10).
#[test]
fn invalid_utf8_names_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(MANIFEST),
        b"{\n  \"runners\": [\n    {\"name\": \"a\xff\"}]}\n",
    )
    .unwrap();
    let errs = load_dir(dir.path()).expect_err("rejected");
    let text = errs.to_string();
    assert!(
        text.contains("runner_manifest.json:3:16: not valid UTF-8 text"),
        "{text}"
    );
}

/// A public key that is not a minisign key is refused at load, not at the first install
/// (issue 16 #10).
#[test]
fn an_installer_public_key_that_is_not_a_minisign_key_is_refused() {
    let device = r#"{"installer": {"manifest": "qi/manifest.json", "public_key": "not a key"}}"#;
    let errs = errors(&[(MANIFEST, r#"{"runners": []}"#), (DEVICE, device)]);
    assert!(
        errs.iter()
            .any(|e| e.contains("installer.public_key: not a minisign public key")),
        "{errs:?}"
    );
}

#[test]
fn notification_channels_are_checked_and_a_literal_secret_is_a_warning() {
    let manifest = (MANIFEST, r#"{"runners": []}"#);
    let bad = r#"{"notifications": {
  "grouping": {"interval_seconds": 600, "repeat_seconds": 60},
  "channels": [
    {"name": "ops", "url": "slack://{keyring://ops slack}"},
    {"name": "ops", "url": "tgram://{keyring://bot}/42", "endpoint": "http://10.0.0.5:8080"},
    {"name": "mail", "url": "mailto://smtp.example.com/a@x.org?from=q@x.org",
     "quiet_hours": {"from": "22:00", "to": "7", "time_zone": "Europe/Pariss"}}
  ]}}"#;
    assert_eq!(
        errors(&[manifest, (DEVICE, bad)]),
        [
            "<dir>/qcity-device-config.json:2:59: notifications.grouping.repeat_seconds: must be at least interval_seconds and at most 604800 (a week)",
            "<dir>/qcity-device-config.json:4:28: notifications.channels[0].url: `ops slack` is not a valid secret name: use 1 to 64 letters, digits, `-`, `_` or `.`",
            "<dir>/qcity-device-config.json:5:14: notifications.channels[1].name: `ops` is given twice",
            "<dir>/qcity-device-config.json:5:70: notifications.channels[1].endpoint: plain http is allowed only on loopback; use https",
            "<dir>/qcity-device-config.json:7:45: notifications.channels[2].quiet_hours.to: `7` is not a time: write HH:MM",
            "<dir>/qcity-device-config.json:7:63: notifications.channels[2].quiet_hours.time_zone: unknown time zone `Europe/Pariss` (did you mean `Europe/Paris`?): expected an IANA name such as `Europe/Berlin` or `UTC`",
        ]
    );
    let literal = r#"{"notifications": {"channels": [
    {"name": "team", "url": "discord://1234/s3cr3t-token", "runners": ["build-*"], "kinds": ["escalation"]}
  ]}}"#;
    let dir = dir_with(&[manifest, (DEVICE, literal)]);
    let config = load_dir(dir.path()).expect("a literal secret works");
    let warnings: Vec<String> = config.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].ends_with("notifications.channels[0].url: the webhook token is written in the file: store it with `qcity secret set NAME` and write {keyring://NAME} in its place"),
        "{warnings:?}"
    );
    assert!(!warnings[0].contains("s3cr3t"));
    assert_eq!(config.device.notifications.channels[0].runners, ["build-*"]);
}
