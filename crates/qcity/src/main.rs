//! `qcity`: the daemon (`qcity up`) and the CLI that talks to it. A thin face over the daemon
//! (`qcity-daemon`) and the API's client (`qcity-client`); anyhow and process exit codes live
//! only here.

mod ansi;
mod backup;
mod build;
mod commands;
mod completions;
mod exit;
mod fleet;
mod format;
mod job;
mod logfile;
mod notify;
mod password;
mod platforms;
mod secret;
mod service;
mod update;

use qcity_daemon::paths;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use qcity_engine::datadir::DataDir;

use crate::exit::CliResult;

const EXIT_CODES: &str = "Exit codes: 0 ok, 1 error, 2 usage, 3 no daemon running, \
4 unknown runner or task, 5 invalid config, 6 audit chain broken, 7 autotest failed, \
8 another daemon holds the data dir, 9 (`qcity up` as a service) stopped to restart into \
another version.";

/// Keeps self-hosted CI runners and automation alive: supervises them, restarts them with
/// backoff, records every event, and proves the audit log was not edited.
#[derive(Debug, Parser)]
#[command(name = "qcity", version = VERSION, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    /// Data directory: SQLite store, runner logs, token, daemon.json
    /// [default: $XDG_DATA_HOME/qcity or ~/.local/share/qcity]
    #[arg(long, global = true, env = "QCITY_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine in the foreground: start every runner and serve the local API.
    /// SIGTERM or Ctrl-C stops it and every runner; SIGHUP reloads the config.
    #[command(after_help = EXIT_CODES)]
    Up {
        /// Config directory with runner_manifest.json [default: $XDG_CONFIG_HOME/qcity or
        /// ~/.config/qcity, created from the sample config on first run]
        #[arg(long, env = "QCITY_CONFIG_DIR", value_name = "DIR")]
        config: Option<PathBuf>,
    },
    /// Show every runner: state, pid, CPU, memory, uptime, restarts, health, last exit.
    #[command(after_help = EXIT_CODES)]
    Status {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Start a stopped runner.
    #[command(after_help = EXIT_CODES)]
    Start {
        /// The runner's name, as in the manifest (`qcity status` lists them)
        name: String,
    },
    /// Stop a runner: SIGTERM to its process group, SIGKILL after the grace period.
    #[command(after_help = EXIT_CODES)]
    Stop {
        /// The runner's name, as in the manifest (`qcity status` lists them)
        name: String,
    },
    /// Stop a runner, then start it again.
    #[command(after_help = EXIT_CODES)]
    Restart {
        /// The runner's name, as in the manifest (`qcity status` lists them)
        name: String,
    },
    /// Pause runners (drain): a GitHub runner in a job finishes it first, then stops; a paused
    /// runner is not restarted until resumed.
    #[command(after_help = EXIT_CODES)]
    Pause(Targets),
    /// Resume paused runners.
    #[command(after_help = EXIT_CODES)]
    Resume(Targets),
    /// Print a runner's latest output (stdout and stderr), or follow it live.
    #[command(after_help = EXIT_CODES)]
    Logs {
        /// The runner's name, as in the manifest (`qcity status` lists them)
        name: String,
        /// How many of the newest lines to print
        #[arg(short = 'n', long = "lines", default_value_t = 50, value_name = "N")]
        lines: usize,
        /// Keep printing new output until interrupted
        #[arg(short, long)]
        follow: bool,
    },
    /// Re-read the config directory: added runners start, removed ones stop, changed ones
    /// restart; a bad config is refused and the last good one keeps running.
    #[command(after_help = EXIT_CODES)]
    Reload,
    /// Check that this machine is fit to run work: every probe once, the machine's resources,
    /// then every task marked `autotest`. Exits 0 only if all pass.
    #[command(after_help = EXIT_CODES)]
    Autotest {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Jobs: commands with inputs and artifacts, run here or offloaded to an SSH host or a
    /// GitHub Actions workflow (`jobs` in the manifest, targets in qmoi_cloud_config.json).
    Job {
        #[command(subcommand)]
        command: job::JobCommand,
    },
    /// The fleet: QCity machines sharing jobs over NATS JetStream (`fleet` in
    /// qmoi_cloud_config.json).
    Fleet {
        #[command(subcommand)]
        command: fleet::FleetCommand,
    },
    /// List or run tasks.
    Task {
        #[command(subcommand)]
        command: TaskCommand,
    },
    /// Work with the configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Check or show the hash-chained audit log (read from the data dir; no daemon needed).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// What the healer would do about a runner now, touching nothing: the failure's
    /// signature, the lines that explain it, and the fixes that fit in the order they would be
    /// tried. (The healer itself acts on failures as they happen; `healer.dry_run` in the
    /// device config makes it only say what it would do.)
    #[command(after_help = EXIT_CODES)]
    Heal {
        /// The runner
        runner: String,
        /// Accepted for older scripts: the plan is all this shows (the healer acts by
        /// itself, not on command)
        #[arg(long, hide = true)]
        dry_run: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// The most frequent failure signatures the healer has seen, with the fixes tried.
    #[command(after_help = EXIT_CODES)]
    Signatures {
        /// How many
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// The QI app's installer picker.
    Qi {
        #[command(subcommand)]
        command: QiCommand,
    },
    /// Dashboard users: the master's password and viewers.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The status pages of GitHub, GitLab, the clouds… as the daemon last read them.
    #[command(after_help = EXIT_CODES)]
    Platforms {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Chat, mail and webhook notification channels: list them, send a test message.
    #[command(after_help = EXIT_CODES)]
    Notify {
        #[command(subcommand)]
        command: notify::NotifyCommand,
    },
    /// QCity's own releases: whether the release manifest offers a newer version, and the
    /// versions kept under the data dir.
    Update {
        #[command(subcommand)]
        command: update::UpdateCommand,
    },
    /// Print a shell completion script: `source <(qcity completions bash)` (bash also
    /// completes runner names), `qcity completions zsh > ~/.zfunc/_qcity`,
    /// `qcity completions fish > ~/.config/fish/completions/qcity.fish`.
    #[command(after_help = EXIT_CODES)]
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `qcity manpage | man -l -`; with `--dir DIR`, write it and
    /// a page per command there (`--dir ~/.local/share/man/man1`).
    #[command(after_help = EXIT_CODES)]
    Manpage {
        /// Write every page into this directory instead
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// The runners' names, one per line, for completion scripts.
    #[command(name = "__runner-names", hide = true)]
    RunnerNames,
    /// Secrets the config names as `keyring://NAME`, kept in the OS keyring, not in a file.
    Secret {
        #[command(subcommand)]
        command: secret::SecretCommand,
    },
    /// Back up the store and the config dir into one archive with SHA-256 sums (while the
    /// daemon runs: the store is copied in one read transaction).
    #[command(after_help = EXIT_CODES)]
    Backup {
        /// Where the archive goes [default: DATA_DIR/backups]
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// Config directory [default: $XDG_CONFIG_HOME/qcity or ~/.config/qcity]
        #[arg(long, env = "QCITY_CONFIG_DIR", value_name = "DIR")]
        config: Option<PathBuf>,
    },
    /// Restore an archive of `qcity backup`: checks every sum, the store and its audit chain
    /// first; stops the daemon on this data dir; keeps what it replaces in DATA_DIR/aside.
    #[command(after_help = EXIT_CODES)]
    Restore {
        /// The archive `qcity backup` wrote (`qcity-backup-STAMP.tar`)
        archive: PathBuf,
        /// Config directory [default: $XDG_CONFIG_HOME/qcity or ~/.config/qcity]
        #[arg(long, env = "QCITY_CONFIG_DIR", value_name = "DIR")]
        config: Option<PathBuf>,
    },
    /// The build driver: projects found by their build markers (Cargo, npm/pnpm/yarn, Python,
    /// Go, Maven, Gradle, CMake, .NET, Make), their plans, and builds.
    Build {
        #[command(subcommand)]
        command: BuildCommand,
    },
    /// Run `qcity up` as a service of your session (a systemd user unit on Linux): started at
    /// login (at boot with `loginctl enable-linger`), restarted when it fails or its watchdog
    /// pings stop.
    Service {
        #[command(subcommand)]
        command: ServiceCommand,
    },
    /// Commands that runners call (QCity installs them as the runners' hooks).
    Hook {
        #[command(subcommand)]
        command: HookCommand,
    },
}

#[derive(Debug, Subcommand)]
enum QiCommand {
    /// This device, the newest release's assets ranked for it with the reasons, its
    /// features, and whether installing is allowed now (and why not).
    #[command(after_help = EXIT_CODES)]
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Download, verify and install the best build for this device (or `--asset N` from
    /// `qi list`), with the release's default features and the ones named; shows the
    /// progress. Refused while the picker's gate is closed.
    #[command(after_help = EXIT_CODES)]
    Install {
        /// The build's number in `qcity qi list`
        #[arg(long)]
        asset: Option<usize>,
        /// An optional feature to add to the defaults (repeatable)
        #[arg(long = "feature", value_name = "NAME")]
        features: Vec<String>,
        /// A default feature to leave out (repeatable)
        #[arg(long = "no-feature", value_name = "NAME")]
        without: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Set a user's password (default user `master`, who has the master role). Reads the new
    /// password twice from the terminal without echo, or once from standard input.
    #[command(after_help = EXIT_CODES)]
    Passwd {
        /// The user
        #[arg(default_value = "master")]
        name: String,
    },
    /// Create a user (a viewer unless `--role master`); the password as for `passwd`.
    #[command(after_help = EXIT_CODES)]
    Add {
        /// The new user's name
        name: String,
        /// master or viewer
        #[arg(long, default_value = "viewer", value_parser = ["master", "viewer"])]
        role: String,
    },
    /// Remove a user and end its sessions.
    #[command(after_help = EXIT_CODES)]
    Remove {
        /// The user's name
        name: String,
    },
    /// Every user and role.
    #[command(after_help = EXIT_CODES)]
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BuildCommand {
    /// Find the projects under DIR and print each one's plan: toolchain, install, build and
    /// test commands, and which marker chose them.
    #[command(after_help = EXIT_CODES)]
    Scan {
        /// Where to look [default: .]
        dir: Option<PathBuf>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// A dry run of every plan under DIR, or with `--apply` the builds for real: one project
    /// at a time under its lock, failed steps retried with backoff, each artifact's SHA-256
    /// appended to DATA_DIR/reports/builds.json. Exits 1 if a build failed.
    #[command(after_help = EXIT_CODES)]
    Run {
        /// Where to look [default: .]
        dir: Option<PathBuf>,
        /// Build for real (without it, only what would run is printed)
        #[arg(long)]
        apply: bool,
        /// Attempts after the first for a failing step
        #[arg(long, default_value_t = 2)]
        retries: u32,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Write the unit for this binary, config dir and data dir, then enable and start it.
    #[command(after_help = EXIT_CODES)]
    Install {
        /// A user service (a systemd user unit; the only kind built so far)
        #[arg(long)]
        user: bool,
        /// Print the unit and the commands; write and run nothing
        #[arg(long)]
        dry_run: bool,
        /// Config directory [default: $XDG_CONFIG_HOME/qcity or ~/.config/qcity]
        #[arg(long, env = "QCITY_CONFIG_DIR", value_name = "DIR")]
        config: Option<PathBuf>,
    },
    /// Stop and disable the service and remove its unit.
    #[command(after_help = EXIT_CODES)]
    Uninstall {
        /// The user service
        #[arg(long)]
        user: bool,
        /// Print the commands; run nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Whether the unit is installed, enabled and running, and whether it outlives logout.
    #[command(after_help = EXIT_CODES)]
    Status {
        /// The user service
        #[arg(long)]
        user: bool,
    },
}

#[derive(Debug, Subcommand)]
enum HookCommand {
    /// A GitHub runner's job-started hook: exits 1, failing the job with the reason, while
    /// the runner or this machine is unhealthy. Without a daemon it lets the job run (exit 0)
    /// and says so.
    JobStarted {
        /// The runner
        name: String,
    },
}

/// One runner, or all of them.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct Targets {
    /// The runner
    name: Option<String>,
    /// Every runner
    #[arg(long)]
    all: bool,
}

#[derive(Debug, Subcommand)]
enum TaskCommand {
    /// Every task: schedule, autotest flag, whether it runs now.
    #[command(after_help = EXIT_CODES)]
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Run a task now (with its retries) and wait for it; exits 1 if it failed.
    #[command(after_help = EXIT_CODES)]
    Run {
        /// The task's name, as in the manifest (`qcity task list` lists them)
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the config files and print every error as file:line:column: path: message.
    #[command(after_help = EXIT_CODES)]
    Check {
        /// Config directory [default: $XDG_CONFIG_HOME/qcity or ~/.config/qcity]
        #[arg(long, env = "QCITY_CONFIG_DIR", value_name = "DIR")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain: OK with the row count, or the first row where it breaks (exit 6).
    #[command(after_help = EXIT_CODES)]
    Verify {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Print the newest audit rows.
    #[command(after_help = EXIT_CODES)]
    Tail {
        /// How many rows
        #[arg(short = 'n', long = "rows", default_value_t = 20, value_name = "N")]
        rows: usize,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

/// This build's version, as `qcity --version` prints it. A build may set
/// `QCITY_BUILD_VERSION` (the release pipeline, a test's newer build); otherwise the crate's.
/// Only this crate reads it, so such a build recompiles only this crate.
const VERSION: &str = match option_env!("QCITY_BUILD_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

fn main() -> ExitCode {
    qcity_types::version::set(VERSION);
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qcity: {e}");
            e.exit_code()
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("QCITY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// `--config DIR`, else the default config dir (not created: only `qcity up` writes the sample).
fn config_dir(explicit: &Option<PathBuf>) -> CliResult<PathBuf> {
    match explicit {
        Some(d) => Ok(d.clone()),
        None => Ok(paths::default_config_dir()?),
    }
}

fn run(cli: Cli) -> CliResult {
    let data = || -> CliResult<DataDir> {
        match &cli.data_dir {
            Some(d) => Ok(DataDir::new(d)),
            None => Ok(paths::default_data_dir().map(DataDir::new)?),
        }
    };
    match &cli.command {
        Command::Up { config } => {
            let dir = paths::config_dir_or_sample(config.clone())?;
            let config = qcity_daemon::load_config(&dir);
            let data = data()?;
            // A kept version may be the one to run (an update), before anything starts.
            let tries = config
                .as_ref()
                .ok()
                .and_then(|c| c.device.update.as_ref())
                .map_or(qcity_config::UpdateSettings::MAX_START_TRIES, |u| {
                    u.max_start_tries
                });
            update::boot(data.root(), tries);
            match qcity_daemon::run(config?, data.root().to_path_buf())? {
                qcity_daemon::Stopped::Done => Ok(()),
                qcity_daemon::Stopped::Restart { why } => update::restart(data.root(), &why, tries),
            }
        }
        Command::Status { json } => commands::status(&data()?, *json),
        Command::Start { name } => commands::control(&data()?, "start", name),
        Command::Stop { name } => commands::control(&data()?, "stop", name),
        Command::Restart { name } => commands::control(&data()?, "restart", name),
        Command::Pause(t) => commands::control_many(&data()?, "pause", t.name.as_deref()),
        Command::Resume(t) => commands::control_many(&data()?, "resume", t.name.as_deref()),
        Command::Logs {
            name,
            lines,
            follow,
        } => commands::logs(&data()?, name, *lines, *follow),
        Command::Reload => commands::reload(&data()?),
        Command::Autotest { json } => commands::autotest(&data()?, *json),
        Command::Job { command } => job::dispatch(&data()?, command),
        Command::Fleet { command } => fleet::dispatch(&data()?, command),
        Command::Task { command } => match command {
            TaskCommand::List { json } => commands::task_list(&data()?, *json),
            TaskCommand::Run { name } => commands::task_run(&data()?, name),
        },
        Command::Config {
            command: ConfigCommand::Check { config },
        } => {
            let dir = config_dir(config)?;
            commands::config_check(&dir)
        }
        Command::Audit { command } => match command {
            AuditCommand::Verify { json } => commands::audit_verify(&data()?, *json),
            AuditCommand::Tail { rows, json } => commands::audit_tail(&data()?, *rows, *json),
        },
        Command::Heal { runner, json, .. } => commands::heal_plan(&data()?, runner, *json),
        Command::Signatures { limit, json } => commands::signatures(&data()?, *limit, *json),
        Command::Qi { command } => match command {
            QiCommand::List { json } => commands::qi_list(&data()?, *json),
            QiCommand::Install {
                asset,
                features,
                without,
            } => commands::qi_install(&data()?, *asset, features, without),
        },
        Command::User { command } => match command {
            UserCommand::Passwd { name } => commands::user_passwd(&data()?, name),
            UserCommand::Add { name, role } => commands::user_add(&data()?, name, role),
            UserCommand::Remove { name } => commands::user_remove(&data()?, name),
            UserCommand::List { json } => commands::user_list(&data()?, *json),
        },
        Command::Notify { command } => notify::run(&data()?, command),
        Command::Platforms { json } => platforms::run(&data()?, *json),
        Command::Secret { command } => secret::run(command),
        Command::Completions { shell } => completions::print(*shell),
        Command::Manpage { dir } => completions::manpage(dir.as_deref()),
        Command::RunnerNames => {
            let config = paths::default_config_dir().ok();
            completions::runner_names(&data()?, config.as_deref())
        }
        Command::Update { command } => match command {
            update::UpdateCommand::Check { config, json } => {
                update::check(&config_dir(config)?, &data()?, *json)
            }
            update::UpdateCommand::Download { config } => {
                update::download(&config_dir(config)?, &data()?)
            }
            update::UpdateCommand::Status { json } => update::status(&data()?, *json),
            update::UpdateCommand::Apply { no_wait, json } => {
                update::apply(&data()?, "/update/apply", *no_wait, *json)
            }
            update::UpdateCommand::Rollback { no_wait, json } => {
                update::apply(&data()?, "/update/rollback", *no_wait, *json)
            }
        },
        Command::Backup { to, config } => {
            let config = config_dir(config)?;
            backup::backup(&data()?, &config, to.as_deref())
        }
        Command::Restore { archive, config } => {
            let config = config_dir(config)?;
            backup::restore(archive, &data()?, &config)
        }
        Command::Build { command } => match command {
            BuildCommand::Scan { dir, json } => build::scan(dir.as_deref(), *json),
            BuildCommand::Run {
                dir,
                apply,
                retries,
                json,
            } => build::run(dir.as_deref(), &data()?, *apply, *retries, *json),
        },
        Command::Service { command } => match command {
            ServiceCommand::Install {
                user,
                dry_run,
                config,
            } => {
                let config = config_dir(config)?;
                service::install(&config, &data()?, *user, *dry_run)
            }
            ServiceCommand::Uninstall { user, dry_run } => service::uninstall(*user, *dry_run),
            ServiceCommand::Status { user } => service::status(&data()?, *user),
        },
        Command::Hook {
            command: HookCommand::JobStarted { name },
        } => commands::hook_job_started(&data()?, name),
    }
}
