//! Every operation of the API as its document describes it: what it is for, what it takes
//! and what it answers. Who may call it comes from the route table (`routes.rs`); the schemas
//! come from the wire types. A test checks that this list and the route table name the same
//! operations.

use qcity_types::{
    ApplyReport, AuditEntry, AuditVerdict, AutotestReport, ControlOutcome, ErrorBody, Escalated,
    EscalationRequest, EventPage, HealPlan, InstallStarted, JobRequest, JobRun, JobStarted,
    JobsView, LogTail, LoginRequest, MachineStatus, Me, NotifyChannel, PlatformStatus, PutUser,
    Queued, RunOutcome, RunnerStatus, SignatureView, TaskInfo, TaskRun, UpdateStarted, UpdateView,
    UserInfo,
};

use super::op::{
    Body, EVENT_ID, JOB_RUN_ID, Op, Param, RUNNER_NAME, Reply, TASK_NAME, USER_NAME, array, query,
    schema,
};
use crate::bodies::ConfigView;
use crate::qi::{InstallRequest, QiView};
use crate::queries::{
    AuditQuery, EventsQuery, JobLogQuery, JobRunsQuery, LogsQuery, RunsQuery, SignaturesQuery,
    StreamQuery,
};

/// The path parameter of every `/runners/{name}` operation.
const RUNNER: &[Param] = &[Param::path(
    "name",
    "The runner's name from the manifest.",
    RUNNER_NAME,
)];

/// The path parameter of every `/jobs/runs/{id}` operation.
const JOB_RUN: &[Param] = &[Param::path("id", "The run's id (`JOB-…`).", JOB_RUN_ID)];

const NO_JOB_RUN: Reply = Reply {
    status: 404,
    description: "No job run with that id, or this engine runs no jobs (`unknown_job`).",
    body: Body::Json(schema::<ErrorBody>),
};

const NO_OFFLOAD: Reply = Reply {
    status: 404,
    description: "This engine runs no jobs: only the daemon does (`unknown_job`).",
    body: Body::Json(schema::<ErrorBody>),
};

const NO_RUNNER: Reply = Reply {
    status: 404,
    description: "No runner with that name (`unknown_runner`).",
    body: Body::Json(schema::<ErrorBody>),
};

const BAD_QUERY: Reply = Reply {
    status: 400,
    description: "A query parameter out of bounds, unknown or malformed (`bad_request`).",
    body: Body::Json(schema::<ErrorBody>),
};

const TOO_LARGE: Reply = Reply {
    status: 413,
    description: "The body is larger than the API takes (`payload_too_large`).",
    body: Body::Json(schema::<ErrorBody>),
};

const DISK_FULL: Reply = Reply {
    status: 507,
    description: "The data dir's filesystem is full (`disk_full`). A control was done but its record waits in memory (written when space returns); any other write was not made.",
    body: Body::Json(schema::<ErrorBody>),
};

/// A control action on one runner: start, stop, restart, pause, resume.
const fn control(path: &'static str, id: &'static str, summary: &'static str) -> Op {
    Op {
        method: "post",
        path,
        id,
        summary,
        description: "",
        params: RUNNER,
        query: None,
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "The runner's state after the action.",
                body: Body::Json(schema::<ControlOutcome>),
            },
            NO_RUNNER,
            DISK_FULL,
        ],
    }
}

