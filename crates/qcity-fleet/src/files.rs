//! Files through the fleet's object store: a job's inputs on their way to the node that
//! takes it, its artifacts on their way back. Each is hashed as it is read or written, and
//! a file whose SHA-256 is not the one its sender computed is refused.

use std::path::Path;

use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::FleetError;
use crate::setup::Ready;
use crate::wire::FileRef;

/// Puts the file at `path` under `object`; its reference with the SHA-256 of what was sent.
pub(crate) async fn put(
    ready: &Ready,
    object: &str,
    rel: &str,
    path: &Path,
) -> Result<FileRef, FleetError> {
    let err = |e: &dyn std::fmt::Display| FleetError::Nats(format!("{}: {e}", path.display()));
    let file = tokio::fs::File::open(path).await.map_err(|e| err(&e))?;
    let mut reader = Hashing::new(file);
    ready
        .files
        .put(object, &mut reader)
        .await
        .map_err(|e| err(&e))?;
    Ok(FileRef {
        object: object.to_string(),
        path: rel.to_string(),
        sha256: hex::encode(reader.sha.finalize()),
        bytes: reader.bytes,
    })
}

/// Writes `file` to `dest` (created anew) and checks its SHA-256; the SHA-256 received.
pub(crate) async fn get(ready: &Ready, file: &FileRef, dest: &Path) -> Result<String, FleetError> {
    let err = |e: &dyn std::fmt::Display| FleetError::Nats(format!("{}: {e}", file.object));
    let mut object = ready.files.get(&file.object).await.map_err(|e| err(&e))?;
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| err(&e))?;
    }
    let mut out = tokio::fs::File::create(dest).await.map_err(|e| err(&e))?;
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = object.read(&mut buf).await.map_err(|e| err(&e))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        out.write_all(&buf[..n]).await.map_err(|e| err(&e))?;
    }
    out.flush().await.map_err(|e| err(&e))?;
    let received = hex::encode(sha.finalize());
    if received != file.sha256 {
        let _ = tokio::fs::remove_file(dest).await;
        return Err(FleetError::Nats(format!(
            "{}: SHA-256 {received}, its sender computed {}",
            file.path, file.sha256
        )));
    }
    Ok(received)
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    sha: sha2::Sha256,
    bytes: u64,
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            sha: sha2::Sha256::new(),
            bytes: 0,
        }
    }
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Hashing<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &polled {
            let new = &buf.filled()[before..];
            let n = new.len() as u64;
            let new = new.to_vec();
            self.sha.update(&new);
            self.bytes += n;
        }
        polled
    }
}
