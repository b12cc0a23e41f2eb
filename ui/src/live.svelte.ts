// Live state: a snapshot of the runners and the machine, kept current by the event stream.
// The snapshot says which event it includes (X-QCity-Event-Id); the stream starts after it
// and, on reconnect, the browser resumes after the last event id it saw (Last-Event-ID), so
// no change is missed.

import {
  get,
  runnersSnapshot,
  type Activity,
  type Colour,
  type ExitInfo,
  type EventType,
  type Health,
  type MachineStatus,
  type ProbeStatus,
  type QEvent,
  type RunnerState,
  type RunnerStatus,
} from "./api";

const RECENT = 300;

class Live {
  runners = $state<Record<string, RunnerStatus>>({});
  machine = $state<MachineStatus>({ health: null, resources: [] });
  connected = $state(false);
  /// True once the stream was open and then dropped (shown as a banner until it is back).
  lost = $state(false);
  /// When the stream dropped: what the page shows is as of then, until it is back.
  lostAt = $state<number | null>(null);
  recent = $state<QEvent[]>([]);
  lastId = $state(0);
  now = $state(Date.now());
  private source: EventSource | null = null;
  private queue: QEvent[] = [];
  private listeners = new Set<(batch: QEvent[]) => void>();
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private clock: ReturnType<typeof setInterval> | null = null;
  private usage: ReturnType<typeof setInterval> | null = null;

  async start() {
    this.stop();
    const { runners, head } = await runnersSnapshot();
    this.runners = Object.fromEntries(runners.map((r) => [r.name, r]));
    this.machine = await get<MachineStatus>("/api/v1/machine");
    this.lastId = head;
    this.open(head);
    this.clock = setInterval(() => (this.now = Date.now()), 1000);
    // CPU and memory change all the time and are no events: read them again every 5 s
    // (the engine samples them on its resource monitor's tick).
    this.usage = setInterval(() => void this.refreshUsage(), 5000);
  }

  stop() {
    this.source?.close();
    this.source = null;
    if (this.clock) clearInterval(this.clock);
    if (this.usage) clearInterval(this.usage);
    this.connected = false;
  }

  private open(after: number) {
    const es = new EventSource(`/api/v1/events/stream?after=${after}`);
    this.source = es;
    es.onopen = () => {
      this.connected = true;
      this.lost = false;
      this.lostAt = null;
    };
    es.onerror = () => {
      // EventSource reconnects by itself and sends Last-Event-ID.
      this.connected = false;
      this.lost = true;
      this.lostAt ??= Date.now();
    };
    es.onmessage = () => {};
    // Every type the engine publishes, checked by the compiler against the generated
    // union: a type left out would never reach the page (the Events view would miss it).
    const every: Record<EventType, true> = {
      "engine-started": true,
      "engine-stopping": true,
      "runner-state": true,
      "runner-activity": true,
      "probe-changed": true,
      "resource-changed": true,
      "task-finished": true,
      "task-skipped": true,
      "autotest-finished": true,
      escalation: true,
      notice: true,
      control: true,
      "config-applied": true,
      "config-rejected": true,
      reconciled: true,
      "subscriber-lagged": true,
      "store-failed": true,
      "store-recovered": true,
      "backup-taken": true,
      "backup-failed": true,
      "notify-failed": true,
      "platform-changed": true,
      auth: true,
      "qi-install": true,
      heal: true,
      update: true,
      job: true,
      fleet: true,
    };
    const types = Object.keys(every) as EventType[];
    for (const type of types) {
      es.addEventListener(type, (m) => this.enqueue(JSON.parse((m as MessageEvent).data) as QEvent));
    }
  }

  /// Events are applied in batches, one per ~frame: at a thousand events a second, rendering
  /// after each one would keep the page too busy to read the next.
  private enqueue(e: QEvent) {
    this.queue.push(e);
    if (this.flushTimer === null) this.flushTimer = setTimeout(() => this.flush(), 16);
  }

  private flush() {
    this.flushTimer = null;
    const batch = this.queue;
    this.queue = [];
    const fresh = batch.filter((e) => this.apply(e));
    if (!fresh.length) return;
    this.recent = [...fresh].reverse().concat(this.recent).slice(0, RECENT);
    for (const l of this.listeners) l(fresh);
  }

