//! The QCity daemon: the engine, the healer, the notifier and the API on loopback, the
//! signals that stop and reload it, and `daemon.json` for clients. `qcity up` runs it
//! ([`run`]); the tray app runs the same daemon in-process ([`serve_with`]) when none is
//! running. Also where the configuration and the data live when no flag says ([`paths`]),
//! and the sample configuration written on first use ([`sample`]).

pub mod backup;
mod backup_schedule;
mod error;
pub mod paths;
mod readiness;
pub mod sample;
pub mod service;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use qcity_api::Token;
use qcity_config::Config;
use qcity_engine::datadir::LockError;
use qcity_engine::{Engine, EngineError, EngineOptions};
use tokio::signal::unix::{SignalKind, signal};

pub use error::DaemonError;
/// `daemon.json`: defined beside the token in `qcity_api`, since clients read it too.
pub use qcity_api::DaemonInfo;

/// Loads the config, or every error in it.
pub fn load_config(dir: &Path) -> Result<Config, DaemonError> {
    qcity_config::load_dir(dir).map_err(|errors| DaemonError::InvalidConfig {
        dir: dir.to_path_buf(),
        errors,
    })
}

/// Only loopback addresses: the API gives full control of the runners to whoever holds the
/// token, and this version has no TLS.
fn listen_addr(config: &Config) -> Result<SocketAddr, DaemonError> {
    let api = &config.device.api;
    let file = || config.dir.join(qcity_config::DEVICE_FILE);
    let ip = if api.host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        api.host
            .parse::<IpAddr>()
            .map_err(|_| DaemonError::HostNotAnIp {
                file: file(),
                host: api.host.clone(),
            })?
    };
    if !ip.is_loopback() {
        return Err(DaemonError::HostNotLoopback { file: file(), ip });
    }
    Ok(SocketAddr::new(ip, api.port))
}

/// How the daemon ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Stopped (a signal, its face, the API server ending).
    Done,
    /// Every runner stopped so that the daemon restarts into `versions/current` (an update
    /// or a rollback): the caller execs it, or exits with [`UPDATE_EXIT_CODE`] for its
    /// service manager to start it.
    Restart { why: String },
}

/// The exit code of a daemon that stopped to restart into another version, for a service
/// manager to start it again (systemd: `RestartForceExitStatus=9`, as the unit
/// `qcity service install` writes has it; launchd restarts any failed exit).
pub const UPDATE_EXIT_CODE: u8 = 9;

/// `qcity up`: the daemon in the foreground on a runtime of its own, until SIGTERM or SIGINT,
/// or until it stops to restart into another version.
pub fn run(config: Config, data_dir: PathBuf) -> Result<Stopped, DaemonError> {
    listen_addr(&config)?;
    limit_malloc_arenas();
    // Two workers: starting 200 runners spreads its spawns over both cores (measured: 0.17 s
    // against 0.21 s on one thread), and idle workers cost nothing. Store writes have threads
    // of their own, so no worker waits on the disk.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    rt.block_on(serve(
        config,
        data_dir,
        std::future::pending(),
        |_| {},
        true,
    ))
}

/// The daemon until `stop` completes (or SIGTERM/SIGINT): the engine, the API on loopback,
/// `daemon.json` for clients.
pub async fn serve_until(
    config: Config,
    data_dir: PathBuf,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), DaemonError> {
    serve_with(config, data_dir, stop, |_| {}).await
}

/// As [`serve_until`], calling `ready` with the API's address once clients can connect.
pub async fn serve_with(
    config: Config,
    data_dir: PathBuf,
    stop: impl std::future::Future<Output = ()>,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), DaemonError> {
    serve(config, data_dir, stop, ready, false)
        .await
        .map(|_| ())
}

