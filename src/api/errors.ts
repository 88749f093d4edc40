/**
 * Every error answer is `{"error": {"code": "...", "message": "..."}}` with the status of
 * SPEC §7: 400 body not JSON, 401 no valid key, 403 not this key's, 402 card declined,
 * 409 a state that refuses the request, 422 any other bad body or parameter.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { RatestreamError } from "../errors.js";
import { typedError } from "../adapters/errors.js";
import type { Logger } from "../observability/logger.js";

export type ApiErrorCode =
  | "bad_json"
  | "bad_url"
  | "invalid_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "card_declined"
  | "authentication_required"
  | "no_card"
  | "blocked"
  | "insufficient_credit"
  | "not_available"
  | "number_taken"
  | "call_closed"
  | "recharge_in_progress"
  | "payments_not_configured"
  | "unavailable"
  | "rate_limited"
  | "body_too_large"
  | "internal";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** No body of this API comes near it; a larger one is refused before it is parsed. */
export const BODY_LIMIT_BYTES = 16 * 1024;

export const invalid = (message: string) => new ApiError(422, "invalid_request", message);

export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/** The documented shape of every error answer. */
export const ERROR_SCHEMA = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: { type: "string" }, message: { type: "string" } },
    },
  },
} as const;

interface AjvIssue {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/** "body.amount must be string", "body: unknown field \"x\"", "querystring.to: …" — naming the field. */
export function describeValidation(context: string, issue: AjvIssue): string {
  const path = issue.instancePath.replace(/^\//, "").replaceAll("/", ".");
  const where = path === "" ? context : `${context}.${path}`;
  switch (issue.keyword) {
    case "additionalProperties":
      return `${where}: unknown field "${String(issue.params.additionalProperty)}"`;
    case "required":
      return `${where}.${String(issue.params.missingProperty)} is required`;
    case "pattern":
    case "format":
      return `${where} is not in the expected format${patternHint(where)}`;
    default:
      return `${where} ${issue.message ?? "is invalid"}`;
  }
}

const HINTS: [RegExp, string][] = [
  [/\.id$/, " (1 to 64 of A-Z a-z 0-9 _ -)"],
  [/\.(to|number)$/, " (E.164: + and 1 to 15 digits)"],
  [/\.(amount|monthly_limit)$/, ' (a decimal such as "10.00")'],
  [/\.stripe_payment_method$/, ' (a Stripe payment method id, "pm_…")'],
  [/\.limit$/, " (a whole number from 1 to 500)"],
];

function patternHint(where: string): string {
  return HINTS.find(([re]) => re.test(where))?.[1] ?? "";
}

/** Errors fastify raises before routing (a URL that does not decode): the same error body. */
export function frameworkError(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  void reply.code(400).send(errorBody("bad_url", `the URL is not valid: ${err.message}`));
}

export function installErrorHandling(app: FastifyInstance, logger: Logger): void {
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody("not_found", `no route ${request.method} ${request.url.split("?")[0]}`)),
  );
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { status, code, message } = classify(err, request.body);
    // The API's own refusals are answers, not incidents; a dependency failing or a bug is.
    if (status >= 500 && !(err instanceof ApiError)) {
      logger[status === 500 ? "error" : "warn"](
        { err, url: request.url, method: request.method },
        "API request failed",
      );
    }
    return reply.code(status).send(errorBody(code, message));
  });
}

function classify(err: FastifyError, body: unknown): { status: number; code: string; message: string } {
  if (err instanceof ApiError) return { status: err.status, code: err.code, message: err.message };
  if (err.validation) {
    const context = err.validationContext ?? "request";
    // No body at all is "not JSON" rather than a JSON body of the wrong shape.
    if (context === "body" && body === undefined) {
      return { status: 400, code: "bad_json", message: "the body must be a JSON object" };
    }
    return {
      status: 422,
      code: "invalid_request",
      message: describeValidation(context, err.validation[0] as AjvIssue),
    };
  }
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return {
        status: 413,
        code: "body_too_large",
        message: `the body is larger than ${BODY_LIMIT_BYTES} bytes`,
      };
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return { status: 400, code: "bad_json", message: `the body is not JSON: ${err.message}` };
  }
  if (err instanceof SyntaxError && err.statusCode === 400) {
    return { status: 400, code: "bad_json", message: `the body is not JSON: ${err.message}` };
  }
  if (err instanceof RatestreamError) {
    if (err.retryable) return { status: 503, code: "unavailable", message: err.message };
    return { status: 422, code: "invalid_request", message: err.message };
  }
  // A client's error from deep inside an adapter (a pg query, an ioredis command), as
  // the adapter reads it: a server away is the client's cue to retry, it did nothing wrong.
  const typed = typedError(err);
  if (typed instanceof RatestreamError && typed.retryable) {
    return { status: 503, code: "unavailable", message: "a server ratestream needs is unavailable; retry" };
  }
  if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) {
    return { status: err.statusCode, code: "invalid_request", message: err.message };
  }
  return { status: 500, code: "internal", message: "internal error (logged)" };
}
