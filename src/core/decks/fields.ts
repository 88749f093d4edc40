/**
 * Field validators shared by the three decks. Each reads one named field of a row and
 * either returns its value or records an issue naming file, line and column.
 */
import { parseDecimalMicros } from "../money.js";
import { parseTimestamp } from "../time.js";
import type { CsvRow, CsvTable } from "./csv.js";
import type { DeckIssue } from "./deck-error.js";
import { excerpt } from "../excerpt.js";

/** Rates, fees and prices are below one million units: micros stay exact doubles. */
const MAX_DECK_UNITS = 1_000_000n;
const DECK_DECIMAL = /^(\d{1,6})(?:\.(\d{1,6}))?$/;
const MAX_INCREMENT_SECONDS = 86_400;

/** Decks repeat a handful of effective dates over thousands of rows: parse each once. */
export type InstantCache = Map<string, number>;

export class RowReader {
  constructor(
    private readonly file: string,
    private readonly table: CsvTable,
    private readonly row: CsvRow,
    private readonly issues: DeckIssue[],
    private readonly instants: InstantCache = new Map(),
  ) {}

  get line(): number {
    return this.row.line;
  }

  private column(field: string): number {
    return this.table.columnIndex[field]! + 1;
  }

  raw(field: string): string {
    return this.row.fields[this.table.columnIndex[field]!]!;
  }

  problem(field: string, problem: string): undefined {
    this.issues.push({ file: this.file, line: this.row.line, column: this.column(field), field, problem });
    return undefined;
  }

  matching(field: string, pattern: RegExp, expected: string): string | undefined {
    const value = this.raw(field);
    return pattern.test(value) ? value : this.problem(field, `${excerpt(value)} is not ${expected}`);
  }

  oneOf<T extends string>(field: string, allowed: readonly T[]): T | undefined {
    const value = this.raw(field);
    return (
      allowed.find((a) => a === value) ??
      this.problem(field, `${excerpt(value)} is not one of ${allowed.join(", ")}`)
    );
  }

  /** A decimal ≥ 0 with at most 6 places, as micros. */
  micros(field: string): number | undefined {
    const text = this.raw(field);
    // Fast path without BigInt: whole < 10^6 and 6 decimals give micros < 10^12, exact.
    const m = DECK_DECIMAL.exec(text);
    if (m) return Number(m[1]) * 1_000_000 + (m[2] === undefined ? 0 : Number(m[2].padEnd(6, "0")));
    const parsed = parseDecimalMicros(text, 6, MAX_DECK_UNITS);
    return parsed.ok ? Number(parsed.value) : this.problem(field, parsed.problem);
  }

  /** Whole seconds ≥ 1. */
  seconds(field: string): number | undefined {
    const value = this.raw(field);
    const n = /^\d{1,6}$/.test(value) ? Number(value) : NaN;
    if (n >= 1 && n <= MAX_INCREMENT_SECONDS) return n;
    return this.problem(field, `${excerpt(value)} is not whole seconds from 1 to ${MAX_INCREMENT_SECONDS}`);
  }

  /** YYYY-MM-DD (midnight UTC) or an ISO-8601 timestamp with a zone, as epoch micros. */
  effectiveFrom(field = "effective_from"): number | undefined {
    const text = this.raw(field);
    const cached = this.instants.get(text);
    if (cached !== undefined) return cached;
    const parsed = parseTimestamp(text, { allowDateOnly: true });
    if (!parsed.ok) return this.problem(field, parsed.problem);
    this.instants.set(text, parsed.micros);
    return parsed.micros;
  }
}

/**
 * Records an issue when two rows share a key (for example prefix, direction and
 * effective_from), naming the line of the first.
 */
export class DuplicateCheck {
  private readonly firstLine = new Map<string, number>();

  constructor(
    private readonly file: string,
    private readonly issues: DeckIssue[],
    private readonly describe: string,
  ) {}

  check(key: string, line: number): void {
    const first = this.firstLine.get(key);
    if (first === undefined) this.firstLine.set(key, line);
    else {
      this.issues.push({
        file: this.file,
        line,
        column: 0,
        field: undefined,
        problem: `same ${this.describe} as line ${first}`,
      });
    }
  }
}
