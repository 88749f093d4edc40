import pg from "pg";

/**
 * How long Postgres lets a session sit idle inside a transaction before it ends it. Our
 * transactions send their statements back to back, so only a stalled process (SIGSTOP, a
 * frozen VM, a partitioned host whose socket stays open) idles in one; meanwhile its
 * uncommitted rows hold the unique-index entries that another rater's insert of the same
 * entries waits on. Shorter than a consumer session (30 s) so a zombie's locks are gone
 * about when its partitions move; far longer than any pause of a live process.
 */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000;

/**
 * A Postgres pool. `schema` sets the search_path of every connection so tests can
 * give each suite its own schema on one shared database.
 */
export function createPool(databaseUrl: string, options: { schema?: string; max?: number } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    connectionTimeoutMillis: 10_000,
    options: options.schema ? `-c search_path=${quoteIdent(options.schema)}` : undefined,
    application_name: "ratestream",
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
  });
  // A connection dying (Postgres restarting) must not crash the process. An idle client's
  // error reaches the pool, which drops the client; a checked-out client (inside a
  // transaction) emits it on itself, and its pending or next query fails and is retried.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  return pool;
}

/** A health check: Postgres answers a statement. */
export async function pingPostgres(pool: pg.Pool): Promise<void> {
  await pool.query("select 1");
}

/** The server's version, for `ratestream check`. */
export async function serverVersion(pool: pg.Pool): Promise<string | undefined> {
  const { rows } = await pool.query<{ version: string }>(
    "select current_setting('server_version') as version",
  );
  return rows[0]?.version;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
