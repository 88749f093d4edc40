/**
 * Re-rating one call (SPEC §9), pure: the charge the ledger holds for it (its call
 * entry, or what an earlier re-rating corrected it to) against the charge the chosen
 * deck version gives now, through the same rating core the rater uses.
 */
import type { Cdr } from "./cdr.js";
import { formatInstant } from "./time.js";
import { rateCdr } from "./rating/rate.js";
import type { RateTable } from "./rating/rate-table.js";

/** What the ledger says a call was charged, as of the latest booked correction. */
export interface RecordedCharge {
  chargeMicros: bigint;
  prefix: string | null;
  rateVersion: number | null;
}

export interface NewCharge {
  chargeMicros: bigint;
  prefix: string;
  rateVersion: number | null;
  billedSeconds: number;
  rateEffectiveFrom: string;
}

export type CallOutcome =
  | { outcome: "not_in_ledger" }
  | { outcome: "no_rate"; message: string }
  | { outcome: "unchanged"; old: RecordedCharge }
  | { outcome: "changed"; old: RecordedCharge; new: NewCharge; deltaMicros: bigint };

/** A call the ledger never charged is reported, never booked; nor one the deck no longer prices. */
export function rerateCall(table: RateTable, cdr: Cdr, recorded: RecordedCharge | undefined): CallOutcome {
  if (recorded === undefined) return { outcome: "not_in_ledger" };
  const rated = rateCdr(table, cdr);
  if (!rated.ok) return { outcome: "no_rate", message: rated.message };
  if (rated.chargeMicros === recorded.chargeMicros) return { outcome: "unchanged", old: recorded };
  return {
    outcome: "changed",
    old: recorded,
    new: {
      chargeMicros: rated.chargeMicros,
      prefix: rated.rate.prefix,
      rateVersion: rated.version,
      billedSeconds: rated.billedSeconds,
      rateEffectiveFrom: formatInstant(rated.rate.effectiveFromMicros),
    },
    // Positive: the customer owes more.
    deltaMicros: rated.chargeMicros - recorded.chargeMicros,
  };
}

/** The window is [from, to) on answered_at, in micros since the epoch. */
export function inWindow(cdr: Cdr, window: { fromMicros: number; toMicros: number }): boolean {
  return cdr.answeredAtMicros >= window.fromMicros && cdr.answeredAtMicros < window.toMicros;
}

export const REPORT_COLUMNS = [
  "cdr_id",
  "account_id",
  "answered_at",
  "old_charge_micros",
  "new_charge_micros",
  "delta_micros",
  "old_prefix",
  "new_prefix",
  "old_rate_version",
  "new_rate_version",
] as const;

export type ReportRow = Record<(typeof REPORT_COLUMNS)[number], string | bigint | number | null>;

/** RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. */
export function csvField(value: string | bigint | number | null): string {
  const text = value === null ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvLine(values: readonly (string | bigint | number | null)[]): string {
  return `${values.map(csvField).join(",")}\n`;
}

export function reportLine(row: ReportRow): string {
  return csvLine(REPORT_COLUMNS.map((c) => row[c]));
}

/** The JSON line `rerate` prints last (SPEC §9). */
export interface RerateSummary {
  calls_read: number;
  changed: number;
  unchanged: number;
  not_in_ledger: number;
  no_rate: number;
  accounts: number;
  total_delta_micros: number;
}
