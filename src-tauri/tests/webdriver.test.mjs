// The dashboard in the tray app's own window (WebKitGTK), driven over WebDriver through
// tauri-driver: the window shows the live dashboard, logged in as the master with the local
// token, without a login form. The window is a program of its own (`qcity-dashboard`, what
// the tray starts from its menu); tauri-driver starts that program itself
// here, against a `qcity up` engine, as the tray would find one. That the tray's menu starts
// and ends this process is in tray.test.mjs.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { remote } from "webdriverio";

const DASHBOARD = process.env.QCITY_DASHBOARD_BIN ?? new URL("../../target/debug/qcity-dashboard", import.meta.url).pathname;
const QCITY = process.env.QCITY_BIN ?? new URL("../../target/debug/qcity", import.meta.url).pathname;
const DRIVER = process.env.TAURI_DRIVER ?? "tauri-driver";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const freePort = () =>
  new Promise((r) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => r(port));
    });
  });

let work, driver, driverExited, browser, data, daemon, daemonExited;

/// A file for a child's stderr. Never this process's own stderr: that is a pipe to the test
/// runner, and anything that inherits it and outlives the test (a window process WebKit's
/// driver started and left behind, handed to init) holds the pipe open, and the runner never
/// ends. The logs are shown once the children are gone (`showLog`).
const logFile = (name) => openSync(join(work, name), "a");
function showLog(name) {
  const text = existsSync(join(work, name)) ? readFileSync(join(work, name), "utf8") : "";
  if (text.trim()) process.stderr.write(`--- ${name}:\n${text}`);
}

/// Every process as /proc shows it: pid, parent, session, and whether it lives (a zombie does
/// not: init may not reap an orphan here).
function processes() {
  const all = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // `pid (comm) state ppid pgrp session ...`: comm may hold spaces, so read after the last `)`.
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const [state, ppid, , session] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      all.push({ pid: Number(name), ppid: Number(ppid), session: Number(session), alive: state !== "Z" && state !== "X" });
    } catch {
      // Gone between the listing and the read.
    }
  }
  return all;
}

/// The dashboard this test had the driver start: the app binary (its exe, even if the file was
/// rebuilt since) with this test's data dir on its command line.
function isOurDashboard(pid) {
  try {
    const exe = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "");
    return exe === DASHBOARD && readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(data);
  } catch {
    return false;
  }
}

/// Whether `pid` has the environment this test gave the driver (its own TMPDIR), which the
/// driver's children inherit, even one that left its session and was handed to init.
function hasOurEnv(pid) {
  try {
    return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`TMPDIR=${join(work, "tmp")}`);
  } catch {
    return false;
  }
}

/// Whether `p` is one the driver started, however far it got from it: in its session (it is
/// a session leader, `detached`), with its environment, or our dashboard.
const isDriverOwn = (p) => p.pid === driver.pid || p.session === driver.pid || hasOurEnv(p.pid) || isOurDashboard(p.pid);

/// The driver's processes (`isDriverOwn`) and everything below them.
function driverProcesses(all) {
  const found = new Set(all.filter(isDriverOwn).map((p) => p.pid));
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) {
      if (found.has(p.ppid) && !found.has(p.pid)) {
        found.add(p.pid);
        grew = true;
      }
    }
  }
  return found;
}

