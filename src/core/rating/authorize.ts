/**
 * May a call start, and for how long (SPEC §7 `authorize`)? Pure arithmetic on the rate
 * row in force and the balance: the same exact charge as rating (micros × 60, rounded
 * half-up once), without surcharges, which are not known before the call.
 */
import { MAX_DURATION_SECONDS } from "../cdr.js";
import type { RateRow } from "../decks/rate-deck.js";
import { BLOCK_THRESHOLD_MICROS, charge60ForBilled, roundHalfUp60 } from "../balance-rules.js";

export type AuthorizeReason = "ok" | "blocked" | "insufficient_credit" | "no_rate" | "unknown_account";

export interface Authorization {
  allowed: boolean;
  reason: AuthorizeReason;
  /** 0 unless allowed. */
  maxDurationSeconds: number;
}

export type CallRate = Pick<
  RateRow,
  "ratePerMinuteMicros" | "connectionFeeMicros" | "initialIncrement" | "subsequentIncrement"
>;

/** The charge of a call of `billed` seconds: fee + rate × billed / 60, rounded half-up to micros. */
export function chargeForBilled(rate: CallRate, billed: number): bigint {
  if (billed === 0) return 0n;
  return roundHalfUp60(charge60ForBilled(rate, billed));
}

// The charge formula lives with the other balance rules; call-charge.ts takes it from here.
export { charge60ForBilled, roundHalfUp60 };

/**
 * Blocked (balance < 2.00) first, then no rate; allowed when the credit above 2.00,
 * less the holds of open call sessions, covers the first increment, and then max_duration_seconds is the longest duration
 * (≤ 86400) whose charge keeps the balance ≥ 2.00.
 */
export function authorizeCall(
  rate: CallRate | undefined,
  balanceMicros: bigint,
  heldMicros = 0n,
): Authorization {
  if (balanceMicros < BLOCK_THRESHOLD_MICROS) return refused("blocked");
  if (rate === undefined) return refused("no_rate");
  // The holds of open call sessions (SPEC §8) are credit already promised.
  const credit = balanceMicros - BLOCK_THRESHOLD_MICROS - heldMicros;
  const initial = rate.initialIncrement;
  const step = rate.subsequentIncrement;
  if (chargeForBilled(rate, initial) > credit) return refused("insufficient_credit");

  // The charge is constant between billing steps and grows with them, so the longest
  // affordable duration ends a step: initial + k × step for the largest affordable k.
  let lo = 0; // affordable
  let hi = Math.max(0, Math.ceil((MAX_DURATION_SECONDS - initial) / step)); // past it: capped anyway
  while (lo < hi) {
    const mid = lo + Math.ceil((hi - lo) / 2);
    if (chargeForBilled(rate, initial + mid * step) <= credit) lo = mid;
    else hi = mid - 1;
  }
  return {
    allowed: true,
    reason: "ok",
    maxDurationSeconds: Math.min(MAX_DURATION_SECONDS, initial + lo * step),
  };
}

function refused(reason: Exclude<AuthorizeReason, "ok">): Authorization {
  return { allowed: false, reason, maxDurationSeconds: 0 };
}
