//! The fleet as an offload place (`fleet`), and this daemon as a fleet node: the jobs it
//! takes run through the engine's launcher like a local job, the runner manifest the fleet
//! publishes is written and reloaded here, and what happens is a `fleet` event.

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use futures_util::future::BoxFuture;
use qcity_config::{Config, FleetSettings, JobSpec};
use qcity_engine::Engine;
use qcity_fleet::wire::FleetJob;
use qcity_fleet::{Assignment, Host, Node, NodeSettings, Outcome, Progress, SubmitError};
use qcity_types::{EventKind, FleetStep};

use crate::exec::{Claim, ExecError, Log, Ran, Work};

pub use qcity_fleet::wire::SignedManifest;

/// The fleet's place name (`--where fleet`).
pub const PLACE: &str = "fleet";

/// The capability every node has: a job that names none runs on any node.
pub const ANY: &str = "any";

/// This node's name: the setting's, else the host name.
pub fn node_name(fleet: &FleetSettings) -> String {
    fleet
        .node
        .clone()
        .or_else(qcity_platform::host::name)
        .unwrap_or_else(|| "qcity".into())
}

/// `node`'s capabilities: `any`, the manifest's roles for `*` and for its name.
pub fn capabilities(config: &Config, node: &str) -> Vec<String> {
    let roles = &config.manifest.roles;
    let mut caps = vec![ANY.to_string()];
    for key in ["*", node] {
        for cap in roles.get(key).into_iter().flatten() {
            if !caps.contains(cap) {
                caps.push(cap.clone());
            }
        }
    }
    caps
}

/// Joins the fleet if `qmoi_cloud_config.json` has one; `None` (nothing loaded) if not.
/// A token that cannot be read is an error event, and the node runs without the fleet.
pub(crate) fn join(engine: &Arc<Engine>) -> Option<Node> {
    let config = engine.config();
    let fleet = config.cloud.fleet.clone()?;
    let name = node_name(&fleet);
    let host = Arc::new(DaemonHost {
        engine: Arc::downgrade(engine),
        name: name.clone(),
    });
    let token = match fleet.token.as_deref().map(qcity_config::secret_field) {
        None => None,
        Some(Ok(r)) => {
            match qcity_secrets::read(&r) {
                Ok(t) => Some(t),
                Err(e) => {
                    host.news(
                    FleetStep::Disconnected,
                    None,
                    format!("the fleet's token cannot be read ({e}): this node stays out of the fleet"),
                );
                    return None;
                }
            }
        }
        Some(Err(e)) => {
            tracing::error!("fleet token: {e}");
            return None;
        }
    };
    Some(Node::start(
        NodeSettings {
            fleet,
            name,
            token,
            manifest_key: config.device.fleet_manifest_key.clone(),
            work_dir: engine.data_dir().root().join("fleet"),
            version: qcity_types::version::get().to_string(),
        },
        host,
    ))
}

struct DaemonHost {
    engine: Weak<Engine>,
    name: String,
}

