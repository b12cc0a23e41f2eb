//! The live event stream: resume after a dropped connection loses nothing and repeats nothing.

use std::time::Duration;

use qcity_types::EventPage;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::{As, Req, Server, serve};

/// An open stream: frames as (id, event type).
pub struct Sse {
    lines: tokio::io::Lines<BufReader<tokio::net::TcpStream>>,
}

impl Sse {
    pub async fn open(s: &Server, who: As<'_>, last_id: Option<u64>) -> Sse {
        let mut req = Req::new("GET", "/api/v1/events/stream", who);
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let mut conn = s.connect(None).await;
        conn.write_all(s.request_bytes(&req).as_bytes())
            .await
            .unwrap();
        Sse {
            lines: BufReader::new(conn).lines(),
        }
    }

    /// The next event frame (skipping hello and keep-alives), with a deadline.
    pub async fn next(&mut self) -> (u64, String) {
        let (mut id, mut kind) = (None, None);
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
                .await
                .expect("an event within 10 s")
                .unwrap()
                .expect("the stream is open");
            // Chunked framing puts sizes on their own lines; SSE fields are what we read.
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("event: ") {
                kind = Some(v.trim().to_string());
            } else if line.starts_with("data: ") && kind.as_deref() != Some("hello") {
                if let (Some(id), Some(kind)) = (id, kind.clone()) {
                    return (id, kind);
                }
            } else if line.starts_with("data: ") {
                kind = None;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_resumes_without_a_gap_or_a_repeat() {
    let s = serve().await;
    let start: EventPage = s.ok("GET", "/api/v1/events?after=0&limit=1000").await;
    let from = start.next_after;
    let master = s.token.expose().to_string();
    let mut sse = Sse::open(&s, As::Bearer(&master), Some(from)).await;
    for _ in 0..10 {
        s.ok::<serde_json::Value>("POST", "/api/v1/runners/echo/restart")
            .await;
    }
    let mut seen = Vec::new();
    for _ in 0..7 {
        seen.push(sse.next().await);
    }
    drop(sse);
    // While nobody listens, more happens.
    for _ in 0..10 {
        s.ok::<serde_json::Value>("POST", "/api/v1/runners/echo/restart")
            .await;
    }
    let last = seen.last().unwrap().0;
    let mut sse = Sse::open(&s, As::Bearer(&master), Some(last)).await;
    let all: EventPage = s
        .ok("GET", &format!("/api/v1/events?after={from}&limit=1000"))
        .await;
    let want: Vec<(u64, String)> = all
        .events
        .iter()
        .map(|e| (e.id, e.kind.name().to_string()))
        .collect();
    while seen.len() < want.len() {
        seen.push(sse.next().await);
    }
    assert_eq!(
        seen, want,
        "every event once, in order, across the reconnect"
    );
    s.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_stream_carries_states_not_controls() {
    let s = serve().await;
    let viewer = s.user_session("vic", "viewer", "viewer-pass-2").await;
    let mut sse = Sse::open(&s, As::Session(&viewer), None).await;
    // Let the stream subscribe before anything happens.
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.ok::<serde_json::Value>("POST", "/api/v1/runners/echo/restart")
        .await;
    let mut kinds = Vec::new();
    loop {
        let (_, kind) = sse.next().await;
        kinds.push(kind.clone());
        if kinds.iter().filter(|k| *k == "runner-state").count() >= 3 {
            break;
        }
    }
    assert!(!kinds.contains(&"control".to_string()), "{kinds:?}");
    s.engine.shutdown("test").await;
}
