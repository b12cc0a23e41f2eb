// The dashboard in the tray app's own window (WebKitGTK), driven over WebDriver through
// tauri-driver: the window shows the live dashboard, logged in as the master with the local
// token, without a login form. The window is a program of its own (`qcity-dashboard`, what
// the tray starts from its menu); tauri-driver starts that program itself
// here, against a `qcity up` engine, as the tray would find one. That the tray's menu starts
// and ends this process is in tray.test.mjs.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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

let work, driver, browser, data, daemon, daemonExited;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "qcity-wd-"));
  const config = join(work, "config");
  data = join(work, "data");
  mkdirSync(config);
  mkdirSync(join(work, "tmp"));
  writeFileSync(join(config, "runner_manifest.json"), JSON.stringify({ runners: [{ name: "alpha", command: ["sleep", "602"] }] }));
  writeFileSync(join(config, "qcity-device-config.json"), JSON.stringify({ api: { port: 0 }, supervisor: { stop_grace_ms: 2000 }, platforms: { enabled: false } }));
  daemon = spawn(QCITY, ["up", "--config", config, "--data-dir", data], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, QCITY_LOG: "warn" } });
  daemonExited = new Promise((r) => daemon.once("exit", r));
  const info = join(data, "daemon.json");
  for (let i = 0; i < 200 && !(existsSync(info) && JSON.parse(readFileSync(info, "utf8")).pid === daemon.pid); i++) await sleep(100);
  const [port, native] = [await freePort(), await freePort()];
  driver = spawn(DRIVER, ["--port", String(port), "--native-port", String(native)], {
    env: { ...process.env, TMPDIR: join(work, "tmp"), XDG_CONFIG_HOME: join(work, "xdg-config"), XDG_DATA_HOME: join(work, "xdg-data"), QCITY_LOG: "warn" },
    stdio: ["ignore", "ignore", "inherit"],
  });
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
  await browser?.deleteSession();
  driver?.kill();
  // The daemon stops its runner on SIGTERM.
  daemon?.kill("SIGTERM");
  await daemonExited;
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
