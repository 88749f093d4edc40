import { FEATURE } from "../cdr.js";
import { readCsv } from "./csv.js";
import { DeckError, type DeckIssue } from "./deck-error.js";
import { DuplicateCheck, RowReader } from "./fields.js";

export const SURCHARGE_DECK_COLUMNS = ["feature", "rate_per_minute", "effective_from"] as const;

export interface SurchargeRow {
  feature: string;
  ratePerMinuteMicros: number;
  effectiveFromMicros: number;
  file: string;
  line: number;
}

/** Parses and validates a whole surcharge deck; any bad row rejects the deck (DeckError). */
export function parseSurchargeDeck(text: string, file: string): SurchargeRow[] {
  const issues: DeckIssue[] = [];
  const table = readCsv(text, file, SURCHARGE_DECK_COLUMNS, issues);
  if (!table) throw new DeckError(issues);
  const rows: SurchargeRow[] = [];
  const duplicates = new DuplicateCheck(file, issues, "feature and effective_from");
  const instants = new Map<string, number>();
  for (const csvRow of table.rows) {
    const r = new RowReader(file, table, csvRow, issues, instants);
    const feature = r.matching("feature", FEATURE, "a feature name matching [a-z][a-z0-9_]{0,31}");
    const ratePerMinuteMicros = r.micros("rate_per_minute");
    const effectiveFromMicros = r.effectiveFrom();
    if (feature === undefined || ratePerMinuteMicros === undefined || effectiveFromMicros === undefined)
      continue;
    duplicates.check(`${feature}|${effectiveFromMicros}`, r.line);
    rows.push({ feature, ratePerMinuteMicros, effectiveFromMicros, file, line: r.line });
  }
  if (issues.length > 0) throw new DeckError(issues);
  return rows;
}
