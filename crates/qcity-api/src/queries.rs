//! The query parameters of the API's GET routes: one struct each, read by its handler and
//! described in the OpenAPI document from the same struct with the same bounds. A value out of
//! bounds is a 400 naming the parameter, never clamped; an unknown parameter is a 400 too.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;

use crate::ApiError;

pub const MAX_LOG_LINES: u64 = 10_000;
/// The most events, audit rows or task runs in one answer.
pub const MAX_PAGE: u64 = 1000;
pub const MAX_SIGNATURES: u64 = 200;
/// Event ids stay below 2^53, where every client's numbers are exact.
pub const MAX_EVENT_ID: u64 = (1 << 53) - 1;

/// Reads a query and checks its bounds.
pub fn read<T: Checked>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    let Query(t) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    t.check().map_err(ApiError::bad_request)?;
    Ok(t)
}

/// What serde cannot check: bounds and names.
pub trait Checked {
    fn check(&self) -> Result<(), String>;
}

fn at_most(name: &str, value: u64, max: u64) -> Result<(), String> {
    if value > max {
        return Err(format!("`{name}` is {value}, at most {max}"));
    }
    Ok(())
}

/// Runner and task names, as the config accepts them: 1 to 64 letters, digits, `.`, `_`, `-`.
pub fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `?n=`: how many of the newest lines of a runner's output.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// How many of the newest lines.
    #[serde(default = "lines_default")]
    #[schemars(range(max = MAX_LOG_LINES))]
    pub n: u64,
}

fn lines_default() -> u64 {
    100
}

impl Checked for LogsQuery {
    fn check(&self) -> Result<(), String> {
        at_most("n", self.n, MAX_LOG_LINES)
    }
}

/// `?n=`: how many of a task's newest runs.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// How many of the newest attempts.
    #[serde(default = "runs_default")]
    #[schemars(range(max = MAX_PAGE))]
    pub n: u64,
}

fn runs_default() -> u64 {
    20
}

impl Checked for RunsQuery {
    fn check(&self) -> Result<(), String> {
        at_most("n", self.n, MAX_PAGE)
    }
}

/// `?n=&job=`: the newest job runs, of one job or all.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRunsQuery {
    /// How many of the newest runs.
    #[serde(default = "runs_default")]
    #[schemars(range(max = MAX_PAGE))]
    pub n: u64,
    /// Only the runs of this job.
    #[serde(default)]
    #[schemars(schema_with = "name")]
    pub job: Option<String>,
}

impl Checked for JobRunsQuery {
    fn check(&self) -> Result<(), String> {
        if let Some(j) = &self.job
            && !valid_name(j)
        {
            return Err("`job` is 1 to 64 letters, digits, `.`, `_` or `-`".into());
        }
        at_most("n", self.n, MAX_PAGE)
    }
}

/// The most of a job's log one answer carries.
pub const MAX_JOB_LOG_BYTES: u64 = 1 << 20;

/// `?bytes=&from=`: how much of a job run's output: the end, or from a byte offset on.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobLogQuery {
    /// How many bytes: the last ones (cut at a line start), or with `from` the ones from
    /// there (up to the last whole line).
    #[serde(default = "job_log_default")]
    #[schemars(range(max = MAX_JOB_LOG_BYTES))]
    pub bytes: u64,
    /// A byte offset: follow the log by asking again from `from` + the bytes received.
    #[serde(default)]
    #[schemars(range(max = MAX_EVENT_ID))]
    pub from: Option<u64>,
}

fn job_log_default() -> u64 {
    64 * 1024
}

impl Checked for JobLogQuery {
    fn check(&self) -> Result<(), String> {
        at_most("from", self.from.unwrap_or(0), MAX_EVENT_ID)?;
        at_most("bytes", self.bytes, MAX_JOB_LOG_BYTES)
    }
}

/// `?n=`: how many of the newest audit rows.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// How many of the newest rows.
    #[serde(default = "audit_default")]
    #[schemars(range(max = MAX_PAGE))]
    pub n: u64,
}

fn audit_default() -> u64 {
    50
}

impl Checked for AuditQuery {
    fn check(&self) -> Result<(), String> {
        at_most("n", self.n, MAX_PAGE)
    }
}

/// `?limit=`: how many signatures, most seen first.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignaturesQuery {
    /// How many signatures.
    #[serde(default = "signatures_default")]
    #[schemars(range(max = MAX_SIGNATURES))]
    pub limit: u64,
}

fn signatures_default() -> u64 {
    20
}

impl Checked for SignaturesQuery {
    fn check(&self) -> Result<(), String> {
        at_most("limit", self.limit, MAX_SIGNATURES)
    }
}

/// A page of stored events.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Events after this id (a page's `next_after`).
    #[serde(default)]
    #[schemars(range(max = MAX_EVENT_ID))]
    pub after: u64,
    /// Only events before this id (paging backwards).
    #[serde(default)]
    #[schemars(range(max = MAX_EVENT_ID))]
    pub before: Option<u64>,
    /// How many events at most.
    #[serde(default = "page_default")]
    #[schemars(range(min = 1, max = MAX_PAGE))]
    pub limit: u64,
    /// Only events of this type.
    #[serde(default, rename = "type")]
    #[schemars(schema_with = "event_type")]
    pub kind: Option<String>,
    /// Only events about this runner (or task).
    #[serde(default)]
    #[schemars(schema_with = "name")]
    pub runner: Option<String>,
}

fn page_default() -> u64 {
    100
}

fn event_type(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "enum": qcity_types::EventKind::NAMES})
}

fn name(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"})
}

impl Checked for EventsQuery {
    fn check(&self) -> Result<(), String> {
        if self.limit == 0 {
            return Err("`limit` is 0, at least 1".into());
        }
        at_most("limit", self.limit, MAX_PAGE)?;
        at_most("after", self.after, MAX_EVENT_ID)?;
        at_most("before", self.before.unwrap_or(0), MAX_EVENT_ID)?;
        if let Some(t) = &self.kind
            && !qcity_types::EventKind::NAMES.contains(&t.as_str())
        {
            return Err(format!("`type`: no event type `{t}`"));
        }
        if let Some(r) = &self.runner
            && !valid_name(r)
        {
            return Err(format!(
                "`runner`: `{r}` is not a name (1 to 64 letters, digits, `.`, `_`, `-`)"
            ));
        }
        Ok(())
    }
}

/// Where the event stream starts.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Events after this id (`Last-Event-ID`, when sent, wins); without either, from now.
    #[serde(default)]
    #[schemars(range(max = MAX_EVENT_ID))]
    pub after: Option<u64>,
}

impl Checked for StreamQuery {
    fn check(&self) -> Result<(), String> {
        at_most("after", self.after.unwrap_or(0), MAX_EVENT_ID)
    }
}
