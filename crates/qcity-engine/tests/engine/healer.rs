//! The healer on real failures: a missing command, a refused connection, a full tmpfs, a
//! fix that does not help (rolled back and escalated), and learning which of two fixes works.

use std::time::Duration;

use qcity_config::{HealAction, HealMatch, HealRule, HealSpec, RestartSpec, RunnerSpec};
use qcity_types::HealStep;
use qcity_types::{EventKind, RunnerState};

use crate::support::*;

/// A runner restarted quickly, with `heal` settings validated over `validate_ms`.
fn healing(name: &str, script: &str, heal: HealSpec) -> RunnerSpec {
    let mut r = runner(name, script);
    r.restart = RestartSpec {
        delay_ms: 200,
        max_delay_ms: 200,
        jitter_percent: 0,
        crash_loop: None,
        ..RestartSpec::default()
    };
    r.heal = HealSpec {
        validate_ms: 1_500,
        ..heal
    };
    r
}

/// The heal steps seen for `runner`: (step, rule, detail).
fn steps(h: &Harness, runner: &str) -> Vec<(HealStep, String, String)> {
    h.seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Heal {
                runner: r,
                step,
                rule,
                detail,
                ..
            } if r == runner => Some((*step, rule.clone(), detail.clone())),
            _ => None,
        })
        .collect()
}

async fn wait_step(h: &mut Harness, runner: &str, step: HealStep, nth: usize) {
    let r = runner.to_string();
    let what = format!("heal step {step:?} #{nth}");
    loop {
        let seen = steps(h, runner).iter().filter(|s| s.0 == step).count();
        if seen > nth {
            return;
        }
        let already = h.seen.len();
        h.wait_event(&what, |e| {
            matches!(&e.kind, EventKind::Heal { runner, step: s, .. } if *runner == r && *s == step)
                && e.id > 0
        })
        .await;
        if h.seen.len() == already {
            // The match was an older event: wait for a newer one.
            let last = h.seen.last().map_or(0, |e| e.id);
            h.wait_event(&what, move |e| e.id > last).await;
        }
    }
}

fn outcomes(h: &Harness, signature: &str) -> Vec<(String, u64, u64)> {
    let store = qcity_store::Store::open(&h.engine.data_dir().db()).unwrap();
    store
        .rule_stats(signature)
        .unwrap()
        .into_iter()
        .map(|s| (s.rule, s.attempts, s.successes))
        .collect()
}

