//! Chat, mail and webhook channels: the outbox and one delivery worker per channel.
//!
//! A message is written to the outbox (SQLite) before anything is sent, and marked sent as
//! soon as the service took it, so a daemon killed with messages queued sends them after it
//! starts again, each once (a kill between the service's answer and the mark, a few
//! milliseconds, can send one twice; the webhook's delivery id lets a receiver drop it).
//! Each channel's messages go out in order, one at a time: a 429 pauses that channel for the
//! time the service asked, a network error backs off exponentially (1 s doubling to 5 min),
//! a refusal for good marks that message failed, and a message nobody could deliver in 24 h
//! expires. Secrets are read (keyring, environment) when a worker starts and kept in its
//! memory only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qcity_config::ChannelSettings;
use qcity_store::Store;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::channels::{self, Delivery, Target};
use crate::message::Message;

/// Give up on a message after this long queued.
const EXPIRE_MS: i64 = 24 * 3_600_000;
const BACKOFF_MAX_MS: i64 = 300_000;
/// Longest wait a service's 429 may ask for before the message is tried again.
const RETRY_AFTER_MAX_MS: i64 = 3_600_000;
/// How often a channel whose secret could not be read tries again.
const RESOLVE_AGAIN: Duration = Duration::from_secs(60);

pub use qcity_types::NotifyChannel as ChannelReport;

/// Why a message could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no channel `{0}`: `qcity notify list` shows the configured ones")]
    NoChannel(String),
    #[error("cannot queue the message: {0}")]
    Store(String),
}

struct Worker {
    settings: ChannelSettings,
    wake: Arc<Notify>,
    problem: Arc<Mutex<Option<String>>>,
    task: JoinHandle<()>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The outbox's connection, opened at its first use: a daemon without channels never holds
/// one (nor its page cache).
struct Outbox {
    db: PathBuf,
    conn: Mutex<Option<Store>>,
}

impl Outbox {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, qcity_store::StoreError>,
    ) -> Result<T, String> {
        let mut conn = lock(&self.conn);
        if conn.is_none() {
            *conn = Some(Store::open(&self.db).map_err(|e| e.to_string())?);
        }
        match conn.as_mut() {
            Some(store) => f(store).map_err(|e| e.to_string()),
            None => Err("the outbox is not open".into()),
        }
    }
}

/// The remote channels of one daemon.
pub struct Remote {
    store: Arc<Outbox>,
    /// Where a message given up on is told (`notify-failed`).
    bus: Option<Arc<qcity_engine::bus::Bus>>,
    config_dir: Mutex<PathBuf>,
    /// The dashboard's address, for links in messages.
    dashboard: String,
    /// Made when the first channel starts: its TLS roots cost memory a daemon without
    /// channels need not hold.
    client: std::sync::OnceLock<reqwest::Client>,
    workers: Mutex<BTreeMap<String, Worker>>,
}

impl Remote {
    pub fn open(
        db: &Path,
        config_dir: &Path,
        dashboard: String,
        bus: Option<Arc<qcity_engine::bus::Bus>>,
    ) -> Result<Arc<Remote>, String> {
        Ok(Arc::new(Remote {
            bus,
            store: Arc::new(Outbox {
                db: db.to_path_buf(),
                conn: Mutex::new(None),
            }),
            config_dir: Mutex::new(config_dir.to_path_buf()),
            dashboard: dashboard.trim_end_matches('/').to_string(),
            client: std::sync::OnceLock::new(),
            workers: Mutex::new(BTreeMap::new()),
        }))
    }

