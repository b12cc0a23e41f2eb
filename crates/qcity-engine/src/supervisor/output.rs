//! A runner's output: size-rotated files in the data dir, a bounded in-memory tail, and a
//! live feed for `qcity logs -f`. Output is bytes: it is stored as written and decoded
//! (lossily) only when shown, so non-UTF-8 output never fails anything.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::kind::{LineEvent, LineParser};

/// Limits of one runner's output.
#[derive(Debug, Clone, Copy)]
pub struct OutputLimits {
    pub max_file_bytes: u64,
    pub keep_files: u32,
    pub tail_bytes: usize,
}

/// Everything a runner has printed, across its restarts.
#[derive(Debug)]
pub struct RunnerOutput {
    file: Mutex<RotatingFile>,
    tail: Mutex<Tail>,
    /// Created by the first follower: most runners are never followed, and a channel holds
    /// its slots from the start.
    live: Mutex<Option<broadcast::Sender<Arc<[u8]>>>>,
    /// For runners whose output says what they do: complete lines go to a parser.
    lines: Mutex<Option<LineWatch>>,
}

/// Splits output into lines and hands what `parse` recognises to the runner task.
struct LineWatch {
    partial: Vec<u8>,
    parse: LineParser,
    tx: LineEventSender,
}

impl std::fmt::Debug for LineWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineWatch").finish_non_exhaustive()
    }
}

/// Where recognised lines go: the runner task.
pub type LineEventSender = tokio::sync::mpsc::Sender<LineEvent>;

/// A line longer than this is parsed by its first bytes; no parser needs more.
const MAX_LINE: usize = 8 * 1024;

impl LineWatch {
    fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(nl) = chunk.iter().position(|&b| b == b'\n') {
            if self.partial.len() < MAX_LINE {
                let room = MAX_LINE - self.partial.len();
                self.partial.extend_from_slice(&chunk[..nl.min(room)]);
            }
            self.emit();
            chunk = &chunk[nl + 1..];
        }
        let room = MAX_LINE.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    fn emit(&mut self) {
        let line = String::from_utf8_lossy(&self.partial);
        if let Some(event) = (self.parse)(line.trim_end_matches('\r')) {
            // Signals are a few per job; a full queue means the task is gone or stuck.
            if self.tx.try_send(event).is_err() {
                tracing::warn!("runner output event dropped: the runner task is not reading");
            }
        }
        self.partial.clear();
    }
}

/// Capacity of a follower's feed, in chunks; a slower follower is told what it missed.
const LIVE_CHUNKS: usize = 256;

/// Bytes read from a runner's pipe at a time.
const READ_BYTES: usize = 64 * 1024;

thread_local! {
    // One read buffer per worker thread rather than one per runner: a pipe is drained
    // synchronously between two awaits, so the buffer is never held across one.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_BYTES]);
}

impl RunnerOutput {
    pub fn new(path: PathBuf, limits: OutputLimits) -> Arc<Self> {
        Arc::new(Self {
            file: Mutex::new(RotatingFile::new(
                path,
                limits.max_file_bytes,
                limits.keep_files,
            )),
            tail: Mutex::new(Tail::new(limits.tail_bytes)),
            live: Mutex::new(None),
            lines: Mutex::new(None),
        })
    }

    /// Records a chunk of output.
    pub fn write(&self, chunk: &[u8]) {
        if let Err(err) = lock(&self.file).write(chunk) {
            tracing::warn!(%err, "cannot write runner log");
        }
        lock(&self.tail).push(chunk);
        if let Some(watch) = lock(&self.lines).as_mut() {
            watch.feed(chunk);
        }
        if let Some(live) = lock(&self.live).as_ref()
            && live.receiver_count() > 0
        {
            let _ = live.send(Arc::from(chunk));
        }
    }

    /// Sends every complete line that `parse` recognises to `tx` from now on (`None`: stop).
    pub fn watch_lines(&self, watch: Option<(LineParser, LineEventSender)>) {
        *lock(&self.lines) = watch.map(|(parse, tx)| LineWatch {
            partial: Vec::new(),
            parse,
            tx,
        });
    }

    /// The last `n` lines kept in memory.
    pub fn tail_lines(&self, n: usize) -> Vec<String> {
        lock(&self.tail).lines(n)
    }

    /// A live feed of output chunks from now on.
    pub fn follow(&self) -> broadcast::Receiver<Arc<[u8]>> {
        lock(&self.live)
            .get_or_insert_with(|| broadcast::channel(LIVE_CHUNKS).0)
            .subscribe()
    }

