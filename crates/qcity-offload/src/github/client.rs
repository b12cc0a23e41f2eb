//! The REST calls: GitHub's headers on each, rate limits waited out within a budget, GitHub's
//! errors turned into the executor's (`Refused`, `Unreachable`), and downloads through the
//! short-lived redirects GitHub answers with.

use std::path::Path;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::limits;
use super::token::Token;
use crate::exec::{ExecError, Log};

/// The API version asked for: the first dated one, served for at least 24 months after
/// 2026-03-10; its `workflow_dispatch` still answers 204 to older servers' clients, which
/// `run.rs` handles.
const API_VERSION: &str = "2022-11-28";
/// One REST call's limit (a download's body is bounded by the read timeout instead).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Rate-limited answers one request takes before giving up, however short the waits.
const MAX_LIMITED: u32 = 6;

/// A GitHub API root with its token.
pub(crate) struct Client {
    http: reqwest::Client,
    api: Url,
    auth: HeaderValue,
    log: Log,
    /// The most one request may wait on rate limits in all (the job's timeout).
    wait_budget: Duration,
}

/// An answer read whole (API answers are small JSON documents).
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Client {
    pub(crate) fn new(
        api_url: &str,
        token: &Token,
        log: Log,
        wait_budget: Duration,
    ) -> Result<Client, ExecError> {
        let api = Url::parse(api_url.trim_end_matches('/'))
            .map_err(|e| ExecError::Refused(format!("github api_url `{api_url}`: {e}")))?;
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", token.secret())).map_err(|_| {
                ExecError::Refused("the github token has characters a header cannot carry".into())
            })?;
        // reqwest and hyper leave sensitive values out of their Debug output.
        auth.set_sensitive(true);
        // reqwest is built without a crypto provider of its own: rustls' ring becomes the
        // process default, as the notifier's channels and the status poller install it (Err:
        // one is installed already, which all then share).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("qcity/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            // Redirects are followed by hand: the target of a download's redirect is another
            // host, which must not receive the token (reqwest would keep custom headers).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ExecError::Unreachable(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client {
            http,
            api,
            auth,
            log,
            wait_budget,
        })
    }

    /// `path` under the API root (`/repos/acme/app/actions/runs/1`).
    pub(crate) fn url(&self, path: &str) -> Result<Url, ExecError> {
        let full = format!("{}{path}", self.api.as_str().trim_end_matches('/'));
        Url::parse(&full).map_err(|e| ExecError::Refused(format!("{full}: {e}")))
    }

    /// Sends one request with GitHub's headers, waiting out rate limits. Only URLs on the API's
    /// own origin are sent to (a `link` header pointing elsewhere would otherwise get the
    /// token).
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ExecError> {
        if url.origin() != self.api.origin() {
            return Err(ExecError::Refused(format!(
                "GitHub pointed to {url}, outside {}: the token is not sent there",
                self.api
            )));
        }
        let mut waited = Duration::ZERO;
        for limited in 0.. {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .timeout(CALL_TIMEOUT)
                .header(header::AUTHORIZATION, self.auth.clone())
                .header(header::ACCEPT, "application/vnd.github+json")
                .header("x-github-api-version", API_VERSION);
            if let Some(b) = body {
                req = req
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(b.to_string());
            }
            let resp = req.send().await.map_err(|e| no_answer(&self.api, &e))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp
                .bytes()
                .await
                .map_err(|e| no_answer(&self.api, &e))?
                .to_vec();
            let answer = Answer {
                status,
                headers,
                body,
            };
            let pause = limits::wait(status, &answer.headers, &answer.message(), limited, now());
            let Some(pause) = pause else {
                return Ok(answer);
            };
            if limited + 1 >= MAX_LIMITED || waited + pause > self.wait_budget {
                return Err(ExecError::Unreachable(format!(
                    "GitHub's rate limit: {method} {} still refused after waiting {} s: {}",
                    url.path(),
                    waited.as_secs(),
                    answer.message()
                )));
            }
            let line = format!(
                "github: rate limited ({status}) on {method} {}: waiting {} s",
                url.path(),
                pause.as_secs()
            );
            tracing::warn!("{line}");
            self.log.note(&line);
            tokio::time::sleep(pause).await;
            waited += pause;
        }
        unreachable!("the loop returns")
    }

    /// Downloads what `url` redirects to into `to` and returns its SHA-256 (lowercase hex).
    /// GitHub answers a download with a 302 to a storage URL that expires after a minute: it
    /// is fetched at once, without the token (another host), and when it had expired already
    /// (403, 404 or 410 from the storage host) a fresh one is asked for, once. A 410 from the
    /// API means the thing itself expired: `Job` (no other place has it either).
    pub(crate) async fn download(
        &self,
        url: &Url,
        what: &str,
        to: &Path,
    ) -> Result<String, ExecError> {
        for second in [false, true] {
            let answer = self.send(Method::GET, url, None).await?;
            let location = match answer.status {
                200 => return write_all(to, &answer.body).await,
                301 | 302 | 303 | 307 | 308 => answer
                    .headers
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| url.join(l).ok())
                    .ok_or_else(|| {
                        ExecError::Unreachable(format!("{what}: a redirect without a Location"))
                    })?,
                410 => return Err(ExecError::Job(format!("{what} expired on GitHub"))),
                _ => return Err(answer.refusal(&format!("downloading {what}"), "")),
            };
            // No Authorization here: a plain GET of a signed URL.
            let resp = self
                .http
                .get(location.clone())
                .send()
                .await
                .map_err(|e| no_answer(&self.api, &e))?;
            match resp.status().as_u16() {
                200 => return stream_to(resp, to, &self.api).await,
                403 | 404 | 410 if !second => {
                    self.log.note(&format!(
                        "github: the download URL of {what} had expired: asking for a fresh one"
                    ));
                }
                s => {
                    return Err(ExecError::Unreachable(format!(
                        "{what}: the storage host {} answered {s}",
                        location.host_str().unwrap_or("?")
                    )));
                }
            }
        }
        unreachable!("the second pass returns")
    }
}

