/**
 * The order of effects for every change of a balance (see docs/order-of-effects.md):
 *
 *   1. ledger: drop requests whose key is already recorded (the de-duplication of record)
 *   2. Redis:  apply the rest, per account, atomically; crossings decided there; a
 *              request Redis applied before but the ledger lacks is replayed, not re-applied
 *   3. ledger: record entries + events + invoices in one transaction, or nothing
 *   4. Redis:  forget the stored results of what is now recorded
 *
 * A crash between any two steps leaves a state the next attempt completes without
 * applying anything twice. Whenever Redis holds something the ledger will not (a twin
 * writer recorded the request first, an entry applied on top of such a twin's doubled
 * entries, a stale replay, a record Postgres refuses), the account is dropped from Redis
 * and restored from the ledger: Redis never keeps an effect the ledger does not.
 * Callers (the rater, `credits add`, …) commit their own progress (Kafka offsets,
 * exit 0) only after this returns.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { withinExactRange } from "../core/money.js";
import { DependencyError, RecordRefusedError, SequenceConflictError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { NO_FAULTS, type Faults } from "./faults.js";
import {
  recordedKey,
  type BalanceStore,
  type Ledger,
  type RecordedEntry,
  type RecordResult,
} from "./ports.js";
import { utcMonth, type Applied, type EntryRequest, type Refused } from "./types.js";

export type WriteOutcome =
  | { status: "applied"; applied: Applied }
  | { status: "duplicate"; recorded: RecordedEntry | undefined }
  | { status: "unknown_account" }
  /** Nothing changed: the balance would leave ±(2^53 − 1) micros, or go below the floor (holds counted). */
  | { status: "refused"; reason: Refused["refused"]; balanceMicros?: bigint; heldMicros?: bigint };

export interface WritePathDeps {
  store: BalanceStore;
  ledger: Ledger;
  logger: Logger;
  faults?: Faults;
  /** Called when an account is put back into Redis from the ledger. */
  onRestore?: (accountId: string) => void;
}

