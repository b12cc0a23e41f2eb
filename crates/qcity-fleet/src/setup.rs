//! The streams, consumers and buckets the fleet needs, made if missing. Written for the
//! NATS server Debian ships (2.9): a key-value bucket is made as its stream directly,
//! because `create_key_value` asks the account's limits first and cannot read 2.9's answer.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, object_store, stream};

use crate::FleetError;
use crate::wire::{self, JOBS_STREAM, JOBS_SUBJECTS};

/// How long results are kept: long after any redelivery of their job could come.
const RESULTS_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Everything a node uses, ready.
#[derive(Clone)]
pub(crate) struct Ready {
    pub js: jetstream::Context,
    pub jobs: stream::Stream,
    pub nodes: kv::Store,
    pub results: kv::Store,
    pub manifest: kv::Store,
    pub files: object_store::ObjectStore,
}

pub(crate) struct Limits {
    pub heartbeat: Duration,
}

pub(crate) async fn ensure(js: &jetstream::Context, limits: &Limits) -> Result<Ready, FleetError> {
    let jobs = js
        .get_or_create_stream(stream::Config {
            name: JOBS_STREAM.into(),
            subjects: vec![JOBS_SUBJECTS.into()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            // A job published twice under one run id within this window is stored once.
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| FleetError::Nats(format!("stream {JOBS_STREAM}: {e}")))?;
    // A node unseen for three heartbeats is gone: its entry has expired.
    let nodes = bucket(js, wire::NODES_BUCKET, 1, limits.heartbeat * 3).await?;
    let results = bucket(js, wire::RESULTS_BUCKET, 1, RESULTS_MAX_AGE).await?;
    let manifest = bucket(js, wire::MANIFEST_BUCKET, 5, Duration::ZERO).await?;
    let files = match js.get_object_store(wire::FILES_BUCKET).await {
        Ok(f) => f,
        Err(_) => js
            .create_object_store(object_store::Config {
                bucket: wire::FILES_BUCKET.into(),
                max_age: RESULTS_MAX_AGE,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| FleetError::Nats(format!("object store {}: {e}", wire::FILES_BUCKET)))?,
    };
    Ok(Ready {
        files,
        js: js.clone(),
        jobs,
        nodes,
        results,
        manifest,
    })
}

/// The key-value bucket `name`, made as the stream `KV_NAME` if missing (the settings
/// `async-nats` itself would give it; `max_age` 0: entries never expire).
async fn bucket(
    js: &jetstream::Context,
    name: &str,
    history: i64,
    max_age: Duration,
) -> Result<kv::Store, FleetError> {
    let err = |e: &dyn std::fmt::Display| FleetError::Nats(format!("bucket {name}: {e}"));
    if let Ok(store) = js.get_key_value(name).await {
        return Ok(store);
    }
    let made = js
        .create_stream(stream::Config {
            name: format!("KV_{name}"),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: history,
            max_age,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            storage: stream::StorageType::File,
            num_replicas: 1,
            ..Default::default()
        })
        .await;
    if let Err(e) = made {
        // Another node may have made it at the same moment.
        if js.get_key_value(name).await.is_err() {
            return Err(err(&e));
        }
    }
    js.get_key_value(name).await.map_err(|e| err(&e))
}

/// The durable pull consumer of `capability`, shared by every node that has it.
pub(crate) async fn consumer(
    jobs: &stream::Stream,
    capability: &str,
    ack_wait: Duration,
    max_deliver: u32,
) -> Result<consumer::PullConsumer, FleetError> {
    let name = wire::consumer_name(capability);
    jobs.get_or_create_consumer(
        &name,
        consumer::pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: wire::job_subject(capability),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait,
            max_deliver: i64::from(max_deliver),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| FleetError::Nats(format!("consumer {name}: {e}")))
}