fn signature_of(h: &Harness, runner: &str) -> String {
    h.seen
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Heal {
                runner: r,
                signature,
                ..
            } if r == runner => Some(signature.clone()),
            _ => None,
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_command_is_installed_and_the_runner_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let tools = tmp.path().join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let install = format!(
        "printf '#!/bin/sh\\necho qi-tool up\\nexec sleep 30\\n' > {0}/qi-tool && chmod +x {0}/qi-tool",
        tools.display()
    );
    let mut r = healing(
        "needs-tool",
        "exec qi-tool",
        HealSpec {
            install_command: vec!["sh".into(), "-c".into(), install],
            ..HealSpec::default()
        },
    );
    r.env
        .insert("PATH".into(), format!("{}:/usr/bin:/bin", tools.display()));
    let mut h = Harness::start(vec![r]).await;
    wait_step(&mut h, "needs-tool", HealStep::Validated, 0).await;
    let s = steps(&h, "needs-tool");
    assert_eq!(s[0].0, HealStep::Diagnosed);
    assert!(
        s[0].2.contains("exit 127") && s[0].2.contains("fixes: missing-dependency"),
        "{s:?}"
    );
    assert_eq!(
        (s[1].0, s[1].1.as_str()),
        (HealStep::Applying, "missing-dependency")
    );
    assert!(s[1].2.starts_with("run sh -c printf"), "{s:?}");
    assert_eq!(s[2].0, HealStep::Validated, "{s:?}");
    assert!(tools.join("qi-tool").exists());
    let pid = h.wait_running("needs-tool").await;
    assert!(alive(pid));
    assert_eq!(
        outcomes(&h, &signature_of(&h, "needs-tool")),
        [("missing-dependency".to_string(), 1, 1)]
    );
    let plan = tokio::task::block_in_place(|| h.engine.heal_plan("needs-tool")).unwrap();
    assert_eq!(plan.would, "nothing: the runner is not failing");
    let top = tokio::task::block_in_place(|| h.engine.signatures(10)).unwrap();
    let sig = top
        .iter()
        .find(|s| s.key == signature_of(&h, "needs-tool"))
        .unwrap();
    assert_eq!((sig.exit.as_str(), sig.count), ("exit 127", 1));
    assert_eq!(sig.trend.iter().map(|t| t.1).sum::<u64>(), 1);
    assert_eq!(
        (sig.fixes[0].rule.as_str(), sig.fixes[0].successes),
        ("missing-dependency", 1)
    );
    // Every step is in the audit log.
    let published = h.engine.bus().next_id() - 1;
    h.engine.wait_durable(published).await;
    let audit = h.engine.audit_tail(1000).unwrap();
    let heal_rows = audit
        .iter()
        .filter(|r| r.action == "heal" && r.target == "needs-tool")
        .count();
    assert!(heal_rows >= 3, "{heal_rows} heal rows in the audit log");
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_that_does_not_help_is_rolled_back_and_escalated() {
    let mut h = Harness::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(work.join("cache/objects")).unwrap();
    std::fs::write(work.join("cache/objects/a1"), "cached build output").unwrap();
    let mut r = healing(
        "corrupt",
        "echo 'error: checksum mismatch for cache entry a1'; exit 1",
        HealSpec {
            cache_dirs: vec!["cache".into()],
            ..HealSpec::default()
        },
    );
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();

    wait_step(&mut h, "corrupt", HealStep::Escalated, 0).await;
    let s = steps(&h, "corrupt");
    let order: Vec<HealStep> = s.iter().map(|s| s.0).collect();
    assert_eq!(
        order,
        [
            HealStep::Diagnosed,
            HealStep::Applying,
            HealStep::RolledBack,
            HealStep::Escalated
        ],
        "{s:?}"
    );
    assert_eq!(s[1].1, "corrupted-cache");
    assert!(s[2].2.contains("restored"), "{s:?}");
    assert_eq!(
        std::fs::read_to_string(work.join("cache/objects/a1")).unwrap(),
        "cached build output",
        "the cache is back as it was"
    );
    let escalation = h
        .seen
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Escalation {
                runner: Some(r),
                reason,
                advice,
            } if r == "corrupt" && reason.contains("healer") => {
                Some((reason.clone(), advice.clone()))
            }
            _ => None,
        })
        .expect("an escalation");
    assert!(escalation.0.contains("exit 1"), "{escalation:?}");
    assert!(
        escalation
            .1
            .contains("fixes tried: corrupted-cache: it failed again: exit 1"),
        "{escalation:?}"
    );
    assert!(
        escalation
            .1
            .contains("checksum mismatch for cache entry a1"),
        "the last lines are in it: {escalation:?}"
    );
    assert_eq!(
        outcomes(&h, &signature_of(&h, "corrupt")),
        [("corrupted-cache".to_string(), 1, 0)]
    );
    // The same failure again stays quiet: no second escalation for the next restarts.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let escalations = h
        .seen
        .iter()
        .filter(|e| {
            matches!(
                &e.kind,
                EventKind::Heal {
                    step: HealStep::Escalated,
                    ..
                }
            )
        })
        .count();
    assert_eq!(escalations, 1);
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fix_that_worked_is_tried_first_next_time() {
    let mut h = Harness::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let rule = |name: &str, script: &str| HealRule {
        name: name.into(),
        matches: HealMatch {
            exit_codes: vec![3],
            text: Some("marker missing".into()),
            ..HealMatch::default()
        },
        actions: vec![HealAction::Run(vec![
            "sh".into(),
            "-c".into(),
            script.into(),
        ])],
    };
    let mut r = healing(
        "marker",
        "[ -f marker ] || { echo 'error: marker missing'; exit 3; }; exec sleep 30",
        HealSpec {
            rules: vec![
                rule("touch-elsewhere", "touch elsewhere"),
                rule("touch-marker", "touch marker"),
            ],
            ..HealSpec::default()
        },
    );
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();

    wait_step(&mut h, "marker", HealStep::Validated, 0).await;
    let applied: Vec<String> = steps(&h, "marker")
        .into_iter()
        .filter(|s| s.0 == HealStep::Applying)
        .map(|s| s.1)
        .collect();
    assert_eq!(
        applied,
        ["touch-elsewhere", "touch-marker"],
        "declared order while untried"
    );
    // The first fix had nothing to undo: its end is a `failed` step, before the next one.
    let s = steps(&h, "marker");
    let failed: Vec<&(HealStep, String, String)> =
        s.iter().filter(|s| s.0 == HealStep::Failed).collect();
    assert_eq!(failed.len(), 1, "{s:?}");
    assert_eq!(failed[0].1, "touch-elsewhere");
    assert!(failed[0].2.contains("it failed again: exit 3"), "{s:?}");
    assert!(
        !s.iter().any(|s| s.0 == HealStep::RolledBack),
        "nothing to roll back: {s:?}"
    );
    let order: Vec<HealStep> = s.iter().map(|s| s.0).collect();
    let at = |step| order.iter().position(|s| *s == step).unwrap();
    assert!(at(HealStep::Failed) < at(HealStep::Validated), "{order:?}");
    let sig = signature_of(&h, "marker");
    assert_eq!(
        outcomes(&h, &sig),
        [
            ("touch-elsewhere".to_string(), 1, 0),
            ("touch-marker".to_string(), 1, 1)
        ]
    );

    // The same failure again: the rule that worked goes first and is the only one needed.
    std::fs::remove_file(work.join("marker")).unwrap();
    h.engine
        .control("test", qcity_types::ControlAction::Restart, "marker")
        .await
        .unwrap();
    wait_step(&mut h, "marker", HealStep::Validated, 1).await;
    let s = steps(&h, "marker");
    let second: Vec<&(HealStep, String, String)> = s
        .iter()
        .skip_while(|s| s.0 != HealStep::Validated)
        .skip(1)
        .collect();
    assert_eq!(second[0].0, HealStep::Diagnosed);
    assert!(
        second[0].2.contains(
            "fixes: touch-marker (1/1 worked, score 0.67), touch-elsewhere (0/1 worked, score 0.33)"
        ),
        "{second:?}"
    );
    assert_eq!(
        (second[1].0, second[1].1.as_str()),
        (HealStep::Applying, "touch-marker")
    );
    assert_eq!(second[2].0, HealStep::Validated);
    assert_eq!(signature_of(&h, "marker"), sig);
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_waits_for_the_network_then_restarts() {
    let port = free_port();
    let script =
        format!("exec 3<>/dev/tcp/127.0.0.1/{port} || exit 1; echo connected; exec sleep 30");
    let mut r = healing(
        "net",
        "",
        HealSpec {
            network_check: Some(format!("127.0.0.1:{port}")),
            ..HealSpec::default()
        },
    );
    r.command = vec!["bash".into(), "-c".into(), script];
    let mut h = Harness::start(vec![r]).await;
    wait_step(&mut h, "net", HealStep::Applying, 0).await;
    let s = steps(&h, "net");
    assert!(s[0].2.contains("Connection refused"), "{s:?}");
    assert_eq!(s[1].1, "network-down");
    assert_eq!(s[1].2, format!("wait for 127.0.0.1:{port}, then restart"));
    // The network comes back a moment later.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || for _conn in listener.incoming() {});
    wait_step(&mut h, "net", HealStep::Validated, 0).await;
    assert!(matches!(
        h.engine.status()[0].state,
        RunnerState::Running { .. }
    ));
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_dry_run_the_healer_says_what_it_would_do_and_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("installed");
    let mut r = healing(
        "dry",
        "echo 'ModuleNotFoundError: No module named requests'; exit 1",
        HealSpec {
            install_command: vec!["touch".into(), marker.display().to_string()],
            ..HealSpec::default()
        },
    );
    // It stays failed, so the plan below sees the failure, not a restart in between.
    r.restart.policy = qcity_config::RestartPolicy::Never;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    std::fs::create_dir_all(&conf).unwrap();
    let mut cfg = config(&conf, vec![r]);
    cfg.device.healer.dry_run = true;
    write_manifest(&conf, &cfg);
    let mut h = Harness::start_with(dir, cfg).await;
    wait_step(&mut h, "dry", HealStep::WouldApply, 0).await;
    let s = steps(&h, "dry");
    let would = s.iter().find(|s| s.0 == HealStep::WouldApply).unwrap();
    assert_eq!(would.1, "missing-dependency");
    assert_eq!(
        would.2,
        format!("run touch {}, then restart", marker.display())
    );
    // `qcity heal --dry-run`'s view of the same failure, asked while the runner fails.
    let plan = tokio::task::block_in_place(|| h.engine.heal_plan("dry")).unwrap();
    assert_eq!(
        plan.signature.as_deref(),
        Some(signature_of(&h, "dry").as_str())
    );
    assert_eq!(plan.fixes[0].rule, "missing-dependency");
    assert_eq!(
        plan.would,
        format!(
            "apply missing-dependency: run touch {}, then restart, then check it for 1500 ms",
            marker.display()
        )
    );
    assert!(
        plan.lines
            .iter()
            .any(|l| l.contains("No module named requests")),
        "{plan:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!marker.exists(), "nothing was run");
    assert!(
        !steps(&h, "dry").iter().any(|s| s.0 == HealStep::Applying),
        "nothing applied"
    );
    h.engine.shutdown("test").await;
}

/// Unmounts on drop.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A tmpfs of `size` (`1m`) at `at`. Needs root; without it, None (the test then says so and
/// checks nothing), unless QCITY_REQUIRE_MOUNT=1 (CI), where it fails.
fn tmpfs(at: &std::path::Path, size: &str) -> Option<Unmount> {
    std::fs::create_dir_all(at).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "qcity-test"])
        .arg(at)
        .output()
        .is_ok_and(|o| o.status.success());
    if mounted {
        return Some(Unmount(at.to_path_buf()));
    }
    // CI sets QCITY_REQUIRE_MOUNT=1 where it runs as root, so a skip there is a failure.
    assert!(
        std::env::var_os("QCITY_REQUIRE_MOUNT").is_none_or(|v| v != "1"),
        "QCITY_REQUIRE_MOUNT=1 but a tmpfs cannot be mounted here (not root?)"
    );
    eprintln!(
        "skipped: cannot mount a tmpfs here (not root?); QCITY_REQUIRE_MOUNT=1 makes this fail"
    );
    None
}

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
    let mut h = Harness::start(vec![]).await;
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
    let mut h = Harness::start(vec![]).await;
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
    let mut h = Harness::start(vec![]).await;
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
    let mut h = Harness::start(vec![]).await;
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

