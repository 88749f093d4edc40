/**
 * One error type for the whole project, with a closed list of codes. `retryable` says
 * whether the failure is the world's (a server away: back off and retry) or the
 * input's (dead-letter it); callers decide from this flag and nowhere else.
 *
 * Adapters speak this vocabulary: a server's own errors (ioredis, kafkajs, pg, …) are
 * turned into these by one function per adapter (`adapters/<name>/errors.ts`), composed
 * in `adapters/errors.ts`; the pipeline, workers, API and CLI read only these.
 */
export type ErrorCode =
  | "bad_config"
  | "bad_usage"
  | "bad_deck"
  | "not_migrated"
  | "dependency_unavailable"
  | "record_refused"
  | "sequence_conflict";

/** The servers ratestream depends on: the `dependency` label of ratestream_dependency_errors_total. */
export type Dependency = "kafka" | "redis" | "postgres" | "registry" | "smtp" | "stripe";

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

/**
 * A server ratestream needs is away or failing (refused, reset, timed out, restarting):
 * nobody's fault, retried with backoff. `dependency` names the server.
 */
export class DependencyError extends RatestreamError {
  constructor(
    readonly dependency: Dependency,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("dependency_unavailable", message, options);
    this.name = "DependencyError";
  }
}

/** Postgres answers, but the tables are not there: `ratestream migrate` was not run. */
export class NotMigratedError extends RatestreamError {
  constructor(options?: { cause?: unknown }) {
    super("not_migrated", "the database is not migrated: run `ratestream migrate` first", options);
    this.name = "NotMigratedError";
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

/** The `dependency` label of ratestream_dependency_errors_total for a retryable failure. */
export function dependencyLabel(err: RatestreamError): string {
  return err instanceof DependencyError ? err.dependency : err.code;
}
