//! The daemon's one fetcher of status pages: a task per watched platform, polling with
//! jitter, `ETag` / `If-Modified-Since`, `Retry-After`, a body-size cap and a backoff on
//! errors (doubling up to 30 minutes). The state is `unknown` after any failed read, never
//! the last good one; that one is kept as `last_known` with its time. Each change of state
//! is a `platform-changed` event; the faces read `GET /platforms`, never the vendors.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use qcity_engine::Engine;
use qcity_engine::bus::Bus;
use qcity_types::{EventKind, PlatformState, PlatformStatus};
use tokio::task::JoinHandle;

use crate::catalog::{self, Platform};
use crate::providers::{self, Parsed, Watch};

/// A page larger than this is refused: the feeds of the big clouds grow, and a status page
/// is never worth megabytes of the daemon's memory.
const MAX_BODY: usize = 2 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(30 * 60);
/// The least time between two reads of one page, refreshes included: a vendor's page is
/// not hammered by a user clicking "check now".
pub const REFRESH_GAP: Duration = Duration::from_secs(5);
const USER_AGENT: &str = concat!(
    "qcity/",
    env!("CARGO_PKG_VERSION"),
    " (self-hosted runner supervisor; platform status poller)"
);

/// The platforms' statuses, as the poller last read them.
pub struct Platforms {
    statuses: Mutex<BTreeMap<String, PlatformStatus>>,
    /// The running pollers, with the platform each polls.
    tasks: Mutex<Vec<(Platform, JoinHandle<()>)>>,
    /// Wakes every poller for a read now ([`Platforms::refresh`]).
    now: Arc<tokio::sync::Notify>,
    bus: Arc<Bus>,
    interval: Mutex<Duration>,
}

impl Drop for Platforms {
    fn drop(&mut self) {
        for (_, t) in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Platforms {
    /// Every watched platform, in the catalog's order.
    pub fn statuses(&self) -> Vec<PlatformStatus> {
        let statuses = lock(&self.statuses);
        lock(&self.tasks)
            .iter()
            .filter_map(|(p, _)| statuses.get(&p.id).cloned())
            .collect()
    }

    /// Reads every page now rather than at its next poll (at most one read per page every
    /// [`REFRESH_GAP`], whatever the clicks).
    pub fn refresh(&self) {
        self.now.notify_waiters();
    }

    /// The state of platform `id`, if it is watched.
    pub fn state(&self, id: &str) -> Option<PlatformState> {
        lock(&self.statuses).get(id).map(|s| s.state)
    }

    /// Polls what `settings` watch: new pollers for new or changed pages, none for removed
    /// ones; a page kept as it was keeps its poller and its state.
    fn configure(self: &Arc<Self>, settings: &qcity_config::PlatformSettings) {
        let watched = catalog::watched(settings);
        let interval = Duration::from_secs(settings.interval_seconds);
        let changed_interval = {
            let mut i = lock(&self.interval);
            let changed = *i != interval;
            *i = interval;
            changed
        };
        let mut tasks = lock(&self.tasks);
        let mut kept = Vec::new();
        for (p, task) in tasks.drain(..) {
            if !changed_interval && watched.contains(&p) {
                kept.push((p, task));
            } else {
                task.abort();
            }
        }
        let mut statuses = lock(&self.statuses);
        statuses.retain(|id, _| watched.iter().any(|p| &p.id == id));
        for p in watched {
            if kept.iter().any(|(k, _)| *k == p) {
                continue;
            }
            statuses.insert(p.id.clone(), initial(&p));
            let task = tokio::spawn(poll(
                Arc::downgrade(self),
                p.clone(),
                interval,
                self.now.clone(),
            ));
            kept.push((p, task));
        }
        *tasks = kept;
    }
}

fn initial(p: &Platform) -> PlatformStatus {
    PlatformStatus {
        id: p.id.clone(),
        name: p.name.clone(),
        icon: p.icon.clone(),
        page: p.page.clone(),
        state: PlatformState::Unknown,
        summary: "not read yet".into(),
        incidents: Vec::new(),
        checked_ms: None,
        as_of_ms: None,
        last_known: None,
        error: None,
    }
}

/// Starts polling what `engine`'s config watches, again after each reload; ends with the
/// engine's bus.
pub fn start(engine: &Arc<Engine>) -> Arc<Platforms> {
    let platforms = Arc::new(Platforms {
        statuses: Mutex::new(BTreeMap::new()),
        tasks: Mutex::new(Vec::new()),
        bus: engine.bus().clone(),
        interval: Mutex::new(Duration::ZERO),
        now: Arc::new(tokio::sync::Notify::new()),
    });
    platforms.configure(&engine.config().device.platforms);
    // The bus gives every subscriber every event: a small queue would lag in a burst of
    // runner events (a `subscriber-lagged` event, and perhaps a lost `config-applied`).
    // Queued events cost nothing until they come; the notifier's and healer's are as large.
    let mut rx = engine.bus().subscribe("platforms", 4096);
    let weak_engine = Arc::downgrade(engine);
    let weak = Arc::downgrade(&platforms);
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            if !matches!(e.kind, EventKind::ConfigApplied { .. }) {
                continue;
            }
            let (Some(engine), Some(platforms)) = (weak_engine.upgrade(), weak.upgrade()) else {
                return;
            };
            platforms.configure(&engine.config().device.platforms);
        }
    });
    platforms
}

