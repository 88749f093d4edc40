/**
 * bench/debit: debits per second through the pipelined Lua path (apply calls of many
 * accounts each, then the confirm), with 10,000 Zipf-skewed accounts; in the same
 * run, redis-benchmark with a trivial EVALSHA as the ceiling; and ledger rows per
 * second into Postgres through the batched insert.
 *
 * `--lanes` batches are in flight at once, as the rater has one batch per partition in
 * flight: accounts are split between lanes the way the topic's key splits them between
 * partitions. With one lane, Node and Redis only take turns.
 *
 *   npm run bench:debit [-- --accounts 10000 --batch 5000 --batches 40 --lanes 1 --runs 5]
 */
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/env.js";
import { createPool, quoteIdent } from "../src/adapters/postgres/pool.js";
import { migrate } from "../src/adapters/postgres/migrate.js";
import { PostgresLedger } from "../src/adapters/postgres/ledger.js";
import { connectRedis } from "../src/adapters/redis/connection.js";
import { RedisBalanceStore, scriptCalls } from "../src/adapters/redis/balance-store.js";
import { NEW_ACCOUNT_SETTINGS, type Applied, type EntryRequest } from "../src/balances/types.js";
import { prng, zipfSampler } from "../src/tools/cdr-generator.js";
import { machine, median } from "./lib/report.js";

const { values } = parseArgs({
  options: {
    accounts: { type: "string", default: "10000" },
    batch: { type: "string", default: "5000" },
    batches: { type: "string", default: "40" },
    runs: { type: "string", default: "5" },
    lanes: { type: "string", default: "1" },
  },
});
const lanes = Number(values.lanes);
const accountCount = Number(values.accounts);
const batchSize = Number(values.batch);
const batches = Number(values.batches);
const runs = Number(values.runs);
const config = loadConfig(process.env);
const month = new Date().toISOString().slice(0, 7);
const accounts = Array.from({ length: accountCount }, (_, i) => `bench-${i}`);

const redis = connectRedis(config.redisUrl);
const store = new RedisBalanceStore(redis);
async function resetAccounts(): Promise<void> {
  await Promise.all(accounts.map((a) => store.forget(a)));
  await Promise.all(
    accounts.map((accountId) =>
      store.restore({
        accountId,
        balanceMicros: 1_000_000_000_000n,
        seq: 0n,
        settings: NEW_ACCOUNT_SETTINGS,
        month,
        monthAutoRechargeMicros: 0n,
        monthOfflineReloadMicros: 0n,
        cappedAutoThisMonth: false,
        cappedOfflineThisMonth: false,
      }),
    ),
  );
}

const random = prng(42);
const pick = zipfSampler(accountCount, 1, random);
let cdrSeq = 0;
/** A batch of one lane: Zipf-drawn accounts, those of other lanes redrawn. */
function makeBatch(lane = 0): Map<string, EntryRequest[]> {
  const byAccount = new Map<string, EntryRequest[]>();
  for (let i = 0; i < batchSize; i++) {
    let index = pick();
    while (index % lanes !== lane) index = pick();
    const accountId = accounts[index]!;
    const cdrId = `c-${cdrSeq++}`;
    const list = byAccount.get(accountId) ?? [];
    list.push({ accountId, key: `cdr:${cdrId}`, kind: "call", amountMicros: -12_345n, cause: cdrId, cdrId });
    byAccount.set(accountId, list);
  }
  return byAccount;
}

// Redis: apply + confirm, batch after batch.
await resetAccounts();
const debitRates: number[] = [];
let lastApplied: Applied[] = [];
for (let r = 0; r < runs; r++) {
  const work = Array.from({ length: lanes }, (_, lane) =>
    Array.from({ length: batches / lanes }, () => makeBatch(lane)),
  );
  const t0 = performance.now();
  await Promise.all(
    work.map(async (laneBatches) => {
      for (const batch of laneBatches) {
        const results = await store.apply(batch, month);
        await store.confirm(new Map([...batch].map(([a, reqs]) => [a, reqs.map((q) => q.key)])));
        lastApplied = [...results.values()].flatMap((v) =>
          v === "missing" ? [] : v.filter((r): r is Applied => "entries" in r),
        );
      }
    }),
  );
  debitRates.push((batches * batchSize) / ((performance.now() - t0) / 1000));
}
const accountsPerBatch = median(Array.from({ length: 5 }, () => makeBatch().size));
const callsPerBatch = median(Array.from({ length: 5 }, () => scriptCalls([...makeBatch()], false).length));

