/**
 * The order of effects for every change of a balance (see docs/order-of-effects.md):
 *
 *   1. ledger: drop requests whose key is already recorded (the de-duplication of record)
 *   2. Redis:  apply the rest, per account, atomically; crossings decided there; a
 *              request Redis applied before but the ledger lacks is replayed, not re-applied
 *   3. ledger: record entries + events + invoices in one transaction
 *   4. Redis:  forget the stored results of what is now recorded
 *
 * A crash between any two steps leaves a state the next attempt completes without
 * applying anything twice. Callers (the rater, `credits add`, …) commit their own
 * progress (Kafka offsets, exit 0) only after this returns.
 */
import type { Logger } from "../observability/logger.js";
import { NO_FAULTS, type Faults } from "./faults.js";
import { recordedKey, type BalanceStore, type Ledger, type RecordedEntry } from "./ports.js";
import { utcMonth, type Applied, type EntryRequest } from "./types.js";

export type WriteOutcome =
  | { status: "applied"; applied: Applied }
  | { status: "duplicate"; recorded: RecordedEntry | undefined }
  | { status: "unknown_account" };

export interface WritePathDeps {
  store: BalanceStore;
  ledger: Ledger;
  logger: Logger;
  faults?: Faults;
  /** Called when an account is put back into Redis from the ledger. */
  onRestore?: (accountId: string) => void;
}

const MAX_ATTEMPTS = 3;

/**
 * Puts an account back into Redis from the ledger if Redis does not hold it:
 * "unknown" when the ledger has no such account.
 */
export async function restoreFromLedger(
  deps: Pick<WritePathDeps, "store" | "ledger" | "logger" | "onRestore">,
  accountId: string,
  month: string,
): Promise<"restored" | "present" | "unknown"> {
  const snapshot = await deps.ledger.snapshot(accountId, month);
  if (snapshot === undefined) return "unknown";
  if (!(await deps.store.restore(snapshot))) return "present";
  deps.onRestore?.(accountId);
  deps.logger.info(
    { accountId, balanceMicros: snapshot.balanceMicros.toString() },
    "restored account from the ledger",
  );
  return "restored";
}

/** Applies requests in order; one outcome per request, in the same order. */
export async function applyEntries(
  deps: WritePathDeps,
  requests: EntryRequest[],
  now = new Date(),
): Promise<WriteOutcome[]> {
  const faults = deps.faults ?? NO_FAULTS;
  const month = utcMonth(now);
  const outcomes = new Array<WriteOutcome | undefined>(requests.length);

  // 1. Already in the ledger, or earlier in this same batch: duplicates.
  const recorded = await deps.ledger.recorded(requests);
  const fresh = new Map<string, { index: number; request: EntryRequest }[]>();
  const seen = new Set<string>();
  requests.forEach((request, index) => {
    const id = recordedKey(request.accountId, request.key);
    if (recorded.has(id) || seen.has(id)) {
      outcomes[index] = { status: "duplicate", recorded: recorded.get(id) };
      return;
    }
    seen.add(id);
    const list = fresh.get(request.accountId) ?? [];
    list.push({ index, request });
    fresh.set(request.accountId, list);
  });

  // A crash after step 3 leaves recorded keys in Redis's pending results: clear them.
  const recordedByAccount = new Map<string, string[]>();
  for (const entry of recorded.values()) {
    const keys = recordedByAccount.get(entry.accountId) ?? [];
    keys.push(entry.key);
    recordedByAccount.set(entry.accountId, keys);
  }
  if (recordedByAccount.size > 0) await deps.store.confirm(recordedByAccount);

  for (let attempt = 1; fresh.size > 0; attempt++) {
    // 2. Redis, restoring accounts it has lost.
    const pending = new Map([...fresh].map(([account, items]) => [account, items.map((i) => i.request)]));
    let results = await deps.store.apply(pending, month);
    const missing = [...results].filter(([, r]) => r === "missing").map(([account]) => account);
    if (missing.length > 0) {
      for (const accountId of missing) {
        if ((await restoreFromLedger(deps, accountId, month)) === "unknown") {
          for (const { index } of fresh.get(accountId)!) outcomes[index] = { status: "unknown_account" };
          fresh.delete(accountId);
          pending.delete(accountId);
        }
      }
      const retry = new Map([...pending].filter(([account]) => missing.includes(account)));
      const retried = await deps.store.apply(retry, month);
      results = new Map([...results].filter(([account]) => !missing.includes(account)));
      for (const [account, r] of retried) {
        if (r === "missing") throw new Error(`account ${account} vanished from Redis while being restored`);
        results.set(account, r);
      }
    }
    faults.reach("after_redis");

    // 3. The ledger of record.
    const applied: Applied[] = [];
    for (const [accountId, items] of fresh) {
      const accountResults = results.get(accountId) as Applied[];
      items.forEach(({ index }, i) => {
        outcomes[index] = { status: "applied", applied: accountResults[i]! };
        applied.push(accountResults[i]!);
      });
    }
    let inserted: Set<string>;
    try {
      inserted = await deps.ledger.record(applied, now);
    } catch (err) {
      const account = seqConflictAccount(err);
      if (account === undefined || attempt >= MAX_ATTEMPTS) throw err;
      // Redis numbered an entry with a seq the ledger already used: another writer's
      // entry reached the ledger after this account was restored. Rebuild and retry.
      deps.logger.warn(
        { accountId: account, attempt },
        "entry sequence taken in the ledger; restoring the account",
      );
      await deps.store.forget(account);
      continue;
    }
    faults.reach("after_ledger");
    await settleRaces(deps, applied, inserted, outcomes, requests);

    // 4. Recorded: Redis may forget the stored results.
    await deps.store.confirm(
      new Map([...fresh].map(([account, items]) => [account, items.map((i) => i.request.key)])),
    );
    faults.reach("after_confirm");
    break;
  }
  return outcomes.map((o) => o!);
}

/**
 * An entry the ledger did not insert was recorded by a twin writer between step 1 and
 * step 3 (a zombie consumer during a rebalance). If the twin recorded it with our seq,
 * Redis replayed it and all is well; otherwise Redis applied it a second time, so the
 * account is dropped from Redis and restored from the ledger on its next use.
 */
async function settleRaces(
  deps: WritePathDeps,
  applied: Applied[],
  inserted: Set<string>,
  outcomes: (WriteOutcome | undefined)[],
  requests: EntryRequest[],
): Promise<void> {
  const lost = applied.filter((a) => !inserted.has(recordedKey(a.request.accountId, a.request.key)));
  if (lost.length === 0) return;
  const recorded = await deps.ledger.recorded(lost.map((a) => a.request));
  for (const a of lost) {
    const twin = recorded.get(recordedKey(a.request.accountId, a.request.key));
    const index = requests.indexOf(a.request);
    outcomes[index] = { status: "duplicate", recorded: twin };
    if (twin?.seq !== a.entries[0]!.seq) {
      deps.logger.warn(
        { accountId: a.request.accountId, key: a.request.key },
        "entry applied twice in Redis; restoring the account",
      );
      await deps.store.forget(a.request.accountId);
    }
  }
}

/** The account of a (account_id, seq) primary-key violation, if that is what err is. */
function seqConflictAccount(err: unknown): string | undefined {
  const e = err as { code?: string; constraint?: string; detail?: string };
  if (e.code !== "23505" || e.constraint !== "ledger_entries_pkey") return undefined;
  return /\(account_id, seq\)=\((.*), \d+\)/.exec(e.detail ?? "")?.[1];
}
