//! The router: one table of routes, each with its handler; the router is built from the table
//! and the OpenAPI document takes each operation's role from it.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use qcity_engine::{Engine, EngineError};
use qcity_types::{ControlAction, RunnerStatus};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{self, Auth, Principal};
use crate::bodies::{ConfigView, OnDisk};
use crate::error::ApiError;
use crate::queries::{
    self, AuditQuery, EventsQuery, LogsQuery, RunsQuery, SignaturesQuery, StreamQuery,
};
use crate::token::Token;
use qcity_types::{ApplyReport, AuditEntry, AuditVerdict, ControlOutcome, EventPage, LogTail};
use qcity_types::{ErrorCode, EventKind, Role};

#[derive(Clone)]
struct AppState {
    engine: Arc<Engine>,
    healer: Arc<qcity_healer::Healer>,
    /// The chat and mail channels' outbox; none where no notifier runs.
    notify: Option<Arc<qcity_notify::Remote>>,
    /// The platforms' status pages as last read; none where no poller runs.
    platforms: Option<Arc<qcity_status::Platforms>>,
    /// QCity's own updater; none where the engine cannot restart into another version (the
    /// tray app's in-process engine).
    updater: Option<Arc<qcity_update::Updater>>,
    /// Offloaded jobs; none where no daemon runs them.
    offload: Option<qcity_offload::Offload>,
    auth: Arc<Auth>,
}

impl axum::extract::FromRef<AppState> for Arc<Auth> {
    fn from_ref(st: &AppState) -> Arc<Auth> {
        st.auth.clone()
    }
}

/// Who may call a route: anybody (it authenticates the caller itself), a viewer or better,
/// or the master only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Viewer,
    Master,
}

