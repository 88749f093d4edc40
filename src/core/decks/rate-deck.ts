import { DIRECTIONS, type Direction } from "../cdr.js";
import { readCsv } from "./csv.js";
import { DeckError, type DeckIssue } from "./deck-error.js";
import { DuplicateCheck, RowReader } from "./fields.js";

export const RATE_DECK_COLUMNS = [
  "prefix",
  "destination",
  "direction",
  "rate_per_minute",
  "connection_fee",
  "initial_increment",
  "subsequent_increment",
  "effective_from",
] as const;

export interface RateRow {
  prefix: string;
  destination: string;
  direction: Direction;
  ratePerMinuteMicros: number;
  connectionFeeMicros: number;
  initialIncrement: number;
  subsequentIncrement: number;
  effectiveFromMicros: number;
  /** The deck file and line this row came from: which row rated a call. */
  file: string;
  line: number;
}

export const PREFIX = /^[0-9]{1,15}$/;

/** Parses and validates a whole rate deck; any bad row rejects the deck (DeckError). */
export function parseRateDeck(text: string, file: string): RateRow[] {
  const issues: DeckIssue[] = [];
  const table = readCsv(text, file, RATE_DECK_COLUMNS, issues);
  if (!table) throw new DeckError(issues);
  const rows: RateRow[] = [];
  const duplicates = new DuplicateCheck(file, issues, "prefix, direction and effective_from");
  const instants = new Map<string, number>();
  for (const csvRow of table.rows) {
    const r = new RowReader(file, table, csvRow, issues, instants);
    const prefix = r.matching("prefix", PREFIX, "1 to 15 digits");
    const direction = r.oneOf("direction", DIRECTIONS);
    const ratePerMinuteMicros = r.micros("rate_per_minute");
    const connectionFeeMicros = r.micros("connection_fee");
    const initialIncrement = r.seconds("initial_increment");
    const subsequentIncrement = r.seconds("subsequent_increment");
    const effectiveFromMicros = r.effectiveFrom();
    if (
      prefix === undefined ||
      direction === undefined ||
      ratePerMinuteMicros === undefined ||
      connectionFeeMicros === undefined ||
      initialIncrement === undefined ||
      subsequentIncrement === undefined ||
      effectiveFromMicros === undefined
    ) {
      continue;
    }
    duplicates.check(`${prefix}|${direction}|${effectiveFromMicros}`, r.line);
    rows.push({
      prefix,
      destination: r.raw("destination"),
      direction,
      ratePerMinuteMicros,
      connectionFeeMicros,
      initialIncrement,
      subsequentIncrement,
      effectiveFromMicros,
      file,
      line: r.line,
    });
  }
  if (issues.length > 0) throw new DeckError(issues);
  return rows;
}