/** Rounds of step 2-3 before giving up: each round settles at least one conflict. */
const MAX_ATTEMPTS = 5;
/** How long step 3 waits, in all, for another writer's entry its own entries follow. */
const IN_TURN_WAIT_MS = 2_000;

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
    if (!withinExactRange(request.amountMicros)) {
      outcomes[index] = { status: "refused", reason: "range" };
      return;
    }
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
  faults.reach("after_dedupe");

  for (let attempt = 1; fresh.size > 0; attempt++) {
    if (attempt > MAX_ATTEMPTS) {
      throw new Error(`balance write did not settle after ${MAX_ATTEMPTS} rounds of conflicts`);
    }
    // 2. Redis, restoring accounts it has lost.
    const results = await applyInRedis(deps, fresh, month, outcomes);
    faults.reach("after_redis");

    // A replayed result that is not what the request asks now (a CDR re-rated by a new
    // deck after a crash) was never recorded: drop it and apply the request afresh.
    const stale = [...fresh.keys()].filter((account) =>
      results.get(account)!.some((r, i) => {
        const own = "entries" in r ? r.entries[0]! : undefined;
        return own !== undefined && own.amountMicros !== fresh.get(account)![i]!.request.amountMicros;
      }),
    );
    if (stale.length > 0) {
      deps.logger.warn(
        { accounts: stale },
        "Redis replayed a result the request no longer matches; restoring",
      );
      await Promise.all(stale.map((account) => deps.store.forget(account)));
      continue;
    }

    // 3. The ledger of record.
    const applied: Applied[] = [];
    for (const [accountId, items] of fresh) {
      results.get(accountId)!.forEach((r, i) => {
        if ("entries" in r) applied.push(r);
        else
          outcomes[items[i]!.index] = {
            status: "refused",
            reason: r.refused,
            balanceMicros: r.balanceMicros,
            heldMicros: r.heldMicros,
          };
      });
    }
    let result;
    try {
      result = await recordInTurn(deps.ledger, applied, now);
    } catch (err) {
      if (err instanceof SequenceConflictError) {
        // Another writer's entry reached the ledger after this account was restored.
        deps.logger.warn(
          { accountId: err.accountId, attempt },
          "entry sequence taken in the ledger; restoring",
        );
        await deps.store.forget(err.accountId);
        continue;
      }
      // Redis applied what the ledger refuses: undo it there too, then let the caller
      // find the record at fault.
      if (err instanceof RecordRefusedError)
        await Promise.all([...fresh.keys()].map((a) => deps.store.forget(a)));
      throw err;
    }
    if (result.status === "raced") {
      await settleRaces(deps, fresh, result.keys, outcomes);
      continue;
    }
    if (result.status === "unchained") {
      // Redis applied these on entries the ledger does not hold and, after a wait, still
      // does not: a twin writer's doubled entries (which it undoes once its own record
      // finds them raced). Apply them again on the ledger's state.
      deps.logger.warn(
        { accounts: [...result.accounts], attempt },
        "entries follow none the ledger holds (a twin's doubled entries?); restoring",
      );
      await Promise.all([...result.accounts].map((account) => deps.store.forget(account)));
      continue;
    }
    faults.reach("after_ledger");
    for (const [accountId, items] of fresh) {
      results.get(accountId)!.forEach((r, i) => {
        if ("entries" in r) outcomes[items[i]!.index] = { status: "applied", applied: r };
      });
    }

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
 * Step 3, in turn: an entry whose predecessor is missing from the ledger may follow
 * another writer's entry that Redis applied just before it and that is on its way to the
 * ledger; wait for it a little (a writer's Redis-to-ledger time), then give up.
 */
async function recordInTurn(ledger: Ledger, applied: Applied[], now: Date): Promise<RecordResult> {
  let result = await ledger.record(applied, now);
  for (let waited = 0, step = 5; waited < IN_TURN_WAIT_MS; waited += step, step = Math.min(2 * step, 50)) {
    if (result.status !== "unchained" || !result.missing) break;
    await sleep(step);
    result = await ledger.record(applied, now);
  }
  return result;
}

/** Step 2: each fresh account's requests applied in Redis; lost accounts restored first. */
async function applyInRedis(
  deps: WritePathDeps,
  fresh: Map<string, { index: number; request: EntryRequest }[]>,
  month: string,
  outcomes: (WriteOutcome | undefined)[],
): Promise<Map<string, (Applied | Refused)[]>> {
  const pending = new Map([...fresh].map(([account, items]) => [account, items.map((i) => i.request)]));
  const results = await deps.store.apply(pending, month);
  const missing = [...results].filter(([, r]) => r === "missing").map(([account]) => account);
  if (missing.length === 0) return results as Map<string, (Applied | Refused)[]>;
  const retry = new Map<string, EntryRequest[]>();
  for (const accountId of missing) {
    results.delete(accountId);
    if ((await restoreFromLedger(deps, accountId, month)) === "unknown") {
      for (const { index } of fresh.get(accountId)!) outcomes[index] = { status: "unknown_account" };
      fresh.delete(accountId);
    } else {
      retry.set(accountId, pending.get(accountId)!);
    }
  }
  for (const [account, r] of await deps.store.apply(retry, month)) {
    if (r === "missing")
      throw new DependencyError("redis", `account ${account} vanished from Redis while being restored`);
    results.set(account, r);
  }
  return results as Map<string, (Applied | Refused)[]>;
}

/**
 * A twin writer (a zombie consumer during a rebalance) recorded some of these requests
 * between step 1 and step 3, so Redis may have applied them a second time and every
 * later result of those accounts rests on that. The ledger recorded nothing of ours:
 * the twin's requests become duplicates, their accounts are restored from the ledger,
 * and the rest is applied again.
 */
async function settleRaces(
  deps: WritePathDeps,
  fresh: Map<string, { index: number; request: EntryRequest }[]>,
  raced: Set<string>,
  outcomes: (WriteOutcome | undefined)[],
): Promise<void> {
  const twins = await deps.ledger.recorded(
    [...fresh.values()]
      .flat()
      .map((i) => i.request)
      .filter((r) => raced.has(recordedKey(r.accountId, r.key))),
  );
  const accounts = new Set<string>();
  for (const [accountId, items] of fresh) {
    const rest = items.filter(({ index, request }) => {
      const id = recordedKey(accountId, request.key);
      if (!raced.has(id)) return true;
      outcomes[index] = { status: "duplicate", recorded: twins.get(id) };
      accounts.add(accountId);
      return false;
    });
    if (rest.length === 0) fresh.delete(accountId);
    else fresh.set(accountId, rest);
  }
  deps.logger.warn({ accounts: [...accounts] }, "a twin writer recorded these requests first; restoring");
  await Promise.all([...accounts].map((account) => deps.store.forget(account)));
}
