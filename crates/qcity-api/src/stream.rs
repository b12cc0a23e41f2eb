//! The live event stream (`GET /api/v1/events/stream`), as Server-Sent Events.
//!
//! Gapless by construction: every event has the next id, so a client that says where it is
//! (`Last-Event-ID`, which browsers send on reconnect, or `?after=`) gets every later event,
//! in order, exactly once. The stream subscribes to the bus first, then catches up from the
//! store; live events it already sent are skipped by id. When the live feed skips ids (this
//! subscriber was full), the missed ones are read back from the store, so a slow browser gets
//! them late but never loses them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use qcity_engine::Engine;
use qcity_engine::bus::EventReceiver;
use qcity_types::Event;

use qcity_types::Role;

/// Buffered live events per stream; beyond that the stream reads from the store instead.
const LIVE_CAPACITY: usize = 1024;
/// Events read from the store at a time while catching up.
const PAGE: usize = 500;
/// A comment line this often keeps proxies and the browser from closing an idle stream.
const KEEPALIVE: Duration = Duration::from_secs(15);

struct EventStream {
    engine: Arc<Engine>,
    rx: EventReceiver,
    role: Role,
    /// The id of the last event handled (sent, or hidden from this role).
    last: u64,
    /// Catch up from the store until here before reading live events again.
    target: u64,
    pending: VecDeque<Event>,
    greeted: bool,
}

/// The stream for `role`, starting after event `after` (`None`: from now on).
pub fn response(engine: Arc<Engine>, role: Role, after: Option<u64>) -> Response {
    let rx = engine.bus().subscribe("event-stream", LIVE_CAPACITY);
    // Read after subscribing: whatever is published in between comes both ways and is
    // dropped by id the second time.
    let head = engine.bus().next_id() - 1;
    let last = after.unwrap_or(head).min(head);
    let stream = EventStream {
        engine,
        rx,
        role,
        last,
        target: head,
        pending: VecDeque::new(),
        greeted: false,
    };
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        let frame = s.next_frame().await?;
        Some((Ok::<_, std::convert::Infallible>(frame), s))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

impl EventStream {
    async fn next_frame(&mut self) -> Option<Bytes> {
        if !self.greeted {
            self.greeted = true;
            // `retry`: reconnect after 1 s; `hello` says where the stream starts.
            return Some(Bytes::from(format!(
                "retry: 1000\nevent: hello\ndata: {{\"after\":{}}}\n\n",
                self.last
            )));
        }
        loop {
            if let Some(e) = self.pending.pop_front() {
                if let Some(frame) = self.handle(&e) {
                    return Some(frame);
                }
                continue;
            }
            if self.last < self.target {
                self.catch_up().await?;
                continue;
            }
            let e = match tokio::time::timeout(KEEPALIVE, self.rx.recv()).await {
                Err(_) => return Some(Bytes::from_static(b": keep-alive\n\n")),
                Ok(None) => return None,
                Ok(Some(e)) => e,
            };
            if e.id > self.last + 1 {
                // Ids were skipped: read them, and this one, from the store.
                self.target = e.id;
                continue;
            }
            if let Some(frame) = self.handle(&e) {
                return Some(frame);
            }
        }
    }

    /// The frame for `e`, or None when it was sent already or is not for this role.
    fn handle(&mut self, e: &Event) -> Option<Bytes> {
        if e.id <= self.last {
            return None;
        }
        self.last = e.id;
        if !crate::auth::may_see(self.role, &e.kind) {
            return None;
        }
        let data = serde_json::to_string(e).ok()?;
        Some(Bytes::from(format!(
            "id: {}\nevent: {}\ndata: {data}\n\n",
            e.id,
            e.kind.name()
        )))
    }

    /// One page of the events between `last` and `target`, from the store. None ends the
    /// stream (the store cannot be read; the client reconnects and resumes).
    async fn catch_up(&mut self) -> Option<()> {
        // The journal group-commits: wait until what we want is on disk.
        self.engine.wait_durable(self.target).await;
        let engine = self.engine.clone();
        let after = self.last;
        let page = tokio::task::spawn_blocking(move || engine.events_after(after, PAGE))
            .await
            .ok()?
            .ok()?;
        if page.is_empty() {
            // Nothing stored up to the target (it cannot be read back): go on live.
            self.last = self.target;
        }
        let target = self.target;
        self.pending
            .extend(page.into_iter().filter(|e| e.id <= target));
        Some(())
    }
}
