//! Connections that send nothing give their slot back; the event stream is not one of them.

use std::time::Duration;

use qcity_api::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::stream::Sse;
use crate::support::{As, Server, serve_within};

const TIMEOUT: Duration = Duration::from_millis(500);

/// Reads until the server closes `conn`; panics if it is still open after 5 s.
async fn closed_by_the_server(conn: &mut tokio::net::TcpStream, what: &str) {
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "{what}: still open after 5 s");
}

async fn server() -> Server {
    serve_within(ConnectionLimits {
        max: 64,
        header_timeout: TIMEOUT,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_slow_and_idle_connections_are_closed() {
    let s = server().await;
    let mut silent = s.connect(None).await;
    let mut slow = s.connect(None).await;
    slow.write_all(format!("GET /api/v1/runners HTTP/1.1\r\nHost: {}\r\n", s.host()).as_bytes())
        .await
        .unwrap();
    // A whole request, answered, on a connection kept alive; then nothing more.
    let mut idle = s.connect(None).await;
    idle.write_all(
        format!("GET /api/v1/runners HTTP/1.1\r\nHost: {}\r\n\r\n", s.host()).as_bytes(),
    )
    .await
    .unwrap();
    closed_by_the_server(&mut silent, "a connection that sent nothing").await;
    closed_by_the_server(&mut slow, "a connection stuck in its request head").await;
    closed_by_the_server(&mut idle, "a kept-alive connection left idle").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_outlives_the_header_timeout() {
    let s = server().await;
    let master = s.token.expose().to_string();
    let mut sse = Sse::open(&s, As::Bearer(&master), None).await;
    tokio::time::sleep(TIMEOUT * 4).await;
    let before: qcity_types::EventPage = s.ok("GET", "/api/v1/events?after=0&limit=1000").await;
    s.ok::<serde_json::Value>("POST", "/api/v1/runners/echo/restart")
        .await;
    // Whatever the stream sent before the wait is read past: only an event of the restart
    // proves it was still open.
    loop {
        let (id, _) = sse.next().await;
        if id > before.next_after {
            break;
        }
    }
}
