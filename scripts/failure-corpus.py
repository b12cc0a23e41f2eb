#!/usr/bin/env python3
"""Build the healer's labelled corpus of real tool failures.

Run as root on Debian:  python3 scripts/failure-corpus.py

Every case is one real command run in a small sandbox (a temp dir, sometimes a
2 MiB tmpfs, a closed loopback port, a memory cgroup, an rlimit, an unprivileged
user...) so that a real tool fails for a real reason.  Its combined output
(stdout and stderr on one pipe, in order), exit code or signal are written to
crates/qcity-healer/corpus/failures.jsonl, one JSON object per line, and the
corpus README is rewritten next to it.  The scenarios under "FRESH BLIND SET"
make the blind test set (split "fresh"): only for measuring, never for fitting.
The scenarios under "EXTRA TRAINING SET" (extra_scenario) widen the training
data: their cases are always split "train" and the held-out rule ignores them.  The only doubles are the GitHub runner
cases (labels registration-removed and runner-offline): a real
Runner.Listener cannot run here, so a small script prints the runner's
documented lines (docs: /work/shared/facts/runners.md) and exits with the
documented code.

Standard library only.  Nothing outside the temp dirs is touched: mounts are
made inside them and unmounted, servers listen on loopback and are stopped,
memory cgroups are created below this process's own cgroup and removed.

Options (for working on the corpus; the default writes both files):
  --only SUBSTR   run only the scenarios whose name or label contains SUBSTR
                  (several allowed; "fresh" selects the fresh blind set,
                  "extra" the extra training set);
                  prints the cases and writes nothing
  --show          print every case's output while running
  --out PATH      write the JSONL there instead
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import errno
import functools
import hashlib
import http.server
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import threading
import time
import traceback
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO / "crates" / "qcity-healer" / "corpus"
OUT_JSONL = CORPUS_DIR / "failures.jsonl"
OUT_README = CORPUS_DIR / "README.md"

LABELS = [
    "disk-full",
    "missing-command",
    "missing-module",
    "network",
    "out-of-memory",
    "resource-limit",
    "corrupt-cache",
    "permission-denied",
    "port-in-use",
    "crashed",
    "timeout",
    "vcs-error",
    "code-error",
    "registration-removed",
    "runner-offline",
    "unknown",
]
MIN_CASES = {label: 8 for label in LABELS}
MIN_CASES.update({"registration-removed": 4, "runner-offline": 4, "unknown": 6})

MAX_LINES = 200
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
FIXED_DATE = "2026-01-05T10:00:00Z"
# The python that runs the commands: this interpreter's own bin dir goes first
# on PATH, so "python3" and "pip" in a case are the real programs (no shims).
PY_BIN_DIR = str(Path(sys.executable).resolve().parent)
# A python that an unprivileged user can run (this one may live under /root).
SYS_PY = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3")
               if os.access(p, os.X_OK)), None)
IS_ROOT = os.geteuid() == 0


class HarnessError(Exception):
    """The harness itself failed (setup, a helper, a hung case)."""


class Skip(Exception):
    """A scenario cannot run here (tool missing, not root...)."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# scenarios registry

class Scenario:
    def __init__(self, label, name, tool, fn, needs, runner_kind, fresh=False):
        self.label, self.name, self.tool, self.fn = label, name, tool, fn
        self.needs, self.runner_kind = tuple(needs), runner_kind
        # a scenario of the blind set (split "fresh"): made after the
        # classifier was built, never used to fit or tune it, only to measure
        self.fresh = fresh
        # a scenario of the extra training set (split "train" always): added
        # later to widen the training data; the held-out rule does not see it
        self.extra = False


SCENARIOS: list[Scenario] = []


def scenario(label, name, tool, needs=(), runner_kind="command", fresh=False):
    assert label in LABELS, label

    def deco(fn):
        assert all(s.name != name for s in SCENARIOS), name
        SCENARIOS.append(Scenario(label, name, tool, fn, needs, runner_kind, fresh))
        return fn
    return deco


def fresh_scenario(label, name, tool, needs=(), runner_kind="command"):
    """A scenario of the fresh blind set: its cases get split "fresh" whatever
    the held-out rule says, and the rule does not see them."""
    return scenario(label, name, tool, needs, runner_kind, fresh=True)


def have(tool: str) -> bool:
    return shutil.which(tool, path=base_path()) is not None


def base_path() -> str:
    return PY_BIN_DIR + os.pathsep + os.environ.get(
        "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")


def first_missing(names):
    """The first of these commands that is not installed here."""
    for n in names:
        if not have(n):
            return n
    raise Skip("all candidate names are installed: " + ", ".join(names))


# --------------------------------------------------------------------------
# ports and loopback servers

_PORT_NEXT = [47000]


def _port_free(port: int) -> bool:
    for fam, addr in ((socket.AF_INET, "127.0.0.1"),):
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def next_port() -> int:
    """Deterministic ports (47000, 47001...) so that regenerating gives the
    same lines; a port in use is passed over."""
    while True:
        p = _PORT_NEXT[0]
        _PORT_NEXT[0] += 1
        if p > 48999:
            raise HarnessError("no free port")
        if _port_free(p):
            return p


class TcpServer:
    """A loopback TCP server in this process.  mode:
    never  - listens, never accepts (clients connect and wait forever)
    close  - accepts and closes at once (unread data: the client sees a reset)
    eof    - reads what the client sent first, then closes cleanly (EOF)
    reset  - reads the request, then closes with RST
    reply  - reads the request headers, sends `payload`, closes
    """

    def __init__(self, mode: str, payload: bytes = b"", port: int | None = None,
                 host: str = "127.0.0.1"):
        self.mode, self.payload = mode, payload
        self.port = port or next_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, self.port))
        self.sock.listen(64)
        self.stopping = False
        self.thread = None
        if mode != "never":
            self.thread = threading.Thread(target=self._loop, daemon=True)
            self.thread.start()

    def _loop(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(3)
            if self.mode == "close":
                conn.close()
                return
            if self.mode == "eof":
                try:
                    conn.recv(65536)
                except OSError:
                    pass
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
                return
            data = b""
            try:
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            if self.mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                return
            conn.sendall(self.payload)
            conn.close()
        except OSError:
            pass

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


class DirServer:
    """A loopback HTTP server for a directory (an empty one gives 404s)."""

    def __init__(self, directory: Path, status: int | None = None):
        self.port = next_port()
        handler = functools.partial(_QuietHandler, directory=str(directory))
        if status is not None:
            class _Status(_QuietHandler):
                def do_GET(self):
                    body = f"{status} {http.HTTPStatus(status).phrase}\n".encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                do_HEAD = do_GET
            handler = functools.partial(_Status, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------
# memory cgroups

def _own_cgroup_dir() -> tuple[str, Path] | None:
    """('v2', dir) or ('v1', dir): where a child memory cgroup can be made,
    below this process's own cgroup."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    v2 = Path("/sys/fs/cgroup")
    for line in lines:
        hid, ctrls, path = line.split(":", 2)
        if hid == "0" and (v2 / "cgroup.controllers").exists():
            # a child gets a memory.max only where the parent delegates memory:
            # our own cgroup if it does, else the root (as systemd sets it up)
            for base in (v2 / path.lstrip("/"), v2):
                try:
                    if "memory" in (base / "cgroup.subtree_control").read_text().split():
                        return ("v2", base)
                except OSError:
                    pass
    for line in lines:
        hid, ctrls, path = line.split(":", 2)
        if "memory" in ctrls.split(","):
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            if (base / "cgroup.procs").exists():
                return ("v1", base)
    return None


class MemCgroup:
    def __init__(self, name: str, limit: int):
        found = _own_cgroup_dir()
        if found is None:
            raise Skip("no memory cgroup controller (neither v2 nor v1) to make a child in")
        self.kind, base = found
        self.dir = base / f"qcity-corpus-{name}-{os.getpid()}"
        try:
            self.dir.mkdir()
            if self.kind == "v2":
                (self.dir / "memory.max").write_text(str(limit))
                try:
                    (self.dir / "memory.swap.max").write_text("0")
                except OSError:
                    pass
            else:
                (self.dir / "memory.limit_in_bytes").write_text(str(limit))
                try:
                    (self.dir / "memory.memsw.limit_in_bytes").write_text(str(limit))
                except OSError:
                    pass
        except OSError as e:
            self.remove()
            raise Skip(f"cannot make a memory cgroup ({e})")

    def preexec(self):
        procs = str(self.dir / "cgroup.procs")

        def enter():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        return enter

    def remove(self):
        for _ in range(50):
            try:
                self.dir.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)


# --------------------------------------------------------------------------
# the sandbox of one scenario

def rlimit_preexec(**limits):
    import resource
    names = {"nofile": resource.RLIMIT_NOFILE, "fsize": resource.RLIMIT_FSIZE,
             "cpu": resource.RLIMIT_CPU, "as": resource.RLIMIT_AS,
             "nproc": resource.RLIMIT_NPROC}

    def fn():
        for k, v in limits.items():
            resource.setrlimit(names[k], (v, v))
    return fn


class Sandbox:
    def __init__(self, sc: Scenario, show: bool):
        self.sc, self.show = sc, show
        self.dir = Path(tempfile.mkdtemp(prefix="qcity-corpus-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.stable = f"/tmp/corpus/{sc.name}"
        self.home = self.dir / "home"
        self.home.mkdir()
        self.mounts: list[Path] = []
        self.servers = []
        self.cgroups: list[MemCgroup] = []
        self.holders: list[socket.socket] = []
        self.cases: list[dict] = []
        self.rejected: list[str] = []

    # -- files
    def p(self, rel: str) -> Path:
        return self.dir / rel

    def write(self, rel: str, content, mode: int | None = None) -> Path:
        path = self.dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n") if content.startswith("\n") else content)
        if mode is not None:
            os.chmod(path, mode)
        return path

    def randfile(self, rel: str, size: int, seed: int = 1) -> Path:
        return self.write(rel, random.Random(seed).randbytes(size))

    def randtext(self, rel: str, size: int, seed: int = 1) -> Path:
        rnd = random.Random(seed)
        words = ["alpha", "build", "cache", "delta", "error", "fetch", "graph", "hash",
                 "index", "job", "kernel", "layer", "module", "node", "object", "queue"]
        out, n = [], 0
        while n < size:
            line = " ".join(rnd.choice(words) for _ in range(8)) + f" {rnd.randrange(10**9)}"
            out.append(line)
            n += len(line) + 1
        return self.write(rel, "\n".join(out) + "\n")

    # -- mounts
    def tmpfs(self, rel: str, size: str = "2m", opts: str = "") -> Path:
        if not IS_ROOT:
            raise Skip("mounting a tmpfs needs root")
        path = self.dir / rel
        path.mkdir(parents=True, exist_ok=True)
        o = f"size={size}" + ("," + opts if opts else "")
        self.setup(["mount", "-t", "tmpfs", "-o", o, "tmpfs", str(path)])
        self.mounts.append(path)
        return path

    def remount_ro(self, path: Path):
        self.setup(["mount", "-o", "remount,ro", str(path)])

    def fill(self, path: Path):
        """Fill a tmpfs to the last byte."""
        subprocess.run(["dd", "if=/dev/zero", f"of={path}/.filler", "bs=64k"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # -- servers, ports, cgroups
    def closed_port(self) -> int:
        return next_port()

    def hold_port(self, host: str = "127.0.0.1", family=socket.AF_INET) -> int:
        port = next_port()
        s = socket.socket(family, socket.SOCK_STREAM)
        s.bind((host, port))
        s.listen(8)
        self.holders.append(s)
        return port

    def tcp_server(self, mode: str, payload: bytes = b"") -> int:
        srv = TcpServer(mode, payload)
        self.servers.append(srv)
        return srv.port

    def dir_server(self, rel: str, status: int | None = None) -> int:
        d = self.dir / rel
        d.mkdir(parents=True, exist_ok=True)
        srv = DirServer(d, status)
        self.servers.append(srv)
        return srv.port

    def cgroup(self, limit_mb: int):
        cg = MemCgroup(f"{self.sc.name}-{len(self.cgroups)}", limit_mb << 20)
        self.cgroups.append(cg)
        return cg.preexec()

    # -- environment
    def env(self, extra: dict | None = None) -> dict:
        env = {
            "PATH": base_path(),
            "HOME": str(self.home),
            "USER": "root" if IS_ROOT else os.environ.get("USER", "user"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TERM": "dumb",
            "NO_COLOR": "1",
            "TMPDIR": str(self.dir / "tmp"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "PIP_CACHE_DIR": str(self.home / ".cache" / "pip"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "npm_config_cache": str(self.home / ".npm"),
            # nothing may reach a real registry by accident: the default ones are a closed port
            "npm_config_registry": "http://127.0.0.1:9/",
            "PIP_INDEX_URL": "http://127.0.0.1:9/simple/",
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
            "npm_config_color": "false",
            "npm_config_progress": "false",
            "GIT_AUTHOR_NAME": "CI Bot",
            "GIT_AUTHOR_EMAIL": "ci@example.invalid",
            "GIT_COMMITTER_NAME": "CI Bot",
            "GIT_COMMITTER_EMAIL": "ci@example.invalid",
            "GIT_AUTHOR_DATE": FIXED_DATE,
            "GIT_COMMITTER_DATE": FIXED_DATE,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CEILING_DIRECTORIES": "/tmp",
            "GIT_TERMINAL_PROMPT": "0",
            "CARGO_HOME": str(self.home / ".cargo"),
            "CARGO_TERM_COLOR": "never",
            "CARGO_TERM_PROGRESS_WHEN": "never",
            "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", str(Path.home() / ".rustup")),
            "RUSTUP_TOOLCHAIN": os.environ.get("RUSTUP_TOOLCHAIN", ""),
            "DOCKER_CONFIG": str(self.home / ".docker"),
        }
        if not env["RUSTUP_TOOLCHAIN"]:
            del env["RUSTUP_TOOLCHAIN"]
        (self.dir / "tmp").mkdir(exist_ok=True)
        os.chmod(self.dir / "tmp", 0o1777)
        gitconfig = self.home / ".gitconfig"
        if not gitconfig.exists():
            gitconfig.write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
                                 "[core]\n\tpager = cat\n[color]\n\tui = false\n")
        if extra:
            for k, v in extra.items():
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = v
        return env

    # -- running
    def setup(self, cmd, cwd=None, env=None, ok_codes=(0,), shell=False):
        """A setup step: must succeed, else the scenario errors."""
        if shell:
            cmd = ["sh", "-c", cmd]
        r = subprocess.run(cmd, cwd=cwd or self.dir, env=env or self.env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if r.returncode not in ok_codes:
            raise HarnessError(f"setup {cmd!r} exited {r.returncode}: "
                               + r.stdout.decode(errors="replace")[-800:])
        return r.stdout.decode(errors="replace")

    def git(self, repo: Path | str, *args, ok_codes=(0,)):
        return self.setup(["git", *args], cwd=self.dir / repo if isinstance(repo, str) else repo,
                          ok_codes=ok_codes)

    def git_repo(self, rel: str, files: dict[str, str], msg: str = "initial commit",
                 bare_copy: str | None = None) -> Path:
        repo = self.dir / rel
        repo.mkdir(parents=True, exist_ok=True)
        self.git(repo, "init", "-q", "-b", "main")
        for name, text in files.items():
            self.write(f"{rel}/{name}", text)
        self.git(repo, "add", "-A")
        self.git(repo, "commit", "-q", "-m", msg)
        if bare_copy:
            self.setup(["git", "clone", "-q", "--bare", str(repo), str(self.dir / bare_copy)])
        return repo

    def cc(self, src_rel: str, src: str, out_rel: str, flags=(), compiler="gcc"):
        self.write(src_rel, src)
        self.setup([compiler, *flags, "-o", str(self.dir / out_rel), str(self.dir / src_rel)])
        return self.dir / out_rel

    def _stabilize(self, s: str) -> str:
        import urllib.parse
        s = s.replace(str(self.dir), self.stable)
        s = s.replace(urllib.parse.quote(str(self.dir), safe=""), urllib.parse.quote(self.stable, safe=""))
        return s

    def run(self, command, *, visible: str, note: str, expect=(), expect_re=None,
            absent=(), code=None, sig=None, env=None, cwd=None, timeout=10.0,
            preexec=None, kill_after=None, tool=None, stdin_data: bytes | None = None,
            label=None, memlimit: int | None = None):
        """Run one case, check that its output shows the intended failure, and
        record it.  code: the expected exit code (int, tuple, or None = any
        non-zero); sig: the expected signal (then code is None); memlimit: run
        in a memory cgroup of that many MiB (no swap)."""
        assert visible in LABELS, visible
        label = label or self.sc.label
        command = [str(c) for c in command]
        env = env if env is not None else self.env()
        if memlimit is not None:
            if _own_cgroup_dir() is not None:
                preexec = self.cgroup(memlimit)
            elif shutil.which("systemd-run") and os.path.isdir("/run/systemd/system"):
                command = ["systemd-run", "--scope", "--quiet", "-p", f"MemoryMax={memlimit}M",
                           "-p", "MemorySwapMax=0", *command]
            else:
                raise Skip("no memory cgroup to limit the command (no cgroup v2/v1 memory "
                           "controller, no systemd)")
        prog = command[0] if command[0] not in ("setpriv", "unshare", "systemd-run") else \
            next((c for c in command[1:] if not c.startswith("-")), command[0])
        if "/" not in prog and shutil.which(prog, path=env.get("PATH")) is None:
            msg = f"{label}/{self.sc.name}: case not run: {prog} is not installed"
            log("  NOTE " + msg)
            self.rejected.append(msg)
            return None
        cwd = str(cwd or self.dir)
        t0 = time.monotonic()
        proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
            start_new_session=True, preexec_fn=preexec)
        chunks: list[bytes] = []

        def reader():
            while True:
                b = proc.stdout.read1(65536) if hasattr(proc.stdout, "read1") else proc.stdout.read(65536)
                if not b:
                    break
                chunks.append(b)
                if sum(map(len, chunks)) > 8 << 20:  # keep memory bounded
                    del chunks[: len(chunks) // 2]
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        if stdin_data is not None:
            try:
                proc.stdin.write(stdin_data)
                proc.stdin.close()
            except OSError:
                pass
        hung = False
        try:
            proc.wait(timeout=kill_after if kill_after else timeout)
        except subprocess.TimeoutExpired:
            if kill_after:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    hung = True
            else:
                hung = True
            if hung:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        finally:
            # whatever the command left behind in its session
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        th.join(timeout=5)
        elapsed = time.monotonic() - t0
        if hung:
            raise HarnessError(f"case did not end within {timeout}s: {command!r}")
        rc = proc.returncode
        code_v, sig_v = (None, -rc) if rc < 0 else (rc, None)
        raw = b"".join(chunks).decode("utf-8", errors="replace")
        text = ANSI_RE.sub("", raw)
        text = self._stabilize(text)
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines][-MAX_LINES:]
        joined = "\n".join(lines)
        n = len(self.cases) + len(self.rejected) + 1
        tag = f"{label}/{self.sc.name}/{n}"
        if self.show:
            log(f"--- {tag} code={code_v} signal={sig_v} ({elapsed:.1f}s) visible={visible}")
            log("    $ " + " ".join(self._stabilize(c) for c in command)[:300])
            for ln in lines[-40:]:
                log("    | " + ln)
        problems = []
        if sig is not None:
            if sig_v != sig:
                problems.append(f"expected signal {sig}, got code={code_v} signal={sig_v}")
        elif code is None:
            if code_v in (None, 0):
                problems.append(f"expected a non-zero exit code, got code={code_v} signal={sig_v}")
        else:
            codes = code if isinstance(code, tuple) else (code,)
            if code_v not in codes:
                problems.append(f"expected code {codes}, got code={code_v} signal={sig_v}")
        for e in expect:
            if e not in joined:
                problems.append(f"missing {e!r}")
        if expect_re and not re.search(expect_re, joined, re.M):
            problems.append(f"no match for /{expect_re}/")
        for a in absent:
            if a in joined:
                problems.append(f"unexpected {a!r}")
        if elapsed > 8:
            problems.append(f"took {elapsed:.1f}s")
        if problems:
            msg = f"{tag}: not written: " + "; ".join(problems)
            log("  WARN " + msg)
            if not self.show:
                for ln in lines[-8:]:
                    log("       | " + ln)
            self.rejected.append(msg)
            return None
        case = {
            "id": None,  # numbered when written
            "scenario": self.sc.name,
            "label": label,
            "command": [self._stabilize(c) for c in command],
            "tool": tool or self.sc.tool,
            "runner_kind": self.sc.runner_kind,
            "code": code_v,
            "signal": sig_v,
            "lines": lines,
            "confusable": visible != label,
            "visible": visible,
            "note": note,
            "split": None,
        }
        self.cases.append(case)
        return case

    def cleanup(self):
        for srv in self.servers:
            try:
                srv.stop()
            except Exception:
                pass
        for s in self.holders:
            s.close()
        for m in reversed(self.mounts):
            for _ in range(20):
                r = subprocess.run(["umount", str(m)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                if r.returncode == 0:
                    break
                time.sleep(0.2)
            else:
                subprocess.run(["umount", "-l", str(m)])
        for cg in self.cgroups:
            cg.remove()
        # make everything removable (read-only bits, 0000 dirs)
        for root, dirs, files in os.walk(self.dir):
            for d in dirs:
                try:
                    os.chmod(os.path.join(root, d), 0o755, follow_symlinks=False)
                except OSError:
                    pass
        if not any(os.path.ismount(m) for m in self.mounts):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            log(f"  WARN a mount is still in place below {self.dir}; left it")


def sh(script: str) -> list[str]:
    return ["sh", "-c", textwrap.dedent(script).strip()]


def bash(script: str) -> list[str]:
    return ["bash", "-c", textwrap.dedent(script).strip()]


def make_wheel(directory: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A pure-python wheel built by hand (deterministic, no build tools)."""
    dist = f"{name}-{version}.dist-info"
    files = dict(files)
    files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    files[f"{dist}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: failure-corpus\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    out = directory / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files.items():
            zi = zipfile.ZipInfo(path, date_time=(2026, 1, 5, 10, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            z.writestr(zi, data)
    return out


def make_npm_tgz(directory: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """An npm package tarball (package/...) built by hand."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{name}-{version}.tgz"
    files = dict(files)
    files.setdefault("package.json", json.dumps(
        {"name": name, "version": version, "main": "index.js"}, indent=2).encode())
    files.setdefault("index.js", b"module.exports = {};\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for path, data in sorted(files.items()):
            ti = tarfile.TarInfo("package/" + path)
            ti.size, ti.mtime, ti.mode = len(data), 499162500, 0o644
            t.addfile(ti, io.BytesIO(data))
    import gzip
    out.write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    return out


def npm_integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def truncate(path: Path, keep: float | int):
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    path.write_bytes(data[:n])


def flip_bytes(path: Path, offset: int, count: int = 16, seed: int = 7):
    data = bytearray(path.read_bytes())
    rnd = random.Random(seed)
    for i in range(offset, min(offset + count, len(data))):
        data[i] ^= rnd.randrange(1, 256)
    path.write_bytes(bytes(data))


# ==========================================================================
# SCENARIOS
# ==========================================================================
# ---------------------------------------------------------------- disk-full

@scenario("disk-full", "dd-tmpfs", "dd", needs=("dd",))
def _(sb: Sandbox):
    m = sb.tmpfs("mnt")
    sb.run(["dd", "if=/dev/zero", f"of={m}/disk.img", "bs=1M", "count=4"],
           expect=["No space left on device"], visible="disk-full",
           note="dd writing a 4 MiB image into a 2 MiB tmpfs")
    sb.run(["dd", "if=/dev/urandom", f"of={m}/rootfs.ext4", "bs=64k", "count=64", "status=none"],
           expect=["No space left on device"], visible="disk-full",
           note="dd (status=none) writing 4 MiB of random data into a 2 MiB tmpfs")
    sb.run(["dd", "if=/dev/zero", f"of={m}/swap.img", "bs=4M", "count=1", "conv=fsync"],
           expect=["No space left on device"], visible="disk-full",
           note="dd with one 4 MiB block and fsync into a 2 MiB tmpfs")


@scenario("disk-full", "shell-redirect-tmpfs", "sh")
def _(sb: Sandbox):
    m = sb.tmpfs("logs")
    sb.run(sh(f"yes 'compiling module, please wait' > {m}/build.log"),
           expect=["No space left on device"], visible="disk-full", tool="yes",
           note="yes redirected into a log file on a full 2 MiB tmpfs")
    sb.run(bash(f"""
        set -e
        for i in $(seq 1 200000); do echo "step $i: ok"; done > {m}/steps.log
        """), expect=["write error: No space left on device"], visible="disk-full", tool="bash",
           note="a bash loop appending to a log on a 2 MiB tmpfs")
    sb.run(sh(f"head -c 5M /dev/zero > {m}/artifact.bin"),
           expect=["No space left on device"], visible="disk-full", tool="head",
           note="head -c 5M redirected into a 2 MiB tmpfs")


@scenario("disk-full", "cp-tmpfs", "cp")
def _(sb: Sandbox):
    sb.randfile("dist/app.bundle.js", 3 << 20, seed=11)
    for i in range(30):
        sb.randfile(f"node_modules/pkg{i:02d}/index.js", 100 << 10, seed=100 + i)
    m = sb.tmpfs("deploy")
    sb.run(["cp", sb.p("dist/app.bundle.js"), f"{m}/"], expect=["No space left on device"],
           visible="disk-full", note="cp of a 3 MiB bundle into a 2 MiB tmpfs")
    (m / "app.bundle.js").unlink(missing_ok=True)
    sb.run(["cp", "-r", sb.p("node_modules"), f"{m}/"], expect=["No space left on device"],
           visible="disk-full", note="cp -r of a 3 MiB node_modules into a 2 MiB tmpfs")
    shutil.rmtree(m / "node_modules", ignore_errors=True)
    sb.run(["install", "-D", "-m", "0644", sb.p("dist/app.bundle.js"), f"{m}/lib/app.js"],
           expect=["No space left on device"], visible="disk-full", tool="install",
           note="install -D of a 3 MiB file into a 2 MiB tmpfs")
    (m / "lib" / "app.js").unlink(missing_ok=True)
    sb.run(["mv", sb.p("dist/app.bundle.js"), f"{m}/"], expect=["No space left on device"],
           visible="disk-full", tool="mv",
           note="mv across file systems (copy) into a 2 MiB tmpfs")


@scenario("disk-full", "tar-extract-tmpfs", "tar")
def _(sb: Sandbox):
    for i in range(6):
        sb.randfile(f"cache/target/release/deps/libdep{i}.rlib", 600 << 10, seed=200 + i)
    sb.setup(["tar", "-czf", "cache.tar.gz", "cache"])
    sb.setup(["tar", "-cJf", "cache.tar.xz", "cache"])
    if have("zstd"):
        sb.setup(["tar", "--zstd", "-cf", "cache.tar.zst", "cache"])
    m = sb.tmpfs("restore")
    sb.run(["tar", "-xzf", "cache.tar.gz", "-C", m], expect=["No space left on device"],
           visible="unknown",
           note="restoring a 3.6 MiB cache tarball into a 2 MiB tmpfs; the last line is tar's "
                "generic 'Exiting with failure status'")
    sb.setup(["sh", "-c", f"rm -rf {m}/*"])
    sb.run(["tar", "-xJf", "cache.tar.xz", "-C", m], expect=["No space left on device"],
           visible="unknown", note="tar -xJf of a 3.6 MiB cache into a 2 MiB tmpfs")
    sb.setup(["sh", "-c", f"rm -rf {m}/*"])
    if have("zstd"):
        sb.run(["tar", "--zstd", "-xf", "cache.tar.zst", "-C", m],
               expect=["No space left on device"], visible="unknown",
               note="tar --zstd -xf of a 3.6 MiB cache into a 2 MiB tmpfs")
        sb.setup(["sh", "-c", f"rm -rf {m}/*"])
    sb.run(["tar", "-cf", f"{m}/backup.tar", "cache"], expect=["Wrote only"],
           visible="unknown",
           note="tar -cf writing an archive onto a 2 MiB tmpfs: a short write ('Wrote only 8192 of 10240 "
                "bytes', no ENOSPC text), then 'Error is not recoverable'")


@scenario("disk-full", "unzip-tmpfs", "unzip", needs=("unzip", "zip"))
def _(sb: Sandbox):
    sb.randfile("bundle/model.bin", 3 << 20, seed=3)
    sb.write("bundle/README.txt", "model bundle\n")
    sb.setup(["zip", "-q", "-r", "bundle.zip", "bundle"])
    m = sb.tmpfs("out")
    sb.run(["unzip", "-o", "bundle.zip", "-d", m], expect=["write error (disk full?)"],
           visible="disk-full", note="unzip of a 3 MiB archive into a 2 MiB tmpfs (stdin closed)")
    shutil.rmtree(m / "bundle", ignore_errors=True)
    sb.run(["unzip", "-q", "-o", "bundle.zip", "-d", m], expect=["disk full"],
           visible="disk-full", note="unzip -q of a 3 MiB archive into a 2 MiB tmpfs")


@scenario("disk-full", "git-clone-tmpfs", "git", needs=("git",))
def _(sb: Sandbox):
    repo = sb.dir / "src"
    repo.mkdir()
    sb.git(repo, "init", "-q", "-b", "main")
    sb.randfile("src/assets/video.bin", 3 << 20, seed=5)
    sb.write("src/README.md", "# app\n")
    sb.git(repo, "add", "-A")
    sb.git(repo, "commit", "-q", "-m", "assets")
    m = sb.tmpfs("work")
    sb.run(["git", "clone", "--no-local", sb.p("src"), f"{m}/app"],
           expect=["No space left on device"], visible="vcs-error",
           note="git clone --no-local of a repo with a 3 MiB blob into a 2 MiB tmpfs; the last "
                "lines are git's 'fatal: ... index-pack failed' style lines")
    shutil.rmtree(m / "app", ignore_errors=True)
    sb.run(["git", "clone", f"file://{sb.p('src')}", f"{m}/app2"],
           expect=["No space left on device"], visible="vcs-error",
           note="git clone file:// of a repo with a 3 MiB blob into a 2 MiB tmpfs")
    shutil.rmtree(m / "app2", ignore_errors=True)
    # a clone that fits, then a checkout of the big commit that does not
    small = sb.git_repo("small", {"README.md": "# small\n"})
    sb.setup(["git", "clone", "-q", str(small), f"{m}/small"])
    sb.randfile("small/data/blob.bin", 3 << 20, seed=6)
    sb.git(small, "add", "-A")
    sb.git(small, "commit", "-q", "-m", "data")
    sb.run(["git", "-C", f"{m}/small", "pull", "--no-rebase", "-q"],
           expect=["No space left on device"], visible="vcs-error",
           note="git pull of a commit with a 3 MiB blob into a clone on a 2 MiB tmpfs")


@scenario("disk-full", "pip-install-tmpfs", "pip")
def _(sb: Sandbox):
    whl = make_wheel(sb.p("wheels"), "bigmodel", "1.0.0", {
        "bigmodel/__init__.py": b"VERSION = '1.0.0'\n",
        "bigmodel/weights.bin": random.Random(9).randbytes(3 << 20)})
    m = sb.tmpfs("site")
    sb.run(["python3", "-m", "pip", "install", "--no-index", "--no-cache-dir", "--target", f"{m}/lib", whl],
           expect=["No space left on device"], visible="disk-full",
           note="pip install --target into a 2 MiB tmpfs of a wheel holding a 3 MiB file")
    shutil.rmtree(m / "lib", ignore_errors=True)
    sb.run(["python3", "-m", "pip", "download", "--no-index", "--find-links", sb.p("wheels"),
            "--no-cache-dir", "-d", f"{m}/dl", "bigmodel"],
           expect=["No space left on device"], visible="disk-full",
           note="pip download from a local wheel dir into a 2 MiB tmpfs")
    shutil.rmtree(m / "dl", ignore_errors=True)
    t = sb.tmpfs("tmp-small", size="1m")
    sb.run(["python3", "-m", "pip", "install", "--no-index", "--no-cache-dir", "--target", sb.p("lib-ok"), whl],
           env=sb.env({"TMPDIR": str(t)}), expect=["No space left on device"], visible="disk-full",
           note="pip install with TMPDIR on a full 1 MiB tmpfs (the target has room)")


@scenario("disk-full", "npm-tmpfs", "npm", needs=("npm", "node"))
def _(sb: Sandbox):
    tgz = make_npm_tgz(sb.p("pkgs"), "big-assets", "1.0.0", {
        "assets/sprite.bin": random.Random(4).randbytes(3 << 20)})
    m = sb.tmpfs("app")
    sb.write("app/package.json", json.dumps({"name": "web", "version": "1.0.0", "private": True}))
    sb.run(["npm", "install", "--no-save", str(tgz)], cwd=m, expect=["ENOSPC"], visible="code-error",
           note="npm install of a local 3 MiB tarball into a project on a 2 MiB tmpfs: after ENOSPC "
                "warnings npm fails on its own truncated package.json (EJSONPARSE)")
    shutil.rmtree(m / "node_modules", ignore_errors=True)
    c = sb.tmpfs("npm-cache")
    sb.write("proj/package.json", json.dumps({"name": "web", "version": "1.0.0", "private": True}))
    sb.run(["npm", "install", "--no-save", f"--cache={c}", str(tgz)], cwd=sb.p("proj"),
           expect=["ENOSPC"], visible="unknown",
           note="npm install with its cache dir on a 2 MiB tmpfs: one ENOSPC warning, and the only "
                "error line is 'A complete log of this run can be found in'")
    sb.write("pkgsrc/package.json", json.dumps({"name": "sprites", "version": "2.1.0"}))
    sb.randfile("pkgsrc/sprites.bin", 3 << 20, seed=12)
    shutil.rmtree(m / "node_modules", ignore_errors=True)
    sb.run(["npm", "pack", f"--pack-destination={m}"], cwd=sb.p("pkgsrc"), expect=["ENOSPC"],
           visible="disk-full", note="npm pack of a 3 MiB package into a 2 MiB tmpfs")


@scenario("disk-full", "gcc-tmpfs", "gcc", needs=("gcc", "make"))
def _(sb: Sandbox):
    sb.write("src/main.c", """
        #include <stdio.h>
        static unsigned char table[3 << 20] = {1, 2, 3};
        int main(void) { printf("%d\\n", table[0]); return 0; }
        """)
    m = sb.tmpfs("build")
    sb.run(["gcc", "-O0", "-o", f"{m}/app", "src/main.c"], expect=["No space left on device"],
           visible="code-error",
           note="gcc linking a 3 MiB binary into a 2 MiB tmpfs; the last line is "
                "'collect2: error: ld returned 1 exit status'")
    sb.write("Makefile", f"""
        BUILD := {m}
        $(BUILD)/app: src/main.c
        \tgcc -O0 -o $@ $<
        """.replace("        ", "").replace("\\t", "\t"))
    sb.run(["make"], expect=["No space left on device"], visible="code-error", tool="make",
           note="make running gcc with its output on a 2 MiB tmpfs; ends in 'make: *** ... Error 1'")
    t = sb.tmpfs("tmp-full", size="1m")
    sb.fill(t)
    sb.write("src/util.c", "int util_add(int a, int b) { return a + b; }\n" * 1)
    sb.run(["gcc", "-c", "src/util.c", "-o", sb.p("util.o")], env=sb.env({"TMPDIR": str(t)}),
           expect=["No space left on device"], visible="disk-full",
           note="gcc -c with TMPDIR on a full tmpfs (it cannot write its temporary assembly)")
    sb.run(["g++", "-O0", "-x", "c++", "-o", f"{m}/app-cpp", "src/main.c"],
           expect=["No space left on device"], visible="code-error", tool="g++",
           note="g++ linking a 3 MiB binary into a 2 MiB tmpfs")


@scenario("disk-full", "cargo-tmpfs", "cargo", needs=("cargo", "rustc"))
def _(sb: Sandbox):
    sb.write("app/Cargo.toml", '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n')
    sb.write("app/src/main.rs", 'fn main() {\n    println!("hello from app");\n}\n')
    tiny = sb.tmpfs("target-tiny", size="64k")
    sb.run(["cargo", "build", "--offline"], cwd=sb.p("app"), env=sb.env({"CARGO_TARGET_DIR": str(tiny)}),
           code=101, expect=["No space left on device"], visible="code-error",
           note="cargo build with CARGO_TARGET_DIR on a 64 KiB tmpfs: rustc's LLVM fails to write; the "
                "last lines are 'could not compile' and 'failed to parse process output'")
    m = sb.tmpfs("target", size="1m")
    sb.run(["cargo", "build", "--offline"], cwd=sb.p("app"), env=sb.env({"CARGO_TARGET_DIR": str(m)}),
           code=101, expect=["Bus error"], visible="code-error",
           note="cargo build with its target dir on a 1 MiB tmpfs: the linker (lld, writing through mmap) "
                "gets SIGBUS when the tmpfs fills; no ENOSPC text at all, ends in 'could not compile'")
    sb.setup(["sh", "-c", f"rm -rf {m}/*"])
    sb.run(["rustc", "-g", "-o", f"{m}/app", "app/src/main.rs"], code=1, expect=["Bus error"],
           visible="code-error", tool="rustc",
           note="rustc -g linking into a 1 MiB tmpfs: lld SIGBUS on the full tmpfs, 'aborting due to 1 "
                "previous error'")


@scenario("disk-full", "python-write-tmpfs", "python3")
def _(sb: Sandbox):
    m = sb.tmpfs("data")
    sb.write("export.py", f"""
        import os
        rows = ["%08d,order,%s" % (i, "x" * 40) for i in range(100000)]
        with open("{m}/export.csv", "w") as f:
            for r in rows:
                f.write(r + "\\n")
        print("exported", len(rows), "rows")
        """)
    sb.run(["python3", "export.py"], expect=["No space left on device"], visible="disk-full",
           note="a python export script writing 5 MiB of CSV into a 2 MiB tmpfs")
    (m / "export.csv").unlink(missing_ok=True)
    sb.write("cache.py", f"""
        import sqlite3, os
        db = sqlite3.connect("{m}/cache.db")
        db.execute("create table blobs (k integer primary key, v blob)")
        for i in range(64):
            db.execute("insert into blobs values (?, ?)", (i, os.urandom(65536)))
        db.commit()
        """)
    sb.run(["python3", "cache.py"], expect=["database or disk is full"], visible="disk-full",
           note="python sqlite3 filling a cache database on a 2 MiB tmpfs")
    (m / "cache.db").unlink(missing_ok=True)
    sb.write("copy.py", f"""
        import shutil, os
        os.makedirs("src", exist_ok=True)
        for i in range(8):
            with open(f"src/chunk{{i}}.bin", "wb") as f:
                f.write(os.urandom(512 * 1024))
        shutil.copytree("src", "{m}/mirror")
        """)
    sb.run(["python3", "copy.py"], expect=["No space left on device"], visible="disk-full",
           note="python shutil.copytree of 4 MiB into a 2 MiB tmpfs")


@scenario("disk-full", "sqlite-cli-tmpfs", "sqlite3", needs=("sqlite3",))
def _(sb: Sandbox):
    m = sb.tmpfs("db")
    sb.run(["sqlite3", f"{m}/app.db",
            "create table events(id integer primary key, payload blob);"
            " with recursive n(i) as (select 1 union all select i+1 from n where i < 5000)"
            " insert into events(payload) select randomblob(1024) from n;"],
           expect=["database or disk is full"], visible="disk-full",
           note="sqlite3 CLI inserting 5 MiB into a database on a 2 MiB tmpfs")
    for f in m.iterdir():
        f.unlink()
    sb.write("seed.sql", "create table logs(id integer primary key, line text);\n"
             "with recursive n(i) as (select 1 union all select i+1 from n where i < 40000)\n"
             "insert into logs(line) select printf('%080d', i) from n;\n")
    sb.run(["sh", "-c", f"sqlite3 {m}/logs.db < seed.sql"], expect=["database or disk is full"],
           visible="disk-full", note="sqlite3 reading a seed script into a database on a 2 MiB tmpfs")


@scenario("disk-full", "compress-tmpfs", "xz")
def _(sb: Sandbox):
    sb.randfile("dump.bin", 3 << 20, seed=21)
    m = sb.tmpfs("out")
    if have("zstd"):
        sb.run(["zstd", "-q", "-f", "-o", f"{m}/dump.bin.zst", "dump.bin"],
               expect_re=r"(No space left on device|[Ww]rite error)", visible="disk-full", tool="zstd",
               note="zstd compressing 3 MiB of random data into a 2 MiB tmpfs")
        (m / "dump.bin.zst").unlink(missing_ok=True)
    sb.run(sh(f"xz -c -0 dump.bin > {m}/dump.bin.xz"), expect=["No space left on device"],
           visible="disk-full", tool="xz", note="xz -c redirected into a 2 MiB tmpfs")
    (m / "dump.bin.xz").unlink(missing_ok=True)
    sb.run(sh(f"gzip -c dump.bin > {m}/dump.bin.gz"), expect=["No space left on device"],
           visible="disk-full", tool="gzip", note="gzip -c redirected into a 2 MiB tmpfs")
    (m / "dump.bin.gz").unlink(missing_ok=True)
    sb.run(["sort", "-S", "64K", "-T", m, "-o", "/dev/null", sb.randtext("words.txt", 3 << 20)],
           expect=["No space left on device"], visible="disk-full", tool="sort",
           note="sort spilling temporary files into a 2 MiB tmpfs (-T)")


@scenario("disk-full", "inode-exhaustion", "touch")
def _(sb: Sandbox):
    m = sb.tmpfs("cache", size="8m", opts="nr_inodes=64")
    sb.run(bash(f"for i in $(seq 1 200); do touch {m}/entry-$i.json; done"),
           expect=["No space left on device"], visible="disk-full",
           note="creating 200 files on a tmpfs limited to 64 inodes (ENOSPC with free bytes)")
    sb.setup(["sh", "-c", f"rm -rf {m}/*"])
    for i in range(100):
        sb.write(f"src/module{i:03d}.py", "x = 1\n")
    sb.run(["cp", "-r", sb.p("src"), f"{m}/src"], expect=["No space left on device"], visible="disk-full",
           tool="cp", note="cp -r of 100 small files onto a tmpfs limited to 64 inodes")
    sb.setup(["sh", "-c", f"rm -rf {m}/*"])
    sb.run(["python3", "-c", textwrap.dedent(f"""
        import tempfile
        for i in range(200):
            tempfile.NamedTemporaryFile(dir="{m}", delete=False)
        """).strip()], expect=["No space left on device"], visible="disk-full", tool="python3",
           note="python tempfile on a tmpfs limited to 64 inodes")


@scenario("disk-full", "fallocate-tmpfs", "fallocate", needs=("fallocate",))
def _(sb: Sandbox):
    m = sb.tmpfs("vm")
    sb.run(["fallocate", "-l", "64M", f"{m}/swapfile"], expect=["No space left on device"],
           visible="disk-full", note="fallocate of 64 MiB on a 2 MiB tmpfs")
    sb.run(["python3", "-c", f"import os; fd = os.open('{m}/disk.qcow2', os.O_CREAT | os.O_WRONLY); "
            "os.posix_fallocate(fd, 0, 32 << 20)"], expect=["No space left on device"],
           visible="disk-full", tool="python3", note="python os.posix_fallocate of 32 MiB on a 2 MiB tmpfs")


@scenario("disk-full", "wrapped-disk-full", "bash")
def _(sb: Sandbox):
    sb.randfile("build/output/app.tar", 3 << 20, seed=31)
    m = sb.tmpfs("artifacts")
    sb.write("ci/package.sh", f"""
        #!/bin/bash
        set -u
        echo "==> packaging build/output"
        if ! cp -r build/output {m}/release-1.4.2; then
            echo "ERROR: packaging step failed (exit 1)" >&2
            exit 1
        fi
        echo "==> done"
        """.replace("\n        ", "\n").lstrip(), mode=0o755)
    sb.run(["ci/package.sh"], expect=["No space left on device", "ERROR: packaging step failed"],
           visible="unknown",
           note="a packaging script that wraps cp's ENOSPC in its own generic ERROR line")
    shutil.rmtree(m / "release-1.4.2", ignore_errors=True)
    sb.write("ci/upload.py", f"""
        import shutil, sys
        try:
            shutil.copy("build/output/app.tar", "{m}/app.tar")
        except OSError as e:
            print(f"upload: cannot stage artifact: {{e}}", file=sys.stderr)
            print("Step 'stage artifacts' failed.", file=sys.stderr)
            sys.exit(3)
        """)
    sb.run(["python3", "ci/upload.py"], code=3, expect=["No space left on device", "failed"],
           visible="unknown", tool="python3",
           note="a python CI step that reports ENOSPC inside its own message and a generic 'failed'")


# ---------------------------------------------------------- missing-command

JS_TOOLS = ["yarn", "pnpm", "bun", "deno", "tsc", "vite"]
BUILD_TOOLS = ["bazel", "gradle", "mvn", "protoc", "buf", "cmake", "ninja", "meson"]
OPS_TOOLS = ["helm", "kustomize", "ansible-playbook", "packer", "aws", "gcloud", "az", "kind"]


@scenario("missing-command", "sh-not-found", "sh")
def _(sb: Sandbox):
    y = first_missing(JS_TOOLS)
    sb.run(sh(f"{y} install --frozen-lockfile"), code=127, expect=["not found"],
           visible="missing-command", note=f"sh -c running {y}, which is not installed")
    b = first_missing(BUILD_TOOLS)
    sb.run(bash(f"echo '==> building'; {b} build //..."), code=127, expect=["command not found"],
           visible="missing-command", tool="bash", note=f"bash -c running {b}, which is not installed")
    o = first_missing(OPS_TOOLS)
    sb.write("ci/deploy.sh", f"#!/bin/bash\nset -euo pipefail\necho \"deploying release 1.4.2\"\n"
             f"{o} version\necho done\n", mode=0o755)
    sb.run(["ci/deploy.sh"], code=127, expect=["command not found"], visible="missing-command",
           tool="bash", note=f"a bash CI script (set -e) calling {o}, which is not installed")


@scenario("missing-command", "env-not-found", "env")
def _(sb: Sandbox):
    interp = first_missing(["ruby", "php", "lua5.4", "Rscript", "pwsh"])
    sb.write("scripts/bump-version", f"#!/usr/bin/env {interp}\nputs 'bump'\n", mode=0o755)
    sb.run(["scripts/bump-version"], code=127, expect=["No such file or directory"],
           visible="missing-command", note=f"a script whose shebang asks env for {interp}, not installed")
    d = first_missing(["deno", "bun", "tsx", "ts-node"])
    sb.run(["env", "NODE_ENV=production", d, "run", "main.ts"], code=127,
           expect=["No such file or directory"], visible="missing-command",
           note=f"env running {d}, which is not installed")
    sb.write("tools/gen.py", "#!/usr/bin/python2.6\nprint 'gen'\n", mode=0o755)
    sb.run(bash("./tools/gen.py"), code=(126, 127), expect_re=r"(bad interpreter|required file not found)",
           visible="missing-command", tool="bash",
           note="bash running a script whose interpreter /usr/bin/python2.6 does not exist")
    sb.run(sh("./tools/gen.py"), code=127, expect=["not found"], visible="missing-command", tool="sh",
           note="dash running a script whose interpreter /usr/bin/python2.6 does not exist")


@scenario("missing-command", "make-missing-tool", "make", needs=("make",))
def _(sb: Sandbox):
    p = first_missing(["protoc", "buf", "flatc", "thrift"])
    sb.write("api.proto", 'syntax = "proto3";\npackage api;\nmessage Ping { string id = 1; }\n')
    sb.write("Makefile", f"gen: api.proto\n\t{p} --go_out=. api.proto\n")
    sb.run(["make", "gen"], code=2, expect=["No such file or directory", "Error 127"],
           visible="code-error",
           note=f"make running {p} directly (no shell): the last line is 'make: *** [...] Error 127'")
    sb.write("Makefile.sh", f"gen:\n\t{p} --version && {p} --go_out=. api.proto\n")
    sb.run(["make", "-f", "Makefile.sh", "gen"], code=2, expect=["not found", "Error 127"],
           visible="code-error", note=f"make running {p} through /bin/sh; ends in 'Error 127'")
    c = first_missing(["cmake", "meson", "ninja", "scons"])
    sb.write("Makefile.cm", f"all:\n\tmkdir -p build\n\tcd build && {c} ..\n")
    sb.run(["make", "-f", "Makefile.cm"], code=2, expect=["Error 127"], visible="code-error",
           note=f"make with a recipe 'cd build && {c} ..', {c} not installed")


@scenario("missing-command", "npm-script-missing-bin", "npm", needs=("npm", "node"))
def _(sb: Sandbox):
    t = first_missing(["tsc", "vite", "webpack", "eslint", "jest"])
    sb.write("web/package.json", json.dumps({
        "name": "web", "version": "1.0.0", "private": True,
        "scripts": {"build": f"{t} -p tsconfig.json", "lint": "eslint-fake src/"}}, indent=2))
    sb.run(["npm", "run", "build"], cwd=sb.p("web"), code=127, expect=["not found"],
           visible="missing-command",
           note=f"npm run build whose script calls {t}, not installed (no node_modules/.bin)")
    sb.run(["npm", "run", "lint"], cwd=sb.p("web"), code=127, expect=["not found"], visible="missing-command",
           note="npm run lint whose script calls a linter binary that is not installed")


@scenario("missing-command", "python-subprocess-missing", "python3")
def _(sb: Sandbox):
    o = first_missing(["terraform-1.9", "tofu", "pulumi", "packer"])
    sb.write("ci/plan.py", f"""
        import subprocess
        print("running {o} plan")
        subprocess.run(["{o}", "plan", "-input=false"], check=True)
        """)
    sb.run(["python3", "ci/plan.py"], expect=["FileNotFoundError", o], visible="missing-command",
           note=f"python subprocess.run of {o}, which is not installed")
    g = first_missing(["gh", "glab", "hub"])
    sb.write("ci/release.py", f"""
        import os
        print("creating release v1.4.2")
        os.execvp("{g}", ["{g}", "release", "create", "v1.4.2"])
        """)
    sb.run(["python3", "ci/release.py"], expect=["FileNotFoundError"], visible="missing-command",
           note=f"python os.execvp of {g}, which is not installed")


@scenario("missing-command", "xargs-missing", "xargs")
def _(sb: Sandbox):
    lint = first_missing(["shellcheck", "shfmt", "hadolint", "yamllint"])
    sb.write("a.sh", "echo a\n")
    sb.write("b.sh", "echo b\n")
    sb.run(sh(f"ls *.sh | xargs {lint}"), code=127, expect=["No such file or directory"],
           visible="missing-command", note=f"xargs running {lint}, which is not installed")
    fmt = first_missing(["clang-format", "prettier", "black-fmt", "rustfmt-nightly"])
    sb.run(sh(f"find . -name '*.sh' -print0 | xargs -0 -n1 {fmt} --check"), code=127,
           expect=["No such file or directory"], visible="missing-command",
           note=f"find | xargs -0 running {fmt}, which is not installed")


@scenario("missing-command", "node-spawn-enoent", "node", needs=("node",))
def _(sb: Sandbox):
    y = first_missing(JS_TOOLS)
    sb.write("scripts/build.js", f"""
        const {{ execFileSync }} = require('child_process');
        console.log('building workspace packages');
        execFileSync('{y}', ['workspaces', 'run', 'build'], {{ stdio: 'inherit' }});
        """)
    sb.run(["node", "scripts/build.js"], code=1, expect=["ENOENT"], visible="missing-command",
           note=f"node execFileSync of {y}, which is not installed")
    d = first_missing(["docker-compose", "podman", "nerdctl"])
    sb.write("scripts/up.js", f"""
        const {{ spawn }} = require('child_process');
        const p = spawn('{d}', ['up', '-d']);
        p.on('exit', (c) => process.exit(c));
        """)
    sb.run(["node", "scripts/up.js"], code=1, expect=["ENOENT"], visible="missing-command",
           note=f"node spawn of {d} with no 'error' handler: unhandled 'error' event ENOENT")


@scenario("missing-command", "cargo-missing-subcommand", "cargo", needs=("cargo",))
def _(sb: Sandbox):
    sb.write("app/Cargo.toml", '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n')
    sb.write("app/src/main.rs", "fn main() {}\n")
    env = sb.env({"CARGO_HOME": str(sb.home / ".cargo")})
    for sub in ("audit", "deny", "llvm-cov", "udeps", "machete"):
        if not have(f"cargo-{sub}"):
            break
    else:
        raise Skip("all cargo subcommand candidates are installed")
    sb.run(["cargo", sub], cwd=sb.p("app"), env=env, code=101, expect=["no such command"],
           visible="missing-command", note=f"cargo {sub} with cargo-{sub} not installed")


@scenario("missing-command", "git-missing-subcommand", "git", needs=("git",))
def _(sb: Sandbox):
    sb.git_repo("repo", {"README.md": "# repo\n"})
    sub = "lfs" if not have("git-lfs") else ("crypt" if not have("git-crypt") else None)
    if sub is None:
        raise Skip("git-lfs and git-crypt are both installed")
    sb.run(["git", sub, "pull"], cwd=sb.p("repo"), code=1, expect=["is not a git command"],
           visible="missing-command", note=f"git {sub} pull with git-{sub} not installed")
    if sub == "lfs":
        src = sb.dir / "assets"
        src.mkdir()
        sb.git(src, "init", "-q", "-b", "main")
        sb.write("assets/.gitattributes", "*.bin filter=lfs diff=lfs merge=lfs -text\n")
        sb.write("assets/model.bin", "weights\n")
        sb.git(src, "add", "-A")
        sb.git(src, "commit", "-q", "-m", "model")
        sb.write("home/.gitconfig", (sb.home / ".gitconfig").read_text() +
                 '[filter "lfs"]\n\tclean = git-lfs clean -- %f\n\tsmudge = git-lfs smudge -- %f\n'
                 '\tprocess = git-lfs filter-process\n\trequired = true\n')
        sb.run(["git", "clone", str(src), sb.p("clone")], code=128, expect=["git-lfs", "not found"],
               visible="vcs-error",
               note="git clone of a repo with LFS files where the git config names the lfs filter but "
                    "git-lfs is not installed: ends in 'fatal: the remote end hung up unexpectedly' and "
                    "'Clone succeeded, but checkout failed'")


@scenario("missing-command", "wrapped-missing-command", "bash")
def _(sb: Sandbox):
    h = first_missing(OPS_TOOLS)
    sb.write("ci/release.sh", f"""
        #!/bin/bash
        run() {{
            "$@" || {{ echo "release.sh: step '$1' failed with status $?" >&2; exit 1; }}
        }}
        echo "==> publishing chart"
        run {h} package charts/app
        """.replace("\n        ", "\n").lstrip(), mode=0o755)
    sb.run(["ci/release.sh"], code=1, expect=["command not found", "failed with status 127"],
           visible="unknown",
           note=f"a release script wrapping a missing {h} in its own 'step failed' message")
    t = first_missing(BUILD_TOOLS)
    sb.write("ci/build.py", f"""
        import subprocess, sys
        r = subprocess.run("{t} assemble --no-daemon", shell=True)
        if r.returncode != 0:
            sys.exit(f"build failed: exit status {{r.returncode}}")
        """)
    sb.run(["python3", "ci/build.py"], code=1, expect=["not found", "build failed: exit status 127"],
           visible="unknown", tool="python3",
           note=f"a python build step running {t} through the shell; its last line is its own 'build failed'")


# ----------------------------------------------------------- missing-module

PY_MODULES = ["numpy", "pandas", "flask", "django", "boto3", "torch", "sklearn", "lxml"]
NODE_MODULES = ["express", "lodash", "axios", "react", "chalk", "dotenv"]


def missing_py_module(*names):
    for n in names or PY_MODULES:
        r = subprocess.run([sys.executable, "-c", f"import {n}"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            return n
    raise Skip("all candidate python modules are installed")


@scenario("missing-module", "python-modulenotfound", "python3")
def _(sb: Sandbox):
    mods = [m for m in PY_MODULES
            if subprocess.run([sys.executable, "-c", f"import {m}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode != 0]
    if len(mods) < 3:
        raise Skip("fewer than three candidate python modules are missing")
    sb.run(["python3", "-c", f"import {mods[0]} as np\nprint(np.__version__)"], code=1,
           expect=["ModuleNotFoundError"], visible="missing-module", note=f"python import of {mods[0]}")
    sb.write("app/server.py", f"""
        import os
        import json
        from {mods[1]} import something

        def main():
            print("starting")

        if __name__ == "__main__":
            main()
        """)
    sb.run(["python3", "app/server.py"], code=1, expect=["ModuleNotFoundError"], visible="missing-module",
           note=f"a python app whose third import ({mods[1]}) is not installed")
    for tool in ("pytest", "black", "mypy", "ruff", "tox"):
        if subprocess.run([sys.executable, "-c", f"import {tool}"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode != 0:
            break
    sb.run(["python3", "-m", tool, "."], code=1, expect=["No module named"], visible="missing-module",
           note=f"python -m {tool} with {tool} not installed")


@scenario("missing-module", "python-unittest-import", "python3")
def _(sb: Sandbox):
    mod = missing_py_module()
    sb.write("tests/__init__.py", "")
    sb.write("tests/test_report.py", f"""
        import unittest
        import {mod}


        class ReportTest(unittest.TestCase):
            def test_totals(self):
                self.assertEqual(1, 1)
        """)
    sb.write("tests/test_util.py", """
        import unittest


        class UtilTest(unittest.TestCase):
            def test_ok(self):
                self.assertTrue(True)
        """)
    sb.run(["python3", "-m", "unittest", "discover", "-s", "tests", "-t", "."], code=1,
           expect=["ModuleNotFoundError", "FAILED (errors=1)"], visible="code-error",
           note=f"unittest discovery where one test module imports {mod}; ends in 'FAILED (errors=1)'")
    sb.run(["python3", "-m", "unittest", "-v", "tests.test_report"], code=1,
           expect=["ModuleNotFoundError"], visible="code-error",
           note=f"unittest -v of a test module importing {mod}; the last lines are the test summary")


@scenario("missing-module", "node-cannot-find-module", "node", needs=("node",))
def _(sb: Sandbox):
    sb.write("app/server.js", "const express = require('express');\nconst app = express();\n"
             "app.listen(3000);\n")
    sb.run(["node", "app/server.js"], code=1, expect=["Cannot find module 'express'"],
           visible="missing-module", note="node require of express with no node_modules")
    sb.write("app/package.json", json.dumps({"name": "app", "type": "module", "version": "1.0.0"}))
    sb.write("app/index.js", "import { debounce } from 'lodash-es';\nconsole.log(debounce);\n")
    sb.run(["node", "app/index.js"], code=1, expect=["Cannot find package 'lodash-es'"],
           visible="missing-module", note="node ESM import of lodash-es with no node_modules")
    sb.write("svc/package.json", json.dumps({"name": "svc", "version": "1.0.0",
                                            "scripts": {"test": "node test.js"}}, indent=2))
    sb.write("svc/test.js", "const axios = require('axios');\nconsole.log('ok');\n")
    sb.run(["npm", "test"], cwd=sb.p("svc"), code=1, expect=["Cannot find module 'axios'"],
           visible="missing-module", tool="npm",
           note="npm test whose test file requires axios (not installed)")


@scenario("missing-module", "gcc-missing-header", "gcc", needs=("gcc",))
def _(sb: Sandbox):
    headers = [("curl/curl.h", "curl_easy_init()"), ("yaml.h", "0"), ("sodium.h", "sodium_init()"),
               ("libxml/parser.h", "0"), ("pcre2.h", "0"), ("uv.h", "0")]
    missing = [h for h in headers if not any(
        Path(d, h[0]).exists() for d in ("/usr/include", "/usr/local/include",
                                         "/usr/include/x86_64-linux-gnu"))]
    if len(missing) < 2:
        raise Skip("candidate headers are installed")
    h1, h2 = missing[0], missing[1]
    sb.write("src/http.c", f"#include <stdio.h>\n#include <{h1[0]}>\n\nint main(void) {{\n"
             f"    printf(\"%p\\n\", (void *) 0);\n    return 0;\n}}\n")
    sb.run(["gcc", "-c", "src/http.c", "-o", "http.o"], code=1, expect=["No such file or directory"],
           visible="missing-module", note=f"gcc compiling a file that includes <{h1[0]}>, not installed")
    sb.write("src/conf.cpp", f"#include <string>\n#include <{h2[0]}>\n\nint main() {{ return 0; }}\n")
    if have("g++"):
        sb.run(["g++", "-std=c++17", "-c", "src/conf.cpp", "-o", "conf.o"], code=1,
               expect=["No such file or directory"], visible="missing-module", tool="g++",
               note=f"g++ compiling a file that includes <{h2[0]}>, not installed")
    if have("make"):
        sb.write("Makefile", "CFLAGS = -O2 -Wall\nOBJS = http.o\n\napp: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n\n"
                 "%.o: src/%.c\n\t$(CC) $(CFLAGS) -c -o $@ $<\n")
        sb.run(["make"], code=2, expect=["No such file or directory", "Error 1"], visible="code-error",
               tool="make", note=f"make building a file that includes <{h1[0]}>; ends in 'make: *** Error 1'")


@scenario("missing-module", "ld-missing-lib", "gcc", needs=("gcc",))
def _(sb: Sandbox):
    libs = ["curl", "yaml", "sodium", "pq", "uv", "xml2", "pcre2-8", "archive"]
    missing = [l for l in libs if not subprocess.run(
        ["sh", "-c", f"echo 'int main(){{return 0;}}' | gcc -x c - -o /dev/null -l{l}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0]
    if len(missing) < 2:
        raise Skip("candidate libraries are installed")
    sb.write("main.c", "int main(void) { return 0; }\n")
    sb.run(["gcc", "-o", "app", "main.c", f"-l{missing[0]}"], code=1, expect=[f"cannot find -l{missing[0]}"],
           visible="code-error",
           note=f"gcc linking with -l{missing[0]} (not installed); ends in 'collect2: error: ld returned 1'")
    sb.run(["gcc", "-o", "app", "main.c", "-lm", f"-l{missing[1]}", "-lpthread"], code=1,
           expect=[f"cannot find -l{missing[1]}"], visible="code-error",
           note=f"gcc linking with -l{missing[1]} (not installed)")


@scenario("missing-module", "shared-lib-missing", "c-program", needs=("gcc",))
def _(sb: Sandbox):
    sb.write("greet.c", '#include <stdio.h>\nvoid greet(void) { puts("hello"); }\n')
    sb.setup(["gcc", "-shared", "-fPIC", "-o", "libgreet.so.1", "greet.c", "-Wl,-soname,libgreet.so.1"])
    sb.write("main.c", "void greet(void);\nint main(void) { greet(); return 0; }\n")
    sb.setup(["gcc", "-o", "app", "main.c", "-L.", "-l:libgreet.so.1"])
    os.unlink(sb.p("libgreet.so.1"))
    sb.run(["./app"], code=127, expect=["error while loading shared libraries"], visible="missing-module",
           note="a program whose shared library libgreet.so.1 is gone")
    sb.run(sh("echo 'starting worker'; ./app"), code=127, expect=["error while loading shared libraries"],
           visible="missing-module", tool="sh", note="the same program started from a shell script")
    sb.run(["python3", "-c", "import ctypes\nlib = ctypes.CDLL('libgreet.so.1')\nlib.greet()"], code=1,
           expect=["cannot open shared object file"], visible="missing-module", tool="python3",
           note="python ctypes loading a shared library that is not installed")


@scenario("missing-module", "perl-cant-locate", "perl", needs=("perl",))
def _(sb: Sandbox):
    mods = [m for m in ("YAML::XS", "JSON::XS", "Moose", "DBD::Pg", "Mojolicious", "Text::CSV_XS")
            if subprocess.run(["perl", f"-M{m}", "-e1"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode != 0]
    if len(mods) < 2:
        raise Skip("candidate perl modules are installed")
    sb.run(["perl", f"-M{mods[0]}", "-e", "print 1"], code=2, expect=["Can't locate"],
           visible="missing-module", note=f"perl -M{mods[0]}, not installed")
    sb.write("bin/report.pl", f"#!/usr/bin/perl\nuse strict;\nuse warnings;\nuse {mods[1]};\n\nprint \"ok\\n\";\n")
    sb.run(["perl", "bin/report.pl"], code=2, expect=["Can't locate", "BEGIN failed"],
           visible="missing-module", note=f"a perl script using {mods[1]}, not installed")


@scenario("missing-module", "pip-no-distribution", "pip")
def _(sb: Sandbox):
    make_wheel(sb.p("wheels"), "internal-utils", "1.2.0", {"internal_utils/__init__.py": b""})
    sb.run(["python3", "-m", "pip", "install", "--no-index", "--find-links", sb.p("wheels"),
            "--target", sb.p("lib"), "requests==2.31.0"], code=1,
           expect=["No matching distribution found"], visible="missing-module",
           note="pip install from a local wheel dir that does not hold requests")
    sb.run(["python3", "-m", "pip", "install", "--no-index", "--find-links", sb.p("wheels"),
            "--target", sb.p("lib"), "internal-utils>=2.0"], code=1,
           expect=["No matching distribution found", "from versions: 1.2.0"], visible="missing-module",
           note="pip install internal-utils>=2.0 when the local wheel dir only has 1.2.0")
    port = sb.dir_server("index")
    (sb.p("index/simple")).mkdir(parents=True, exist_ok=True)
    sb.write("requirements.txt", "flask==3.0.0\ngunicorn==21.2.0\n")
    sb.run(["python3", "-m", "pip", "install", "--index-url", f"http://127.0.0.1:{port}/simple/",
            "--target", sb.p("lib"), "-r", "requirements.txt"], code=1,
           expect=["No matching distribution found"], visible="missing-module",
           note="pip install -r against a local index server that answers 404 for the package")


@scenario("missing-module", "npm-404-local-registry", "npm", needs=("npm", "node"))
def _(sb: Sandbox):
    port = sb.dir_server("registry")
    sb.write("app/package.json", json.dumps({"name": "app", "version": "1.0.0", "private": True}))
    sb.run(["npm", "install", "left-pad", f"--registry=http://127.0.0.1:{port}/"], cwd=sb.p("app"),
           code=1, expect=["E404"], visible="missing-module",
           note="npm install left-pad from a local registry that answers 404")
    sb.write("app2/package.json", json.dumps({"name": "app2", "version": "1.0.0", "private": True,
                                             "dependencies": {"@acme/ui-kit": "^2.3.0"}}, indent=2))
    sb.run(["npm", "install", f"--registry=http://127.0.0.1:{port}/"], cwd=sb.p("app2"), code=1,
           expect=["E404"], visible="missing-module",
           note="npm install of a scoped dependency that the local registry does not have (404)")


@scenario("missing-module", "cargo-missing-crate", "cargo", needs=("cargo",))
def _(sb: Sandbox):
    sb.write("app/Cargo.toml", '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n'
             '[dependencies]\nserde = { version = "1", features = ["derive"] }\n')
    sb.write("app/src/main.rs", "fn main() {}\n")
    sb.run(["cargo", "build", "--offline"], cwd=sb.p("app"), code=101,
           expect=["no matching package named `serde` found"], visible="missing-module",
           note="cargo build --offline with a dependency absent from an empty CARGO_HOME")
    sb.write("app2/Cargo.toml", '[package]\nname = "app2"\nversion = "0.1.0"\nedition = "2021"\n\n'
             '[dependencies]\nshared = { path = "../shared" }\n')
    sb.write("app2/src/main.rs", "fn main() {}\n")
    sb.run(["cargo", "build", "--offline"], cwd=sb.p("app2"), code=101,
           expect=["failed to read"], visible="missing-module",
           note="cargo build with a path dependency ../shared that does not exist")


# ------------------------------------------------------------------ network

def dns_fails_fast(name="artifacts.example.invalid") -> bool:
    t0 = time.monotonic()
    try:
        socket.getaddrinfo(name, 443)
        return False
    except socket.gaierror:
        return time.monotonic() - t0 < 3
    except Exception:
        return False


@scenario("network", "curl-refused", "curl", needs=("curl",))
def _(sb: Sandbox):
    p = sb.closed_port()
    sb.run(["curl", "-sS", f"http://127.0.0.1:{p}/healthz"], code=7, expect=["Couldn't connect to server"],
           visible="network", note="curl to a closed loopback port")
    sb.run(["curl", "-fsSL", "-o", "artifact.tgz", f"http://127.0.0.1:{p}/artifacts/app-1.4.2.tgz"], code=7,
           expect=["Failed to connect"], visible="network", note="curl -fsSL download from a closed port")
    sb.run(["curl", "-sS", "--retry", "2", "--retry-delay", "1", "--retry-connrefused",
            f"http://127.0.0.1:{p}/api/v1/status"], code=7, expect=["Failed to connect"],
           visible="network", note="curl with --retry 2 --retry-connrefused to a closed port")


@scenario("network", "wget-refused", "wget", needs=("wget",))
def _(sb: Sandbox):
    p = sb.closed_port()
    sb.run(["wget", "--tries=1", f"http://127.0.0.1:{p}/releases/app.tar.gz"], code=4,
           expect=["Connection refused"], visible="network", note="wget from a closed loopback port")
    sb.run(["wget", "-q", "--tries=1", "-O", "-", f"http://127.0.0.1:{p}/index.json"], code=4,
           visible="unknown", note="wget -q from a closed port: prints nothing, exit 4 (network failure)")


@scenario("network", "git-http-refused", "git", needs=("git",))
def _(sb: Sandbox):
    p = sb.closed_port()
    sb.run(["git", "clone", f"http://127.0.0.1:{p}/acme/app.git"], code=128,
           expect=["Failed to connect"], visible="network", note="git clone over http from a closed port")
    sb.git_repo("repo", {"README.md": "# repo\n"})
    sb.git("repo", "remote", "add", "origin", f"http://127.0.0.1:{p}/acme/repo.git")
    sb.run(["git", "fetch", "origin"], cwd=sb.p("repo"), code=128, expect=["Failed to connect"],
           visible="network", note="git fetch from an http remote on a closed port")
    sb.run(["git", "ls-remote", "--tags", f"http://127.0.0.1:{p}/acme/tools.git"], code=128,
           expect=["Failed to connect"], visible="network", note="git ls-remote over http, closed port")


@scenario("network", "git-remote-hangup", "git", needs=("git",))
def _(sb: Sandbox):
    p = sb.tcp_server("close")
    sb.run(["git", "clone", f"git://127.0.0.1:{p}/acme/app.git"], code=128,
           expect=["Connection reset"], visible="network",
           note="git clone git:// from a server that accepts and closes the connection at once (reset)")
    pe = sb.tcp_server("eof")
    sb.run(["git", "clone", f"git://127.0.0.1:{pe}/acme/app.git"], code=128,
           expect=["Could not read from remote repository"], visible="vcs-error",
           note="git clone git:// from a server that reads the request and closes: git says 'Could not "
                "read from remote repository ... correct access rights'")
    sb.git_repo("repo", {"README.md": "# repo\n"})
    sb.git("repo", "remote", "add", "origin", f"git://127.0.0.1:{pe}/acme/repo.git")
    sb.run(["git", "pull", "origin", "main"], cwd=sb.p("repo"), code=1,
           expect=["Could not read from remote repository"], visible="vcs-error",
           note="git pull from a git:// remote whose server closes the connection after the request")
    body = (b"001e# service=git-upload-pack\n0000"
            b"00a0" + b"1" * 40 + b" HEAD\0multi_ack side-band-64k ofs-delta")
    resp = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-advertisement\r\n"
            b"Content-Length: 4096\r\nConnection: close\r\n\r\n" + body)
    p2 = sb.tcp_server("reply", resp)
    sb.run(["git", "clone", f"http://127.0.0.1:{p2}/acme/app.git"], code=128,
           expect_re=r"(transfer closed|RPC failed|early EOF|hung up|remote end)", visible="vcs-error",
           note="git clone over http from a server that cuts the ref advertisement short: 'transfer closed "
                "with N bytes remaining to read'")
    p3 = sb.tcp_server("reset")
    sb.run(["git", "clone", f"http://127.0.0.1:{p3}/acme/app.git"], code=128,
           expect_re=r"(Connection reset|Recv failure|Empty reply)", visible="network",
           note="git clone over http from a server that resets the connection")


@scenario("network", "ssh-refused", "ssh", needs=("ssh",))
def _(sb: Sandbox):
    p = sb.closed_port()
    opts = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={sb.home}/known_hosts",
            "-o", "StrictHostKeyChecking=no"]
    sb.run(["ssh", *opts, "-p", str(p), "deploy@127.0.0.1", "true"], code=255,
           expect=["Connection refused"], visible="network", note="ssh to a closed loopback port")
    ssh_cmd = "ssh " + " ".join(opts)
    sb.run(["git", "clone", f"ssh://git@127.0.0.1:{p}/acme/app.git"], code=128,
           env=sb.env({"GIT_SSH_COMMAND": ssh_cmd}), expect=["Connection refused", "Could not read from remote"],
           visible="vcs-error", tool="git",
           note="git clone over ssh to a closed port; the last lines are git's "
                "'Could not read from remote repository ... correct access rights'")
    p2 = sb.tcp_server("eof")
    sb.run(["git", "clone", f"ssh://git@127.0.0.1:{p2}/acme/app.git"], code=128,
           env=sb.env({"GIT_SSH_COMMAND": ssh_cmd}), expect=["Could not read from remote"],
           visible="vcs-error", tool="git",
           note="git clone over ssh to a server that closes the connection before the banner")
    if have("scp"):
        sb.write("dist/app.tar.gz", "x")
        sb.run(["scp", *opts, "-P", str(p), "dist/app.tar.gz", "deploy@127.0.0.1:/srv/releases/"],
               code=255, expect=["Connection refused"], visible="network", tool="scp",
               note="scp upload to a closed port")


@scenario("network", "pip-index-refused", "pip")
def _(sb: Sandbox):
    p = sb.closed_port()
    sb.run(["python3", "-m", "pip", "install", "--index-url", f"http://127.0.0.1:{p}/simple/", "--retries", "1",
            "--timeout", "2", "--target", sb.p("lib"), "flask==3.0.0"], code=1,
           expect=["Connection refused", "No matching distribution found"], visible="missing-module",
           note="pip install against a local index on a closed port: the last lines say "
                "'No matching distribution found', the cause is in the WARNING lines above")
    sb.write("requirements.txt", "django==5.0.1\npsycopg2-binary==2.9.9\n")
    sb.run(["python3", "-m", "pip", "download", "--index-url", f"http://127.0.0.1:{p}/simple/", "--retries", "0",
            "-d", sb.p("dl"), "-r", "requirements.txt"], code=1,
           expect=["No matching distribution found"], visible="missing-module",
           note="pip download --retries 0 against a closed index port: only 'No matching distribution'"
                " (and maybe a WARNING) shows")


@scenario("network", "npm-registry-refused", "npm", needs=("npm", "node"))
def _(sb: Sandbox):
    p = sb.closed_port()
    sb.write("app/package.json", json.dumps({"name": "app", "version": "1.0.0", "private": True}))
    sb.run(["npm", "install", "express", f"--registry=http://127.0.0.1:{p}/", "--fetch-retries=0"],
           cwd=sb.p("app"), code=1, expect=["ECONNREFUSED"], visible="network",
           note="npm install from a registry on a closed loopback port")
    sb.write("app2/package.json", json.dumps({"name": "app2", "version": "1.0.0", "private": True,
                                             "dependencies": {"lodash": "^4.17.21"}}))
    sb.run(["npm", "view", "react", "version", f"--registry=http://127.0.0.1:{p}/", "--fetch-retries=0"],
           cwd=sb.p("app2"), code=1, expect=["ECONNREFUSED"], visible="network",
           note="npm view against a closed registry port")


@scenario("network", "python-refused", "python3")
def _(sb: Sandbox):
    p = sb.closed_port()
    sb.run(["python3", "-c", f"import urllib.request\n"
            f"print(urllib.request.urlopen('http://127.0.0.1:{p}/api/jobs').read())"], code=1,
           expect=["Connection refused"], visible="network", note="python urllib to a closed port")
    sb.write("worker.py", f"""
        import socket
        print("connecting to the queue at 127.0.0.1:{p}")
        s = socket.create_connection(("127.0.0.1", {p}), timeout=3)
        """)
    sb.run(["python3", "worker.py"], code=1, expect=["ConnectionRefusedError"], visible="network",
           note="python socket.create_connection to a closed port")
    sb.run(["python3", "-c", f"import http.client\nc = http.client.HTTPConnection('localhost', {p})\n"
            "c.request('GET', '/metrics')\nprint(c.getresponse().status)"], code=1,
           expect_re=r"(ConnectionRefusedError|Cannot assign requested address|Connection refused)",
           visible="network", note="python http.client to localhost on a closed port")


@scenario("network", "dns-invalid", "curl", needs=("curl",))
def _(sb: Sandbox):
    if not dns_fails_fast():
        raise Skip("names under .invalid do not fail quickly here")
    sb.run(["curl", "-sS", "https://artifacts.example.invalid/app.tgz"], code=6,
           expect=["Could not resolve host"], visible="network", note="curl to a name under .invalid")
    sb.run(["git", "clone", "https://git.corp.invalid/acme/app.git"], code=128,
           expect=["Could not resolve host"], visible="network", tool="git",
           note="git clone from a host under .invalid")
    sb.run(["python3", "-c", "import socket\nsocket.getaddrinfo('db.internal.invalid', 5432)"], code=1,
           expect=["gaierror"], visible="network", tool="python3",
           note="python getaddrinfo of a name under .invalid")
    if have("wget"):
        sb.run(["wget", "--tries=1", "http://mirror.example.invalid/debian/dists/stable/Release"], code=4,
               expect=["unable to resolve host address"], visible="network", tool="wget",
               note="wget from a host under .invalid")
    if have("ssh"):
        sb.run(["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "deploy@bastion.example.invalid", "true"],
               code=255, expect=["Could not resolve hostname"], visible="network", tool="ssh",
               note="ssh to a host under .invalid")
    sb.run(["python3", "-m", "pip", "install", "--index-url", "https://pypi.mirror.invalid/simple/",
            "--retries", "1", "--timeout", "2", "--target", sb.p("lib"), "numpy"], code=1,
           expect=["No matching distribution found"], visible="missing-module", tool="pip",
           note="pip against an index host under .invalid; ends in 'No matching distribution found'")


@scenario("network", "netns-unreachable", "unshare", needs=("unshare",))
def _(sb: Sandbox):
    if not IS_ROOT:
        raise Skip("unshare -n needs root")
    sb.run(["unshare", "-n", "python3", "-c",
            "import socket\ns = socket.create_connection(('10.20.30.40', 443), timeout=3)"], code=1,
           expect=["Network is unreachable"], visible="network", tool="python3",
           note="python connecting out of a network namespace with no routes (ENETUNREACH)")
    sb.run(["unshare", "-n", "curl", "-sS", "https://10.20.30.40/v2/"], code=7,
           expect=["Failed to connect"], visible="network", tool="curl",
           note="curl to an address with no route (empty network namespace)")
    sb.run(["unshare", "-n", "git", "clone", "https://github.com/acme/app.git"], code=128,
           expect=["Could not resolve host"], visible="network", tool="git",
           note="git clone from github.com in a network namespace with no network (resolver unreachable)")
    sb.write("app/package.json", json.dumps({"name": "app", "version": "1.0.0", "private": True}))
    if have("npm"):
        sb.run(["unshare", "-n", "npm", "install", "express", "--fetch-retries=0"], cwd=sb.p("app"), code=1,
               env=sb.env({"npm_config_registry": None}),
               expect_re=r"(EAI_AGAIN|ENOTFOUND|ENETUNREACH)", visible="network", tool="npm",
               note="npm install from the public registry in a network namespace with no network")
    sb.run(["unshare", "-n", "python3", "-m", "pip", "install", "--retries", "1", "--timeout", "2",
            "--target", sb.p("lib"), "requests"], code=1, env=sb.env({"PIP_INDEX_URL": None}),
           expect=["No matching distribution found"], visible="missing-module", tool="pip",
           note="pip install from pypi.org with no network; ends in 'No matching distribution found'")


@scenario("network", "docker-no-daemon", "docker", needs=("docker",))
def _(sb: Sandbox):
    sock = f"unix://{sb.p('run/docker.sock')}"
    (sb.p("run")).mkdir()
    env = sb.env({"DOCKER_HOST": sock})
    sb.run(["docker", "ps"], env=env, code=1, expect=["Cannot connect to the Docker daemon"],
           visible="network", note="docker ps with no daemon behind the socket")
    sb.run(["docker", "pull", "alpine:3.20"], env=env, code=1, expect=["Cannot connect to the Docker daemon"],
           visible="network", note="docker pull with no daemon")
    sb.write("Dockerfile", "FROM alpine:3.20\nRUN echo hi\n")
    sb.run(["docker", "build", "-t", "app:ci", "."], env=env, code=1,
           expect_re=r"(Cannot connect to the Docker daemon|docker daemon|ERROR)", visible="network",
           note="docker build with no daemon")


@scenario("network", "psql-refused", "psql", needs=("psql",))
def _(sb: Sandbox):
    p = sb.closed_port()
    sb.run(["psql", "-h", "127.0.0.1", "-p", str(p), "-U", "ci", "-d", "app", "-c", "select 1"], code=2,
           expect=["Connection refused"], visible="network", note="psql to a closed loopback port")
    (sb.p("pgsock")).mkdir()
    sb.run(["psql", "-h", sb.p("pgsock"), "-U", "ci", "-d", "app", "-c", "select 1"], code=2,
           expect=["No such file or directory"], visible="network",
           note="psql to a unix socket dir where no server runs")
    sb.run(["psql", f"postgresql://ci@127.0.0.1:{p}/app?connect_timeout=2", "-f", "/dev/null"], code=2,
           expect=["Connection refused"], visible="network", note="psql with a connection URL, closed port")


@scenario("network", "connection-reset", "curl", needs=("curl",))
def _(sb: Sandbox):
    p = sb.tcp_server("reset")
    sb.run(["curl", "-sS", f"http://127.0.0.1:{p}/v2/library/alpine/manifests/3.20"], code=56,
           expect=["Connection reset by peer"], visible="network", note="curl to a server that resets the connection")
    sb.run(["python3", "-c", f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{p}/simple/')"],
           code=1, expect=["ConnectionResetError"], visible="network", tool="python3",
           note="python urllib to a server that resets the connection")
    p2 = sb.tcp_server("eof")
    sb.run(["curl", "-sS", f"http://127.0.0.1:{p2}/health"], code=52, expect=["Empty reply from server"],
           visible="network", note="curl to a server that closes without answering")


@scenario("network", "http-5xx", "curl", needs=("curl",))
def _(sb: Sandbox):
    p = sb.dir_server("www", status=503)
    sb.run(["curl", "-fsS", f"http://127.0.0.1:{p}/artifacts/app.tgz"], code=22,
           expect=["503"], visible="network", note="curl -f against a server answering 503")
    p2 = sb.dir_server("www2", status=502)
    sb.run(["python3", "-m", "pip", "install", "--index-url", f"http://127.0.0.1:{p2}/simple/", "--retries", "1",
            "--target", sb.p("lib"), "flask"], code=1, expect=["No matching distribution found"],
           visible="missing-module", tool="pip",
           note="pip against an index (proxy) answering 502 Bad Gateway to everything: pip says only "
                "'No matching distribution found', the 502 is not shown")
    if have("npm"):
        sb.write("app/package.json", json.dumps({"name": "app", "version": "1.0.0", "private": True}))
        sb.run(["npm", "install", "react", f"--registry=http://127.0.0.1:{p}/", "--fetch-retries=0"],
               cwd=sb.p("app"), code=1, expect=["503"], visible="network", tool="npm",
               note="npm install against a registry answering 503")


# ------------------------------------------------------------ out-of-memory

ALLOC_PY = """
import sys
chunks = []
for i in range(1, 65):
    chunks.append(bytearray(16 << 20))
    if i % 2 == 0:
        print(f"loaded {i * 16} MiB of the dataset", flush=True)
print("done")
"""


@scenario("out-of-memory", "cgroup-oom-python", "python3", needs=("root",))
def _(sb: Sandbox):
    sb.write("load.py", ALLOC_PY)
    sb.run(["python3", "load.py"], memlimit=64, sig=9, expect=["loaded"], visible="unknown",
           note="python filling memory in a 64 MiB memory cgroup: killed by the OOM killer (SIGKILL), "
                "no error line")
    sb.run(["python3", "-c", "x = b'a' * (512 << 20)\nprint(len(x))"], memlimit=64, sig=9,
           visible="unknown", note="python allocating 512 MiB at once in a 64 MiB cgroup: SIGKILL, no output")
    sb.run(bash("set -e\necho '==> loading dataset'\npython3 load.py\necho '==> done'"),
           memlimit=64, code=137, expect=["Killed"], visible="crashed", tool="bash",
           note="bash running the same python in a 64 MiB cgroup: bash prints 'Killed' and exits 137")


@scenario("out-of-memory", "cgroup-oom-node", "node", needs=("root", "node"))
def _(sb: Sandbox):
    sb.write("build.js", """
        const bufs = [];
        for (let i = 1; i <= 64; i++) {
          bufs.push(Buffer.alloc(16 << 20, 1));
          if (i % 4 === 0) console.log(`bundled ${i * 16} MiB`);
        }
        console.log('done');
        """)
    sb.run(["node", "build.js"], memlimit=160, sig=9, visible="unknown",
           note="node allocating Buffers in a 160 MiB cgroup: SIGKILL by the OOM killer")
    sb.write("web/package.json", json.dumps({"name": "web", "version": "1.0.0",
                                            "scripts": {"build": "node ../build.js"}}, indent=2))
    sb.run(["npm", "run", "build"], cwd=sb.p("web"), memlimit=200, code=None,
           expect_re=r"(SIGKILL|Killed)", visible="crashed", tool="npm",
           note="npm run build whose node process is OOM-killed in a 200 MiB cgroup; npm reports "
                "the signal (looks like a crash)")


@scenario("out-of-memory", "cgroup-oom-compiler", "gcc", needs=("root", "gcc"))
def _(sb: Sandbox):
    # a function with a very large body makes cc1's memory grow quickly at -O2
    body = "\n".join(f"  acc += data[{i % 997}] * {i} + (acc >> {i % 13});" for i in range(40000))
    src = f"long data[997];\nlong big(void) {{\n  long acc = 0;\n{body}\n  return acc;\n}}\n"
    sb.write("gen/big.c", src)
    sb.run(["gcc", "-O2", "-c", "gen/big.c", "-o", "big.o"], memlimit=48, code=None,
           expect=["Killed signal terminated program cc1"], visible="crashed",
           note="gcc -O2 of a generated file in a 48 MiB cgroup: 'gcc: fatal error: Killed signal "
                "terminated program cc1'")
    if have("g++") and have("make"):
        sb.write("gen/big.cpp", src)
        sb.write("Makefile", "big.o: gen/big.cpp\n\tg++ -O2 -c -o $@ $<\n")
        sb.run(["make"], memlimit=48, code=2, expect=["Killed signal terminated program"],
               visible="code-error", tool="make",
               note="make running g++ in a 48 MiB cgroup; cc1plus is OOM-killed; ends in 'make: *** Error 1'")


@scenario("out-of-memory", "cgroup-oom-rustc", "cargo", needs=("root", "cargo"))
def _(sb: Sandbox):
    sb.write("app/Cargo.toml", '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n')
    body = "\n".join(f"    v.push({i}u64.wrapping_mul(v.len() as u64));" for i in range(6000))
    sb.write("app/src/main.rs", f"fn main() {{\n    let mut v: Vec<u64> = Vec::new();\n{body}\n"
             "    println!(\"{}\", v.len());\n}\n")
    sb.run(["cargo", "build", "--offline", "--release"], cwd=sb.p("app"), memlimit=120,
           env=sb.env({"CARGO_TARGET_DIR": str(sb.p("target"))}), code=101, timeout=30,
           expect=["SIGKILL"], visible="code-error",
           note="cargo build --release of a large function in a 120 MiB cgroup: rustc is OOM-killed; "
                "cargo says 'could not compile' and '(signal: 9, SIGKILL: kill)'")
    sb.run(["rustc", "-O", "-o", sb.p("app-bin"), sb.p("app/src/main.rs")], memlimit=120, sig=9,
           timeout=30, visible="unknown", tool="rustc",
           note="rustc -O of the same file in a 120 MiB cgroup: SIGKILL, no output")


@scenario("out-of-memory", "cgroup-oom-perl", "perl", needs=("root", "perl"))
def _(sb: Sandbox):
    sb.run(["perl", "-e", 'my @rows; for my $i (1..40) { push @rows, "x" x (16 << 20); '
            'print "read chunk $i\\n" if $i % 8 == 0 } print "done\\n"'],
           memlimit=64, sig=9, visible="unknown",
           note="perl building 640 MiB of strings in a 64 MiB cgroup: SIGKILL")
    sb.run(["sort", "-S", "90%", sb.randtext("big.txt", 24 << 20)], memlimit=32, sig=9,
           visible="unknown", tool="sort", note="sort with a huge in-memory buffer in a 32 MiB cgroup: SIGKILL")


@scenario("out-of-memory", "ulimit-as", "python3")
def _(sb: Sandbox):
    sb.run(sh("ulimit -v 300000; exec python3 -c 'data = bytearray(1 << 30); print(len(data))'"), code=1,
           expect=["MemoryError"], visible="out-of-memory",
           note="python allocating 1 GiB under ulimit -v 300000: MemoryError")
    sb.write("train.py", """
        import array
        print("loading features")
        rows = []
        for i in range(10000):
            rows.append(array.array('d', [0.0]) * 1_000_000)
        """)
    sb.run(sh("ulimit -v 400000; exec python3 train.py"), code=1, expect=["MemoryError"],
           visible="out-of-memory", note="python growing arrays under ulimit -v: MemoryError")
    if have("g++"):
        sb.cc("alloc.cpp", '#include <vector>\n#include <cstdio>\nint main() {\n'
              '  std::puts("building index");\n  std::vector<double> v(1ULL << 30);\n'
              '  return (int) v[0];\n}\n', "alloc-cpp", compiler="g++")
        sb.run(sh("ulimit -v 200000; exec ./alloc-cpp"), sig=6, expect=["std::bad_alloc"],
               visible="out-of-memory", tool="g++-program",
               note="a C++ program under ulimit -v: std::bad_alloc, then abort (SIGABRT)")
        sb.run(sh("ulimit -v 200000; ./alloc-cpp"), code=134, expect=["std::bad_alloc", "Aborted"],
               visible="crashed", tool="sh",
               note="the same C++ program from a shell: the last line is the shell's 'Aborted' (134)")
    if have("gcc"):
        sb.cc("alloc.c", '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n'
              'int main(void) {\n  size_t n = (size_t) 1 << 30;\n  char *p = malloc(n);\n'
              '  if (!p) { perror("malloc"); fprintf(stderr, "cannot allocate %zu bytes for the image '
              'cache\\n", n); return 1; }\n  memset(p, 1, n);\n  return 0;\n}\n', "alloc-c")
        sb.run(sh("ulimit -v 200000; exec ./alloc-c"), code=1, expect=["Cannot allocate memory"],
               visible="out-of-memory", tool="c-program", note="a C program whose malloc fails under ulimit -v")
    if have("gcc"):
        sb.write("gen/huge.c", "long data[997];\nlong big(void) {\n  long acc = 0;\n"
                 + "\n".join(f"  acc += data[{i % 997}] * {i} + (acc >> {i % 13});" for i in range(30000))
                 + "\n  return acc;\n}\n")
        sb.run(sh("ulimit -v 150000; exec gcc -O2 -c gen/huge.c -o huge.o"), code=1,
               expect_re=r"out of memory|Cannot allocate memory|virtual memory exhausted",
               visible="out-of-memory", tool="gcc", note="gcc -O2 under ulimit -v 150000: cc1 runs out of memory")
        sb.run(sh("ulimit -v 120000; exec gcc -O2 -c gen/huge.c -o huge.o"), code=1,
               expect_re=r"out of memory|Cannot allocate memory|virtual memory exhausted",
               visible="out-of-memory", tool="gcc", note="gcc -O2 under ulimit -v 120000: 'virtual memory exhausted'")
    sb.run(sh("ulimit -v 200000; exec perl -e '$x = \"a\" x (1 << 30); print length $x'"), code=None,
           expect=["Out of memory!"], visible="crashed", tool="perl",
           note="perl building a 1 GiB string under ulimit -v: 'Out of memory!', then a 'panic: "
                "fold_constants' line")


@scenario("out-of-memory", "node-heap-limit", "node", needs=("node",))
def _(sb: Sandbox):
    sb.write("bundle.js", """
        const modules = [];
        for (let i = 0; ; i++) {
          modules.push({ id: i, source: 'x'.repeat(64) + i, deps: new Array(16).fill(i) });
          if (i % 200000 === 0) console.log(`parsed ${i} modules`);
        }
        """)
    sb.run(["node", "--max-old-space-size=24", "bundle.js"], sig=6,
           expect=["JavaScript heap out of memory"], visible="out-of-memory",
           note="node with a 24 MiB old space: 'FATAL ERROR: ... JavaScript heap out of memory', SIGABRT")
    sb.write("cache.js", """
        const cache = new Map();
        let i = 0;
        while (true) { cache.set('key' + i, { value: 'v'.repeat(100) + i }); i++; }
        """)
    sb.run(["node", "--max-old-space-size=16", "cache.js"], sig=6,
           expect=["heap out of memory"], visible="out-of-memory",
           note="node filling a Map with a 16 MiB old space: heap out of memory, SIGABRT")
    sb.run(sh("echo 'bundling'; node --max-old-space-size=24 bundle.js"), code=134,
           expect=["heap out of memory", "Aborted"], visible="crashed", tool="sh",
           note="the same heap OOM from a shell script: its last line is the shell's 'Aborted' (134)")
    sb.write("web/package.json", json.dumps({"name": "web", "version": "1.0.0",
                                            "scripts": {"build": "node --max-old-space-size=24 ../bundle.js"}},
                                           indent=2))
    sb.run(["npm", "run", "build"], cwd=sb.p("web"), code=None,
           expect=["heap out of memory"], visible="crashed", tool="npm",
           note="npm run build hitting the node heap limit; npm ends with 'signal SIGABRT' lines")


@scenario("out-of-memory", "java-heap", "java", needs=("java",))
def _(sb: Sandbox):
    sb.write("Indexer.java", """
        import java.util.ArrayList;
        import java.util.List;

        public class Indexer {
            public static void main(String[] args) {
                List<long[]> pages = new ArrayList<>();
                for (int i = 0; ; i++) {
                    pages.add(new long[1 << 16]);
                    if (i % 50 == 0) System.out.println("indexed " + i + " pages");
                }
            }
        }
        """)
    sb.run(["java", "-Xmx24m", "Indexer.java"], code=1, timeout=20,
           expect=["java.lang.OutOfMemoryError: Java heap space"], visible="out-of-memory",
           note="java with -Xmx24m filling its heap: OutOfMemoryError: Java heap space")


@scenario("out-of-memory", "python-memoryerror-test", "python3")
def _(sb: Sandbox):
    sb.write("tests/test_matrix.py", """
        import unittest


        class MatrixTest(unittest.TestCase):
            def test_identity(self):
                self.assertEqual([[1]], [[1]])

            def test_large_product(self):
                grid = [0.0] * (400 * 1000 * 1000)
                self.assertEqual(len(grid), 400 * 1000 * 1000)
        """)
    sb.run(sh("ulimit -v 500000; exec python3 -m unittest discover -s tests"), code=1,
           expect=["MemoryError", "FAILED (errors=1)"], visible="code-error", tool="python3",
           note="a unittest that allocates 3 GiB under ulimit -v: MemoryError shown as a test error, "
                "the last line is 'FAILED (errors=1)'")


# ----------------------------------------------------------- resource-limit

@scenario("resource-limit", "ulimit-nofile", "python3")
def _(sb: Sandbox):
    sb.write("open_all.py", """
        import os
        os.makedirs("shards", exist_ok=True)
        handles = []
        for i in range(64):
            handles.append(open(f"shards/shard-{i:03d}.dat", "w"))
        print("opened", len(handles))
        """)
    sb.run(sh("ulimit -n 16; exec python3 open_all.py"), code=1, expect=["Too many open files"],
           visible="resource-limit", note="python opening 64 files under ulimit -n 16")
    if have("node"):
        sb.write("watch.js", """
            const fs = require('fs');
            fs.mkdirSync('cache', { recursive: true });
            const fds = [];
            for (let i = 0; i < 64; i++) fds.push(fs.openSync(`cache/entry-${i}.json`, 'w'));
            console.log('opened', fds.length);
            """)
        sb.run(sh("ulimit -n 24; exec node watch.js"), code=1, expect=["EMFILE"], visible="resource-limit",
               tool="node", note="node opening 64 files under ulimit -n 24: EMFILE")
    sb.run(bash("ulimit -n 12; for i in $(seq 1 20); do exec {fd}>fd-$i.log || exit 1; done"), code=1,
           expect=["Too many open files"], visible="resource-limit", tool="bash",
           note="bash opening file descriptors under ulimit -n 12")
    sb.write("pool.py", "import socket\nsocks = [socket.socket() for _ in range(40)]\nprint(len(socks))\n")
    sb.run(sh("ulimit -n 16; exec python3 pool.py"),
           code=1, expect=["Too many open files"], visible="resource-limit",
           note="python creating 40 sockets under ulimit -n 16")
    for i in range(30):
        sb.write(f"cols/c{i:02d}.txt", f"{i}\n")
    sb.run(sh("ulimit -n 16; paste cols/*.txt"), code=1, expect=["Too many open files"],
           visible="resource-limit", tool="paste", note="paste of 30 files under ulimit -n 16")


@scenario("resource-limit", "nproc-nobody", "python3", needs=("root", "setpriv", "bash"))
def _(sb: Sandbox):
    if SYS_PY is None:
        raise Skip("no python an unprivileged user can run")
    sb.write("fan_out.py", """
        import os, time
        kids = []
        for i in range(64):
            pid = os.fork()
            if pid == 0:
                time.sleep(3)
                os._exit(0)
            kids.append(pid)
        print("started", len(kids), "workers")
        """)
    env = sb.env({"HOME": "/tmp", "PATH": "/usr/local/bin:/usr/bin:/bin"})
    sb.run([*NOBODY, "bash", "-c", f"ulimit -u 24; exec {SYS_PY} fan_out.py"], env=env, code=1,
           expect=["Resource temporarily unavailable"], visible="resource-limit",
           note="python forking 64 workers as nobody under ulimit -u 24: BlockingIOError")
    sb.write("threads.py", """
        import threading, time
        ts = []
        for i in range(200):
            t = threading.Thread(target=time.sleep, args=(3,), daemon=True)
            t.start()
            ts.append(t)
        print("started", len(ts), "threads")
        """)
    sb.run([*NOBODY, "bash", "-c", f"ulimit -u 24; exec {SYS_PY} threads.py"], env=env, code=1,
           expect=["can't start new thread"], visible="resource-limit",
           note="python starting 200 threads as nobody under ulimit -u 24")
    sb.run([*NOBODY, "bash", "-c", "ulimit -u 24; exec sh -c 'for i in $(seq 1 60); do sleep 3 & done; wait'"],
           env=env, code=None, expect_re=r"(Cannot fork|fork|Resource temporarily unavailable)",
           visible="resource-limit", tool="sh", note="a shell starting 60 background jobs as nobody under ulimit -u 24")
    if have("node"):
        sb.write("spawn.js", """
            const { spawn } = require('child_process');
            for (let i = 0; i < 60; i++) {
              const p = spawn('sleep', ['3']);
              p.on('error', (e) => { console.error(`worker ${i}: ${e.message}`); process.exit(1); });
            }
            """)
        sb.run([*NOBODY, "bash", "-c", "ulimit -u 40; exec node spawn.js"], env=env, code=1,
               expect=["EAGAIN"], visible="resource-limit", tool="node",
               note="node spawning 60 children as nobody under ulimit -u 40: spawn EAGAIN")


@scenario("resource-limit", "ulimit-fsize", "dd")
def _(sb: Sandbox):
    sb.run(["dd", "if=/dev/zero", "of=image.raw", "bs=1M", "count=8"], preexec=rlimit_preexec(fsize=1 << 20),
           sig=25, visible="unknown",
           note="dd writing 8 MiB under RLIMIT_FSIZE 1 MiB: killed by SIGXFSZ, nothing printed")
    sb.run(sh("ulimit -f 1024; dd if=/dev/zero of=image2.raw bs=1M count=8"), code=153,
           expect=["File size limit exceeded"], visible="resource-limit", tool="sh",
           note="the same from a shell: 'File size limit exceeded' and exit 153")
    sb.run(sh("ulimit -f 1024; exec python3 -c \"open('dump.bin', 'wb').write(bytes(8 << 20))\""), code=1,
           expect=["File too large"], visible="resource-limit", tool="python3",
           note="python (which ignores SIGXFSZ) writing 8 MiB under ulimit -f 1024: EFBIG")


@scenario("resource-limit", "ulimit-cpu", "python3")
def _(sb: Sandbox):
    sb.run(sh("ulimit -S -t 1; exec python3 -c 'while True: pass'"), sig=24, visible="unknown",
           note="a python busy loop under a soft ulimit -t 1: killed by SIGXCPU, nothing printed")
    sb.run(bash("ulimit -S -t 1; python3 -c 'n = 0\nwhile True: n += 1'; exit $?"), code=152,
           expect=["CPU time limit exceeded"], visible="resource-limit", tool="bash",
           note="the same from bash: 'CPU time limit exceeded' and exit 152")
    sb.run(sh("ulimit -t 1; exec python3 -c 'while True: pass'"), sig=9, visible="unknown",
           note="a python busy loop under ulimit -t 1 (soft = hard): the kernel sends SIGKILL at the hard "
                "limit, nothing printed")


@scenario("resource-limit", "arg-list-too-long", "sh")
def _(sb: Sandbox):
    sb.run(sh("cat $(seq -f 'generated/file-%06g.json' 1 250000) > /dev/null"), code=126,
           expect=["Argument list too long"], visible="resource-limit",
           note="sh expanding 250000 file names into one cat command (E2BIG)")
    sb.run(bash("files=$(seq -f 'src/module_%06g.ts' 1 250000); ls $files"), code=126,
           expect=["Argument list too long"], visible="resource-limit", tool="bash",
           note="bash passing 250000 arguments to one command (E2BIG, checked before the command is looked up)")
    sb.run(["python3", "-c", "import subprocess\nsubprocess.run(['echo'] + ['x' * 100] * 40000)"], code=1,
           expect=["Argument list too long"], visible="resource-limit", tool="python3",
           note="python subprocess with 4 MB of arguments: OSError E2BIG")


# ------------------------------------------------------------ corrupt-cache

def _cache_tree(sb: Sandbox):
    for i in range(4):
        sb.randtext(f"cache/deps/dep{i}/lib.rs", 200 << 10, seed=300 + i)


@scenario("corrupt-cache", "truncated-tarball", "tar")
def _(sb: Sandbox):
    _cache_tree(sb)
    sb.setup(["tar", "-czf", "cache.tar.gz", "cache"])
    truncate(sb.p("cache.tar.gz"), 0.5)
    (sb.p("out")).mkdir()
    sb.run(["tar", "-xzf", "cache.tar.gz", "-C", "out"], code=2,
           expect=["unexpected end of file"], visible="unknown",
           note="restoring a cache .tar.gz truncated to half: ends in 'Error is not recoverable: exiting now'")
    sb.setup(["tar", "-cJf", "cache.tar.xz", "cache"])
    truncate(sb.p("cache.tar.xz"), 0.6)
    sb.run(["tar", "-xJf", "cache.tar.xz", "-C", "out"], code=2,
           expect=["Unexpected end of input"], visible="unknown",
           note="tar -xJf of a truncated .tar.xz cache")
    if have("zstd"):
        sb.setup(["tar", "--zstd", "-cf", "cache.tar.zst", "cache"])
        truncate(sb.p("cache.tar.zst"), 0.6)
        sb.run(["tar", "--zstd", "-xf", "cache.tar.zst", "-C", "out"], code=2,
               expect_re=r"(premature end|truncated|Read error|Unexpected)", visible="unknown",
               note="tar --zstd -xf of a truncated .tar.zst cache")
    sb.setup(["tar", "-cf", "cache.tar", "cache"])
    truncate(sb.p("cache.tar"), 300000)
    sb.run(["tar", "-xf", "cache.tar", "-C", "out"], code=2, expect=["Unexpected EOF in archive"],
           visible="unknown", note="tar -xf of a truncated uncompressed tar")
    sb.setup(["tar", "-czf", "deps.tar.gz", "cache"])
    flip_bytes(sb.p("deps.tar.gz"), 40000, 64)
    sb.run(["tar", "-xzf", "deps.tar.gz", "-C", "out"], code=2,
           expect_re=r"(invalid compressed data|crc error|format violated)", visible="unknown",
           note="tar -xzf of a cache .tar.gz with 64 corrupted bytes in the middle")


@scenario("corrupt-cache", "corrupt-zip", "unzip", needs=("unzip", "zip"))
def _(sb: Sandbox):
    _cache_tree(sb)
    sb.setup(["zip", "-q", "-r", "gradle-cache.zip", "cache"])
    shutil.copy(sb.p("gradle-cache.zip"), sb.p("bad-crc.zip"))
    truncate(sb.p("gradle-cache.zip"), 0.7)
    sb.run(["unzip", "-o", "gradle-cache.zip", "-d", "out"], code=9,
           expect=["End-of-central-directory signature not found"], visible="corrupt-cache",
           note="unzip of a cache zip truncated to 70 %")
    data = bytearray(sb.p("bad-crc.zip").read_bytes())
    # corrupt the first member's compressed data (after its local header)
    name_len, extra_len = struct.unpack("<HH", data[26:30])
    start = 30 + name_len + extra_len
    for i in range(start + 100, start + 164):
        data[i] ^= 0x5A
    sb.p("bad-crc.zip").write_bytes(bytes(data))
    sb.run(["unzip", "-o", "bad-crc.zip", "-d", "out2"], code=None,
           expect_re=r"(bad CRC|invalid compressed data|bad zipfile offset)", visible="corrupt-cache",
           note="unzip of a cache zip whose first member's data is corrupted")
    sb.run(["python3", "-c", "import zipfile\nzipfile.ZipFile('gradle-cache.zip').extractall('out3')"], code=1,
           expect=["BadZipFile"], visible="corrupt-cache", tool="python3",
           note="python zipfile opening a truncated zip: BadZipFile")


@scenario("corrupt-cache", "corrupt-compressed-file", "xz")
def _(sb: Sandbox):
    sb.randtext("rootfs/usr/share/doc/app/changelog", 1 << 20, seed=41)
    sb.setup(["tar", "-cf", "layer.tar", "rootfs"])
    sb.setup(["xz", "-k", "layer.tar"])
    truncate(sb.p("layer.tar.xz"), 0.5)
    sb.run(["xz", "-t", "layer.tar.xz"], code=1, expect=["Unexpected end of input"],
           visible="corrupt-cache", note="xz -t of a truncated .xz")
    sb.run(sh("xz -dc layer.tar.xz | tar -t > /dev/null"), code=2, expect=["Unexpected end of input"],
           visible="unknown", tool="tar", note="xz -dc | tar -t of a truncated .xz: tar's "
                                               "'Error is not recoverable' comes last")
    sb.setup(["gzip", "-k", "layer.tar"])
    flip_bytes(sb.p("layer.tar.gz"), 5000, 32)
    sb.run(["gzip", "-t", "layer.tar.gz"], code=1, expect_re=r"(invalid compressed data|crc error)",
           visible="corrupt-cache", tool="gzip", note="gzip -t of a .gz with 32 corrupted bytes")
    if have("zstd"):
        sb.setup(["zstd", "-q", "-k", "layer.tar"])
        flip_bytes(sb.p("layer.tar.zst"), 3000, 32)
        sb.run(["zstd", "-d", "-f", "-o", "layer.out", "layer.tar.zst"], code=1,
               expect_re=r"(corrupt|[Cc]hecksum|error)", visible="corrupt-cache", tool="zstd",
               note="zstd -d of a .zst with 32 corrupted bytes")
    if have("bzip2"):
        sb.setup(["bzip2", "-k", "layer.tar"])
        truncate(sb.p("layer.tar.bz2"), 0.5)
        sb.run(["bzip2", "-t", "layer.tar.bz2"], code=2, expect_re=r"(unexpected end of file|corrupted)",
               visible="corrupt-cache", tool="bzip2", note="bzip2 -t of a truncated .bz2")


@scenario("corrupt-cache", "pip-corrupt-wheel", "pip")
def _(sb: Sandbox):
    whl = make_wheel(sb.p("wheels"), "fastjson", "2.1.0", {
        "fastjson/__init__.py": b"def loads(s):\n    return s\n" * 200,
        "fastjson/data.bin": random.Random(2).randbytes(200 << 10)})
    truncate(whl, 0.6)
    sb.run(["python3", "-m", "pip", "install", "--no-index", "--no-cache-dir", "--target", sb.p("lib"), whl],
           code=1, expect_re=r"(BadZipFile|not a zip file|invalid|is not a valid wheel)", visible="corrupt-cache",
           note="pip install of a cached wheel truncated to 60 %")
    whl2 = make_wheel(sb.p("wheels2"), "fastjson", "2.1.0", {
        "fastjson/__init__.py": b"def loads(s):\n    return s\n"})
    h = hashlib.sha256(b"not the wheel").hexdigest()
    sb.write("requirements.txt", f"fastjson==2.1.0 --hash=sha256:{h}\n")
    sb.run(["python3", "-m", "pip", "install", "--no-index", "--find-links", sb.p("wheels2"), "--no-cache-dir",
            "--target", sb.p("lib"), "--require-hashes", "-r", "requirements.txt"], code=1,
           expect=["DO NOT MATCH THE HASHES"], visible="corrupt-cache",
           note="pip --require-hashes with a cached wheel whose sha256 does not match")


@scenario("corrupt-cache", "npm-corrupt-tarball", "npm", needs=("npm", "node"))
def _(sb: Sandbox):
    tgz = make_npm_tgz(sb.p("cache"), "ui-kit", "2.3.0", {
        "dist/index.js": ("export const x = 1;\n" * 20000).encode()})
    good_integrity = npm_integrity(tgz)
    shutil.copy(tgz, sb.p("cache/ui-kit-2.3.0-good.tgz"))
    truncate(tgz, 0.5)
    sb.write("app/package.json", json.dumps({"name": "app", "version": "1.0.0", "private": True}))
    sb.run(["npm", "install", "--no-save", str(tgz)], cwd=sb.p("app"), code=None,
           expect_re=r"(TAR_BAD_ARCHIVE|unexpected end of file|Z_BUF_ERROR|zlib|TAR_ABORT)",
           visible="corrupt-cache", note="npm install of a local package tarball truncated to half")
    # a lockfile whose integrity does not match the (changed) cached tarball
    other = make_npm_tgz(sb.p("cache2"), "ui-kit", "2.3.0", {"dist/index.js": b"export const y = 2;\n"})
    sb.write("app2/package.json", json.dumps({"name": "app2", "version": "1.0.0", "private": True,
                                             "dependencies": {"ui-kit": f"file:{other}"}}, indent=2))
    sb.write("app2/package-lock.json", json.dumps({
        "name": "app2", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
        "packages": {
            "": {"name": "app2", "version": "1.0.0", "dependencies": {"ui-kit": f"file:{other}"}},
            "node_modules/ui-kit": {"version": "2.3.0", "resolved": f"file:{other}",
                                    "integrity": good_integrity}}}, indent=2))
    sb.run(["npm", "ci"], cwd=sb.p("app2"), code=1, expect=["EINTEGRITY"], visible="corrupt-cache",
           note="npm ci where the cached tarball's sha512 does not match the lockfile's integrity")


@scenario("corrupt-cache", "git-corrupt-object", "git", needs=("git",))
def _(sb: Sandbox):
    repo = sb.git_repo("repo", {"src/main.c": "int main(void) { return 0; }\n", "README.md": "# app\n"})
    sb.write("repo/src/util.c", "int util(void) { return 1; }\n")
    sb.git(repo, "add", "-A")
    sb.git(repo, "commit", "-q", "-m", "util")
    blob = sb.git(repo, "rev-parse", "HEAD:src/util.c").strip()
    obj = repo / ".git" / "objects" / blob[:2] / blob[2:]
    os.chmod(obj, 0o644)
    flip_bytes(obj, 2, 12)
    sb.run(["git", "show", f"HEAD:src/util.c"], cwd=repo, code=128, expect=["corrupt"],
           visible="corrupt-cache", note="git show of a blob whose loose object is corrupted")
    sb.run(["git", "fsck", "--full"], cwd=repo, code=None, expect_re=r"(corrupt|inflate|error)",
           visible="corrupt-cache", note="git fsck of a repo with a corrupted loose object")
    sb.run(["git", "clone", "--no-local", str(repo), sb.p("clone")], code=128,
           expect_re=r"(corrupt|inflate|unable to unpack)", visible="vcs-error",
           note="git clone --no-local of a repo with a corrupted object; ends in git's "
                "'fatal: ... remote end hung up / pack-objects died' lines")
    repo2 = sb.git_repo("repo2", {"a.txt": "a\n"})
    sb.p("repo2/.git/index").write_bytes(b"DIRC" + random.Random(5).randbytes(60))
    sb.run(["git", "status"], cwd=repo2, code=128, expect=["index file corrupt"], visible="corrupt-cache",
           note="git status with a corrupted .git/index (e.g. a cache restore of .git)")


@scenario("corrupt-cache", "sqlite-malformed", "sqlite3")
def _(sb: Sandbox):
    db = sqlite3.connect(sb.p("cache.db"))
    db.execute("create table builds(id integer primary key, sha text, status text, log text)")
    rnd = random.Random(8)
    for i in range(400):
        db.execute("insert into builds(sha, status, log) values (?, ?, ?)",
                   (f"{rnd.getrandbits(160):040x}", "ok", "x" * rnd.randrange(200, 800)))
    db.execute("create index builds_sha on builds(sha)")
    db.commit()
    db.close()
    shutil.copy(sb.p("cache.db"), sb.p("trunc.db"))
    data = bytearray(sb.p("cache.db").read_bytes())
    for off in range(4096 * 3, 4096 * 3 + 2048):
        data[off] = 0xFF
    sb.p("cache.db").write_bytes(bytes(data))
    sb.p("garbage.db").write_bytes(random.Random(3).randbytes(16384))
    if have("sqlite3"):
        sb.run(["sqlite3", "cache.db", "select count(*), max(length(log)) from builds;"], code=None,
               expect=["malformed"], visible="corrupt-cache",
               note="sqlite3 reading a cache database with a corrupted page")
        sb.run(["sqlite3", "garbage.db", "select * from builds;"], code=None,
               expect=["file is not a database"], visible="corrupt-cache",
               note="sqlite3 opening a cache file that is not a database")
    sb.run(["python3", "-c", "import sqlite3\ndb = sqlite3.connect('cache.db')\n"
            "print(db.execute('select sha, length(log) from builds order by sha').fetchall()[-1])"],
           code=1, expect=["malformed"], visible="corrupt-cache", tool="python3",
           note="python sqlite3 reading a cache database with a corrupted page")
    truncate(sb.p("trunc.db"), 4096 * 4 + 100)
    sb.run(["python3", "-c", "import sqlite3\ndb = sqlite3.connect('trunc.db')\n"
            "print(db.execute('select count(*) from builds where status = \"ok\"').fetchone())"],
           code=1, expect_re=r"(malformed|not a database)", visible="corrupt-cache", tool="python3",
           note="python sqlite3 reading a truncated cache database")


@scenario("corrupt-cache", "checksum-mismatch", "sha256sum")
def _(sb: Sandbox):
    sb.randfile("downloads/node-v20.11.1-linux-x64.tar.xz", 300 << 10, seed=50)
    sb.setup(["sh", "-c", "cd downloads && sha256sum node-v20.11.1-linux-x64.tar.xz > SHASUMS256.txt"])
    truncate(sb.p("downloads/node-v20.11.1-linux-x64.tar.xz"), 0.8)
    sb.run(["sha256sum", "-c", "SHASUMS256.txt"], cwd=sb.p("downloads"), code=1,
           expect=["FAILED", "did NOT match"], visible="corrupt-cache",
           note="sha256sum -c of a cached download truncated to 80 %")
    sb.write("ci/fetch-toolchain.sh", """
        #!/bin/sh
        set -e
        cd downloads
        echo "verifying cached toolchain"
        sha256sum --quiet -c SHASUMS256.txt
        tar -xJf node-v20.11.1-linux-x64.tar.xz
        """.replace("\n        ", "\n").lstrip(), mode=0o755)
    sb.run(["ci/fetch-toolchain.sh"], code=1, expect=["did NOT match"], visible="corrupt-cache", tool="sh",
           note="a script verifying a cached toolchain with sha256sum --quiet -c")


@scenario("corrupt-cache", "python-cache-corrupt", "python3")
def _(sb: Sandbox):
    import pickle
    data = pickle.dumps({"deps": {f"pkg{i}": f"1.{i}.0" for i in range(200)}, "built": FIXED_DATE})
    sb.write(".cache/resolver.pkl", data[: len(data) // 2])
    sb.write("resolve.py", """
        import pickle
        with open(".cache/resolver.pkl", "rb") as f:
            state = pickle.load(f)
        print(len(state["deps"]), "cached resolutions")
        """)
    sb.run(["python3", "resolve.py"], code=1, expect_re=r"(EOFError|UnpicklingError|pickle data was truncated)",
           visible="corrupt-cache", note="python loading a pickle cache truncated to half")
    sb.write(".cache/index.pkl", b"\x00" * 64)
    sb.run(["python3", "-c", "import pickle\npickle.load(open('.cache/index.pkl', 'rb'))"], code=1,
           expect=["UnpicklingError"], visible="corrupt-cache",
           note="python loading a pickle cache that was zeroed (invalid load key)")
    sb.write(".cache/http/etag-index.json", '{"https://registry/pkg": {"etag": "W/\\"abc\\"", "size": 12')
    sb.run(["python3", "-c", "import json\nidx = json.load(open('.cache/http/etag-index.json'))\nprint(len(idx))"],
           code=1, expect=["JSONDecodeError"], visible="code-error",
           note="python reading a truncated JSON cache index: a JSONDecodeError that looks like a bug")
    # a stale-but-valid-header .pyc with garbage code
    sb.write("pkg/__init__.py", "")
    sb.write("pkg/settings.py", "DEBUG = False\nNAME = 'app'\n" + "X = 1\n" * 50)
    sb.setup(["python3", "-m", "compileall", "-q", "pkg"], env=sb.env({"PYTHONDONTWRITEBYTECODE": None}))
    pyc = next((sb.p("pkg/__pycache__")).glob("settings.*.pyc"))
    raw = bytearray(pyc.read_bytes())
    for i in range(16, len(raw)):
        raw[i] = 0xEE
    pyc.write_bytes(bytes(raw))
    sb.run(["python3", "-c", "import pkg.settings\nprint(pkg.settings.NAME)"], code=1,
           env=sb.env({"PYTHONDONTWRITEBYTECODE": None}), expect=["bad marshal data"], visible="code-error",
           note="python importing a module whose cached .pyc (valid header) holds garbage: "
                "'ValueError: bad marshal data'")


@scenario("corrupt-cache", "node-modules-corrupt", "node", needs=("node",))
def _(sb: Sandbox):
    sb.write("app/node_modules/left-pad/package.json", '{"name": "left-pad", "version": "1.3.0", "main": "ind')
    sb.write("app/node_modules/left-pad/index.js", "module.exports = (s) => s;\n")
    sb.write("app/index.js", "const pad = require('left-pad');\nconsole.log(pad('x'));\n")
    sb.run(["node", "index.js"], cwd=sb.p("app"), code=1, expect_re=r"(Invalid package config|JSON|SyntaxError)",
           visible="code-error",
           note="node requiring a package whose package.json in node_modules (restored from cache) is "
                "truncated")
    sb.write("app/node_modules/chalk/package.json", '{"name": "chalk", "version": "4.1.2", "main": "index.js"}')
    sb.write("app/node_modules/chalk/index.js", "module.exports = {red: (s) => s};\n" + "\x00" * 64)
    sb.write("app/colors.js", "const chalk = require('chalk');\nconsole.log(chalk.red('x'));\n")
    sb.run(["node", "colors.js"], cwd=sb.p("app"), code=1, expect=["SyntaxError"], visible="code-error",
           note="node requiring a cached package file with trailing NUL bytes (a partly written cache)")


# -------------------------------------------------------- permission-denied

def nobody_env(sb: Sandbox) -> dict:
    h = sb.p("nobody-home")
    h.mkdir(exist_ok=True)
    os.chmod(h, 0o777)
    return sb.env({"HOME": str(h), "PATH": "/usr/local/bin:/usr/bin:/bin", "USER": "nobody",
                   "npm_config_cache": str(h / ".npm"), "TMPDIR": "/tmp",
                   "CARGO_HOME": None, "RUSTUP_HOME": None, "PIP_CACHE_DIR": None})


@scenario("permission-denied", "nobody-write-root-dir", "sh", needs=("root", "setpriv"))
def _(sb: Sandbox):
    out = sb.p("srv/releases")
    out.mkdir(parents=True)
    os.chmod(out, 0o755)
    env = nobody_env(sb)
    sb.run([*NOBODY, "sh", "-c", f"echo 1.4.2 > {out}/VERSION"], env=env, code=2,
           expect=["Permission denied"], visible="permission-denied",
           note="a shell as nobody writing into a root-owned 0755 dir")
    sb.run([*NOBODY, "touch", f"{out}/deploy.lock"], env=env, code=1, expect=["Permission denied"],
           visible="permission-denied", tool="touch", note="touch as nobody in a root-owned dir")
    sb.run([*NOBODY, "mkdir", "-p", f"{out}/1.4.2/bin"], env=env, code=1, expect=["Permission denied"],
           visible="permission-denied", tool="mkdir", note="mkdir -p as nobody below a root-owned dir")
    sb.write("dist/app", "binary\n")
    os.chmod(sb.p("dist"), 0o755)
    os.chmod(sb.p("dist/app"), 0o644)
    sb.run([*NOBODY, "cp", sb.p("dist/app"), f"{out}/"], env=env, code=1, expect=["Permission denied"],
           visible="permission-denied", tool="cp", note="cp as nobody into a root-owned dir")


@scenario("permission-denied", "nobody-read-secret", "cat", needs=("root", "setpriv"))
def _(sb: Sandbox):
    sb.write("config/deploy.key", "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n", mode=0o600)
    sb.write("config/app.env", "DATABASE_URL=postgres://app@db/app\n", mode=0o600)
    os.chmod(sb.p("config"), 0o755)
    env = nobody_env(sb)
    sb.run([*NOBODY, "cat", sb.p("config/deploy.key")], env=env, code=1, expect=["Permission denied"],
           visible="permission-denied", note="cat as nobody of a root 0600 key")
    if SYS_PY:
        sb.run([*NOBODY, SYS_PY, "-c", f"print(open('{sb.p('config/app.env')}').read())"], env=env, code=1,
               expect=["PermissionError"], visible="permission-denied", tool="python3",
               note="python as nobody reading a root 0600 env file")
    sb.run([*NOBODY, "sh", "-c", f". {sb.p('config/app.env')}; echo $DATABASE_URL"], env=env, code=2,
           expect_re=r"(Permission denied|can't open)", visible="permission-denied", tool="sh",
           note="a shell as nobody sourcing a root 0600 env file")
    secret_dir = sb.p("private")
    secret_dir.mkdir()
    sb.write("private/token", "t\n")
    os.chmod(secret_dir, 0o700)
    sb.run([*NOBODY, "ls", secret_dir], env=env, code=2, expect=["Permission denied"],
           visible="permission-denied", tool="ls", note="ls as nobody of a root 0700 dir")


@scenario("permission-denied", "not-executable", "sh")
def _(sb: Sandbox):
    sb.write("build.sh", "#!/bin/sh\necho building\n", mode=0o644)
    sb.run(sh("./build.sh"), code=126, expect=["Permission denied"], visible="permission-denied",
           note="sh running a build script without the x bit (126)")
    sb.run(bash("echo '==> build'; ./build.sh"), code=126, expect=["Permission denied"],
           visible="permission-denied", tool="bash", note="bash running a script without the x bit (126)")
    sb.write("bin/tool", random.Random(1).randbytes(256), mode=0o755)
    sb.run(["python3", "-c", "import subprocess\nsubprocess.run(['./bin/tool', '--version'])"], code=1,
           expect=["Exec format error"], visible="permission-denied", tool="python3",
           note="python subprocess running an executable that is not a valid binary (ENOEXEC)")
    sb.write("gradlew", "#!/bin/sh\necho gradle\n", mode=0o644)
    sb.run(["python3", "-c", "import subprocess\nsubprocess.run(['./gradlew', 'build'], check=True)"], code=1,
           expect=["PermissionError"], visible="permission-denied", tool="python3",
           note="python subprocess running ./gradlew checked out without the x bit")
    m = sb.tmpfs("noexec", opts="noexec")
    shutil.copy(sb.p("build.sh"), m / "run.sh")
    os.chmod(m / "run.sh", 0o755)
    sb.run(sh(f"{m}/run.sh"), code=126, expect=["Permission denied"], visible="permission-denied",
           note="running a script from a noexec mount (e.g. /tmp mounted noexec)")


@scenario("permission-denied", "read-only-fs", "touch", needs=("root",))
def _(sb: Sandbox):
    m = sb.tmpfs("ro")
    (m / "workspace").mkdir()
    (m / "workspace" / "README.md").write_text("# ws\n")
    sb.remount_ro(m)
    sb.run(["touch", f"{m}/workspace/.build-stamp"], code=1, expect=["Read-only file system"],
           visible="permission-denied", note="touch on a read-only mount")
    sb.run(["git", "init", f"{m}/workspace/repo"], code=None, expect=["Read-only file system"],
           visible="permission-denied", tool="git", note="git init on a read-only mount")
    whl = make_wheel(sb.p("wheels"), "tinylib", "0.1.0", {"tinylib/__init__.py": b""})
    sb.run(["python3", "-m", "pip", "install", "--no-index", "--no-cache-dir", "--target", f"{m}/workspace/lib", whl],
           code=None, expect=["Read-only file system"], visible="permission-denied", tool="pip",
           note="pip install --target on a read-only mount: 'Successfully installed', then a traceback "
                "ending in EROFS")
    if have("cargo"):
        sb.write("app/Cargo.toml", '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n')
        sb.write("app/src/main.rs", "fn main() {}\n")
        sb.run(["cargo", "build", "--offline"], cwd=sb.p("app"),
               env=sb.env({"CARGO_TARGET_DIR": f"{m}/workspace/target"}), code=101,
               expect=["Read-only file system"], visible="permission-denied", tool="cargo",
               note="cargo build with its target dir on a read-only mount")
    if have("npm"):
        sb.run(["npm", "install", "--no-save", str(make_npm_tgz(sb.p("pkgs"), "tiny", "1.0.0", {}))],
               cwd=f"{m}/workspace", code=None, expect_re=r"(EROFS|read-only file system|ENOENT.*mkdir)",
               visible="unknown", tool="npm",
               note="npm install in a project on a read-only mount: npm reports 'ENOENT: no such file or "
                    "directory, mkdir .../node_modules', not EROFS")


@scenario("permission-denied", "nobody-tools-write", "git", needs=("root", "setpriv"))
def _(sb: Sandbox):
    env = nobody_env(sb)
    work = sb.p("work")
    work.mkdir()
    os.chmod(work, 0o755)
    src = sb.git_repo("src", {"README.md": "# src\n"})
    for root, dirs, files in os.walk(src):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    sb.run([*NOBODY, "git", "clone", "-q", str(src), f"{work}/app"], env=env, code=128,
           expect=["Permission denied"], visible="permission-denied",
           note="git clone as nobody into a root-owned dir")
    if have("npm"):
        proj = sb.p("proj")
        sb.write("proj/package.json", json.dumps({"name": "proj", "version": "1.0.0", "private": True}))
        os.chmod(proj, 0o755)
        tgz = make_npm_tgz(sb.p("pkgs"), "tiny", "1.0.0", {})
        os.chmod(sb.p("pkgs"), 0o755)
        os.chmod(tgz, 0o644)
        sb.run([*NOBODY, "npm", "install", "--no-save", str(tgz)], cwd=proj, env=env, code=None,
               expect=["EACCES"], visible="permission-denied", tool="npm",
               note="npm install as nobody in a root-owned project dir")
    if SYS_PY:
        sb.run([*NOBODY, SYS_PY, "-c", f"import shutil\nshutil.copytree('{src}', '{work}/mirror')"],
               env=env, code=1, expect=["PermissionError"], visible="permission-denied", tool="python3",
               note="python copytree as nobody into a root-owned dir")


@scenario("permission-denied", "operation-not-permitted", "chown", needs=("root", "setpriv"))
def _(sb: Sandbox):
    env = nobody_env(sb)
    f = sb.write("shared/app.log", "log\n")
    os.chmod(sb.p("shared"), 0o777)
    shutil.chown(f, 65534, 65534)
    sb.run([*NOBODY, "chown", "root:root", str(f)], env=env, code=1, expect=["Operation not permitted"],
           visible="permission-denied", note="chown to root as nobody")
    sticky = sb.p("spool")
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    sb.write("spool/job-41.lock", "41\n")
    sb.run([*NOBODY, "rm", "-f", f"{sticky}/job-41.lock"], env=env, code=1, expect=["Operation not permitted"],
           visible="permission-denied", tool="rm", note="rm as nobody of a root file in a sticky dir")
    sb.run([*NOBODY, "kill", "-TERM", "1"], env=env, code=1, expect=["Operation not permitted"],
           visible="permission-denied", tool="kill", note="kill of pid 1 as nobody")
    sb.run([*NOBODY, "mount", "-t", "tmpfs", "tmpfs", str(sb.p("spool"))], env=env, code=None,
           expect_re=r"(only root|must be superuser|Operation not permitted|permission denied)",
           visible="permission-denied",
           tool="mount", note="mount as nobody")


@scenario("permission-denied", "docker-socket-denied", "docker", needs=("root", "setpriv", "docker"))
def _(sb: Sandbox):
    (sb.p("run")).mkdir()
    os.chmod(sb.p("run"), 0o755)
    path = str(sb.p("run/docker.sock"))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(4)
    sb.holders.append(s)
    os.chmod(path, 0o660)
    env = nobody_env(sb)
    env["DOCKER_HOST"] = f"unix://{path}"
    env["DOCKER_CONFIG"] = str(sb.p("nobody-home/.docker"))
    sb.run([*NOBODY, "docker", "ps"], env=env, code=1, expect=["permission denied"],
           visible="permission-denied", note="docker ps as a user not allowed on the (root 0660) socket")
    sb.write("ctx/Dockerfile", "FROM alpine:3.20\nRUN echo hi\n")
    for p in (sb.p("ctx"), sb.p("ctx/Dockerfile")):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    sb.run([*NOBODY, "docker", "build", "-t", "app:ci", str(sb.p("ctx"))], env=env, code=1,
           expect=["permission denied"], visible="permission-denied",
           note="docker build as a user not allowed on the socket")


@scenario("permission-denied", "nobody-git-ownership", "git", needs=("root", "setpriv", "git"))
def _(sb: Sandbox):
    env = nobody_env(sb)
    repo = sb.git_repo("repo", {"README.md": "# app\n"}, bare_copy="origin.git")
    for root, dirs, files in os.walk(sb.dir):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    sb.run([*NOBODY, "git", "status"], cwd=repo, env=env, code=128, expect=["dubious ownership"],
           visible="vcs-error",
           note="git status as nobody in a checkout owned by root: 'fatal: detected dubious ownership' "
                "(a workspace made by another user)")
    sb.setup(["git", "clone", "-q", str(sb.p("origin.git")), str(sb.p("work"))])
    os.chmod(sb.p("work"), 0o777)
    for root, dirs, files in os.walk(sb.p("work")):
        for d in dirs:
            shutil.chown(os.path.join(root, d), 65534, 65534)
        for f in files:
            shutil.chown(os.path.join(root, f), 65534, 65534)
    shutil.chown(sb.p("work"), 65534, 65534)
    sb.write("work/CHANGELOG.md", "1.4.2\n")
    shutil.chown(sb.p("work/CHANGELOG.md"), 65534, 65534)
    sb.write("nobody-gitconfig", "[safe]\n\tdirectory = *\n[init]\n\tdefaultBranch = main\n", mode=0o644)
    env_safe = dict(env, GIT_CONFIG_GLOBAL=str(sb.p("nobody-gitconfig")))
    sb.run([*NOBODY, "sh", "-c", "git add CHANGELOG.md && git commit -q -m changelog && git push origin main"],
           cwd=sb.p("work"), env=env_safe, code=1, expect_re=r"(unpacker error|Permission denied|insufficient permission)",
           visible="vcs-error", tool="git",
           note="git push as nobody into a root-owned bare repository: 'remote rejected (unpacker error)', "
                "'failed to push some refs'")


@scenario("permission-denied", "wrapped-permission", "make", needs=("root", "setpriv", "make"))
def _(sb: Sandbox):
    env = nobody_env(sb)
    prefix = sb.p("opt/app")
    prefix.mkdir(parents=True)
    sb.write("build/app", "#!/bin/sh\necho app\n", mode=0o755)
    sb.write("Makefile", f"PREFIX = {prefix}\n\ninstall:\n\tinstall -d $(PREFIX)/bin\n"
             "\tinstall -m 0755 build/app $(PREFIX)/bin/app\n")
    for p in (sb.p("build"), sb.p("opt")):
        os.chmod(p, 0o755)
    os.chmod(sb.p("Makefile"), 0o644)
    sb.run([*NOBODY, "make", "install"], env=env, code=2, expect=["cannot change permissions", "Error 1"],
           visible="code-error",
           note="make install as nobody into a root-owned prefix: install -d reports 'cannot change "
                "permissions of ...: No such file or directory' (the mkdir was refused), then make's Error 1")
    sb.write("ci/publish.sh", f"""
        #!/bin/sh
        echo "==> publishing build/app"
        cp build/app {prefix}/app || {{ echo "ERROR: publish step failed (exit $?)" >&2; exit 1; }}
        """.replace("\n        ", "\n").lstrip(), mode=0o755)
    sb.run([*NOBODY, "./ci/publish.sh"], env=env, code=1, expect=["Permission denied", "publish step failed"],
           visible="unknown", tool="sh",
           note="a publish script run as nobody: cp's 'Permission denied', then its own generic ERROR line")


# -------------------------------------------------------------- port-in-use

@scenario("port-in-use", "python-http-server", "python3")
def _(sb: Sandbox):
    p = sb.hold_port()
    sb.run(["python3", "-m", "http.server", str(p), "--bind", "127.0.0.1"], code=1,
           expect=["Address already in use"], visible="port-in-use",
           note="python -m http.server on a port another process holds")
    sb.write("serve.py", f"""
        import socketserver, http.server
        print("starting docs preview on :{p}")
        with socketserver.TCPServer(("127.0.0.1", {p}), http.server.SimpleHTTPRequestHandler) as httpd:
            httpd.serve_forever()
        """)
    sb.run(["python3", "serve.py"], code=1, expect=["Address already in use"], visible="port-in-use",
           note="a python socketserver on a held port")
    sb.run(["python3", "-c", f"import asyncio\nasync def main():\n"
            f"    await asyncio.start_server(lambda r, w: None, '127.0.0.1', {p})\nasyncio.run(main())"],
           code=1, expect=["address already in use"], visible="port-in-use",
           note="python asyncio.start_server on a held port")


@scenario("port-in-use", "node-listen", "node", needs=("node",))
def _(sb: Sandbox):
    p = sb.hold_port()
    sb.write("server.js", f"""
        const http = require('http');
        const server = http.createServer((req, res) => res.end('ok'));
        server.listen({p}, '127.0.0.1', () => console.log('listening on {p}'));
        """)
    sb.run(["node", "server.js"], code=1, expect=["EADDRINUSE"], visible="port-in-use",
           note="node http server listening on a held port")
    sb.write("tcp.js", f"""
        const net = require('net');
        console.log('starting metrics exporter');
        net.createServer().listen({{ port: {p}, host: '127.0.0.1' }});
        """)
    sb.run(["node", "tcp.js"], code=1, expect=["EADDRINUSE"], visible="port-in-use",
           note="node net server on a held port")
    sb.write("web/package.json", json.dumps({"name": "web", "version": "1.0.0",
                                            "scripts": {"start": "node ../server.js"}}, indent=2))
    sb.run(["npm", "start"], cwd=sb.p("web"), code=1, expect=["EADDRINUSE"], visible="port-in-use", tool="npm",
           note="npm start of a server on a held port")
    sb.write("ci/preview.sh", f"""
        #!/bin/bash
        python3 -m http.server {p} --bind 127.0.0.1 &
        pid=$!
        sleep 1
        if ! kill -0 $pid 2>/dev/null; then
            echo "error: preview server exited early, see above" >&2
            exit 1
        fi
        """.replace("\n        ", "\n").lstrip(), mode=0o755)
    sb.run(["ci/preview.sh"], code=1, expect=["Address already in use", "exited early"], visible="unknown",
           tool="bash",
           note="a script that starts a preview server in the background and only says it 'exited early'")


@scenario("port-in-use", "python-socket-bind", "python3")
def _(sb: Sandbox):
    p = sb.hold_port()
    sb.run(["python3", "-c", f"import socket\ns = socket.socket()\ns.bind(('127.0.0.1', {p}))\ns.listen()"],
           code=1, expect=["Address already in use"], visible="port-in-use",
           note="python socket.bind on a held port")
    p6 = sb.hold_port("::1", socket.AF_INET6) if socket.has_ipv6 else None
    if p6:
        sb.run(["python3", "-c", f"import socket\ns = socket.socket(socket.AF_INET6)\ns.bind(('::1', {p6}))"],
               code=1, expect=["Address already in use"], visible="port-in-use",
               note="python binding [::1] on a held IPv6 port")
    sb.write("tests/test_api.py", f"""
        import socket
        import unittest


        class ApiTest(unittest.TestCase):
            @classmethod
            def setUpClass(cls):
                cls.srv = socket.socket()
                cls.srv.bind(("127.0.0.1", {p}))
                cls.srv.listen()

            def test_ping(self):
                self.assertTrue(True)
        """)
    sb.run(["python3", "-m", "unittest", "discover", "-s", "tests"], code=1,
           expect=["Address already in use", "FAILED (errors=1)"], visible="code-error",
           note="a unittest fixture that binds a held port: the run ends in 'FAILED (errors=1)'")


@scenario("port-in-use", "perl-listen", "perl", needs=("perl",))
def _(sb: Sandbox):
    p = sb.hold_port()
    sb.run(["perl", "-MIO::Socket::INET", "-e",
            f"my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => {p}, Listen => 5, "
            "ReuseAddr => 0) or die \"cannot listen on port: $@\\n\"; print \"ok\\n\""],
           code=None, expect_re=r"[Aa]ddress already in use", visible="port-in-use",
           note="perl IO::Socket::INET listening on a held port")


@scenario("port-in-use", "git-daemon-port", "git", needs=("git",))
def _(sb: Sandbox):
    p = sb.hold_port()
    sb.git_repo("repos/app", {"README.md": "# app\n"})
    sb.run(["git", "daemon", f"--port={p}", "--listen=127.0.0.1", "--export-all", f"--base-path={sb.p('repos')}"],
           code=None, expect_re=r"(unable to allocate any listen sockets|Address already in use)",
           visible="port-in-use", note="git daemon on a held port")


@scenario("port-in-use", "rust-bind-panic", "rustc", needs=("rustc",))
def _(sb: Sandbox):
    p = sb.hold_port()
    sb.write("server.rs", f"""
        use std::net::TcpListener;

        fn main() {{
            println!("binding 127.0.0.1:{p}");
            let listener = TcpListener::bind("127.0.0.1:{p}").unwrap();
            for _ in listener.incoming() {{}}
        }}
        """)
    sb.setup(["rustc", "-o", str(sb.p("server")), str(sb.p("server.rs"))])
    sb.run(["./server"], code=101, expect=["AddrInUse"], visible="code-error", tool="rust-program",
           note="a rust server that unwraps TcpListener::bind on a held port: a panic whose payload "
                "names AddrInUse")
    sb.write("server2.rs", f"""
        use std::net::TcpListener;
        use std::process::exit;

        fn main() {{
            match TcpListener::bind("0.0.0.0:{p}") {{
                Ok(_) => println!("listening"),
                Err(e) => {{ eprintln!("error: cannot listen on 0.0.0.0:{p}: {{e}}"); exit(1) }}
            }}
        }}
        """)
    sb.setup(["rustc", "-o", str(sb.p("server2")), str(sb.p("server2.rs"))])
    sb.run(["./server2"], code=1, expect=["Address already in use"], visible="port-in-use", tool="rust-program",
           note="a rust server reporting the bind error itself")


@scenario("port-in-use", "java-bind", "java", needs=("java",))
def _(sb: Sandbox):
    p = sb.hold_port()
    sb.write("Server.java", f"""
        import java.net.InetAddress;
        import java.net.ServerSocket;

        public class Server {{
            public static void main(String[] args) throws Exception {{
                System.out.println("starting on port {p}");
                ServerSocket s = new ServerSocket({p}, 50, InetAddress.getByName("127.0.0.1"));
                s.accept();
            }}
        }}
        """)
    sb.run(["java", "Server.java"], code=1, timeout=20, expect=["BindException"], visible="port-in-use",
           note="a java ServerSocket on a held port: java.net.BindException: Address already in use")


# ------------------------------------------------------------------ crashed

@scenario("crashed", "c-signals", "c-program", needs=("gcc",))
def _(sb: Sandbox):
    sb.cc("segv.c", '#include <stdio.h>\nstruct job { const char *name; };\n'
          'static struct job *lookup(int id) { (void) id; return NULL; }\n'
          'int main(void) {\n  puts("worker: picking job 17");\n  fflush(stdout);\n'
          '  printf("%s\\n", lookup(17)->name);\n  return 0;\n}\n', "segv", flags=("-O0",))
    sb.run(["./segv"], sig=11, expect=["picking job"], visible="unknown",
           note="a C worker dereferencing NULL: SIGSEGV, the output shows nothing after its last log line")
    sb.run(sh("./segv"), code=139, expect=["Segmentation fault"], visible="crashed", tool="sh",
           note="the same from sh: 'Segmentation fault', exit 139")
    sb.run(bash("./segv; exit $?"), code=139, expect=["Segmentation fault"], visible="crashed", tool="bash",
           note="the same from bash: 'PID Segmentation fault', exit 139")
    sb.cc("abrt.c", '#include <stdio.h>\n#include <stdlib.h>\nint main(void) {\n'
          '  fprintf(stderr, "scheduler: inconsistent queue state, aborting\\n");\n  abort();\n}\n', "abrt")
    sb.run(["./abrt"], sig=6, expect=["aborting"], visible="crashed", note="a C program calling abort()")
    sb.cc("fpe.c", '#include <stdio.h>\nint main(int argc, char **argv) {\n  volatile int n = argc - 1;\n'
          '  printf("average: %d\\n", 100 / n);\n  return 0;\n}\n', "fpe")
    sb.run(["./fpe"], sig=8, visible="unknown", note="a C program dividing by zero: SIGFPE, no output")
    sb.run(sh("./fpe"), code=136, expect=["Floating point exception"], visible="crashed", tool="sh",
           note="the same from sh: 'Floating point exception', exit 136")
    sb.cc("bus.c", '#include <stdio.h>\n#include <fcntl.h>\n#include <sys/mman.h>\n#include <unistd.h>\n'
          'int main(void) {\n  int fd = open("mapped.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);\n'
          '  ftruncate(fd, 4096);\n  char *p = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);\n'
          '  puts("index mapped"); fflush(stdout);\n  p[8192] = 1;\n  return 0;\n}\n', "bus")
    sb.run(["./bus"], sig=7, expect=["index mapped"], visible="unknown",
           note="a C program touching an mmap past the end of its file: SIGBUS")
    sb.run(sh("./bus"), code=135, expect=["Bus error"], visible="crashed", tool="sh",
           note="the same from sh: 'Bus error', exit 135")
    sb.cc("ill.c", 'int main(void) { __builtin_trap(); }\n', "ill")
    sb.run(["./ill"], sig=4, visible="unknown", note="a C program hitting __builtin_trap (ud2): SIGILL")
    sb.cc("stack.c", '#include <stdio.h>\nstatic int depth(int n) { volatile char pad[4096]; pad[0] = n; '
          'return depth(n + 1) + pad[0]; }\nint main(void) { puts("walking tree"); fflush(stdout); '
          'return depth(0); }\n', "stack", flags=("-O0",))
    sb.run(["./stack"], sig=11, expect=["walking tree"], visible="unknown",
           note="a C program with unbounded recursion: stack overflow, SIGSEGV")


@scenario("crashed", "glibc-abort", "c-program", needs=("gcc",))
def _(sb: Sandbox):
    sb.cc("dfree.c", '#include <stdlib.h>\n#include <stdio.h>\nint main(void) {\n  char *buf = malloc(64);\n'
          '  puts("flushing buffers"); fflush(stdout);\n  free(buf);\n  free(buf);\n  return 0;\n}\n', "dfree")
    sb.run(["./dfree"], sig=6, expect=["double free"], visible="crashed",
           note="a C program freeing a buffer twice: glibc 'free(): double free detected', SIGABRT")
    sb.cc("smash.c", '#include <string.h>\n#include <stdio.h>\nstatic void copy(const char *s) { char b[8]; '
          'strcpy(b, s); printf("%s\\n", b); }\nint main(void) { copy("a much too long build identifier"); '
          'return 0; }\n', "smash", flags=("-fstack-protector-all", "-O0"))
    sb.run(["./smash"], sig=6, expect=["stack smashing detected"], visible="crashed",
           note="a C program overflowing a stack buffer: '*** stack smashing detected ***', SIGABRT")
    sb.cc("heap.c", '#include <stdlib.h>\n#include <string.h>\nint main(void) {\n  char *a = malloc(24);\n'
          '  char *b = malloc(24);\n  memset(a, 0x41, 64);\n  free(b);\n  free(a);\n  return 0;\n}\n', "heap")
    sb.run(["./heap"], sig=11, visible="unknown",
           note="a C program overrunning a heap block: SIGSEGV inside free(), nothing printed")


@scenario("crashed", "python-crash", "python3")
def _(sb: Sandbox):
    sb.run(["python3", "-X", "faulthandler", "-c", "import ctypes\nprint('loading native ext', flush=True)\n"
            "ctypes.string_at(0)"], sig=11, expect=["Fatal Python error: Segmentation fault"], visible="crashed",
           note="python reading address 0 through ctypes with faulthandler on: SIGSEGV")
    sb.run(["python3", "-c", "import ctypes\nctypes.memset(0, 1, 8)"], sig=11, visible="unknown",
           note="python writing address 0 through ctypes without faulthandler: SIGSEGV, no output")
    sb.run(["python3", "-c", "import os\nprint('worker 3: state mismatch', flush=True)\nos.abort()"], sig=6,
           expect=["state mismatch"], visible="unknown", note="python os.abort(): SIGABRT")
    sb.run(sh("python3 -c 'import os; os.abort()'"), code=134, expect=["Aborted"], visible="crashed", tool="sh",
           note="python os.abort() from sh: 'Aborted', exit 134")


@scenario("crashed", "self-signal", "sh")
def _(sb: Sandbox):
    sb.run(sh("echo 'collecting results'; kill -SEGV $$"), sig=11, expect=["collecting results"],
           visible="unknown", note="a shell sending SIGSEGV to itself")
    sb.run(bash("echo 'step 4/7'; kill -ABRT $$"), sig=6, expect=["step 4/7"], visible="unknown", tool="bash",
           note="bash sending SIGABRT to itself")
    if have("node"):
        sb.run(["node", "-e", "console.log('native addon init'); process.kill(process.pid, 'SIGSEGV')"], sig=11,
               expect=["native addon init"], visible="unknown", tool="node",
               note="node raising SIGSEGV on itself")
        sb.run(["node", "-e", "console.log('fatal: invariant'); process.abort()"], sig=6,
               expect=["fatal: invariant"], visible="code-error", tool="node",
               note="node process.abort(); its own last line says 'fatal: invariant'")


@scenario("crashed", "rust-abort", "rustc", needs=("rustc",))
def _(sb: Sandbox):
    sb.write("deep.rs", "fn depth(n: u64) -> u64 { let pad = [n; 512]; if pad[0] == u64::MAX { 0 } "
             "else { depth(n + 1) + pad[n as usize % 512] } }\n"
             "fn main() { println!(\"{}\", depth(0)); }\n")
    sb.setup(["rustc", "-C", "opt-level=0", "-o", str(sb.p("deep")), str(sb.p("deep.rs"))])
    sb.run(["./deep"], sig=6, expect=["has overflowed its stack"], visible="crashed", tool="rust-program",
           note="a rust program overflowing its stack: 'thread main has overflowed its stack', SIGABRT")
    sb.write("abort.rs", "fn main() {\n    let v: Vec<u32> = Vec::new();\n    println!(\"{}\", v[3]);\n}\n")
    sb.setup(["rustc", "-C", "panic=abort", "-o", str(sb.p("abort")), str(sb.p("abort.rs"))])
    sb.run(["./abort"], sig=6, expect=["panicked"], visible="code-error", tool="rust-program",
           note="a rust program built with panic=abort indexing out of bounds: a panic message (looks like "
                "a code error), then SIGABRT")


# ------------------------------------------------------------------ timeout

@scenario("timeout", "coreutils-timeout", "timeout", needs=("timeout",))
def _(sb: Sandbox):
    sb.run(["timeout", "1", "sleep", "5"], code=124, visible="unknown",
           note="timeout 1 sleep 5: exit 124, nothing printed")
    sb.run(["timeout", "-s", "KILL", "1", "sleep", "5"], sig=9, visible="unknown",
           note="timeout -s KILL 1: the KILL goes to timeout's whole process group, timeout included; "
                "nothing printed")
    sb.run(["timeout", "-v", "1", "python3", "-c", "import time\nprint('waiting for db migration', flush=True)\n"
            "time.sleep(10)"], code=124, expect=["sending signal TERM"], visible="timeout",
           note="timeout -v 1 around a python step: 'timeout: sending signal TERM to command'")
    sb.run(sh("echo 'running integration suite'; timeout 1 sh -c 'echo \"waiting for service on :8080\"; "
              "sleep 10'"), code=124, expect=["waiting for service"], visible="unknown",
           note="a script whose step is ended by timeout 1: exit 124 after ordinary progress lines")
    sb.run(["timeout", "--preserve-status", "1", "sleep", "5"], code=143, visible="unknown",
           note="timeout --preserve-status: exit 143 (the TERM it sent)")


@scenario("timeout", "curl-max-time", "curl", needs=("curl",))
def _(sb: Sandbox):
    p = sb.tcp_server("never")
    sb.run(["curl", "-sS", "--max-time", "1", f"http://127.0.0.1:{p}/api/v1/builds"], code=28,
           expect=["Operation timed out"], visible="timeout",
           note="curl --max-time 1 to a server that accepts the connection and never answers")
    sb.run(["curl", "-fsS", "-m", "1", "-o", "report.json", f"http://127.0.0.1:{p}/report"], code=28,
           expect=["timed out"], visible="timeout", note="curl -m 1 download from a silent server")
    if have("wget"):
        sb.run(["wget", "--timeout=1", "--tries=1", f"http://127.0.0.1:{p}/dist/app.tgz"], code=4,
               expect=["timed out"], visible="timeout", tool="wget",
               note="wget --timeout=1 from a server that never answers")


@scenario("timeout", "python-socket-timeout", "python3")
def _(sb: Sandbox):
    p = sb.tcp_server("never")
    sb.run(["python3", "-c", f"import socket\ns = socket.create_connection(('127.0.0.1', {p}), timeout=1)\n"
            "s.sendall(b'PING\\r\\n')\nprint(s.recv(64))"], code=1, expect=["TimeoutError"], visible="timeout",
           note="python socket recv with a 1 s timeout on a server that never answers")
    sb.run(["python3", "-c", f"import urllib.request\n"
            f"urllib.request.urlopen('http://127.0.0.1:{p}/health', timeout=1)"], code=1,
           expect=["timed out"], visible="timeout", note="python urlopen(timeout=1) on a silent server")
    sb.write("ci/migrate.py", """
        import subprocess
        print("applying migrations")
        subprocess.run(["sleep", "5"], timeout=1, check=True)
        """)
    sb.run(["python3", "ci/migrate.py"], code=1, expect=["TimeoutExpired"], visible="timeout",
           note="python subprocess.run(timeout=1): TimeoutExpired")


@scenario("timeout", "ssh-connect-timeout", "ssh", needs=("ssh",))
def _(sb: Sandbox):
    p = sb.tcp_server("never")
    opts = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=1",
            "-o", f"UserKnownHostsFile={sb.home}/known_hosts"]
    sb.run(["ssh", *opts, "-p", str(p), "deploy@127.0.0.1", "true"], code=255, expect=["timed out"],
           visible="timeout", note="ssh -o ConnectTimeout=1 to a server that never sends its banner")
    sb.run(["git", "clone", f"ssh://git@127.0.0.1:{p}/acme/app.git"], code=128,
           env=sb.env({"GIT_SSH_COMMAND": "ssh " + " ".join(opts)}),
           expect=["timed out", "Could not read from remote"], visible="vcs-error", tool="git",
           note="git clone over ssh with ConnectTimeout=1 to a silent server; ends with git's "
                "'Could not read from remote repository ... correct access rights'")
    sb.run(["git", "clone", f"http://127.0.0.1:{p}/acme/app.git"], code=128,
           env=sb.env({"GIT_HTTP_LOW_SPEED_LIMIT": "1000", "GIT_HTTP_LOW_SPEED_TIME": "1"}),
           expect_re=r"(Operation too slow|timed out)", visible="timeout", tool="git",
           note="git clone over http with a low-speed limit of 1 s against a silent server")


@scenario("timeout", "node-test-timeout", "node", needs=("node",))
def _(sb: Sandbox):
    sb.write("test/upload.test.js", """
        const test = require('node:test');
        const assert = require('node:assert');

        test('uploads the artifact', { timeout: 500 }, async () => {
          await new Promise((resolve) => setTimeout(resolve, 2500));
          assert.ok(true);
        });
        """)
    sb.run(["node", "--test", "test/"], code=1, expect=["timed out after 500ms"], visible="timeout",
           note="node --test with a 500 ms test timeout on a test that waits 2.5 s")
    sb.write("test/poll.test.js", """
        const test = require('node:test');

        test('waits for the job to finish', { timeout: 300 }, () => new Promise(() => {
          setTimeout(() => {}, 1500);
        }));
        """)
    sb.run(["node", "--test", "test/poll.test.js"], code=1, expect=["timed out after 300ms"], visible="timeout",
           note="node --test: a test whose promise never settles, 300 ms timeout")


@scenario("timeout", "registry-timeout", "pip")
def _(sb: Sandbox):
    p = sb.tcp_server("never")
    sb.run(["python3", "-m", "pip", "install", "--index-url", f"http://127.0.0.1:{p}/simple/", "--retries", "1",
            "--timeout", "1", "--target", sb.p("lib"), "flask"], code=1,
           expect=["timed out", "No matching distribution found"], visible="missing-module",
           note="pip against an index that never answers (read timeout 1 s); ends in "
                "'No matching distribution found'")
    if have("npm"):
        sb.write("app/package.json", json.dumps({"name": "app", "version": "1.0.0", "private": True}))
        sb.run(["npm", "install", "express", f"--registry=http://127.0.0.1:{p}/", "--fetch-retries=0",
                "--fetch-timeout=1000"], cwd=sb.p("app"), code=1, timeout=20,
               expect_re=r"(ETIMEDOUT|ESOCKETTIMEDOUT|timeout|Timeout)", visible="timeout", tool="npm",
               note="npm install against a registry that never answers (fetch-timeout 1 s)")


# ---------------------------------------------------------------- vcs-error

def _branches(sb: Sandbox, rel="repo"):
    repo = sb.git_repo(rel, {"config.yml": "replicas: 2\nimage: app:1.4.1\n", "README.md": "# app\n"})
    sb.git(repo, "checkout", "-q", "-b", "feature/bump")
    sb.write(f"{rel}/config.yml", "replicas: 3\nimage: app:1.5.0\n")
    sb.git(repo, "commit", "-q", "-am", "bump to 1.5.0")
    sb.git(repo, "checkout", "-q", "main")
    sb.write(f"{rel}/config.yml", "replicas: 2\nimage: app:1.4.2\n")
    sb.git(repo, "commit", "-q", "-am", "hotfix 1.4.2")
    return repo


@scenario("vcs-error", "git-merge-conflict", "git", needs=("git",))
def _(sb: Sandbox):
    repo = _branches(sb)
    sb.run(["git", "merge", "feature/bump"], cwd=repo, code=1, expect=["CONFLICT (content)"],
           visible="vcs-error", note="git merge with a content conflict")
    sb.git(repo, "merge", "--abort")
    sb.run(["git", "rebase", "feature/bump"], cwd=repo, code=1, expect=["CONFLICT"], visible="vcs-error",
           note="git rebase with a content conflict")
    sb.git(repo, "rebase", "--abort")
    sb.run(["git", "cherry-pick", "feature/bump"], cwd=repo, code=1, expect=["CONFLICT"], visible="vcs-error",
           note="git cherry-pick with a content conflict")
    sb.git(repo, "cherry-pick", "--abort")
    repo2 = _branches(sb, "repo2")
    sb.write("repo2/config.yml", "replicas: 5\nimage: app:1.4.2\n")
    sb.git(repo2, "stash", "-q")
    sb.git(repo2, "checkout", "-q", "feature/bump")
    sb.run(["git", "stash", "pop"], cwd=repo2, code=1, expect=["CONFLICT"], visible="vcs-error",
           note="git stash pop onto a branch that changed the same lines")


@scenario("vcs-error", "git-push-rejected", "git", needs=("git",))
def _(sb: Sandbox):
    sb.git_repo("seed", {"a.txt": "a\n"}, bare_copy="origin.git")
    sb.setup(["git", "clone", "-q", str(sb.p("origin.git")), str(sb.p("one"))])
    sb.setup(["git", "clone", "-q", str(sb.p("origin.git")), str(sb.p("two"))])
    sb.write("one/a.txt", "one\n")
    sb.git("one", "commit", "-q", "-am", "one")
    sb.git("one", "push", "-q", "origin", "main")
    sb.write("two/b.txt", "two\n")
    sb.git("two", "add", "b.txt")
    sb.git("two", "commit", "-q", "-m", "two")
    sb.run(["git", "push", "origin", "main"], cwd=sb.p("two"), code=1, expect=["[rejected]"],
           visible="vcs-error", note="git push rejected: the remote has commits the clone does not")
    sb.run(["git", "push", "origin", "release/9.9"], cwd=sb.p("two"), code=1,
           expect=["src refspec release/9.9 does not match any"], visible="vcs-error",
           note="git push of a branch that does not exist locally")


@scenario("vcs-error", "git-missing-remote", "git", needs=("git",))
def _(sb: Sandbox):
    repo = sb.git_repo("repo", {"a.txt": "a\n"})
    sb.run(["git", "push", "origin", "main"], cwd=repo, code=128,
           expect=["does not appear to be a git repository"], visible="vcs-error",
           note="git push to a remote 'origin' that is not configured")
    sb.git(repo, "remote", "add", "upstream", str(sb.p("gone/upstream.git")))
    sb.run(["git", "fetch", "upstream"], cwd=repo, code=128, expect=["does not appear to be a git repository"],
           visible="vcs-error", note="git fetch from a remote path that no longer exists")
    sb.run(["git", "clone", str(sb.p("mirror/app.git")), sb.p("clone")], code=128,
           expect=["does not exist"], visible="vcs-error", note="git clone of a local path that does not exist")
    sb.write("repo/.gitmodules", f'[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = {sb.p("gone/lib.git")}\n')
    sb.setup(["git", "-C", str(repo), "update-index", "--add", "--cacheinfo",
              f"160000,{'a' * 40},vendor/lib"])
    sb.git(repo, "add", ".gitmodules")
    sb.git(repo, "commit", "-q", "-m", "submodule")
    sb.run(["git", "submodule", "update", "--init"], cwd=repo, code=1,
           expect_re=r"(does not exist|Clone of .* failed|failed)", visible="vcs-error",
           note="git submodule update --init with a submodule url that does not exist")


@scenario("vcs-error", "git-index-lock", "git", needs=("git",))
def _(sb: Sandbox):
    repo = sb.git_repo("repo", {"a.txt": "a\n"})
    sb.write("repo/a.txt", "changed\n")
    sb.write("repo/.git/index.lock", "")
    sb.run(["git", "add", "a.txt"], cwd=repo, code=128, expect=["index.lock': File exists"], visible="vcs-error",
           note="git add with a stale .git/index.lock left by a killed git")
    sb.run(["git", "commit", "-am", "wip"], cwd=repo, code=128, expect=["index.lock': File exists"],
           visible="vcs-error", note="git commit with a stale index.lock")
    sb.run(["git", "stash"], cwd=repo, code=None, expect=["could not write index"],
           visible="vcs-error", note="git stash with a stale index.lock: only 'error: could not write index'")
    os.unlink(sb.p("repo/.git/index.lock"))
    sb.write("repo/.git/refs/heads/main.lock", "")
    sb.git(repo, "add", "a.txt")
    sb.run(["git", "commit", "-m", "update"], cwd=repo, code=128, expect=["main.lock"], visible="vcs-error",
           note="git commit with a stale ref lock (refs/heads/main.lock)")


@scenario("vcs-error", "git-not-a-repo", "git", needs=("git",))
def _(sb: Sandbox):
    (sb.p("build")).mkdir()
    sb.run(["git", "status"], cwd=sb.p("build"), code=128, expect=["not a git repository"],
           visible="vcs-error", note="git status outside any repository")
    sb.run(["git", "rev-parse", "--short", "HEAD"], cwd=sb.p("build"), code=128,
           expect=["not a git repository"], visible="vcs-error",
           note="git rev-parse HEAD in a workspace without .git (e.g. an artifact download)")
    sb.run(sh("VERSION=$(git describe --tags) || exit 1; echo $VERSION"), cwd=sb.p("build"), code=1,
           expect=["not a git repository"], visible="vcs-error", tool="sh",
           note="a script computing its version with git describe outside a repo")


@scenario("vcs-error", "git-pathspec", "git", needs=("git",))
def _(sb: Sandbox):
    repo = sb.git_repo("repo", {"a.txt": "a\n"})
    sb.run(["git", "checkout", "feature/login"], cwd=repo, code=1, expect=["did not match any"],
           visible="vcs-error", note="git checkout of a branch that does not exist")
    sb.run(["git", "add", "docs/CHANGELOG.md"], cwd=repo, code=128, expect=["did not match any files"],
           visible="vcs-error", note="git add of a path that does not exist")
    sb.run(["git", "rev-parse", "--verify", "v2.0.0^{commit}"], cwd=repo, code=128,
           expect_re=r"(Needed a single revision|unknown revision)", visible="vcs-error",
           note="git rev-parse --verify of a tag that does not exist")
    sb.run(["git", "log", "-1", "v2.0.0"], cwd=repo, code=128, expect=["unknown revision"],
           visible="vcs-error", note="git log of an unknown revision")
    sb.run(["git", "describe", "--tags"], cwd=repo, code=128, expect_re=r"No (names|tags) found",
           visible="vcs-error", note="git describe --tags in a clone with no tags (shallow CI clone)")


@scenario("vcs-error", "git-overwrite-local", "git", needs=("git",))
def _(sb: Sandbox):
    repo = _branches(sb)
    sb.write("repo/config.yml", "replicas: 4\nimage: app:1.4.2\n")
    sb.run(["git", "checkout", "feature/bump"], cwd=repo, code=1,
           expect=["would be overwritten by checkout"], visible="vcs-error",
           note="git checkout that would overwrite local changes")
    sb.run(["git", "merge", "feature/bump"], cwd=repo, code=(1, 2), expect=["would be overwritten by merge"],
           visible="vcs-error", note="git merge that would overwrite local changes")
    sb.git(repo, "checkout", "-q", "--", "config.yml")
    sb.write("repo/notes.txt", "local\n")
    sb.git(repo, "checkout", "-q", "feature/bump")
    sb.write("repo/notes.txt", "committed\n")
    sb.git(repo, "add", "notes.txt")
    sb.git(repo, "commit", "-q", "-m", "notes")
    sb.git(repo, "checkout", "-q", "main")
    sb.write("repo/notes.txt", "untracked local\n")
    sb.run(["git", "checkout", "feature/bump"], cwd=repo, code=1,
           expect=["untracked working tree files would be overwritten"], visible="vcs-error",
           note="git checkout that would overwrite an untracked file")


@scenario("vcs-error", "git-operation-in-progress", "git", needs=("git",))
def _(sb: Sandbox):
    repo = _branches(sb)
    sb.git(repo, "rebase", "feature/bump", ok_codes=(1,))
    sb.run(["git", "rebase", "feature/bump"], cwd=repo, code=128, expect=["rebase-merge"],
           visible="vcs-error", note="git rebase while another rebase is in progress")
    sb.run(["git", "checkout", "main"], cwd=repo, code=1, expect_re=r"(resolve your current index first|needs merge)",
           visible="vcs-error", note="git checkout during a conflicted rebase")
    sb.git(repo, "rebase", "--abort")
    sb.git(repo, "merge", "feature/bump", ok_codes=(1,))
    sb.run(["git", "pull", "--no-rebase", ".", "feature/bump"], cwd=repo, code=128,
           expect_re=r"(MERGE_HEAD exists|not concluded your merge|unmerged files)", visible="vcs-error",
           note="git pull while a conflicted merge is not concluded")
    sb.run(["git", "commit", "-m", "merge"], cwd=repo, code=128, expect_re=r"(unmerged files|Committing is not possible)",
           visible="vcs-error", note="git commit with unresolved conflicts")


@scenario("vcs-error", "git-identity", "git", needs=("git",))
def _(sb: Sandbox):
    repo = sb.git_repo("repo", {"a.txt": "a\n"})
    sb.write("repo/a.txt", "b\n")
    env = sb.env({k: None for k in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                                    "GIT_COMMITTER_EMAIL", "EMAIL")})
    env["GIT_CONFIG_GLOBAL"] = "/dev/null"
    sb.run(["git", "-c", "user.useConfigOnly=true", "commit", "-am", "bump"], cwd=repo, env=env, code=128,
           expect=["Please tell me who you are"], visible="vcs-error",
           note="git commit on a CI machine with no user.name/user.email")


@scenario("vcs-error", "wrapped-vcs-error", "make", needs=("git", "make"))
def _(sb: Sandbox):
    repo = _branches(sb)
    sb.write("repo/Makefile", "sync:\n\tgit merge --no-edit feature/bump\n")
    sb.git(repo, "add", "Makefile")
    sb.git(repo, "commit", "-q", "-m", "makefile")
    sb.run(["make", "sync"], cwd=repo, code=2, expect=["CONFLICT (content)", "Error 1"], visible="code-error",
           note="make sync whose recipe is a git merge with a conflict; ends in 'make: *** [Makefile:2: sync] "
                "Error 1'")
    sb.git(repo, "merge", "--abort")
    sb.write("repo/ci/release.sh", """
        #!/bin/sh
        version=$(git describe --tags --exact-match 2>&1) || {
            echo "release: cannot determine the version of this commit" >&2
            echo "$version" | sed 's/^/release:   /' >&2
            exit 1
        }
        echo "releasing $version"
        """.replace("\n        ", "\n").lstrip(), mode=0o755)
    sb.run(["ci/release.sh"], cwd=repo, code=1, expect=["cannot describe"], visible="unknown", tool="sh",
           note="a release script wrapping git describe --exact-match (no tags at all) in its own message")
    sb.write("repo/.git/index.lock", "")
    sb.write("repo/ci/bump.py", """
        import subprocess
        subprocess.run(["git", "commit", "-qam", "bump version"], check=True)
        """)
    sb.write("repo/VERSION", "1.4.3\n")
    sb.run(["python3", "ci/bump.py"], cwd=repo, code=1, expect=["index.lock", "CalledProcessError"],
           visible="code-error", tool="python3",
           note="a python bump script running git commit (check=True) with a stale index.lock: git's "
                "message, then a CalledProcessError traceback")


# --------------------------------------------------------------- code-error

@scenario("code-error", "gcc-compile-error", "gcc", needs=("gcc",))
def _(sb: Sandbox):
    sb.write("src/main.c", '#include <stdio.h>\n\nint main(void)\n{\n    int total = 0\n    printf("%d\\n", total);\n'
             '    return 0;\n}\n')
    sb.run(["gcc", "-Wall", "-c", "src/main.c", "-o", "main.o"], code=1, expect=["error: expected"],
           visible="code-error", note="gcc: a missing semicolon")
    sb.write("src/conf.c", '#include <stdlib.h>\n\nstruct conf { int port; };\n\nint load(void)\n{\n'
             '    struct conf c;\n    c.port = "8080";\n    return c.prot;\n}\n')
    sb.run(["gcc", "-c", "src/conf.c", "-o", "conf.o"], code=1, expect=["error:"], visible="code-error",
           note="gcc: a misspelt struct member")
    sb.write("src/app.c", "int helper(int);\nint main(void) { return helper(2); }\n")
    sb.run(["gcc", "-o", "app", "src/app.c"], code=1, expect=["undefined reference to `helper'"],
           visible="code-error", note="gcc: a function declared but never defined (undefined reference)")
    if have("g++"):
        sb.write("src/queue.cpp", "#include <vector>\n#include <string>\n\nint main() {\n"
                 "    std::vector<int> ids;\n    ids.push_back(std::string(\"17\"));\n    return ids.size();\n}\n")
        sb.run(["g++", "-std=c++17", "-c", "src/queue.cpp", "-o", "queue.o"], code=1, expect=["error:"],
               visible="code-error", tool="g++", note="g++: pushing a string into a vector<int>")
    if have("make"):
        sb.write("Makefile", "CFLAGS = -Wall -Werror\n\nall: main.o\n\nmain.o: src/main.c\n\t$(CC) $(CFLAGS) -c -o $@ $<\n")
        sb.run(["make"], code=2, expect=["Error 1"], visible="code-error", tool="make",
               note="make building a file with a syntax error")
        sb.write("src/warn.c", "int f(int x) { int unused; return x; }\n")
        sb.write("Makefile.w", "CFLAGS = -Wall -Werror\n\nwarn.o: src/warn.c\n\t$(CC) $(CFLAGS) -c -o $@ $<\n")
        sb.run(["make", "-f", "Makefile.w"], code=2, expect=["-Werror"], visible="code-error", tool="make",
               note="make with -Werror and an unused variable")


@scenario("code-error", "rust-compile-error", "cargo", needs=("cargo",))
def _(sb: Sandbox):
    sb.write("app/Cargo.toml", '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n')
    sb.write("app/src/main.rs", 'fn port() -> u16 {\n    "8080"\n}\n\nfn main() {\n    println!("{}", port());\n}\n')
    env = sb.env({"CARGO_TARGET_DIR": str(sb.p("target"))})
    sb.run(["cargo", "build", "--offline"], cwd=sb.p("app"), env=env, code=101, expect=["E0308"],
           visible="code-error", note="cargo build: mismatched types")
    sb.write("app/src/main.rs", 'fn main() {\n    let names = vec![String::from("a")];\n    let moved = names;\n'
             '    println!("{:?} {:?}", names, moved);\n}\n')
    sb.run(["cargo", "build", "--offline"], cwd=sb.p("app"), env=env, code=101, expect=["E0382"],
           visible="code-error", note="cargo build: use of a moved value")
    sb.write("app/src/main.rs", 'fn add(a: i32, b: i32) -> i32 {\n    a - b\n}\n\nfn main() {\n'
             '    println!("{}", add(1, 2));\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n'
             '    fn adds() {\n        assert_eq!(super::add(2, 2), 4);\n    }\n}\n')
    sb.run(["cargo", "test", "--offline"], cwd=sb.p("app"), env=env, code=101, timeout=30,
           expect=["test result: FAILED"], visible="code-error", note="cargo test: a failing assert_eq")
    sb.write("lib.rs", "#![deny(unused_variables)]\npub fn f(x: u32) -> u32 { let y = 2; x }\n")
    sb.run(["rustc", "--crate-type", "lib", "--out-dir", sb.p("out"), "lib.rs"], code=1,
           expect=["unused variable"], visible="code-error", tool="rustc",
           note="rustc with #![deny(unused_variables)]")


@scenario("code-error", "python-errors", "python3")
def _(sb: Sandbox):
    sb.write("app/settings.py", "DEBUG = True\nPORT = 8080\n\ndef load(:\n    return PORT\n")
    sb.run(["python3", "app/settings.py"], code=1, expect=["SyntaxError"], visible="code-error",
           note="python: a SyntaxError")
    sb.write("app/report.py", "def total(rows):\n    return sum(r['amount'] for r in rows)\n\n"
             "print(totl([{'amount': 3}]))\n")
    sb.run(["python3", "app/report.py"], code=1, expect=["NameError"], visible="code-error",
           note="python: a NameError from a typo")
    sb.write("app/sync.py", "def fetch(page, per_page):\n    return list(range(page * per_page))\n\n"
             "items = fetch(2)\nprint(len(items))\n")
    sb.run(["python3", "app/sync.py"], code=1, expect=["TypeError"], visible="code-error",
           note="python: a TypeError (missing argument)")
    sb.write("app/cfg.py", "cfg = {'db': {'host': 'localhost'}}\nprint(cfg['db']['port'])\n")
    sb.run(["python3", "app/cfg.py"], code=1, expect=["KeyError"], visible="code-error",
           note="python: a KeyError")
    sb.write("app/check.py", "version = '1.4.1'\nassert version == '1.4.2', f'version mismatch: {version}'\n")
    sb.run(["python3", "app/check.py"], code=1, expect=["AssertionError"], visible="code-error",
           note="python: a failing assert in a release check")
    sb.write("app/indent.py", "def main():\n    x = 1\n      y = 2\n    return x + y\n")
    sb.run(["python3", "app/indent.py"], code=1, expect=["IndentationError"], visible="code-error",
           note="python: an IndentationError")


@scenario("code-error", "python-unittest-fail", "python3")
def _(sb: Sandbox):
    sb.write("calc.py", "def add(a, b):\n    return a - b\n\ndef div(a, b):\n    return a / b\n")
    sb.write("tests/__init__.py", "")
    sb.write("tests/test_calc.py", """
        import unittest
        import calc


        class CalcTest(unittest.TestCase):
            def test_add(self):
                self.assertEqual(calc.add(2, 2), 4)

            def test_div(self):
                self.assertEqual(calc.div(4, 2), 2)

            def test_div_zero(self):
                self.assertEqual(calc.div(1, 0), 0)
        """)
    sb.run(["python3", "-m", "unittest", "discover", "-s", "tests", "-t", "."], code=1,
           expect=["FAILED (failures=1, errors=1)"], visible="code-error",
           note="unittest with one failure and one error")
    sb.write("tests/test_client.py", """
        import logging
        import unittest

        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        log = logging.getLogger("metrics")


        def parse(line):
            key, _, value = line.partition("=")
            return key.strip(), int(value)


        class ClientTest(unittest.TestCase):
            def setUp(self):
                log.warning("could not push metrics to 127.0.0.1:9091: [Errno 111] Connection refused "
                            "(continuing without metrics)")

            def test_parse(self):
                self.assertEqual(parse("retries = 3"), ("retries", 4))
        """)
    sb.run(["python3", "-m", "unittest", "tests.test_client"], code=1,
           expect=["Connection refused", "AssertionError", "FAILED (failures=1)"], visible="network",
           note="a test whose log shows 'Connection refused' (a metrics push it ignores) while the real "
                "failure is an assertion")


@scenario("code-error", "node-errors", "node", needs=("node",))
def _(sb: Sandbox):
    sb.write("src/user.js", "function name(user) {\n  return user.profile.name.toUpperCase();\n}\n"
             "console.log(name({ id: 1 }));\n")
    sb.run(["node", "src/user.js"], code=1, expect=["TypeError"], visible="code-error",
           note="node: TypeError reading a property of undefined")
    sb.write("src/conf.js", "const port = process.env.PORT || defaultPort;\nconsole.log(port);\n")
    sb.run(["node", "src/conf.js"], code=1, expect=["ReferenceError"], visible="code-error",
           note="node: ReferenceError")
    sb.write("src/syntax.js", "const routes = {\n  '/': home,\n  '/api': api\n\nmodule.exports = routes;\n")
    sb.run(["node", "src/syntax.js"], code=1, expect=["SyntaxError"], visible="code-error",
           note="node: SyntaxError (an unclosed object literal)")
    sb.write("src/async.js", "async function load() {\n  throw new Error('config.version must be a string');\n}\n"
             "load();\n")
    sb.run(["node", "src/async.js"], code=1, expect=["config.version must be a string"], visible="code-error",
           note="node: an unhandled promise rejection from the project's own validation")


@scenario("code-error", "node-test-fail", "node", needs=("node",))
def _(sb: Sandbox):
    sb.write("lib/slug.js", "module.exports = (s) => s.toLowerCase().replace(/ /g, '_');\n")
    sb.write("test/slug.test.js", """
        const test = require('node:test');
        const assert = require('node:assert');
        const slug = require('../lib/slug');

        test('slugifies titles', () => {
          assert.strictEqual(slug('Hello World'), 'hello-world');
        });

        test('keeps digits', () => {
          assert.strictEqual(slug('v2'), 'v2');
        });
        """)
    sb.run(["node", "--test", "test/"], code=1, expect=["not ok"], visible="code-error",
           note="node --test with a failing strictEqual")
    sb.write("package.json", json.dumps({"name": "slug", "version": "1.0.0", "scripts": {"test": "node --test test/"}},
                                        indent=2))
    sb.run(["npm", "test"], code=1, expect=["not ok"], visible="code-error", tool="npm",
           note="npm test running node --test with a failing test")


@scenario("code-error", "shell-script-fail", "bash")
def _(sb: Sandbox):
    sb.write("ci/check-version.sh", """
        #!/bin/bash
        set -euo pipefail
        expected=1.4.2
        actual=$(cat VERSION)
        if [ "$actual" != "$expected" ]; then
            echo "error: VERSION is $actual, expected $expected" >&2
            exit 1
        fi
        """.replace("\n        ", "\n").lstrip(), mode=0o755)
    sb.write("VERSION", "1.4.1\n")
    sb.run(["ci/check-version.sh"], code=1, expect=["expected 1.4.2"], visible="code-error",
           note="a version check script in the repo failing on a wrong VERSION")
    sb.run(bash("set -ex\nmkdir -p dist\necho 'console.log(1)' > dist/app.js\ntest -f dist/app.min.js\n"
                "echo published"), code=1, expect=["+ test -f dist/app.min.js"], visible="unknown",
           note="set -ex: a failing test -f ends the script; the trace shows the command, no error line")
    sb.write("ci/lint.sh", "#!/bin/sh\nif [ $# -gt 0 ]; then\n  echo args\nfi\n  fi\n", mode=0o755)
    sb.run(["ci/lint.sh"], code=2, expect=["Syntax error"], visible="code-error", tool="sh",
           note="a shell script with a syntax error")
    sb.write("ci/bash-syntax.sh", "#!/bin/bash\nfor f in *.txt; do\n  echo \"$f\"\ndone\n}\n", mode=0o755)
    sb.run(["ci/bash-syntax.sh"], code=2, expect=["syntax error"], visible="code-error",
           note="a bash script with a stray closing brace")


@scenario("code-error", "make-recipe-fail", "make", needs=("make",))
def _(sb: Sandbox):
    sb.write("Makefile", "test:\n\t@echo 'running unit tests'\n\t@python3 -c 'import sys; "
             "print(\"3 passed, 1 failed\"); sys.exit(1)'\n\nall: test\n")
    sb.run(["make", "test"], code=2, expect=["Error 1"], visible="code-error",
           note="make test whose recipe (the project's tests) fails")
    sb.write("Makefile.v", "VERSION := $(shell cat VERSION)\n\ncheck:\n"
             "\t@test \"$(VERSION)\" = \"2.0.0\" || (echo \"VERSION is $(VERSION), release needs 2.0.0\"; exit 1)\n")
    sb.write("VERSION", "1.9.9\n")
    sb.run(["make", "-f", "Makefile.v", "check"], code=2, expect=["release needs 2.0.0"], visible="code-error",
           note="make check failing on the project's own version rule")
    sb.write("Makefile.m", "all: app\n\napp: main.o util.o\n\tcc -o $@ $^\n")
    sb.write("main.c", "int main(void) { return 0; }\n")
    sb.run(["make", "-f", "Makefile.m"], code=2, expect=["No rule to make target"], visible="code-error",
           note="make: no rule to make a target the Makefile lists (util.c is missing from the repo)")


@scenario("code-error", "json-parse-error", "python3")
def _(sb: Sandbox):
    sb.write("config/app.json", '{\n  "name": "app",\n  "port": 8080\n  "workers": 4\n}\n')
    sb.run(["python3", "-m", "json.tool", "config/app.json"], code=1, expect=["Expecting ',' delimiter"],
           visible="code-error", note="python -m json.tool on a config with a missing comma")
    sb.run(["node", "-e", "const c = require('./config/app.json'); console.log(c.port)"], code=1,
           expect=["SyntaxError"], visible="code-error", tool="node",
           note="node require of a project JSON with a missing comma")
    sb.write("web/package.json", '{\n  "name": "web",\n  "version": "1.0.0",\n  "scripts": {\n'
             '    "build": "node build.js",\n  }\n}\n')
    sb.run(["npm", "run", "build"], cwd=sb.p("web"), code=1, expect=["EJSONPARSE"], visible="code-error",
           tool="npm", note="npm with a package.json that has a trailing comma")
    sb.write("tsconfig.json", '{\n  "compilerOptions": {\n    "strict": true,\n    "target": "es2020"\n  \n')
    sb.run(["python3", "-c", "import json\nprint(json.load(open('tsconfig.json'))['compilerOptions'])"], code=1,
           expect=["JSONDecodeError"], visible="code-error", note="python loading a truncated tsconfig.json")


@scenario("code-error", "perl-java-errors", "perl", needs=("perl",))
def _(sb: Sandbox):
    sb.write("bin/rotate.pl", "use strict;\nuse warnings;\nmy $keep = 7\nprint \"keeping $keep\\n\";\n")
    sb.run(["perl", "bin/rotate.pl"], code=255, expect=["syntax error"], visible="code-error",
           note="perl: a missing semicolon")
    sb.write("bin/strict.pl", "use strict;\n$count = 3;\nprint $count;\n")
    sb.run(["perl", "bin/strict.pl"], code=255, expect=["Global symbol"], visible="code-error",
           note="perl: an undeclared variable under use strict")
    if have("java"):
        sb.write("Main.java", "public class Main {\n    public static void main(String[] args) {\n"
                 "        int port = \"8080\";\n        System.out.println(port);\n    }\n}\n")
        sb.run(["java", "Main.java"], code=1, timeout=20, expect=["incompatible types"], visible="code-error",
               tool="java", note="java (source launcher): incompatible types")
        sb.write("Npe.java", "public class Npe {\n    static String env(String k) { return null; }\n"
                 "    public static void main(String[] args) {\n        System.out.println(env(\"HOME\").length());\n"
                 "    }\n}\n")
        sb.run(["java", "Npe.java"], code=1, timeout=20, expect=["NullPointerException"], visible="code-error",
               tool="java", note="java: a NullPointerException in the project's code")


@scenario("code-error", "runaway-code", "python3")
def _(sb: Sandbox):
    sb.write("app/tree.py", """
        def depth(node):
            return 1 + max((depth(c) for c in node["children"]), default=0)

        tree = {"children": []}
        tree["children"].append(tree)  # a cycle the code does not expect
        print(depth(tree))
        """)
    sb.run(["python3", "app/tree.py"], code=1, expect=["RecursionError"], visible="resource-limit",
           note="python: unbounded recursion on a cyclic structure, 'RecursionError: maximum recursion depth "
                "exceeded' (a bug, not a limit to raise)")
    if have("node"):
        sb.write("src/walk.js", "function walk(n) { return walk(n + 1) + 1; }\nconsole.log(walk(0));\n")
        sb.run(["node", "src/walk.js"], code=1, expect=["Maximum call stack size exceeded"], visible="resource-limit",
               tool="node", note="node: unbounded recursion, 'RangeError: Maximum call stack size exceeded'")
    sb.write("app/client.py", """
        import socket

        def connect(host, port, timeout_ms):
            s = socket.socket()
            s.settimeout(timeout_ms / 1000 - 5)  # wrong unit conversion
            s.connect((host, port))

        connect("127.0.0.1", 9, 2000)
        """)
    sb.run(["python3", "app/client.py"], code=1, expect=["Timeout value out of range"], visible="timeout",
           note="python: a negative socket timeout from a unit bug, 'ValueError: Timeout value out of range'")


# ------------------------------------------------------------------ unknown

@scenario("unknown", "silent-failure", "sh")
def _(sb: Sandbox):
    sb.run(["false"], code=1, visible="unknown", tool="false", note="false: exit 1, nothing printed")
    sb.run(sh("echo 'Step 3/5: post-processing'; exit 42"), code=42, expect=["Step 3/5"], visible="unknown",
           note="a script exiting 42 after an ordinary progress line")
    sb.run(["python3", "-c", "import sys\nprint('Processed 120 records.')\nsys.exit(3)"], code=3,
           expect=["Processed 120 records"], visible="unknown", tool="python3",
           note="a python step exiting 3 after an unrelated message")
    sb.run(["node", "-e", "console.log('done'); process.exitCode = 1"], code=1, expect=["done"],
           visible="unknown", tool="node", note="node exiting 1 after printing 'done'")


@scenario("unknown", "vague-message", "sh")
def _(sb: Sandbox):
    sb.write("ci/publish.sh", "#!/bin/sh\necho 'publishing'\necho 'something went wrong' >&2\nexit 1\n",
             mode=0o755)
    sb.run(["ci/publish.sh"], code=1, expect=["something went wrong"], visible="unknown",
           note="a script printing 'something went wrong'")
    sb.run(["python3", "-c", "import sys\nprint('ERROR: step failed', file=sys.stderr)\nsys.exit(1)"], code=1,
           expect=["ERROR: step failed"], visible="unknown", tool="python3",
           note="a python step printing only 'ERROR: step failed'")
    sb.run(["perl", "-e", "die \"Failed.\\n\""], code=255, expect=["Failed."], visible="unknown", tool="perl",
           note="perl die 'Failed.'")


@scenario("unknown", "usage-error", "grep")
def _(sb: Sandbox):
    sb.run(["grep"], code=2, expect=["Usage: grep"], visible="unknown", note="grep with no arguments: usage, exit 2")
    sb.run(["tar", "--frobnicate", "-xf", "x.tar"], code=(2, 64), expect=["unrecognized option"], visible="unknown",
           tool="tar", note="tar with an unknown option: usage hint")
    sb.write("x.txt", "build ok\n")
    sb.run(["grep", "-q", "RELEASE_READY", "x.txt"], code=1, visible="unknown",
           note="grep -q finding nothing: exit 1, nothing printed")


@scenario("unknown", "make-silent-exit", "make", needs=("make",))
def _(sb: Sandbox):
    sb.write("Makefile", "deploy:\n\t@./scripts/deploy\n")
    sb.write("scripts/deploy", "#!/bin/sh\nexit 3\n", mode=0o755)
    sb.run(["make", "deploy"], code=2, expect=["Error 3"], visible="code-error",
           note="make whose recipe exits 3 without a word: only make's 'Error 3' line")


# ------------------------------------------------- GitHub runner (doubles)
# A real Runner.Listener cannot run here (no GitHub, no registration).  These
# cases are the one allowed double: a script prints the listener's documented
# lines (from /work/shared/facts/runners.md, actions/runner 2.336.0) and exits
# with the documented code.  Timestamps ({UTC} = DateTime.UtcNow:u) are fixed.

RUNNER_VERSION = "2.336.0"
REG_DELETED_SESSION = ("Failed to create a session. The runner registration has been deleted from the server, "
                       "please re-configure. Runner registrations are automatically deleted for runners that "
                       "have not connected to the service recently.")
REG_DELETED_LISTENING = "The runner no longer exists on the server. Cleaning up local configuration."
NOT_CONFIGURED = "Runner is not configured."
HELPER_LINES = {
    0: "Runner listener exit with 0 return code, stop the service, no retry needed.",
    1: "Runner listener exit with terminated error, stop the service, no retry needed.",
    2: "Runner listener exit with retryable error, re-launch runner in 5 seconds.",
}


def connected_lines(t="2026-01-05 10:00:02Z"):
    return ["", "\u221a Connected to GitHub", "", f"Current runner version: '{RUNNER_VERSION}'",
            f"{t}: Listening for Jobs"]


def job_lines(name="build (ubuntu, 20)", t1="2026-01-05 10:12:40Z", t2="2026-01-05 10:16:03Z",
              result="Succeeded"):
    return [f"{t1}: Running job: {name}", f"{t2}: Job {name} completed with result: {result}"]


def runner_double(sb: Sandbox, lines: list[str], exit_code: int | None, via_run_sh: bool = False) -> list[str]:
    """Write actions-runner/bin/Runner.Listener (and run.sh) that print `lines`
    and exit with `exit_code`, or keep running (None) like a listener that is
    retrying its connection."""
    root = sb.p("actions-runner")
    (root / "bin").mkdir(parents=True, exist_ok=True)

    def q(s):
        return "'" + s.replace("'", "'\\''") + "'"
    body = "#!/bin/sh\n# runner double: prints the listener's documented lines\n"
    body += "".join(f"printf '%s\\n' {q(l)}\n" for l in lines)
    body += "exec sleep 60\n" if exit_code is None else f"exit {exit_code}\n"
    sb.write("actions-runner/bin/Runner.Listener", body, mode=0o755)
    if not via_run_sh:
        return [str(root / "bin" / "Runner.Listener"), "run"]
    # run.sh -> run-helper.sh, as documented: the helper prints its line for the
    # listener's code; run.sh prints "Exiting runner..." and exits 0.
    helper = "#!/bin/sh\n\"$(dirname \"$0\")/bin/Runner.Listener\" run \"$@\"\nreturncode=$?\n"
    for c, msg in HELPER_LINES.items():
        helper += f"if [ $returncode -eq {c} ]; then echo {q(msg)}; exit {0 if c != 2 else 2}; fi\n"
    helper += "echo \"Exiting with unknown error code: ${returncode}\"\nexit 0\n"
    sb.write("actions-runner/run-helper.sh", helper, mode=0o755)
    sb.write("actions-runner/run.sh", "#!/bin/sh\n\"$(dirname \"$0\")/run-helper.sh\" \"$@\"\n"
             "returnCode=$?\nif [ $returnCode -eq 2 ]; then echo \"Restarting runner...\"; fi\n"
             "echo \"Exiting runner...\"\nexit 0\n", mode=0o755)
    return [str(root / "run.sh")]


@scenario("registration-removed", "listener-registration-deleted", "runner-double", runner_kind="github")
def _(sb: Sandbox):
    sb.run(runner_double(sb, ["", REG_DELETED_SESSION], 1), code=1, expect=["registration has been deleted"],
           visible="registration-removed",
           note="double: the listener at session creation after its registration was deleted; exits 1")
    sb.run(runner_double(sb, connected_lines() + job_lines() + [REG_DELETED_LISTENING], 0), code=0,
           expect=["no longer exists"], visible="registration-removed",
           note="double: the listener while listening, told the runner no longer exists; it deletes "
                "its local config and exits 0")
    sb.run(runner_double(sb, [NOT_CONFIGURED], 1), code=1, expect=[NOT_CONFIGURED], visible="registration-removed",
           note="double: the next start after the local config was cleaned up: 'Runner is not configured.', "
                "exit 1 (the usage text that follows in the real runner is left out)")


@scenario("registration-removed", "run-sh-registration-deleted", "runner-double", runner_kind="github")
def _(sb: Sandbox):
    sb.run(runner_double(sb, ["", REG_DELETED_SESSION], 1, via_run_sh=True), code=0,
           expect=["registration has been deleted", "Exiting runner..."], visible="registration-removed",
           note="double through run.sh: the listener's line, the helper's 'terminated error' line, "
                "run.sh exits 0 (the listener's code is lost)")
    sb.run(runner_double(sb, connected_lines() + [REG_DELETED_LISTENING], 0, via_run_sh=True), code=0,
           expect=["no longer exists", "Exiting runner..."], visible="registration-removed",
           note="double through run.sh: deleted while listening, listener exit 0, run.sh exit 0")
    sb.run(runner_double(sb, [NOT_CONFIGURED], 1, via_run_sh=True), code=0,
           expect=[NOT_CONFIGURED, "Exiting runner..."], visible="registration-removed",
           note="double through run.sh: 'Runner is not configured.' after the cleanup, run.sh exit 0")


@scenario("runner-offline", "listener-connect-error", "runner-double", runner_kind="github")
def _(sb: Sandbox):
    errs = [
        ("2026-01-05 11:03:17Z", "Connection refused (broker.actions.githubusercontent.com:443)", False),
        ("2026-01-05 11:03:17Z", "Response status code does not indicate success: 503 (Service Unavailable)", True),
        ("2026-01-05 11:03:17Z", "The request was canceled due to the configured HttpClient.Timeout of 100 "
                                 "seconds elapsing", False),
        ("2026-01-05 11:03:17Z", "Name or service not known (broker.actions.githubusercontent.com:443)", True),
    ]
    for t, msg, after_job in errs:
        lines = connected_lines() + (job_lines() if after_job else []) + \
            [f"{t}: Runner connect error: {msg}. Retrying until reconnected."]
        sb.run(runner_double(sb, lines, None), kill_after=1.0, sig=15, expect=["Runner connect error"],
               visible="runner-offline",
               note=f"double: the listening runner lost GitHub ({msg.split(' (')[0]}); it keeps retrying and "
                    "was stopped by its supervisor (SIGTERM)")


@scenario("runner-offline", "session-connect-error", "runner-double", runner_kind="github")
def _(sb: Sandbox):
    for msg in ("Name or service not known (pipelines.actions.githubusercontent.com:443)",
                "Connection timed out (api.github.com:443)"):
        lines = ["", f"2026-01-05 09:58:41Z: Runner connect error: {msg}. Retrying until reconnected."]
        sb.run(runner_double(sb, lines, None), kill_after=1.0, sig=15, expect=["Runner connect error"],
               visible="runner-offline",
               note="double: the listener cannot create its session (GitHub unreachable at start); it retries "
                    "every 30 s and was stopped by its supervisor (SIGTERM)")
    lines = ["", "2026-01-05 09:58:41Z: Runner connect error: Connection refused "
                 "(pipelines.actions.githubusercontent.com:443). Retrying until reconnected."]
    sb.run(runner_double(sb, lines, None, via_run_sh=True), kill_after=1.0, sig=15,
           expect=["Runner connect error"], visible="runner-offline",
           note="double through run.sh: GitHub unreachable at start, stopped by the supervisor (SIGTERM)")


# ==========================================================================
# FRESH BLIND SET
# ==========================================================================
# Scenarios added after the classifier was built, blind to it (their author
# did not read the classifier, its rules or its weights).  Every case of these
# gets split "fresh": never used to fit or tune anything, only to measure.
# They run after all the scenarios above, so the ports and files of those do
# not change, and the held-out rule above does not see them.  Tools, messages
# and causes are ones the scenarios above do not stage.

# ---------------------------------------------------------- fresh: disk-full

def _clear(m: Path):
    for f in m.iterdir():
        if f.is_dir() and not f.is_symlink():
            shutil.rmtree(f, ignore_errors=True)
        else:
            f.unlink(missing_ok=True)


@fresh_scenario("disk-full", "split-sort-lz4-tmpfs", "split")
def _(sb: Sandbox):
    sb.randfile("dump/db.sql", 3 << 20, seed=61)
    m = sb.tmpfs("parts")
    sb.run(["split", "-b", "512K", "-d", sb.p("dump/db.sql"), f"{m}/db.sql.part-"], code=1,
           expect=["No space left on device"], visible="disk-full",
           note="split -b 512K of a 3 MiB dump into a 2 MiB tmpfs")
    _clear(m)
    words = sb.randtext("words.txt", 3 << 20, seed=62)
    sb.run(["sort", "-o", f"{m}/sorted.txt", words], code=2, expect=["No space left on device"],
           visible="disk-full", tool="sort", note="sort -o writing 3 MiB of sorted lines into a 2 MiB tmpfs")
    _clear(m)
    if have("lz4"):
        sb.run(["lz4", "-q", "-f", sb.p("dump/db.sql"), f"{m}/db.sql.lz4"], code=None,
               expect_re=r"(No space left|[Ww]rite error|cannot write)", visible="disk-full", tool="lz4",
               note="lz4 compressing 3 MiB of random data into a 2 MiB tmpfs: 'Error 42 : Write error', no "
                    "ENOSPC text")
        _clear(m)
    sb.run(bash(f"set -o pipefail\ntail -c 3M {sb.p('dump/db.sql')} | tee {m}/tail.bin | sha256sum"), code=1,
           expect=["No space left on device"], visible="disk-full", tool="tee",
           note="tee inside a bash pipeline (pipefail) writing into a 2 MiB tmpfs; sha256sum still prints "
                "its sum last")


@fresh_scenario("disk-full", "git-objects-tmpfs", "git", needs=("git",))
def _(sb: Sandbox):
    m = sb.tmpfs("ws", size="3m")
    repo = m / "app"
    repo.mkdir()
    sb.git(repo, "init", "-q", "-b", "main")
    sb.write("ws/app/README.md", "# app\n")
    sb.git(repo, "add", "README.md")
    sb.git(repo, "commit", "-q", "-m", "readme")
    sb.randfile("ws/app/assets/firmware.bin", 2 << 20, seed=63)
    sb.run(["git", "add", "assets/firmware.bin"], cwd=repo, code=128, expect=["No space left on device"],
           visible="disk-full",
           note="git add of a 2 MiB blob in a repo on a 3 MiB tmpfs (the file itself fits, its loose object "
                "does not)")
    g = sb.tmpfs("ws2", size="4m")
    repo2 = g / "svc"
    repo2.mkdir()
    sb.git(repo2, "init", "-q", "-b", "main")
    for i in range(24):
        sb.randfile(f"ws2/svc/src/gen_{i:02d}.bin", 40 << 10, seed=700 + i)
    sb.git(repo2, "add", "-A")
    sb.git(repo2, "commit", "-q", "-m", "generated")
    sb.fill(g)
    sb.run(["git", "gc", "--quiet"], cwd=repo2, code=128, expect=["No space left on device", "failed to run"],
           visible="vcs-error",
           note="git gc in a repo on a full tmpfs: ENOSPC writing packed-refs, then 'fatal: failed to run "
                "pack-refs'")


@fresh_scenario("disk-full", "sqlite-vacuum-tmpfs", "sqlite3", needs=("sqlite3",))
def _(sb: Sandbox):
    db = sqlite3.connect(sb.p("app.db"))
    db.execute("create table artifacts(id integer primary key, name text, body blob)")
    rnd = random.Random(64)
    for i in range(48):
        db.execute("insert into artifacts(name, body) values (?, ?)", (f"a{i}", rnd.randbytes(64 << 10)))
    db.commit()
    db.close()
    m = sb.tmpfs("backup")
    sb.run(["sqlite3", "app.db", f"VACUUM INTO '{m}/app-backup.db';"], code=None,
           expect=["database or disk is full"], visible="disk-full",
           note="sqlite3 VACUUM INTO a backup file on a 2 MiB tmpfs (the database is 3 MiB)")
    _clear(m)
    t = sb.tmpfs("sqltmp", size="1m")
    sb.run(["sqlite3", "app.db", "PRAGMA temp_store=FILE; VACUUM;"], env=sb.env({"SQLITE_TMPDIR": str(t)}),
           code=None, expect_re=r"(database or disk is full|disk I/O error)", visible="disk-full",
           note="sqlite3 VACUUM with SQLITE_TMPDIR on a 1 MiB tmpfs (its temporary copy does not fit)")


@fresh_scenario("disk-full", "node-python-archive-tmpfs", "node", needs=("node",))
def _(sb: Sandbox):
    m = sb.tmpfs("out")
    sb.write("bundle.js", f"""
        const fs = require('fs');
        const crypto = require('crypto');
        console.log('writing bundle');
        fs.writeFileSync('{m}/bundle.js.map', crypto.randomBytes(3 << 20));
        console.log('done');
        """)
    sb.run(["node", "bundle.js"], code=1, expect=["ENOSPC"], visible="disk-full",
           note="node fs.writeFileSync of a 3 MiB source map into a 2 MiB tmpfs")
    _clear(m)
    sb.write("stream.js", f"""
        const fs = require('fs');
        const {{ pipeline }} = require('stream/promises');
        const zlib = require('zlib');
        async function main() {{
          await pipeline(fs.createReadStream('src.bin'), zlib.createGzip({{ level: 0 }}),
                         fs.createWriteStream('{m}/src.bin.gz'));
          console.log('compressed');
        }}
        main();
        """)
    sb.randfile("src.bin", 3 << 20, seed=65)
    sb.run(["node", "stream.js"], code=1, expect=["ENOSPC"], visible="disk-full",
           note="node stream pipeline (gzip level 0) of 3 MiB into a 2 MiB tmpfs: an unhandled rejection")
    _clear(m)
    sb.write("archive.py", f"""
        import zipfile
        print("archiving build output")
        with zipfile.ZipFile("{m}/build.zip", "w", zipfile.ZIP_STORED) as z:
            z.write("src.bin", "payload/src.bin")
        """)
    sb.run(["python3", "archive.py"], code=1, expect=["No space left on device"], visible="disk-full",
           tool="python3", note="python zipfile writing a 3 MiB archive into a 2 MiB tmpfs")


@fresh_scenario("disk-full", "make-static-lib-tmpfs", "make", needs=("make", "gcc", "ar"))
def _(sb: Sandbox):
    for i in range(3):
        sb.write(f"src/table{i}.c", f"const unsigned char table{i}[1 << 20] = {{{i + 1}}};\n")
    sb.setup(["sh", "-c", "for i in 0 1 2; do gcc -c -o src/table$i.o src/table$i.c; done"])
    m = sb.tmpfs("lib")
    sb.write("Makefile", f"OUT := {m}\n\n$(OUT)/libtables.a: src/table0.o src/table1.o src/table2.o\n"
             "\tar rcs $@ $^\n")
    sb.run(["make"], code=2, expect=["No space left on device", "Error 1"], visible="code-error",
           note="make running ar to write a 3 MiB static library into a 2 MiB tmpfs; ends in "
                "'make: *** [Makefile:4: ...libtables.a] Error 1'")
    _clear(m)
    if have("jar") and have("java"):
        sb.randfile("classes/assets/blob.bin", 3 << 20, seed=66)
        sb.run(["jar", f"-J-Djava.io.tmpdir={m}", "cf0", f"{m}/app.jar", "-C", "classes", "."], code=1,
               timeout=20,
               expect=["No space left on device", "Suppressed: java.util.zip.ZipException"],
               visible="corrupt-cache", tool="jar",
               note="jar cf0 writing a 3 MiB jar into a 2 MiB tmpfs: 'java.io.IOException: No space left on "
                    "device', then a suppressed 'ZipException: invalid entry size' comes last")


# ---------------------------------------------------- fresh: missing-command

GO_TOOLS = ["golangci-lint", "gofmt", "staticcheck", "buildifier", "goreleaser"]
K8S_TOOLS = ["kubectl", "kustomize", "skaffold", "tilt", "kubeconform"]


@fresh_scenario("missing-command", "exec-wrapper-missing", "nice")
def _(sb: Sandbox):
    g = first_missing(GO_TOOLS)
    sb.run(["nice", "-n", "10", g, "run", "./..."], code=127, expect=["No such file or directory"],
           visible="missing-command", note=f"nice -n 10 running {g}, which is not installed")
    sb.run(["nohup", g, "run", "./..."], code=127, expect=["failed to run command"], visible="missing-command",
           tool="nohup", note=f"nohup running {g}, not installed")
    sb.run(["timeout", "300", g, "run", "./..."], code=127, expect=["failed to run command"],
           visible="missing-command", tool="timeout",
           note=f"timeout 300 around {g}, not installed (127, not a timeout)")
    sb.run(["stdbuf", "-oL", g, "run"], code=127, expect=["failed to run command"], visible="missing-command",
           tool="stdbuf", note=f"stdbuf -oL running {g}, not installed")
    if have("flock"):
        sb.run(["flock", sb.p("build.lock"), g, "run"], code=None, expect=["No such file or directory"],
               visible="missing-command", tool="flock", note=f"flock running {g} under a lock, not installed")


@fresh_scenario("missing-command", "find-exec-missing", "find")
def _(sb: Sandbox):
    g = first_missing(GO_TOOLS)
    sb.write("cmd/api/main.go", "package main\n\nfunc main() {}\n")
    sb.write("internal/db/db.go", "package db\n")
    sb.run(["find", ".", "-name", "*.go", "-exec", g, "-l", "{}", "+"], code=1,
           expect=["No such file or directory"], visible="missing-command",
           note=f"find -exec {g} {{}} + with {g} not installed")
    sb.run(sh(f"find . -name '*.go' -execdir {g} -w {{}} + && echo formatted"), code=1,
           expect=["No such file or directory"], visible="missing-command",
           note=f"find -execdir {g} {{}} + in a script with {g} not installed")


@fresh_scenario("missing-command", "git-helper-missing", "git", needs=("git",))
def _(sb: Sandbox):
    repo = sb.git_repo("repo", {"README.md": "# app\n"})
    ed = first_missing(["nano", "vim", "vi", "emacs", "code"])
    sb.write("repo/CHANGELOG.md", "1.4.2\n")
    sb.git(repo, "add", "CHANGELOG.md")
    sb.run(["git", "commit"], cwd=repo, env=sb.env({"GIT_EDITOR": ed}), code=1,
           expect=["unable to start editor"], visible="missing-command",
           note=f"git commit without -m where the editor ({ed}) is not installed")
    lint = first_missing(["lint-staged", "pre-commit", "husky", "commitlint"])
    sb.write("repo/.githooks/pre-commit", f"#!/bin/sh\n{lint}\n", mode=0o755)
    sb.git(repo, "config", "core.hooksPath", ".githooks")
    sb.run(["git", "commit", "-m", "changelog"], cwd=repo, code=1, expect=["not found"],
           visible="missing-command", note=f"a pre-commit hook calling {lint}, which is not installed")
    sshc = first_missing(["ssh-agent-proxy", "teleport-ssh", "tsh", "gcloud-ssh"])
    sb.run(["git", "clone", "git@127.0.0.1:acme/app.git"], cwd=sb.dir,
           env=sb.env({"GIT_SSH_COMMAND": f"{sshc} -q"}), code=128,
           expect=["not found", "Could not read from remote repository"], visible="vcs-error",
           note=f"git clone over ssh with GIT_SSH_COMMAND naming {sshc}, not installed; ends with git's "
                "'Could not read from remote repository ... correct access rights'")


@fresh_scenario("missing-command", "script-runtime-missing", "perl", needs=("perl",))
def _(sb: Sandbox):
    k = first_missing(K8S_TOOLS)
    sb.write("bin/deploy.pl", f"""
        use strict;
        use warnings;
        print "rendering manifests\\n";
        system("{k}", "apply", "-f", "deploy/") == 0
            or die "deploy: {k} apply failed: $?\\n";
        """)
    sb.run(["perl", "bin/deploy.pl"], code=2, expect=["Can't exec"], visible="unknown",
           note=f"perl system() of {k}, not installed: perl's 'Can't exec ...: No such file or directory' "
                "warning, then the script's own 'apply failed: -1'")
    sb.write("ci/lint.py", f"""
        import subprocess
        print("linting manifests")
        subprocess.check_call("{k} --version && {k} lint deploy/", shell=True)
        """)
    sb.run(["python3", "ci/lint.py"], code=1, expect=["not found", "CalledProcessError"], visible="code-error",
           tool="python3",
           note=f"python check_call through the shell of {k}, not installed: '/bin/sh: 1: {k}: not found', "
                "then a CalledProcessError traceback (exit status 127)")
    sb.write("ci/preflight.py", f"""
        import shutil, sys
        for tool in ("git", "{k}"):
            if shutil.which(tool) is None:
                sys.exit(f"preflight: required tool '{{tool}}' was not found on PATH")
        """)
    sb.run(["python3", "ci/preflight.py"], code=1, expect=["was not found on PATH"], visible="missing-command",
           tool="python3", note=f"a python preflight check (shutil.which) that does not find {k}")
    sb.write("scripts/render.js", f"""
        const {{ execSync }} = require('child_process');
        console.log('rendering chart');
        execSync('{k} build overlays/prod > out.yaml');
        """)
    if have("node"):
        sb.run(["node", "scripts/render.js"], code=1, expect=["not found", "Command failed"],
               visible="missing-command", tool="node",
               note=f"node execSync of {k} through the shell: node's 'Error: Command failed' quoting "
                    f"'/bin/sh: 1: {k}: not found', then the error's fields (status 127, stderr as bytes)")


# ----------------------------------------------------- fresh: missing-module

@fresh_scenario("missing-module", "python-package-layout", "python3")
def _(sb: Sandbox):
    sb.write("pkg/__init__.py", "")
    sb.write("pkg/cli.py", "from . import helpers\n\n\ndef main():\n    helpers.run()\n\n\nmain()\n")
    sb.run(["python3", "-m", "pkg.cli"], code=1, expect=["cannot import name 'helpers'"],
           visible="missing-module",
           note="python -m pkg.cli whose relative import names a module missing from the package "
                "(helpers.py not committed)")
    sb.run(["python3", "-m", "tools.codegen", "--check"], code=1, expect=["Error while finding module specification"],
           visible="missing-module", note="python -m of a package that is not there (tools/ missing)")
    sb.write("app/plugins/__init__.py", "")
    sb.write("app/load.py", """
        import importlib
        for name in ("local", "s3"):
            print(f"loading storage plugin {name}")
            importlib.import_module(f"plugins.{name}")
        """)
    sb.write("app/plugins/local.py", "")
    sb.run(["python3", "app/load.py"], code=1, expect=["No module named 'plugins.s3'"], visible="missing-module",
           note="python importlib.import_module of a plugin module that is not installed")
    dist = missing_py_module("requests", "httpx", "urllib3", "pydantic", "attrs")
    sb.run(["python3", "-c", f"from importlib.metadata import version\nprint(version('{dist}'))"], code=1,
           expect=["PackageNotFoundError"], visible="missing-module",
           note=f"python importlib.metadata.version('{dist}') with {dist} not installed")


@fresh_scenario("missing-module", "node-resolution-missing", "node", needs=("node",))
def _(sb: Sandbox):
    sb.write("web/package.json", json.dumps({"name": "web", "version": "1.0.0", "type": "module"}))
    sb.write("web/src/main.js", "import { formatDate } from './lib/format.js';\nconsole.log(formatDate(new Date()));\n")
    sb.run(["node", "src/main.js"], cwd=sb.p("web"), code=1, expect=["ERR_MODULE_NOT_FOUND"],
           visible="missing-module",
           note="node ESM import of a relative module file that is not in the checkout")
    sb.write("svc/node_modules/@acme/utils/package.json",
             json.dumps({"name": "@acme/utils", "version": "0.3.0", "main": "dist/index.js"}))
    sb.write("svc/index.js", "const utils = require('@acme/utils');\nconsole.log(utils);\n")
    sb.run(["node", "index.js"], cwd=sb.p("svc"), code=1, expect=["Cannot find module"],
           visible="missing-module",
           note="node require of a workspace package whose build output (main: dist/index.js) does not exist")
    loader = first_missing(["tsx", "ts-node", "esbuild-register"])
    sb.run(["node", "--import", loader, "src/main.js"], cwd=sb.p("web"), code=1,
           expect=["ERR_MODULE_NOT_FOUND"], visible="missing-module",
           note=f"node --import {loader} with the loader package not installed")


@fresh_scenario("missing-module", "pkg-config-missing", "pkg-config", needs=("pkg-config",))
def _(sb: Sandbox):
    pcs = ["libcurl", "yaml-0.1", "libsodium", "libpq", "libuv", "libxml-2.0", "libarchive", "libzstd-dev-x"]
    missing = [p for p in pcs if subprocess.run(["pkg-config", "--exists", p]).returncode != 0]
    if len(missing) < 2:
        raise Skip("candidate .pc files are installed")
    sb.run(["pkg-config", "--cflags", "--libs", missing[0]], code=1, expect=["was not found in the pkg-config"],
           visible="missing-module", note=f"pkg-config --cflags --libs {missing[0]} with no {missing[0]}.pc")
    have_pc = subprocess.run(["pkg-config", "--list-all"], stdout=subprocess.PIPE, text=True).stdout.split()
    if "zlib" in have_pc:
        sb.run(["pkg-config", "--exists", "--print-errors", "zlib >= 9.0"], code=1, expect=["'zlib >= 9.0' could not be satisfied"],
               visible="missing-module", note="pkg-config asking for zlib >= 9.0 when an older zlib is installed")
    hdr = {"libcurl": "curl/curl.h", "yaml-0.1": "yaml.h", "libsodium": "sodium.h", "libpq": "libpq-fe.h",
           "libuv": "uv.h", "libxml-2.0": "libxml/parser.h", "libarchive": "archive.h"}.get(missing[1], "foo.h")
    sb.write("src/fetch.c", f"#include <{hdr}>\nint main(void) {{ return 0; }}\n")
    sb.write("Makefile", f"CFLAGS += $(shell pkg-config --cflags {missing[1]})\nLDLIBS += $(shell pkg-config --libs "
             f"{missing[1]})\n\nfetch: src/fetch.c\n\t$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)\n")
    sb.run(["make"], code=2, expect=["was not found in the pkg-config", "Error 1"], visible="code-error", tool="make",
           note=f"make whose flags come from pkg-config {missing[1]} (not installed): pkg-config's message, gcc's "
                "missing header, then 'make: *** ... Error 1'")


@fresh_scenario("missing-module", "native-deps-missing", "gcc", needs=("gcc",))
def _(sb: Sandbox):
    sb.write("b.c", "int b_value(void) { return 41; }\n")
    sb.write("a.c", "int b_value(void);\nint a_value(void) { return b_value() + 1; }\n")
    sb.setup(["gcc", "-shared", "-fPIC", "-o", "libb.so", "b.c"])
    sb.setup(["gcc", "-shared", "-fPIC", "-o", "liba.so", "a.c", "-L.", "-lb"])
    os.unlink(sb.p("libb.so"))
    sb.write("main.c", "#include <stdio.h>\nint a_value(void);\nint b_value(void);\n"
             "int main(void) { printf(\"%d %d\\n\", a_value(), b_value()); return 0; }\n")
    sb.run(["gcc", "-o", "app", "main.c", "-L.", "-la", "-Wl,-rpath,."], code=1,
           expect=["needed by ./liba.so, not found"], visible="code-error",
           note="gcc linking against liba.so whose dependency libb.so is missing: ld's 'libb.so, needed by "
                "./liba.so, not found' warning, undefined references, 'collect2: error: ld returned 1'")
    sb.cc("host.c", '#include <stdio.h>\n#include <dlfcn.h>\nint main(void) {\n'
          '  puts("loading storage backend s3");\n'
          '  void *h = dlopen("libbackend-s3.so", RTLD_NOW);\n'
          '  if (!h) { fprintf(stderr, "host: cannot load backend: %s\\n", dlerror()); return 2; }\n'
          '  return 0;\n}\n', "host", flags=("-ldl",))
    sb.run(["./host"], code=2, expect=["cannot open shared object file"], visible="missing-module",
           tool="c-program", note="a C host whose dlopen of a plugin library fails (not installed)")


@fresh_scenario("missing-module", "java-classpath-missing", "java", needs=("java", "javac"))
def _(sb: Sandbox):
    sb.write("lib/com/acme/util/Strings.java", "package com.acme.util;\n\npublic class Strings {\n"
             "    public static String slug(String s) { return s.toLowerCase().replace(' ', '-'); }\n}\n")
    sb.write("src/com/acme/app/Main.java", "package com.acme.app;\n\nimport com.acme.util.Strings;\n\n"
             "public class Main {\n    public static void main(String[] args) {\n"
             "        System.out.println(\"release: \" + Strings.slug(\"Spring Release\"));\n    }\n}\n")
    sb.setup(["javac", "-d", "build/lib", "lib/com/acme/util/Strings.java"])
    sb.setup(["javac", "-cp", "build/lib", "-d", "build/app", "src/com/acme/app/Main.java"])
    sb.run(["java", "-cp", "build/app", "com.acme.app.Main"], code=1, timeout=20,
           expect=["NoClassDefFoundError"], visible="missing-module",
           note="java run without the dependency on the classpath: NoClassDefFoundError / ClassNotFoundException")
    sb.run(["javac", "-d", "build/app2", "src/com/acme/app/Main.java"], code=1, timeout=20, tool="javac",
           expect=["package com.acme.util does not exist"], visible="missing-module",
           note="javac without the dependency on the classpath: 'package com.acme.util does not exist'")


# ------------------------------------------------------------ fresh: network

@fresh_scenario("network", "node-client-refused", "node", needs=("node",))
def _(sb: Sandbox):
    p = sb.closed_port()
    sb.write("check.mjs", f"""
        const res = await fetch('http://127.0.0.1:{p}/api/v1/queue');
        console.log(res.status);
        """)
    sb.run(["node", "check.mjs"], code=1, expect=["fetch failed", "ECONNREFUSED"], visible="network",
           note="node fetch() to a closed port: 'TypeError: fetch failed' with an ECONNREFUSED cause")
    sb.write("poll.js", f"""
        const http = require('http');
        console.log('polling build status');
        http.get('http://127.0.0.1:{p}/status', (res) => res.resume());
        """)
    sb.run(["node", "poll.js"], code=1, expect=["ECONNREFUSED"], visible="network",
           note="node http.get to a closed port with no 'error' handler")
    if dns_fails_fast():
        sb.write("resolve.js", """
            const dns = require('dns').promises;
            dns.lookup('cache.ci.invalid').then((a) => console.log(a.address));
            """)
        sb.run(["node", "resolve.js"], code=1, expect=["ENOTFOUND"], visible="network",
               note="node dns.lookup of a name under .invalid: getaddrinfo ENOTFOUND")


@fresh_scenario("network", "proxy-refused", "pip")
def _(sb: Sandbox):
    p = sb.closed_port()
    sb.run(["python3", "-m", "pip", "install", "--proxy", f"http://127.0.0.1:{p}", "--index-url",
            "http://pypi.mirror.internal.invalid/simple/", "--trusted-host", "pypi.mirror.internal.invalid",
            "--retries", "1", "--timeout", "2",
            "--target", sb.p("lib"), "attrs==23.2.0"], code=1,
           expect=["Cannot connect to proxy", "No matching distribution found"], visible="missing-module",
           note="pip install through an HTTP proxy on a closed port: 'Cannot connect to proxy' in the retry "
                "WARNINGs, the last line is 'No matching distribution found'")
    if have("wget"):
        sb.run(["wget", "--tries=1", "http://artifacts.internal.invalid/app.tgz"], code=4,
               env=sb.env({"http_proxy": f"http://127.0.0.1:{p}/"}), expect=["Connection refused"],
               visible="network", tool="wget", note="wget through http_proxy on a closed port")
    if have("npm"):
        sb.write("app/package.json", json.dumps({"name": "app", "version": "1.0.0", "private": True}))
        sb.run(["npm", "install", "zod", "--registry=http://registry.internal.invalid/", f"--proxy=http://127.0.0.1:{p}",
                "--fetch-retries=0"], cwd=sb.p("app"), code=1, expect_re=r"(ECONNREFUSED|proxy)",
               visible="network", tool="npm", note="npm install through a proxy on a closed port")


@fresh_scenario("network", "server-reset-clients", "wget")
def _(sb: Sandbox):
    p = sb.tcp_server("reset")
    if have("wget"):
        sb.run(["wget", "--tries=1", f"http://127.0.0.1:{p}/dist/toolchain.tar.xz"], code=4,
               expect=["Connection reset by peer"], visible="network",
               note="wget from a server that resets the connection after the request")
    sb.run(["python3", "-m", "pip", "download", "--index-url", f"http://127.0.0.1:{p}/simple/", "--retries", "1",
            "-d", sb.p("dl"), "rich"], code=1, expect=["Connection reset by peer", "No matching distribution"],
           visible="missing-module", tool="pip",
           note="pip download from an index that resets every connection; ends in 'No matching distribution "
                "found'")
    if have("npm"):
        sb.run(["npm", "view", "zod", "version", f"--registry=http://127.0.0.1:{p}/", "--fetch-retries=0"],
               cwd=sb.dir, code=1, expect_re=r"(ECONNRESET|socket hang up|reset)", visible="network",
               tool="npm", note="npm view against a registry that resets the connection")
    if have("psql"):
        sb.run(["psql", f"postgresql://ci@127.0.0.1:{p}/app?connect_timeout=3&sslmode=disable", "-c", "select 1"],
               code=2, expect_re=r"(server closed the connection|Connection reset|could not receive)",
               visible="network", tool="psql",
               note="psql to a server that resets the connection during the startup packet")


@fresh_scenario("network", "http-5xx-clients", "wget")
def _(sb: Sandbox):
    p = sb.dir_server("www", status=503)
    if have("wget"):
        sb.run(["wget", "--tries=1", f"http://127.0.0.1:{p}/releases/v1.4.2/app.tgz"], code=8,
               expect=["503"], visible="network", note="wget from a server answering 503 Service Unavailable")
    sb.run(["git", "clone", f"http://127.0.0.1:{p}/acme/app.git"], code=128, expect=["503"], visible="network",
           tool="git", note="git clone over http from a server answering 503")
    p2 = sb.dir_server("gw", status=504)
    sb.run(["python3", "-c", f"import urllib.request\n"
            f"urllib.request.urlopen('http://127.0.0.1:{p2}/v2/acme/app/manifests/1.4.2')"], code=1,
           expect=["HTTP Error 504: Gateway Timeout"], visible="timeout", tool="python3",
           note="python urllib against a proxy answering 504 Gateway Timeout (an HTTP 5xx: network, though "
                "the line says 'Timeout')")
    p3 = sb.dir_server("bad", status=502)
    sb.run(["curl", "-fsS", "-o", "sbom.json", f"http://127.0.0.1:{p3}/sbom.json"], code=22, expect=["502"],
           visible="network", tool="curl", note="curl -f against a proxy answering 502 Bad Gateway")


@fresh_scenario("network", "ssh-server-hangup", "ssh", needs=("ssh",))
def _(sb: Sandbox):
    opts = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={sb.home}/known_hosts",
            "-o", "StrictHostKeyChecking=no"]
    pc = sb.tcp_server("close")
    sb.run(["ssh", *opts, "-p", str(pc), "deploy@127.0.0.1", "uptime"], code=255,
           expect_re=r"(Connection reset|Connection closed)", visible="network",
           note="ssh to a server that accepts and closes at once (kex_exchange_identification)")
    pe = sb.tcp_server("eof")
    sb.run(["ssh", *opts, "-p", str(pe), "deploy@127.0.0.1", "uptime"], code=255,
           expect=["Connection closed"], visible="network",
           note="ssh to a server that closes the connection before its banner")
    if have("scp"):
        sb.write("dist/app.tgz", "x")
        sb.run(["scp", *opts, "-P", str(pe), "dist/app.tgz", "deploy@127.0.0.1:/srv/"], code=255,
               expect=["Connection closed"], visible="network", tool="scp",
               note="scp to a server that closes the connection before its banner")


@fresh_scenario("network", "dns-lookup-tools", "getent")
def _(sb: Sandbox):
    if not dns_fails_fast():
        raise Skip("names under .invalid do not fail quickly here")
    sb.run(["getent", "hosts", "build-cache.ci.invalid"], code=2, visible="unknown",
           note="getent hosts of a name under .invalid: exit 2, nothing printed")
    if have("psql"):
        sb.run(["psql", "-h", "db.staging.invalid", "-U", "ci", "-d", "app", "-c", "select 1"], code=2,
               expect=["could not translate host name"], visible="network", tool="psql",
               note="psql to a database host under .invalid")
    sb.run(["git", "ls-remote", "git@git.corp.invalid:acme/app.git"], code=128,
           env=sb.env({"GIT_SSH_COMMAND": "ssh -F /dev/null -o BatchMode=yes"}),
           expect=["Could not resolve hostname", "Could not read from remote repository"], visible="vcs-error",
           tool="git", note="git ls-remote over ssh to a host under .invalid; ends with git's 'Could not read "
                            "from remote repository ... correct access rights'")
    if have("npm"):
        sb.run(["npm", "view", "zod", "version", "--registry=http://npm.corp.invalid/", "--fetch-retries=0"],
               cwd=sb.dir, code=1, expect=["ENOTFOUND"], visible="network", tool="npm",
               note="npm view against a registry host under .invalid")


@fresh_scenario("network", "python-asyncio-refused", "python3")
def _(sb: Sandbox):
    p = sb.closed_port()
    sb.write("queue.py", f"""
        import asyncio

        async def main():
            print("connecting to the job queue")
            reader, writer = await asyncio.open_connection("127.0.0.1", {p})

        asyncio.run(main())
        """)
    sb.run(["python3", "queue.py"], code=1, expect=["Connect call failed"], visible="network",
           note="python asyncio.open_connection to a closed port: 'Connect call failed'")


# ------------------------------------------------------------ fresh: timeout

def blackhole_port(sb: Sandbox) -> int:
    """A loopback port whose accept queue is full (listen(0), filled by
    connections nobody accepts): a new connect gets no SYN-ACK and times out."""
    port = next_port()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", port))
    s.listen(0)
    sb.holders.append(s)
    for _ in range(4):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except (BlockingIOError, OSError):
            pass
        sb.holders.append(c)
    time.sleep(0.3)
    return port


@fresh_scenario("timeout", "connect-timeout-blackhole", "curl", needs=("curl",))
def _(sb: Sandbox):
    p = blackhole_port(sb)
    sb.run(["curl", "-sS", "--connect-timeout", "1", f"http://127.0.0.1:{p}/v2/"], code=28,
           expect=["Timeout was reached"], visible="timeout",
           note="curl --connect-timeout 1 to a port that never answers the SYN (full accept queue)")
    sb.run(["python3", "-c", f"import socket\nprint('connecting to cache at :{p}', flush=True)\n"
            f"socket.create_connection(('127.0.0.1', {p}), timeout=1)"], code=1, expect=["TimeoutError"],
           visible="timeout", tool="python3", note="python create_connection(timeout=1) to a port that never answers")
    if have("wget"):
        sb.run(["wget", "--connect-timeout=1", "--tries=1", f"http://127.0.0.1:{p}/index.json"], code=4,
               expect=["Connection timed out"], visible="timeout", tool="wget",
               note="wget --connect-timeout=1 to a port that never answers")
    if have("ssh"):
        sb.run(["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=1", "-p", str(p),
                "deploy@127.0.0.1", "true"], code=255, expect=["Connection timed out"], visible="timeout",
               tool="ssh", note="ssh ConnectTimeout=1 to a port that never answers the SYN")


@fresh_scenario("timeout", "timeout-kill-after", "timeout", needs=("timeout",))
def _(sb: Sandbox):
    body = "trap '' TERM; echo 'waiting for the build lock'; while :; do sleep 0.2; done"
    sb.run(["timeout", "-k", "1", "1", "sh", "-c", body], sig=9, visible="unknown",
           expect=["waiting for the build lock"],
           note="timeout -k 1 1 around a step that ignores SIGTERM: the KILL one second later goes to the "
                "whole process group, timeout included (SIGKILL)")
    sb.run(["timeout", "-v", "-k", "1", "1", "sh", "-c", body], sig=9, visible="timeout",
           expect=["sending signal KILL"],
           note="timeout -v -k 1 1: 'sending signal TERM', then 'sending signal KILL' (SIGKILL)")


@fresh_scenario("timeout", "async-deadlines", "python3")
def _(sb: Sandbox):
    p = sb.tcp_server("never")
    sb.write("health.py", f"""
        import asyncio

        async def probe():
            reader, writer = await asyncio.open_connection("127.0.0.1", {p})
            writer.write(b"GET /health HTTP/1.0\\r\\n\\r\\n")
            return await reader.read()

        print("probing service health")
        asyncio.run(asyncio.wait_for(probe(), timeout=1))
        """)
    sb.run(["python3", "health.py"], code=1, expect=["TimeoutError"], visible="timeout",
           note="python asyncio.wait_for(timeout=1) around a read from a server that never answers")
    sb.run(["python3", "-c", "import concurrent.futures, time\nex = concurrent.futures.ThreadPoolExecutor(1)\n"
            "f = ex.submit(time.sleep, 3)\nprint('waiting for the export job')\nf.result(timeout=1)"], code=1,
           expect=["TimeoutError"], visible="timeout",
           note="python concurrent.futures Future.result(timeout=1) on a 3 s job")
    if have("node"):
        sb.write("fetch.mjs", f"""
            console.log('downloading manifest');
            const res = await fetch('http://127.0.0.1:{p}/manifest.json', {{ signal: AbortSignal.timeout(700) }});
            console.log(await res.text());
            """)
        sb.run(["node", "fetch.mjs"], code=1, expect=["aborted due to timeout"], visible="timeout", tool="node",
               note="node fetch with AbortSignal.timeout(700) to a server that never answers")
        sb.write("get.js", f"""
            const http = require('http');
            const req = http.get('http://127.0.0.1:{p}/artifact', {{ timeout: 700 }}, (res) => res.resume());
            req.on('timeout', () => req.destroy());
            """)
        sb.run(["node", "get.js"], code=1, expect=["socket hang up"], visible="network", tool="node",
               note="node http.get with a 700 ms timeout that destroys the request: the error shown is "
                    "'socket hang up' (ECONNRESET)")


@fresh_scenario("timeout", "lock-and-db-waits", "psql")
def _(sb: Sandbox):
    p = sb.tcp_server("never")
    if have("psql"):
        sb.run(["psql", f"postgresql://ci@127.0.0.1:{p}/app?connect_timeout=2", "-c", "select 1"], code=2,
               expect=["timeout expired"], visible="timeout",
               note="psql with connect_timeout=2 to a server that accepts and never answers")
    if have("flock"):
        import fcntl
        lock = open(sb.p("deploy.lock"), "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        sb.holders.append(lock)
        sb.run(["flock", "--verbose", "-w", "1", sb.p("deploy.lock"), "true"], code=1,
               expect=["timeout while waiting to get lock"], visible="timeout", tool="flock",
               note="flock -w 1 on a lock another process holds")
        sb.run(["flock", "-w", "1", sb.p("deploy.lock"), "./deploy.sh"], code=1, visible="unknown", tool="flock",
               note="flock -w 1 without --verbose: exit 1, nothing printed")


@fresh_scenario("timeout", "wrapped-timeouts", "make", needs=("make", "timeout"))
def _(sb: Sandbox):
    sb.write("it.sh", "#!/bin/sh\necho 'starting integration suite'\nsleep 10\n", mode=0o755)
    sb.write("Makefile", "integration:\n\ttimeout 1 ./it.sh\n")
    sb.run(["make", "integration"], code=2, expect=["Error 124"], visible="code-error",
           note="make whose recipe runs the suite under timeout 1: only 'make: *** [...] Error 124'")
    p = sb.tcp_server("never")
    sb.write("ci/wait-healthy.sh", f"""
        #!/bin/bash
        echo "waiting for the api to become healthy"
        for i in 1 2 3; do
            if curl -fsS -m 1 http://127.0.0.1:{p}/healthz >/dev/null; then exit 0; fi
        done
        echo "error: api not healthy after 3 attempts" >&2
        exit 1
        """.replace("\n        ", "\n").lstrip(), mode=0o755)
    if have("curl"):
        sb.run(["ci/wait-healthy.sh"], code=1, expect=["timed out", "not healthy"], visible="unknown", tool="bash",
               note="a health-wait script whose curl -m 1 times out three times, then its own 'not healthy' line")


# ------------------------------------------------------ fresh: out-of-memory

@fresh_scenario("out-of-memory", "cgroup-oom-text-tools", "awk", needs=("root",))
def _(sb: Sandbox):
    sb.run(["awk", "BEGIN { for (i = 0; i < 1e8; i++) index_[i] = \"row\" i; print length(index_) }"],
           memlimit=48, sig=9, visible="unknown",
           note="awk building a 100M-entry array in a 48 MiB memory cgroup: SIGKILL, no output")
    if have("jq"):
        sb.run(["jq", "-n", "[range(100000000)] | length"], memlimit=48, sig=9, visible="unknown", tool="jq",
               note="jq building a 100M-element array in a 48 MiB memory cgroup: SIGKILL")
    sb.write("Makefile", "features.csv:\n\t@echo 'extracting features'\n"
             "\t@python3 -c 'x = bytearray(512 << 20); open(\"$@\", \"w\").write(str(len(x)))'\n")
    sb.run(["make"], memlimit=64, code=2, expect=["Killed"], visible="crashed", tool="make",
           note="make whose python recipe is OOM-killed in a 64 MiB cgroup: 'make: *** [Makefile:2: "
                "features.csv] Killed'")


@fresh_scenario("out-of-memory", "ulimit-v-tools", "git")
def _(sb: Sandbox):
    sb.randfile("assets/dataset.bin", 1 << 20, seed=81)
    sb.setup(["sh", "-c", "for i in $(seq 1 299); do cat assets/dataset.bin; done > assets/big.bin"])
    sb.run(sh("ulimit -v 200000; exec git hash-object assets/big.bin"), code=128,
           expect=["Cannot allocate memory"], visible="out-of-memory",
           note="git hash-object of a 300 MiB file under ulimit -v 200000: 'fatal: mmap failed ...: Cannot "
                "allocate memory'")
    sb.run(sh("ulimit -v 200000; exec awk 'BEGIN { for (i = 0; i < 1e8; i++) seen[i] = i }'"), code=2,
           expect=["out of memory"], visible="out-of-memory", tool="awk",
           note="awk under ulimit -v 200000: 'mawk: run time error: out of memory'")
    if have("jq"):
        sb.run(sh("ulimit -v 200000; exec jq -n '[range(100000000)] | length'"), sig=6,
               expect=["cannot allocate memory"], visible="out-of-memory", tool="jq",
               note="jq under ulimit -v 200000: 'error: cannot allocate memory', then SIGABRT")
    sb.run(sh("ulimit -v 200000; exec xz -9 -k assets/dataset.bin"), code=1, expect=["Cannot allocate memory"],
           visible="out-of-memory", tool="xz", note="xz -9 (674 MiB dictionary) under ulimit -v 200000")
    if have("node"):
        sb.run(sh("ulimit -v 200000; exec node -e \"console.log('hi')\""), sig=5, expect=["Fatal process OOM"],
               visible="out-of-memory", tool="node",
               note="node under ulimit -v 200000: cannot reserve its code range, 'Fatal process OOM', SIGTRAP")
    if have("java"):
        sb.run(sh("ulimit -v 1200000; exec java -Xms1500m -version"), code=1,
               expect=["Could not reserve enough space"], timeout=20, visible="out-of-memory", tool="java",
               note="java -Xms1500m under ulimit -v 1200000: 'Error occurred during initialization of VM', "
                    "'Could not reserve enough space for ... object heap'")


@fresh_scenario("out-of-memory", "python-child-oom", "python3", needs=("root",))
def _(sb: Sandbox):
    sb.write("etl.py", """
        import concurrent.futures

        def transform(shard):
            rows = bytearray(512 << 20)
            return shard, len(rows)

        if __name__ == "__main__":
            print("transforming 4 shards", flush=True)
            with concurrent.futures.ProcessPoolExecutor(2) as pool:
                for shard, n in pool.map(transform, range(4)):
                    print("shard", shard, "done", flush=True)
        """)
    sb.run(["python3", "etl.py"], memlimit=96, code=1, timeout=20, expect=["BrokenProcessPool"],
           visible="crashed",
           note="python ProcessPoolExecutor whose workers are OOM-killed in a 96 MiB cgroup: 'BrokenProcessPool: "
                "A process in the process pool was terminated abruptly'")
    sb.write("ci/run_step.py", """
        import subprocess
        print("==> step: build search index", flush=True)
        subprocess.run(["python3", "-c", "x = bytearray(512 << 20)"], check=True)
        """)
    sb.run(["python3", "ci/run_step.py"], memlimit=96, code=1, expect=["died with <Signals.SIGKILL: 9>"],
           visible="crashed",
           note="a python step runner whose child is OOM-killed in a 96 MiB cgroup: CalledProcessError "
                "'died with <Signals.SIGKILL: 9>'")


@fresh_scenario("out-of-memory", "node-worker-oom", "node", needs=("node",))
def _(sb: Sandbox):
    sb.write("pool.js", """
        const { Worker } = require('worker_threads');
        const code = `
          const parts = [];
          for (let i = 0; ; i++) parts.push({ i, s: 'chunk-' + i + '-'.repeat(64) });
        `;
        console.log('starting the render worker');
        const w = new Worker(code, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 16 } });
        w.on('exit', (c) => console.log('worker exited with', c));
        """)
    sb.run(["node", "pool.js"], code=1, expect=["ERR_WORKER_OUT_OF_MEMORY"], visible="out-of-memory",
           note="node worker_threads Worker with resourceLimits (16 MiB old space) filling its heap: "
                "ERR_WORKER_OUT_OF_MEMORY")
    sb.write("web/package.json", json.dumps({"name": "web", "version": "1.0.0",
                                            "scripts": {"render": "node ../pool.js"}}, indent=2))
    sb.run(["npm", "run", "render"], cwd=sb.p("web"), code=1, expect=["ERR_WORKER_OUT_OF_MEMORY"],
           visible="out-of-memory", tool="npm",
           note="npm run of the same worker (npm adds only its script banner)")


# ----------------------------------------------------- fresh: resource-limit

class PidsCgroup:
    """A child pids cgroup (pids.max) below this process's own cgroup (v2) or
    in the v1 pids hierarchy."""

    def __init__(self, name: str, limit: int):
        self.dir = None
        try:
            lines = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            raise Skip("no /proc/self/cgroup")
        v2 = Path("/sys/fs/cgroup")
        base = None
        for line in lines:
            hid, ctrls, path = line.split(":", 2)
            if hid == "0" and (v2 / "cgroup.controllers").exists():
                for b in (v2 / path.lstrip("/"), v2):
                    try:
                        if "pids" in (b / "cgroup.subtree_control").read_text().split():
                            base = b
                            break
                    except OSError:
                        pass
            elif "pids" in ctrls.split(","):
                b = Path("/sys/fs/cgroup/pids") / path.lstrip("/")
                if (b / "cgroup.procs").exists():
                    base = b
            if base:
                break
        if base is None:
            raise Skip("no pids cgroup controller to make a child in")
        self.dir = base / f"qcity-corpus-{name}-{os.getpid()}"
        try:
            self.dir.mkdir()
            (self.dir / "pids.max").write_text(str(limit))
        except OSError as e:
            self.remove()
            raise Skip(f"cannot make a pids cgroup ({e})")

    def preexec(self):
        procs = str(self.dir / "cgroup.procs")

        def enter():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        return enter

    def remove(self):
        if self.dir is None:
            return
        for _ in range(50):
            try:
                self.dir.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)


@fresh_scenario("resource-limit", "pids-cgroup-limit", "make", needs=("root",))
def _(sb: Sandbox):
    cgs = []

    def pids(limit):
        cg = PidsCgroup(f"{sb.sc.name}-{len(cgs)}", limit)
        cgs.append(cg)
        return cg.preexec()
    try:
        sb.write("Makefile", "".join(f"t{i}:\n\t@sleep 2\n" for i in range(24))
                 + "all: " + " ".join(f"t{i}" for i in range(24)) + "\n")
        sb.run(["make", "-j24", "all"], preexec=pids(10), code=2, expect=["Resource temporarily unavailable"],
               visible="code-error",
               note="make -j24 in a cgroup with pids.max=10 (a container's pid limit): 'make: sleep: Resource "
                    "temporarily unavailable', then 'make: *** [...] Error 127' and 'Waiting for unfinished jobs'")
        sb.run(["python3", "-c", "import concurrent.futures, time\n"
                "ex = concurrent.futures.ThreadPoolExecutor(64)\n"
                "fs = [ex.submit(time.sleep, 2) for _ in range(64)]\nprint('submitted')"],
               preexec=pids(12), code=1, expect=["can't start new thread"], visible="resource-limit", tool="python3",
               note="python ThreadPoolExecutor(64) in a cgroup with pids.max=12: 'can't start new thread'")
        sb.run(sh("echo 'starting 30 upload workers'; for i in $(seq 1 30); do sleep 2 & done; wait"),
               preexec=pids(8), code=2, expect=["Cannot fork"], visible="resource-limit", tool="sh",
               note="a shell starting 30 background workers in a cgroup with pids.max=8: 'Cannot fork'")
    finally:
        for cg in cgs:
            sb.cgroups.append(cg)


@fresh_scenario("resource-limit", "nofile-other-tools", "perl", needs=("perl",))
def _(sb: Sandbox):
    sb.write("bin/shard.pl", """
        use strict;
        use warnings;
        my @fh;
        for my $i (1 .. 64) {
            open(my $f, '>', "shard-$i.tsv") or die "cannot open shard-$i.tsv: $!\\n";
            push @fh, $f;
        }
        print "opened ", scalar(@fh), " shards\\n";
        """)
    sb.run(sh("ulimit -n 16; exec perl bin/shard.pl"), code=None, expect=["Too many open files"],
           visible="resource-limit", note="perl opening 64 shard files under ulimit -n 16")
    sb.write("merge.sql", "".join(f"ATTACH 'part{i}.db' AS p{i};\n" for i in range(20)) + "SELECT 1;\n")
    if have("sqlite3"):
        sb.run(sh("ulimit -n 12; exec sqlite3 main.db < merge.sql"), code=None,
               expect_re=r"(unable to open database|too many attached|Too many open files)", visible="unknown",
               tool="sqlite3",
               note="sqlite3 attaching 20 databases under ulimit -n 12: 'unable to open database', the EMFILE is "
                    "not shown")
    sb.write("main.c", "int main(void) { return 0; }\n")
    sb.run(sh("ulimit -n 4; exec gcc -o app main.c"), code=None,
           expect_re=r"(Too many open files|cannot|error)", visible="resource-limit", tool="gcc",
           note="gcc under ulimit -n 4")


@fresh_scenario("resource-limit", "rlimits-in-toolchains", "git", needs=("git",))
def _(sb: Sandbox):
    src = sb.dir / "src"
    src.mkdir()
    sb.git(src, "init", "-q", "-b", "main")
    sb.randfile("src/assets/model.bin", 4 << 20, seed=91)
    sb.git(src, "add", "-A")
    sb.git(src, "commit", "-q", "-m", "model")
    sb.run(sh(f"ulimit -f 2048; exec git clone --no-local {src} clone"), code=128,
           expect=["invalid index-pack output"], visible="vcs-error",
           note="git clone of a 4 MiB blob under ulimit -f 2048: index-pack dies of SIGXFSZ writing the pack, git "
                "says only 'fatal: fetch-pack: invalid index-pack output'")
    if have("gcc"):
        sb.write("gen/huge.c", "long data[997];\nlong big(void) {\n  long acc = 0;\n"
                 + "\n".join(f"  acc += data[{i % 997}] * {i} + (acc >> {i % 13});" for i in range(40000))
                 + "\n  return acc;\n}\n")
        sb.run(sh("ulimit -S -t 1; exec gcc -O2 -c gen/huge.c -o huge.o"), code=None,
               expect=["CPU time limit exceeded"], visible="crashed", tool="gcc",
               note="gcc -O2 under a soft ulimit -t 1: cc1 is killed by SIGXCPU, 'gcc: internal compiler error: "
                    "CPU time limit exceeded signal terminated program cc1'")
    sb.run(sh("x=$(head -c 200000 /dev/zero | tr '\\0' a); exec /bin/echo \"$x\""), code=126,
           expect=["Argument list too long"], visible="resource-limit", tool="sh",
           note="one argument of 200 000 bytes (over the per-string limit MAX_ARG_STRLEN, 128 KiB) although the "
                "whole argument list is small")
    sb.run(["python3", "-c", "import os, subprocess\nenv = dict(os.environ, BUILD_MATRIX='x' * 200000)\n"
            "subprocess.run(['true'], env=env)"], code=1, expect=["Argument list too long"], visible="resource-limit",
           tool="python3",
           note="python subprocess with one 200 000-byte environment variable (a generated build matrix): E2BIG")


# ------------------------------------------------------ fresh: corrupt-cache

@fresh_scenario("corrupt-cache", "lz4-bz2-cache", "lz4", needs=("lz4",))
def _(sb: Sandbox):
    for i in range(3):
        sb.randtext(f"ccache/d{i}/objects.txt", 300 << 10, seed=120 + i)
    sb.setup(["tar", "-I", "lz4", "-cf", "ccache.tar.lz4", "ccache"])
    truncate(sb.p("ccache.tar.lz4"), 0.55)
    sb.run(["lz4", "-t", "ccache.tar.lz4"], code=None, expect_re=r"(Error|error)", visible="corrupt-cache",
           note="lz4 -t of a restored ccache archive truncated to 55 %")
    (sb.p("restore")).mkdir()
    sb.run(["tar", "-I", "lz4", "-xf", "ccache.tar.lz4", "-C", "restore"], code=2, tool="tar",
           expect_re=r"(Child returned status|Error is not recoverable|Unexpected EOF)", visible="unknown",
           note="tar -I lz4 -xf of the truncated archive: lz4's error, then tar's generic 'Child returned status' "
                "/ 'Error is not recoverable' lines")
    sb.setup(["tar", "-cjf", "ccache.tar.bz2", "ccache"])
    truncate(sb.p("ccache.tar.bz2"), 0.5)
    sb.run(["tar", "-xjf", "ccache.tar.bz2", "-C", "restore"], code=2, tool="tar",
           expect_re=r"(Compressed file ends unexpectedly|unexpected end)", visible="unknown",
           note="tar -xjf of a .tar.bz2 cache truncated to half: bzip2's 'Compressed file ends unexpectedly', "
                "then tar's 'Child returned status 2'")


@fresh_scenario("corrupt-cache", "git-pack-corrupt", "git", needs=("git",))
def _(sb: Sandbox):
    repo = sb.git_repo("repo", {"src/app.py": "print('hello')\n" * 50, "README.md": "# app\n"})
    sb.write("repo/src/util.py", "def util():\n    return 1\n" * 40)
    sb.git(repo, "add", "-A")
    sb.git(repo, "commit", "-q", "-m", "util")
    blob = sb.git(repo, "rev-parse", "HEAD:src/util.py").strip()
    obj = repo / ".git" / "objects" / blob[:2] / blob[2:]
    os.chmod(obj, 0o644)
    obj.write_bytes(b"")
    os.unlink(repo / "src" / "util.py")
    sb.run(["git", "checkout", "--", "src/util.py"], cwd=repo, code=255, expect=["is empty"],
           visible="vcs-error",
           note="git checkout of a file whose loose object is a 0-byte file (a cache restore or a crash left it): "
                "'object file ... is empty', then 'error: unable to read sha1 file of src/util.py'")
    sb.run(["git", "show", "HEAD:src/util.py"], cwd=repo, code=128, expect=["is empty"], visible="vcs-error",
           note="git show of the same blob: 'object file ... is empty', then 'fatal: bad object HEAD:src/util.py'")
    repo2 = sb.git_repo("repo2", {f"src/m{i}.py": (f"value_{i} = {i}\n" * 400) for i in range(6)})
    sb.git(repo2, "gc", "-q")
    pack = next((repo2 / ".git" / "objects" / "pack").glob("*.pack"))
    os.chmod(pack, 0o644)
    size = pack.stat().st_size
    flip_bytes(pack, size // 2, 64, seed=13)
    sb.setup(["rm", "-rf", str(repo2 / "src")])
    sb.run(["git", "checkout", "-f", "--", "."], cwd=repo2, code=None, expect_re=r"(corrupt|inflate|bad object)",
           visible="corrupt-cache", note="git checkout from a packfile with 64 corrupted bytes in the middle")
    idx = next((repo2 / ".git" / "objects" / "pack").glob("*.idx"))
    os.chmod(idx, 0o644)
    truncate(idx, 0.5)
    sb.run(["git", "log", "--oneline"], cwd=repo2, code=128, expect_re=r"(too small|index file|bad object)",
           visible="corrupt-cache", note="git log with a pack .idx truncated to half")


@fresh_scenario("corrupt-cache", "java-jar-corrupt", "java", needs=("java", "javac", "jar"))
def _(sb: Sandbox):
    sb.write("src/App.java", "public class App {\n    public static void main(String[] a) {\n"
             "        System.out.println(\"ok\");\n    }\n}\n")
    sb.write("src/Pad.java", "public class Pad {\n    public static String pad(String s) { return \"  \" + s; }\n}\n"
             + "// padding\n" * 2000)
    sb.write("src/Main.java", "public class Main {\n    public static void main(String[] a) {\n"
             "        System.out.println(Pad.pad(\"x\"));\n    }\n}\n")
    sb.setup(["javac", "-d", "classes", "src/App.java", "src/Pad.java", "src/Main.java"])
    sb.randfile("classes/assets/icons.bin", 256 << 10, seed=130)
    sb.setup(["jar", "cfe", "app.jar", "App", "-C", "classes", "App.class", "-C", "classes", "assets"])
    sb.setup(["jar", "cf", "pad.jar", "-C", "classes", "Pad.class", "-C", "classes", "assets"])
    truncate(sb.p("app.jar"), 0.6)
    sb.run(["java", "-jar", "app.jar"], code=1, timeout=20, expect=["Invalid or corrupt jarfile"],
           visible="corrupt-cache", note="java -jar of a cached jar truncated to 60 %")
    truncate(sb.p("pad.jar"), 0.6)
    (sb.p("main")).mkdir()
    shutil.copy(sb.p("classes/Main.class"), sb.p("main/Main.class"))
    sb.run(["java", "-cp", "main:pad.jar", "Main"], code=1, timeout=20, expect=["NoClassDefFoundError"],
           visible="missing-module",
           note="java with a truncated dependency jar (from a cache) on the classpath: the class is simply "
                "not found (NoClassDefFoundError), nothing says the jar is corrupt")


@fresh_scenario("corrupt-cache", "python-cache-formats", "python3")
def _(sb: Sandbox):
    import gzip
    data = gzip.compress(json.dumps({f"pkg{i}": {"sha": f"{i:064x}"} for i in range(3000)}).encode(), mtime=0)
    sb.write(".cache/lock-index.json.gz", data[: len(data) // 2])
    sb.run(["python3", "-c", "import gzip, json\n"
            "idx = json.load(gzip.open('.cache/lock-index.json.gz'))\nprint(len(idx))"], code=1,
           expect=["Compressed file ended before the end-of-stream marker was reached"], visible="corrupt-cache",
           note="python reading a gzip JSON cache truncated to half: EOFError")
    sb.write(".cache/resolver.db", random.Random(140).randbytes(8192))
    sb.run(["python3", "-c", "import dbm\ndb = dbm.open('.cache/resolver.db', 'r')\nprint(len(db))"], code=1,
           expect=["db type could not be determined"], visible="corrupt-cache",
           note="python dbm.open of a cache file full of garbage")
    sb.write("tool/__main__.py", "import sys\nprint('tool', sys.argv[1:])\n" + "# pad\n" * 3000)
    sb.write("tool/helpers.py", "X = 1\n" * 2000)
    sb.setup(["python3", "-m", "zipapp", "tool", "-o", "tool.pyz"])
    truncate(sb.p("tool.pyz"), 0.7)
    sb.run(["python3", "tool.pyz", "--check"], code=1, expect=["source code cannot contain null bytes"],
           visible="code-error",
           note="python running a cached zipapp (.pyz) truncated to 70 %: no longer a zip, python reads it as "
                "source: 'SyntaxError: source code cannot contain null bytes'")


@fresh_scenario("corrupt-cache", "node-cache-corrupt", "node", needs=("node",))
def _(sb: Sandbox):
    sb.write("mk.js", """
        const v8 = require('v8');
        const fs = require('fs');
        const zlib = require('zlib');
        const graph = {};
        for (let i = 0; i < 2000; i++) graph['mod' + i] = { deps: ['mod' + (i + 1)], size: i };
        const buf = v8.serialize(graph);
        fs.mkdirSync('.cache', { recursive: true });
        fs.writeFileSync('.cache/graph.bin', buf.subarray(0, buf.length >> 1));
        const gz = zlib.gzipSync(JSON.stringify(graph));
        fs.writeFileSync('.cache/graph.json.gz', gz.subarray(0, gz.length >> 1));
        """)
    sb.setup(["node", "mk.js"])
    sb.write("load.js", """
        const v8 = require('v8');
        const fs = require('fs');
        console.log('restoring module graph from cache');
        const graph = v8.deserialize(fs.readFileSync('.cache/graph.bin'));
        console.log(Object.keys(graph).length);
        """)
    sb.run(["node", "load.js"], code=1, expect=["Unable to deserialize cloned data"], visible="corrupt-cache",
           note="node v8.deserialize of a cache file truncated to half")
    sb.write("load2.js", """
        const zlib = require('zlib');
        const fs = require('fs');
        const graph = JSON.parse(zlib.gunzipSync(fs.readFileSync('.cache/graph.json.gz')));
        console.log(Object.keys(graph).length);
        """)
    sb.run(["node", "load2.js"], code=1, expect=["unexpected end of file"], visible="corrupt-cache",
           note="node zlib.gunzipSync of a gzip cache truncated to half: 'unexpected end of file' (Z_BUF_ERROR)")


@fresh_scenario("corrupt-cache", "cargo-vendor-checksum", "cargo", needs=("cargo",))
def _(sb: Sandbox):
    sb.write("vendor/tinyfmt/Cargo.toml", '[package]\nname = "tinyfmt"\nversion = "0.2.1"\nedition = "2021"\n')
    sb.write("vendor/tinyfmt/src/lib.rs", 'pub fn pad(s: &str) -> String {\n    format!("{:>8}", s)\n}\n')
    sums = {rel: hashlib.sha256(sb.p(f"vendor/tinyfmt/{rel}").read_bytes()).hexdigest()
            for rel in ("Cargo.toml", "src/lib.rs")}
    sb.write("vendor/tinyfmt/.cargo-checksum.json", json.dumps({"files": sums, "package": "ab" * 32}))
    sb.write("app/Cargo.toml", '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n'
             '[dependencies]\ntinyfmt = "0.2"\n')
    sb.write("app/src/main.rs", 'fn main() {\n    println!("{}", tinyfmt::pad("x"));\n}\n')
    sb.write("app/.cargo/config.toml", '[source.crates-io]\nreplace-with = "vendored-sources"\n\n'
             f'[source.vendored-sources]\ndirectory = "{sb.p("vendor")}"\n')
    flip_bytes(sb.p("vendor/tinyfmt/src/lib.rs"), 10, 8, seed=150)
    env = sb.env({"CARGO_TARGET_DIR": str(sb.p("target"))})
    sb.run(["cargo", "build", "--offline"], cwd=sb.p("app"), env=env, code=101,
           expect=["the listed checksum of"], visible="corrupt-cache",
           note="cargo build against a vendored crate (restored from a cache) with 8 corrupted bytes: 'the listed "
                "checksum of ... has changed'")


# -------------------------------------------------- fresh: permission-denied

@fresh_scenario("permission-denied", "bind-privileged-port", "python3", needs=("root", "setpriv"))
def _(sb: Sandbox):
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        start = 1024
    if start <= 80:
        raise Skip("unprivileged users may bind port 80 here (ip_unprivileged_port_start)")
    env = nobody_env(sb)
    if SYS_PY:
        sb.run([*NOBODY, SYS_PY, "-c", "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 80))\ns.listen()"],
               env=env, code=1, expect=["PermissionError"], visible="permission-denied",
               note="python as nobody binding port 80 (below ip_unprivileged_port_start): EACCES")
        sb.run([*NOBODY, SYS_PY, "-m", "http.server", "80", "--bind", "127.0.0.1"], env=env, code=1,
               expect=["Permission denied"], visible="permission-denied",
               note="python -m http.server 80 as nobody")
    if have("node"):
        sb.write("srv/server.js", "const http = require('http');\n"
                 "http.createServer((q, r) => r.end('ok')).listen(80, '127.0.0.1', () => console.log('up'));\n")
        os.chmod(sb.p("srv"), 0o755)
        os.chmod(sb.p("srv/server.js"), 0o644)
        sb.run([*NOBODY, "node", sb.p("srv/server.js")], env=env, code=1, expect=["EACCES"],
               visible="permission-denied", tool="node", note="node listening on port 80 as nobody: listen EACCES")
    if have("perl"):
        sb.run([*NOBODY, "perl", "-MIO::Socket::INET", "-e",
                "IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 443, Listen => 5) "
                "or die \"cannot listen on :443: $!\\n\""], env=env, code=None, expect=["Permission denied"],
               visible="permission-denied", tool="perl", note="perl listening on port 443 as nobody")


@fresh_scenario("permission-denied", "nobody-writes-state", "sqlite3", needs=("root", "setpriv"))
def _(sb: Sandbox):
    env = nobody_env(sb)
    state = sb.p("state")
    state.mkdir()
    os.chmod(state, 0o755)
    db = sqlite3.connect(state / "jobs.db")
    db.execute("create table jobs(id integer primary key, status text)")
    db.commit()
    db.close()
    os.chmod(state / "jobs.db", 0o644)
    if have("sqlite3"):
        sb.run([*NOBODY, "sqlite3", state / "jobs.db", "insert into jobs(status) values ('queued');"], env=env,
               code=None, expect=["readonly database"], visible="permission-denied",
               note="sqlite3 as nobody inserting into a root-owned 0644 database: 'attempt to write a readonly "
                    "database'")
    repo = sb.git_repo("repo", {"README.md": "# app\n"})
    for root, dirs, files in os.walk(repo):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    for root, dirs, files in os.walk(repo):
        if ".git" in Path(root).parts:
            continue
        for name in dirs + files:
            if name != ".git":
                shutil.chown(os.path.join(root, name), 65534, 65534)
    shutil.chown(repo, 65534, 65534)
    os.chmod(repo / ".git", 0o777)
    os.chmod(repo / ".git" / "index", 0o666)
    sb.write("repo/NOTES.md", "notes\n")
    shutil.chown(sb.p("repo/NOTES.md"), 65534, 65534)
    sb.write("nobody-gitconfig", "[safe]\n\tdirectory = *\n", mode=0o644)
    env_git = dict(env, GIT_CONFIG_GLOBAL=str(sb.p("nobody-gitconfig")))
    sb.run([*NOBODY, "git", "add", "NOTES.md"], cwd=repo, env=env_git, code=128,
           expect=["insufficient permission", "adding files failed"], visible="vcs-error", tool="git",
           note="git add as nobody in a work tree it owns whose .git/objects is root's (a checkout made by "
                "root, then used by another user): 'insufficient permission for adding an object to repository "
                "database', ... 'fatal: adding files failed'")
    if SYS_PY:
        logs = sb.p("var/log/app")
        logs.mkdir(parents=True)
        os.chmod(sb.p("var"), 0o755)
        os.chmod(sb.p("var/log"), 0o755)
        sb.write("svc.py", f"""
            import logging
            logging.basicConfig(filename="{logs}/worker.log", level=logging.INFO)
            logging.info("worker started")
            """, mode=0o644)
        sb.run([*NOBODY, SYS_PY, sb.p("svc.py")], env=env, code=1, expect=["PermissionError"],
               visible="permission-denied", tool="python3",
               note="a python service as nobody logging into a root-owned /var/log-like dir")


@fresh_scenario("permission-denied", "erofs-toolchain", "gcc", needs=("root", "gcc"))
def _(sb: Sandbox):
    m = sb.tmpfs("ro")
    (m / "out").mkdir()
    sb.remount_ro(m)
    sb.write("main.c", "int main(void) { return 0; }\n")
    sb.run(["gcc", "-o", f"{m}/out/app", "main.c"], code=1, expect=["Read-only file system"], visible="code-error",
           note="gcc linking into a read-only mount: ld's 'cannot open output file ...: Read-only file system', "
                "then 'collect2: error: ld returned 1 exit status'")
    sb.write("pkg/bin/tool", "#!/bin/sh\necho tool\n", mode=0o755)
    sb.setup(["tar", "-czf", "pkg.tgz", "pkg"])
    sb.run(["tar", "-xzf", "pkg.tgz", "-C", f"{m}/out"], code=2, expect=["Read-only file system"],
           visible="unknown", tool="tar",
           note="tar extracting into a read-only mount: 'Cannot mkdir: Read-only file system', then tar's "
                "'Exiting with failure status due to previous errors'")
    sb.run(["python3", "-c", f"import tempfile\nfd, path = tempfile.mkstemp(dir='{m}/out')\nprint(path)"], code=1,
           expect=["Read-only file system"], visible="permission-denied", tool="python3",
           note="python tempfile.mkstemp in a read-only mount: EROFS")
    if have("sqlite3"):
        sb.run(["sqlite3", f"{m}/out/cache.db", "create table t(x);"], code=None,
               expect_re=r"(unable to open database|readonly|Read-only)", visible="unknown", tool="sqlite3",
               note="sqlite3 creating a database on a read-only mount: 'unable to open database file'")


@fresh_scenario("permission-denied", "nobody-metadata-ops", "chmod", needs=("root", "setpriv"))
def _(sb: Sandbox):
    env = nobody_env(sb)
    sb.write("shared/build.sh", "#!/bin/sh\n", mode=0o644)
    os.chmod(sb.p("shared"), 0o777)
    sb.run([*NOBODY, "chmod", "+x", sb.p("shared/build.sh")], env=env, code=1, expect=["Operation not permitted"],
           visible="permission-denied", note="chmod +x as nobody of a root-owned script")
    sb.run([*NOBODY, "touch", "-d", "2026-01-05 10:00", sb.p("shared/build.sh")], env=env, code=1,
           expect_re=r"(Operation not permitted|Permission denied)", visible="permission-denied", tool="touch",
           note="touch -d (setting a fixed mtime for a reproducible build) as nobody on a root-owned file")
    sb.run([*NOBODY, "chgrp", "nogroup", sb.p("shared/build.sh")], env=env, code=1,
           expect=["Operation not permitted"], visible="permission-denied", tool="chgrp",
           note="chgrp as nobody of a root-owned file")
    if have("renice"):
        sb.run([*NOBODY, "sh", "-c", "renice -n -5 -p $$"], env=env, code=1, expect=["Permission denied"],
               visible="permission-denied", tool="renice",
               note="renice -n -5 (raising priority) as nobody")
    if have("ip"):
        sb.run([*NOBODY, "ip", "link", "add", "ci0", "type", "dummy"], env=env, code=2,
               expect=["Operation not permitted"], visible="permission-denied", tool="ip",
               note="ip link add as nobody: 'RTNETLINK answers: Operation not permitted'")


@fresh_scenario("permission-denied", "nobody-readonly-tree", "rm", needs=("root", "setpriv"))
def _(sb: Sandbox):
    env = nobody_env(sb)
    mod = sb.p("gopath/pkg/mod/github.com/acme/retry@v1.2.0")
    for name in ("retry.go", "go.mod", "backoff/backoff.go"):
        sb.write(f"gopath/pkg/mod/github.com/acme/retry@v1.2.0/{name}", "package retry\n")
    for root, dirs, files in os.walk(sb.p("gopath")):
        shutil.chown(root, 65534, 65534)
        for f in files:
            shutil.chown(os.path.join(root, f), 65534, 65534)
            os.chmod(os.path.join(root, f), 0o444)
    for root, dirs, files in os.walk(mod):
        os.chmod(root, 0o555)
    os.chmod(sb.p("gopath"), 0o755)
    sb.run([*NOBODY, "rm", "-rf", sb.p("gopath")], env=env, code=1, expect=["Permission denied"],
           visible="permission-denied",
           note="rm -rf as nobody of a Go module cache (its module dirs are read-only, 0555)")
    sb.run([*NOBODY, "cp", "/etc/hostname", f"{mod}/VERSION"], env=env, code=1, expect=["Permission denied"],
           visible="permission-denied", tool="cp", note="cp as nobody into a read-only (0555) dir it owns")
    if SYS_PY:
        sb.run([*NOBODY, SYS_PY, "-c", f"import shutil\nshutil.rmtree('{sb.p('gopath/pkg')}')"], env=env, code=1,
               expect=["PermissionError"], visible="permission-denied", tool="python3",
               note="python shutil.rmtree as nobody of the read-only module cache")


# -------------------------------------------------------- fresh: port-in-use

def hold_udp_port(sb: Sandbox) -> int:
    port = next_port()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    sb.holders.append(s)
    return port


@fresh_scenario("port-in-use", "udp-bind", "node", needs=("node",))
def _(sb: Sandbox):
    p = hold_udp_port(sb)
    sb.write("statsd.js", f"""
        const dgram = require('dgram');
        const s = dgram.createSocket('udp4');
        s.on('error', (err) => {{ throw err; }});
        s.bind({p}, '127.0.0.1', () => console.log('statsd listening on {p}'));
        """)
    sb.run(["node", "statsd.js"], code=1, expect=["EADDRINUSE"], visible="port-in-use",
           note="node dgram (UDP) bind on a port another process holds (its error handler rethrows)")
    sb.run(["python3", "-c", f"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"print('syslog receiver on udp/{p}', flush=True)\ns.bind(('127.0.0.1', {p}))"], code=1,
           expect=["Address already in use"], visible="port-in-use", tool="python3",
           note="python UDP socket bind on a held port")


@fresh_scenario("port-in-use", "unix-socket-in-use", "python3")
def _(sb: Sandbox):
    path = str(sb.p("run/agent.sock"))
    (sb.p("run")).mkdir()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(4)
    sb.holders.append(s)
    sb.run(["python3", "-c", f"import socket\ns = socket.socket(socket.AF_UNIX)\n"
            f"print('starting build agent', flush=True)\ns.bind('{path}')\ns.listen()"], code=1,
           expect=["Address already in use"], visible="port-in-use",
           note="python binding a unix socket path that another agent is listening on")
    if have("node"):
        sb.run(["node", "-e", f"require('net').createServer().listen('{path}', () => console.log('up'))"], code=1,
               expect=["EADDRINUSE"], visible="port-in-use", tool="node",
               note="node net server listening on a unix socket path in use")


@fresh_scenario("port-in-use", "c-server-bind", "c-program", needs=("gcc",))
def _(sb: Sandbox):
    p = sb.hold_port()
    sb.cc("srv.c", '#include <stdio.h>\n#include <string.h>\n#include <arpa/inet.h>\n#include <sys/socket.h>\n'
          '#include <stdlib.h>\nint main(int argc, char **argv) {\n  int fd = socket(AF_INET, SOCK_STREAM, 0);\n'
          '  struct sockaddr_in a; memset(&a, 0, sizeof a); a.sin_family = AF_INET;\n'
          '  a.sin_port = htons(atoi(argv[1])); a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);\n'
          '  printf("metrics: binding :%s\\n", argv[1]); fflush(stdout);\n'
          '  if (bind(fd, (struct sockaddr *) &a, sizeof a) < 0) { perror("bind"); return 1; }\n'
          '  listen(fd, 8);\n  return 0;\n}\n', "srv")
    sb.run(["./srv", str(p)], code=1, expect=["bind: Address already in use"], visible="port-in-use",
           note="a C server reporting bind() with perror: 'bind: Address already in use'")


@fresh_scenario("port-in-use", "server-in-wrappers", "make", needs=("make",))
def _(sb: Sandbox):
    p = sb.hold_port()
    sb.write("Makefile", f"serve:\n\tpython3 -m http.server {p} --bind 127.0.0.1 --directory site\n")
    (sb.p("site")).mkdir()
    sb.run(["make", "serve"], code=2, expect=["Address already in use", "Error 1"], visible="code-error",
           note="make serve whose python http.server cannot bind a held port; ends in 'make: *** [Makefile:2: "
                "serve] Error 1'")
    if have("node"):
        sb.write("test/api.test.js", f"""
            const test = require('node:test');
            const assert = require('node:assert');
            const http = require('http');

            test('serves /health', async () => {{
              const server = http.createServer((req, res) => res.end('ok'));
              await new Promise((resolve, reject) => {{
                server.once('error', reject);
                server.listen({p}, '127.0.0.1', resolve);
              }});
              server.close();
              assert.ok(true);
            }});
            """)
        sb.run(["node", "--test", "test/"], code=1, expect=["EADDRINUSE"], visible="port-in-use", tool="node",
               note="node --test whose test server cannot listen on a held port: the test fails with "
                    "EADDRINUSE")


# ------------------------------------------------------------ fresh: crashed

@fresh_scenario("crashed", "cpp-terminate-assert", "g++-program", needs=("g++", "gcc"))
def _(sb: Sandbox):
    sb.cc("conf.cpp", '#include <cstdio>\n#include <map>\n#include <stdexcept>\n#include <string>\n'
          'static std::string get(const std::map<std::string, std::string> &m, const std::string &k) {\n'
          '  auto it = m.find(k);\n  if (it == m.end()) throw std::runtime_error("missing key \'" + k + "\' in '
          'config/deploy.yml");\n  return it->second;\n}\n'
          'int main() {\n  std::puts("loading deploy config");\n  std::fflush(stdout);\n'
          '  std::map<std::string, std::string> m{{"image", "app:1.4.2"}};\n'
          '  std::puts(get(m, "port").c_str());\n}\n', "conf", compiler="g++")
    sb.run(["./conf"], sig=6, expect=["terminate called after throwing", "what():"], visible="code-error",
           note="a C++ program with an uncaught std::runtime_error: 'terminate called after throwing ...', "
                "'what(): missing key ...', SIGABRT")
    sb.cc("queue.c", '#include <assert.h>\n#include <stdio.h>\nstruct queue { int len; int items[8]; };\n'
          'static int pop(struct queue *q) {\n  assert(q->len > 0);\n  return q->items[--q->len];\n}\n'
          'int main(void) {\n  struct queue q = { 0 };\n  puts("draining queue"); fflush(stdout);\n'
          '  return pop(&q);\n}\n', "queue")
    sb.run(["./queue"], sig=6, expect=["Assertion `q->len > 0' failed"], visible="code-error", tool="c-program",
           note="a C program whose assert() fails: 'Assertion ... failed.', SIGABRT")
    sb.cc("virt.cpp", '#include <cstdio>\nstruct Base {\n  Base() { init(); }\n  void init() { run(); }\n'
          '  virtual void run() = 0;\n  virtual ~Base() {}\n};\nstruct Job : Base { void run() override {} };\n'
          'int main() {\n  std::puts("scheduling job"); std::fflush(stdout);\n  Job j;\n}\n', "virt",
          compiler="g++")
    sb.run(["./virt"], sig=6, expect=["pure virtual method called"], visible="crashed",
           note="a C++ program calling a pure virtual method from a constructor: 'pure virtual method called', "
                "'terminate called without an active exception', SIGABRT")
    sb.run(sh("echo '==> smoke test'; ./conf"), code=134, expect=["what():", "Aborted"], visible="crashed",
           tool="sh", note="the uncaught exception from a shell script: the shell's 'Aborted', exit 134")


@fresh_scenario("crashed", "interpreter-segfaults", "python3")
def _(sb: Sandbox):
    sb.write("tree_cache.py", """
        import json, sys
        sys.setrecursionlimit(10 ** 7)
        tree = {}
        for i in range(10 ** 6):
            tree = {"child": tree}
        print("writing tree cache", flush=True)
        json.dumps(tree)
        """)
    sb.run(["python3", "-X", "faulthandler", "tree_cache.py"], sig=11,
           expect=["Fatal Python error: Segmentation fault"], visible="crashed",
           note="python with the recursion limit raised to 10**7 serialising a 10**6-deep dict: json's C encoder "
                "overflows the C stack, SIGSEGV (faulthandler on)")
    sb.run(["python3", "-c", "import sys\nsys.setrecursionlimit(10 ** 7)\nl = []\n"
            "for i in range(10 ** 6):\n    l = [l]\nprint('dumping state', flush=True)\ns = repr(l)"], sig=11,
           expect=["dumping state"], visible="unknown",
           note="python repr of a 10**6-deep list with the recursion limit raised: SIGSEGV, no message")
    if have("node"):
        sb.run(["node", "--stack-size=60000", "-e", "function walk(n) { return walk(n + 1) + 1; }\n"
                "console.log('walking dependency graph');\nwalk(0);"], sig=11,
               expect=["walking dependency graph"], visible="unknown", tool="node",
               note="node with --stack-size raised past the real stack: deep recursion overflows it, SIGSEGV")
    if have("perl"):
        sb.run(["perl", "-e", "$| = 1; print \"reading header\\n\"; print unpack('p', pack('J', 8));"], sig=11,
               expect=["reading header"], visible="unknown", tool="perl",
               note="perl unpack 'p' of a bogus pointer: SIGSEGV")


@fresh_scenario("crashed", "trap-bus-and-make", "c-program", needs=("gcc", "make"))
def _(sb: Sandbox):
    sb.cc("trap.c", '#include <stdio.h>\nint main(void) {\n  puts("checking invariants"); fflush(stdout);\n'
          '  __asm__ volatile("int3");\n  return 0;\n}\n', "trap")
    sb.run(["./trap"], sig=5, expect=["checking invariants"], visible="unknown",
           note="a C program hitting a breakpoint instruction (int3, left-in debug code): SIGTRAP")
    sb.run(sh("./trap"), code=133, expect=["Trace/breakpoint trap"], visible="crashed", tool="sh",
           note="the same from sh: 'Trace/breakpoint trap', exit 133")
    sb.run(bash("echo 'packing layer 3/5'; kill -BUS $$"), sig=7, expect=["packing layer"], visible="unknown",
           tool="bash", note="bash sending SIGBUS to itself")
    sb.cc("parse_test.c", '#include <stdio.h>\n#include <string.h>\nstatic size_t field_len(const char *s) '
          '{ return strlen(s); }\nint main(void) {\n  puts("test_parse_header ...");\n  fflush(stdout);\n'
          '  const char *missing = NULL;\n  printf("%zu\\n", field_len(missing));\n  return 0;\n}\n',
          "parse_test", flags=("-O0",))
    sb.write("Makefile", "test: parse_test\n\t./parse_test\n")
    sb.run(["make", "test"], code=2, expect=["Segmentation fault"], visible="crashed", tool="make",
           note="make test whose test binary segfaults: 'make: *** [Makefile:2: test] Segmentation fault'")


@fresh_scenario("crashed", "java-jvm-crash", "java", needs=("java",))
def _(sb: Sandbox):
    sb.write("Native.java", """
        import java.lang.reflect.Field;
        import sun.misc.Unsafe;

        public class Native {
            public static void main(String[] args) throws Exception {
                Field f = Unsafe.class.getDeclaredField("theUnsafe");
                f.setAccessible(true);
                Unsafe u = (Unsafe) f.get(null);
                System.out.println("reading native index");
                System.out.println(u.getLong(0L));
            }
        }
        """)
    sb.run(["java", f"-XX:ErrorFile={sb.p('hs_err_pid%p.log')}", "-XX:-CreateCoredumpOnCrash", "Native.java"],
           code=None, timeout=20, expect=["A fatal error has been detected by the Java Runtime Environment",
                                          "SIGSEGV"], visible="crashed",
           note="java reading address 0 through sun.misc.Unsafe: the JVM's 'A fatal error has been detected' "
                "report (SIGSEGV), hs_err file written")


# ---------------------------------------------------------- fresh: vcs-error

def _diverged(sb: Sandbox, rel: str = "work") -> Path:
    """A clone whose branch and its origin both have a commit the other lacks."""
    sb.git_repo(f"{rel}-seed", {"VERSION": "1.4.1\n", "README.md": "# app\n"}, bare_copy=f"{rel}-origin.git")
    sb.setup(["git", "clone", "-q", str(sb.p(f"{rel}-origin.git")), str(sb.p(rel))])
    sb.setup(["git", "clone", "-q", str(sb.p(f"{rel}-origin.git")), str(sb.p(f"{rel}-other"))])
    sb.write(f"{rel}-other/VERSION", "1.4.2\n")
    sb.git(f"{rel}-other", "commit", "-q", "-am", "release 1.4.2")
    sb.git(f"{rel}-other", "push", "-q", "origin", "main")
    sb.write(f"{rel}/CHANGELOG.md", "local note\n")
    sb.git(rel, "add", "CHANGELOG.md")
    sb.git(rel, "commit", "-q", "-m", "changelog")
    return sb.p(rel)


@fresh_scenario("vcs-error", "git-divergent-branches", "git", needs=("git",))
def _(sb: Sandbox):
    work = _diverged(sb)
    sb.run(["git", "pull", "--ff-only"], cwd=work, code=128, expect=["Not possible to fast-forward"],
           visible="vcs-error", note="git pull --ff-only when local and remote have diverged")
    sb.run(["git", "pull"], cwd=work, code=128, expect=["Need to specify how to reconcile divergent branches"],
           visible="vcs-error", note="git pull with no pull.rebase/pull.ff setting on diverged branches")
    sb.run(["git", "merge", "--ff-only", "origin/main"], cwd=work, code=128, expect=["Not possible to fast-forward"],
           visible="vcs-error", note="git merge --ff-only of a diverged origin/main")
    other = sb.git_repo("unrelated", {"LICENSE": "MIT\n"})
    sb.git(work, "fetch", "-q", str(other), "main:imported")
    sb.run(["git", "merge", "imported"], cwd=work, code=128, expect=["refusing to merge unrelated histories"],
           visible="vcs-error", note="git merge of a branch with an unrelated history")


@fresh_scenario("vcs-error", "git-upstream-missing", "git", needs=("git",))
def _(sb: Sandbox):
    sb.git_repo("seed", {"a.txt": "a\n"}, bare_copy="origin.git")
    sb.setup(["git", "clone", "-q", str(sb.p("origin.git")), str(sb.p("work"))])
    work = sb.p("work")
    sb.git(work, "checkout", "-q", "-b", "feature/retry")
    sb.write("work/retry.txt", "retry\n")
    sb.git(work, "add", "retry.txt")
    sb.git(work, "commit", "-q", "-m", "retry")
    sb.run(["git", "push"], cwd=work, code=128, expect=["has no upstream branch"], visible="vcs-error",
           note="git push of a new branch with no upstream configured")
    sb.run(["git", "pull"], cwd=work, code=1, expect=["There is no tracking information for the current branch"],
           visible="vcs-error", note="git pull on a branch with no tracking information")
    sb.run(["git", "checkout", "--track", "origin/release/2.0"], cwd=work, code=128,
           expect_re=r"(is not a commit|cannot be created|not a valid)", visible="vcs-error",
           note="git checkout --track of a remote branch that does not exist")


@fresh_scenario("vcs-error", "git-ref-conflicts", "git", needs=("git",))
def _(sb: Sandbox):
    repo = sb.git_repo("repo", {"VERSION": "1.4.2\n"}, bare_copy="origin.git")
    sb.git(repo, "remote", "add", "origin", str(sb.p("origin.git")))
    sb.git(repo, "tag", "v1.4.2")
    sb.git(repo, "checkout", "-q", "-b", "feature/cache")
    sb.write("repo/cache.txt", "cache\n")
    sb.git(repo, "add", "cache.txt")
    sb.git(repo, "commit", "-q", "-m", "cache")
    sb.git(repo, "checkout", "-q", "main")
    sb.run(["git", "checkout", "-b", "feature/cache"], cwd=repo, code=128, expect=["already exists"],
           visible="vcs-error", note="git checkout -b of a branch name that already exists")
    sb.run(["git", "tag", "v1.4.2"], cwd=repo, code=128, expect=["already exists"], visible="vcs-error",
           note="git tag of a tag name that already exists")
    sb.run(["git", "branch", "-d", "feature/cache"], cwd=repo, code=1, expect=["not fully merged"],
           visible="vcs-error", note="git branch -d of a branch that is not merged")
    sb.run(["git", "worktree", "add", sb.p("wt"), "main"], cwd=repo, code=128, expect=["already"],
           visible="vcs-error", note="git worktree add of the branch checked out in the main work tree")
    sb.write("repo/Makefile", "release:\n\tgit tag v$$(cat VERSION)\n\tgit push origin v$$(cat VERSION)\n")
    sb.run(["make", "release"], cwd=repo, code=2, expect=["already exists", "Error 128"], visible="code-error",
           tool="make", note="make release whose recipe tags a version that is already tagged; ends in 'make: *** "
                             "[Makefile:2: release] Error 128'")


@fresh_scenario("vcs-error", "git-remote-rejects", "git", needs=("git",))
def _(sb: Sandbox):
    sb.git_repo("seed", {"a.txt": "a\n"}, bare_copy="origin.git")
    sb.write("origin.git/hooks/pre-receive", "#!/bin/sh\necho 'policy: direct pushes to main are not allowed'\n"
             "exit 1\n", mode=0o755)
    sb.setup(["git", "clone", "-q", str(sb.p("origin.git")), str(sb.p("work"))])
    sb.write("work/a.txt", "b\n")
    sb.git("work", "commit", "-q", "-am", "b")
    sb.run(["git", "push", "origin", "main"], cwd=sb.p("work"), code=1, expect=["pre-receive hook declined"],
           visible="vcs-error", note="git push rejected by the remote's pre-receive hook")
    nb = sb.git_repo("deploy-box", {"a.txt": "a\n"})
    sb.setup(["git", "clone", "-q", str(nb), str(sb.p("work2"))])
    sb.write("work2/a.txt", "c\n")
    sb.git("work2", "commit", "-q", "-am", "c")
    sb.run(["git", "push", "origin", "main"], cwd=sb.p("work2"), code=1, expect=["branch is currently checked out"],
           visible="vcs-error", note="git push to the checked-out branch of a non-bare repository")
    os.unlink(sb.p("origin.git/hooks/pre-receive"))
    sb.git(sb.p("origin.git"), "config", "receive.denyDeletes", "true")
    sb.run(["git", "push", "origin", "--delete", "main"], cwd=sb.p("work"), code=1,
           expect=["deletion prohibited"], visible="vcs-error",
           note="git push --delete to a remote with receive.denyDeletes")


@fresh_scenario("vcs-error", "git-submodule-commit", "git", needs=("git",))
def _(sb: Sandbox):
    lib = sb.git_repo("lib", {"lib.c": "int f(void) { return 1; }\n"})
    repo = sb.git_repo("app", {"main.c": "int main(void) { return 0; }\n"})
    env = sb.env({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.file.allow",
                  "GIT_CONFIG_VALUE_0": "always"})
    sb.setup(["git", "submodule", "add", "-q", str(lib), "vendor/lib"], cwd=repo, env=env)
    sb.setup(["git", "commit", "-q", "-m", "add lib"], cwd=repo, env=env)
    sb.write("app/vendor/lib/lib.c", "int f(void) { return 2; }\n")
    sb.setup(["git", "commit", "-q", "-am", "local change, never pushed"], cwd=repo / "vendor" / "lib", env=env)
    sb.setup(["git", "add", "vendor/lib"], cwd=repo, env=env)
    sb.setup(["git", "commit", "-q", "-m", "bump lib"], cwd=repo, env=env)
    sb.setup(["git", "clone", "-q", str(repo), str(sb.p("ci"))], env=env)
    sb.run(["git", "submodule", "update", "--init"], cwd=sb.p("ci"), env=env, code=128,
           expect_re=r"(did not contain|not our ref|upload-pack)", visible="vcs-error",
           note="git submodule update --init where the superproject records a submodule commit that was never "
                "pushed")
    sb.run(["git", "clone", "--recurse-submodules", str(repo), sb.p("ci2")], env=env, code=128,
           expect_re=r"(did not contain|not our ref|upload-pack)", visible="vcs-error",
           note="git clone --recurse-submodules of the same superproject")


@fresh_scenario("vcs-error", "git-patch-apply", "git", needs=("git",))
def _(sb: Sandbox):
    repo = sb.git_repo("repo", {"config.yml": "replicas: 2\nimage: app:1.4.1\n"})
    sb.write("repo/config.yml", "replicas: 3\nimage: app:1.5.0\n")
    sb.git(repo, "commit", "-q", "-am", "bump to 1.5.0")
    sb.setup(["git", "format-patch", "-1", "-o", str(sb.p("patches"))], cwd=repo)
    sb.git(repo, "reset", "-q", "--hard", "HEAD~1")
    sb.write("repo/config.yml", "replicas: 4\nimage: app:1.4.9\n")
    sb.git(repo, "commit", "-q", "-am", "hotfix")
    patch = next(sb.p("patches").glob("*.patch"))
    sb.run(["git", "apply", patch], cwd=repo, code=1, expect=["patch does not apply"], visible="vcs-error",
           note="git apply of a patch whose context has changed")
    sb.run(["git", "am", patch], cwd=repo, code=128, expect=["Patch failed at 0001"], visible="vcs-error",
           note="git am of a patch that does not apply")
    sb.git(repo, "am", "--abort")
    sb.run(["git", "revert", "--no-edit", "HEAD~1"], cwd=repo, code=1, expect=["could not revert"],
           visible="vcs-error", note="git revert of a commit whose lines were changed since: a revert conflict")


@fresh_scenario("vcs-error", "git-stale-locks-shallow", "git", needs=("git",))
def _(sb: Sandbox):
    sb.git_repo("seed", {f"f{i}.txt": f"{i}\n" for i in range(3)}, bare_copy="origin.git")
    for i in range(3):
        sb.write(f"seed/f{i}.txt", f"{i} changed\n")
        sb.git("seed", "commit", "-q", "-am", f"change {i}")
    sb.git("seed", "push", "-q", str(sb.p("origin.git")), "main")
    sb.setup(["git", "clone", "-q", str(sb.p("origin.git")), str(sb.p("full"))])
    sb.write("seed/f0.txt", "again\n")
    sb.git("seed", "commit", "-q", "-am", "again")
    sb.git("seed", "push", "-q", str(sb.p("origin.git")), "main")
    sb.write("full/.git/refs/remotes/origin/main.lock", "")
    sb.run(["git", "fetch", "origin"], cwd=sb.p("full"), code=1, expect=["cannot lock ref"], visible="vcs-error",
           note="git fetch with a stale refs/remotes/origin/main.lock left by a killed fetch")
    sb.setup(["git", "clone", "-q", "--depth", "1", f"file://{sb.p('origin.git')}", str(sb.p("shallow"))])
    sb.write("shallow/.git/shallow.lock", "")
    sb.run(["git", "fetch", "--depth", "3"], cwd=sb.p("shallow"), code=128, expect=["shallow.lock"],
           visible="vcs-error", note="git fetch --depth 3 in a shallow clone with a stale .git/shallow.lock")
    os.unlink(sb.p("shallow/.git/shallow.lock"))
    sb.run(["git", "fetch", "--unshallow"], cwd=sb.p("full"), code=128,
           expect=["--unshallow on a complete repository does not make sense"], visible="vcs-error",
           note="git fetch --unshallow in a complete clone (a CI step assuming a shallow checkout)")


# --------------------------------------------------------- fresh: code-error

@fresh_scenario("code-error", "python-static-checks", "python3")
def _(sb: Sandbox):
    sb.write("src/app/routes.py", "def index(request):\n    return {'status': 'ok'\n\n\ndef health(request):\n"
             "    return 'ok'\n")
    sb.run(["python3", "-m", "py_compile", "src/app/routes.py"], code=1, expect=["SyntaxError"],
           visible="code-error", note="python -m py_compile of a module with an unclosed brace")
    sb.write("src/app/__init__.py", "")
    sb.write("src/app/models.py", "class User:\n    def name(self):\n        return self._name\n")
    sb.run(["python3", "-m", "compileall", "-q", "src"], code=1, expect=["SyntaxError"], visible="code-error",
           note="python -m compileall -q over a tree with one broken module")
    sb.write("src/money.py", '''
        def cents(amount):
            """Convert an amount in euros to cents.

            >>> cents(1.15)
            115
            >>> cents(2)
            200
            """
            return int(amount * 100)
        ''')
    sb.run(["python3", "-m", "doctest", "src/money.py"], code=1, expect=["***Test Failed***"], visible="code-error",
           note="python -m doctest: a float rounding bug (int(1.15 * 100) is 114)")


@fresh_scenario("code-error", "node-module-errors", "node", needs=("node",))
def _(sb: Sandbox):
    sb.write("src/router.js", "function route(path) {\n  switch (path) {\n    case '/': return 'home';\n"
             "    default: return 'notFound'\n  }\n}\n}\nmodule.exports = route;\n")
    sb.run(["node", "--check", "src/router.js"], code=1, expect=["SyntaxError"], visible="code-error",
           note="node --check of a file with a stray closing brace")
    sb.write("web/package.json", json.dumps({"name": "web", "version": "1.0.0", "type": "module"}))
    sb.write("web/src/util.js", "export function formatDay(d) {\n  return d.toISOString().slice(0, 10);\n}\n")
    sb.write("web/src/main.js", "import { formatDate } from './util.js';\nconsole.log(formatDate(new Date()));\n")
    sb.run(["node", "src/main.js"], cwd=sb.p("web"), code=1, expect=["does not provide an export named"],
           visible="code-error",
           note="node ESM import of a name the project's own module does not export (renamed function)")
    sb.write("web/src/cli.js", "const args = process.argv.slice(2);\nconst opts = args.map((a) => a.split('='));\n"
             "opts.forEach(([k, v]) => console.log(k, v.trim()));\n")
    sb.run(["node", "src/cli.js", "--mode=ci", "--verbose"], cwd=sb.p("web"), code=1,
           expect=["TypeError"], visible="code-error",
           note="node: a CLI argument without '=' makes v undefined: 'Cannot read properties of undefined'")


@fresh_scenario("code-error", "shell-strict-mode", "bash")
def _(sb: Sandbox):
    sb.write("ci/deploy.sh", """
        #!/bin/bash
        set -euo pipefail
        echo "deploying build $BUILD_ID"
        target="$DEPLOY_ENV"
        echo "to $target"
        """.replace("\n        ", "\n").lstrip(), mode=0o755)
    sb.run(["ci/deploy.sh"], env=sb.env({"BUILD_ID": "4411"}), code=1, expect=["unbound variable"],
           visible="code-error", note="bash set -u: a variable the script uses is never set ('unbound variable')")
    sb.write("ci/pack.sh", "#!/bin/sh\nset -u\nout=dist/${ARTIFACT_NAME}.tar.gz\necho \"packing $out\"\n", mode=0o755)
    sb.run(["ci/pack.sh"], code=2, expect=["parameter not set"], visible="code-error", tool="sh",
           note="dash set -u: 'ARTIFACT_NAME: parameter not set'")
    if have("curl"):
        sb.write("ci/smoke.sh", "#!/bin/bash\nPORT=8080\necho \"smoke test on port $PROT\"\n"
                 "curl -fsS \"http://127.0.0.1:$PROT/healthz\"\n", mode=0o755)
        sb.run(["ci/smoke.sh"], code=7, expect=["port 80", "Couldn't connect to server"], visible="network",
               tool="curl",
               note="a smoke-test script with a misspelt variable ($PROT): the URL's port is empty, curl falls back "
                    "to port 80 where nothing listens ('Failed to connect ... port 80'); a bug in the script, not "
                    "the network")


@fresh_scenario("code-error", "text-tool-syntax", "awk")
def _(sb: Sandbox):
    sb.write("report.csv", "job,seconds\nbuild,120\ntest,340\n")
    sb.run(["awk", "-F,", "NR > 1 { total += $2 } END { print \"total\", total", "report.csv"], code=2,
           expect=["missing }"], visible="code-error",
           note="an awk program (in a CI step) with a missing closing brace")
    sb.run(["sed", "-e", "s/version = .*/version = 1.4.2", "Cargo.toml"], code=1, expect=["unterminated `s' command"],
           visible="code-error", tool="sed", note="sed with an unterminated s command")
    if have("jq"):
        sb.write("deploy/values.json", '{"image": "app:1.4.2", "replicas": 3}\n')
        sb.run(["jq", "-r", ".image | split(\":\")[1", "deploy/values.json"], code=3, expect=["compile error"],
               visible="code-error", tool="jq", note="a jq filter with an unclosed bracket: 'jq: 1 compile error'")
        sb.write("deploy/prod.json", '{\n  "image": "app:1.4.2",\n  "replicas": 3,\n  "env": {"LOG": "info",}\n}\n')
        sb.run(["jq", ".replicas", "deploy/prod.json"], code=None, expect=["parse error"], visible="code-error",
               tool="jq", note="jq reading the project's own JSON file with a trailing comma")


@fresh_scenario("code-error", "c-warnings-as-errors", "gcc", needs=("gcc", "make"))
def _(sb: Sandbox):
    sb.write("src/log.c", '#include <stdio.h>\nvoid log_job(const char *name, long id) {\n'
             '    printf("job %s id %d\\n", name, id);\n}\n')
    sb.run(["gcc", "-Wall", "-Werror", "-c", "src/log.c", "-o", "log.o"], code=1, expect=["-Werror=format"],
           visible="code-error", note="gcc -Wall -Werror: a printf format that does not match its argument")
    sb.write("src/cfg.c", "int parse_port(const char *s) {\n    if (!s) return -1;\n    int p = atoi(s);\n"
             "    if (p > 0) return p;\n}\n")
    sb.run(["gcc", "-std=gnu11", "-Werror=implicit-function-declaration", "-Werror=return-type", "-c", "src/cfg.c",
            "-o", "cfg.o"], code=1, expect=["implicit declaration of function"], visible="code-error",
           note="gcc with -Werror=implicit-function-declaration and -Werror=return-type (a missing include and "
                "a missing return)")
    for i in range(4):
        sb.write(f"src/mod{i}.c", f"int mod{i}(void) {{ return {i}; }}\n" if i != 1 else
                 "int mod1(void) { return undefined_symbol_count; }\n")
    sb.write("Makefile", "OBJS = mod0.o mod1.o mod2.o mod3.o\nlib.a: $(OBJS)\n\tar rcs $@ $^\n"
             "%.o: src/%.c\n\t@sleep 0.$(subst mod,,$*)\n\t$(CC) -c -o $@ $<\n")
    sb.run(["make", "-j4"], code=2, expect=["undeclared", "Waiting for unfinished jobs"], visible="code-error",
           tool="make",
           note="make -j4 where one object fails to compile: the compiler error, 'make: *** [...] Error 1', then "
                "'make: *** Waiting for unfinished jobs....'")


@fresh_scenario("code-error", "perl-runtime-errors", "perl", needs=("perl",))
def _(sb: Sandbox):
    sb.write("bin/notify.pl", """
        use strict;
        use warnings;
        my %users = (alice => { email => 'alice@example.invalid' });
        my $owner = $users{bob};
        print "notifying ", $owner->email(), "\\n";
        """)
    sb.run(["perl", "bin/notify.pl"], code=255, expect=["Can't call method"], visible="code-error",
           note="perl: calling a method on an undefined value")
    sb.run(["perl", "-e", "my @t = (); my $avg = 0; $avg = 100 / scalar(@t); print $avg"], code=255,
           expect=["Illegal division by zero"], visible="code-error",
           note="perl: 'Illegal division by zero' (an average over no test results)")
    sb.run(["perl", "-e", "use strict; my $cfg = 'replicas'; print join(',', @$cfg)"], code=255,
           expect=["Can't use string"], visible="code-error",
           note="perl under use strict: a string used as an ARRAY ref")


@fresh_scenario("code-error", "cargo-test-panic", "cargo", needs=("cargo",))
def _(sb: Sandbox):
    sb.write("app/Cargo.toml", '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n')
    sb.write("app/src/lib.rs", 'pub fn parse_port(s: &str) -> Option<u16> {\n    s.strip_prefix("port=")?.parse().ok()\n}\n\n'
             '#[cfg(test)]\nmod tests {\n    #[test]\n    fn parses_port() {\n'
             '        assert_eq!(super::parse_port("PORT=8080").unwrap(), 8080);\n    }\n}\n')
    env = sb.env({"CARGO_TARGET_DIR": str(sb.p("target"))})
    sb.run(["cargo", "test", "--offline", "-q"], cwd=sb.p("app"), env=env, code=101, timeout=30,
           expect=["called `Option::unwrap()` on a `None` value"], visible="code-error",
           note="cargo test: a test unwrapping None (the parser is case-sensitive)")
    sb.write("app/src/lib.rs", 'pub struct Job { pub id: u32 }\n\npub fn first(jobs: &[Job]) -> u32 {\n'
             '    jobs.first().map(|j| j.id).unwrap_or_default().to_strin()\n}\n')
    sb.run(["cargo", "build", "--offline"], cwd=sb.p("app"), env=env, code=101, timeout=30, expect=["E0599"],
           visible="code-error", note="cargo build: a misspelt method (E0599 no method named)")


@fresh_scenario("code-error", "swallowed-exceptions", "python3")
def _(sb: Sandbox):
    sb.write("app/db.py", """
        import sqlite3
        import sys


        class Store:
            def __init__(self, path):
                self.path = path
                self.conn = None

            def open(self):
                sqlite3.connect(self.path)  # bug: the connection is never kept

            def count_jobs(self):
                return self.conn.cursor().execute("select count(*) from jobs").fetchone()[0]


        store = Store("jobs.db")
        try:
            store.open()
            print(store.count_jobs())
        except Exception as e:
            print(f"ERROR: could not connect to the database: {e}", file=sys.stderr)
            sys.exit(1)
        """)
    sb.run(["python3", "app/db.py"], code=1, expect=["could not connect to the database", "NoneType"],
           visible="network",
           note="a broad except turns an AttributeError (the code drops its connection) into 'ERROR: could not "
                "connect to the database: ...'")
    sb.write("app/upload.js", """
        async function upload(files) {
          for (const f of files) {
            if (f.size > limit) throw new Error(`upload failed: ${f.name} exceeds the size limit`);
          }
        }
        upload([{ name: 'app.tgz', size: 10 }]).catch((e) => {
          console.error('Upload to artifact storage failed, giving up:', e.message);
          process.exit(1);
        });
        """)
    if have("node"):
        sb.run(["node", "app/upload.js"], code=1, expect=["limit is not defined"], visible="unknown", tool="node",
               note="a node uploader whose catch-all prints 'Upload to artifact storage failed, giving up: limit is "
                    "not defined' (a ReferenceError in its own code)")


# ------------------------------------------------------------ fresh: unknown

@fresh_scenario("unknown", "silent-checks", "expr")
def _(sb: Sandbox):
    sb.run(sh("echo 'counting pending migrations'; expr $(ls migrations 2>/dev/null | wc -l) + 0"), code=1,
           expect=["0"], visible="unknown", tool="expr",
           note="expr printing 0 and exiting 1 (expr's status is 1 when the result is 0): no error shown")
    sb.write("dist/app.js", "")
    sb.run(sh("test -s dist/app.js"), code=1, visible="unknown", tool="test",
           note="test -s of an empty bundle: exit 1, nothing printed")
    sb.write("Makefile", "all: out.txt\nout.txt: in.txt\n\tcp in.txt out.txt\n")
    sb.write("in.txt", "x\n")
    sb.run(["make", "-q"], code=1, visible="unknown", tool="make",
           note="make -q (is everything up to date?) answering no: exit 1, nothing printed")
    sb.write("golden/report.txt", "total: 3\n")
    sb.write("out/report.txt", "total: 4\n")
    sb.run(["cmp", "golden/report.txt", "out/report.txt"], code=1, expect=["differ"], visible="unknown", tool="cmp",
           note="cmp of a golden file and the output: 'differ: byte 8, line 1', exit 1")


@fresh_scenario("unknown", "opaque-wrappers", "node", needs=("node",))
def _(sb: Sandbox):
    sb.write("scripts/build.js", """
        console.log('> building 3 packages');
        const ok = [true, true, false];
        if (ok.includes(false)) {
          console.error('Build failed. See the log above for details.');
          process.exit(1);
        }
        """)
    sb.run(["node", "scripts/build.js"], code=1, expect=["Build failed"], visible="unknown",
           note="a build script printing 'Build failed. See the log above for details.' with no log above")
    sb.run(bash("echo '[3/4] verifying'; echo 'FAILURE'; exit 2"), code=2, expect=["FAILURE"], visible="unknown",
           tool="bash", note="a script printing only 'FAILURE'")
    sb.run(["python3", "-c", "import logging, sys\nlogging.basicConfig()\nlogging.critical('job 4411 failed')\n"
            "sys.exit(1)"], code=1, expect=["CRITICAL:root:job 4411 failed"], visible="unknown", tool="python3",
           note="a python job logging only 'CRITICAL:root:job 4411 failed'")


@fresh_scenario("unknown", "bad-invocation", "curl")
def _(sb: Sandbox):
    if have("curl"):
        sb.run(["curl", "-fsS"], code=2, expect=["no URL specified"], visible="unknown",
               note="curl with no URL (a variable expanded to nothing): usage error, exit 2")
    sb.run(["python3", "-Z", "build.py"], code=2, expect=["nknown option"], visible="unknown", tool="python3",
           note="python3 with an unknown option: usage, exit 2")
    if have("node"):
        sb.run(["node", "--experimental-frobnicate", "index.js"], code=9, expect=["bad option"], visible="unknown",
               tool="node", note="node with an unknown option: 'node: bad option', exit 9")
    if have("git"):
        sb.git_repo("repo", {"a.txt": "a\n"})
        sb.run(["git", "log", "--frobnicate"], cwd=sb.p("repo"), code=128, expect=["unrecognized argument"],
               visible="vcs-error", tool="git",
               note="git log with an option that does not exist: 'fatal: unrecognized argument' (a usage error "
                    "that reads like a git failure)")


# -------------------------------------------- fresh: GitHub runner (doubles)
# The same kind of double as above, printing other documented lines: the
# session-creation path where the server does not know the runner any more
# (MessageListener.cs: 'The runner no longer exists on the server. Please
# reconfigure the runner.', then 'Failed to create session. {message}', exit 1
# = TerminatedError), the service wrapper's lines, and 'Runner reconnected.'.

RUNNER_NOT_FOUND = "The runner no longer exists on the server. Please reconfigure the runner."


def service_double(sb: Sandbox, listener_cmd: list[str]) -> list[str]:
    """A bin/RunnerService.js double (node): the service wrapper's lines for
    the listener's exit code (code 1 and 0 stop the service), as in
    src/Misc/layoutbin/RunnerService.js."""
    sb.write("actions-runner/bin/RunnerService.js", f"""
        // runner double: the service wrapper's documented lines
        const childProcess = require('child_process');
        console.log('Starting Runner listener with startup type: service');
        const listener = childProcess.spawn({json.dumps(listener_cmd[0])}, ['run', '--startuptype', 'service']);
        console.log(`Started listener process, pid: ${{listener.pid}}`);
        listener.stdout.on('data', (d) => process.stdout.write(d.toString('utf8')));
        listener.stderr.on('data', (d) => process.stdout.write(d.toString('utf8')));
        listener.on('close', (code) => {{
          console.log(`Runner listener exited with error code ${{code}}`);
          if (code === 0) console.log('Runner listener exit with 0 return code, stop the service, no retry needed.');
          else if (code === 1) console.log('Runner listener exit with terminated error, stop the service, no retry needed.');
        }});
        console.log('Started running service');
        """)
    return ["node", str(sb.p("actions-runner/bin/RunnerService.js"))]


@fresh_scenario("registration-removed", "runner-not-found-session", "runner-double", runner_kind="github")
def _(sb: Sandbox):
    lines = ["", RUNNER_NOT_FOUND, "Failed to create session. Runner with id 14 was not found in pool 1."]
    sb.run(runner_double(sb, lines, 1), code=1, expect=["Please reconfigure the runner"],
           visible="registration-removed",
           note="double: at session creation the server no longer knows the runner (TaskAgentNotFoundException): "
                "'Please reconfigure the runner.', then 'Failed to create session. ...' (a typical message), exit 1")
    sb.run(runner_double(sb, lines, 1, via_run_sh=True), code=0,
           expect=["Please reconfigure the runner", "Exiting runner..."], visible="registration-removed",
           note="double through run.sh: the same, the helper's 'terminated error' line, run.sh exits 0")
    if have("node"):
        cmd = runner_double(sb, lines, 1)
        sb.run(service_double(sb, cmd), code=0, tool="runner-double",
               expect=["Please reconfigure the runner", "Runner listener exited with error code 1"],
               visible="registration-removed",
               note="double in service mode (RunnerService.js): its start lines, the listener's lines, 'Runner "
                    "listener exited with error code 1' and the 'stop the service' line; the service exits 0")


@fresh_scenario("runner-offline", "listener-reconnect-cycle", "runner-double", runner_kind="github")
def _(sb: Sandbox):
    lines = connected_lines() + [
        "2026-01-05 10:20:11Z: Runner connect error: The HTTP request timed out after 00:01:40. "
        "Retrying until reconnected.",
        "2026-01-05 10:21:03Z: Runner reconnected.",
    ] + job_lines(t1="2026-01-05 10:24:40Z", t2="2026-01-05 10:27:02Z") + [
        "2026-01-05 10:41:57Z: Runner connect error: Connection reset by peer "
        "(broker.actions.githubusercontent.com:443). Retrying until reconnected.",
    ]
    sb.run(runner_double(sb, lines, None), kill_after=1.0, sig=15, expect=["Runner reconnected.",
                                                                            "Runner connect error"],
           visible="runner-offline",
           note="double: the listener lost GitHub, reconnected, ran a job, then lost it again; it keeps retrying "
                "and was stopped by its supervisor (SIGTERM)")
    lines = connected_lines() + ["2026-01-05 10:12:40Z: Running job: deploy (prod)",
                                 "2026-01-05 10:13:55Z: Runner connect error: No route to host "
                                 "(broker.actions.githubusercontent.com:443). Retrying until reconnected."]
    sb.run(runner_double(sb, lines, None), kill_after=1.0, sig=15, expect=["Runner connect error"],
           visible="runner-offline",
           note="double: the listener lost GitHub while a job was running (no 'completed' line); it keeps "
                "retrying and was stopped by its supervisor (SIGTERM)")


# ---- end of the fresh blind set


# ==========================================================================
# EXTRA TRAINING SET
# ==========================================================================
# Scenarios added later to widen the training data: more tools and more
# wordings for every label.  Every case of these gets split "train" whatever
# the held-out rule would say, and the rule does not see them, so they change
# no train/held-out/fresh membership of the cases above.  They run after all
# the scenarios above, so the ports and files of those do not change.


def extra_scenario(label, name, tool, needs=(), runner_kind="command"):
    """A scenario of the extra training set: its cases are always split
    "train", and the held-out rule does not see them."""
    deco = scenario(label, name, tool, needs, runner_kind)

    def wrap(fn):
        deco(fn)
        SCENARIOS[-1].extra = True
        return fn
    return wrap


def c_header_missing(*names):
    for n in names:
        r = subprocess.run(["cc", "-E", "-x", "c", "-"], input=f"#include <{n}>\n".encode(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            return n
    raise Skip("all candidate headers are installed")


def node_module_missing(*names):
    for n in names:
        r = subprocess.run(["node", "-e", f"require.resolve({json.dumps(n)})"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, cwd="/tmp")
        if r.returncode != 0:
            return n
    raise Skip("all candidate node modules are installed")


# ---------------------------------------------------------- extra: disk-full

@extra_scenario("disk-full", "extra-writers-tmpfs", "python3")
def _(sb: Sandbox):
    for i in range(12):
        sb.randfile(f"assets/img{i:02d}.bin", 256 << 10, seed=300 + i)
    m = sb.tmpfs("out")
    sb.run(["python3", "-c", f"import shutil; shutil.copytree('assets', '{m}/assets')"], code=1,
           expect=["No space left on device"], visible="disk-full",
           note="python shutil.copytree of 3 MiB of assets into a 2 MiB tmpfs")
    shutil.rmtree(m / "assets", ignore_errors=True)
    if have("node"):
        sb.run(["node", "-e", f"require('fs').writeFileSync('{m}/bundle.js', Buffer.alloc(3 << 20, 97));"
                "console.log('bundle written')"], code=1, expect=["ENOSPC"], visible="disk-full", tool="node",
               note="node fs.writeFileSync of a 3 MiB bundle into a 2 MiB tmpfs")
        (m / "bundle.js").unlink(missing_ok=True)
    sb.run(["tar", "-czf", f"{m}/assets.tar.gz", "assets"], expect_re=r"No space left|Wrote only",
           visible="unknown", tool="tar",
           note="tar -czf of 3 MiB of random data onto a 2 MiB tmpfs; tar ends with 'Error is not recoverable' "
                "/ 'Exiting with failure status'")
    (m / "assets.tar.gz").unlink(missing_ok=True)
    if have("zip"):
        sb.run(["zip", "-q", "-r", f"{m}/assets.zip", "assets"], expect_re=r"No space left|[Dd]isk full|I/O error",
               visible="disk-full", tool="zip", note="zip -r of 3 MiB of assets onto a 2 MiB tmpfs")
        for f in m.glob("*"):
            f.unlink()
    if have("sqlite3"):
        db = sb.p("app.db")
        con = sqlite3.connect(db)
        con.execute("create table blobs(id integer primary key, data blob)")
        for i in range(24):
            con.execute("insert into blobs(data) values (?)", (random.Random(i).randbytes(128 << 10),))
        con.commit()
        con.close()
        sb.run(["sqlite3", db, f".backup {m}/app-backup.db"], expect_re=r"disk is full|No space left|disk I/O",
               visible="disk-full", tool="sqlite3",
               note="sqlite3 .backup of a 3 MiB database onto a 2 MiB tmpfs")
        for f in m.glob("*"):
            f.unlink()
    sb.run(["dd", "if=/dev/urandom", f"of={m}/cache.img", "bs=1M", "count=3", "iflag=fullblock", "status=progress"],
           expect=["No space left on device"], visible="disk-full", tool="dd",
           note="dd with status=progress filling a 2 MiB tmpfs")


@extra_scenario("disk-full", "extra-build-outputs-tmpfs", "make", needs=("make", "gcc", "git"))
def _(sb: Sandbox):
    sb.write("src/big.c", "static const unsigned char blob[3 << 20] = {1};\n"
             "const unsigned char *get_blob(void) { return blob; }\n")
    sb.write("src/main.c", "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n")
    m = sb.tmpfs("build")
    sb.write("Makefile", f"OUT := {m}\nall: $(OUT)/main.o $(OUT)/big.o\n"
             "$(OUT)/%.o: src/%.c\n\t$(CC) -c -o $@ $<\n")
    sb.run(["make"], expect=["No space left on device"], visible="code-error",
           note="make compiling objects into a 2 MiB tmpfs: the assembler cannot write big.o; the last line "
                "is make's '*** ... Error 1'")
    for f in m.glob("*"):
        f.unlink()
    repo = sb.git_repo("upstream", {"README.md": "# up\n"})
    sb.randfile("upstream/vendor/sdk.tar", 3 << 20, seed=41)
    sb.git(repo, "add", "-A")
    sb.git(repo, "commit", "-q", "-m", "vendor sdk")
    sb.run(["git", "clone", "--depth", "1", f"file://{repo}", f"{m}/checkout"],
           expect=["No space left on device"], visible="vcs-error", tool="git",
           note="git clone --depth 1 of a repo with a 3 MiB file into a 2 MiB tmpfs; git ends with "
                "'fatal: ...' lines")
    shutil.rmtree(m / "checkout", ignore_errors=True)
    sb.run(bash(f"""
        set -e
        echo "==> packaging release"
        cp -r upstream/vendor {m}/pkg || {{ echo "ERROR: packaging step failed" >&2; exit 1; }}
        """), code=1, expect=["No space left on device"], visible="code-error", tool="bash",
           note="a release script whose cp hits ENOSPC on a 2 MiB tmpfs and then prints its own "
                "'ERROR: packaging step failed'")


# ---------------------------------------------------- extra: missing-command

@extra_scenario("missing-command", "extra-required-tool-checks", "sh")
def _(sb: Sandbox):
    jq = first_missing(["yq", "helm", "kubectl", "terraform"])
    sb.run(sh(f"""
        command -v {jq} >/dev/null 2>&1 || {{ echo "{jq} is required but it's not installed. Aborting." >&2; exit 1; }}
        {jq} --version
        """), code=1, expect=["is required"], visible="missing-command",
           note="a 'command -v X || ...' check printing 'X is required but it's not installed'")
    tool = first_missing(["shellcheck", "hadolint", "actionlint"])
    sb.run(bash(f"""
        if ! hash {tool} 2>/dev/null; then
          echo "Please install {tool} (https://example.invalid/{tool}) and re-run this script."
          exit 2
        fi
        """), code=2, expect=["Please install"], visible="missing-command", tool="bash",
           note="a 'hash X' check printing 'Please install X'")
    sb.run(bash(f"type {tool}"), code=1, expect=["not found"], visible="missing-command", tool="bash",
           note="bash 'type' of a tool that is not installed")
    sb.run(["which", tool], code=1, visible="unknown", tool="which",
           note="which of a tool that is not installed: exit 1, no output")
    sb.run(sh(f"set -e\necho 'linting shell scripts...'\n{tool} -x scripts/*.sh\necho ok"), code=127,
           expect=["not found"], visible="missing-command",
           note="sh running a linter that is not installed (127)")


@extra_scenario("missing-command", "extra-spawn-missing", "python3")
def _(sb: Sandbox):
    tool = first_missing(["protoc", "buf", "flatc", "thrift"])
    sb.run(["python3", "-c", f"import os\nprint('generating stubs')\nos.execvp('{tool}', ['{tool}', '--version'])"],
           code=1, expect=["FileNotFoundError"], visible="missing-command",
           note="python os.execvp of a program that is not installed")
    if have("perl"):
        sb.run(["perl", "-w", "-e", f"system('{tool}', '--python_out=gen', 'api.proto') == 0 "
                f"or die \"code generation failed: exit status $?\\n\";"], code=(2, 255),
               expect=["Can't exec"], visible="code-error", tool="perl",
               note="perl system() of a missing program: 'Can't exec ...: No such file or directory', then "
                    "the script's own 'code generation failed'")
    if have("node"):
        sb.run(["node", "-e", f"require('child_process').execFileSync('{tool}', ['--version'], "
                "{stdio: 'inherit'})"], code=1, expect=["ENOENT"], visible="missing-command", tool="node",
               note="node execFileSync of a missing program (spawnSync ENOENT)")
    sb.run(sh(f"echo 'starting codegen'; exec {tool} -I. api.proto"), code=127, expect=["not found"],
           visible="missing-command", tool="sh", note="sh exec of a missing program")
    sb.run(["env", "GOFLAGS=-mod=mod", tool, "--version"], code=127, expect=["No such file or directory"],
           visible="missing-command", tool="env", note="env running a missing program")


@extra_scenario("missing-command", "extra-build-tool-missing", "make", needs=("make",))
def _(sb: Sandbox):
    tool = first_missing(["protoc", "buf", "flatc", "thrift"])
    sb.write("Makefile", f"gen:\n\t{tool} --cpp_out=gen api.proto\n")
    sb.run(["make", "gen"], code=2, expect=["Error 127"], visible="code-error",
           note="a make recipe running a missing program; the last line is make's '*** ... Error 127'")
    fmt = first_missing(["clang-format", "black", "prettier", "rustfmt-nightly"])
    sb.write("src/a.c", "int a;\n")
    sb.write("src/b.c", "int b;\n")
    sb.run(sh(f"ls src/*.c | xargs {fmt} -i"), code=127, expect=["No such file or directory"],
           visible="missing-command", tool="xargs", note="xargs running a formatter that is not installed")
    if have("npm"):
        lint = first_missing(["eslint", "tsc", "vitest", "jest"])
        sb.write("web/package.json", json.dumps({"name": "web", "version": "1.0.0", "private": True,
                                                 "scripts": {"lint": f"{lint} ."}}))
        sb.run(["npm", "run", "lint"], cwd=sb.p("web"), code=127, expect=["not found"], visible="code-error",
               tool="npm", note="npm run of a script whose binary is not installed (no node_modules): "
                                "npm's 'command failed' lines come last")


# ----------------------------------------------------- extra: missing-module

@extra_scenario("missing-module", "extra-python-imports", "python3")
def _(sb: Sandbox):
    mod = missing_py_module("yaml", "toml", "requests", "jinja2", "click")
    sb.write("deploy.py", f"import os\nimport sys\nimport {mod}\n\nprint('deploying')\n")
    sb.run(["python3", "deploy.py"], code=1, expect=["ModuleNotFoundError"], visible="missing-module",
           note=f"python script importing {mod}, not installed")
    mod2 = missing_py_module("requests", "httpx", "urllib3", "aiohttp")
    sb.run(["python3", "-c", f"from {mod2}.adapters import HTTPAdapter"], code=1,
           expect=["No module named"], visible="missing-module",
           note="python 'from x.y import Z' with x not installed")
    sb.run(["python3", "-m", missing_py_module("pytest", "nose2", "tox", "coverage"), "tests/"], code=1,
           expect=["No module named"], visible="missing-module", note="python -m of a test runner that is not installed")
    sb.write("tests/test_api.py", f"import unittest\nimport {mod}\n\nclass T(unittest.TestCase):\n"
             "    def test_ok(self):\n        self.assertTrue(True)\n")
    sb.write("tests/__init__.py", "")
    sb.run(["python3", "-m", "unittest", "-v", "tests.test_api"], code=1, expect=["No module named"],
           visible="code-error",
           note="unittest loading a test module whose import fails: the last line is 'FAILED (errors=1)'")


@extra_scenario("missing-module", "extra-node-imports", "node", needs=("node",))
def _(sb: Sandbox):
    m1 = node_module_missing(*NODE_MODULES)
    sb.write("app/server.js", f"const lib = require('{m1}');\nconsole.log('starting');\n")
    sb.run(["node", "server.js"], cwd=sb.p("app"), code=1, expect=["Cannot find module"], visible="missing-module",
           note=f"node require('{m1}') without node_modules")
    sb.write("app/main.mjs", f"import x from '{m1}';\nconsole.log(x);\n")
    sb.run(["node", "main.mjs"], cwd=sb.p("app"), code=1, expect=["ERR_MODULE_NOT_FOUND"],
           visible="missing-module", note="node ESM 'import x from' a package that is not installed")
    sb.write("app/index.js", "const util = require('./lib/format');\nconsole.log(util);\n")
    sb.run(["node", "index.js"], cwd=sb.p("app"), code=1, expect=["Cannot find module"], visible="missing-module",
           note="node require of a relative module that is not there (a generated file not built)")


@extra_scenario("missing-module", "extra-native-deps", "gcc", needs=("gcc",))
def _(sb: Sandbox):
    h = c_header_missing("hiredis/hiredis.h", "yaml.h", "sodium.h", "uv.h", "gmp.h", "libpq-fe.h")
    sb.write("src/cache.c", f"#include <stdio.h>\n#include <{h}>\nint main(void) {{ return 0; }}\n")
    sb.run(["cc", "-c", "src/cache.c", "-o", "cache.o"], code=1, expect=["No such file or directory"],
           visible="missing-module", tool="cc", note=f"cc of a file including <{h}>, not installed")
    sb.write("Makefile", "cache: src/cache.c\n\t$(CC) -O2 -o $@ $<\n")
    if have("make"):
        sb.run(["make"], code=2, expect=["No such file or directory"], visible="code-error", tool="make",
               note="make compiling the same file: make's 'Error 1' comes last")
    if have("g++"):
        hpp = c_header_missing("boost/asio.hpp", "fmt/core.h", "nlohmann/json.hpp", "gtest/gtest.h")
        sb.write("src/net.cpp", f"#include <{hpp}>\nint main() {{ return 0; }}\n")
        sb.run(["g++", "-std=c++17", "-c", "src/net.cpp"], code=1, expect=["No such file or directory"],
               visible="missing-module", tool="g++", note=f"g++ of a file including <{hpp}>, not installed")
    sb.write("src/ok.c", "int main(void) { return 0; }\n")
    lib = None
    for cand in ("hiredis", "yaml", "sodium", "uv", "gmp", "pq", "snappy"):
        r = subprocess.run(["gcc", "-o", "/dev/null", str(sb.p("src/ok.c")), f"-l{cand}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            lib = cand
            break
    if lib:
        sb.run(["gcc", "-o", "app", "src/ok.c", f"-l{lib}"], code=1, expect=["cannot find"],
               visible="code-error", note="ld cannot find a library; the last line is 'collect2: error: ld "
                                           "returned 1 exit status'")
    if have("pkg-config"):
        pc = next((n for n in ("libsystemd", "libsecret-1", "gtk+-3.0", "libnotify")
                   if subprocess.run(["pkg-config", "--exists", n]).returncode != 0), None)
        if pc:
            sb.run(sh(f"pkg-config --exists {pc} || {{ echo \"error: {pc} development files not found; "
                      f"install the {pc}-dev package\" >&2; exit 1; }}"), code=1, expect=["not found"],
                   visible="missing-module", tool="pkg-config",
                   note="a configure-like check: pkg-config --exists fails quietly, the script names the package")
    if have("perl"):
        sb.run(["perl", "-e", "use YAML::XS qw(LoadFile); print 1"], code=2, expect=["Can't locate"],
               visible="missing-module", tool="perl", note="perl using a module that is not installed")


# ------------------------------------------------------------ extra: network

@extra_scenario("network", "extra-refused-clients", "curl")
def _(sb: Sandbox):
    p = sb.closed_port()
    if have("curl"):
        sb.run(["curl", "-fsS", f"http://127.0.0.1:{p}/api/v1/artifacts"], code=7, expect=["Failed to connect"],
               visible="network", tool="curl", note="curl -fsS to a closed loopback port")
    if have("wget"):
        sb.run(["wget", "-q", "--tries=1", f"http://127.0.0.1:{p}/dist/app.tar.gz"], code=4, visible="unknown",
               tool="wget", note="wget -q to a closed port: exit 4 (network failure), no output")
    if have("git"):
        sb.run(["git", "ls-remote", f"http://127.0.0.1:{p}/org/repo.git"], code=128,
               expect=["Failed to connect"], visible="network", tool="git",
               note="git ls-remote over http to a closed port")
    sb.run(["python3", "-c", f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{p}/health', "
            "timeout=5)"], code=1, expect=["Connection refused"], visible="network", tool="python3",
           note="python urllib to a closed port (URLError)")
    if have("node"):
        sb.run(["node", "-e", f"require('http').get('http://127.0.0.1:{p}/', r => console.log(r.statusCode))"],
               code=1, expect=["ECONNREFUSED"], visible="network", tool="node",
               note="node http.get to a closed port")
    if have("psql"):
        sb.run(["psql", "-h", "127.0.0.1", "-p", str(p), "-U", "ci", "-c", "select 1"], code=2,
               expect=["Connection refused"], visible="network", tool="psql", note="psql to a closed port")
    sb.run(["python3", "-m", "pip", "install", "--index-url", f"http://127.0.0.1:{p}/simple/",
            "--retries", "0", "--timeout", "2", "--target", sb.p("lib"), "leftpad-ng"], code=1,
           expect=["No matching distribution"], visible="missing-module", tool="pip",
           note="pip against a closed index port: retries warn 'Connection refused', then 'No matching "
                "distribution found'")
    sb.write("wait.sh", f"""
        for i in 1 2 3; do
          if python3 -c "import socket; socket.create_connection(('127.0.0.1', {p}), 1)" 2>/dev/null; then exit 0; fi
          echo "database not reachable on 127.0.0.1:{p} (attempt $i)"
          sleep 0.2
        done
        echo "giving up"
        exit 1
        """)
    sb.run(["sh", "wait.sh"], code=1, expect=["not reachable"], visible="network", tool="sh",
           note="a wait-for-db script giving up after three refused connections")


@extra_scenario("network", "extra-http-5xx", "curl")
def _(sb: Sandbox):
    p502 = sb.dir_server("srv502", status=502)
    p503 = sb.dir_server("srv503", status=503)
    if have("curl"):
        sb.run(["curl", "-fsSL", "-o", "pkg.tgz", f"http://127.0.0.1:{p503}/releases/pkg.tgz"], code=22,
               expect=["503"], visible="network", tool="curl", note="curl -f against a server answering 503")
    if have("wget"):
        sb.run(["wget", "--tries=1", f"http://127.0.0.1:{p502}/releases/pkg.tgz"], code=8,
               expect=["502"], visible="network", tool="wget", note="wget against a server answering 502")
    sb.run(["python3", "-c", f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{p503}/v2/')"],
           code=1, expect=["HTTP Error 503"], visible="network", tool="python3",
           note="python urllib against a 503 (HTTPError)")
    if have("git"):
        sb.run(["git", "clone", f"http://127.0.0.1:{p502}/org/app.git", "app"], code=128,
               expect=["502"], visible="network", tool="git", note="git clone over http against a 502")
    if have("npm"):
        sb.write("proj/package.json", json.dumps({"name": "proj", "version": "1.0.0", "private": True}))
        sb.run(["npm", "install", "--no-save", "left-pad"], cwd=sb.p("proj"), code=1, expect=["503"],
               env=sb.env({"npm_config_registry": f"http://127.0.0.1:{p503}/", "npm_config_fetch_retries": "0"}),
               visible="network", tool="npm", timeout=20, note="npm install against a registry answering 503")


@extra_scenario("network", "extra-dns-reset", "curl")
def _(sb: Sandbox):
    pr = sb.tcp_server("reset")
    if have("curl"):
        sb.run(["curl", "-sS", f"http://127.0.0.1:{pr}/metrics"], code=56, expect=["reset"],
               visible="network", tool="curl", note="curl to a server that resets the connection")
    sb.run(["python3", "-c", f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{pr}/')"],
           code=1, expect=["Connection reset by peer"], visible="network", tool="python3",
           note="python urllib to a server that resets")
    pe = sb.tcp_server("eof")
    sb.run(["python3", "-c", f"import http.client\nc = http.client.HTTPConnection('127.0.0.1', {pe})\n"
            "c.request('GET', '/')\nc.getresponse()"], code=1, expect=["RemoteDisconnected"],
           visible="network", tool="python3", note="python http.client: the server closed without a response")
    if not dns_fails_fast("cache.example.invalid"):
        return
    if have("curl"):
        sb.run(["curl", "-sS", "https://cache.example.invalid/v1/blobs"], code=6, expect=["Could not resolve host"],
               visible="network", tool="curl", note="curl to a name under .invalid")
    if have("getent"):
        sb.run(["getent", "hosts", "registry.example.invalid"], code=2, visible="unknown", tool="getent",
               note="getent hosts of a name that does not resolve: exit 2, no output")
    sb.run(["python3", "-c", "import socket\nsocket.create_connection(('db.example.invalid', 5432), 2)"], code=1,
           expect=["gaierror"], visible="network", tool="python3", note="python connect to a name under .invalid")
    if have("git"):
        sb.run(["git", "ls-remote", "https://git.example.invalid/org/repo.git"], code=128,
               expect=["Could not resolve host"], visible="network", tool="git", note="git ls-remote to .invalid")


# ------------------------------------------------------ extra: out-of-memory

@extra_scenario("out-of-memory", "extra-cgroup-oom-tools", "xz", needs=("root",))
def _(sb: Sandbox):
    sb.randfile("data.bin", 1 << 20, seed=5)
    if have("xz"):
        sb.run(["xz", "-9e", "-T1", "-k", "-M", "0", "data.bin"], memlimit=48, sig=9, visible="unknown", tool="xz",
               note="xz -9e (needs ~670 MiB) in a 48 MiB memory cgroup: SIGKILL, no output")
    sb.write("gen.py", ALLOC_PY)
    if have("make"):
        sb.write("Makefile", "data:\n\tpython3 gen.py > data.txt\n")
        sb.run(["make", "data"], memlimit=64, code=2, expect=["Error 137"], visible="code-error", tool="make",
               note="make recipe running python in a 64 MiB cgroup: the OOM kill shows as make's "
                    "'Killed' / '*** ... Error 137'")
    sb.write("tests/test_load.py", "import unittest, subprocess, sys\n\nclass T(unittest.TestCase):\n"
             "    def test_load(self):\n        subprocess.run([sys.executable, 'gen.py'], check=True)\n")
    sb.run(["python3", "-m", "unittest", "tests/test_load.py"], memlimit=64, code=1, expect=["SIGKILL"],
           visible="code-error", tool="python3",
           note="a unittest whose child python is OOM-killed in a 64 MiB cgroup: CalledProcessError "
                "'died with <Signals.SIGKILL: 9>' and 'FAILED (errors=1)'")
    if have("node"):
        sb.run(["node", "-e", "const a=[]; for(let i=0;i<200;i++){a.push(Buffer.alloc(8<<20,1));}"],
               memlimit=64, sig=9, visible="unknown", tool="node",
               note="node allocating buffers in a 64 MiB cgroup: SIGKILL, no output")


@extra_scenario("out-of-memory", "extra-ulimit-v", "python3")
def _(sb: Sandbox):
    sb.write("tests/test_matrix.py", """
        import unittest

        class MatrixTest(unittest.TestCase):
            def test_big_matrix(self):
                rows = [bytearray(64 << 20) for _ in range(16)]
                self.assertEqual(len(rows), 16)
        """)
    sb.run(sh("ulimit -v 400000; exec python3 -m unittest tests/test_matrix.py"), code=1, expect=["MemoryError"],
           visible="code-error", tool="python3",
           note="a unittest that hits MemoryError under ulimit -v: the last line is 'FAILED (errors=1)'")
    sb.run(sh("ulimit -v 300000; exec python3 -c \"data = 'x' * (1 << 30)\""), code=1, expect=["MemoryError"],
           visible="out-of-memory", tool="python3", note="python building a 1 GiB string under ulimit -v")
    if have("g++"):
        sb.write("big.cpp", "#include <vector>\n#include <cstdio>\nint main(){ std::vector<char> v; "
                 "for(int i=0;i<64;i++) v.resize(v.size() + (64u<<20)); std::printf(\"%zu\\n\", v.size()); }\n")
        sb.setup(["g++", "-O1", "-o", "big", "big.cpp"])
        sb.run(sh("ulimit -v 300000; exec ./big"), sig=6, expect=["bad_alloc"], visible="out-of-memory", tool="big",
               note="a C++ program growing a vector under ulimit -v: std::bad_alloc, abort")


@extra_scenario("out-of-memory", "extra-node-heap", "node", needs=("node",))
def _(sb: Sandbox):
    sb.write("report.js", """
        const rows = [];
        for (let i = 0; ; i++) {
          rows.push({ id: i, name: 'row-' + i, tags: ['a', 'b', 'c'], payload: 'x'.repeat(64) + i });
          if (i % 200000 === 0) console.log(`collected ${i} rows`);
        }
        """)
    sb.run(["node", "--max-old-space-size=48", "report.js"], sig=6, expect=["heap out of memory"],
           visible="out-of-memory", timeout=20, note="node with a 48 MB heap collecting rows")
    if have("npm"):
        sb.write("package.json", json.dumps({"name": "reports", "version": "1.0.0", "private": True,
                                             "scripts": {"build": "node --max-old-space-size=48 report.js"}}))
        sb.run(["npm", "run", "build"], code=(134, 1), expect=["heap out of memory"], visible="code-error",
               tool="npm", timeout=20, note="the same through npm run: npm's 'command failed' lines come last")


# ----------------------------------------------------- extra: resource-limit

@extra_scenario("resource-limit", "extra-nofile-tools", "python3")
def _(sb: Sandbox):
    for i in range(24):
        sb.write(f"logs/svc-{i:02d}.log", f"service {i} started\n")
    sb.run(sh("ulimit -n 12; exec python3 -c \"import subprocess\n"
              "ps = [subprocess.Popen(['sleep', '3'], stdout=subprocess.PIPE, stderr=subprocess.PIPE) "
              "for _ in range(20)]\""), code=1, expect=["Too many open files"], visible="resource-limit",
           tool="python3", note="python starting 20 subprocesses with pipes under ulimit -n 12")
    if have("node"):
        sb.write("readall.js", "const fs = require('fs/promises');\n(async () => {\n"
                 "  const files = await fs.readdir('logs');\n"
                 "  const hs = await Promise.all(files.map(f => fs.open('logs/' + f)));\n"
                 "  console.log(hs.length);\n})().catch(e => { console.error(e); process.exit(1); });\n")
        sb.run(sh("ulimit -n 20; exec node readall.js"), code=1, expect=["EMFILE"], visible="resource-limit",
               tool="node", note="node opening 24 log files at once under ulimit -n 20")


@extra_scenario("resource-limit", "extra-fsize-cpu", "sh")
def _(sb: Sandbox):
    sb.randfile("big.bin", 2 << 20, seed=8)
    sb.run(sh("ulimit -f 512; exec cp big.bin copy.bin"), sig=25, visible="unknown", tool="cp",
           note="cp of a 2 MiB file under ulimit -f 512 (512 KiB): SIGXFSZ, no output")
    sb.run(sh("ulimit -f 256; python3 -c \"open('out.bin','wb').write(b'0' * (1 << 20))\""), code=1,
           expect=["File too large"], visible="resource-limit", tool="python3",
           note="python writing 1 MiB under ulimit -f 256: python ignores SIGXFSZ, so OSError EFBIG")
    sb.run(bash("ulimit -f 128; echo 'writing artifact'; dd if=/dev/zero of=art.bin bs=64k count=16 status=none; "
                "exit $?"), code=153, expect=["File size limit exceeded"], visible="resource-limit", tool="bash",
           note="bash running dd under ulimit -f: bash reports 'File size limit exceeded' (153)")
    sb.run(sh("ulimit -S -t 1; exec python3 -c \"while True: pass\""), sig=24, visible="unknown", tool="python3",
           timeout=10, note="a busy python loop under ulimit -S -t 1: SIGXCPU, no output")
    if have("node"):
        sb.run(sh("ulimit -S -t 1; exec node -e \"for(;;){}\""), sig=24, visible="unknown", tool="node", timeout=10,
               note="a busy node loop under ulimit -S -t 1: SIGXCPU")
    sb.run(bash("ulimit -S -t 1; echo '==> running benchmark'; python3 -c 'while True: pass'; "
                "echo \"benchmark exited with $?\"; exit 1"), code=1, expect=["CPU time limit exceeded"],
           visible="resource-limit", tool="bash", timeout=10,
           note="bash reporting 'CPU time limit exceeded' for a child under ulimit -S -t 1")


@extra_scenario("resource-limit", "extra-nproc-arglist", "python3", needs=("root", "setpriv"))
def _(sb: Sandbox):
    long_args = " ".join(f"src/module_{i:06d}/generated_file_{i:06d}.o" for i in range(60000))
    sb.write("objs.txt", long_args)
    sb.run(sh("ar rcs libbig.a $(cat objs.txt)"), code=126, expect=["Argument list too long"],
           visible="resource-limit", tool="ar", note="sh running ar with 60000 object names: E2BIG")
    sb.run(["python3", "-c", "import subprocess\nfiles = open('objs.txt').read().split()\n"
            "subprocess.run(['rm', '-f', *files], check=True)"], code=1, expect=["Argument list too long"],
           visible="resource-limit", tool="python3", note="python subprocess with 60000 arguments: OSError E2BIG")
    if have("perl"):
        sb.run(["perl", "-e", "my @f = split ' ', do { local $/; open my $h, '<', 'objs.txt'; <$h> };"
                " exec('ls', @f) or die \"exec ls failed: $!\\n\";"], code=7, expect=["Argument list too long"],
               visible="resource-limit", tool="perl", note="perl exec with 60000 arguments")
    if SYS_PY is None:
        return
    env = nobody_env(sb)
    sb.run([*NOBODY, SYS_PY, "-c", "import threading, time\n"
            "ts = [threading.Thread(target=time.sleep, args=(2,)) for _ in range(64)]\n"
            "[t.start() for t in ts]"], env=env, preexec=rlimit_preexec(nproc=6), code=1,
           expect=["can't start new thread"], visible="resource-limit", tool="python3",
           note="python starting 64 threads as nobody under ulimit -u 6")


# ------------------------------------------------------ extra: corrupt-cache

@extra_scenario("corrupt-cache", "extra-broken-archives", "python3")
def _(sb: Sandbox):
    for i in range(4):
        sb.randtext(f"deps/lib{i}/src.txt", 40 << 10, seed=60 + i)
    sb.setup(["tar", "-czf", "deps.tar.gz", "deps"])
    truncate(sb.p("deps.tar.gz"), 0.5)
    sb.run(["python3", "-c", "import tarfile\ntarfile.open('deps.tar.gz').extractall('out')"], code=1,
           expect_re=r"EOFError|ReadError|Compressed file ended", visible="corrupt-cache", tool="python3",
           note="python tarfile extracting a truncated cache .tar.gz")
    with zipfile.ZipFile(sb.p("deps.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        z.write(sb.p("deps/lib0/src.txt"), "lib0/src.txt")
    truncate(sb.p("deps.zip"), 0.6)
    sb.run(["python3", "-c", "import zipfile\nzipfile.ZipFile('deps.zip').extractall('out')"], code=1,
           expect=["BadZipFile"], visible="corrupt-cache", tool="python3",
           note="python zipfile on a truncated cached zip: 'File is not a zip file'")
    sb.setup(["gzip", "-k", "-f", "deps/lib1/src.txt"])
    flip_bytes(sb.p("deps/lib1/src.txt.gz"), 200, 32)
    sb.run(["gzip", "-t", "deps/lib1/src.txt.gz"], code=1, expect_re=r"invalid compressed data|crc error|format violated",
           visible="corrupt-cache", tool="gzip", note="gzip -t of a garbled cache file")
    if have("zstd"):
        sb.setup(["zstd", "-q", "-f", "deps/lib2/src.txt", "-o", "lib2.zst"])
        truncate(sb.p("lib2.zst"), 0.5)
        sb.run(["zstd", "-d", "-f", "lib2.zst", "-o", "lib2.txt"], code=1, expect=["premature end"],
               visible="corrupt-cache", tool="zstd", note="zstd -d of a truncated cache file: 'Read error (39) : "
                                                           "premature end'")
    if have("xz"):
        sb.setup(["xz", "-k", "-f", "deps/lib3/src.txt"])
        flip_bytes(sb.p("deps/lib3/src.txt.xz"), 100, 16)
        sb.run(["xz", "-d", "-k", "-f", "deps/lib3/src.txt.xz"], code=1, expect_re=r"Compressed data is corrupt|"
               r"Unexpected end|File format not recognized", visible="corrupt-cache", tool="xz",
               note="xz -d of a garbled cache file")
    if have("bzip2"):
        sb.setup(["bzip2", "-k", "-f", "deps/lib0/src.txt"])
        flip_bytes(sb.p("deps/lib0/src.txt.bz2"), 300, 32)
        sb.run(["bzip2", "-t", "deps/lib0/src.txt.bz2"], code=2, expect=["data integrity"],
               visible="corrupt-cache", tool="bzip2", note="bzip2 -t of a garbled cache file")
    if have("unzip"):
        sb.run(["unzip", "-o", "deps.zip", "-d", "out"], code=9, expect=["End-of-central-directory"],
               visible="corrupt-cache", tool="unzip", note="unzip of a truncated cached zip")


@extra_scenario("corrupt-cache", "extra-corrupt-stores", "sqlite3")
def _(sb: Sandbox):
    db = sb.p(".cache/index.db")
    db.parent.mkdir(parents=True)
    con = sqlite3.connect(db)
    con.execute("create table pkgs(name text primary key, version text, sha text)")
    con.executemany("insert into pkgs values (?,?,?)", [(f"pkg{i}", "1.0", "0" * 64) for i in range(2000)])
    con.commit()
    con.close()
    flip_bytes(db, 0, 16)
    if have("sqlite3"):
        sb.run(["sqlite3", db, "select count(*) from pkgs"], code=26, expect=["file is not a database"],
               visible="corrupt-cache", tool="sqlite3", note="sqlite3 on a cache db whose header was garbled")
    sb.run(["python3", "-c", f"import sqlite3\nsqlite3.connect('{db}').execute('select * from pkgs').fetchall()"],
           code=1, expect=["DatabaseError"], visible="corrupt-cache", tool="python3",
           note="python sqlite3 on the same garbled cache db")
    sb.write("lib/helpers.py", "def f():\n    return 1\n")
    sb.setup(["python3", "-c", "import py_compile; py_compile.compile('lib/helpers.py', cfile='lib/helpers.pyc')"])
    sb.p("lib/helpers.py").unlink()
    flip_bytes(sb.p("lib/helpers.pyc"), 0, 4)
    sb.run(["python3", "-c", "import sys; sys.path.insert(0, 'lib'); import helpers"], code=1,
           expect=["bad magic number"], visible="missing-module", tool="python3",
           note="importing a cached sourceless .pyc whose header is garbled: ImportError 'bad magic number'")
    if have("git"):
        repo = sb.git_repo("repo", {"src/main.py": "print('hi')\n" * 50, "README.md": "# r\n"})
        blob = sb.git(repo, "rev-parse", "HEAD:src/main.py").strip()
        obj = repo / ".git" / "objects" / blob[:2] / blob[2:]
        os.chmod(obj, 0o644)
        flip_bytes(obj, 10, 20)
        sb.run(["git", "-C", repo, "show", "HEAD:src/main.py"], code=128, expect_re=r"corrupt|inflate",
               visible="corrupt-cache", tool="git", note="git show of a blob whose loose object was garbled in a "
                                                          "restored cache")
        sb.run(["git", "-C", repo, "fsck", "--full"], expect_re=r"corrupt|inflate", visible="corrupt-cache",
               tool="git", note="git fsck of the same repository")


@extra_scenario("corrupt-cache", "extra-integrity-mismatch", "pip")
def _(sb: Sandbox):
    whl = make_wheel(sb.p("wheels"), "fastjson", "2.0.1", {"fastjson/__init__.py": b"def loads(s): return s\n"})
    sb.write("requirements.txt", f"fastjson==2.0.1 --hash=sha256:{'ab' * 32}\n")
    sb.run(["python3", "-m", "pip", "install", "--no-index", "--find-links", sb.p("wheels"), "--target",
            sb.p("site"), "--require-hashes", "-r", "requirements.txt"], code=1,
           expect=["DO NOT MATCH THE HASHES"], visible="corrupt-cache", tool="pip",
           note="pip --require-hashes with a cached wheel whose hash is not the pinned one")
    good = hashlib.sha256(whl.read_bytes()).hexdigest()
    sb.write("sums.txt", f"{good}  {whl.name}\n")
    flip_bytes(whl, 100, 8)
    sb.run(sh(f"cd wheels && sha256sum --quiet -c ../sums.txt || {{ echo 'cache verification failed' >&2; exit 1; }}"),
           code=1, expect=["FAILED"], visible="corrupt-cache", tool="sha256sum",
           note="a cache restore step checking sha256 sums of a garbled wheel")
    if have("npm"):
        tgz = make_npm_tgz(sb.p("pkgs"), "tiny-util", "1.0.0", {"index.js": b"module.exports = 1;\n"})
        port = sb.dir_server("pkgs")
        url = f"http://127.0.0.1:{port}/{tgz.name}"
        bad = "sha512-" + base64.b64encode(hashlib.sha512(b"other").digest()).decode()
        sb.write("app/package.json", json.dumps({"name": "app", "version": "1.0.0", "private": True,
                                                 "dependencies": {"tiny-util": url}}))
        sb.write("app/package-lock.json", json.dumps({
            "name": "app", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
            "packages": {"": {"name": "app", "version": "1.0.0", "dependencies": {"tiny-util": url}},
                         "node_modules/tiny-util": {"version": "1.0.0", "resolved": url, "integrity": bad}}}))
        sb.run(["npm", "ci", "--fetch-retries=0"], cwd=sb.p("app"), code=1, expect=["EINTEGRITY"],
               visible="corrupt-cache", tool="npm", timeout=20, note="npm ci of a tarball whose lockfile integrity does not match")


# -------------------------------------------------- extra: permission-denied

@extra_scenario("permission-denied", "extra-nobody-access", "sh", needs=("root", "setpriv"))
def _(sb: Sandbox):
    env = nobody_env(sb)
    d = sb.p("opt/app")
    d.mkdir(parents=True)
    os.chmod(d, 0o755)
    sb.write("opt/app/secrets.env", "TOKEN=abc\n", mode=0o600)
    sb.write("opt/app/deploy.sh", "#!/bin/sh\necho deploying\n", mode=0o700)
    sb.run([*NOBODY, "mkdir", "-p", f"{d}/cache/v1"], env=env, code=1, expect=["Permission denied"],
           visible="permission-denied", tool="mkdir", note="mkdir -p as nobody in a root-owned dir")
    if SYS_PY:
        sb.run([*NOBODY, SYS_PY, "-c", f"open('{d}/state.json', 'w').write('{{}}')"], env=env, code=1,
               expect=["PermissionError"], visible="permission-denied", tool="python3",
               note="python writing state as nobody in a root-owned dir")
    if have("node"):
        sb.run([*NOBODY, "node", "-e", f"require('fs').readFileSync('{d}/secrets.env')"], env=env, code=1,
               expect=["EACCES"], visible="permission-denied", tool="node",
               note="node reading a 0600 root file as nobody")
    sb.run([*NOBODY, "sh", "-c", f"{d}/deploy.sh"], env=env, code=126, expect=["Permission denied"],
           visible="permission-denied", tool="sh", note="sh running a 0700 root script as nobody (126)")
    if have("git"):
        sb.run([*NOBODY, "git", "init", f"{d}/repo"], env=env, code=(1, 128), expect=["Permission denied"],
               visible="permission-denied", tool="git", note="git init as nobody in a root-owned dir")
    if have("sqlite3"):
        sb.run([*NOBODY, "sqlite3", f"{d}/app.db", "create table t(x)"], env=env, code=1,
               expect=["unable to open database"], visible="unknown", tool="sqlite3",
               note="sqlite3 creating a db as nobody in a root-owned dir: 'unable to open database file'")


@extra_scenario("permission-denied", "extra-readonly-mount", "cp", needs=("root",))
def _(sb: Sandbox):
    m = sb.tmpfs("ro")
    if have("sqlite3"):
        con = sqlite3.connect(m / "app.db")
        con.execute("create table t(x)")
        con.commit()
        con.close()
    sb.write("Makefile", f"OUT := {m}\n$(OUT)/version.h:\n\techo '#define V 1' > $@\n")
    sb.remount_ro(m)
    sb.write("a.txt", "x\n")
    sb.run(["cp", "a.txt", f"{m}/a.txt"], code=1, expect=["Read-only file system"], visible="permission-denied",
           tool="cp", note="cp onto a read-only mount")
    sb.run(["python3", "-c", f"import pathlib; pathlib.Path('{m}/out.log').write_text('x')"], code=1,
           expect=["Read-only file system"], visible="permission-denied", tool="python3",
           note="python writing onto a read-only mount")
    if have("node"):
        sb.run(["node", "-e", f"require('fs').mkdirSync('{m}/dist')"], code=1, expect=["EROFS"],
               visible="permission-denied", tool="node", note="node mkdir on a read-only mount")
    if have("sqlite3"):
        sb.run(["sqlite3", f"{m}/app.db", "insert into t values (1)"], code=(1, 8),
               expect=["readonly database"], visible="permission-denied", tool="sqlite3",
               note="sqlite3 insert into a db on a read-only mount")
    if have("make"):
        sb.run(["make"], code=2, expect=["Read-only file system"], visible="code-error", tool="make",
               note="make writing a generated header onto a read-only mount: make's 'Error 1' comes last")


@extra_scenario("permission-denied", "extra-not-permitted", "setpriv", needs=("root", "setpriv"))
def _(sb: Sandbox):
    env = nobody_env(sb)
    sb.write("owned.txt", "x\n", mode=0o666)
    sb.run([*NOBODY, "chown", "65534", sb.p("owned.txt")], env=env, code=1, expect=["Operation not permitted"],
           visible="permission-denied", tool="chown", note="chown of a root file as nobody")
    sb.run([*NOBODY, "bash", "-c", "ulimit -n 1048576"], env=env, code=1, expect=["Operation not permitted"],
           visible="permission-denied", tool="bash", note="bash raising the hard nofile limit as nobody")
    sb.run([*NOBODY, "date", "-s", "2026-01-01"], env=env, code=1, expect=["Operation not permitted"],
           visible="permission-denied", tool="date", note="date -s as nobody")
    if SYS_PY:
        sb.run([*NOBODY, SYS_PY, "-c", "import os; os.setuid(0)"], env=env, code=1,
               expect=["Operation not permitted"], visible="permission-denied", tool="python3",
               note="python os.setuid(0) as nobody")
    sb.run([*NOBODY, "sh", "-c", "kill -TERM 1"], env=env, code=(1, 2), expect=["Operation not permitted"],
           visible="permission-denied", tool="sh", note="sh kill of pid 1 as nobody")


# -------------------------------------------------------- extra: port-in-use

@extra_scenario("port-in-use", "extra-servers-bind", "python3")
def _(sb: Sandbox):
    p = sb.hold_port()
    sb.run(["python3", "-c", f"from wsgiref.simple_server import make_server\n"
            f"print('serving the app on http://127.0.0.1:{p}')\n"
            f"make_server('127.0.0.1', {p}, lambda e, s: []).serve_forever()"], code=1,
           expect=["Address already in use"], visible="port-in-use", note="a python wsgiref server on a held port")
    sb.run(["python3", "-c", f"from xmlrpc.server import SimpleXMLRPCServer\n"
            f"SimpleXMLRPCServer(('127.0.0.1', {p}), logRequests=False).serve_forever()"], code=1,
           expect=["Errno 98"], visible="port-in-use", note="a python xmlrpc server on a held port")
    if have("perl"):
        sb.run(["perl", "-MIO::Socket::INET", "-e", f"my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', "
                f"LocalPort => {p}, Listen => 5, ReuseAddr => 1) or die \"cannot listen on port {p}: $@\\n\";"],
               code=(98, 255), expect=["Address already in use"], visible="port-in-use", tool="perl",
               note="perl IO::Socket::INET listening on a held port")
    if have("node"):
        sb.write("srv.js", f"const http = require('http');\nconst s = http.createServer(() => {{}});\n"
                 f"s.on('error', (e) => {{ console.error(`[server] failed to start: ${{e.code}}`); process.exit(1); }});\n"
                 f"s.listen({p}, '127.0.0.1', () => console.log('listening'));\n")
        sb.run(["node", "srv.js"], code=1, expect=["EADDRINUSE"], visible="port-in-use", tool="node",
               note="a node server printing its own '[server] failed to start: EADDRINUSE'")
    if have("java") and have("javac"):
        sb.write("Srv.java", f"public class Srv {{ public static void main(String[] a) throws Exception {{ "
                 f"new java.net.ServerSocket({p}, 5, java.net.InetAddress.getByName(\"127.0.0.1\")); }} }}\n")
        sb.run(["java", "Srv.java"], code=1, expect=["BindException"], visible="port-in-use", tool="java",
               timeout=15, note="a java ServerSocket on a held port (single-file source launch)")
    if have("g++"):
        sb.cc("srv.cpp", f"""
            #include <arpa/inet.h>
            #include <cstdio>
            #include <cstdlib>
            #include <sys/socket.h>
            int main() {{
              int s = socket(AF_INET, SOCK_STREAM, 0);
              sockaddr_in a{{}}; a.sin_family = AF_INET; a.sin_port = htons({p});
              a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
              if (bind(s, (sockaddr*)&a, sizeof a) < 0) {{ perror("bind"); return EXIT_FAILURE; }}
              listen(s, 5);
              return 0;
            }}
            """, "srv", compiler="g++")
        sb.run(["./srv"], code=1, expect=["bind: Address already in use"], visible="port-in-use", tool="srv",
               note="a C++ server's perror('bind') on a held port")


@extra_scenario("port-in-use", "extra-wrapped-servers", "make", needs=("make",))
def _(sb: Sandbox):
    p = sb.hold_port()
    sb.write("Makefile", f"serve:\n\tpython3 -m http.server {p} --bind 127.0.0.1\n")
    sb.run(["make", "serve"], code=2, expect=["Address already in use"], visible="code-error",
           note="make serve running python http.server on a held port: make's 'Error 1' comes last")
    sb.write("start.sh", f"""
        set -e
        echo "starting preview server on port {p}"
        python3 -m http.server {p} --bind 127.0.0.1 > server.log 2>&1 &
        pid=$!
        sleep 1
        if ! kill -0 $pid 2>/dev/null; then
          echo "error: preview server exited early, see server.log"
          exit 1
        fi
        """)
    sb.run(["sh", "start.sh"], code=1, expect=["exited early"], visible="unknown", tool="sh",
           note="a script starting a server in the background whose log (not shown) says EADDRINUSE: only "
                "'preview server exited early'")
    sb.run(["sh", "-c", "cat server.log; exit 1"], code=1, expect=["Address already in use"], visible="port-in-use",
           tool="sh", note="the same script's server.log printed by the next CI step")


# ------------------------------------------------------------ extra: crashed

@extra_scenario("crashed", "extra-native-crashes", "g++", needs=("g++",))
def _(sb: Sandbox):
    sb.cc("null.cpp", """
        #include <cstdio>
        #include <map>
        #include <string>
        struct Node { std::string name; Node *next; };
        int main() {
          Node *n = nullptr;
          std::fprintf(stderr, "loading graph\\n");
          std::printf("%s\\n", n->next->name.c_str());
        }
        """, "null", compiler="g++")
    sb.run(["./null"], sig=11, expect=["loading graph"], visible="unknown", tool="null",
           note="a C++ program dereferencing a null pointer: SIGSEGV, no error line")
    sb.cc("div.cpp", "#include <cstdio>\n#include <cstdlib>\nint main(int c, char**v){ int d = c - 1; "
          "std::printf(\"avg=%d\\n\", 100 / d); }\n", "div", compiler="g++")
    sb.run(["./div"], sig=8, visible="unknown", tool="div", note="integer division by zero: SIGFPE")
    sb.cc("rec.cpp", "#include <cstdio>\nint depth(int n){ volatile char buf[4096]; buf[0]=n; "
          "return depth(n+1) + buf[0]; }\nint main(){ std::printf(\"%d\\n\", depth(0)); }\n", "rec",
          compiler="g++", flags=("-O0",))
    sb.run(["./rec"], sig=11, visible="unknown", tool="rec", note="unbounded recursion in C++: stack overflow, SIGSEGV")
    sb.run(sh("echo 'running unit tests'; ./null; echo \"tests exited with $?\"; exit 1"), code=1,
           expect=["Segmentation fault"], visible="crashed", tool="sh",
           note="sh reporting 'Segmentation fault' for the test binary, then the script's own line")
    sb.run(["python3", "-X", "faulthandler", "-c", "import ctypes\nprint('calling native ext')\nctypes.string_at(0)"],
           sig=11, expect=["Fatal Python error: Segmentation fault"], visible="crashed", tool="python3",
           note="python with faulthandler reading address 0 via ctypes")
    sb.run(["python3", "-c", "import subprocess\nsubprocess.run(['./null'], check=True)"], code=1,
           expect=["SIGSEGV"], visible="crashed", tool="python3",
           note="a python driver running the crashing binary: CalledProcessError 'died with <Signals.SIGSEGV: 11>'")


@extra_scenario("crashed", "extra-crash-wrappers", "make", needs=("make", "gcc"))
def _(sb: Sandbox):
    sb.cc("t.c", "#include <stdio.h>\n#include <string.h>\nint main(void){ char *p = (char*)16; "
          "puts(\"test_parse ... \"); fflush(stdout); strcpy(p, \"boom\"); return 0; }\n", "unit_tests")
    sb.write("Makefile", "test:\n\t./unit_tests\n")
    sb.run(["make", "test"], code=2, expect=["Segmentation fault"], visible="crashed", tool="make",
           note="make test running a binary that segfaults: make prints 'Segmentation fault' and Error 139")
    sb.run(sh("./unit_tests || { echo 'ERROR: unit tests failed' >&2; exit 1; }"), code=1,
           expect=["ERROR: unit tests failed"], visible="code-error", tool="sh",
           note="a CI step wrapping the segfaulting test binary in its own 'ERROR: unit tests failed'")
    sb.run(bash("echo 'starting worker'; kill -SEGV $$"), sig=11, expect=["starting worker"], visible="unknown",
           tool="bash", note="bash signalling itself with SIGSEGV")
    if have("node"):
        sb.run(["node", "-e", "console.log('native addon loaded'); process.kill(process.pid, 'SIGSEGV')"], sig=11,
               visible="unknown", tool="node", note="node killed by its own SIGSEGV (as a crashing addon would)")
    sb.run(["python3", "-c", "import os\nprint('flushing cache')\nos.abort()"], sig=6, visible="unknown",
           tool="python3", note="python os.abort(): SIGABRT")


# ------------------------------------------------------------ extra: timeout

@extra_scenario("timeout", "extra-client-timeouts", "curl")
def _(sb: Sandbox):
    p = sb.tcp_server("never")
    if have("curl"):
        sb.run(["curl", "-sS", "--max-time", "1", f"http://127.0.0.1:{p}/api/status"], code=28,
               expect=["timed out"], visible="timeout", tool="curl", note="curl --max-time 1 to a server that never answers")
    if have("wget"):
        sb.run(["wget", "--timeout=1", "--tries=1", f"http://127.0.0.1:{p}/file"], code=4,
               expect=["timed out"], visible="timeout", tool="wget", note="wget --timeout=1 to a server that never answers")
    sb.run(["python3", "-c", f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{p}/', timeout=1)"],
           code=1, expect=["timed out"], visible="timeout", tool="python3", note="python urllib with timeout=1")
    if have("node"):
        sb.run(["node", "-e", f"fetch('http://127.0.0.1:{p}/', {{signal: AbortSignal.timeout(1000)}})"
                ".then(r => console.log(r.status)).catch(e => { console.error(e); process.exit(1); })"], code=1,
               expect=["TimeoutError"], visible="timeout", tool="node", note="node fetch with AbortSignal.timeout(1000)")
    if have("ssh"):
        sb.run(["ssh", "-o", "ConnectTimeout=1", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", f"UserKnownHostsFile={sb.p('kh')}", "-p", str(p), "deploy@127.0.0.1", "true"], code=255,
               expect=["timed out"], visible="timeout", tool="ssh",
               note="ssh ConnectTimeout=1 to a server that accepts and never sends its banner")
    if have("psql"):
        sb.run(["psql", f"host=127.0.0.1 port={p} user=ci connect_timeout=1", "-c", "select 1"], code=2,
               expect_re=r"timeout expired|timed out", visible="timeout", tool="psql",
               note="psql connect_timeout=1 to a server that never answers")


@extra_scenario("timeout", "extra-timeout-wrappers", "timeout")
def _(sb: Sandbox):
    sb.run(["timeout", "1", "sleep", "10"], code=124, visible="unknown", tool="timeout",
           note="timeout 1 sleep 10: exit 124, no output")
    sb.run(["python3", "-c", "import subprocess\nsubprocess.run(['sleep', '10'], timeout=1)"], code=1,
           expect=["TimeoutExpired"], visible="timeout", tool="python3", note="python subprocess.run(timeout=1)")
    sb.write("wait-port.sh", """
        port=$1; i=0
        until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; do
          i=$((i+1))
          if [ $i -ge 5 ]; then echo "Timed out after 1s waiting for 127.0.0.1:$port"; exit 1; fi
          sleep 0.2
        done
        """)
    sb.run(["sh", "wait-port.sh", str(sb.closed_port())], code=1, expect=["Timed out"], visible="timeout",
           tool="sh", note="a wait-for-port script giving up after 1 s (the service never came up)")
    if have("make"):
        sb.write("Makefile", "test:\n\ttimeout 1 sh -c 'echo running integration tests; sleep 10'\n")
        sb.run(["make", "test"], code=2, expect=["Error 124"], visible="code-error", tool="make",
               note="make running a test under timeout 1: only make's '*** ... Error 124'")
    sb.run(["timeout", "-s", "INT", "1", "python3", "-c", "import time\nprint('syncing')\ntime.sleep(10)"],
           code=(124, 130), expect=["KeyboardInterrupt"], visible="unknown", tool="timeout",
           note="timeout -s INT stopping a python job: a KeyboardInterrupt traceback")


# ---------------------------------------------------------- extra: vcs-error

@extra_scenario("vcs-error", "extra-git-conflicts", "git", needs=("git",))
def _(sb: Sandbox):
    repo = sb.git_repo("repo", {"config.yml": "version: 1\nname: app\n", "src/app.py": "print('v1')\n",
                               "docs/old.md": "old\n"})
    sb.git(repo, "checkout", "-q", "-b", "feature")
    sb.write("repo/config.yml", "version: 2\nname: app-feature\n")
    sb.write("repo/docs/old.md", "old, edited on feature\n")
    sb.git(repo, "commit", "-q", "-am", "feature: bump config")
    sb.git(repo, "checkout", "-q", "main")
    sb.write("repo/config.yml", "version: 3\nname: app-main\n")
    sb.git(repo, "rm", "-q", "docs/old.md")
    sb.git(repo, "commit", "-q", "-am", "main: bump config, drop docs")
    sb.run(["git", "merge", "--no-edit", "feature"], cwd=repo, code=1, expect=["CONFLICT (modify/delete)"],
           visible="vcs-error", tool="git", note="git merge with a content and a modify/delete conflict")
    sb.git(repo, "merge", "--abort")
    sb.run(["git", "cherry-pick", "feature"], cwd=repo, code=1, expect=["could not apply"], visible="vcs-error",
           tool="git", note="git cherry-pick of a conflicting commit")
    sb.git(repo, "cherry-pick", "--abort")
    sb.run(["git", "revert", "--no-edit", "HEAD~1"], cwd=repo, code=1, expect_re=r"could not revert|CONFLICT",
           visible="vcs-error", tool="git", note="git revert of an older commit that conflicts")
    sb.git(repo, "revert", "--abort")
    sb.write("repo/config.yml", "version: 4\nname: wip\n")
    sb.git(repo, "stash", "-q")
    sb.write("repo/config.yml", "version: 5\nname: other\n")
    sb.git(repo, "commit", "-q", "-am", "other")
    sb.run(["git", "stash", "pop"], cwd=repo, code=1, expect=["CONFLICT"], visible="vcs-error", tool="git",
           note="git stash pop that conflicts")
    sb.git(repo, "checkout", "-q", "--", ".", ok_codes=(0, 1))
    sb.git(repo, "reset", "-q", "--hard")
    sb.git(repo, "checkout", "-q", "feature")
    sb.run(["git", "rebase", "main"], cwd=repo, code=1, expect=["could not apply"], visible="vcs-error", tool="git",
           note="git rebase of a feature branch onto a main that changed the same lines")
    sb.git(repo, "rebase", "--abort")
    sb.run(["git", "pull", "--rebase", ".", "main"], cwd=repo, code=1, expect_re=r"could not apply|CONFLICT",
           visible="vcs-error", tool="git", note="git pull --rebase from a conflicting branch")


@extra_scenario("vcs-error", "extra-git-refs-state", "git", needs=("git",))
def _(sb: Sandbox):
    repo = sb.git_repo("repo", {"a.txt": "a\n"}, bare_copy="origin.git")
    sb.git(repo, "remote", "add", "origin", str(sb.p("origin.git")))
    sb.git(repo, "fetch", "-q", "origin")
    sb.run(["git", "push", "upstream", "main"], cwd=repo, code=128, expect=["does not appear to be a git repository"],
           visible="vcs-error", tool="git", note="git push to a remote name that is not configured")
    sb.run(["git", "fetch", "origin", "release/2.4"], cwd=repo, code=128, expect=["couldn't find remote ref"],
           visible="vcs-error", tool="git", note="git fetch of a branch the remote does not have")
    sb.run(["git", "checkout", "release/2.4"], cwd=repo, code=1, expect=["did not match"], visible="vcs-error",
           tool="git", note="git checkout of a branch that does not exist")
    sb.git(repo, "checkout", "-q", "--detach", "HEAD")
    sb.run(["git", "push", "origin", "HEAD"], cwd=repo, code=1, expect=["not a full refname"],
           visible="vcs-error", tool="git", note="git push HEAD from a detached HEAD: 'not a full refname'")
    sb.git(repo, "checkout", "-q", "main")
    other = sb.p("other")
    sb.setup(["git", "clone", "-q", str(sb.p("origin.git")), str(other)])
    sb.write("other/b.txt", "b\n")
    sb.git(other, "add", "b.txt")
    sb.git(other, "commit", "-q", "-m", "b")
    sb.git(other, "push", "-q", "origin", "main")
    sb.write("repo/c.txt", "c\n")
    sb.git(repo, "add", "c.txt")
    sb.git(repo, "commit", "-q", "-m", "c")
    sb.run(["git", "push", "origin", "main"], cwd=repo, code=1, expect=["rejected"], visible="vcs-error", tool="git",
           note="git push rejected: the remote has commits this clone does not (fetch first)")
    (repo / ".git" / "index.lock").write_text("")
    sb.run(["git", "add", "c.txt"], cwd=repo, code=128, expect=["index.lock"], visible="vcs-error", tool="git",
           note="git add with a stale index.lock from a killed job")
    (repo / ".git" / "index.lock").unlink()
    sb.write("repo/a.txt", "local edit\n")
    sb.git(repo, "checkout", "-q", "-b", "topic", "HEAD~1")
    sb.write("repo/a.txt", "a on topic\n")
    sb.git(repo, "commit", "-q", "-am", "topic")
    sb.write("repo/a.txt", "uncommitted\n")
    sb.run(["git", "checkout", "main"], cwd=repo, code=1, expect=["would be overwritten"], visible="vcs-error",
           tool="git", note="git checkout with local changes that would be overwritten")
    sb.git(repo, "checkout", "-q", "--", "a.txt")
    sb.run(["git", "commit", "-m", "release"], cwd=repo, code=1, expect=["nothing to commit"], visible="unknown",
           tool="git", note="git commit with nothing to commit: exit 1, 'nothing to commit, working tree clean'")


# --------------------------------------------------------- extra: code-error

@extra_scenario("code-error", "extra-compile-errors", "gcc", needs=("gcc",))
def _(sb: Sandbox):
    sb.write("src/parse.c", "#include <stdio.h>\nint parse(const char *s) {\n  int n = 0;\n"
             "  for (; *s; s++) n = n * 10 + (*s - '0');\n  return count;\n}\n")
    sb.run(["gcc", "-c", "src/parse.c"], code=1, expect=["undeclared"], visible="code-error",
           note="gcc: an undeclared identifier")
    if have("make"):
        sb.write("Makefile", "parse.o: src/parse.c\n\t$(CC) -Wall -c $<\n")
        sb.run(["make"], code=2, expect=["undeclared"], visible="code-error", tool="make",
               note="the same through make")
    if have("g++"):
        sb.write("src/util.cpp", "#include <string>\n#include <vector>\nint total(const std::vector<int>& v) "
                 "{\n  std::string s = v.size();\n  return s;\n}\n")
        sb.run(["g++", "-c", "src/util.cpp"], code=1, expect=["error:"], visible="code-error", tool="g++",
               note="g++: type errors")
    if have("rustc"):
        sb.write("src/lib.rs", "pub fn area(w: u32, h: u32) -> u64 {\n    w * h\n}\n")
        sb.run(["rustc", "--crate-type", "lib", "--edition", "2021", "-o", sb.p("liba.rlib"), "src/lib.rs"],
               code=1, expect=["mismatched types"], visible="code-error", tool="rustc", timeout=20,
               note="rustc: mismatched types")
    if have("javac"):
        sb.write("src/App.java", "public class App {\n  public static void main(String[] a) {\n"
                 "    List<String> xs = new ArrayList<>();\n    System.out.println(xs);\n  }\n}\n")
        sb.run(["javac", "-d", "out", "src/App.java"], code=1, expect=["cannot find symbol"], visible="code-error",
               tool="javac", timeout=20, note="javac: missing imports (cannot find symbol)")


@extra_scenario("code-error", "extra-test-failures", "python3")
def _(sb: Sandbox):
    sb.write("tests/test_price.py", """
        import unittest

        def apply_discount(price, pct):
            return price - price * pct / 10

        class PriceTest(unittest.TestCase):
            def test_discount(self):
                self.assertEqual(apply_discount(100, 15), 85)
        """)
    sb.run(["python3", "-m", "unittest", "-v", "tests/test_price.py"], code=1, expect=["AssertionError"],
           visible="code-error", note="python unittest with a failing assertion")
    if have("node"):
        sb.write("test/slug.test.js", """
            const test = require('node:test');
            const assert = require('node:assert');
            const slug = (s) => s.toLowerCase().replace(' ', '-');
            test('slugifies titles', () => {
              assert.strictEqual(slug('Hello Big World'), 'hello-big-world');
            });
            """)
        sb.run(["node", "--test", "test/"], code=1, expect_re=r"not ok|fail", visible="code-error", tool="node",
               timeout=15, note="node --test with a failing strictEqual")
    sb.write("tests/run.sh", """
        #!/bin/sh
        fail=0
        got=$(echo "3 4" | awk '{print $1 * $2}')
        if [ "$got" != "7" ]; then echo "FAIL: sum: expected 7, got $got"; fail=1; else echo "PASS: sum"; fi
        exit $fail
        """, mode=0o755)
    sb.run(["sh", "tests/run.sh"], code=1, expect=["FAIL: sum"], visible="code-error", tool="sh",
           note="a shell test script printing FAIL")
    if have("perl"):
        sb.run(["perl", "-MTest::More", "-e", "is(join(',', sort (10, 9, 100)), '9,10,100', 'numeric sort'); "
                "done_testing;"], code=1, expect=["Failed test"], visible="code-error", tool="perl",
               note="perl Test::More with a failing is()")


@extra_scenario("code-error", "extra-runtime-errors", "python3")
def _(sb: Sandbox):
    sb.write("build_index.py", "import json\n\ndef load(items):\n    return {i['id']: i for i in items}\n\n"
             "data = [{'id': 1, 'name': 'a'}, {'name': 'b'}]\nprint(len(load(data)))\n")
    sb.run(["python3", "build_index.py"], code=1, expect=["KeyError"], visible="code-error",
           note="python KeyError in a build script")
    sb.run(["python3", "-c", "def render(tpl, **kw):\n    return tpl.format(**kw)\nprint(render('{a}', b=1) + 1)"],
           code=1, expect=["KeyError"], visible="code-error", note="python str.format KeyError")
    sb.write("bad_syntax.py", "def main()\n    print('hi')\n")
    sb.run(["python3", "-m", "py_compile", "bad_syntax.py"], code=1, expect=["SyntaxError"], visible="code-error",
           note="python -m py_compile of a file with a syntax error")
    if have("node"):
        sb.write("app.js", "const cfg = { plugins: undefined };\nconst names = cfg.plugins.map(p => p.name);\n"
                 "console.log(names);\n")
        sb.run(["node", "app.js"], code=1, expect=["Cannot read properties of undefined"], visible="code-error",
               tool="node", note="node TypeError reading .map of undefined")
        sb.write("check.js", "function f() {\n  return {\n    a: 1,,\n  };\n}\n")
        sb.run(["node", "--check", "check.js"], code=1, expect=["SyntaxError"], visible="code-error", tool="node",
               note="node --check of a file with a syntax error")
        sb.run(["node", "-e", "const total = items.reduce((a, b) => a + b, 0);"], code=1,
               expect=["ReferenceError"], visible="code-error", tool="node", note="node ReferenceError")
    if have("perl"):
        sb.run(["perl", "-e", "use strict; my $cfg; print $cfg->name, \"\\n\";"], code=255,
               expect=["Can't call method"], visible="code-error", tool="perl", note="perl calling a method on undef")
    sb.write("deploy.sh", "#!/bin/bash\nif [ -n \"$CI\" ]; then\n  echo ci\nfi\nfor x in a b; do\n  echo $x\n")
    sb.run(["bash", "deploy.sh"], code=2, expect=["syntax error"], visible="code-error", tool="bash",
           note="bash script with a missing 'done'")


# ------------------------------------------------------------ extra: unknown

@extra_scenario("unknown", "extra-silent-failures", "sh")
def _(sb: Sandbox):
    sb.run(["test", "-f", "dist/app.js"], code=1, visible="unknown", tool="test",
           note="test -f of a missing build output: exit 1, no output")
    sb.write("a.txt", "x\n")
    sb.write("b.txt", "y\n")
    sb.run(["cmp", "-s", "a.txt", "b.txt"], code=1, visible="unknown", tool="cmp", note="cmp -s of two files: exit 1")
    sb.run(["diff", "-q", "a.txt", "b.txt"], code=1, expect=["differ"], visible="unknown", tool="diff",
           note="diff -q: 'Files a.txt and b.txt differ', exit 1")
    sb.run(sh("echo 'Build step finished.'; exit 3"), code=3, expect=["finished"], visible="unknown",
           note="a script that says it finished and exits 3")
    sb.run(["python3", "-c", "import sys\nprint('checking release notes')\nsys.exit(2)"], code=2, visible="unknown",
           tool="python3", note="python sys.exit(2) after an unrelated line")
    if have("make"):
        sb.write("Makefile", "check:\n\t@test -s CHANGELOG.md\n")
        sb.run(["make", "check"], code=2, expect=["Error 1"], visible="code-error", tool="make",
               note="make recipe failing silently: only make's '*** [Makefile:2: check] Error 1'")


# ------------------------------------------------- extra: GitHub runner (doubles)
# The same documented lines as above, in other contexts (after jobs, through
# the service wrapper, other connection errors of the .NET client).

@extra_scenario("registration-removed", "extra-registration-contexts", "runner-double", runner_kind="github")
def _(sb: Sandbox):
    lines = connected_lines() + job_lines() + job_lines("test (node 20)", "2026-01-05 10:20:01Z",
                                                        "2026-01-05 10:31:44Z", "Failed") + [REG_DELETED_LISTENING]
    sb.run(runner_double(sb, lines, 0), code=0, expect=["no longer exists"], visible="registration-removed",
           note="double: two jobs (one failed), then told the runner no longer exists while listening; exit 0")
    if have("node"):
        cmd = runner_double(sb, ["", REG_DELETED_SESSION], 1)
        sb.run(service_double(sb, cmd), code=0, tool="runner-double",
               expect=["registration has been deleted", "Runner listener exited with error code 1"],
               visible="registration-removed",
               note="double in service mode: the registration was deleted at session creation; the service "
                    "wrapper prints its lines and exits 0")


@extra_scenario("runner-offline", "extra-connect-errors", "runner-double", runner_kind="github")
def _(sb: Sandbox):
    for msg in ("No such host is known. (pipelines.actions.githubusercontent.com:443)",
                "The SSL connection could not be established, see inner exception.",
                "Response status code does not indicate success: 502 (Bad Gateway)."):
        lines = connected_lines() + job_lines() + \
            [f"2026-01-05 12:00:09Z: Runner connect error: {msg} Retrying until reconnected."]
        sb.run(runner_double(sb, lines, None, via_run_sh=True), kill_after=1.0, sig=15,
               expect=["Runner connect error"], visible="runner-offline",
               note=f"double through run.sh: after a job the runner lost GitHub ({msg[:40]}...); it keeps retrying "
                    "and was stopped by its supervisor (SIGTERM)")


# ---- end of the extra training set


# ==========================================================================
# driver
# ==========================================================================

def assign_splits(cases: list[dict]) -> dict[str, list[str]]:
    """Per label: sort its scenario names, hold out index % 4 == 2, and at
    least one (the last) when that picks none.  The fresh and the extra
    scenarios are not part of this rule (so adding them changes no
    train/held-out membership): their cases are all "fresh" / all "train"."""
    fresh = {s.name for s in SCENARIOS if s.fresh}
    extra = {s.name for s in SCENARIOS if s.extra}
    by_label: dict[str, set] = defaultdict(set)
    for c in cases:
        if c["scenario"] not in fresh and c["scenario"] not in extra:
            by_label[c["label"]].add(c["scenario"])
    held: dict[str, list[str]] = {}
    for label, names in by_label.items():
        names = sorted(names)
        chosen = [n for i, n in enumerate(names) if i % 4 == 2]
        if not chosen:
            chosen = [names[-1]]
        held[label] = chosen
    for c in cases:
        if c["scenario"] in fresh:
            c["split"] = "fresh"
        elif c["scenario"] in extra:
            c["split"] = "train"
        else:
            c["split"] = "held-out" if c["scenario"] in held[c["label"]] else "train"
    return held


def number_cases(cases: list[dict]):
    seen: Counter = Counter()
    for c in cases:
        key = (c["label"], c["scenario"])
        seen[key] += 1
        c["id"] = f"{c['label']}/{c['scenario']}/{seen[key]}"


def run_all(selected: list[Scenario], show: bool):
    cases, skipped, rejected = [], [], []
    for sc in selected:
        missing = [n for n in sc.needs if (n == "root" and not IS_ROOT) or (n != "root" and not have(n))]
        if missing:
            reason = "needs " + ", ".join(missing)
            log(f"SKIP {sc.label}/{sc.name}: {reason}")
            skipped.append((sc, reason))
            continue
        t0 = time.monotonic()
        sb = Sandbox(sc, show)
        try:
            sc.fn(sb)
        except Skip as e:
            log(f"SKIP {sc.label}/{sc.name}: {e}")
            skipped.append((sc, str(e)))
            sb.cases = []
        except Exception as e:  # the harness itself failed: report, write nothing of it
            log(f"ERROR {sc.label}/{sc.name}: harness error, scenario skipped: {e}")
            if show:
                traceback.print_exc()
            skipped.append((sc, f"harness error: {str(e).splitlines()[0][:200]}"))
            sb.cases = []
        finally:
            sb.cleanup()
        rejected.extend(sb.rejected)
        log(f"  {sc.label}/{sc.name}: {len(sb.cases)} case(s), {len(sb.rejected)} rejected, "
            f"{time.monotonic() - t0:.1f}s")
        cases.extend(sb.cases)
    return cases, skipped, rejected


def summary(cases, skipped, rejected, held) -> str:
    by_label = Counter(c["label"] for c in cases)
    conf = Counter(c["label"] for c in cases if c["confusable"])
    held_n = Counter(c["label"] for c in cases if c["split"] == "held-out")
    fresh_n = Counter(c["label"] for c in cases if c["split"] == "fresh")
    fresh_conf = Counter(c["label"] for c in cases if c["split"] == "fresh" and c["confusable"])
    scen = defaultdict(set)
    fresh_scen = defaultdict(set)
    for c in cases:
        scen[c["label"]].add(c["scenario"])
        if c["split"] == "fresh":
            fresh_scen[c["label"]].add(c["scenario"])
    out = [f"{'label':<22}{'cases':>6}{'scen.':>6}{'confus.':>8}{'held-out':>9}{'fresh':>6}"
           f"{'f.scen':>7}{'f.conf':>7}  held-out scenarios"]
    for label in LABELS:
        n = by_label.get(label, 0)
        flag = "" if n >= MIN_CASES[label] else f"   <-- below the minimum of {MIN_CASES[label]}"
        out.append(f"{label:<22}{n:>6}{len(scen[label]):>6}{conf.get(label, 0):>8}{held_n.get(label, 0):>9}"
                   f"{fresh_n.get(label, 0):>6}{len(fresh_scen[label]):>7}{fresh_conf.get(label, 0):>7}  "
                   f"{', '.join(held.get(label, []))}{flag}")
    total = len(cases)
    nconf = sum(conf.values())
    nfresh = sum(fresh_n.values())
    out.append(f"{'total':<22}{total:>6}{len({c['scenario'] for c in cases}):>6}{nconf:>8}"
               f"{sum(held_n.values()):>9}{nfresh:>6}{sum(len(v) for v in fresh_scen.values()):>7}"
               f"{sum(fresh_conf.values()):>7}")
    if total:
        out.append(f"confusable: {nconf}/{total} = {100 * nconf / total:.1f} %; "
                   f"held-out: {sum(held_n.values())}/{total} cases")
    if nfresh:
        out.append(f"fresh (blind): {nfresh} cases, confusable {sum(fresh_conf.values())}/{nfresh} = "
                   f"{100 * sum(fresh_conf.values()) / nfresh:.1f} %")
    extra_names = {s.name for s in SCENARIOS if s.extra}
    extra_cases = [c for c in cases if c["scenario"] in extra_names]
    if extra_cases:
        econf = sum(1 for c in extra_cases if c["confusable"])
        out.append(f"extra (always train): {len(extra_cases)} cases from "
                   f"{len({c['scenario'] for c in extra_cases})} scenarios, confusable {econf}/{len(extra_cases)} = "
                   f"{100 * econf / len(extra_cases):.1f} %")
    if skipped:
        out.append("skipped scenarios:")
        out += [f"  {sc.label}/{sc.name}: {why}" for sc, why in skipped]
    if rejected:
        out.append("cases not written (their output did not show the intended failure):")
        out += ["  " + r for r in rejected]
    return "\n".join(out)


README_TEMPLATE = """\
# Failure corpus for the healer

`failures.jsonl` holds {total} labelled failures of real tools, one JSON object per
line, made by `scripts/failure-corpus.py`. The healer picks its first action from a
failure's category, so this corpus is for fitting and measuring the classifier that
reads a runner's output tail (and exit code / signal) and names the category.
{fresh_total} of them (`split` = `fresh`) are a blind test set made after the first
classifier was built, which measured it once, blind (`bench/README.md`). Since then the
classifier is fitted on three quarters of the fresh scenarios and measured on the other
quarter with the held-out part (`corpus::parts` in `crates/qcity-healer`: per label,
sorted by name, every 4th fresh scenario from the 3rd is measured); see "The fresh blind
set" below. {extra_total} of them come from the extra training scenarios, added
later to widen the training data: they are always `train` (see "The extra training set").

Every case is a real command that really failed, in a small sandbox made for it: a
2 MiB tmpfs for "disk full", a closed loopback port, a loopback server that never
answers or resets, a memory cgroup, an rlimit, the user `nobody`, a read-only mount,
a corrupted cache file, a git repository in a conflicted state, and so on. The output
is what the program printed (stdout and stderr on one pipe, in order), not a
paraphrase. The only doubles are the GitHub runner cases (below).

## Fields

Keys, in this order:

| key | meaning |
|---|---|
| `id` | `label/scenario/n` |
| `scenario` | the situation that was staged; several cases (variants: other tools, flags, sizes, a shell around the program) share one |
| `label` | the real cause, one of the categories below |
| `command` | the argv that ran (the temp dir shown as `/tmp/corpus/<scenario>`) |
| `tool` | the program that failed (or `runner-double`) |
| `runner_kind` | `command` for plain programs, `github` for the runner doubles |
| `code` | the exit code, `null` when killed by a signal |
| `signal` | the signal number, `null` otherwise. A shell that reports `128+N` itself has a `code` (e.g. 137, 139): that is what the supervisor sees |
| `lines` | the last {max_lines} lines of output, without newlines; ANSI colours stripped; the random temp dir replaced by `/tmp/corpus/<scenario>`. Can be empty: some failures print nothing |
| `confusable` | `visible != label` |
| `visible` | the category that the most visible error line (the last line that looks like an error: error/fatal/failed/denied/...) points to, judged by hand per variant; `unknown` when no line points anywhere (e.g. no output at all) |
| `note` | what was staged |
| `split` | `train`, `held-out` or `fresh` (see "Split") |

## Labels

| label | what it covers here |
|---|---|
| `disk-full` | ENOSPC: writes into a 2 MiB tmpfs by dd, shells, cp/install/mv, tar, unzip, git clone/pull, pip, npm, gcc/ld/make, cargo/rustc, python, sqlite, xz/gzip/zstd, sort; inode exhaustion (`nr_inodes`); fallocate; scripts that wrap the ENOSPC in their own message |
| `missing-command` | command not found (sh/bash 127, `env: 'x': No such file or directory`, a missing shebang interpreter, make recipes, npm scripts, python subprocess/exec, xargs, node spawn ENOENT, `cargo <sub>`, `git lfs` and a git config naming the missing lfs filter) |
| `missing-module` | python `ModuleNotFoundError`, node `Cannot find module/package`, missing C headers, `ld: cannot find -lfoo`, `error while loading shared libraries`, perl `Can't locate`, pip "No matching distribution" from a local wheel dir or index, npm 404 from a local registry, cargo "no matching package" offline |
| `network` | connection refused (curl, wget, git http/ssh, pip, npm, python, ssh/scp, psql), names under `.invalid` (RFC 6761), an empty network namespace (ENETUNREACH, resolver unreachable), no Docker daemon, connection reset / closed by the server, HTTP 5xx from a registry or proxy |
| `out-of-memory` | the OOM killer in a memory cgroup (python, node, npm, gcc, make, cargo/rustc, perl, sort), `ulimit -v` (MemoryError, `std::bad_alloc`, malloc failure, cc1 out of memory, perl "Out of memory!"), node's heap limit (`JavaScript heap out of memory`, SIGABRT), java `OutOfMemoryError` |
| `resource-limit` | `ulimit -n` (EMFILE), `ulimit -u` as `nobody` (fork/thread/spawn EAGAIN), `ulimit -f` (SIGXFSZ / EFBIG), `ulimit -t` (SIGXCPU), `Argument list too long` |
| `corrupt-cache` | truncated or corrupted .tar.gz/.xz/.zst/.tar/.zip/.bz2, a truncated wheel, a wheel or npm tarball whose hash does not match, corrupted git objects and index, malformed sqlite caches, `sha256sum -c` mismatches, corrupt pickle/JSON/.pyc caches, a corrupted package in `node_modules` |
| `permission-denied` | `nobody` writing into root-owned dirs or reading 0600 files, scripts without the x bit (126), ENOEXEC, a noexec mount, EROFS from a read-only mount (touch, git, pip, cargo, npm), `Operation not permitted` (chown, sticky dir, kill, mount), the Docker socket |
| `port-in-use` | binding a port another process holds: python http.server/socketserver/asyncio/socket, node, npm start, perl, git daemon, rust, java |
| `crashed` | killed by a signal it raised itself: SIGSEGV, SIGABRT (abort, double free, stack smashing, heap corruption), SIGFPE, SIGBUS, SIGILL, stack overflow (C, rust), python via ctypes/os.abort, node, shells signalling themselves |
| `timeout` | `timeout(1)` (124, 143, or SIGKILL with `-s KILL`), curl/wget/python against a server that accepts and never answers, ssh ConnectTimeout, git low-speed limit, node `--test` timeouts, python `TimeoutExpired`, pip/npm read timeouts |
| `vcs-error` | merge/rebase/cherry-pick/stash conflicts, rejected pushes, missing remotes and paths, submodules, stale `index.lock`/ref locks, not a repository, pathspecs and unknown revisions, local changes that would be overwritten, an operation in progress, no committer identity |
| `code-error` | the project's own code: gcc/g++/rustc/cargo errors, cargo test failures, python exceptions and unittest failures, node errors and `node --test` failures, shell scripts, make recipes, JSON parse errors in the project's files, perl and java errors |
| `registration-removed` | GitHub runner double: the registration was deleted |
| `runner-offline` | GitHub runner double: the runner lost GitHub / GitHub is unavailable |
| `unknown` | real programs that fail with no explanation: `false`, an exit code after an unrelated line, "something went wrong", usage errors, `grep -q` finding nothing, a make recipe exiting silently |

## Counts

`cases`, `scen.` (scenarios), `confus.` (confusable) and `held-out` count the whole
corpus; `fresh`, `f.scen` and `f.conf` the fresh blind set alone; the held-out scenarios
are named on the right.

{table}

## Confusable cases

{conf_n} of {total} cases ({conf_pct:.1f} %) are confusable: the line that looks like the
error is not the cause. Examples: a gcc/make/cargo build whose last line is
`collect2: error: ld returned 1 exit status`, `make: *** ... Error 1` or `error: could
not compile` while the cause above is `No space left on device`, a missing library or an
OOM-killed compiler; tar's `Exiting with failure status` / `Error is not recoverable`
after ENOSPC or a truncated archive; pip's `No matching distribution found` when the
index was unreachable or timed out; git's `Could not read from remote repository ...
correct access rights` when ssh was refused or timed out; `gcc: fatal error: Killed
signal terminated program cc1` (OOM); node's heap OOM ending in the shell's `Aborted`;
npm's `command failed` lines around a missing binary, an OOM or EADDRINUSE; a unittest
whose log shows `Connection refused` while the failure is an assertion; scripts that
wrap the real error in their own `ERROR: ... failed`; OOM kills, SIGXCPU, SIGXFSZ,
signals and timeouts that print nothing at all (`visible` = `unknown`: only the exit
code or signal tells).

## Split

`split` is by scenario, never by case, so that no held-out case is a near-copy of a
training case: for each label, the label's scenario names (those that produced cases)
are sorted and every 4th one starting from the 3rd (index % 4 == 2) is `held-out`;
when that picks none (a label with fewer than three scenarios), the last one is held
out. {held_total} cases are held out. This rule only sees the scenarios that are neither
fresh nor extra, so adding fresh or extra scenarios changes no train/held-out membership.

The extra scenarios (`extra_scenario` in the script, names starting with `extra-`) are
always `train`, whatever the rule above would say, and the rule does not see them: the
held-out rule sorts exactly the same scenario names as before they were added, so every
older case keeps its split.

`fresh` is a third split: every case of a fresh scenario, whatever the rule above would
say ({fresh_total} cases). Do not fit, tune, pick thresholds or choose features on them;
measure on them only, and report them apart from `held-out`.

## The fresh blind set

The fresh scenarios (`fresh_scenario` in the script) were written after the classifier
and its weights existed, by someone who did not read the classifier, its rules, its
weights, its examples or its tests, so the set is blind to it. They stage tools,
messages and causes that the other scenarios do not: other tools failing the same way
(split/sort -o/lz4/tee, sqlite VACUUM, git add/gc, ar, jar, node and python writers on a
full tmpfs; nice/nohup/timeout/stdbuf/flock and find -exec around a missing program, git's
editor, hooks and ssh command, perl `system`, python `shutil.which` and `check_call`,
node `execSync`; relative and `-m` imports, plugins, `importlib.metadata`, node ESM and
`main` resolution, pkg-config, an indirect shared library, dlopen, the java classpath;
node fetch/http/dns, proxies, resets and 5xx for wget/pip/npm/psql/git/python, ssh
hang-ups, `getent`, asyncio; OOM kills of awk/jq/make recipes and python pools,
`ulimit -v` for git/awk/jq/xz/node/java, node worker heap limits; a `pids.max` cgroup,
EMFILE for perl/sqlite/gcc, SIGXFSZ under git, SIGXCPU under gcc, a single over-long
argument or environment string; truncated lz4/bz2 archives, git packs, indexes and empty
loose objects, jars, gzip/dbm/zipapp/v8 caches, a vendored crate's checksum; binding
ports below 1024, read-only databases and `.git/objects`, EROFS for gcc/tar/sqlite,
chmod/chgrp/touch/renice/ip as `nobody`, read-only module caches; UDP and unix socket
addresses in use; uncaught C++ exceptions, `assert`, pure virtual calls, interpreter
stack overflows, SIGTRAP, SIGBUS, a JVM crash; connect timeouts to a port whose accept
queue is full, `timeout -k`, asyncio/futures/fetch deadlines, psql and flock waits;
divergent pulls, missing upstreams, ref and tag clashes, remote rejections, missing
submodule commits, patches that do not apply, stale ref and shallow locks; compile
checks, ESM export errors, `set -u`, awk/sed/jq syntax, `-Werror`, perl runtime errors,
cargo test panics, exceptions swallowed into misleading messages; silent checks, opaque
wrappers and bad invocations; and runner doubles printing other documented lines.

Fresh scenarios per label:

{fresh_list}

## The extra training set

The extra scenarios (`extra_scenario` in the script) were added after the fresh set to
widen the training data: more tools and, above all, more wordings of the same causes, so
that a classifier fitted on `train` does not learn one tool's phrasing per category. They
are real failures staged like the others, each case checks its expected exit code or
signal and substring, and all their cases are `train` (never `held-out`, never `fresh`).
They stage: ENOSPC from python `shutil.copytree`, node `writeFileSync`, `tar -czf`, `zip`,
`sqlite3 .backup`, `dd status=progress`, make writing objects, `git clone --depth 1` and a
release script; `command -v`/`hash`/`type`/`which` checks with their own "X is required" /
"Please install X" lines, `os.execvp`, perl `system`, node `execFileSync`, `exec`, `env`,
make, xargs and `npm run` around missing programs; python imports (plain, `from x.y`,
`-m`, inside unittest), node `require`/ESM/relative imports, missing C/C++ headers for cc,
make and g++, `ld` missing libraries, `pkg-config --exists` checks, perl modules;
connection refused for curl/wget/git/python/node/psql/pip and a wait-for-db script, HTTP
502/503 for curl/wget/python/git/npm, resets, servers closing without a response, DNS
failures for curl/getent/python/git; OOM kills of xz, a make recipe, a unittest's child
and node, `ulimit -v` for a unittest, python and a C++ program, node heap limits directly
and through npm; EMFILE for python pipes and node promises, SIGXFSZ/EFBIG and SIGXCPU for
cp/python/dd/node and the shell's own reports, E2BIG for sh/python/perl, thread limits as
`nobody`; truncated or garbled archives for python tarfile/zipfile, gzip, zstd, xz, bzip2
and unzip, a garbled sqlite cache, a sourceless `.pyc` with a bad magic number, a corrupt
git loose object, pip hash and npm integrity mismatches and a `sha256sum -c` check;
`nobody` writing/reading/executing, a read-only mount for cp/python/node/sqlite/make,
`Operation not permitted` from chown/ulimit/date/setuid/kill; wsgiref/xmlrpc/perl/node/
java/C++ servers on a held port, `make serve` and a background server whose log is not
shown; C++ null dereference, SIGFPE, stack overflow, faulthandler, a python driver, make
and shells around a crashing binary; curl/wget/python/node fetch/ssh/psql against a
server that never answers, `timeout` in several wrappers, `subprocess` timeouts, a
wait-for-port script; merge/cherry-pick/revert/stash/rebase/pull conflicts, missing
remotes and refs, a detached HEAD push, a rejected push, `index.lock`, local changes,
nothing to commit; compile errors for gcc/make/g++/rustc/javac, failing tests in
unittest/`node --test`/a shell script/Test::More, runtime and syntax errors in
python/node/perl/bash, `py_compile` and `node --check`; silent checks; and runner
doubles printing the documented lines in other contexts.

Judgement calls of the extra set: `git commit` with nothing to commit is `vcs-error`
(visible `unknown`); `which` finding nothing, `wget -q` refused (exit 4) and `getent`
(exit 2) print nothing (visible `unknown`); a sourceless `.pyc` with a bad magic number is
`corrupt-cache` although it reads `ImportError`; a unittest whose child was OOM-killed is
`out-of-memory` (visible `code-error`: `FAILED (errors=1)` comes last); a CI step that
wraps a segfaulting binary in `ERROR: unit tests failed` is `crashed`.

Extra scenarios per label:

{extra_list}

## The GitHub runner doubles

A real `Runner.Listener` cannot run here (it needs GitHub and a registration), so the
`registration-removed` and `runner-offline` cases (`tool` = `runner-double`) come from a
small script written in the sandbox as `actions-runner/bin/Runner.Listener` (and
`run.sh` / `run-helper.sh` for the variants started through `run.sh`). It prints the
listener's documented lines from `/work/shared/facts/runners.md` (actions/runner
2.336.0; timestamps fixed) and exits with the documented code: 1 when the registration
is found deleted at session creation, 0 when the server says the runner no longer
exists while listening (it cleans up its config), 1 for `Runner is not configured.` (the
usage text the real runner prints after it is left out); through `run.sh` the helper's
line is added and `run.sh` exits 0. When it loses GitHub the listener prints `Runner
connect error: ... Retrying until reconnected.` once and keeps retrying without exiting,
so those doubles keep running and are stopped with SIGTERM by the harness, as a
supervisor would stop them (`signal` 15); the real listener's status after SIGTERM is
not documented in the facts, so do not learn anything from that signal. The .NET error
messages inside those lines are typical ones, not taken from a captured log.

The fresh doubles print other documented lines: `The runner no longer exists on the
server. Please reconfigure the runner.` (session creation when the server does not know
the runner; in `MessageListener.cs` it is followed by `Failed to create session.
{{message}}` and the listener exits 1), the same through `run.sh` and through a double of
the service wrapper `bin/RunnerService.js` (`Starting Runner listener with startup type:
service`, `Runner listener exited with error code 1`, then its "stop the service" line;
the wrapper exits 0), and `Runner reconnected.` between two connect errors.

## Judgement calls

Labels follow the real cause as staged; where a reasonable reader could file a case
elsewhere, this is the choice made:

- Exec format error and a missing x bit (126) are `permission-denied`, as are git's
  "dubious ownership" refusal (a checkout owned by another user) and npm's
  `ENOENT ... mkdir` on a read-only mount (npm does not show the EROFS).
- A bad interpreter in a shebang (`required file not found`, 126/127) is
  `missing-command`.
- Read timeouts (curl `--max-time`, wget, python, pip, npm) are `timeout`, not
  `network`; connection refused/reset, DNS and HTTP 5xx are `network`. pip against an
  index answering 502 only says "No matching distribution found": still `network`.
- A cargo path dependency whose directory is missing is `missing-module`.
- Corrupt JSON, pickle, `.pyc` and `node_modules` files restored from a cache are
  `corrupt-cache` although their errors read like code errors; a JSON error in a
  project's own file is `code-error`.
- A rust binary built with `panic=abort` and node's `process.abort()` are `crashed`
  (the process died by its own SIGABRT) although the message reads like a code error;
  unbounded recursion (`RecursionError`, `Maximum call stack size exceeded`) is
  `code-error` although it reads like a limit.
- `Argument list too long` and `ulimit -t` / `-f` are `resource-limit`.
- `set -ex` with a failing `test` (the trace is the only hint) is `code-error`; a
  make recipe or script that exits with no word of why is `unknown`.
- The runner-offline doubles end by SIGTERM from the harness (see above).

Fresh set:

- HTTP 5xx stays `network` even when the text is `HTTP Error 504: Gateway Timeout`;
  a node request destroyed by its own timeout shows `socket hang up` (ECONNRESET) and is
  `timeout`; a health-wait script whose curl reads time out is `timeout`.
- An uncaught C++ exception, a failed `assert()` and a pure virtual call (SIGABRT), and
  an interpreter that overflows the C stack after its recursion limit was raised
  (SIGSEGV), are `crashed`, although the first two read like code errors.
- A `pids.max` cgroup (a container's pid limit) is `resource-limit`, also when make
  only says `Error 127`; SIGXCPU of cc1 (`internal compiler error: CPU time limit
  exceeded`) is `resource-limit`.
- A unix socket path another process listens on is `port-in-use`.
- A truncated cached zipapp that python then reads as source (`SyntaxError: source code
  cannot contain null bytes`) and a truncated dependency jar (`NoClassDefFoundError`) are
  `corrupt-cache`; a pkg-config version below the required one is `missing-module`.
- A bug hidden by a catch-all (`could not connect to the database: 'NoneType' object
  ...`, `Upload to artifact storage failed, giving up: limit is not defined`) and a
  misspelt variable that sends curl to port 80 are `code-error`.
- `flock -w` giving up is `timeout`; a usage error (curl without a URL, unknown options,
  `git log --frobnicate`) is `unknown`.

Commands that could reach a real registry never do: `npm_config_registry` and
`PIP_INDEX_URL` point at a closed loopback port unless a case names its own index, and
the cases that use the public names (pypi.org, registry.npmjs.org, github.com) run in
an empty network namespace.

## Regenerating

```
sudo python3 scripts/failure-corpus.py
```

Python 3.11, standard library only, on Debian (or similar), in a few minutes. It needs
root: tmpfs and read-only mounts, `unshare -n`, `setpriv` to `nobody`, memory cgroups
(a child of the script's own memory cgroup, cgroup v2 or v1), chown. Everything happens
in temp dirs under `/tmp`, on loopback servers started by the script, and in cgroups
that it removes; nothing needs the internet (names under `.invalid` must fail quickly,
else those cases are skipped). Scenarios whose tool is missing are skipped with a note,
as are single cases whose output does not show the intended failure (each case checks
its expected exit code or signal and an expected substring), so the counts can differ a
little from machine to machine. Ports are fixed (from 47000), file names and contents
are seeded, git dates are fixed, so a rerun on the same machine gives nearly the same
file (timings, PIDs, npm log names and thread ids differ).

Tools used when present: gcc, g++, make, python3, pip, node, npm, npx, git, curl, wget,
tar, gzip, xz, zstd, bzip2, zip/unzip, cargo/rustc, sqlite3, perl, java, ssh/scp, psql,
docker (client only), unshare, setpriv, mount, fallocate, timeout, sort; for the fresh
set also lz4, jq, javac/jar, ar, pkg-config, flock, getent, split, tee, nice, nohup,
stdbuf, find, awk, sed, cmp, expr, chgrp, renice, ip, and a pids cgroup (v2, or v1's
pids hierarchy).

{skipped}
"""


def write_readme(cases, skipped, held, table):
    total = len(cases)
    nconf = sum(1 for c in cases if c["confusable"])
    sk = ""
    if skipped:
        sk = "Skipped on the machine that made this file:\n\n" + "\n".join(
            f"- `{sc.label}/{sc.name}`: {why}" for sc, why in skipped) + "\n"
    fresh = [c for c in cases if c["split"] == "fresh"]
    fresh_scen: dict[str, list[str]] = defaultdict(list)
    for c in fresh:
        if c["scenario"] not in fresh_scen[c["label"]]:
            fresh_scen[c["label"]].append(c["scenario"])
    fresh_list = "\n".join(f"- `{label}`: " + ", ".join(f"`{n}`" for n in fresh_scen[label])
                           for label in LABELS if fresh_scen.get(label))
    fconf = sum(1 for c in fresh if c["confusable"])
    extra_names = {s.name for s in SCENARIOS if s.extra}
    extra = [c for c in cases if c["scenario"] in extra_names]
    extra_scen: dict[str, list[str]] = defaultdict(list)
    for c in extra:
        if c["scenario"] not in extra_scen[c["label"]]:
            extra_scen[c["label"]].append(c["scenario"])
    extra_list = "\n".join(f"- `{label}`: " + ", ".join(f"`{n}`" for n in extra_scen[label])
                           for label in LABELS if extra_scen.get(label))
    econf = sum(1 for c in extra if c["confusable"])
    extra_list += (f"\n\n{len(extra)} cases from {sum(len(v) for v in extra_scen.values())} scenarios; "
                   f"{econf} ({100 * econf / max(len(extra), 1):.1f} %) are confusable.")
    fresh_list += (f"\n\n{len(fresh)} cases from {sum(len(v) for v in fresh_scen.values())} scenarios; "
                   f"{fconf} ({100 * fconf / max(len(fresh), 1):.1f} %) are confusable.")
    text = README_TEMPLATE.format(
        total=total, max_lines=MAX_LINES, table="```\n" + table + "\n```",
        conf_n=nconf, conf_pct=100 * nconf / max(total, 1),
        held_total=sum(1 for c in cases if c["split"] == "held-out"), skipped=sk,
        fresh_total=len(fresh), fresh_list=fresh_list, extra_total=len(extra), extra_list=extra_list)
    OUT_README.write_text(text.rstrip() + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--show", action="store_true")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not IS_ROOT:
        log("note: not root: scenarios that need mounts, cgroups, unshare or setpriv are skipped")
    selected = [s for s in SCENARIOS
                if not args.only or any(o in s.name or o == s.label or (o == "fresh" and s.fresh) or (o == "extra" and s.extra)
                                        for o in args.only)]
    t0 = time.monotonic()
    cases, skipped, rejected = run_all(selected, args.show or bool(args.only))
    number_cases(cases)
    held = assign_splits(cases)
    table = summary(cases, skipped, [], held).split("\nskipped scenarios:")[0]
    print(summary(cases, skipped, rejected, held))
    print(f"({time.monotonic() - t0:.0f}s)")
    if args.only and not args.out:
        return
    out = args.out or OUT_JSONL
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    print(f"wrote {len(cases)} cases to {out}")
    if not args.out:
        write_readme(cases, skipped, held, table)
        print(f"wrote {OUT_README}")


if __name__ == "__main__":
    main()
