// The tray app for real, headless: its own X display (Xvfb) and D-Bus session, a
// StatusNotifierItem watcher and a notification server, as a desktop would have them.
// Run inside `xvfb-run -a dbus-run-session -- node --test src-tauri/tests/` (`make tray-test`).
//
// What is read is what a desktop reads: the tray item's properties and menu over D-Bus, the
// icon file the item points at, the Notify calls on the bus, the X windows.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { arch, tmpdir } from "node:os";
import { join } from "node:path";
// The dashboard's tests' signer: node:crypto only, nothing from that package's modules.
import { minisign } from "../../ui/tests/minisign.mjs";

const TRAY = process.env.QCITY_TRAY_BIN ?? new URL("../../target/debug/qcity-tray", import.meta.url).pathname;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

const sh = (cmd, args) => execFileSync(cmd, args, { encoding: "utf8" });
const gdbus = (...args) => sh("gdbus", ["call", "--session", ...args]);

let work, dirs, tray, helpers = [], notifyLog, trayLog, item;

/// The tray on `d` (default: the test's dirs), its stderr (QCITY_LOG=info) in `log`.
function startTray(d = dirs, log = trayLog) {
  const p = spawn(TRAY, ["--data-dir", d.data, "--config", d.config], {
    // TMPDIR: where the tray library writes the icon files the item points at.
    // HOME: where "Start at login" writes its autostart entry (~/.config/autostart).
    env: { ...process.env, HOME: join(work, "home"), TMPDIR: join(work, "tmp"), XDG_CONFIG_HOME: join(work, "xdg-config"), XDG_DATA_HOME: join(work, "xdg-data"), QCITY_LOG: "info,tao=error" },
    stdio: ["ignore", "ignore", openSync(log, "a")],
  });
  p.exited = new Promise((r) => p.once("exit", (code) => r(code)));
  return p;
}

/// The tray item: (bus name, object path), from the watcher.
function findItem() {
  const reg = gdbus("--dest", "org.kde.StatusNotifierWatcher", "--object-path", "/StatusNotifierWatcher",
    "--method", "org.freedesktop.DBus.Properties.Get", "org.kde.StatusNotifierWatcher", "RegisteredStatusNotifierItems");
  const names = [...reg.matchAll(/'([^']+)'/g)].map((m) => m[1]);
  for (const name of names) {
    const tree = sh("gdbus", ["introspect", "--session", "--dest", name, "--object-path", "/", "--recurse"]);
    const path = tree.match(/node (\/org\/ayatana\/NotificationItem\/[A-Za-z0-9_]*qcity)\b/);
    if (path) return { name, path: path[1] };
  }
  return null;
}

function props() {
  const out = gdbus("--dest", item.name, "--object-path", item.path, "--method",
    "org.freedesktop.DBus.Properties.GetAll", "org.kde.StatusNotifierItem");
  const get = (k) => out.match(new RegExp(`'${k}': <'([^']*)'>`))?.[1];
  return { status: get("Status"), icon: get("IconName"), label: get("XAyatanaLabel"), title: get("Title") };
}

/// The colour of the icon file the item shows: a pixel of the disc, left of every glyph.
function iconColour() {
  const file = props().icon;
  const px = sh("/usr/bin/convert", [file, "-format", "%[pixel:p{6,22}]", "info:"]).trim();
  const [r, g, b] = px.match(/\d+/g).map(Number);
  if (g > 120 && r < 100) return "green";
  if (r > 180 && g > 110 && b < 60) return "amber";
  if (r > 170 && g < 80) return "red";
  // Two greys: the paused one, and the pale one of an engine that does not answer.
  if (Math.abs(r - g) < 20 && Math.abs(g - b) < 20) return r > 180 ? "down" : "grey";
  return px;
}

