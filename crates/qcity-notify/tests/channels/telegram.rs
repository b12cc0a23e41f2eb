//! Telegram's Bot API: `POST /bot<TOKEN>/sendMessage` with JSON, HTML parse mode, 1–4096
//! characters after entity parsing; `{"ok": …}` answers, `429` with
//! `parameters.retry_after`.

use std::time::Duration;

use qcity_notify::channels::{Delivery, Secret, Target, http_client, send};
use qcity_types::Severity;
use serde_json::json;

use crate::support::{
    FakeService, Reply, Request, assert_no_secret, assert_permanent_without, message,
};

const TOKEN: &str = "123456789:AAHsecretBotTokenValue_abcdefghijk";
const CHATS: [&str; 2] = ["1001", "-100200300"];
/// A chat that answers 429.
const BUSY_CHAT: &str = "4242";

fn bad_request(description: &str) -> Reply {
    Reply::json(
        400,
        json!({"ok": false, "error_code": 400, "description": description}),
    )
}

/// What Telegram counts of an HTML-mode text: the characters left once the tags are parsed
/// away and entities decoded (UTF-16 units); Err as Telegram's "can't parse entities".
fn visible_len(html: &str) -> Result<usize, String> {
    const TAGS: [&str; 8] = ["b", "strong", "i", "em", "u", "s", "code", "pre"];
    let mut len = 0;
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let end = rest.find('>').ok_or("unclosed start tag")?;
            let tag = rest[1..end].trim_start_matches('/');
            if !TAGS.contains(&tag) {
                return Err(format!("unsupported start tag \"{tag}\""));
            }
            rest = &rest[end + 1..];
        } else if c == '&' {
            let end = rest.find(';').ok_or("unclosed entity")?;
            if !["&lt", "&gt", "&amp", "&quot"].contains(&&rest[..end]) {
                return Err("unsupported entity".into());
            }
            len += 1;
            rest = &rest[end + 1..];
        } else if c == '>' {
            return Err("unexpected end tag".into());
        } else {
            len += c.len_utf16();
            rest = &rest[c.len_utf8()..];
        }
    }
    Ok(len)
}

/// Telegram's side of the contract.
fn telegram(req: &Request) -> Reply {
    let Some(method) = req.path.strip_prefix(&format!("/bot{TOKEN}/")) else {
        return Reply::json(
            401,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
        );
    };
    if method != "sendMessage" || req.method != "POST" {
        return Reply::json(
            404,
            json!({"ok": false, "error_code": 404, "description": "Not Found"}),
        );
    }
    let Some(body) = req.json().filter(|_| req.is_json()) else {
        return bad_request("Bad Request: message text is empty");
    };
    let chat = match &body["chat_id"] {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => return bad_request("Bad Request: chat_id is empty"),
    };
    if body["parse_mode"] != "HTML" {
        return bad_request("Bad Request: unsupported parse_mode");
    }
    let text = body["text"].as_str().unwrap_or_default();
    match visible_len(text) {
        Err(e) => return bad_request(&format!("Bad Request: can't parse entities: {e}")),
        Ok(0) => return bad_request("Bad Request: message text is empty"),
        Ok(n) if n > 4096 => return bad_request("Bad Request: message is too long"),
        Ok(_) => {}
    }
    if chat == BUSY_CHAT {
        return Reply::json(
            429,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 5",
                   "parameters": {"retry_after": 5}}),
        );
    }
    if !CHATS.contains(&chat.as_str()) {
        return bad_request("Bad Request: chat not found");
    }
    Reply::json(
        200,
        json!({"ok": true, "result": {"message_id": 7, "chat": {"id": chat}, "text": text}}),
    )
}

fn target(base: &str, token: &str, chats: &[&str]) -> Target {
    Target::Telegram {
        api: base.to_owned(),
        token: Secret(token.into()),
        chat_ids: chats.iter().map(|c| c.to_string()).collect(),
    }
}

#[tokio::test]
async fn telegram_sends_escaped_html_to_every_chat() {
    let tg = FakeService::start(telegram).await;
    let msg = message(Severity::Error, "build <1> failed", "a < b && c > d");
    let delivery = send(&http_client(), &target(&tg.base, TOKEN, &CHATS), &msg).await;
    assert_eq!(delivery, Delivery::Sent);
    let requests = tg.requests();
    assert_eq!(requests.len(), 2, "one request per chat");
    let chats: Vec<_> = requests
        .iter()
        .map(|r| r.json().unwrap()["chat_id"].clone())
        .collect();
    assert_eq!(chats, [json!(1001), json!(-100200300)]);
    let text = requests[0].json().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.starts_with("<b>❌ ERROR: build &lt;1&gt; failed</b>\n\n"),
        "{text}"
    );
    assert!(text.contains("a &lt; b &amp;&amp; c &gt; d"), "{text}");
    assert!(
        text.ends_with("https://qcity.local/runners/build-1?tab=log&amp;n=2"),
        "{text}"
    );
}

#[tokio::test]
async fn telegram_cuts_a_long_body_to_4096_visible_characters() {
    let tg = FakeService::start(telegram).await;
    let msg = message(Severity::Critical, "long", &"<&😀".repeat(3000));
    let delivery = send(&http_client(), &target(&tg.base, TOKEN, &CHATS[..1]), &msg).await;
    assert_eq!(delivery, Delivery::Sent);
    let text = tg.one_request().json().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let visible = visible_len(&text).unwrap();
    assert!((4000..=4096).contains(&visible), "{visible}");
    assert!(text.contains("…\n\nhttps://qcity.local/"));
}

#[tokio::test]
async fn telegram_429_waits_the_parameters_retry_after() {
    let tg = FakeService::start(telegram).await;
    let msg = message(Severity::Info, "x", "y");
    let delivery = send(
        &http_client(),
        &target(&tg.base, TOKEN, &[CHATS[0], BUSY_CHAT]),
        &msg,
    )
    .await;
    // One chat had it, the other asked for 5 s: the whole message is retried.
    assert!(
        matches!(&delivery, Delivery::Retry { after: Some(d), error } if *d == Duration::from_secs(5)
            && error.contains("1 of 2")),
        "{delivery:?}"
    );
    assert_no_secret(&delivery, &[TOKEN]);
}

#[tokio::test]
async fn telegram_bad_token_and_unknown_chat_are_permanent_without_the_token() {
    let tg = FakeService::start(telegram).await;
    let msg = message(Severity::Info, "x", "y");
    let wrong = "999:WrongBotTokenXXXXXXXXXX";
    let delivery = send(&http_client(), &target(&tg.base, wrong, &CHATS), &msg).await;
    assert_permanent_without(&delivery, &[wrong]);
    let delivery = send(&http_client(), &target(&tg.base, TOKEN, &["555"]), &msg).await;
    assert_permanent_without(&delivery, &[TOKEN]);
    assert!(crate::support::error_of(&delivery).contains("chat not found"));
}

#[tokio::test]
async fn telegram_unreachable_is_a_retry_without_the_token() {
    let base = format!("http://127.0.0.1:{}", crate::support::closed_port());
    let msg = message(Severity::Info, "x", "y");
    let delivery = send(&http_client(), &target(&base, TOKEN, &CHATS[..1]), &msg).await;
    assert!(
        matches!(delivery, Delivery::Retry { after: None, .. }),
        "{delivery:?}"
    );
    assert_no_secret(&delivery, &[TOKEN, "AAHsecretBotTokenValue"]);
}
