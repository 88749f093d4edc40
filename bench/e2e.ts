/**
 * bench:e2e — the whole pipeline against a bare consumer, in one run.
 *
 *   npm run bench:e2e               3 runs of each, 600,000 CDRs, 6 partitions, latency sweep
 *   npm run bench:e2e -- --quick    1 run, 150,000 CDRs, 3 partitions (about 2-3 minutes)
 *   npm run bench:e2e -- --sessions also: every CDR settling a call session against none
 *                                   (--session-cdrs, default 20,000; bench/lib/session-settlement.ts)
 *
 * A carrier deck (50,000 prefixes × 3 dated versions) and 10,000 accounts with Zipf
 * traffic, some surcharges, are loaded into a schema of the bench's own. CDRs are
 * produced to a fresh topic first; then
 *   - the baseline: a bare consumer (same client, same fetch settings, commits per
 *     batch) reads the topic doing nothing with the records;
 *   - the pipeline: `ratestream run` as a child process (`--raters n`: n of them, one
 *     consumer group, started together) reads the same records, from the first fetch to
 *     the last offset committed (ledger durable); with several raters this includes
 *     the group's rebalance as they join, so it is a conservative figure;
 *   - latency: at fixed offered rates below saturation, produce time (in the cdr_id)
 *     to the rated-cdrs record's timestamp (written after the ledger commit);
 *   - the ledger ceiling: the project's own ledger write alone (bench/lib/ledger-ceiling.ts)
 *     at the pipeline's mean batch size, with one rater's and two raters' batches in
 *     flight; `ledger_ratio` is the pipeline's CDRs/s over the ceiling of its raters.
 * Raw figures go to bench/results/raw/; a chart to bench/results/e2e.svg; the last
 * line printed is one JSON object.
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/env.js";
import { createKafkaClient, kafkaClientName } from "../src/adapters/kafka/select.js";
import { groupCaughtUp } from "../src/adapters/kafka/offsets.js";
import type { KafkaClient } from "../src/adapters/kafka/types.js";
import { migrate } from "../src/adapters/postgres/migrate.js";
import { createPool, quoteIdent } from "../src/adapters/postgres/pool.js";
import { PostgresLedger } from "../src/adapters/postgres/ledger.js";
import { importDeckSet } from "../src/adapters/postgres/rate-versions.js";
import { RedisBalanceStore } from "../src/adapters/redis/balance-store.js";
import { connectRedis } from "../src/adapters/redis/connection.js";
import { applyEntries } from "../src/balances/write-path.js";
import { createLogger } from "../src/observability/logger.js";
import { allTopics, topicNames } from "../src/pipeline/topics.js";
import { generateCdrs, offerAtRate, type RawCdr } from "../src/tools/cdr-generator.js";
import { carrierDeck } from "./lib/carrier-deck.js";
import { ledgerCeiling } from "./lib/ledger-ceiling.js";
import { cpuDelta, cpuSeconds } from "./lib/cpu.js";
import { machine, median } from "./lib/report.js";
import { compareSessionSettlement } from "./lib/session-settlement.js";
import { lineChart } from "./lib/svg-chart.js";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    cdrs: { type: "string" },
    partitions: { type: "string" },
    runs: { type: "string" },
    // partitions whose batches the rater handles at once (ratestream run --concurrency)
    concurrency: { type: "string" },
    // rater processes in the consumer group (one per core is how the rater scales out)
    raters: { type: "string" },
    // NODE_OPTIONS for the raters only, e.g. --max-semi-space-size=64 (see BENCHMARKS.md)
    "node-options": { type: "string" },
    // kafkajs (default) or confluent: the client of the bench, its baseline and the rater.
    client: { type: "string" },
    // Writes a V8 CPU profile of each rater run to bench/results/profiles/.
    profile: { type: "boolean", default: false },
    // Rate plans (issue 18): after the single-plan runs, the same runs again with the
    // accounts spread over n plans of the deck's size each (other prices, same prefixes),
    // and the rater's memory with them loaded. Skips the latency sweep and ledger ceiling.
    plans: { type: "string" },
    // With --plans: load the plans but leave every account on default, to tell the cost
    // of the bigger heap from the cost of rating by many plans.
    "plans-unused": { type: "boolean", default: false },
    // Also time CDRs that each settle a call session against CDRs that settle none.
    sessions: { type: "boolean", default: false },
    "session-cdrs": { type: "string" },
  },
});
const quick = values.quick;
if (values.client) process.env.KAFKA_CLIENT = values.client;
const clientName = kafkaClientName();
const settings = {
  client: clientName === "kafkajs" ? "kafkajs 2.2.4" : "@confluentinc/kafka-javascript 1.10.1 (librdkafka)",
  cdrs: Number(values.cdrs ?? (quick ? 150_000 : 600_000)),
  partitions: Number(values.partitions ?? (quick ? 3 : 6)),
  runs: Number(values.runs ?? (quick ? 1 : 3)),
  concurrency: Number(values.concurrency ?? 3),
  raters: positiveInteger("--raters", values.raters ?? "1"),
  raterNodeOptions: values["node-options"] ?? "",
  accounts: 10_000,
  prefixes: 50_000,
  deckVersions: 3,
  surchargeShare: 0.1,
  maxBytesPerPartition: 4 * 1024 * 1024,
  maxWaitTimeMs: 500,
  offeredRates: quick ? [1_000, 4_000] : [1_000, 2_000, 4_000, 8_000],
  latencySeconds: quick ? 8 : 15,
  plans: positiveInteger("--plans", values.plans ?? "1"),
  plansUnused: values["plans-unused"],
};
const config = loadConfig(process.env);
const logger = createLogger("error");
const runId = `${Date.now()}`;
const schema = `bench_e2e_${runId}`;
const databaseUrl = `${config.databaseUrl}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
const kafka = await createKafkaClient({ brokers: config.kafkaBrokers, logger, clientId: "bench-e2e" });
const log = (line: string) => process.stderr.write(`${line}\n`);

log(`settings: ${JSON.stringify(settings)}`);
const admin = await kafka.admin();
const rootPool = createPool(config.databaseUrl, { max: 1 });
await rootPool.query(`create schema ${quoteIdent(schema)}`);
const pool = createPool(config.databaseUrl, { schema, max: 4 });
const redis = connectRedis(config.redisUrl);
const accounts = Array.from({ length: settings.accounts }, (_, i) => `e2e-${runId}-${i}`);
const topicsToDelete: string[] = [];

try {
  // Decks, accounts, funds.
  await migrate(pool);
  const deck = carrierDeck(settings.prefixes, settings.deckVersions);
  await importDeckSet(pool, {
    rates: { file: "carrier.csv", text: deck.csv },
    surcharges: { file: "rates/surcharges.csv", text: await readFile("rates/surcharges.csv", "utf8") },
  });
  await pool.query(
    "insert into accounts (account_id, admin_email) select a, 'bench@example.com' from unnest($1::text[]) a",
    [accounts],
  );
  const deps = { store: new RedisBalanceStore(redis), ledger: new PostgresLedger(pool), logger };
  for (let i = 0; i < accounts.length; i += 5_000) {
    await applyEntries(
      deps,
      accounts.slice(i, i + 5_000).map((accountId) => ({
        accountId,
        key: "credit:opening",
        kind: "credit" as const,
        amountMicros: 1_000_000_000_000n,
        cause: "opening",
      })),
    );
  }
  const cdrOptions = {
    accounts,
    prefixes: deck.prefixes,
    surchargeShare: settings.surchargeShare,
    startMs: Date.parse("2026-11-20T00:00:00Z"),
  };

  const throughput: { pipeline: number[]; baseline: number[] } = { pipeline: [], baseline: [] };
  const batchSizes: number[] = [];
  const cpuPerRun: Record<string, number>[] = [];
  for (let run = 1; run <= settings.runs; run++) {
    const topics = topicNames(`bench-${runId}-${run}.`);
    topicsToDelete.push(...allTopics(topics));
    await admin.createTopics(allTopics(topics).map((topic) => ({ topic, partitions: settings.partitions })));
    const produced = await produceAll(
      kafka,
      topics.cdrs,
      generateCdrs(settings.cdrs, { ...cdrOptions, seed: run, idPrefix: `r${run}` }),
    );
    log(`run ${run}: produced ${produced} CDRs`);

    const baseline = await bareConsumer(kafka, topics.cdrs, produced);
    throughput.baseline.push(baseline);
    log(`run ${run}: baseline ${Math.round(baseline)} records/s`);

    const pipeline = await pipelineRun(topics.cdrs, `bench-${runId}-${run}.`, produced);
    throughput.pipeline.push(pipeline.perSecond);
    batchSizes.push(pipeline.meanBatch);
    cpuPerRun.push(pipeline.cpu);
    const perCdr = Object.entries(pipeline.cpu).map(([k, v]) => `${k} ${((v / produced) * 1e6).toFixed(1)}`);
    log(
      `run ${run}: pipeline ${Math.round(pipeline.perSecond)} CDRs/s; CPU µs per CDR: ${perCdr.join(", ")}`,
    );
  }

  const sessions = values.sessions
    ? await compareSessionSettlement({
        pool,
        redis,
        logger,
        runs: settings.runs,
        cdrs: Number(values["session-cdrs"] ?? 20_000),
        cdrOptions,
        newTopics: async (tag) => {
          const prefix = `bench-${runId}-${tag}.`;
          const topics = topicNames(prefix);
          topicsToDelete.push(...allTopics(topics));
          await admin.createTopics(
            allTopics(topics).map((topic) => ({ topic, partitions: settings.partitions })),
          );
          return { prefix, cdrs: topics.cdrs };
        },
        produce: (topic, cdrs) => produceAll(kafka, topic, cdrs),
        pipeline: async (topic, prefix, expected) => (await pipelineRun(topic, prefix, expected)).perSecond,
        log,
      })
    : undefined;

  if (settings.plans > 1) {
    await plansComparison(deck.prefixes, cdrOptions, throughput.pipeline);
  } else {
    const ceiling = await measureLedgerCeiling(Math.max(1, Math.round(median(batchSizes))));

    // Latency at fixed offered rates, the rater already running and caught up.
    const latencyTopics = topicNames(`bench-${runId}-lat.`);
    topicsToDelete.push(...allTopics(latencyTopics));
    await admin.createTopics(
      allTopics(latencyTopics).map((topic) => ({ topic, partitions: settings.partitions })),
    );
    const raters = startRaters(`bench-${runId}-lat.`);
    const latency: { offered: number; achieved: number; p50: number; p99: number }[] = [];
    try {
      await Promise.all(raters.map(waitReady));
      for (const rate of settings.offeredRates) {
        latency.push(await latencyAt(rate, latencyTopics, cdrOptions));
        log(`latency at ${rate}/s: ${JSON.stringify(latency.at(-1))}`);
      }
    } finally {
      await stopRaters(raters);
    }

    const cdrsPerS = median(throughput.pipeline);
    const baselinePerS = median(throughput.baseline);
    const atLowest = latency[0]!;
    const result = {
      cdrs_per_s: Math.round(cdrsPerS),
      baseline_consume_per_s: Math.round(baselinePerS),
      ratio: Number((cdrsPerS / baselinePerS).toFixed(3)),
      p50_ms: atLowest.p50,
      p99_ms: atLowest.p99,
      raters: settings.raters,
      ledger_ceiling_rows_per_s: Math.round(ceiling.ofRaters(settings.raters)),
      ledger_ratio: Number((cdrsPerS / ceiling.ofRaters(settings.raters)).toFixed(3)),
      ...(sessions && {
        sessions_cdrs_per_s: Math.round(median(sessions.withSessions)),
        no_sessions_cdrs_per_s: Math.round(median(sessions.withoutSessions)),
        sessions_ratio: sessions.ratio,
      }),
    };
    mkdirSync("bench/results/raw", { recursive: true });
    writeFileSync(
      `bench/results/raw/e2e-${runId}.json`,
      JSON.stringify(
        {
          machine: machine(),
          date: new Date().toISOString(),
          settings,
          throughput,
          cpuPerRun,
          latency,
          batchSizes,
          ceiling: ceiling.runs,
          sessions,
          result,
        },
        null,
        2,
      ),
    );
    writeFileSync(
      "bench/results/e2e.svg",
      lineChart({
        title: `ratestream end to end (${settings.client}, ${settings.partitions} partitions, ${settings.raters} rater${settings.raters > 1 ? "s" : ""}, ${new Date().toISOString().slice(0, 10)})`,
        xLabel: "offered CDRs/s",
        series: [
          { name: "achieved CDRs/s", points: latency.map((l) => [l.offered, l.achieved]), axis: "left" },
          { name: "p50 latency ms", points: latency.map((l) => [l.offered, l.p50]), axis: "right" },
          { name: "p99 latency ms", points: latency.map((l) => [l.offered, l.p99]), axis: "right" },
        ],
        notes: [
          `saturated pipeline: ${result.cdrs_per_s} CDRs/s; bare consumer: ${result.baseline_consume_per_s}/s`,
        ],
      }),
    );
    log(
      `machine: ${machine()}; raw figures in bench/results/raw/e2e-${runId}.json; chart in bench/results/e2e.svg`,
    );
    console.log(JSON.stringify(result));
  }
} finally {
  await admin.deleteTopics(topicsToDelete).catch(() => undefined);
  await admin.disconnect();
  const store = new RedisBalanceStore(redis);
  for (let i = 0; i < accounts.length; i += 1_000)
    await Promise.all(accounts.slice(i, i + 1_000).map((a) => store.forget(a)));
  redis.disconnect();
  await pool.end();
  await rootPool.query(`drop schema ${quoteIdent(schema)} cascade`);
  await rootPool.end();
}

/**
 * The same pipeline runs with the accounts spread over settings.plans plans (issue 18):
 * each plan a deck of the same size and prefixes at other prices; then the rater's
 * memory with every plan loaded, against a rater with the single plan.
 */
