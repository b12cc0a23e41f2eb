//! Caches and artifacts in the object store: the local directory store a fresh install has
//! (through the offload service on a real engine), and S3 on a loopback moto server.

use std::path::{Path, PathBuf};

use qcity_config::{CacheSpec, JobSpec, StoreSettings};
use qcity_offload::Offload;
use qcity_offload::cache;
use qcity_testkit::Harness;
use qcity_types::{EventKind, JobRun, JobState, JobStep};
use serde_json::json;

fn job(v: serde_json::Value) -> JobSpec {
    serde_json::from_value(v).unwrap()
}

async fn start(jobs: Vec<JobSpec>) -> (Harness, Offload, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    let work = conf.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut cfg = qcity_testkit::config(&conf, vec![]);
    cfg.manifest.jobs = jobs;
    qcity_testkit::write_manifest(&conf, &cfg);
    let h = Harness::start_with(dir, cfg).await;
    let offload = Offload::new(h.engine.clone());
    (h, offload, work)
}

async fn run(h: &mut Harness, offload: &Offload, name: &str) -> (JobRun, String) {
    let id = offload.start(name, None, "master:test").unwrap().id;
    let wanted = id.clone();
    h.wait_event("the job's end", move |e| {
        matches!(&e.kind, EventKind::Job { run, step: JobStep::Finished, .. } if *run == wanted)
    })
    .await;
    (
        offload.show(&id).unwrap(),
        offload.log(&id, 100_000).unwrap(),
    )
}

