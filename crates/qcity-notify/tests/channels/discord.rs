//! Discord's webhook: `POST` JSON to `/api/webhooks/{id}/{token}`; embeds within their
//! limits; `204`; `429` with a JSON `retry_after` (float seconds) and rate-limit headers.

use std::time::Duration;

use qcity_notify::channels::{Delivery, Secret, Target, http_client, send};
use qcity_types::Severity;
use serde_json::{Value, json};

use crate::support::{
    FakeService, Reply, Request, assert_no_secret, assert_permanent_without, message,
};

const ID: &str = "112233445566778899";
const TOKEN: &str = "dIsCoRdWeBhOoKtOkEn_0123456789abcdef";

#[derive(Clone, Copy)]
enum Mode {
    Accept,
    RateLimited,
}

fn invalid_form(field: &str) -> Reply {
    Reply::json(
        400,
        json!({"code": 50035, "message": "Invalid Form Body", "errors": {field: {"_errors": []}}}),
    )
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// Discord's side of the contract.
fn discord(mode: Mode) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
    move |req| {
        let Some(rest) = req.path.strip_prefix("/api/webhooks/") else {
            return Reply::json(404, json!({"message": "404: Not Found", "code": 0}));
        };
        match rest.split_once('/') {
            Some((id, _)) if id != ID => {
                return Reply::json(404, json!({"message": "Unknown Webhook", "code": 10015}));
            }
            Some((_, token)) if token == TOKEN => {}
            _ => {
                return Reply::json(
                    401,
                    json!({"message": "Invalid Webhook Token", "code": 50027}),
                );
            }
        }
        if req.method != "POST" {
            return Reply::json(
                405,
                json!({"message": "405: Method Not Allowed", "code": 0}),
            );
        }
        let Some(body) = req.json().filter(|_| req.is_json()) else {
            return Reply::json(
                400,
                json!({"message": "Cannot send an empty message", "code": 50006}),
            );
        };
        let embeds = body["embeds"].as_array().cloned().unwrap_or_default();
        if body.get("content").is_none() && embeds.is_empty() {
            return Reply::json(
                400,
                json!({"message": "Cannot send an empty message", "code": 50006}),
            );
        }
        if chars(&body["content"]) > 2000 || embeds.len() > 10 {
            return invalid_form("content");
        }
        let mut total = 0;
        for e in &embeds {
            if chars(&e["title"]) > 256
                || chars(&e["description"]) > 4096
                || chars(&e["footer"]["text"]) > 2048
            {
                return invalid_form("embeds.0");
            }
            total += chars(&e["title"]) + chars(&e["description"]) + chars(&e["footer"]["text"]);
        }
        if total > 6000 || chars(&body["username"]) > 80 {
            return invalid_form("embeds");
        }
        match mode {
            // `?wait=true` asks for the message object back.
            Mode::Accept if req.query.as_deref() == Some("wait=true") => {
                Reply::json(200, json!({"id": "1200000000000000001", "webhook_id": ID}))
            }
            Mode::Accept => Reply::empty(204),
            Mode::RateLimited => Reply::json(
                429,
                json!({"message": "You are being rate limited.", "retry_after": 1.5, "global": false}),
            )
            .header("retry-after", 2)
            .header("x-ratelimit-limit", 5)
            .header("x-ratelimit-remaining", 0)
            .header("x-ratelimit-reset-after", 1.5)
            .header("x-ratelimit-bucket", "abcd1234")
            .header("x-ratelimit-scope", "user"),
        }
    }
}

fn target(base: &str, token: &str) -> Target {
    Target::Discord {
        webhook: Secret(format!("{base}/api/webhooks/{ID}/{token}")),
        username: Some("QCity".into()),
    }
}

#[tokio::test]
async fn discord_posts_one_coloured_embed_that_pings_nobody() {
    let discord = FakeService::start(discord(Mode::Accept)).await;
    let msg = message(
        Severity::Critical,
        "build-1 failed",
        "@everyone look: exit 1",
    );
    let delivery = send(&http_client(), &target(&discord.base, TOKEN), &msg).await;
    assert_eq!(delivery, Delivery::Sent);
    let body = discord.one_request().json().unwrap();
    assert_eq!(body["allowed_mentions"]["parse"], json!([]));
    assert!(
        body.get("content").is_none(),
        "no content, so nothing to ping with"
    );
    assert_eq!(body["username"], "QCity");
    let embed = &body["embeds"][0];
    assert_eq!(embed["title"], "build-1 failed");
    assert_eq!(embed["description"], "@everyone look: exit 1");
    assert_eq!(
        embed["url"],
        "https://qcity.local/runners/build-1?tab=log&n=2"
    );
    assert_eq!(embed["color"], 0xED4245);
    assert!(
        embed["footer"]["text"]
            .as_str()
            .unwrap()
            .contains("critical")
    );
}

#[tokio::test]
async fn discord_cuts_to_the_embed_limits() {
    let discord = FakeService::start(discord(Mode::Accept)).await;
    let msg = message(Severity::Info, &"t".repeat(500), &"ß".repeat(10_000));
    let delivery = send(&http_client(), &target(&discord.base, TOKEN), &msg).await;
    assert_eq!(delivery, Delivery::Sent);
    let body = discord.one_request().json().unwrap();
    let embed = &body["embeds"][0];
    assert_eq!(chars(&embed["title"]), 256);
    assert_eq!(chars(&embed["description"]), 4096);
    assert!(embed["description"].as_str().unwrap().ends_with('…'));
    assert_eq!(embed["color"], 0x5865F2);
}

#[tokio::test]
async fn discord_429_waits_the_bodys_retry_after() {
    let discord = FakeService::start(discord(Mode::RateLimited)).await;
    let msg = message(Severity::Error, "x", "y");
    let delivery = send(&http_client(), &target(&discord.base, TOKEN), &msg).await;
    assert!(
        matches!(delivery, Delivery::Retry { after: Some(d), .. } if d == Duration::from_millis(1500)),
        "{delivery:?}"
    );
    assert_no_secret(&delivery, &[TOKEN]);
}

#[tokio::test]
async fn discord_bad_token_is_permanent_without_the_token() {
    let discord = FakeService::start(discord(Mode::Accept)).await;
    let msg = message(Severity::Error, "x", "y");
    let wrong = "wrongDiscordTokenValue_zzzzzz";
    let delivery = send(&http_client(), &target(&discord.base, wrong), &msg).await;
    assert_permanent_without(&delivery, &[wrong]);
    assert!(crate::support::error_of(&delivery).contains("Invalid Webhook Token"));
}
