//! After a restart: the new version's check, and telling what a start decided.
//!
//! A version switched to (`pending.json` names it) must, within
//! `update.check_deadline_seconds` of its start, accept connections on the API and pass the
//! autotest; then it is committed (nothing pending). If it does not, the previous version is
//! switched back, the failed one refused, the master told (an `escalation`), and the daemon
//! restarts into the previous one. A rollback decided at start, before the engine ran (tries
//! used up), is published here by the daemon that runs instead.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qcity_types::{EventKind, UpdateStep};

use crate::apply::Updater;
use crate::record;

/// Publishes an untold rollback, then checks a pending update in the background.
pub fn spawn(updater: Arc<Updater>, api: SocketAddr) -> Option<tokio::task::JoinHandle<()>> {
    let engine = updater.engine().clone();
    let data = engine.data_dir().root().to_path_buf();
    if let Some(mut last) = record::last(&data).filter(|l| !l.published) {
        tell_rollback(
            &updater,
            "engine",
            &last.outcome.from,
            &last.outcome.to,
            &last.outcome.detail,
        );
        last.published = true;
        if let Err(e) = record::set_last(&data, &last) {
            tracing::warn!("cannot record that the rollback was told: {e}");
        }
    }
    let running = crate::running_version().to_string();
    let pending = record::pending(&data).filter(|p| p.to == running)?;
    let deadline_s = engine
        .config()
        .device
        .update
        .map_or(qcity_config::UpdateSettings::CHECK_DEADLINE_SECONDS, |u| {
            u.check_deadline_seconds
        });
    Some(tokio::spawn(async move {
        let started = Instant::now();
        let until = started + Duration::from_secs(deadline_s);
        match check(&updater, api, until).await {
            Ok(()) => {
                let detail = format!(
                    "{} serves the API and passed its autotest {:.1} s after its start",
                    pending.to,
                    started.elapsed().as_secs_f64()
                );
                let saved = record::finish(
                    &data,
                    &pending.from,
                    &pending.to,
                    UpdateStep::Committed,
                    &detail,
                    true,
                );
                if let Err(e) = saved {
                    tracing::error!("{detail}, but it cannot be recorded: {e}");
                }
                tracing::info!("{detail}: committed");
                engine.bus().publish(EventKind::Update {
                    actor: "engine".into(),
                    step: UpdateStep::Committed,
                    from: pending.from.clone(),
                    to: pending.to.clone(),
                    detail,
                });
            }
            Err(why) => {
                let detail = format!(
                    "{} failed its post-update check ({why}); {} runs again",
                    pending.to, pending.from
                );
                tracing::error!("rolling back: {detail}");
                let (d, from, to, det) = (
                    data.clone(),
                    pending.to.clone(),
                    pending.from.clone(),
                    detail.clone(),
                );
                let done = tokio::task::spawn_blocking(move || {
                    record::roll_back(&d, &from, &to, &det, true)
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
                if let Err(e) = done {
                    tracing::error!("cannot roll back: {e}; {} keeps running", pending.to);
                    return;
                }
                tell_rollback(&updater, "engine", &pending.to, &pending.from, &detail);
                engine.wait_durable(engine.bus().next_id() - 1).await;
                updater
                    .request_restart(format!("rollback from {} to {}", pending.to, pending.from));
            }
        }
    }))
}

/// The API accepts connections, then the autotest passes (tried again every 2 s: runners
/// that just started may need a moment for their probes), before `until`.
async fn check(updater: &Updater, api: SocketAddr, until: Instant) -> Result<(), String> {
    let left = || until.saturating_duration_since(Instant::now());
    tokio::time::timeout(left(), tokio::net::TcpStream::connect(api))
        .await
        .map_err(|_| "the API did not accept a connection in time".to_string())?
        .map_err(|e| format!("the API does not accept connections: {e}"))?;
    let engine = updater.engine();
    let mut last = String::from("the autotest did not finish in time");
    loop {
        match tokio::time::timeout(left(), engine.autotest()).await {
            Ok(report) if report.passed => return Ok(()),
            Ok(report) => {
                last = format!(
                    "autotest failed: {}",
                    report
                        .checks
                        .iter()
                        .filter(|c| !c.passed)
                        .map(|c| format!("{}: {}", c.name, c.reason))
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
            Err(_) => return Err(last),
        }
        if left() < Duration::from_secs(2) {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The `update` event of a rollback and the escalation that tells the master.
fn tell_rollback(updater: &Updater, actor: &str, from: &str, to: &str, detail: &str) {
    let bus = updater.engine().bus();
    bus.publish(EventKind::Update {
        actor: actor.to_string(),
        step: UpdateStep::RolledBack,
        from: from.to_string(),
        to: to.to_string(),
        detail: detail.to_string(),
    });
    bus.publish(EventKind::Escalation {
        runner: None,
        reason: format!("QCity {from} was rolled back to {to}: {detail}"),
        advice: format!(
            "{from} will not be offered again; `qcity update status` shows why. Report it \
             to the release's publisher, and update when a newer release is out"
        ),
    });
}
