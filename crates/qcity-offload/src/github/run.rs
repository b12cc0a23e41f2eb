//! One attempt on GitHub Actions: dispatch the workflow, find its run, poll it to its end (or
//! cancel it), then bring back its logs and artifacts.

use std::time::Duration;

use qcity_config::GithubTarget;
use reqwest::{Method, Url};
use tokio::time::Instant;

use super::client::Client;
use super::repo::{Gh, next_link};
use super::token::Token;
use crate::exec::{ExecError, Ran, Work, cancelled};

/// How long a dispatched run may take to appear in the listing before we give up on it.
const FIND_FOR: Duration = Duration::from_secs(180);
/// Listing pages read per search (GitHub stops filtered listings at 1,000 runs).
const MAX_PAGES: usize = 10;
/// How long a cancelled run is polled for its end before the attempt returns anyway.
const CANCEL_GRACE: Duration = Duration::from_secs(30);
/// Polls in a row that may fail to reach GitHub before the run counts as lost.
const MAX_MISSED_POLLS: u32 = 5;

/// How a followed run ended.
enum End {
    Concluded(String),
    Cancelled,
    TimedOut,
}

/// Runs one attempt of `work` by dispatching `target`'s workflow.
pub async fn run(
    name: &str,
    target: &GithubTarget,
    token: &Token,
    work: &Work,
) -> Result<Ran, ExecError> {
    let timeout = Duration::from_millis(work.job.timeout_ms);
    let deadline = Instant::now() + timeout;
    let gh = Gh {
        client: Client::new(&target.api_url, token, work.log.clone(), timeout)?,
        target,
    };
    work.log.note(&format!(
        "github {name}: dispatching {} on {}@{}",
        target.workflow, target.repo, target.git_ref
    ));
    let id = tokio::select! {
        id = start(&gh, work) => id?,
        // No run id yet, so nothing to cancel: a run this dispatch started may still appear
        // on GitHub and run there.
        _ = cancelled(work.cancel.clone()) => {
            work.log.note("github: cancelled before the run was found");
            return Ok(Ran { cancelled: true, ..Ran::default() });
        }
        _ = tokio::time::sleep_until(deadline) => {
            work.log.note("github: timed out before the run was found");
            return Ok(Ran { timed_out: true, ..Ran::default() });
        }
    };
    tracing::info!(target = name, run = id, "github run dispatched");
    let mut ran = Ran::default();
    match follow(&gh, work, id, deadline).await? {
        End::Cancelled => {
            ran.cancelled = true;
            return Ok(ran);
        }
        End::TimedOut => ran.timed_out = true,
        End::Concluded(c) if c == "success" => ran.code = Some(0),
        End::Concluded(c) if c == "cancelled" => {
            work.log.note(&format!("run {id}: cancelled on GitHub"));
            ran.cancelled = true;
        }
        End::Concluded(c) => {
            work.log.note(&format!("run {id}: concluded {c}"));
            ran.code = Some(1);
        }
    }
    // The logs are the user's only view of what happened there; failing to get them is
    // noted, not made the attempt's outcome.
    if let Err(e) = super::fetch::logs(&gh, work, id).await {
        work.log.note(&format!("github: the logs of run {id}: {e}"));
    }
    if ran.success() && !work.job.artifacts.is_empty() {
        ran.artifacts = super::fetch::artifacts(&gh, work, id).await?;
    }
    Ok(ran)
}