// Ceiling: redis-benchmark, a trivial script by SHA, pipelined.
const sha = (await redis.script("LOAD", "return 1")) as string;
const ceilings: number[] = [];
for (let r = 0; r < 3; r++) {
  const out = execFileSync(
    "redis-benchmark",
    ["-q", "-n", "300000", "-c", "50", "-P", "16", "evalsha", sha, "0"],
    {
      encoding: "utf8",
      env: { ...process.env },
    },
  );
  const m = /([\d.]+) requests per second/.exec(out.split("\r").at(-1) ?? out);
  if (m) ceilings.push(Number(m[1]));
}

// Postgres: ledger rows through the batched insert, in a schema of the bench's own.
const schema = `bench_debit_${process.pid}`;
const admin = createPool(config.databaseUrl, { max: 1 });
await admin.query(`create schema ${quoteIdent(schema)}`);
const pool = createPool(config.databaseUrl, { schema, max: 4 });
const ledgerRates: number[] = [];
try {
  await migrate(pool);
  await pool.query(
    `insert into accounts (account_id, admin_email) select a, a || '@bench.example' from unnest($1::text[]) a`,
    [accounts],
  );
  const ledger = new PostgresLedger(pool);
  // Each account's entries follow each other, as the ledger requires (seq − 1, its balance).
  const last = new Map<string, { seq: bigint; balance: bigint }>();
  for (let r = 0; r < runs; r++) {
    const work = Array.from({ length: 10 }, () => {
      const batch = makeBatch();
      const applied: Applied[] = [];
      for (const [accountId, reqs] of batch) {
        for (const request of reqs) {
          const before = last.get(accountId) ?? { seq: 0n, balance: 0n };
          const seq = before.seq + 1n;
          const after = before.balance + request.amountMicros;
          last.set(accountId, { seq, balance: after });
          applied.push({
            request,
            entries: [
              {
                accountId,
                seq,
                key: request.key,
                kind: "call",
                amountMicros: request.amountMicros,
                beforeMicros: before.balance,
                afterMicros: after,
                cause: request.cause,
              },
            ],
            events: [],
          });
        }
      }
      return applied;
    });
    const t0 = performance.now();
    for (const applied of work) {
      const result = await ledger.record(applied, new Date());
      if (result.status !== "recorded") throw new Error(`bench batch not recorded: ${result.status}`);
    }
    ledgerRates.push((10 * batchSize) / ((performance.now() - t0) / 1000));
  }
} finally {
  await pool.end();
  await admin.query(`drop schema ${quoteIdent(schema)} cascade`);
  await admin.end();
  await Promise.all(accounts.map((a) => store.forget(a)));
  redis.disconnect();
}

const fmt = (xs: number[]) => xs.map((x) => Math.round(x)).join(", ");
console.log(
  `${lanes} lane(s); redis apply+confirm: median ${Math.round(median(debitRates))} debits/s (runs: ${fmt(debitRates)}); ~${accountsPerBatch} accounts in ~${callsPerBatch} apply calls per ${batchSize}-debit batch`,
);
console.log(
  `redis-benchmark EVALSHA 'return 1' -P 16 -c 50: median ${Math.round(median(ceilings))} calls/s (runs: ${fmt(ceilings)})`,
);
console.log(
  `ledger batched insert: median ${Math.round(median(ledgerRates))} rows/s (runs: ${fmt(ledgerRates)})`,
);
console.log(
  JSON.stringify({
    bench: "debit",
    machine: machine(),
    date: new Date().toISOString().slice(0, 10),
    accounts: accountCount,
    batch: batchSize,
    lanes,
    debits_per_s: Math.round(median(debitRates)),
    evalsha_ceiling_per_s: Math.round(median(ceilings)),
    ledger_rows_per_s: Math.round(median(ledgerRates)),
    sample_balance_after: lastApplied[0]?.entries[0]?.afterMicros.toString(),
  }),
);
