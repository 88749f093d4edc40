import type pg from "pg";
import { loadConfig } from "../config/env.js";
import { DependencyError, RatestreamError } from "../errors.js";
import { postgresError } from "../adapters/postgres/errors.js";
import { createPool } from "../adapters/postgres/pool.js";

/**
 * Runs a command's work with a Postgres pool from DATABASE_URL; Postgres's errors leave
 * as the adapter reads them (postgres/errors.ts): "cannot reach" names the server
 * (password hidden), "not migrated" says to run `ratestream migrate` (both exit 2).
 */
export async function withDatabase<T>(work: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const config = loadConfig(process.env);
  const pool = createPool(config.databaseUrl, { max: 2 });
  try {
    return await work(pool);
  } catch (err) {
    if (err instanceof RatestreamError) throw err; // already read (Redis in context.ts …)
    const typed = postgresError(err);
    if (typed instanceof DependencyError) {
      const where = new URL(config.databaseUrl);
      where.password = "";
      throw new DependencyError(
        "postgres",
        `cannot use Postgres at ${where.href}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    throw typed ?? err;
  } finally {
    await pool.end();
  }
}
