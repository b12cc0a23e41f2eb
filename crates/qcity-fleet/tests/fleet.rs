//! The fleet against a real `nats-server` (Debian's 2.9, JetStream on) started by each test
//! on loopback: jobs shared by capability, redelivery when a node dies, fallbacks, the
//! signed manifest, a server restart, the live nodes.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use qcity_fleet::wire::{MANIFEST_BUCKET, MANIFEST_KEY, SignedManifest};
use qcity_fleet::{FleetError, ManifestError, Node, SubmitError, Submitted, check_manifest};
use qcity_installer::verify::sign::KeyPair;
use qcity_types::FleetStep;
use serde_json::json;
use tokio::sync::{mpsc, watch};

use support::nats::NatsServer;
use support::{
    Collect, Mode, TestHost, eventually, fleet_settings, job, node_settings, recorded_results,
    wait_for_nodes,
};

/// A safety net for waits that should end much sooner; not a timing assertion.
const LONG: Duration = Duration::from_secs(60);

/// Nodes of one test, on the runtime the test runs on.
struct Fleet {
    server: NatsServer,
    work: tempfile::TempDir,
    settings: qcity_config::FleetSettings,
    hosts: BTreeMap<String, Arc<TestHost>>,
}

impl Fleet {
    fn new(overrides: serde_json::Value) -> Fleet {
        let server = NatsServer::start();
        let settings = fleet_settings(&server.url(), overrides);
        Fleet {
            server,
            work: tempfile::tempdir().expect("a work directory"),
            settings,
            hosts: BTreeMap::new(),
        }
    }

    fn node(&mut self, name: &str, caps: &[&str]) -> Node {
        self.node_with(name, TestHost::new(caps, Mode::Run), |_| {})
    }

    fn node_with(
        &mut self,
        name: &str,
        host: TestHost,
        adjust: impl FnOnce(&mut qcity_fleet::NodeSettings),
    ) -> Node {
        let host = Arc::new(host);
        self.hosts.insert(name.to_string(), host.clone());
        let mut settings = node_settings(name, self.settings.clone(), self.work.path());
        adjust(&mut settings);
        Node::start(settings, host)
    }

    fn host(&self, name: &str) -> &Arc<TestHost> {
        &self.hosts[name]
    }
}

/// Sends `job` from `node` and waits for its end, keeping what it heard.
async fn submit(
    node: &Node,
    job: qcity_fleet::wire::FleetJob,
    fallback: &[&str],
) -> (Result<Submitted, SubmitError>, Collect) {
    let progress = Collect::default();
    let fallback: Vec<String> = fallback.iter().map(|s| s.to_string()).collect();
    let (_cancel, cancel_rx) = watch::channel(false);
    let result = tokio::time::timeout(LONG, node.submit(job, &fallback, &progress, cancel_rx))
        .await
        .expect("the submit ends");
    (result, progress)
}

/// A sender (no slots) sends `run` (capability x, `sh -c script`); node `h`, the only one
/// with x, takes it and then dies as a machine would. The sender and its submit's task.
async fn taken_by_a_node_that_dies(
    fleet: &mut Fleet,
    run: &'static str,
    script: &'static str,
) -> (
    Node,
    tokio::task::JoinHandle<(Result<Submitted, SubmitError>, Collect)>,
) {
    let sender = fleet.node_with("s", TestHost::new(&["any"], Mode::Run), |s| {
        s.fleet.max_jobs = 0
    });
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let doomed = Doomed::start(
        fleet,
        "h",
        TestHost::new(&["any", "x"], Mode::Hang).with_started(started_tx),
    );
    wait_for_nodes(&sender, &["h", "s"]).await;
    let submitting = tokio::spawn({
        let sender = sender.clone();
        async move { submit(&sender, job(run, "x", script), &[]).await }
    });
    let taken = tokio::time::timeout(LONG, started.recv()).await;
    assert_eq!(
        taken,
        Ok(Some(run.to_string())),
        "the doomed node took the job"
    );
    doomed.die();
    (sender, submitting)
}

/// A node on a runtime of its own, so the test can make it vanish at once (no more
/// heartbeats, no more progress acks, its connection gone) as a machine that dies would.
struct Doomed {
    runtime: tokio::runtime::Runtime,
    node: Node,
}

impl Doomed {
    fn start(fleet: &mut Fleet, name: &str, host: TestHost) -> Doomed {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let node = {
            let _inside = runtime.enter();
            fleet.node_with(name, host, |_| {})
        };
        Doomed { runtime, node }
    }

