//! A notification channel's Apprise-style URL (`slack://…`, `tgram://…`, `mailto://…`),
//! parsed into what the notifier needs. Secret parts are written as `{keyring://NAME}` or
//! `{env://NAME}` and kept as references; a literal secret is accepted (and warned about by
//! the config check). Apprise's own forms are followed where they exist, so a URL copied from
//! its docs needs at most its secret moved into the keyring.

use crate::secret_ref::SecretRef;

/// A part of a URL that is a secret: a reference to where it lives, or the value itself.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretText {
    Ref(SecretRef),
    Literal(String),
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretText::Ref(r) => write!(f, "Ref({r})"),
            SecretText::Literal(_) => f.write_str("Literal(<redacted>)"),
        }
    }
}

/// How mail reaches the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailTls {
    /// `mailto://`: STARTTLS, required (port 587).
    Starttls,
    /// `mailtos://`: TLS from the first byte (port 465).
    Implicit,
    /// `mailto://…?tls=none`: plain text, for a relay on loopback only (port 25).
    Plain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelUrl {
    /// `slack://{SECRET}` where the secret is the webhook's `T…/B…/X…` path.
    Slack { webhook: SecretText },
    /// `discord://[USERNAME@]WEBHOOK_ID/{SECRET}`.
    Discord {
        id: String,
        token: SecretText,
        username: Option<String>,
    },
    /// `tgram://{SECRET}/CHAT_ID[/CHAT_ID…]`.
    Telegram {
        token: SecretText,
        chat_ids: Vec<String>,
    },
    /// `mailto://[USER[:{SECRET}]@]HOST[:PORT]/TO[,TO…]?from=FROM[&tls=none][&ca=PEM]`.
    Email {
        tls: MailTls,
        host: String,
        port: u16,
        user: Option<String>,
        password: Option<SecretText>,
        from: String,
        to: Vec<String>,
        ca_file: Option<String>,
    },
    /// `whatsapp://[TEMPLATE:]{SECRET}@PHONE_NUMBER_ID/TO[/TO…][?lang=en_US]`.
    WhatsApp {
        token: SecretText,
        phone_number_id: String,
        to: Vec<String>,
        template: Option<String>,
        language: String,
    },
    /// `ntfy://TOPIC` (ntfy.sh), `ntfy[s]://[USER:{SECRET}@ | {TOKEN}@]HOST[:PORT]/TOPIC`.
    Ntfy {
        secure: bool,
        /// `host[:port]`; none: ntfy.sh.
        host: Option<String>,
        topic: String,
        user: Option<String>,
        /// The password with `user`, else an access token.
        password: Option<SecretText>,
    },
    /// `json[s]://HOST[:PORT]/PATH[?secret={SECRET}]`: a JSON POST, signed with the secret.
    Webhook {
        secure: bool,
        /// `host[:port]`.
        host: String,
        path: String,
        secret: Option<SecretText>,
    },
}

impl ChannelUrl {
    /// The service's name, as `qcity notify list` shows it.
    pub fn service(&self) -> &'static str {
        match self {
            ChannelUrl::Slack { .. } => "slack",
            ChannelUrl::Discord { .. } => "discord",
            ChannelUrl::Telegram { .. } => "telegram",
            ChannelUrl::Email { .. } => "email",
            ChannelUrl::WhatsApp { .. } => "whatsapp",
            ChannelUrl::Ntfy { .. } => "ntfy",
            ChannelUrl::Webhook { .. } => "webhook",
        }
    }

    /// The secret parts, with what each is.
    pub fn secrets(&self) -> Vec<(&'static str, &SecretText)> {
        let mut out = Vec::new();
        match self {
            ChannelUrl::Slack { webhook } => out.push(("the webhook path", webhook)),
            ChannelUrl::Discord { token, .. } => out.push(("the webhook token", token)),
            ChannelUrl::Telegram { token, .. } => out.push(("the bot token", token)),
            ChannelUrl::WhatsApp { token, .. } => out.push(("the access token", token)),
            ChannelUrl::Email { password, .. } | ChannelUrl::Ntfy { password, .. } => {
                if let Some(p) = password {
                    out.push(("the password", p));
                }
            }
            ChannelUrl::Webhook { secret, .. } => {
                if let Some(s) = secret {
                    out.push(("the signing secret", s));
                }
            }
        }
        out
    }

    /// Names of the secret parts written literally in the URL (a warning each).
    pub fn literal_secrets(&self) -> Vec<&'static str> {
        self.secrets()
            .into_iter()
            .filter(|(_, s)| matches!(s, SecretText::Literal(_)))
            .map(|(what, _)| what)
            .collect()
    }

    /// The secret references, to check they can be read.
    pub fn secret_refs(&self) -> Vec<&SecretRef> {
        self.secrets()
            .into_iter()
            .filter_map(|(_, s)| match s {
                SecretText::Ref(r) => Some(r),
                SecretText::Literal(_) => None,
            })
            .collect()
    }
}

