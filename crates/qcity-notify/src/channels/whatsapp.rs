//! WhatsApp Cloud API: `POST {api}/{phone-number-id}/messages` with a bearer token, once per
//! recipient; free text (`"type": "text"`), or the configured template (`"type":
//! "template"`) whose one body variable gets the severity and the title. Success is `200`
//! with the message's id; errors are `{"error": {"code", "message", …}}`.
//!
//! A `200` means Meta accepted the message, not that it was delivered: the Cloud API often
//! reports a failure (131047 outside the 24-hour window among them) later, through the
//! status webhook, which QCity does not receive. When the error comes in the answer, it is
//! sorted here.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{Value, json};

use super::delivery::{Delivery, each_recipient};
use super::http::{Answer, settle};
use super::target::Secret;
use super::text::{badge, cut_chars, one_line};
use crate::message::Message;

const SERVICE: &str = "whatsapp";
/// A text message's body.
const MAX_TEXT: usize = 4096;
/// A template variable (one line: no newlines or tabs are allowed in it).
const MAX_VARIABLE: usize = 1024;
const MAX_TITLE: usize = 300;

/// The sender side of a WhatsApp target.
pub(super) struct Sender<'a> {
    pub api: &'a str,
    pub token: &'a Secret,
    pub phone_number_id: &'a str,
    /// An approved template (name, language code).
    pub template: Option<&'a (String, String)>,
}

impl Sender<'_> {
    pub async fn send_all(
        &self,
        client: &reqwest::Client,
        to: &[String],
        msg: &Message,
    ) -> Delivery {
        let url = format!(
            "{}/{}/messages",
            self.api.trim_end_matches('/'),
            self.phone_number_id
        );
        let content = self.content(msg);
        each_recipient(SERVICE, to, |number| {
            let mut body = json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                // E.164 without the `+`.
                "to": number.trim_start_matches('+'),
            });
            if let (Some(body), Some(content)) = (body.as_object_mut(), content.as_object()) {
                body.extend(content.clone());
            }
            let request = client
                .post(&url)
                .header(AUTHORIZATION, format!("Bearer {}", self.token.0))
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
            async move { settle(SERVICE, request, classify).await }
        })
        .await
    }

    /// The message's `type` and its content, the same for every recipient.
    fn content(&self, msg: &Message) -> Value {
        let title = cut_chars(
            &one_line(&format!("{}: {}", badge(msg.severity), msg.title)),
            MAX_TITLE,
        );
        match self.template {
            Some((name, language)) => json!({
                "type": "template",
                "template": {
                    "name": name,
                    "language": {"code": language},
                    "components": [{
                        "type": "body",
                        "parameters": [{"type": "text", "text": cut_chars(&title, MAX_VARIABLE)}],
                    }],
                },
            }),
            None => {
                let link = msg
                    .link
                    .as_deref()
                    .map(|link| format!("\n\n{link}"))
                    .unwrap_or_default();
                let heading = format!("*{title}*");
                let used = heading.chars().count() + link.chars().count() + 2;
                let body = cut_chars(msg.body.trim(), MAX_TEXT.saturating_sub(used));
                let text = if body.is_empty() {
                    format!("{heading}{link}")
                } else {
                    format!("{heading}\n\n{body}{link}")
                };
                json!({"type": "text", "text": {"preview_url": false, "body": text}})
            }
        }
    }
}

#[derive(Deserialize)]
struct Failure {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    code: Option<i64>,
    message: Option<String>,
}

fn classify(answer: &Answer) -> Delivery {
    let delivery = answer.classify(SERVICE);
    if matches!(delivery, Delivery::Sent) {
        return delivery;
    }
    let Ok(Failure { error }) = serde_json::from_slice::<Failure>(&answer.body) else {
        return delivery;
    };
    let code = error.code.unwrap_or_default();
    let message = cut_chars(&one_line(error.message.as_deref().unwrap_or("")), 200);
    let error = format!("{SERVICE}: error {code}: {message}");
    match code {
        // Outside the 24-hour window only a template may be sent.
        131047 => Delivery::Permanent {
            error: format!(
                "{error}: free text only reaches users who wrote to this number in the last 24 \
                 hours; configure an approved template for this channel"
            ),
        },
        190 => Delivery::Permanent {
            error: format!("{error}: the access token expired or was revoked; set a new one"),
        },
        131026 => Delivery::Permanent {
            error: format!("{error}: the number cannot receive the message (not on WhatsApp?)"),
        },
        // Throughput (130429), spam (131048) and pair (131056) rate limits, the app's call
        // limits (4, 80007); Meta's temporary failures (1, 2, 131000, 133004).
        130429 | 131048 | 131056 | 4 | 80007 | 1 | 2 | 131000 | 133004 => Delivery::Retry {
            after: answer.retry_after(),
            error,
        },
        _ => match delivery {
            Delivery::Retry { after, .. } => Delivery::Retry { after, error },
            _ => Delivery::Permanent { error },
        },
    }
}
