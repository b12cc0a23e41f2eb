// A real `qcity up` daemon on loopback and Debian's Chromium driven by playwright-core.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const QCITY = process.env.QCITY_BIN ?? new URL("../../target/debug/qcity", import.meta.url).pathname;
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export class Daemon {
  static async start(manifest, { device = {}, env = {} } = {}) {
    const d = new Daemon();
    d.env = env;
    d.dir = mkdtempSync(join(tmpdir(), "qcity-ui-"));
    d.conf = join(d.dir, "config");
    d.data = join(d.dir, "data");
    mkdirSync(d.conf);
    d.port = await freePort();
    writeFileSync(join(d.conf, "runner_manifest.json"), JSON.stringify(manifest));
    writeFileSync(
      join(d.conf, "qcity-device-config.json"),
      JSON.stringify({ api: { port: d.port }, supervisor: { stop_grace_ms: 2000 }, platforms: { enabled: false }, ...device }),
    );
    await d.spawn();
    d.token = readFileSync(join(d.data, "token"), "utf8").trim();
    return d;
  }

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  async spawn() {
    this.child = spawn(QCITY, ["up", "--config", this.conf, "--data-dir", this.data], {
      env: { ...process.env, QCITY_LOG: "warn", ...(this.env ?? {}) },
      stdio: ["ignore", "ignore", "inherit"],
    });
    const pid = this.child.pid;
    await until("daemon.json", () => {
      const f = join(this.data, "daemon.json");
      return existsSync(f) && JSON.parse(readFileSync(f, "utf8")).pid === pid;
    });
  }

  async stop() {
    if (!this.child || this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    await exited;
  }

  /// A request with the master token (or as given), answered as {status, body}.
  async api(method, path, { body, headers = {}, token = this.token } = {}) {
    const res = await fetch(this.base + path, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { "Content-Type": "application/json" } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: json ?? text };
  }

  async runner(name) {
    return (await this.api("GET", `/api/v1/runners/${name}`)).body;
  }
}

export async function browser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/// A page logged in through the login form (`options`: the page's context, e.g. bypassCSP
/// for a test that injects axe-core).
export async function loggedIn(b, d, user, password, options = {}) {
  const page = await b.newPage(options);
  await page.goto(d.base + "/");
  await page.getByLabel("User", { exact: true }).fill(user);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("whoami").waitFor();
  return page;
}