/// The URL as it may be shown (API, `qcity notify list`): as written when every secret in it
/// is a reference; otherwise only its scheme, since the literal secret could be anywhere.
pub fn shown(url: &str) -> String {
    match parse(url) {
        Ok(c) if c.literal_secrets().is_empty() => url.to_string(),
        _ => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://<redacted>"),
            None => "<redacted>".to_string(),
        },
    }
}

/// Marks a placeholder in the URL while it is split: characters no URL part may contain.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// The URL with each `{…}` secret reference replaced by a marker, and the references.
struct Masked {
    text: String,
    refs: Vec<SecretRef>,
}

impl Masked {
    fn new(url: &str) -> Result<Masked, String> {
        if url.contains(OPEN) || url.contains(CLOSE) {
            return Err("contains a private-use character".into());
        }
        let mut text = String::new();
        let mut refs = Vec::new();
        let mut rest = url;
        while let Some(start) = rest.find('{') {
            text.push_str(&rest[..start]);
            let Some(len) = rest[start..].find('}') else {
                return Err("a `{` has no closing `}`".into());
            };
            let inner = &rest[start + 1..start + len];
            refs.push(SecretRef::parse(inner)?);
            text.push(OPEN);
            text.push_str(&(refs.len() - 1).to_string());
            text.push(CLOSE);
            rest = &rest[start + len + 1..];
        }
        if rest.contains('}') {
            return Err("a `}` has no opening `{`".into());
        }
        text.push_str(rest);
        Ok(Masked { text, refs })
    }

    /// A part that is a secret: exactly one reference, or a literal.
    fn secret(&self, part: &str, what: &str) -> Result<SecretText, String> {
        if part.is_empty() {
            return Err(format!("{what} is missing"));
        }
        if let Some(i) = part
            .strip_prefix(OPEN)
            .and_then(|p| p.strip_suffix(CLOSE))
            .and_then(|n| n.parse::<usize>().ok())
        {
            return Ok(SecretText::Ref(self.refs[i].clone()));
        }
        if part.contains(OPEN) {
            return Err(format!(
                "a secret reference must be the whole of {what}, not a piece of it"
            ));
        }
        Ok(SecretText::Literal(decode(part)))
    }

    /// A part that is not a secret: no reference may stand there.
    fn plain(&self, part: &str, what: &str) -> Result<String, String> {
        if part.contains(OPEN) {
            return Err(format!(
                "{what} cannot be a secret reference: only the secret parts can"
            ));
        }
        Ok(decode(part))
    }
}

/// `%XX` escapes decoded (an address or a password may need them); anything else as is.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// The parts of `scheme://[userinfo@]authority[/path][?query]`.
struct Parts<'a> {
    userinfo: Option<&'a str>,
    authority: &'a str,
    path: Vec<&'a str>,
    query: Vec<(&'a str, &'a str)>,
}