async function plansComparison(
  prefixes: { outbound: string[]; inbound: string[] },
  cdrOptions: Parameters<typeof generateCdrs>[1],
  singlePlan: number[],
): Promise<void> {
  const singleMemory = await raterMemory(`bench-${runId}-mem1.`);
  const started = performance.now();
  for (let p = 1; p < settings.plans; p++) {
    const deck = carrierDeck(settings.prefixes, settings.deckVersions, 7, 100 + p);
    await importDeckSet(
      pool,
      {
        rates: { file: `carrier-plan-${p}.csv`, text: deck.csv },
        surcharges: { file: "rates/surcharges.csv", text: await readFile("rates/surcharges.csv", "utf8") },
      },
      `plan-${p}`,
    );
    if (deck.prefixes.outbound.length !== prefixes.outbound.length)
      throw new Error("plan decks differ in prefixes");
  }
  log(`imported ${settings.plans - 1} more plans in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  // Round-robin: account i on plan i mod n (plan 0 is default).
  if (!settings.plansUnused)
    await pool.query(
      `update accounts set plan = case when (substring(account_id from '[0-9]+$')::int % $1) = 0 then 'default'
       else 'plan-' || (substring(account_id from '[0-9]+$')::int % $1) end
     where account_id like 'e2e-%'`,
      [settings.plans],
    );
  const multiMemory = await raterMemory(`bench-${runId}-memn.`);
  const multiPlan: number[] = [];
  for (let run = 1; run <= settings.runs; run++) {
    const prefix = `bench-${runId}-plans-${run}.`;
    const topics = topicNames(prefix);
    topicsToDelete.push(...allTopics(topics));
    await admin.createTopics(allTopics(topics).map((topic) => ({ topic, partitions: settings.partitions })));
    const produced = await produceAll(
      kafka,
      topics.cdrs,
      generateCdrs(settings.cdrs, { ...cdrOptions, seed: run, idPrefix: `p${run}` }),
    );
    const pipeline = await pipelineRun(topics.cdrs, prefix, produced);
    multiPlan.push(pipeline.perSecond);
    log(`run ${run}: ${settings.plans} plans: pipeline ${Math.round(pipeline.perSecond)} CDRs/s`);
  }
  const { rows } = await pool.query<{ plan: string; n: string }>(
    "select plan, count(*) as n from accounts where account_id like 'e2e-%' group by plan",
  );
  const result = {
    plans: settings.plans,
    accounts: settings.accounts,
    prefixes_per_plan: settings.prefixes,
    accounts_per_plan: [Math.min(...rows.map((r) => Number(r.n))), Math.max(...rows.map((r) => Number(r.n)))],
    single_plan_cdrs_per_s: Math.round(median(singlePlan)),
    plans_cdrs_per_s: Math.round(median(multiPlan)),
    plans_ratio: Number((median(multiPlan) / median(singlePlan)).toFixed(3)),
    rater_memory_single_plan_mb: singleMemory,
    rater_memory_plans_mb: multiMemory,
  };
  mkdirSync("bench/results/raw", { recursive: true });
  writeFileSync(
    `bench/results/raw/e2e-plans-${runId}.json`,
    JSON.stringify(
      { machine: machine(), date: new Date().toISOString(), settings, singlePlan, multiPlan, result },
      null,
      2,
    ),
  );
  log(`machine: ${machine()}; raw figures in bench/results/raw/e2e-plans-${runId}.json`);
  console.log(JSON.stringify(result));
}

/** A rater's resident and heap memory (MB) once ready, every plan loaded, after a GC-settling pause. */
async function raterMemory(prefix: string): Promise<{ rss: number; heap_used: number }> {
  const topics = topicNames(prefix);
  topicsToDelete.push(...allTopics(topics));
  const rater = startRater(prefix, 19_900 + Math.floor(Math.random() * 90));
  try {
    await waitReady(rater);
    await sleep(3_000);
    const mb = async (name: string) => Math.round((await metric(rater.port, name)) / 1e6);
    return {
      rss: await mb("ratestream_process_resident_memory_bytes"),
      heap_used: await mb("ratestream_nodejs_heap_size_used_bytes"),
    };
  } finally {
    await stopRaters([rater]);
  }
}

async function produceAll(client: KafkaClient, topic: string, cdrs: Iterable<unknown>): Promise<number> {
  const producer = await client.producer();
  let batch: { key: string; value: string }[] = [];
  let count = 0;
  for (const cdr of cdrs as Iterable<{ account_id: string }>) {
    batch.push({ key: cdr.account_id, value: JSON.stringify(cdr) });
    if (batch.length === 5_000) {
      await producer.send(topic, batch);
      count += batch.length;
      batch = [];
    }
  }
  if (batch.length > 0) await producer.send(topic, batch);
  await producer.disconnect();
  return count + batch.length;
}

/** The baseline: the same client and fetch settings, committing per batch, doing nothing else. */
async function bareConsumer(client: KafkaClient, topic: string, expected: number): Promise<number> {
  const consumer = await client.consumer({
    groupId: `bench-baseline-${runId}-${topic}`,
    maxBytesPerPartition: settings.maxBytesPerPartition,
    maxWaitTimeMs: settings.maxWaitTimeMs,
  });
  let seen = 0;
  let first = 0;
  let last = 0;
  await consumer.subscribe([topic]);
  const done = new Promise<void>((resolve) => {
    void consumer.run(async (batch) => {
      if (first === 0) first = performance.now();
      seen += batch.messages.length;
      last = performance.now();
      if (seen >= expected) resolve();
      return Promise.resolve();
    });
  });
  await done;
  await sleep(200); // the last commit
  last = Math.max(last, performance.now() - 200);
  await consumer.disconnect();
  return expected / ((last - first) / 1000);
}

interface Rater {
  port: number;
  child: ReturnType<typeof spawn>;
  exited: Promise<unknown>;
}

function startRater(prefix: string, port: number): Rater {
  const profiling = values.profile ? ["--cpu-prof", "--cpu-prof-dir=bench/results/profiles"] : [];
  const child = spawn(
    process.execPath,
    [
      ...profiling,
      "bin/ratestream.js",
      "run",
      "--topic-prefix",
      prefix,
      "--group",
      `bench-rater-${runId}`,
      "--partitions",
      String(settings.partitions),
      "--concurrency",
      String(settings.concurrency),
    ],
    {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        HTTP_PORT: String(port),
        LOG_LEVEL: "error",
        ...(settings.raterNodeOptions ? { NODE_OPTIONS: settings.raterNodeOptions } : {}),
      },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  return { port, child, exited: new Promise((resolve) => child.on("exit", resolve)) };
}

function positiveInteger(option: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${option} must be a whole number of at least 1, not "${value}"`);
  return n;
}

