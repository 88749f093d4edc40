import { ConfigError } from "../errors.js";

/** Validated settings; read once at start-up, then passed down. */
export interface Config {
  kafkaBrokers: string[];
  schemaRegistryUrl: string;
  redisUrl: string;
  databaseUrl: string;
  httpPort: number;
  stripeSecretKey: string | undefined;
  stripeApiBase: URL | undefined;
  smtpUrl: URL | undefined;
  /** The From of the notify-worker's emails. */
  smtpFrom: string;
  logLevel: LogLevel;
  /** Requests per second each API key may make (unauthenticated ones: per client IP). */
  apiRateLimitPerSecond: number;
  /** Call sessions (SPEC §8). */
  calls: { quotaSeconds: number; graceSeconds: number; cdrWaitSeconds: number };
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The HTTP port each long-running command listens on unless HTTP_PORT says otherwise. */
export const DEFAULT_HTTP_PORTS = { run: 8080, "recharge-worker": 9101, "notify-worker": 9102 } as const;

export const DEFAULTS = {
  KAFKA_BROKERS: "127.0.0.1:9092",
  SCHEMA_REGISTRY_URL: "http://127.0.0.1:8081/apis/ccompat/v7",
  REDIS_URL: "redis://127.0.0.1:6379",
  DATABASE_URL: "postgres://postgres@127.0.0.1:5432/ratestream",
  LOG_LEVEL: "info",
  SMTP_FROM: "ratestream billing <billing@ratestream.local>",
  // Generous for a switch asking before every call; a runaway client still meets a wall.
  API_RATE_LIMIT_PER_S: 1000,
  CALL_QUOTA_SECONDS: 300,
  CALL_GRACE_SECONDS: 60,
  CALL_CDR_WAIT_SECONDS: 3600,
} as const;

type Env = Record<string, string | undefined>;

/**
 * Reads the environment of SPEC §6. An empty variable counts as unset. Any bad value
 * throws a ConfigError naming the variable, so start-up stops before touching a server.
 */
export function loadConfig(env: Env, options: { httpPortDefault?: number } = {}): Config {
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === "" ? undefined : value;
  };
  return {
    kafkaBrokers: parseBrokers(read("KAFKA_BROKERS") ?? DEFAULTS.KAFKA_BROKERS),
    schemaRegistryUrl: parseUrl(
      "SCHEMA_REGISTRY_URL",
      read("SCHEMA_REGISTRY_URL") ?? DEFAULTS.SCHEMA_REGISTRY_URL,
      ["http:", "https:"],
    ).href.replace(/\/$/, ""),
    redisUrl: parseUrl("REDIS_URL", read("REDIS_URL") ?? DEFAULTS.REDIS_URL, ["redis:", "rediss:"]).href,
    databaseUrl: parseUrl("DATABASE_URL", read("DATABASE_URL") ?? DEFAULTS.DATABASE_URL, [
      "postgres:",
      "postgresql:",
    ]).href,
    httpPort: parsePort("HTTP_PORT", read("HTTP_PORT"), options.httpPortDefault ?? DEFAULT_HTTP_PORTS.run),
    stripeSecretKey: parseStripeKey(read("STRIPE_SECRET_KEY")),
    stripeApiBase: optionalUrl("STRIPE_API_BASE", read("STRIPE_API_BASE"), ["http:", "https:"]),
    smtpUrl: optionalUrl("SMTP_URL", read("SMTP_URL"), ["smtp:", "smtps:"]),
    smtpFrom: parseMailbox("SMTP_FROM", read("SMTP_FROM") ?? DEFAULTS.SMTP_FROM),
    logLevel: parseLogLevel(read("LOG_LEVEL") ?? DEFAULTS.LOG_LEVEL),
    apiRateLimitPerSecond: parseRate("API_RATE_LIMIT_PER_S", read("API_RATE_LIMIT_PER_S")),
    calls: {
      quotaSeconds: parseSeconds(
        "CALL_QUOTA_SECONDS",
        read("CALL_QUOTA_SECONDS"),
        DEFAULTS.CALL_QUOTA_SECONDS,
        1,
        86_400,
      ),
      graceSeconds: parseSeconds(
        "CALL_GRACE_SECONDS",
        read("CALL_GRACE_SECONDS"),
        DEFAULTS.CALL_GRACE_SECONDS,
        0,
        86_400,
      ),
      cdrWaitSeconds: parseSeconds(
        "CALL_CDR_WAIT_SECONDS",
        read("CALL_CDR_WAIT_SECONDS"),
        DEFAULTS.CALL_CDR_WAIT_SECONDS,
        1,
        604_800,
      ),
    },
  };
}

function parseBrokers(value: string): string[] {
  const brokers = value.split(",").map((b) => b.trim());
  for (const broker of brokers) {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(broker);
    if (!match || !isPort(Number(match[2]))) {
      throw new ConfigError(
        "KAFKA_BROKERS",
        `"${broker}" is not host:port (a comma-separated list is allowed)`,
      );
    }
  }
  return brokers;
}

function parseUrl(variable: string, value: string, protocols: string[]): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, `"${value}" is not a URL`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(variable, `"${url.protocol}" is not one of ${protocols.join(", ")}`);
  }
  return url;
}

function optionalUrl(variable: string, value: string | undefined, protocols: string[]): URL | undefined {
  return value === undefined ? undefined : parseUrl(variable, value, protocols);
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 65535;
}

function parsePort(variable: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!isPort(port)) throw new ConfigError(variable, `"${value}" is not a port number (0-65535)`);
  return port;
}

function parseRate(variable: string, value: string | undefined): number {
  if (value === undefined) return DEFAULTS.API_RATE_LIMIT_PER_S;
  const rate = /^\d{1,7}$/.test(value) ? Number(value) : NaN;
  if (!(rate >= 1 && rate <= 1_000_000)) {
    throw new ConfigError(variable, `"${value}" is not a whole number of requests per second (1-1000000)`);
  }
  return rate;
}

/** Whole seconds from min to max. */
function parseSeconds(
  variable: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const seconds = /^\d{1,7}$/.test(value) ? Number(value) : NaN;
  if (!(seconds >= min && seconds <= max)) {
    throw new ConfigError(variable, `"${value}" is not a whole number of seconds from ${min} to ${max}`);
  }
  return seconds;
}

function parseStripeKey(value: string | undefined): string | undefined {
  if (value !== undefined && !/^(sk|rk)_(test|live)_[A-Za-z0-9]+$/.test(value)) {
    // Never echo the value: it is a secret.
    throw new ConfigError("STRIPE_SECRET_KEY", "is not a Stripe secret key (sk_test_…, sk_live_… or rk_…)");
  }
  return value;
}

const ADDRESS = "[^<>@\\s]+@[^<>@\\s]+\\.[^<>@\\s]+";
const MAILBOX = new RegExp(`^(?:${ADDRESS}|[^<>@]*<${ADDRESS}>)$`);

/** "name@host.tld" or "Display Name <name@host.tld>". */
function parseMailbox(variable: string, value: string): string {
  if (!MAILBOX.test(value)) {
    throw new ConfigError(variable, `"${value}" is not an email address ("name@host" or "Name <name@host>")`);
  }
  return value;
}

function parseLogLevel(value: string): LogLevel {
  const level = LOG_LEVELS.find((l) => l === value);
  if (!level) throw new ConfigError("LOG_LEVEL", `"${value}" is not one of ${LOG_LEVELS.join(", ")}`);
  return level;
}