fn split(rest: &str) -> Parts<'_> {
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, q),
        None => (rest, ""),
    };
    let (auth, path) = match rest.split_once('/') {
        Some((a, p)) => (a, p),
        None => (rest, ""),
    };
    let (userinfo, authority) = match auth.rsplit_once('@') {
        Some((u, a)) => (Some(u), a),
        None => (None, auth),
    };
    Parts {
        userinfo,
        authority,
        path: path.split('/').filter(|p| !p.is_empty()).collect(),
        query: query
            .split('&')
            .filter(|q| !q.is_empty())
            .map(|q| q.split_once('=').unwrap_or((q, "")))
            .collect(),
    }
}

impl Parts<'_> {
    fn query(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn only_query(&self, allowed: &[&str]) -> Result<(), String> {
        match self.query.iter().find(|(k, _)| !allowed.contains(k)) {
            Some((k, _)) if allowed.is_empty() => {
                Err(format!("unknown option `{k}`: this service takes none"))
            }
            Some((k, _)) => Err(format!(
                "unknown option `{k}`: this service takes {}",
                allowed.join(", ")
            )),
            None => Ok(()),
        }
    }
}

const SCHEMES: &str = "slack, discord, tgram, mailto, mailtos, whatsapp, ntfy, ntfys, json, jsons";

/// Parses a channel URL; the error says what is wrong in words a user can act on.
pub fn parse(url: &str) -> Result<ChannelUrl, String> {
    let m = Masked::new(url)?;
    let Some((scheme, rest)) = m.text.split_once("://") else {
        return Err(format!(
            "not a channel URL: write SCHEME://…, with a scheme of {SCHEMES}"
        ));
    };
    let p = split(rest);
    match scheme {
        "slack" => {
            p.only_query(&[])?;
            let path = rest.trim_end_matches('/');
            let webhook = m.secret(path, "the webhook path (T…/B…/X…)")?;
            if let SecretText::Literal(l) = &webhook
                && l.split('/').filter(|s| !s.is_empty()).count() != 3
            {
                return Err("the webhook path must be its three tokens, T…/B…/X…".into());
            }
            Ok(ChannelUrl::Slack { webhook })
        }
        "discord" => {
            p.only_query(&[])?;
            let id = m.plain(p.authority, "the webhook id")?;
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
                return Err("the webhook id (after discord://) must be digits".into());
            }
            let [token] = p.path[..] else {
                return Err("write discord://WEBHOOK_ID/{keyring://NAME}".into());
            };
            Ok(ChannelUrl::Discord {
                id,
                token: m.secret(token, "the webhook token")?,
                username: p
                    .userinfo
                    .map(|u| m.plain(u, "the user name"))
                    .transpose()?,
            })
        }
        "tgram" => {
            p.only_query(&[])?;
            if p.userinfo.is_some() {
                return Err("write tgram://{keyring://NAME}/CHAT_ID".into());
            }
            let token = m.secret(p.authority, "the bot token")?;
            if p.path.is_empty() {
                return Err("no chat id: write tgram://{keyring://NAME}/CHAT_ID".into());
            }
            let chat_ids = p
                .path
                .iter()
                .map(|c| {
                    let c = m.plain(c, "a chat id")?;
                    let digits = c.strip_prefix('-').unwrap_or(&c);
                    if (digits.is_empty() || !digits.chars().all(|d| d.is_ascii_digit()))
                        && !c.starts_with('@')
                    {
                        return Err(format!("`{c}` is not a chat id (a number, or @channel)"));
                    }
                    Ok(c)
                })
                .collect::<Result<_, _>>()?;
            Ok(ChannelUrl::Telegram { token, chat_ids })
        }
        "mailto" | "mailtos" => email(&m, &p, scheme == "mailtos"),
        "whatsapp" => {
            p.only_query(&["lang"])?;
            let Some(userinfo) = p.userinfo else {
                return Err("write whatsapp://{keyring://NAME}@PHONE_NUMBER_ID/TO".into());
            };
            let (template, token) = match userinfo.split_once(':') {
                Some((t, tok)) => (Some(m.plain(t, "the template")?), tok),
                None => (None, userinfo),
            };
            let phone_number_id = m.plain(p.authority, "the phone number id")?;
            let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
            if !digits(&phone_number_id) {
                return Err("the phone number id (after @) must be digits".into());
            }
            if p.path.is_empty() {
                return Err("no recipient: add /NUMBER (E.164 digits, no +)".into());
            }
            let to = p
                .path
                .iter()
                .map(|t| {
                    let t = m.plain(t, "a recipient")?;
                    let t = t.trim_start_matches('+').to_string();
                    if !digits(&t) {
                        return Err(format!("`{t}` is not a phone number (E.164 digits)"));
                    }
                    Ok(t)
                })
                .collect::<Result<_, _>>()?;
            Ok(ChannelUrl::WhatsApp {
                token: m.secret(token, "the access token")?,
                phone_number_id,
                to,
                template,
                language: p.query("lang").unwrap_or("en_US").to_string(),
            })
        }
        "ntfy" | "ntfys" => {
            p.only_query(&[])?;
            let secure = scheme == "ntfys";
            if p.path.is_empty() {
                // `ntfy://TOPIC`: the public server, always over https.
                if p.userinfo.is_some() {
                    return Err("a user or token needs a host: ntfys://USER:…@HOST/TOPIC".into());
                }
                return Ok(ChannelUrl::Ntfy {
                    secure: true,
                    host: None,
                    topic: topic(&m, p.authority)?,
                    user: None,
                    password: None,
                });
            }
            let [t] = p.path[..] else {
                return Err("one topic only: ntfy[s]://HOST/TOPIC".into());
            };
            let (user, password) = match p.userinfo {
                None => (None, None),
                Some(u) => match u.split_once(':') {
                    Some((user, pw)) => (
                        Some(m.plain(user, "the user")?),
                        Some(m.secret(pw, "the password")?),
                    ),
                    None => (None, Some(m.secret(u, "the access token")?)),
                },
            };
            Ok(ChannelUrl::Ntfy {
                secure,
                host: Some(host_port(&m, p.authority)?),
                topic: topic(&m, t)?,
                user,
                password,
            })
        }
        "json" | "jsons" => {
            p.only_query(&["secret"])?;
            if p.userinfo.is_some() {
                return Err("no user here: the signing secret goes in ?secret=".into());
            }
            Ok(ChannelUrl::Webhook {
                secure: scheme == "jsons",
                host: host_port(&m, p.authority)?,
                path: format!("/{}", p.path.join("/")),
                secret: p
                    .query("secret")
                    .map(|s| m.secret(s, "the signing secret"))
                    .transpose()?,
            })
        }
        other => Err(format!("unknown scheme `{other}`: use one of {SCHEMES}")),
    }
}

