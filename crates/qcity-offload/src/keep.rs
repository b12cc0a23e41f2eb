//! What a run keeps in the object store, around its attempt: its cache restored before a
//! local attempt and saved after it succeeds, and its artifacts uploaded once verified. The
//! store is opened once per run, when first needed (a job with no cache and no artifacts
//! never opens it). A store that fails costs the job its cache or its upload, said in its
//! log, never the job.

use std::path::PathBuf;
use std::sync::OnceLock;

use qcity_config::StoreSettings;
use qcity_types::{CacheOutcome, JobArtifact};

use crate::exec::Work;
use crate::store::Store;

/// One run's object store: opened on first use, then shared by the restore, the save and
/// the upload.
pub(crate) struct Keep {
    settings: StoreSettings,
    data_root: PathBuf,
    /// The store, or why it cannot be opened (said at each use, not tried again).
    store: OnceLock<Result<Store, String>>,
}

impl Keep {
    pub(crate) fn new(settings: StoreSettings, data_root: PathBuf) -> Keep {
        Keep {
            settings,
            data_root,
            store: OnceLock::new(),
        }
    }

    fn store(&self) -> Result<&Store, &str> {
        self.store
            .get_or_init(|| {
                crate::store::open(&self.settings, &self.data_root).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// Restores the job's cache (if it has one) into its directory.
    pub(crate) async fn restore_cache(&self, work: &Work) -> Option<CacheOutcome> {
        let spec = work.job.cache.as_ref()?;
        let key = match crate::cache::key(spec, &work.dir) {
            Ok(k) => k,
            Err(e) => {
                work.log.note(&format!("cache: {e}"));
                return None;
            }
        };
        let store = match self.store() {
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
        let restored =
            match crate::cache::restore(store, spec, &key, &work.dir, &self.data_root).await {
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
    pub(crate) async fn save_cache(&self, work: &Work, outcome: &mut CacheOutcome) {
        let Some(spec) = work.job.cache.as_ref() else {
            return;
        };
        let store = match self.store() {
            Ok(s) => s,
            Err(e) => {
                work.log.note(&format!("cache not saved: {e}"));
                return;
            }
        };
        let max = self.settings.cache_max_mb.saturating_mul(1024 * 1024);
        match crate::cache::save(store, spec, &outcome.key, &work.dir, &self.data_root, max).await {
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
    pub(crate) async fn upload_artifacts(&self, work: &Work, artifacts: &mut [JobArtifact]) {
        if artifacts.is_empty() {
            return;
        }
        let store = match self.store() {
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
}
