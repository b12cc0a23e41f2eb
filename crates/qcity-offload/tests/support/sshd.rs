//! A private sshd on loopback for the SSH executor's tests: its own host key, a client key
//! in authorized_keys, a known_hosts file that names it, on a free port. The "remote" is this
//! machine, so a test can look at the remote side with `pgrep` and the file system.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Debian openssh-server binary; sshd re-executes itself, so the path must be absolute.
pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    pub port: u16,
    /// The client's private key (in authorized_keys unless started `with_key_authorized(false)`).
    pub client_key: PathBuf,
    /// `[127.0.0.1]:PORT <host key>`.
    pub known_hosts: PathBuf,
    /// The host's public key line.
    pub host_key_pub: String,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "qcity-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs (openssh-client)");
    assert!(st.success(), "ssh-keygen failed");
}

fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl Sshd {
    /// An sshd that accepts the client key.
    pub fn start() -> Sshd {
        Sshd::start_with(true)
    }

    /// `authorize`: whether the client key is in authorized_keys (false: a wrong key).
    pub fn start_with(authorize: bool) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install openssh-server (scripts/install-deps.sh)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        let other = d.join("other_key");
        if !authorize {
            keygen(&other);
        }
        let authorized = if authorize {
            d.join("client_key.pub")
        } else {
            d.join("other_key.pub")
        };
        std::fs::copy(&authorized, d.join("authorized_keys")).expect("authorized_keys");
        let host_key_pub = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
        // sshd as root needs its privilege separation directory.
        if is_root() {
            std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        }
        for _ in 0..5 {
            let port = free_port();
            let mut child = spawn(d, port);
            if wait_listening(port, &mut child) {
                let known_hosts = d.join("known_hosts");
                let line = host_key_pub
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {line}\n"))
                    .expect("known_hosts");
                return Sshd {
                    port,
                    client_key: d.join("client_key"),
                    known_hosts,
                    host_key_pub,
                    dir,
                    child: Some(child),
                };
            }
            // The port was taken between our probe and sshd's bind: another one.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "sshd did not start on loopback: {}",
            std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
        );
    }

    /// What sshd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The target as a user would write it, with our key and known_hosts.
    pub fn target(&self) -> qcity_config::SshTarget {
        serde_json::from_value(serde_json::json!({
            "host": "127.0.0.1",
            "port": self.port,
            "identity_file": self.client_key,
            "known_hosts": self.known_hosts,
            "connect_timeout_seconds": 10,
        }))
        .expect("an ssh target")
    }

    /// SIGKILLs the listener and every sshd serving its connections (what a crash or a pulled
    /// plug looks like). The job's own processes live in their own session and stay.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The per-connection sshd processes (`sshd: root@notty`) are found by parent
            // chain, before the listener dies and they are handed to init.
            let serving = sshd_descendants(child.id());
            let _ = child.kill();
            let _ = child.wait();
            for p in serving {
                // SAFETY: kill(2) has no memory preconditions.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(d: &Path, port: u16) -> Child {
    let cfg = d.join("sshd_config");
    let text = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\nPidFile {pid}\n\
         UsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\n",
        hk = d.join("host_key").display(),
        ak = d.join("authorized_keys").display(),
        pid = d.join("sshd.pid").display(),
    );
    std::fs::write(&cfg, text).expect("sshd_config");
    Command::new(SSHD)
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(&cfg)
        .stdin(Stdio::null())
        // Its log (-e: to stderr) goes to a file: `Sshd::log` shows it when a test fails.
        .stderr(std::fs::File::create(d.join("sshd.log")).expect("sshd.log"))
        .spawn()
        .expect("sshd starts")
}

/// Polls until sshd accepts a TCP connection; false if it exited (a port clash).
fn wait_listening(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The sshd processes whose parent chain leads to `root`, read from /proc.
fn sshd_descendants(root: u32) -> Vec<i32> {
    let mut parents = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces, so read after the last `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let sshd = stat
            .split_once('(')
            .is_some_and(|(_, r)| r.starts_with("sshd"));
        if let Some(ppid) = ppid {
            parents.push((pid, ppid, sshd));
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(
            parents
                .iter()
                .filter(|(_, pp, _)| *pp == p)
                .map(|(c, _, _)| *c),
        );
        i += 1;
    }
    out.into_iter()
        .skip(1)
        .filter(|p| parents.iter().any(|(c, _, sshd)| c == p && *sshd))
        .map(|p| p as i32)
        .collect()
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}
