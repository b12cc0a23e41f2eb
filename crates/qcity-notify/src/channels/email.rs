//! Email over SMTP through lettre: one message to every recipient (`To:` lists them all),
//! the subject the title after a severity label, a text/plain body ending with the link.
//! STARTTLS is required when asked for (never a silent fall back to plain text), implicit
//! TLS wraps the connection from its first byte, and plain SMTP is only for a loopback relay.
//! Certificates are checked against the system's roots plus the `ca_file`'s.

use std::net::IpAddr;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::delivery::Delivery;
use super::target::{EmailTarget, EmailTls};
use super::text::{cut_chars, label, one_line};
use crate::message::Message;

const SERVICE: &str = "email";
/// Each SMTP command's timeout.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole exchange's, from connecting to the relay's last answer.
const SEND_TIMEOUT: Duration = Duration::from_secs(90);
const MAX_SUBJECT: usize = 250;

pub(super) async fn send(target: &EmailTarget, msg: &Message) -> Delivery {
    let email = match compose(target, msg) {
        Ok(email) => email,
        Err(error) => return Delivery::Permanent { error },
    };
    let transport = match transport(target) {
        Ok(transport) => transport,
        Err(error) => return Delivery::Permanent { error },
    };
    match tokio::time::timeout(SEND_TIMEOUT, transport.send(email)).await {
        Ok(Ok(_)) => Delivery::Sent,
        Ok(Err(e)) => classify(&e, &target.host),
        Err(_) => Delivery::Retry {
            after: None,
            error: format!("{SERVICE}: the relay did not finish within {SEND_TIMEOUT:?}"),
        },
    }
}

fn compose(target: &EmailTarget, msg: &Message) -> Result<lettre::Message, String> {
    let mailbox = |address: &str| {
        address
            .parse::<Mailbox>()
            .map_err(|e| format!("{SERVICE}: bad address `{address}`: {e}"))
    };
    if target.to.is_empty() {
        return Err(format!("{SERVICE}: no recipients configured"));
    }
    let mut builder = lettre::Message::builder()
        .from(mailbox(&target.from)?)
        .subject(cut_chars(
            &one_line(&format!("{} {}", label(msg.severity), msg.title)),
            MAX_SUBJECT,
        ))
        .message_id(None)
        .header(ContentType::TEXT_PLAIN);
    for to in &target.to {
        builder = builder.to(mailbox(to)?);
    }
    let mut body = msg.body.trim_end().to_owned();
    if let Some(link) = &msg.link {
        if !body.is_empty() {
            body.push_str("\n\n");
        }
        body.push_str(link);
    }
    body.push_str("\n\n-- \nSent by QCity\n");
    builder
        .body(body)
        .map_err(|e| format!("{SERVICE}: cannot build the message: {e}"))
}

fn transport(target: &EmailTarget) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    super::client::install_crypto_provider();
    let host = target.host.as_str();
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(target.port)
        .timeout(Some(COMMAND_TIMEOUT));
    builder = match target.tls {
        EmailTls::Starttls => builder.tls(Tls::Required(tls_parameters(target)?)),
        EmailTls::Implicit => builder.tls(Tls::Wrapper(tls_parameters(target)?)),
        EmailTls::Plain if is_loopback(host) => builder.tls(Tls::None),
        EmailTls::Plain => {
            return Err(format!(
                "{SERVICE}: plain SMTP to `{host}` refused: only a loopback relay may go \
                 without TLS; use STARTTLS or implicit TLS"
            ));
        }
    };
    if let (Some(user), Some(password)) = (&target.user, &target.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.0.clone()));
    }
    Ok(builder.build())
}

/// The host's name checked against the system's roots and the `ca_file`'s certificates.
fn tls_parameters(target: &EmailTarget) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(target.host.clone());
    if let Some(path) = &target.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            format!(
                "{SERVICE}: cannot read the CA file `{}`: {e}",
                path.display()
            )
        })?;
        let certs = Certificate::from_pem(&pem).map_err(|e| {
            format!(
                "{SERVICE}: the CA file `{}` holds no usable certificate: {e}",
                path.display()
            )
        })?;
        builder = builder.add_root_certificate(certs);
    }
    builder
        .build_rustls()
        .map_err(|e| format!("{SERVICE}: cannot set up TLS: {e}"))
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A 5xx reply, a refused certificate and a relay that cannot do what is required (no
/// STARTTLS, no usable authentication) are permanent; a 4xx reply, a connection that fails or
/// times out are worth retrying. lettre's errors hold the relay's reply text, never the
/// password.
fn classify(e: &lettre::transport::smtp::Error, host: &str) -> Delivery {
    let error = format!("{SERVICE}: {}", cut_chars(&one_line(&e.to_string()), 300));
    if e.is_permanent() {
        let hint = match e.status().map(|code| code.to_string()) {
            Some(code) if code.starts_with("53") => ": the relay refused the user or password",
            Some(code) if code.starts_with("55") => ": a recipient or the sender was refused",
            _ => "",
        };
        return Delivery::Permanent {
            error: format!("{error}{hint}"),
        };
    }
    if bad_certificate(e) {
        return Delivery::Permanent {
            error: format!(
                "{error}: the relay's certificate is not trusted for `{host}`; give its CA as \
                 ca_file"
            ),
        };
    }
    if e.is_client() {
        return Delivery::Permanent { error };
    }
    Delivery::Retry { after: None, error }
}

/// Whether a TLS certificate check failed somewhere in `e`'s chain (rustls' error inside an
/// I/O error).
fn bad_certificate(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(err) = cause {
        let rustls_error = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if matches!(
            rustls_error,
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        ) {
            return true;
        }
        cause = err.source();
    }
    false
}