/// The menu's items in order, every level, as { id, label, enabled } (a submenu's items
/// follow its own).
function menuEntries() {
  const out = gdbus("--dest", item.name, "--object-path", `${item.path}/Menu`, "--method",
    "com.canonical.dbusmenu.GetLayout", "--", "0", "-1", "[]");
  return [...out.matchAll(/\((\d+), \{([^}]*)\}/g)]
    .map((m) => ({ id: Number(m[1]), label: m[2].match(/'label': <'([^']*)'>/)?.[1], enabled: !/'enabled': <false>/.test(m[2]) }))
    .filter((e) => e.label !== undefined);
}

const clickId = (id) => gdbus("--dest", item.name, "--object-path", `${item.path}/Menu`, "--method",
  "com.canonical.dbusmenu.Event", "--", String(id), "clicked", "<0>", "0");

/// Clicks the item `label` (of the menu's first level, or the first one of that name). The
/// menu is rebuilt when the runners change, which gives its items new ids; a click that
/// meets the old menu is made again on the new one, as a user would.
function click(label) {
  for (let attempt = 0; ; attempt++) {
    const all = menuEntries();
    const found = all.find((e) => e.label === label);
    assert.ok(found, `menu item ${label} in ${JSON.stringify(all)}`);
    try {
      return clickId(found.id);
    } catch (e) {
      if (attempt >= 3 || !/does not refer to a menu item/.test(String(e))) throw e;
    }
  }
}

/// The item `label` in the submenu of runner `runner`.
function runnerItem(runner, label) {
  const all = menuEntries();
  const at = all.findIndex((e) => e.label.startsWith(`${runner} — `));
  assert.ok(at >= 0, `a submenu for ${runner} in ${JSON.stringify(all)}`);
  const found = all.slice(at + 1, at + 6).find((e) => e.label === label);
  assert.ok(found, `${label} under ${runner} in ${JSON.stringify(all.slice(at, at + 6))}`);
  return found;
}

function notices() {
  const text = readFileSync(notifyLog, "utf8");
  return [...text.matchAll(/member=Notify\n\s+string "([^"]*)"\n\s+uint32 \d+\n\s+string "[^"]*"\n\s+string "([^"]*)"\n\s+string "([^"]*)"/g)]
    .map((m) => ({ app: m[1], title: m[2], body: m[3] }));
}

async function api(path, method = "GET") {
  const info = JSON.parse(readFileSync(join(dirs.data, "daemon.json"), "utf8"));
  const token = readFileSync(join(dirs.data, "token"), "utf8").trim();
  const res = await fetch(`http://${info.addr}/api/v1${path}`, { method, headers: { Authorization: `Bearer ${token}` } });
  return res.json();
}

/// The dashboard's windows shown on the display (X ids). xdotool walks every window of the
/// display, and one that goes away during the walk (WebKit makes and drops some as it starts)
/// ends it with an X error (BadWindow) and exit status 1, the status of "none found" too. Such
/// a walk says nothing about the dashboard's window, so it is made again: only a walk that
/// ends cleanly without a match means there is none.
const windows = () => {
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync("xdotool", ["search", "--onlyvisible", "--name", "^QCity$"], { encoding: "utf8" });
    if (r.status === 0) return r.stdout.trim().split("\n").filter(Boolean);
    if (r.status === 1 && !r.stdout.trim() && !r.stderr.trim()) return [];
    if (attempt >= 50) throw new Error(`xdotool search failed ${attempt} times: ${r.error ?? r.stderr}`);
  }
};