/// The daemon; `restartable`: whether it can restart into another version (`qcity up`),
/// which its updater needs.
async fn serve(
    config: Config,
    data_dir: PathBuf,
    stop: impl std::future::Future<Output = ()>,
    ready: impl FnOnce(SocketAddr),
    restartable: bool,
) -> Result<Stopped, DaemonError> {
    let addr = listen_addr(&config)?;
    let listener =
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|error| DaemonError::Listen {
                addr,
                error,
                device_file: config.dir.join(qcity_config::DEVICE_FILE),
            })?;
    let addr = listener.local_addr().map_err(DaemonError::LocalAddr)?;
    // Signals are caught from here on, so a SIGTERM during start-up still stops every runner.
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;

    let config_dir = config.dir.clone();
    for warning in &config.warnings {
        tracing::warn!("config: {warning}");
    }
    let runners = config.manifest.runners.len();
    let mut opts = EngineOptions::new(config, &data_dir);
    // The job-started hook of `github` runners calls the `qcity` binary back: this one, or
    // the one installed next to another face (the tray app).
    opts.hook_program = std::env::current_exe().ok().and_then(|exe| {
        if exe.file_name().is_some_and(|n| n == "qcity") {
            return Some(exe);
        }
        let cli = exe.with_file_name("qcity");
        cli.is_file().then_some(cli)
    });
    let engine = Engine::open(opts).await.map_err(|e| match e {
        EngineError::Lock(LockError::Busy { .. }) => DaemonError::Busy {
            data_dir: data_dir.clone(),
        },
        other => DaemonError::Engine(other),
    })?;
    // The engine's subscribers from this crate, before any runner runs, so they see every
    // runner's first events: the healer (the API shows its plans and signatures) and the
    // notifier (here, not in a face: a headless daemon notifies as the tray does).
    let healer = qcity_healer::start(engine.clone());
    // Chat and mail channels link to the dashboard this daemon serves.
    let remote = match qcity_notify::Remote::open(
        &engine.data_dir().db(),
        &config_dir,
        format!("http://{addr}"),
        Some(engine.bus().clone()),
    ) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::error!("chat and mail notifications are off: cannot open the outbox: {e}");
            None
        }
    };
    let notifier = qcity_notify::start(
        &engine,
        vec![qcity_notify::Route {
            channel: Box::new(qcity_notify::Desktop::new(engine.bus().clone())),
            shown: |c| (&c.device.notifications.desktop).into(),
        }],
        remote.clone(),
    );
    // The status pages of the platforms the runners depend on (off: no request at all).
    let platforms = qcity_status::start(&engine);
    engine.start_runners().await;
    let backups = backup_schedule::spawn(engine.clone());
    return_startup_memory();
    let data = engine.data_dir().clone();
    let token = match Token::load_or_create(&data.token()) {
        Ok(t) => t,
        Err(e) => {
            engine.shutdown("cannot read the token").await;
            return Err(e.into());
        }
    };
    let info = DaemonInfo {
        pid: std::process::id(),
        addr,
        version: qcity_types::version::get().to_string(),
        config_dir: config_dir.clone(),
    };
    if let Err(error) = info.write(&data.daemon_info()) {
        engine.shutdown("cannot write daemon.json").await;
        return Err(DaemonError::DaemonInfo {
            path: data.daemon_info(),
            error,
        });
    }
    let limits = connection_limits(runners);
    let updater = qcity_update::Updater::new(engine.clone(), restartable);
    let mut server = tokio::spawn(qcity_api::serve(
        listener,
        qcity_api::Services {
            engine: engine.clone(),
            healer,
            notify: remote,
            platforms: Some(platforms),
            updater: Some(updater.clone()),
            offload: Some(qcity_offload::Offload::new(engine.clone())),
        },
        token,
        limits,
    ));
    ready(addr);
    // A version just switched to proves itself (or is rolled back); only where the daemon
    // can restart into another one.
    let checking = restartable
        .then(|| qcity_update::after::spawn(updater.clone(), addr))
        .flatten();
    let mut stop = std::pin::pin!(stop);
    tracing::info!(
        runners,
        api = %format!("http://{addr}/api/v1"),
        token = %data.token().display(),
        config = %config_dir.display(),
        data = %data.root().display(),
        "qcity is up"
    );

    readiness::ready(runners);
    let mut dog = readiness::watchdog_period().map(|every| {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    let mut restart = None;
    let reason = loop {
        tokio::select! {
            why = updater.restart_requested(), if restartable => {
                tracing::info!("restarting: {why}");
                // The request that asked for it gets its answer first.
                tokio::time::sleep(Duration::from_millis(200)).await;
                restart = Some(why);
                break "restarting into another version";
            }
            _ = readiness::tick(&mut dog) => {
                readiness::alive();
                continue;
            }
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = &mut stop => break "stopped by its face",
            _ = hup.recv() => match engine.reload("signal:SIGHUP").await {
                Ok(r) => tracing::info!(added = ?r.added, removed = ?r.removed, changed = ?r.changed, "reloaded"),
                Err(e) => tracing::error!("reload refused, the last good configuration keeps running:\n{e}"),
            },
            r = &mut server => {
                let why = match r {
                    Ok(Ok(())) => "it ended".to_string(),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                };
                tracing::error!("the API server stopped: {why}");
                break "API server stopped";
            }
        }
    };
    tracing::info!(reason, "stopping every runner");
    readiness::stopping();
    backups.abort();
    if let Some(c) = checking {
        c.abort();
    }
    engine.shutdown(reason).await;
    // After the engine: the runners' last events are news too. Queued messages get a
    // moment to go out; what is left is sent after the next start.
    notifier.stop(Duration::from_secs(2)).await;
    // Only our own file: a newer daemon may already have replaced it.
    if DaemonInfo::read(&data.daemon_info()).is_some_and(|i| i.pid == std::process::id()) {
        let _ = std::fs::remove_file(data.daemon_info());
    }
    Ok(match restart {
        Some(why) => Stopped::Restart { why },
        None => Stopped::Done,
    })
}

/// The API's share of the open-files limit: what is left after a reserve for the supervisor
/// (a runner holds a pipe and a pidfd, and a restart briefly two more) and the store and
/// runtime (measured: about 20 descriptors for an idle daemon, whatever its runners).
fn connection_limits(runners: usize) -> qcity_api::ConnectionLimits {
    let Some(open_files) = qcity_platform::limits::open_files() else {
        return qcity_api::ConnectionLimits::default();
    };
    let reserve = 128 + 4 * runners as u64;
    let limits = qcity_api::ConnectionLimits::within(open_files, reserve);
    if open_files < reserve + qcity_api::ConnectionLimits::MIN as u64 {
        tracing::warn!(
            open_files,
            runners,
            "the open-files limit (ulimit -n) is too low for this many runners and the API: raise it"
        );
    }
    tracing::debug!(
        open_files,
        reserve,
        max = limits.max,
        "API connections capped"
    );
    limits
}

/// Start-up allocates and frees much (the config's JSON, every runner's first spawn); glibc
/// keeps the freed pages in its heaps. Handing them back once the runners run is what the idle
/// daemon's resident memory is made of otherwise.
fn return_startup_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free memory to the system; callable from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// glibc gives each thread that meets contention an arena of its own; the daemon's threads
/// allocate little, and two arenas keep its idle memory about 0.5 MiB lower with 200 runners
/// (`bench/README.md`). A fixed mmap threshold keeps glibc from raising it after each large
/// free, which made every Argon2id hash's 19 MiB land in (and stay in) the heap: large blocks
/// are mapped and unmapped, so memory goes back as soon as a hash is done. Call it before the
/// process starts a second thread.
pub fn limit_malloc_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
