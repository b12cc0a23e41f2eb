//! A GitHub REST double on loopback, speaking the contract of `shared/facts/github-api.md`
//! (sections 1 to 8): the headers, errors, rate-limit headers and `link` pagination GitHub
//! documents; workflow runs that go queued → in_progress → completed as they are polled;
//! logs and artifacts behind 302s to a second origin (the "blob host") whose signed URLs
//! expire, as Azure blob storage's do. The client under test is only given its URL.

#![allow(dead_code)] // each test binary uses a part of it

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const OWNER_REPO: &str = "acme/app";
/// The repository's numeric id: the `link` URLs use `/repositories/<id>/...`, a path the
/// client could not have built.
pub const REPO_ID: u64 = 1300192;
pub const TOKEN: &str = "ghs_d0ubleT0ken_s3cret_4242";
/// The declared inputs of the dispatchable workflow.
const INPUTS: [&str; 3] = ["correlation_id", "job", "command"];
const DOCS: &str = "https://docs.github.com/rest";

/// What the next dispatched run does.
#[derive(Clone, Default)]
pub struct Plan {
    /// Polls answered `queued`, then `in_progress`, before `completed`.
    pub queued_polls: u32,
    pub running_polls: u32,
    pub conclusion: String,
    pub log_zip: Vec<u8>,
    pub artifacts: Vec<ArtifactPlan>,
}

#[derive(Clone)]
pub struct ArtifactPlan {
    pub name: String,
    pub zip: Vec<u8>,
    /// `sha256:<hex>` as upload-artifact v4 records it; `None` as older artifacts.
    pub digest: Option<String>,
    pub expired: bool,
}

impl ArtifactPlan {
    pub fn new(name: &str, zip: Vec<u8>) -> ArtifactPlan {
        let digest = Some(format!("sha256:{}", hex::encode(Sha256::digest(&zip))));
        ArtifactPlan {
            name: name.into(),
            zip,
            digest,
            expired: false,
        }
    }
}

pub struct Run {
    pub id: u64,
    pub workflow: String,
    pub title: String,
    pub inputs: Value,
    pub created: i64,
    pub polls: u32,
    pub cancel_requested: bool,
    pub status: String,
    pub conclusion: Option<String>,
    plan: Plan,
}