/// The tray's children as { pid, comm, args }: the window process, WebKit's, the runners.
function children(pid = tray.pid) {
  let out = "";
  try {
    out = sh("pgrep", ["-P", String(pid)]);
  } catch {
    return [];
  }
  return out.split("\n").filter(Boolean).map(Number).flatMap((p) => {
    try {
      return [{ pid: p, comm: readFileSync(`/proc/${p}/comm`, "utf8").trim(), args: readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0") }];
    } catch {
      return [];
    }
  });
}

const descendants = (pid) => children(pid).flatMap((c) => [c, ...descendants(c.pid)]);

/// The tray's dashboard window processes (a zombie has no command line: not counted).
const windowProcs = () => children().filter((c) => c.comm === "qcity-dashboard" && c.args.length > 1);

/// The shared libraries mapped into a process.
const libraries = (pid) => [...new Set(readFileSync(`/proc/${pid}/maps`, "utf8").split("\n").map((l) => l.split(/\s+/)[5]).filter((f) => f && f.includes(".so")))];

/// Running: a zombie is not (an orphan's may wait for a reaper that never comes here).
const alive = (pid) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

const closeWindows = () => {
  for (const w of windows()) sh("/usr/bin/python3", [new URL("wm-close.py", import.meta.url).pathname, w]);
};

/// Closes the dashboard window as a window manager does, once, as a user clicks its close
/// button once (wm-close.py waits until the server has delivered the request), and waits for
/// it to go.
async function closeWindowsAndWait() {
  assert.equal(windows().length, 1, "a window to close");
  closeWindows();
  await until("the window closed", () => windows().length === 0);
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "qcity-tray-"));
  dirs = { data: join(work, "data"), config: join(work, "config") };
  mkdirSync(dirs.config);
  mkdirSync(join(work, "tmp"));
  mkdirSync(join(work, "home"));
  writeFileSync(join(dirs.config, "runner_manifest.json"), JSON.stringify({
    runners: [
      { name: "victim", command: ["sleep", "600"], restart: { delay_ms: 4000, max_delay_ms: 4000, jitter_percent: 0 } },
      { name: "steady", command: ["sleep", "601"] },
    ],
  }));
  // No healer: it restarts a SIGKILLed runner at once, so the red between the kill and the
  // restart would last milliseconds, and the test would race it; the restart policy's 4 s
  // delay shows it for long enough.
  writeFileSync(join(dirs.config, "qcity-device-config.json"), JSON.stringify({ api: { port: 0 }, supervisor: { stop_grace_ms: 2000 }, healer: { enabled: false }, platforms: { enabled: false } }));
  notifyLog = join(work, "notify.log");
  trayLog = join(work, "tray.log");
  const bg = (cmd, args, out) => {
    const p = spawn(cmd, args, { stdio: ["ignore", out ?? "ignore", "ignore"] });
    helpers.push(p);
    return p;
  };
  bg("status-notifier-watcher", []);
  bg("dunst", []);
  bg("dbus-monitor", ["--session", "interface='org.freedesktop.Notifications',member='Notify'"], openSync(notifyLog, "w"));
  await until("the watcher on the bus", () => sh("gdbus", ["introspect", "--session", "--dest", "org.kde.StatusNotifierWatcher", "--object-path", "/StatusNotifierWatcher"]).includes("RegisterStatusNotifierItem"));
  tray = startTray();
  item = await until("the tray item registered", () => findItem());
});

after(async () => {
  if (tray && tray.exitCode === null) {
    tray.kill("SIGTERM");
    await tray.exited;
  }
  for (const h of helpers) h.kill();
});

test("the tray item shows the overall state and lists the runners in its menu", async () => {
  await until("2 running", () => props().label === "QCity: 2 runners: 2 running");
  const p = props();
  assert.equal(p.status, "Active");
  assert.equal(iconColour(), "green");
  const labels = menuEntries().map((e) => e.label);
  for (const l of ["Open dashboard", "victim — running (green)", "steady — running (green)", "Start", "Stop", "Restart", "Pause", "Pause all", "Resume all", "Run autotests", "Start at login", "Quit"]) {
    assert.ok(labels.includes(l), `${l} in ${JSON.stringify(labels)}`);
  }
});

test("Start at login writes an XDG autostart entry that starts this tray, and unticking it removes the entry", async () => {
  const entry = join(work, "home", ".config", "autostart", "qcity-tray.desktop");
  assert.ok(!existsSync(entry));
  click("Start at login");
  // The entry is created, then written: wait for its Exec= line, not for the file alone.
  const execLine = () => (existsSync(entry) ? readFileSync(entry, "utf8").split("\n").find((l) => l.startsWith("Exec=")) : undefined);
  await until("the autostart entry", () => execLine() !== undefined);
  const exec = execLine();
  assert.ok(exec?.includes(TRAY), `Exec= names ${TRAY}: ${exec}`);
  click("Start at login");
  await until("the entry removed", () => !existsSync(entry));
});

