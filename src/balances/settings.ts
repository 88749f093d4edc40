import { DependencyError } from "../errors.js";
import { utcMonth, type AccountSettings } from "./types.js";
import { restoreFromLedger, type WritePathDeps } from "./write-path.js";

/**
 * Copies an account's settings, just committed in Postgres, to the balance store, whose
 * scripts decide crossings alone. Copies of concurrent updates may reach Redis in any
 * order: the store keeps the highest `version` (the last commit). An account missing
 * from Redis is restored here and the settings applied again: a restore that read the
 * account before this update may still land with the old settings, and whichever
 * restore wins, the settings applied after it leave the newer ones.
 */
export async function copySettingsToStore(
  deps: Pick<WritePathDeps, "store" | "ledger" | "logger" | "onRestore">,
  accountId: string,
  settings: AccountSettings,
): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await deps.store.updateSettings(accountId, settings)) return;
    if ((await restoreFromLedger(deps, accountId, utcMonth(new Date()))) === "unknown") return;
  }
  throw new DependencyError("redis", `Redis keeps losing account ${accountId}`);
}
