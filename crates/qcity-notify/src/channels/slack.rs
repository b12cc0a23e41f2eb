//! Slack incoming webhooks: `POST` of `{"text", "blocks"}` to the webhook URL; success is
//! `200` with the plain-text body `ok`, errors are plain-text codes.

use reqwest::StatusCode;
use serde_json::json;

use super::delivery::Delivery;
use super::http::{Answer, post_json, settle};
use super::target::Secret;
use super::text::{badge, cut_chars, one_line};
use crate::message::Message;

const SERVICE: &str = "slack";
/// A section block's text.
const MAX_SECTION: usize = 3000;
/// The title line, kept short enough to leave room for the body.
const MAX_TITLE: usize = 300;

pub(super) async fn send(client: &reqwest::Client, webhook: &Secret, msg: &Message) -> Delivery {
    let body = render(msg);
    let request = post_json(client, &webhook.0, &body);
    settle(SERVICE, request, classify).await
}

/// `text` is the notification's fallback; one mrkdwn section holds the title, the body and
/// the link.
fn render(msg: &Message) -> serde_json::Value {
    let title = cut_chars(
        &one_line(&format!("{}: {}", badge(msg.severity), msg.title)),
        MAX_TITLE,
    );
    let heading = format!("*{}*", escape(&title));
    let link = msg
        .link
        .as_ref()
        .map(|link| format!("\n<{}|Open in QCity>", escape(link)))
        .unwrap_or_default();
    // The body gets what the heading and the link leave (escaping may lengthen it, so the
    // budget is counted on the escaped text).
    let room = MAX_SECTION.saturating_sub(heading.chars().count() + link.chars().count() + 1);
    let body = cut_escaped(&msg.body, room);
    let section = if body.is_empty() {
        format!("{heading}{link}")
    } else {
        format!("{heading}\n{body}{link}")
    };
    json!({
        "text": title,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": section}}],
    })
}

/// `text` escaped for mrkdwn and cut so the escaped form fits `max` characters, never inside
/// an entity.
fn cut_escaped(text: &str, max: usize) -> String {
    let escaped = escape(text);
    if escaped.chars().count() <= max {
        return escaped;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let piece = escape(c.encode_utf8(&mut [0; 4]));
        if used + piece.chars().count() + 1 > max {
            break;
        }
        used += piece.chars().count();
        out.push_str(&piece);
    }
    out.push(super::text::ELLIPSIS);
    out
}

/// Slack's three control characters.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn classify(answer: &Answer) -> Delivery {
    let text = answer.text();
    if answer.status == StatusCode::OK {
        return if text == "ok" {
            Delivery::Sent
        } else {
            // Not Slack's answer (a portal, a proxy's page): retrying could post twice.
            Delivery::Permanent {
                error: format!("{SERVICE}: 200 without `ok`: {}", answer.quote()),
            }
        };
    }
    if answer.status.is_client_error()
        && answer.status != StatusCode::TOO_MANY_REQUESTS
        && let Some(hint) = hint(&text)
    {
        return Delivery::Permanent {
            error: format!("{SERVICE}: {text}: {hint}"),
        };
    }
    answer.classify(SERVICE)
}

/// What a user does about one of Slack's documented error codes.
fn hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "invalid_token" | "no_service" | "no_service_id" | "no_team" | "team_disabled"
        | "no_active_hooks" => "the webhook was revoked or is wrong; create a new incoming webhook",
        "channel_not_found"
        | "channel_is_archived"
        | "action_prohibited"
        | "posting_to_general_channel_denied" => {
            "the webhook's channel cannot be posted to; pick another channel for the webhook"
        }
        "invalid_payload" | "no_text" => "Slack rejected the message's format",
        _ => return None,
    })
}
