//! What the HTTP channels share: sending a request, reading a bounded answer, the generic
//! sorting of statuses, and errors that never carry the URL (where tokens live).

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::delivery::Delivery;
use super::text::cut_chars;

/// At most this much of an answer is read: every service's answer is a few hundred bytes.
const MAX_ANSWER: usize = 64 * 1024;
/// At most this many characters of an answer are quoted in an error.
const MAX_QUOTE: usize = 200;

/// A service's answer, its body bounded.
pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as one line of at most 200 characters, for an error message.
    pub fn quote(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            "(empty answer)".to_owned()
        } else {
            cut_chars(&line, MAX_QUOTE)
        }
    }

    /// The body as text, trimmed (Slack's `ok`, its error codes).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_owned()
    }

    /// The wait a `Retry-After` header asks for, in seconds (integer or decimal). The
    /// HTTP-date form is not read: the outbox's own backoff applies then.
    pub fn retry_after(&self) -> Option<Duration> {
        seconds_header(&self.headers, RETRY_AFTER.as_str())
    }

    /// The generic sorting: 2xx sent; 429 retry after `Retry-After`; 408 and 5xx retry; a
    /// redirect (not followed) and any other 4xx permanent.
    pub fn classify(&self, service: &str) -> Delivery {
        let status = self.status;
        if status.is_success() {
            Delivery::Sent
        } else if status == StatusCode::TOO_MANY_REQUESTS {
            Delivery::Retry {
                after: self.retry_after(),
                error: format!("{service}: rate limited (429)"),
            }
        } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            Delivery::Retry {
                after: self.retry_after(),
                error: format!("{service}: {status}: {}", self.quote()),
            }
        } else if status.is_redirection() {
            Delivery::Permanent {
                error: format!(
                    "{service}: {status}: the URL redirects elsewhere; configure the final URL"
                ),
            }
        } else {
            Delivery::Permanent {
                error: format!("{service}: {status}: {}", self.quote()),
            }
        }
    }
}

/// A header holding seconds, integer or decimal (`Retry-After: 3`, `X-RateLimit-Reset-After:
/// 1.25`).
pub(super) fn seconds_header(headers: &HeaderMap, name: &str) -> Option<Duration> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    seconds(value.parse().ok()?)
}

/// `secs` as a wait; None for a negative or non-finite number.
pub(super) fn seconds(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs).ok()
}

/// Sends `request` and reads its answer; a failure to talk to the service is a retry, its
/// error without the URL.
/// Sends `request` and judges the answer by the service's own rules (`classify`); a request
/// that never got an answer was judged by [`exchange`] already.
pub(super) async fn settle(
    service: &str,
    request: reqwest::RequestBuilder,
    classify: impl Fn(&Answer) -> Delivery,
) -> Delivery {
    match exchange(service, request).await {
        Ok(answer) => classify(&answer),
        Err(delivery) => delivery,
    }
}

/// A POST of `body` as JSON.
pub(super) fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
}

pub(super) async fn exchange(
    service: &str,
    request: reqwest::RequestBuilder,
) -> Result<Answer, Delivery> {
    // A request that cannot even be built (a malformed URL in the config) will never go.
    let retry = |e: reqwest::Error| match e.is_builder() {
        true => Delivery::Permanent {
            error: format!("{service}: {}", describe(e)),
        },
        false => Delivery::Retry {
            after: None,
            error: format!("{service}: {}", describe(e)),
        },
    };
    let mut response = request.send().await.map_err(retry)?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while body.len() < MAX_ANSWER {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            // The status came: a body cut short still says what the status says.
            Err(e) if status.is_success() => {
                tracing::debug!("{service}: answer cut short: {}", describe(e));
                break;
            }
            Err(e) => return Err(retry(e)),
        }
    }
    body.truncate(MAX_ANSWER);
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A reqwest error as a short sentence without its URL: what went wrong, from the innermost
/// cause (`Connection refused (os error 111)`, `operation timed out`).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut cause: &(dyn std::error::Error + 'static) = &e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_builder() {
        "bad URL"
    } else {
        "request failed"
    };
    format!("{what}: {cause}")
}