impl Host for DaemonHost {
    fn run(&self, a: Assignment) -> BoxFuture<'static, Outcome> {
        // What runs is this node's own manifest's job: the queue only names it. Anyone who
        // can publish to NATS can ask for a job, not make a node run any command.
        let spec = match self.engine.upgrade() {
            Some(engine) => own_job(&engine.config(), &a.job),
            None => Err("QCity is stopping".to_string()),
        };
        Box::pin(async move {
            let spec = match spec {
                Ok(spec) => spec,
                Err(error) => {
                    return Outcome {
                        error: Some(error),
                        ..Outcome::default()
                    };
                }
            };
            if let Some(tar) = &a.inputs
                && let Err(e) = unpack(tar, &a.dir).await
            {
                return Outcome {
                    error: Some(format!("cannot unpack the inputs: {e}")),
                    ..Outcome::default()
                };
            }
            let ran = crate::local::command(&crate::local::Command {
                argv: &spec.command,
                env: &spec.env,
                dir: &a.dir,
                timeout_ms: spec.timeout_ms,
                sink: a.output.clone(),
                cancel: a.cancel.clone(),
                artifacts: &spec.artifacts,
            })
            .await;
            match ran {
                Ok(ran) => Outcome {
                    code: ran.code,
                    signal: ran.signal,
                    timed_out: ran.timed_out,
                    cancelled: ran.cancelled,
                    error: None,
                    artifacts: ran
                        .artifacts
                        .into_iter()
                        .map(|c| (c.path.to_string_lossy().into_owned(), c.sha256, c.bytes))
                        .collect(),
                },
                Err(e) => Outcome {
                    error: Some(e),
                    ..Outcome::default()
                },
            }
        })
    }

    fn capabilities(&self) -> Vec<String> {
        match self.engine.upgrade() {
            Some(e) => capabilities(&e.config(), &self.name),
            None => vec![ANY.into()],
        }
    }

    fn manifest_version(&self) -> Option<u64> {
        self.engine.upgrade()?.config().manifest.version
    }

    fn apply_manifest(&self, text: String) -> BoxFuture<'static, Result<(), String>> {
        let engine = self.engine.clone();
        Box::pin(async move {
            let engine = engine.upgrade().ok_or("QCity is stopping")?;
            apply(&engine, &text).await
        })
    }

    fn news(&self, step: FleetStep, run: Option<&str>, detail: String) {
        if let Some(engine) = self.engine.upgrade() {
            engine.bus().publish(EventKind::Fleet {
                step,
                node: self.name.clone(),
                run: run.map(str::to_string),
                detail,
            });
        }
    }

    fn load_per_cpu(&self) -> Option<f64> {
        let load = qcity_platform::load::load_1m()?;
        Some(load / qcity_platform::load::cpus().max(1) as f64)
    }
}

/// The job of this node's manifest that `job` names, if the queue's copy agrees with it
/// (else the nodes run different manifests: publish one to the fleet).
fn own_job(config: &Config, job: &FleetJob) -> Result<JobSpec, String> {
    let version = config
        .manifest
        .version
        .map_or("without a version".to_string(), |v| format!("version {v}"));
    let spec = config
        .manifest
        .jobs
        .iter()
        .find(|j| j.name == job.job)
        .ok_or_else(|| {
            format!(
                "job `{}` is not in this node's runner manifest ({version}): a node runs only the jobs its manifest defines",
                job.job
            )
        })?;
    if spec.command != job.command || spec.env != job.env || spec.artifacts != job.artifacts {
        return Err(format!(
            "job `{}` differs from this node's runner manifest ({version}): publish one manifest to the fleet",
            job.job
        ));
    }
    Ok(spec.clone())
}

/// Writes `text` as `runner_manifest.json` (the one it replaces kept beside it) and
/// reloads; a manifest the engine refuses is taken back, and the last good one runs on.
async fn apply(engine: &Engine, text: &str) -> Result<(), String> {
    let dir = engine.config().dir;
    let path = dir.join(qcity_config::MANIFEST_FILE);
    let previous = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let write = |bytes: &[u8]| -> Result<(), String> {
        let tmp = dir.join(".runner_manifest.json.fleet");
        qcity_platform::private::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    write(text.as_bytes())?;
    match engine.reload("fleet:manifest").await {
        Ok(_) => {
            let _ = qcity_platform::private::write(
                &dir.join("runner_manifest.json.previous"),
                &previous,
            );
            Ok(())
        }
        Err(e) => {
            write(&previous)?;
            Err(e.to_string())
        }
    }
}

/// The job as the queue carries it.
fn fleet_job(work: &Work) -> FleetJob {
    FleetJob {
        run: work.id.clone(),
        job: work.job.name.clone(),
        capability: work.job.capability.clone().unwrap_or_else(|| ANY.into()),
        command: work.job.command.clone(),
        env: work.job.env.clone(),
        timeout_ms: work.job.timeout_ms,
        origin: String::new(),
        published_ms: 0,
        inputs: None,
        artifacts: work.job.artifacts.clone(),
    }
}

struct ToLog<'a>(&'a Log);

