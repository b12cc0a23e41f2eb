//! This node in the fleet: its connection, heartbeat and workers, and what it knows of the
//! others. Everything runs in the background: a NATS server that is down or restarting
//! only delays the fleet's work, never the local runners.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use qcity_config::FleetSettings;
use qcity_types::{FleetRunning, FleetStep, FleetView};
use tokio::sync::{Semaphore, watch};

use crate::FleetError;
use crate::host::{Host, NodeSettings};
use crate::setup::{self, Ready};
use crate::shared::{Shared, State};
use crate::wire::SignedManifest;

/// This node (cheap to clone).
#[derive(Clone)]
pub struct Node {
    pub(crate) shared: Arc<Shared>,
}

impl Node {
    /// Joins the fleet in the background; returns at once.
    pub fn start(settings: NodeSettings, host: Arc<dyn Host>) -> Node {
        let slots = Arc::new(Semaphore::new(settings.fleet.max_jobs as usize));
        let (ready, _) = watch::channel(None);
        let node = Node {
            shared: Arc::new(Shared {
                settings,
                host,
                slots,
                state: Mutex::new(State {
                    problem: "connecting".into(),
                    ..State::default()
                }),
                ready,
                pullers: std::sync::atomic::AtomicUsize::new(0),
            }),
        };
        tokio::spawn(node.clone().life());
        node
    }

    pub fn name(&self) -> &str {
        &self.shared.settings.name
    }

    pub fn settings(&self) -> &FleetSettings {
        &self.shared.settings.fleet
    }

