/**
 * A slow, obviously-correct rater written straight from SPEC §2-§3 with decimal.js.
 * It imports nothing from src/: the property tests compare the fast path against it.
 */
import { Decimal } from "decimal.js";

const D = Decimal.clone({ precision: 80, rounding: Decimal.ROUND_HALF_UP });

export interface RefRateRow {
  prefix: string;
  direction: "outbound" | "inbound";
  rate_per_minute: string;
  connection_fee: string;
  initial_increment: number;
  subsequent_increment: number;
  effective_from: string;
}

export interface RefSurchargeRow {
  feature: string;
  rate_per_minute: string;
  effective_from: string;
}

export interface RefCdr {
  direction: "outbound" | "inbound";
  to: string;
  answered_at: string;
  duration_seconds: number;
  surcharges: { feature: string; seconds: number }[];
}

export type RefResult =
  | { charge_micros: string; billed_seconds: number; prefix: string; effective_from_ms: number }
  | { no_rate: true };

export function referenceRate(
  rates: RefRateRow[],
  surcharges: RefSurchargeRow[] | undefined,
  cdr: RefCdr,
): RefResult {
  const at = Date.parse(cdr.answered_at);
  const number = cdr.to.slice(1);
  const inForce = rates.filter(
    (r) => r.direction === cdr.direction && number.startsWith(r.prefix) && Date.parse(r.effective_from) <= at,
  );
  if (inForce.length === 0) return { no_rate: true };
  const longest = Math.max(...inForce.map((r) => r.prefix.length));
  const sameLength = inForce.filter((r) => r.prefix.length === longest);
  const latest = Math.max(...sameLength.map((r) => Date.parse(r.effective_from)));
  const row = sameLength.find((r) => Date.parse(r.effective_from) === latest)!;
  const d = cdr.duration_seconds;
  if (d === 0)
    return { charge_micros: "0", billed_seconds: 0, prefix: row.prefix, effective_from_ms: latest };

  let billed: number;
  if (d <= row.initial_increment) billed = row.initial_increment;
  else {
    const rest = d - row.initial_increment;
    let steps = Math.floor(rest / row.subsequent_increment);
    if (steps * row.subsequent_increment < rest) steps += 1;
    billed = row.initial_increment + steps * row.subsequent_increment;
  }

  let charge = new D(row.connection_fee).plus(new D(row.rate_per_minute).times(billed).dividedBy(60));
  for (const s of cdr.surcharges) {
    const candidates = (surcharges ?? []).filter(
      (x) => x.feature === s.feature && Date.parse(x.effective_from) <= at,
    );
    if (candidates.length === 0) return { no_rate: true };
    const newest = candidates.reduce((a, b) =>
      Date.parse(a.effective_from) >= Date.parse(b.effective_from) ? a : b,
    );
    let minutes = Math.floor(s.seconds / 60);
    if (minutes * 60 < s.seconds) minutes += 1;
    charge = charge.plus(new D(newest.rate_per_minute).times(minutes * 60).dividedBy(60));
  }
  const micros = charge.times(1_000_000).toDecimalPlaces(0, Decimal.ROUND_HALF_UP);
  return {
    charge_micros: micros.toFixed(0),
    billed_seconds: billed,
    prefix: row.prefix,
    effective_from_ms: latest,
  };
}
