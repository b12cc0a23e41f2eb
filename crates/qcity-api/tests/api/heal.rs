//! The healer's faces in the API: the signatures it learned from and `heal-plan` (the
//! dry run), master only.

use qcity_types::{HealPlan, SignatureView};

use crate::support::{As, Req, serve_with};

const MANIFEST: &str = r#"{"runners": [{
    "name": "broken",
    "command": ["sh", "-c", "echo 'error: checksum mismatch in cache entry 7'; exit 1"],
    "restart": {"policy": "never"},
    "heal": {"cache_dirs": ["cache"], "validate_ms": 500}
}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_and_the_heal_plan_show_what_the_healer_learned() {
    let s = serve_with(&[("runner_manifest.json", MANIFEST)]).await;
    // The healer tries its one fix, which does not help, and escalates.
    let mut sigs: Vec<SignatureView> = Vec::new();
    for _ in 0..200 {
        sigs = s.ok("GET", "/api/v1/signatures").await;
        if sigs.first().is_some_and(|s| !s.fixes.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let sig = &sigs[0];
    assert_eq!(
        (sig.runner.as_str(), sig.exit.as_str()),
        ("broken", "exit 1")
    );
    assert!(
        sig.templates
            .iter()
            .any(|t| t.contains("checksum mismatch")),
        "{sig:?}"
    );
    assert!(sig.count >= 1 && sig.first_ms <= sig.last_ms);
    assert_eq!(sig.trend.iter().map(|t| t.1).sum::<u64>(), sig.count);
    assert_eq!(
        (
            sig.fixes[0].rule.as_str(),
            sig.fixes[0].attempts,
            sig.fixes[0].successes
        ),
        ("corrupted-cache", 1, 0)
    );

    let plan: HealPlan = s.ok("GET", "/api/v1/runners/broken/heal-plan").await;
    assert_eq!(plan.signature.as_deref(), Some(sig.key.as_str()));
    assert_eq!(plan.fixes[0].rule, "corrupted-cache");
    assert_eq!(plan.fixes[0].actions, ["clean cache", "restart"]);
    assert!((plan.fixes[0].score - 1.0 / 3.0).abs() < 1e-9, "{plan:?}");
    assert!(plan.would.starts_with("apply corrupted-cache"), "{plan:?}");

    let r = s.call("GET", "/api/v1/runners/nobody/heal-plan").await;
    assert_eq!(r.status, 404, "{}", r.body);
    let viewer = s.user_session("vera", "viewer", "viewer-pass-1").await;
    for path in ["/api/v1/signatures", "/api/v1/runners/broken/heal-plan"] {
        let r = s.send(Req::new("GET", path, As::Session(&viewer))).await;
        assert_eq!(r.status, 403, "{path}: the templates come from the logs");
    }
    s.engine.shutdown("test").await;
}
