//! One job run from its placement to its end: the places tried in the placement's order, a
//! place that fails (unreachable, refused, lost) followed by the next one after an
//! exponential backoff, the artifacts checked and placed, the record kept complete at every
//! step, `job` events on the bus, the entry in `builds.json`, and an escalation when every
//! try failed.

use std::sync::Arc;
use std::time::Duration;

use qcity_config::Config;
use qcity_types::{EventKind, JobArtifact, JobAttempt, JobRun, JobState, JobStep};

use crate::exec::{ExecError, Ran, Work};
use crate::inner::Inner;

/// Runs `run` to its end; the record on disk is final when this returns.
pub(crate) async fn drive(inner: Arc<Inner>, config: Config, mut run: JobRun, work: Work) {
    let order: Vec<String> = run.placement.order().map(|c| c.place.clone()).collect();
    let tries = if run.placement.mode == "forced" {
        1
    } else {
        config.cloud.retries.attempts.max(1) as usize
    };
    let mut delay = Duration::from_millis(config.cloud.retries.delay_ms);
    let max_delay = Duration::from_millis(config.cloud.retries.max_delay_ms);
    let mut last_error: Option<ExecError> = None;
    let keep = crate::keep::Keep::new(
        config.cloud.store.clone(),
        inner.engine.data_dir().root().to_path_buf(),
    );
    for n in 0..tries {
        let place = order[n % order.len()].clone();
        if n > 0 {
            let from = run.place.clone().unwrap_or_default();
            let why = last_error
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default();
            inner.publish(&run, JobStep::FailedOver, Some(&from), vec![], &why);
            work.log.note(&format!(
                "{from} failed ({why}); next: {place} in {delay:?}"
            ));
            run.state = JobState::Queued;
            inner.save(&run);
            let cancelled = tokio::select! {
                _ = tokio::time::sleep(delay) => false,
                _ = crate::exec::cancelled(work.cancel.clone()) => true,
            };
            if cancelled {
                finish(
                    &inner,
                    &mut run,
                    &work,
                    JobState::Cancelled,
                    "cancelled".into(),
                );
                return;
            }
            delay = (delay * 2).min(max_delay);
        }
        let _ = std::fs::remove_dir_all(&work.staging);
        let _ = qcity_platform::private::create_dir(&work.staging);
        run.state = JobState::Running;
        run.place = Some(place.clone());
        run.attempts.push(JobAttempt {
            place: place.clone(),
            started_ms: qcity_platform::clock::now_ms(),
            finished_ms: None,
            outcome: "running".into(),
            exit_code: None,
            detail: String::new(),
        });
        inner.save(&run);
        inner.publish(&run, JobStep::Started, Some(&place), vec![], "");
        work.log
            .note(&format!("attempt {} of {tries} at {place}", n + 1));
        // The cache serves attempts here: a remote place has its own.
        if place == "local" && run.cache.is_none() {
            run.cache = keep.restore_cache(&work).await;
        }
        let result = {
            let _slot = inner.occupy(&place);
            crate::targets::dispatch(&place, &config, &work, inner.fleet.as_ref()).await
        };
        let attempt = run.attempts.last_mut().expect("pushed above");
        attempt.finished_ms = Some(qcity_platform::clock::now_ms());
        match result {
            Ok(ran) => {
                attempt.outcome = if ran.cancelled { "cancelled" } else { "ran" }.into();
                attempt.exit_code = ran.code;
                inner.ended(attempt);
                let local = place == "local";
                let (state, detail) = ended(&ran, local, &work, &mut run);
                if state == JobState::Succeeded
                    && let Some(cache) = run.cache.as_mut().filter(|_| local)
                {
                    keep.save_cache(&work, cache).await;
                }
                finish(&inner, &mut run, &work, state, detail);
                // The job is done once its artifacts are verified in place; their copy in
                // the object store follows, and the record then names their keys.
                if state == JobState::Succeeded && !run.artifacts.is_empty() {
                    keep.upload_artifacts(&work, &mut run.artifacts).await;
                    inner.save(&run);
                }
                return;
            }
            Err(e) => {
                attempt.outcome = e.outcome().into();
                attempt.detail = e.to_string();
                inner.ended(attempt);
                let fails_over = e.fails_over();
                last_error = Some(e);
                if !fails_over {
                    break;
                }
            }
        }
    }
    let e = last_error.expect("a try that did not end the run left its error");
    let detail = if e.fails_over() {
        let places = run
            .attempts
            .iter()
            .map(|a| format!("{}: {}", a.place, a.detail))
            .collect::<Vec<_>>()
            .join("; ");
        inner.engine.bus().publish(EventKind::Escalation {
            runner: None,
            reason: format!(
                "job {} ({}) failed at every place: {places}",
                run.job, run.id
            ),
            advice: "check the targets (qcity job show ID), then run the job again".into(),
        });
        format!("every place failed after {} tries: {e}", run.attempts.len())
    } else {
        e.to_string()
    };
    finish(&inner, &mut run, &work, JobState::Failed, detail);
}

/// The state and words for an attempt that ran to an end; a successful one's artifacts are
/// checked and placed first.
fn ended(ran: &Ran, local: bool, work: &Work, run: &mut JobRun) -> (JobState, String) {
    run.exit_code = ran.code;
    if ran.cancelled {
        return (JobState::Cancelled, "cancelled".into());
    }
    if ran.timed_out {
        let secs = work.job.timeout_ms / 1000;
        return (JobState::Failed, format!("timed out after {secs} s"));
    }
    if !ran.success() {
        let how = match (ran.code, ran.signal) {
            (Some(c), _) => format!("exited with code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "ended without an exit code".into(),
        };
        return (JobState::Failed, how);
    }
    let placed = if local {
        Ok(ran
            .artifacts
            .iter()
            .map(|c| JobArtifact {
                path: c.path.clone(),
                sha256: c.sha256.clone(),
                bytes: c.bytes,
                object: None,
            })
            .collect())
    } else {
        crate::artifacts::place(&work.staging, &work.dir, &ran.artifacts)
    };
    match placed {
        Ok(artifacts) => {
            let n = artifacts.len();
            run.artifacts = artifacts;
            (
                JobState::Succeeded,
                format!(
                    "exited with code 0; {}",
                    crate::artifacts::count(n, "verified")
                ),
            )
        }
        Err(e) => (JobState::Failed, format!("artifacts refused: {e}")),
    }
}

/// Ends the run: the record, the event, the report entry, the staging dir.
fn finish(inner: &Inner, run: &mut JobRun, work: &Work, state: JobState, detail: String) {
    run.state = state;
    run.detail = detail;
    run.finished_ms = Some(qcity_platform::clock::now_ms());
    work.log
        .note(&format!("{}: {}", state.as_str(), run.detail));
    inner.save(run);
    let _ = std::fs::remove_dir_all(&work.staging);
    let entry = crate::artifacts::JobReport {
        job: &run.job,
        id: &run.id,
        place: run.place.as_deref(),
        started_ms: run.started_ms,
        finished_ms: run.finished_ms.unwrap_or_default(),
        outcome: state.as_str(),
        artifacts: &run.artifacts,
    };
    if let Err(e) = crate::artifacts::append_report(inner.engine.data_dir().root(), &entry) {
        tracing::warn!("builds.json: {e}");
    }
    let place = run.place.clone();
    inner.publish(
        run,
        JobStep::Finished,
        place.as_deref(),
        vec![],
        &run.detail,
    );
    inner.forget(&run.id);
}
