//! The remote channels' wire formats: one module per service, each turning a [`Message`] into
//! that service's request and its answer into a [`Delivery`]. Nothing here decides what to
//! send or when (the grouper and the outbox do); a channel only talks to its service.
//!
//! Every answer is sorted the same way: what the service documents as success is
//! [`Delivery::Sent`]; a 429 is [`Delivery::Retry`] with the wait the service asked for; a 5xx,
//! a timeout or a network error is `Retry` with no wait (the outbox's backoff decides); any
//! other 4xx and the errors a service documents as permanent are [`Delivery::Permanent`].
//! No error text holds a secret: reqwest's errors are stripped of their URL (where the Slack,
//! Discord and Telegram tokens live), quoted bodies are cut to 200 characters, and [`send`]
//! masks every secret of the target in the error it returns as a last guard.

use crate::message::Message;

mod client;
mod delivery;
mod discord;
mod email;
mod http;
mod ntfy;
mod slack;
mod target;
mod telegram;
mod text;
mod webhook;
mod whatsapp;

pub use client::http_client;
pub use delivery::Delivery;
pub use target::{EmailTarget, EmailTls, NtfyAuth, Secret, Target};

/// One attempt to deliver `msg` to `target`. Never panics and never returns an error that
/// holds one of the target's secrets.
pub async fn send(client: &reqwest::Client, target: &Target, msg: &Message) -> Delivery {
    let delivery = match target {
        Target::Slack { webhook } => slack::send(client, webhook, msg).await,
        Target::Discord { webhook, username } => {
            discord::send(client, webhook, username.as_deref(), msg).await
        }
        Target::Telegram {
            api,
            token,
            chat_ids,
        } => telegram::send(client, api, token, chat_ids, msg).await,
        Target::WhatsApp {
            api,
            token,
            phone_number_id,
            to,
            template,
        } => {
            let sender = whatsapp::Sender {
                api,
                token,
                phone_number_id,
                template: template.as_ref(),
            };
            sender.send_all(client, to, msg).await
        }
        Target::Ntfy { url, auth } => ntfy::send(client, url, auth.as_ref(), msg).await,
        Target::Webhook { url, secret } => webhook::send(client, url, secret.as_ref(), msg).await,
        Target::Email(email) => email::send(email, msg).await,
    };
    delivery.masked(&target.secrets())
}