/// A real crash loop: the runner dies at once on a stale lock its previous run left, every
/// restart, until the supervisor's detector fires. A rule for crash loops removes the lock;
/// the runner comes back and stays up, and the fix is credited to the crash loop's signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_gets_its_own_signature_and_fix() {
    let mut h = Harness::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(work.join("state")).unwrap();
    std::fs::write(work.join("state/lock"), "4242").unwrap();
    let mut r = healing(
        "looper",
        "if [ -e state/lock ]; then echo \"fatal: state/lock is held by pid $(cat state/lock)\"; exit 1; fi; echo up; exec sleep 30",
        HealSpec {
            rules: vec![HealRule {
                name: "clear-stale-lock".into(),
                matches: HealMatch {
                    crash_loop: true,
                    ..HealMatch::default()
                },
                actions: vec![HealAction::Run(vec![
                    "rm".into(),
                    "-f".into(),
                    "state/lock".into(),
                ])],
            }],
            ..HealSpec::default()
        },
    );
    r.restart = RestartSpec {
        delay_ms: 20,
        max_delay_ms: 20,
        jitter_percent: 0,
        // Only the healer brings it back: the cool-down outlasts the test.
        crash_loop: Some(qcity_config::CrashLoopSpec {
            max_restarts: 3,
            window_ms: 10_000,
            cooldown_ms: 600_000,
        }),
        ..RestartSpec::default()
    };
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();

    wait_step(&mut h, "looper", HealStep::Validated, 0).await;
    assert!(
        h.seen.iter().any(|e| matches!(
            &e.kind,
            EventKind::RunnerState { runner, state: RunnerState::CrashLooping { .. }, .. }
                if runner == "looper"
        )),
        "the detector fired"
    );
    let s = steps(&h, "looper");
    // Each single exit was diagnosed (no rule fits one exit); the crash loop got the fix.
    let diagnosed = s
        .iter()
        .find(|s| s.0 == HealStep::Diagnosed && s.2.starts_with("crash loop"))
        .unwrap_or_else(|| panic!("no crash-loop diagnosis: {s:?}"));
    assert!(
        diagnosed
            .2
            .contains("fixes: clear-stale-lock (0/0 worked, score 0.50)"),
        "{s:?}"
    );
    assert!(
        s.iter()
            .filter(|s| s.0 == HealStep::Diagnosed && s.2.starts_with("exit 1"))
            .all(|s| s.2.contains("no fix fits")),
        "{s:?}"
    );
    let applied: Vec<&str> = s
        .iter()
        .filter(|s| s.0 == HealStep::Applying)
        .map(|s| s.1.as_str())
        .collect();
    assert_eq!(applied, ["clear-stale-lock"], "{s:?}");
    let validated = s.iter().find(|s| s.0 == HealStep::Validated).unwrap();
    assert_eq!(validated.1, "clear-stale-lock");
    assert!(!work.join("state/lock").exists());
    let pid = h.wait_running("looper").await;
    assert!(alive(pid));

    // The crash loop's signature: its own key, the lock line's template, the outcome.
    let loop_sig = h
        .seen
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Heal {
                runner,
                signature,
                step: HealStep::Applying,
                ..
            } if runner == "looper" => Some(signature.clone()),
            _ => None,
        })
        .unwrap();
    let top = tokio::task::block_in_place(|| h.engine.signatures(20)).unwrap();
    let sig = top.iter().find(|s| s.key == loop_sig).unwrap();
    assert_eq!(
        (sig.runner.as_str(), sig.exit.as_str()),
        ("looper", "crash loop")
    );
    assert!(
        sig.templates
            .iter()
            .any(|t| t.contains("state/lock is held by pid")),
        "{sig:?}"
    );
    assert_eq!(
        outcomes(&h, &loop_sig),
        [("clear-stale-lock".to_string(), 1, 1)]
    );
    let single = top
        .iter()
        .find(|s| s.runner == "looper" && s.exit == "exit 1")
        .expect("the single exits' signature");
    assert_ne!(single.key, loop_sig);
    assert!(
        outcomes(&h, &single.key).is_empty(),
        "no fix was tried on one exit"
    );

    // The audit log has the healer's steps on the crash loop.
    let published = h.engine.bus().next_id() - 1;
    h.engine.wait_durable(published).await;
    let audit = h.engine.audit_tail(2000).unwrap();
    let rows: Vec<&qcity_store::AuditRow> = audit
        .iter()
        .filter(|r| r.action == "heal" && r.target == "looper" && r.detail.contains(&loop_sig))
        .collect();
    for step in ["diagnosed", "applying", "validated"] {
        assert!(
            rows.iter().any(|r| r.detail.contains(step)),
            "no {step} row for the crash loop in {rows:#?}"
        );
    }
    h.engine.shutdown("test").await;
}

