//! The CLI on its own: help, exit codes, config errors, no daemon.

use std::process::Command;

use crate::support::{QCITY, text, write};

fn qcity(args: &[&str]) -> std::process::Output {
    Command::new(QCITY).args(args).output().unwrap()
}

#[test]
fn every_command_has_help_with_the_exit_codes() {
    let commands: &[&[&str]] = &[
        &[],
        &["up"],
        &["status"],
        &["start"],
        &["stop"],
        &["restart"],
        &["logs"],
        &["reload"],
        &["config", "check"],
        &["audit", "verify"],
        &["audit", "tail"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = qcity(&args);
        let help = text(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(help.contains("Usage: qcity"), "{args:?}: {help}");
        assert!(help.contains("3 no daemon running"), "{args:?}: {help}");
    }
    let out = qcity(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "a usage error exits 2");
}

#[test]
fn commands_without_a_daemon_say_so_and_exit_3() {
    let data = tempfile::tempdir().unwrap();
    let data = data.path().to_str().unwrap();
    for args in [
        vec!["status"],
        vec!["stop", "anything"],
        vec!["logs", "anything", "--follow"],
        vec!["reload"],
    ] {
        let mut args = args.clone();
        args.extend(["--data-dir", data]);
        let out = qcity(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("no qcity daemon is running"), "{err}");
    }
    let out = qcity(&["audit", "verify", "--data-dir", data]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no QCity data at"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn config_check_names_file_line_column_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().to_str().unwrap();
    let manifest = dir.path().join("runner_manifest.json");
    write(
        &manifest,
        r#"{"runners": [{"name": "a", "command": ["true"]}, {"name": "b", "command": ["true"]}]}"#,
    );
    let out = qcity(&["config", "check", "--config", conf]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("OK (2 runner(s))"));

    write(
        &manifest,
        "{\"runners\": [\n  {\"name\": \"a\", \"command\": [\"true\"]},\n  {\"name\": \"b\", \"command\": [\"true\"],\n   \"restart\": {\"delay_ms\": \"soon\"}},\n  {\"name\": \"c\", \"comand\": [\"true\"]}\n]}",
    );
    let out = qcity(&["config", "check", "--config", conf]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("runner_manifest.json:4:") && err.contains("runners[1].restart.delay_ms"),
        "{err}"
    );
    assert!(err.contains("did you mean `command`"), "{err}");

    // `up` refuses the same config before starting anything.
    let data = dir.path().join("data");
    let out = qcity(&["up", "--config", conf, "--data-dir", data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(!data.join("daemon.json").exists());
}

#[test]
fn logs_without_a_daemon_read_the_files_on_disk_and_a_pipe_gets_no_colour_codes() {
    use crate::support::{Daemon, wait_until};
    let mut d = Daemon::start(
        r#"{"runners": [{"name": "tint", "command": ["sh", "-c", "printf '\\033[32mgreen\\033[0m ok\\n'; printf 'line two\\n'; sleep 1000"]}]}"#,
    );
    // Through the daemon: the pipe (this test's) gets the words without the codes.
    let said = wait_until("both lines", || {
        let t = text(&d.qcity(&["logs", "tint"]).stdout);
        t.contains("line two").then_some(t)
    });
    assert_eq!(said, "green ok\nline two\n");
    d.signal(libc::SIGTERM);
    d.wait_exit();

    let data = d.data();
    let out = qcity(&[
        "logs",
        "tint",
        "-n",
        "1",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "line two\n");
    assert!(
        text(&out.stderr).contains("the qcity daemon is not running: from the log files"),
        "{}",
        text(&out.stderr)
    );
    let out = qcity(&["logs", "tint", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(text(&out.stdout), "green ok\nline two\n");
    let out = qcity(&["logs", "ghost", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("no log of a runner `ghost`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bash_completion_loads_and_completes_commands_and_runner_names() {
    use crate::support::Daemon;
    let d = Daemon::start(
        r#"{"runners": [{"name": "alpha", "command": ["sleep", "1000"]}, {"name": "alto", "command": ["sleep", "1000"]}, {"name": "beta", "command": ["sleep", "1000"]}]}"#,
    );
    let script = qcity(&["completions", "bash"]);
    assert!(script.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("qcity.bash");
    std::fs::write(&file, &script.stdout).unwrap();
    let bin_dir = std::path::Path::new(QCITY).parent().unwrap();
    // What bash does on TAB: set COMP_WORDS/COMP_CWORD and call the function `complete` names.
    let complete = |words: &str| -> String {
        let line = format!(
            "source {f}; fn=$(complete -p qcity | sed -E 's/.*-F ([^ ]+).*/\\1/'); \
             COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE=\"{words}\"; COMP_POINT=${{#COMP_LINE}}; \
             $fn qcity \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            f = file.display()
        );
        let out = Command::new("bash")
            .args(["-c", &line])
            .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
            .env("QCITY_DATA_DIR", d.data())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let names = complete("qcity stop al");
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        ["alpha", "alto"],
        "{names}"
    );
    let names = complete("qcity logs ''");
    assert_eq!(names.lines().count(), 3, "{names}");
    let commands = complete("qcity sta");
    let commands: Vec<&str> = commands.lines().collect();
    assert!(
        commands.contains(&"status") && commands.contains(&"start"),
        "{commands:?}"
    );
    assert!(!commands.contains(&"alpha"), "{commands:?}");
    for shell in ["zsh", "fish"] {
        let out = qcity(&["completions", shell]);
        assert!(out.status.success() && out.stdout.len() > 1000, "{shell}");
    }
}

#[test]
fn status_fits_the_terminal_width_and_a_pipe_gets_every_character() {
    use crate::support::{Daemon, wait_until};
    let d = Daemon::start(
        r#"{"runners": [{"name": "nightly-build-runner", "command": ["/nonexistent/qcity-a-program-that-is-not-there-at-all"]}, {"name": "ok", "command": ["sleep", "1000"]}]}"#,
    );
    let full = wait_until("the failed spawn in the table", || {
        let t = text(&d.qcity(&["status"]).stdout);
        t.contains("qcity-a-program-that-is-not-there-at-all")
            .then_some(t)
    });
    assert!(full.lines().any(|l| l.chars().count() > 80), "{full}");
    let narrow = d
        .qcity_command(&["status"])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let narrow = text(&narrow.stdout);
    for line in narrow.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} chars: {line:?}",
            line.chars().count()
        );
    }
    assert!(narrow.contains("nightly-build-runner"), "{narrow}");
    assert!(narrow.contains('…'), "{narrow}");

    // On a terminal (a pty from util-linux's `script`) the state is in the engine's colour;
    // NO_COLOR turns it off.
    let on_a_tty = |no_colour: bool| {
        let line = format!("{QCITY} status --data-dir {}", d.data().display());
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]).env("COLUMNS", "100");
        if no_colour {
            cmd.env("NO_COLOR", "1");
        }
        text(&cmd.output().unwrap().stdout)
    };
    // The JSON: the runners with every field present (null, not missing), and the machine.
    let json: serde_json::Value =
        serde_json::from_slice(&d.qcity(&["status", "--json"]).stdout).unwrap();
    let ok = json["runners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "ok")
        .unwrap();
    for field in ["health", "activity"] {
        assert!(
            ok.get(field).is_some_and(serde_json::Value::is_null),
            "{field}: {ok}"
        );
    }
    assert_eq!(ok["probes"], serde_json::json!([]), "{ok}");
    assert!(json["machine"].is_object(), "{json}");

    let tty = on_a_tty(false);
    assert!(tty.contains("\x1b[32mrunning\x1b[0m"), "{tty:?}");
    assert!(!on_a_tty(true).contains('\x1b'), "NO_COLOR");
}

/// Every argument a command takes says what it is in `--help` (clap prints a bare `<NAME>`
/// when it has no doc comment).
#[test]
fn every_positional_argument_is_explained_in_help() {
    fn walk(path: &mut Vec<String>, bare: &mut Vec<String>, pages: &mut usize) {
        *pages += 1;
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = text(&qcity(&args).stdout);
        let mut in_args = false;
        for line in help.lines() {
            if line == "Arguments:" {
                in_args = true;
            } else if line.trim().is_empty() {
                in_args = false;
            } else if in_args && line.split_whitespace().count() == 1 {
                bare.push(format!("qcity {} {}", path.join(" "), line.trim()));
            }
        }
        let mut in_commands = false;
        for line in help.lines() {
            if line == "Commands:" {
                in_commands = true;
            } else if line.trim().is_empty() {
                in_commands = false;
            } else if in_commands && line.starts_with("  ") && !line.starts_with("   ") {
                let sub = line.split_whitespace().next().unwrap().to_string();
                if sub != "help" {
                    path.push(sub);
                    walk(path, bare, pages);
                    path.pop();
                }
            }
        }
    }
    let (mut bare, mut pages) = (Vec::new(), 0);
    walk(&mut Vec::new(), &mut bare, &mut pages);
    // Every command and subcommand was read (a change in clap's layout would read fewer).
    assert!(pages >= 45, "only {pages} help pages read");
    assert!(bare.is_empty(), "arguments without help: {bare:?}");
}

#[test]
fn the_man_pages_come_from_the_command_definitions() {
    let page = text(&qcity(&["manpage"]).stdout);
    assert!(
        page.contains(".TH qcity 1"),
        "{}",
        &page[..page.len().min(300)]
    );
    assert!(
        page.contains("completions") && page.contains("update"),
        "every command is listed"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = qcity(&["manpage", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = std::fs::read_to_string(dir.path().join("qcity-status.1")).unwrap();
    assert!(status.contains(".TH qcity-status 1"), "{status}");
    let tail = std::fs::read_to_string(dir.path().join("qcity-audit-tail.1")).unwrap();
    assert!(tail.contains("\\-\\-json"), "{tail}");
}
