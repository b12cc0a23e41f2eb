//! What the fleet tests share: the NATS server, a test `Host` that runs a job's command
//! for real, a `Progress` that keeps what it hears, nodes and jobs.

#![allow(dead_code)]

pub mod nats;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use qcity_config::FleetSettings;
use qcity_fleet::wire::FleetJob;
use qcity_fleet::{Assignment, Host, Node, NodeSettings, Outcome, Progress};
use qcity_types::FleetStep;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// Small settings for tests: heartbeat 1 s, ack wait 2 s, wait 5 s, 2 jobs at once.
pub fn fleet_settings(url: &str, overrides: serde_json::Value) -> FleetSettings {
    let mut value = serde_json::json!({
        "servers": [url],
        "heartbeat_seconds": 1,
        "ack_wait_seconds": 2,
        "wait_seconds": 5,
        "max_jobs": 2,
    });
    if let (Some(map), Some(extra)) = (value.as_object_mut(), overrides.as_object()) {
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(value).expect("fleet settings")
}

pub fn node_settings(name: &str, fleet: FleetSettings, work: &Path) -> NodeSettings {
    NodeSettings {
        fleet,
        name: name.to_string(),
        token: None,
        manifest_key: None,
        work_dir: work.join(name),
        version: "test".into(),
    }
}

/// How a test host runs the jobs it takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Runs the job's command in the job's directory, its stdout sent as output.
    Run,
    /// Takes the job and never ends it.
    Hang,
}

/// A daemon as the fleet sees it, keeping what it is told.
pub struct TestHost {
    pub caps: Vec<String>,
    pub mode: Mode,
    pub manifest_version: Mutex<Option<u64>>,
    /// The manifests applied, in order.
    pub applied: Mutex<Vec<String>>,
    pub news: Mutex<Vec<(FleetStep, Option<String>, String)>>,
    /// The run ids this host started, in order.
    pub took: Mutex<Vec<String>>,
    /// How the jobs it ran ended, by run id.
    pub ended: std::sync::Arc<Mutex<BTreeMap<String, Outcome>>>,
    started: Option<mpsc::UnboundedSender<String>>,
}

impl TestHost {
    pub fn new(caps: &[&str], mode: Mode) -> TestHost {
        TestHost {
            caps: caps.iter().map(|c| c.to_string()).collect(),
            mode,
            manifest_version: Mutex::new(None),
            applied: Mutex::new(Vec::new()),
            news: Mutex::new(Vec::new()),
            took: Mutex::new(Vec::new()),
            ended: Default::default(),
            started: None,
        }
    }

    /// Tells `tx` the run id of each job it starts.
    pub fn with_started(mut self, tx: mpsc::UnboundedSender<String>) -> TestHost {
        self.started = Some(tx);
        self
    }

    pub fn news_of(&self, step: FleetStep) -> Vec<(Option<String>, String)> {
        self.news
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _, _)| *s == step)
            .map(|(_, r, d)| (r.clone(), d.clone()))
            .collect()
    }

    pub fn took(&self) -> Vec<String> {
        self.took.lock().unwrap().clone()
    }

    pub fn ended(&self, run: &str) -> Option<Outcome> {
        self.ended.lock().unwrap().get(run).cloned()
    }

    pub fn applied(&self) -> Vec<String> {
        self.applied.lock().unwrap().clone()
    }
}

impl Host for TestHost {
    fn run(&self, assignment: Assignment) -> BoxFuture<'static, Outcome> {
        self.took.lock().unwrap().push(assignment.job.run.clone());
        if let Some(tx) = &self.started {
            let _ = tx.send(assignment.job.run.clone());
        }
        match self.mode {
            Mode::Hang => Box::pin(async move {
                let _keep = assignment;
                std::future::pending::<Outcome>().await
            }),
            Mode::Run => {
                let ended = self.ended.clone();
                Box::pin(async move {
                    let run = assignment.job.run.clone();
                    let outcome = run_command(assignment).await;
                    ended.lock().unwrap().insert(run, outcome.clone());
                    outcome
                })
            }
        }
    }

    fn capabilities(&self) -> Vec<String> {
        self.caps.clone()
    }

    fn manifest_version(&self) -> Option<u64> {
        *self.manifest_version.lock().unwrap()
    }

    fn apply_manifest(&self, text: String) -> BoxFuture<'static, Result<(), String>> {
        let applied = serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|e| e.to_string())
            .map(|value| {
                *self.manifest_version.lock().unwrap() = value["version"].as_u64();
                self.applied.lock().unwrap().push(text);
            });
        Box::pin(std::future::ready(applied))
    }

    fn news(&self, step: FleetStep, run: Option<&str>, detail: String) {
        self.news
            .lock()
            .unwrap()
            .push((step, run.map(str::to_string), detail));
    }

    fn load_per_cpu(&self) -> Option<f64> {
        Some(0.1)
    }
}

