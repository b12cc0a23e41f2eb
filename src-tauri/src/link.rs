//! The tray's link to the engine: attach to the `qcity up` daemon that serves this user's
//! data dir, or start the same daemon in-process (one engine per data dir either way: the
//! engine's lock file refuses a second one).

use std::path::PathBuf;
use std::sync::Mutex;

use qcity_client::Client;
use qcity_engine::datadir::DataDir;

/// Where the engine is and who runs it.
pub struct Link {
    pub data: DataDir,
    /// `Some` when this process runs the engine: dropping the sender stops it.
    engine: Mutex<Option<InProcess>>,
}

struct InProcess {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// `--data-dir DIR` and `--config DIR`, else `QCITY_DATA_DIR` / `QCITY_CONFIG_DIR`, else the
/// XDG defaults (the sample configuration on first use), as for `qcity up`.
#[derive(Clone)]
pub struct Dirs {
    pub data: PathBuf,
    pub config: Option<PathBuf>,
}

impl Dirs {
    pub fn from_args(args: &[String]) -> Result<Dirs, String> {
        let flag = |name: &str, env: &str| -> Option<PathBuf> {
            args.windows(2)
                .find(|w| w[0] == name)
                .map(|w| PathBuf::from(&w[1]))
                .or_else(|| {
                    std::env::var_os(env)
                        .filter(|v| !v.is_empty())
                        .map(PathBuf::from)
                })
        };
        let data = match flag("--data-dir", "QCITY_DATA_DIR") {
            Some(d) => d,
            None => qcity_daemon::paths::default_data_dir().map_err(|e| e.to_string())?,
        };
        Ok(Dirs {
            data,
            config: flag("--config", "QCITY_CONFIG_DIR"),
        })
    }
}

impl Link {
    /// Attaches to a running daemon, or starts one in-process and waits until it serves.
    pub fn attach_or_start(dirs: &Dirs) -> Result<(Link, &'static str), String> {
        let data = DataDir::new(&dirs.data);
        if let Ok(c) = Client::connect(&data)
            && c.get::<serde_json::Value>("/runners").is_ok()
        {
            tracing::info!(api = c.base(), "attached to the running qcity daemon");
            let link = Link {
                data,
                engine: Mutex::new(None),
            };
            return Ok((link, "attached"));
        }
        let config_dir = qcity_daemon::paths::config_dir_or_sample(dirs.config.clone())
            .map_err(|e| e.to_string())?;
        let config = qcity_daemon::load_config(&config_dir).map_err(|e| e.to_string())?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let data_root = dirs.data.clone();
        let thread = std::thread::Builder::new()
            .name("qcity-engine".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot start the async runtime: {e}")));
                        return;
                    }
                };
                let ready = ready_tx.clone();
                let stop = async move {
                    let _ = stop_rx.await;
                };
                let result = rt.block_on(qcity_daemon::serve_with(config, data_root, stop, |_| {
                    let _ = ready.send(Ok(()));
                }));
                if let Err(e) = result {
                    let _ = ready_tx.send(Err(e.to_string()));
                }
            })
            .map_err(|e| format!("cannot start the engine thread: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("the engine stopped while starting".into()),
        }
        tracing::info!(config = %config_dir.display(), "started the engine in-process");
        let link = Link {
            data,
            engine: Mutex::new(Some(InProcess {
                stop: stop_tx,
                thread,
            })),
        };
        Ok((link, "in-process"))
    }

    /// A client of the engine's API, recorded as the tray in the audit log.
    pub fn client(&self) -> Result<Client, String> {
        Client::connect(&self.data)
            .map(|c| c.with_face("tray"))
            .map_err(|e| e.to_string())
    }

    /// Stops the in-process engine (every runner) and waits for it; an attached daemon is
    /// left running.
    pub fn shutdown(&self) {
        let engine = self.engine.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(e) = engine {
            let _ = e.stop.send(());
            let _ = e.thread.join();
        }
    }
}