/// The double's world; tests set it up before the run and read it after.
pub struct World {
    pub token: String,
    /// Workflow file → whether it has a `workflow_dispatch` trigger.
    pub workflows: BTreeMap<String, bool>,
    /// Whether `return_run_details: true` gets the 200 answer (else it is ignored: 204).
    pub run_details: bool,
    /// Whether the parameter is rejected with 422, as servers older than it do.
    pub rejects_run_details: bool,
    pub plan: Plan,
    /// Other dispatched runs listed before ours.
    pub fillers: usize,
    /// Listings that do not show a new run yet (it appears after a delay).
    pub hidden_listings: u32,
    /// The first request whose path ends with this is rate limited with this status and
    /// `retry-after: 1`.
    pub limit_once: Option<(&'static str, u16)>,
    /// The first log URL handed out has expired already.
    pub expire_first_log_url: bool,
    pub runs: Vec<Run>,
    /// Every request: `METHOD /path`.
    pub requests: Vec<String>,
    /// Log and artifact URLs handed out.
    pub locations: Vec<String>,
    /// Requests to the blob host that carried an `Authorization` header.
    pub blob_auth: u32,
    blobs: HashMap<String, Vec<u8>>,
    next_id: u64,
}

pub struct Double {
    pub api: String,
    pub world: Arc<Mutex<World>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Double {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[derive(Clone)]
struct Shared {
    world: Arc<Mutex<World>>,
    api: String,
    blob: String,
}

impl Double {
    pub async fn start(plan: Plan) -> Double {
        let world = Arc::new(Mutex::new(World {
            token: TOKEN.into(),
            workflows: BTreeMap::from([
                ("offload.yml".into(), true),
                ("push-only.yml".into(), false),
            ]),
            run_details: true,
            rejects_run_details: false,
            plan,
            fillers: 0,
            hidden_listings: 0,
            limit_once: None,
            expire_first_log_url: false,
            runs: Vec::new(),
            requests: Vec::new(),
            locations: Vec::new(),
            blob_auth: 0,
            blobs: HashMap::new(),
            next_id: 5000,
        }));
        let api_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let blob_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shared = Shared {
            world: world.clone(),
            api: format!("http://{}", api_l.local_addr().unwrap()),
            blob: format!("http://{}", blob_l.local_addr().unwrap()),
        };
        let api = Router::new().fallback(api).with_state(shared.clone());
        let blob = Router::new().fallback(blob).with_state(shared.clone());
        let tasks = vec![
            tokio::spawn(async move { axum::serve(api_l, api).await.unwrap() }),
            tokio::spawn(async move { axum::serve(blob_l, blob).await.unwrap() }),
        ];
        Double {
            api: shared.api,
            world,
            tasks,
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().unwrap())
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A JSON answer with the five rate-limit headers GitHub sends on every response.
fn answer(status: u16, body: Value) -> Response<Body> {
    reply(status, &[], Some(body))
}

fn reply(status: u16, extra: &[(&str, String)], body: Option<Value>) -> Response<Body> {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("x-ratelimit-limit", "5000")
        .header("x-ratelimit-remaining", "4999")
        .header("x-ratelimit-used", "1")
        .header("x-ratelimit-reset", (now() + 3600).to_string())
        .header("x-ratelimit-resource", "core");
    for (k, v) in extra {
        b = b.header(*k, v);
    }
    match body {
        Some(v) => b
            .header("content-type", "application/json; charset=utf-8")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

fn error(status: u16, message: &str) -> Response<Body> {
    answer(
        status,
        json!({"message": message, "documentation_url": DOCS, "status": status.to_string()}),
    )
}

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            url_pairs(q)
                .into_iter()
                .collect::<HashMap<String, String>>()
        })
        .unwrap_or_default()
}

/// `a=b&c=%3E%3D…` decoded (the client percent-encodes `created=>=…`).
fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn api(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let mut w = s.world.lock().unwrap();
    let path = uri.path().to_string();
    w.requests.push(format!("{method} {path}"));
    match headers
        .get("x-github-api-version")
        .map(|v| v.to_str().unwrap_or(""))
    {
        None | Some("2022-11-28") | Some("2026-03-10") => {}
        Some(v) => return error(400, &format!("Unsupported API version {v}")),
    }
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    let token = auth.and_then(|a| {
        a.strip_prefix("Bearer ")
            .or_else(|| a.strip_prefix("token "))
    });
    if token != Some(w.token.as_str()) {
        return error(401, "Bad credentials");
    }
    if let Some((suffix, status)) = w.limit_once
        && path.ends_with(suffix)
    {
        w.limit_once = None;
        return reply(
            status,
            &[("retry-after", "1".into())],
            Some(
                json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": DOCS}),
            ),
        );
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let version_2026 = headers
        .get("x-github-api-version")
        .is_some_and(|v| v == "2026-03-10");
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["repos", o, r, "actions", "workflows", wf, "dispatches"]) if repo_ok(o, r) => {
            dispatch(&mut w, wf, &body, version_2026, &s.api)
        }
        ("GET", ["repos", o, r, "actions", "workflows", wf, "runs"]) if repo_ok(o, r) => {
            list_runs(&mut w, wf, &uri, &s.api)
        }
        ("GET", ["repositories", id, "actions", "workflows", wf, "runs"])
            if *id == REPO_ID.to_string() =>
        {
            list_runs(&mut w, wf, &uri, &s.api)
        }
        ("GET", ["repos", o, r, "actions", "runs", id]) if repo_ok(o, r) => {
            poll(&mut w, id, &s.api)
        }
        ("POST", ["repos", o, r, "actions", "runs", id, "cancel"]) if repo_ok(o, r) => {
            match run_mut(&mut w, id) {
                Some(run) if run.status == "completed" => {
                    error(409, "Cannot cancel a workflow run that is completed.")
                }
                Some(run) => {
                    run.cancel_requested = true;
                    answer(202, json!({}))
                }
                None => error(404, "Not Found"),
            }
        }
        ("GET", ["repos", o, r, "actions", "runs", id, "logs"]) if repo_ok(o, r) => {
            let Some(run) = run_mut(&mut w, id) else {
                return error(404, "Not Found");
            };
            let zip = run.plan.log_zip.clone();
            let expired = std::mem::take(&mut w.expire_first_log_url);
            redirect(&mut w, &s.blob, zip, expired)
        }
        ("GET", ["repos", o, r, "actions", "runs", id, "artifacts"]) if repo_ok(o, r) => {
            let Some(run) = run_mut(&mut w, id) else {
                return error(404, "Not Found");
            };
            let list: Vec<Value> = run
                .plan
                .artifacts
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let aid = run.id * 100 + i as u64;
                    json!({
                        "id": aid, "node_id": format!("MDg6QXJ0aWZhY3Q{aid}"), "name": a.name,
                        "size_in_bytes": a.zip.len(),
                        "url": format!("{}/repos/{OWNER_REPO}/actions/artifacts/{aid}", s.api),
                        "archive_download_url": format!("{}/repos/{OWNER_REPO}/actions/artifacts/{aid}/zip", s.api),
                        "expired": a.expired, "created_at": iso(run.created),
                        "expires_at": iso(run.created + 90 * 86400), "updated_at": iso(run.created),
                        "digest": a.digest,
                        "workflow_run": {"id": run.id, "repository_id": REPO_ID, "head_branch": "main"},
                    })
                })
                .collect();
            answer(200, json!({"total_count": list.len(), "artifacts": list}))
        }
        ("GET", ["repos", o, r, "actions", "artifacts", aid, "zip"]) if repo_ok(o, r) => {
            let aid: u64 = aid.parse().unwrap_or(0);
            let found = w
                .runs
                .iter()
                .find(|run| run.id == aid / 100)
                .and_then(|run| run.plan.artifacts.get((aid % 100) as usize))
                .cloned();
            match found {
                None => error(404, "Not Found"),
                Some(a) if a.expired => error(410, "Artifact has expired"),
                Some(a) => redirect(&mut w, &s.blob, a.zip, false),
            }
        }
        _ => error(404, "Not Found"),
    }
}

fn repo_ok(o: &str, r: &str) -> bool {
    format!("{o}/{r}") == OWNER_REPO
}

fn run_mut<'a>(w: &'a mut World, id: &str) -> Option<&'a mut Run> {
    let id: u64 = id.parse().ok()?;
    w.runs.iter_mut().find(|r| r.id == id)
}

