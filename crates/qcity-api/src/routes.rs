//! The router: one table of routes, each with its handler; the router is built from the table
//! and a test compares the table with `openapi.json`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use qcity_engine::{ControlAction, Engine, EngineError, RunnerStatus};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::error::ApiError;
use crate::token::Token;
use crate::types::{ApplyReport, AuditEntry, AuditVerdict, ControlOutcome, EventPage, LogTail};
use crate::{CLIENT_HEADER, OPENAPI};

#[derive(Clone)]
struct AppState {
    engine: Arc<Engine>,
    token: Arc<Token>,
}

type Table = Vec<(Method, &'static str, MethodRouter<AppState>)>;

fn table() -> Table {
    vec![
        (Method::GET, "/api/v1/runners", get(list_runners)),
        (Method::GET, "/api/v1/runners/{name}", get(runner)),
        (Method::POST, "/api/v1/runners/{name}/start", post(start)),
        (Method::POST, "/api/v1/runners/{name}/stop", post(stop)),
        (
            Method::POST,
            "/api/v1/runners/{name}/restart",
            post(restart),
        ),
        (Method::POST, "/api/v1/runners/{name}/pause", post(pause)),
        (Method::POST, "/api/v1/runners/{name}/resume", post(resume)),
        (Method::GET, "/api/v1/runners/{name}/logs", get(logs)),
        (
            Method::GET,
            "/api/v1/runners/{name}/logs/follow",
            get(follow),
        ),
        (Method::GET, "/api/v1/machine", get(machine)),
        (Method::POST, "/api/v1/autotest", post(autotest)),
        (Method::GET, "/api/v1/autotest/latest", get(latest_autotest)),
        (Method::GET, "/api/v1/tasks", get(list_tasks)),
        (Method::POST, "/api/v1/tasks/{name}/run", post(run_task)),
        (Method::GET, "/api/v1/tasks/{name}/runs", get(task_runs)),
        (Method::POST, "/api/v1/reload", post(reload)),
        (Method::GET, "/api/v1/events", get(events)),
        (Method::GET, "/api/v1/audit", get(audit)),
        (Method::GET, "/api/v1/audit/verify", get(audit_verify)),
        (Method::GET, "/api/v1/openapi.json", get(openapi)),
    ]
}

/// Every route the router serves, as (method, path in OpenAPI syntax).
pub static ROUTES: std::sync::LazyLock<Vec<(Method, &'static str)>> =
    std::sync::LazyLock::new(|| table().into_iter().map(|(m, p, _)| (m, p)).collect());

/// The API over `engine`, every route behind `token`.
pub fn router(engine: Arc<Engine>, token: Token) -> Router {
    let state = AppState {
        engine,
        token: Arc::new(token),
    };
    let mut router = Router::new();
    for (_, path, handler) in table() {
        router = router.route(path, handler);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

/// Serves the API on `listener` until the task is dropped or the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    token: Token,
) -> std::io::Result<()> {
    axum::serve(listener, router(engine, token)).await
}

async fn require_token(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented.is_some_and(|t| st.token.matches(t.trim())) {
        return next.run(req).await;
    }
    let mut resp = ApiError::unauthorized().into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such API path; see /api/v1/openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not take that method; see /api/v1/openapi.json",
    )
}

/// Who acts: the role the token proves, and the face that says it sent the request.
fn actor(headers: &HeaderMap) -> String {
    let client: String = headers
        .get(CLIENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("api")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(32)
        .collect();
    let client = if client.is_empty() {
        "api".into()
    } else {
        client
    };
    format!("master:{client}")
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

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

async fn machine(State(st): State<AppState>) -> Json<qcity_engine::resources::MachineStatus> {
    Json(st.engine.machine())
}

async fn autotest(State(st): State<AppState>) -> Json<qcity_engine::autotest::AutotestReport> {
    Json(st.engine.autotest().await)
}

async fn latest_autotest(
    State(st): State<AppState>,
) -> Result<Json<qcity_engine::autotest::AutotestReport>, ApiError> {
    let engine = st.engine.clone();
    blocking(move || engine.latest_autotest())
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_autotest",
                "no autotest has run yet: run `qcity autotest`",
            )
        })
}

async fn list_tasks(State(st): State<AppState>) -> Json<Vec<qcity_engine::task::TaskInfo>> {
    Json(st.engine.tasks())
}

async fn run_task(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<qcity_engine::task::RunOutcome>, ApiError> {
    Ok(Json(st.engine.run_task(&name, "manual").await?))
}

async fn task_runs(
    State(st): State<AppState>,
    Path(name): Path<String>,
    q: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Json<Vec<qcity_engine::task::TaskRun>>, ApiError> {
    let n = query(q)?.n.unwrap_or(20).min(MAX_EVENTS);
    if !st.engine.tasks().iter().any(|t| t.name == name) {
        return Err(EngineError::UnknownTask { name }.into());
    }
    let engine = st.engine.clone();
    Ok(Json(blocking(move || engine.task_runs(&name, n)).await?))
}

async fn list_runners(State(st): State<AppState>) -> Json<Vec<RunnerStatus>> {
    Json(st.engine.status())
}

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
    headers: HeaderMap,
    name: String,
    action: ControlAction,
) -> Result<Json<ControlOutcome>, ApiError> {
    let state = st.engine.control(&actor(&headers), action, &name).await?;
    Ok(Json(ControlOutcome {
        runner: name,
        action: action.as_str().to_string(),
        state,
    }))
}

async fn start(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<ControlOutcome>, ApiError> {
    control(st, headers, name, ControlAction::Start).await
}

async fn stop(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<ControlOutcome>, ApiError> {
    control(st, headers, name, ControlAction::Stop).await
}

async fn restart(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<ControlOutcome>, ApiError> {
    control(st, headers, name, ControlAction::Restart).await
}

async fn pause(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<ControlOutcome>, ApiError> {
    control(st, headers, name, ControlAction::Pause).await
}

async fn resume(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<ControlOutcome>, ApiError> {
    control(st, headers, name, ControlAction::Resume).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    n: Option<usize>,
}

const MAX_LOG_LINES: usize = 10_000;

async fn logs(
    State(st): State<AppState>,
    Path(name): Path<String>,
    q: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Json<LogTail>, ApiError> {
    let n = query(q)?.n.unwrap_or(100).min(MAX_LOG_LINES);
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
    headers: HeaderMap,
) -> Result<Json<ApplyReport>, ApiError> {
    Ok(Json(st.engine.reload(&actor(&headers)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

const MAX_EVENTS: usize = 1000;

async fn events(
    State(st): State<AppState>,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    let q = query(q)?;
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_EVENTS);
    let engine = st.engine.clone();
    let events = blocking(move || engine.events_after(after, limit)).await?;
    let next_after = events.last().map_or(after, |e| e.id);
    Ok(Json(EventPage { events, next_after }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    n: Option<usize>,
}

async fn audit(
    State(st): State<AppState>,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let n = query(q)?.n.unwrap_or(50).min(MAX_EVENTS);
    let engine = st.engine.clone();
    let rows = blocking(move || engine.audit_tail(n)).await?;
    Ok(Json(rows))
}

async fn audit_verify(State(st): State<AppState>) -> Result<Json<AuditVerdict>, ApiError> {
    let engine = st.engine.clone();
    let report = blocking(move || engine.audit_verify()).await?;
    Ok(Json(report.into()))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
