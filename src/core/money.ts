/**
 * Money is integer micro-units (1 USD = 1,000,000 micros), never floats. Decimals typed
 * by people have at most 2 places, deck rates and fees at most 6; both convert to micros
 * exactly or are refused.
 */
import { excerpt } from "./excerpt.js";
export const MICROS_PER_UNIT = 1_000_000n;

/**
 * Every amount and balance is exact within ±(2^53 − 1) micros (SPEC §2): JSON numbers and
 * Redis's Lua carry integers exactly up to there. Past it a value is refused, never rounded.
 */
export const MAX_EXACT_MICROS = 2n ** 53n - 1n;

export function withinExactRange(micros: bigint): boolean {
  return micros <= MAX_EXACT_MICROS && micros >= -MAX_EXACT_MICROS;
}

/** Micros as a JSON number: exact by construction, or a RangeError (a bug, never rounded). */
export function jsonMicros(micros: bigint): number {
  if (!withinExactRange(micros)) throw new RangeError(`${micros} micros is past ±(2^53 − 1)`);
  return Number(micros);
}

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;
const SIGNED_DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/**
 * Parses a non-negative decimal with at most `maxPlaces` decimal places into micros.
 * `maxUnits` bounds the integer part (exclusive) so amounts stay in a sane range.
 */
export function parseDecimalMicros(text: string, maxPlaces: number, maxUnits?: bigint): Parsed<bigint> {
  const match = DECIMAL.exec(text);
  if (!match)
    return {
      ok: false,
      problem: `${excerpt(text)} is not a decimal number ≥ 0 (digits, optional . and decimals)`,
    };
  return toMicros(text, "", match[1]!, match[2] ?? "", maxPlaces, maxUnits);
}

/** As parseDecimalMicros, with an optional sign (adjustments). */
export function parseSignedDecimalMicros(text: string, maxPlaces: number, maxUnits?: bigint): Parsed<bigint> {
  const match = SIGNED_DECIMAL.exec(text);
  if (!match)
    return {
      ok: false,
      problem: `${excerpt(text)} is not a decimal number (optional sign, digits, . decimals)`,
    };
  return toMicros(text, match[1]!, match[2]!, match[3] ?? "", maxPlaces, maxUnits);
}

function toMicros(
  text: string,
  sign: string,
  whole: string,
  fraction: string,
  maxPlaces: number,
  maxUnits: bigint | undefined,
): Parsed<bigint> {
  if (fraction.length > maxPlaces) {
    return { ok: false, problem: `${excerpt(text)} has more than ${maxPlaces} decimal places` };
  }
  const units = BigInt(whole);
  if (maxUnits !== undefined && units >= maxUnits) {
    return { ok: false, problem: `${excerpt(text)} is too large (must be below ${maxUnits})` };
  }
  const micros = units * MICROS_PER_UNIT + BigInt(fraction.padEnd(6, "0"));
  return { ok: true, value: sign === "-" ? -micros : micros };
}

/** 12345678n → "12.345678"; -5n → "-0.000005". */
export function formatMicros(micros: bigint): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const whole = abs / MICROS_PER_UNIT;
  const fraction = (abs % MICROS_PER_UNIT).toString().padStart(6, "0");
  return `${negative ? "-" : ""}${whole}.${fraction}`;
}

/** For people: whole cents shown, further digits only when present ("12.50", "0.012345"). */
export function formatAmount(micros: bigint, currency = "USD"): string {
  const exact = formatMicros(micros).replace(/0{1,4}$/, "");
  return `${exact} ${currency}`;
}