/// What the last read of a page left to ask the next time.
#[derive(Default)]
struct Cache {
    etag: Option<String>,
    last_modified: Option<String>,
    parsed: Option<Parsed>,
}

/// One read of a page.
enum Read {
    Fresh(Parsed),
    /// Failed; the service may have said how long to wait.
    Failed {
        error: String,
        retry_after: Option<Duration>,
    },
}

async fn poll(
    platforms: Weak<Platforms>,
    p: Platform,
    interval: Duration,
    now: Arc<tokio::sync::Notify>,
) {
    let mut cache = Cache::default();
    let mut failures: u32 = 0;
    // Spread the first reads of a daemon's pages over a few seconds, not all at once.
    tokio::time::sleep(jitter(&p.id, Duration::from_secs(3))).await;
    // Making the client reads and parses every file of the system's CA store (tens of ms):
    // not on a runtime thread, where it held up the start of the runners.
    let Ok(client) = tokio::task::spawn_blocking(client).await else {
        return;
    };
    loop {
        let read = match client {
            Ok(c) => fetch(c, &p, &mut cache).await,
            Err(e) => Read::Failed {
                error: e.clone(),
                retry_after: None,
            },
        };
        let wait = match &read {
            Read::Fresh(_) => {
                failures = 0;
                interval
            }
            Read::Failed { retry_after, .. } => {
                failures = failures.saturating_add(1);
                let backoff = interval
                    .saturating_mul(1 << failures.min(5))
                    .min(BACKOFF_MAX);
                retry_after.map_or(backoff, |r| r.max(interval).min(BACKOFF_MAX))
            }
        };
        let Some(platforms) = platforms.upgrade() else {
            return;
        };
        record(&platforms, &p, read);
        drop(platforms);
        let read_at = tokio::time::Instant::now();
        tokio::select! {
            () = tokio::time::sleep(wait + jitter(&p.id, wait / 10)) => {}
            () = now.notified() => {
                tokio::time::sleep_until(read_at + REFRESH_GAP).await;
            }
        }
    }
}

/// Up to `max`, different per platform and per poll: a clock-and-id hash, no RNG needed.
fn jitter(id: &str, max: Duration) -> Duration {
    let ms = max.as_millis() as u64;
    if ms == 0 {
        return Duration::ZERO;
    }
    let seed = id
        .bytes()
        .fold(qcity_platform::clock::now_ms() as u64, |h, b| {
            h.wrapping_mul(31).wrapping_add(u64::from(b))
        });
    let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33;
    Duration::from_millis(mixed % ms)
}

/// Stores what a read found and tells the bus when the state changed.
fn record(platforms: &Platforms, p: &Platform, read: Read) {
    let now = qcity_platform::clock::now_ms();
    let mut statuses = lock(&platforms.statuses);
    let Some(st) = statuses.get_mut(&p.id) else {
        return;
    };
    let previous = st.state;
    st.checked_ms = Some(now);
    match read {
        Read::Fresh(parsed) => {
            st.state = parsed.state;
            st.summary = parsed.summary;
            st.incidents = parsed.incidents;
            st.as_of_ms = Some(now);
            st.last_known = None;
            st.error = None;
        }
        Read::Failed { error, .. } => {
            if previous != PlatformState::Unknown {
                st.last_known = Some(previous);
            }
            st.state = PlatformState::Unknown;
            st.summary = format!("cannot read the status page: {error}");
            st.error = Some(error);
        }
    }
    if st.state != previous {
        let (state, summary) = (st.state, st.summary.clone());
        drop(statuses);
        tracing::info!(platform = %p.id, state = state.as_str(), "{summary}");
        platforms.bus.publish(EventKind::PlatformChanged {
            platform: p.id.clone(),
            name: p.name.clone(),
            state,
            previous,
            summary,
        });
    }
}

/// One client for every poller: each holds its own parsed copy of the system's roots.
fn client() -> &'static Result<reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<Result<reqwest::Client, String>> =
        std::sync::OnceLock::new();
    CLIENT.get_or_init(build_client)
}

