/**
 * Postgres's errors (node-postgres) in ratestream's vocabulary — the one place that reads
 * SQLSTATEs. A server away or restarting is a DependencyError; a value or constraint
 * Postgres refuses is the record's fault; missing tables mean `migrate` was not run.
 * Anything else is returned as undefined: not known to be Postgres's, so not excused.
 */
import { DependencyError, NotMigratedError, RatestreamError, RecordRefusedError } from "../../errors.js";

/** Node's socket errors: only pg lets them surface raw (ioredis and kafkajs wrap theirs). */
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
]);

/**
 * SQLSTATEs that say the server, not the statement, failed: 08 connection, 53 resources,
 * 57P01-57P03 shutting down / starting, 3D000 no such database, 28 authentication,
 * 40001/40P01 serialization failure or deadlock (retry the transaction), 57014 a
 * statement or idle-in-transaction timeout, 25P03 idle in a transaction too long.
 */
function serverAway(code: string): boolean {
  return (
    code.startsWith("08") ||
    code.startsWith("53") ||
    code.startsWith("28") ||
    ["57P01", "57P02", "57P03", "3D000", "40001", "40P01", "57014", "25P03"].includes(code)
  );
}

/** node-postgres's own messages for a connection lost or never made (they carry no code). */
const CONNECTION_LOST =
  /^Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection terminated unexpectedly/;

export function postgresError(err: unknown): RatestreamError | undefined {
  if (err instanceof RatestreamError) return err;
  const e = err as { code?: unknown; constraint?: string; message?: string } | null;
  const code = typeof e?.code === "string" ? e.code : undefined;
  const message = e?.message ?? String(err);
  if (code !== undefined && (SOCKET_CODES.has(code) || serverAway(code))) {
    return new DependencyError("postgres", `Postgres: ${message}`, { cause: err });
  }
  if (code === undefined && CONNECTION_LOST.test(message)) {
    return new DependencyError("postgres", `Postgres: ${message}`, { cause: err });
  }
  if (code === "42P01") return new NotMigratedError({ cause: err });
  if (code !== undefined && (code.startsWith("22") || code.startsWith("23"))) {
    const constraint = e?.constraint ? ` (constraint ${e.constraint})` : "";
    return new RecordRefusedError(`Postgres refused the record: ${message}${constraint}`, { cause: err });
  }
  return undefined;
}
