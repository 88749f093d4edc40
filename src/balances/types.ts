/** The vocabulary of the balance write path, shared by its store and ledger adapters. */
import type { CallSession } from "../calls/types.js";

export const ENTRY_KINDS = [
  "call",
  "credit",
  "adjustment",
  "recharge",
  "auto_recharge",
  /** A zero entry: online auto-recharge turned on at or below 5.00 (SPEC §1.7). */
  "auto_recharge_enabled",
  "offline_reload",
  "number_purchase",
  "number_renewal",
  /** One account's correction by a re-rating run (SPEC §9). */
  "rerate",
] as const;
export type EntryKind = (typeof ENTRY_KINDS)[number];

export const BALANCE_EVENT_TYPES = [
  "low_balance",
  "blocked",
  "unblocked",
  "auto_recharge_requested",
  "recharged",
  "recharge_failed",
  "auto_recharge_capped",
  "offline_reloaded",
] as const;
export type BalanceEventType = (typeof BALANCE_EVENT_TYPES)[number];

/** A change someone asks for: a call's debit, a credit, an adjustment … */
export interface EntryRequest {
  accountId: string;
  /** Unique per account, at any distance in time: "cdr:<cdr_id>", "credit:<reference>" … */
  key: string;
  kind: EntryKind;
  /** Signed: debits are negative. */
  amountMicros: bigint;
  /** What caused it, as events name it: the cdr_id, the credit reference, the payment id … */
  cause: string;
  cdrId?: string;
  reference?: string;
  rateVersion?: number | null;
  details?: Record<string, unknown>;
  /** An event the entry itself announces (a card recharge announces `recharged`). */
  announces?: BalanceEventType;
  /**
   * Refuse the entry, changing nothing, if it would take the balance less the holds of
   * the account's open call sessions below this (SPEC §8: credit promised to running calls
   * is not there to spend).
   */
  floorMicros?: bigint;
  /** A number purchase: the number becomes the account's in the entry's own transaction. */
  buysNumber?: { number: string; numberType: string };
}

/** One entry as applied to the balance, in the account's order. */
export interface BookedEntry {
  accountId: string;
  seq: bigint;
  key: string;
  kind: EntryKind;
  amountMicros: bigint;
  beforeMicros: bigint;
  afterMicros: bigint;
  cause: string;
}

export interface BalanceEventDraft {
  type: BalanceEventType;
  accountId: string;
  balanceMicros: bigint;
  amountMicros: bigint | null;
  cause: string;
  /**
   * What makes the event one of a kind, for its id: the key of the entry that caused it
   * (unique per account), or the month of a cap. Defaults to `cause`.
   */
  origin?: string;
  /** Why, for a recharge_failed. */
  reason?: string;
}

/**
 * What applying one request did: its own entry first, then any entry it set off
 * (an offline reload), and the events of every crossing.
 */
export interface Applied {
  request: EntryRequest;
  entries: BookedEntry[];
  events: BalanceEventDraft[];
  /** A call's debit that settled the open call session of its cdr_id (SPEC §8), in the same atomic step. */
  settledCall?: boolean;
}

/** A request the store refused, changing nothing: past the exact range, or below its floor. */
export interface Refused {
  request: EntryRequest;
  refused: "range" | "floor";
  /** The balance the request found. */
  balanceMicros?: bigint;
  /** Below its floor: the holds of the account's open call sessions the floor counted. */
  heldMicros?: bigint;
}

export interface AccountSettings {
  /**
   * The account row's settings_version: incremented by every update, in commit order.
   * Redis keeps the settings of the highest version it has seen.
   */
  version: bigint;
  trial: boolean;
  rechargeMode: "online" | "offline";
  autoRechargeEnabled: boolean;
  autoRechargeAmountMicros: bigint | null;
  autoRechargeMonthlyLimitMicros: bigint | null;
  offlineReloadMicros: bigint | null;
  offlineThresholdMicros: bigint | null;
  offlineMonthlyMaxMicros: bigint | null;
}

/**
 * A new account's settings, as the `accounts` table's column defaults make them
 * (migrations 002 and 006): not a trial, online recharge, no auto-recharge, no offline
 * reload. The in-memory ledger and bench:debit start their accounts from it.
 */
export const NEW_ACCOUNT_SETTINGS: Readonly<AccountSettings> = {
  version: 0n,
  trial: false,
  rechargeMode: "online",
  autoRechargeEnabled: false,
  autoRechargeAmountMicros: null,
  autoRechargeMonthlyLimitMicros: null,
  offlineReloadMicros: null,
  offlineThresholdMicros: null,
  offlineMonthlyMaxMicros: null,
};

/** Everything Redis needs to carry on for an account, as the ledger knows it. */
export interface AccountSnapshot {
  accountId: string;
  balanceMicros: bigint;
  /** The seq of the account's last ledger entry (0 for none). */
  seq: bigint;
  settings: AccountSettings;
  month: string;
  monthAutoRechargeMicros: bigint;
  monthOfflineReloadMicros: bigint;
  cappedAutoThisMonth: boolean;
  cappedOfflineThisMonth: boolean;
  /** The account's open call sessions (SPEC §8): their holds come back with the balance. */
  calls?: CallSession[];
}

// The month is a balance rule: its home is the pure core (so are the thresholds, imported
// from there).
export { utcMonth } from "../core/balance-rules.js";
