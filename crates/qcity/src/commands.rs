//! The commands that talk to a running daemon, and those that read the data dir directly.

use std::io::{IsTerminal, Read, Write};

use qcity_client::Client;
use qcity_engine::datadir::DataDir;
use qcity_store::{AuditReport, Store};
use qcity_types::Health;
use qcity_types::MachineStatus;
use qcity_types::{ApplyReport, AuditEntry, ControlOutcome, LogTail, RunnerStatus};
use qcity_types::{Role, UserInfo};

use crate::exit::{CliError, CliResult, Code};
use crate::format;

/// `qcity status --json`: the runners as `GET /runners` gives them, and the machine as
/// `GET /machine` does (the OpenAPI document's `RunnerStatus` and `MachineStatus`).
#[derive(serde::Serialize)]
struct StatusJson {
    runners: Vec<RunnerStatus>,
    machine: MachineStatus,
}

pub fn status(data: &DataDir, json: bool) -> CliResult {
    let client = Client::connect(data)?;
    let runners: Vec<RunnerStatus> = client.get("/runners")?;
    let machine: MachineStatus = client.get("/machine")?;
    if json {
        return print_json(&StatusJson { runners, machine });
    }
    let colour = format::colour_on();
    let rows: Vec<Vec<String>> = runners
        .iter()
        .map(|r| {
            let state = format::status(&r.state, r.activity.as_ref());
            vec![
                r.name.clone(),
                // The engine's colour for the runner, as the dashboard and the tray show it.
                if colour {
                    format::paint(&state, r.colour)
                } else {
                    state
                },
                r.pid.map_or("-".into(), |p| p.to_string()),
                format::cpu(r.usage.as_ref()),
                format::memory(r.usage.as_ref()),
                r.uptime_ms.map_or("-".into(), format::duration),
                r.restarts.to_string(),
                format::health(r),
                r.last_exit.as_ref().map_or("-".into(), |e| {
                    format!("{} ({})", e.describe(), format::ago(e.at_ms))
                }),
            ]
        })
        .collect();
    emit(&format::table(
        &[
            "NAME", "STATE", "PID", "CPU", "MEM", "UPTIME", "RESTARTS", "HEALTH",
            // Not `LAST EXIT`: a header is the column's narrowest, and with CPU and MEM a
            // 20-character name must still fit 80 columns whole.
            "EXITED",
        ],
        &rows,
    ));
    emit(&format!("\nmachine: {}\n", format::machine(&machine)));
    Ok(())
}

pub fn control(data: &DataDir, action: &str, name: &str) -> CliResult {
    let out: ControlOutcome =
        Client::connect(data)?.post(&format!("/runners/{}/{action}", encode(name)))?;
    println!("{}: {}", out.runner, format::state(&out.state));
    Ok(())
}

/// `action` on one runner, or on every runner when `name` is None.
pub fn control_many(data: &DataDir, action: &str, name: Option<&str>) -> CliResult {
    if let Some(name) = name {
        return control(data, action, name);
    }
    let client = Client::connect(data)?;
    let runners: Vec<RunnerStatus> = client.get("/runners")?;
    for r in runners {
        let out: ControlOutcome = client.post(&format!("/runners/{}/{action}", encode(&r.name)))?;
        println!("{}: {}", out.runner, format::state(&out.state));
    }
    Ok(())
}

pub fn logs(data: &DataDir, name: &str, lines: usize, follow: bool) -> CliResult {
    // Colours for a terminal; a pipe or a file gets the text without escape codes.
    let mut ansi = (!std::io::stdout().is_terminal()).then(crate::ansi::Strip::default);
    let mut out = std::io::stdout().lock();
    let mut emit = |bytes: &[u8]| -> bool {
        let bytes = match ansi.as_mut() {
            Some(strip) => std::borrow::Cow::Owned(strip.feed(bytes)),
            None => std::borrow::Cow::Borrowed(bytes),
        };
        // False: the reader went away (`| head`).
        out.write_all(&bytes).and_then(|_| out.flush()).is_ok()
    };
    let client = match Client::connect(data) {
        Ok(client) => client,
        Err(e) if e.is_no_daemon() && !follow => {
            // The log files are on disk: what the runner last wrote is still worth reading.
            let text = crate::logfile::tail(&data.logs(), name, lines)?;
            eprintln!(
                "(the qcity daemon is not running: from the log files in {})",
                data.logs().display()
            );
            emit(text.as_bytes());
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let path = format!("/runners/{}/logs", encode(name));
    let tail: LogTail = client.get(&format!("{path}?n={lines}"))?;
    for line in &tail.lines {
        if !emit(format!("{line}\n").as_bytes()) {
            return Ok(());
        }
    }
    if !follow {
        return Ok(());
    }
    let mut stream = client.stream(&format!("{path}/follow"))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if !emit(&buf[..n]) {
                    return Ok(());
                }
            }
            Err(e) => {
                return Err(CliError::new(
                    Code::NoDaemon,
                    format!("lost the connection to the qcity daemon: {e}"),
                ));
            }
        }
    }
}

