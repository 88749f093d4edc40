/**
 * The two stores the write path talks to. One implementation each: Redis holds the
 * real-time balance and decides crossings; Postgres holds the ledger of record.
 */
import type {
  AccountSettings,
  AccountSnapshot,
  Applied,
  BalanceEventDraft,
  EntryRequest,
  Refused,
} from "./types.js";

export interface StoreSnapshot {
  balanceMicros: bigint;
  seq: bigint;
  /**
   * Pending: applied in Redis, not yet confirmed recorded in the ledger (the account's
   * `rs1:{<account>}:pending` hash): each key's entries, and when.
   */
  pending: { key: string; entries: { seq: bigint; amountMicros: bigint }[]; appliedAtMs: number }[];
}

export interface BalanceStore {
  /** Applies each account's requests atomically; "missing" when Redis has no state for it. */
  apply(
    byAccount: Map<string, EntryRequest[]>,
    month: string,
  ): Promise<Map<string, (Applied | Refused)[] | "missing">>;
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
  /**
   * Drops an account's state only if these pending keys are all still there (so a
   * writer that finished them meanwhile is not undone twice); true if dropped.
   */
  forgetIfPending(accountId: string, keys: string[]): Promise<boolean>;
  /** Every account with pending entries (a scan: for periodic sweeps, not hot paths). */
  pendingAccounts(): Promise<string[]>;
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
   * Ledger entries, their events and invoices, in one transaction. If a twin writer
   * recorded any of these requests first, nothing is recorded: "raced" names them (by
   * recordedKey()). Nor if an entry does not follow the ledger's entry before it (seq − 1,
   * ending at the balance it starts from): "unchained" names those accounts. Throws SequenceConflictError when another writer took a seq, and
   * RecordRefusedError when Postgres refuses an entry for its content.
   */
  record(applied: Applied[], occurredAt: Date): Promise<RecordResult>;
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

export type RecordResult =
  | { status: "recorded" }
  | { status: "raced"; keys: Set<string> }
  /**
   * Entries of these accounts do not follow the ledger's: Redis applied them on a state
   * the ledger does not hold. `missing`: only because entries before them are not in the
   * ledger (yet: another writer's may be on its way), none because one ends elsewhere.
   */
  | { status: "unchained"; accounts: Set<string>; missing: boolean };