    /// Connect (retrying with backoff until it works), make what is missing, then keep the
    /// heartbeat, the workers and the manifest watch going for ever.
    async fn life(self) {
        let client = loop {
            match self.connect().await {
                Ok(c) => break c,
                Err(e) => {
                    // The connection's own words; the faces say "not connected" themselves.
                    self.shared.state().problem = match e {
                        FleetError::NotConnected(why) => why,
                        other => other.to_string(),
                    };
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        };
        let js = async_nats::jetstream::new(client);
        let limits = setup::Limits {
            heartbeat: self.shared.heartbeat(),
        };
        let mut delay = Duration::from_millis(250);
        let ready = loop {
            match setup::ensure(&js, &limits).await {
                Ok(r) => break r,
                Err(e) => {
                    tracing::warn!("fleet: {e}; trying again in {delay:?}");
                    self.shared.state().problem = e.to_string();
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        };
        self.shared.state().problem.clear();
        self.shared.ready.send_replace(Some(ready.clone()));
        self.shared.host.news(
            FleetStep::Connected,
            None,
            format!(
                "{} joined the fleet at {}",
                self.name(),
                self.shared.settings.fleet.servers.join(", ")
            ),
        );
        tokio::spawn(crate::members::heartbeat(
            self.shared.clone(),
            ready.clone(),
        ));
        tokio::spawn(crate::manifest::watch(self.shared.clone(), ready.clone()));
        crate::worker::keep_workers(self.shared.clone(), ready).await;
    }

    /// The client: reconnects for ever with backoff (up to 10 s between tries) and tells
    /// the node when it loses or regains the server.
    async fn connect(&self) -> Result<async_nats::Client, FleetError> {
        let shared = Arc::downgrade(&self.shared);
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("qcity {}", self.name()))
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(5))
            .reconnect_delay_callback(|attempts| {
                let ms = 100u64.saturating_mul(1 << attempts.min(7)).min(10_000);
                Duration::from_millis(ms)
            })
            .event_callback(move |event| {
                let shared = shared.clone();
                async move {
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    let (step, detail) = match event {
                        // The first connection is told once the streams are ready.
                        async_nats::Event::Connected if !shared.state().lost => return,
                        async_nats::Event::Connected => (FleetStep::Connected, "reconnected"),
                        async_nats::Event::Disconnected => (
                            FleetStep::Disconnected,
                            "lost the NATS server; local runners go on, reconnecting",
                        ),
                        _ => return,
                    };
                    {
                        let mut st = shared.state();
                        st.connected = step == FleetStep::Connected;
                        st.lost |= !st.connected;
                        st.problem = if st.connected {
                            String::new()
                        } else {
                            "disconnected: reconnecting".into()
                        };
                    }
                    shared
                        .host
                        .news(step, None, format!("{}: {detail}", shared.settings.name));
                }
            });
        if let Some(token) = &self.shared.settings.token {
            options = options.token(token.clone());
        }
        let servers: Vec<async_nats::ServerAddr> = self
            .shared
            .settings
            .fleet
            .servers
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()
            .map_err(|e| FleetError::Nats(format!("server address: {e}")))?;
        let client = options
            .connect(servers)
            .await
            .map_err(|e| FleetError::NotConnected(e.to_string()))?;
        self.shared.state().connected = true;
        Ok(client)
    }

    /// The streams and buckets, waiting up to `within` for the first connection.
    pub(crate) async fn ready_within(&self, within: Duration) -> Result<Ready, FleetError> {
        let mut rx = self.shared.ready.subscribe();
        let _ = tokio::time::timeout(within, rx.wait_for(Option::is_some)).await;
        self.ready()
    }

    /// The streams and buckets, once connected.
    pub(crate) fn ready(&self) -> Result<Ready, FleetError> {
        let problem = self.shared.state().problem.clone();
        self.shared
            .ready
            .borrow()
            .clone()
            .ok_or(FleetError::NotConnected(problem))
    }

    /// The fleet as this node sees it now.
    pub async fn view(&self) -> FleetView {
        let (connected, problem, refused) = {
            let st = self.shared.state();
            (
                st.connected,
                st.problem.clone(),
                st.manifest_refused.clone(),
            )
        };
        let mut view = FleetView {
            configured: true,
            node: self.name().to_string(),
            capabilities: self.shared.host.capabilities(),
            connected,
            servers: self.shared.settings.fleet.servers.clone(),
            problem,
            nodes: Vec::new(),
            queued: Vec::new(),
            manifest_version: self.shared.host.manifest_version(),
            manifest_refused: refused,
        };
        if let Ok(ready) = self.ready()
            && connected
        {
            view.nodes = match crate::members::live(&ready, self.shared.heartbeat()).await {
                Some(nodes) => nodes,
                None => self.nodes(),
            };
            view.queued = crate::members::queued(&ready).await;
        }
        view
    }

    /// Jobs running here now.
    pub fn running(&self) -> Vec<FleetRunning> {
        self.shared.state().running.values().cloned().collect()
    }

    /// Publishes a signed manifest to the fleet, checked here first as the nodes will check
    /// it (against this node's pinned key and the version last published).
    pub async fn publish_manifest(&self, signed: &SignedManifest) -> Result<u64, FleetError> {
        let ready = self.ready()?;
        crate::manifest::publish(&self.shared, &ready, signed).await
    }

    /// The live nodes as of the last heartbeat round (no request: for placement and views
    /// that must not wait); empty while not connected.
    pub fn nodes(&self) -> Vec<qcity_types::FleetNode> {
        let st = self.shared.state();
        if st.connected {
            st.nodes.clone()
        } else {
            Vec::new()
        }
    }

    /// The first of `capability` and its `fallback` that a live node has (as of the last
    /// heartbeat round); else why no node can take the job.
    pub fn fit(&self, capability: &str, fallback: &[String]) -> Result<String, String> {
        let wanted: Vec<&str> = std::iter::once(capability)
            .chain(fallback.iter().map(String::as_str))
            .collect();
        crate::members::choose(&self.nodes(), &wanted)
    }

    /// Why this node cannot send jobs to the fleet now, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let st = self.shared.state();
        if st.connected && self.shared.ready.borrow().is_some() {
            None
        } else if st.problem.is_empty() {
            Some("not connected to NATS".into())
        } else {
            Some(format!("not connected to NATS: {}", st.problem))
        }
    }

    /// Puts a job's inputs (a tar archive at `path`) where the node that takes it finds
    /// them.
    pub async fn put_inputs(
        &self,
        run: &str,
        path: &std::path::Path,
    ) -> Result<crate::wire::FileRef, FleetError> {
        let ready = self.ready()?;
        crate::files::put(&ready, &format!("{run}/inputs.tar"), "inputs.tar", path).await
    }

    /// Writes an artifact a node sent back to `dest`, refused unless its SHA-256 is the one
    /// the node computed; the SHA-256 received.
    pub async fn fetch(
        &self,
        file: &crate::wire::FileRef,
        dest: &std::path::Path,
    ) -> Result<String, FleetError> {
        let ready = self.ready()?;
        crate::files::get(&ready, file, dest).await
    }
}