/// The heal events for `runner` with their times: (ts_ms, step, rule, detail).
fn timed_steps(h: &Harness, runner: &str) -> Vec<(i64, HealStep, String, String)> {
    h.seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Heal {
                runner: r,
                step,
                rule,
                detail,
                ..
            } if r == runner => Some((e.ts_ms, *step, rule.clone(), detail.clone())),
            _ => None,
        })
        .collect()
}

/// The environment of `pid` once it has exec'd: a process caught in the middle of its exec
/// shows an empty one, so this waits (up to 5 s) for the variable every runner gets.
async fn environ(pid: u32) -> Vec<String> {
    let read = || -> Vec<String> {
        std::fs::read(format!("/proc/{pid}/environ"))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    };
    for _ in 0..250 {
        let env = read();
        if env.iter().any(|v| v.starts_with("QCITY_RUNNER=")) {
            return env;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no environment for pid {pid}: {:?}", read());
}

/// Waits for a run of `runner` started from event `after` on; its pid.
async fn wait_new_run(h: &mut Harness, runner: &str, after: u64) -> u32 {
    let r = runner.to_string();
    let ev = h
        .wait_event("a new run", move |e| {
            e.id >= after
                && matches!(&e.kind, EventKind::RunnerState { runner, state: RunnerState::Running { .. }, .. }
                    if *runner == r)
        })
        .await;
    match &ev.kind {
        EventKind::RunnerState {
            state: RunnerState::Running { pid, .. },
            ..
        } => *pid,
        _ => unreachable!(),
    }
}

async fn audit_heal_rows(h: &Harness, runner: &str) -> Vec<qcity_store::AuditRow> {
    let published = h.engine.bus().next_id() - 1;
    h.engine.wait_durable(published).await;
    h.engine
        .audit_tail(2000)
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "heal" && r.target == runner)
        .collect()
}

/// A real SIGKILL (what the OOM killer sends): the runner is restarted with
/// `heal.low_memory_env` in its environment; killed again within the hour after that fix
/// worked, it is escalated rather than restarted by the healer once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_killed_for_memory_restarts_with_less_concurrency_and_escalates_on_repeat() {
    let r = healing(
        "oom",
        "echo building; exec sleep 30",
        HealSpec {
            // Not MAKEFLAGS: under `make test` the runner would inherit make's own.
            low_memory_env: [("QCITY_TEST_JOBS".to_string(), "1".to_string())].into(),
            ..HealSpec::default()
        },
    );
    let mut h = Harness::start(vec![r]).await;
    let first = h.wait_running("oom").await;
    assert!(
        !environ(first)
            .await
            .iter()
            .any(|v| v.starts_with("QCITY_TEST_JOBS="))
    );
    // SAFETY: a plain kill(2) of the runner this test started.
    assert_eq!(unsafe { libc::kill(first as i32, libc::SIGKILL) }, 0);
    wait_step(&mut h, "oom", HealStep::Validated, 0).await;
    let s = steps(&h, "oom");
    assert!(
        s[0].2.starts_with("signal 9") && s[0].2.contains("fixes: oom-killed"),
        "{s:?}"
    );
    assert_eq!(
        (s[1].0, s[1].1.as_str()),
        (HealStep::Applying, "oom-killed")
    );
    assert_eq!(s[1].2, "set QCITY_TEST_JOBS=1, then restart");
    assert_eq!(s[2].0, HealStep::Validated, "{s:?}");
    let second = h.wait_running("oom").await;
    assert_ne!(second, first);
    let env = environ(second).await;
    assert!(env.iter().any(|v| v == "QCITY_TEST_JOBS=1"), "{env:?}");
    let sig = signature_of(&h, "oom");
    assert_eq!(outcomes(&h, &sig), [("oom-killed".to_string(), 1, 1)]);

    // Killed again: the same signature, escalated, no second fix.
    let killed_at = h.engine.bus().next_id();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(second as i32, libc::SIGKILL) }, 0);
    wait_step(&mut h, "oom", HealStep::Escalated, 0).await;
    let s = steps(&h, "oom");
    let again: Vec<_> = s.iter().skip(3).collect();
    assert_eq!(again[0].0, HealStep::Diagnosed, "{s:?}");
    assert!(
        again[0]
            .2
            .contains("came back after: oom-killed: it worked 1×"),
        "{s:?}"
    );
    assert!(!again.iter().any(|s| s.0 == HealStep::Applying), "{s:?}");
    assert!(
        h.seen
            .iter()
            .all(|e| !matches!(&e.kind, EventKind::Heal { signature, .. } if *signature != sig)),
        "one signature for both kills"
    );
    let (_, reason, advice) = wait_escalation(&mut h, "oom").await;
    assert!(reason.contains("signal 9"), "{reason}");
    assert!(advice.contains("oom-killed: it worked 1×"), "{advice}");
    assert_eq!(outcomes(&h, &sig), [("oom-killed".to_string(), 1, 1)]);
    // The restart policy brings it back, still with less concurrency.
    let third = wait_new_run(&mut h, "oom", killed_at).await;
    assert_ne!(third, second);
    let env = environ(third).await;
    assert!(env.iter().any(|v| v == "QCITY_TEST_JOBS=1"), "{env:?}");
    let rows = audit_heal_rows(&h, "oom").await;
    for step in ["diagnosed", "applying", "validated", "escalated"] {
        assert!(
            rows.iter().any(|r| r.detail.contains(step)),
            "no {step} row in {rows:#?}"
        );
    }
    h.engine.shutdown("test").await;
}

