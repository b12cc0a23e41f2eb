//! A job sent to the fleet: the capability chosen among live nodes, the job published to
//! its work queue once (the run's id is the message id), its output and start followed,
//! its one recorded result awaited. A cancel records a cancelled result first, so whichever
//! node takes or finishes the job later drops it.

use std::time::{Duration, Instant};

use async_nats::jetstream::kv::CreateErrorKind;
use async_nats::jetstream::message::PublishMessage;
use futures_util::StreamExt;
use tokio::sync::watch;

use crate::node::Node;
use crate::setup::Ready;
use crate::wire::{self, FleetJob, FleetResult};

/// Why a job sent to the fleet has no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// NATS is not reachable, or no live node can take the job within the wait.
    #[error("{0}")]
    Unreachable(String),
    /// The job was delivered the maximum number of times and never finished.
    #[error("{0}")]
    GaveUp(String),
}

/// A job's end as the fleet recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    pub result: FleetResult,
    pub capability: String,
}

/// What the caller hears while it waits.
pub trait Progress: Send + Sync {
    /// The job's output, as the node sends it.
    fn output(&self, bytes: &[u8]);
    /// A line of the fleet's own (`waiting for a node with gpu`, `running on b`).
    fn note(&self, line: &str);
}

/// True once `cancel` turns true; false if no one can cancel any more.
async fn cancelled(cancel: &mut watch::Receiver<bool>) -> bool {
    cancel.wait_for(|c| *c).await.is_ok()
}

