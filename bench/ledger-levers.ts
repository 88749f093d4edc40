/**
 * bench:ledger-levers — the ledger write's levers (issue 16), each measured alone in one
 * sitting against the write as it was before them (migration 009), on the same rows.
 *
 *   npm run bench:ledger-levers [-- --rows 150000 --batch 10000 --writers 3 --runs 3 --only "a;b"]
 *
 * Every variant is the rater's whole transaction for a batch of call entries: begin,
 * the entries' insert with its unique (account, key) dedupe, the chain check (an
 * account's first entry in the batch against the ledger), commit; each is measured
 * again with the write path's dedupe read before it. The last variant is the adapter
 * itself. Variants run round-robin (one run of each, then again), each on a fresh
 * schema, so the machine's drift spreads over all of them. Postgres's CPU per row is
 * read from /proc alongside. Needs only Postgres (DATABASE_URL).
 */
import { parseArgs } from "node:util";
import type pg from "pg";
import { loadConfig } from "../src/config/env.js";
import { migrate } from "../src/adapters/postgres/migrate.js";
import { createPool, quoteIdent } from "../src/adapters/postgres/pool.js";
import { PostgresLedger } from "../src/adapters/postgres/ledger.js";
import type { Applied } from "../src/balances/types.js";
import { prng, zipfSampler } from "../src/tools/cdr-generator.js";
import { cpuDelta, cpuSeconds } from "./lib/cpu.js";
import { machine, median } from "./lib/report.js";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "200000" },
    batch: { type: "string", default: "1000" },
    writers: { type: "string", default: "3" },
    runs: { type: "string", default: "3" },
    accounts: { type: "string", default: "10000" },
    only: { type: "string" },
  },
});
const settings = {
  rows: Number(values.rows),
  batch: Number(values.batch),
  writers: Number(values.writers),
  runs: Number(values.runs),
  accounts: Number(values.accounts),
};

interface Row {
  account: string;
  seq: bigint;
  key: string;
  amount: bigint;
  before: bigint;
  after: bigint;
  cdrId: string;
  details: { plan: string; billed_seconds: number; prefix: string; rate_effective_from: string };
}

interface Variant {
  name: string;
  /** Changes to the freshly migrated schema before the run. */
  prepare?: (client: pg.PoolClient) => Promise<void>;
  write: (client: pg.PoolClient, rows: Row[], at: Date) => Promise<void>;
  /** Writes through the pool in a transaction of its own (the adapter). */
  writeAlone?: (pool: pg.Pool, rows: Row[], at: Date) => Promise<void>;
}

const AS_IS_INSERT = `
  insert into ledger_entries (account_id, seq, idempotency_key, kind, amount_micros, balance_after_micros,
    currency, rate_version, cdr_id, reference, details, created_at)
  select v.account_id, v.seq, v.key, v.kind, v.amount, v.after, a.currency, v.rate_version, v.cdr_id,
    v.reference, v.details::jsonb, $11
  from unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[],
    $8::text[], $9::text[], $10::text[]) as v(account_id, seq, key, kind, amount, after, rate_version,
    cdr_id, reference, details)
  join accounts a using (account_id)
  order by v.account_id, v.seq
  on conflict (account_id, idempotency_key) do nothing
  returning account_id, idempotency_key`;

const NO_JOIN_INSERT = `
  insert into ledger_entries (account_id, seq, idempotency_key, kind, amount_micros, balance_after_micros,
    currency, rate_version, cdr_id, reference, details, created_at)
  select v.account_id, v.seq, v.key, v.kind, v.amount, v.after, v.currency, v.rate_version, v.cdr_id,
    v.reference, v.details::jsonb, $12
  from unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[],
    $8::text[], $9::text[], $10::text[], $11::text[]) as v(account_id, seq, key, kind, amount, after, rate_version,
    cdr_id, reference, details, currency)
  order by v.account_id, v.seq
  on conflict (account_id, idempotency_key) do nothing
  returning account_id, idempotency_key`;

