#!/usr/bin/env python3
"""The hardening probes of issue 16, re-run against real `qcity up` daemons on loopback, with
the figures its "Done when" asks for:

  cross-origin   state-changing requests with the master's session cookie from other origins
                 (other ports of localhost, null, none, Sec-Fetch-Site: same-site) and two Host
                 headers: how many were obeyed (want 0)
  rate-limit     wrong logins past the limit (5 a minute per client): 60 rotating over 12
                 loopback addresses, and 100 at once from one address (want 0 past the limit)
  login-memory   the daemon's peak RSS (VmHWM) under 100 concurrent right logins (want <= 150 MiB)
  connections    a runner's starts per second before and while 20,000 connections are
                 attempted, and whether the API answers afterwards (want restarts going on)
  audit          false "broken" verdicts in 40 `qcity audit verify` and 40 GET /audit/verify
                 while 10 runners restart every 50 ms (want 0)
  disk-full      the slowest answer of GET /events, GET /audit, POST restart and `qcity stop`
                 with the data dir's filesystem full (a tmpfs: needs root) (want <= 1 s)
  file-modes     files and dirs of the data dir that others may read, after a run that started
                 from a data dir left 0755 with a 0644 token (want 0)

  bench/hardening.py [--bin target/release/qcity] [--only NAME,...]

Loopback only; nothing is downloaded. Takes about two minutes."""
import argparse
import concurrent.futures
import http.client
import json
import os
import resource
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path