/// The same failure fixed again and again is a loop: after three fixes within the hour the
/// fourth occurrence is escalated instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_healed_three_times_within_the_hour_is_escalated_next_time() {
    let mut h = Harness::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut r = healing(
        "again",
        "[ -f marker ] || { echo 'error: marker missing'; exit 3; }; exec sleep 30",
        HealSpec {
            rules: vec![HealRule {
                name: "touch-marker".into(),
                matches: HealMatch {
                    exit_codes: vec![3],
                    ..HealMatch::default()
                },
                actions: vec![HealAction::Run(vec!["touch".into(), "marker".into()])],
            }],
            ..HealSpec::default()
        },
    );
    r.heal.validate_ms = 600;
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();
    for n in 0..3 {
        wait_step(&mut h, "again", HealStep::Validated, n).await;
        std::fs::remove_file(work.join("marker")).unwrap();
        h.engine
            .control("test", qcity_types::ControlAction::Restart, "again")
            .await
            .unwrap();
    }
    wait_step(&mut h, "again", HealStep::Escalated, 0).await;
    let s = steps(&h, "again");
    let applied = s.iter().filter(|s| s.0 == HealStep::Applying).count();
    assert_eq!(applied, 3, "{s:?}");
    let last = s.iter().rev().find(|s| s.0 == HealStep::Diagnosed).unwrap();
    assert!(
        last.2
            .contains("came back after: touch-marker: it worked 3× in the last 60 min"),
        "{s:?}"
    );
    assert!(!work.join("marker").exists(), "not fixed a fourth time");
    // `qcity heal --dry-run` says the same while the runner fails (between its restarts).
    let would = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let plan = tokio::task::block_in_place(|| h.engine.heal_plan("again")).unwrap();
            if plan.signature.is_some() {
                return plan.would;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a plan for the failing runner");
    assert!(
        would.starts_with("escalate: it came back after touch-marker: it worked 3×"),
        "{would}"
    );
    let sig = signature_of(&h, "again");
    assert_eq!(outcomes(&h, &sig), [("touch-marker".to_string(), 3, 3)]);
    h.engine.shutdown("test").await;
}

