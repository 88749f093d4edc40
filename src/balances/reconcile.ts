/**
 * Reconcile: for every account, the Redis balance must equal the sum of its ledger
 * entries up to the last entry Redis has applied, counting entries Redis applied that
 * are still on their way to the ledger. Read Redis first, then the ledger, and recheck
 * a mismatch a few times, so writers running meanwhile cause no false alarm.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { BalanceStore, Ledger } from "./ports.js";

export interface AccountCheck {
  account_id: string;
  /** stranded: changes applied in Redis, not in the ledger, older than the bound. */
  status: "ok" | "not_loaded" | "drift" | "stranded";
  redis_balance_micros?: string;
  ledger_balance_micros?: string;
  redis_seq?: string;
  detail?: string;
}

const RECHECKS = 3;
/** Pending results older than this are reported as stranded (`run` undoes them after it). */
export const STRANDED_AFTER_MS = 60_000;

export async function checkAccount(
  store: BalanceStore,
  ledger: Ledger,
  accountId: string,
  options: { strandedAfterMs?: number } = {},
): Promise<AccountCheck> {
  let last: AccountCheck | undefined;
  for (let attempt = 0; attempt < RECHECKS; attempt++) {
    if (attempt > 0) await sleep(200 * attempt);
    last = await checkOnce(store, ledger, accountId, options.strandedAfterMs ?? STRANDED_AFTER_MS);
    if (last.status !== "drift") return last;
  }
  return last!;
}

async function checkOnce(
  store: BalanceStore,
  ledger: Ledger,
  accountId: string,
  strandedAfterMs: number,
): Promise<AccountCheck> {
  const redis = await store.snapshot(accountId);
  // An account Redis does not hold is restored from the ledger on first use: no drift.
  if (redis === "missing") return { account_id: accountId, status: "not_loaded" };
  const totals = await ledger.totals(
    accountId,
    redis.seq,
    redis.pending.map((u) => u.key),
  );
  let expected = totals.sumMicros;
  let entries = totals.entries;
  const stranded: string[] = [];
  for (const u of redis.pending) {
    if (totals.recordedKeys.has(u.key)) continue;
    if (Date.now() - u.appliedAtMs >= strandedAfterMs) stranded.push(u.key);
    for (const e of u.entries) {
      if (e.seq <= redis.seq) {
        expected += e.amountMicros;
        entries++;
      }
    }
  }
  const base = {
    account_id: accountId,
    redis_balance_micros: redis.balanceMicros.toString(),
    ledger_balance_micros: expected.toString(),
    redis_seq: redis.seq.toString(),
  };
  if (redis.balanceMicros !== expected) return { ...base, status: "drift", detail: "balances differ" };
  if (entries !== redis.seq) {
    return {
      ...base,
      status: "drift",
      detail: `Redis applied ${redis.seq} entries, the ledger accounts for ${entries}`,
    };
  }
  if (stranded.length > 0) {
    return {
      ...base,
      status: "stranded",
      detail: `applied in Redis, not in the ledger, for over ${strandedAfterMs / 1000} s: ${stranded.join(", ")}`,
    };
  }
  return { ...base, status: "ok" };
}
