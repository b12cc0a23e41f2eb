//! Benchmark (issue 17): restoring a cache of 10,000 small files from the local object store
//! (`DATA/store`: the archive copied out of the store, its SHA-256 checked, unpacked beside
//! the job's files, moved into place) against `tar -xf` of the same archive, in one run,
//! alternating, so the machine's noise falls on both alike.
//!
//! `cargo run --release -p qcity-offload --example cache_restore [FILES] [REPEATS]`

use std::path::Path;
use std::time::{Duration, Instant};

use qcity_config::{CacheSpec, StoreSettings};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let files: usize = args.next().map_or(10_000, |a| a.parse().expect("FILES"));
    let repeats: usize = args.next().map_or(7, |a| a.parse().expect("REPEATS"));
    let tmp = tempfile::tempdir().expect("a temp dir");
    let data = tmp.path().join("data");
    let work = tmp.path().join("work");
    // 10,000 files of 200 to 2,000 bytes in 100 directories, like a node_modules corner.
    for i in 0..files {
        let dir = work.join("deps").join(format!("pkg{:03}", i % 100));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let size = 200 + (i * 7919) % 1800;
        std::fs::write(
            dir.join(format!("f{i}.js")),
            vec![b'a' + (i % 26) as u8; size],
        )
        .expect("write");
    }
    let spec: CacheSpec =
        serde_json::from_value(serde_json::json!({"paths": ["deps"], "key": "bench-"}))
            .expect("spec");
    let store = qcity_offload::store::open(&StoreSettings::default(), &data).expect("store");
    qcity_offload::cache::save(&store, &spec, "bench-1", &work, &data, u64::MAX)
        .await
        .expect("save");
    let archive = data.join("store/caches/bench-1.tar");
    let bytes = std::fs::metadata(&archive).expect("archive").len();
    let mut ours = Vec::new();
    let mut tar = Vec::new();
    for r in 0..repeats {
        let target = tmp.path().join(format!("restore{r}"));
        std::fs::create_dir_all(&target).expect("mkdir");
        let t = Instant::now();
        let got = qcity_offload::cache::restore(&store, &spec, "bench-1", &target, &data)
            .await
            .expect("restore");
        ours.push(t.elapsed());
        assert_eq!(got.as_deref(), Some("bench-1"));
        let plain = tmp.path().join(format!("tar{r}"));
        std::fs::create_dir_all(&plain).expect("mkdir");
        let t = Instant::now();
        let ok = std::process::Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&plain)
            .status()
            .expect("tar");
        tar.push(t.elapsed());
        assert!(ok.success());
        check_same(&target.join("deps"), &plain.join("deps"), files);
        std::fs::remove_dir_all(&target).expect("rm");
        std::fs::remove_dir_all(&plain).expect("rm");
    }
    let (o, t) = (median(ours.clone()), median(tar.clone()));
    println!("cache restore of {files} files ({bytes} bytes archive), {repeats} repeats, medians:");
    println!(
        "  qcity cache::restore (local store): {:.1} ms",
        o.as_secs_f64() * 1e3
    );
    println!(
        "  tar -xf of the same archive:        {:.1} ms",
        t.as_secs_f64() * 1e3
    );
    println!("  ratio: {:.2}x", o.as_secs_f64() / t.as_secs_f64());
    println!(
        "  all runs (ms): qcity {:?} tar {:?}",
        ours.iter().map(|d| d.as_millis()).collect::<Vec<_>>(),
        tar.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );
}

/// Both restores made the same tree (a count and one file's bytes).
fn check_same(a: &Path, b: &Path, files: usize) {
    let count = |d: &Path| walk(d);
    assert_eq!(count(a), files);
    assert_eq!(count(b), files);
    let f = Path::new("pkg007/f7.js");
    assert_eq!(
        std::fs::read(a.join(f)).expect("a"),
        std::fs::read(b.join(f)).expect("b")
    );
}

fn walk(d: &Path) -> usize {
    std::fs::read_dir(d)
        .expect("dir")
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}
