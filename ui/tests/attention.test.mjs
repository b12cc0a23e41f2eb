// Which runner needs me, and why? The dashboard against a real daemon whose runners fail in
// the ways people meet: a crash loop, a failing probe, a GitHub runner whose registration is
// gone; beside a healthy one, a paused one and a chatty one with colour in its output. Also
// the phone's width and axe-core's accessibility rules on every page.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { Daemon, browser, loggedIn, until } from "./harness.mjs";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const FAKE_GH = new URL("../../tests/fixtures/fake-github-runner.sh", import.meta.url).pathname;
const SHOTS = new URL("../../docs/screenshots/", import.meta.url).pathname;

let d, b;

before(async () => {
  const chatty = [
    "i=0; while [ $i -lt 300 ]; do printf '\\033[32mok\\033[0m line %s\\n' $i; i=$((i+1)); done",
    "echo 'needle: the one line to find'",
    "j=0; while :; do j=$((j+1)); echo \"tick $j\"; sleep 0.2; done",
  ].join("; ");
  d = await Daemon.start({
    runners: [
      { name: "ok", command: ["sh", "-c", "exec sleep 300"] },
      {
        name: "crashy",
        command: ["sh", "-c", "echo 'Error: replica set member 3 lost quorum, shutting down' >&2; exit 3"],
        restart: { delay_ms: 100, factor: 1.0, jitter_percent: 0, crash_loop: { max_restarts: 3, window_ms: 60000, cooldown_ms: 600000 } },
      },
      {
        name: "probed",
        command: ["sh", "-c", "exec sleep 300"],
        probes: [{ name: "port", tcp: { address: "127.0.0.1:1" }, interval_ms: 200, failure_threshold: 1, start_grace_ms: 0 }],
      },
      { name: "gh", kind: "github", command: ["sh", FAKE_GH, "deleted-at-session"] },
      { name: "chatty", command: ["sh", "-c", chatty] },
      { name: "resting", command: ["sh", "-c", "exec sleep 300"] },
      { name: "burner", command: ["sh", "-c", "while :; do :; done"] },
    ],
  }, {
    // CPU and memory are sampled on the resource monitor's tick: often, for the test.
    device: { resources: { interval_ms: 500 } },
  });
  const r = await d.api("PUT", "/api/v1/users/boss", { body: { role: "master", password: "boss-password" } });
  assert.equal(r.status, 200);
  assert.equal((await d.api("POST", "/api/v1/runners/resting/pause")).status, 200);
  await until("crashy crash-looping", async () => (await d.runner("crashy")).state.state === "crash-looping", 20000);
  await until("gh needs registration", async () => (await d.runner("gh")).state.state === "needs-registration");
  await until("probed unhealthy", async () => (await d.runner("probed")).health === "unhealthy");
  mkdirSync(SHOTS, { recursive: true });
  b = await browser();
});

after(async () => {
  await b?.close();
  await d?.stop();
});

