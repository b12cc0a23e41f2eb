//! The filesystem side of a `clean`: the directories' contents are moved aside into the data
//! dir's `heal/aside/RUNNER/STAMP`, kept for the undo until the fix is proven, then deleted
//! ([`discard`]) or put back ([`restore`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a `clean` can undo: the directory's place and where its contents were put.
pub(crate) struct Aside {
    dir: PathBuf,
    kept: PathBuf,
}

/// Asides older than this are deleted at the next clean: what a killed engine or a failed
/// restore left behind.
const ASIDE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Empties each of `dirs` (relative to `cwd`), leaving an empty one in its place. Its
/// contents go into `asides/RUNNER/STAMP`, kept for the undo until the fix is proven (then
/// deleted by [`discard`]). When that is on another filesystem the move itself gives the
/// runner's disk its space back. When it is on the same one, a rename frees nothing: if the
/// failure is a full disk (`space_needed`) the space is needed now, so the contents are
/// deleted at once and there is no undo; otherwise (a corrupted cache) they are renamed aside
/// and the undo is kept. A full disk whose data dir cannot take the copy either has the
/// contents deleted in place.
pub(crate) fn clean(
    asides: &Path,
    runner: &str,
    cwd: &Path,
    dirs: &[PathBuf],
    space_needed: bool,
    undo: &mut Vec<Aside>,
) -> Result<(), String> {
    let stamp = qcity_platform::clock::now_ms();
    prune_asides(asides, stamp);
    let root = asides.join(runner).join(stamp.to_string());
    let made_root = std::fs::create_dir_all(&root);
    let failed = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    for (i, d) in dirs.iter().enumerate() {
        let dir = cwd.join(d);
        if !dir.exists() {
            continue;
        }
        let kept = root.join(format!(
            "{i}-{}",
            d.file_name().unwrap_or_default().to_string_lossy()
        ));
        let same_disk = same_device(&dir, &root);
        let moved = match &made_root {
            Ok(()) => move_dir(&dir, &kept),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        };
        match moved {
            Ok(()) => {}
            // The data dir has no room for the copy either: the space matters more than the
            // undo.
            Err(_) if space_needed => {
                std::fs::remove_dir_all(&dir).map_err(|e| failed(&dir, e))?;
                std::fs::create_dir_all(&dir).map_err(|e| failed(&dir, e))?;
                continue;
            }
            Err(e) => return Err(failed(&dir, e)),
        }
        std::fs::create_dir_all(&dir).map_err(|e| failed(&dir, e))?;
        if same_disk && space_needed {
            std::fs::remove_dir_all(&kept).map_err(|e| failed(&kept, e))?;
            continue;
        }
        undo.push(Aside { dir, kept });
    }
    let _ = std::fs::remove_dir(&root);
    Ok(())
}

fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

/// Deletes `heal/aside/RUNNER/STAMP` directories older than [`ASIDE_MAX_AGE`].
fn prune_asides(asides: &Path, now_ms: i64) {
    let max_age = ASIDE_MAX_AGE.as_millis() as i64;
    for runner in std::fs::read_dir(asides).into_iter().flatten().flatten() {
        for stamp in std::fs::read_dir(runner.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let old = stamp
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i64>().ok())
                .is_some_and(|t| now_ms - t > max_age);
            if old {
                let _ = std::fs::remove_dir_all(stamp.path());
            }
        }
        let _ = std::fs::remove_dir(runner.path());
    }
}

/// A proven fix keeps no undo: deletes what was moved aside. Says what was freed, if anything.
pub(crate) fn discard(undo: Vec<Aside>) -> Option<String> {
    let mut freed = Vec::new();
    for a in undo {
        match std::fs::remove_dir_all(&a.kept) {
            Ok(()) => freed.push(format!("deleted the old {}", a.dir.display())),
            Err(e) => {
                tracing::warn!(path = %a.kept.display(), error = %e, "healer: cannot delete an aside")
            }
        }
        if let Some(parent) = a.kept.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
    (!freed.is_empty()).then(|| freed.join("; "))
}

/// Puts cleaned directories back, last first. Says what it did, or `None` when there was
/// nothing to put back.
pub(crate) fn restore(undo: Vec<Aside>) -> Option<String> {
    if undo.is_empty() {
        return None;
    }
    let mut said = Vec::new();
    for a in undo.into_iter().rev() {
        let back = std::fs::remove_dir_all(&a.dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .and_then(|()| move_dir(&a.kept, &a.dir));
        if let Some(parent) = a.kept.parent() {
            let _ = std::fs::remove_dir(parent);
        }
        said.push(match back {
            Ok(()) => format!("restored {}", a.dir.display()),
            Err(e) => format!(
                "could not restore {} ({e}); its contents are kept in {}",
                a.dir.display(),
                a.kept.display()
            ),
        });
    }
    Some(said.join("; "))
}

/// Renames, or copies and deletes across filesystems.
fn move_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::rename(from, to) {
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            if let Err(e) = copy_tree(from, to) {
                let _ = std::fs::remove_dir_all(to);
                return Err(e);
            }
            std::fs::remove_dir_all(from)
        }
        other => other,
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ty = entry.file_type()?;
        if ty.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}
