/**
 * Call sessions (SPEC §8): start, renew, end and list, in the order of effects every
 * grant follows:
 *
 *   1. TypeScript prices the candidate grants (core/rating/call-charge.ts);
 *   2. Redis decides, atomically with the balance and the other sessions' holds
 *      (calls-1.lua), using its own clock for expiry;
 *   3. Postgres records the session (call_sessions) — only then is the switch answered.
 *
 * If step 3 fails the caller answers 503 and the hold Redis made stays behind. That is
 * harmless: a hold only lowers the account's available credit, never its balance, and
 * it ends by itself at its expires_at (or when the CDR settles it). A retry of the
 * start finds it and answers it as it stands.
 */
import type pg from "pg";
import {
  callSessionState,
  recordCallSession,
  settleCallSession,
} from "../adapters/postgres/call-sessions.js";
import { restoreFromLedger, type WritePathDeps } from "../balances/write-path.js";
import { utcMonth } from "../balances/types.js";
import { MAX_DURATION_SECONDS } from "../core/cdr.js";
import { callCharge, holdSteps, type CallPricing } from "../core/rating/call-charge.js";
import { surchargeInForce, type RateTable } from "../core/rating/rate-table.js";
import { isOpen, type CallMeta, type CallReply, type CallSession, type CallStore } from "./types.js";

export interface CallSettings {
  /** A slice: CALL_QUOTA_SECONDS. */
  quotaSeconds: number;
  /** CALL_GRACE_SECONDS. */
  graceSeconds: number;
  /** CALL_CDR_WAIT_SECONDS: how long an ended session holds while its CDR is awaited. */
  cdrWaitSeconds: number;
}

export const DEFAULT_CALL_SETTINGS: CallSettings = {
  quotaSeconds: 300,
  graceSeconds: 60,
  cdrWaitSeconds: 3600,
};

export interface CallMetrics {
  grant(result: string): void;
}

export interface CallDeps {
  store: CallStore;
  pool: pg.Pool;
  write: Pick<WritePathDeps, "store" | "ledger" | "logger" | "onRestore">;
  /** The newest version of the account's plan (SPEC §10). */
  rateTable: (accountId: string) => RateTable | undefined | Promise<RateTable | undefined>;
  settings: CallSettings;
  metrics?: CallMetrics;
  now?: () => Date;
}

export type StartRefusal = "blocked" | "insufficient_credit" | "no_rate" | "unknown_account";

export type GrantResult =
  | { status: "granted"; session: CallSession; final: boolean }
  | { status: "refused"; reason: StartRefusal }
  /** Start of a settled or expired session, renew or end of a closed one, renew after end. */
  | { status: "conflict"; message: string }
  | { status: "not_found" }
  /** Postgres did not record it: the switch gets no grant (503). */
  | { status: "unrecorded"; error: unknown };

export type EndResult =
  | { status: "ended"; session: CallSession }
  | { status: "conflict"; message: string }
  | { status: "not_found" }
  | { status: "unrecorded"; error: unknown };

const timing = (s: CallSettings) => ({
  graceMs: s.graceSeconds * 1000,
  keepClosedMs: s.cdrWaitSeconds * 1000,
});

/** The pricing of a call in the rate version in force now: undefined when anything of it has no rate. */
export function callPricing(table: RateTable | undefined, meta: CallMeta, at: Date): CallPricing | undefined {
  if (!table) return undefined;
  const micros = at.getTime() * 1000;
  const rate = table.rates[meta.direction].lookup(meta.to, 1, micros);
  if (!rate) return undefined;
  const featureRatesMicros: number[] = [];
  for (const feature of meta.features) {
    const row = surchargeInForce(table, feature, micros);
    if (!row) return undefined;
    featureRatesMicros.push(row.ratePerMinuteMicros);
  }
  return { rate, featureRatesMicros };
}

/** Runs a step; an account Redis lost is restored from the ledger first (undefined: no such account). */
async function inRedis(
  deps: CallDeps,
  accountId: string,
  step: () => Promise<CallReply | "missing">,
): Promise<CallReply | undefined> {
  const first = await step();
  if (first !== "missing") return first;
  const month = utcMonth(deps.now?.() ?? new Date());
  if ((await restoreFromLedger(deps.write, accountId, month)) === "unknown") return undefined;
  const second = await step();
  if (second === "missing") throw new Error(`account ${accountId} vanished from Redis while restored`);
  return second;
}