impl Answer {
    /// GitHub's `message` (with a validation error's `errors` when they are strings), else
    /// the start of the body.
    pub(crate) fn message(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Basic {
            message: Option<String>,
            #[serde(default)]
            errors: Vec<serde_json::Value>,
        }
        if let Ok(b) = serde_json::from_slice::<Basic>(&self.body)
            && let Some(m) = b.message
        {
            let extra: Vec<&str> = b.errors.iter().filter_map(|e| e.as_str()).collect();
            return if extra.is_empty() {
                m
            } else {
                format!("{m}: {}", extra.join("; "))
            };
        }
        let text = String::from_utf8_lossy(&self.body);
        let text: String = text.chars().take(200).filter(|c| !c.is_control()).collect();
        if text.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            text
        }
    }

    /// The body as `T`; an answer that is not what the contract says is the place's fault.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self, doing: &str) -> Result<T, ExecError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ExecError::Unreachable(format!(
                "{doing}: GitHub's answer is not the documented JSON: {e}"
            ))
        })
    }

    /// An answer that is not a success, as the executor's error: what GitHub said, what we
    /// were doing, and (for 404 and 422) `check`, what the user should look at.
    pub(crate) fn refusal(&self, doing: &str, check: &str) -> ExecError {
        let m = self.message();
        let check = if check.is_empty() {
            String::new()
        } else {
            format!(": {check}")
        };
        match self.status {
            401 => ExecError::Refused(format!(
                "GitHub: {m} ({doing}): check the token (expired, revoked, or another account's)"
            )),
            403 => ExecError::Refused(format!(
                "GitHub: {m} ({doing}): the token lacks a permission (Actions: read and write)"
            )),
            404 | 422 | 400 => ExecError::Refused(format!("GitHub: {m} ({doing}){check}")),
            s if s >= 500 => ExecError::Unreachable(format!("GitHub answered {s} ({doing}): {m}")),
            s => ExecError::Refused(format!("GitHub answered {s} ({doing}): {m}")),
        }
    }
}

fn no_answer(api: &Url, e: &reqwest::Error) -> ExecError {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    ExecError::Unreachable(format!("GitHub at {api}: {text}"))
}

async fn write_all(to: &Path, bytes: &[u8]) -> Result<String, ExecError> {
    tokio::fs::write(to, bytes)
        .await
        .map_err(|e| ExecError::Job(format!("{}: {e}", to.display())))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// Writes the body to `to` as it comes, hashing it on the way.
async fn stream_to(mut resp: reqwest::Response, to: &Path, api: &Url) -> Result<String, ExecError> {
    let io = |e: std::io::Error| ExecError::Job(format!("{}: {e}", to.display()));
    let mut file = tokio::fs::File::create(to).await.map_err(io)?;
    let mut sha = Sha256::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| no_answer(api, &e))? {
        sha.update(&chunk);
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(hex::encode(sha.finalize()))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