const TYPED_INSERT = `
  insert into ledger_entries (account_id, seq, idempotency_key, kind, amount_micros, balance_after_micros,
    currency, rate_version, cdr_id, reference, plan, billed_seconds, prefix, rate_effective_from, created_at)
  select v.account_id, v.seq, v.key, v.kind, v.amount, v.after, a.currency, v.rate_version, v.cdr_id,
    v.reference, v.plan, v.billed_seconds, v.prefix, v.rate_effective_from, $14
  from unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[],
    $8::text[], $9::text[], $10::text[], $11::int[], $12::text[], $13::timestamptz[])
    as v(account_id, seq, key, kind, amount, after, rate_version, cdr_id, reference, plan, billed_seconds,
    prefix, rate_effective_from)
  join accounts a using (account_id)
  order by v.account_id, v.seq
  on conflict (account_id, idempotency_key) do nothing
  returning account_id, idempotency_key`;

const CHAIN_CHECK = `
  select v.account_id, p.seq is null as missing
  from unnest($1::text[], $2::bigint[], $3::bigint[]) as v(account_id, seq, before)
  left join ledger_entries p on p.account_id = v.account_id and p.seq = v.seq - 1
  where p.balance_after_micros is distinct from v.before`;

const DEDUPE_READ = `
  select l.account_id, l.idempotency_key, l.seq, l.amount_micros, l.balance_after_micros, l.rate_version, l.details
    from ledger_entries l
    join unnest($1::text[], $2::text[]) as r(account_id, key)
      on l.account_id = r.account_id and l.idempotency_key = r.key`;

const common = (rows: Row[]) => [
  rows.map((r) => r.account),
  rows.map((r) => r.seq.toString()),
  rows.map((r) => r.key),
  rows.map(() => "call"),
  rows.map((r) => r.amount.toString()),
  rows.map((r) => r.after.toString()),
  rows.map(() => "3"),
  rows.map((r) => r.cdrId),
  rows.map(() => null),
];

/** As the adapter does it: an account's first entry in the batch meets the ledger (seq 1 none). */
async function chainCheck(client: pg.PoolClient, rows: Row[], name?: string) {
  const seen = new Set<string>();
  const checked = rows.filter((r) => !seen.has(r.account) && seen.add(r.account) && r.seq > 1n);
  if (checked.length === 0) return;
  const { rows: bad } = await client.query({
    ...(name ? { name } : {}),
    text: CHAIN_CHECK,
    values: [
      checked.map((r) => r.account),
      checked.map((r) => r.seq.toString()),
      checked.map((r) => r.before.toString()),
    ],
  });
  if (bad.length > 0) throw new Error("unchained");
}

function inserted(result: pg.QueryResult, rows: Row[]) {
  if (result.rowCount !== rows.length) throw new Error(`raced: ${result.rowCount} of ${rows.length}`);
}

const jsonDetails = (rows: Row[]) => rows.map((r) => JSON.stringify(r.details));

// The schema is migrated to the newest version, which has the levers kept (migration 010:
// no foreign key, typed call columns); the variants without a lever put it back.
const restoreForeignKey = async (client: pg.PoolClient) => {
  await client.query(
    "alter table ledger_entries add constraint ledger_entries_account_id_fkey foreign key (account_id) references accounts",
  );
};

const TYPED_NO_JOIN_INSERT = `
  insert into ledger_entries (account_id, seq, idempotency_key, kind, amount_micros, balance_after_micros,
    currency, rate_version, cdr_id, reference, plan, billed_seconds, prefix, rate_effective_from, created_at)
  select v.account_id, v.seq, v.key, v.kind, v.amount, v.after, v.currency, v.rate_version, v.cdr_id,
    v.reference, v.plan, v.billed_seconds, v.prefix, v.rate_effective_from, $15
  from unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[],
    $8::text[], $9::text[], $10::text[], $11::int[], $12::text[], $13::timestamptz[], $14::text[])
    as v(account_id, seq, key, kind, amount, after, rate_version, cdr_id, reference, plan, billed_seconds,
    prefix, rate_effective_from, currency)
  order by v.account_id, v.seq
  on conflict (account_id, idempotency_key) do nothing
  returning account_id, idempotency_key`;

const typedValues = (rows: Row[]) => [
  rows.map((r) => r.details.plan),
  rows.map((r) => r.details.billed_seconds),
  rows.map((r) => r.details.prefix),
  rows.map((r) => r.details.rate_effective_from),
];