class Daemon:
    """`qcity up` on its own config and data dirs, API on an ephemeral loopback port."""

    def __init__(self, qcity, runners, data=None, nofile=None):
        self.qcity = qcity
        self.tmp = tempfile.mkdtemp(prefix="qcity-hardening-")
        self.conf = Path(self.tmp, "config")
        self.conf.mkdir()
        self.data = Path(data) if data else Path(self.tmp, "data")
        (self.conf / "runner_manifest.json").write_text(json.dumps({"runners": runners}))
        (self.conf / "qcity-device-config.json").write_text(json.dumps({"api": {"port": 0}, "platforms": {"enabled": False}}))
        limit = None
        if nofile:
            limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen(
            [qcity, "up", "--config", str(self.conf), "--data-dir", str(self.data)],
            env=dict(os.environ, QCITY_LOG="error"), preexec_fn=limit,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        info = self.data / "daemon.json"
        for _ in range(200):
            try:
                if json.loads(info.read_text())["pid"] == self.proc.pid:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        self.addr = json.loads(info.read_text())["addr"]
        self.host, port = self.addr.rsplit(":", 1)
        self.port = int(port)
        self.token = (self.data / "token").read_text().strip()

    def request(self, method, path, body=None, headers=(), source=None, timeout=30):
        """(status, headers, body) of one request; headers is a list of (name, value), sent as
        given (two Host headers are two)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout,
                                          source_address=(source, 0) if source else None)
        try:
            conn.putrequest(method, "/api/v1" + path, skip_host=True,
                            skip_accept_encoding=True)
            names = {k.lower() for k, _ in headers}
            if "host" not in names:
                conn.putheader("Host", self.addr)
            data = b"" if body is None else json.dumps(body).encode()
            for k, v in headers:
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(data)))
            conn.endheaders(data)
            r = conn.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            conn.close()

    def bearer(self):
        return [("Authorization", f"Bearer {self.token}")]

    def cli(self, *args, timeout=60):
        return subprocess.run([self.qcity, *args, "--data-dir", str(self.data)],
                              capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, QCITY_LOG="error"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def flapper(name, log=None, sleep="0.1"):
    record = f"echo started >> '{log}'; " if log else ""
    return {"name": name, "command": ["sh", "-c", f"{record}sleep {sleep}; exit 1"],
            "restart": {"delay_ms": 50, "factor": 1.0, "jitter_percent": 0, "crash_loop": None}}


def steady(name):
    return {"name": name, "command": ["sleep", "600"]}


def lines(path):
    try:
        return len(Path(path).read_text().splitlines())
    except OSError:
        return 0


def vm(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def cross_origin(qcity):
    d = Daemon(qcity, [steady("r")])
    try:
        own = f"http://{d.addr}"
        _, headers, _ = d.request("POST", "/auth/login", {"token": d.token},
                                  [("Origin", own)])
        cookie = next(v.split(";")[0] for k, v in headers if k.lower() == "set-cookie")
        variants = [
            [("Origin", "http://localhost:3000")],
            [("Origin", "http://127.0.0.1:8080")],
            [("Origin", f"http://127.0.0.1:{d.port + 1}")],
            [("Origin", f"http://localhost:{d.port}")] if d.host != "localhost" else [],
            [("Origin", "null")],
            [],
            [("Origin", own), ("Sec-Fetch-Site", "same-site")],
            [("Origin", own), ("Sec-Fetch-Site", "cross-site")],
        ]
        writes = [("POST", "/runners/r/restart", None), ("POST", "/runners/r/stop", None),
                  ("POST", "/runners/r/start", None), ("POST", "/reload", None),
                  ("PUT", "/users/mallory", {"role": "master", "password": "mallory-pw-1"}),
                  ("POST", "/auth/login", {"token": d.token}),
                  ("POST", "/auth/logout", None)]
        obeyed, tried = 0, 0
        for v in variants:
            for method, path, body in writes:
                status, _, _ = d.request(method, path, body, [("Cookie", cookie), *v])
                tried += 1
                obeyed += 200 <= status < 300
        # Two Host headers, ours first: refused whatever the request.
        status, _, _ = d.request("GET", "/runners",
                                 headers=[("Host", d.addr), ("Host", "evil.example"),
                                          *d.bearer()])
        tried += 1
        obeyed += 200 <= status < 300
        return {"tried": tried, "obeyed": obeyed, "ok": obeyed == 0}
    finally:
        d.stop()


def wrong_login(d, source=None):
    status, _, _ = d.request("POST", "/auth/login", {"user": "admin", "password": "wrong-one"},
                             [("Origin", f"http://{d.addr}")], source=source)
    return status


def rate_limit(qcity):
    limit = 5
    d = Daemon(qcity, [])
    try:
        rotated = [wrong_login(d, f"127.0.0.{2 + i % 12}") for i in range(60)]
    finally:
        d.stop()
    d = Daemon(qcity, [])
    try:
        with concurrent.futures.ThreadPoolExecutor(100) as pool:
            burst = list(pool.map(lambda _: wrong_login(d), range(100)))
    finally:
        d.stop()
    evaluated = [sum(s != 429 for s in rotated), sum(s != 429 for s in burst)]
    past = sum(max(0, e - limit) for e in evaluated)
    return {"rotated_evaluated": evaluated[0], "burst_evaluated": evaluated[1],
            "past_the_limit": past, "ok": past == 0}


def login_memory(qcity):
    d = Daemon(qcity, [])
    try:
        status, _, _ = d.request("PUT", "/users/alice",
                                 {"role": "viewer", "password": "alice-password"},
                                 d.bearer())
        assert status == 200, status
        before = vm(d.proc.pid, "VmRSS")
        own = f"http://{d.addr}"

        def login(_):
            return d.request("POST", "/auth/login",
                             {"user": "alice", "password": "alice-password"},
                             [("Origin", own)], timeout=300)[0]

        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(100) as pool:
            statuses = list(pool.map(login, range(100)))
        took = time.time() - t0
        peak = vm(d.proc.pid, "VmHWM")
        return {"rss_before_mib": round(before / 1024, 1), "peak_mib": round(peak / 1024, 1),
                "logins_ok": sum(s == 200 for s in statuses), "seconds": round(took, 1),
                "ok": peak <= 150 * 1024}
    finally:
        d.stop()


def connections(qcity, attempts=20_000):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp()
    log = Path(tmp, "starts")
    d = Daemon(qcity, [flapper("flap", log)])
    held = []
    try:
        time.sleep(2)
        n0 = lines(log)
        time.sleep(5)
        calm = (lines(log) - n0) / 5
        made = failed = 0
        t0 = time.time()
        for _ in range(attempts):
            s = socket.socket()
            s.settimeout(0.05)
            try:
                s.connect((d.host, d.port))
                held.append(s)
                made += 1
            except OSError:
                s.close()
                failed += 1
        flood_s = time.time() - t0
        n1 = lines(log)
        time.sleep(5)
        during = (lines(log) - n1) / 5
        t1 = time.time()
        try:
            status = d.request("GET", "/runners", headers=d.bearer(), timeout=30)[0]
        except OSError as e:
            status = str(e)
        answer_during = round(time.time() - t1, 2)
        for s in held:
            s.close()
        held = []
        t2 = time.time()
        status_after = d.request("GET", "/runners", headers=d.bearer(), timeout=30)[0]
        return {"attempted": attempts, "connected": made, "refused_or_timed_out": failed,
                "flood_seconds": round(flood_s, 1),
                "starts_per_s_before": calm, "starts_per_s_during": during,
                "api_during": {"status": status, "seconds": answer_during},
                "api_after": {"status": status_after, "seconds": round(time.time() - t2, 2)},
                "ok": during >= calm / 3 and status_after == 200}
    finally:
        for s in held:
            s.close()
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def audit(qcity):
    d = Daemon(qcity, [flapper(f"f{i}", sleep="0.05") for i in range(10)])
    try:
        time.sleep(2)
        false = cli_runs = api_runs = 0
        for _ in range(40):
            out = d.cli("audit", "verify")
            cli_runs += 1
            false += not out.stdout.startswith("audit log OK")
            status, _, body = d.request("GET", "/audit/verify", headers=d.bearer())
            api_runs += 1
            false += not (status == 200 and json.loads(body).get("ok"))
        return {"cli_verifies": cli_runs, "api_verifies": api_runs, "false_verdicts": false,
                "ok": false == 0}
    finally:
        d.stop()


def disk_full(qcity):
    if os.geteuid() != 0:
        return {"skipped": "needs root to mount a tmpfs", "ok": None}
    mnt = Path(tempfile.mkdtemp(prefix="qcity-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "qcity-bench", str(mnt)],
                   check=True)
    d = None
    try:
        d = Daemon(qcity, [flapper("flap"), steady("steady")], data=mnt / "data")
        time.sleep(2)
        with open(mnt / "fill", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError:
                pass
        time.sleep(2)
        restarts_before = d.cli("status", "--json")
        times, statuses = {}, {}
        for name, call in [
            ("GET /events", lambda: d.request("GET", "/events?after=0&limit=100",
                                               headers=d.bearer())[0]),
            ("GET /audit", lambda: d.request("GET", "/audit?n=50", headers=d.bearer())[0]),
            ("POST restart", lambda: d.request("POST", "/runners/steady/restart",
                                                headers=d.bearer())[0]),
            ("qcity stop", lambda: d.cli("stop", "steady").returncode),
        ]:
            t0 = time.time()
            try:
                statuses[name] = call()
            except (OSError, subprocess.TimeoutExpired) as e:
                statuses[name] = repr(e)
            times[name] = round(time.time() - t0, 3)
        flap = lambda out: next(r["restarts"] for r in json.loads(out.stdout)["runners"]
                                if r["name"] == "flap")
        before = flap(restarts_before)
        time.sleep(2)
        after = flap(d.cli("status", "--json"))
        os.remove(mnt / "fill")
        slowest = max(times.values())
        return {"seconds": times, "answers": statuses, "slowest_s": slowest,
                "flapper_restarts_in_2s_full": after - before, "ok": slowest <= 1.0}
    finally:
        if d:
            d.stop()
        subprocess.run(["umount", "-l", str(mnt)])
        shutil.rmtree(mnt, ignore_errors=True)


def file_modes(qcity):
    tmp = Path(tempfile.mkdtemp())
    data = tmp / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    (data / "token").write_text("a" * 64 + "\n")
    os.chmod(data / "token", 0o644)
    old = (data / "token").read_text()
    d = Daemon(qcity, [flapper("flap"), steady("steady")], data=data)
    try:
        time.sleep(3)
        d.request("PUT", "/users/bob", {"role": "viewer", "password": "bob-password"},
                  d.bearer())
        d.cli("logs", "flap")
    finally:
        d.proc.terminate()
        d.proc.wait(30)
    readable = []
    for root, dirs, files in os.walk(data):
        for name in dirs + files:
            p = Path(root, name)
            if p.lstat().st_mode & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWOTH):
                readable.append(f"{p.relative_to(data)} {oct(p.lstat().st_mode & 0o777)}")
    top = oct(data.stat().st_mode & 0o777)
    rotated = (data / "token").read_text() != old
    d.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    return {"readable_by_others": readable, "data_dir_mode": top, "token_rotated": rotated,
            "ok": not readable and top == "0o700" and rotated}


PROBES = {"cross-origin": cross_origin, "rate-limit": rate_limit, "login-memory": login_memory,
          "connections": connections, "audit": audit, "disk-full": disk_full,
          "file-modes": file_modes}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/qcity")
    ap.add_argument("--only", default=",".join(PROBES))
    a = ap.parse_args()
    qcity = os.path.abspath(a.bin)
    results = {}
    for name in a.only.split(","):
        t0 = time.time()
        results[name] = PROBES[name](qcity)
        print(f"{name:13} {'ok  ' if results[name]['ok'] else 'FAIL' if results[name]['ok'] is False else 'skip'} "
              f"{json.dumps({k: v for k, v in results[name].items() if k != 'ok'})}"
              f"  ({time.time() - t0:.0f} s)", flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