async fn run_command(a: Assignment) -> Outcome {
    let Assignment {
        job,
        dir,
        output,
        mut cancel,
        ..
    } = a;
    let Some((program, args)) = job.command.split_first() else {
        return Outcome {
            error: Some("no command".into()),
            ..Outcome::default()
        };
    };
    let spawned = tokio::process::Command::new(program)
        .args(args)
        .envs(&job.env)
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                error: Some(format!("cannot start {program}: {e}")),
                ..Outcome::default()
            };
        }
    };
    let mut stdout = child.stdout.take().expect("piped stdout");
    let read = async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf).await {
            if n == 0 {
                break;
            }
            output(&buf[..n]);
        }
    };
    let cancelled = tokio::select! {
        _ = read => false,
        c = cancel.wait_for(|c| *c) => c.is_ok(),
    };
    if cancelled {
        let _ = child.kill().await;
        return Outcome {
            cancelled: true,
            ..Outcome::default()
        };
    }
    match child.wait().await {
        Ok(status) => Outcome {
            code: status.code(),
            ..Outcome::default()
        },
        Err(e) => Outcome {
            error: Some(e.to_string()),
            ..Outcome::default()
        },
    }
}

/// A `Progress` that keeps the output and the notes.
#[derive(Default)]
pub struct Collect {
    pub out: Mutex<Vec<u8>>,
    pub notes: Mutex<Vec<String>>,
}

impl Collect {
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap().clone()
    }
}

impl Progress for Collect {
    fn output(&self, bytes: &[u8]) {
        self.out.lock().unwrap().extend_from_slice(bytes);
    }

    fn note(&self, line: &str) {
        self.notes.lock().unwrap().push(line.to_string());
    }
}

/// A job for `capability` running `sh -c script`.
pub fn job(run: &str, capability: &str, script: &str) -> FleetJob {
    FleetJob {
        run: run.to_string(),
        job: format!("job-{run}"),
        capability: capability.to_string(),
        command: vec!["sh".into(), "-c".into(), script.to_string()],
        env: BTreeMap::from([("RUN".to_string(), run.to_string())]),
        timeout_ms: 60_000,
        origin: String::new(),
        published_ms: 0,
        inputs: None,
        artifacts: Vec::new(),
    }
}

/// Polls `check` until it is true; panics with `what` after `limit`.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still not so after {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `node` sees exactly the live nodes `names` (sorted).
pub async fn wait_for_nodes(node: &Node, names: &[&str]) {
    let want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    eventually(
        &format!("{} sees the live nodes {want:?}", node.name()),
        Duration::from_secs(20),
        || async {
            let seen: Vec<String> = node
                .view()
                .await
                .nodes
                .into_iter()
                .map(|n| n.name)
                .collect();
            seen == want
        },
    )
    .await;
}

/// The results recorded in the fleet's bucket, by run id (read with a client of our own).
pub async fn recorded_results(url: &str) -> BTreeMap<String, qcity_fleet::wire::FleetResult> {
    use futures_util::StreamExt;
    let client = async_nats::connect(url).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let kv = js
        .get_key_value(qcity_fleet::wire::RESULTS_BUCKET)
        .await
        .expect("the results bucket");
    let keys: Vec<String> = kv
        .keys()
        .await
        .expect("keys")
        .filter_map(|k| async { k.ok() })
        .collect()
        .await;
    let mut out = BTreeMap::new();
    for key in keys {
        let bytes = kv.get(&key).await.expect("get").expect("a value");
        out.insert(key, serde_json::from_slice(&bytes).expect("a result"));
    }
    out
}
