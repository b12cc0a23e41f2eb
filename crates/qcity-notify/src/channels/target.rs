//! What a channel is given: the target with its secrets resolved.

use std::path::PathBuf;

/// A secret value (token, password, HMAC key) resolved from the keyring or the environment.
/// Its `Debug` never shows it, so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A channel with every secret resolved and every URL complete (a base URL override for a
/// self-hosted or loopback service already applied): all a channel needs to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Incoming webhook: `webhook` is the whole `https://hooks.slack.com/services/T/B/X` URL.
    Slack { webhook: Secret },
    /// Webhook: the whole `https://discord.com/api/webhooks/{id}/{token}` URL.
    Discord {
        webhook: Secret,
        username: Option<String>,
    },
    /// Bot API: `api` is the base (`https://api.telegram.org`); one message per chat.
    Telegram {
        api: String,
        token: Secret,
        chat_ids: Vec<String>,
    },
    /// Cloud API: `api` is the base with its version (`https://graph.facebook.com/v21.0`).
    /// Free text reaches only users who wrote to the number in the last 24 hours; for the
    /// others an approved template is needed, with one body variable (`{{1}}`), filled with
    /// the severity and the title.
    WhatsApp {
        api: String,
        token: Secret,
        phone_number_id: String,
        to: Vec<String>,
        /// An approved template (name, language code) sent instead of free text.
        template: Option<(String, String)>,
    },
    /// Publish: `url` is the topic's URL (`https://ntfy.sh/mytopic`).
    Ntfy { url: String, auth: Option<NtfyAuth> },
    /// A JSON POST, signed the way GitHub signs its webhooks when a secret is given.
    Webhook { url: String, secret: Option<Secret> },
    /// SMTP through lettre.
    Email(EmailTarget),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NtfyAuth {
    Basic { user: String, password: Secret },
    Bearer(Secret),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailTarget {
    pub host: String,
    pub port: u16,
    pub tls: EmailTls,
    /// A PEM file of extra trusted roots (a private relay's own CA).
    pub ca_file: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTls {
    /// STARTTLS, required (`mailto://`, port 587 by default).
    Starttls,
    /// TLS from the first byte (`mailtos://`, port 465 by default).
    Implicit,
    /// No TLS at all: only accepted for a loopback relay.
    Plain,
}

impl Target {
    /// Every secret string of the target, and the parts of a secret URL that could show up
    /// alone in an error (its path segments: the webhook's id and token).
    pub(super) fn secrets(&self) -> Vec<&str> {
        let mut all: Vec<&str> = Vec::new();
        match self {
            Target::Slack { webhook } | Target::Discord { webhook, .. } => {
                secret_url(webhook, &mut all)
            }
            Target::Telegram { token, .. } | Target::WhatsApp { token, .. } => all.push(&token.0),
            Target::Ntfy { auth, .. } => match auth {
                Some(NtfyAuth::Basic { password, .. }) => all.push(&password.0),
                Some(NtfyAuth::Bearer(token)) => all.push(&token.0),
                None => {}
            },
            Target::Webhook { secret, .. } => all.extend(secret.iter().map(|s| s.0.as_str())),
            Target::Email(email) => all.extend(email.password.iter().map(|s| s.0.as_str())),
        }
        // A one-character secret would mask half the message; such a value protects nothing.
        all.retain(|s| s.len() >= 4);
        // Longest first, so a URL is masked whole rather than around its masked token.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        all
    }
}

/// A secret URL and its path after the host, whole and by segment (`/services/T…/B…/X…`,
/// `/api/webhooks/{id}/{token}`): an error might hold any of them.
fn secret_url<'a>(url: &'a Secret, all: &mut Vec<&'a str>) {
    all.push(&url.0);
    let path = url
        .0
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split_once('/'));
    if let Some((_, path)) = path {
        all.push(path);
        let path = path.split(['?', '#']).next().unwrap_or_default();
        all.extend(path.split('/').filter(|part| part.len() >= 8));
    }
}
