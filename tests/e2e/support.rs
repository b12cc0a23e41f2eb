use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const QCITY: &str = env!("CARGO_BIN_EXE_qcity");

/// A `qcity up` daemon on its own config and data dirs, API on an ephemeral loopback port.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    /// Extra environment of the daemon process.
    pub env: Vec<(String, String)>,
    /// The daemon's open-files limit (soft and hard), when not the test's own.
    pub open_files: Option<u64>,
}

impl Daemon {
    /// Writes `manifest` and a device config (port 0), then starts the daemon.
    pub fn start(manifest: &str) -> Daemon {
        Daemon::start_with_open_files(manifest, None)
    }

    /// As [`Daemon::start`], the daemon limited to `open_files` descriptors (`ulimit -n`).
    pub fn start_with_open_files(manifest: &str, open_files: Option<u64>) -> Daemon {
        let mut d = Daemon::new(manifest);
        d.open_files = open_files;
        d.spawn();
        d
    }

    /// Its config and data dirs, not started yet ([`Daemon::spawn`] starts it).
    pub fn new(manifest: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("config");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(conf.join("runner_manifest.json"), manifest).unwrap();
        std::fs::write(
            conf.join("qcity-device-config.json"),
            r#"{"api": {"port": 0}, "supervisor": {"stop_grace_ms": 3000}, "platforms": {"enabled": false}}"#,
        )
        .unwrap();
        Daemon {
            dir,
            child: None,
            env: Vec::new(),
            open_files: None,
        }
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts `qcity up` and waits until it has written its daemon.json.
    pub fn spawn(&mut self) {
        let mut cmd = Command::new(QCITY);
        if let Some(n) = self.open_files {
            use std::os::unix::process::CommandExt;
            let lim = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            // SAFETY: setrlimit is async-signal-safe; `lim` is copied into the closure.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = self
            .up_args(&mut cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.child = Some(child);
        wait_until("daemon.json of the new daemon", || {
            let info: Value =
                serde_json::from_slice(&std::fs::read(self.data().join("daemon.json")).ok()?)
                    .ok()?;
            (info["pid"] == pid).then_some(())
        });
    }

    /// `qcity up` on this daemon's config and data dirs, with its environment: what a
    /// service manager would start again (run it with `.status()`, `.output()`…).
    pub fn up_command(&self) -> Command {
        let mut cmd = Command::new(QCITY);
        self.up_args(&mut cmd);
        cmd
    }

    fn up_args<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.args(["up", "--config"])
            .arg(self.conf())
            .arg("--data-dir")
            .arg(self.data())
            .env("QCITY_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// `POST` on the API with the master token: the status and the answer (JSON, or null).
    pub fn post(&self, path: &str) -> (u16, Value) {
        let mut resp = agent()
            .post(format!("{}{path}", self.api_base()))
            .header("Authorization", format!("Bearer {}", self.token()))
            .send_empty()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or(Value::Null))
    }

    /// `GET /metrics` with the master token, as text.
    pub fn metrics(&self) -> String {
        agent()
            .get(format!(
                "{}/metrics",
                self.api_base().trim_end_matches("/api/v1")
            ))
            .header("Authorization", format!("Bearer {}", self.token()))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Runs the CLI against this daemon's data dir.
    pub fn qcity(&self, args: &[&str]) -> Output {
        self.qcity_command(args).output().unwrap()
    }

    /// The CLI command against this daemon's data dir, to run in the background.
    pub fn qcity_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(QCITY);
        cmd.args(args)
            .arg("--data-dir")
            .arg(self.data())
            .env("QCITY_LOG", "warn");
        cmd
    }

    /// The runners of `qcity status --json`.
    pub fn status(&self) -> Vec<Value> {
        let out = self.qcity(&["status", "--json"]);
        assert!(out.status.success(), "status failed: {}", text(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        serde_json::from_value(v["runners"].clone()).unwrap()
    }

    pub fn runner(&self, name: &str) -> Value {
        self.status()
            .into_iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no runner {name} in status"))
    }

    /// Waits until `name` is in `state`, returns its status.
    pub fn wait_state(&self, name: &str, state: &str) -> Value {
        wait_until(&format!("{name} to be {state}"), || {
            let r = self.runner(name);
            (r["state"]["state"] == state).then_some(r)
        })
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain syscall on our own child.
        assert_eq!(unsafe { libc::kill(self.pid() as i32, sig) }, 0);
    }

    /// Waits for the daemon process to exit and returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "the daemon did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data().join("token"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// `GET` on the API with the master token: the answer as JSON.
    pub fn get_json(&self, path: &str) -> Value {
        agent()
            .get(format!("{}{path}", self.api_base()))
            .header("Authorization", format!("Bearer {}", self.token()))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    }

    /// The stored events of `kind`, oldest first.
    pub fn events(&self, kind: &str) -> Vec<Value> {
        let page = self.get_json(&format!("/events?after=0&type={kind}&limit=1000"));
        page["events"].as_array().cloned().unwrap_or_default()
    }

    pub fn api_base(&self) -> String {
        let info: Value =
            serde_json::from_slice(&std::fs::read(self.data().join("daemon.json")).unwrap())
                .unwrap();
        format!("http://{}/api/v1", info["addr"].as_str().unwrap())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain syscall on our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

/// The CLI on a data dir and a config dir of its own, no daemon needed.
pub fn qcity_in(args: &[&str], data: &Path, config: &Path) -> Output {
    Command::new(QCITY)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("QCITY_CONFIG_DIR", config)
        .env("QCITY_LOG", "warn")
        .output()
        .unwrap()
}

/// An HTTP client that returns 4xx/5xx answers instead of failing on them.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Polls `f` until it returns Some, for up to 20 s.
pub fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A process that exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Live processes whose environment has `QCITY_RUNNER=name`: every process of that runner,
/// grandchildren included.
pub fn runner_processes(name: &str) -> Vec<u32> {
    processes_with_env(&format!("QCITY_RUNNER={name}"))
}

/// Live processes whose environment has `QCITY_TASK=name`.
pub fn task_processes(name: &str) -> Vec<u32> {
    processes_with_env(&format!("QCITY_TASK={name}"))
}

fn processes_with_env(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) && alive(pid) {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids
}

/// A unique runner name, so parallel tests never see each other's processes.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}
