//! Telegram's Bot API: `POST {api}/bot{token}/sendMessage` once per chat, the text in HTML
//! parse mode (only `<`, `>` and `&` to escape) within the 4096 characters Telegram counts
//! after parsing; answers are `{"ok": true}` or `{"ok": false, "error_code",
//! "description", "parameters": {"retry_after"}}`.

use qcity_types::Severity;
use serde::Deserialize;
use serde_json::{Value, json};

use super::delivery::{Delivery, each_recipient};
use super::http::{Answer, post_json, seconds, settle};
use super::target::Secret;
use super::text::{badge, cut_utf16, one_line, utf16_len};
use crate::message::Message;

const SERVICE: &str = "telegram";
/// Telegram counts the text after entity parsing, in UTF-16 code units.
const MAX_TEXT: usize = 4096;
const MAX_TITLE: usize = 256;

pub(super) async fn send(
    client: &reqwest::Client,
    api: &str,
    token: &Secret,
    chat_ids: &[String],
    msg: &Message,
) -> Delivery {
    let url = format!("{}/bot{}/sendMessage", api.trim_end_matches('/'), token.0);
    let text = render(msg);
    each_recipient(SERVICE, chat_ids, |chat_id| {
        let body = json!({
            "chat_id": chat(chat_id),
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
            // An info notice arrives without a sound.
            "disable_notification": msg.severity == Severity::Info,
        });
        let request = post_json(client, &url, &body);
        async move { settle(SERVICE, request, classify).await }
    })
    .await
}

/// A numeric chat id goes as a number, a `@channel` name as a string.
fn chat(id: &str) -> Value {
    id.parse::<i64>().map_or_else(|_| id.into(), Value::from)
}

/// `<b>badge: title</b>`, the body, the link; the body cut so the visible text fits.
fn render(msg: &Message) -> String {
    let title = cut_utf16(
        &one_line(&format!("{}: {}", badge(msg.severity), msg.title)),
        MAX_TITLE,
    );
    let link = msg.link.as_deref().map(one_line);
    // What Telegram counts: the text without tags, entities as one character each.
    let mut visible = utf16_len(&title);
    if let Some(link) = &link {
        visible += 2 + utf16_len(link);
    }
    let room = MAX_TEXT.saturating_sub(visible + 2);
    let body = cut_utf16(msg.body.trim(), room);
    let mut text = format!("<b>{}</b>", escape(&title));
    if !body.is_empty() {
        text.push_str("\n\n");
        text.push_str(&escape(&body));
    }
    if let Some(link) = &link {
        text.push_str("\n\n");
        text.push_str(&escape(link));
    }
    text
}

/// HTML mode's three characters.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[derive(Deserialize)]
struct Reply {
    ok: bool,
    error_code: Option<u16>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<f64>,
}

fn classify(answer: &Answer) -> Delivery {
    let Ok(reply) = serde_json::from_slice::<Reply>(&answer.body) else {
        // Not the Bot API's JSON (a proxy's page): the status alone says what it can.
        return match answer.classify(SERVICE) {
            Delivery::Sent => Delivery::Permanent {
                error: format!(
                    "{SERVICE}: {} without `ok`: {}",
                    answer.status,
                    answer.quote()
                ),
            },
            other => other,
        };
    };
    if reply.ok {
        return Delivery::Sent;
    }
    let code = reply.error_code.unwrap_or(answer.status.as_u16());
    let description = super::text::cut_chars(reply.description.as_deref().unwrap_or(""), 200);
    if code == 429 {
        let after = reply
            .parameters
            .and_then(|p| p.retry_after)
            .and_then(seconds)
            .or_else(|| answer.retry_after());
        return Delivery::Retry {
            after,
            error: format!("{SERVICE}: rate limited (429): {description}"),
        };
    }
    if (500..600).contains(&code) {
        return Delivery::Retry {
            after: None,
            error: format!("{SERVICE}: {code}: {description}"),
        };
    }
    let hint = match code {
        401 | 404 => ": the bot token was rejected; check it with @BotFather",
        403 => ": the bot cannot write there (not started by the user, blocked or removed)",
        400 if description.contains("chat not found") => {
            ": the chat id is wrong, or the user has not sent /start to the bot"
        }
        _ => "",
    };
    Delivery::Permanent {
        error: format!("{SERVICE}: {code}: {description}{hint}"),
    }
}