impl Progress for ToLog<'_> {
    fn output(&self, bytes: &[u8]) {
        self.0.write(bytes);
    }
    fn note(&self, line: &str) {
        self.0.note(line);
    }
}

/// Why the fleet cannot take `job` now: no live node has its capability or a fallback.
pub(crate) fn unfit(node: &Node, job: &JobSpec) -> Option<String> {
    node.fit(job.capability.as_deref().unwrap_or(ANY), &job.fallback)
        .err()
}

/// One attempt of `work` on the fleet.
pub(crate) async fn run(node: &Node, work: &Work) -> Result<Ran, ExecError> {
    crate::inputs::check(work)?;
    let mut job = fleet_job(work);
    if !work.job.inputs.is_empty() {
        job.inputs = Some(send_inputs(node, work).await?);
    }
    let fallback = work.job.fallback.clone();
    let submitted = node
        .submit(job, &fallback, &ToLog(&work.log), work.cancel.clone())
        .await
        .map_err(|e| match e {
            SubmitError::Unreachable(m) => ExecError::Unreachable(m),
            SubmitError::GaveUp(m) => ExecError::Lost(m),
        })?;
    let r = submitted.result;
    if let Some(error) = r.error.filter(|_| !r.cancelled) {
        return Err(ExecError::Job(format!("on {}: {error}", r.node)));
    }
    work.log.note(&format!(
        "ran on {} ({}, delivery {})",
        if r.node.is_empty() {
            "no node"
        } else {
            &r.node
        },
        submitted.capability,
        r.delivery
    ));
    let mut artifacts = Vec::new();
    for file in &r.artifacts {
        let path = PathBuf::from(&file.path);
        if !crate::artifacts::safe_relative(&path) {
            return Err(ExecError::Job(format!(
                "{} sent an artifact at `{}`, outside the job's directory",
                r.node, file.path
            )));
        }
        let received = node
            .fetch(file, &work.staging.join(&path))
            .await
            .map_err(|e| ExecError::Job(format!("artifact from {}: {e}", r.node)))?;
        artifacts.push(Claim {
            path,
            sha256: file.sha256.clone(),
            bytes: file.bytes,
            received: Some(received),
        });
    }
    Ok(Ran {
        code: r.code,
        signal: r.signal,
        timed_out: r.timed_out,
        cancelled: r.cancelled,
        artifacts,
    })
}

/// The inputs packed into the run's staging directory and put in the fleet's store.
async fn send_inputs(node: &Node, work: &Work) -> Result<qcity_fleet::wire::FileRef, ExecError> {
    let tar = work.staging.join(".inputs.tar");
    let (dir, inputs, path) = (work.dir.clone(), work.job.inputs.clone(), tar.clone());
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::create(&path).map_err(|e| ("the inputs".to_string(), e))?;
        crate::inputs::pack(&dir, &inputs, std::io::BufWriter::new(file))
    })
    .await
    .map_err(|e| ExecError::Job(format!("packing the inputs: {e}")))?
    .map_err(|(what, e)| ExecError::Job(format!("cannot send {what}: {e}")))?;
    let sent = node
        .put_inputs(&work.id, &tar)
        .await
        .map_err(|e| ExecError::Unreachable(format!("the inputs: {e}")));
    let _ = std::fs::remove_file(&tar);
    sent
}

/// Unpacks a job's inputs into its directory (the tar crate refuses entries that climb out).
async fn unpack(tar: &std::path::Path, dir: &std::path::Path) -> std::io::Result<()> {
    let (tar, dir) = (tar.to_path_buf(), dir.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&tar)?;
        tar::Archive::new(file).unpack(&dir)?;
        std::fs::remove_file(&tar)
    })
    .await
    .map_err(std::io::Error::other)?
}
