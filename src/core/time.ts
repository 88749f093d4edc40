/**
 * Instants are integer microseconds since the Unix epoch (exact in a double until the
 * year 2255). Parsing is strict ISO-8601 with a zone, so a CDR's instant is never
 * guessed from a machine's local time.
 */
import { excerpt } from "./excerpt.js";
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)$/;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;

export type InstantResult = { ok: true; micros: number } | { ok: false; problem: string };

/** Date.UTC reads years 0-99 as 1900-1999; this does not. */
function utcMillis(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

function daysInMonth(year: number, month: number): number {
  return new Date(utcMillis(year, month + 1, 0)).getUTCDate();
}

function checkDate(year: number, month: number, day: number): string | undefined {
  if (month < 1 || month > 12) return `month ${month} does not exist`;
  if (day < 1 || day > daysInMonth(year, month)) return `day ${day} does not exist in ${year}-${pad2(month)}`;
  return undefined;
}

/**
 * An ISO-8601 timestamp with `Z` or an offset (±HH:MM, ±HHMM, ±HH); fractions beyond
 * microseconds are truncated, which keeps `instant ≥ boundary` exact for boundaries
 * given to the microsecond.
 */
export function parseTimestamp(text: string, options: { allowDateOnly?: boolean } = {}): InstantResult {
  if (options.allowDateOnly) {
    const date = DATE_ONLY.exec(text);
    if (date) {
      const [year, month, day] = [Number(date[1]), Number(date[2]), Number(date[3])];
      const problem = checkDate(year, month, day);
      if (problem) return { ok: false, problem: `${excerpt(text)}: ${problem}` };
      return { ok: true, micros: utcMillis(year, month, day) * 1000 };
    }
  }
  const m = TIMESTAMP.exec(text);
  if (!m) {
    const expected = options.allowDateOnly ? "YYYY-MM-DD or an ISO-8601 timestamp" : "an ISO-8601 timestamp";
    const zoneless = /^\d{4}-\d{2}-\d{2}[Tt][\d:.]+$/.test(text);
    return {
      ok: false,
      problem: zoneless
        ? `${excerpt(text)} has no zone: add Z or an offset`
        : `${excerpt(text)} is not ${expected} with Z or an offset`,
    };
  }
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  const problem =
    checkDate(year!, month!, day!) ??
    (hour! > 23 ? `hour ${hour} does not exist` : undefined) ??
    (minute! > 59 ? `minute ${minute} does not exist` : undefined) ??
    (second! > 59 ? `second ${second} does not exist` : undefined);
  if (problem) return { ok: false, problem: `${excerpt(text)}: ${problem}` };
  let offsetMinutes = 0;
  if (!m[8]) {
    const offHours = Number(m[10]);
    const offMinutes = Number(m[11] ?? "0");
    if (offHours > 23 || offMinutes > 59)
      return { ok: false, problem: `${excerpt(text)}: offset out of range` };
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (offHours * 60 + offMinutes);
  }
  const ms = utcMillis(year!, month!, day!, hour, minute, second) - offsetMinutes * 60_000;
  const fractionMicros = Number((m[7] ?? "").padEnd(6, "0").slice(0, 6));
  return { ok: true, micros: ms * 1000 + fractionMicros };
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Micros since the epoch → `YYYY-MM-DDTHH:MM:SSZ` (SPEC §3: sub-seconds are not printed). */
export function formatInstant(micros: number): string {
  return new Date(Math.floor(micros / 1000)).toISOString().slice(0, 19) + "Z";
}