const VARIANTS: Variant[] = [
  {
    name: "as of migration 009",
    prepare: restoreForeignKey,
    write: async (client, rows, at) => {
      inserted(await client.query(AS_IS_INSERT, [...common(rows), jsonDetails(rows), at]), rows);
      await chainCheck(client, rows);
    },
  },
  {
    name: "no foreign key",
    write: async (client, rows, at) => {
      inserted(await client.query(AS_IS_INSERT, [...common(rows), jsonDetails(rows), at]), rows);
      await chainCheck(client, rows);
    },
  },
  {
    name: "no join (currency given)",
    prepare: restoreForeignKey,
    write: async (client, rows, at) => {
      const currency = rows.map(() => "USD");
      inserted(await client.query(NO_JOIN_INSERT, [...common(rows), jsonDetails(rows), currency, at]), rows);
      await chainCheck(client, rows);
    },
  },
  {
    name: "typed columns",
    prepare: restoreForeignKey,
    write: async (client, rows, at) => {
      inserted(await client.query(TYPED_INSERT, [...common(rows), ...typedValues(rows), at]), rows);
      await chainCheck(client, rows);
    },
  },
  {
    name: "prepared statements",
    prepare: restoreForeignKey,
    write: async (client, rows, at) => {
      const values = [...common(rows), jsonDetails(rows), at];
      inserted(await client.query({ name: "lever-insert", text: AS_IS_INSERT, values }), rows);
      await chainCheck(client, rows, "lever-chain");
    },
  },
  {
    name: "no foreign key, no join, prepared",
    write: async (client, rows, at) => {
      const values = [...common(rows), jsonDetails(rows), rows.map(() => "USD"), at];
      inserted(await client.query({ name: "lever-nojoin", text: NO_JOIN_INSERT, values }), rows);
      await chainCheck(client, rows, "lever-chain");
    },
  },
  {
    name: "all four",
    write: async (client, rows, at) => {
      const values = [...common(rows), ...typedValues(rows), rows.map(() => "USD"), at];
      inserted(await client.query({ name: "lever-all", text: TYPED_NO_JOIN_INSERT, values }), rows);
      await chainCheck(client, rows, "lever-chain");
    },
  },
  {
    name: "the adapter as built (PostgresLedger.record)",
    write: () => Promise.reject(new Error("writes alone")),
    writeAlone: async (pool, rows, at) => {
      const result = await new PostgresLedger(pool).record(rows.map(appliedOf), at);
      if (result.status !== "recorded") throw new Error(`ledger levers: a batch was ${result.status}`);
    },
  },
];

function appliedOf(row: Row): Applied {
  const request = {
    accountId: row.account,
    key: row.key,
    kind: "call" as const,
    amountMicros: row.amount,
    cause: row.cdrId,
    cdrId: row.cdrId,
    rateVersion: 3,
    details: row.details,
  };
  const entry = { ...request, seq: row.seq, beforeMicros: row.before, afterMicros: row.after };
  return { request, entries: [entry], events: [] };
}

const config = loadConfig(process.env);
const rootPool = createPool(config.databaseUrl, { max: 1 });
const runId = Date.now();
const only = values.only?.split(";");
const variants = only ? VARIANTS.filter((v) => only.includes(v.name)) : VARIANTS;
const results = new Map<string, { rowsPerS: number[]; pgMicrosPerRow: number[]; withDedupe: number[] }>();

try {
  for (let run = 1; run <= settings.runs; run++) {
    for (const variant of variants) {
      const schema = `levers_${runId}_${run}_${variants.indexOf(variant)}`;
      await rootPool.query(`create schema ${quoteIdent(schema)}`);
      const pool = createPool(config.databaseUrl, { schema, max: 2 * settings.writers + 1 });
      try {
        await migrate(pool);
        const accounts = Array.from({ length: settings.accounts }, (_, i) => `a${i}`);
        await pool.query(
          "insert into accounts (account_id, admin_email) select a, 'bench@example.com' from unnest($1::text[]) a",
          [accounts],
        );
        if (variant.prepare) {
          const client = await pool.connect();
          try {
            await variant.prepare(client);
          } finally {
            client.release();
          }
        }
        await pool.query("vacuum analyze ledger_entries");
        const r = results.get(variant.name) ?? { rowsPerS: [], pgMicrosPerRow: [], withDedupe: [] };
        const ledgerEnds = new Map<string, { seq: bigint; balance: bigint }>();
        const plain = await measure(pool, variant, accounts, false, run, ledgerEnds);
        r.rowsPerS.push(plain.rowsPerS);
        r.pgMicrosPerRow.push(plain.pgMicrosPerRow);
        r.withDedupe.push((await measure(pool, variant, accounts, true, run, ledgerEnds)).rowsPerS);
        results.set(variant.name, r);
        console.error(
          `run ${run} ${variant.name}: ${Math.round(plain.rowsPerS)} rows/s, Postgres ${plain.pgMicrosPerRow.toFixed(1)} µs/row`,
        );
      } finally {
        await pool.end();
        await rootPool.query(`drop schema ${quoteIdent(schema)} cascade`);
      }
    }
  }
} finally {
  await rootPool.end();
}

