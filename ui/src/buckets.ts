import type { QEvent } from "./api";

/// Failures (unclean exits, crash loops) and restarts per minute, for a chart.
export function perMinute(events: QEvent[]): { x: number[]; failures: number[]; restarts: number[] } {
  const byMinute = new Map<number, { f: number; r: number }>();
  for (const e of events) {
    if (e.type !== "runner-state") continue;
    const s = e.state as { state: string; exit?: { code: number | null; error?: string } };
    const m = Math.floor(e.ts_ms / 60000) * 60;
    const b = byMinute.get(m) ?? { f: 0, r: 0 };
    if (s.state === "crash-looping" || (s.state === "exited" && !(s.exit?.code === 0 && !s.exit?.error))) b.f += 1;
    if (s.state === "starting") b.r += 1;
    byMinute.set(m, b);
  }
  const x = [...byMinute.keys()].sort((a, b) => a - b);
  return { x, failures: x.map((m) => byMinute.get(m)!.f), restarts: x.map((m) => byMinute.get(m)!.r) };
}

/// Runners by unclean exits, most first.
export function topFailing(events: QEvent[], n = 5): { runner: string; failures: number }[] {
  const c = new Map<string, number>();
  for (const e of events) {
    if (e.type !== "runner-state") continue;
    const s = e.state as { state: string; exit?: { code: number | null; error?: string } };
    if (s.state === "exited" && !(s.exit?.code === 0 && !s.exit?.error)) c.set(e.runner as string, (c.get(e.runner as string) ?? 0) + 1);
  }
  return [...c.entries()]
    .map(([runner, failures]) => ({ runner, failures }))
    .sort((a, b) => b.failures - a.failures)
    .slice(0, n);
}