/// Fixes tried one after another on one failure are spaced by `heal.retry_backoff_ms`, and
/// the `applying` event says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_fix_waits_for_the_retry_backoff() {
    let mut h = Harness::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let rule = |name: &str, script: &str| HealRule {
        name: name.into(),
        matches: HealMatch {
            exit_codes: vec![3],
            ..HealMatch::default()
        },
        actions: vec![HealAction::Run(vec![
            "sh".into(),
            "-c".into(),
            script.into(),
        ])],
    };
    let mut r = healing(
        "spaced",
        "[ -f marker ] || { echo 'error: marker missing'; exit 3; }; exec sleep 30",
        HealSpec {
            rules: vec![
                rule("wrong-1", "touch elsewhere"),
                rule("wrong-2", "touch elsewhere"),
                rule("right", "touch marker"),
            ],
            ..HealSpec::default()
        },
    );
    r.heal.validate_ms = 600;
    r.heal.retry_backoff_ms = 400;
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();
    wait_step(&mut h, "spaced", HealStep::Validated, 0).await;
    let s = timed_steps(&h, "spaced");
    let applying: Vec<_> = s.iter().filter(|s| s.1 == HealStep::Applying).collect();
    let failed: Vec<_> = s.iter().filter(|s| s.1 == HealStep::Failed).collect();
    assert_eq!(
        applying.iter().map(|s| s.2.as_str()).collect::<Vec<_>>(),
        ["wrong-1", "wrong-2", "right"]
    );
    assert_eq!(failed.len(), 2, "{s:?}");
    assert!(!applying[0].3.contains("backoff"), "{s:?}");
    // Lower bounds only: each wait is at least the backoff (400 ms, then doubled).
    for (i, want) in [(1usize, 400i64), (2, 800)] {
        assert!(
            applying[i]
                .3
                .ends_with(&format!("(after a {want} ms backoff)")),
            "{s:?}"
        );
        let gap = applying[i].0 - failed[i - 1].0;
        assert!(
            gap >= want,
            "fix {i} came {gap} ms after the last one failed: {s:?}"
        );
    }
    h.engine.shutdown("test").await;
}