test("a killed runner turns the tray red with a notification; its recovery turns it green with a fixed one", async () => {
  const victim = (await api("/runners/victim")).pid;
  process.kill(victim, "SIGKILL");
  await until("red", () => iconColour() === "red");
  assert.match(props().label, /1 failing \(victim\)/);
  await until("the failure notification", () => notices().some((n) => n.title === "victim failed"));
  const failed = notices().find((n) => n.title === "victim failed");
  assert.equal(failed.app, "QCity");
  assert.equal(failed.body, "victim stopped: signal 9 (SIGKILL).");
  // Restarted after 4 s, up for 5 s: fixed.
  await until("green again", () => iconColour() === "green", 15000);
  await until("the fixed notification", () => notices().some((n) => n.title === "victim fixed"), 15000);
  assert.deepEqual(notices().map((n) => n.title), ["victim failed", "victim fixed"]);
  // A click on the failure notice (still shown: failures are urgent) opens that runner's page.
  sh("dunstctl", ["action", "0"]);
  await until("the runner's page", () => readFileSync(trayLog, "utf8").includes('route="#/runner/victim"'));
  await until("the dashboard window", () => windows().length === 1);
  // In a process of its own, at that page: WebKit is never loaded into the tray.
  const [win] = windowProcs();
  assert.ok(win, "a window process");
  assert.deepEqual(win.args.slice(1, 5), ["--from-tray", "--route", "#/runner/victim", "--data-dir"]);
  await until("WebKit's processes under the window process", () => descendants(win.pid).some((c) => c.comm.startsWith("WebKit")));
  assert.ok(!children().some((c) => c.comm.startsWith("WebKit")), "none under the tray itself");
  assert.ok(libraries(win.pid).some((l) => l.includes("libwebkit2gtk")), "the window process has WebKit");
  assert.deepEqual(libraries(tray.pid).filter((l) => /webkit|javascriptcore/i.test(l)), [], "the tray never maps WebKit");
  await closeWindowsAndWait();
  // Gone from the process table: the tray reaped it.
  await until("the window process ended and reaped", () => !existsSync(`/proc/${win.pid}`));
});

test("a runner's menu items act on that runner, and the menu follows its state; Pause all and Resume all act on every runner", async () => {
  assert.equal(runnerItem("victim", "Start").enabled, false, "Start is off while it runs");
  clickId(runnerItem("victim", "Stop").id);
  await until("victim stopped", async () => (await api("/runners/victim")).state.state === "stopped");
  await until("its submenu saying so", () => menuEntries().some((e) => e.label === "victim — stopped (grey)"));
  assert.equal(runnerItem("victim", "Start").enabled, true);
  assert.equal(runnerItem("victim", "Stop").enabled, false);
  assert.equal((await api("/runners/steady")).state.state, "running", "the other runner is left alone");
  clickId(runnerItem("victim", "Start").id);
  await until("victim running again", () => menuEntries().some((e) => e.label === "victim — running (green)"));
  click("Pause all");
  await until("both paused", async () => (await api("/runners")).every((r) => r.state.state === "paused"));
  await until("grey", () => iconColour() === "grey");
  assert.ok(runnerItem("steady", "Resume"), "Resume in place of Pause");
  click("Resume all");
  await until("both running", async () => (await api("/runners")).every((r) => r.state.state === "running"));
  await until("green", () => iconColour() === "green");
});

test("Run autotests runs them in the engine and shows the result as a notification", async () => {
  const before = notices().length;
  click("Run autotests");
  await until("the autotest notification", () => notices().slice(before).some((n) => n.title.startsWith("Autotests ")), 30000);
  const shown = notices().slice(before).find((n) => n.title.startsWith("Autotests "));
  const latest = await api("/autotest/latest");
  assert.equal(shown.title, latest.passed ? "Autotests passed" : "Autotests failed");
  assert.equal(shown.body, `${latest.checks.length} checks`);
  assert.ok(latest.checks.length > 0);
});

test("a second launch starts no second engine and shows the first one's dashboard", async () => {
  const enginePid = JSON.parse(readFileSync(join(dirs.data, "daemon.json"), "utf8")).pid;
  assert.equal(enginePid, tray.pid, "the first tray runs the engine in-process");
  const second = startTray();
  assert.equal(await Promise.race([second.exited, sleep(15000).then(() => "still running")]), 0);
  assert.equal(JSON.parse(readFileSync(join(dirs.data, "daemon.json"), "utf8")).pid, enginePid);
  assert.equal(sh("pgrep", ["-c", "-f", `qcity-tray --data-dir ${dirs.data}`]).trim(), "1");
  await until("the dashboard window", () => windows().length === 1);
  // The window logged in with the local token: no password was asked.
  await until("the window's login", async () => (await api("/events?type=auth&limit=100")).events.some((e) => e.action === "login"));
});