fn dispatch(w: &mut World, wf: &str, body: &[u8], version_2026: bool, api: &str) -> Response<Body> {
    let Some(&dispatchable) = w.workflows.get(wf) else {
        return error(404, "Not Found");
    };
    if !dispatchable {
        return error(422, "Workflow does not have 'workflow_dispatch' trigger");
    }
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return error(400, "Problems parsing JSON");
    };
    let wants_details = body.get("return_run_details") == Some(&Value::Bool(true));
    if wants_details && w.rejects_run_details {
        return answer(
            422,
            json!({"message": "Invalid request.\n\n\"return_run_details\" is not a permitted key.", "documentation_url": DOCS}),
        );
    }
    if body.get("ref").and_then(Value::as_str) != Some("main") {
        return error(422, &format!("No ref found for: {}", body["ref"]));
    }
    let inputs = body.get("inputs").cloned().unwrap_or(json!({}));
    let unexpected: Vec<&String> = inputs
        .as_object()
        .map(|o| o.keys().filter(|k| !INPUTS.contains(&k.as_str())).collect())
        .unwrap_or_default();
    if !unexpected.is_empty() {
        return error(422, &format!("Unexpected inputs provided: {unexpected:?}"));
    }
    w.next_id += 1;
    let id = w.next_id;
    let plan = w.plan.clone();
    w.runs.push(Run {
        id,
        workflow: wf.into(),
        // The workflow's `run-name: ${{ inputs.correlation_id }}`.
        title: inputs["correlation_id"]
            .as_str()
            .unwrap_or("offload")
            .into(),
        inputs,
        created: now(),
        polls: 0,
        cancel_requested: false,
        status: "queued".into(),
        conclusion: None,
        plan,
    });
    if (wants_details && w.run_details) || version_2026 {
        answer(
            200,
            json!({
                "workflow_run_id": id,
                "run_url": format!("{api}/repos/{OWNER_REPO}/actions/runs/{id}"),
                "html_url": format!("https://github.com/{OWNER_REPO}/actions/runs/{id}"),
            }),
        )
    } else {
        reply(204, &[], None)
    }
}

fn run_json(r: &Run, api: &str) -> Value {
    json!({
        "id": r.id, "name": "offload", "node_id": format!("WFR_{}", r.id), "head_branch": "main",
        "head_sha": "520405cec8339c7806e42797cf03b15b4d355c86", "path": format!(".github/workflows/{}", r.workflow),
        "display_title": r.title, "run_number": r.id - 5000, "run_attempt": 1, "event": "workflow_dispatch",
        "status": r.status, "conclusion": r.conclusion, "workflow_id": 161335,
        "url": format!("{api}/repos/{OWNER_REPO}/actions/runs/{}", r.id),
        "html_url": format!("https://github.com/{OWNER_REPO}/actions/runs/{}", r.id),
        "created_at": iso(r.created), "updated_at": iso(now()), "run_started_at": iso(r.created),
    })
}

fn poll(w: &mut World, id: &str, api: &str) -> Response<Body> {
    let Some(run) = run_mut(w, id) else {
        return error(404, "Not Found");
    };
    run.polls += 1;
    if run.status != "completed" {
        let p = &run.plan;
        if run.cancel_requested {
            run.status = "completed".into();
            run.conclusion = Some("cancelled".into());
        } else if run.polls <= p.queued_polls {
            run.status = "queued".into();
        } else if run.polls <= p.queued_polls.saturating_add(p.running_polls) {
            run.status = "in_progress".into();
        } else {
            run.status = "completed".into();
            run.conclusion = Some(p.conclusion.clone());
        }
    }
    answer(200, run_json(run, api))
}