/// Dispatches the workflow and returns its run's id.
async fn start(gh: &Gh<'_>, work: &Work) -> Result<u64, ExecError> {
    let t = gh.target;
    // A minute of slack for the clocks of this machine and GitHub.
    let since = std::time::SystemTime::now() - Duration::from_secs(60);
    let url = gh.repo_url(&format!("/actions/workflows/{}/dispatches", t.workflow))?;
    let command = serde_json::to_string(&work.job.command).expect("an argv serialises");
    let mut body = serde_json::json!({
        "ref": t.git_ref,
        "inputs": {"correlation_id": work.id, "job": work.job.name, "command": command},
        "return_run_details": true,
    });
    let mut answer = gh.client.send(Method::POST, &url, Some(&body)).await?;
    if matches!(answer.status, 400 | 422) && answer.message().contains("return_run_details") {
        // Our choice for servers older than the parameter (GitHub Enterprise Server before
        // 2026-02): the rejected dispatch started nothing, so it is sent again without it
        // and the run is found by its name.
        work.log
            .note("github: the server does not return run ids: finding the run by name");
        body.as_object_mut().map(|b| b.remove("return_run_details"));
        answer = gh.client.send(Method::POST, &url, Some(&body)).await?;
    }
    let doing = format!("dispatching {} on {}", t.workflow, t.repo);
    match answer.status {
        200 => {
            #[derive(serde::Deserialize)]
            struct Details {
                workflow_run_id: u64,
            }
            let d: Details = answer.json(&doing)?;
            work.log
                .note(&format!("run {}: dispatched", d.workflow_run_id));
            Ok(d.workflow_run_id)
        }
        204 => find(gh, work, since).await,
        _ => Err(answer.refusal(
            &doing,
            &format!(
                "check that {} exists, the token can see it (GitHub answers 404 for no access), \
                 `{}` has a workflow_dispatch trigger with inputs correlation_id, job and command, \
                 and ref `{}` exists",
                t.repo, t.workflow, t.git_ref
            ),
        )),
    }
}

