//! WhatsApp Cloud API: `POST /v21.0/{phone-number-id}/messages` with a bearer token; text
//! inside the 24-hour window, a template outside it (else error 131047).

use qcity_notify::channels::{Delivery, Secret, Target, http_client, send};
use qcity_types::Severity;
use serde_json::json;

use crate::support::{
    FakeService, Reply, Request, assert_no_secret, assert_permanent_without, message,
};

const TOKEN: &str = "EAAGwhatsappSecretAccessToken0123456789";
const PHONE_ID: &str = "106540352242922";
/// Wrote to the business in the last 24 hours.
const IN_WINDOW: &str = "4915112345678";
/// Did not: free text to them fails with 131047.
const OUT_OF_WINDOW: &str = "4915187654321";

fn graph_error(status: u16, code: i64, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"message": message, "type": "OAuthException", "code": code,
                         "fbtrace_id": "AbCdEf"}}),
    )
}

/// Meta's side of the contract.
fn whatsapp(req: &Request) -> Reply {
    if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return graph_error(
            401,
            190,
            "Invalid OAuth access token - Cannot parse access token",
        );
    }
    if req.method != "POST" || req.path != format!("/v21.0/{PHONE_ID}/messages") {
        return graph_error(400, 100, "Unsupported post request.");
    }
    let Some(body) = req.json().filter(|_| req.is_json()) else {
        return graph_error(400, 100, "Invalid parameter");
    };
    let to = body["to"].as_str().unwrap_or_default();
    if body["messaging_product"] != "whatsapp"
        || to.is_empty()
        || !to.bytes().all(|b| b.is_ascii_digit())
    {
        return graph_error(400, 100, "Invalid parameter");
    }
    match body["type"].as_str() {
        Some("text") => {
            let text = body["text"]["body"].as_str().unwrap_or_default();
            if text.is_empty() || text.chars().count() > 4096 {
                return graph_error(400, 100, "Param text['body'] is invalid");
            }
            if to == OUT_OF_WINDOW {
                return graph_error(400, 131047, "Re-engagement message");
            }
        }
        Some("template") => {
            let t = &body["template"];
            if !t["name"].is_string() || !t["language"]["code"].is_string() {
                return graph_error(400, 100, "Invalid parameter");
            }
        }
        _ => return graph_error(400, 100, "Invalid parameter"),
    }
    Reply::json(
        200,
        json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
               "messages": [{"id": "wamid.HBgLMTY1MDM4NzkwOTkVAgARGBI"}]}),
    )
}

fn target(base: &str, token: &str, to: &[&str], template: Option<(&str, &str)>) -> Target {
    Target::WhatsApp {
        api: format!("{base}/v21.0"),
        token: Secret(token.into()),
        phone_number_id: PHONE_ID.into(),
        to: to.iter().map(|t| t.to_string()).collect(),
        template: template.map(|(n, l)| (n.into(), l.into())),
    }
}

#[tokio::test]
async fn whatsapp_sends_text_with_title_body_and_link() {
    let wa = FakeService::start(whatsapp).await;
    let msg = message(Severity::Error, "build-1 failed", "exit 1");
    let delivery = send(
        &http_client(),
        &target(&wa.base, TOKEN, &[&format!("+{IN_WINDOW}")], None),
        &msg,
    )
    .await;
    assert_eq!(delivery, Delivery::Sent);
    let body = wa.one_request().json().unwrap();
    assert_eq!(body["to"], IN_WINDOW, "E.164 without the +");
    assert_eq!(
        body["text"]["body"],
        "*❌ ERROR: build-1 failed*\n\nexit 1\n\nhttps://qcity.local/runners/build-1?tab=log&n=2"
    );
}

#[tokio::test]
async fn whatsapp_outside_the_window_is_permanent_and_asks_for_a_template() {
    let wa = FakeService::start(whatsapp).await;
    let msg = message(Severity::Critical, "down", "all runners");
    let delivery = send(
        &http_client(),
        &target(&wa.base, TOKEN, &[OUT_OF_WINDOW], None),
        &msg,
    )
    .await;
    assert_permanent_without(&delivery, &[TOKEN]);
    let error = crate::support::error_of(&delivery);
    assert!(
        error.contains("131047") && error.contains("template"),
        "{error}"
    );
}

#[tokio::test]
async fn whatsapp_template_reaches_everyone() {
    let wa = FakeService::start(whatsapp).await;
    let msg = message(Severity::Critical, "down", "all runners");
    let tpl = Some(("qcity_alert", "en_US"));
    let delivery = send(
        &http_client(),
        &target(&wa.base, TOKEN, &[IN_WINDOW, OUT_OF_WINDOW], tpl),
        &msg,
    )
    .await;
    assert_eq!(delivery, Delivery::Sent);
    let requests = wa.requests();
    assert_eq!(requests.len(), 2);
    let template = &requests[1].json().unwrap()["template"];
    assert_eq!(template["name"], "qcity_alert");
    assert_eq!(template["language"]["code"], "en_US");
    assert_eq!(
        template["components"][0]["parameters"][0]["text"],
        "🚨 CRITICAL: down"
    );
}

#[tokio::test]
async fn whatsapp_partial_failure_names_the_recipient() {
    let wa = FakeService::start(whatsapp).await;
    let msg = message(Severity::Info, "x", "y");
    let delivery = send(
        &http_client(),
        &target(&wa.base, TOKEN, &[IN_WINDOW, OUT_OF_WINDOW], None),
        &msg,
    )
    .await;
    assert_permanent_without(&delivery, &[TOKEN]);
    let error = crate::support::error_of(&delivery);
    assert!(
        error.contains("1 of 2") && error.contains(OUT_OF_WINDOW),
        "{error}"
    );
}

#[tokio::test]
async fn whatsapp_bad_token_is_permanent_without_the_token() {
    let wa = FakeService::start(whatsapp).await;
    let msg = message(Severity::Info, "x", "y");
    let wrong = "EAAGexpiredTokenZZZZZZZZ";
    let delivery = send(
        &http_client(),
        &target(&wa.base, wrong, &[IN_WINDOW], None),
        &msg,
    )
    .await;
    assert_permanent_without(&delivery, &[wrong]);
    assert!(crate::support::error_of(&delivery).contains("190"));
    assert_no_secret(&delivery, &[TOKEN]);
}