console.error(`machine: ${machine()}; ${JSON.stringify(settings)}`);
console.error("| variant | rows/s (median) | with the dedupe read | Postgres µs/row |");
console.error("|---|---|---|---|");
const table: Record<string, unknown>[] = [];
for (const [name, r] of results) {
  console.error(
    `| ${name} | ${Math.round(median(r.rowsPerS))} | ${Math.round(median(r.withDedupe))} | ${median(r.pgMicrosPerRow).toFixed(1)} |`,
  );
  table.push({ variant: name, rows_per_s: Math.round(median(r.rowsPerS)), ...r });
}
console.log(JSON.stringify(table));

async function measure(
  pool: pg.Pool,
  variant: Variant,
  accounts: string[],
  withDedupe: boolean,
  run: number,
  ledgerEnds: Map<string, { seq: bigint; balance: bigint }>,
): Promise<{ rowsPerS: number; pgMicrosPerRow: number }> {
  const lanes = Array.from({ length: settings.writers }, (_, w) =>
    accounts.filter((_, i) => i % settings.writers === w),
  );
  const perWriter = Math.ceil(settings.rows / settings.writers);
  const tag = `${run}-${withDedupe}`;
  const work = lanes.map((lane, w) => batchesOf(ledgerEnds, lane, perWriter, w, tag));
  const cpuBefore = cpuSeconds({});
  const started = performance.now();
  await Promise.all(
    work.map(async (batches) => {
      const client = await pool.connect();
      try {
        for (const rows of batches) {
          if (withDedupe) {
            await client.query(DEDUPE_READ, [rows.map((r) => r.account), rows.map((r) => r.key)]);
          }
          if (variant.writeAlone) {
            await variant.writeAlone(pool, rows, new Date());
            continue;
          }
          await client.query("begin");
          await variant.write(client, rows, new Date());
          await client.query("commit");
        }
      } finally {
        client.release();
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuDelta(cpuBefore, cpuSeconds({}));
  const total = perWriter * settings.writers;
  return { rowsPerS: total / seconds, pgMicrosPerRow: ((cpu.postgres ?? NaN) * 1e6) / total };
}

function batchesOf(
  ledgerEnds: Map<string, { seq: bigint; balance: bigint }>,
  lane: string[],
  rows: number,
  writer: number,
  tag: string,
): Row[][] {
  const random = prng(writer + 1);
  const pick = zipfSampler(lane.length, 1.1, random);
  const batches: Row[][] = [];
  for (let done = 0; done < rows;) {
    const batch: Row[] = [];
    for (; batch.length < settings.batch && done < rows; done++) {
      const account = lane[pick()]!;
      const end = ledgerEnds.get(account) ?? { seq: 0n, balance: 0n };
      const amount = -(1_000n + BigInt(Math.floor(random() * 500_000)));
      const row: Row = {
        account,
        seq: end.seq + 1n,
        key: `cdr:${tag}-${writer}-${done}`,
        amount,
        before: end.balance,
        after: end.balance + amount,
        cdrId: `${tag}-${writer}-${done}`,
        details: {
          plan: "default",
          billed_seconds: 120,
          prefix: "4420",
          rate_effective_from: "2026-01-01T00:00:00Z",
        },
      };
      ledgerEnds.set(account, { seq: row.seq, balance: row.after });
      batch.push(row);
    }
    batches.push(batch);
  }
  return batches;
}
