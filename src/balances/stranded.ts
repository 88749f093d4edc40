/**
 * Balance changes stranded half way (SPEC §5 "No money stuck half way"): a writer that
 * failed between its Redis step and its ledger step (an API request that lost Postgres,
 * a `credits add` that crashed and was never run again) leaves its result in the
 * account's pending hash. The rater retries its own batches, so anything still pending
 * after a bound is nobody's: the ledger is asked which of those keys it holds; those are
 * finished (confirmed), the others undone (the account is dropped from Redis, so its
 * next use restores it from the ledger, which lacks them).
 */
import type { WritePathDeps } from "./write-path.js";
import { utcMonth } from "./types.js";

export interface StrandedOptions {
  /** Pending results younger than this are writers at work: left alone. */
  olderThanMs: number;
  /** Only these accounts (tests); by default every account with pending results. */
  accounts?: string[];
  now?: () => number;
}

export interface SweepResult {
  finished: number;
  undone: number;
}

export async function sweepStranded(
  deps: Pick<WritePathDeps, "store" | "ledger" | "logger">,
  options: StrandedOptions,
): Promise<SweepResult> {
  const result: SweepResult = { finished: 0, undone: 0 };
  const accounts = options.accounts ?? (await deps.store.pendingAccounts());
  const now = options.now ?? Date.now;
  for (const accountId of accounts) {
    const snapshot = await deps.store.snapshot(accountId);
    if (snapshot === "missing") continue;
    const old = snapshot.pending.filter((u) => now() - u.appliedAtMs >= options.olderThanMs);
    if (old.length === 0) continue;
    // Only accounts this ledger knows: another deployment's keys are not ours to drop.
    if ((await deps.ledger.snapshot(accountId, utcMonth(new Date()))) === undefined) continue;
    const recorded = await deps.ledger.recorded(old.map((u) => ({ accountId, key: u.key })));
    const finished = [...recorded.values()].map((r) => r.key);
    const undone = old.map((u) => u.key).filter((key) => !finished.includes(key));
    if (finished.length > 0) {
      await deps.store.confirm(new Map([[accountId, finished]]));
      result.finished += finished.length;
    }
    if (undone.length > 0 && (await deps.store.forgetIfPending(accountId, undone))) {
      result.undone += undone.length;
      deps.logger.warn(
        { accountId, keys: undone },
        "balance changes stranded in Redis without a ledger entry: undone, the account restores from the ledger",
      );
    }
  }
  return result;
}
