//! From a channel's config to a [`Target`]: its URL parsed, every secret read (keyring or
//! environment, through the `read` given), the service's base URL or the configured endpoint
//! put in front. Errors name the channel's part and never hold a secret.

use std::path::Path;

use qcity_config::ChannelSettings;
use qcity_config::channel_url::{self, ChannelUrl, MailTls, SecretText};
use qcity_config::secret_ref::SecretRef;

use crate::channels::{EmailTarget, EmailTls, NtfyAuth, Secret, Target};

/// The public services' base URLs (an `endpoint` in the config replaces them).
const SLACK: &str = "https://hooks.slack.com";
const DISCORD: &str = "https://discord.com";
const TELEGRAM: &str = "https://api.telegram.org";
/// The Cloud API version Apprise pins.
const WHATSAPP: &str = "https://graph.facebook.com/v21.0";
const NTFY: &str = "https://ntfy.sh";

pub fn resolve(
    c: &ChannelSettings,
    config_dir: &Path,
    read: &dyn Fn(&SecretRef) -> Result<String, String>,
) -> Result<Target, String> {
    let url = channel_url::parse(&c.url)?;
    let secret = |s: &SecretText| -> Result<Secret, String> {
        match s {
            SecretText::Literal(v) => Ok(Secret(v.clone())),
            SecretText::Ref(r) => read(r).map(Secret),
        }
    };
    let base = |default: &str| {
        c.endpoint
            .as_deref()
            .unwrap_or(default)
            .trim_end_matches('/')
            .to_string()
    };
    Ok(match &url {
        ChannelUrl::Slack { webhook } => {
            let path = secret(webhook)?;
            Target::Slack {
                webhook: Secret(format!(
                    "{}/services/{}",
                    base(SLACK),
                    path.0.trim_matches('/')
                )),
            }
        }
        ChannelUrl::Discord {
            id,
            token,
            username,
        } => Target::Discord {
            webhook: Secret(format!(
                "{}/api/webhooks/{id}/{}",
                base(DISCORD),
                secret(token)?.0
            )),
            username: username.clone(),
        },
        ChannelUrl::Telegram { token, chat_ids } => Target::Telegram {
            api: base(TELEGRAM),
            token: secret(token)?,
            chat_ids: chat_ids.clone(),
        },
        ChannelUrl::WhatsApp {
            token,
            phone_number_id,
            to,
            template,
            language,
        } => Target::WhatsApp {
            api: base(WHATSAPP),
            token: secret(token)?,
            phone_number_id: phone_number_id.clone(),
            to: to.clone(),
            template: template.clone().map(|t| (t, language.clone())),
        },
        ChannelUrl::Ntfy {
            secure,
            host,
            topic,
            user,
            password,
        } => {
            let server = match (&c.endpoint, host) {
                (Some(_), _) | (None, None) => base(NTFY),
                (None, Some(h)) => format!("{}://{h}", if *secure { "https" } else { "http" }),
            };
            let auth = match (user, password) {
                (Some(user), Some(p)) => Some(NtfyAuth::Basic {
                    user: user.clone(),
                    password: secret(p)?,
                }),
                (None, Some(t)) => Some(NtfyAuth::Bearer(secret(t)?)),
                _ => None,
            };
            Target::Ntfy {
                url: format!("{server}/{topic}"),
                auth,
            }
        }
        ChannelUrl::Webhook {
            secure,
            host,
            path,
            secret: key,
        } => {
            let server = match &c.endpoint {
                Some(_) => base(""),
                None => format!("{}://{host}", if *secure { "https" } else { "http" }),
            };
            Target::Webhook {
                url: format!("{server}{path}"),
                secret: key.as_ref().map(&secret).transpose()?,
            }
        }
        ChannelUrl::Email {
            tls,
            host,
            port,
            user,
            password,
            from,
            to,
            ca_file,
        } => Target::Email(EmailTarget {
            host: host.clone(),
            port: *port,
            tls: match tls {
                MailTls::Starttls => EmailTls::Starttls,
                MailTls::Implicit => EmailTls::Implicit,
                MailTls::Plain => EmailTls::Plain,
            },
            ca_file: ca_file.as_ref().map(|f| config_dir.join(f)),
            user: user.clone(),
            password: password.as_ref().map(&secret).transpose()?,
            from: from.clone(),
            to: to.clone(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(url: &str, endpoint: Option<&str>) -> ChannelSettings {
        serde_json::from_value(serde_json::json!({"name": "c", "url": url, "endpoint": endpoint}))
            .unwrap()
    }

    fn read(r: &SecretRef) -> Result<String, String> {
        match r.name() {
            "slack" => Ok("T1/B2/X3".into()),
            "tok" => Ok("s3cret".into()),
            other => Err(format!("no secret `{other}`")),
        }
    }

    #[test]
    fn urls_are_built_on_the_service_or_the_endpoint() {
        let dir = Path::new("/cfg");
        let t = resolve(&channel("slack://{keyring://slack}", None), dir, &read).unwrap();
        assert_eq!(
            t,
            Target::Slack {
                webhook: Secret("https://hooks.slack.com/services/T1/B2/X3".into())
            }
        );
        let t = resolve(
            &channel("discord://99/{keyring://tok}", Some("http://127.0.0.1:9/")),
            dir,
            &read,
        )
        .unwrap();
        assert_eq!(
            t,
            Target::Discord {
                webhook: Secret("http://127.0.0.1:9/api/webhooks/99/s3cret".into()),
                username: None
            }
        );
        let t = resolve(
            &channel("ntfys://{env://tok}@ntfy.example.com/ci", None),
            dir,
            &read,
        )
        .unwrap();
        assert_eq!(
            t,
            Target::Ntfy {
                url: "https://ntfy.example.com/ci".into(),
                auth: Some(NtfyAuth::Bearer(Secret("s3cret".into())))
            }
        );
        let t = resolve(&channel("json://hooks.local:8080/in", None), dir, &read).unwrap();
        assert_eq!(
            t,
            Target::Webhook {
                url: "http://hooks.local:8080/in".into(),
                secret: None
            }
        );
    }

    #[test]
    fn a_missing_secret_is_named() {
        let err = resolve(
            &channel("tgram://{keyring://bot}/1", None),
            Path::new("/"),
            &read,
        )
        .unwrap_err();
        assert_eq!(err, "no secret `bot`");
    }
}
