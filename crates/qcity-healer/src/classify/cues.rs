//! The cues: what a line of output can say about a failure, from the messages common tools
//! print (the C library's errno texts, shells, Python, Node, Rust, Go, Java, git, curl, npm,
//! pip, cargo, gcc, tar, docker, databases, the CI runners). A cue is a feature, not a
//! verdict: each names the category it suggests (its prior), and the weights fitted on the
//! corpus say how much it counts against the others. "No space left on device" inside
//! "System limit for number of file watchers reached" is a resource limit, not a full disk;
//! "error: could not compile" after an ENOSPC is the disk's fault, not the code's.

use std::sync::OnceLock;

use qcity_types::FailureCategory as C;
use regex::bytes::RegexSet;

/// A cue: its name (a feature of the model), the category it suggests, its pattern
/// (case-insensitive unless it says otherwise).
pub struct Cue {
    pub name: &'static str,
    pub suggests: C,
    pub pattern: &'static str,
}

const fn cue(name: &'static str, suggests: C, pattern: &'static str) -> Cue {
    Cue {
        name,
        suggests,
        pattern,
    }
}

/// Every cue. Renaming or adding one changes the model's features: refit the weights
/// (`cargo run -p qcity-healer --example fit_weights`). The patterns are case-insensitive,
/// so errno names are whole words: `ENOTFOUND` is inside `FileNotFoundError`.
pub const CUES: &[Cue] = &[
    // A full disk.
    cue("enospc", C::DiskFull, r"no space left on device|\bENOSPC\b"),
    cue("errno-28", C::DiskFull, r"errno\s*28\b|os error 28\b"),
    cue(
        "disk-quota",
        C::DiskFull,
        r"disk quota exceeded|\bEDQUOT\b|quota exceeded|errno 122\b",
    ),
    cue(
        "not-enough-space",
        C::DiskFull,
        r"(not enough|insufficient|out of) (free )?(disk )?space|disk (is )?full|there is not enough space on the disk",
    ),
    cue("sqlite-full", C::DiskFull, r"database or disk is full"),
    cue(
        "write-error",
        C::DiskFull,
        r"write error|short write|error writing|failed to write|cannot write|wrote only \d+ of \d+ bytes|failed writing",
    ),
    // A missing command.
    cue(
        "command-not-found",
        C::MissingCommand,
        r"command not found|is not recognized as an internal or external command",
    ),
    cue(
        "sh-not-found",
        C::MissingCommand,
        r"^(\S*sh|dash|/bin/sh|\S+\.sh)?:? ?(line )?\d*:? ?\S+: (command )?not found\s*$|: \d+: [^:\s]+: not found\s*$",
    ),
    cue(
        "bare-enoent",
        C::MissingCommand,
        r"(?:‘|'|`)[\w.+-]+(?:’|'|`): no such file or directory",
    ),
    cue(
        "exec-not-found",
        C::MissingCommand,
        r"executable file not found|exec: .*not found|cannot run program|failed to execute|could not execute|can't exec \S+: no such file",
    ),
    cue(
        "no-such-command",
        C::MissingCommand,
        r"no such command|unknown command|is not a \S+ command|unknown subcommand|unrecognized command",
    ),
    cue(
        "env-enoent",
        C::MissingCommand,
        r"^(/usr/bin/)?env: .*no such file or directory",
    ),
    cue(
        "spawn-enoent",
        C::MissingCommand,
        r"spawn \S+ ENOENT|spawnSync \S+ ENOENT",
    ),
    cue(
        "py-filenotfound-cmd",
        C::MissingCommand,
        r"FileNotFoundError: \[Errno 2\] No such file or directory: '[^/' ]+'$",
    ),
    cue(
        "make-no-rule",
        C::MissingCommand,
        r"make: \S+: (no such file or directory|command not found)",
    ),
    cue(
        "please-install",
        C::MissingCommand,
        r"not found (on|in) (the )?\$?PATH|not on (the )?\$?PATH|please install|is required but (it's |it is )?not installed|not installed|could not find (the )?(program|executable|command)|which: no ",
    ),
    // A missing module, package, header or library.
    cue(
        "py-module",
        C::MissingModule,
        r"ModuleNotFoundError|No module named|ImportError|PackageNotFoundError|No package metadata was found|DistributionNotFound",
    ),
    cue(
        "node-module",
        C::MissingModule,
        r"Cannot find module|MODULE_NOT_FOUND|Cannot find package|ERR_MODULE_NOT_FOUND",
    ),
    cue("perl-module", C::MissingModule, r"Can't locate \S+\.pm"),
    cue(
        "c-header",
        C::MissingModule,
        r"fatal error: \S+\.(h|hh|hpp|hxx): no such file or directory",
    ),
    cue(
        "ld-lib",
        C::MissingModule,
        r"cannot find -l\S+|library not found for -l|needed by \S+, not found",
    ),
    cue(
        "shared-object",
        C::MissingModule,
        r"error while loading shared libraries|cannot open shared object file|Library not loaded",
    ),
    cue(
        "no-distribution",
        C::MissingModule,
        r"No matching distribution found|Could not find a version that satisfies the requirement|requirement .* could not be satisfied|required version is|unmet dependenc",
    ),
    cue(
        "registry-404",
        C::MissingModule,
        r"E404|404 Not Found.*(registry|package|npm)|is not in this registry|no matching package named|package .* (was )?not found|unable to locate package|No package '\S+' found",
    ),
    cue(
        "java-class",
        C::MissingModule,
        r"ClassNotFoundException|NoClassDefFoundError",
    ),
    cue(
        "go-package",
        C::MissingModule,
        r"cannot find package|is not in (GOROOT|std)|no required module provides package",
    ),
    cue(
        "ruby-load",
        C::MissingModule,
        r"cannot load such file|LoadError|Could not find gem",
    ),
    // The network, a name, or a service.
    cue(
        "conn-refused",
        C::Network,
        r"connection refused|\bECONNREFUSED\b|actively refused|ConnectionRefusedError|connect call failed|\[Errno 111\]",
    ),
    cue(
        "failed-connect",
        C::Network,
        r"failed to connect|could not connect|couldn't connect|unable to connect|can't connect|cannot connect",
    ),
    cue(
        "dns",
        C::Network,
        r"\[Errno -[235]\]|gaierror|could not resolve|temporary failure in name resolution|name or service not known|nodename nor servname|no such host|unknown host|\bENOTFOUND\b|\bEAI_AGAIN\b|getaddrinfo|name resolution|Could not resolve hostname|NXDOMAIN",
    ),
    cue(
        "unreachable",
        C::Network,
        r"\[Errno (101|113)\]|network is unreachable|\bENETUNREACH\b|no route to host|\bEHOSTUNREACH\b|host is unreachable|host unreachable",
    ),
    cue(
        "conn-reset",
        C::Network,
        r"connection reset|\bECONNRESET\b|broken pipe|\bEPIPE\b|socket hang up|connection aborted|connection closed|empty reply from server|recv failure|unexpected eof while reading",
    ),
    cue(
        "remote-hung-up",
        C::Network,
        r"the remote end hung up unexpectedly|early EOF|RPC failed|transfer closed with|HTTP/2 stream \d+ was not closed cleanly",
    ),
    cue(
        "docker-daemon",
        C::Network,
        r"cannot connect to the docker daemon|is the docker daemon running",
    ),
    cue(
        "server-running",
        C::Network,
        r"is the server running|accepting (TCP/IP )?connections|Can't connect to (local )?MySQL server|could not connect to (the )?server|Could not connect to Redis",
    ),
    cue(
        "http-retry",
        C::Network,
        r"Max retries exceeded|NewConnectionError|Failed to establish a new connection|urlopen error|Retrying \(Retry\(|network error|fetch failed|request to \S+ failed",
    ),
    cue("dial-tcp", C::Network, r"dial tcp|dial unix"),
    cue(
        "http-5xx",
        C::Network,
        r"\b50[0234] (internal server error|bad gateway|service unavailable|gateway time-?out)|HTTP Error 50\d|returned error: 50\d|status( code)?:? 50[0234]\b|server error.*\b50\d\b",
    ),
    cue(
        "tls",
        C::Network,
        r"TLS handshake|SSL.*(error|handshake)|certificate verify failed",
    ),
    // Memory.
    cue(
        "oom",
        C::OutOfMemory,
        r"out of memory|oom-?kill|OOMKilled|oom_kill|memory cgroup out of memory",
    ),
    cue(
        "enomem",
        C::OutOfMemory,
        r"cannot allocate memory|\bENOMEM\b|MemoryError|std::bad_alloc|bad_alloc",
    ),
    cue(
        "heap",
        C::OutOfMemory,
        r"JavaScript heap out of memory|Reached heap limit|heap limit|OutOfMemoryError|allocation failed|memory allocation of \d+ bytes failed|virtual memory exhausted|memory exhausted|runtime: out of memory|could not reserve enough space|insufficient memory",
    ),
    cue(
        "killed",
        C::OutOfMemory,
        r"(^|\s|:)Killed(\s|$)|signal: killed|\bkilled\b.*\b(signal 9|SIGKILL)\b|exit (code|status) 137",
    ),
    cue(
        "ice-killed",
        C::OutOfMemory,
        r"internal compiler error: Killed|Killed \(program cc1",
    ),
    // Resource limits.
    cue(
        "emfile",
        C::ResourceLimit,
        r"too many open files|\bEMFILE\b|\bENFILE\b|\[Errno 24\]",
    ),
    cue(
        "eagain-fork",
        C::ResourceLimit,
        r"fork: (retry: )?resource temporarily unavailable|can't fork|cannot fork|fork failed|BlockingIOError|\bEAGAIN\b|Resource temporarily unavailable",
    ),
    cue(
        "threads",
        C::ResourceLimit,
        r"can't start new thread|unable to create (new )?native thread|pthread_create|failed to spawn thread|Thread creation failed",
    ),
    cue(
        "watchers",
        C::ResourceLimit,
        r"file watchers|inotify|max_user_watches|max_user_instances",
    ),
    cue(
        "file-size",
        C::ResourceLimit,
        r"file size limit exceeded|\bEFBIG\b|file too large",
    ),
    cue(
        "limit-words",
        C::ResourceLimit,
        r"ulimit|rlimit|resource limit|limit reached|too many processes",
    ),
    cue(
        "cpu-time",
        C::ResourceLimit,
        r"cpu time limit exceeded|\bSIGXCPU\b",
    ),
    cue(
        "e2big",
        C::ResourceLimit,
        r"argument list too long|\bE2BIG\b",
    ),
    // A corrupted cache or archive.
    cue("corrupt", C::CorruptCache, r"corrupt"),
    cue(
        "unexpected-eof",
        C::CorruptCache,
        r"unexpected end of (file|archive|data|stream)|premature end|unexpected EOF|truncated|Compressed data is corrupt|unfinished stream|ended before the end-of-stream|end-of-stream marker",
    ),
    cue(
        "not-format",
        C::CorruptCache,
        r"not in gzip format|invalid compressed data|file format not recognized|unknown frame descriptor|not a (valid )?(zip|gzip|tar|xz|zstd)|invalid (tar|zip|archive)|bad (zip|archive)|BadZipFile|End-of-central-directory|invalid stored block|incorrect header check|Unexpected end of input",
    ),
    cue(
        "checksum-mismatch",
        C::CorruptCache,
        r"checksum mismatch|checksums? (did not|didn't|do not|does not) match|(hash|sha\d*(sum)?|digest|integrity) mismatch|integrity check failed|\bEINTEGRITY\b|(?-i:did NOT match)|crc (error|mismatch)|bad crc",
    ),
    cue("checksum", C::CorruptCache, r"checksum|integrity"),
    cue(
        "tar-not-recoverable",
        C::CorruptCache,
        r"error is not recoverable|exiting with failure status due to previous errors|tar: .*(unexpected|skipping to next header)",
    ),
    cue(
        "db-malformed",
        C::CorruptCache,
        r"database disk image is malformed|file is not a database",
    ),
    cue(
        "git-object",
        C::CorruptCache,
        r"bad object|loose object|packfile|index file corrupt|bad signature 0x|object file .* is empty",
    ),
    cue(
        "unpickle",
        C::CorruptCache,
        r"UnpicklingError|pickle data was truncated|invalid load key",
    ),
    // Permissions.
    cue(
        "eacces",
        C::PermissionDenied,
        r"permission denied|\bEACCES\b|PermissionError|access (is )?denied|insufficient permission",
    ),
    cue(
        "ownership",
        C::PermissionDenied,
        r"dubious ownership|safe\.directory|insufficient permission for adding|not owned by|wrong owner",
    ),
    cue(
        "eperm",
        C::PermissionDenied,
        r"operation not permitted|\bEPERM\b|not permitted",
    ),
    cue(
        "erofs",
        C::PermissionDenied,
        r"read-only file ?system|\bEROFS\b|readonly database|read-only database|\[Errno 30\]",
    ),
    cue(
        "exec-format",
        C::PermissionDenied,
        r"exec format error|\bENOEXEC\b|cannot execute binary file|\[Errno 8\]",
    ),
    cue(
        "root",
        C::PermissionDenied,
        r"must be (run as )?root|requires root|are you root|superuser|need to be root|sudo",
    ),
    cue(
        "forbidden",
        C::PermissionDenied,
        r"\b403\b|forbidden|unauthori[sz]ed|\b401\b|authentication failed|not authorized",
    ),
    // A port in use.
    cue(
        "eaddrinuse",
        C::PortInUse,
        r"\[Errno 98\]|address already in use|\bEADDRINUSE\b|address in use|only one usage of each socket address",
    ),
    cue(
        "port-taken",
        C::PortInUse,
        r"port \d+ (is )?(already )?(in use|taken|allocated)|already (in use|listening|bound)",
    ),
    cue(
        "bind",
        C::PortInUse,
        r"\bbind\b|failed to listen|could not listen|listen tcp|listen EADDRINUSE",
    ),
    // A crash.
    cue(
        "segv",
        C::Crashed,
        r"segmentation fault|segfault|SIGSEGV|core dumped",
    ),
    cue(
        "abort",
        C::Crashed,
        r"\baborted\b|SIGABRT|terminate called|stack smashing|double free|free\(\): invalid|malloc\(\)|Assertion .* failed",
    ),
    cue(
        "bus-fpe-ill",
        C::Crashed,
        r"bus error|SIGBUS|floating point exception|SIGFPE|illegal instruction|SIGILL",
    ),
    cue(
        "fatal-runtime",
        C::Crashed,
        r"Fatal Python error|fatal runtime error|Fatal error in|native crash|unhandled exception|panicked at|RUST_BACKTRACE",
    ),
    // Time.
    cue(
        "timed-out",
        C::Timeout,
        r"timed out|time ?out|timeout|\bETIMEDOUT\b|deadline exceeded|DEADLINE_EXCEEDED",
    ),
    cue(
        "conn-timed-out",
        C::Timeout,
        r"connection timed out|operation timed out|read timed out|timed out after|\(Connection timed out\)",
    ),
    cue(
        "time-limit",
        C::Timeout,
        r"time limit|took too long|exceeded the maximum execution time|TimeoutError|ReadTimeout|ConnectTimeout|Operation timed out after",
    ),
    // Version control.
    cue(
        "merge-conflict",
        C::VcsError,
        r"CONFLICT \(|merge conflict|automatic merge failed|fix conflicts|unmerged files|needs merge|you have unmerged",
    ),
    cue(
        "not-a-repo",
        C::VcsError,
        r"not a git repository|does not appear to be a git repository|repository '.*' does not exist|clone of '.*' into submodule path|repository .*not found|Repository not found|no such remote|remote .* does not exist",
    ),
    cue(
        "remote-read",
        C::VcsError,
        r"could not read from remote repository|couldn't find remote ref|src refspec .* does not match|failed to push some refs|updates were rejected|non-fast-forward|\[rejected\]",
    ),
    cue(
        "vcs-lock",
        C::VcsError,
        r"\.lock'?: file exists|another git process seems to be running|unable to create '.*\.lock'|lock file exists|index\.lock|cannot lock ref|could not write index|unable to write new index file|index file open failed",
    ),
    cue(
        "would-overwrite",
        C::VcsError,
        r"would be overwritten by|please commit your changes or stash them|local changes to the following files",
    ),
    cue(
        "pathspec",
        C::VcsError,
        r"pathspec .* did not match|unknown revision|ambiguous argument|bad revision|invalid reference|not a valid (object name|ref)",
    ),
    cue(
        "in-progress",
        C::VcsError,
        r"patch does not apply|patch failed|divergent branches|not possible to fast-forward|need to specify how to reconcile|rebase in progress|middle of (a|an) (rebase|merge|am|cherry-pick)|unrelated histories|detached HEAD",
    ),
    cue("git-fatal", C::VcsError, r"^fatal: |^git: |\bgit\b|\.git\b"),
    // The user's code.
    cue(
        "rustc",
        C::CodeError,
        r"error\[E\d{4}\]|could not compile|aborting due to|mismatched types|cannot find (value|function|type|macro)|borrow of moved value",
    ),
    cue(
        "cc-error",
        C::CodeError,
        r"\.\w+:\d+(:\d+)?: (fatal )?error:|undefined reference to|was not declared in this scope|undeclared|expected '.'|expected (expression|identifier|declaration)|implicit declaration|conflicting types",
    ),
    cue(
        "py-traceback",
        C::CodeError,
        r"Traceback \(most recent call last\)",
    ),
    cue(
        "py-exception",
        C::CodeError,
        r"(NameError|TypeError|AttributeError|ValueError|KeyError|IndexError|ZeroDivisionError|UnboundLocalError|RecursionError|ImportError: cannot import name): ",
    ),
    cue(
        "py-bytecode",
        C::CorruptCache,
        r"bad marshal data|marshal data too short|bad magic number|RuntimeError: Bad code object",
    ),
    cue(
        "java-exception",
        C::CodeError,
        r#"Exception in thread "|java\.lang\.\w+Exception|NullPointerException|^\s+at [\w$.<>]+\([\w$]+\.(java|kt|scala):\d+\)"#,
    ),
    cue(
        "script-compile",
        C::CodeError,
        r"can't call method .* on an undefined value|illegal division by zero|can't locate object method|not an? (HASH|ARRAY|CODE) reference|requires explicit package name|aborted due to compilation errors|syntax error at .* line \d+|compilation failed in require|undefined method|undefined local variable|NoMethodError|can't use (string|an undefined value) .* as an? \w+ ref|strict refs",
    ),
    cue(
        "syntax",
        C::CodeError,
        r"SyntaxError|IndentationError|syntax error|parse error|unexpected token|Unexpected identifier|JSONDecodeError|syntax error near unexpected token|unbound variable|bad substitution|Expecting (value|property name|'.' delimiter)|JSON\.parse|invalid syntax|parameter not set|near end of file|unterminated `?\w+'? command|unknown option to `s'",
    ),
    cue(
        "js-exception",
        C::CodeError,
        r"(TypeError|ReferenceError|RangeError): |is not a function|is not defined|Cannot read propert",
    ),
    cue(
        "assertion",
        C::CodeError,
        r"AssertionError|assert(ion)? failed|assert_eq|assertion `|expected .* (but )?(got|was|received)|to (equal|be|match)|left: |right: ",
    ),
    cue(
        "tests-failed",
        C::CodeError,
        r"tests? failed|\d+ failed|failures:|test result: FAILED|^FAILED|^FAIL:?|^not ok \d+|# fail [1-9]|Ran \d+ tests?|FAILED \(|errors?=\d",
    ),
    cue(
        "build-failed",
        C::CodeError,
        r"make(\[\d+\])?: \*\*\* |build failed|compilation (failed|terminated)|BUILD FAILED|ELIFECYCLE|npm ERR! (code|errno|Exit)|Error: Process completed with exit code|error TS\d+|exit status [1-9]",
    ),
    // The CI runners.
    cue(
        "registration-deleted",
        C::RegistrationRemoved,
        r"registration has been deleted|no longer exists on the server|please re-?configure|Runner is not configured|OAuth token has been revoked|checking for jobs\.\.\. forbidden|runner .* (unregistered|not registered)|invalid runner token",
    ),
    cue(
        "runner-connect",
        C::RunnerOffline,
        r"Runner connect error|Retrying until reconnected|lost communication with the server|currently unavailable|Checking for jobs\.\.\. failed|is unhealthy and will be disabled|A session for this runner already exists|received a shutdown signal",
    ),
    cue(
        "service-unavailable",
        C::RunnerOffline,
        r"GitHub|GitLab|actions\.githubusercontent\.com|the runner|runner listener|Buildkite",
    ),
    // Generic words: counted, so that the model learns how little they say.
    cue(
        "no-such-file",
        C::MissingCommand,
        r"no such file or directory|\bENOENT\b|not found",
    ),
    cue(
        "error-word",
        C::Unknown,
        r"\berror\b|\bfatal\b|\bfailed\b|\bfailure\b",
    ),
];

