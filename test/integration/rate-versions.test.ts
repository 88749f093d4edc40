/** Rate deck versions in the real Postgres: migrate, import, immutability, hot switch. */
import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { listMigrations, migrate } from "../../src/adapters/postgres/migrate.js";
import { importDeckSet, loadRateTable, type DeckSet } from "../../src/adapters/postgres/rate-versions.js";
import { RateTableWatcher } from "../../src/adapters/postgres/rate-table-watcher.js";
import { DeckError } from "../../src/core/decks/deck-error.js";
import { rateCdr } from "../../src/core/rating/rate.js";
import { ratestream } from "../support/cli.js";
import { cdr, rateDeck } from "../support/decks.js";
import { config, Scope, testLogger } from "../support/services.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

async function migrated() {
  const db = await scope.postgres();
  await migrate(db.pool);
  return db;
}

const sampleSet = async (): Promise<DeckSet> => ({
  rates: { file: "rates.csv", text: await readFile("rates/rates.csv", "utf8") },
  surcharges: { file: "surcharges.csv", text: await readFile("rates/surcharges.csv", "utf8") },
  numbers: { file: "numbers.csv", text: await readFile("rates/numbers.csv", "utf8") },
});

const deckV = (rate: string): DeckSet => ({
  rates: { file: "rates.csv", text: rateDeck(`44,UK,outbound,${rate},0,60,60,2026-01-01`) },
});

async function versionCount(pool: import("pg").Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>("select count(*) as n from rate_versions");
  return Number(rows[0]!.n);
}

describe("migrate", () => {
  it("applies each migration once, also when run concurrently", async () => {
    const { pool } = await scope.postgres();
    const runs = await Promise.all([migrate(pool), migrate(pool), migrate(pool)]);
    const all = (await listMigrations()).map((m) => m.version);
    expect(all.slice(0, 2)).toEqual([1, 2]);
    expect(
      runs
        .flat()
        .map((m) => m.version)
        .sort((a, b) => a - b), // numerically: from 10 on, the default order puts 10 before 2
    ).toEqual(all);
    expect(await migrate(pool)).toEqual([]);
  });
});

describe("rates import", () => {
  it("stores a new version; the same content again changes nothing; any change is a new version", async () => {
    const { pool } = await migrated();
    const first = await importDeckSet(pool, await sampleSet());
    expect(first).toMatchObject({
      version: 1,
      created: true,
      rows: { rates: 51, surcharges: 6, numbers: 14 },
    });
    expect(await importDeckSet(pool, await sampleSet())).toMatchObject({ version: 1, created: false });

    const changed = await importDeckSet(pool, deckV("0.02"));
    expect(changed).toMatchObject({ version: 2, created: true });
    // Going back to the first decks replaces the newest: a new version, not a no-op.
    expect(await importDeckSet(pool, await sampleSet())).toMatchObject({ version: 3, created: true });
    expect(await versionCount(pool)).toBe(3);
  });

  it("rejects a deck set with any bad row whole: nothing is stored", async () => {
    const { pool } = await migrated();
    const bad: DeckSet = {
      rates: {
        file: "r.csv",
        text: rateDeck("44,UK,outbound,0.01,0,60,60,2026-01-01", "33,FR,outbound,x,0,60,60,2026-01-01"),
      },
    };
    await expect(importDeckSet(pool, bad)).rejects.toBeInstanceOf(DeckError);
    expect(await versionCount(pool)).toBe(0);
  });

  it("keeps versions immutable", async () => {
    const { pool } = await migrated();
    await importDeckSet(pool, deckV("0.01"));
    await expect(pool.query("update rate_versions set rates_csv = 'x'")).rejects.toThrow(/immutable/);
    await expect(pool.query("delete from rate_versions")).rejects.toThrow(/immutable/);
  });

  it("reads a version back; a rating names the version and the deck row", async () => {
    const { pool } = await migrated();
    await importDeckSet(pool, deckV("0.01"));
    await importDeckSet(pool, await sampleSet());
    const table = await loadRateTable(pool);
    const outcome = rateCdr(table!, cdr({ to: "+442071234567", duration_seconds: 60 }));
    expect(outcome).toMatchObject({
      ok: true,
      chargeMicros: 12_000n,
      version: 2,
      rate: { prefix: "4420", file: "rates.csv", line: 14 },
    });
    expect((await loadRateTable(pool, 1))?.version).toBe(1);
  });

  it("works through the real binary, with DATABASE_URL naming the schema", async () => {
    const { pool, schema } = await migrated();
    const url = `${config.databaseUrl}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const args = [
      "rates",
      "import",
      "--rates",
      "rates/rates.csv",
      "--surcharges",
      "rates/surcharges.csv",
      "--numbers",
      "rates/numbers.csv",
    ];
    const first = await ratestream(args, { env: { DATABASE_URL: url } });
    expect(first.stderr).toBe("");
    expect(JSON.parse(first.stdout)).toMatchObject({ version: 1, created: true });
    const again = await ratestream(args, { env: { DATABASE_URL: url } });
    expect(JSON.parse(again.stdout)).toMatchObject({ version: 1, created: false });
    expect(await versionCount(pool)).toBe(1);

    const bad = await ratestream(["rates", "import", "--rates", "rates/surcharges.csv"], {
      env: { DATABASE_URL: url },
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/rates\/surcharges\.csv:1:1: unknown column "feature"/);
    expect(await versionCount(pool)).toBe(1);
  });

  it("tells the user to migrate first", async () => {
    const { schema } = await scope.postgres();
    const url = `${config.databaseUrl}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const result = await ratestream(["rates", "import", "--rates", "rates/rates.csv"], {
      env: { DATABASE_URL: url },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("run `ratestream migrate` first");
  });
});

describe("a running rater's rate table", () => {
  it("switches to a newly imported version without a restart, and ignores other schemas' imports", async () => {
    const { pool } = await migrated();
    const other = await migrated();
    await importDeckSet(pool, deckV("0.01"));
    const changes: number[] = [];
    const watcher = new RateTableWatcher({
      pool,
      databaseUrl: config.databaseUrl,
      logger: testLogger,
      pollIntervalMs: 60_000, // long: the switch must come from the notification
      onChange: (t) => changes.push(t.version!),
    });
    scope.defer(() => watcher.stop());
    await watcher.start();
    expect(watcher.current()?.version).toBe(1);

    await importDeckSet(other.pool, deckV("0.05"));
    await importDeckSet(other.pool, deckV("0.06"));
    await importDeckSet(pool, deckV("0.02"));
    await expect.poll(() => watcher.current()?.version, { timeout: 5_000 }).toBe(2);
    const outcome = rateCdr(watcher.current()!, cdr({ to: "+442071234567", duration_seconds: 60 }));
    expect(outcome).toMatchObject({ ok: true, chargeMicros: 20_000n, version: 2 });
    expect(changes).toEqual([1, 2]);
  });
});