pub fn autotest(data: &DataDir, json: bool) -> CliResult {
    let report: qcity_types::AutotestReport = Client::connect(data)?.post("/autotest")?;
    if json {
        print_json(&report)?;
    } else {
        let rows: Vec<Vec<String>> = report
            .checks
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    if c.passed { "pass" } else { "FAIL" }.into(),
                    format::duration(c.duration_ms),
                    c.reason.clone(),
                ]
            })
            .collect();
        emit(&format::table(
            &["CHECK", "RESULT", "DURATION", "REASON"],
            &rows,
        ));
    }
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    if failed > 0 {
        return Err(CliError::new(
            Code::AutotestFailed,
            format!(
                "autotest failed: {failed} of {} checks",
                report.checks.len()
            ),
        ));
    }
    if !json {
        println!("autotest passed: {} checks", report.checks.len());
    }
    Ok(())
}

pub fn task_list(data: &DataDir, json: bool) -> CliResult {
    let tasks: Vec<qcity_types::TaskInfo> = Client::connect(data)?.get("/tasks")?;
    if json {
        return print_json(&tasks);
    }
    let rows: Vec<Vec<String>> = tasks
        .into_iter()
        .map(|t| {
            vec![
                t.name,
                t.schedule.unwrap_or_else(|| "on demand".into()),
                if t.autotest { "yes" } else { "no" }.into(),
                if t.running { "running" } else { "idle" }.into(),
            ]
        })
        .collect();
    emit(&format::table(
        &["NAME", "SCHEDULE", "AUTOTEST", "NOW"],
        &rows,
    ));
    Ok(())
}

pub fn task_run(data: &DataDir, name: &str) -> CliResult {
    use qcity_types::RunOutcome;
    let outcome: RunOutcome =
        Client::connect(data)?.post(&format!("/tasks/{}/run", encode(name)))?;
    match outcome {
        RunOutcome::Finished { success, runs } => {
            for r in &runs {
                let result = match (&r.error, r.code, r.signal) {
                    (Some(e), _, _) => e.clone(),
                    (None, Some(c), _) => format!("exit {c}"),
                    (None, None, Some(s)) => format!("signal {s}"),
                    _ => "unknown".into(),
                };
                println!(
                    "{name}: attempt {}/{}: {result} in {}",
                    r.attempt,
                    r.attempts,
                    format::duration(r.duration_ms)
                );
            }
            if let Some(last) = runs.last().filter(|_| !success) {
                let tail: Vec<&str> = last.output_tail.lines().rev().take(10).collect();
                for line in tail.into_iter().rev() {
                    eprintln!("  | {line}");
                }
                return Err(CliError::error(format!("task `{name}` failed")));
            }
            Ok(())
        }
        RunOutcome::AlreadyRunning => Err(CliError::error(format!(
            "task `{name}` is already running; not started twice"
        ))),
        RunOutcome::MissingRequirement { program } => Err(CliError::error(format!(
            "task `{name}` requires `{program}`, which is not on PATH"
        ))),
    }
}

