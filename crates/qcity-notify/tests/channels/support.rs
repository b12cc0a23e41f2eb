//! A loopback HTTP server standing in for a service: it records every request and answers
//! with what the test's contract function says. Dropping it stops it.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use qcity_notify::channels::Delivery;
use qcity_notify::message::Message;
use qcity_types::Severity;

/// One request as the service received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether the body was declared as JSON (`application/json`, parameters allowed).
    pub fn is_json(&self) -> bool {
        self.header("content-type")
            .is_some_and(|ct| ct.split(';').next() == Some("application/json"))
    }
}

/// The service's answer.
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "text/plain; charset=utf-8".into())],
            body: body.into(),
        }
    }

    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl ToString) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }
}

type Contract = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Shared {
    contract: Contract,
    seen: Arc<Mutex<Vec<Request>>>,
}

/// The running stand-in; stopped when dropped.
pub struct FakeService {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    seen: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeService {
    pub async fn start(contract: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            contract: Arc::new(contract),
            seen: seen.clone(),
        };
        let app = Router::new().fallback(handle).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeService { base, seen, task }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }

    /// The only request received.
    pub fn one_request(&self) -> Request {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected one request: {requests:#?}");
        requests.into_iter().next().unwrap()
    }
}

impl Drop for FakeService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Request {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    };
    let reply = (shared.contract)(&request);
    shared.seen.lock().unwrap().push(request);
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}

pub fn message(severity: Severity, title: &str, body: &str) -> Message {
    Message {
        id: 42,
        severity,
        title: title.into(),
        body: body.into(),
        link: Some("https://qcity.local/runners/build-1?tab=log&n=2".into()),
        tags: vec!["build-1".into(), "failure".into()],
    }
}

/// The error of a delivery that failed, for asserting on.
pub fn error_of(delivery: &Delivery) -> &str {
    match delivery {
        Delivery::Sent => panic!("expected a failure, got Sent"),
        Delivery::Retry { error, .. } | Delivery::Permanent { error } => error,
    }
}

/// The delivery is permanent and its error names none of `secrets`.
#[track_caller]
pub fn assert_permanent_without(delivery: &Delivery, secrets: &[&str]) {
    assert!(
        matches!(delivery, Delivery::Permanent { .. }),
        "expected Permanent: {delivery:?}"
    );
    assert_no_secret(delivery, secrets);
}

#[track_caller]
pub fn assert_no_secret(delivery: &Delivery, secrets: &[&str]) {
    let error = error_of(delivery);
    for secret in secrets {
        assert!(!error.contains(secret), "the error shows a secret: {error}");
    }
}

/// A port nothing listens on (bound then released), for network-error tests.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