fn topic(m: &Masked, t: &str) -> Result<String, String> {
    let t = m.plain(t, "the topic")?;
    if t.is_empty()
        || t.len() > 64
        || !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "`{t}` is not a topic: 1 to 64 letters, digits, `-` or `_`"
        ));
    }
    Ok(t)
}

fn host_port(m: &Masked, authority: &str) -> Result<String, String> {
    let a = m.plain(authority, "the host")?;
    let (host, port) = split_port(&a)?;
    if host.is_empty() {
        return Err("the host is missing".into());
    }
    Ok(match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

fn split_port(a: &str) -> Result<(&str, Option<u16>), String> {
    // `[::1]:25`: the brackets keep the address's own colons apart from the port's.
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err(format!("`{a}`: a `[` has no closing `]`")),
        }
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (a, None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("`{p}` is not a port (1 to 65535)"))?,
        ),
        None => None,
    };
    Ok((host, port))
}

fn email(m: &Masked, p: &Parts<'_>, implicit: bool) -> Result<ChannelUrl, String> {
    p.only_query(&["from", "tls", "ca"])?;
    let plain = match p.query("tls") {
        None => false,
        Some("none") if !implicit => true,
        Some(v) => {
            return Err(format!(
                "tls={v}: the only choice is tls=none (mailto:// is STARTTLS, mailtos:// is TLS)"
            ));
        }
    };
    let a = m.plain(p.authority, "the host")?;
    let (host, port) = split_port(&a)?;
    if host.is_empty() {
        return Err("the mail relay's host is missing: mailto://HOST/TO".into());
    }
    let tls = match (implicit, plain) {
        (true, _) => MailTls::Implicit,
        (false, true) => MailTls::Plain,
        (false, false) => MailTls::Starttls,
    };
    if tls == MailTls::Plain && !crate::probe_target::is_loopback_host(host) {
        return Err(format!(
            "tls=none sends mail and its password in clear: only for a relay on loopback, not `{host}`"
        ));
    }
    let (user, password) = match p.userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((user, pw)) => (
                Some(m.plain(user, "the user")?),
                Some(m.secret(pw, "the password")?),
            ),
            None => (Some(m.plain(u, "the user")?), None),
        },
    };
    let to: Vec<String> = p
        .path
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
        .map(|t| m.plain(t, "a recipient"))
        .collect::<Result<_, _>>()?;
    if to.is_empty() {
        return Err("no recipient: mailto://HOST/ADDRESS[,ADDRESS…]".into());
    }
    let address = |a: &str| {
        let (local, domain) = a.split_once('@').unwrap_or(("", ""));
        !local.is_empty() && !domain.is_empty() && !a.contains(char::is_whitespace)
    };
    if let Some(bad) = to.iter().find(|t| !address(t)) {
        return Err(format!("`{bad}` is not a mail address"));
    }
    let from = match (p.query("from"), &user) {
        (Some(f), _) => m.plain(f, "the sender")?,
        (None, Some(u)) if address(u) => u.clone(),
        _ => return Err("no sender: add ?from=ADDRESS".into()),
    };
    if !address(&from) {
        return Err(format!("`{from}` is not a mail address"));
    }
    Ok(ChannelUrl::Email {
        tls,
        host: host.to_string(),
        port: port.unwrap_or(match tls {
            MailTls::Starttls => 587,
            MailTls::Implicit => 465,
            MailTls::Plain => 25,
        }),
        user,
        password,
        from,
        to,
        ca_file: p
            .query("ca")
            .map(|c| m.plain(c, "the CA file"))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kr(n: &str) -> SecretText {
        SecretText::Ref(SecretRef::Keyring(n.into()))
    }

    #[test]
    fn each_service_parses_with_its_secret_as_a_reference() {
        assert_eq!(
            parse("slack://{keyring://ops}").unwrap(),
            ChannelUrl::Slack { webhook: kr("ops") }
        );
        assert_eq!(
            parse("discord://qcity@123456/{env://DISCORD_TOKEN}").unwrap(),
            ChannelUrl::Discord {
                id: "123456".into(),
                token: SecretText::Ref(SecretRef::Env("DISCORD_TOKEN".into())),
                username: Some("qcity".into()),
            }
        );
        assert_eq!(
            parse("tgram://{keyring://bot}/12345/-100200").unwrap(),
            ChannelUrl::Telegram {
                token: kr("bot"),
                chat_ids: vec!["12345".into(), "-100200".into()],
            }
        );
        assert_eq!(
            parse(
                "mailto://alerts:{keyring://smtp}@smtp.example.com/a@x.org,b@x.org?from=qcity@x.org"
            )
            .unwrap(),
            ChannelUrl::Email {
                tls: MailTls::Starttls,
                host: "smtp.example.com".into(),
                port: 587,
                user: Some("alerts".into()),
                password: Some(kr("smtp")),
                from: "qcity@x.org".into(),
                to: vec!["a@x.org".into(), "b@x.org".into()],
                ca_file: None,
            }
        );
        assert_eq!(
            parse("whatsapp://qcity_alert:{keyring://wa}@1234/15551234567?lang=en_GB").unwrap(),
            ChannelUrl::WhatsApp {
                token: kr("wa"),
                phone_number_id: "1234".into(),
                to: vec!["15551234567".into()],
                template: Some("qcity_alert".into()),
                language: "en_GB".into(),
            }
        );
        assert_eq!(
            parse("ntfy://qcity-alerts").unwrap(),
            ChannelUrl::Ntfy {
                secure: true,
                host: None,
                topic: "qcity-alerts".into(),
                user: None,
                password: None,
            }
        );
        assert_eq!(
            parse("ntfys://{keyring://tk}@ntfy.example.com:8443/ci").unwrap(),
            ChannelUrl::Ntfy {
                secure: true,
                host: Some("ntfy.example.com:8443".into()),
                topic: "ci".into(),
                user: None,
                password: Some(kr("tk")),
            }
        );
        assert_eq!(
            parse("json://127.0.0.1:9000/hooks/qcity?secret={keyring://hmac}").unwrap(),
            ChannelUrl::Webhook {
                secure: false,
                host: "127.0.0.1:9000".into(),
                path: "/hooks/qcity".into(),
                secret: Some(kr("hmac")),
            }
        );
    }

    #[test]
    fn a_literal_secret_parses_and_is_named_and_hidden() {
        let url = "tgram://123:ABCdef/42";
        let c = parse(url).unwrap();
        assert_eq!(c.literal_secrets(), ["the bot token"]);
        assert!(!format!("{c:?}").contains("ABCdef"));
        assert_eq!(shown(url), "tgram://<redacted>");
        assert_eq!(
            shown("tgram://{keyring://b}/42"),
            "tgram://{keyring://b}/42"
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = |u: &str| parse(u).unwrap_err();
        assert!(err("sms://x").contains("unknown scheme `sms`"));
        assert!(err("slack").contains("SCHEME://"));
        assert!(err("tgram://{keyring://b}").contains("no chat id"));
        assert!(err("tgram://{vault://b}/1").contains("keyring://NAME"));
        assert!(err("slack://T1/B2").contains("three tokens"));
        assert!(err("discord://12/abc{keyring://x}").contains("whole of the webhook token"));
        assert!(err("mailto://smtp.example.com/a@x.org?tls=none").contains("loopback"));
        assert!(err("mailto://smtp.example.com/nobody").contains("not a mail address"));
        assert!(err("mailto://smtp.example.com/a@x.org").contains("no sender"));
        assert!(err("ntfy://a b").contains("not a topic"));
        assert!(err("json://h:99999/x").contains("not a port"));
        assert!(err("json://h/x?token=1").contains("unknown option `token`"));
        assert!(err("discord://{keyring://x}/y").contains("cannot be a secret reference"));
    }

    #[test]
    fn quiet_hours_span_midnight_in_their_time_zone() {
        let q = crate::QuietHours {
            from: "22:00".into(),
            to: "07:00".into(),
            time_zone: Some("Europe/Paris".into()),
        };
        // 2026-01-15 21:30 UTC is 22:30 in Paris (UTC+1): quiet until 07:00 Paris = 06:00 UTC.
        let t = 1_768_512_600_000;
        assert_eq!(q.until(t), Some(t + (8 * 60 + 30) * 60_000));
        // 20:59 UTC = 21:59 Paris: not yet.
        assert_eq!(q.until(t - 31 * 60_000), None);
        // 05:59 UTC = 06:59 Paris: one minute left.
        assert_eq!(
            q.until(t + 8 * 3_600_000 + 29 * 60_000),
            Some(t + 8 * 3_600_000 + 30 * 60_000)
        );
    }

    #[test]
    fn plain_mail_to_a_loopback_relay_and_escapes() {
        assert_eq!(
            parse("mailto://127.0.0.1:8025/ops%2Bci@x.org?from=q@x.org&tls=none").unwrap(),
            ChannelUrl::Email {
                tls: MailTls::Plain,
                host: "127.0.0.1".into(),
                port: 8025,
                user: None,
                password: None,
                from: "q@x.org".into(),
                to: vec!["ops+ci@x.org".into()],
                ca_file: None,
            }
        );
    }
}