    /// Reads `fd` until end of file (every writer of the pipe has closed it).
    pub async fn pump(self: Arc<Self>, fd: OwnedFd) {
        if let Err(err) = self.pump_inner(fd).await {
            tracing::warn!(%err, "runner output reader failed");
        }
    }

    async fn pump_inner(&self, fd: OwnedFd) -> io::Result<()> {
        set_nonblocking(&fd)?;
        let fd = crate::supervisor::process::async_fd(fd)?;
        loop {
            let mut guard = fd.readable().await?;
            let result = guard.try_io(|inner| {
                READ_BUF.with_borrow_mut(|buf| {
                    let n = read(inner.get_ref(), buf)?;
                    if n > 0 {
                        self.write(&buf[..n]);
                    }
                    Ok(n)
                })
            });
            match result {
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn read(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for buf.len() bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A log file that is rotated at `max_bytes`: `NAME.log` → `NAME.log.1` → … → `NAME.log.K`.
/// Disk use stays below `(keep + 1) × max_bytes`. Opened lazily: a silent runner holds no fd.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: Option<(File, u64)>,
}

impl RotatingFile {
    pub fn new(path: PathBuf, max_bytes: u64, keep: u32) -> Self {
        Self {
            path,
            max_bytes: max_bytes.max(1),
            keep,
            file: None,
        }
    }

    pub fn write(&mut self, mut chunk: &[u8]) -> io::Result<()> {
        while !chunk.is_empty() {
            let max = self.max_bytes;
            let (file, size) = self.open()?;
            let room = max.saturating_sub(*size) as usize;
            if room == 0 {
                self.rotate()?;
                continue;
            }
            let n = room.min(chunk.len());
            file.write_all(&chunk[..n])?;
            *size += n as u64;
            chunk = &chunk[n..];
        }
        Ok(())
    }

    fn open(&mut self) -> io::Result<&mut (File, u64)> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                qcity_platform::private::create_dir(dir)?;
            }
            let f = qcity_platform::private::options()
                .create(true)
                .append(true)
                .open(&self.path)?;
            let size = f.metadata()?.len();
            self.file = Some((f, size));
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.keep == 0 {
            return std::fs::remove_file(&self.path).or_else(ignore_missing);
        }
        for k in (1..self.keep).rev() {
            let _ = std::fs::rename(rotated(&self.path, k), rotated(&self.path, k + 1));
        }
        std::fs::rename(&self.path, rotated(&self.path, 1)).or_else(ignore_missing)
    }
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// `path.N`.
/// A runner's log file in the logs dir: `NAME.log` (rotated to `NAME.log.1`…).
pub fn log_file(logs_dir: &Path, runner: &str) -> PathBuf {
    logs_dir.join(format!("{runner}.log"))
}

pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The newest `cap` bytes of output.
#[derive(Debug)]
struct Tail {
    cap: usize,
    buf: VecDeque<u8>,
    truncated: bool,
}

impl Tail {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            buf: VecDeque::new(),
            truncated: false,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        if chunk.len() > self.cap {
            self.truncated = true;
        }
        let chunk = &chunk[chunk.len().saturating_sub(self.cap)..];
        let overflow = (self.buf.len() + chunk.len()).saturating_sub(self.cap);
        if overflow > 0 {
            self.buf.drain(..overflow);
            self.truncated = true;
        }
        self.buf.extend(chunk);
    }

    fn lines(&self, n: usize) -> Vec<String> {
        let (a, b) = self.buf.as_slices();
        let bytes = [a, b].concat();
        let text = String::from_utf8_lossy(&bytes);
        let mut lines: Vec<&str> = text.lines().collect();
        // The first line may have lost its beginning to the cap.
        if self.truncated && !lines.is_empty() {
            lines.remove(0);
        }
        let start = lines.len().saturating_sub(n);
        lines[start..].iter().map(|l| l.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_newest_bytes_and_whole_lines() {
        let mut t = Tail::new(16);
        t.push(b"first line\nsecond\nthird\n");
        assert_eq!(t.lines(10), vec!["second", "third"]);
        assert!(t.buf.len() <= 16);
        t.push(&[0xff, 0xfe, b'\n']);
        assert_eq!(t.lines(1), vec!["\u{fffd}\u{fffd}"]);
    }

    #[test]
    fn rotation_bounds_disk_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.log");
        let mut f = RotatingFile::new(path.clone(), 1000, 2);
        for _ in 0..100 {
            f.write(&[b'x'; 333]).unwrap();
        }
        let total: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(total <= 3000, "{total}");
        assert!(rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
    }
}
