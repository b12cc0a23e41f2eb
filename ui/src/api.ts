// The dashboard talks to the engine only through the documented HTTP API
// (crates/qcity-api/src/openapi.json) and its event stream, with the session cookie.

export type Role = "master" | "viewer";
export type Health = "healthy" | "degraded" | "unhealthy";
export type Colour = "red" | "amber" | "green" | "grey";
export type ProbeState = "pending" | "passing" | "failing";

export interface ExitInfo {
  code: number | null;
  signal: number | null;
  uptime_ms: number;
  error?: string;
  at_ms: number;
}

export interface RunnerState {
  state: string;
  pid?: number;
  since_ms?: number;
  exit?: ExitInfo;
  job?: string;
  reason?: string;
  attempt?: number;
  until_ms?: number;
}

export interface ProbeStatus {
  name: string;
  state: ProbeState;
  critical: boolean;
  detail: string;
  checked_ms: number;
}

export interface Activity {
  activity: string;
  job?: string;
  result?: string;
  reason?: string;
}

export interface RunnerStatus {
  name: string;
  state: RunnerState;
  pid: number | null;
  uptime_ms: number | null;
  restarts: number;
  last_exit: ExitInfo | null;
  activity?: Activity;
  health?: Health;
  /// Computed by the engine; the dashboard only shows it.
  colour: Colour;
  probes?: ProbeStatus[];
}

export interface MachineStatus {
  health: Health | null;
  resources: ProbeStatus[];
}

export interface QEvent {
  id: number;
  ts_ms: number;
  type: string;
  [key: string]: unknown;
}

export interface Me {
  user: string;
  role: Role;
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<{ data: T; res: Response }> {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    let code = "error";
    let message = `${res.status} ${res.statusText}`;
    try {
      const e = await res.json();
      code = e.code ?? code;
      message = e.message ?? message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, code, message);
  }
  const data = res.status === 204 ? (undefined as T) : ((await res.json()) as T);
  return { data, res };
}

export const get = async <T>(path: string) => (await call<T>("GET", path)).data;
export const post = async <T>(path: string, body?: unknown) => (await call<T>("POST", path, body)).data;

/// The runners and the id of the last event their snapshot includes.
export async function runnersSnapshot(): Promise<{ runners: RunnerStatus[]; head: number }> {
  const { data, res } = await call<RunnerStatus[]>("GET", "/api/v1/runners");
  return { runners: data, head: Number(res.headers.get("x-qcity-event-id") ?? "0") };
}

export const login = (body: { user: string; password: string } | { token: string }) =>
  post<Me>("/api/v1/auth/login", body);
export const logout = () => post<void>("/api/v1/auth/logout");
export const me = () => get<Me>("/api/v1/auth/me");
export const control = (name: string, action: string) =>
  post<{ state: RunnerState }>(`/api/v1/runners/${encodeURIComponent(name)}/${action}`);
