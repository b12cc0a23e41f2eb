//! The generic webhook: JSON `POST`, `X-QCity-Delivery`, GitHub's `X-Hub-Signature-256` over
//! the raw body; a receiver that checks the signature as GitHub's documentation says.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use qcity_notify::channels::{Delivery, Secret, Target, http_client, send};
use qcity_types::Severity;
use serde_json::json;
use sha2::Sha256;

use crate::support::{
    FakeService, Reply, Request, assert_no_secret, assert_permanent_without, message,
};

const SECRET: &str = "webhook-hmac-secret-0123456789";

/// The receiver's check: HMAC-SHA256 of the raw body, compared in constant time.
fn verifies(req: &Request, secret: &str) -> bool {
    let Some(hex_sig) = req
        .header("x-hub-signature-256")
        .and_then(|h| h.strip_prefix("sha256="))
    else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&req.body);
    mac.verify_slice(&sig).is_ok()
}

/// A receiver: 401 for a bad signature, else what `status` says.
fn receiver(status: u16) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
    move |req| {
        if req.method != "POST" || req.path != "/hooks/qcity" || !req.is_json() {
            return Reply::text(400, "bad request");
        }
        if !verifies(req, SECRET) {
            return Reply::text(401, "bad signature");
        }
        match status {
            429 => Reply::text(429, "slow down").header("retry-after", 30),
            _ => Reply::text(status, "thanks"),
        }
    }
}

fn target(base: &str, secret: Option<&str>) -> Target {
    Target::Webhook {
        url: format!("{base}/hooks/qcity"),
        secret: secret.map(|s| Secret(s.into())),
    }
}

#[tokio::test]
async fn webhook_posts_signed_json_with_a_delivery_id() {
    let hook = FakeService::start(receiver(200)).await;
    let msg = message(Severity::Error, "build-1 failed", "exit 1");
    let delivery = send(&http_client(), &target(&hook.base, Some(SECRET)), &msg).await;
    assert_eq!(delivery, Delivery::Sent);
    let req = hook.one_request();
    assert!(verifies(&req, SECRET));
    assert!(!verifies(&req, "another secret"));
    assert_eq!(req.header("x-qcity-delivery"), Some("42"));
    assert_eq!(
        req.json().unwrap(),
        json!({"id": 42, "severity": "error", "title": "build-1 failed", "body": "exit 1",
               "link": "https://qcity.local/runners/build-1?tab=log&n=2",
               "tags": ["build-1", "failure"], "source": "qcity"})
    );
}

#[tokio::test]
async fn webhook_without_a_secret_is_unsigned() {
    let hook = FakeService::start(|_: &Request| Reply::empty(204)).await;
    let mut msg = message(Severity::Info, "ok", "");
    msg.link = None;
    let delivery = send(&http_client(), &target(&hook.base, None), &msg).await;
    assert_eq!(delivery, Delivery::Sent);
    let req = hook.one_request();
    assert!(req.header("x-hub-signature-256").is_none());
    assert_eq!(req.json().unwrap()["link"], serde_json::Value::Null);
}

#[tokio::test]
async fn webhook_answers_are_sorted() {
    let msg = message(Severity::Info, "x", "y");
    let client = http_client();
    let busy = FakeService::start(receiver(429)).await;
    let delivery = send(&client, &target(&busy.base, Some(SECRET)), &msg).await;
    assert!(
        matches!(delivery, Delivery::Retry { after: Some(d), .. } if d == Duration::from_secs(30)),
        "{delivery:?}"
    );
    let down = FakeService::start(receiver(503)).await;
    let delivery = send(&client, &target(&down.base, Some(SECRET)), &msg).await;
    assert!(
        matches!(delivery, Delivery::Retry { after: None, .. }),
        "{delivery:?}"
    );
    let gone = FakeService::start(receiver(410)).await;
    let delivery = send(&client, &target(&gone.base, Some(SECRET)), &msg).await;
    assert_permanent_without(&delivery, &[SECRET]);
    let strict = FakeService::start(receiver(200)).await;
    let delivery = send(
        &client,
        &target(&strict.base, Some("wrong-secret-value")),
        &msg,
    )
    .await;
    assert_permanent_without(&delivery, &["wrong-secret-value"]);
    let moved = FakeService::start(|_: &Request| {
        Reply::empty(301).header("location", "https://elsewhere.example/")
    })
    .await;
    let delivery = send(&client, &target(&moved.base, None), &msg).await;
    assert_permanent_without(&delivery, &[]);
    assert_eq!(moved.requests().len(), 1, "the redirect is not followed");
}

#[tokio::test]
async fn webhook_timeout_is_a_retry() {
    // A receiver that accepts the connection and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            held.push(socket);
        }
    });
    let client = reqwest_client_with_short_timeout();
    let msg = message(Severity::Info, "x", "y");
    let delivery = send(&client, &target(&base, Some(SECRET)), &msg).await;
    hold.abort();
    assert!(
        matches!(delivery, Delivery::Retry { after: None, .. }),
        "{delivery:?}"
    );
    assert!(
        crate::support::error_of(&delivery).contains("timed out"),
        "{delivery:?}"
    );
    assert_no_secret(&delivery, &[SECRET]);
}

/// The shared client waits 30 s; the same channel code on a client that gives up sooner.
fn reqwest_client_with_short_timeout() -> reqwest::Client {
    let _ = http_client(); // installs the crypto provider
    reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
}