/// `promise`, or an error after `ms` (its timer cleared either way: a pending one would keep
/// this process running).
function within(ms, promise) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "qcity-wd-"));
  const config = join(work, "config");
  data = join(work, "data");
  mkdirSync(config);
  mkdirSync(join(work, "tmp"));
  writeFileSync(join(config, "runner_manifest.json"), JSON.stringify({ runners: [{ name: "alpha", command: ["sleep", "602"] }] }));
  writeFileSync(join(config, "qcity-device-config.json"), JSON.stringify({ api: { port: 0 }, supervisor: { stop_grace_ms: 2000 }, platforms: { enabled: false } }));
  const daemonLog = logFile("daemon.log");
  daemon = spawn(QCITY, ["up", "--config", config, "--data-dir", data], { stdio: ["ignore", "ignore", daemonLog], env: { ...process.env, QCITY_LOG: "warn" } });
  closeSync(daemonLog);
  daemonExited = new Promise((r) => daemon.once("exit", r));
  const info = join(data, "daemon.json");
  for (let i = 0; i < 200 && !(existsSync(info) && JSON.parse(readFileSync(info, "utf8")).pid === daemon.pid); i++) await sleep(100);
  const [port, native] = [await freePort(), await freePort()];
  const driverLog = logFile("driver.log");
  driver = spawn(DRIVER, ["--port", String(port), "--native-port", String(native)], {
    env: { ...process.env, TMPDIR: join(work, "tmp"), XDG_CONFIG_HOME: join(work, "xdg-config"), XDG_DATA_HOME: join(work, "xdg-data"), QCITY_LOG: "warn" },
    stdio: ["ignore", "ignore", driverLog],
    // A session and process group of its own, which WebKitWebDriver and the window join:
    // the teardown kills them all by it.
    detached: true,
  });
  closeSync(driverLog);
  driverExited = new Promise((r) => driver.once("exit", r));
  await sleep(500);
  browser = await remote({
    hostname: "127.0.0.1",
    port,
    logLevel: "error",
    capabilities: {
      "wdio:enforceWebDriverClassic": true,
      "tauri:options": { application: DASHBOARD, args: ["--data-dir", data] },
    },
  });
});

after(async () => {
  // Each step is bounded and the next one runs whatever the last one did: a teardown that
  // hangs or leaves a process behind hangs the whole run.
  try {
    await within(20000, browser?.deleteSession());
  } catch (e) {
    process.stderr.write(`deleting the WebDriver session: ${e}\n`);
  }
  let left = [];
  if (driver?.pid) {
    // Found before any kill: a child whose parent dies is handed to init, out of reach of
    // the walk down from the driver.
    const ours = driverProcesses(processes());
    try {
      process.kill(-driver.pid, "SIGKILL");
    } catch {
      // The group is empty already.
    }
    // Once more: what left the group (a session of its own) or started since.
    for (const pid of new Set([...ours, ...driverProcesses(processes())])) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    await within(10000, driverExited).catch(() => {});
    // Even a child that will not die must not keep this process running.
    driver.unref();
    for (let i = 0; i < 100; i++) {
      left = processes().filter((p) => p.alive && (ours.has(p.pid) || isDriverOwn(p)));
      if (!left.length) break;
      await sleep(100);
    }
  }
  // The daemon stops its runner on SIGTERM.
  daemon?.kill("SIGTERM");
  if (daemon && !(await within(15000, daemonExited).then(() => true, () => false))) {
    daemon.kill("SIGKILL");
    daemon.unref();
  }
  showLog("driver.log");
  showLog("daemon.log");
  const named = left.map(({ pid }) => {
    try {
      return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")}`;
    } catch {
      return String(pid);
    }
  });
  assert.deepEqual(named, [], "the driver, WebKitWebDriver or the window survived the teardown");
});

test("the window shows the live dashboard as the master, with no login form", async () => {
  const row = await browser.$('[data-runner="alpha"]');
  await row.waitForExist({ timeout: 20000 });
  await browser.waitUntil(async () => (await (await row.$('[data-testid="state"]')).getText()) === "running", { timeout: 20000 });
  assert.match(await (await browser.$('[data-testid="whoami"]')).getText(), /master/);
  assert.equal(await (await browser.$("#password")).isExisting(), false, "no login form");
  assert.match(await browser.getUrl(), /^http:\/\/127\.0\.0\.1:\d+\/#\/$/);
  // Live: a stop from the API shows without a reload.
  const info = JSON.parse(readFileSync(join(data, "daemon.json"), "utf8"));
  const token = readFileSync(join(data, "token"), "utf8").trim();
  await fetch(`http://${info.addr}/api/v1/runners/alpha/stop`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  await browser.waitUntil(async () => (await (await row.$('[data-testid="state"]')).getText()) === "stopped", { timeout: 20000 });
});
