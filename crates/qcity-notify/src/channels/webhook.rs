//! A generic webhook: `POST` of the message as JSON (`id`, `severity`, `title`, `body`,
//! `link`, `tags`, `"source": "qcity"`) with `X-QCity-Delivery: <id>` (the same on every
//! attempt: receivers drop duplicates on it) and, when a secret is set, GitHub's
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>` over the exact bytes
//! sent. Any 2xx is success.

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::CONTENT_TYPE;
use serde_json::json;
use sha2::Sha256;

use super::delivery::Delivery;
use super::http::exchange;
use super::target::Secret;
use crate::message::Message;

const SERVICE: &str = "webhook";
const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
const DELIVERY_HEADER: &str = "X-QCity-Delivery";

pub(super) async fn send(
    client: &reqwest::Client,
    url: &str,
    secret: Option<&Secret>,
    msg: &Message,
) -> Delivery {
    let body = render(msg);
    let mut request = client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header(DELIVERY_HEADER, msg.id.to_string());
    if let Some(secret) = secret {
        request = request.header(SIGNATURE_HEADER, signature(secret, &body));
    }
    match exchange(SERVICE, request.body(body)).await {
        Ok(answer) => answer.classify(SERVICE),
        Err(delivery) => delivery,
    }
}

/// The raw bytes sent, the ones signed.
fn render(msg: &Message) -> Vec<u8> {
    json!({
        "id": msg.id,
        "severity": msg.severity,
        "title": msg.title,
        "body": msg.body,
        "link": msg.link,
        "tags": msg.tags,
        "source": "qcity",
    })
    .to_string()
    .into_bytes()
}

/// `sha256=<hex>` of HMAC-SHA256 keyed with `secret` over `body`.
fn signature(secret: &Secret, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.0.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's documented example: secret "It's a Secret to Everybody", payload
    /// "Hello, World!".
    #[test]
    fn signs_as_github_does() {
        let secret = Secret("It's a Secret to Everybody".into());
        assert_eq!(
            signature(&secret, b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}
