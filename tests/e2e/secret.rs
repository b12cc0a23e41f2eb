//! `qcity secret set|rm` as a user runs them: the real binary against a real Secret Service
//! (gnome-keyring-daemon on a private bus, `qcity_secrets::testing`), checked with libsecret's
//! `secret-tool`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use qcity_secrets::testing::PrivateKeyring;

use crate::support::QCITY;

/// Runs `cmd` with `stdin` piped in.
fn run(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn set_and_rm_go_to_the_real_keyring() {
    let Some(keyring) = PrivateKeyring::start_or_skip() else {
        return;
    };
    let qcity = |args: &[&str]| {
        let mut c = keyring.command(QCITY);
        c.args(args);
        c
    };

    let out = run(qcity(&["secret", "set", "ci-token"]), b"s3cret\n");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ci-token: stored in the OS keyring (keyring://ci-token)\n"
    );
    assert!(!text(&out).contains("s3cret"), "the value is never printed");
    // One trailing newline dropped, nothing else.
    assert_eq!(keyring.lookup("ci-token").as_deref(), Some("s3cret"));

    let out = run(qcity(&["secret", "set", "pem"]), b"line 1\nline 2\n\n");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(keyring.lookup("pem").as_deref(), Some("line 1\nline 2\n"));

    let out = run(qcity(&["secret", "rm", "ci-token"]), b"");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(keyring.lookup("ci-token"), None);
    let out = run(qcity(&["secret", "rm", "ci-token"]), b"");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing removed"), "{}", text(&out));

    let out = run(qcity(&["secret", "set", "ci-token"]), b"\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).starts_with("qcity: the value for `ci-token` is empty"),
        "{}",
        text(&out)
    );
    assert_eq!(keyring.lookup("ci-token"), None);

    let out = run(qcity(&["secret", "set", "no/slash"]), b"x");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("not a valid secret name"),
        "{}",
        text(&out)
    );
}

/// No Secret Service (a bus no one listens on): exit 1, a message that says so, no value.
#[test]
fn without_a_keyring_set_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(QCITY);
    cmd.args(["secret", "set", "ci-token"]).env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}", dir.path().join("no-bus").display()),
    );
    let out = run(cmd, b"s3cret");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.starts_with("qcity: the OS keyring is not available (to store `ci-token`): "),
        "{said}"
    );
    assert!(!said.contains("s3cret"), "{said}");
}
