//! A flood of connections to the API: the supervisor goes on restarting runners, and the API
//! answers once the flood is gone.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Daemon, unique, wait_until};

/// Lines in the runner's start log: one per start.
fn starts(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Starts of the runner within `window`.
fn starts_within(log: &std::path::Path, window: Duration) -> usize {
    let before = starts(log);
    std::thread::sleep(window);
    starts(log) - before
}

/// The test's own soft open-files limit raised to its hard one: it holds the flood.
fn raise_own_open_files(at_least: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        assert!(
            lim.rlim_max >= at_least,
            "this test needs a hard open-files limit of {at_least}, not {}",
            lim.rlim_max
        );
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

#[test]
fn a_connection_flood_does_not_stop_runners_restarting() {
    // 1,000 connections against a daemon allowed 256 descriptors: without a cap the API takes
    // them all and every restart fails for want of a pipe.
    const FLOOD: usize = 1_000;
    raise_own_open_files(FLOOD as u64 + 256);
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("starts");
    let name = unique("flapper");
    let script = format!("echo started >> '{}'; sleep 0.1; exit 1", log.display());
    let manifest = format!(
        r#"{{"runners": [{{"name": "{name}", "command": ["sh", "-c", {}],
             "restart": {{"delay_ms": 50, "factor": 1.0, "jitter_percent": 0, "crash_loop": null}}}}]}}"#,
        serde_json::to_string(&script).unwrap()
    );
    let d = Daemon::start_with_open_files(&manifest, Some(256));
    wait_until("the runner's first restarts", || {
        (starts(&log) >= 3).then_some(())
    });
    let calm = starts_within(&log, Duration::from_secs(2));

    let info: Value =
        serde_json::from_slice(&std::fs::read(d.data().join("daemon.json")).unwrap()).unwrap();
    let addr: std::net::SocketAddr = info["addr"].as_str().unwrap().parse().unwrap();
    // As many as the daemon and the kernel's accept queue for it will take: attempts stop
    // once ten in a row find no room.
    let mut flood: Vec<TcpStream> = Vec::new();
    let mut refused_in_a_row = 0;
    while flood.len() < FLOOD && refused_in_a_row < 10 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(c) => {
                flood.push(c);
                refused_in_a_row = 0;
            }
            Err(_) => refused_in_a_row += 1,
        }
    }
    assert!(
        flood.len() >= 100,
        "only {} connections were made: the flood did not happen",
        flood.len()
    );
    // The daemon has taken what it will take of the flood by now.
    std::thread::sleep(Duration::from_millis(500));
    let flooded = starts_within(&log, Duration::from_secs(2));
    assert!(
        flooded * 3 >= calm && flooded >= 3,
        "{flooded} starts in 2 s with {} connections open, against {calm} before",
        flood.len()
    );

    drop(flood);
    let t0 = Instant::now();
    let status = wait_until("the API to answer after the flood", || {
        let out = d.qcity(&["status", "--json"]);
        out.status.success().then_some(out)
    });
    assert!(
        String::from_utf8_lossy(&status.stdout).contains(&name),
        "status after the flood: {}",
        String::from_utf8_lossy(&status.stdout)
    );
    eprintln!("the API answered {:?} after the flood", t0.elapsed());
}
