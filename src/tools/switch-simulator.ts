/**
 * A telephony switch that uses call sessions (SPEC §8) the way the README's "Switch
 * integration" asks: start a session when a call is answered (refused: the call is not
 * connected and no CDR follows), cut the call at its granted seconds, renew before
 * reaching them until `final`, end it, then emit its CDR with `cdr_id` = `call_id`.
 * It fails closed: a start that gets no answer connects nothing, a renew that fails
 * cuts the call at what it already has.
 *
 * Call time runs `speed` times faster than real time, so a demo of seconds carries
 * calls of hours; renews come early in real time, never later than `expires_at`.
 * Used by `ratestream demo`, bench:e2e and tests; the planned calls come as CDRs from
 * the CDR generator (their duration is how long the caller would have talked).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { RawCdr } from "./cdr-generator.js";

/**
 * The answer of a start or renew (SPEC §8; `GRANT_SCHEMA` in src/api/routes/calls.ts), as a
 * client sees it: the one declaration the simulator and the tests use.
 */
export interface Grant {
  call_id: string;
  allowed: boolean;
  reason: string;
  granted_seconds: number;
  final: boolean;
  held_micros: number;
  expires_at: string | null;
}

export interface StartRequest {
  call_id: string;
  direction: "outbound" | "inbound";
  to: string;
  features?: string[];
}

/** The session routes as the switch sees them. Any failure (HTTP error, network) throws. */
export interface SessionApi {
  start(accountId: string, body: StartRequest): Promise<Grant>;
  renew(accountId: string, callId: string, usedSeconds: number): Promise<Grant>;
  end(accountId: string, callId: string, durationSeconds: number): Promise<unknown>;
}

