//! ntfy: `POST` to the topic's URL, the body the message, its title, priority, tags and link
//! in the `Title`, `Priority`, `Tags` and `Click` headers. A header that is not ASCII is sent
//! in RFC 2047's encoded form (`=?UTF-8?B?…?=`), which ntfy decodes.

use base64::Engine as _;
use qcity_types::Severity;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};

use super::delivery::Delivery;
use super::http::exchange;
use super::target::NtfyAuth;
use super::text::{cut_bytes, cut_chars, one_line};
use crate::message::Message;

const SERVICE: &str = "ntfy";
/// ntfy's default `message-size-limit`: a longer body becomes an attachment, or is refused.
const MAX_BODY: usize = 4096;
const MAX_TITLE: usize = 250;

pub(super) async fn send(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&NtfyAuth>,
    msg: &Message,
) -> Delivery {
    let mut tags = vec![emoji(msg.severity).to_owned()];
    tags.extend(msg.tags.iter().map(|tag| one_line(tag).replace(',', " ")));
    let body = if msg.body.trim().is_empty() {
        msg.title.clone()
    } else {
        msg.body.clone()
    };
    let mut request = client
        .post(url)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(
            "Title",
            header(&cut_chars(&one_line(&msg.title), MAX_TITLE)),
        )
        .header("Priority", priority(msg.severity))
        .header("Tags", header(&tags.join(",")))
        .body(cut_bytes(&body, MAX_BODY));
    if let Some(link) = &msg.link {
        request = request.header("Click", header(&one_line(link)));
    }
    request = match auth {
        Some(NtfyAuth::Basic { user, password }) => request.basic_auth(user, Some(&password.0)),
        Some(NtfyAuth::Bearer(token)) => {
            request.header(AUTHORIZATION, format!("Bearer {}", token.0))
        }
        None => request,
    };
    match exchange(SERVICE, request).await {
        Ok(answer) if answer.status.as_u16() == 401 || answer.status.as_u16() == 403 => {
            Delivery::Permanent {
                error: format!(
                    "{SERVICE}: {}: {}: the topic refused the credentials",
                    answer.status,
                    answer.quote()
                ),
            }
        }
        Ok(answer) => answer.classify(SERVICE),
        Err(delivery) => delivery,
    }
}

/// critical → 5 (urgent), error → 4 (high), info → 3 (default).
fn priority(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "5",
        Severity::Error => "4",
        Severity::Info => "3",
    }
}

/// The tag ntfy shows as the notification's emoji.
fn emoji(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "rotating_light",
        Severity::Error => "x",
        Severity::Info => "information_source",
    }
}

/// A header value: ASCII as is, anything else as an RFC 2047 encoded word.
fn header(value: &str) -> HeaderValue {
    let value = one_line(value);
    if value.is_ascii()
        && let Ok(header) = HeaderValue::from_str(&value)
    {
        return header;
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
    HeaderValue::from_str(&format!("=?UTF-8?B?{encoded}?="))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}
