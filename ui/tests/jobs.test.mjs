// The Jobs view against a real daemon: a remote target that cannot be reached (SSH to port 1
// on loopback) in cloud-first mode, so the placement ranks it first and a run fails over to
// this machine; the dry run's ranking with reasons, a run's live output, its attempts and its
// artifact's SHA-256, a long job cancelled from the page, a failing job flagged (its output
// shown as text), axe-core.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Daemon, browser, loggedIn, until } from "./harness.mjs";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const SHOTS = new URL("../../docs/screenshots/", import.meta.url).pathname;

let d, b, page;

before(async () => {
  d = await Daemon.start({
    runners: [],
    jobs: [
      {
        name: "build",
        command: ["sh", "-c", "echo building now; mkdir -p out; echo hello > out/a.txt"],
        working_dir: "work",
        artifacts: ["out/*.txt"],
      },
      { name: "sleeper", command: ["sh", "-c", "echo sleeping now; sleep 30"], working_dir: "work" },
      { name: "broken", command: ["sh", "-c", "echo '<i>compiler</i> says no'; exit 4"], working_dir: "work", offload: "never" },
    ],
  });
  // The harness writes the manifest and the device config; the targets and the job's
  // directory are added here, and the daemon started again to read them.
  await d.stop();
  mkdirSync(join(d.conf, "work"), { recursive: true });
  writeFileSync(
    join(d.conf, "qmoi_cloud_config.json"),
    JSON.stringify({ targets: [{ name: "box", ssh: { host: "127.0.0.1", port: 1 } }], mode: "cloud-first", retries: { delay_ms: 200 } }),
  );
  await d.spawn();
  d.token = readFileSync(join(d.data, "token"), "utf8").trim();
  const r = await d.api("PUT", "/api/v1/users/boss", { body: { role: "master", password: "boss-password" } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  b = await browser();
  page = await loggedIn(b, d, "boss", "boss-password", { bypassCSP: true });
  await page.setViewportSize({ width: 1280, height: 900 });
});

after(async () => {
  await b?.close();
  await d?.stop();
});

const text = (locator) => locator.innerText();

test("the Jobs view lists the job and the target with its health", async () => {
  await page.getByRole("link", { name: "Jobs", exact: true }).click();
  const targets = page.getByRole("table", { name: "Targets" });
  await targets.waitFor();
  assert.match(await text(page.getByTestId("mode")), /cloud-first/);
  const target = await text(targets.getByTestId("target-row"));
  assert.match(target, /ssh:box\s+127\.0\.0\.1:1\s+up\s+0\/\d+\s+0\/0/, target);
  const job = await text(page.getByTestId("job-row").filter({ hasText: "build" }).first());
  assert.match(job, /build\s+sh -c 'echo building now; mkdir -p out; echo hello > out\/a\.txt'\s+auto\s+never run/, job);
  assert.equal(await page.getByTestId("attention").count(), 0, "nothing needs attention yet");
});

test("the dry run shows the ranking: the target first (cloud-first), this machine second, with reasons", async () => {
  await page.getByRole("button", { name: "Where would it run? (build)", exact: true }).click();
  const plan = page.getByRole("region", { name: "Where build would run" });
  await plan.waitFor();
  assert.match(await text(plan.getByTestId("placement-summary")), /^Placement \(cloud-first\): \S/);
  const candidates = await plan.getByTestId("candidate").allInnerTexts();
  assert.equal(candidates.length, 2, candidates.join("\n"));
  assert.match(candidates[0], /^ssh:box\s+\S/, candidates[0]);
  assert.match(candidates[1], /^local\s+\S/, candidates[1]);
  assert.ok(!candidates.some((c) => c.includes("not tried")), candidates.join("\n"));
  assert.deepEqual((await d.api("GET", "/api/v1/jobs/runs")).body, [], "a dry run ran");
});

test("Run: live output, succeeded after failing over, attempts and the artifact's SHA-256 in the history", async () => {
  await page.getByRole("button", { name: "Run build", exact: true }).click();
  const card = page.getByTestId("live-run").filter({ hasText: "build" });
  await until("the output line", async () => (await card.getByTestId("live-log").innerText()).includes("building now"), 20000);
  await until("the run ends", async () => /succeeded/.test(await text(card)), 20000);
  const runs = (await d.api("GET", "/api/v1/jobs/runs?job=build")).body;
  assert.equal(runs.length, 1);
  const id = runs[0].id;
  assert.equal(runs[0].state, "succeeded", JSON.stringify(runs[0]));

  const row = page.locator(`[data-testid=history-row][data-run="${id}"]`);
  await until("the history row", async () => /succeeded/.test(await text(row)));
  assert.match(await text(row), /succeeded\s+build\s+local/);
  await row.getByRole("button", { name: `Details of ${id}` }).click();
  const detail = page.getByRole("region", { name: `Run ${id}` });
  await detail.waitFor();
  const attempts = await detail.getByTestId("attempt-row").allInnerTexts();
  assert.equal(attempts.length, 2, attempts.join("\n"));
  assert.match(attempts[0], /^1\s+ssh:box\s+unreachable\b/, attempts[0]);
  assert.match(attempts[1], /^2\s+local\s+ran\s+0\b/, attempts[1]);
  const written = readFileSync(join(d.conf, "work/out/a.txt"));
  const sha = createHash("sha256").update(written).digest("hex");
  const artifact = await text(detail.getByTestId("artifact-row"));
  assert.match(artifact, new RegExp(`out/a\\.txt\\s+${sha}\\s+${written.length}`), artifact);

  // The target that could not be reached is shown down, with why, and flagged.
  const target = page.getByRole("table", { name: "Targets" }).getByTestId("target-row");
  await until("the target down", async () => /\bdown\b/.test(await text(target)));
  assert.match(await text(target), /down: \S/);
  assert.match(await text(page.getByTestId("attention")), /Target ssh:box is down: \S/);
});

test("a long job is cancelled from the page and ends cancelled", async () => {
  await page.getByRole("button", { name: "Run sleeper", exact: true }).click();
  const id = await until("the run", async () => (await d.api("GET", "/api/v1/jobs/runs?job=sleeper")).body[0]?.id);
  const card = page.getByRole("article", { name: `Run ${id}` });
  await until("its output", async () => (await card.getByTestId("live-log").innerText()).includes("sleeping now"), 20000);
  assert.match(await text(card.getByTestId("live-progress")), /attempt 1 at local · 1 place could take it · \d+s so far/);
  assert.match(await text(card), /running\s+at local/);
  await card.getByRole("button", { name: `Cancel ${id}` }).click();
  await until("cancelled on the page", async () => /cancelled/.test(await text(card)), 15000);
  assert.equal((await d.api("GET", `/api/v1/jobs/runs/${id}`)).body.state, "cancelled");
  const row = page.locator(`[data-testid=history-row][data-run="${id}"]`);
  await until("cancelled in the history", async () => /cancelled\s+sleeper/.test(await text(row)));
});

test("a failed run says why, prominently", async () => {
  await page.getByRole("button", { name: "Run broken", exact: true }).click();
  const id = await until("the run", async () => (await d.api("GET", "/api/v1/jobs/runs?job=broken")).body[0]?.id);
  const card = page.getByRole("article", { name: `Run ${id}` });
  await until("it failed", async () => /failed/.test(await text(card)), 15000);
  assert.match(await text(card.getByTestId("live-detail")), /exited with code 4/);
  // Output is text: markup in it is shown as written, never made into elements.
  assert.match(await text(card.getByTestId("live-log")), /<i>compiler<\/i> says no/);
  assert.equal(await card.getByTestId("live-log").locator("i").count(), 0);
  await until("flagged", async () => /Job broken failed \(JOB-[^)]+\): .*exited with code 4/.test(await text(page.getByTestId("attention"))));
});

test("axe-core finds no violations on the Jobs view, in both themes", async () => {
  const runs = (await d.api("GET", "/api/v1/jobs/runs?job=build")).body;
  for (const theme of ["light", "dark"]) {
    await page.evaluate((t) => localStorage.setItem("qcity-theme", t), theme);
    await page.goto(d.base + "/#/jobs");
    await page.reload();
    await page.getByRole("table", { name: "Targets" }).waitFor();
    await page.getByRole("button", { name: "Where would it run? (build)", exact: true }).click();
    await page.getByTestId("dry-run").waitFor();
    await page.getByRole("button", { name: `Details of ${runs[0].id}` }).click();
    await page.getByTestId("run-detail").waitFor();
    await page.waitForTimeout(300);
    await page.addScriptTag({ path: AXE });
    const violations = await page.evaluate(async () => (await globalThis.axe.run(document, { resultTypes: ["violations"] })).violations);
    const said = violations.map((v) => `${v.id} (${v.impact}): ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")})`);
    assert.deepEqual(said, [], `#/jobs in the ${theme} theme`);
    if (theme === "light") await page.screenshot({ path: SHOTS + "jobs.png", fullPage: true });
  }
});

test("at a phone's 390 px the Jobs view does not scroll sideways", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(d.base + "/#/jobs");
  await page.getByRole("table", { name: "Targets" }).waitFor();
  await page.getByRole("button", { name: "Run sleeper", exact: true }).click();
  await page.getByTestId("live-run").first().waitFor();
  await page.waitForTimeout(300);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `#/jobs is ${width} px wide at 390 px`);
  const id = (await d.api("GET", "/api/v1/jobs/runs?job=sleeper")).body[0].id;
  assert.equal((await d.api("POST", `/api/v1/jobs/runs/${id}/cancel`)).status, 200);
});