/** The account's open sessions as Redis holds them now; undefined: no such account. */
export function listCalls(deps: CallDeps, accountId: string): Promise<CallReply | undefined> {
  return inRedis(deps, accountId, () => deps.store.list(accountId, timing(deps.settings)));
}

/** Records what Redis granted; a session the ledger knows as closed is closed in Redis too. */
async function record(
  deps: CallDeps,
  accountId: string,
  session: CallSession,
): Promise<
  { status: "recorded" } | { status: "conflict"; message: string } | { status: "unrecorded"; error: unknown }
> {
  let recorded;
  try {
    recorded = await recordCallSession(deps.pool, accountId, session);
  } catch (error) {
    // The hold stays in Redis until it expires: it only lowers the available credit.
    return { status: "unrecorded", error };
  }
  if (recorded.status === "recorded") {
    if ((await stillHeld(deps, accountId, session)) === "settled") {
      // The CDR was debited between the grant and this record: it settled the session
      // in Redis, but found no row here to settle. The call is over: 409, as a start
      // after settlement answers (SPEC §8).
      await settleCallSession(deps.pool, accountId, session.callId);
      return { status: "conflict", message: `call ${session.callId} is already settled` };
    }
    return recorded;
  }
  // Redis lost the closed record (a wipe) and granted afresh: the ledger's word stands.
  await deps.store.close(
    accountId,
    session.callId,
    session.rev,
    recorded.state === "settled" ? "settled" : "expired",
    timing(deps.settings),
  );
  return { status: "conflict", message: `call ${session.callId} is already ${recorded.state}` };
}

/**
 * Redis may have lost the account between its grant and the record (a wipe), and
 * restored it from a ledger that did not have the grant yet: then it holds less than
 * the switch is about to be told. Dropping the account makes its next use restore it
 * again, from a ledger that now has the grant. (An account still missing restores so.)
 * "settled": the session's CDR was debited before the record, and settled it in Redis.
 */
async function stillHeld(
  deps: CallDeps,
  accountId: string,
  session: CallSession,
): Promise<"settled" | undefined> {
  const reply = await deps.store.list(accountId, timing(deps.settings), session.callId);
  if (reply === "missing") return undefined;
  const held = reply.session;
  if (held?.state === "settled") return "settled";
  if (held === undefined || (isOpen(held) && held.rev < session.rev)) {
    deps.write.logger.warn(
      { accountId, callId: session.callId },
      "Redis lost a grant being recorded; restoring",
    );
    await deps.write.store.forget(accountId);
  }
  return undefined;
}

export async function startCall(
  deps: CallDeps,
  accountId: string,
  callId: string,
  meta: CallMeta,
): Promise<GrantResult> {
  const result = await start(deps, accountId, callId, meta);
  deps.metrics?.grant(result.status === "refused" ? result.reason : result.status);
  return result;
}

async function start(
  deps: CallDeps,
  accountId: string,
  callId: string,
  meta: CallMeta,
): Promise<GrantResult> {
  const { settings } = deps;
  const pricing = callPricing(await deps.rateTable(accountId), meta, deps.now?.() ?? new Date());
  // No rate: nothing to hold against; an open session of this call still answers as it stands.
  const steps = pricing ? holdSteps(pricing, 0, settings.quotaSeconds) : [];
  const reply = await inRedis(deps, accountId, () =>
    deps.store.start(accountId, callId, meta, steps, timing(settings)),
  );
  if (!reply) return { status: "refused", reason: "unknown_account" };
  switch (reply.outcome) {
    case "blocked":
      return { status: "refused", reason: "blocked" };
    case "insufficient_credit":
      return { status: "refused", reason: pricing ? "insufficient_credit" : "no_rate" };
    case "closed":
      return { status: "conflict", message: `call ${callId} was already ${reply.session!.state}` };
    case "granted":
    case "same": {
      const session = reply.session!;
      const recorded = await record(deps, accountId, session);
      if (recorded.status !== "recorded") return recorded;
      return { status: "granted", session, final: isFinal(session.grantedSeconds, 0, settings) };
    }
    default:
      throw new Error(`calls-1.lua answered ${reply.outcome} to a start`);
  }
}

