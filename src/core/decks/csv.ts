/**
 * Reads a deck's CSV text (UTF-8, RFC 4180 quoting, header row required) into rows of
 * named fields with their line numbers, so every later problem can name file, line and
 * column. Parsing only: the deck modules validate the values.
 */
import { CsvError, parse } from "csv-parse/sync";
import type { DeckIssue } from "./deck-error.js";

export interface CsvRow {
  line: number;
  fields: string[];
}

export interface CsvTable {
  /** Index of each expected column in a row's fields. */
  columnIndex: Record<string, number>;
  rows: CsvRow[];
}

export function readCsv(
  text: string,
  file: string,
  columns: readonly string[],
  issues: DeckIssue[],
): CsvTable | undefined {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      trim: true,
      skip_empty_lines: true,
      info: true,
      relax_column_count: true,
    }) as unknown as typeof records;
  } catch (err) {
    if (!(err instanceof CsvError)) throw err;
    const at = err as CsvError & { lines?: number; index?: number };
    issues.push({
      file,
      line: at.lines ?? 0,
      column: (at.index ?? -1) + 1,
      field: undefined,
      problem: `not valid CSV: ${err.message}`,
    });
    return undefined;
  }
  const [header, ...body] = records;
  if (!header) {
    issues.push({
      file,
      line: 1,
      column: 0,
      field: undefined,
      problem: `empty deck: the header row is required (${columns.join(",")})`,
    });
    return undefined;
  }

  const columnIndex: Record<string, number> = {};
  const headerIssues: DeckIssue[] = [];
  header.record.forEach((name, i) => {
    const at = { file, line: header.info.lines, column: i + 1, field: undefined };
    if (!columns.includes(name))
      headerIssues.push({ ...at, problem: `unknown column "${name}" (expected ${columns.join(",")})` });
    else if (name in columnIndex) headerIssues.push({ ...at, problem: `column "${name}" appears twice` });
    else columnIndex[name] = i;
  });
  for (const name of columns) {
    if (!(name in columnIndex)) {
      headerIssues.push({
        file,
        line: header.info.lines,
        column: 0,
        field: undefined,
        problem: `missing column "${name}"`,
      });
    }
  }
  if (headerIssues.length > 0) {
    issues.push(...headerIssues);
    return undefined;
  }

  const rows: CsvRow[] = [];
  for (const { record, info } of body) {
    if (record.length !== columns.length) {
      issues.push({
        file,
        line: info.lines,
        column: Math.min(record.length, columns.length) + 1,
        field: undefined,
        problem: `has ${record.length} fields, the header has ${columns.length}`,
      });
      continue;
    }
    rows.push({ line: info.lines, fields: record });
  }
  return { columnIndex, rows };
}