/** settings.raters rater processes in one consumer group, started together. */
function startRaters(prefix: string): Rater[] {
  const firstPort = 19_000 + Math.floor(Math.random() * 900);
  return Array.from({ length: settings.raters }, (_, i) => startRater(prefix, firstPort + i));
}

async function stopRaters(raters: Rater[]): Promise<void> {
  for (const r of raters) r.child.kill("SIGTERM");
  await Promise.all(raters.map((r) => r.exited));
}

async function waitReady({ port, child }: Rater): Promise<void> {
  for (let i = 0; i < 600; i++) {
    // A rater that cannot start (its port taken, say) must not leave the run one short.
    if (child.exitCode !== null) throw new Error(`rater on port ${port} exited with ${child.exitCode}`);
    if (
      await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await sleep(100);
  }
  throw new Error("rater not ready");
}

async function metric(port: number, name: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  return Number(new RegExp(`^${name} (\\S+)`, "m").exec(text)?.[1] ?? 0);
}

/**
 * From the rater's first fetch to its last commit; the first fetch is timed by the
 * metric moving. Also the CPU seconds each process spent in that window.
 */
async function pipelineRun(
  topic: string,
  prefix: string,
  expected: number,
): Promise<{ perSecond: number; cpu: Record<string, number>; meanBatch: number }> {
  const raters = startRaters(prefix);
  const pids = raters.map((r) => r.child.pid);
  try {
    await Promise.all(raters.map(waitReady));
    let first = 0;
    let cpuAtFirst: Record<string, number> = {};
    const consumedMetric = `ratestream_kafka_messages_consumed_total\\{topic="${topic.replace(/\./g, "\\.")}"\\}`;
    for (;;) {
      const consumed = await Promise.all(raters.map((r) => metric(r.port, consumedMetric)));
      if (first === 0 && consumed.some((n) => n > 0)) {
        first = performance.now();
        cpuAtFirst = cpuSeconds({ rater: pids });
      }
      if (await groupCaughtUp(admin, `bench-rater-${runId}`, topic)) break;
      await sleep(50);
    }
    const elapsed = (performance.now() - first) / 1000;
    const cpu = cpuDelta(cpuAtFirst, cpuSeconds({ rater: pids }));
    const batchesMetric = `ratestream_kafka_batch_duration_seconds_count\\{topic="${topic.replace(/\./g, "\\.")}"\\}`;
    const batches = (await Promise.all(raters.map((r) => metric(r.port, batchesMetric)))).reduce(
      (a, b) => a + b,
    );
    return { perSecond: expected / elapsed, cpu, meanBatch: expected / Math.max(1, batches) };
  } finally {
    await stopRaters(raters);
  }
}

/**
 * The ledger's ceiling with one rater's batches in flight (`--concurrency`) and with two
 * raters' (and the run's raters'), medians of settings.runs runs each, on accounts of
 * its own (fresh ledgers).
 */
async function measureLedgerCeiling(batch: number) {
  const ceilingAccounts = Array.from({ length: settings.accounts }, (_, i) => `ceiling-${runId}-${i}`);
  await pool.query(
    "insert into accounts (account_id, admin_email) select a, 'bench@example.com' from unnest($1::text[]) a",
    [ceilingAccounts],
  );
  const opening = new Map(ceilingAccounts.map((a) => [a, { seq: 0n, balance: 0n }]));
  const rows = Math.min(settings.cdrs, 200_000);
  const runs: { raters: number; writers: number; batch: number; withDedupe: boolean; rowsPerS: number[] }[] =
    [];
  for (const raters of [...new Set([1, 2, settings.raters])]) {
    for (const withDedupe of [false, true]) {
      const writers = raters * settings.concurrency;
      const rowsPerS: number[] = [];
      for (let run = 1; run <= settings.runs; run++) {
        const tag = `${raters}-${withDedupe}-${run}`;
        rowsPerS.push(await ledgerCeiling(pool, opening, { rows, batch, writers, withDedupe, tag }));
      }
      runs.push({ raters, writers, batch, withDedupe, rowsPerS });
      log(
        `ledger ceiling, ${raters} rater(s)' worth (${writers} batches of ${batch} in flight${withDedupe ? ", with the dedupe read" : ""}): ${Math.round(median(rowsPerS))} rows/s`,
      );
    }
  }
  return {
    runs,
    ofRaters: (raters: number) => median(runs.find((r) => r.raters === raters && !r.withDedupe)!.rowsPerS),
  };
}

/** Offers CDRs at a fixed rate; latency = rated-cdrs record time − produce time. */
async function latencyAt(
  rate: number,
  topics: ReturnType<typeof topicNames>,
  cdrOptions: Parameters<typeof generateCdrs>[1],
): Promise<{ offered: number; achieved: number; p50: number; p99: number }> {
  const producer = await kafka.producer();
  const generator = generateCdrs(Number.MAX_SAFE_INTEGER, {
    ...cdrOptions,
    seed: rate,
    idPrefix: `lat${rate}`,
  });
  // The produce time goes in the cdr_id, stamped as offerAtRate draws each CDR to send it.
  let drawn = 0;
  const stamped: Iterator<RawCdr> = {
    next() {
      const cdr = generator.next().value as RawCdr;
      cdr.cdr_id = `lat-${Date.now()}-${rate}-${drawn++}`;
      return { value: cdr, done: false };
    },
  };
  const startedWall = Date.now();
  const sent = await offerAtRate({
    producer,
    topic: topics.cdrs,
    cdrs: stamped,
    perSecond: rate,
    until: () => Date.now() - startedWall >= settings.latencySeconds * 1000,
    tickMs: 5,
  });
  await producer.disconnect();

  // Read back this rate's rated records and their timestamps.
  const latencies: number[] = [];
  const consumer = await kafka.consumer({ groupId: `bench-lat-${runId}-${rate}`, maxWaitTimeMs: 100 });
  await consumer.subscribe([topics.ratedCdrs]);
  let lastRated = 0;
  const deadline = Date.now() + 60_000;
  await consumer.run(async (batch) => {
    for (const m of batch.messages) {
      const id = (JSON.parse(m.value!.toString()) as { cdr_id: string }).cdr_id;
      const [, producedMs, r] = id.split("-");
      if (Number(r) !== rate) continue;
      latencies.push(Number(m.timestamp) - Number(producedMs));
      lastRated = Math.max(lastRated, Number(m.timestamp));
    }
    return Promise.resolve();
  });
  while (latencies.length < sent * 0.99 && Date.now() < deadline) await sleep(200);
  await consumer.disconnect();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return {
    offered: rate,
    achieved: Math.round(latencies.length / ((lastRated - startedWall) / 1000)),
    p50: pct(0.5),
    p99: pct(0.99),
  };
}