/** final: this answer could not grant a full slice more (credit, or 86,400 s reached). */
function isFinal(granted: number, before: number, settings: CallSettings): boolean {
  return granted < before + settings.quotaSeconds || granted >= MAX_DURATION_SECONDS;
}

/** The session as Redis holds it now, whatever its state (to price a renew or an end from it). */
async function peek(deps: CallDeps, accountId: string, callId: string): Promise<CallReply | undefined> {
  return inRedis(deps, accountId, () => deps.store.list(accountId, timing(deps.settings), callId));
}

/** Redis knows no such session: 409 if the ledger has it (closed long ago), else 404. */
async function unknownCall(deps: CallDeps, accountId: string, callId: string) {
  const state = await callSessionState(deps.pool, accountId, callId);
  return state === undefined
    ? ({ status: "not_found" } as const)
    : ({ status: "conflict", message: `call ${callId} is ${state}` } as const);
}

export async function renewCall(
  deps: CallDeps,
  accountId: string,
  callId: string,
  usedSeconds: number,
): Promise<GrantResult> {
  const result = await renew(deps, accountId, callId, usedSeconds);
  deps.metrics?.grant(`renew_${result.status}`);
  return result;
}

async function renew(
  deps: CallDeps,
  accountId: string,
  callId: string,
  usedSeconds: number,
): Promise<GrantResult> {
  const { settings } = deps;
  const current = (await peek(deps, accountId, callId))?.session;
  const pricing =
    current && callPricing(await deps.rateTable(accountId), current.meta, deps.now?.() ?? new Date());
  // Steps from the grant read just now: a renew racing this one may have granted more,
  // and the script ignores steps below the session's grant as it finds it.
  const steps =
    current && pricing
      ? holdSteps(pricing, current.grantedSeconds, current.grantedSeconds + settings.quotaSeconds)
      : [];
  const reply = await inRedis(deps, accountId, () =>
    deps.store.renew(accountId, callId, usedSeconds, steps, timing(settings)),
  );
  if (!reply) return { status: "not_found" };
  switch (reply.outcome) {
    case "unknown":
      return unknownCall(deps, accountId, callId);
    case "closed":
      return { status: "conflict", message: `call ${callId} is ${reply.session!.state}` };
    case "ended":
      return { status: "conflict", message: `call ${callId} has ended: it cannot be renewed` };
    case "granted": {
      const session = reply.session!;
      const recorded = await record(deps, accountId, session);
      if (recorded.status !== "recorded") return recorded;
      const before = current?.grantedSeconds ?? session.grantedSeconds;
      return { status: "granted", session, final: isFinal(session.grantedSeconds, before, settings) };
    }
    default:
      throw new Error(`calls-1.lua answered ${reply.outcome} to a renew`);
  }
}

export async function endCall(
  deps: CallDeps,
  accountId: string,
  callId: string,
  durationSeconds: number,
): Promise<EndResult> {
  const { settings } = deps;
  const peeked = await peek(deps, accountId, callId);
  const current = peeked?.session;
  if (current === undefined) return unknownCall(deps, accountId, callId);
  // The hold after end is the charge of the reported duration; without a rate in force
  // any more (a deck import), the session keeps what it holds.
  const pricing = callPricing(await deps.rateTable(accountId), current.meta, deps.now?.() ?? new Date());
  const hold = pricing ? callCharge(pricing, durationSeconds) : current.heldMicros;
  const reply = await inRedis(deps, accountId, () =>
    deps.store.end(accountId, callId, hold, timing(settings)),
  );
  if (!reply) return { status: "not_found" };
  switch (reply.outcome) {
    case "unknown":
      return unknownCall(deps, accountId, callId);
    case "closed":
      return { status: "conflict", message: `call ${callId} is ${reply.session!.state}` };
    case "same":
    case "granted": {
      // A repeated end records again: the first one's write may have failed.
      const recorded = await record(deps, accountId, reply.session!);
      if (recorded.status !== "recorded") return recorded;
      return { status: "ended", session: reply.session! };
    }
    default:
      throw new Error(`calls-1.lua answered ${reply.outcome} to an end`);
  }
}