/// A job whose `deps` directory is slow to make: it says whether it found it restored.
fn deps_job() -> JobSpec {
    job(json!({
        "name": "deps",
        "working_dir": "work",
        "command": ["sh", "-c", "if [ -f deps/made ]; then echo \"restored: $(cat deps/made)\"; else mkdir -p deps && cat lock.txt > deps/made && echo made; fi; mkdir -p out && cp deps/made out/made.txt"],
        "artifacts": ["out/*.txt"],
        "cache": {"paths": ["deps"], "key": "deps-", "key_files": ["lock.txt"], "restore_keys": ["deps-"]}
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_is_saved_restored_by_key_and_prefix_and_refused_when_tampered() {
    let (mut h, offload, work) = start(vec![deps_job()]).await;
    std::fs::write(work.join("lock.txt"), "v1").unwrap();
    let (first, log) = run(&mut h, &offload, "deps").await;
    assert_eq!(first.state, JobState::Succeeded, "{log}");
    assert!(log.contains("\nmade\n"), "{log}");
    let c = first.cache.clone().unwrap();
    assert!(c.key.starts_with("deps-") && c.key.len() == 5 + 64, "{c:?}");
    assert_eq!((c.restored.as_deref(), c.saved), (None, true));
    // The artifact goes to the store too, once the job is done.
    let id = first.id.clone();
    qcity_testkit::eventually("the artifact's upload", || {
        offload.show(&id).unwrap().artifacts[0].object.is_some()
    })
    .await;
    let object = offload.show(&id).unwrap().artifacts[0]
        .object
        .clone()
        .unwrap();
    assert_eq!(object, format!("artifacts/deps/{}/out/made.txt", first.id));
    let stored = h.path("data/store").join(&object);
    assert_eq!(std::fs::read_to_string(stored).unwrap(), "v1");

    // Same lockfile: the exact key; the job finds its deps made.
    std::fs::remove_dir_all(work.join("deps")).unwrap();
    let (second, log) = run(&mut h, &offload, "deps").await;
    assert!(log.contains("restored: v1"), "{log}");
    let c2 = second.cache.unwrap();
    assert_eq!(
        (c2.restored.as_deref(), c2.saved),
        (Some(c.key.as_str()), false)
    );

    // A new lockfile: a new key, restored from the prefix's newest entry, then saved anew.
    std::fs::write(work.join("lock.txt"), "v2").unwrap();
    std::fs::remove_dir_all(work.join("deps")).unwrap();
    let (third, log) = run(&mut h, &offload, "deps").await;
    assert!(log.contains("restored: v1"), "{log}");
    let c3 = third.cache.unwrap();
    assert_ne!(c3.key, c.key);
    assert_eq!(
        (c3.restored.as_deref(), c3.saved),
        (Some(c.key.as_str()), true)
    );

    // The v2 entry's archive changed in the store: refused, nothing unpacked, the job runs
    // without it and says why.
    let tar = h.path("data/store/caches").join(format!("{}.tar", c3.key));
    let mut bytes = std::fs::read(&tar).unwrap();
    let last = bytes.len() - 600;
    bytes[last] ^= 0xff;
    std::fs::write(&tar, bytes).unwrap();
    std::fs::remove_dir_all(work.join("deps")).unwrap();
    let (fourth, log) = run(&mut h, &offload, "deps").await;
    assert_eq!(fourth.state, JobState::Succeeded);
    assert!(
        log.contains(&format!("cache not restored: cache `{}` refused", c3.key)),
        "{log}"
    );
    assert!(
        log.contains("\nmade\n"),
        "the job made its deps itself: {log}"
    );
    assert_eq!(fourth.cache.unwrap().restored, None);
}

fn spec(paths: &[&str]) -> CacheSpec {
    serde_json::from_value(json!({"paths": paths, "key": "k-", "restore_keys": ["k-"]})).unwrap()
}

/// A directory with `n` bytes of data under `d/`.
fn sized(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join("d")).unwrap();
    std::fs::write(dir.join("d/blob"), vec![7u8; n]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_least_recently_used_entries_go_first_when_the_caches_outgrow_their_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = qcity_offload::store::open(&StoreSettings::default(), &data).unwrap();
    let s = spec(&["d"]);
    let work = tmp.path().join("w");
    sized(&work, 100_000);
    let max = 250_000;
    for key in ["k-a", "k-b"] {
        assert!(
            cache::save(&store, &s, key, &work, &data, max)
                .await
                .unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // `k-a` is used again, so `k-b` is now the least recently used.
    let got = cache::restore(&store, &s, "k-a", &work, &data)
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("k-a"));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert!(
        cache::save(&store, &s, "k-c", &work, &data, max)
            .await
            .unwrap()
    );
    let left: Vec<String> = store
        .list("caches")
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.key)
        .filter(|k| k.ends_with(".json"))
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, ["caches/k-a.json", "caches/k-c.json"]);
    // An entry is immutable: saving the same key again keeps the first.
    assert!(
        !cache::save(&store, &s, "k-a", &work, &data, max)
            .await
            .unwrap()
    );
}

/// moto's server binary: `$QCITY_MOTO_BIN/moto_server` or the venv `make test` makes.
fn moto_bin() -> Option<PathBuf> {
    let dir = std::env::var_os("QCITY_MOTO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/moto-venv/bin")
        });
    if dir.join("moto_server").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("QCITY_REQUIRE_MOTO").is_none(),
        "QCITY_REQUIRE_MOTO is set but {} has no moto_server (run scripts/moto-venv.sh)",
        dir.display()
    );
    eprintln!(
        "skipped: no moto_server in {} (run scripts/moto-venv.sh)",
        dir.display()
    );
    None
}

