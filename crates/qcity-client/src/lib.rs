//! The typed client of QCity's local API, for the faces (the CLI, the tray app): finds the
//! daemon of a data directory (`daemon.json` and the token in it) and calls it; reads its
//! event stream ([`Client::events`]).

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use qcity_api::{DaemonInfo, Token, TokenError};
use qcity_engine::datadir::DataDir;
use qcity_types::Event;
use qcity_types::{ErrorBody, ErrorCode};
use serde::de::DeserializeOwned;

/// Why a call to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon serves the data dir: no `daemon.json`, or its process is gone.
    #[error("no qcity daemon is running for data dir {data_root} (start one with `qcity up`)")]
    NoDaemon { data_root: String },
    /// The daemon's address does not answer.
    #[error("the qcity daemon of data dir {data_root} does not answer ({error})")]
    NotAnswering {
        data_root: String,
        error: ureq::Error,
    },
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("request to the qcity daemon failed: {0}")]
    Request(ureq::Error),
    /// The daemon refused, with a body that is not the API's error body.
    #[error("the daemon answered {status} with an unreadable body: {error}")]
    UnreadableRefusal {
        status: ureq::http::StatusCode,
        error: ureq::Error,
    },
    /// The daemon refused: the API's error `code` (`unknown_runner`, `invalid_config`…) and
    /// its message, each of several errors on a line of its own after it.
    #[error("{message}")]
    Refused {
        status: u16,
        code: ErrorCode,
        message: String,
    },
    #[error("unreadable answer from the daemon: {0}")]
    Unreadable(ureq::Error),
}

impl ClientError {
    /// No daemon runs, or it does not answer.
    pub fn is_no_daemon(&self) -> bool {
        matches!(self, Self::NoDaemon { .. } | Self::NotAnswering { .. })
    }

    /// The API's error code, when the daemon refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A connection to the running daemon.
pub struct Client {
    base: String,
    token: Token,
    agent: ureq::Agent,
    data_root: String,
    /// Which face calls, for the audit log (`cli`, `tray`).
    face: &'static str,
}

impl Client {
    /// Reads `daemon.json` and the token from the data directory. A missing file or a daemon
    /// that is gone is [`ClientError::NoDaemon`].
    pub fn connect(data: &DataDir) -> Result<Client, ClientError> {
        let data_root = data.root().display().to_string();
        let no_daemon = || ClientError::NoDaemon {
            data_root: data_root.clone(),
        };
        let info = DaemonInfo::read(&data.daemon_info()).ok_or_else(no_daemon)?;
        if !qcity_engine::supervisor::process::pid_alive(info.pid) {
            return Err(no_daemon());
        }
        let token = Token::load(&data.token())?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .into();
        Ok(Client {
            base: format!("http://{}", info.addr),
            token,
            agent,
            data_root,
            face: "cli",
        })
    }

    /// The same connection, recorded in the audit log as `face`.
    pub fn with_face(mut self, face: &'static str) -> Self {
        self.face = face;
        self
    }

    /// The API's base URL (`http://127.0.0.1:7717`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The local token (the tray's window exchanges it for a session).
    pub fn token(&self) -> &Token {
        &self.token
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.request(self.agent.get(self.url(path))).call();
        self.json(resp)
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.request(self.agent.post(self.url(path))).send_empty();
        self.json(resp)
    }

    pub fn put_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, ClientError> {
        let resp = self.request(self.agent.put(self.url(path))).send_json(body);
        self.json(resp)
    }

    pub fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, ClientError> {
        let resp = self
            .request(self.agent.post(self.url(path)))
            .send_json(body);
        self.json(resp)
    }

    pub fn delete(&self, path: &str) -> Result<(), ClientError> {
        let resp = self.request(self.agent.delete(self.url(path))).call();
        self.check(resp).map(drop)
    }

    /// A streaming body, read until the daemon closes it.
    pub fn stream(&self, path: &str) -> Result<impl Read + use<>, ClientError> {
        let resp = self.request(self.agent.get(self.url(path))).call();
        let resp = self.check(resp)?;
        Ok(resp.into_body().into_reader())
    }

    /// The engine's events as they happen (`/events/stream`), until the daemon closes the
    /// stream.
    pub fn events(&self) -> Result<Events<impl Read + use<>>, ClientError> {
        Ok(Events::new(self.stream("/events/stream")?))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// The token, and the face the audit log records.
    fn request<B>(&self, r: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        r.header("Authorization", format!("Bearer {}", self.token.expose()))
            .header(qcity_api::CLIENT_HEADER, self.face)
    }

    fn check(
        &self,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
        let mut resp = resp.map_err(|e| match e {
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                ClientError::NotAnswering {
                    data_root: self.data_root.clone(),
                    error: e,
                }
            }
            other => ClientError::Request(other),
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body: ErrorBody = resp
            .body_mut()
            .read_json()
            .map_err(|error| ClientError::UnreadableRefusal { status, error })?;
        let mut message = body.message;
        for e in body.errors {
            message.push('\n');
            message.push_str(&e);
        }
        Err(ClientError::Refused {
            status: status.as_u16(),
            code: body.code,
            message,
        })
    }

    fn json<T: DeserializeOwned>(
        &self,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ClientError> {
        self.check(resp)?
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_json()
            .map_err(ClientError::Unreadable)
    }
}

/// The engine's events from a server-sent event stream: `event:` and `data:` lines, a blank
/// line ends one. What is not an event (`hello`, keep-alive comments) is skipped. Ends when
/// the stream does; after an error the stream is broken and should be dropped.
pub struct Events<R> {
    lines: std::io::Lines<BufReader<R>>,
    data: String,
}

impl<R: Read> Events<R> {
    pub fn new(stream: R) -> Self {
        Events {
            lines: BufReader::new(stream).lines(),
            data: String::new(),
        }
    }
}

impl<R: Read> Iterator for Events<R> {
    type Item = std::io::Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.lines.next()? {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            };
            if let Some(d) = line.strip_prefix("data: ") {
                self.data.push_str(d);
            } else if line.is_empty() && !self.data.is_empty() {
                let data = std::mem::take(&mut self.data);
                // `hello` and other non-events do not parse as an event; they are skipped.
                if let Ok(e) = serde_json::from_str::<Event>(&data) {
                    return Some(Ok(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_and_everything_else_skipped() {
        let kind = qcity_types::EventKind::SubscriberLagged {
            subscriber: "x".into(),
            missed: 3,
        };
        let event = serde_json::to_string(&Event {
            id: 7,
            ts_ms: 1,
            kind,
        })
        .unwrap();
        let stream = format!(
            "retry: 1000\nevent: hello\ndata: {{\"after\":6}}\n\n: keep-alive\n\nid: 7\nevent: subscriber-lagged\ndata: {event}\n\n"
        );
        let ids: Vec<u64> = Events::new(stream.as_bytes())
            .map(|e| e.unwrap().id)
            .collect();
        assert_eq!(ids, [7]);
    }
}