    /// Starts, restarts (a changed channel) and stops (a removed one) workers to match
    /// `channels`. Must run inside the runtime.
    pub fn configure(self: &Arc<Self>, channels: &[ChannelSettings], config_dir: &Path) {
        *lock(&self.config_dir) = config_dir.to_path_buf();
        let mut workers = lock(&self.workers);
        workers.retain(|name, w| channels.iter().any(|c| &c.name == name && *c == w.settings));
        for c in channels {
            if workers.contains_key(&c.name) {
                continue;
            }
            let wake = Arc::new(Notify::new());
            let problem = Arc::new(Mutex::new(None));
            let task = tokio::spawn(deliver(
                self.clone(),
                c.clone(),
                config_dir.to_path_buf(),
                wake.clone(),
                problem.clone(),
            ));
            workers.insert(
                c.name.clone(),
                Worker {
                    settings: c.clone(),
                    wake,
                    problem,
                    task,
                },
            );
        }
    }

    /// Writes `msg` to `channel`'s outbox and wakes its worker; the message's id.
    pub async fn queue(&self, channel: &str, mut msg: Message) -> Result<i64, QueueError> {
        let wake = match lock(&self.workers).get(channel) {
            Some(w) => w.wake.clone(),
            None => return Err(QueueError::NoChannel(channel.to_string())),
        };
        msg.link = Some(match msg.link.take() {
            Some(rel) => format!("{}/{rel}", self.dashboard),
            None => format!("{}/", self.dashboard),
        });
        let payload = serde_json::to_string(&msg).map_err(|e| QueueError::Store(e.to_string()))?;
        let store = self.store.clone();
        let channel = channel.to_string();
        let id = tokio::task::spawn_blocking(move || {
            store.with(|s| s.outbox_push(&channel, &payload, qcity_platform::clock::now_ms()))
        })
        .await
        .map_err(|e| QueueError::Store(e.to_string()))?
        .map_err(QueueError::Store)?;
        wake.notify_one();
        Ok(id)
    }

    /// A test message through `channel`, queued like any other.
    pub async fn test(&self, channel: &str) -> Result<i64, QueueError> {
        let host = qcity_platform::host::name().unwrap_or_else(|| "this machine".into());
        let msg = Message {
            id: 0,
            severity: qcity_types::Severity::Info,
            title: "QCity test message".into(),
            body: format!("This is a test from QCity on {host}: the channel `{channel}` works."),
            link: None,
            tags: vec!["test".into()],
        };
        self.queue(channel, msg).await
    }

