//! (feature `testing`) A real Secret Service for tests: gnome-keyring-daemon on a private
//! D-Bus bus, with its own HOME, so a test stores into a real keyring (not keyring's
//! in-memory mock, which it would silently use without a platform backend) and never touches
//! the user's.
//!
//! The bus has no service directory: nothing is started on demand, so a call made before
//! the keyring daemon is up fails rather than starting a second one that no one would stop.
//! Both daemons are children of the test and are killed when the [`PrivateKeyring`] drops.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The programs a private keyring needs (Debian: `dbus`, `gnome-keyring`, `libsecret-tools`).
pub const TOOLS: [&str; 4] = [
    "dbus-daemon",
    "dbus-send",
    "gnome-keyring-daemon",
    "secret-tool",
];

/// The variable that turns a skip into a failure (CI sets it, where the tools are installed).
pub const REQUIRE: &str = "QCITY_REQUIRE_KEYRING";

pub struct PrivateKeyring {
    // Dropped after the daemons (see `Drop`): they keep files in it.
    home: tempfile::TempDir,
    bus: Child,
    keyring: Option<Child>,
    address: String,
}

impl PrivateKeyring {
    /// A running private keyring, or None with a printed line when a tool is missing, unless
    /// QCITY_REQUIRE_KEYRING=1: then it panics, so CI cannot pass without testing anything.
    /// Panics when the tools are there but the keyring does not start.
    pub fn start_or_skip() -> Option<PrivateKeyring> {
        let missing: Vec<&str> = TOOLS
            .into_iter()
            .filter(|t| !qcity_platform::path::on_path(t))
            .collect();
        if missing.is_empty() {
            return Some(PrivateKeyring::start().expect("a private Secret Service starts"));
        }
        let required = std::env::var_os(REQUIRE).is_some_and(|v| v == "1");
        assert!(
            !required,
            "{REQUIRE}=1 but {} not on PATH (scripts/install-deps.sh installs them)",
            missing.join(", ")
        );
        eprintln!(
            "skipped: no real Secret Service: {} not on PATH; {REQUIRE}=1 makes this fail",
            missing.join(", ")
        );
        None
    }

    /// Starts the bus, then gnome-keyring-daemon with its login keyring created and unlocked
    /// (password from stdin, as a login manager gives it), and waits until it owns its name.
    pub fn start() -> Result<PrivateKeyring, String> {
        let home = tempfile::Builder::new()
            .prefix("qcity-keyring-")
            .tempdir()
            .map_err(|e| format!("temp HOME: {e}"))?;
        let socket = home.path().join("bus");
        let config = home.path().join("bus.conf");
        std::fs::write(&config, bus_config(&socket)).map_err(|e| format!("bus config: {e}"))?;
        for dir in ["run", ".local/share", ".config", ".cache"] {
            qcity_platform::private::create_dir(&home.path().join(dir))
                .map_err(|e| format!("{dir}: {e}"))?;
        }
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // "Failed to set fd limit" and such: harmless, and not the test's output.
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("dbus-daemon: {e}"))?;
        let address = first_line(&mut bus);
        let mut keyring = PrivateKeyring {
            home,
            bus,
            keyring: None,
            address,
        };
        if keyring.address.is_empty() {
            return Err("dbus-daemon printed no address".into());
        }
        let mut daemon = keyring
            .command("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("gnome-keyring-daemon: {e}"))?;
        // Closing stdin ends the password.
        let _ = daemon.stdin.take().map(|mut s| s.write_all(b"test"));
        keyring.keyring = Some(daemon);
        keyring.wait_for_secrets_name()?;
        Ok(keyring)
    }

    /// The bus address, for DBUS_SESSION_BUS_ADDRESS.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `program` with this keyring's environment: its bus, HOME and XDG dirs.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let home = self.home.path();
        let mut c = Command::new(program);
        c.env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("HOME", home)
            .env("XDG_RUNTIME_DIR", home.join("run"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"));
        c
    }

    /// What `secret-tool` (libsecret, not the keyring crate) finds for the QCity secret
    /// `name`: proof that a value is in the real store.
    pub fn lookup(&self, name: &str) -> Option<String> {
        let out = self
            .command("secret-tool")
            .args(["lookup", "service", crate::SERVICE, "username", name])
            .stdin(Stdio::null())
            .output()
            .expect("secret-tool runs");
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).expect("UTF-8 secret"))
    }

    fn wait_for_secrets_name(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self
                .command("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .output()
                .map_err(|e| format!("dbus-send: {e}"))?;
            if String::from_utf8_lossy(&out.stdout).contains("boolean true") {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.keyring.as_mut().map(Child::try_wait) {
                return Err(format!("gnome-keyring-daemon exited: {status}"));
            }
            if Instant::now() > deadline {
                return Err(
                    "gnome-keyring-daemon did not take org.freedesktop.secrets in 10 s".into(),
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PrivateKeyring {
    fn drop(&mut self) {
        // The keyring first: it would otherwise see its bus vanish and write as it exits.
        for child in self.keyring.iter_mut().chain([&mut self.bus]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A session bus that only listens on `socket`: no service activation, no other config.
fn bus_config(socket: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        socket.display()
    )
}

/// The first line of the child's stdout (dbus-daemon prints its address, then keeps the
/// pipe; read byte by byte so nothing past the line is waited for).
fn first_line(child: &mut Child) -> String {
    let mut line = Vec::new();
    if let Some(out) = child.stdout.as_mut() {
        let mut byte = [0u8; 1];
        while let Ok(1) = out.read(&mut byte) {
            if byte[0] == b'\n' {
                break;
            }
            line.push(byte[0]);
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}