pub static OPS: &[Op] = &[
    Op {
        method: "get",
        path: "/api/v1/runners",
        id: "listRunners",
        summary: "Every runner's status, sorted by name.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "Statuses.",
            body: Body::Json(array::<RunnerStatus>),
        }],
    },
    Op {
        method: "get",
        path: "/api/v1/runners/{name}",
        id: "getRunner",
        summary: "One runner's status.",
        description: "",
        params: RUNNER,
        query: None,
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "Status.",
                body: Body::Json(schema::<RunnerStatus>),
            },
            NO_RUNNER,
        ],
    },
    control(
        "/api/v1/runners/{name}/start",
        "startRunner",
        "Start a runner; returns once done and its event is durable.",
    ),
    control(
        "/api/v1/runners/{name}/stop",
        "stopRunner",
        "Stop a runner; returns once done and its event is durable.",
    ),
    control(
        "/api/v1/runners/{name}/restart",
        "restartRunner",
        "Restart a runner; returns once done and its event is durable.",
    ),
    control(
        "/api/v1/runners/{name}/pause",
        "pauseRunner",
        "Pause a runner (drain): a `github` runner running a job finishes it first (state `pausing`), then stops; a paused runner is not restarted until resumed. Returns at once.",
    ),
    control(
        "/api/v1/runners/{name}/resume",
        "resumeRunner",
        "Resume a paused runner: starts it (or, while it is still finishing its job, cancels the pause).",
    ),
    Op {
        method: "get",
        path: "/api/v1/runners/{name}/logs",
        id: "runnerLogs",
        summary: "The newest lines of a runner's output kept in memory (stdout and stderr merged).",
        description: "",
        params: RUNNER,
        query: Some(query::<LogsQuery>),
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "Lines, oldest first; bytes that are not UTF-8 are replaced with U+FFFD.",
                body: Body::Json(schema::<LogTail>),
            },
            BAD_QUERY,
            NO_RUNNER,
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/runners/{name}/logs/follow",
        id: "followRunnerLogs",
        summary: "A live stream of the runner's raw output from now on, until the client disconnects.",
        description: "",
        params: RUNNER,
        query: None,
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "Raw output bytes, chunked. A reader too slow to keep up gets a line `[qcity: N output chunks skipped …]` instead of slowing the runner.",
                body: Body::Text,
            },
            NO_RUNNER,
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/machine",
        id: "machine",
        summary: "The machine's resources (free disk on the data dir and on runners' working dirs, available memory, load, battery), a verdict for each, and the worst of them.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "Machine status.",
            body: Body::Json(schema::<MachineStatus>),
        }],
    },
    Op {
        method: "get",
        path: "/api/v1/platforms",
        id: "platforms",
        summary: "The status pages of the platforms the runners depend on (GitHub, GitLab, Vercel, Netlify, Hugging Face, Gitpod, AWS, Google Cloud, Azure, DigitalOcean and custom pages), as the daemon last read them: a normalised state, the incidents in progress, when. `unknown` whenever the last read failed (with the last known state and its time); empty when polling is off.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "In the catalog's order, then custom pages.",
            body: Body::Json(array::<PlatformStatus>),
        }],
    },
    Op {
        method: "post",
        path: "/api/v1/platforms/refresh",
        id: "refreshPlatforms",
        summary: "Reads every watched status page now instead of at its next poll (a page is read at most once per 5 s, however often this is called). Answers at once; `GET /platforms` shows the reads as they arrive.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 202,
            description: "The reads are under way.",
            body: Body::Empty,
        }],
    },
    Op {
        method: "post",
        path: "/api/v1/autotest",
        id: "autotest",
        summary: "Runs every probe once (a `log` probe reports its current verdict), reads the machine, then runs every task marked `autotest`, in order; records the report and returns it.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "The report; `passed` only if every check passed.",
            body: Body::Json(schema::<AutotestReport>),
        }],
    },
    Op {
        method: "get",
        path: "/api/v1/autotest/latest",
        id: "latestAutotest",
        summary: "The newest autotest report.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "The report.",
                body: Body::Json(schema::<AutotestReport>),
            },
            Reply {
                status: 404,
                description: "No autotest has run yet (`no_autotest`).",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/tasks",
        id: "listTasks",
        summary: "Every task of the manifest: schedule, autotest flag, whether a run is under way.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "Tasks.",
            body: Body::Json(array::<TaskInfo>),
        }],
    },
    Op {
        method: "post",
        path: "/api/v1/tasks/{name}/run",
        id: "runTask",
        summary: "Runs a task now, with its retries, and answers when it is done; refused (outcome `already-running`) while another run holds its lock.",
        description: "",
        params: &[Param::path(
            "name",
            "The task's name from the manifest.",
            TASK_NAME,
        )],
        query: None,
        body: None,
        replies: &[
            DISK_FULL,
            Reply {
                status: 200,
                description: "What came of it.",
                body: Body::Json(schema::<RunOutcome>),
            },
            Reply {
                status: 404,
                description: "No task with that name.",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/tasks/{name}/runs",
        id: "taskRuns",
        summary: "The newest attempts of a task, oldest first (from the store).",
        description: "",
        params: &[Param::path(
            "name",
            "The task's name from the manifest.",
            TASK_NAME,
        )],
        query: Some(query::<RunsQuery>),
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "Attempts.",
                body: Body::Json(array::<TaskRun>),
            },
            BAD_QUERY,
            Reply {
                status: 404,
                description: "No task with that name.",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/jobs",
        id: "listJobs",
        summary: "The manifest's jobs with their newest run, the remote targets with their health (down after an attempt could not reach them, recently), slots in use and recent record, the offload mode, and the runs not ended.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "Jobs, targets, runs not ended.",
                body: Body::Json(schema::<JobsView>),
            },
            NO_OFFLOAD,
        ],
    },
    Op {
        method: "post",
        path: "/api/v1/jobs/{name}/run",
        id: "runJob",
        summary: "Decides where the job runs (this machine's battery, load, memory and disk; each target's health, load and recent success; the job's `offload` and the mode), with the reasons, and starts it there: 202 with the run, whose `job` events and log tell the rest. With `dry_run` only the placement is answered (200) and nothing runs. A `where` names the place and turns failover off.",
        description: "",
        params: &[Param::path(
            "name",
            "The job's name from the manifest.",
            TASK_NAME,
        )],
        query: None,
        body: Some(schema::<JobRequest>),
        replies: &[
            TOO_LARGE,
            Reply {
                status: 200,
                description: "Dry run: the placement; nothing ran.",
                body: Body::Json(schema::<JobStarted>),
            },
            Reply {
                status: 202,
                description: "Started: the placement and the run's first record.",
                body: Body::Json(schema::<JobStarted>),
            },
            Reply {
                status: 400,
                description: "A malformed body, or a `where` that names no place (`bad_request`).",
                body: Body::Json(schema::<ErrorBody>),
            },
            Reply {
                status: 404,
                description: "No job with that name (`unknown_job`).",
                body: Body::Json(schema::<ErrorBody>),
            },
            Reply {
                status: 500,
                description: "The run's record could not be written under DATA_DIR/jobs.",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/jobs/runs",
        id: "jobRuns",
        summary: "The newest job runs, newest first, of one job or all.",
        description: "",
        params: &[],
        query: Some(query::<JobRunsQuery>),
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "Runs.",
                body: Body::Json(array::<JobRun>),
            },
            BAD_QUERY,
            NO_OFFLOAD,
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/jobs/runs/{id}",
        id: "jobRun",
        summary: "One job run: its placement with reasons, every attempt (place, outcome, exit code), its artifacts with their SHA-256, its state.",
        description: "",
        params: JOB_RUN,
        query: None,
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "The run.",
                body: Body::Json(schema::<JobRun>),
            },
            NO_JOB_RUN,
            Reply {
                status: 500,
                description: "The run's record cannot be read.",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/jobs/runs/{id}/log",
        id: "jobLog",
        summary: "The end of a job run's output as it is written (its command's output, and QCity's own lines between `==`), cut at a line start.",
        description: "",
        params: JOB_RUN,
        query: Some(query::<JobLogQuery>),
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "The output.",
                body: Body::Text,
            },
            BAD_QUERY,
            NO_JOB_RUN,
            Reply {
                status: 500,
                description: "The log cannot be read.",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "post",
        path: "/api/v1/jobs/runs/{id}/cancel",
        id: "cancelJob",
        summary: "Cancels a run that has not ended: its place stops the command (the local process group, the remote group over SSH, the GitHub run); the run ends `cancelled`.",
        description: "",
        params: JOB_RUN,
        query: None,
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "The run as it was when the cancel was sent.",
                body: Body::Json(schema::<JobRun>),
            },
            NO_JOB_RUN,
            Reply {
                status: 409,
                description: "The run has already ended (`job_ended`).",
                body: Body::Json(schema::<ErrorBody>),
            },
            Reply {
                status: 500,
                description: "The run's record cannot be read.",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "post",
        path: "/api/v1/reload",
        id: "reload",
        summary: "Reloads the configuration directory: added runners start, removed ones stop, changed ones restart, unchanged ones are untouched.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[
            DISK_FULL,
            Reply {
                status: 200,
                description: "What changed.",
                body: Body::Json(schema::<ApplyReport>),
            },
            Reply {
                status: 422,
                description: "The configuration has errors (each in `errors`, as file:line:column: path: message); the last good configuration keeps running.",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "post",
        path: "/api/v1/escalations",
        id: "escalate",
        summary: "Something outside the engine needs a person (`qcity build run` escalates a build that failed after its retries): published as an `escalation` event, which the notifier shows; answers once it is stored.",
        description: "",
        params: &[],
        query: None,
        body: Some(schema::<EscalationRequest>),
        replies: &[
            TOO_LARGE,
            DISK_FULL,
            Reply {
                status: 200,
                description: "The escalation's event id.",
                body: Body::Json(schema::<Escalated>),
            },
            Reply {
                status: 400,
                description: "A malformed body, or a reason or advice out of bounds (`bad_request`).",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/events",
        id: "listEvents",
        summary: "Stored events, oldest first: the oldest page after `after`, or with `before` the newest page below it; optionally only one `type` or one `runner`. Viewers see runner-state, runner-activity, probe-changed, resource-changed and platform-changed events only; `next_after` is the last id read (seen or not).",
        description: "",
        params: &[],
        query: Some(query::<EventsQuery>),
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "A page of events.",
                body: Body::Json(schema::<EventPage>),
            },
            BAD_QUERY,
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/audit",
        id: "auditTail",
        summary: "The newest audit rows, oldest first.",
        description: "",
        params: &[],
        query: Some(query::<AuditQuery>),
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "Rows with their chain hashes.",
                body: Body::Json(array::<AuditEntry>),
            },
            BAD_QUERY,
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/audit/verify",
        id: "auditVerify",
        summary: "Walks the hash chain of the audit log.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "Whole, with the row count, or the first row where it breaks.",
            body: Body::Json(schema::<AuditVerdict>),
        }],
    },
    Op {
        method: "get",
        path: "/api/v1/openapi.json",
        id: "openapi",
        summary: "This document.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "OpenAPI 3.1.",
            body: Body::AnyJson,
        }],
    },
    Op {
        method: "get",
        path: "/api/v1/events/stream",
        id: "streamEvents",
        summary: "Live events as Server-Sent Events (`id`, `event` = the event type, `data` = the event as JSON). The first frame is `event: hello` with `{after}`. Resumes after `Last-Event-ID` (sent by browsers on reconnect) or `?after=`, with every later event exactly once, in order; without either, starts from now. Viewers get runner-state, runner-activity, probe-changed, resource-changed and platform-changed events only. A comment line every 15 s keeps it open.",
        description: "",
        params: &[Param::header(
            "Last-Event-ID",
            "The last event seen: what a browser's EventSource sends when it reconnects; wins over `after`.",
            EVENT_ID,
        )],
        query: Some(query::<StreamQuery>),
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "The stream.",
                body: Body::EventStream,
            },
            Reply {
                status: 400,
                description: "Bad `after` or `Last-Event-ID`.",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "post",
        path: "/api/v1/auth/login",
        id: "login",
        summary: "Log in with a user's password, or exchange the master token for a master session. Sets the `qcity_session` cookie (HttpOnly, SameSite=Strict, Max-Age = `api.session_hours`). More than 5 failed logins a minute from one address get 429 with Retry-After; 10 failed logins for one user within 15 minutes revoke every session of that user. Every login and failure is in the audit log.",
        description: "",
        params: &[],
        query: None,
        body: Some(schema::<LoginRequest>),
        replies: &[
            DISK_FULL,
            TOO_LARGE,
            Reply {
                status: 200,
                description: "Logged in; the cookie is set.",
                body: Body::Json(schema::<Me>),
            },
            Reply {
                status: 400,
                description: "Neither a user and password nor a token.",
                body: Body::Json(schema::<ErrorBody>),
            },
            Reply {
                status: 401,
                description: "Wrong user, password or token (`bad_credentials`).",
                body: Body::Json(schema::<ErrorBody>),
            },
            Reply {
                status: 429,
                description: "Too many failed logins from this address (`too_many_attempts`).",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "post",
        path: "/api/v1/auth/logout",
        id: "logout",
        summary: "Ends this session and clears the cookie.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 204,
            description: "Logged out.",
            body: Body::Empty,
        }],
    },
    Op {
        method: "get",
        path: "/api/v1/auth/me",
        id: "me",
        summary: "Who this request is: user and role.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "The caller.",
            body: Body::Json(schema::<Me>),
        }],
    },
    Op {
        method: "get",
        path: "/api/v1/users",
        id: "listUsers",
        summary: "Dashboard users (never their password hashes).",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "Users by name.",
            body: Body::Json(array::<UserInfo>),
        }],
    },
    Op {
        method: "put",
        path: "/api/v1/users/{name}",
        id: "putUser",
        summary: "Creates a user or sets its role and password (at least 8 characters; stored as an Argon2id hash). The user's sessions end.",
        description: "",
        params: &[Param::path("name", "The user's name.", USER_NAME)],
        query: None,
        body: Some(schema::<PutUser>),
        replies: &[
            DISK_FULL,
            TOO_LARGE,
            Reply {
                status: 200,
                description: "Saved.",
                body: Body::Json(schema::<UserInfo>),
            },
            Reply {
                status: 400,
                description: "Bad name, role or password.",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "delete",
        path: "/api/v1/users/{name}",
        id: "deleteUser",
        summary: "Removes a user and ends its sessions.",
        description: "",
        params: &[Param::path("name", "The user's name.", USER_NAME)],
        query: None,
        body: None,
        replies: &[
            DISK_FULL,
            Reply {
                status: 204,
                description: "Removed.",
                body: Body::Empty,
            },
            Reply {
                status: 404,
                description: "No such user (`unknown_user`).",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "get",
        path: "/metrics",
        id: "metrics",
        summary: "Prometheus text exposition (0.0.4): qcity_build_info, qcity_runner_up, qcity_runner_state{state}, qcity_runner_restarts_total, qcity_runner_uptime_seconds, qcity_runner_health{health}, qcity_probe_passing, qcity_machine_health{health}, qcity_resource_passing, qcity_events_total{type}. Scrape with the token as a bearer credential.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "The metrics.",
            body: Body::Text,
        }],
    },
    Op {
        method: "get",
        path: "/api/v1/config",
        id: "getConfig",
        summary: "The configuration as applied (`dir`, `manifest`, `device`; environment values whose names contain TOKEN, SECRET, PASSWORD, KEY, CREDENTIAL or AUTH are `<redacted>`), and `on_disk`: whether the files in the config directory are valid now, with every error as `file:line:col: path: message`.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "The configuration.",
            body: Body::Json(schema::<ConfigView>),
        }],
    },
    Op {
        method: "get",
        path: "/api/v1/update",
        id: "updateView",
        summary: "QCity's own update: the `running` version, whether `update` is configured, the newer release the manifest offers (`available`, null when up to date; `check_error` when the manifest cannot be read or is refused: a downgrade, a version not vouched for by its signature, errors with line and field), `blocked_by` (why an update may not be applied now: the latest autotest failed or none ran, a runner or the machine is unhealthy, a runner is failing, an update is under way, or this engine cannot restart itself), the versions kept under DATA_DIR/versions with `current` and `previous`, `pending` (switched to, not yet checked, with its start count), `last` (how the last update ended) and `refused` (versions rolled back here, never offered again).",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "The update view.",
            body: Body::Json(schema::<UpdateView>),
        }],
    },
    Op {
        method: "post",
        path: "/api/v1/update/apply",
        id: "updateApply",
        summary: "Applies the newer release: runs an autotest first when the latest is older than `update.max_autotest_age_minutes`, refuses with the reasons while the gate is closed, downloads and verifies the release (size, SHA-256, minisign signature, the version it vouches for), pauses every runner (one in a job finishes it first, up to `update.drain_timeout_seconds`, else every runner is resumed and nothing changes), keeps the running binary as the previous version and switches `current`. Then 202 with `after`, and the daemon restarts into the new version, which must serve the API and pass its autotest within `update.check_deadline_seconds` or is rolled back. The `update` events after `after` tell each step.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[
            Reply {
                status: 202,
                description: "Switched; the daemon restarts into `to`.",
                body: Body::Json(schema::<UpdateStarted>),
            },
            Reply {
                status: 409,
                description: "Refused, nothing changed: `update_refused` (not configured, up to date, the gate closed, the download failed a check, the drain timed out, this engine cannot restart itself) or `update_busy`.",
                body: Body::Json(schema::<ErrorBody>),
            },
            Reply {
                status: 500,
                description: "A file under DATA_DIR/versions could not be written; nothing was switched.",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "post",
        path: "/api/v1/update/rollback",
        id: "updateRollback",
        summary: "Goes back to the previous version by hand: runners drained as for an update, the version left is refused (not offered again), `current` switched back; then 202 and the daemon restarts into the previous version.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[
            Reply {
                status: 202,
                description: "Switched back; the daemon restarts into `to`.",
                body: Body::Json(schema::<UpdateStarted>),
            },
            Reply {
                status: 409,
                description: "Refused, nothing changed: no previous version is kept, the drain timed out, this engine cannot restart itself (`update_refused`), or an update is under way (`update_busy`).",
                body: Body::Json(schema::<ErrorBody>),
            },
            Reply {
                status: 500,
                description: "A file under DATA_DIR/versions could not be written.",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/qi",
        id: "qiPicker",
        summary: "The QI installer picker: `device` (OS, version, arch, libc, package managers, desktop, free disk), the newest release's assets ranked for this device (`options`: those that fit first, each with `fits` and the `reasons` shown to the user), its optional `features`, `gate` ({open, reasons}: closed while the latest autotest failed or is older than `installer.max_autotest_age_minutes`, or a runner or the machine is unhealthy), and `manifest_error` when the manifest cannot be read or validated (every error as `origin:line:col: path: message`) or no asset fits.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "The picker's view.",
            body: Body::Json(schema::<QiView>),
        }],
    },
    Op {
        method: "post",
        path: "/api/v1/qi/install",
        id: "qiInstall",
        summary: "Installs asset `asset` of the newest release with its features: the defaults (`default: true` in the manifest) unless left out with `without`, plus those named in `add`; or exactly the set `features` gives. 409 `gate_closed` with the reasons while the gate is closed (checked here, on the server), 400 when the asset cannot run here or a feature does not exist. Otherwise 202 with `after`: the install runs in the background and reports as `qi-install` events after that id (downloading with done/total, verifying, installing, then installed or failed with the detail). A file that fails verification is deleted, with the files of that install already downloaded, and nothing is installed.",
        description: "",
        params: &[],
        query: None,
        body: Some(schema::<InstallRequest>),
        replies: &[
            TOO_LARGE,
            Reply {
                status: 202,
                description: "Started.",
                body: Body::Json(schema::<InstallStarted>),
            },
            Reply {
                status: 400,
                description: "Bad request, an asset that cannot run here, or an unknown feature.",
                body: Body::Json(schema::<ErrorBody>),
            },
            Reply {
                status: 409,
                description: "The gate is closed (`gate_closed`), with the reasons.",
                body: Body::Json(schema::<ErrorBody>),
            },
            Reply {
                status: 422,
                description: "The manifest or the public key is invalid.",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/runners/{name}/heal-plan",
        id: "healPlan",
        summary: "What the healer would do about the runner now (`qcity heal --dry-run`): the failure's signature and explaining lines, the fixes that fit in the order they would be tried (with their learned scores), and the rules that cannot act. Touches nothing.",
        description: "",
        params: RUNNER,
        query: None,
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "The plan.",
                body: Body::Json(schema::<HealPlan>),
            },
            NO_RUNNER,
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/signatures",
        id: "signatures",
        summary: "The most frequent failure signatures (runner, exit, probe, log templates), with first and last seen, the hourly trend over 24 hours, and every fix tried on them with its success rate.",
        description: "",
        params: &[],
        query: Some(query::<SignaturesQuery>),
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "Most seen first.",
                body: Body::Json(array::<SignatureView>),
            },
            BAD_QUERY,
        ],
    },
    Op {
        method: "get",
        path: "/api/v1/notify/channels",
        id: "notifyChannels",
        summary: "The chat, mail and webhook channels of the device config, each with its outbox: messages queued, the newest finished one (sent, failed or expired) and the newest delivery error, and why it cannot send now (a secret that cannot be read). Secret values never appear; a URL with a literal secret shows only its scheme.",
        description: "",
        params: &[],
        query: None,
        body: None,
        replies: &[Reply {
            status: 200,
            description: "In name order; empty when none is configured.",
            body: Body::Json(array::<NotifyChannel>),
        }],
    },
    Op {
        method: "post",
        path: "/api/v1/notify/channels/{name}/test",
        id: "notifyTest",
        summary: "Queues a test message through one channel, as any other message (the outbox, its retries); `GET /notify/channels` shows how it went.",
        description: "",
        params: &[Param::path(
            "name",
            "The channel's name from the device config.",
            RUNNER_NAME,
        )],
        query: None,
        body: None,
        replies: &[
            Reply {
                status: 200,
                description: "The queued message's id.",
                body: Body::Json(schema::<Queued>),
            },
            Reply {
                status: 404,
                description: "No channel with that name (`unknown_channel`).",
                body: Body::Json(schema::<ErrorBody>),
            },
        ],
    },
];
