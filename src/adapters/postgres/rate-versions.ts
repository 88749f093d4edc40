/**
 * Rate deck versions in Postgres: import a complete set of decks as a new immutable
 * version, read the newest back as a RateTable. Deck texts are validated before they
 * are stored, so a stored version always parses.
 */
import { createHash } from "node:crypto";
import type pg from "pg";
import { parseDeckSet, type DeckSet } from "../../core/decks/deck-set.js";
import { buildRateTable, type RateTable } from "../../core/rating/rate-table.js";

export type { DeckSet };

export interface ImportResult {
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

export async function importDeckSet(pool: pg.Pool, set: DeckSet): Promise<ImportResult> {
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
    // One import at a time, so "same as the newest" is decided against a stable newest.
    await client.query("select pg_advisory_xact_lock($1)", [IMPORT_LOCK_KEY]);
    const newest = await client.query<{ version: string; checksum: string }>(
      "select version, checksum from rate_versions order by version desc limit 1",
    );
    const latest = newest.rows[0];
    if (latest?.checksum === checksum) {
      await client.query("commit");
      return { version: Number(latest.version), created: false, checksum, rows };
    }
    const inserted = await client.query<{ version: string }>(
      `insert into rate_versions (checksum, rates_file, rates_csv, surcharges_file, surcharges_csv,
         numbers_file, numbers_csv, rate_rows, surcharge_rows, number_rows)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning version`,
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
      ],
    );
    await client.query("commit");
    return { version: Number(inserted.rows[0]!.version), created: true, checksum, rows };
  } catch (err) {
    await client.query("rollback").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export async function newestVersion(pool: pg.Pool): Promise<number | undefined> {
  const { rows } = await pool.query<{ version: string | null }>(
    "select max(version) as version from rate_versions",
  );
  return rows[0]?.version == null ? undefined : Number(rows[0].version);
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

/** Reads one stored version (the newest by default) as an indexed RateTable. */
export async function loadRateTable(pool: pg.Pool, version?: number): Promise<RateTable | undefined> {
  const { rows } = await pool.query<VersionRow>(
    `select version, rates_file, rates_csv, surcharges_file, surcharges_csv, numbers_file, numbers_csv
       from rate_versions ${version === undefined ? "" : "where version = $1"}
      order by version desc limit 1`,
    version === undefined ? [] : [version],
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
  return buildRateTable(decks, Number(row.version));
}
