//! What a channel answers: how one attempt ended, and the sum over several recipients.

use std::time::Duration;

/// How one attempt to deliver a message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Worth trying again: a network error, a 5xx, a 429 (with the wait the service asked
    /// for, from `Retry-After` or the body's `retry_after`).
    Retry {
        after: Option<Duration>,
        error: String,
    },
    /// Trying again cannot help: a bad token, a removed webhook, a rejected payload.
    Permanent {
        error: String,
    },
}

impl Delivery {
    /// The same outcome with every `secret` in its error replaced by `***`.
    pub(super) fn masked(self, secrets: &[&str]) -> Delivery {
        let mask = |mut error: String| {
            for secret in secrets {
                if error.contains(secret) {
                    error = error.replace(secret, "***");
                }
            }
            error
        };
        match self {
            Delivery::Sent => Delivery::Sent,
            Delivery::Retry { after, error } => Delivery::Retry {
                after,
                error: mask(error),
            },
            Delivery::Permanent { error } => Delivery::Permanent { error: mask(error) },
        }
    }
}

/// Sends to each recipient in turn (one request each: Telegram's chats, WhatsApp's numbers)
/// and sums the outcomes up as one.
///
/// A partial success cannot be said in one [`Delivery`], and none of these services takes an
/// idempotency key. All sent is `Sent`. If any recipient's failure is worth retrying, the
/// whole message is `Retry` (with the longest wait asked): the outbox sends it again to
/// everyone, so a recipient that had it gets it twice, which for an alert is better than a
/// recipient that never gets it. Otherwise (some failed for good, none worth retrying) it is
/// `Permanent`: the config needs fixing; the recipients that had it keep it. Every error
/// names its recipient and how many of them got the message.
pub(super) async fn each_recipient<F, Fut>(
    service: &str,
    recipients: &[String],
    mut send_one: F,
) -> Delivery
where
    F: FnMut(&str) -> Fut,
    Fut: std::future::Future<Output = Delivery>,
{
    if recipients.is_empty() {
        return Delivery::Permanent {
            error: format!("{service}: no recipients configured"),
        };
    }
    let mut sent = 0;
    let mut errors = Vec::new();
    let mut retry: Option<Option<Duration>> = None;
    for recipient in recipients {
        match send_one(recipient).await {
            Delivery::Sent => sent += 1,
            Delivery::Retry { after, error } => {
                retry = Some(retry.flatten().max(after));
                errors.push(format!("{recipient}: {error}"));
            }
            Delivery::Permanent { error } => errors.push(format!("{recipient}: {error}")),
        }
    }
    if errors.is_empty() {
        return Delivery::Sent;
    }
    let error = if recipients.len() == 1 {
        errors.remove(0)
    } else {
        format!(
            "{sent} of {} recipients got it; {}",
            recipients.len(),
            errors.join("; ")
        )
    };
    match retry {
        Some(after) => Delivery::Retry { after, error },
        None => Delivery::Permanent { error },
    }
}
