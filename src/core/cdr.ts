/**
 * Call-detail records (SPEC §3): decoded from JSON text or from an already-decoded
 * object (the Avro path), every field checked. An `invalid_cdr` error names the field
 * at fault and what is wrong with it.
 */
import { parseTimestamp } from "./time.js";
import { excerpt } from "./excerpt.js";

export type Direction = "outbound" | "inbound";
export const DIRECTIONS: readonly Direction[] = ["outbound", "inbound"];

export interface Surcharge {
  feature: string;
  seconds: number;
}

export interface Cdr {
  cdr_id: string;
  account_id: string;
  direction: Direction;
  from: string;
  to: string;
  answered_at: string;
  duration_seconds: number;
  surcharges: Surcharge[];
  /** answered_at as microseconds since the epoch: the instant rating uses. */
  answeredAtMicros: number;
}

export interface InvalidCdr {
  code: "invalid_cdr";
  message: string;
  /** The record's cdr_id when it has a valid one, so the error can be traced. */
  cdrId: string | null;
}

export type CdrResult = { ok: true; cdr: Cdr } | { ok: false; error: InvalidCdr };

export const MAX_DURATION_SECONDS = 86_400;
const ACCOUNT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const E164 = /^\+[0-9]{1,15}$/;
export const FEATURE = /^[a-z][a-z0-9_]{0,31}$/;

/** Parses one JSON text (a line of a file, a Kafka record value). */
export function decodeCdrJson(text: string): CdrResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return invalid(null, "line is not JSON");
  }
  return validateCdr(value);
}

function invalid(cdrId: string | null, message: string): CdrResult {
  return { ok: false, error: { code: "invalid_cdr", message, cdrId } };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return excerpt(value);
  if (typeof value === "object") return "an object";
  if (value === undefined) return "nothing (the field is missing)";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return typeof value;
}

function isWholeNumber(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

/** Checks an object against the CDR shape. Unknown extra fields are ignored (forward compatibility). */
export function validateCdr(value: unknown): CdrResult {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return invalid(null, `the record must be a JSON object, got ${describe(value)}`);
  }
  const record = value as Record<string, unknown>;

  const { cdr_id } = record;
  if (typeof cdr_id !== "string" || cdr_id.length === 0 || [...cdr_id].length > 128) {
    return invalid(null, `cdr_id: must be a string of 1 to 128 characters, got ${describe(cdr_id)}`);
  }
  // Postgres text cannot hold NUL, and no switch means a control character in an id.
  if (/[\u0000-\u001f\u007f]/.test(cdr_id)) {
    return invalid(null, `cdr_id: must not contain control characters, got ${describe(cdr_id)}`);
  }
  const fail = (message: string) => invalid(cdr_id, message);

  const { account_id, direction, from, to, answered_at, duration_seconds, surcharges } = record;
  if (typeof account_id !== "string" || !ACCOUNT_ID.test(account_id)) {
    return fail(`account_id: must be 1 to 64 of A-Z a-z 0-9 _ -, got ${describe(account_id)}`);
  }
  if (direction !== "outbound" && direction !== "inbound") {
    return fail(`direction: must be "outbound" or "inbound", got ${describe(direction)}`);
  }
  if (typeof from !== "string" || !E164.test(from)) {
    return fail(`from: must be + and 1 to 15 digits, got ${describe(from)}`);
  }
  if (typeof to !== "string" || !E164.test(to)) {
    return fail(`to: must be + and 1 to 15 digits, got ${describe(to)}`);
  }
  if (typeof answered_at !== "string") {
    return fail(`answered_at: must be an ISO-8601 timestamp string, got ${describe(answered_at)}`);
  }
  const instant = parseTimestamp(answered_at);
  if (!instant.ok) return fail(`answered_at: ${instant.problem}`);
  if (!isWholeNumber(duration_seconds, 0, MAX_DURATION_SECONDS)) {
    return fail(
      `duration_seconds: must be a whole number from 0 to 86400, got ${describe(duration_seconds)}`,
    );
  }

  const checked: Surcharge[] = [];
  if (surcharges !== undefined) {
    if (!Array.isArray(surcharges)) return fail(`surcharges: must be an array, got ${describe(surcharges)}`);
    const seen = new Set<string>();
    for (const [i, item] of (surcharges as unknown[]).entries()) {
      const at = `surcharges[${i}]`;
      if (typeof item !== "object" || item === null || Array.isArray(item)) {
        return fail(`${at}: must be an object with feature and seconds, got ${describe(item)}`);
      }
      const { feature, seconds } = item as Record<string, unknown>;
      if (typeof feature !== "string" || !FEATURE.test(feature)) {
        return fail(`${at}.feature: must match [a-z][a-z0-9_]{0,31}, got ${describe(feature)}`);
      }
      if (seen.has(feature)) return fail(`${at}.feature: "${feature}" appears more than once`);
      seen.add(feature);
      if (!isWholeNumber(seconds, 0, MAX_DURATION_SECONDS)) {
        return fail(`${at}.seconds: must be a whole number from 0 to 86400, got ${describe(seconds)}`);
      }
      checked.push({ feature, seconds });
    }
  }

  return {
    ok: true,
    cdr: {
      cdr_id,
      account_id,
      direction,
      from,
      to,
      answered_at,
      duration_seconds,
      surcharges: checked,
      answeredAtMicros: instant.micros,
    },
  };
}
