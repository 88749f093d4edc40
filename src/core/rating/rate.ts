/**
 * Rating one CDR (SPEC §2-§3): the longest prefix of `to` in force for the CDR's
 * direction, billing increments, surcharges per started minute, the total summed
 * exactly and rounded half-up to micros once.
 */
import type { Cdr } from "../cdr.js";
import {
  charge60ForBilled,
  charge60ForBilledAsNumber,
  roundHalfUp60,
  roundHalfUpDiv60,
} from "../balance-rules.js";
import { MAX_EXACT_MICROS } from "../money.js";
import type { RateRow } from "../decks/rate-deck.js";
import { formatInstant } from "../time.js";
import { billedSeconds, surchargeBilledSeconds } from "./billing.js";
import { surchargeInForce, type RateTable } from "./rate-table.js";

export interface Rated {
  ok: true;
  chargeMicros: bigint;
  billedSeconds: number;
  /** The rate row that rated the call (its prefix, effective_from, file and line). */
  rate: RateRow;
  /** The deck version, null for decks read from files. */
  version: number | null;
  /** The plan of that version, null for decks read from files. */
  plan: string | null;
}

export interface NotRated {
  ok: false;
  /** no_rate: nothing prices it; invalid_cdr: its charge is past the exact range (SPEC §2). */
  code: "no_rate" | "invalid_cdr";
  message: string;
}

export type RatingOutcome = Rated | NotRated;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export function rateCdr(table: RateTable, cdr: Cdr): RatingOutcome {
  const at = cdr.answeredAtMicros;
  const rate = table.rates[cdr.direction].lookup(cdr.to, 1, at);
  if (rate === undefined) {
    return { ok: false, code: "no_rate", message: `no ${cdr.direction} rate for ${cdr.to.slice(1)}` };
  }
  const duration = cdr.duration_seconds;
  if (duration === 0) {
    return { ok: true, chargeMicros: 0n, billedSeconds: 0, rate, version: table.version, plan: table.plan };
  }
  const billed = billedSeconds(duration, rate.initialIncrement, rate.subsequentIncrement);

  // Everything in micros × 60, so the only division is the final rounding. Doubles are
  // exact while every term stays ≤ 2^53; past that (absurd rates or seconds) use BigInt.
  let total60 = charge60ForBilledAsNumber(rate, billed);
  let exact = total60 <= MAX_SAFE;
  for (const surcharge of cdr.surcharges) {
    const row = surchargeInForce(table, surcharge.feature, at);
    if (row === undefined) {
      return {
        ok: false,
        code: "no_rate",
        message: `no rate for surcharge "${surcharge.feature}" at ${formatInstant(at)}`,
      };
    }
    total60 += row.ratePerMinuteMicros * surchargeBilledSeconds(surcharge.seconds);
    exact &&= total60 <= MAX_SAFE;
  }
  const chargeMicros = exact ? BigInt(roundHalfUpDiv60(total60)) : chargeWithBigInt(table, cdr, rate, billed);
  if (chargeMicros > MAX_EXACT_MICROS) {
    return {
      ok: false,
      code: "invalid_cdr",
      message: `charge of ${chargeMicros} micros is past the exact range of 2^53 − 1 micros`,
    };
  }
  return { ok: true, chargeMicros, billedSeconds: billed, rate, version: table.version, plan: table.plan };
}

// The rounding is a balance rule (core/balance-rules.ts); tests import it from here too.
export { roundHalfUpDiv60 };

function chargeWithBigInt(table: RateTable, cdr: Cdr, rate: RateRow, billed: number): bigint {
  let total60 = charge60ForBilled(rate, billed);
  for (const surcharge of cdr.surcharges) {
    const row = surchargeInForce(table, surcharge.feature, cdr.answeredAtMicros)!;
    total60 += BigInt(row.ratePerMinuteMicros) * BigInt(surchargeBilledSeconds(surcharge.seconds));
  }
  return roundHalfUp60(total60);
}