    fn die(self) {
        self.runtime.shutdown_background();
        drop(self.node);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_run_once_each_on_nodes_with_their_capability() {
    let mut fleet = Fleet::new(json!({}));
    let a = fleet.node("a", &["any", "linux"]);
    let _b = fleet.node("b", &["any", "gpu"]);
    let _c = fleet.node("c", &["any", "linux", "gpu"]);
    wait_for_nodes(&a, &["a", "b", "c"]).await;

    let submits = (0..40).map(|i| {
        let cap = if i % 2 == 0 { "linux" } else { "gpu" };
        let run = format!("JOB-{cap}-{i}");
        let job = job(&run, cap, "echo out-$RUN");
        let a = a.clone();
        async move {
            let (result, progress) = submit(&a, job, &[]).await;
            (run, cap, result, progress)
        }
    });
    let ended = futures_util::future::join_all(submits).await;

    let mut took: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, host) in &fleet.hosts {
        for run in host.took() {
            took.entry(run).or_default().push(name.clone());
        }
    }
    for (run, cap, result, progress) in &ended {
        let submitted = result
            .as_ref()
            .unwrap_or_else(|e| panic!("{run} has no result: {e}"));
        assert_eq!(submitted.capability, *cap, "{run}");
        let r = &submitted.result;
        assert_eq!(r.run, *run);
        assert_eq!(r.code, Some(0), "{run}: {r:?}");
        assert_eq!(r.error, None, "{run}");
        assert!(
            fleet.host(&r.node).caps.iter().any(|c| c == cap),
            "{run} needs {cap} but ran on {}",
            r.node
        );
        assert_eq!(
            took.get(run.as_str()),
            Some(&vec![r.node.clone()]),
            "{run} ran once, on the node that recorded it"
        );
        let out = progress.output();
        assert!(
            out.contains(&format!("out-{run}\n")),
            "{run}: its output came through Progress::output (got {out:?})"
        );
    }
    let recorded = recorded_results(&fleet.server.url()).await;
    assert_eq!(recorded.len(), 40, "one recorded result per job");
    for (run, _, result, _) in &ended {
        assert_eq!(
            recorded.get(run.as_str()),
            Some(&result.as_ref().unwrap().result)
        );
    }
    let done: usize = fleet
        .hosts
        .values()
        .map(|h| h.news_of(FleetStep::Done).len())
        .sum();
    assert_eq!(done, 40, "each job is reported done once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_whose_node_dies_is_redelivered_and_finished_elsewhere() {
    let mut fleet = Fleet::new(json!({}));
    let run = "JOB-redelivered";
    let (_sender, submitting) =
        taken_by_a_node_that_dies(&mut fleet, run, "echo finished-$RUN").await;

    let _b = fleet.node("b", &["any", "x"]);
    let (result, progress) = submitting.await.expect("the submit task");
    let submitted = result.expect("the job finished elsewhere");
    let r = &submitted.result;
    assert_eq!(r.node, "b");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.delivery >= 2, "a redelivery: {r:?}");
    assert!(progress.output().contains("finished-JOB-redelivered"));
    assert_eq!(fleet.host("b").took(), vec![run.to_string()]);
    let recorded = recorded_results(&fleet.server.url()).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded.get(run), Some(r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_capability_no_live_node_has_falls_back_or_is_unreachable() {
    let mut fleet = Fleet::new(json!({"wait_seconds": 2}));
    let a = fleet.node("a", &["any", "linux"]);
    wait_for_nodes(&a, &["a"]).await;

    let (result, progress) =
        submit(&a, job("JOB-fallback", "arm", "echo fell-back"), &["linux"]).await;
    let submitted = result.expect("it ran on the fallback");
    assert_eq!(submitted.capability, "linux");
    assert_eq!(submitted.result.node, "a");
    assert_eq!(submitted.result.code, Some(0));
    assert!(progress.output().contains("fell-back"));
    assert!(
        progress
            .notes()
            .iter()
            .any(|n| n.contains("falling back to linux")),
        "{:?}",
        progress.notes()
    );

    let (result, progress) = submit(&a, job("JOB-nowhere", "arm", "echo never"), &[]).await;
    match result {
        Err(SubmitError::Unreachable(why)) => {
            assert!(why.contains("arm"), "names the capability: {why}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(
        progress.notes().iter().any(|n| n.contains("waiting")),
        "says why it waits: {:?}",
        progress.notes()
    );
    assert_eq!(fleet.host("a").took(), vec!["JOB-fallback".to_string()]);
    let recorded = recorded_results(&fleet.server.url()).await;
    assert!(!recorded.contains_key("JOB-nowhere"));
}

fn signed(key: &KeyPair, text: &str) -> SignedManifest {
    SignedManifest {
        manifest: text.to_string(),
        signature: key.sign(text.as_bytes(), "qcity runner manifest"),
    }
}

fn master_key() -> KeyPair {
    KeyPair::from_seed([7; 32], [1, 2, 3, 4, 5, 6, 7, 8])
}

fn other_key() -> KeyPair {
    KeyPair::from_seed([9; 32], [8, 7, 6, 5, 4, 3, 2, 1])
}

#[test]
fn a_manifest_is_accepted_only_signed_by_the_pinned_key_and_newer() {
    let key = master_key();
    let public = key.public_key();
    let v3 = r#"{"version": 3, "roles": {"*": ["linux"]}}"#;
    let good = signed(&key, v3);

    assert_eq!(check_manifest(&good, Some(&public), None), Ok(3));
    assert_eq!(check_manifest(&good, Some(&public), Some(2)), Ok(3));
    let line = public.lines().nth(1).expect("the key's line");
    assert_eq!(
        check_manifest(&good, Some(line), Some(2)),
        Ok(3),
        "the RWQ… line alone"
    );

    let tampered = SignedManifest {
        manifest: v3.replace("linux", "gpu"),
        signature: good.signature.clone(),
    };
    assert!(matches!(
        check_manifest(&tampered, Some(&public), None),
        Err(ManifestError::Signature(_))
    ));
    let garbage = SignedManifest {
        manifest: v3.to_string(),
        signature: "not a signature".into(),
    };
    assert!(matches!(
        check_manifest(&garbage, Some(&public), None),
        Err(ManifestError::Signature(_))
    ));
    assert!(matches!(
        check_manifest(&signed(&other_key(), v3), Some(&public), None),
        Err(ManifestError::Signature(_))
    ));
    assert_eq!(check_manifest(&good, None, None), Err(ManifestError::NoKey));
    assert_eq!(
        check_manifest(&good, Some("not a key"), None),
        Err(ManifestError::BadKey)
    );
    assert_eq!(
        check_manifest(&good, Some(&public), Some(3)),
        Err(ManifestError::NotNewer {
            offered: 3,
            applied: 3
        })
    );
    assert_eq!(
        check_manifest(&good, Some(&public), Some(5)),
        Err(ManifestError::NotNewer {
            offered: 3,
            applied: 5
        })
    );
    assert!(matches!(
        check_manifest(&signed(&key, r#"{"roles": {}}"#), Some(&public), None),
        Err(ManifestError::Version(_))
    ));
    assert!(matches!(
        check_manifest(&signed(&key, r#"{"version": "4"}"#), Some(&public), None),
        Err(ManifestError::Version(_))
    ));
    assert!(matches!(
        check_manifest(&signed(&key, "version = 4"), Some(&public), None),
        Err(ManifestError::Version(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_published_manifest_is_applied_by_every_node_and_a_bad_one_refused() {
    let mut fleet = Fleet::new(json!({}));
    let key = master_key();
    let public = key.public_key();
    let pinned = |s: &mut qcity_fleet::NodeSettings| s.manifest_key = Some(public.clone());
    let p = fleet.node_with("p", TestHost::new(&["any"], Mode::Run), pinned);
    let q = fleet.node_with("q", TestHost::new(&["any"], Mode::Run), pinned);
    let r = fleet.node_with("r", TestHost::new(&["any"], Mode::Run), pinned);
    wait_for_nodes(&p, &["p", "q", "r"]).await;

    let v2 = r#"{"version": 2, "roles": {"*": ["linux"]}}"#;
    assert_eq!(p.publish_manifest(&signed(&key, v2)).await, Ok(2));
    for name in ["p", "q", "r"] {
        let host = fleet.host(name).clone();
        eventually(&format!("{name} applied v2"), LONG, || {
            let host = host.clone();
            async move { host.applied() == vec![v2.to_string()] }
        })
        .await;
    }
    eventually("q's view shows v2", LONG, || async {
        q.view().await.manifest_version == Some(2)
    })
    .await;
    // A node that joins later gets the manifest published before it came.
    let _late = fleet.node_with("late", TestHost::new(&["any"], Mode::Run), pinned);
    let late = fleet.host("late").clone();
    eventually("the late node applied v2", LONG, || {
        let late = late.clone();
        async move { late.applied() == vec![v2.to_string()] }
    })
    .await;

    // Refused where it is published…
    let rogue = signed(&other_key(), r#"{"version": 3, "roles": {"*": ["gpu"]}}"#);
    assert!(matches!(
        p.publish_manifest(&rogue).await,
        Err(FleetError::Manifest(ManifestError::Signature(_)))
    ));
    let older = signed(&key, r#"{"version": 1, "roles": {}}"#);
    assert_eq!(
        p.publish_manifest(&older).await,
        Err(FleetError::Manifest(ManifestError::NotNewer {
            offered: 1,
            applied: 2
        }))
    );

    // …and by the nodes when someone writes it to the bucket anyway.
    let client = async_nats::connect(fleet.server.url())
        .await
        .expect("connect");
    let kv = async_nats::jetstream::new(client)
        .get_key_value(MANIFEST_BUCKET)
        .await
        .expect("the manifest bucket");
    let put = |m: &SignedManifest| serde_json::to_vec(m).expect("json");
    kv.put(MANIFEST_KEY, put(&rogue).into()).await.expect("put");
    for node in [&q, &r] {
        eventually("the rogue manifest is refused", LONG, || async {
            node.view()
                .await
                .manifest_refused
                .is_some_and(|why| why.contains("bad signature"))
        })
        .await;
    }
    kv.put(MANIFEST_KEY, put(&older).into()).await.expect("put");
    for node in [&q, &r] {
        eventually("the older manifest is refused", LONG, || async {
            node.view()
                .await
                .manifest_refused
                .is_some_and(|why| why.contains("version 1 is not newer"))
        })
        .await;
    }
    for name in ["q", "r"] {
        let host = fleet.host(name);
        assert_eq!(host.applied(), vec![v2.to_string()], "{name} kept v2");
        assert_eq!(*host.manifest_version.lock().unwrap(), Some(2));
        let refused = host.news_of(FleetStep::ManifestRefused);
        assert!(refused.len() >= 2, "{name}: {refused:?}");
        assert!(refused.iter().any(|(_, d)| d.contains("bad signature")));
        assert!(refused.iter().any(|(_, d)| d.contains("not newer")));
        assert_eq!(host.news_of(FleetStep::ManifestApplied).len(), 1);
    }

    // A node that joins now has applied no version yet; the bucket's newest entry is the
    // replayed, well-signed version 1, but its history holds version 2: refused.
    let _fresh = fleet.node_with("fresh", TestHost::new(&["any"], Mode::Run), pinned);
    let fresh = fleet.host("fresh").clone();
    eventually(
        "the fresh node refuses the replayed version 1",
        LONG,
        || {
            let fresh = fresh.clone();
            async move {
                fresh
                    .news_of(FleetStep::ManifestRefused)
                    .iter()
                    .any(|(_, d)| {
                        d.contains(
                            "version 1 is older than version 2, which the fleet already published",
                        )
                    })
            }
        },
    )
    .await;
    assert!(fresh.applied().is_empty(), "{:?}", fresh.applied());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_finish_once_each_across_a_server_restart() {
    let mut fleet = Fleet::new(json!({}));
    let a = fleet.node("a", &["any", "linux"]);
    let _b = fleet.node("b", &["any", "linux"]);
    wait_for_nodes(&a, &["a", "b"]).await;

    let progress: Vec<Arc<Collect>> = (0..10).map(|_| Arc::new(Collect::default())).collect();
    let (_cancel, cancel_rx) = watch::channel(false);
    let submits: Vec<_> = (0..10)
        .map(|i| {
            let run = format!("JOB-restart-{i}");
            let job = job(&run, "linux", "sleep 1; echo after-$RUN");
            let (a, progress, cancel) = (a.clone(), progress[i].clone(), cancel_rx.clone());
            tokio::spawn(async move { (run, a.submit(job, &[], &*progress, cancel).await) })
        })
        .collect();
    // Every job queued, some running: then the server goes away.
    eventually("all jobs queued and some running", LONG, || {
        let progress = progress.clone();
        let hosts: Vec<_> = fleet.hosts.values().cloned().collect();
        async move {
            progress
                .iter()
                .all(|p| p.notes().iter().any(|n| n.starts_with("queued")))
                && hosts.iter().any(|h| !h.took().is_empty())
        }
    })
    .await;
    tokio::task::block_in_place(|| fleet.server.stop());
    eventually("a sees the server gone", LONG, || async {
        !a.view().await.connected
    })
    .await;
    // Down for longer than the ack wait: the jobs that were running are redelivered.
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::block_in_place(|| fleet.server.start_again());

    for submit in submits {
        let (run, result) = tokio::time::timeout(Duration::from_secs(90), submit)
            .await
            .expect("the job ends")
            .expect("the submit task");
        let submitted = result.unwrap_or_else(|e| panic!("{run}: {e}"));
        assert_eq!(submitted.result.run, run);
        assert_eq!(
            submitted.result.code,
            Some(0),
            "{run}: {:?}",
            submitted.result
        );
    }
    let recorded = recorded_results(&fleet.server.url()).await;
    assert_eq!(recorded.len(), 10, "one recorded result per job");
    eventually("a is connected again", LONG, || async {
        a.view().await.connected
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_view_lists_live_nodes_and_drops_one_that_stops_heartbeating() {
    let mut fleet = Fleet::new(json!({}));
    let a = fleet.node("a", &["any", "linux"]);
    let b = fleet.node("b", &["any", "gpu"]);
    let doomed = Doomed::start(&mut fleet, "c", TestHost::new(&["any", "mac"], Mode::Run));
    wait_for_nodes(&a, &["a", "b", "c"]).await;

    let view = a.view().await;
    assert!(view.configured && view.connected, "{view:?}");
    assert_eq!(view.node, "a");
    assert_eq!(view.capabilities, vec!["any", "linux"]);
    assert_eq!(view.problem, "");
    let caps: Vec<(String, Vec<String>, u32)> = view
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.capabilities.clone(), n.max_jobs))
        .collect();
    let owned = |n: &str, c: &[&str]| (n.to_string(), c.iter().map(|c| c.to_string()).collect(), 2);
    assert_eq!(
        caps,
        vec![
            owned("a", &["any", "linux"]),
            owned("b", &["any", "gpu"]),
            owned("c", &["any", "mac"]),
        ]
    );
    assert!(view.nodes.iter().all(|n| n.version == "test"));

    doomed.die();
    wait_for_nodes(&a, &["a", "b"]).await;
    wait_for_nodes(&b, &["a", "b"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_cancelled_as_it_starts_is_stopped_and_its_late_end_dropped() {
    let mut fleet = Fleet::new(json!({"max_jobs": 4}));
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let a = fleet.node_with(
        "a",
        TestHost::new(&["any", "linux"], Mode::Run).with_started(started_tx),
        |_| {},
    );
    wait_for_nodes(&a, &["a"]).await;

    // Each job is cancelled the moment the node starts it (a user who cancels as soon as
    // they read "running on a").
    let runs: Vec<String> = (0..4).map(|i| format!("JOB-cancelled-{i}")).collect();
    let mut cancels = BTreeMap::new();
    let mut submits = Vec::new();
    for run in &runs {
        let (cancel, cancel_rx) = watch::channel(false);
        cancels.insert(run.clone(), cancel);
        let (a, run) = (a.clone(), run.clone());
        submits.push(tokio::spawn(async move {
            let progress = Collect::default();
            let job = job(&run, "linux", "echo begun; exec sleep 8");
            a.submit(job, &[], &progress, cancel_rx).await
        }));
    }
    for _ in &runs {
        let run = tokio::time::timeout(LONG, started.recv())
            .await
            .expect("a job starts")
            .expect("the host is there");
        cancels[&run].send_replace(true);
    }
    let mut cancelled = BTreeMap::new();
    for submit in submits {
        let submitted = tokio::time::timeout(LONG, submit)
            .await
            .expect("the cancel ends the submit")
            .expect("the submit task")
            .expect("a cancelled result");
        assert!(submitted.result.cancelled, "{:?}", submitted.result);
        cancelled.insert(submitted.result.run.clone(), submitted.result);
    }
    // The node stops each job (it does not run to its end); its own end comes after the
    // recorded cancel and is dropped.
    let host = fleet.host("a").clone();
    eventually("the node ended every job", LONG, || {
        let (host, runs) = (host.clone(), runs.clone());
        async move { runs.iter().all(|r| host.ended(r).is_some()) }
    })
    .await;
    for run in &runs {
        let outcome = host.ended(run).expect("ended");
        assert!(
            outcome.cancelled,
            "{run} was stopped by its cancel: {outcome:?}"
        );
    }
    eventually("the node drops its late results", LONG, || {
        let host = host.clone();
        async move { host.news_of(FleetStep::Duplicate).len() == 4 }
    })
    .await;
    assert!(host.news_of(FleetStep::Done).is_empty());
    eventually("nothing runs on a any more", LONG, || async {
        a.running().is_empty()
    })
    .await;
    let recorded = recorded_results(&fleet.server.url()).await;
    assert_eq!(recorded, cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_that_kills_every_node_is_given_up_after_max_deliveries() {
    let mut fleet = Fleet::new(json!({"max_deliver": 2}));
    let sender = fleet.node_with("s", TestHost::new(&["any"], Mode::Run), |s| {
        s.fleet.max_jobs = 0
    });
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let first = Doomed::start(
        &mut fleet,
        "h1",
        TestHost::new(&["any", "x"], Mode::Hang).with_started(started_tx.clone()),
    );
    wait_for_nodes(&sender, &["h1", "s"]).await;

    let run = "JOB-deadly";
    let submitting = tokio::spawn({
        let sender = sender.clone();
        async move { submit(&sender, job(run, "x", "echo never"), &[]).await }
    });
    let taken = tokio::time::timeout(LONG, started.recv()).await;
    assert_eq!(taken, Ok(Some(run.to_string())), "h1 took it");
    first.die();
    let second = Doomed::start(
        &mut fleet,
        "h2",
        TestHost::new(&["any", "x"], Mode::Hang).with_started(started_tx),
    );
    let taken = tokio::time::timeout(LONG, started.recv()).await;
    assert_eq!(taken, Ok(Some(run.to_string())), "h2 took it again");
    second.die();

    // A healthy node asks for work: the job has had its deliveries and is not given again.
    let _b = fleet.node("b", &["any", "x"]);
    let (result, _) = submitting.await.expect("the submit task");
    match result {
        Err(SubmitError::GaveUp(why)) => assert!(why.contains("delivered 2 times"), "{why}"),
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert!(fleet.host("b").took().is_empty());
    let recorded = recorded_results(&fleet.server.url()).await;
    let r = recorded.get(run).expect("a result saying it was given up");
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("no node finished it"))
    );
    assert_eq!(fleet.host("s").news_of(FleetStep::GaveUp).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_comes_back_only_with_the_sha256_its_sender_computed() {
    let mut fleet = Fleet::new(json!({}));
    let a = fleet.node("a", &["any"]);
    wait_for_nodes(&a, &["a"]).await;
    let src = fleet.work.path().join("in.tar");
    std::fs::write(&src, vec![7u8; 300_000]).expect("write");
    let sent = a.put_inputs("RUN-1", &src).await.expect("put");
    assert_eq!(sent.bytes, 300_000);
    let dest = fleet.work.path().join("back/in.tar");
    let received = a.fetch(&sent, &dest).await.expect("fetch");
    assert_eq!(received, sent.sha256);
    assert_eq!(std::fs::read(&dest).expect("read"), vec![7u8; 300_000]);

    let mut forged = sent.clone();
    forged.sha256 = "0".repeat(64);
    let refused = fleet.work.path().join("back/forged.tar");
    let err = a
        .fetch(&forged, &refused)
        .await
        .expect_err("a wrong SHA-256");
    assert!(err.to_string().contains("its sender computed"), "{err}");
    assert!(!refused.exists(), "nothing is left of a refused file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_whose_only_capable_node_died_is_withdrawn_not_awaited_for_ever() {
    let mut fleet = Fleet::new(json!({"wait_seconds": 2}));
    let run = "JOB-orphan";
    let (sender, submitting) = taken_by_a_node_that_dies(&mut fleet, run, "true").await;

    let (result, _) = tokio::time::timeout(LONG, submitting)
        .await
        .expect("the submit ends")
        .expect("the submit task");
    match result {
        Err(SubmitError::GaveUp(why)) => assert!(
            why.contains("no live node has x any more: job job-JOB-orphan withdrawn after 2 s"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    let recorded = recorded_results(&fleet.server.url()).await;
    assert!(recorded[run].error.is_some(), "{:?}", recorded[run]);
    // A capable node that comes later does not run the withdrawn job.
    let _late = fleet.node("late", &["any", "x"]);
    wait_for_nodes(&sender, &["late", "s"]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(fleet.host("late").took().is_empty());
}
