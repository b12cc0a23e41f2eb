// QCity's own update from the dashboard: the real daemon updates itself to a newer build of
// itself (scripts/newer-qcity.sh: target/update-test/qcity-99.0.0), served with its release
// manifest by an HTTP server on loopback and signed here (minisign's format, Ed25519 over
// the file's BLAKE2b-512, the version in the trusted comment). Then back, by hand.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { arch, tmpdir } from "node:os";
import { join } from "node:path";
import { Daemon, browser, loggedIn, until } from "./harness.mjs";
import { minisign } from "./minisign.mjs";

const NEWER = "99.0.0";
const NEWER_BIN = new URL(`../../target/update-test/qcity-${NEWER}`, import.meta.url).pathname;

let d, b, server;

before(async () => {
  assert.ok(existsSync(NEWER_BIN), `${NEWER_BIN} is missing: run scripts/newer-qcity.sh (make browser does)`);
  const site = mkdtempSync(join(tmpdir(), "qcity-update-site-"));
  const bytes = readFileSync(NEWER_BIN);
  writeFileSync(join(site, "qcity"), bytes);
  const keys = minisign([8, 7, 6, 5, 4, 3, 2, 1]);
  const target = `linux-${arch() === "arm64" ? "aarch64" : "x86_64"}-daemon`;
  const manifest = {
    version: NEWER,
    notes: "the dashboard says what needs you",
    pub_date: "2026-12-06T00:00:00Z",
    platforms: {
      [target]: {
        url: "qcity",
        signature: keys.signFile(bytes, `version:${NEWER}`),
        size: bytes.length,
        sha256: createHash("sha256").update(bytes).digest("hex"),
      },
    },
  };
  writeFileSync(join(site, "update.json"), JSON.stringify(manifest));
  server = createServer((req, res) => {
    const file = join(site, req.url.slice(1));
    if (!existsSync(file)) return res.writeHead(404).end();
    const body = readFileSync(file);
    res.writeHead(200, { "Content-Length": body.length }).end(body);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  d = await Daemon.start(
    {
      runners: [{ name: "web", command: ["sh", "-c", "exec sleep 300"] }],
      tasks: [{ name: "smoke", command: ["true"], autotest: true }],
    },
    { device: { update: { manifest: `http://127.0.0.1:${server.address().port}/update.json`, public_key: keys.pub } } },
  );
  const r = await d.api("PUT", "/api/v1/users/boss", { body: { role: "master", password: "boss-password" } });
  assert.equal(r.status, 200);
  b = await browser();
});

after(async () => {
  await b?.close();
  await d?.stop();
  server?.close();
});

test("the master updates QCity from the dashboard, sees each step, and can go back", async () => {
  const first = await d.api("GET", "/api/v1/update");
  assert.equal(first.body.available?.version, NEWER, JSON.stringify(first.body));
  const old = first.body.running;
  const page = await loggedIn(b, d, "boss", "boss-password");
  await page.getByRole("link", { name: "Update" }).click();
  await page.getByTestId("available").waitFor();
  assert.match(await page.getByTestId("available").innerText(), new RegExp(`${NEWER} is available`));
  assert.match(await page.getByTestId("running").innerText(), new RegExp(`Running QCity ${old.replaceAll(".", "\\.")}`));
  // A failing autotest closes the gate: the button is off and the reasons are shown.
  const writeFailing = JSON.stringify({
    runners: [{ name: "web", command: ["sh", "-c", "exec sleep 300"] }],
    tasks: [{ name: "smoke", command: ["sh", "-c", "exit 4"], autotest: true }],
  });
  writeFileSync(join(d.conf, "runner_manifest.json"), writeFailing);
  assert.equal((await d.api("POST", "/api/v1/reload")).status, 200);
  await d.api("POST", "/api/v1/autotest");
  await page.reload();
  await page.getByTestId("blocked").waitFor();
  assert.match(await page.getByTestId("blocked").innerText(), /the latest autotest failed \(task:smoke: exit 4\)/);
  assert.equal(await page.getByRole("button", { name: `Update to ${NEWER}` }).isDisabled(), true);

  writeFileSync(
    join(d.conf, "runner_manifest.json"),
    JSON.stringify({
      runners: [{ name: "web", command: ["sh", "-c", "exec sleep 300"] }],
      tasks: [{ name: "smoke", command: ["true"], autotest: true }],
    }),
  );
  assert.equal((await d.api("POST", "/api/v1/reload")).status, 200);
  await d.api("POST", "/api/v1/autotest");
  await until("the gate opens", async () => (await page.getByTestId("blocked").count()) === 0 || (await page.reload(), false));
  const apply = page.getByRole("button", { name: `Update to ${NEWER}` });
  await until("Update enabled", async () => !(await apply.isDisabled()));
  await apply.click();
  // It asks first, saying what will happen.
  assert.match(await page.getByTestId("confirm-update").innerText(), /Every runner is paused first/);
  await page.getByRole("button", { name: "Update now" }).click();
  await until(
    "the new version committed",
    async () => /kept/.test((await page.getByTestId("last").innerText().catch(() => "")) ?? "") && /99\.0\.0/.test(await page.getByTestId("running").innerText()),
    60000,
  );
  assert.match(await page.getByTestId("last").innerText(), new RegExp(`${old.replaceAll(".", "\\.")} → ${NEWER}, kept: ${NEWER} serves the API and passed its autotest`));
  assert.match(await page.getByTestId("up-to-date").innerText(), /Up to date/);
  assert.match(await page.getByTestId("kept").innerText(), new RegExp(`${NEWER} \\(current\\)`));
  const steps = (await d.api("GET", "/api/v1/events?type=update&limit=100")).body.events.map((e) => e.step);
  assert.equal(steps[0], "downloading", steps.join(","));
  assert.deepEqual(steps.filter((s) => s !== "downloading"), ["draining", "switched", "committed"], steps.join(","));
  // The page showed the download's progress as one line, then each step.
  const shown = await page.getByTestId("update-steps").innerText();
  assert.match(shown, /downloading: 100% \(\d+ of \d+ bytes\)/, shown);
  assert.equal(shown.match(/downloading/g).length, 1, shown);
  assert.equal((await d.runner("web")).state.state, "running");

  // Back to the previous version, by hand.
  await page.getByRole("button", { name: `Roll back to ${old}` }).click();
  await page.getByRole("button", { name: "Roll back now" }).click();
  await until("the old version back", async () => new RegExp(`Running QCity ${old.replaceAll(".", "\\.")}\\.`).test(await page.getByTestId("running").innerText()), 60000);
  assert.match(await page.getByTestId("refused").innerText(), new RegExp(`${NEWER}: rolled back to ${old.replaceAll(".", "\\.")} by [^ ]*boss`));
  await page.close();
});
