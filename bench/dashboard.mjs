// Dashboard benchmarks: event → browser latency under a crash storm, first render of the
// overview with 200 runners, and the daemon's memory with 0 and 10 open dashboards.
//
// usage: QCITY_BIN=target/release/qcity node bench/dashboard.mjs [--seconds 20]
// Needs ui/node_modules (make ui) and Debian's chromium. Prints one JSON object.
import { readFileSync } from "node:fs";
import { Daemon, browser, sleep, until } from "../ui/tests/harness.mjs";

const seconds = Number(process.argv[process.argv.indexOf("--seconds") + 1] || 20);

function pss(pid) {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  return Number(/^Pss:\s+(\d+) kB/m.exec(t)[1]) / 1024;
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function master(b, d) {
  const ctx = await b.newContext();
  const page = await ctx.newPage();
  await page.goto(d.base + "/");
  await page.getByLabel("Master token").check();
  await page.getByLabel(/^Token/).fill(d.token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("whoami").waitFor();
  return page;
}

const out = {};
const b = await browser();

// 1. Latency at ~1,000 events/s: runners that exit every 100 ms, restarted at once.
{
  const n = Number(process.env.STORM_RUNNERS || 30);
  const runners = Array.from({ length: n }, (_, i) => ({
    name: `storm-${i}`,
    command: ["sleep", "0.1"],
    restart: { delay_ms: 1, max_delay_ms: 1, factor: 1, jitter_percent: 0, crash_loop: null },
  }));
  const d = await Daemon.start({ runners });
  const page = await master(b, d);
  await sleep(2000);
  const measure = (ms) =>
    page.evaluate(async (ms) => {
      const lat = [];
      const es = new EventSource("/api/v1/events/stream");
      es.addEventListener("runner-state", (m) => lat.push(Date.now() - JSON.parse(m.data).ts_ms));
      await new Promise((res) => setTimeout(res, ms));
      es.close();
      return lat;
    }, ms);
  // In the dashboard's overview (the page renders every change), then on a page that only
  // receives (same origin, no app): the difference is the dashboard's own work.
  const r = await measure(seconds * 1000);
  await page.goto(d.base + "/api/v1/openapi.json");
  const bare = await measure(seconds * 1000);
  out.storm_runners = n;
  out.events_per_s = Math.round(r.length / seconds);
  out.latency_ms_p50 = pct(r, 50);
  out.latency_ms_p95 = pct(r, 95);
  out.latency_ms_max = Math.max(...r);
  out.bare_events_per_s = Math.round(bare.length / seconds);
  out.bare_latency_ms_p50 = pct(bare, 50);
  out.bare_latency_ms_p95 = pct(bare, 95);
  await page.context().close();
  await d.stop();
}

// 2. First render of the overview with 200 runners; 3. daemon memory with 10 dashboards.
{
  const runners = Array.from({ length: 200 }, (_, i) => ({ name: `r${String(i).padStart(3, "0")}`, command: ["sleep", "infinity"] }));
  const d = await Daemon.start({ runners });
  await until("200 running", async () => {
    const all = (await d.api("GET", "/api/v1/runners")).body;
    return all.filter((r) => r.state.state === "running").length === 200;
  }, 30000);
  const page = await master(b, d);
  const renders = [];
  for (let i = 0; i < 5; i++) {
    await page.goto("about:blank");
    const t0 = Date.now();
    await page.goto(d.base + "/");
    await page.waitForFunction(() => document.querySelectorAll('tr[data-colour="green"]').length === 200, null, { timeout: 30000 });
    renders.push(Date.now() - t0);
  }
  out.first_render_200_ms_median = pct(renders, 50);
  out.first_render_200_ms_all = renders;
  await page.context().close();
  await sleep(3000);
  out.daemon_pss_mib_0_dashboards = Math.round(pss(d.child.pid) * 10) / 10;
  const pages = [];
  for (let i = 0; i < 10; i++) pages.push(await master(b, d));
  await sleep(5000);
  out.daemon_pss_mib_10_dashboards = Math.round(pss(d.child.pid) * 10) / 10;
  for (const p of pages) await p.context().close();
  await d.stop();
}

await b.close();
console.log(JSON.stringify(out));
