//! The runner manifest, published to the fleet signed and applied by each node: only with
//! a good minisign signature by the key pinned in its device config, and only if its
//! version is newer than the one it applied. A refusal is an event; the last good manifest
//! keeps running.

use std::sync::Arc;

use futures_util::StreamExt;
use qcity_types::FleetStep;

use crate::FleetError;
use crate::setup::Ready;
use crate::shared::Shared;
use crate::wire::{MANIFEST_KEY, SignedManifest};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "no fleet_manifest_key in qcity-device-config.json: a manifest from the fleet is not applied"
    )]
    NoKey,
    #[error("the pinned fleet_manifest_key is not a minisign public key")]
    BadKey,
    #[error("bad signature: {0}")]
    Signature(String),
    #[error("the manifest is not JSON with a numeric `version`: {0}")]
    Version(String),
    #[error("version {offered} is not newer than the applied version {applied}")]
    NotNewer { offered: u64, applied: u64 },
    #[error("version {offered} is older than version {newest}, which the fleet already published")]
    Replayed { offered: u64, newest: u64 },
    #[error("not applied: {0}")]
    Apply(String),
}

/// The manifest's version if `signed` is signed by `key` (minisign, the key file's text or
/// its `RWQ…` line) and newer than `applied`.
pub fn check(
    signed: &SignedManifest,
    key: Option<&str>,
    applied: Option<u64>,
) -> Result<u64, ManifestError> {
    let key = key.ok_or(ManifestError::NoKey)?;
    let line = key
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .ok_or(ManifestError::BadKey)?;
    let key = minisign_verify::PublicKey::from_base64(line).map_err(|_| ManifestError::BadKey)?;
    let text: String = signed
        .signature
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let signature = minisign_verify::Signature::decode(&text)
        .map_err(|e| ManifestError::Signature(format!("not a minisign signature ({e})")))?;
    key.verify(signed.manifest.as_bytes(), &signature, true)
        .map_err(|e| ManifestError::Signature(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(&signed.manifest)
        .map_err(|e| ManifestError::Version(e.to_string()))?;
    let offered = value["version"]
        .as_u64()
        .ok_or_else(|| ManifestError::Version("no `version` number".into()))?;
    if let Some(applied) = applied
        && offered <= applied
    {
        return Err(ManifestError::NotNewer { offered, applied });
    }
    Ok(offered)
}

/// Puts `signed` in the manifest bucket once it passes the nodes' own check.
pub(crate) async fn publish(
    shared: &Shared,
    ready: &Ready,
    signed: &SignedManifest,
) -> Result<u64, FleetError> {
    let current = match ready.manifest.get(MANIFEST_KEY).await {
        Ok(Some(bytes)) => serde_json::from_slice::<SignedManifest>(&bytes)
            .ok()
            .and_then(|s| {
                serde_json::from_str::<serde_json::Value>(&s.manifest).ok()?["version"].as_u64()
            }),
        _ => None,
    };
    let applied = current.max(shared.host.manifest_version());
    let version = check(signed, shared.settings.manifest_key.as_deref(), applied)?;
    let bytes = serde_json::to_vec(signed).map_err(|e| FleetError::Nats(e.to_string()))?;
    ready
        .manifest
        .put(MANIFEST_KEY, bytes.into())
        .await
        .map_err(|e| FleetError::Nats(e.to_string()))?;
    Ok(version)
}

/// Follows the published manifest and applies each good, newer one.
pub(crate) async fn watch(shared: Arc<Shared>, ready: Ready) {
    loop {
        let floor = newest_signed(&shared, &ready).await;
        shared.state().manifest_floor = floor;
        match ready.manifest.watch_with_history(MANIFEST_KEY).await {
            Ok(mut entries) => {
                while let Some(entry) = entries.next().await {
                    let Ok(entry) = entry else { break };
                    consider(&shared, &entry.value).await;
                }
            }
            Err(e) => tracing::debug!("fleet manifest watch: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// The highest version among the well-signed manifests the bucket still holds (its
/// history): a node that has applied none yet must not take an older one replayed over it.
async fn newest_signed(shared: &Shared, ready: &Ready) -> Option<u64> {
    let read = async {
        let mut newest = None;
        if let Ok(mut history) = ready.manifest.history(MANIFEST_KEY).await {
            while let Some(Ok(entry)) = history.next().await {
                if let Ok(signed) = serde_json::from_slice::<SignedManifest>(&entry.value)
                    && let Ok(v) = check(&signed, shared.settings.manifest_key.as_deref(), None)
                {
                    newest = newest.max(Some(v));
                }
            }
        }
        newest
    };
    tokio::time::timeout(std::time::Duration::from_secs(3), read)
        .await
        .ok()
        .flatten()
}

async fn consider(shared: &Shared, bytes: &[u8]) {
    let host = &shared.host;
    let applied = host.manifest_version();
    let floor = shared.state().manifest_floor;
    let checked = serde_json::from_slice::<SignedManifest>(bytes)
        .map_err(|e| ManifestError::Version(format!("not a signed manifest: {e}")))
        .and_then(|signed| {
            let version = check(&signed, shared.settings.manifest_key.as_deref(), applied)?;
            // Below the newest well-signed version the fleet published is a replay, though
            // this node applied none yet.
            if let Some(newest) = floor.filter(|n| version < *n) {
                return Err(ManifestError::Replayed {
                    offered: version,
                    newest,
                });
            }
            Ok((version, signed.manifest))
        });
    let outcome = match checked {
        Ok((version, text)) => host
            .apply_manifest(text)
            .await
            .map(|()| version)
            .map_err(ManifestError::Apply),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(version) => {
            shared.state().manifest_refused = None;
            host.news(
                FleetStep::ManifestApplied,
                None,
                format!("runner manifest version {version} from the fleet applied"),
            );
        }
        // The one applied here, seen again (at a start, after a reconnect): nothing to do.
        Err(ManifestError::NotNewer { offered, applied }) if offered == applied => {}
        Err(e) => {
            let why =
                format!("runner manifest from the fleet refused, the last good one stays: {e}");
            // The same refusal seen again (after a reconnect) is not news.
            let old = shared.state().manifest_refused.replace(why.clone());
            if old.as_deref() != Some(why.as_str()) {
                tracing::warn!("{why}");
                host.news(FleetStep::ManifestRefused, None, why);
            }
        }
    }
}
