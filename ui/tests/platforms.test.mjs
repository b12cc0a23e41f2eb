// The platform strip and page: a viewer sees each watched platform with its icon and its
// state, read by the daemon from a status page (a Statuspage v2 stand-in on loopback,
// configured as GitHub's page); the browser never talks to the vendor.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { Daemon, browser, loggedIn, until } from "./harness.mjs";

let d, b, server;
let indicator = "major";

before(async () => {
  server = createServer((req, res) => {
    const body = JSON.stringify({
      page: { id: "x", name: "GitHub", updated_at: "2026-12-05T10:00:00Z" },
      status: { indicator, description: indicator === "none" ? "All Systems Operational" : "Partial System Outage" },
      components: [],
      incidents:
        indicator === "none"
          ? []
          : [{ name: "Webhooks are delayed", status: "investigating", impact: "major", created_at: "2026-12-05T09:50:00Z", shortlink: "https://stspg.io/x" }],
      scheduled_maintenances: [],
    });
    res.writeHead(200, { "Content-Type": "application/json" }).end(body);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/api/v2/summary.json`;
  d = await Daemon.start(
    { runners: [] },
    {
      device: {
        platforms: {
          enabled: true,
          watch: ["github", "aws"],
          custom: [
            { id: "github", provider: "statuspage", url },
            // AWS at an address where nothing answers: unknown, never "operational".
            { id: "aws", provider: "aws", url: "http://127.0.0.1:9/public/currentevents" },
          ],
        },
      },
    },
  );
  const r = await d.api("PUT", "/api/v1/users/vera", { body: { role: "viewer", password: "vera-password" } });
  assert.ok(r.status < 300, JSON.stringify(r.body));
  b = await browser();
});

after(async () => {
  await b?.close();
  await d?.stop();
  server?.close();
});

test("a viewer sees the platform strip with icons and the platform page with the incident", async () => {
  const page = await loggedIn(b, d, "vera", "vera-password");
  const github = page.locator('.strip [data-platform="github"]');
  // The page may load before the first read: the change comes on the event stream.
  await until("GitHub's state in the strip", async () => (await github.getAttribute("data-state")) === "partial_outage");
  assert.equal(await github.locator("svg[aria-label=GitHub] path").count(), 1, "GitHub's icon");
  const aws = page.locator('.strip [data-platform="aws"]');
  await until("AWS unknown", async () => (await aws.getAttribute("data-state")) === "unknown");
  assert.equal(await aws.locator(".initials").textContent(), "AW");
  await github.click();
  const row = page.locator('tr[data-platform="github"]');
  await row.waitFor();
  assert.match(await row.textContent(), /partial outage/);
  assert.match(await row.textContent(), /Webhooks are delayed/);
  assert.equal(await page.getByRole("button", { name: "Check now" }).count(), 0, "a viewer cannot trigger reads");
  // The page lists the change the daemon recorded.
  await until("the change list", async () => /GitHub/.test(await page.getByRole("list", { name: "Platform changes" }).textContent()));
});
