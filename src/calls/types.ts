/** Call sessions (SPEC §8): credit held while calls run, settled by their CDR. */
import type { Direction } from "../core/cdr.js";

export const CALL_STATES = ["active", "ended", "settled", "expired"] as const;
export type CallState = (typeof CALL_STATES)[number];

/** What a session was opened for: priced again on renew and end. */
export interface CallMeta {
  direction: Direction;
  to: string;
  features: string[];
}

export interface CallSession {
  callId: string;
  state: CallState;
  grantedSeconds: number;
  heldMicros: bigint;
  /** Open: when it expires unless renewed or settled. Closed: when Redis drops its record. */
  untilMs: number;
  /** Bumped by every change, so the ledger keeps the newest of two concurrent writes. */
  rev: number;
  meta: CallMeta;
}

export const isOpen = (s: CallSession): boolean => s.state === "active" || s.state === "ended";

/** The encoding calls-1.lua and apply-2n.lua read: "<state>,<granted>,<hold>,<until ms>,<rev>|<meta>". */
export function encodeSession(s: CallSession): string {
  const meta = JSON.stringify([s.meta.direction, s.meta.to, s.meta.features]);
  return `${s.state},${s.grantedSeconds},${s.heldMicros},${s.untilMs},${s.rev}|${meta}`;
}

export function decodeSession(callId: string, encoded: string): CallSession {
  const bar = encoded.indexOf("|");
  const [state, granted, hold, until, rev] = encoded.slice(0, bar).split(",") as [
    CallState,
    string,
    string,
    string,
    string,
  ];
  const [direction, to, features] = JSON.parse(encoded.slice(bar + 1)) as [Direction, string, string[]];
  return {
    callId,
    state,
    grantedSeconds: Number(granted),
    heldMicros: BigInt(hold),
    untilMs: Number(until),
    rev: Number(rev),
    meta: { direction, to, features },
  };
}

export type CallOutcome =
  "granted" | "same" | "blocked" | "insufficient_credit" | "unknown" | "closed" | "ended" | "listed";

/** One atomic step of calls-1.lua, as read back. */
export interface CallReply {
  outcome: CallOutcome;
  balanceMicros: bigint;
  /** The holds of the account's open sessions other than this call. */
  othersHeldMicros: bigint;
  /** Redis's clock, ms. */
  nowMs: number;
  session: CallSession | undefined;
  /** list: every open session. */
  sessions: CallSession[];
}

export interface HoldPair {
  seconds: number;
  holdMicros: bigint;
}

/** The sessions' atomic steps on the account's Redis state; "missing": restore the account first. */
export interface CallStore {
  start(
    accountId: string,
    callId: string,
    meta: CallMeta,
    steps: HoldPair[],
    timing: { graceMs: number; keepClosedMs: number },
  ): Promise<CallReply | "missing">;
  renew(
    accountId: string,
    callId: string,
    usedSeconds: number,
    steps: HoldPair[],
    timing: { graceMs: number; keepClosedMs: number },
  ): Promise<CallReply | "missing">;
  end(
    accountId: string,
    callId: string,
    holdMicros: bigint,
    timing: { keepClosedMs: number },
  ): Promise<CallReply | "missing">;
  /** Every open session; with callId, that session too in `session`, whatever its state. */
  list(accountId: string, timing: { keepClosedMs: number }, callId?: string): Promise<CallReply | "missing">;
  /** Closes the session if it is still at `rev` (the ledger says it was closed). */
  close(
    accountId: string,
    callId: string,
    rev: number,
    state: "settled" | "expired",
    timing: { keepClosedMs: number },
  ): Promise<CallReply | "missing">;
}
