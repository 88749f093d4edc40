import { DependencyError } from "../errors.js";
import { utcMonth } from "./types.js";
import { restoreFromLedger, type WritePathDeps } from "./write-path.js";

/**
 * The real-time balance (Redis), restoring the account from the ledger first if Redis
 * lost it; undefined for an account that does not exist. The one reader for the API,
 * the CLI and card charges.
 *
 * Retry rule: Redis may evict the account again between the restore and the read
 * (memory pressure), so read → restore is tried three times; after that Redis is the
 * fault, not the account, and a retryable DependencyError("redis") says so (HTTP 503,
 * a worker's backoff) rather than a bug.
 */
export async function currentBalance(
  deps: Pick<WritePathDeps, "store" | "ledger" | "logger" | "onRestore">,
  accountId: string,
  now: Date = new Date(),
): Promise<bigint | undefined> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const snapshot = await deps.store.snapshot(accountId);
    if (snapshot !== "missing") return snapshot.balanceMicros;
    if ((await restoreFromLedger(deps, accountId, utcMonth(now))) === "unknown") return undefined;
  }
  throw new DependencyError("redis", `Redis keeps losing account ${accountId}`);
}