/// The window process now, after checking there is one, with one window.
function theWindowProcess() {
  const procs = windowProcs();
  assert.equal(procs.length, 1, `one window process: ${JSON.stringify(procs)}`);
  assert.equal(windows().length, 1, "one window");
  return procs[0];
}

/// After a click on "Open dashboard" that met window process `old`: it ends (reaped by the
/// tray), and a new one shows the one window.
async function aNewWindowInsteadOf(old) {
  await until("the old window process ended and reaped", () => !existsSync(`/proc/${old.pid}`));
  await until("a window shown by a new window process", () => windows().length === 1 && windowProcs().some((c) => c.pid !== old.pid));
  await sleep(500);
  assert.notEqual(theWindowProcess().pid, old.pid);
}

test("closing the window and at once clicking Open dashboard shows a window again", async () => {
  const old = theWindowProcess();
  closeWindows();
  click("Open dashboard");
  await aNewWindowInsteadOf(old);
});

test("a click on Open dashboard that reaches a window process on its way out ends in a new window", async () => {
  // A window process whose window has closed still reads its stdin until it has exited, a
  // moment later: a route written to it then is taken, and never shown. That moment is made
  // to last here: the process is stopped before the click, and ended after it.
  const old = theWindowProcess();
  process.kill(old.pid, "SIGSTOP");
  try {
    click("Open dashboard");
    await sleep(500);
  } finally {
    process.kill(old.pid, "SIGKILL");
  }
  await aNewWindowInsteadOf(old);
});

test("a click on Open dashboard that reaches a window process hung without its window ends it and shows a new one", async () => {
  // Stopped for good, its window taken off the screen: it never shows the route, nor ends.
  const old = theWindowProcess();
  process.kill(old.pid, "SIGSTOP");
  try {
    sh("xdotool", ["windowunmap", "--sync", windows()[0]]);
    assert.equal(windows().length, 0);
    click("Open dashboard");
    await aNewWindowInsteadOf(old);
  } finally {
    // Only when the tray failed to end it.
    if (alive(old.pid)) process.kill(old.pid, "SIGKILL");
  }
});

test("closing the window ends its process and keeps the tray; the menu opens it again, once; Quit closes it and stops the engine", async () => {
  const [first] = windowProcs();
  assert.ok(first, "the window process");
  await closeWindowsAndWait();
  await until("its process ended", () => !alive(first.pid));
  await sleep(500);
  assert.equal(tray.exitCode, null, "the tray lives on");
  assert.ok(!descendants(tray.pid).some((c) => c.comm.startsWith("WebKit")), "no WebKit process left under the tray");
  click("Open dashboard");
  await until("the window again", () => windows().length === 1);
  const [again] = windowProcs();
  assert.ok(again && again.pid !== first.pid, "a new window process");
  // Open while it is open: the same window is focused, no second process or window.
  click("Open dashboard");
  await until("the focus request handled", () => readFileSync(trayLog, "utf8").split("\n").some((l) => l.includes("focusing it") && l.includes(`pid=${again.pid}`)));
  await sleep(1000);
  assert.deepEqual(windowProcs().map((c) => c.pid), [again.pid]);
  assert.equal(windows().length, 1);
  const pids = (await api("/runners")).map((r) => r.pid);
  assert.equal(pids.length, 2);
  click("Quit");
  assert.equal(await Promise.race([tray.exited, sleep(15000).then(() => "still running")]), 0);
  // The window went with the tray (its stdin ended).
  await until("the window process gone", () => !alive(again.pid));
  await until("the window gone", () => windows().length === 0);
  // The in-process engine stopped its runners on the way out.
  await until("the runners gone", () => pids.every((p) => !alive(p)));
  assert.ok(!existsSync(join(dirs.data, "daemon.json")), "daemon.json removed");
});

/// A release manifest offering QCity 99.0.0 (minisign's format, signed here; the file itself
/// is never downloaded by the tray) and the `update` section that pins its key.
function offer99(dir) {
  const keys = minisign([1, 1, 2, 3, 5, 8, 13, 21]);
  const body = Buffer.from("#!/bin/sh\necho qcity 99.0.0\n");
  const minisig = keys.signFile(body, "version:99.0.0");
  writeFileSync(join(dir, "qcity-99"), body);
  const target = `linux-${arch() === "arm64" ? "aarch64" : "x86_64"}-daemon`;
  writeFileSync(join(dir, "update.json"), JSON.stringify({
    version: "99.0.0",
    platforms: { [target]: { url: "qcity-99", signature: minisig, size: body.length, sha256: createHash("sha256").update(body).digest("hex") } },
  }));
  return { manifest: "update.json", public_key: keys.pub };
}

