use std::time::Duration;

use qcity_config::{Config, RunnerSpec};

use qcity_testkit::*;

fn log_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spewing_runner_keeps_log_files_and_memory_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    std::fs::create_dir_all(&conf).unwrap();
    let spew: RunnerSpec = runner(
        "spew",
        "exec yes 'a long line of output from a runner that never stops talking'",
    );
    // Non-UTF-8 bytes too.
    let binary = runner("binary", "while :; do head -c 65536 /dev/urandom; done");
    let mut cfg: Config = config(&conf, vec![spew, binary]);
    cfg.device.supervisor.log_max_bytes = 256 * 1024;
    cfg.device.supervisor.log_keep = 2;
    cfg.device.supervisor.tail_bytes = 8 * 1024;
    write_manifest(&conf, &cfg);
    let mut h = Harness::start_with(dir, cfg).await;
    h.wait_running("spew").await;
    let logs = h.path("data/logs");
    // Wait until much more than the limit was written: rotation happened many times.
    eventually("rotations", || logs.join("spew.log.2").exists()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let total = log_bytes(&logs);
    // Two runners × (current + 2 rotated) × 256 KiB.
    assert!(total <= 2 * 3 * 256 * 1024, "log dir holds {total} bytes");
    let lines = h.engine.logs("spew", 5).unwrap();
    assert_eq!(lines.len(), 5);
    assert!(
        lines.iter().all(|l| l.starts_with("a long line")),
        "{lines:?}"
    );
    let garbage = h.engine.logs("binary", 1000).unwrap();
    assert!(garbage.iter().map(|l| l.len() + 1).sum::<usize>() <= 3 * 8 * 1024);
    h.engine.shutdown("test").await;
}
