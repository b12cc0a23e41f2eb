//! ntfy: `POST` the message to the topic's URL, with `Title`, `Priority`, `Tags`, `Click`
//! headers and `Authorization`; `429` when the visitor's bucket is empty.

use base64::Engine as _;
use qcity_notify::channels::{Delivery, NtfyAuth, Secret, Target, http_client, send};
use qcity_types::Severity;
use serde_json::json;

use crate::support::{
    FakeService, Reply, Request, assert_no_secret, assert_permanent_without, message,
};

const TOKEN: &str = "tk_ntfysecretaccesstoken0123456";
const TOPIC: &str = "/qcity-alerts";

#[derive(Clone, Copy)]
enum Mode {
    Accept,
    RateLimited,
}

fn ntfy_error(status: u16, code: u32, error: &str) -> Reply {
    Reply::json(
        status,
        json!({"code": code, "http": status, "error": error}),
    )
}

/// A header as ntfy reads it: RFC 2047 encoded words decoded.
fn decoded(req: &Request, name: &str) -> Option<String> {
    let raw = req.header(name)?;
    match raw
        .strip_prefix("=?UTF-8?B?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            String::from_utf8(bytes).ok()
        }
        None => Some(raw.to_owned()),
    }
}

/// ntfy's side of the contract.
fn ntfy(mode: Mode) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
    move |req| {
        if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return ntfy_error(401, 40101, "unauthorized");
        }
        if !(req.method == "POST" || req.method == "PUT") || req.path != TOPIC {
            return ntfy_error(404, 40401, "page not found");
        }
        let priority = req.header("priority").unwrap_or("3");
        let valid = [
            "1", "2", "3", "4", "5", "min", "low", "default", "high", "max", "urgent",
        ];
        if !valid.contains(&priority) {
            return ntfy_error(400, 40007, "invalid priority");
        }
        if req.body.len() > 4096 {
            return ntfy_error(413, 41301, "message too large");
        }
        if matches!(mode, Mode::RateLimited) {
            return ntfy_error(429, 42901, "limit reached: too many requests");
        }
        let message = String::from_utf8_lossy(&req.body);
        Reply::json(
            200,
            json!({"id": "sPs71M8A2T", "time": 1700000000, "event": "message",
                   "topic": "qcity-alerts", "message": message,
                   "title": decoded(req, "title"), "priority": priority}),
        )
    }
}

fn target(base: &str, token: &str) -> Target {
    Target::Ntfy {
        url: format!("{base}{TOPIC}"),
        auth: Some(NtfyAuth::Bearer(Secret(token.into()))),
    }
}

#[tokio::test]
async fn ntfy_publishes_with_title_priority_tags_and_click() {
    let ntfy = FakeService::start(ntfy(Mode::Accept)).await;
    let msg = message(
        Severity::Critical,
        "build-1 failed — again",
        "exit 1\nsee the log",
    );
    let delivery = send(&http_client(), &target(&ntfy.base, TOKEN), &msg).await;
    assert_eq!(delivery, Delivery::Sent);
    let req = ntfy.one_request();
    assert_eq!(&req.body[..], b"exit 1\nsee the log");
    assert_eq!(decoded(&req, "title").unwrap(), "build-1 failed — again");
    assert_eq!(req.header("priority"), Some("5"));
    assert_eq!(req.header("tags"), Some("rotating_light,build-1,failure"));
    assert_eq!(
        req.header("click"),
        Some("https://qcity.local/runners/build-1?tab=log&n=2")
    );
}

#[tokio::test]
async fn ntfy_priorities_follow_severity_and_bodies_fit_the_limit() {
    let ntfy = FakeService::start(ntfy(Mode::Accept)).await;
    let client = http_client();
    let long = message(Severity::Error, "e", &"ü".repeat(5000));
    assert_eq!(
        send(&client, &target(&ntfy.base, TOKEN), &long).await,
        Delivery::Sent
    );
    let info = message(Severity::Info, "i", "fine");
    assert_eq!(
        send(&client, &target(&ntfy.base, TOKEN), &info).await,
        Delivery::Sent
    );
    let requests = ntfy.requests();
    assert_eq!(requests[0].header("priority"), Some("4"));
    assert!(requests[0].body.len() <= 4096);
    assert!(
        String::from_utf8(requests[0].body.to_vec())
            .unwrap()
            .ends_with('…')
    );
    assert_eq!(requests[1].header("priority"), Some("3"));
}

#[tokio::test]
async fn ntfy_429_is_a_retry() {
    let ntfy = FakeService::start(ntfy(Mode::RateLimited)).await;
    let msg = message(Severity::Info, "x", "y");
    let delivery = send(&http_client(), &target(&ntfy.base, TOKEN), &msg).await;
    // ntfy sends no Retry-After: the outbox's backoff decides.
    assert!(
        matches!(delivery, Delivery::Retry { after: None, .. }),
        "{delivery:?}"
    );
    assert_no_secret(&delivery, &[TOKEN]);
}

#[tokio::test]
async fn ntfy_refused_token_is_permanent_without_the_token() {
    let ntfy = FakeService::start(ntfy(Mode::Accept)).await;
    let msg = message(Severity::Info, "x", "y");
    let wrong = "tk_wrongwrongwrongwrong";
    let delivery = send(&http_client(), &target(&ntfy.base, wrong), &msg).await;
    assert_permanent_without(&delivery, &[wrong]);
}
