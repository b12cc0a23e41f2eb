//! Discord webhooks: `POST` of one embed (colour by severity, the title linking to the
//! dashboard) with `allowed_mentions: {"parse": []}`, so a build log's `@everyone` pings
//! nobody; success is `204` (any 2xx).

use qcity_types::Severity;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use super::delivery::Delivery;
use super::http::{Answer, post_json, seconds, seconds_header, settle};
use super::target::Secret;
use super::text::{cut_chars, one_line};
use crate::message::Message;

const SERVICE: &str = "discord";
const MAX_TITLE: usize = 256;
const MAX_DESCRIPTION: usize = 4096;
/// Title, description and footer together stay under the 6000 of all embeds.
const MAX_FOOTER: usize = 1000;
const MAX_USERNAME: usize = 80;

pub(super) async fn send(
    client: &reqwest::Client,
    webhook: &Secret,
    username: Option<&str>,
    msg: &Message,
) -> Delivery {
    let body = render(msg, username);
    let request = post_json(client, &webhook.0, &body);
    settle(SERVICE, request, classify).await
}

fn render(msg: &Message, username: Option<&str>) -> Value {
    let mut embed = Map::new();
    embed.insert(
        "title".into(),
        cut_chars(&one_line(&msg.title), MAX_TITLE).into(),
    );
    if !msg.body.trim().is_empty() {
        embed.insert(
            "description".into(),
            cut_chars(&msg.body, MAX_DESCRIPTION).into(),
        );
    }
    if let Some(link) = &msg.link {
        embed.insert("url".into(), link.clone().into());
    }
    embed.insert("color".into(), colour(msg.severity).into());
    let mut footer = format!("QCity · {}", severity_name(msg.severity));
    if !msg.tags.is_empty() {
        footer.push_str(" · ");
        footer.push_str(&msg.tags.join(", "));
    }
    embed.insert(
        "footer".into(),
        json!({"text": cut_chars(&footer, MAX_FOOTER)}),
    );
    let mut body = json!({
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    });
    if let Some(name) = username.filter(|name| !name.trim().is_empty()) {
        body["username"] = cut_chars(name, MAX_USERNAME).into();
    }
    body
}

/// The embed's side bar: red for critical, orange for error, blue for info.
fn colour(severity: Severity) -> u32 {
    match severity {
        Severity::Critical => 0xED4245,
        Severity::Error => 0xE67E22,
        Severity::Info => 0x5865F2,
    }
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::Error => "error",
        Severity::Info => "info",
    }
}

fn classify(answer: &Answer) -> Delivery {
    match answer.status {
        StatusCode::TOO_MANY_REQUESTS => {
            let body: Option<Value> = serde_json::from_slice(&answer.body).ok();
            // The body's float is the most precise; then the bucket's reset; then the
            // integer header.
            let after = body
                .as_ref()
                .and_then(|b| b.get("retry_after")?.as_f64())
                .and_then(seconds)
                .or_else(|| seconds_header(&answer.headers, "x-ratelimit-reset-after"))
                .or_else(|| answer.retry_after());
            let global = body
                .as_ref()
                .and_then(|b| b.get("global")?.as_bool())
                .unwrap_or(false);
            let scope = if global { " (global)" } else { "" };
            Delivery::Retry {
                after,
                error: format!("{SERVICE}: rate limited{scope} (429)"),
            }
        }
        StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND => Delivery::Permanent {
            error: format!(
                "{SERVICE}: {}: {}: the webhook was deleted or its URL is wrong; create a new one",
                answer.status,
                answer.quote()
            ),
        },
        _ => answer.classify(SERVICE),
    }
}