/// Without `heal.network_check` the healer waits for the address the failing line names
/// (bash's `/dev/tcp/HOST/PORT: Connection refused`), then restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_waits_for_the_address_in_the_failing_line() {
    let port = free_port();
    let script =
        format!("exec 3<>/dev/tcp/127.0.0.1/{port} || exit 1; echo connected; exec sleep 30");
    let mut r = healing("net2", "", HealSpec::default());
    r.command = vec!["bash".into(), "-c".into(), script];
    let mut h = Harness::start(vec![r]).await;
    wait_step(&mut h, "net2", HealStep::Applying, 0).await;
    let s = steps(&h, "net2");
    assert!(s[0].2.contains("Connection refused"), "{s:?}");
    assert_eq!(s[1].1, "network-down");
    assert_eq!(s[1].2, format!("wait for 127.0.0.1:{port}, then restart"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !steps(&h, "net2").iter().any(|s| s.0 == HealStep::Validated),
        "it waits while nothing answers"
    );
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || for _conn in listener.incoming() {});
    wait_step(&mut h, "net2", HealStep::Validated, 0).await;
    let pid = h.wait_running("net2").await;
    assert!(alive(pid));
    h.engine.shutdown("test").await;
}

/// A runner that says it is outdated is updated with `heal.update_command` and restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_runner_is_updated_and_comes_back() {
    let mut h = Harness::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut r = healing(
        "old",
        "[ -f updated ] || { echo 'Runner version 2.300.0 is outdated and must be updated'; exit 1; }; echo \"up at $(cat updated)\"; exec sleep 30",
        HealSpec {
            update_command: vec!["sh".into(), "-c".into(), "echo 2.320.0 > updated".into()],
            ..HealSpec::default()
        },
    );
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();

    wait_step(&mut h, "old", HealStep::Validated, 0).await;
    let s = steps(&h, "old");
    assert_eq!(s[0].0, HealStep::Diagnosed);
    assert!(
        s[0].2.contains("exit 1") && s[0].2.contains("fixes: outdated-runner"),
        "{s:?}"
    );
    assert_eq!(
        (s[1].0, s[1].1.as_str()),
        (HealStep::Applying, "outdated-runner")
    );
    assert_eq!(s[1].2, "run sh -c echo 2.320.0 > updated, then restart");
    assert_eq!(
        (s[2].0, s[2].1.as_str()),
        (HealStep::Validated, "outdated-runner")
    );
    assert_eq!(
        std::fs::read_to_string(work.join("updated")).unwrap(),
        "2.320.0\n"
    );
    let pid = h.wait_running("old").await;
    assert!(alive(pid));
    let sig = signature_of(&h, "old");
    assert_eq!(outcomes(&h, &sig), [("outdated-runner".to_string(), 1, 1)]);
    let top = tokio::task::block_in_place(|| h.engine.signatures(10)).unwrap();
    let row = top.iter().find(|s| s.key == sig).unwrap();
    assert!(
        row.templates.iter().any(|t| t.contains("is outdated")),
        "{row:?}"
    );
    let rows = audit_heal_rows(&h, "old").await;
    for step in ["diagnosed", "applying", "validated"] {
        assert!(
            rows.iter()
                .any(|r| r.detail.contains(step) && r.detail.contains(&sig)),
            "no {step} row in {rows:#?}"
        );
    }
    h.engine.shutdown("test").await;
}
