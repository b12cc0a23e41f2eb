//! The GitHub Actions executor against a GitHub REST double on loopback
//! (`github_double/`): what a user of `qcity job run` on a GitHub target sees.

mod github_double;

use std::path::PathBuf;
use std::time::Duration;

use github_double::{ArtifactPlan, Double, Plan, TOKEN, zip_of};
use qcity_offload::exec::{ExecError, Log, Ran, Work};
use qcity_offload::github::{self, Token};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

const BUILD_LINE: &str = "Compiled qcity-offload-demo v1.2.3 in 4.2s";

/// A job's directories and log in a temp dir.
struct Setup {
    _tmp: tempfile::TempDir,
    work: Work,
    cancel: watch::Sender<bool>,
}

fn setup(artifacts: &[&str]) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("job");
    let staging = tmp.path().join("staging");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&staging).unwrap();
    let job = serde_json::from_value(serde_json::json!({
        "name": "build",
        "command": ["make", "dist", "NAME=two words"],
        "artifacts": artifacts,
        "timeout_ms": 120_000,
    }))
    .unwrap();
    let (cancel, rx) = watch::channel(false);
    let work = Work {
        id: "JOB-20261206-abc123".into(),
        job,
        dir,
        staging,
        config_dir: tmp.path().to_path_buf(),
        log: Log::open(tmp.path().join("job.log")).unwrap(),
        cancel: rx,
    };
    Setup {
        _tmp: tmp,
        work,
        cancel,
    }
}

fn target(d: &Double, workflow: &str) -> qcity_config::GithubTarget {
    serde_json::from_value(serde_json::json!({
        "repo": github_double::OWNER_REPO,
        "workflow": workflow,
        "api_url": d.api,
        "token": "env://QCITY_TEST_UNUSED",
        "poll_seconds": 1,
    }))
    .unwrap()
}

