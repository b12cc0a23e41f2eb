//! Email through a real SMTP sink: aiosmtpd (Debian's `python3-aiosmtpd`) with its Mailbox
//! handler writing each message to a Maildir. Without aiosmtpd the tests print why and pass,
//! unless `QCITY_REQUIRE_SMTP=1` (CI) makes them fail.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qcity_notify::channels::{Delivery, EmailTarget, EmailTls, Secret, Target, http_client, send};
use qcity_types::Severity;

use crate::support::{assert_permanent_without, message};

const PYTHON: &str = "/usr/bin/python3";

/// A running aiosmtpd; killed when dropped.
struct Sink {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether aiosmtpd can run here; None (after saying why) when the test should skip.
fn aiosmtpd_available() -> Option<()> {
    let found = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(());
    }
    if std::env::var("QCITY_REQUIRE_SMTP").as_deref() == Ok("1") {
        panic!("QCITY_REQUIRE_SMTP=1 but aiosmtpd is missing: apt-get install python3-aiosmtpd");
    }
    println!("skipped: aiosmtpd is missing (apt-get install python3-aiosmtpd)");
    None
}

/// Starts aiosmtpd on a free loopback port, with STARTTLS required when `tls` gives the
/// certificate and key.
fn start_sink(dir: &Path, tls: Option<(&Path, &Path)>) -> Sink {
    let port = crate::support::closed_port();
    let maildir = dir.join("maildir");
    let mut cmd = Command::new(PYTHON);
    cmd.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"]);
    if let Some((cert, key)) = tls {
        cmd.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
    }
    cmd.arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("start aiosmtpd");
    let mut sink = Sink {
        child,
        port,
        maildir,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = sink.child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut stderr) = sink.child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
            }
            panic!("aiosmtpd exited ({status}): {err}");
        }
        assert!(
            Instant::now() < deadline,
            "aiosmtpd did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    sink
}

/// The messages the sink stored, as text, once there is one (or after 5 s).
fn stored(sink: &Sink) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mails = stored_now(sink);
        if !mails.is_empty() || Instant::now() > deadline {
            return mails;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The messages the sink has stored so far. The sink stores a message before it answers
/// the end of DATA, so once `send` has returned there is nothing more to wait for.
fn stored_now(sink: &Sink) -> Vec<String> {
    let mut mails: Vec<String> = std::fs::read_dir(sink.maildir.join("new"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap())
        .collect();
    mails.sort();
    mails
}

fn target(port: u16, tls: EmailTls, ca_file: Option<PathBuf>) -> Target {
    Target::Email(EmailTarget {
        host: "127.0.0.1".into(),
        port,
        tls,
        ca_file,
        user: None,
        password: None,
        from: "QCity <qcity@ci.example>".into(),
        to: vec![
            "ops@example.com".into(),
            "Dev Team <dev@example.com>".into(),
        ],
    })
}

/// A CA and a certificate for 127.0.0.1 it signed (webpki refuses a CA certificate as the
/// server's own), made with openssl: (ca, cert, key).
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=QCity test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}

#[tokio::test]
async fn email_reaches_every_recipient_with_subject_body_and_link() {
    if aiosmtpd_available().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = start_sink(dir.path(), None);
    let msg = message(
        Severity::Critical,
        "build-1 failed",
        "exit 1 after 3 retries",
    );
    let delivery = send(
        &http_client(),
        &target(sink.port, EmailTls::Plain, None),
        &msg,
    )
    .await;
    assert_eq!(delivery, Delivery::Sent);
    let mails = stored(&sink);
    assert_eq!(mails.len(), 1, "one message for all recipients");
    let mail = &mails[0];
    assert!(mail.contains("From: QCity <qcity@ci.example>"), "{mail}");
    let to = mail
        .lines()
        .find(|l| l.starts_with("To: "))
        .expect("a To header");
    assert!(
        to.contains("ops@example.com") && to.contains("Dev Team"),
        "{to}"
    );
    assert!(to.contains("<dev@example.com>"), "{to}");
    assert!(
        mail.contains("X-RcptTo: ops@example.com, dev@example.com"),
        "{mail}"
    );
    assert!(
        mail.contains("Subject: [CRITICAL] build-1 failed"),
        "{mail}"
    );
    assert!(mail.contains("Content-Type: text/plain"), "{mail}");
    assert!(mail.contains("exit 1 after 3 retries"), "{mail}");
    assert!(
        mail.contains("https://qcity.local/runners/build-1?tab=log&n=2"),
        "{mail}"
    );
}

#[tokio::test]
async fn email_over_required_starttls_trusts_the_ca_file() {
    if aiosmtpd_available().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certificates(dir.path());
    let sink = start_sink(dir.path(), Some((&cert, &key)));
    let msg = message(Severity::Error, "over TLS", "body");

    // Without the CA the relay's certificate is refused, for good and with a hint.
    let delivery = send(
        &http_client(),
        &target(sink.port, EmailTls::Starttls, None),
        &msg,
    )
    .await;
    assert_permanent_without(&delivery, &[]);
    assert!(
        crate::support::error_of(&delivery).contains("ca_file"),
        "{delivery:?}"
    );

    let delivery = send(
        &http_client(),
        &target(sink.port, EmailTls::Starttls, Some(ca)),
        &msg,
    )
    .await;
    assert_eq!(delivery, Delivery::Sent);
    let mails = stored(&sink);
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("Subject: [ERROR] over TLS"),
        "{}",
        mails[0]
    );
}

#[tokio::test]
async fn email_starttls_is_required_not_hoped_for() {
    if aiosmtpd_available().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = start_sink(dir.path(), None); // offers no STARTTLS
    let msg = message(Severity::Error, "x", "y");
    let delivery = send(
        &http_client(),
        &target(sink.port, EmailTls::Starttls, None),
        &msg,
    )
    .await;
    assert_permanent_without(&delivery, &[]);
    assert!(stored_now(&sink).is_empty(), "nothing sent in the clear");
}

#[tokio::test]
async fn email_plain_smtp_is_refused_off_loopback_and_the_password_never_shows() {
    let mut email = match target(25, EmailTls::Plain, None) {
        Target::Email(email) => email,
        _ => unreachable!(),
    };
    email.host = "smtp.example.com".into();
    email.user = Some("qcity".into());
    email.password = Some(Secret("smtp-password-hunter2".into()));
    let msg = message(Severity::Error, "x", "y");
    let delivery = send(&http_client(), &Target::Email(email), &msg).await;
    assert_permanent_without(&delivery, &["smtp-password-hunter2"]);
    assert!(crate::support::error_of(&delivery).contains("loopback"));
}

#[tokio::test]
async fn email_relay_down_is_a_retry() {
    let port = crate::support::closed_port();
    let msg = message(Severity::Error, "x", "y");
    let delivery = send(&http_client(), &target(port, EmailTls::Plain, None), &msg).await;
    assert!(
        matches!(delivery, Delivery::Retry { after: None, .. }),
        "{delivery:?}"
    );
}