const names = async (page) => page.locator("table[aria-label=Runners] tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.runner));

test("the overview lists failing runners first, each with why, and filters to those that need you", async () => {
  const page = await loggedIn(b, d, "boss", "boss-password");
  await page.setViewportSize({ width: 1280, height: 800 });
  await until("every runner", async () => (await names(page)).length === 7);
  const order = await names(page);
  // Red first (by name), then amber, green, grey.
  assert.deepEqual(order.slice(0, 3), ["crashy", "gh", "probed"], order.join(","));
  assert.equal(order.at(-1), "resting");
  const reason = async (n) => page.locator(`tr[data-runner="${n}"] [data-testid=reason]`).innerText();
  assert.match(await reason("crashy"), /crash loop: \d+ restarts within 1m 0s; last exit 3/);
  assert.match(await reason("gh"), /registration gone: the runner's registration was deleted on GitHub/);
  assert.match(await reason("probed"), /port: /);
  assert.equal(await page.locator('tr[data-runner="probed"] [data-testid=state]').innerText(), "running, unhealthy");
  assert.equal(await reason("resting"), "paused by hand");
  // What each runner's processes use, as pm2 monit shows it.
  const cell = (n, id) => page.locator(`tr[data-runner="${n}"] [data-testid=${id}]`).innerText();
  await until("CPU and memory", async () => /^\d+(\.\d)? MiB$/.test(await cell("ok", "memory")) && Number.parseFloat(await cell("burner", "cpu")) > 50);
  assert.ok(Number.parseFloat(await cell("ok", "cpu")) < 10, await cell("ok", "cpu"));
  assert.equal(await cell("resting", "memory"), "—", "a paused runner has no processes");
  await page.screenshot({ path: SHOTS + "overview.png", fullPage: true });

  await page.getByTestId("filter").selectOption("attention");
  await until("only those that need you", async () => (await names(page)).join(",") === "crashy,gh,probed");
  await page.getByTestId("filter").selectOption("running");
  await until("the running ones", async () => (await names(page)).join(",") === "probed,burner,chatty,ok");
  await page.getByTestId("filter").selectOption("idle");
  await until("the paused one", async () => (await names(page)).join(",") === "resting");
  await page.close();
});

test("a failing runner's page says what is wrong and what the healer did; a lost registration says how to register again", async () => {
  const page = await loggedIn(b, d, "boss", "boss-password");
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(d.base + "/#/runner/crashy");
  await page.getByTestId("diagnosis").waitFor();
  assert.match(await page.getByTestId("detail-reason").innerText(), /crash loop/);
  assert.match(await page.getByTestId("plan-summary").innerText(), /crash loop/);
  const diag = await page.getByTestId("diagnosis").innerText();
  assert.match(diag, /replica set member 3 lost quorum/, diag);
  // Nothing it knows: the category says so, and the restart policy keeps it (a crash loop).
  assert.match(await page.getByTestId("plan-category").innerText(), /Diagnosis: unknown \(confidence 0\.\d\d\)/);
  await until("the healer's steps", async () => (await page.getByTestId("heal-steps").count()) > 0 && /diagnosed/.test(await page.getByTestId("heal-steps").innerText()), 20000);
  assert.match(await page.getByTestId("history-summary").innerText(), /[1-9]\d* failures?, \d+ restarts? in the last hour/);
  await page.screenshot({ path: SHOTS + "failing-runner.png", fullPage: true });

  // A failure that repeats is diagnosed once and counted, not once per restart: one row for
  // its exits and one for the crash loop they made.
  await page.goto(d.base + "/#/healer");
  const rows = page.getByTestId("heal-step").filter({ hasText: "crashy" }).filter({ hasText: /diagnosed/ });
  await until("crashy's diagnoses", async () => (await rows.count()) === 2);
  const texts = await rows.allInnerTexts();
  assert.equal(texts.filter((t) => /exit 3/.test(t)).length, 1, texts.join("\n"));
  assert.equal(texts.filter((t) => /crash loop/.test(t)).length, 1, texts.join("\n"));
  assert.ok(texts.every((t) => /unknown \(0\.\d\d\)/.test(t)), texts.join("\n"));

  await page.goto(d.base + "/#/runner/gh");
  await page.getByTestId("advice").waitFor();
  assert.match(await page.getByTestId("escalation").innerText(), /registration was deleted on GitHub/);
  assert.match(await page.getByTestId("advice").innerText(), /register it again \(`\.\/config\.sh --url URL --token TOKEN` in the runner's directory\), then `qcity start gh`/);

  await page.goto(d.base + "/#/runner/ok");
  await page.getByTestId("detail-state").waitFor();
  assert.equal(await page.getByTestId("diagnosis").count(), 0, "a healthy runner has no diagnosis panel");
  assert.doesNotMatch(await page.locator("main").innerText(), /uptime -/);
  await page.close();
});

test("the log pane opens at the newest line, follows, searches, and draws colour codes", async () => {
  const page = await loggedIn(b, d, "boss", "boss-password");
  await page.goto(d.base + "/#/runner/chatty");
  const pane = page.getByTestId("log");
  await until("the log", async () => /tick \d+/.test(await pane.innerText()));
  const atBottom = () => pane.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 30);
  await until("at the newest line", atBottom);
  const ticks = async () => Math.max(...(await pane.innerText()).match(/tick (\d+)/g).map((t) => Number(t.slice(5))));
  const first = await ticks();
  await until("new lines followed", async () => (await ticks()) > first + 2 && (await atBottom()));
  // Colour codes are drawn, never shown raw.
  assert.doesNotMatch(await pane.innerText(), /\x1b|\[32m/);
  assert.ok((await pane.locator(".ansi-green").count()) > 0);
  // Search shows the matching lines only.
  await page.getByTestId("log-search").fill("needle");
  await until("one match", async () => /1 of \d+ lines match/.test(await page.getByTestId("log-count").innerText()));
  assert.equal((await pane.innerText()).trim(), "needle: the one line to find");
  // A restart shows where the new run begins.
  await page.getByTestId("log-search").fill("");
  assert.equal((await d.api("POST", "/api/v1/runners/chatty/restart")).status, 200);
  await until("the run separator", async () => /── started again at .+ ──/.test(await pane.innerText()));
  await page.close();
});

test("at a phone's 390 px nothing scrolls sideways", async () => {
  const page = await loggedIn(b, d, "boss", "boss-password");
  await page.setViewportSize({ width: 390, height: 844 });
  for (const route of ["#/", "#/runner/crashy", "#/events", "#/healer", "#/audit", "#/update"]) {
    await page.goto(d.base + "/" + route);
    await page.locator("main h1").first().waitFor();
    await page.waitForTimeout(300);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `${route} is ${width} px wide at 390 px`);
    if (route === "#/") await page.screenshot({ path: SHOTS + "phone-overview.png", fullPage: true });
  }
  await page.close();
});

test("every page passes axe-core's rules", async () => {
  // The page's CSP allows no injected script: the test's context sets it aside for axe.
  const page = await loggedIn(b, d, "boss", "boss-password", { bypassCSP: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  for (const theme of ["light", "dark"]) {
    await page.evaluate((t) => localStorage.setItem("qcity-theme", t), theme);
    for (const route of ["#/", "#/runner/crashy", "#/runner/chatty", "#/events", "#/platforms", "#/healer", "#/audit", "#/settings", "#/install", "#/update"]) {
      await page.goto(d.base + "/" + route);
      await page.reload();
      await page.locator("main h1").first().waitFor();
      await page.waitForTimeout(300);
      await page.addScriptTag({ path: AXE });
      const violations = await page.evaluate(async () => (await globalThis.axe.run(document, { resultTypes: ["violations"] })).violations);
      const said = violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")})`);
      assert.deepEqual(said, [], `${route} in the ${theme} theme`);
      if (route === "#/healer" && theme === "light") await page.screenshot({ path: SHOTS + "healer.png", fullPage: true });
    }
  }
  await page.close();
});