pub fn qi_list(data: &DataDir, json: bool) -> CliResult {
    let v: qcity_api::qi::QiView = Client::connect(data)?.get("/qi")?;
    if json {
        return print_json(&v);
    }
    let d = &v.device;
    println!(
        "device: {} ({}), {}, {}, package managers: {}, {}",
        d.os_name,
        d.os_version,
        d.arch
            .map_or("unknown CPU".into(), |a| format!("{a:?}").to_lowercase()),
        d.libc.map_or("no libc".into(), |l| match l.version {
            Some((a, b)) => format!("{:?} {a}.{b}", l.kind).to_lowercase(),
            None => format!("{:?}", l.kind).to_lowercase(),
        }),
        if d.package_managers.is_empty() {
            "none".into()
        } else {
            d.package_managers.join(", ")
        },
        if d.desktop { "desktop" } else { "headless" },
    );
    match (&v.app, &v.version) {
        (Some(app), Some(version)) => println!("release: {app} {version}"),
        _ => println!("release: none"),
    }
    if let Some(e) = &v.manifest_error {
        println!("manifest: {e}");
    }
    if v.gate.open {
        println!("install: allowed");
    } else {
        println!("install: blocked");
        for r in &v.gate.reasons {
            println!("  - {r}");
        }
    }
    let rows: Vec<Vec<String>> = v
        .options
        .iter()
        .map(|o| {
            vec![
                o.asset.to_string(),
                format!("{:?}/{:?}", o.os, o.arch).to_lowercase(),
                o.format.as_str().to_string(),
                if o.fits { "yes" } else { "no" }.to_string(),
                o.reasons.join("; "),
            ]
        })
        .collect();
    if !rows.is_empty() {
        println!();
        emit(&format::table(
            &["#", "BUILD", "FORMAT", "FITS", "WHY"],
            &rows,
        ));
    }
    for f in &v.features {
        println!(
            "feature {}{}: {} ({} bytes)",
            f.name,
            if f.default { " (default)" } else { "" },
            f.description,
            f.size
        );
    }
    Ok(())
}

pub fn qi_install(
    data: &DataDir,
    asset: Option<usize>,
    add: &[String],
    without: &[String],
) -> CliResult {
    let client = Client::connect(data)?;
    let asset = match asset {
        Some(a) => a,
        None => {
            let v: qcity_api::qi::QiView = client.get("/qi")?;
            match v.options.iter().find(|o| o.fits) {
                Some(o) => o.asset,
                None => {
                    return Err(CliError::error(v.manifest_error.unwrap_or_else(|| {
                        "no build of the release fits this device".into()
                    })));
                }
            }
        }
    };
    let body = qcity_api::qi::InstallRequest {
        asset,
        features: None,
        add: add.to_vec(),
        without: without.to_vec(),
    };
    let body = serde_json::to_value(&body).expect("a plain struct");
    let started: serde_json::Value = client.post_json("/qi/install", &body)?;
    let mut after = started["after"].as_u64().unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1800);
    while std::time::Instant::now() < deadline {
        let page: qcity_types::EventPage =
            client.get(&format!("/events?after={after}&type=qi-install&limit=100"))?;
        after = page.next_after;
        for e in page.events {
            let qcity_types::EventKind::QiInstall {
                phase,
                file,
                done,
                total,
                detail,
            } = e.kind
            else {
                continue;
            };
            match phase {
                qcity_types::QiPhase::Downloading => {
                    let pct = (done * 100).checked_div(total).unwrap_or(0);
                    let bar = "#".repeat((pct / 5) as usize);
                    eprint!("\rdownloading {file} [{bar:<20}] {pct:>3}% ({done}/{total} bytes)");
                    if done == total {
                        eprintln!();
                    }
                }
                qcity_types::QiPhase::Verifying => {
                    eprintln!("verifying {file}: size, SHA-256, signature")
                }
                qcity_types::QiPhase::Installing => eprintln!("installing {file}"),
                qcity_types::QiPhase::Installed => {
                    println!("{detail}");
                    return Ok(());
                }
                qcity_types::QiPhase::Failed => {
                    eprintln!();
                    return Err(CliError::error(detail));
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Err(CliError::error(
        "the install did not finish within 30 minutes",
    ))
}

pub fn user_passwd(data: &DataDir, name: &str) -> CliResult {
    let client = Client::connect(data)?;
    let users: Vec<UserInfo> = client.get("/users")?;
    let role = match users.iter().find(|u| u.name == name) {
        Some(u) => u.role,
        None if name == "master" => Role::Master,
        None => {
            return Err(CliError::error(format!(
                "no user named `{name}`: create it with `qcity user add {name}`"
            )));
        }
    };
    save_user(&client, name, role)
}

pub fn user_add(data: &DataDir, name: &str, role: &str) -> CliResult {
    let client = Client::connect(data)?;
    let role = Role::parse(role).ok_or_else(|| CliError::error("the role is master or viewer"))?;
    let users: Vec<UserInfo> = client.get("/users")?;
    if users.iter().any(|u| u.name == name) {
        return Err(CliError::error(format!(
            "`{name}` exists already: `qcity user passwd {name}` sets its password"
        )));
    }
    save_user(&client, name, role)
}

fn save_user(client: &Client, name: &str, role: Role) -> CliResult {
    let password = crate::password::read_new(&format!("new password for {name}"))?;
    let body = serde_json::json!({"role": role, "password": password});
    let saved: UserInfo = client.put_json(&format!("/users/{}", encode(name)), &body)?;
    println!(
        "{}: {} (its sessions ended)",
        saved.name,
        saved.role.as_str()
    );
    Ok(())
}

pub fn user_remove(data: &DataDir, name: &str) -> CliResult {
    Client::connect(data)?.delete(&format!("/users/{}", encode(name)))?;
    println!("{name}: removed");
    Ok(())
}

pub fn user_list(data: &DataDir, json: bool) -> CliResult {
    let users: Vec<UserInfo> = Client::connect(data)?.get("/users")?;
    if json {
        return print_json(&users);
    }
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.name.clone(),
                u.role.as_str().to_string(),
                format::ago(u.created_ms),
            ]
        })
        .collect();
    emit(&format::table(&["NAME", "ROLE", "CREATED"], &rows));
    Ok(())
}