test("with a `qcity up` daemon already serving the user, the tray attaches to it and leaves it running", async () => {
  const QCITY = process.env.QCITY_BIN ?? new URL("../../target/debug/qcity", import.meta.url).pathname;
  const d = { data: join(work, "data2"), config: join(work, "config2") };
  mkdirSync(d.config);
  writeFileSync(join(d.config, "runner_manifest.json"), JSON.stringify({ runners: [{ name: "solo", command: ["sleep", "603"] }] }));
  // Its release manifest offers a newer QCity: the tray's menu says so.
  writeFileSync(join(d.config, "qcity-device-config.json"), JSON.stringify({ api: { port: 0 }, supervisor: { stop_grace_ms: 2000 }, platforms: { enabled: false }, update: offer99(d.config) }));
  let daemon, daemonExited;
  const startDaemon = async () => {
    daemon = spawn(QCITY, ["up", "--config", d.config, "--data-dir", d.data], { stdio: "ignore", env: { ...process.env, QCITY_LOG: "warn" } });
    daemonExited = new Promise((r) => daemon.once("exit", r));
    await until("the daemon", () => existsSync(join(d.data, "daemon.json")) && JSON.parse(readFileSync(join(d.data, "daemon.json"), "utf8")).pid === daemon.pid);
  };
  try {
    await startDaemon();
    const log = join(work, "tray2.log");
    tray = startTray(d, log);
    item = await until("the tray item registered", () => findItem());
    await until("the daemon's runner in the tray", () => props().label === "QCity: 1 runner: 1 running");
    assert.match(readFileSync(log, "utf8"), /engine="attached"/);
    assert.equal(JSON.parse(readFileSync(join(d.data, "daemon.json"), "utf8")).pid, daemon.pid, "no second engine");
    await until("the update in the menu", () => menuEntries().some((e) => e.label === "Update available (99.0.0)" && e.enabled));
    // The daemon stops: the tray goes grey and says so; it comes back: the tray finds it.
    daemon.kill("SIGTERM");
    await daemonExited;
    await until("the engine-down icon", () => iconColour() === "down");
    assert.match(props().label, /^QCity: engine not running/);
    assert.equal(tray.exitCode, null, "the tray lives on");
    await startDaemon();
    await until("the daemon's runner in the tray again", () => props().label === "QCity: 1 runner: 1 running", 30000);
    assert.equal(iconColour(), "green");
    click("Quit");
    assert.equal(await Promise.race([tray.exited, sleep(15000).then(() => "still running")]), 0);
    assert.equal(daemon.exitCode, null, "the daemon keeps running");
    assert.ok(sh("pgrep", ["-f", "^sleep 603$"]).trim(), "and its runner too");
  } finally {
    daemon.kill("SIGTERM");
    await daemonExited;
  }
});

test("SIGTERM (a session logging out) quits like the menu: the in-process engine stops its runners", async () => {
  const d = { data: join(work, "data3"), config: join(work, "config3") };
  mkdirSync(d.config);
  writeFileSync(join(d.config, "runner_manifest.json"), JSON.stringify({ runners: [{ name: "one", command: ["sleep", "604"] }] }));
  writeFileSync(join(d.config, "qcity-device-config.json"), JSON.stringify({ api: { port: 0 }, supervisor: { stop_grace_ms: 2000 }, platforms: { enabled: false } }));
  const saved = dirs;
  dirs = d;
  try {
    tray = startTray(d, join(work, "tray3.log"));
    item = await until("the tray item registered", () => findItem());
    await until("running", () => props().label === "QCity: 1 runner: 1 running");
    const pid = (await api("/runners/one")).pid;
    tray.kill("SIGTERM");
    assert.equal(await Promise.race([tray.exited, sleep(15000).then(() => "still running")]), 0);
    await until("the runner stopped", () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  } finally {
    dirs = saved;
  }
});