/// Cues per compiled set. One set of all of them is one automaton whose states are the
/// product of every pattern's: its lazy DFA needs megabytes of cache and is slow until warm.
/// Small sets stay small, and a line goes through each.
const PER_SET: usize = 16;

/// The cues' patterns, compiled once into small sets (see [`PER_SET`]).
fn sets() -> &'static [RegexSet] {
    static SETS: OnceLock<Vec<RegexSet>> = OnceLock::new();
    SETS.get_or_init(|| {
        CUES.chunks(PER_SET)
            .map(|chunk| {
                // ASCII rules (case, `\b`, `\w`, `\s`): Unicode's make the automata bigger
                // and slower for nothing a tool prints. The patterns are constants checked
                // by a test; a bad one makes its set empty rather than panic the daemon.
                RegexSet::new(chunk.iter().map(|c| format!("(?i-u){}", c.pattern)))
                    .unwrap_or_else(|_| RegexSet::empty())
            })
            .collect()
    })
}

/// The cues (indices into [`CUES`]) that `line` fires.
pub fn matches(line: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, set) in sets().iter().enumerate() {
        out.extend(
            set.matches(line.as_bytes())
                .into_iter()
                .map(|m| i * PER_SET + m),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cue_compiles_and_has_a_unique_name() {
        for c in CUES {
            assert!(
                regex::bytes::Regex::new(&format!("(?i-u){}", c.pattern)).is_ok(),
                "{}",
                c.name
            );
        }
        assert_eq!(sets().iter().map(RegexSet::len).sum::<usize>(), CUES.len());
        let i = CUES.iter().position(|c| c.name == "enospc").unwrap();
        assert!(matches("write: No space left on device").contains(&i));
        let mut names: Vec<&str> = CUES.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CUES.len());
    }
}
