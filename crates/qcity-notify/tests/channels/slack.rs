//! Slack's incoming webhook: `POST` JSON to `/services/T/B/X`; `200 ok`, plain-text error
//! codes, `429` with `Retry-After`.

use std::time::Duration;

use qcity_notify::channels::{Delivery, Secret, Target, http_client, send};
use qcity_types::Severity;

use crate::support::{
    FakeService, Reply, Request, assert_no_secret, assert_permanent_without, message,
};

const PATH: &str = "/services/T0QCITY01/B0QCITY02/s3cretWebhookTokenXYZ1234";
const TOKEN: &str = "s3cretWebhookTokenXYZ1234";

#[derive(Clone, Copy)]
enum Mode {
    Accept,
    RateLimited,
}

/// Slack's side of the contract.
fn slack(mode: Mode) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
    move |req| {
        if req.path != PATH {
            return Reply::text(403, "invalid_token");
        }
        if req.method != "POST" || !req.is_json() {
            return Reply::text(400, "invalid_payload");
        }
        let Some(body) = req.json() else {
            return Reply::text(400, "invalid_payload");
        };
        if body["text"].as_str().is_none_or(str::is_empty) {
            return Reply::text(400, "no_text");
        }
        for block in body["blocks"].as_array().into_iter().flatten() {
            let text = block["text"]["text"].as_str().unwrap_or_default();
            if block["type"] != "section" || text.chars().count() > 3000 {
                return Reply::text(400, "invalid_blocks");
            }
        }
        match mode {
            Mode::Accept => Reply::text(200, "ok"),
            Mode::RateLimited => Reply::text(429, "rate_limited").header("retry-after", 7),
        }
    }
}

fn target(base: &str, path: &str) -> Target {
    Target::Slack {
        webhook: Secret(format!("{base}{path}")),
    }
}

fn section_text(req: &Request) -> String {
    req.json().unwrap()["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn slack_posts_title_body_and_link() {
    let slack = FakeService::start(slack(Mode::Accept)).await;
    let msg = message(
        Severity::Critical,
        "build-1 failed",
        "exit 1 <after> 3 retries & more",
    );
    let delivery = send(&http_client(), &target(&slack.base, PATH), &msg).await;
    assert_eq!(delivery, Delivery::Sent);
    let req = slack.one_request();
    let body = req.json().unwrap();
    assert_eq!(body["text"], "🚨 CRITICAL: build-1 failed");
    let text = section_text(&req);
    assert!(
        text.starts_with("*🚨 CRITICAL: build-1 failed*\n"),
        "{text}"
    );
    // Slack's control characters are escaped, the link is Slack's link syntax.
    assert!(
        text.contains("exit 1 &lt;after&gt; 3 retries &amp; more"),
        "{text}"
    );
    assert!(
        text.ends_with("<https://qcity.local/runners/build-1?tab=log&amp;n=2|Open in QCity>"),
        "{text}"
    );
    assert!(req.header("user-agent").unwrap().starts_with("qcity/"));
}

#[tokio::test]
async fn slack_cuts_a_long_body_to_the_section_limit() {
    let slack = FakeService::start(slack(Mode::Accept)).await;
    let msg = message(Severity::Error, "noisy", &"é<".repeat(4000));
    let delivery = send(&http_client(), &target(&slack.base, PATH), &msg).await;
    assert_eq!(delivery, Delivery::Sent);
    let text = section_text(&slack.one_request());
    assert!(text.chars().count() <= 3000);
    assert!(
        text.contains("…\n<https://qcity.local/"),
        "cut body, then the link"
    );
}

#[tokio::test]
async fn slack_429_waits_as_retry_after_says() {
    let slack = FakeService::start(slack(Mode::RateLimited)).await;
    let msg = message(Severity::Info, "hello", "");
    let delivery = send(&http_client(), &target(&slack.base, PATH), &msg).await;
    assert!(
        matches!(delivery, Delivery::Retry { after: Some(d), .. } if d == Duration::from_secs(7)),
        "{delivery:?}"
    );
    assert_no_secret(&delivery, &[TOKEN]);
}

#[tokio::test]
async fn slack_revoked_webhook_is_permanent_without_the_token() {
    let slack = FakeService::start(slack(Mode::Accept)).await;
    let msg = message(Severity::Error, "x", "y");
    let revoked = "/services/T0QCITY01/B0QCITY02/revokedTokenABCDEFGH";
    let delivery = send(&http_client(), &target(&slack.base, revoked), &msg).await;
    assert_permanent_without(&delivery, &["revokedTokenABCDEFGH"]);
    assert!(
        delivery_error_contains(&delivery, "invalid_token"),
        "{delivery:?}"
    );
}

#[tokio::test]
async fn slack_unreachable_is_a_retry_without_the_token() {
    let port = crate::support::closed_port();
    let msg = message(Severity::Error, "x", "y");
    let delivery = send(
        &http_client(),
        &target(&format!("http://127.0.0.1:{port}"), PATH),
        &msg,
    )
    .await;
    assert!(
        matches!(delivery, Delivery::Retry { after: None, .. }),
        "{delivery:?}"
    );
    assert_no_secret(&delivery, &[TOKEN, PATH]);
}

fn delivery_error_contains(delivery: &Delivery, text: &str) -> bool {
    crate::support::error_of(delivery).contains(text)
}
