//! The object store of artifacts and caches, through the `object_store` crate: a directory
//! under the data dir by default (`DATA/store`, works with no setup), or S3 and S3-compatible
//! servers (`s3://BUCKET/PREFIX`, endpoint, region, path-style requests) for real use. Keys
//! are read where the config names them (keyring or environment), never from the file.

use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use qcity_config::StoreSettings;
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the object store ({0}) cannot be opened: {1}")]
    Open(String, String),
    #[error("{0}: {1}")]
    Secret(String, String),
    #[error("{where_}: `{key}`: {error}")]
    Object {
        where_: String,
        key: String,
        error: String,
    },
    #[error("{}: {error}", .path.display())]
    Io {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
}

/// An object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key under the store's prefix.
    pub key: String,
    pub bytes: u64,
}

/// An opened store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    prefix: Option<ObjectPath>,
    /// `DATA/store` or `s3://bucket/prefix`, for messages.
    pub describe: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

fn secret(field: &str, value: &str) -> Result<String, StoreError> {
    let named = qcity_config::secret_field(value)
        .map_err(|e| StoreError::Secret(format!("store.{field}"), e))?;
    qcity_secrets::read(&named)
        .map_err(|e| StoreError::Secret(format!("store.{field}"), e.to_string()))
}

/// Opens the store `settings` name; the local directory is created if missing.
pub fn open(settings: &StoreSettings, data_root: &Path) -> Result<Store, StoreError> {
    let Some(url) = &settings.url else {
        let dir = data_root.join("store");
        qcity_platform::private::create_dir(&dir).map_err(|error| StoreError::Io {
            path: dir.clone(),
            error,
        })?;
        let local = object_store::local::LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| StoreError::Open(dir.display().to_string(), e.to_string()))?;
        return Ok(Store {
            inner: Arc::new(local),
            prefix: None,
            describe: dir.display().to_string(),
        });
    };
    // object_store's S3 client is reqwest on rustls: ring, as every TLS client of ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rest = url.strip_prefix("s3://").unwrap_or(url);
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let mut b = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(&settings.region);
    if let Some(endpoint) = &settings.endpoint {
        // The config accepts http:// only on loopback (an S3-compatible server here).
        b = b
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    if let Some(id) = &settings.access_key_id {
        b = b.with_access_key_id(secret("access_key_id", id)?);
    }
    if let Some(key) = &settings.secret_access_key {
        b = b.with_secret_access_key(secret("secret_access_key", key)?);
    }
    let s3 = b
        .build()
        .map_err(|e| StoreError::Open(url.clone(), e.to_string()))?;
    let prefix = prefix.trim_matches('/');
    Ok(Store {
        inner: Arc::new(s3),
        prefix: (!prefix.is_empty()).then(|| ObjectPath::from(prefix)),
        describe: url.clone(),
    })
}

impl Store {
    fn path(&self, key: &str) -> ObjectPath {
        // `ObjectPath::from` splits on `/` (`join` would take the key as one part and
        // escape its slashes).
        match &self.prefix {
            Some(p) => ObjectPath::from(format!("{}/{key}", p.as_ref())),
            None => ObjectPath::from(key),
        }
    }

    fn err(&self, key: &str, error: impl ToString) -> StoreError {
        StoreError::Object {
            where_: self.describe.clone(),
            key: key.to_string(),
            error: error.to_string(),
        }
    }

    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.inner
            .put(&self.path(key), PutPayload::from(bytes))
            .await
            .map(drop)
            .map_err(|e| self.err(key, e))
    }

    /// Uploads `file` in parts (a large artifact is never read whole into memory); the
    /// object appears whole or not at all.
    pub async fn put_file(&self, key: &str, file: &Path) -> Result<(), StoreError> {
        let mut src = tokio::fs::File::open(file)
            .await
            .map_err(|error| StoreError::Io {
                path: file.to_path_buf(),
                error,
            })?;
        let mut w = object_store::buffered::BufWriter::new(self.inner.clone(), self.path(key));
        if let Err(e) = tokio::io::copy(&mut src, &mut w).await {
            let _ = w.abort().await;
            return Err(self.err(key, e));
        }
        w.shutdown().await.map_err(|e| self.err(key, e))
    }

    /// The object, or `None` when there is none.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.inner.get(&self.path(key)).await {
            Ok(got) => Ok(Some(
                got.bytes().await.map_err(|e| self.err(key, e))?.to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(key, e)),
        }
    }

    /// The object as a file to read: the store's own file where the store is a directory
    /// (nothing copied), else a temporary copy in `tmp_dir` (removed when the file closes).
    pub async fn get_readable(
        &self,
        key: &str,
        tmp_dir: &Path,
    ) -> Result<std::fs::File, StoreError> {
        let got = self
            .inner
            .get(&self.path(key))
            .await
            .map_err(|e| self.err(key, e))?;
        match got.payload {
            object_store::GetResultPayload::File(file, _) => Ok(file),
            object_store::GetResultPayload::Stream(mut stream) => {
                let io = |error| StoreError::Io {
                    path: tmp_dir.to_path_buf(),
                    error,
                };
                let tmp = tempfile::tempfile_in(tmp_dir).map_err(io)?;
                let mut out = tokio::fs::File::from_std(tmp);
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| self.err(key, e))?;
                    out.write_all(&chunk).await.map_err(io)?;
                }
                out.flush().await.map_err(io)?;
                let mut file = out.into_std().await;
                std::io::Seek::rewind(&mut file).map_err(io)?;
                Ok(file)
            }
        }
    }

    /// Every object under `prefix` (a `/`-separated key prefix).
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StoreError> {
        let at = self.path(prefix.trim_end_matches('/'));
        let strip = self
            .prefix
            .as_ref()
            .map(|p| format!("{}/", p.as_ref()))
            .unwrap_or_default();
        let mut out = Vec::new();
        let mut stream = self.inner.list(Some(&at));
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| self.err(prefix, e))?;
            let full = meta.location.as_ref();
            out.push(Listed {
                key: full.strip_prefix(&strip).unwrap_or(full).to_string(),
                bytes: meta.size,
            });
        }
        Ok(out)
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.inner.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(key, e)),
        }
    }
}
