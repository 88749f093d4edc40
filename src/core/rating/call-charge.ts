/**
 * The money side of call sessions (SPEC §8), pure arithmetic: the charge of a call of d
 * seconds with its features, as rating would charge a CDR of that duration whose every
 * surcharge lasts the whole call, and the longest duration whose charge fits a credit.
 */
import { MAX_DURATION_SECONDS } from "../cdr.js";
import { billedSeconds, surchargeBilledSeconds } from "./billing.js";
import { charge60ForBilled, roundHalfUp60, type CallRate } from "./authorize.js";

export interface CallPricing {
  rate: CallRate;
  /** The rate per minute of each feature of the call, in micros (each feature once). */
  featureRatesMicros: readonly number[];
}

/**
 * SPEC §2-§3 for a call of `duration` seconds: connection fee + billed seconds by
 * increments + each feature per started minute of the duration, summed exactly and
 * rounded half-up once. 0 s costs nothing.
 */
export function callCharge(pricing: CallPricing, duration: number): bigint {
  if (duration === 0) return 0n;
  const { rate } = pricing;
  let total60 = charge60ForBilled(
    rate,
    billedSeconds(duration, rate.initialIncrement, rate.subsequentIncrement),
  );
  const minutes60 = BigInt(surchargeBilledSeconds(duration));
  for (const perMinute of pricing.featureRatesMicros) total60 += BigInt(perMinute) * minutes60;
  return roundHalfUp60(total60);
}

/**
 * The longest duration d with from ≤ d ≤ limit whose charge is ≤ credit, or undefined
 * when not even `from` fits. The charge never decreases with d, so a binary search.
 */
export function longestFitting(
  pricing: CallPricing,
  from: number,
  limit: number,
  credit: bigint,
): number | undefined {
  if (from > limit || callCharge(pricing, from) > credit) return undefined;
  let lo = from; // fits
  let hi = limit;
  while (lo < hi) {
    const mid = lo + Math.ceil((hi - lo) / 2);
    if (callCharge(pricing, mid) <= credit) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export interface HoldStep {
  seconds: number;
  holdMicros: bigint;
}

/**
 * The durations after `granted` up to `limit` (capped at 86,400 s) that a grant can end
 * on, in increasing order, each with its hold: the last second of each charge level
 * (a longer duration at the same price is always better), and `limit` itself. The
 * Redis script picks the largest whose hold fits the credit it reads atomically, so
 * pricing stays here and the script compares integers. At most limit − granted steps.
 */
export function holdSteps(pricing: CallPricing, granted: number, limit: number): HoldStep[] {
  const to = Math.min(limit, MAX_DURATION_SECONDS);
  const steps: HoldStep[] = [];
  let next = granted < to ? callCharge(pricing, granted + 1) : 0n;
  for (let d = granted + 1; d <= to; d++) {
    const charge = next;
    if (d === to) {
      steps.push({ seconds: d, holdMicros: charge });
      break;
    }
    next = callCharge(pricing, d + 1);
    if (next > charge) steps.push({ seconds: d, holdMicros: charge });
  }
  return steps;
}

/** What the script's pick over holdSteps amounts to: the largest step whose hold fits. */
export function pickStep(steps: readonly HoldStep[], credit: bigint): HoldStep | undefined {
  let best: HoldStep | undefined;
  for (const step of steps) if (step.holdMicros <= credit) best = step;
  return best;
}