export class SessionApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The session routes of a running `ratestream run` on `baseUrl`, with a switch key. */
export function httpSessionApi(baseUrl: string, switchKey: string): SessionApi {
  const post = async <T>(path: string, body: object): Promise<T> => {
    const res = await fetch(`${baseUrl}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${switchKey}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== 200) throw new SessionApiError(res.status, `POST ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  const account = (id: string) => `/v1/accounts/${encodeURIComponent(id)}/calls`;
  return {
    start: (accountId, body) => post<Grant>(account(accountId), body),
    renew: (accountId, callId, used) =>
      post<Grant>(`${account(accountId)}/${encodeURIComponent(callId)}/renew`, { used_seconds: used }),
    end: (accountId, callId, duration) =>
      post(`${account(accountId)}/${encodeURIComponent(callId)}/end`, { duration_seconds: duration }),
  };
}

export interface CallOptions {
  /** Call seconds per real second (1 = real time; Infinity = no waiting at all). */
  speed: number;
  /** Renew this many call seconds before the grant runs out. */
  renewLeadSeconds?: number;
  /** The clock a CDR's answered_at comes from. */
  now?: () => Date;
}

export type CallResult =
  | { outcome: "refused"; reason: string }
  /** The start got no answer (HTTP error or network): fail closed, nothing connected. */
  | { outcome: "failed"; error: string }
  | {
      outcome: "completed";
      cdr: RawCdr;
      renews: number;
      /** The caller wanted to talk longer than granted: cut at granted_seconds. */
      cut: boolean;
      /** Renews or an end that got no answer (the call was cut at what it had). */
      errors: number;
    };

const wholeSecond = (d: Date) => d.toISOString().replace(/\.\d+Z$/, "Z");

/**
 * One call, from answer to CDR. `planned` is the call as the caller would make it: its
 * `cdr_id` becomes the call_id, its duration how long the caller would talk, its
 * surcharges the features the call uses.
 */
export async function simulateCall(api: SessionApi, planned: RawCdr, o: CallOptions): Promise<CallResult> {
  const wait = (callSeconds: number) =>
    callSeconds > 0 && Number.isFinite(o.speed) ? sleep((callSeconds * 1000) / o.speed) : undefined;
  const lead = o.renewLeadSeconds ?? 30;
  const features = (planned.surcharges ?? []).map((s) => s.feature);
  const answeredAt = wholeSecond((o.now ?? (() => new Date()))());
  const account = planned.account_id;
  const callId = planned.cdr_id;

  let grant: Grant;
  try {
    grant = await api.start(account, {
      call_id: callId,
      direction: planned.direction,
      to: planned.to,
      ...(features.length > 0 && { features }),
    });
  } catch (err) {
    return { outcome: "failed", error: (err as Error).message };
  }
  if (!grant.allowed) return { outcome: "refused", reason: grant.reason };

  let granted = grant.granted_seconds;
  let final = grant.final;
  let used = 0;
  let renews = 0;
  let errors = 0;
  while (planned.duration_seconds > granted && !final) {
    const renewAt = Math.max(used, granted - lead);
    await wait(renewAt - used);
    used = renewAt;
    try {
      const renewed = await api.renew(account, callId, used);
      renews++;
      // A grant that did not grow is final whatever it says: never ask in a loop.
      final = renewed.final || renewed.granted_seconds <= granted;
      granted = Math.max(granted, renewed.granted_seconds);
    } catch {
      errors++;
      break; // fail closed: the call is cut at what it already has
    }
  }
  const duration = Math.min(planned.duration_seconds, granted);
  await wait(duration - used);
  try {
    await api.end(account, callId, duration);
  } catch {
    errors++; // the CDR settles the session all the same
  }
  const cdr: RawCdr = { ...planned, answered_at: answeredAt, duration_seconds: duration };
  if (planned.surcharges) {
    cdr.surcharges = planned.surcharges.map((s) => ({ ...s, seconds: Math.min(s.seconds, duration) }));
  }
  return { outcome: "completed", cdr, renews, cut: duration < planned.duration_seconds, errors };
}

export interface SwitchStats {
  offered: number;
  completed: number;
  /** Refused starts by reason (insufficient_credit, blocked, no_rate, unknown_account). */
  refused: Record<string, number>;
  failed: number;
  /** Offered while every line was in use: not placed (the caller hears busy). */
  busy: number;
  renews: number;
  cut: number;
  errors: number;
  /** The most calls in progress at once. */
  peakConcurrent: number;
  firstError?: string;
}

export const emptyStats = (): SwitchStats => ({
  offered: 0,
  completed: 0,
  refused: {},
  failed: 0,
  busy: 0,
  renews: 0,
  cut: 0,
  errors: 0,
  peakConcurrent: 0,
});

export function record(stats: SwitchStats, result: CallResult): void {
  switch (result.outcome) {
    case "refused":
      stats.refused[result.reason] = (stats.refused[result.reason] ?? 0) + 1;
      return;
    case "failed":
      stats.failed++;
      stats.firstError ??= result.error;
      return;
    case "completed":
      stats.completed++;
      stats.renews += result.renews;
      stats.errors += result.errors;
      if (result.cut) stats.cut++;
  }
}

/**
 * Offers calls at `callsPerSecond` until `until()` is true (at most `maxConcurrent` in
 * progress: a switch has so many lines; a call offered when all are busy is counted
 * and not placed, so a slow API shows as busy calls, not as a backlog), hands each completed call's CDR to `emitCdr`,
 * and waits for the calls in progress to end. Returns what happened.
 */
export async function runSwitch(o: {
  api: SessionApi;
  calls: Iterator<RawCdr>;
  callsPerSecond: number;
  maxConcurrent?: number;
  until: () => boolean;
  emitCdr: (cdr: RawCdr) => void;
  call: CallOptions;
  onTick?: (stats: SwitchStats) => unknown;
  tickMs?: number;
}): Promise<SwitchStats> {
  const stats = emptyStats();
  const inFlight = new Set<Promise<void>>();
  const maxConcurrent = o.maxConcurrent ?? 2_000;
  const started = Date.now();
  while (!o.until()) {
    const due = Math.floor(((Date.now() - started) / 1000) * o.callsPerSecond) - stats.offered;
    for (let i = 0; i < due; i++) {
      const next = o.calls.next();
      if (next.done) break;
      stats.offered++;
      if (inFlight.size >= maxConcurrent) {
        stats.busy++;
        continue;
      }
      const call: Promise<void> = simulateCall(o.api, next.value, o.call).then((result) => {
        record(stats, result);
        if (result.outcome === "completed") o.emitCdr(result.cdr);
        inFlight.delete(call);
      });
      inFlight.add(call);
      stats.peakConcurrent = Math.max(stats.peakConcurrent, inFlight.size);
    }
    await o.onTick?.(stats);
    await sleep(o.tickMs ?? 20);
  }
  await Promise.all(inFlight);
  return stats;
}
