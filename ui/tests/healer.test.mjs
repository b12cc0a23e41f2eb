// The Healer view, live: a runner that loses a command it needs fails, the healer runs its
// install command, validates the restart, and the page shows each step and the signature
// with the fix's record, without a reload.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Daemon, browser, loggedIn, until } from "./harness.mjs";

let d, b, work;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "qcity-heal-"));
  mkdirSync(join(work, "tools"));
  const install = `printf '#!/bin/sh\\nexec sleep 600\\n' > tools/qi-tool && chmod +x tools/qi-tool`;
  d = await Daemon.start({
    runners: [
      {
        name: "builder",
        // Idle until the test says go; then it needs qi-tool, which is not installed yet.
        command: ["sh", "-c", "[ -f go ] || exec sleep 600; exec qi-tool"],
        working_dir: work,
        env: { PATH: `${join(work, "tools")}:/usr/bin:/bin` },
        restart: { policy: "never" },
        heal: { install_command: ["sh", "-c", install], validate_ms: 1000 },
      },
    ],
  });
  const r = await d.api("PUT", "/api/v1/users/boss", { body: { role: "master", password: "boss-password" } });
  assert.equal(r.status, 200);
  b = await browser();
});

after(async () => {
  await b?.close();
  await d?.stop();
});

test("the healer view shows a fix live: diagnosis, the fix, its validation, and the signature", async () => {
  const page = await loggedIn(b, d, "boss", "boss-password");
  await page.getByRole("link", { name: "Healer" }).click();
  await page.getByText("No failures recorded.").waitFor();

  writeFileSync(join(work, "go"), "");
  assert.equal((await d.api("POST", "/api/v1/runners/builder/restart")).status, 200);

  const steps = page.getByRole("table", { name: "Healer steps" });
  await until("the validated step", async () => /validated/.test(await steps.innerText()), 20000);
  const text = await steps.innerText();
  assert.match(text, /diagnosed.*exit 127/s, text);
  assert.match(text, /applying\s+missing-dependency\s+run sh -c printf/s, text);
  assert.match(text, /validated\s+missing-dependency\s+up for 1000 ms/s, text);
  assert.ok(existsSync(join(work, "tools/qi-tool")), "the install command ran");

  const sig = page.getByRole("table", { name: "Failure signatures" }).locator("tbody tr");
  await until("the signature's record", async () => /missing-dependency: worked 1 of 1/.test(await sig.first().innerText()));
  const row = await sig.first().innerText();
  assert.match(row, /builder\s+exit 127/, row);
  assert.match(row, /1×/, row);
  assert.match(await sig.first().locator("svg").getAttribute("aria-label"), /^1 in the last 24 hours$/);
  // A reload shows the same history from the store.
  await page.reload();
  await page.getByRole("link", { name: "Healer" }).click();
  await until("the history after a reload", async () => /validated/.test(await steps.innerText()));
  if (process.env.QCITY_SCREENSHOTS) await page.screenshot({ path: join(process.env.QCITY_SCREENSHOTS, "healer.png"), fullPage: true });
  await page.close();
});
