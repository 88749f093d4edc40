import { RatestreamError } from "../../errors.js";

/** One thing wrong in a deck, located as an editor would find it. */
export interface DeckIssue {
  file: string;
  line: number;
  /** 1-based column (field) number; 0 when the problem is the whole row. */
  column: number;
  /** The column's header name, when known. */
  field: string | undefined;
  problem: string;
}

export function formatIssue(issue: DeckIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  return issue.field ? `${where}: ${issue.field}: ${issue.problem}` : `${where}: ${issue.problem}`;
}

const SHOWN_ISSUES = 20;

/** A deck with any bad row is rejected whole; the error lists every problem found (the first 20 in its message). */
export class DeckError extends RatestreamError {
  readonly issues: readonly DeckIssue[];

  constructor(issues: DeckIssue[]) {
    const shown = issues.slice(0, SHOWN_ISSUES).map(formatIssue);
    if (issues.length > SHOWN_ISSUES) shown.push(`… and ${issues.length - SHOWN_ISSUES} more problems`);
    super("bad_deck", `deck rejected, nothing loaded:\n  ${shown.join("\n  ")}`);
    this.name = "DeckError";
    this.issues = issues;
  }
}
