//! What a finished run leaves: its logs (a zip of text files) appended to the job's log, and
//! its artifacts (one zip each) checked against GitHub's digest and unpacked into staging.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use globset::GlobSet;
use reqwest::{Method, Url};

use super::repo::{Gh, next_link};
use crate::exec::{Claim, ExecError, Log, Work};

/// Appends the logs of run `id` to the job's log, a note naming each file before its text.
pub(crate) async fn logs(gh: &Gh<'_>, work: &Work, id: u64) -> Result<(), ExecError> {
    let url = gh.repo_url(&format!("/actions/runs/{id}/logs"))?;
    let zip = work.staging.join(format!(".qcity-github-logs-{id}.zip"));
    let what = format!("the logs of run {id}");
    let got = gh.client.download(&url, &what, &zip).await;
    let appended = match got {
        Ok(_) => {
            let (zip2, log) = (zip.clone(), work.log.clone());
            blocking(move || append_logs(&zip2, &log)).await
        }
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&zip);
    appended
}

fn append_logs(zip: &Path, log: &Log) -> Result<(), ExecError> {
    let bad = |e: zip::result::ZipError| ExecError::Job(format!("the run's logs: {e}"));
    let file =
        std::fs::File::open(zip).map_err(|e| ExecError::Job(format!("{}: {e}", zip.display())))?;
    let mut archive = zip::ZipArchive::new(file).map_err(bad)?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(bad)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map_err(bad)?.into_owned();
        log.note(&name);
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| ExecError::Job(format!("the run's logs: {e}")))?;
            if n == 0 {
                break;
            }
            log.write(&buf[..n]);
        }
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct Listing {
    artifacts: Vec<Artifact>,
}

#[derive(serde::Deserialize)]
struct Artifact {
    id: u64,
    name: String,
    expired: bool,
    archive_download_url: String,
    #[serde(default)]
    digest: Option<String>,
}

/// Brings back every artifact of run `id`, keeping the files the job's globs match: each
/// becomes a claim hashed from the unpacked file. The zip's digest, computed by GitHub when
/// it was uploaded and checked here before the zip is opened, is what vouches for them: there
/// is no per-file hash from the far side.
pub(crate) async fn artifacts(gh: &Gh<'_>, work: &Work, id: u64) -> Result<Vec<Claim>, ExecError> {
    let keep = crate::artifacts::matcher(&work.job.artifacts)
        .map_err(|e| ExecError::Job(e.to_string()))?;
    let mut claims = BTreeMap::new();
    for a in list(gh, id).await? {
        if a.expired {
            return Err(ExecError::Job(format!(
                "artifact {} expired on GitHub",
                a.name
            )));
        }
        let url = Url::parse(&a.archive_download_url)
            .map_err(|e| ExecError::Unreachable(format!("artifact {}: {e}", a.name)))?;
        let zip = work
            .staging
            .join(format!(".qcity-github-artifact-{}.zip", a.id));
        let unpacked = fetch_one(gh, work, &a, &url, &zip, keep.clone()).await;
        let _ = std::fs::remove_file(&zip);
        for c in unpacked? {
            // Two artifacts with the same file: the later one's is what staging holds.
            claims.insert(c.path.clone(), c);
        }
    }
    Ok(claims.into_values().collect())
}

async fn fetch_one(
    gh: &Gh<'_>,
    work: &Work,
    a: &Artifact,
    url: &Url,
    zip: &Path,
    keep: GlobSet,
) -> Result<Vec<Claim>, ExecError> {
    let what = format!("artifact {}", a.name);
    let got = gh.client.download(url, &what, zip).await?;
    if let Some(want) = a.digest.as_deref().and_then(|d| d.strip_prefix("sha256:"))
        && !want.eq_ignore_ascii_case(&got)
    {
        return Err(ExecError::Job(format!(
            "artifact {}: the download's SHA-256 {got} is not GitHub's digest {want}: nothing was unpacked",
            a.name
        )));
    }
    work.log.note(&format!("github: {what} downloaded"));
    let (zip, staging, name) = (zip.to_path_buf(), work.staging.clone(), a.name.clone());
    blocking(move || unpack(&zip, &staging, &keep, &name)).await
}

/// Every artifact of run `id`, following the listing's `link` pages.
async fn list(gh: &Gh<'_>, id: u64) -> Result<Vec<Artifact>, ExecError> {
    let mut url = gh.repo_url(&format!("/actions/runs/{id}/artifacts"))?;
    url.query_pairs_mut().append_pair("per_page", "100");
    let doing = format!("listing the artifacts of run {id}");
    let mut all = Vec::new();
    loop {
        let answer = gh.client.send(Method::GET, &url, None).await?;
        if answer.status != 200 {
            return Err(answer.refusal(&doing, ""));
        }
        let page: Listing = answer.json(&doing)?;
        all.extend(page.artifacts);
        match next_link(&answer) {
            Some(next) => {
                url = url
                    .join(&next)
                    .map_err(|e| ExecError::Unreachable(format!("link {next}: {e}")))?
            }
            None => return Ok(all),
        }
    }
}

/// Unpacks the entries `keep` matches into `staging` (the others are not written), each
/// hashed as it is written. An entry whose path could climb out of staging (absolute, `..`)
/// or that is a symbolic link refuses the whole artifact.
fn unpack(zip: &Path, staging: &Path, keep: &GlobSet, name: &str) -> Result<Vec<Claim>, ExecError> {
    let job = |e: String| ExecError::Job(format!("artifact {name}: {e}"));
    let file = std::fs::File::open(zip).map_err(|e| job(format!("{}: {e}", zip.display())))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| job(format!("not a zip archive: {e}")))?;
    let mut claims = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| job(e.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        let entry_name = entry.name().map_err(|e| job(e.to_string()))?.into_owned();
        let path = PathBuf::from(&entry_name);
        if !crate::artifacts::safe_relative(&path) || entry.is_symlink() {
            return Err(job(format!(
                "entry `{entry_name}` is not a plain file at a relative path: refused"
            )));
        }
        if !keep.is_match(&path) {
            continue;
        }
        let to = staging.join(&path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| job(format!("{}: {e}", parent.display())))?;
        }
        let mut w = crate::artifacts::HashingFile::create(&to)
            .map_err(|e| job(format!("{}: {e}", to.display())))?;
        std::io::copy(&mut entry, &mut w).map_err(|e| job(format!("{}: {e}", path.display())))?;
        let (sha256, bytes) = w
            .finish()
            .map_err(|e| job(format!("{}: {e}", to.display())))?;
        // GitHub's digest vouched for the zip; the files are what it held.
        claims.push(Claim {
            path,
            received: Some(sha256.clone()),
            sha256,
            bytes,
        });
    }
    Ok(claims)
}

/// Runs file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ExecError> + Send + 'static,
) -> Result<T, ExecError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ExecError::Job(format!("unpacking: {e}")))?
}
