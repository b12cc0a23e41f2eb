//! Taking jobs: one puller per capability of this node, each asking its capability's
//! durable consumer for one job only while it holds a free slot, so the nodes with room
//! take the work (load balancing by pull). A job is acked only after its result is
//! recorded; until then progress acks keep it ours. A node that dies stops acking and the
//! server hands the job to another node after the ack wait.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::kv::CreateErrorKind;
use futures_util::StreamExt;
use qcity_types::{FleetRunning, FleetStep};
use tokio::sync::watch;

use crate::host::{Assignment, Outcome};
use crate::setup::{self, Ready};
use crate::shared::Shared;
use crate::wire::{self, FleetJob, FleetResult};

/// How long one pull waits at the server for a job, holding a slot: long while every
/// capability can hold one, short when they take turns (more capabilities than slots), so
/// a job for the capability that waits for a slot does not wait long.
const PULL_EXPIRES: Duration = Duration::from_secs(2);
const PULL_EXPIRES_SHARED: Duration = Duration::from_millis(250);

/// Starts a puller for each capability and follows the capabilities as they change.
pub(crate) async fn keep_workers(shared: Arc<Shared>, ready: Ready) {
    if shared.settings.fleet.max_jobs == 0 {
        return;
    }
    let mut pullers: BTreeMap<String, tokio::task::JoinHandle<()>> = BTreeMap::new();
    loop {
        let wanted = shared.host.capabilities();
        shared
            .pullers
            .store(wanted.len(), std::sync::atomic::Ordering::Relaxed);
        pullers.retain(|cap, task| {
            let keep = wanted.contains(cap) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for cap in wanted {
            if let std::collections::btree_map::Entry::Vacant(slot) = pullers.entry(cap) {
                let cap = slot.key().clone();
                slot.insert(tokio::spawn(pull(shared.clone(), ready.clone(), cap)));
            }
        }
        tokio::time::sleep(shared.heartbeat()).await;
    }
}

async fn pull(shared: Arc<Shared>, ready: Ready, cap: String) {
    let mut delay = Duration::from_millis(200);
    loop {
        let consumer = match setup::consumer(
            &ready.jobs,
            &cap,
            shared.ack_wait(),
            shared.settings.fleet.max_deliver,
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!("fleet: {e}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        delay = Duration::from_millis(200);
        loop {
            let Ok(permit) = shared.slots.clone().acquire_owned().await else {
                return;
            };
            let pullers = shared.pullers.load(std::sync::atomic::Ordering::Relaxed);
            let expires = if pullers > shared.settings.fleet.max_jobs as usize {
                PULL_EXPIRES_SHARED
            } else {
                PULL_EXPIRES
            };
            let batch = consumer
                .batch()
                .max_messages(1)
                .expires(expires)
                .messages()
                .await;
            let mut batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    tracing::debug!("fleet pull {cap}: {e}");
                    break;
                }
            };
            match batch.next().await {
                Some(Ok(msg)) => {
                    let shared = shared.clone();
                    let ready = ready.clone();
                    tokio::spawn(async move {
                        take(&shared, &ready, msg).await;
                        drop(permit);
                    });
                }
                Some(Err(e)) => {
                    tracing::debug!("fleet pull {cap}: {e}");
                    break;
                }
                None => {}
            }
        }
        // The consumer or the connection failed: find or make the consumer again.
        tokio::time::sleep(delay).await;
    }
}

/// One delivery of a job: skipped if its result is already recorded, else run with
/// progress acks, its result recorded if none is, then acked.
async fn take(shared: &Arc<Shared>, ready: &Ready, msg: async_nats::jetstream::Message) {
    let delivery = msg.info().map(|i| i.delivered as u64).unwrap_or(1);
    let job: FleetJob = match serde_json::from_slice(&msg.payload) {
        Ok(j) => j,
        Err(e) => {
            tracing::warn!("fleet: a job that is not one ({e}): dropped");
            let _ = msg.ack_with(AckKind::Term).await;
            return;
        }
    };
    let host = &shared.host;
    let client = ready.js.client();
    // Subscribed before the result is looked up: a cancel recorded after that look is
    // published after this subscription reached the server (one connection, in order),
    // so it is heard; one recorded before is seen by the look.
    let cancel_sub = client.subscribe(wire::cancel_subject(&job.run)).await;
    if let Ok(Some(_)) = ready.results.get(&job.run).await {
        host.news(
            FleetStep::Duplicate,
            Some(&job.run),
            format!(
                "{} of job {} came again (delivery {delivery}) but its result is recorded: not run again",
                job.run, job.job
            ),
        );
        let _ = msg.double_ack().await;
        return;
    }
    let node = shared.settings.name.clone();
    let started_ms = wire::now_ms();
    shared.state().running.insert(
        job.run.clone(),
        FleetRunning {
            run: job.run.clone(),
            job: job.job.clone(),
            capability: job.capability.clone(),
            started_ms,
        },
    );
    host.news(
        FleetStep::Took,
        Some(&job.run),
        format!(
            "{node} took job {} ({}, delivery {delivery}) from {}, {} ms after it was sent",
            job.job,
            job.capability,
            job.origin,
            started_ms.saturating_sub(job.published_ms)
        ),
    );
    let started = serde_json::json!({"node": node, "delivery": delivery, "at_ms": started_ms});
    let _ = client
        .publish(
            wire::started_subject(&job.run),
            started.to_string().into_bytes().into(),
        )
        .await;
    tokio::spawn({
        let shared = shared.clone();
        let ready = ready.clone();
        async move { crate::members::beat(&shared, &ready).await }
    });

    // Progress acks: the job stays this node's while it runs. Each tick also looks for a
    // result recorded meanwhile (a cancel sent while this node was cut off from NATS).
    let every = shared.ack_wait() / 3;
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let progress = async {
        loop {
            tokio::time::sleep(every).await;
            let _ = msg.ack_with(AckKind::Progress).await;
            if let Ok(Some(_)) = ready.results.get(&job.run).await {
                let _ = cancel_tx.send(true);
            }
        }
    };
    let cancel_watch = async {
        if let Ok(mut sub) = cancel_sub
            && sub.next().await.is_some()
        {
            let _ = cancel_tx.send(true);
        }
        std::future::pending::<()>().await
    };
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let forward = {
        let client = client.clone();
        let subject = wire::output_subject(&job.run);
        async move {
            while let Some(chunk) = out_rx.recv().await {
                let _ = client.publish(subject.clone(), chunk.into()).await;
            }
        }
    };
    let dir = shared
        .settings
        .work_dir
        .join(format!("{}-{delivery}", job.run));
    let prepared = match std::fs::create_dir_all(&dir) {
        Ok(()) => inputs(ready, &job, &dir).await,
        Err(e) => Err(format!("cannot make {}: {e}", dir.display())),
    };
    let mut outcome = match prepared {
        Ok(inputs) => {
            let run = host.run(Assignment {
                job: job.clone(),
                dir: dir.clone(),
                output: Arc::new(move |b: &[u8]| {
                    let _ = out_tx.send(b.to_vec());
                }),
                cancel: cancel_rx,
                inputs,
            });
            tokio::select! {
                o = run => o,
                _ = progress => unreachable!("progress acks never end"),
                _ = cancel_watch => unreachable!("the cancel watch never ends"),
            }
        }
        Err(error) => Outcome {
            error: Some(error),
            ..Outcome::default()
        },
    };
    // The output sent so far goes out before the result does.
    let _ = tokio::time::timeout(Duration::from_secs(5), forward).await;
    let mut artifacts = Vec::new();
    for (rel, _, _) in std::mem::take(&mut outcome.artifacts) {
        // Under this delivery's own prefix: a second run of the job cannot overwrite what
        // the recorded result names.
        let object = format!("{}/{delivery}/{rel}", job.run);
        match crate::files::put(ready, &object, &rel, &dir.join(&rel)).await {
            Ok(f) => artifacts.push(f),
            Err(e) => {
                outcome.error = Some(format!("artifact {rel} not sent: {e}"));
                break;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let result = FleetResult {
        run: job.run.clone(),
        node: node.clone(),
        code: outcome.code,
        signal: outcome.signal,
        timed_out: outcome.timed_out,
        cancelled: outcome.cancelled,
        error: outcome.error.clone(),
        artifacts,
        delivery,
        started_ms,
        ended_ms: wire::now_ms(),
    };
    let bytes = serde_json::to_vec(&result).unwrap_or_default();
    let recorded = ready.results.create(&job.run, bytes.into()).await;
    shared.state().running.remove(&job.run);
    match recorded {
        Ok(_) => host.news(
            FleetStep::Done,
            Some(&job.run),
            format!("{node} ran job {} to its end: {}", job.job, ended(&outcome)),
        ),
        Err(e) if e.kind() == CreateErrorKind::AlreadyExists => host.news(
            FleetStep::Duplicate,
            Some(&job.run),
            format!(
                "{node} ran {} of job {} again (delivery {delivery}), but its result was already recorded: this one is dropped",
                job.run, job.job
            ),
        ),
        Err(e) => {
            // Not recorded: no ack, so the job comes again after the ack wait.
            tracing::warn!("fleet: the result of {} was not recorded: {e}", job.run);
            return;
        }
    }
    if let Err(e) = msg.double_ack().await {
        tracing::debug!("fleet: ack of {}: {e}", job.run);
    }
    crate::members::beat(shared, ready).await;
}

/// The job's inputs fetched into `dir` (their SHA-256 checked), if it has any.
async fn inputs(
    ready: &Ready,
    job: &FleetJob,
    dir: &std::path::Path,
) -> Result<Option<std::path::PathBuf>, String> {
    let Some(file) = &job.inputs else {
        return Ok(None);
    };
    let dest = dir.join(".qcity-inputs.tar");
    crate::files::get(ready, file, &dest)
        .await
        .map_err(|e| format!("the inputs: {e}"))?;
    Ok(Some(dest))
}

fn ended(o: &Outcome) -> String {
    if let Some(e) = &o.error {
        return e.clone();
    }
    if o.cancelled {
        return "cancelled".into();
    }
    if o.timed_out {
        return "timed out".into();
    }
    match (o.code, o.signal) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "ended".into(),
    }
}