fn log_text(work: &Work) -> String {
    std::fs::read_to_string(work.log.path()).unwrap()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Files in `dir`, recursively, relative.
fn files_in(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

const APP: &[u8] = b"\x7fELF pretend binary \x00\x01\x02";
const README: &[u8] = b"how to run the app\n";

/// A run that is queued for a poll, runs for one, succeeds, logs `BUILD_LINE` and uploads
/// one artifact with two files the job wants and one it does not.
fn good_plan() -> Plan {
    Plan {
        queued_polls: 1,
        running_polls: 1,
        conclusion: "success".into(),
        log_zip: zip_of(&[
            (
                "0_build.txt",
                format!("2026-12-06T04:00:00Z make dist\n2026-12-06T04:00:04Z {BUILD_LINE}\n")
                    .as_bytes(),
            ),
            (
                "build/1_Set up job.txt",
                b"2026-12-06T04:00:00Z Current runner version: '2.330.0'\n",
            ),
        ]),
        artifacts: vec![ArtifactPlan::new(
            "dist",
            zip_of(&[
                ("dist/app.bin", APP),
                ("dist/docs/README.txt", README),
                ("notes.log", b"not an artifact of the job"),
            ]),
        )],
    }
}

async fn run(d: &Double, s: &Setup, workflow: &str, token: &str) -> Result<Ran, ExecError> {
    let t = target(d, workflow);
    // A safety limit only: every test ends in a few seconds.
    tokio::time::timeout(
        Duration::from_secs(90),
        github::run("gh", &t, &Token::new(token), &s.work),
    )
    .await
    .expect("the attempt ended")
}

/// The artifacts came back with the SHA-256 of their bytes, only those the globs match, and
/// `place` moves them into the job's directory.
fn assert_artifacts_placed(s: &Setup, ran: &Ran) {
    let got: Vec<(String, String, u64)> = ran
        .artifacts
        .iter()
        .map(|c| (c.path.display().to_string(), c.sha256.clone(), c.bytes))
        .collect();
    assert_eq!(
        got,
        vec![
            ("dist/app.bin".into(), sha(APP), APP.len() as u64),
            (
                "dist/docs/README.txt".into(),
                sha(README),
                README.len() as u64
            ),
        ]
    );
    assert!(
        !s.work.staging.join("notes.log").exists(),
        "only the job's globs are kept"
    );
    let placed =
        qcity_offload::artifacts::place(&s.work.staging, &s.work.dir, &ran.artifacts).unwrap();
    assert_eq!(placed.len(), 2);
    assert_eq!(std::fs::read(s.work.dir.join("dist/app.bin")).unwrap(), APP);
    assert_eq!(
        std::fs::read(s.work.dir.join("dist/docs/README.txt")).unwrap(),
        README
    );
}

#[tokio::test]
async fn a_dispatched_run_is_followed_to_success_with_its_logs_and_artifacts() {
    let d = Double::start(good_plan()).await;
    let s = setup(&["dist/**"]);
    let ran = run(&d, &s, "offload.yml", TOKEN).await.unwrap();
    assert!(ran.success(), "{ran:?}");
    let log = log_text(&s.work);
    assert!(
        log.contains(BUILD_LINE),
        "the run's log is in the job's log:\n{log}"
    );
    assert!(log.contains("== 0_build.txt =="), "{log}");
    assert!(log.contains("in_progress"), "{log}");
    assert_artifacts_placed(&s, &ran);
    d.with(|w| {
        // The workflow got the job: its run named after the correlation id, the argv intact.
        let r = &w.runs[0];
        assert_eq!(r.title, s.work.id);
        assert_eq!(r.inputs["job"], "build");
        let argv: Vec<String> =
            serde_json::from_str(r.inputs["command"].as_str().unwrap()).unwrap();
        assert_eq!(argv, ["make", "dist", "NAME=two words"]);
        // The run id came with the dispatch: no listing was needed.
        assert!(
            !w.requests
                .iter()
                .any(|r| r.ends_with("/runs") && r.starts_with("GET"))
        );
        assert_eq!(w.blob_auth, 0, "the token was not sent to the blob host");
    });
}

#[tokio::test]
async fn a_failed_run_is_code_1_with_its_log_and_no_artifacts() {
    let d = Double::start(Plan {
        conclusion: "failure".into(),
        ..good_plan()
    })
    .await;
    let s = setup(&["dist/**"]);
    let ran = run(&d, &s, "offload.yml", TOKEN).await.unwrap();
    assert_eq!(ran.code, Some(1));
    assert!(ran.artifacts.is_empty());
    let log = log_text(&s.work);
    assert!(log.contains("concluded failure"), "{log}");
    assert!(log.contains(BUILD_LINE), "{log}");
}

#[tokio::test]
async fn without_run_details_the_run_is_found_by_its_name_on_a_later_page() {
    let d = Double::start(good_plan()).await;
    d.with(|w| {
        w.run_details = false;
        // A full page of other dispatches ahead of ours, and ours not listed at first.
        w.fillers = 100;
        w.hidden_listings = 1;
    });
    let s = setup(&["dist/**"]);
    let ran = run(&d, &s, "offload.yml", TOKEN).await.unwrap();
    assert!(ran.success(), "{ran:?}");
    assert!(log_text(&s.work).contains(BUILD_LINE));
    assert_artifacts_placed(&s, &ran);
    d.with(|w| {
        let followed = w
            .requests
            .iter()
            .any(|r| r.starts_with("GET /repositories/1300192/actions/workflows/offload.yml/runs"));
        assert!(
            followed,
            "the link header's next page was read: {:?}",
            w.requests
        );
    });
}

#[tokio::test]
async fn an_older_server_that_rejects_run_details_is_dispatched_again_without() {
    let d = Double::start(good_plan()).await;
    d.with(|w| w.rejects_run_details = true);
    let s = setup(&["dist/**"]);
    let ran = run(&d, &s, "offload.yml", TOKEN).await.unwrap();
    assert!(ran.success(), "{ran:?}");
    d.with(|w| assert_eq!(w.runs.len(), 1, "one run started"));
}

#[tokio::test]
async fn github_refusals_say_what_github_said() {
    let d = Double::start(good_plan()).await;
    let s = setup(&[]);
    let wrong = "ghp_wrongWRONGwrong0000";
    let e = run(&d, &s, "offload.yml", wrong).await.unwrap_err();
    assert!(
        matches!(e, ExecError::Refused(_)) && e.fails_over(),
        "{e:?}"
    );
    assert!(e.to_string().contains("Bad credentials"), "{e}");
    assert!(!e.to_string().contains(wrong) && !format!("{e:?}").contains(wrong));

    let e = run(&d, &s, "missing.yml", TOKEN).await.unwrap_err();
    assert!(matches!(e, ExecError::Refused(_)), "{e:?}");
    assert!(
        e.to_string().contains("Not Found") && e.to_string().contains("missing.yml"),
        "{e}"
    );

    let e = run(&d, &s, "push-only.yml", TOKEN).await.unwrap_err();
    assert!(matches!(e, ExecError::Refused(_)), "{e:?}");
    assert!(
        e.to_string()
            .contains("Workflow does not have 'workflow_dispatch' trigger"),
        "{e}"
    );
    d.with(|w| assert!(w.runs.is_empty()));
}

#[tokio::test]
async fn an_unreachable_api_is_unreachable() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = setup(&[]);
    let t: qcity_config::GithubTarget = serde_json::from_value(serde_json::json!({
        "repo": "acme/app", "workflow": "offload.yml", "api_url": format!("http://127.0.0.1:{port}"),
    }))
    .unwrap();
    let e = github::run("gh", &t, &Token::new(TOKEN), &s.work)
        .await
        .unwrap_err();
    assert!(matches!(e, ExecError::Unreachable(_)), "{e:?}");
}

#[tokio::test]
async fn a_rate_limited_dispatch_waits_and_succeeds() {
    let d = Double::start(good_plan()).await;
    d.with(|w| w.limit_once = Some(("/dispatches", 429)));
    let s = setup(&["dist/**"]);
    let ran = run(&d, &s, "offload.yml", TOKEN).await.unwrap();
    assert!(ran.success(), "{ran:?}");
    let log = log_text(&s.work);
    assert!(
        log.contains("rate limited (429)") && log.contains("waiting 1 s"),
        "{log}"
    );
    d.with(|w| {
        let dispatches = w
            .requests
            .iter()
            .filter(|r| r.ends_with("/dispatches"))
            .count();
        assert_eq!(dispatches, 2);
        assert_eq!(w.runs.len(), 1);
    });
}

#[tokio::test]
async fn a_rate_limited_403_on_a_poll_is_waited_out_too() {
    let d = Double::start(good_plan()).await;
    // The run's own URL ends with its id; the first run is 5001.
    d.with(|w| w.limit_once = Some(("/actions/runs/5001", 403)));
    let s = setup(&["dist/**"]);
    let ran = run(&d, &s, "offload.yml", TOKEN).await.unwrap();
    assert!(ran.success(), "{ran:?}");
    assert!(log_text(&s.work).contains("rate limited (403)"));
}

#[tokio::test]
async fn a_cancelled_job_cancels_its_run() {
    let d = Double::start(Plan {
        running_polls: u32::MAX,
        ..good_plan()
    })
    .await;
    let s = setup(&["dist/**"]);
    let t = target(&d, "offload.yml");
    let token = Token::new(TOKEN);
    let attempt = github::run("gh", &t, &token, &s.work);
    let cancel_when_running = async {
        // Wait (bounded) until the run is in progress on the double, then cancel.
        for _ in 0..600 {
            if d.with(|w| w.runs.first().is_some_and(|r| r.status == "in_progress")) {
                s.cancel.send(true).unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the run never started");
    };
    let (ran, ()) = tokio::time::timeout(Duration::from_secs(90), async {
        tokio::join!(attempt, cancel_when_running)
    })
    .await
    .unwrap();
    let ran = ran.unwrap();
    assert!(ran.cancelled && !ran.success(), "{ran:?}");
    assert!(ran.artifacts.is_empty());
    d.with(|w| {
        assert!(
            w.requests
                .contains(&"POST /repos/acme/app/actions/runs/5001/cancel".to_string())
        );
        assert_eq!(w.runs[0].conclusion.as_deref(), Some("cancelled"));
    });
}

#[tokio::test]
async fn an_artifact_whose_digest_does_not_match_is_refused_and_nothing_unpacked() {
    let mut plan = good_plan();
    plan.artifacts[0].digest = Some(format!("sha256:{}", sha(b"what was uploaded")));
    let d = Double::start(plan).await;
    let s = setup(&["dist/**"]);
    let e = run(&d, &s, "offload.yml", TOKEN).await.unwrap_err();
    assert!(matches!(e, ExecError::Job(_)), "{e:?}");
    assert!(
        e.to_string().contains("artifact dist") && e.to_string().contains("digest"),
        "{e}"
    );
    assert_eq!(files_in(&s.work.staging), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn an_expired_artifact_is_a_job_error() {
    let mut plan = good_plan();
    plan.artifacts[0].expired = true;
    let d = Double::start(plan).await;
    let s = setup(&["dist/**"]);
    let e = run(&d, &s, "offload.yml", TOKEN).await.unwrap_err();
    assert_eq!(e, ExecError::Job("artifact dist expired on GitHub".into()));
    assert!(!e.fails_over());
}

#[tokio::test]
async fn an_expired_log_url_is_asked_for_again() {
    let d = Double::start(good_plan()).await;
    d.with(|w| w.expire_first_log_url = true);
    let s = setup(&[]);
    let ran = run(&d, &s, "offload.yml", TOKEN).await.unwrap();
    assert!(ran.success(), "{ran:?}");
    let log = log_text(&s.work);
    assert!(log.contains(BUILD_LINE), "{log}");
    assert!(log.contains("had expired"), "{log}");
    d.with(|w| {
        let asked = w.requests.iter().filter(|r| r.ends_with("/logs")).count();
        assert_eq!(asked, 2, "a fresh Location was asked for once");
    });
}

#[tokio::test]
async fn the_token_never_reaches_the_log_or_an_error() {
    let d = Double::start(good_plan()).await;
    // A rate limit and an expired URL on the way: every note the executor writes.
    d.with(|w| {
        w.limit_once = Some(("/dispatches", 403));
        w.expire_first_log_url = true;
    });
    let s = setup(&["dist/**"]);
    let ran = run(&d, &s, "offload.yml", TOKEN).await.unwrap();
    assert!(ran.success(), "{ran:?}");
    let errors = [
        run(&d, &s, "missing.yml", TOKEN).await.unwrap_err(),
        run(&d, &s, "push-only.yml", TOKEN).await.unwrap_err(),
    ];
    let log = log_text(&s.work);
    assert!(log.contains(BUILD_LINE), "the log was written: {log}");
    assert!(!log.contains(TOKEN), "the token is in the job's log");
    for e in &errors {
        assert!(!e.to_string().contains(TOKEN) && !format!("{e:?}").contains(TOKEN));
    }
}
