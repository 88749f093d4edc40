/**
 * bench:api — GET /v1/accounts/{id}/authorize under load while the CDR stream runs.
 *
 *   npm run bench:api                 1 run: 500 and 2,000 req/s, 20 s each
 *   npm run bench:api -- --runs 3     medians over 3 runs
 *
 * The sample decks and 1,000 funded accounts go into a schema of the bench's own;
 * `ratestream run` is a child process on topics of its own. A producer offers CDRs at
 * a fixed rate throughout; autocannon offers authorize requests at fixed rates (random
 * accounts and destinations, one switch key), then GET /healthz at the same rate as a
 * baseline of the HTTP stack in the same run. Raw results go to bench/results/raw/;
 * the last line printed is one JSON object.
 *
 * Call sessions (SPEC §8): `--targets sessions` (or `authorize,sessions`) offers calls
 * at `--session-rates` (default 500,1000,2000 calls/s), each a start then an end, with
 * the latency of starts and ends apart, then /healthz pairs at the same rates through
 * the same client (bench/lib/session-load.ts).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { createApiKey } from "../src/adapters/postgres/accounts.js";
import { PostgresLedger } from "../src/adapters/postgres/ledger.js";
import { migrate } from "../src/adapters/postgres/migrate.js";
import { createPool, quoteIdent } from "../src/adapters/postgres/pool.js";
import { importDeckSet } from "../src/adapters/postgres/rate-versions.js";
import { RedisBalanceStore } from "../src/adapters/redis/balance-store.js";
import { connectRedis } from "../src/adapters/redis/connection.js";
import { createKafkaClient } from "../src/adapters/kafka/select.js";
import { applyEntries } from "../src/balances/write-path.js";
import { startChild, waitReady } from "../src/cli/demo-billing.js";
import { loadConfig } from "../src/config/env.js";
import { parseRateDeck } from "../src/core/decks/rate-deck.js";
import { createLogger } from "../src/observability/logger.js";
import { allTopics, topicNames } from "../src/pipeline/topics.js";
import { generateCdrs, offerAtRate, prng } from "../src/tools/cdr-generator.js";
import { machine, median } from "./lib/report.js";
import { offerPairs, type PairLoad } from "./lib/session-load.js";

/** The part of autocannon's API used here (it ships no types). */
interface Histogram {
  p50: number;
  p99: number;
  max: number;
  average: number;
}
interface AutocannonResult {
  latency: Histogram;
  requests: Histogram & { total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats?: Record<string, { count: number }>;
  duration: number;
}
interface AutocannonRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  overallRate: number;
  headers?: Record<string, string>;
  requests?: { setupRequest: (req: AutocannonRequest) => AutocannonRequest }[];
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

const { values } = parseArgs({
  options: {
    runs: { type: "string" },
    seconds: { type: "string" },
    rates: { type: "string" },
    targets: { type: "string" },
    "session-rates": { type: "string" },
  },
});
const settings = {
  runs: Number(values.runs ?? 1),
  seconds: Number(values.seconds ?? 20),
  apiRates: (values.rates ?? "500,2000").split(",").map(Number),
  targets: (values.targets ?? "authorize,sessions").split(","),
  sessionRates: (values["session-rates"] ?? "500,1000,2000").split(",").map(Number),
  cdrRate: 2_000,
  accounts: 1_000,
  connections: 16,
  // One switch key at 2,000 req/s is above the default limit of 1,000/s per key: raise it.
  apiRateLimitPerSecond: 1_000_000,
};
const config = loadConfig(process.env);
const logger = createLogger("error");
const log = (line: string) => process.stderr.write(`${line}\n`);
const runId = `${Date.now()}`;
const schema = `bench_api_${runId}`;
const databaseUrl = `${config.databaseUrl}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
const port = 20_000 + Math.floor(Math.random() * 1_000);

interface Phase {
  target: "authorize" | "healthz";
  offered: number;
  achieved: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  cdrsRatedPerS: number;
}

log(`settings: ${JSON.stringify(settings)}`);
const rootPool = createPool(config.databaseUrl, { max: 1 });
await rootPool.query(`create schema ${quoteIdent(schema)}`);
const pool = createPool(config.databaseUrl, { schema, max: 4 });
const redis = connectRedis(config.redisUrl);
const kafka = await createKafkaClient({ brokers: config.kafkaBrokers, logger, clientId: "bench-api" });
const admin = await kafka.admin();
const topics = topicNames(`bench-api-${runId}.`);
const accounts = Array.from({ length: settings.accounts }, (_, i) => `api-${runId}-${i}`);
const phases: Phase[][] = [];
const sessionPhases: (PairLoad & { target: "sessions" | "healthz"; run: number })[] = [];
let stopStream = false;

try {
  await migrate(pool);
  const ratesText = await readFile("rates/rates.csv", "utf8");
  await importDeckSet(pool, {
    rates: { file: "rates/rates.csv", text: ratesText },
    surcharges: { file: "rates/surcharges.csv", text: await readFile("rates/surcharges.csv", "utf8") },
  });
  const rows = parseRateDeck(ratesText, "rates.csv");
  const prefixes = {
    outbound: rows.filter((r) => r.direction === "outbound").map((r) => r.prefix),
    inbound: rows.filter((r) => r.direction === "inbound").map((r) => r.prefix),
  };
  await pool.query(
    "insert into accounts (account_id, admin_email) select a, 'bench@example.com' from unnest($1::text[]) a",
    [accounts],
  );
  await applyEntries(
    { store: new RedisBalanceStore(redis), ledger: new PostgresLedger(pool), logger },
    accounts.map((accountId) => ({
      accountId,
      key: "credit:opening",
      kind: "credit" as const,
      amountMicros: 1_000_000_000_000n,
      cause: "opening",
    })),
  );
  const { api_key: switchKey } = await createApiKey(pool, "switch", null);
  await admin.createTopics(allTopics(topics).map((topic) => ({ topic, partitions: 3 })));

  const rater = startChild(
    "rater",
    ["run", "--topic-prefix", `bench-api-${runId}.`, "--group", `bench-api-${runId}`],
    port,
    {
      DATABASE_URL: databaseUrl,
      API_RATE_LIMIT_PER_S: String(settings.apiRateLimitPerSecond),
    },
  );
  try {
    await waitReady(rater);
    const stream = offerCdrs(prefixes);
    const random = prng(7);
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
    const authorizePath = () => {
      const direction = random() < 0.8 ? "outbound" : "inbound";
      const to = `${pick(prefixes[direction])}${String(Math.floor(random() * 1e7)).padStart(7, "0")}`;
      return `/v1/accounts/${pick(accounts)}/authorize?direction=${direction}&to=%2B${to}`;
    };
    await sleep(3_000); // the stream settles before the first phase

    for (let run = 1; run <= settings.runs; run++) {
      const results: Phase[] = [];
      for (const rate of settings.targets.includes("sessions") ? settings.sessionRates : []) {
        for (const target of ["sessions", "healthz"] as const) {
          const direction = () => (random() < 0.8 ? "outbound" : "inbound");
          const result = await offerPairs({
            port,
            key: switchKey,
            perSecond: rate,
            seconds: settings.seconds,
            pair: (i) => {
              if (target === "healthz")
                return [
                  { method: "GET", path: "/healthz" },
                  { method: "GET", path: "/healthz" },
                ];
              const d = direction();
              const base = `/v1/accounts/${pick(accounts)}/calls`;
              const callId = `b-${run}-${rate}-${i}`;
              const to = `+${pick(prefixes[d])}${String(Math.floor(random() * 1e7)).padStart(7, "0")}`;
              return [
                { method: "POST", path: base, body: { call_id: callId, direction: d, to } },
                { method: "POST", path: `${base}/${callId}/end`, body: { duration_seconds: 60 } },
              ];
            },
          });
          const phase = { target, run, ...result };
          sessionPhases.push(phase);
          log(`run ${run} ${JSON.stringify(phase)}`);
        }
      }
      for (const rate of settings.targets.includes("authorize") ? settings.apiRates : []) {
        for (const target of ["authorize", "healthz"] as const) {
          const ratedBefore = await ratedTotal();
          const result = await autocannon({
            url: `http://127.0.0.1:${port}`,
            connections: settings.connections,
            duration: settings.seconds,
            overallRate: rate,
            headers: { authorization: `Bearer ${switchKey}` },
            requests: [
              {
                setupRequest: (req) => ({
                  ...req,
                  method: "GET",
                  path: target === "authorize" ? authorizePath() : "/healthz",
                }),
              },
            ],
          });
          const phase: Phase = {
            target,
            offered: rate,
            achieved: Math.round(result.requests.total / result.duration),
            p50: result.latency.p50,
            p99: result.latency.p99,
            max: result.latency.max,
            errors: result.errors + result.timeouts,
            non2xx: result.non2xx,
            statusCodes: Object.fromEntries(
              Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count]),
            ),
            cdrsRatedPerS: Math.round(((await ratedTotal()) - ratedBefore) / result.duration),
          };
          results.push(phase);
          log(`run ${run} ${JSON.stringify(phase)}`);
          writeRaw({ settings, machine: machine(), raw: result, phase, run });
        }
      }
      phases.push(results);
    }
    stopStream = true;
    await stream;
  } finally {
    stopStream = true;
    log(`rater stopped (exit ${await rater.stop()})`);
  }

  const summary = (settings.targets.includes("authorize") ? settings.apiRates : []).flatMap((rate) =>
    (["authorize", "healthz"] as const).map((target) => {
      const runs = phases.map((r) => r.find((p) => p.offered === rate && p.target === target)!);
      const med = (f: (p: Phase) => number) => median(runs.map(f));
      return {
        target,
        offered: rate,
        achieved: med((p) => p.achieved),
        p50_ms: med((p) => p.p50),
        p99_ms: med((p) => p.p99),
        max_ms: med((p) => p.max),
        errors: runs.reduce((n, p) => n + p.errors, 0),
        non2xx: runs.reduce((n, p) => n + p.non2xx, 0),
        cdrs_rated_per_s: med((p) => p.cdrsRatedPerS),
      };
    }),
  );
  const file = `bench/results/raw/api-${runId}.json`;
  mkdirSync("bench/results/raw", { recursive: true });
  writeFileSync(
    file,
    JSON.stringify(
      { settings, machine: machine(), date: new Date().toISOString(), phases, summary, sessionPhases },
      null,
      2,
    ),
  );
  for (const s of summary) {
    log(
      `${s.target.padEnd(9)} ${String(s.offered).padStart(5)}/s → ${s.achieved}/s  p50 ${s.p50_ms} ms  p99 ${s.p99_ms} ms  max ${s.max_ms} ms  errors ${s.errors}  non-2xx ${s.non2xx}  (stream ${s.cdrs_rated_per_s} CDRs/s)`,
    );
  }
  const sessions = (settings.targets.includes("sessions") ? settings.sessionRates : []).flatMap((rate) =>
    (["sessions", "healthz"] as const).map((target) => {
      const runs = sessionPhases.filter((p) => p.offered === rate && p.target === target);
      const med = (f: (p: PairLoad) => number) => median(runs.map(f));
      return {
        target: target === "sessions" ? "start+end" : "healthz×2",
        offered: rate,
        achieved: med((p) => p.achieved),
        first_p50_ms: med((p) => p.first.p50),
        first_p99_ms: med((p) => p.first.p99),
        second_p50_ms: med((p) => p.second.p50),
        second_p99_ms: med((p) => p.second.p99),
        errors: runs.reduce((n, p) => n + p.errors + p.dropped, 0),
        non2xx: runs.reduce((n, p) => n + p.non2xx, 0),
      };
    }),
  );
  for (const s of sessions) {
    log(
      `${s.target.padEnd(9)} ${String(s.offered).padStart(5)}/s → ${s.achieved}/s  first (start) p50 ${s.first_p50_ms} ms p99 ${s.first_p99_ms} ms  second (end) p50 ${s.second_p50_ms} ms p99 ${s.second_p99_ms} ms  errors+dropped ${s.errors}  non-2xx ${s.non2xx}`,
    );
  }
  console.log(JSON.stringify({ bench: "api", runs: settings.runs, raw: file, summary, sessions }));
} finally {
  await admin.deleteTopics(allTopics(topics)).catch(() => undefined);
  await admin.disconnect();
  await pool.end();
  await rootPool.query(`drop schema ${quoteIdent(schema)} cascade`);
  await rootPool.end();
  redis.disconnect();
}

/** Offers CDRs at settings.cdrRate until stopStream. */
async function offerCdrs(prefixes: Record<"outbound" | "inbound", string[]>): Promise<void> {
  const producer = await kafka.producer();
  const cdrs = generateCdrs(Number.MAX_SAFE_INTEGER, {
    seed: 1,
    accounts,
    prefixes,
    idPrefix: `api-${runId}`,
    startMs: Date.now() - 60_000,
  });
  await offerAtRate({
    producer,
    topic: topics.cdrs,
    cdrs,
    perSecond: settings.cdrRate,
    until: () => stopStream,
    tickMs: 50,
  });
  await producer.disconnect();
}

async function ratedTotal(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^ratestream_cdrs_rated_total (\d+)/m.exec(text)?.[1] ?? 0);
}

function writeRaw(content: unknown): void {
  mkdirSync("bench/results/raw", { recursive: true });
  const { phase, run } = content as { phase: Phase; run: number };
  writeFileSync(
    `bench/results/raw/api-${runId}-r${run}-${phase.target}-${phase.offered}.json`,
    JSON.stringify(content, null, 2),
  );
}