    /// Waits up to `grace` for every channel's outbox to empty (a stopping daemon); what is
    /// left stays queued for the next start.
    pub async fn drain(&self, grace: Duration) {
        let names: Vec<String> = lock(&self.workers).keys().cloned().collect();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let store = self.store.clone();
            let names = names.clone();
            let queued = tokio::task::spawn_blocking(move || {
                names
                    .iter()
                    .map(|n| store.with(|s| s.outbox_summary(n)).map_or(0, |s| s.queued))
                    .sum::<u64>()
            })
            .await
            .unwrap_or(0);
            if queued == 0 || tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn given_up(&self, channel: &str, message: i64, error: &str) {
        if let Some(bus) = &self.bus {
            bus.publish(qcity_types::EventKind::NotifyFailed {
                channel: channel.to_string(),
                message,
                error: error.to_string(),
            });
        }
    }

    /// Every configured channel with its outbox at a glance.
    pub async fn report(&self) -> Vec<ChannelReport> {
        let channels: Vec<(ChannelSettings, Option<String>)> = lock(&self.workers)
            .values()
            .map(|w| (w.settings.clone(), lock(&w.problem).clone()))
            .collect();
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            channels
                .into_iter()
                .map(|(c, problem)| {
                    let summary = store
                        .with(|s| s.outbox_summary(&c.name))
                        .unwrap_or_default();
                    ChannelReport {
                        service: qcity_config::channel_url::parse(&c.url)
                            .map(|u| u.service().to_string())
                            .unwrap_or_default(),
                        url: qcity_config::channel_url::shown(&c.url),
                        name: c.name,
                        queued: summary.queued,
                        last_ms: summary.last.as_ref().and_then(|r| r.done_ms),
                        last_state: summary.last.map(|r| r.state),
                        last_error: summary.last_error,
                        problem,
                    }
                })
                .collect()
        })
        .await
        .unwrap_or_default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads a channel's secrets off the runtime's threads: a keyring read is a D-Bus round trip.
async fn resolve(c: &ChannelSettings, config_dir: &Path) -> Result<Target, String> {
    let (c, dir) = (c.clone(), config_dir.to_path_buf());
    tokio::task::spawn_blocking(move || {
        crate::target::resolve(&c, &dir, &|r| {
            qcity_secrets::read(r).map_err(|e| e.to_string())
        })
    })
    .await
    .map_err(|e| e.to_string())?
}

/// One channel's delivery loop: the oldest queued message when it is due, until aborted.
async fn deliver(
    remote: Arc<Remote>,
    c: ChannelSettings,
    config_dir: PathBuf,
    wake: Arc<Notify>,
    problem: Arc<Mutex<Option<String>>>,
) {
    let target = loop {
        match resolve(&c, &config_dir).await {
            Ok(t) => {
                *lock(&problem) = None;
                break t;
            }
            Err(e) => {
                tracing::warn!(channel = %c.name, "cannot send: {e}");
                *lock(&problem) = Some(e);
                let _ = tokio::time::timeout(RESOLVE_AGAIN, wake.notified()).await;
            }
        }
    };
    let store = remote.store.clone();
    loop {
        let name = c.name.clone();
        let s = store.clone();
        let head = tokio::task::spawn_blocking(move || s.with(|s| s.outbox_head(&name)))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        let row = match head {
            Ok(Some(row)) => row,
            Ok(None) => {
                wake.notified().await;
                continue;
            }
            Err(e) => {
                // The store cannot be read (a full disk, a lock): the messages are safe in
                // it; try again in a while.
                tracing::warn!(channel = %c.name, "outbox: {e}");
                let _ = tokio::time::timeout(RESOLVE_AGAIN, wake.notified()).await;
                continue;
            }
        };
        let now = qcity_platform::clock::now_ms();
        if row.next_ms > now {
            let wait = Duration::from_millis((row.next_ms - now) as u64);
            let _ = tokio::time::timeout(wait, wake.notified()).await;
            continue;
        }
        let id = row.id;
        let finish = |state: &'static str, error: Option<String>| {
            let s = store.clone();
            async move {
                let now = qcity_platform::clock::now_ms();
                let _ = tokio::task::spawn_blocking(move || {
                    s.with(|s| s.outbox_finish(id, state, error.as_deref(), now))
                })
                .await;
            }
        };
        let msg = match serde_json::from_str::<Message>(&row.payload) {
            Ok(mut m) => {
                m.id = row.id;
                m
            }
            Err(e) => {
                finish("failed", Some(format!("unreadable message: {e}"))).await;
                continue;
            }
        };
        let client = remote.client.get_or_init(channels::http_client);
        match channels::send(client, &target, &msg).await {
            Delivery::Sent => finish("sent", None).await,
            Delivery::Permanent { error } => {
                tracing::warn!(channel = %c.name, id = row.id, "not delivered: {error}");
                remote.given_up(&c.name, row.id, &error);
                finish("failed", Some(error)).await;
            }
            Delivery::Retry { after, error } => {
                let now = qcity_platform::clock::now_ms();
                if now - row.created_ms >= EXPIRE_MS {
                    let error = format!("undelivered for 24 h: {error}");
                    remote.given_up(&c.name, row.id, &error);
                    finish("expired", Some(error)).await;
                    continue;
                }
                let backoff = (1000i64 << row.attempts.min(20)).min(BACKOFF_MAX_MS);
                let wait = match after {
                    Some(d) => (d.as_millis() as i64).clamp(0, RETRY_AFTER_MAX_MS),
                    None => backoff,
                };
                tracing::info!(channel = %c.name, id = row.id, wait_ms = wait, "retrying: {error}");
                let s = store.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    s.with(|s| s.outbox_retry(row.id, now + wait, &error))
                })
                .await;
            }
        }
    }
}
