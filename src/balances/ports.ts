/**
 * The two stores the write path talks to. One implementation each: Redis holds the
 * real-time balance and decides crossings; Postgres holds the ledger of record.
 */
import type { AccountSettings, AccountSnapshot, Applied, BalanceEventDraft, EntryRequest } from "./types.js";

export interface StoreSnapshot {
  balanceMicros: bigint;
  seq: bigint;
  /** Applied in Redis, not yet confirmed recorded in the ledger: each key's entries. */
  unconfirmed: { key: string; entries: { seq: bigint; amountMicros: bigint }[] }[];
}

export interface BalanceStore {
  /** Applies each account's requests atomically; "missing" when Redis has no state for it. */
  apply(byAccount: Map<string, EntryRequest[]>, month: string): Promise<Map<string, Applied[] | "missing">>;
  /** Puts an account back from a ledger snapshot; false if another process did first. */
  restore(snapshot: AccountSnapshot): Promise<boolean>;
  /** The ledger has recorded these keys: forget their stored results. */
  confirm(byAccount: Map<string, string[]>): Promise<void>;
  snapshot(accountId: string): Promise<StoreSnapshot | "missing">;
  /**
   * Copies settings unless Redis holds a version as new or newer; false when Redis has
   * no state for the account (the caller restores it and copies again).
   */
  updateSettings(accountId: string, settings: AccountSettings): Promise<boolean>;
  /** Drops an account's state, so the next apply restores it from the ledger. */
  forget(accountId: string): Promise<void>;
}

export interface RecordedEntry {
  accountId: string;
  key: string;
  seq: bigint;
  amountMicros: bigint;
  balanceAfterMicros: bigint;
  rateVersion: number | null;
  details: Record<string, unknown> | null;
}

export interface Ledger {
  /** Which of these keys the ledger already holds (the de-duplication of record), by recordedKey(). */
  recorded(keys: readonly { accountId: string; key: string }[]): Promise<Map<string, RecordedEntry>>;
  /**
   * Ledger entries, their events and invoices, in one transaction; already-recorded
   * keys are skipped. Returns the recordedKey()s of the entries it inserted.
   */
  record(applied: Applied[], occurredAt: Date): Promise<Set<string>>;
  /**
   * In one read: the sum and count of an account's entries with seq ≤ uptoSeq, and which
   * of `keys` are recorded (one statement, so an entry recorded meanwhile is in both or neither).
   */
  totals(
    accountId: string,
    uptoSeq: bigint,
    keys: string[],
  ): Promise<{ sumMicros: bigint; entries: bigint; recordedKeys: Set<string> }>;
  /** Events caused by no entry (a failed recharge); already-recorded ids are skipped. Returns their ids. */
  recordEvents(events: BalanceEventDraft[], occurredAt: Date): Promise<string[]>;
  /** The account as the ledger knows it; undefined for an account that does not exist. */
  snapshot(accountId: string, month: string): Promise<AccountSnapshot | undefined>;
}

export function recordedKey(accountId: string, key: string): string {
  return `${accountId}\u0000${key}`;
}
