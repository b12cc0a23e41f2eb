//! What a run keeps in the object store, around its attempt: its cache restored before a
//! local attempt and saved after it succeeds, and its artifacts uploaded once verified. A
//! store that fails costs the job its cache or its upload, said in its log, never the job.

use std::path::Path;

use qcity_config::Config;
use qcity_types::{CacheOutcome, JobArtifact};

use crate::exec::Work;

/// Restores the job's cache (if it has one) into its directory.
pub(crate) async fn restore_cache(
    config: &Config,
    data_root: &Path,
    work: &Work,
) -> Option<CacheOutcome> {
    let spec = work.job.cache.as_ref()?;
    let key = match crate::cache::key(spec, &work.dir) {
        Ok(k) => k,
        Err(e) => {
            work.log.note(&format!("cache: {e}"));
            return None;
        }
    };
    let store = match crate::store::open(&config.cloud.store, data_root) {
        Ok(s) => s,
        Err(e) => {
            work.log.note(&format!("cache not restored: {e}"));
            return Some(CacheOutcome {
                key,
                restored: None,
                saved: false,
            });
        }
    };
    let restored = match crate::cache::restore(&store, spec, &key, &work.dir, data_root).await {
        Ok(Some(k)) => {
            work.log.note(&format!("cache restored from `{k}`"));
            Some(k)
        }
        Ok(None) => {
            work.log
                .note(&format!("cache: no entry for `{key}` or its restore keys"));
            None
        }
        Err(e) => {
            work.log.note(&format!("cache not restored: {e}"));
            None
        }
    };
    Some(CacheOutcome {
        key,
        restored,
        saved: false,
    })
}

/// Saves the job's cache under its key (entries are immutable: an existing key is kept).
pub(crate) async fn save_cache(
    config: &Config,
    data_root: &Path,
    work: &Work,
    outcome: &mut CacheOutcome,
) {
    let Some(spec) = work.job.cache.as_ref() else {
        return;
    };
    let saved = async {
        let store = crate::store::open(&config.cloud.store, data_root)
            .map_err(crate::cache::CacheError::Store)?;
        let max = config.cloud.store.cache_max_mb.saturating_mul(1024 * 1024);
        crate::cache::save(&store, spec, &outcome.key, &work.dir, data_root, max).await
    }
    .await;
    match saved {
        Ok(true) => {
            outcome.saved = true;
            work.log.note(&format!("cache saved as `{}`", outcome.key));
        }
        Ok(false) => work
            .log
            .note(&format!("cache `{}` exists; kept as it is", outcome.key)),
        Err(e) => work.log.note(&format!("cache not saved: {e}")),
    }
}

/// Uploads the verified artifacts to `artifacts/JOB/RUN/PATH`.
pub(crate) async fn upload_artifacts(
    config: &Config,
    data_root: &Path,
    work: &Work,
    artifacts: &mut [JobArtifact],
) {
    if artifacts.is_empty() {
        return;
    }
    let store = match crate::store::open(&config.cloud.store, data_root) {
        Ok(s) => s,
        Err(e) => {
            work.log.note(&format!("artifacts not uploaded: {e}"));
            return;
        }
    };
    for a in artifacts.iter_mut() {
        let key = format!(
            "artifacts/{}/{}/{}",
            work.job.name,
            work.id,
            a.path.to_string_lossy()
        );
        match store.put_file(&key, &work.dir.join(&a.path)).await {
            Ok(()) => a.object = Some(key),
            Err(e) => work.log.note(&format!("artifact not uploaded: {e}")),
        }
    }
    let n = artifacts.iter().filter(|a| a.object.is_some()).count();
    work.log.note(&format!(
        "{} to {}",
        crate::artifacts::count(n, "uploaded"),
        store.describe
    ));
}
