import pg from "pg";

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
  });
  // A connection dying (Postgres restarting) must not crash the process. An idle client's
  // error reaches the pool, which drops the client; a checked-out client (inside a
  // transaction) emits it on itself, and its pending or next query fails and is retried.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  return pool;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
