//! The CLI's side of the API: finds the daemon of a data directory and calls it.

use std::io::Read;
use std::time::Duration;

use qcity_api::Token;
use qcity_api::types::ErrorBody;
use qcity_engine::datadir::DataDir;
use serde::de::DeserializeOwned;

use crate::daemon::DaemonInfo;
use crate::exit::{CliError, CliResult, Code};

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
    /// that is gone is "no daemon" (exit 3).
    pub fn connect(data: &DataDir) -> CliResult<Client> {
        let data_root = data.root().display().to_string();
        let no_daemon = || {
            CliError::new(
                Code::NoDaemon,
                format!(
                    "no qcity daemon is running for data dir {data_root} (start one with `qcity up`)"
                ),
            )
        };
        let info = DaemonInfo::read(&data.daemon_info()).ok_or_else(no_daemon)?;
        if !qcity_engine::process::pid_alive(info.pid) {
            return Err(no_daemon());
        }
        let token = Token::load(&data.token()).map_err(|e| CliError::error(e.to_string()))?;
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

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> CliResult<T> {
        let resp = self.request(self.agent.get(self.url(path))).call();
        self.json(resp)
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str) -> CliResult<T> {
        let resp = self.request(self.agent.post(self.url(path))).send_empty();
        self.json(resp)
    }

    pub fn put_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> CliResult<T> {
        let resp = self.request(self.agent.put(self.url(path))).send_json(body);
        self.json(resp)
    }

    pub fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> CliResult<T> {
        let resp = self
            .request(self.agent.post(self.url(path)))
            .send_json(body);
        self.json(resp)
    }

    pub fn delete(&self, path: &str) -> CliResult<()> {
        let resp = self.request(self.agent.delete(self.url(path))).call();
        self.check(resp).map(drop)
    }

    /// A streaming body, read until the daemon closes it.
    pub fn stream(&self, path: &str) -> CliResult<impl Read + use<>> {
        let resp = self.request(self.agent.get(self.url(path))).call();
        let resp = self.check(resp)?;
        Ok(resp.into_body().into_reader())
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
    ) -> CliResult<ureq::http::Response<ureq::Body>> {
        let mut resp = resp.map_err(|e| match e {
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                CliError::new(
                    Code::NoDaemon,
                    format!(
                        "the qcity daemon of data dir {} does not answer ({e})",
                        self.data_root
                    ),
                )
            }
            other => CliError::error(format!("request to the qcity daemon failed: {other}")),
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body: ErrorBody = resp.body_mut().read_json().map_err(|e| {
            CliError::error(format!(
                "the daemon answered {status} with an unreadable body: {e}"
            ))
        })?;
        let code = match body.code.as_str() {
            "unknown_runner" | "unknown_task" => Code::UnknownRunner,
            "invalid_config" => Code::InvalidConfig,
            _ => Code::Error,
        };
        let mut message = body.message;
        for e in body.errors {
            message.push('\n');
            message.push_str(&e);
        }
        Err(CliError::new(code, message))
    }

    fn json<T: DeserializeOwned>(
        &self,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> CliResult<T> {
        self.check(resp)?
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_json()
            .map_err(|e| CliError::error(format!("unreadable answer from the daemon: {e}")))
    }
}