/// The job-started hook. What it prints goes to the job's log ("Set up runner" step).
pub fn hook_job_started(data: &DataDir, name: &str) -> CliResult {
    let asked = Client::connect(data).and_then(|client| {
        let runner: RunnerStatus = client.get(&format!("/runners/{}", encode(name)))?;
        let machine: MachineStatus = client.get("/machine")?;
        Ok((runner, machine))
    });
    let (runner, machine) = match asked.map_err(CliError::from) {
        Ok(answers) => answers,
        Err(e) if e.code == Code::UnknownRunner => return Err(e),
        Err(e) => {
            // QCity being down is no reason to fail everybody's jobs.
            println!("QCity: cannot check this machine's health ({e}); the job runs unchecked");
            return Ok(());
        }
    };
    let mut problems = Vec::new();
    if machine.health == Some(Health::Unhealthy) {
        problems.push(format!("this machine: {}", format::machine(&machine)));
    }
    if runner.health == Some(Health::Unhealthy) {
        problems.push(format!("runner {name}: {}", format::health(&runner)));
    }
    if problems.is_empty() {
        println!(
            "QCity: runner {name}: {}; machine: {}",
            format::health(&runner),
            format::machine(&machine)
        );
        return Ok(());
    }
    Err(CliError::error(format!(
        "QCity refuses this job: {}. Fix that on the runner's machine (`qcity status` shows \
         every check), or remove `job_started_hook` from the runner to run jobs anyway.",
        problems.join("; ")
    )))
}

pub fn reload(data: &DataDir) -> CliResult {
    let r: ApplyReport = Client::connect(data)?.post("/reload")?;
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    println!(
        "reloaded: added {}; removed {}; changed {}; {} unchanged",
        list(&r.added),
        list(&r.removed),
        list(&r.changed),
        r.unchanged
    );
    Ok(())
}

pub fn config_check(dir: &std::path::Path) -> CliResult {
    let config = qcity_daemon::load_config(dir)?;
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "{}: OK ({} runner(s))",
        dir.display(),
        config.manifest.runners.len()
    );
    Ok(())
}

/// The audit log is read straight from the SQLite file: verifying must not depend on the
/// daemon that wrote it.
fn open_store(data: &DataDir) -> CliResult<Store> {
    let db = data.db();
    if !db.exists() {
        return Err(CliError::error(format!(
            "no QCity data at {} (has `qcity up` run with this data dir?)",
            data.root().display()
        )));
    }
    Store::open(&db).map_err(|e| CliError::error(format!("{}: {e}", db.display())))
}

pub fn audit_verify(data: &DataDir, json: bool) -> CliResult {
    let store = open_store(data)?;
    let report = store
        .audit_verify()
        .map_err(|e| CliError::error(e.to_string()))?;
    if json {
        print_json(&qcity_types::AuditVerdict::from(report.clone()))?;
    }
    match report {
        AuditReport::Ok { rows } => {
            if !json {
                println!("audit log OK: {rows} rows, hash chain intact");
            }
            Ok(())
        }
        AuditReport::Broken { seq, reason } => Err(CliError::new(
            Code::AuditBroken,
            format!("audit log BROKEN at row {seq}: {reason}"),
        )),
    }
}

