// The Fleet view against a real daemon: without a `fleet` section it says so in one sentence
// (no empty tables); with one, against a real NATS server with JetStream on loopback
// (/usr/sbin/nats-server; skipped without it unless QCITY_REQUIRE_NATS is set), it lists this
// node with its capabilities (`any` and its role's) as connected, and its fleet events;
// axe-core in both themes, and the screenshot.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Daemon, browser, freePort, loggedIn, until } from "./harness.mjs";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const SHOTS = new URL("../../docs/screenshots/", import.meta.url).pathname;
const NATS = process.env.NATS_SERVER ?? "/usr/sbin/nats-server";
const HAVE_NATS = existsSync(NATS);
const NEED_NATS = !!process.env.QCITY_REQUIRE_NATS;

let b;
const daemons = [];
let nats = null;
/// The daemon and page of the NATS test, for the test that takes NATS away.
let fleet = null;

before(async () => {
  b = await browser();
});

after(async () => {
  await b?.close();
  for (const d of daemons) await d.stop();
  if (nats && nats.exitCode === null) {
    const exited = new Promise((r) => nats.once("exit", r));
    nats.kill("SIGTERM");
    await exited;
  }
});

const text = (locator) => locator.innerText();

/// A daemon with a master `boss` and the given qmoi_cloud_config.json, and a page logged in to it.
async function daemonWith(manifest, cloud) {
  const d = await Daemon.start(manifest);
  daemons.push(d);
  if (cloud) {
    // The harness writes the manifest and the device config; the fleet is added here, and
    // the daemon started again to read it.
    await d.stop();
    writeFileSync(join(d.conf, "qmoi_cloud_config.json"), JSON.stringify(cloud));
    await d.spawn();
    d.token = readFileSync(join(d.data, "token"), "utf8").trim();
  }
  const r = await d.api("PUT", "/api/v1/users/boss", { body: { role: "master", password: "boss-password" } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const page = await loggedIn(b, d, "boss", "boss-password", { bypassCSP: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  return { d, page };
}

async function axe(page, what) {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => (await globalThis.axe.run(document, { resultTypes: ["violations"] })).violations);
  const said = violations.map((v) => `${v.id} (${v.impact}): ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")})`);
  assert.deepEqual(said, [], what);
}

/// Resolves once something listens on the port.
const listening = (port) =>
  new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

test("without a fleet section the Fleet view says so in one sentence, with no tables", async () => {
  const { page } = await daemonWith({ runners: [] });
  await page.getByRole("link", { name: "Fleet", exact: true }).click();
  const said = page.getByTestId("fleet-unconfigured");
  await said.waitFor();
  assert.equal(await text(said), "No fleet: add a fleet section to qmoi_cloud_config.json.");
  assert.equal(await page.locator("main table").count(), 0, "tables without a fleet");
  assert.equal(await page.getByTestId("this-node").count(), 0);
  assert.equal(await page.getByTestId("fleet-error").count(), 0);
  assert.match(await page.title(), /^Fleet — QCity$/);
  await axe(page, "#/fleet without a fleet");
});

test("with NATS: this node alpha is connected with capabilities any and gpu, listed among the nodes", { skip: !HAVE_NATS && !NEED_NATS && `${NATS} is missing` }, async () => {
  assert.ok(HAVE_NATS, `QCITY_REQUIRE_NATS is set and ${NATS} is missing`);
  const store = join(mkdtempSync(join(tmpdir(), "qcity-nats-")), "js");
  mkdirSync(store);
  const port = await freePort();
  nats = spawn(NATS, ["-js", "-sd", store, "-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  await until("nats-server listening", () => listening(port), 15000);

  const { d, page } = await daemonWith(
    { runners: [], roles: { alpha: ["gpu"] } },
    { fleet: { servers: [`nats://127.0.0.1:${port}`], node: "alpha", heartbeat_seconds: 1 } },
  );
  await page.getByRole("link", { name: "Fleet", exact: true }).click();
  await page.getByTestId("this-node").waitFor();
  assert.equal(await text(page.getByTestId("node-name")), "alpha");
  assert.equal(await text(page.getByTestId("node-capabilities")), "any, gpu");
  assert.match(await text(page.getByTestId("servers")), new RegExp(`nats://127\\.0\\.0\\.1:${port}`));
  await until("connected", async () => (await text(page.getByTestId("node-connection"))).trim() === "connected", 20000);
  assert.equal(await page.getByTestId("fleet-problem").count(), 0, "a problem shown while connected");
  assert.equal(await page.getByTestId("fleet-unconfigured").count(), 0);

  // Its own heartbeat lists it among the nodes.
  const row = page.locator("[data-testid=node-row][data-node=alpha]");
  await until("alpha among the nodes", async () => (await row.count()) === 1, 20000);
  const cells = await row.locator("td").allInnerTexts();
  assert.equal(cells[0], "alpha");
  assert.equal(cells[1], "any, gpu");
  assert.match(cells[2], /^0\/2$/, cells[2]);
  assert.match(cells[3], /^(\d+\.\d\d|—)$/, cells[3]);
  assert.ok(cells[4].length > 0, "a version");
  assert.match(cells[5], /^\d+s ago$/, cells[5]);
  const api = (await d.api("GET", "/api/v1/fleet")).body;
  assert.equal(api.configured, true, JSON.stringify(api));
  assert.equal(api.connected, true, JSON.stringify(api));

  for (const theme of ["light", "dark"]) {
    await page.evaluate((t) => localStorage.setItem("qcity-theme", t), theme);
    await page.goto(d.base + "/#/fleet");
    await page.reload();
    await page.locator("[data-testid=node-row][data-node=alpha]").waitFor();
    await page.waitForTimeout(300);
    await axe(page, `#/fleet in the ${theme} theme`);
    if (theme === "light") await page.screenshot({ path: SHOTS + "fleet.png", fullPage: true });
  }

  // A phone's 390 px: the page never scrolls sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `#/fleet is ${width} px wide at 390 px`);
  await page.setViewportSize({ width: 1280, height: 900 });
  fleet = { d, page };

  // The `connected` event is among the latest fleet events.
  await until("the connected event", async () => (await page.getByTestId("fleet-event").allInnerTexts()).some((e) => /\bconnected at alpha\b/.test(e)), 10000).catch(async (e) => {
    const events = await d.api("GET", `/api/v1/events?type=fleet&before=${Number.MAX_SAFE_INTEGER}&limit=5`);
    const shown = await page.getByTestId("fleet-events").allInnerTexts();
    throw new Error(`${e.message}: the page shows ${JSON.stringify(shown)}; the API has ${JSON.stringify(events)}`);
  });
});

test("NATS gone: the page says not connected, why, in a warning box, and the disconnected event arrives live", { skip: !HAVE_NATS && !NEED_NATS && `${NATS} is missing` }, async () => {
  assert.ok(fleet, "the fleet test before this one did not get as far");
  const { page } = fleet;
  const exited = new Promise((r) => nats.once("exit", r));
  nats.kill("SIGTERM");
  await exited;
  const connection = page.getByTestId("node-connection");
  await until("not connected", async () => (await text(connection)).trim() === "not connected", 20000);
  const problem = page.getByTestId("fleet-problem");
  await until("the problem", async () => (await problem.count()) === 1, 10000);
  assert.match(await text(problem), /^⚠?\s*Not connected to NATS: \S/, await text(problem));
  await until("the disconnected event", async () => (await page.getByTestId("fleet-event").allInnerTexts()).some((e) => /\bdisconnected at alpha: .*lost the NATS server/.test(e)), 10000);
  await axe(page, "#/fleet disconnected");
});