fn build_client() -> Result<reqwest::Client, String> {
    // reqwest is built without a crypto provider of its own; rustls' ring, as the probes'
    // and the notifier's clients use, becomes the process default (Err: one is already).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

async fn fetch(client: &reqwest::Client, p: &Platform, cache: &mut Cache) -> Read {
    let failed = |error: String| Read::Failed {
        error,
        retry_after: None,
    };
    let mut req = client.get(&p.url);
    if let Some(etag) = &cache.etag {
        req = req.header(reqwest::header::IF_NONE_MATCH, etag);
    }
    if let Some(lm) = &cache.last_modified {
        req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
    }
    let mut resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return failed("no answer within 10 s".into()),
        Err(e) => return failed(e.without_url().to_string()),
    };
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return match &cache.parsed {
            Some(parsed) => Read::Fresh(parsed.clone()),
            None => failed("304 Not Modified for a page never read".into()),
        };
    }
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::SERVICE_UNAVAILABLE
    {
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Read::Failed {
            error: format!("status {}", status.as_u16()),
            retry_after,
        };
    }
    if !status.is_success() {
        return failed(format!("status {}", status.as_u16()));
    }
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(String::from)
    };
    let (etag, last_modified) = (
        header(reqwest::header::ETAG),
        header(reqwest::header::LAST_MODIFIED),
    );
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return failed(format!("the page is larger than {} MiB", MAX_BODY >> 20));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => return failed("no answer within 10 s".into()),
            Err(e) => return failed(e.without_url().to_string()),
        }
    }
    match providers::parse(p.provider, &body, &Watch::default()) {
        Ok(parsed) => {
            cache.etag = etag;
            cache.last_modified = last_modified;
            cache.parsed = Some(parsed.clone());
            Read::Fresh(parsed)
        }
        Err(e) => failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    //! One read against a loopback server answering as status pages do: a page, a 304 for
    //! its ETag, a 429 with `Retry-After`, a UTF-16 body, a page too large, and silence.

    use super::*;
    use qcity_config::PlatformProvider;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves `reply` (raw HTTP) to every connection; `None`: accepts and never answers.
    async fn serve(reply: Option<Vec<u8>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let reply = reply.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = conn.read(&mut buf).await;
                    match reply {
                        Some(r) => {
                            let _ = conn.write_all(&r).await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(60)).await,
                    }
                });
            }
        });
        format!("http://{addr}/api/v2/summary.json")
    }

    fn reply(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    fn platform(url: String, provider: PlatformProvider) -> Platform {
        Platform {
            id: "p".into(),
            name: "P".into(),
            provider,
            url,
            page: String::new(),
            icon: None,
        }
    }

    const PAGE: &str = r#"{"page": {"id": "x"}, "status": {"indicator": "minor", "description": "Minor Service Outage"}, "components": [], "incidents": [], "scheduled_maintenances": []}"#;

    #[tokio::test]
    async fn a_page_a_304_a_429_and_utf16() {
        let c = build_client().unwrap();
        let mut cache = Cache::default();
        let url = serve(Some(reply("200 OK", "ETag: \"a\"\r\n", PAGE.as_bytes()))).await;
        let p = platform(url, PlatformProvider::Statuspage);
        let Read::Fresh(parsed) = fetch(&c, &p, &mut cache).await else {
            panic!("a page")
        };
        assert_eq!(parsed.state, PlatformState::Degraded);
        assert_eq!(cache.etag.as_deref(), Some("\"a\""));
        // The same page says 304: what was read stands.
        let url = serve(Some(reply("304 Not Modified", "", b""))).await;
        let p = platform(url, PlatformProvider::Statuspage);
        let Read::Fresh(again) = fetch(&c, &p, &mut cache).await else {
            panic!("a 304 keeps the page")
        };
        assert_eq!(again, parsed);
        let url = serve(Some(reply(
            "429 Too Many Requests",
            "Retry-After: 120\r\n",
            b"",
        )))
        .await;
        let p = platform(url, PlatformProvider::Statuspage);
        let Read::Failed { error, retry_after } = fetch(&c, &p, &mut Cache::default()).await else {
            panic!("a 429 fails")
        };
        assert_eq!(
            (error.as_str(), retry_after),
            ("status 429", Some(Duration::from_secs(120)))
        );
        // AWS answers in UTF-16 with a byte-order mark.
        let mut body = vec![0xFF, 0xFE];
        body.extend("[]".encode_utf16().flat_map(u16::to_le_bytes));
        let url = serve(Some(reply("200 OK", "", &body))).await;
        let p = platform(url, PlatformProvider::Aws);
        let Read::Fresh(aws) = fetch(&c, &p, &mut Cache::default()).await else {
            panic!("UTF-16 is read")
        };
        assert_eq!(aws.state, PlatformState::Operational);
    }

    #[tokio::test]
    async fn too_large_malformed_and_silent_pages_fail_saying_why() {
        let c = build_client().unwrap();
        let big = vec![b' '; MAX_BODY + 1];
        let url = serve(Some(reply("200 OK", "", &big))).await;
        let p = platform(url, PlatformProvider::Statuspage);
        let Read::Failed { error, .. } = fetch(&c, &p, &mut Cache::default()).await else {
            panic!("too large")
        };
        assert_eq!(error, "the page is larger than 2 MiB");
        let url = serve(Some(reply("200 OK", "", b"<html>maintenance</html>"))).await;
        let p = platform(url, PlatformProvider::Statuspage);
        let Read::Failed { error, .. } = fetch(&c, &p, &mut Cache::default()).await else {
            panic!("not the format")
        };
        assert!(error.starts_with("not JSON"), "{error}");
        let url = serve(None).await;
        let p = platform(url, PlatformProvider::Statuspage);
        let Read::Failed { error, .. } = fetch(&c, &p, &mut Cache::default()).await else {
            panic!("silence")
        };
        assert_eq!(error, "no answer within 10 s");
    }
}