type Table = Vec<(Method, &'static str, Access, MethodRouter<AppState>)>;

fn table() -> Table {
    use Access::{Master, Public, Viewer};
    vec![
        (Method::GET, "/api/v1/runners", Viewer, get(list_runners)),
        (Method::GET, "/api/v1/runners/{name}", Viewer, get(runner)),
        (
            Method::POST,
            "/api/v1/runners/{name}/start",
            Master,
            post(start),
        ),
        (
            Method::POST,
            "/api/v1/runners/{name}/stop",
            Master,
            post(stop),
        ),
        (
            Method::POST,
            "/api/v1/runners/{name}/restart",
            Master,
            post(restart),
        ),
        (
            Method::POST,
            "/api/v1/runners/{name}/pause",
            Master,
            post(pause),
        ),
        (
            Method::POST,
            "/api/v1/runners/{name}/resume",
            Master,
            post(resume),
        ),
        (
            Method::GET,
            "/api/v1/runners/{name}/logs",
            Master,
            get(logs),
        ),
        (
            Method::GET,
            "/api/v1/runners/{name}/logs/follow",
            Master,
            get(follow),
        ),
        (
            Method::GET,
            "/api/v1/runners/{name}/heal-plan",
            Master,
            get(heal_plan),
        ),
        (Method::GET, "/api/v1/signatures", Master, get(signatures)),
        (
            Method::GET,
            "/api/v1/notify/channels",
            Master,
            get(notify_channels),
        ),
        (
            Method::POST,
            "/api/v1/notify/channels/{name}/test",
            Master,
            post(notify_test),
        ),
        (Method::GET, "/api/v1/machine", Viewer, get(machine)),
        (Method::GET, "/api/v1/platforms", Viewer, get(platforms)),
        (
            Method::POST,
            "/api/v1/platforms/refresh",
            Master,
            post(refresh_platforms),
        ),
        (Method::POST, "/api/v1/autotest", Master, post(autotest)),
        (
            Method::GET,
            "/api/v1/autotest/latest",
            Master,
            get(latest_autotest),
        ),
        (Method::GET, "/api/v1/tasks", Master, get(list_tasks)),
        (
            Method::POST,
            "/api/v1/tasks/{name}/run",
            Master,
            post(run_task),
        ),
        (
            Method::GET,
            "/api/v1/tasks/{name}/runs",
            Master,
            get(task_runs),
        ),
        (Method::GET, "/api/v1/jobs", Master, get(jobs_view)),
        (
            Method::POST,
            "/api/v1/jobs/{name}/run",
            Master,
            post(run_job),
        ),
        (Method::GET, "/api/v1/jobs/runs", Master, get(job_runs)),
        (Method::GET, "/api/v1/jobs/runs/{id}", Master, get(job_run)),
        (
            Method::GET,
            "/api/v1/jobs/runs/{id}/log",
            Master,
            get(job_log),
        ),
        (
            Method::POST,
            "/api/v1/jobs/runs/{id}/cancel",
            Master,
            post(cancel_job),
        ),
        (Method::GET, "/api/v1/fleet", Master, get(fleet_view)),
        (
            Method::POST,
            "/api/v1/fleet/manifest",
            Master,
            post(publish_manifest),
        ),
        (Method::POST, "/api/v1/reload", Master, post(reload)),
        (Method::POST, "/api/v1/escalations", Master, post(escalate)),
        (Method::GET, "/api/v1/config", Master, get(config)),
        (Method::GET, "/api/v1/update", Master, get(update_view)),
        (
            Method::POST,
            "/api/v1/update/apply",
            Master,
            post(update_apply),
        ),
        (
            Method::POST,
            "/api/v1/update/rollback",
            Master,
            post(update_rollback),
        ),
        (Method::GET, "/api/v1/qi", Master, get(qi_view)),
        (Method::POST, "/api/v1/qi/install", Master, post(qi_install)),
        (Method::GET, "/api/v1/events", Viewer, get(events)),
        (
            Method::GET,
            "/api/v1/events/stream",
            Viewer,
            get(event_stream),
        ),
        (Method::GET, "/api/v1/audit", Master, get(audit)),
        (
            Method::GET,
            "/api/v1/audit/verify",
            Master,
            get(audit_verify),
        ),
        (
            Method::POST,
            "/api/v1/auth/login",
            Public,
            post(auth::login),
        ),
        (
            Method::POST,
            "/api/v1/auth/logout",
            Viewer,
            post(auth::logout),
        ),
        (Method::GET, "/api/v1/auth/me", Viewer, get(auth::me)),
        (Method::GET, "/api/v1/users", Master, get(auth::list_users)),
        (
            Method::PUT,
            "/api/v1/users/{name}",
            Master,
            put(auth::put_user),
        ),
        (
            Method::DELETE,
            "/api/v1/users/{name}",
            Master,
            delete(auth::delete_user),
        ),
        (Method::GET, "/api/v1/openapi.json", Viewer, get(openapi)),
        (Method::GET, "/metrics", Viewer, get(metrics)),
    ]
}

/// Every route the router serves, as (method, path in OpenAPI syntax, who may call it).
pub static ROUTES: std::sync::LazyLock<Vec<(Method, &'static str, Access)>> =
    std::sync::LazyLock::new(|| table().into_iter().map(|(m, p, a, _)| (m, p, a)).collect());

/// What the API serves: the engine and the daemon's parts beside it.
pub struct Services {
    pub engine: Arc<Engine>,
    pub healer: Arc<qcity_healer::Healer>,
    /// The chat and mail channels' outbox; none where no notifier runs.
    pub notify: Option<Arc<qcity_notify::Remote>>,
    /// The platforms' status pages; none where no poller runs.
    pub platforms: Option<Arc<qcity_status::Platforms>>,
    /// QCity's own updater; none where no daemon updates itself.
    pub updater: Option<Arc<qcity_update::Updater>>,
    /// Offloaded jobs; none where no daemon runs them.
    pub offload: Option<qcity_offload::Offload>,
}

/// The API over `services`, with `token` as the master token.
pub fn router(services: Services, token: Token) -> Result<Router, ApiError> {
    let Services {
        engine,
        healer,
        notify,
        platforms,
        updater,
        offload,
    } = services;
    let auth = Arc::new(Auth::new(engine.clone(), token)?);
    let state = AppState {
        engine,
        healer,
        notify,
        platforms,
        updater,
        offload,
        auth: auth.clone(),
    };
    let mut router: Router<AppState> = Router::new();
    // One path may carry several methods, each with its own access.
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for (_, path, access, handler) in table() {
        let handler = match access {
            Access::Public => handler,
            Access::Viewer => handler.route_layer(middleware::from_fn_with_state(
                Role::Viewer,
                auth::authorize,
            )),
            Access::Master => handler.route_layer(middleware::from_fn_with_state(
                Role::Master,
                auth::authorize,
            )),
        };
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(handler),
            None => by_path.push((path, handler)),
        }
    }
    for (path, handler) in by_path {
        router = router.route(path, handler);
    }
    Ok(router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            auth.clone(),
            auth::authenticate,
        ))
        .layer(middleware::from_fn_with_state(auth, auth::guard))
        .with_state(state))
}