pub fn audit_tail(data: &DataDir, n: usize, json: bool) -> CliResult {
    let store = open_store(data)?;
    let rows: Vec<AuditEntry> = store
        .audit_tail(n)
        .map_err(|e| CliError::error(e.to_string()))?;
    if json {
        // The row's detail is JSON text in the store (it is hashed as text); here it is
        // the JSON value it holds, not a string to parse a second time.
        let rows: Vec<serde_json::Value> = rows
            .into_iter()
            .map(|r| {
                let detail = serde_json::from_str(&r.detail)
                    .unwrap_or_else(|_| serde_json::Value::String(r.detail.clone()));
                let mut v = serde_json::to_value(&r).unwrap_or_default();
                v["detail"] = detail;
                v
            })
            .collect();
        return print_json(&rows);
    }
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| {
            vec![
                r.seq.to_string(),
                format::utc(r.ts_ms),
                r.actor,
                r.action,
                r.target,
                r.detail,
            ]
        })
        .collect();
    emit(&format::table(
        &["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "DETAIL"],
        &rows,
    ));
    Ok(())
}

pub fn heal_plan(data: &DataDir, runner: &str, json: bool) -> CliResult {
    let plan: qcity_types::HealPlan =
        Client::connect(data)?.get(&format!("/runners/{runner}/heal-plan"))?;
    if json {
        return print_json(&plan);
    }
    let mut out = format!("{}: {}\n", plan.runner, plan.summary);
    if let Some(sig) = &plan.signature {
        out.push_str(&format!("signature: {sig}\n"));
    }
    if let Some(c) = plan.category {
        out.push_str(&format!(
            "diagnosis: {c} (confidence {:.2})\n",
            plan.confidence
        ));
    }
    let lines = if plan.evidence.is_empty() {
        &plan.lines
    } else {
        &plan.evidence
    };
    for l in lines {
        out.push_str(&format!("  | {l}\n"));
    }
    if !plan.fixes.is_empty() {
        let rows: Vec<Vec<String>> = plan
            .fixes
            .iter()
            .enumerate()
            .map(|(i, f)| {
                vec![
                    (i + 1).to_string(),
                    f.rule.clone(),
                    format!("{}/{}", f.successes, f.attempts),
                    format!("{:.2}", f.score),
                    f.actions.join(", then "),
                ]
            })
            .collect();
        out.push_str(&format::table(
            &["#", "FIX", "WORKED", "SCORE", "ACTIONS"],
            &rows,
        ));
    }
    for c in &plan.cannot {
        out.push_str(&format!("cannot act: {c}\n"));
    }
    out.push_str(&format!("would: {}\n", plan.would));
    emit(&out);
    Ok(())
}

pub fn signatures(data: &DataDir, limit: usize, json: bool) -> CliResult {
    let sigs: Vec<qcity_types::SignatureView> =
        Client::connect(data)?.get(&format!("/signatures?limit={limit}"))?;
    if json {
        return print_json(&sigs);
    }
    let rows: Vec<Vec<String>> = sigs
        .into_iter()
        .map(|s| {
            let what = [s.exit.clone(), s.probe.clone()]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(", probe ");
            vec![
                s.key,
                s.runner,
                s.count.to_string(),
                format::utc(s.last_ms),
                what,
                s.templates.last().cloned().unwrap_or_default(),
                s.fixes
                    .iter()
                    .map(|f| format!("{} {}/{}", f.rule, f.successes, f.attempts))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    emit(&format::table(
        &[
            "SIGNATURE",
            "RUNNER",
            "SEEN",
            "LAST",
            "FAILURE",
            "TEMPLATE",
            "FIXES",
        ],
        &rows,
    ));
    Ok(())
}

pub(crate) fn print_json<T: serde::Serialize>(v: &T) -> CliResult {
    let text = serde_json::to_string_pretty(v).map_err(|e| CliError::error(e.to_string()))?;
    emit(&(text + "\n"));
    Ok(())
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
pub(crate) fn emit(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Percent-encodes a runner name for a URL path segment.
pub(crate) fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
