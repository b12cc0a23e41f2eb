//! Starting a runner's process: `posix_spawn` in a new session, output into one pipe.
//!
//! `posix_spawn` (glibc: `clone(CLONE_VM|CLONE_VFORK)`) costs a fraction of `fork` and is what
//! keeps restart latency near the fork/exec floor. `POSIX_SPAWN_SETSID` makes the runner the
//! leader of its own session and process group, so one `kill(-pgid)` reaches its whole tree and
//! no terminal signal from the engine's shell reaches it. stdout and stderr share one pipe so
//! the log keeps the order in which the runner wrote. glibc reports exec failures (ENOENT,
//! EACCES) from `posix_spawn` itself, so a missing program is an error here, not an exit code.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::Arc;

/// One environment variable: name and value.
pub type EnvVar = (Arc<OsStr>, Arc<OsStr>);

/// What to start.
#[derive(Debug, Clone)]
pub struct SpawnRequest {
    pub argv: Vec<String>,
    pub env: Vec<EnvVar>,
    pub cwd: Option<PathBuf>,
    /// Let the child run before the caller goes on: right for one restart, wrong for a
    /// batch of starts (each would wait for the previous child's exec).
    pub yield_cpu: bool,
}

/// A started process: the group leader's pid, a pidfd to wait on, the read end of its output.
#[derive(Debug)]
pub struct Spawned {
    pub pid: u32,
    pub pidfd: Option<OwnedFd>,
    pub output: OwnedFd,
}

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("`{program}` not found in PATH")]
    NotFound { program: String },
    #[error("cannot start `{program}`: {source}")]
    Exec { program: String, source: io::Error },
    #[error("invalid argument for `{program}`: {what} contains a NUL byte")]
    Nul { program: String, what: &'static str },
    #[error("cannot prepare spawn of `{program}`: {action}: {source}")]
    Setup {
        program: String,
        action: &'static str,
        source: io::Error,
    },
}

/// Starts `req` in a new session with stdin on /dev/null and stdout+stderr on a pipe.
pub fn spawn(req: &SpawnRequest) -> Result<Spawned, SpawnError> {
    let program = req.argv.first().cloned().unwrap_or_default();
    let setup = |action| {
        let program = program.clone();
        move |source| SpawnError::Setup {
            program,
            action,
            source,
        }
    };
    let exe = resolve_program(&program, &req.env, req.cwd.as_deref())?;
    let nul = |what| SpawnError::Nul {
        program: program.clone(),
        what,
    };
    let exe_c = CString::new(exe.into_os_string().into_vec()).map_err(|_| nul("program"))?;
    let argv_c: Vec<CString> = req
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| nul("an argument"))?;
    let env_c: Vec<CString> = req
        .env
        .iter()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv)
        })
        .collect::<Result<_, _>>()
        .map_err(|_| nul("an environment variable"))?;
    let cwd_c = match &req.cwd {
        Some(dir) => Some(CString::new(dir.as_os_str().as_bytes()).map_err(|_| nul("cwd"))?),
        None => None,
    };
    let (read_end, write_end) = pipe().map_err(setup("pipe"))?;
    let devnull = devnull().map_err(setup("open /dev/null"))?;

    let mut argv_p: Vec<*const libc::c_char> = argv_c.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(ptr::null());
    let mut env_p: Vec<*const libc::c_char> = env_c.iter().map(|a| a.as_ptr()).collect();
    env_p.push(ptr::null());

    let mut actions = FileActions::new().map_err(setup("file actions"))?;
    actions.dup2(devnull, 0).map_err(setup("dup2 stdin"))?;
    actions
        .dup2(write_end.as_raw_fd(), 1)
        .map_err(setup("dup2 stdout"))?;
    actions
        .dup2(write_end.as_raw_fd(), 2)
        .map_err(setup("dup2 stderr"))?;
    if let Some(cwd) = &cwd_c {
        actions.chdir(cwd).map_err(setup("chdir"))?;
    }
    let attr = SpawnAttr::new_session().map_err(setup("spawn attributes"))?;

    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is valid for the duration of the call: the CStrings and the
    // null-terminated pointer arrays live until the end of this function.
    let rc = unsafe {
        libc::posix_spawn(
            &mut pid,
            exe_c.as_ptr(),
            &actions.0,
            &attr.0,
            argv_p.as_ptr() as *const *mut libc::c_char,
            env_p.as_ptr() as *const *mut libc::c_char,
        )
    };
    drop(write_end);
    if rc != 0 {
        let source = io::Error::from_raw_os_error(rc);
        if source.kind() == io::ErrorKind::NotFound {
            return Err(SpawnError::NotFound { program });
        }
        return Err(SpawnError::Exec { program, source });
    }
    let pid = pid as u32;
    if req.yield_cpu {
        // The child has just exec'd, and the scheduler woke us on its CPU, ahead of it: give
        // the CPU back so the runner starts now rather than after our bookkeeping.
        // SAFETY: plain syscall.
        unsafe { libc::sched_yield() };
    }
    Ok(Spawned {
        pid,
        pidfd: pidfd_open(pid).ok(),
        output: read_end,
    })
}

