/**
 * One error type for the whole project, with a closed list of codes. `retryable` says
 * whether the failure is the world's (a server away: back off and retry) or the
 * input's (dead-letter it); callers decide from this flag and nowhere else.
 */
export type ErrorCode =
  | "bad_config"
  | "bad_usage"
  | "invalid_cdr"
  | "decode_error"
  | "no_rate"
  | "unknown_account"
  | "bad_deck"
  | "dependency_unavailable"
  | "record_refused"
  | "sequence_conflict";

const RETRYABLE: ReadonlySet<ErrorCode> = new Set(["dependency_unavailable", "sequence_conflict"]);

export class RatestreamError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RatestreamError";
    this.code = code;
    this.retryable = RETRYABLE.has(code);
  }
}

/** A setting that cannot be used; the message names the environment variable. */
export class ConfigError extends RatestreamError {
  readonly variable: string;

  constructor(variable: string, problem: string) {
    super("bad_config", `${variable}: ${problem}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

/**
 * A server refused a record for what it holds (a value out of range, a constraint), not
 * for being down: the record's fault. Retrying cannot help; the record is dead-lettered
 * (a CDR) or refused (a request).
 */
export class RecordRefusedError extends RatestreamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("record_refused", message, options);
    this.name = "RecordRefusedError";
  }
}

/**
 * Redis numbered an account's entry with a seq the ledger already holds: another writer
 * recorded meanwhile. The account is restored from the ledger and the write retried.
 */
export class SequenceConflictError extends RatestreamError {
  constructor(
    readonly accountId: string,
    options?: { cause?: unknown },
  ) {
    super("sequence_conflict", `entry sequence of ${accountId} taken in the ledger`, options);
    this.name = "SequenceConflictError";
  }
}

/**
 * A programming error, not the world's nor the input's: JavaScript's own error types.
 * Never retried silently: logged, counted and alerted on.
 */
export function isBug(err: unknown): boolean {
  return (
    err instanceof TypeError ||
    err instanceof RangeError ||
    err instanceof ReferenceError ||
    err instanceof SyntaxError ||
    err instanceof EvalError ||
    err instanceof URIError
  );
}
