import { pino, type DestinationStream, type Logger } from "pino";
import type { LogLevel } from "../config/env.js";

export type { Logger };

/** Fields that hold a secret wherever they appear (top level or one object down). */
const SECRET_FIELDS = [
  "authorization",
  "apiKey",
  "api_key",
  "token",
  "password",
  "pass",
  "secret",
  "secretKey",
  "stripeSecretKey",
  "STRIPE_SECRET_KEY",
  "card",
  "stripe_payment_method",
  "stripePaymentMethod",
  "paymentMethodId",
  "payment_method",
];
/** Fields that hold a URL whose user:password part must go (SMTP_URL, DATABASE_URL …). */
const URL_FIELDS = ["smtpUrl", "SMTP_URL", "databaseUrl", "DATABASE_URL", "redisUrl", "REDIS_URL", "url"];

const REDACT_PATHS = [
  ...[...SECRET_FIELDS, ...URL_FIELDS].flatMap((f) => [f, `*.${f}`]),
  "headers.authorization",
  "*.headers.authorization",
  "req.headers.authorization",
  "*.headers.cookie",
];

const URL_FIELD_SET = new Set(URL_FIELDS);
/** `scheme://user:password@` → `scheme://user:[redacted]@`. */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):[^\s/@]*@/gi;

export function scrubUrls(text: string): string {
  return text.replace(URL_CREDENTIALS, "$1:[redacted]@");
}

function censor(value: unknown, path: string[]): unknown {
  const field = path.at(-1) ?? "";
  // A URL stays useful in a log (which server?) once its password is gone.
  if (URL_FIELD_SET.has(field) && (typeof value === "string" || value instanceof URL)) {
    return scrubUrls(String(value));
  }
  return "[redacted]";
}

/** Errors keep their message and stack, minus any credentials a client library put in a URL. */
function errSerializer(err: unknown): unknown {
  const serialized = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  for (const field of ["message", "stack"]) {
    if (typeof serialized[field] === "string") serialized[field] = scrubUrls(serialized[field]);
  }
  return serialized;
}

/** JSON logs on stderr (stdout belongs to commands' output); secrets never printed. */
export function createLogger(
  level: LogLevel,
  name = "ratestream",
  destination: DestinationStream = pino.destination(2),
): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: REDACT_PATHS, censor },
      serializers: { err: errSerializer },
    },
    destination,
  );
}