/// Serves the API on `listener` within `limits` until the task is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    services: Services,
    token: Token,
    limits: crate::ConnectionLimits,
) -> std::io::Result<()> {
    let router = router(services, token).map_err(|e| std::io::Error::other(e.body.message))?;
    crate::connections::serve(listener, router, limits).await
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    if method == Method::GET
        && !uri.path().starts_with("/api/")
        && let Some(resp) = crate::ui::asset(uri.path())
    {
        return resp;
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such API path; see /api/v1/openapi.json",
    )
    .into_response()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this path does not take that method; see /api/v1/openapi.json",
    )
}

/// Runs blocking store work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?
        .map_err(ApiError::from)
}

/// [`blocking`] for the offload service's file work.
async fn offload_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, qcity_offload::OffloadError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("job task failed: {e}")))?
        .map_err(ApiError::from)
}

async fn machine(State(st): State<AppState>) -> Json<qcity_types::MachineStatus> {
    Json(st.engine.machine())
}

async fn autotest(State(st): State<AppState>) -> Json<qcity_types::AutotestReport> {
    Json(st.engine.autotest().await)
}

async fn latest_autotest(
    State(st): State<AppState>,
) -> Result<Json<qcity_types::AutotestReport>, ApiError> {
    let engine = st.engine.clone();
    blocking(move || engine.latest_autotest())
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::NoAutotest,
                "no autotest has run yet: run `qcity autotest`",
            )
        })
}

async fn list_tasks(State(st): State<AppState>) -> Json<Vec<qcity_types::TaskInfo>> {
    Json(st.engine.tasks())
}

