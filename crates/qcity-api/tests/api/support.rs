use std::sync::Arc;

use qcity_api::Token;
use qcity_engine::{Engine, EngineOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Server {
    pub _dir: tempfile::TempDir,
    pub conf: std::path::PathBuf,
    pub addr: std::net::SocketAddr,
    pub token: Token,
    pub engine: Arc<Engine>,
    pub healer: Arc<qcity_healer::Healer>,
}

pub const MANIFEST: &str = r#"{"runners": [
  {"name": "echo", "command": ["sh", "-c", "echo hello-from-echo; exec sleep 30"], "stop_grace_ms": 2000}
], "tasks": [{"name": "echo", "command": ["true"]}]}"#;

pub async fn serve() -> Server {
    serve_with(&[]).await
}

/// A server whose config dir also holds `files` (name, contents).
pub async fn serve_with(files: &[(&str, &str)]) -> Server {
    serve_full(files, qcity_api::ConnectionLimits::default()).await
}

/// A server that keeps its connections within `limits`.
pub async fn serve_within(limits: qcity_api::ConnectionLimits) -> Server {
    serve_full(&[], limits).await
}

async fn serve_full(files: &[(&str, &str)], limits: qcity_api::ConnectionLimits) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("runner_manifest.json"), MANIFEST).unwrap();
    for (name, text) in files {
        std::fs::write(conf.join(name), text).unwrap();
    }
    let config = qcity_config::load_dir(&conf).unwrap();
    let engine = Engine::start(EngineOptions::new(config, dir.path().join("data")))
        .await
        .unwrap();
    let token = Token::load_or_create(&engine.data_dir().token()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let healer = qcity_healer::start(engine.clone());
    let notify = qcity_notify::Remote::open(
        &engine.data_dir().db(),
        &conf,
        format!("http://{addr}"),
        Some(engine.bus().clone()),
    )
    .unwrap();
    tokio::spawn(qcity_api::serve(
        listener,
        qcity_api::Services {
            engine: engine.clone(),
            healer: healer.clone(),
            notify: Some(notify),
            platforms: None,
            // An engine in a test cannot restart into another binary, as the tray app's
            // cannot.
            updater: Some(qcity_update::Updater::new(engine.clone(), false)),
            offload: Some(qcity_offload::Offload::new(engine.clone())),
        },
        token.clone(),
        limits,
    ));
    Server {
        _dir: dir,
        conf,
        addr,
        token,
        engine,
        healer,
    }
}

/// A response: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The error code of an error body.
    pub fn code(&self) -> String {
        self.json::<qcity_types::ErrorBody>()
            .code
            .as_str()
            .to_string()
    }
}

/// How a request proves who it is.
#[derive(Debug, Clone, Copy)]
pub enum As<'a> {
    Nobody,
    Bearer(&'a str),
    Session(&'a str),
}

/// One request, written by hand so that every header (Host, Origin, Cookie) is ours.
pub struct Req<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub who: As<'a>,
    pub headers: Vec<(&'a str, String)>,
    pub body: Option<String>,
    /// Connect from this local address (127.0.0.0/8 is all loopback).
    pub from: Option<std::net::IpAddr>,
    /// A session request names the dashboard's origin, as a browser on it would, unless a
    /// test sets another `Origin` or none.
    pub no_origin: bool,
}

impl<'a> Req<'a> {
    pub fn new(method: &'a str, path: &'a str, who: As<'a>) -> Self {
        Req {
            method,
            path,
            who,
            headers: Vec::new(),
            body: None,
            from: None,
            no_origin: false,
        }
    }

    /// Sends no `Origin`, as no browser would with a cookie.
    pub fn without_origin(mut self) -> Self {
        self.no_origin = true;
        self
    }

    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn json(mut self, v: serde_json::Value) -> Self {
        self.body = Some(v.to_string());
        self
    }

    pub fn from(mut self, ip: &str) -> Self {
        self.from = Some(ip.parse().unwrap());
        self
    }
}

impl Server {
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub async fn connect(&self, from: Option<std::net::IpAddr>) -> tokio::net::TcpStream {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(ip) = from {
            sock.bind(std::net::SocketAddr::new(ip, 0)).unwrap();
        }
        sock.connect(self.addr).await.unwrap()
    }

    /// The request's bytes (without reading any answer).
    pub fn request_bytes(&self, req: &Req<'_>) -> String {
        let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.path);
        if !req
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("host"))
        {
            head += &format!("Host: {}\r\n", self.host());
        }
        match req.who {
            As::Nobody => {}
            As::Bearer(t) => head += &format!("Authorization: Bearer {t}\r\n"),
            As::Session(c) => {
                head += &format!("Cookie: qcity_session={c}\r\n");
                let named = req
                    .headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("origin"));
                if !named && !req.no_origin {
                    head += &format!("Origin: http://{}\r\n", self.host());
                }
            }
        }
        head += "X-QCity-Client: test\r\nConnection: close\r\n";
        for (k, v) in &req.headers {
            head += &format!("{k}: {v}\r\n");
        }
        let body = req.body.clone().unwrap_or_default();
        if req.body.is_some() {
            head += "Content-Type: application/json\r\n";
        }
        head += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
        head
    }

    pub async fn send(&self, req: Req<'_>) -> Resp {
        let mut s = self.connect(req.from).await;
        s.write_all(self.request_bytes(&req).as_bytes())
            .await
            .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        parse(&raw)
    }

    /// A request as the master token.
    pub async fn call(&self, method: &str, path: &str) -> Resp {
        self.send(Req::new(method, path, As::Bearer(self.token.expose())))
            .await
    }

    /// A 200 answer as the master, decoded.
    pub async fn ok<T: serde::de::DeserializeOwned>(&self, method: &str, path: &str) -> T {
        let r = self.call(method, path).await;
        assert_eq!(r.status, 200, "{method} {path}: {}", r.body);
        r.json()
    }

    /// Creates `user` with `role` and logs in: the session id.
    pub async fn user_session(&self, user: &str, role: &str, password: &str) -> String {
        let r = self
            .send(
                Req::new(
                    "PUT",
                    &format!("/api/v1/users/{user}"),
                    As::Bearer(self.token.expose()),
                )
                .json(serde_json::json!({"role": role, "password": password})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        self.login(user, password).await
    }

    pub async fn login(&self, user: &str, password: &str) -> String {
        let r = self
            .send(
                Req::new("POST", "/api/v1/auth/login", As::Nobody)
                    .json(serde_json::json!({"user": user, "password": password})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        session_of(&r)
    }
}

/// The session id a login response set.
pub fn session_of(r: &Resp) -> String {
    let cookie = r.header("set-cookie").expect("a Set-Cookie header");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("qcity_session=")
        .unwrap()
        .to_string()
}

fn parse(raw: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out += &rest[..n];
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

impl Server {
    /// Waits until `runner` is running.
    pub async fn wait_running(&self, runner: &str) {
        for _ in 0..200 {
            let st: qcity_types::RunnerStatus =
                self.ok("GET", &format!("/api/v1/runners/{runner}")).await;
            if st.state.name() == "running" {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("{runner} never ran");
    }
}
