import type { QEvent } from "./api";

/// One minute of a history bar: when it starts (ms) and what happened in it.
export interface Slot {
  start: number;
  failures: number;
  restarts: number;
  /// Before the first event known: nothing to say about this minute.
  unknown: boolean;
}

/// The `count` minutes up to `now` (oldest first), each with its failures (unclean exits,
/// crash loops) and restarts; every minute is there, quiet ones with zeros.
export function slots(events: QEvent[], now: number, count = 60): Slot[] {
  const last = Math.floor(now / 60000) * 60000;
  const first = last - (count - 1) * 60000;
  const known = Math.min(...events.filter((e) => e.type === "runner-state").map((e) => e.ts_ms), now);
  const out: Slot[] = Array.from({ length: count }, (_, i) => {
    const start = first + i * 60000;
    return { start, failures: 0, restarts: 0, unknown: start + 60000 <= known };
  });
  for (const e of events) {
    if (e.type !== "runner-state" || e.ts_ms < first || e.ts_ms >= last + 60000) continue;
    const slot = out[Math.floor((e.ts_ms - first) / 60000)];
    const s = e.state as { state: string; exit?: { code: number | null; error?: string } };
    if (s.state === "crash-looping" || (s.state === "exited" && !(s.exit?.code === 0 && !s.exit?.error))) slot.failures += 1;
    if (s.state === "starting") slot.restarts += 1;
  }
  return out;
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
