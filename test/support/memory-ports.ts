/**
 * In-memory BalanceStore and Ledger: test doubles of the Redis and Postgres adapters, so
 * the write path, manual entries, reconcile and the stranded sweep can be tested in
 * milliseconds. They keep the adapters' contracts, which one conformance suite checks
 * against both (test/support/port-conformance.ts): the store runs apply-2n.lua's model
 * (balance-model.ts) over the same hashes, the ledger follows the constraints of the
 * Postgres schema (one key per account, one seq per account, the chain rule).
 */
import { parseApplyResult, toApplied } from "../../src/adapters/redis/apply-result.js";
import { settingsFields } from "../../src/adapters/redis/balance-store.js";
import { eventIdOf, invoiceId } from "../../src/balances/event-id.js";
import {
  recordedKey,
  type BalanceStore,
  type Ledger,
  type RecordedEntry,
  type RecordResult,
  type StoreSnapshot,
} from "../../src/balances/ports.js";
import {
  NEW_ACCOUNT_SETTINGS,
  type AccountSettings,
  type AccountSnapshot,
  type Applied,
  type BalanceEventDraft,
  type EntryKind,
  type EntryRequest,
  type Refused,
} from "../../src/balances/types.js";
import { encodeSession, isOpen, type CallSession } from "../../src/calls/types.js";
import { RecordRefusedError, SequenceConflictError } from "../../src/errors.js";
import { applyModel, type Hash } from "./balance-model.js";

export class MemoryBalanceStore implements BalanceStore {
  /** Each account's state hash and pending results, as Redis would hold them. */
  readonly accounts = new Map<string, { state: Hash; pending: Hash }>();
  /** Redis's clock. */
  now: () => number = Date.now;

  apply(
    byAccount: Map<string, EntryRequest[]>,
    month: string,
  ): Promise<Map<string, (Applied | Refused)[] | "missing">> {
    const replies = new Map<string, (Applied | Refused)[] | "missing">();
    for (const [accountId, requests] of byAccount) {
      const account = this.accounts.get(accountId);
      const results = account
        ? applyModel(account.state, account.pending, requests, month, this.now())
        : ("missing" as const);
      replies.set(
        accountId,
        results === "missing"
          ? "missing"
          : requests.map((r, i) => toApplied(accountId, r, parseApplyResult(results[i]!))),
      );
    }
    return Promise.resolve(replies);
  }

  restore(snapshot: AccountSnapshot): Promise<boolean> {
    if (this.accounts.has(snapshot.accountId)) return Promise.resolve(false);
    const state: Hash = new Map([
      ["balance", snapshot.balanceMicros.toString()],
      ["seq", snapshot.seq.toString()],
      ...pairs(settingsFields(snapshot.settings)),
      ["mtd_month", snapshot.month],
      ["mtd_auto", snapshot.monthAutoRechargeMicros.toString()],
      ["mtd_off", snapshot.monthOfflineReloadMicros.toString()],
      ["capped_auto", snapshot.cappedAutoThisMonth ? snapshot.month : ""],
      ["capped_off", snapshot.cappedOfflineThisMonth ? snapshot.month : ""],
      ...(snapshot.calls ?? []).map((c): [string, string] => [`c:${c.callId}`, encodeSession(c)]),
      ["open_calls", String(snapshot.calls?.length ?? 0)],
    ]);
    this.accounts.set(snapshot.accountId, { state, pending: new Map() });
    return Promise.resolve(true);
  }

  confirm(byAccount: Map<string, string[]>): Promise<void> {
    for (const [accountId, keys] of byAccount) {
      const pending = this.accounts.get(accountId)?.pending;
      for (const key of keys) pending?.delete(key);
    }
    return Promise.resolve();
  }

  snapshot(accountId: string): Promise<StoreSnapshot | "missing"> {
    const account = this.accounts.get(accountId);
    if (!account) return Promise.resolve("missing");
    const pending = [...account.pending].map(([key, value]) => {
      const stored = parseApplyResult(value);
      if (stored.outcome !== "applied") throw new Error(`a refusal stored as pending: ${value}`);
      return {
        key,
        entries: stored.booked.map((b) => ({ seq: b.seq, amountMicros: b.afterMicros - b.beforeMicros })),
        appliedAtMs: stored.appliedAtMs ?? 0,
      };
    });
    return Promise.resolve({
      balanceMicros: BigInt(account.state.get("balance")!),
      seq: BigInt(account.state.get("seq")!),
      pending,
    });
  }

  updateSettings(accountId: string, settings: AccountSettings): Promise<boolean> {
    const state = this.accounts.get(accountId)?.state;
    if (!state) return Promise.resolve(false);
    if (settings.version > BigInt(state.get("settings_version") ?? "0")) {
      for (const [field, value] of pairs(settingsFields(settings))) state.set(field, value);
    }
    return Promise.resolve(true);
  }

