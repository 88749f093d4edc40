/**
 * Numbered SQL migrations (`migrations/NNN_name.sql`), applied in order, each in its
 * own transaction, recorded in schema_migrations. An advisory lock lets several
 * processes run `migrate` at once without applying anything twice.
 */
import { readdir, readFile } from "node:fs/promises";
import type pg from "pg";
import { transaction } from "./transaction.js";

const MIGRATIONS_DIR = new URL("./migrations/", import.meta.url);
const LOCK_KEY = 7_422_001; // arbitrary, fixed: "ratestream migrations"

export interface AppliedMigration {
  version: number;
  name: string;
}

export async function listMigrations(): Promise<{ version: number; name: string; file: URL }[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return files.map((f) => ({
    version: Number(f.slice(0, 3)),
    name: f.slice(4, -4),
    file: new URL(f, MIGRATIONS_DIR),
  }));
}

/** Applies every migration not yet applied; returns those it applied. */
export async function migrate(pool: pg.Pool): Promise<AppliedMigration[]> {
  const client = await pool.connect();
  const applied: AppliedMigration[] = [];
  try {
    await client.query("select pg_advisory_lock($1)", [LOCK_KEY]);
    await client.query(`create table if not exists schema_migrations (
      version integer primary key,
      name text not null,
      applied_at timestamptz not null default now()
    )`);
    const { rows } = await client.query<{ version: number }>("select version from schema_migrations");
    const done = new Set(rows.map((r) => r.version));
    for (const migration of await listMigrations()) {
      if (done.has(migration.version)) continue;
      const sql = await readFile(migration.file, "utf8");
      try {
        await transaction(client, async () => {
          await client.query(sql);
          await client.query("insert into schema_migrations (version, name) values ($1, $2)", [
            migration.version,
            migration.name,
          ]);
        });
      } catch (err) {
        throw new Error(
          `migration ${migration.version}_${migration.name} failed: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      applied.push({ version: migration.version, name: migration.name });
    }
  } finally {
    await client.query("select pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => undefined);
    client.release();
  }
  return applied;
}
