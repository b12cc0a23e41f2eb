// Notification channels in the dashboard's settings: the master sees each configured channel
// with its outbox and sends a test message, which a webhook receiver on loopback gets.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { Daemon, browser, loggedIn, until } from "./harness.mjs";

let d, b, server;
const got = [];

before(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      got.push({ headers: req.headers, body: JSON.parse(body) });
      res.writeHead(200).end();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const port = server.address().port;
  d = await Daemon.start(
    { runners: [] },
    {
      device: {
        notifications: {
          channels: [
            { name: "hook", url: `json://127.0.0.1:${port}/in` },
            { name: "team", url: "discord://1234/{env://QCITY_UI_TEST_UNSET_TOKEN}" },
          ],
        },
      },
    },
  );
  const r = await d.api("PUT", "/api/v1/users/boss", { body: { role: "master", password: "boss-password" } });
  assert.ok(r.status < 300, JSON.stringify(r.body));
  b = await browser();
});

after(async () => {
  await b?.close();
  await d?.stop();
  server?.close();
});

test("the settings page lists the channels and a click sends a test message", async () => {
  const page = await loggedIn(b, d, "boss", "boss-password");
  await page.getByRole("link", { name: "Settings" }).click();
  const hook = page.getByTestId("channel-hook");
  await hook.waitFor();
  assert.match(await hook.textContent(), /webhook/);
  assert.match(await hook.textContent(), /none yet/);
  // A secret that cannot be read is shown as the channel's problem, by name.
  const team = page.getByTestId("channel-team");
  await until("the team channel's problem", async () =>
    /QCITY_UI_TEST_UNSET_TOKEN/.test(await team.textContent()) ||
    (await page.getByRole("button", { name: "Check again" }).click(), false),
  );
  await hook.getByRole("button", { name: "Send test" }).click();
  await page.getByRole("status").filter({ hasText: "queued for hook" }).waitFor();
  await until("the receiver got the test message", () => got.length === 1);
  assert.equal(got[0].body.title, "QCity test message");
  assert.equal(got[0].headers["x-qcity-delivery"], String(got[0].body.id));
  await until("the row says sent", async () => /sent/.test(await hook.textContent()));
});
