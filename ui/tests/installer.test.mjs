// The installer picker in the dashboard: blocked until an autotest passes, then a click
// installs a tar.gz that the test built and signed (minisign's format, Ed25519 over the
// file's BLAKE2b-512), served with its manifest by an HTTP server on loopback.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { arch, tmpdir } from "node:os";
import { join } from "node:path";
import { Daemon, browser, loggedIn, until } from "./harness.mjs";
import { minisign } from "./minisign.mjs";

let d, b, site, xdg, server;

before(async () => {
  const work = mkdtempSync(join(tmpdir(), "qcity-qi-"));
  const tree = join(work, "tree");
  mkdirSync(join(tree, "bin"), { recursive: true });
  writeFileSync(join(tree, "bin/qi"), "#!/bin/sh\necho QI 1.4.0\n");
  chmodSync(join(tree, "bin/qi"), 0o755);
  site = join(work, "site");
  mkdirSync(site);
  execFileSync("tar", ["-czf", join(site, "qi.tar.gz"), "-C", tree, "."]);
  const bytes = readFileSync(join(site, "qi.tar.gz"));
  const keys = minisign();
  const sha = "0".repeat(64);
  const manifest = {
    app: "QI",
    versions: [
      {
        version: "1.4.0",
        assets: [
          { os: "windows", arch: "x86_64", format: "msi", url: "qi.msi", size: 1, sha256: sha, signature: "RWQ" },
          {
            os: "linux",
            arch: arch() === "arm64" ? "aarch64" : "x86_64",
            format: "tar.gz",
            url: "qi.tar.gz",
            size: bytes.length,
            sha256: createHash("sha256").update(bytes).digest("hex"),
            signature: keys.signFile(bytes, "QI 1.4.0"),
          },
        ],
      },
    ],
  };
  writeFileSync(join(site, "releases.json"), JSON.stringify(manifest));
  server = createServer((req, res) => {
    const file = join(site, req.url.slice(1));
    if (!existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { "Content-Length": readFileSync(file).length }).end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  xdg = join(work, "xdg");
  d = await Daemon.start(
    { runners: [] },
    {
      device: { installer: { manifest: `http://127.0.0.1:${server.address().port}/releases.json`, public_key: keys.pub } },
      env: { XDG_DATA_HOME: xdg },
    },
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

test("the picker is blocked until an autotest passes, then installs with progress", async () => {
  const page = await loggedIn(b, d, "boss", "boss-password");
  await page.getByRole("link", { name: "Install QI" }).click();
  await page.getByTestId("device").waitFor();
  assert.match(await page.getByTestId("gate").innerText(), /no autotest has run yet/);
  assert.equal(await page.getByRole("button", { name: "Install" }).isDisabled(), true);
  const body = await page.locator("main").innerText();
  assert.match(body, /windows\/x86_64 msi.*cannot run here.*built for Windows/s, body);
  // The server refuses too, not only the button.
  const refused = await page.evaluate(async () => (await fetch("/api/v1/qi/install", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ asset: 1 }) })).status);
  assert.equal(refused, 409);

  const report = await d.api("POST", "/api/v1/autotest");
  assert.equal(report.body.passed, true, JSON.stringify(report.body));
  await until("the gate opens", async () => (await page.getByTestId("gate").count()) === 0);
  const install = page.getByRole("button", { name: "Install" });
  await until("Install enabled", async () => !(await install.isDisabled()));
  await install.click();
  await page.getByTestId("install-result").waitFor({ timeout: 20000 });
  assert.match(await page.getByTestId("install-result").innerText(), /installed QI 1\.4\.0 in/);
  const launcher = join(xdg, "qcity/apps/qi/1.4.0/bin/qi");
  assert.equal(execFileSync(launcher).toString().trim(), "QI 1.4.0");
  const events = (await d.api("GET", "/api/v1/events?type=qi-install&limit=100")).body.events.map((e) => e.phase);
  assert.ok(events.includes("downloading") && events.includes("verifying") && events.at(-1) === "installed", events.join(","));
  await page.close();
});