struct Moto(std::process::Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_and_artifacts_round_trip_through_s3_and_a_changed_object_is_refused() {
    let Some(bin) = moto_bin() else { return };
    let port = qcity_testkit::free_port();
    let moto = Moto(
        std::process::Command::new(bin.join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    qcity_testkit::eventually("moto listening", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    // The bucket first: object_store does not make buckets.
    let made = std::process::Command::new(bin.join("python"))
        .args([
            "-c",
            &format!(
                "import boto3; boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1', aws_access_key_id='k', aws_secret_access_key='s').create_bucket(Bucket='qcity-test')"
            ),
        ])
        .status()
        .unwrap();
    assert!(made.success());
    // SAFETY: this test binary's other tests do not read these variables.
    unsafe {
        std::env::set_var("QCITY_TEST_S3_KEY_ID", "k");
        std::env::set_var("QCITY_TEST_S3_SECRET", "s");
    }
    let settings: StoreSettings = serde_json::from_value(json!({
        "url": "s3://qcity-test/team/jobs",
        "endpoint": endpoint,
        "access_key_id": "env://QCITY_TEST_S3_KEY_ID",
        "secret_access_key": "env://QCITY_TEST_S3_SECRET"
    }))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = qcity_offload::store::open(&settings, &data).unwrap();
    let s = spec(&["d"]);
    let work = tmp.path().join("w");
    sized(&work, 6 * 1024 * 1024 + 17);
    assert!(
        cache::save(&store, &s, "k-1", &work, &data, u64::MAX)
            .await
            .unwrap()
    );
    let listed: Vec<String> = store
        .list("caches")
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.key)
        .collect();
    // The prefix is a real key prefix in the bucket, not an escaped name.
    let raw = std::process::Command::new(bin.join("python"))
        .args(["-c", &format!("import boto3; print(sorted(o['Key'] for o in boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1', aws_access_key_id='k', aws_secret_access_key='s').list_objects_v2(Bucket='qcity-test')['Contents']))")])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&raw.stdout).trim(),
        "['team/jobs/caches/k-1.json', 'team/jobs/caches/k-1.tar']"
    );
    assert!(listed.contains(&"caches/k-1.tar".to_string()), "{listed:?}");
    std::fs::remove_dir_all(work.join("d")).unwrap();
    let got = cache::restore(&store, &s, "k-2", &work, &data)
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("k-1"), "restored by the key's prefix");
    assert_eq!(
        std::fs::read(work.join("d/blob")).unwrap().len(),
        6 * 1024 * 1024 + 17
    );

    // An artifact-sized file goes up in parts and comes back whole.
    store
        .put_file("artifacts/x/blob", &work.join("d/blob"))
        .await
        .unwrap();
    // S3 streams it: `get_readable` copies it into a temporary file.
    let mut back = store
        .get_readable("artifacts/x/blob", tmp.path())
        .await
        .unwrap();
    assert_eq!(
        qcity_platform::checksum::sha256_reader(&mut back).unwrap(),
        qcity_platform::checksum::sha256_file(&work.join("d/blob")).unwrap()
    );

    // Someone with write access to the bucket changes the archive: refused.
    store
        .put_bytes("caches/k-1.tar", b"not the archive".to_vec())
        .await
        .unwrap();
    std::fs::remove_dir_all(work.join("d")).unwrap();
    let err = cache::restore(&store, &s, "k-1", &work, &data)
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("cache `k-1` refused"), "{err}");
    assert!(!work.join("d").exists(), "nothing was unpacked");
    drop(moto);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_archive_writing_through_its_own_link_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    // An archive made elsewhere: `d/link` points out of the job, then `d/link/evil` writes
    // through it.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "d/link", &outside).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    b.append_data(&mut h, "d/link/evil", &b"evil"[..]).unwrap();
    let archive = b.into_inner().unwrap();
    let store = qcity_offload::store::open(&StoreSettings::default(), &data).unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&archive))
    };
    store.put_bytes("caches/k-x.tar", archive).await.unwrap();
    let meta = cache::EntryMeta {
        key: "k-x".into(),
        sha256: sha,
        bytes: 0,
        created_ms: 1,
        paths: vec!["d".into()],
    };
    store
        .put_bytes("caches/k-x.json", serde_json::to_vec(&meta).unwrap())
        .await
        .unwrap();
    let work = tmp.path().join("w");
    std::fs::create_dir_all(&work).unwrap();
    let err = cache::restore(&store, &spec(&["d"]), "k-x", &work, &data)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("`d/link/evil` is outside"),
        "{err}"
    );
    assert!(
        !outside.join("evil").exists(),
        "nothing was written through the link"
    );
    assert!(!work.join("d").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_while_a_cache_unpacks_leaves_the_jobs_files_as_they_were() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = qcity_offload::store::open(&StoreSettings::default(), &data).unwrap();
    let s = spec(&["d"]);
    let src = tmp.path().join("src");
    sized(&src, 3 * 1024 * 1024);
    assert!(
        cache::save(&store, &s, "k-big", &src, &data, u64::MAX)
            .await
            .unwrap()
    );
    // The job's directory on a 2 MiB filesystem already holding an older `d`: the 3 MiB
    // that the cache unpacks do not fit.
    let work = tmp.path().join("small");
    let Some(_mounted) = qcity_testkit::tmpfs(&work, "2m") else {
        return;
    };
    std::fs::create_dir_all(work.join("d")).unwrap();
    std::fs::write(work.join("d/old"), "kept").unwrap();
    let err = cache::restore(&store, &s, "k-big", &work, &data)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
    assert_eq!(std::fs::read_to_string(work.join("d/old")).unwrap(), "kept");
    let left: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["d"], "nothing half-unpacked is left beside it");
}