/// `command[0]` as exec will see it: names with a slash are taken as they are (relative to
/// the runner's working dir, which the child enters before exec); bare names are looked up
/// in the runner's own PATH, so a PATH set in the manifest is honoured.
fn resolve_program(
    program: &str,
    env: &[EnvVar],
    cwd: Option<&Path>,
) -> Result<PathBuf, SpawnError> {
    if program.is_empty() {
        return Err(SpawnError::NotFound {
            program: program.to_string(),
        });
    }
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let path = env
        .iter()
        .find(|(k, _)| **k == *"PATH")
        .map(|(_, v)| v.to_os_string())
        .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    for dir in std::env::split_paths(&path) {
        let dir = match (dir.is_relative(), cwd) {
            (true, Some(cwd)) => cwd.join(dir),
            _ => dir,
        };
        let candidate = dir.join(OsStr::new(program));
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(SpawnError::NotFound {
        program: program.to_string(),
    })
}

fn is_executable(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c is a valid NUL-terminated string.
    let ok = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
    ok && path.is_file()
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// /dev/null, opened once (close-on-exec; each child gets it as stdin through dup2).
fn devnull() -> io::Result<RawFd> {
    static DEVNULL: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();
    if let Some(fd) = DEVNULL.get() {
        return Ok(fd.as_raw_fd());
    }
    let f = std::fs::OpenOptions::new().read(true).open("/dev/null")?;
    Ok(DEVNULL.get_or_init(|| f.into()).as_raw_fd())
}

/// A pidfd for `pid`: readable once the process has exited. `None` on kernels before 5.3.
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> io::Result<Self> {
        // SAFETY: zeroed storage is initialised by posix_spawn_file_actions_init.
        let mut fa: libc::posix_spawn_file_actions_t = unsafe { std::mem::zeroed() };
        check(unsafe { libc::posix_spawn_file_actions_init(&mut fa) })?;
        Ok(Self(fa))
    }
    fn dup2(&mut self, from: RawFd, to: RawFd) -> io::Result<()> {
        // SAFETY: self.0 was initialised in new().
        check(unsafe { libc::posix_spawn_file_actions_adddup2(&mut self.0, from, to) })
    }
    fn chdir(&mut self, dir: &CString) -> io::Result<()> {
        // SAFETY: self.0 was initialised; glibc copies the path.
        check(unsafe { libc::posix_spawn_file_actions_addchdir_np(&mut self.0, dir.as_ptr()) })
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in new() and destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

struct SpawnAttr(libc::posix_spawnattr_t);

impl SpawnAttr {
    /// New session, empty signal mask, and every signal at its default disposition: the
    /// engine's own may differ (the Rust runtime ignores SIGPIPE; a shell that started the
    /// engine as a background job ignores SIGINT and SIGQUIT), and a runner must inherit none
    /// of that: gitlab-runner's graceful drain is SIGQUIT, and an ignored signal cannot even
    /// be trapped by a shell script.
    fn new_session() -> io::Result<Self> {
        // SAFETY: zeroed storage is initialised by posix_spawnattr_init, and the sigsets are
        // initialised by sigemptyset/sigaddset before use.
        unsafe {
            let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
            check(libc::posix_spawnattr_init(&mut attr))?;
            let this = Self(attr);
            let mut attr = this;
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            let mut defaults: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut defaults);
            check(libc::posix_spawnattr_setsigmask(&mut attr.0, &empty))?;
            check(libc::posix_spawnattr_setsigdefault(&mut attr.0, &defaults))?;
            let flags = libc::POSIX_SPAWN_SETSID as libc::c_short
                | libc::POSIX_SPAWN_SETSIGMASK as libc::c_short
                | libc::POSIX_SPAWN_SETSIGDEF as libc::c_short;
            check(libc::posix_spawnattr_setflags(&mut attr.0, flags))?;
            Ok(attr)
        }
    }
}

impl Drop for SpawnAttr {
    fn drop(&mut self) {
        // SAFETY: initialised in new_session() and destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}