  /// Calls `fn` with every batch of new events, oldest first; returns the unsubscribe.
  listen(fn: (batch: QEvent[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /// Applies one event; false when it was applied before.
  private apply(e: QEvent): boolean {
    // A replay after a reconnect may repeat what was applied already.
    if (e.id <= this.lastId) return false;
    this.lastId = e.id;
    const name = e.runner as string | undefined;
    const r = name ? this.runners[name] : undefined;
    switch (e.type) {
      case "runner-state": {
        if (!r) {
          void this.refresh();
          return true;
        }
        const state = e.state as RunnerState;
        // As the engine counts: every start after the first one.
        const neverStarted = r.state.state === "stopped" && !r.last_exit && r.restarts === 0 && r.pid === null;
        if (state.state === "starting" && !neverStarted) r.restarts += 1;
        if (state.state === "exited" && state.exit) r.last_exit = state.exit;
        if (state.state !== "running") r.activity = null;
        r.state = state;
        r.pid = "pid" in state ? state.pid : null;
        if (state.state !== "running") {
          // Probes start over when it runs again.
          r.probes = (r.probes ?? []).map((p) => ({ ...p, state: "pending" }));
        }
        // Health and colour are the engine's, as judged with this state.
        r.health = (e.health as Health | undefined) ?? null;
        r.colour = e.colour as Colour;
        // So are the controls that make sense in it.
        r.actions = (e.actions as RunnerStatus["actions"] | undefined) ?? [];
        break;
      }
      case "runner-activity":
        if (r) r.activity = e.activity as RunnerStatus["activity"];
        break;
      case "probe-changed": {
        if (!r) return true;
        const probes = [...(r.probes ?? [])];
        const i = probes.findIndex((p) => p.name === e.probe);
        const next = { ...(probes[i] ?? { name: e.probe as string, critical: true, checked_ms: 0 }) } as ProbeStatus;
        next.state = e.state as ProbeStatus["state"];
        next.detail = e.detail as string;
        next.checked_ms = e.ts_ms;
        if (i >= 0) probes[i] = next;
        else probes.push(next);
        r.probes = probes;
        r.health = (e.health as Health | undefined) ?? null;
        r.colour = e.colour as Colour;
        break;
      }
      case "resource-changed": {
        const res = [...this.machine.resources];
        const i = res.findIndex((p) => p.name === e.resource);
        const next = { ...(res[i] ?? { name: e.resource as string, critical: true, checked_ms: 0 }) } as ProbeStatus;
        next.state = e.state as ProbeStatus["state"];
        next.detail = e.detail as string;
        if (i >= 0) res[i] = next;
        else res.push(next);
        this.machine = { ...this.machine, resources: res, health: (e.health as Health | undefined) ?? null };
        break;
      }
      case "config-applied":
        void this.refresh();
        break;
    }
    return true;
  }

  private async refreshUsage() {
    if (!this.connected) return;
    try {
      const { runners } = await runnersSnapshot();
      for (const fresh of runners) {
        const r = this.runners[fresh.name];
        if (r) r.usage = fresh.usage;
      }
    } catch {
      /* the stream's banner says when the daemon is gone */
    }
  }

  /// Runners were added or removed: take a new snapshot (the stream goes on).
  private async refresh() {
    const { runners } = await runnersSnapshot();
    this.runners = Object.fromEntries(runners.map((r) => [r.name, r]));
  }
}

export function describeExit(e: ExitInfo | null | undefined): string {
  if (!e) return "—";
  if (e.error) return `spawn failed: ${e.error}`;
  if (e.code !== null && e.code !== undefined) return `exit ${e.code}`;
  if (e.signal !== null && e.signal !== undefined) return `signal ${e.signal}`;
  return "—";
}

/// Failing first: the order a person reads the runners in.
export const COLOUR_RANK: Record<Colour, number> = { red: 0, amber: 1, green: 2, grey: 3 };

/// Why a runner is shown in its colour, in one line, from what the engine reported: the
/// failing probes, the exit that made it restart, the crash loop, the lost registration.
export function reasonOf(r: RunnerStatus): string {
  const s = r.state;
  const failing = (r.probes ?? []).filter((p) => p.state === "failing").map((p) => `${p.name}: ${p.detail}`);
  switch (s.state) {
    case "needs-registration":
      return `registration gone: ${s.reason}`;
    case "crash-looping":
      return `crash loop: ${s.restarts} restarts within ${duration(s.window_ms)}; last ${describeExit(r.last_exit)}`;
    case "backoff":
      return `restarting after ${describeExit(r.last_exit)} (attempt ${s.attempt})`;
    case "exited":
      return `ended with ${describeExit(s.exit)}`;
    case "pausing":
      return s.job ? `finishing job ${s.job}, then paused` : "pausing";
    case "paused":
      return "paused by hand";
    case "stopped":
      return r.last_exit ? `stopped (last ${describeExit(r.last_exit)})` : "stopped";
    default:
      if (failing.length) return failing.join("; ");
      return r.activity ? activityText(r.activity) : "";
  }
}

/// The state as a word, with what qualifies it (`running, unhealthy`).
export function stateText(r: RunnerStatus): string {
  const s = r.state;
  if (s.state === "pausing" && s.job) return `pausing (job ${s.job})`;
  if (s.state === "backoff") return `backoff (attempt ${s.attempt})`;
  if (s.state === "running" && r.health && r.health !== "healthy") return `running, ${r.health}`;
  return s.state;
}

/// What a runner says it does, with the job it names (`running-job 1234`).
export function activityText(a: Activity): string {
  return "job" in a ? `${a.activity} ${a.job}` : a.activity;
}

/// A runner's CPU (percent of one core) and memory (its whole process group), or "—".
export function cpuText(r: RunnerStatus): string {
  const u = r.usage;
  if (!u) return "—";
  return u.cpu_percent >= 10 ? `${Math.round(u.cpu_percent)}%` : `${u.cpu_percent.toFixed(1)}%`;
}

export function memoryText(r: RunnerStatus): string {
  const u = r.usage;
  if (!u) return "—";
  const mib = u.memory_bytes / 1048576;
  return mib >= 1024 ? `${(mib / 1024).toFixed(1)} GiB` : `${mib.toFixed(1)} MiB`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export const live = new Live();
