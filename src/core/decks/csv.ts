/**
 * Reads a deck's CSV text (UTF-8, RFC 4180 quoting, header row required) into rows of
 * fields with the line each row starts on, so every later problem can name file, line
 * and column. Parsing only: the deck modules validate the values.
 *
 * Written here rather than taken from csv-parse: with line numbers on, csv-parse needs
 * ~850 ms for a 150,000-row carrier deck, most of the one-second load budget. Lines
 * without a quote (nearly all of a deck) take a split fast path.
 */
import type { DeckIssue } from "./deck-error.js";
import { excerpt } from "../excerpt.js";

export interface CsvRow {
  line: number;
  fields: string[];
}

export interface CsvTable {
  /** Index of each expected column in a row's fields. */
  columnIndex: Record<string, number>;
  rows: CsvRow[];
}

class CsvSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    message: string,
  ) {
    super(message);
  }
}

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;

/** Splits CSV text into records; blank lines are skipped. Throws CsvSyntaxError. */
export function splitCsv(text: string): CsvRow[] {
  const rows: CsvRow[] = [];
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (i < n) {
    let end = text.indexOf("\n", i);
    if (end === -1) end = n;
    const lineEnd = end > i && text.charCodeAt(end - 1) === CR ? end - 1 : end;
    const physical = text.slice(i, lineEnd);
    if (physical.indexOf('"') === -1) {
      if (physical.trim() !== "") rows.push({ line, fields: physical.split(",").map((f) => f.trim()) });
      i = end + 1;
      line++;
      continue;
    }
    const record = readQuotedRecord(text, i, line);
    rows.push({ line, fields: record.fields });
    i = record.next;
    line = record.line;
  }
  return rows;
}

/** The slow path: one record that has quotes, possibly spanning lines. */
function readQuotedRecord(
  text: string,
  start: number,
  startLine: number,
): { fields: string[]; next: number; line: number } {
  const n = text.length;
  const fields: string[] = [];
  let i = start;
  let line = startLine;
  for (;;) {
    while (i < n && (text[i] === " " || text[i] === "\t")) i++;
    if (text.charCodeAt(i) === QUOTE) {
      let value = "";
      let segment = ++i;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q === -1)
          throw new CsvSyntaxError(startLine, fields.length + 1, "a quoted field is never closed");
        value += text.slice(segment, q);
        if (text.charCodeAt(q + 1) === QUOTE) {
          value += '"';
          i = segment = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      for (let k = value.indexOf("\n"); k !== -1; k = value.indexOf("\n", k + 1)) line++;
      while (i < n && (text[i] === " " || text[i] === "\t")) i++;
      fields.push(value);
    } else {
      let end = i;
      for (; end < n; end++) {
        const c = text.charCodeAt(end);
        if (c === COMMA || c === LF || c === CR) break;
        if (c === QUOTE)
          throw new CsvSyntaxError(line, fields.length + 1, "a quote inside an unquoted field");
      }
      fields.push(text.slice(i, end).trim());
      i = end;
    }
    if (i >= n) return { fields, next: n, line: line + 1 };
    const c = text.charCodeAt(i);
    if (c === COMMA) {
      i++;
      continue;
    }
    if (c === CR && text.charCodeAt(i + 1) === LF) return { fields, next: i + 2, line: line + 1 };
    if (c === LF || c === CR) return { fields, next: i + 1, line: line + 1 };
    throw new CsvSyntaxError(
      line,
      fields.length,
      'text after a closing quote (a quote inside a field is written "")',
    );
  }
}

export function readCsv(
  text: string,
  file: string,
  columns: readonly string[],
  issues: DeckIssue[],
): CsvTable | undefined {
  let records: CsvRow[];
  try {
    records = splitCsv(text);
  } catch (err) {
    if (!(err instanceof CsvSyntaxError)) throw err;
    issues.push({
      file,
      line: err.line,
      column: err.column,
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
  header.fields.forEach((name, i) => {
    const at = { file, line: header.line, column: i + 1, field: undefined };
    if (!columns.includes(name)) {
      headerIssues.push({
        ...at,
        problem: `unknown column ${excerpt(name)} (expected ${columns.join(",")})`,
      });
    } else if (name in columnIndex)
      headerIssues.push({ ...at, problem: `column ${excerpt(name)} appears twice` });
    else columnIndex[name] = i;
  });
  for (const name of columns) {
    if (!(name in columnIndex)) {
      headerIssues.push({
        file,
        line: header.line,
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
  for (const row of body) {
    if (row.fields.length !== columns.length) {
      issues.push({
        file,
        line: row.line,
        column: Math.min(row.fields.length, columns.length) + 1,
        field: undefined,
        problem: `has ${row.fields.length} fields, the header has ${columns.length}`,
      });
      continue;
    }
    rows.push(row);
  }
  return { columnIndex, rows };
}
