//! The fleet on a real NATS server (Debian's `nats-server -js`, started here on loopback):
//! real `qcity up` daemons as nodes, jobs sent through the API, nodes killed with SIGKILL
//! while they run jobs, the server restarted mid-run, and the signed runner manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qcity_installer::verify::sign::KeyPair;
use serde_json::{Value, json};

use crate::support::{Daemon, agent, text, wait_until};

const NATS: &str = "/usr/sbin/nats-server";

/// A `nats-server -js` on a free loopback port with its store in a temp dir.
struct Nats {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    /// More arguments (`--auth TOKEN`).
    extra: Vec<String>,
}

impl Nats {
    /// `None` (the test skips) where Debian's nats-server is not installed, unless
    /// QCITY_REQUIRE_NATS says it must be.
    fn start() -> Option<Nats> {
        if !Path::new(NATS).exists() {
            assert!(
                std::env::var_os("QCITY_REQUIRE_NATS").is_none(),
                "QCITY_REQUIRE_NATS is set but {NATS} is missing (apt-get install nats-server)"
            );
            eprintln!("skipped: no {NATS}");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut n = Nats {
            dir: tempfile::tempdir().unwrap(),
            port,
            child: None,
            extra: Vec::new(),
        };
        n.run();
        Some(n)
    }

    fn run(&mut self) {
        let child = Command::new(NATS)
            .args(["-js", "-sd"])
            .arg(self.dir.path())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        wait_until("nats-server to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

fn manifest(marks: &Path, version: u64) -> String {
    let job = |name: &str, cap: &str| {
        json!({"name": name, "capability": cap, "env": {"MARKS": marks},
               "command": ["sh", "-c", "sleep 0.2; echo \"$PWD\" >> \"$MARKS/done\"; echo ran"]})
    };
    json!({
        "version": version,
        "runners": [],
        "roles": {"a": ["linux"], "b": ["gpu"], "c": ["linux", "gpu"]},
        "jobs": [job("lin", "linux"), job("gpu", "gpu")],
    })
    .to_string()
}

/// A node named `name` of the fleet on `nats`, taking `max_jobs` jobs at once.
fn node(nats: &Nats, name: &str, max_jobs: u32, manifest: &str, key: Option<&str>) -> Daemon {
    node_with(nats, name, max_jobs, manifest, key, |_, _| {})
}

/// [`node`], its config and environment adjusted before it starts.
fn node_with(
    nats: &Nats,
    name: &str,
    max_jobs: u32,
    manifest: &str,
    key: Option<&str>,
    adjust: impl FnOnce(&mut Value, &mut Daemon),
) -> Daemon {
    let mut d = Daemon::new(manifest);
    let mut cloud = json!({"fleet": {
        "servers": [nats.url()], "node": name, "max_jobs": max_jobs,
        "ack_wait_seconds": 2, "heartbeat_seconds": 1, "wait_seconds": 30, "max_deliver": 20,
    }});
    adjust(&mut cloud, &mut d);
    crate::support::write(&d.conf().join("qmoi_cloud_config.json"), &cloud.to_string());
    let mut device = json!({"api": {"port": 0}, "supervisor": {"stop_grace_ms": 3000},
                            "platforms": {"enabled": false}});
    if let Some(k) = key {
        device["fleet_manifest_key"] = json!(k);
    }
    crate::support::write(
        &d.conf().join("qcity-device-config.json"),
        &device.to_string(),
    );
    d.spawn();
    d
}

fn fleet(d: &Daemon) -> Value {
    d.get_json("/fleet")
}

/// Waits until `d` sees `n` live nodes.
fn wait_nodes(d: &Daemon, n: usize) {
    wait_until(&format!("{n} live nodes"), || {
        let v = fleet(d);
        (v["connected"] == true && v["nodes"].as_array()?.len() == n).then_some(())
    });
}

fn post_json(d: &Daemon, path: &str, body: &Value) -> (u16, Value) {
    let resp = agent()
        .post(format!("{}{path}", d.api_base()))
        .header("Authorization", format!("Bearer {}", d.token()))
        .send_json(body)
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().read_json().unwrap_or(Value::Null);
    (status, body)
}

/// Starts job `name` on the fleet; its run id.
fn send(d: &Daemon, name: &str) -> String {
    let (status, body) = post_json(d, &format!("/jobs/{name}/run"), &json!({"where": "fleet"}));
    assert_eq!(status, 202, "{body}");
    body["run"]["id"].as_str().unwrap().to_string()
}

fn run_state(d: &Daemon, id: &str) -> Value {
    d.get_json(&format!("/jobs/runs/{id}"))
}

/// Waits until every run has ended; their records.
fn wait_ended(d: &Daemon, ids: &[String], within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let runs: Vec<Value> = ids.iter().map(|id| run_state(d, id)).collect();
        let open = runs
            .iter()
            .filter(|r| {
                !matches!(
                    r["state"].as_str(),
                    Some("succeeded" | "failed" | "cancelled")
                )
            })
            .count();
        if open == 0 {
            return runs;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = runs
                .iter()
                .filter(|r| {
                    !matches!(
                        r["state"].as_str(),
                        Some("succeeded" | "failed" | "cancelled")
                    )
                })
                .map(|r| {
                    let id = r["id"].as_str().unwrap_or_default();
                    let log =
                        std::fs::read_to_string(d.data().join(format!("jobs/{id}/output.log")))
                            .unwrap_or_default();
                    format!("{id}:\n{log}")
                })
                .collect();
            panic!("{open} runs still open:\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The node (a, b or c) whose data dir a job's `$PWD` is under.
fn node_of(pwd: &str, nodes: &[(&str, PathBuf)]) -> String {
    nodes
        .iter()
        .find(|(_, data)| pwd.starts_with(&*data.to_string_lossy()))
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| panic!("{pwd} is under no node's data dir"))
}

#[test]
fn two_hundred_jobs_run_once_each_on_capable_nodes_through_five_kills() {
    let Some(nats) = Nats::start() else { return };
    let marks = tempfile::tempdir().unwrap();
    let m = manifest(marks.path(), 1);
    let mut workers: Vec<(&str, Daemon)> = ["a", "b", "c"]
        .into_iter()
        .map(|n| (n, node(&nats, n, 3, &m, None)))
        .collect();
    let sender = node(&nats, "s", 0, &m, None);
    wait_nodes(&sender, 4);
    assert_eq!(
        fleet(&sender)["nodes"][0]["capabilities"],
        json!(["any", "linux"])
    );

    // One SIGKILL at a random moment of each fifth of the run (the seed is printed).
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    eprintln!("kill moments seed: {seed}");
    let kill_at: Vec<usize> = (0..5)
        .map(|fifth| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            fifth * 40 + 5 + (seed % 30) as usize
        })
        .collect();
    let mut ids: BTreeMap<String, &str> = BTreeMap::new();
    let mut kills = 0;
    for i in 0..200 {
        let job = if i % 2 == 0 { "lin" } else { "gpu" };
        ids.insert(send(&sender, job), job);
        // SIGKILL a node that is running jobs, and start it again.
        if kill_at.contains(&i) {
            let busy = wait_until("a node running a job", || {
                let v = fleet(&sender);
                v["nodes"].as_array()?.iter().find_map(|n| {
                    let name = n["name"].as_str()?;
                    (name != "s" && !n["running"].as_array()?.is_empty()).then(|| name.to_string())
                })
            });
            let (_, d) = workers.iter_mut().find(|(n, _)| *n == busy).unwrap();
            d.signal(libc::SIGKILL);
            d.wait_exit();
            kills += 1;
            std::thread::sleep(Duration::from_millis(300));
            d.spawn();
        }
    }
    assert_eq!(kills, 5);
    let all: Vec<String> = ids.keys().cloned().collect();
    let runs = wait_ended(&sender, &all, Duration::from_secs(180));
    let failed: Vec<&Value> = runs.iter().filter(|r| r["state"] != "succeeded").collect();
    assert!(failed.is_empty(), "0 jobs lost: {failed:#?}");

    // Each job's one recorded completion, on a node with its capability.
    let caps: BTreeMap<&str, BTreeSet<&str>> = [
        ("a", BTreeSet::from(["linux"])),
        ("b", BTreeSet::from(["gpu"])),
        ("c", BTreeSet::from(["linux", "gpu"])),
    ]
    .into();
    let datas: Vec<(&str, PathBuf)> = workers.iter().map(|(n, d)| (*n, d.data())).collect();
    let mut done: BTreeMap<String, u32> = BTreeMap::new();
    let mut duplicates = 0;
    for (_, d) in &workers {
        for e in d.events("fleet") {
            let run = e["run"].as_str().unwrap_or_default().to_string();
            match e["step"].as_str() {
                Some("done") => *done.entry(run).or_default() += 1,
                Some("duplicate") => duplicates += 1,
                _ => {}
            }
        }
    }
    let twice: Vec<_> = done.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "completions recorded twice: {twice:?}");
    let lines = std::fs::read_to_string(marks.path().join("done")).unwrap();
    let mut ran: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for pwd in lines.lines() {
        let run_dir = Path::new(pwd)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let run = run_dir.rsplit_once('-').unwrap().0.to_string();
        ran.entry(run).or_default().insert(node_of(pwd, &datas));
    }
    let mut redelivered = 0;
    for (id, job) in &ids {
        let cap = if *job == "lin" { "linux" } else { "gpu" };
        let nodes = ran.get(id).unwrap_or_else(|| panic!("{id} never ran"));
        for n in nodes {
            assert!(caps[n.as_str()].contains(cap), "{id} ({cap}) ran on {n}");
        }
        let shown = text(&sender.qcity(&["job", "show", id]).stdout);
        assert!(shown.contains("fleet: ran (exit 0)"), "{shown}");
        let log =
            std::fs::read_to_string(sender.data().join(format!("jobs/{id}/output.log"))).unwrap();
        assert!(log.contains("ran\n"), "the node's output came home: {log}");
        if !log.contains(", delivery 1)") {
            redelivered += 1;
        }
    }
    assert!(
        redelivered > 0,
        "no job was taken from a killed node by another"
    );
    eprintln!(
        "200 jobs, 5 kills: {} completions seen in events, {redelivered} redelivered, {duplicates} duplicate deliveries dropped",
        done.len()
    );
}

#[test]
fn a_restarted_nats_server_is_rejoined_and_the_run_completes() {
    let Some(mut nats) = Nats::start() else {
        return;
    };
    let marks = tempfile::tempdir().unwrap();
    let m = manifest(marks.path(), 1);
    let _a = node(&nats, "a", 2, &m, None);
    let _c = node(&nats, "c", 2, &m, None);
    let sender = node(&nats, "s", 0, &m, None);
    wait_nodes(&sender, 3);
    let ids: Vec<String> = (0..30)
        .map(|i| send(&sender, if i % 2 == 0 { "lin" } else { "gpu" }))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    nats.stop();
    std::thread::sleep(Duration::from_secs(2));
    // Nothing local depends on the fleet: the daemon still answers.
    assert_eq!(fleet(&sender)["connected"], false);
    nats.run();
    let runs = wait_ended(&sender, &ids, Duration::from_secs(120));
    let failed: Vec<&Value> = runs.iter().filter(|r| r["state"] != "succeeded").collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let steps: Vec<String> = sender
        .events("fleet")
        .iter()
        .map(|e| e["step"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        steps.iter().any(|s| s == "disconnected") && steps.iter().rev().any(|s| s == "connected"),
        "{steps:?}"
    );
}

#[test]
fn a_signed_manifest_is_applied_and_a_bad_or_older_one_refused() {
    let Some(nats) = Nats::start() else { return };
    let master = KeyPair::from_seed([7; 32], [7, 1, 2, 3, 4, 5, 6, 7]);
    let stranger = KeyPair::from_seed([8; 32], [8, 1, 2, 3, 4, 5, 6, 7]);
    let marks = tempfile::tempdir().unwrap();
    let m1 = manifest(marks.path(), 1);
    let b = node(&nats, "b", 1, &m1, Some(&master.public_key()));
    let publisher = node(&nats, "p", 0, &m1, Some(&master.public_key()));
    let rogue = node(&nats, "r", 0, &m1, Some(&stranger.public_key()));
    wait_nodes(&b, 3);

    // Version 2 gives node b the `arm` role; signed by the master, published with the CLI.
    let mut v2: Value = serde_json::from_str(&manifest(marks.path(), 2)).unwrap();
    v2["roles"]["b"] = json!(["gpu", "arm"]);
    let v2 = v2.to_string();
    let file = publisher.dir.path().join("v2.json");
    std::fs::write(&file, &v2).unwrap();
    std::fs::write(
        publisher.dir.path().join("v2.json.minisig"),
        master.sign(v2.as_bytes(), "runner manifest 2"),
    )
    .unwrap();
    let out = publisher.qcity(&["fleet", "publish", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "runner manifest version 2 published to the fleet\n"
    );
    let published: Vec<Value> = publisher
        .events("fleet")
        .into_iter()
        .filter(|e| e["step"] == "manifest-published")
        .collect();
    assert_eq!(published.len(), 1, "{published:#?}");
    assert!(
        published[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("runner manifest version 2 published to the fleet by master"),
        "{published:#?}"
    );
    wait_until("b applies version 2", || {
        (fleet(&b)["manifest_version"] == 2).then_some(())
    });
    assert_eq!(
        std::fs::read_to_string(b.conf().join("runner_manifest.json")).unwrap(),
        v2
    );
    wait_until("b offers arm", || {
        (fleet(&b)["capabilities"] == json!(["any", "gpu", "arm"])).then_some(())
    });

    // An older version is refused by the publisher, nothing reaches the fleet.
    let (status, body) = post_json(
        &publisher,
        "/fleet/manifest",
        &json!({"manifest": m1, "signature": master.sign(m1.as_bytes(), "old")}),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("version 1 is not newer than the applied version 2"),
        "{body}"
    );

    // A manifest signed by another key (a node that pins that key publishes it): node b
    // refuses it and keeps version 2.
    let v3 = manifest(marks.path(), 3);
    let (status, body) = post_json(
        &rogue,
        "/fleet/manifest",
        &json!({"manifest": v3, "signature": stranger.sign(v3.as_bytes(), "rogue")}),
    );
    assert_eq!(status, 200, "{body}");
    let refused = wait_until("b refuses the stranger's manifest", || {
        fleet(&b)["manifest_refused"].as_str().map(str::to_string)
    });
    assert!(refused.contains("bad signature"), "{refused}");
    assert_eq!(fleet(&b)["manifest_version"], 2);
    assert_eq!(
        std::fs::read_to_string(b.conf().join("runner_manifest.json")).unwrap(),
        v2,
        "the last good manifest stays"
    );
    let refusals: Vec<Value> = b
        .events("fleet")
        .into_iter()
        .filter(|e| e["step"] == "manifest-refused")
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:#?}");
    let status = text(&b.qcity(&["fleet", "status"]).stdout);
    assert!(status.contains("runner manifest version 2\n"), "{status}");
    assert!(
        status.contains("refused, the last good one stays: bad signature"),
        "{status}"
    );
}

#[test]
fn a_jobs_inputs_go_with_it_and_its_artifacts_come_home_checked() {
    let Some(nats) = Nats::start() else { return };
    let marks = tempfile::tempdir().unwrap();
    let mut m: Value = serde_json::from_str(&manifest(marks.path(), 1)).unwrap();
    m["jobs"].as_array_mut().unwrap().push(json!({
        "name": "pack", "capability": "gpu", "working_dir": "work",
        "inputs": ["src"], "artifacts": ["out/*.txt"],
        "command": ["sh", "-c", "mkdir -p out && tr a-z A-Z < src/in.txt > out/up.txt && echo packed on $PWD"],
    }));
    let m = m.to_string();
    let b = node(&nats, "b", 1, &m, None);
    let mut sender = Daemon::new(&m);
    let cloud = json!({"fleet": {"servers": [nats.url()], "node": "s", "max_jobs": 0,
                                 "heartbeat_seconds": 1, "wait_seconds": 30}});
    crate::support::write(
        &sender.conf().join("qmoi_cloud_config.json"),
        &cloud.to_string(),
    );
    std::fs::create_dir_all(sender.conf().join("work/src")).unwrap();
    crate::support::write(&sender.conf().join("work/src/in.txt"), "hello fleet\n");
    sender.spawn();
    wait_nodes(&sender, 2);

    let id = send(&sender, "pack");
    let run = &wait_ended(&sender, std::slice::from_ref(&id), Duration::from_secs(60))[0];
    assert_eq!(run["state"], "succeeded", "{run:#}");
    let up = sender.conf().join("work/out/up.txt");
    assert_eq!(std::fs::read_to_string(&up).unwrap(), "HELLO FLEET\n");
    let (sha, _) = qcity_platform::checksum::sha256_file(&up).unwrap();
    assert_eq!(run["artifacts"][0]["path"], "out/up.txt");
    assert_eq!(run["artifacts"][0]["sha256"], sha.as_str());
    let log = std::fs::read_to_string(sender.data().join(format!("jobs/{id}/output.log"))).unwrap();
    let b_data = b.data().to_string_lossy().to_string();
    assert!(log.contains(&format!("packed on {b_data}")), "{log}");
    // The node kept nothing of the job once it was done.
    let left: Vec<_> = std::fs::read_dir(b.data().join("fleet")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_node_runs_only_the_jobs_its_own_manifest_defines() {
    let Some(nats) = Nats::start() else { return };
    let marks = tempfile::tempdir().unwrap();
    let _b = node(&nats, "b", 1, &manifest(marks.path(), 1), None);
    // The sender's manifest says something else under the same name, and has a job the
    // node does not know.
    let mut other: Value = serde_json::from_str(&manifest(marks.path(), 1)).unwrap();
    other["jobs"][1]["command"] = json!(["sh", "-c", "echo pwned > \"$MARKS/pwned\""]);
    other["jobs"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "unknown", "capability": "gpu", "command": ["true"]}));
    let sender = node(&nats, "s", 0, &other.to_string(), None);
    wait_nodes(&sender, 2);

    let ids = [send(&sender, "gpu"), send(&sender, "unknown")];
    let runs = wait_ended(&sender, &ids, Duration::from_secs(60));
    for (run, why) in runs.iter().zip([
        "job `gpu` differs from this node's runner manifest (version 1): publish one manifest to the fleet",
        "job `unknown` is not in this node's runner manifest (version 1)",
    ]) {
        assert_eq!(run["state"], "failed", "{run:#}");
        let log = text(&sender.qcity(&["job", "show", run["id"].as_str().unwrap()]).stdout);
        assert!(log.contains(why), "{log}");
    }
    assert!(
        !marks.path().join("pwned").exists(),
        "the sender's command ran"
    );
}

#[test]
fn a_node_joins_a_server_that_wants_a_token_with_the_token_from_its_environment() {
    let Some(mut nats) = Nats::start() else {
        return;
    };
    nats.stop();
    nats.extra = vec!["--auth".into(), "s3cr3t-fleet-token".into()];
    nats.run();
    let marks = tempfile::tempdir().unwrap();
    let m = manifest(marks.path(), 1);
    let with_token = node_with(&nats, "a", 1, &m, None, |cloud, d| {
        cloud["fleet"]["token"] = json!("env://QCITY_TEST_NATS_TOKEN");
        d.env
            .push(("QCITY_TEST_NATS_TOKEN".into(), "s3cr3t-fleet-token".into()));
    });
    let without = node(&nats, "b", 1, &m, None);
    wait_nodes(&with_token, 1);
    let refused = wait_until("the node without the token says why", || {
        let v = fleet(&without);
        let problem = v["problem"].as_str()?.to_lowercase();
        (v["connected"] == false && problem.contains("authorization")).then_some(problem)
    });
    assert!(!refused.contains("s3cr3t"), "{refused}");
    // The token is in no answer and no event of the node that has it.
    let view = fleet(&with_token).to_string();
    let events = serde_json::to_string(&with_token.events("fleet")).unwrap();
    assert!(
        !view.contains("s3cr3t") && !events.contains("s3cr3t"),
        "{view}\n{events}"
    );
}