/// Finds the run named `work.id` among the workflow's dispatched runs since `since`; it
/// appears some seconds after the dispatch.
async fn find(gh: &Gh<'_>, work: &Work, since: std::time::SystemTime) -> Result<u64, ExecError> {
    let t = gh.target;
    let secs = since
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let created = chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format(">=%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut first = gh.repo_url(&format!("/actions/workflows/{}/runs", t.workflow))?;
    first
        .query_pairs_mut()
        .append_pair("event", "workflow_dispatch")
        .append_pair("created", &created)
        .append_pair("per_page", "100");
    let give_up = Instant::now() + FIND_FOR;
    loop {
        if let Some(id) = search(gh, work, &first).await? {
            work.log
                .note(&format!("run {id}: found by its name {}", work.id));
            return Ok(id);
        }
        if Instant::now() >= give_up {
            return Err(ExecError::Refused(format!(
                "no run named {} appeared in {} s after dispatching {} on {}: does the workflow \
                 set `run-name: ${{{{ inputs.correlation_id }}}}`?",
                work.id,
                FIND_FOR.as_secs(),
                t.workflow,
                t.repo
            )));
        }
        tokio::time::sleep(gh.poll_every()).await;
    }
}

/// One pass over the listing's pages, following `link: rel="next"` (GitHub's page URLs are
/// its own: they are never built here).
async fn search(gh: &Gh<'_>, work: &Work, first: &Url) -> Result<Option<u64>, ExecError> {
    #[derive(serde::Deserialize)]
    struct Listing {
        workflow_runs: Vec<Listed>,
    }
    #[derive(serde::Deserialize)]
    struct Listed {
        id: u64,
        #[serde(default)]
        display_title: Option<String>,
    }
    let mut url = first.clone();
    for _ in 0..MAX_PAGES {
        let answer = gh.client.send(Method::GET, &url, None).await?;
        let doing = format!(
            "listing the runs of {} on {}",
            gh.target.workflow, gh.target.repo
        );
        if answer.status != 200 {
            return Err(answer.refusal(&doing, ""));
        }
        let page: Listing = answer.json(&doing)?;
        if let Some(r) = page
            .workflow_runs
            .iter()
            .find(|r| r.display_title.as_deref() == Some(work.id.as_str()))
        {
            return Ok(Some(r.id));
        }
        match next_link(&answer) {
            Some(next) => {
                url = first
                    .join(&next)
                    .map_err(|e| ExecError::Unreachable(format!("link {next}: {e}")))?
            }
            None => break,
        }
    }
    Ok(None)
}

/// Polls run `id` to its end, noting each status it passes through; cancels it on the job's
/// cancel or timeout.
async fn follow(gh: &Gh<'_>, work: &Work, id: u64, deadline: Instant) -> Result<End, ExecError> {
    let mut last = String::new();
    let mut missed = 0;
    loop {
        match status(gh, id).await {
            Ok((status, conclusion)) => {
                missed = 0;
                if status != last {
                    work.log.note(&format!("run {id}: {status}"));
                    last = status;
                }
                if last == "completed" {
                    return Ok(End::Concluded(
                        conclusion.unwrap_or_else(|| "unknown".into()),
                    ));
                }
            }
            // A poll that does not reach GitHub is tried again; only a run of them loses it.
            Err(ExecError::Unreachable(e)) if missed + 1 < MAX_MISSED_POLLS => {
                missed += 1;
                tracing::warn!(run = id, "github poll: {e}");
            }
            Err(ExecError::Unreachable(e)) => return Err(ExecError::Lost(e)),
            Err(e) => return Err(e),
        }
        tokio::select! {
            _ = tokio::time::sleep(gh.poll_every()) => {}
            _ = cancelled(work.cancel.clone()) => {
                work.log.note(&format!("run {id}: cancelling"));
                stop(gh, work, id).await;
                return Ok(End::Cancelled);
            }
            _ = tokio::time::sleep_until(deadline) => {
                work.log.note(&format!("run {id}: timed out after {} ms: cancelling", work.job.timeout_ms));
                stop(gh, work, id).await;
                return Ok(End::TimedOut);
            }
        }
    }
}

/// The run's `status` and `conclusion`; a run that is gone (404) is `Lost`.
async fn status(gh: &Gh<'_>, id: u64) -> Result<(String, Option<String>), ExecError> {
    #[derive(serde::Deserialize)]
    struct RunView {
        status: Option<String>,
        conclusion: Option<String>,
    }
    let answer = gh
        .client
        .send(
            Method::GET,
            &gh.repo_url(&format!("/actions/runs/{id}"))?,
            None,
        )
        .await?;
    let doing = format!("polling run {id}");
    match answer.status {
        200 => {
            let r: RunView = answer.json(&doing)?;
            Ok((r.status.unwrap_or_else(|| "unknown".into()), r.conclusion))
        }
        404 => Err(ExecError::Lost(format!(
            "run {id} vanished from GitHub (deleted, or the token lost access): {}",
            answer.message()
        ))),
        _ => Err(answer.refusal(&doing, "")),
    }
}

/// Asks GitHub to cancel run `id` and polls it, a little while, until it has stopped. Errors
/// are noted only: the attempt ends either way.
async fn stop(gh: &Gh<'_>, work: &Work, id: u64) {
    let sent = match gh.repo_url(&format!("/actions/runs/{id}/cancel")) {
        Ok(url) => gh.client.send(Method::POST, &url, None).await,
        Err(e) => Err(e),
    };
    match sent {
        Ok(a) if a.status == 202 => {}
        // 409: the run is already completing.
        Ok(a) => work.log.note(&format!(
            "run {id}: cancel answered {}: {}",
            a.status,
            a.message()
        )),
        Err(e) => {
            work.log.note(&format!("run {id}: cancel failed: {e}"));
            return;
        }
    }
    let until = Instant::now() + CANCEL_GRACE;
    while Instant::now() < until {
        tokio::time::sleep(gh.poll_every()).await;
        match status(gh, id).await {
            Ok((s, c)) if s == "completed" => {
                let c = c.unwrap_or_else(|| "unknown".into());
                work.log.note(&format!("run {id}: completed ({c})"));
                return;
            }
            Ok(_) => {}
            Err(e) => {
                work.log.note(&format!("run {id}: after cancel: {e}"));
                return;
            }
        }
    }
    work.log.note(&format!(
        "run {id}: not completed {} s after the cancel: GitHub may still be stopping it",
        CANCEL_GRACE.as_secs()
    ));
}
