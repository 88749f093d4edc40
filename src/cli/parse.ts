/** Option parsers for the command line: each refuses a bad value naming the option. */
import { InvalidArgumentError } from "commander";
import { parseDecimalMicros, parseSignedDecimalMicros } from "../core/money.js";

const ACCOUNT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
/** Amounts typed by people have at most 2 decimals and stay far below 2^53 micros. */
const MAX_UNITS = 1_000_000_000n;

export function accountId(value: string): string {
  if (!ACCOUNT_ID.test(value)) throw new InvalidArgumentError("must be 1 to 64 of A-Z a-z 0-9 _ -");
  return value;
}

/** A rate plan name (SPEC §10). */
export function planName(value: string): string {
  if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(value)) {
    throw new InvalidArgumentError("must be 1 to 32 of a-z 0-9 _ -, starting with a letter or digit");
  }
  return value;
}

export function email(value: string): string {
  if (!EMAIL.test(value)) throw new InvalidArgumentError("is not an email address");
  return value;
}

/**
 * Seconds, 0 or more, to the millisecond (`60`, `0.5`): the unit of every duration flag
 * (their names end in `-s`; see docs/architecture.md, "Command-line flags").
 */
export function seconds(value: string): number {
  if (!/^\d{1,7}(\.\d{1,3})?$/.test(value)) {
    throw new InvalidArgumentError("must be a number of seconds (at most 3 decimals)");
  }
  return Number(value);
}

/** Whole milliseconds, as seconds: the value of a deprecated `-ms` flag. */
export function millisecondsAsSeconds(value: string): number {
  if (!/^\d{1,10}$/.test(value)) throw new InvalidArgumentError("must be a whole number of milliseconds");
  return Number(value) / 1000;
}

/** A duration flag's seconds as the milliseconds a client or timer takes. */
export function toMs(seconds: number): number {
  return Math.round(seconds * 1000);
}

export function bool(value: string): boolean {
  if (value === "true") return true;
  if (value === "false") return false;
  throw new InvalidArgumentError('must be "true" or "false"');
}

/** A positive amount with at most 2 decimals, as micros. */
export function positiveAmount(value: string): bigint {
  const parsed = parseDecimalMicros(value, 2, MAX_UNITS);
  if (!parsed.ok) throw new InvalidArgumentError(parsed.problem);
  if (parsed.value <= 0n) throw new InvalidArgumentError("must be greater than 0");
  return parsed.value;
}

export function nonNegativeAmount(value: string): bigint {
  const parsed = parseDecimalMicros(value, 2, MAX_UNITS);
  if (!parsed.ok) throw new InvalidArgumentError(parsed.problem);
  return parsed.value;
}

/** A signed, non-zero amount with at most 2 decimals, as micros. */
export function signedAmount(value: string): bigint {
  const parsed = parseSignedDecimalMicros(value, 2, MAX_UNITS);
  if (!parsed.ok) throw new InvalidArgumentError(parsed.problem);
  if (parsed.value === 0n) throw new InvalidArgumentError("must not be 0");
  return parsed.value;
}

export function reference(value: string): string {
  if (value.trim() === "" || value.length > 200)
    throw new InvalidArgumentError("must be 1 to 200 characters");
  return value;
}
