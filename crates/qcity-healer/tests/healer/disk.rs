//! Cleaning: a real full filesystem (tmpfs) freed, with or without room for the undo, on one
//! filesystem or two; a corrupted cache kept aside for the undo until the fix is proven.

use std::time::Duration;

use qcity_config::{HealSpec, RunnerSpec};
use qcity_testkit::*;
use qcity_types::HealStep;

use crate::support::*;

/// A runner whose cache fills its disk: writing 500 KiB fails while the cache is there.
fn filling(work: &std::path::Path) -> RunnerSpec {
    std::fs::create_dir_all(work.join("cache")).unwrap();
    std::fs::write(work.join("cache/blob"), vec![7u8; 700 * 1024]).unwrap();
    let mut r = healing(
        "disk",
        "rm -f out.bin; dd if=/dev/zero of=out.bin bs=1k count=500 2>&1 || exit 1; exec sleep 30",
        HealSpec {
            cache_dirs: vec!["cache".into()],
            ..HealSpec::default()
        },
    );
    r.working_dir = Some(work.to_path_buf());
    r
}

/// A real full filesystem: a 1 MiB tmpfs that the runner's cache fills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_freed_by_moving_the_cache_off_it() {
    let mut h = Healing::start(vec![]).await;
    let work = h.path("work");
    let Some(_unmount) = tmpfs(&work, "1m") else {
        return;
    };
    let r = filling(&work);
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();

    wait_step(&mut h, "disk", HealStep::Validated, 0).await;
    let s = steps(&h, "disk");
    assert!(s[0].2.contains("No space left on device"), "{s:?}");
    assert_eq!((s[1].0, s[1].1.as_str()), (HealStep::Applying, "disk-full"));
    assert_eq!(s[1].2, "clean cache");
    assert_eq!(s[2].0, HealStep::Validated, "{s:?}");
    assert_eq!(std::fs::read_dir(work.join("cache")).unwrap().count(), 0);
    assert_eq!(
        std::fs::metadata(work.join("out.bin")).unwrap().len(),
        500 * 1024
    );
    // Moving the cache off the full disk made the room; once the fix was proven the copy
    // kept for the undo was deleted, so the data dir's disk gets its space back too.
    assert!(s[2].2.contains("deleted the old"), "{s:?}");
    let aside = h.engine.data_dir().root().join("heal/aside");
    assert!(walk(&aside).is_empty(), "{:?}", walk(&aside));
    h.engine.shutdown("test").await;
}

/// Both disks full: the data dir (a 64 KiB tmpfs under `heal/aside`) cannot take the cache,
/// so the cache is deleted in place rather than the fix failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_freed_even_when_the_data_dir_has_no_room_for_the_undo() {
    let mut h = Healing::start(vec![]).await;
    let work = h.path("work");
    let Some(_unmount) = tmpfs(&work, "1m") else {
        return;
    };
    let asides = h.engine.data_dir().root().join("heal/aside");
    let Some(_unmount_asides) = tmpfs(&asides, "64k") else {
        return;
    };
    let r = filling(&work);
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();

    wait_step(&mut h, "disk", HealStep::Validated, 0).await;
    let s = steps(&h, "disk");
    assert_eq!((s[1].0, s[1].1.as_str()), (HealStep::Applying, "disk-full"));
    assert_eq!(s[2].0, HealStep::Validated, "{s:?}");
    assert_eq!(std::fs::read_dir(work.join("cache")).unwrap().count(), 0);
    assert_eq!(
        std::fs::metadata(work.join("out.bin")).unwrap().len(),
        500 * 1024
    );
    assert!(
        walk(&asides).is_empty(),
        "no half copy left: {:?}",
        walk(&asides)
    );
    h.engine.shutdown("test").await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A full disk where the cache and the data dir share one filesystem (the common case): a
/// rename aside would free nothing, so the cache's contents are deleted at once. An aside
/// a killed engine left behind days ago is pruned on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_filesystem_a_full_disk_fix_deletes_the_cache_and_prunes_old_asides() {
    let mut h = Healing::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(work.join("cache/objects")).unwrap();
    std::fs::write(work.join("cache/objects/blob"), vec![7u8; 256 * 1024]).unwrap();
    let asides = h.engine.data_dir().root().join("heal/aside");
    let stale = asides.join("disk").join("1000");
    std::fs::create_dir_all(stale.join("0-cache")).unwrap();
    std::fs::write(stale.join("0-cache/left-behind"), "old").unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&work).unwrap().dev(),
        std::fs::metadata(h.engine.data_dir().root()).unwrap().dev(),
        "the test wants the cache and the data dir on one filesystem"
    );
    let mut r = healing(
        "disk",
        "if [ -e cache/objects/blob ]; then echo 'write /work/out.bin: No space left on device'; exit 1; fi; exec sleep 30",
        HealSpec {
            cache_dirs: vec!["cache".into()],
            ..HealSpec::default()
        },
    );
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();

    wait_step(&mut h, "disk", HealStep::Validated, 0).await;
    let s = steps(&h, "disk");
    assert_eq!((s[1].0, s[1].1.as_str()), (HealStep::Applying, "disk-full"));
    assert_eq!(s[2].0, HealStep::Validated, "{s:?}");
    assert!(
        work.join("cache").is_dir(),
        "an empty cache is left in place"
    );
    assert_eq!(std::fs::read_dir(work.join("cache")).unwrap().count(), 0);
    assert!(
        walk(&asides).is_empty(),
        "nothing kept: {:?}",
        walk(&asides)
    );
    h.engine.shutdown("test").await;
}

/// A corrupted cache (the space is not needed): its contents are renamed aside for the undo
/// while the fix proves itself, and deleted once it has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleaned_cache_is_kept_for_the_undo_until_the_fix_is_proven_then_deleted() {
    let mut h = Healing::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(work.join("cache")).unwrap();
    std::fs::write(work.join("cache/entry"), "corrupt bytes").unwrap();
    let mut r = healing(
        "cc",
        "if [ -e cache/entry ]; then echo 'error: checksum mismatch in cache/entry'; exit 1; fi; exec sleep 30",
        HealSpec {
            cache_dirs: vec!["cache".into()],
            ..HealSpec::default()
        },
    );
    r.heal.validate_ms = 3_000;
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();

    wait_step(&mut h, "cc", HealStep::Applying, 0).await;
    let asides = h.engine.data_dir().root().join("heal/aside/cc");
    let kept = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Some(p) = walk(&asides).into_iter().find(|p| p.ends_with("entry")) {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the cache kept aside while the fix is checked");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "corrupt bytes");
    wait_step(&mut h, "cc", HealStep::Validated, 0).await;
    assert!(!kept.exists(), "deleted once proven");
    assert!(walk(&asides).is_empty(), "{:?}", walk(&asides));
    h.engine.shutdown("test").await;
}