async fn run_task(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<qcity_types::RunOutcome>, ApiError> {
    Ok(Json(st.engine.run_task(&name, "manual").await?))
}

async fn task_runs(
    State(st): State<AppState>,
    Path(name): Path<String>,
    q: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<Vec<qcity_types::TaskRun>>, ApiError> {
    let n = queries::read(q)?.n as usize;
    if !st.engine.tasks().iter().any(|t| t.name == name) {
        return Err(EngineError::UnknownTask { name }.into());
    }
    let engine = st.engine.clone();
    Ok(Json(blocking(move || engine.task_runs(&name, n)).await?))
}

/// With `X-QCity-Event-Id`: the last event published before the snapshot was read, so a
/// client that streams events after it misses nothing the snapshot lacks.
async fn list_runners(State(st): State<AppState>) -> Response {
    let head = st.engine.bus().next_id() - 1;
    (
        [(EVENT_ID_HEADER, head.to_string())],
        Json(st.engine.status()),
    )
        .into_response()
}

const EVENT_ID_HEADER: &str = "x-qcity-event-id";

async fn runner(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<RunnerStatus>, ApiError> {
    st.engine
        .status()
        .into_iter()
        .find(|r| r.name == name)
        .map(Json)
        .ok_or_else(|| EngineError::UnknownRunner { name }.into())
}

async fn control(
    st: AppState,
    who: String,
    name: String,
    action: ControlAction,
) -> Result<Json<ControlOutcome>, ApiError> {
    let state = st.engine.control(&who, action, &name).await?;
    Ok(Json(ControlOutcome {
        runner: name,
        action: action.as_str().to_string(),
        state,
    }))
}

async fn start(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<ControlOutcome>, ApiError> {
    control(st, p.actor(&headers), name, ControlAction::Start).await
}

async fn stop(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<ControlOutcome>, ApiError> {
    control(st, p.actor(&headers), name, ControlAction::Stop).await
}

async fn restart(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<ControlOutcome>, ApiError> {
    control(st, p.actor(&headers), name, ControlAction::Restart).await
}

async fn pause(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<ControlOutcome>, ApiError> {
    control(st, p.actor(&headers), name, ControlAction::Pause).await
}

async fn resume(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<ControlOutcome>, ApiError> {
    control(st, p.actor(&headers), name, ControlAction::Resume).await
}

async fn logs(
    State(st): State<AppState>,
    Path(name): Path<String>,
    q: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Json<LogTail>, ApiError> {
    let n = queries::read(q)?.n as usize;
    let lines = st.engine.logs(&name, n)?;
    Ok(Json(LogTail {
        runner: name,
        lines,
    }))
}

async fn follow(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let rx = st.engine.follow(&name)?;
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = match rx.recv().await {
            Ok(chunk) => Bytes::from_owner(chunk),
            // A slow reader is told what it missed rather than slowing the runner down.
            Err(RecvError::Lagged(n)) => Bytes::from(format!(
                "\n[qcity: {n} output chunks skipped because this reader was too slow]\n"
            )),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(chunk), rx))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

async fn reload(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
) -> Result<Json<ApplyReport>, ApiError> {
    Ok(Json(st.engine.reload(&p.actor(&headers)).await?))
}

/// The platforms' status pages as the daemon last read them.
async fn platforms(State(st): State<AppState>) -> Json<Vec<qcity_types::PlatformStatus>> {
    Json(
        st.platforms
            .as_ref()
            .map(|p| p.statuses())
            .unwrap_or_default(),
    )
}

/// Reads every status page now; answers at once (`GET /platforms` shows the reads as they
/// come).
async fn refresh_platforms(State(st): State<AppState>) -> StatusCode {
    if let Some(p) = &st.platforms {
        p.refresh();
    }
    StatusCode::ACCEPTED
}

/// The chat, mail and webhook channels with their outboxes.
async fn notify_channels(State(st): State<AppState>) -> Json<Vec<qcity_types::NotifyChannel>> {
    Json(match &st.notify {
        Some(remote) => remote.report().await,
        None => Vec::new(),
    })
}

/// Queues a test message through one channel.
async fn notify_test(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<qcity_types::Queued>, ApiError> {
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownChannel,
            format!("no channel `{name}`: GET /api/v1/notify/channels lists the configured ones"),
        )
    };
    let remote = st.notify.as_ref().ok_or_else(unknown)?;
    match remote.test(&name).await {
        Ok(message) => Ok(Json(qcity_types::Queued { message })),
        Err(qcity_notify::QueueError::NoChannel(_)) => Err(unknown()),
        Err(qcity_notify::QueueError::Store(e)) => Err(ApiError::internal(e)),
    }
}

/// Publishes an escalation from outside the engine; answers once it is durable.
async fn escalate(
    State(st): State<AppState>,
    body: Result<Json<qcity_types::EscalationRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<qcity_types::Escalated>, ApiError> {
    let Json(req) = body.map_err(ApiError::body)?;
    let reason = req.reason;
    if reason.is_empty() || reason.chars().count() > 300 {
        return Err(ApiError::bad_request(
            "reason must have 1 to 300 characters",
        ));
    }
    if req.advice.chars().count() > 2000 {
        return Err(ApiError::bad_request(
            "advice is longer than 2000 characters",
        ));
    }
    let ev = st.engine.bus().publish(EventKind::Escalation {
        runner: None,
        reason,
        advice: req.advice,
    });
    st.engine.durable(ev.id).await?;
    Ok(Json(qcity_types::Escalated { event: ev.id }))
}

/// The configuration as applied, and what a reload of the files on disk would say now.
/// Environment values whose names look secret are shown as `<redacted>`.
async fn config(State(st): State<AppState>) -> Result<Json<ConfigView>, ApiError> {
    let applied = st.engine.config();
    let dir = applied.dir.clone();
    let errors = blocking(move || {
        Ok(match qcity_config::load_dir(&dir) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })
    })
    .await?;
    let mut manifest =
        serde_json::to_value(&applied.manifest).map_err(|e| ApiError::internal(e.to_string()))?;
    crate::redact::env_values(&mut manifest);
    let mut device = applied.device.clone();
    // A channel URL with a secret written in it shows only its scheme.
    for c in &mut device.notifications.channels {
        c.url = qcity_config::channel_url::shown(&c.url);
    }
    Ok(Json(ConfigView {
        dir: applied.dir.clone(),
        manifest,
        device,
        on_disk: OnDisk {
            valid: errors.is_empty(),
            errors,
        },
    }))
}

async fn events(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    let q = queries::read(q)?;
    let sq = qcity_store::EventQuery {
        after: q.after,
        before: q.before,
        limit: q.limit as usize,
        kind: q.kind,
        runner: q.runner,
    };
    let after = sq.after;
    // What happened before this request is in the answer.
    st.engine.wait_durable(st.engine.bus().next_id() - 1).await;
    let engine = st.engine.clone();
    let mut events = blocking(move || engine.events(&sq)).await?;
    // The page may end on an event this role does not see; the next page starts after it.
    let next_after = events.last().map_or(after, |e| e.id);
    events.retain(|e| auth::may_see(p.role, &e.kind));
    Ok(Json(EventPage { events, next_after }))
}

/// Resumes after `Last-Event-ID` (what a browser's EventSource sends on reconnect), else
/// after `?after=`, else from now.
async fn event_stream(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    q: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = queries::read(q)?;
    let last_id = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|id| *id <= queries::MAX_EVENT_ID)
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be an event id"))?,
        ),
        None => None,
    };
    Ok(crate::stream::response(
        st.engine.clone(),
        p.role,
        last_id.or(q.after),
    ))
}

async fn audit(
    State(st): State<AppState>,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let n = queries::read(q)?.n as usize;
    st.engine.wait_durable(st.engine.bus().next_id() - 1).await;
    let engine = st.engine.clone();
    let rows = blocking(move || engine.audit_tail(n)).await?;
    Ok(Json(rows))
}

/// What the healer would do about the runner now: its failure's signature, the fixes that
/// fit in the order they would be tried, and why other rules cannot act. Touches nothing.
async fn heal_plan(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<qcity_types::HealPlan>, ApiError> {
    let healer = st.healer.clone();
    blocking(move || healer.plan(&name)).await.map(Json)
}

/// The most frequent failure signatures with their trend and the fixes tried on them.
async fn signatures(
    State(st): State<AppState>,
    q: Result<Query<SignaturesQuery>, QueryRejection>,
) -> Result<Json<Vec<qcity_types::SignatureView>>, ApiError> {
    let limit = queries::read(q)?.limit as usize;
    let healer = st.healer.clone();
    blocking(move || healer.signatures(limit)).await.map(Json)
}

async fn audit_verify(State(st): State<AppState>) -> Result<Json<AuditVerdict>, ApiError> {
    let engine = st.engine.clone();
    let report = blocking(move || engine.audit_verify()).await?;
    Ok(Json(report.into()))
}

async fn update_view(
    State(st): State<AppState>,
) -> Result<Json<qcity_types::UpdateView>, ApiError> {
    let (engine, updater) = (st.engine.clone(), st.updater.clone());
    blocking(move || Ok(crate::update::view(&engine, updater.as_deref())))
        .await
        .map(Json)
}

/// Gate, download, drain and switch; then the daemon restarts into the new version (its
/// `update` events after the returned id tell the rest).
async fn update_apply(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let started = updater(&st)?.apply(&p.actor(&headers)).await?;
    Ok((StatusCode::ACCEPTED, Json(started)).into_response())
}

async fn update_rollback(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let started = updater(&st)?.rollback(&p.actor(&headers)).await?;
    Ok((StatusCode::ACCEPTED, Json(started)).into_response())
}

/// The daemon's offload service; none where no daemon runs jobs (a 404 naming why).
fn offload(st: &AppState) -> Result<qcity_offload::Offload, ApiError> {
    st.offload.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownJob,
            "this engine runs no jobs (only the daemon does)",
        )
    })
}

async fn jobs_view(State(st): State<AppState>) -> Result<Json<qcity_types::JobsView>, ApiError> {
    let offload = offload(&st)?;
    offload_blocking(move || Ok(offload.view())).await.map(Json)
}

/// Decides where the job runs and starts it (or, for a dry run, only decides); the run's
/// `job` events and its log tell the rest.
async fn run_job(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Json<qcity_types::JobRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(ApiError::body)?;
    if let Some(place) = &req.place
        && !crate::jobs::valid_place(place)
    {
        return Err(ApiError::bad_request(
            "`where` is local, fleet, ssh:NAME or github:NAME",
        ));
    }
    let offload = offload(&st)?;
    let actor = p.actor(&headers);
    let started = offload_blocking(move || {
        let place = req.place.as_deref();
        if req.dry_run {
            let placement = offload.plan(&name, place)?;
            return Ok(qcity_types::JobStarted {
                placement,
                run: None,
            });
        }
        let run = offload.start(&name, place, &actor)?;
        Ok(qcity_types::JobStarted {
            placement: run.placement.clone(),
            run: Some(run),
        })
    })
    .await?;
    let status = if started.run.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(started)).into_response())
}

async fn job_runs(
    State(st): State<AppState>,
    q: Result<Query<queries::JobRunsQuery>, QueryRejection>,
) -> Result<Json<Vec<qcity_types::JobRun>>, ApiError> {
    let q = queries::read(q)?;
    let offload = offload(&st)?;
    offload_blocking(move || Ok(offload.runs(q.job.as_deref(), q.n as usize)))
        .await
        .map(Json)
}

async fn job_run(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<qcity_types::JobRun>, ApiError> {
    let offload = offload(&st)?;
    offload_blocking(move || offload.show(&id)).await.map(Json)
}

async fn job_log(
    State(st): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<queries::JobLogQuery>, QueryRejection>,
) -> Result<String, ApiError> {
    let q = queries::read(q)?;
    let offload = offload(&st)?;
    offload_blocking(move || match q.from {
        Some(from) => offload.log_from(&id, from, q.bytes),
        None => offload.log(&id, q.bytes),
    })
    .await
}

async fn cancel_job(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<qcity_types::JobRun>, ApiError> {
    let offload = offload(&st)?;
    offload_blocking(move || offload.cancel(&id))
        .await
        .map(Json)
}

/// The fleet as this node sees it; `configured: false` without a fleet (or where no
/// daemon runs jobs).
async fn fleet_view(State(st): State<AppState>) -> Json<qcity_types::FleetView> {
    let node = st.offload.as_ref().and_then(|o| o.fleet().cloned());
    Json(match node {
        Some(node) => node.view().await,
        None => qcity_types::FleetView {
            configured: false,
            node: String::new(),
            capabilities: Vec::new(),
            connected: false,
            servers: Vec::new(),
            problem: "no fleet in qmoi_cloud_config.json".into(),
            nodes: Vec::new(),
            queued: Vec::new(),
            manifest_version: st.engine.config().manifest.version,
            manifest_refused: None,
        },
    })
}

/// Publishes a signed runner manifest to the fleet once it passes the check every node
/// makes (the pinned key, a newer version).
async fn publish_manifest(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    body: Result<Json<qcity_types::ManifestPublish>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<qcity_types::ManifestPublished>, ApiError> {
    let Json(req) = body.map_err(ApiError::body)?;
    let refused = |m: String| ApiError::new(StatusCode::CONFLICT, ErrorCode::FleetRefused, m);
    let node = st
        .offload
        .as_ref()
        .and_then(|o| o.fleet().cloned())
        .ok_or_else(|| refused("no fleet in qmoi_cloud_config.json".into()))?;
    let signed = qcity_offload::fleet::SignedManifest {
        manifest: req.manifest,
        signature: req.signature,
    };
    let version = node
        .publish_manifest(&signed)
        .await
        .map_err(|e| refused(e.to_string()))?;
    // Audited like every event, with who published it.
    st.engine.bus().publish(qcity_types::EventKind::Fleet {
        step: qcity_types::FleetStep::ManifestPublished,
        node: node.name().to_string(),
        run: None,
        detail: format!(
            "runner manifest version {version} published to the fleet by {}",
            p.actor(&headers)
        ),
    });
    Ok(Json(qcity_types::ManifestPublished { version }))
}

/// The daemon's updater; none where the engine cannot restart itself (refused as such).
fn updater(st: &AppState) -> Result<Arc<qcity_update::Updater>, ApiError> {
    st.updater
        .clone()
        .ok_or_else(|| qcity_update::ApplyError::CannotRestart.into())
}

async fn qi_view(State(st): State<AppState>) -> Result<Json<crate::qi::QiView>, ApiError> {
    let engine = st.engine.clone();
    blocking(move || Ok(crate::qi::view(&engine)))
        .await
        .map(Json)
}

/// Checks the gate and the request, then installs in the background; progress and the result
/// are `qi-install` events after the returned id.
async fn qi_install(
    State(st): State<AppState>,
    body: Result<Json<crate::qi::InstallRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(ApiError::body)?;
    let engine = st.engine.clone();
    let plan = tokio::task::spawn_blocking(move || crate::qi::prepare(&engine, &req))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let after = st.engine.bus().next_id() - 1;
    let engine = st.engine.clone();
    tokio::task::spawn_blocking(move || crate::qi::run(&engine, plan));
    Ok((
        StatusCode::ACCEPTED,
        Json(qcity_types::InstallStarted { after }),
    )
        .into_response())
}

async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(
            &st.engine,
            &st.platforms
                .as_ref()
                .map(|p| p.statuses())
                .unwrap_or_default(),
        ),
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi_document(),
    )
        .into_response()
}
