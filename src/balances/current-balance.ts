import { DependencyError } from "../errors.js";
import { utcMonth } from "./types.js";
import { restoreFromLedger, type WritePathDeps } from "./write-path.js";

/**
 * The real-time balance (Redis), restoring the account from the ledger first if Redis
 * lost it; undefined for an account that does not exist.
 */
export async function currentBalance(
  deps: Pick<WritePathDeps, "store" | "ledger" | "logger" | "onRestore">,
  accountId: string,
): Promise<bigint | undefined> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const snapshot = await deps.store.snapshot(accountId);
    if (snapshot !== "missing") return snapshot.balanceMicros;
    if ((await restoreFromLedger(deps, accountId, utcMonth(new Date()))) === "unknown") return undefined;
  }
  throw new DependencyError("redis", `Redis keeps losing account ${accountId}`);
}