fn list_runs(w: &mut World, wf: &str, uri: &Uri, api: &str) -> Response<Body> {
    if !w.workflows.contains_key(wf) {
        return error(404, "Not Found");
    }
    let q = query(uri);
    let per_page: usize = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = q
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let since = q
        .get("created")
        .and_then(|c| c.strip_prefix(">="))
        .map(|c| {
            chrono::DateTime::parse_from_rfc3339(c)
                .expect("created is an ISO date")
                .timestamp()
        });
    let event_ok = |e: &str| q.get("event").is_none_or(|want| want == e);
    let hide_new = page == 1 && w.hidden_listings > 0;
    if hide_new {
        w.hidden_listings -= 1;
    }
    // Newest first: the other dispatches started just after ours come before it.
    let mut all: Vec<Value> = (0..w.fillers)
        .map(|i| {
            let mut v = json!({"id": 9000 + i, "display_title": format!("JOB-someone-else-{i}"), "event": "workflow_dispatch", "status": "in_progress", "conclusion": null, "created_at": iso(now())});
            v["url"] = json!(format!("{api}/repos/{OWNER_REPO}/actions/runs/{}", 9000 + i));
            v
        })
        .collect();
    if !hide_new {
        all.extend(
            w.runs
                .iter()
                .rev()
                .filter(|r| {
                    r.workflow == wf
                        && since.is_none_or(|s| r.created >= s)
                        && event_ok("workflow_dispatch")
                })
                .map(|r| run_json(r, api)),
        );
    }
    let pages = all.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    let mut extra = Vec::new();
    if pages > 1 {
        let kept: Vec<String> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("page="))
            .map(str::to_string)
            .collect();
        let base = format!(
            "{api}/repositories/{REPO_ID}/actions/workflows/{wf}/runs?{}",
            kept.join("&")
        );
        let mut links = Vec::new();
        if page > 1 {
            links.push(format!("<{base}&page={}>; rel=\"prev\"", page - 1));
        }
        if page < pages {
            links.push(format!("<{base}&page={}>; rel=\"next\"", page + 1));
        }
        links.push(format!("<{base}&page={pages}>; rel=\"last\""));
        links.push(format!("<{base}&page=1>; rel=\"first\""));
        extra.push(("link", links.join(", ")));
    }
    reply(
        200,
        &extra,
        Some(json!({"total_count": all.len(), "workflow_runs": items})),
    )
}

const BLOB_SECRET: &str = "blob-account-key";

fn signature(key: &str, se: i64) -> String {
    hex::encode(Sha256::digest(format!("{key}|{se}|{BLOB_SECRET}")))
}

/// A 302 to a signed URL on the blob host that expires a minute from now (or already has).
fn redirect(w: &mut World, blob: &str, bytes: Vec<u8>, expired: bool) -> Response<Body> {
    let key = format!("b{}", w.locations.len());
    w.blobs.insert(key.clone(), bytes);
    let se = if expired { now() - 10 } else { now() + 60 };
    let location = format!(
        "{blob}/blobs/{key}?sv=2025-01-05&se={se}&sp=r&sig={}",
        signature(&key, se)
    );
    w.locations.push(location.clone());
    reply(302, &[("location", location)], None)
}

/// The blob host: a signed, unexpired URL gets the bytes; anything else a 403 with the XML
/// error body Azure blob storage sends (shape as commonly reported; the exact text is
/// unverified).
async fn blob(State(s): State<Shared>, uri: Uri, headers: HeaderMap) -> Response<Body> {
    let mut w = s.world.lock().unwrap();
    let refused = |detail: &str| {
        Response::builder()
            .status(403)
            .header("content-type", "application/xml")
            .body(Body::from(format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.\n{detail}</Message></Error>"
            )))
            .unwrap()
    };
    if headers.contains_key("authorization") {
        w.blob_auth += 1;
        return refused("Authorization header not expected with a SAS.");
    }
    let key = uri.path().trim_start_matches("/blobs/").to_string();
    let q = query(&uri);
    let se: i64 = q.get("se").and_then(|v| v.parse().ok()).unwrap_or(0);
    if q.get("sig") != Some(&signature(&key, se)) {
        return refused("Signature did not match.");
    }
    if se < now() {
        return refused(&format!(
            "Signed expiry time [{}] must be after signed start time [{}]",
            iso(se),
            iso(now())
        ));
    }
    match w.blobs.get(&key) {
        Some(b) => Response::builder()
            .status(200)
            .header("content-type", "application/zip")
            .body(Body::from(b.clone()))
            .unwrap(),
        None => Response::builder().status(404).body(Body::empty()).unwrap(),
    }
}

/// A zip of `files` (deflated, as GitHub's are).
pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        z.start_file(*name, opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}
