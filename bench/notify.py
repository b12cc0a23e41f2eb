#!/usr/bin/env python3
"""Chat/webhook notifications from a real `qcity up`, measured against a webhook receiver on
loopback (the generic JSON webhook channel: the same outbox, worker and HTTP client as every
web channel):

  latency-sparse  event -> message received, one escalation every 1.1 s, group wait 0: the
                  pipeline alone (bus, detector, grouper, outbox in SQLite, worker, HTTP;
                  the events are further apart than the 1 s group interval)
  latency-burst   the same at 100 escalations/s for 10 s (group wait 0, interval 1 s): how
                  long an event waits for the message that carries it, and how many messages
                  the 1000 events became
  memory          the idle daemon's PSS with no channel, and with 7 channels (one of each
                  service, on loopback endpoints), before and after one test message each

  bench/notify.py [--bin target/release/qcity] [--only NAME,...]

Escalations come from POST /api/v1/escalations (the API `qcity build run` uses): each is one
`escalation` event and one critical notice. Which message carried which escalation is read
from the message titles ("N escalated"): the bus keeps their order. Loopback only."""
import argparse
import http.client
import http.server
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path


class Receiver:
    """A webhook receiver on loopback: the time and JSON body of every request, answered 200."""

    def __init__(self):
        self.got = []
        got = self.got

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                try:
                    got.append((time.monotonic(), json.loads(body)))
                except ValueError:
                    # ntfy's body is the message's text, not JSON.
                    got.append((time.monotonic(), {"title": "", "text": body.decode()}))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


class Daemon:
    def __init__(self, qcity, notifications, env=None):
        self.tmp = tempfile.mkdtemp(prefix="qcity-notify-bench-")
        self.conf = Path(self.tmp, "config")
        self.conf.mkdir()
        self.data = Path(self.tmp, "data")
        (self.conf / "runner_manifest.json").write_text(json.dumps({"runners": []}))
        (self.conf / "qcity-device-config.json").write_text(
            json.dumps({"api": {"port": 0}, "platforms": {"enabled": False}, "notifications": notifications})
        )
        self.proc = subprocess.Popen(
            [qcity, "up", "--config", str(self.conf), "--data-dir", str(self.data)],
            env={**os.environ, "QCITY_LOG": "error", **(env or {})},
            stdout=subprocess.DEVNULL,
        )
        info = self.data / "daemon.json"
        for _ in range(400):
            try:
                d = json.loads(info.read_text())
                if d["pid"] == self.proc.pid:
                    self.addr = d["addr"]
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.025)
        else:
            raise SystemExit("the daemon did not start")
        self.token = (self.data / "token").read_text().strip()
        host, port = self.addr.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port))

    def call(self, method, path, body=None):
        self.conn.request(
            method,
            "/api/v1" + path,
            body=json.dumps(body) if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise SystemExit(f"{method} {path}: {r.status} {data[:200]!r}")
        return json.loads(data) if data else None

    def pss_kib(self):
        for line in Path(f"/proc/{self.proc.pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)


def hook(rx, wait, interval):
    return {
        "grouping": {"wait_seconds": wait, "interval_seconds": interval, "repeat_seconds": 3600},
        "channels": [{"name": "hook", "url": f"json://127.0.0.1:{rx.port}/in"}],
    }


def escalated(msg):
    """How many escalations a message carries: its title is `N escalated` or one's title."""
    title = msg["title"]
    if title.endswith(" escalated"):
        return int(title.split()[0])
    return 1


def latencies(sent, got):
    """Each event's latency: sent[i] (monotonic) to the arrival of the message carrying it."""
    out, i = [], 0
    for at, msg in got:
        for _ in range(escalated(msg)):
            if i < len(sent):
                out.append(at - sent[i])
                i += 1
    return out, i


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def run_latency(qcity, n, every, interval, label):
    rx = Receiver()
    d = Daemon(qcity, hook(rx, 0, interval))
    sent = []
    start = time.monotonic()
    for k in range(n):
        target = start + k * every
        now = time.monotonic()
        if target > now:
            time.sleep(target - now)
        sent.append(time.monotonic())
        d.call("POST", "/escalations", {"reason": f"bench {k}", "advice": ""})
    deadline = time.monotonic() + interval + 10
    while time.monotonic() < deadline:
        if sum(escalated(m) for _, m in rx.got) >= n:
            break
        time.sleep(0.05)
    got = sorted(rx.got, key=lambda g: g[0])
    lat, counted = latencies(sent, got)
    d.stop()
    rx.close()
    rate = n / (sent[-1] - sent[0]) if n > 1 else 0
    ms = [x * 1000 for x in lat]
    print(
        f"{label}: {n} escalations at {rate:.0f}/s -> {len(got)} messages, {counted} carried; "
        f"latency p50 {pct(ms, 50):.1f} ms, p95 {pct(ms, 95):.1f} ms, max {max(ms):.1f} ms"
    )


def run_memory(qcity):
    rx = Receiver()
    base = f"http://127.0.0.1:{rx.port}"
    env = {f"QCITY_BENCH_{k}": "x" * 40 for k in ("SLACK", "DISCORD", "TG", "WA", "NTFY", "HOOK", "SMTP")}
    seven = {
        "channels": [
            {"name": "slack", "url": "slack://{env://QCITY_BENCH_SLACK}", "endpoint": base},
            {"name": "discord", "url": "discord://1/{env://QCITY_BENCH_DISCORD}", "endpoint": base},
            {"name": "telegram", "url": "tgram://{env://QCITY_BENCH_TG}/42", "endpoint": base},
            {"name": "whatsapp", "url": "whatsapp://{env://QCITY_BENCH_WA}@1/15550001", "endpoint": base},
            {"name": "ntfy", "url": "ntfy://alerts", "endpoint": base},
            {"name": "hook", "url": f"json://127.0.0.1:{rx.port}/in?secret={{env://QCITY_BENCH_HOOK}}"},
            {"name": "mail", "url": "mailto://127.0.0.1:1/a@x.org?from=q@x.org&tls=none"},
        ]
    }
    rows = []
    for label, notifications in (("no channel", {}), ("7 channels", seven)):
        d = Daemon(qcity, notifications, env)
        time.sleep(3)
        idle = d.pss_kib()
        after = None
        if notifications:
            for c in notifications["channels"]:
                d.call("POST", f"/notify/channels/{c['name']}/test")
            time.sleep(3)
            after = d.pss_kib()
        d.stop()
        rows.append((label, idle, after))
    rx.close()
    for label, idle, after in rows:
        line = f"memory: {label}: idle PSS {idle / 1024:.1f} MiB"
        if after is not None:
            line += f", after one test message each {after / 1024:.1f} MiB"
        print(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/qcity")
    ap.add_argument("--only", default="latency-sparse,latency-burst,memory")
    a = ap.parse_args()
    only = a.only.split(",")
    if "latency-sparse" in only:
        run_latency(a.bin, 20, 1.1, 1, "latency-sparse")
    if "latency-burst" in only:
        run_latency(a.bin, 1000, 0.01, 1, "latency-burst")
    if "memory" in only:
        run_memory(a.bin)


if __name__ == "__main__":
    main()
