/**
 * Rate deck versions in Postgres: import a complete set of decks as a new immutable
 * version of a plan (SPEC §10), read the newest back as a RateTable. Versions are
 * numbered per plan. Deck texts are validated before they are stored, so a stored
 * version always parses.
 */
import { createHash } from "node:crypto";
import type pg from "pg";
import { parseDeckSet, type DeckSet } from "../../core/decks/deck-set.js";
import { buildRateTable, type RateTable } from "../../core/rating/rate-table.js";
import { RatestreamError } from "../../errors.js";

export type { DeckSet };

/** The plan of every account and version that existed before plans (migration 008). */
export const DEFAULT_PLAN = "default";
const PLAN_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** Checks a plan name (SPEC §10); throws bad_usage naming what is wrong. */
export function checkPlanName(plan: string): string {
  if (!PLAN_NAME.test(plan)) {
    throw new RatestreamError(
      "bad_usage",
      `plan "${plan}": a plan name is 1-32 of a-z 0-9 _ -, starting with a letter or digit`,
    );
  }
  return plan;
}

export interface ImportResult {
  plan: string;
  version: number;
  /** False when the decks equal the newest version's: nothing was stored. */
  created: boolean;
  checksum: string;
  rows: { rates: number; surcharges: number; numbers: number };
}

/** sha256 over the three deck texts (an absent deck differs from an empty one). */
export function deckSetChecksum(set: DeckSet): string {
  const hash = createHash("sha256");
  for (const part of [set.rates, set.surcharges, set.numbers]) {
    hash.update(
      part === undefined ? "\u0000absent\u0000" : `\u0000${Buffer.byteLength(part.text)}\u0000${part.text}`,
    );
  }
  return hash.digest("hex");
}

const IMPORT_LOCK_KEY = 7_422_002;

export async function importDeckSet(
  pool: pg.Pool,
  set: DeckSet,
  plan: string = DEFAULT_PLAN,
): Promise<ImportResult> {
  checkPlanName(plan);
  const decks = parseDeckSet(set);
  const rows = {
    rates: decks.rates.length,
    surcharges: decks.surcharges?.length ?? 0,
    numbers: decks.numbers?.length ?? 0,
  };
  const checksum = deckSetChecksum(set);
  const client = await pool.connect();
  try {
    await client.query("begin");
    // One import at a time, so "same as the newest" and the plan's next number are
    // decided against a stable newest.
    await client.query("select pg_advisory_xact_lock($1)", [IMPORT_LOCK_KEY]);
    await client.query("insert into rate_plans (plan) values ($1) on conflict (plan) do nothing", [plan]);
    const newest = await client.query<{ version: string; checksum: string }>(
      "select version, checksum from rate_versions where plan = $1 order by version desc limit 1",
      [plan],
    );
    const latest = newest.rows[0];
    if (latest?.checksum === checksum) {
      await client.query("commit");
      return { plan, version: Number(latest.version), created: false, checksum, rows };
    }
    const next = latest === undefined ? 1 : Number(latest.version) + 1;
    const inserted = await client.query<{ version: string }>(
      `insert into rate_versions (plan, version, checksum, rates_file, rates_csv, surcharges_file,
         surcharges_csv, numbers_file, numbers_csv, rate_rows, surcharge_rows, number_rows)
       values ($11, $12, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning version`,
      [
        checksum,
        set.rates.file,
        set.rates.text,
        set.surcharges?.file ?? null,
        set.surcharges?.text ?? null,
        set.numbers?.file ?? null,
        set.numbers?.text ?? null,
        rows.rates,
        rows.surcharges,
        rows.numbers,
        plan,
        next,
      ],
    );
    await client.query("commit");
    return { plan, version: Number(inserted.rows[0]!.version), created: true, checksum, rows };
  } catch (err) {
    await client.query("rollback").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export async function newestVersion(pool: pg.Pool, plan: string = DEFAULT_PLAN): Promise<number | undefined> {
  const { rows } = await pool.query<{ version: string | null }>(
    "select max(version) as version from rate_versions where plan = $1",
    [plan],
  );
  return rows[0]?.version == null ? undefined : Number(rows[0].version);
}

/** The newest version of every plan that has one. */
export async function newestVersions(pool: pg.Pool): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ plan: string; version: string }>(
    "select plan, max(version) as version from rate_versions group by plan",
  );
  return new Map(rows.map((r) => [r.plan, Number(r.version)]));
}

export interface PlanSummary {
  plan: string;
  /** null: the plan has no version yet (only `default` on a fresh database). */
  version: number | null;
  imported_at: string | null;
  rows: { rates: number; surcharges: number; numbers: number } | null;
  accounts: number;
}

/** `rates list`: every plan with its newest version, row counts, import time and accounts. */
export async function listPlans(pool: pg.Pool): Promise<PlanSummary[]> {
  const { rows } = await pool.query<{
    plan: string;
    version: string | null;
    imported_at: Date | null;
    rate_rows: number | null;
    surcharge_rows: number | null;
    number_rows: number | null;
    accounts: string;
  }>(
    `select p.plan, v.version, v.imported_at, v.rate_rows, v.surcharge_rows, v.number_rows,
            (select count(*) from accounts a where a.plan = p.plan) as accounts
       from rate_plans p
       left join lateral (select * from rate_versions r where r.plan = p.plan
                           order by r.version desc limit 1) v on true
      order by p.plan`,
  );
  return rows.map((r) => ({
    plan: r.plan,
    version: r.version === null ? null : Number(r.version),
    imported_at: r.imported_at?.toISOString() ?? null,
    rows:
      r.version === null
        ? null
        : { rates: r.rate_rows ?? 0, surcharges: r.surcharge_rows ?? 0, numbers: r.number_rows ?? 0 },
    accounts: Number(r.accounts),
  }));
}

interface VersionRow {
  version: string;
  rates_file: string;
  rates_csv: string;
  surcharges_file: string | null;
  surcharges_csv: string | null;
  numbers_file: string | null;
  numbers_csv: string | null;
}

/** Reads one stored version of a plan (the newest by default) as an indexed RateTable. */
export async function loadRateTable(
  pool: pg.Pool,
  version?: number,
  plan: string = DEFAULT_PLAN,
): Promise<RateTable | undefined> {
  const { rows } = await pool.query<VersionRow>(
    `select version, rates_file, rates_csv, surcharges_file, surcharges_csv, numbers_file, numbers_csv
       from rate_versions where plan = $1 ${version === undefined ? "" : "and version = $2"}
      order by version desc limit 1`,
    version === undefined ? [plan] : [plan, version],
  );
  const row = rows[0];
  if (!row) return undefined;
  const part = (file: string | null, text: string | null) =>
    file !== null && text !== null ? { file, text } : undefined;
  const decks = parseDeckSet({
    rates: { file: row.rates_file, text: row.rates_csv },
    surcharges: part(row.surcharges_file, row.surcharges_csv),
    numbers: part(row.numbers_file, row.numbers_csv),
  });
  return buildRateTable(decks, Number(row.version), plan);
}
