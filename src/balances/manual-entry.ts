/**
 * Entries typed by the billing team (`credits add`, `adjust`): idempotent per
 * reference. The same reference with the same amount changes nothing; with another
 * amount it is refused, whichever of two concurrent attempts got there first.
 */
import { RatestreamError } from "../errors.js";
import { formatAmount } from "../core/money.js";
import { recordedKey } from "./ports.js";
import type { EntryRequest } from "./types.js";
import { applyEntries, type WritePathDeps } from "./write-path.js";

export interface ManualEntryResult {
  account_id: string;
  reference: string;
  amount_micros: string;
  balance_micros: string;
  changed: boolean;
}

export async function bookManualEntry(
  deps: WritePathDeps,
  request: EntryRequest,
): Promise<ManualEntryResult> {
  const reference = request.reference ?? request.cause;
  const refuse = (recordedAmount: bigint) =>
    new RatestreamError(
      "bad_usage",
      `reference "${reference}" was already used on ${request.accountId} for ${formatAmount(recordedAmount)}, not ${formatAmount(request.amountMicros)}`,
    );
  const result = (amount: bigint, balance: bigint, changed: boolean): ManualEntryResult => ({
    account_id: request.accountId,
    reference,
    amount_micros: amount.toString(),
    balance_micros: balance.toString(),
    changed,
  });

  const earlier = (await deps.ledger.recorded([request])).get(recordedKey(request.accountId, request.key));
  if (earlier) {
    if (earlier.amountMicros !== request.amountMicros) throw refuse(earlier.amountMicros);
    return result(earlier.amountMicros, earlier.balanceAfterMicros, false);
  }
  const [outcome] = await applyEntries(deps, [request]);
  switch (outcome!.status) {
    case "unknown_account":
      throw new RatestreamError("bad_usage", `no account "${request.accountId}"`);
    case "refused":
      throw new RatestreamError(
        "bad_usage",
        `${formatAmount(request.amountMicros)} would take the balance of ${request.accountId} past ±(2^53 − 1) micros`,
      );
    case "duplicate": {
      const recorded = outcome!.recorded!;
      if (recorded.amountMicros !== request.amountMicros) throw refuse(recorded.amountMicros);
      return result(recorded.amountMicros, recorded.balanceAfterMicros, false);
    }
    case "applied": {
      const own = outcome!.applied.entries[0]!;
      // Redis replayed a concurrent attempt with the same reference and another amount.
      if (own.amountMicros !== request.amountMicros) throw refuse(own.amountMicros);
      const last = outcome!.applied.entries.at(-1)!;
      return result(own.amountMicros, last.afterMicros, true);
    }
  }
}
