// The dashboard talks to the engine only through the documented HTTP API
// (crates/qcity-api/openapi.json, generated from the daemon's types) and its event stream, with the session cookie.

import type { components } from "./generated/api";

// The wire types, generated from the API's OpenAPI document (`npm run types`; `make test`
// fails when they are stale). The dashboard re-types nothing by hand.
type Schemas = components["schemas"];
export type Role = Schemas["Role"];
export type Health = Schemas["Health"];
export type Colour = Schemas["Colour"];
export type ProbeState = Schemas["ProbeState"];
export type ExitInfo = Schemas["ExitInfo"];
export type RunnerState = Schemas["RunnerState"];
export type ProbeStatus = Schemas["ProbeStatus"];
export type Activity = Schemas["Activity"];
export type RunnerStatus = Schemas["RunnerStatus"];
export type MachineStatus = Schemas["MachineStatus"];
export type Me = Schemas["Me"];
export type AuditEntry = Schemas["AuditEntry"];
export type AuditVerdict = Schemas["AuditVerdict"];
export type AutotestCheck = Schemas["AutotestCheck"];
export type AutotestReport = Schemas["AutotestReport"];
export type FixView = Schemas["FixView"];
export type SignatureView = Schemas["SignatureView"];
export type HealPlan = Schemas["HealPlan"];
export type QiOption = Schemas["QiOption"];
export type QiFeature = Schemas["QiFeature"];
export type QiView = Schemas["QiView"];
export type UpdateView = Schemas["UpdateView"];
export type ConfigView = Schemas["ConfigView"];
export type UserInfo = Schemas["UserInfo"];
export type NotifyChannel = Schemas["NotifyChannel"];
export type PlatformStatus = Schemas["PlatformStatus"];
export type PlatformState = Schemas["PlatformState"];
export type Queued = Schemas["Queued"];
/// Every event type's wire name (`runner-state`…).
export type EventType = Schemas["Event"]["type"];

export interface QEvent {
  id: number;
  ts_ms: number;
  type: string;
  [key: string]: unknown;
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
