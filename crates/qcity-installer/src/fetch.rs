//! Downloads a release file into place, resumable: bytes go to `DEST.part`, and a later call
//! asks the server only for what is missing (`Range: bytes=N-`). The file is renamed to
//! `DEST` once complete; it is verified after that (`verify`), never trusted before.
//!
//! Sources: `https://` (checked against the public web roots, or only against the
//! certificates of a configured CA file), `http://` on a loopback host (a local mirror, the
//! test suite), or a file path (relative to the manifest's directory).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {message}")]
    Source { url: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{url}: the server sent more than the {expected} bytes the manifest gives")]
    TooLong { url: String, expected: u64 },
    #[error("{url}: the transfer stopped after {got} of {expected} bytes; run it again to resume")]
    Interrupted {
        url: String,
        got: u64,
        expected: u64,
    },
}

/// Which certificate authorities an `https://` source may be signed by.
#[derive(Clone, Default)]
pub struct Trust {
    /// `None`: the public web roots (webpki-roots, compiled in, so no system store is read).
    roots: Option<ureq::tls::RootCerts>,
}

impl Trust {
    /// A config section's `ca_file` (relative to the configuration directory) when set, else
    /// the public web roots.
    pub fn from_ca_file(ca_file: Option<&str>, config_dir: &Path) -> Result<Self, FetchError> {
        match ca_file {
            None => Ok(Self::default()),
            Some(file) => Self::from_pem_file(&config_dir.join(file)),
        }
    }

    /// Only the certificates in this PEM file (a private mirror's authority).
    pub fn from_pem_file(path: &Path) -> Result<Self, FetchError> {
        let bytes = std::fs::read(path).map_err(|source| FetchError::Io {
            path: path.into(),
            source,
        })?;
        let bad = |message: String| FetchError::Source {
            url: path.display().to_string(),
            message,
        };
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&bytes) {
            match item.map_err(|e| bad(format!("not PEM: {e}")))? {
                ureq::tls::PemItem::Certificate(c) => certs.push(c),
                _ => continue,
            }
        }
        if certs.is_empty() {
            return Err(bad("holds no CERTIFICATE block".into()));
        }
        Ok(Self {
            roots: Some(ureq::tls::RootCerts::new_with_certs(&certs)),
        })
    }

    fn agent(&self) -> ureq::Agent {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(roots) = &self.roots {
            tls = tls.root_certs(roots.clone());
        }
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_body(Some(Duration::from_secs(60)))
            .tls_config(tls.build())
            .build()
            .into()
    }
}

/// Progress: (bytes so far, total).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// The partial file of `dest`.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// Fetches `url` (resolved against `base` when it is a path) into `dest`, `size` bytes.
pub fn download(
    url: &str,
    base: &Path,
    dest: &Path,
    size: u64,
    trust: &Trust,
    progress: Progress<'_>,
) -> Result<(), FetchError> {
    let part = part_path(dest);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FetchError::Io { path, source }
    };
    if let Some(parent) = dest.parent() {
        qcity_platform::private::create_dir(parent).map_err(io(parent))?;
    }
    let have = std::fs::metadata(&part).map_or(0, |m| m.len());
    let (mut reader, resumed) = open(url, base, trust, have.min(size))?;
    let mut out = qcity_platform::private::options()
        .create(true)
        .append(resumed)
        .write(true)
        .truncate(!resumed)
        .open(&part)
        .map_err(io(&part))?;
    let mut done = if resumed { have.min(size) } else { 0 };
    progress(done, size);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // A dropped connection keeps what arrived: the next call resumes.
            Err(_) => break,
        };
        if done + n as u64 > size {
            drop(out);
            let _ = std::fs::remove_file(&part);
            return Err(FetchError::TooLong {
                url: url.into(),
                expected: size,
            });
        }
        out.write_all(&buf[..n]).map_err(io(&part))?;
        done += n as u64;
        progress(done, size);
    }
    out.sync_all().map_err(io(&part))?;
    if done < size {
        return Err(FetchError::Interrupted {
            url: url.into(),
            got: done,
            expected: size,
        });
    }
    std::fs::rename(&part, dest).map_err(io(dest))?;
    Ok(())
}

/// The source from `offset` on: (reader, whether it starts at `offset` rather than at 0).
fn open(
    url: &str,
    base: &Path,
    trust: &Trust,
    offset: u64,
) -> Result<(Box<dyn Read>, bool), FetchError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return open_http(url, trust, offset);
    }
    if url.contains("://") {
        return Err(FetchError::Source {
            url: url.into(),
            message: "only https://, http:// on loopback and file paths can be fetched".into(),
        });
    }
    use std::io::Seek;
    let path = base.join(url);
    let io = |source| FetchError::Io {
        path: path.clone(),
        source,
    };
    let mut f = std::fs::File::open(&path).map_err(io)?;
    f.seek(std::io::SeekFrom::Start(offset)).map_err(io)?;
    Ok((Box::new(f), true))
}

/// A GET from `offset` on; `true` when the server honoured the range (append), `false` when
/// it sent the whole file (start over).
fn open_http(url: &str, trust: &Trust, offset: u64) -> Result<(Box<dyn Read>, bool), FetchError> {
    if let Err(message) = qcity_config::release::url_allowed(url) {
        return Err(FetchError::Source {
            url: url.into(),
            message,
        });
    }
    let mut req = trust.agent().get(url);
    if offset > 0 {
        req = req.header("Range", format!("bytes={offset}-"));
    }
    let resp = req.call().map_err(|e| FetchError::Source {
        url: url.into(),
        message: e.to_string(),
    })?;
    let status = resp.status().as_u16();
    let resumed = match status {
        206 if offset > 0 => true,
        200 => false,
        // Asked for nothing more: the part is complete already.
        416 if offset > 0 => return Ok((Box::new(std::io::empty()), true)),
        _ => {
            return Err(FetchError::Source {
                url: url.into(),
                message: format!("the server answered {status}"),
            });
        }
    };
    Ok((Box::new(resp.into_body().into_reader()), resumed))
}

/// Reads a small text (the release manifest) from `url`, resolved against `base` when it is a
/// path. At most 4 MiB.
pub fn fetch_text(url: &str, base: &Path, trust: &Trust) -> Result<String, FetchError> {
    const MAX: u64 = 4 << 20;
    let (mut reader, _) = open(url, base, trust, 0)?;
    let mut text = String::new();
    reader
        .by_ref()
        .take(MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| FetchError::Source {
            url: url.into(),
            message: format!("cannot read it as UTF-8 text: {e}"),
        })?;
    if text.len() as u64 > MAX {
        return Err(FetchError::TooLong {
            url: url.into(),
            expected: MAX,
        });
    }
    Ok(text)
}