  forget(accountId: string): Promise<void> {
    this.accounts.delete(accountId);
    return Promise.resolve();
  }

  forgetIfPending(accountId: string, keys: string[]): Promise<boolean> {
    const pending = this.accounts.get(accountId)?.pending ?? new Map<string, string>();
    if (!keys.every((k) => pending.has(k))) return Promise.resolve(false);
    this.accounts.delete(accountId);
    return Promise.resolve(true);
  }

  pendingAccounts(): Promise<string[]> {
    return Promise.resolve([...this.accounts].filter(([, a]) => a.pending.size > 0).map(([id]) => id));
  }

  /** Everything lost, as a Redis restarting empty. */
  wipe(): void {
    this.accounts.clear();
  }
}

function pairs(fields: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < fields.length; i += 2) out.push([fields[i]!, fields[i + 1]!]);
  return out;
}

export interface MemoryEntry {
  accountId: string;
  seq: bigint;
  key: string;
  kind: EntryKind;
  amountMicros: bigint;
  balanceAfterMicros: bigint;
  rateVersion: number | null;
  cdrId: string | null;
  reference: string | null;
  details: Record<string, unknown> | null;
  createdAt: Date;
}

export interface MemoryEvent extends BalanceEventDraft {
  eventId: string;
  occurredAt: Date;
}

export class MemoryLedger implements Ledger {
  readonly settings = new Map<string, AccountSettings>();
  readonly entries: MemoryEntry[] = [];
  /** In ledger order (the outbox's position). */
  readonly events: MemoryEvent[] = [];
  readonly invoices = new Map<string, { accountId: string; amountMicros: bigint; cause: string }>();
  readonly numbers = new Map<string, string>();
  readonly calls = new Map<string, CallSession & { accountId: string }>();
  /** Awaited at the start of every record(): a test can make a twin writer act there, or fail it. */
  beforeRecord?: (applied: Applied[]) => Promise<void> | void;

  addAccount(accountId: string, settings: Partial<AccountSettings> = {}): void {
    this.settings.set(accountId, { ...NEW_ACCOUNT_SETTINGS, ...settings });
  }

  private find(accountId: string, key: string): MemoryEntry | undefined {
    return this.entries.find((e) => e.accountId === accountId && e.key === key);
  }

  private atSeq(accountId: string, seq: bigint): MemoryEntry | undefined {
    return this.entries.find((e) => e.accountId === accountId && e.seq === seq);
  }

  recorded(keys: readonly { accountId: string; key: string }[]): Promise<Map<string, RecordedEntry>> {
    const found = new Map<string, RecordedEntry>();
    for (const { accountId, key } of keys) {
      const e = this.find(accountId, key);
      if (e) {
        found.set(recordedKey(accountId, key), {
          accountId,
          key,
          seq: e.seq,
          amountMicros: e.amountMicros,
          balanceAfterMicros: e.balanceAfterMicros,
          rateVersion: e.rateVersion,
          details: e.details,
        });
      }
    }
    return Promise.resolve(found);
  }

  async record(applied: Applied[], occurredAt: Date): Promise<RecordResult> {
    await this.beforeRecord?.(applied);
    const all = applied.flatMap((a) => a.entries);
    // Postgres: a key already there is skipped (ON CONFLICT); a seq already there fails.
    const skipped = new Set(
      all.filter((e) => this.find(e.accountId, e.key)).map((e) => recordedKey(e.accountId, e.key)),
    );
    const seqs = new Set<string>();
    for (const e of all) {
      if (skipped.has(recordedKey(e.accountId, e.key))) continue;
      const id = `${e.accountId}\u0000${e.seq}`;
      if (this.atSeq(e.accountId, e.seq) || seqs.has(id)) throw new SequenceConflictError(e.accountId);
      seqs.add(id);
    }
    if (skipped.size > 0) {
      const raced = applied
        .filter(({ entries }) => entries.some((x) => skipped.has(recordedKey(x.accountId, x.key))))
        .map(({ request }) => recordedKey(request.accountId, request.key));
      return { status: "raced", keys: new Set(raced) };
    }
    const unchained = this.unchained(all);
    if (unchained.accounts.size > 0) return { status: "unchained", ...unchained };
    for (const { request } of applied) {
      if (request.buysNumber && this.numbers.has(request.buysNumber.number)) {
        throw new RecordRefusedError(
          `the ledger refused the entry: number taken (constraint phone_numbers_pkey)`,
        );
      }
    }

    for (const { request, entries, events, settledCall } of applied) {
      entries.forEach((entry, i) => {
        const own = i === 0;
        this.entries.push({
          accountId: entry.accountId,
          seq: entry.seq,
          key: entry.key,
          kind: entry.kind,
          amountMicros: entry.amountMicros,
          balanceAfterMicros: entry.afterMicros,
          rateVersion: own ? (request.rateVersion ?? null) : null,
          cdrId: own ? (request.cdrId ?? null) : null,
          reference: own ? (request.reference ?? null) : entry.key,
          details: own ? (request.details ?? null) : null,
          createdAt: occurredAt,
        });
        if (entry.kind === "offline_reload") {
          this.invoices.set(invoiceId(entry.accountId, entry.key), {
            accountId: entry.accountId,
            amountMicros: entry.amountMicros,
            cause: entry.key,
          });
        }
      });
      this.addEvents(events, occurredAt);
      if (request.buysNumber) this.numbers.set(request.buysNumber.number, request.accountId);
      const call = settledCall
        ? this.calls.get(`${request.accountId}\u0000${request.key.slice(4)}`)
        : undefined;
      if (call && isOpen(call)) Object.assign(call, { state: "settled", heldMicros: 0n });
    }
    return { status: "recorded" };
  }

