import { readCsv } from "./csv.js";
import { DeckError, type DeckIssue } from "./deck-error.js";
import { DuplicateCheck, RowReader } from "./fields.js";
import { PREFIX } from "./rate-deck.js";

export const NUMBER_DECK_COLUMNS = ["prefix", "number_type", "monthly_price", "effective_from"] as const;
export const NUMBER_TYPES = ["local", "toll_free", "mobile"] as const;
export type NumberType = (typeof NUMBER_TYPES)[number];

export interface NumberPriceRow {
  prefix: string;
  numberType: NumberType;
  monthlyPriceMicros: number;
  effectiveFromMicros: number;
  file: string;
  line: number;
}

/** Parses and validates a whole number price list; any bad row rejects it (DeckError). */
export function parseNumberDeck(text: string, file: string): NumberPriceRow[] {
  const issues: DeckIssue[] = [];
  const table = readCsv(text, file, NUMBER_DECK_COLUMNS, issues);
  if (!table) throw new DeckError(issues);
  const rows: NumberPriceRow[] = [];
  const duplicates = new DuplicateCheck(file, issues, "prefix, number_type and effective_from");
  const instants = new Map<string, number>();
  for (const csvRow of table.rows) {
    const r = new RowReader(file, table, csvRow, issues, instants);
    const prefix = r.matching("prefix", PREFIX, "1 to 15 digits");
    const numberType = r.oneOf("number_type", NUMBER_TYPES);
    const monthlyPriceMicros = r.micros("monthly_price");
    const effectiveFromMicros = r.effectiveFrom();
    if (
      prefix === undefined ||
      numberType === undefined ||
      monthlyPriceMicros === undefined ||
      effectiveFromMicros === undefined
    ) {
      continue;
    }
    duplicates.check(`${prefix}|${numberType}|${effectiveFromMicros}`, r.line);
    rows.push({ prefix, numberType, monthlyPriceMicros, effectiveFromMicros, file, line: r.line });
  }
  if (issues.length > 0) throw new DeckError(issues);
  return rows;
}