impl Node {
    /// Sends `job` (its `capability` is the first choice, `fallback` the next ones) and
    /// waits for its result.
    pub async fn submit(
        &self,
        mut job: FleetJob,
        fallback: &[String],
        progress: &dyn Progress,
        cancel: watch::Receiver<bool>,
    ) -> Result<Submitted, SubmitError> {
        let wait = Duration::from_secs(self.shared.settings.fleet.wait_seconds);
        let ready = self
            .ready_within(wait)
            .await
            .map_err(|e| SubmitError::Unreachable(e.to_string()))?;
        job.capability = self.capable(&ready, &job, fallback, progress).await?;
        job.origin = self.name().to_string();
        job.published_ms = wire::now_ms();
        let client = ready.js.client();
        let sub = |s: String| {
            let client = client.clone();
            async move { client.subscribe(s).await }
        };
        let unreachable =
            |e: &dyn std::fmt::Display| SubmitError::Unreachable(format!("NATS: {e}"));
        let mut output = sub(wire::output_subject(&job.run))
            .await
            .map_err(|e| unreachable(&e))?;
        let mut started = sub(wire::started_subject(&job.run))
            .await
            .map_err(|e| unreachable(&e))?;
        let consumer = wire::consumer_name(&job.capability);
        let mut gave_up = sub(format!(
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.{consumer}",
            wire::JOBS_STREAM
        ))
        .await
        .map_err(|e| unreachable(&e))?;
        let mut results = ready
            .results
            .watch_with_history(&job.run)
            .await
            .map_err(|e| unreachable(&e))?;
        // The consumer exists before the job does, so a job is never left on a subject no
        // consumer reads.
        crate::setup::consumer(
            &ready.jobs,
            &job.capability,
            self.shared.ack_wait(),
            self.shared.settings.fleet.max_deliver,
        )
        .await
        .map_err(|e| unreachable(&e))?;
        let payload = serde_json::to_vec(&job).map_err(|e| unreachable(&e))?;
        let ack = ready
            .js
            .send_publish(
                wire::job_subject(&job.capability),
                PublishMessage::build()
                    .payload(payload.into())
                    .message_id(&job.run),
            )
            .await
            .map_err(|e| unreachable(&e))?
            .await
            .map_err(|e| unreachable(&e))?;
        let seq = ack.sequence;
        progress.note(&format!(
            "queued for a node with {} (stream sequence {seq})",
            job.capability
        ));
        let mut cancel = cancel;
        let wait = Duration::from_secs(self.shared.settings.fleet.wait_seconds);
        let mut orphaned: Option<Instant> = None;
        let mut poll = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                Some(m) = output.next() => progress.output(&m.payload),
                Some(m) = started.next() => {
                    let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap_or_default();
                    progress.note(&format!(
                        "running on {} (delivery {})",
                        v["node"].as_str().unwrap_or("?"),
                        v["delivery"].as_u64().unwrap_or(1)
                    ));
                }
                Some(entry) = results.next() => {
                    if let Ok(entry) = entry
                        && let Ok(result) = serde_json::from_slice::<FleetResult>(&entry.value)
                    {
                        return Ok(self.finish(&mut output, progress, job, result).await);
                    }
                }
                Some(m) = gave_up.next() => {
                    let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap_or_default();
                    if v["stream_seq"].as_u64() == Some(seq) {
                        let why = format!(
                            "job {} was delivered {} times and no node finished it",
                            job.job,
                            v["deliveries"]
                                .as_u64()
                                .unwrap_or(u64::from(self.shared.settings.fleet.max_deliver))
                        );
                        return self.give_up(&ready, job, seq, why).await;
                    }
                }
                _ = poll.tick() => {
                    // The watch may miss an entry across a server restart: ask directly too.
                    if let Ok(Some(bytes)) = ready.results.get(&job.run).await
                        && let Ok(result) = serde_json::from_slice::<FleetResult>(&bytes)
                    {
                        return Ok(self.finish(&mut output, progress, job, result).await);
                    }
                    // Every node that could take or finish the job is gone: withdrawn after
                    // the wait, rather than waiting for ever (not judged while cut off).
                    let nodes = self.nodes();
                    let takers = nodes.iter().any(|n| {
                        n.max_jobs > 0 && n.capabilities.contains(&job.capability)
                    });
                    if takers || nodes.is_empty() {
                        orphaned = None;
                    } else if orphaned.get_or_insert_with(Instant::now).elapsed() >= wait {
                        let why = format!(
                            "no live node has {} any more: job {} withdrawn after {} s",
                            job.capability,
                            job.job,
                            wait.as_secs()
                        );
                        return self.give_up(&ready, job, seq, why).await;
                    }
                }
                true = cancelled(&mut cancel) => {
                    return Ok(self.cancel(&ready, job).await);
                }
            }
        }
    }

    /// The first of the job's capabilities some live node has; waits (saying why) up to
    /// `wait_seconds` while none has any.
    async fn capable(
        &self,
        ready: &Ready,
        job: &FleetJob,
        fallback: &[String],
        progress: &dyn Progress,
    ) -> Result<String, SubmitError> {
        let wanted: Vec<&str> = std::iter::once(job.capability.as_str())
            .chain(fallback.iter().map(String::as_str))
            .collect();
        let wait = Duration::from_secs(self.shared.settings.fleet.wait_seconds);
        let since = Instant::now();
        let mut said = false;
        loop {
            // The heartbeat round's list; read now only when it has none yet.
            let mut nodes = self.nodes();
            if nodes.is_empty() {
                nodes = crate::members::live(ready, self.shared.heartbeat())
                    .await
                    .unwrap_or_default();
            }
            let why = match crate::members::choose(&nodes, &wanted) {
                Ok(cap) => {
                    if cap != job.capability {
                        progress.note(&format!(
                            "no live node has {}: falling back to {cap}",
                            job.capability
                        ));
                    }
                    return Ok(cap);
                }
                Err(why) => why,
            };
            if since.elapsed() >= wait {
                return Err(SubmitError::Unreachable(format!(
                    "{why} after {} s",
                    wait.as_secs()
                )));
            }
            if !said {
                progress.note(&format!("waiting: {why}"));
                said = true;
            }
            tokio::time::sleep(self.shared.heartbeat().min(Duration::from_secs(1))).await;
        }
    }

    /// The output still on its way is taken before the result is returned.
    async fn finish(
        &self,
        output: &mut async_nats::Subscriber,
        progress: &dyn Progress,
        job: FleetJob,
        result: FleetResult,
    ) -> Submitted {
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(50), output.next()).await
        {
            progress.output(&m.payload);
        }
        Submitted {
            result,
            capability: job.capability,
        }
    }

    /// A cancelled result recorded unless one is already there; the node running it is
    /// told to stop.
    async fn cancel(&self, ready: &Ready, job: FleetJob) -> Submitted {
        let result = FleetResult {
            run: job.run.clone(),
            cancelled: true,
            ended_ms: wire::now_ms(),
            ..FleetResult::default()
        };
        let bytes = serde_json::to_vec(&result).unwrap_or_default();
        let kept = match ready.results.create(&job.run, bytes.into()).await {
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => ready
                .results
                .get(&job.run)
                .await
                .ok()
                .flatten()
                .and_then(|b| serde_json::from_slice(&b).ok()),
            _ => None,
        };
        let _ = ready
            .js
            .client()
            .publish(wire::cancel_subject(&job.run), "cancel".into())
            .await;
        Submitted {
            result: kept.unwrap_or(result),
            capability: job.capability,
        }
    }

    /// Delivered the maximum number of times without a result, or no node left to take it:
    /// the job leaves the queue and a result saying so is recorded, so a late finish is
    /// dropped.
    async fn give_up(
        &self,
        ready: &Ready,
        job: FleetJob,
        seq: u64,
        why: String,
    ) -> Result<Submitted, SubmitError> {
        let _ = ready.jobs.delete_message(seq).await;
        let result = FleetResult {
            run: job.run.clone(),
            error: Some(why.clone()),
            ended_ms: wire::now_ms(),
            ..FleetResult::default()
        };
        let bytes = serde_json::to_vec(&result).unwrap_or_default();
        if let Err(e) = ready.results.create(&job.run, bytes.into()).await
            && e.kind() == CreateErrorKind::AlreadyExists
            && let Ok(Some(b)) = ready.results.get(&job.run).await
            && let Ok(result) = serde_json::from_slice::<FleetResult>(&b)
        {
            // It finished after all, just now.
            return Ok(Submitted {
                result,
                capability: job.capability,
            });
        }
        self.shared
            .host
            .news(qcity_types::FleetStep::GaveUp, Some(&job.run), why.clone());
        Err(SubmitError::GaveUp(why))
    }
}
