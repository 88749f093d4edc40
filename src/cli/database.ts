import type pg from "pg";
import { loadConfig } from "../config/env.js";
import { RatestreamError } from "../errors.js";
import { createPool } from "../adapters/postgres/pool.js";

/**
 * Runs a command's work with a Postgres pool from DATABASE_URL, and turns "cannot
 * reach" and "not migrated" into messages a user can act on (exit 2).
 */
export async function withDatabase<T>(work: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const config = loadConfig(process.env);
  const pool = createPool(config.databaseUrl, { max: 2 });
  try {
    return await work(pool);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "42P01") {
      throw new RatestreamError("bad_usage", "the database is not migrated: run `ratestream migrate` first", {
        cause: err,
      });
    }
    if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "3D000" || code === "28P01") {
      const where = new URL(config.databaseUrl);
      where.password = "";
      throw new RatestreamError(
        "dependency_unavailable",
        `cannot use Postgres at ${where.href}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    throw err;
  } finally {
    await pool.end();
  }
}
