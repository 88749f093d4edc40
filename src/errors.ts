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
  | "dependency_unavailable";

const RETRYABLE: ReadonlySet<ErrorCode> = new Set(["dependency_unavailable"]);

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
