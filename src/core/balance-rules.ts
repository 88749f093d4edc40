/**
 * The balance rules of SPEC §1-§3 in one place, pure: the thresholds, which crossings an
 * entry makes, when auto-recharge fires, the month limits count in, and the charge
 * formula. Redis's apply-2n.lua and calls-1.lua decide on the live balance with the
 * thresholds passed to them from here (`scriptThresholds`); the in-memory balance store
 * of the tests, the chaos checks and the property test of the scripts decide with these
 * functions, so a change of a rule is made here and the scripts are tested against it.
 */

/** Blocked below 2.00 (SPEC §1.3): calls are refused, and 2.00 is never spent. */
export const BLOCK_THRESHOLD_MICROS = 2_000_000n;
/** Low balance below 5.00 (SPEC §1.4); online auto-recharge at or below it (§1.7). */
export const LOW_BALANCE_THRESHOLD_MICROS = 5_000_000n;

/** The thresholds as the Lua scripts take them (decimal integers, micros). */
export const scriptThresholds = {
  low: LOW_BALANCE_THRESHOLD_MICROS.toString(),
  block: BLOCK_THRESHOLD_MICROS.toString(),
} as const;

export type CrossingType = "low_balance" | "blocked" | "unblocked";

/**
 * The threshold crossings of one entry taking the balance from `before` to `after`, in
 * the order they are announced. A crossing is a function of these two numbers alone, so
 * no crossing state needs restoring after a Redis restart.
 */
export function crossings(before: bigint, after: bigint): CrossingType[] {
  const found: CrossingType[] = [];
  const low = LOW_BALANCE_THRESHOLD_MICROS;
  const block = BLOCK_THRESHOLD_MICROS;
  if (before >= low && after < low) found.push("low_balance");
  if (before >= block && after < block) found.push("blocked");
  if (before < block && after >= block) found.push("unblocked");
  return found;
}

/**
 * Online auto-recharge (SPEC §1.7): requested when an entry leaves the balance at or
 * below 5.00 coming from above it, or when the balance is still there after a recharge
 * (an `auto_recharge` credit that did not lift it) or after auto-recharge was turned on
 * (`auto_recharge_enabled`, a zero entry). The monthly limit is decided separately.
 */
export function requestsOnlineRecharge(before: bigint, after: bigint, kind: string): boolean {
  const low = LOW_BALANCE_THRESHOLD_MICROS;
  return after <= low && (before > low || kind === "auto_recharge" || kind === "auto_recharge_enabled");
}

/** Offline auto-recharge (SPEC §1.9): reloads start when an entry crosses to at or below the threshold. */
export function startsOfflineReload(before: bigint, after: bigint, thresholdMicros: bigint): boolean {
  return before > thresholdMicros && after <= thresholdMicros;
}

/** At most this many offline reloads per entry, each while the balance is still at or below the threshold. */
export const MAX_OFFLINE_RELOADS_PER_ENTRY = 10;

/** The calendar month of an instant in UTC, "YYYY-MM": monthly limits count by it. */
export function utcMonth(at: Date): string {
  return at.toISOString().slice(0, 7);
}

/**
 * The month an entry counts in: months never go back, so a writer whose clock is behind
 * the month the balance store holds counts in that month, and limits do not depend on
 * which writer's clock is right. `held` is undefined when nothing is held yet.
 */
export function countingMonth(requested: string, held: string | undefined): string {
  return held !== undefined && held > requested ? held : requested;
}

/** What a call's price needs of its rate row (SPEC §2). */
export interface ChargeRate {
  ratePerMinuteMicros: number;
  connectionFeeMicros: number;
}

/**
 * The exact charge of `billed` seconds in micros × 60, before the one rounding:
 * fee × 60 + rate × billed (0 for 0 s). Surcharges add rate × billed minutes × 60.
 */
export function charge60ForBilled(rate: ChargeRate, billed: number): bigint {
  if (billed === 0) return 0n;
  return BigInt(rate.connectionFeeMicros) * 60n + BigInt(rate.ratePerMinuteMicros) * BigInt(billed);
}

/**
 * charge60ForBilled in doubles, for the rater's fast path: exact while the result is
 * ≤ 2^53 (the caller checks, and falls back to the BigInt form past it).
 */
export function charge60ForBilledAsNumber(rate: ChargeRate, billed: number): number {
  if (billed === 0) return 0;
  return rate.connectionFeeMicros * 60 + rate.ratePerMinuteMicros * billed;
}

/** micros × 60 → micros, half-up: the one rounding of SPEC §2. */
export function roundHalfUp60(total60: bigint): bigint {
  return (total60 + 30n) / 60n;
}

/**
 * roundHalfUp60 for a safe integer n ≥ 0 as a double (the rater's fast path). The float
 * quotient can be off by one near an integer for large n, so the remainder corrects it.
 */
export function roundHalfUpDiv60(total60: number): number {
  const shifted = total60 + 30;
  let q = Math.floor(shifted / 60);
  const r = shifted - q * 60;
  if (r < 0) q -= 1;
  else if (r >= 60) q += 1;
  return q;
}