  /** The chain rule: each entry follows seq − 1 (in this batch or the ledger), ending at its before. */
  private unchained(entries: Applied["entries"]): { accounts: Set<string>; missing: boolean } {
    const after = new Map(entries.map((e) => [`${e.accountId}\u0000${e.seq}`, e.afterMicros]));
    const accounts = new Set<string>();
    let missing = true;
    for (const e of entries) {
      const inBatch = after.get(`${e.accountId}\u0000${e.seq - 1n}`);
      const previous =
        inBatch ?? (e.seq === 1n ? 0n : this.atSeq(e.accountId, e.seq - 1n)?.balanceAfterMicros);
      if (previous === e.beforeMicros) continue;
      accounts.add(e.accountId);
      missing &&= previous === undefined;
    }
    return { accounts, missing };
  }

  private addEvents(events: BalanceEventDraft[], occurredAt: Date): string[] {
    const ids = events.map(eventIdOf);
    events.forEach((event, i) => {
      if (!this.settings.has(event.accountId) || this.events.some((e) => e.eventId === ids[i])) return;
      this.events.push({ ...event, eventId: ids[i]!, occurredAt });
    });
    return ids;
  }

  totals(
    accountId: string,
    uptoSeq: bigint,
    keys: string[],
  ): Promise<{ sumMicros: bigint; entries: bigint; recordedKeys: Set<string> }> {
    const own = this.entries.filter((e) => e.accountId === accountId);
    const upto = own.filter((e) => e.seq <= uptoSeq);
    return Promise.resolve({
      sumMicros: upto.reduce((sum, e) => sum + e.amountMicros, 0n),
      entries: BigInt(upto.length),
      recordedKeys: new Set(own.filter((e) => keys.includes(e.key)).map((e) => e.key)),
    });
  }

  recordEvents(events: BalanceEventDraft[], occurredAt: Date): Promise<string[]> {
    return Promise.resolve(this.addEvents(events, occurredAt));
  }

  snapshot(accountId: string, month: string): Promise<AccountSnapshot | undefined> {
    const settings = this.settings.get(accountId);
    if (!settings) return Promise.resolve(undefined);
    const monthStart = new Date(`${month}-01T00:00:00Z`);
    const own = this.entries.filter((e) => e.accountId === accountId);
    const events = this.events.filter((e) => e.accountId === accountId);
    const sum = (values: bigint[]) => values.reduce((a, b) => a + b, 0n);
    const now = Date.now();
    return Promise.resolve({
      accountId,
      balanceMicros: sum(own.map((e) => e.amountMicros)),
      seq: own.reduce((max, e) => (e.seq > max ? e.seq : max), 0n),
      settings,
      month,
      monthAutoRechargeMicros: sum(
        events
          .filter((e) => e.type === "auto_recharge_requested" && e.occurredAt >= monthStart)
          .map((e) => e.amountMicros ?? 0n),
      ),
      monthOfflineReloadMicros: sum(
        own
          .filter((e) => e.kind === "offline_reload" && e.createdAt >= monthStart)
          .map((e) => e.amountMicros),
      ),
      cappedAutoThisMonth: events.some((e) => e.type === "auto_recharge_capped" && e.cause === month),
      cappedOfflineThisMonth: events.some(
        (e) => e.type === "auto_recharge_capped" && e.cause === `offline:${month}`,
      ),
      calls: [...this.calls.values()]
        .filter((c) => c.accountId === accountId && isOpen(c) && c.untilMs > now)
        .map(({ accountId: _, ...session }) => session),
    });
  }

  /** The account's balance as the ledger knows it. */
  balance(accountId: string): bigint {
    return this.entries.filter((e) => e.accountId === accountId).reduce((sum, e) => sum + e.amountMicros, 0n);
  }
}
