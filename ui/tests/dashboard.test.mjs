// The dashboard in headless Chromium against a real daemon: logins, live updates, controls,
// roles, request guards and stream resume.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Daemon, browser, loggedIn, until, sleep } from "./harness.mjs";

let d;
let b;

before(async () => {
  d = await Daemon.start({
    runners: [
      { name: "web", command: ["sh", "-c", "echo web up; exec sleep 300"], restart: { delay_ms: 1000, jitter_percent: 0 }, probes: [{ name: "alive", process: {}, interval_ms: 200, start_grace_ms: 0 }] },
      { name: "worker", command: ["sh", "-c", "echo worker up; exec sleep 300"] },
    ],
  }, {
    // No healer (it has its own test, healer.test.mjs): it restarts a SIGKILLed runner at
    // once, so the red between the kill and the restart would last milliseconds and the kill
    // test would race it; the restart policy's 1 s delay shows it for long enough.
    device: { healer: { enabled: false } },
  });
  for (const [name, role, password] of [
    ["boss", "master", "boss-password"],
    ["vera", "viewer", "vera-password"],
  ]) {
    const r = await d.api("PUT", `/api/v1/users/${name}`, { body: { role, password } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  b = await browser();
});

after(async () => {
  await b?.close();
  await d?.stop();
});

const row = (page, name) => page.locator(`tr[data-runner="${name}"]`);

test("a master logs in and sees every runner live", async () => {
  const page = await loggedIn(b, d, "boss", "boss-password");
  await until("web is green", async () => (await row(page, "web").getAttribute("data-colour")) === "green");
  assert.equal(await row(page, "worker").getAttribute("data-colour"), "green");
  assert.match(await page.getByTestId("whoami").innerText(), /boss \(master\)/);
  assert.equal(await page.getByRole("heading", { level: 1 }).innerText(), "Runners");
  await until("the tab names the page", async () => (await page.title()) === "Overview — QCity");
  // Autotests run from the page; the result is the engine's.
  assert.equal(await page.getByTestId("autotest").innerText(), "not run yet");
  await page.getByRole("button", { name: "Run autotests" }).click();
  await until("an autotest result", async () => ["passed", "failed"].includes(await page.getByTestId("autotest").innerText()));
  const latest = await d.api("GET", "/api/v1/autotest/latest");
  assert.equal(await page.getByTestId("autotest").innerText(), latest.body.passed ? "passed" : "failed");
  await page.close();
});

test("a killed runner turns red and recovers without a reload", async () => {
  const page = await loggedIn(b, d, "boss", "boss-password");
  await until("web is green", async () => (await row(page, "web").getAttribute("data-colour")) === "green");
  // A marker on the window: a reload would drop it. Every colour the row shows is recorded.
  await page.evaluate(() => {
    window.__noReload = true;
    window.__colours = [];
    const tr = document.querySelector('tr[data-runner="web"]');
    new MutationObserver(() => window.__colours.push(tr.dataset.colour)).observe(tr, { attributes: true, attributeFilter: ["data-colour"] });
    window.__titles = [];
    new MutationObserver(() => window.__titles.push(document.title)).observe(document.querySelector("title"), { childList: true, characterData: true, subtree: true });
  });
  const pid = (await d.runner("web")).pid;
  const restartsBefore = Number(await row(page, "web").getByTestId("restarts").innerText());
  process.kill(pid, "SIGKILL");
  await until("web turns red", async () => (await page.evaluate(() => window.__colours)).includes("red"), 5000);
  await until("web is green again", async () => (await row(page, "web").getAttribute("data-colour")) === "green");
  const colours = await page.evaluate(() => window.__colours);
  assert.equal(colours.at(-1), "green", colours.join(" → "));
  // The tab said so while it was red, and no longer does.
  const titles = await page.evaluate(() => window.__titles);
  assert.ok(titles.includes("(1 failing) Overview — QCity"), titles.join(" | "));
  await until("the tab clears", async () => (await page.title()) === "Overview — QCity");
  assert.equal(Number(await row(page, "web").getByTestId("restarts").innerText()), restartsBefore + 1);
  assert.equal(await page.evaluate(() => window.__noReload), true, "the page was not reloaded");
  await page.close();
});

test("the master restarts a runner from the UI and the audit view shows it", async () => {
  const page = await loggedIn(b, d, "boss", "boss-password");
  await row(page, "worker").getByRole("link", { name: "worker" }).click();
  await page.getByRole("button", { name: "restart worker" }).click();
  await page.getByRole("status").filter({ hasText: "worker restarted: now running" }).waitFor();
  await page.getByRole("link", { name: "Audit" }).click();
  await page.getByTestId("audit-verdict").waitFor();
  assert.match(await page.getByTestId("audit-verdict").innerText(), /Chain verified/);
  const audit = page.getByRole("table", { name: "Audit rows" });
  await until("the restart in the audit view", async () =>
    (await audit.locator("tr", { hasText: "control.restart" }).filter({ hasText: "master:boss" }).filter({ hasText: "worker" }).count()) > 0,
  );
  await page.close();
});

test("the controls follow the runner's state, and Stop asks first", async () => {
  const page = await loggedIn(b, d, "boss", "boss-password");
  await row(page, "worker").getByRole("link", { name: "worker" }).click();
  const button = (a) => page.getByRole("button", { name: `${a} worker`, exact: true });
  const enabled = async () => {
    const out = [];
    for (const a of ["start", "stop", "restart", "pause", "resume"]) if (!(await button(a).isDisabled())) out.push(a);
    return out;
  };
  await until("running: stop, restart, pause", async () => (await enabled()).join() === "stop,restart,pause");
  // The first click only asks; Cancel leaves it running.
  await button("stop").click();
  await page.getByTestId("confirm-stop").waitFor();
  await page.getByTestId("confirm-stop").getByRole("button", { name: "Cancel" }).click();
  assert.equal(await page.getByTestId("confirm-stop").count(), 0);
  assert.equal((await d.runner("worker")).state.state, "running");
  await button("stop").click();
  await page.getByTestId("confirm-stop").getByRole("button", { name: "Stop worker" }).click();
  await page.getByRole("status").filter({ hasText: "worker stopped: now stopped" }).waitFor();
  await until("stopped: start, restart", async () => (await enabled()).join() === "start,restart");
  await button("start").click();
  await until("running again", async () => (await enabled()).join() === "stop,restart,pause");
  assert.equal((await d.runner("worker")).state.state, "running");
  await page.close();
});

test("a viewer sees states but no logs, audit or controls, and the API refuses its control", async () => {
  const page = await loggedIn(b, d, "vera", "vera-password");
  await until("rows", async () => (await row(page, "web").count()) === 1);
  assert.equal(await page.getByRole("link", { name: "Audit" }).count(), 0);
  assert.equal(await page.getByRole("link", { name: "Settings" }).count(), 0);
  // A master-only page from a shared link: the viewer is told why it is the overview.
  await page.goto(d.base + "/#/audit");
  assert.equal(
    await page.getByTestId("master-only").innerText(),
    "Audit is for the master; you are signed in as vera (viewer). Here is the overview.",
  );
  await page.goto(d.base + "/#/");
  assert.equal(await page.getByTestId("master-only").count(), 0);
  await row(page, "web").getByRole("link", { name: "web" }).click();
  await page.getByTestId("detail-state").waitFor();
  assert.equal(await page.getByRole("button", { name: /restart web/ }).count(), 0);
  assert.equal(await page.getByTestId("log").count(), 0);
  const status = await page.evaluate(async () => (await fetch("/api/v1/runners/web/stop", { method: "POST" })).status);
  assert.equal(status, 403);
  const logs = await page.evaluate(async () => (await fetch("/api/v1/runners/web/logs")).status);
  assert.equal(logs, 403);
  assert.equal((await d.runner("web")).state.state, "running", "the refused stop did nothing");
  await page.close();
});

test("requests naming a foreign host are refused", async () => {
  // fetch() cannot set Host; a raw request can.
  const net = await import("node:net");
  const answer = await new Promise((resolve, reject) => {
    const s = net.connect(d.port, "127.0.0.1", () => {
      s.write(`GET /api/v1/runners HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer ${d.token}\r\nConnection: close\r\n\r\n`);
    });
    let buf = "";
    s.on("data", (c) => (buf += c));
    s.on("end", () => resolve(buf));
    s.on("error", reject);
  });
  assert.match(answer, /^HTTP\/1\.1 403/);
  assert.match(answer, /host_not_allowed/);
});

test("while the daemon is down the page is marked stale, as of when, with its controls off", async () => {
  const page = await loggedIn(b, d, "boss", "boss-password");
  await page.goto(d.base + "/#/runner/web");
  const stop = page.getByRole("button", { name: "stop web" });
  await until("the controls on", async () => !(await stop.isDisabled()));
  await until("live", async () => (await page.getByTestId("live").innerText()) === "live");
  await d.stop();
  await page.getByTestId("connection-lost").waitFor();
  assert.match(await page.getByTestId("stale-as-of").innerText(), /as of \d{1,2}:\d{2}:\d{2}/);
  assert.ok(await stop.isDisabled(), "Stop is off while the daemon is down");
  assert.match((await page.getByTestId("main").getAttribute("class")) ?? "", /stale/);
  await d.spawn();
  await until("live again", async () => (await page.getByTestId("live").innerText()) === "live", 20000);
  await until("the controls back on", async () => !(await stop.isDisabled()));
  assert.doesNotMatch((await page.getByTestId("main").getAttribute("class")) ?? "", /stale/);
  assert.equal(await page.getByTestId("connection-lost").count(), 0);
  await page.close();
});

test("keyboard login, theme switch, and a lost connection that resumes without missing events", async () => {
  const page = await b.newPage();
  await page.goto(d.base + "/");
  await page.getByLabel("User", { exact: true }).focus();
  await page.keyboard.press("Control+A");
  await page.keyboard.type("boss");
  await page.keyboard.press("Tab");
  await page.keyboard.type("boss-password");
  await page.keyboard.press("Enter");
  await page.getByTestId("whoami").waitFor();
  const theme = await page.evaluate(() => document.documentElement.dataset.theme);
  await page.getByRole("button", { name: /Switch to/ }).click();
  assert.notEqual(await page.evaluate(() => document.documentElement.dataset.theme), theme);

  await page.getByRole("link", { name: "Events" }).click();
  await page.getByRole("table", { name: "Events" }).waitFor();
  await until("live", async () => (await page.getByTestId("live").innerText()) === "live");
  // The daemon goes away (its runners stop: events), and comes back (more events).
  await d.stop();
  await page.getByTestId("connection-lost").waitFor();
  await d.spawn();
  await until("live again", async () => (await page.getByTestId("live").innerText()) === "live", 20000);
  await until("runners back", async () => (await d.runner("web"))?.state?.state === "running");
  const head = (await d.api("GET", `/api/v1/events?before=${Number.MAX_SAFE_INTEGER}&limit=1`)).body.events[0].id;
  const ids = async () =>
    (await page.getByRole("table", { name: "Events" }).locator("tbody tr td:first-child").allInnerTexts()).map(Number);
  await until("the newest event on the page", async () => (await ids()).includes(head));
  const shown = (await ids()).sort((a, b) => a - b);
  const first = shown[0];
  const missing = [];
  for (let id = first; id <= head; id++) if (!shown.includes(id)) missing.push(id);
  assert.deepEqual(missing, [], "every event from the first shown to the newest is on the page");
  assert.equal(new Set(shown).size, shown.length, "no event twice");
  await page.close();
  await sleep(10);
});
