import type { Command } from "commander";
import { Gauge, Registry } from "prom-client";
import { DEFAULT_HTTP_PORTS, loadConfig } from "../config/env.js";
import { createKafkaClient } from "../adapters/kafka/select.js";
import { startOpsServer } from "../adapters/http/ops-server.js";
import { createStripePayments } from "../adapters/stripe/stripe-payments.js";
import { buildApiApp } from "../api/app.js";
import { PostgresLedger } from "../adapters/postgres/ledger.js";
import { createPool, pingPostgres } from "../adapters/postgres/pool.js";
import { pricingFor, RateTableWatcher } from "../adapters/postgres/rate-table-watcher.js";
import { createAvroRegistry } from "../adapters/registry/avro.js";
import { RedisBalanceStore } from "../adapters/redis/balance-store.js";
import { connectBalanceRedis } from "../adapters/redis/eviction.js";
import { RedisCallStore } from "../adapters/redis/call-store.js";
import { sweepCallSessions } from "../calls/sweep.js";
import { faultWarning, faultsFromEnv } from "../balances/faults.js";
import { checkAccount } from "../balances/reconcile.js";
import { sweepStranded } from "../balances/stranded.js";
import { createLogger } from "../observability/logger.js";
import { untilStopSignal } from "../workers/stop-signal.js";
import { createMetrics } from "../observability/metrics.js";
import { OutboxPublisher } from "../pipeline/outbox.js";
import { createBatchHandler } from "../pipeline/rater.js";
import { allTopics, topicNames } from "../pipeline/topics.js";
import { deprecatedFlag } from "./deprecated-flag.js";
import * as parse from "./parse.js";

const SHUTDOWN_GRACE_MS = 30_000;

interface RunOptions {
  group: string;
  topicPrefix: string;
  partitions: number;
  maxWaitS: number;
  concurrency: number;
  sessionTimeoutS: number;
  reconcileEveryS: number;
  strandedAfterS: number;
}

/** Runs `task` every interval, never two at once (a slow round skips the next tick). */
function every(intervalMs: number, task: () => Promise<unknown>): NodeJS.Timeout {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void task().finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return timer;
}

/**
 * Every interval, reconciles up to 200 of the accounts debited since the last round and
 * exposes how many drifted (ratestream_reconcile_drift_accounts) for alerting.
 */
function sampleReconcile(s: {
  store: RedisBalanceStore;
  ledger: PostgresLedger;
  touched: Set<string>;
  metrics: ReturnType<typeof createMetrics>;
  logger: ReturnType<typeof createLogger>;
  intervalMs: number;
}): NodeJS.Timeout {
  return every(s.intervalMs, async () => {
    const accounts = [...s.touched].slice(0, 200);
    s.touched.clear();
    try {
      let drifted = 0;
      for (const account of accounts) {
        const check = await checkAccount(s.store, s.ledger, account);
        s.metrics.reconcileChecked.inc();
        if (check.status === "drift") {
          drifted++;
          s.logger.error({ accountId: account, check }, "reconcile: Redis disagrees with the ledger");
        }
      }
      s.metrics.reconcileDrift.set(drifted);
    } catch (err) {
      s.logger.warn({ err }, "sampled reconcile failed");
    }
  });
}

/**
 * Finishes or undoes balance changes stranded in Redis (balances/stranded.ts), checking
 * twice per bound. Several raters may sweep at once: each step is safe to repeat.
 */
function sweepStrandedEvery(s: {
  store: RedisBalanceStore;
  ledger: PostgresLedger;
  logger: ReturnType<typeof createLogger>;
  metrics: ReturnType<typeof createMetrics>;
  afterMs: number;
}): NodeJS.Timeout {
  return every(Math.max(1_000, s.afterMs / 2), () =>
    sweepStranded(s, { olderThanMs: s.afterMs })
      .then(({ finished, undone }) => {
        s.metrics.strandedUndone.inc({ outcome: "finished" }, finished);
        s.metrics.strandedUndone.inc({ outcome: "undone" }, undone);
      })
      .catch((err: unknown) =>
        s.logger.warn({ err }, "sweep of stranded balance changes failed; will retry"),
      ),
  );
}

/** Every interval, sweepCallSessions (calls/sweep.ts): expired sessions marked, gauges refreshed. */
function sweepCallSessionsEvery(s: {
  pool: ReturnType<typeof createPool>;
  logger: ReturnType<typeof createLogger>;
  metrics: ReturnType<typeof createMetrics>;
  intervalMs: number;
}): NodeJS.Timeout {
  return every(s.intervalMs, () =>
    sweepCallSessions(s.pool, s.metrics).catch((err: unknown) =>
      s.logger.warn({ err }, "sweep of expired call sessions failed; will retry"),
    ),
  );
}

/** `ratestream run`: the rater — consumer, the HTTP API, /metrics, /healthz, /readyz. */
export function registerRunCommand(program: Command): void {
  const run = program
    .command("run")
    .description(
      "the rater: consume CDRs, rate, debit, record, publish; serve the HTTP API, /metrics, /healthz, /readyz",
    )
    .option("--group <id>", "Kafka consumer group", "ratestream")
    .option(
      "--topic-prefix <prefix>",
      "prefix for every topic name (isolation of environments and tests)",
      "",
    )
    .option(
      "--partitions <n>",
      "partitions of the topics created at start-up when missing",
      (v) => Number(v),
      3,
    )
    .option("--max-wait-s <s>", "longest a fetch waits for records", parse.seconds, 0.5)
    .option(
      "--concurrency <n>",
      "partitions whose batches are handled at once (their I/O overlaps; see BENCHMARKS.md)",
      (v) => Number(v),
      3,
    )
    .option(
      "--session-timeout-s <s>",
      "how long the group waits for a silent member before giving its partitions to others",
      parse.seconds,
      30,
    )
    .option(
      "--reconcile-every-s <s>",
      "how often to reconcile a sample of recently debited accounts",
      parse.seconds,
      60,
    )
    .option(
      "--stranded-after-s <s>",
      "undo (or finish) balance changes another writer left in Redis without a ledger entry for this long",
      parse.seconds,
      60,
    )
    .action(async (options: RunOptions) => {
      await runRater(options);
    });
  deprecatedFlag(run, {
    flags: "--max-wait-ms <ms>",
    replacement: "--max-wait-s",
    parse: parse.millisecondsAsSeconds,
  });
  deprecatedFlag(run, {
    flags: "--session-timeout-ms <ms>",
    replacement: "--session-timeout-s",
    parse: parse.millisecondsAsSeconds,
  });
}

async function runRater(options: RunOptions): Promise<void> {
  const config = loadConfig(process.env, { httpPortDefault: DEFAULT_HTTP_PORTS.run });
  const faults = faultsFromEnv(process.env.RATESTREAM_FAULT);
  const logger = createLogger(config.logLevel, "ratestream-run");
  const planted = faultWarning(process.env.RATESTREAM_FAULT);
  if (planted) logger.warn(planted);
  const registry = new Registry();
  const metrics = createMetrics(registry);
  const topics = topicNames(options.topicPrefix);

  const pool = createPool(config.databaseUrl, { max: 8 });
  // Before consuming anything: a Redis that may evict keys loses or doubles money (SPEC §5).
  const redis = await connectBalanceRedis(config.redisUrl, logger, () => pool.end());
  const kafka = await createKafkaClient({ brokers: config.kafkaBrokers, logger, clientId: "ratestream-run" });
  const admin = await kafka.admin();
  await admin.createTopics(allTopics(topics).map((topic) => ({ topic, partitions: options.partitions })));
  const producer = await kafka.producer();
  const outbox = new OutboxPublisher(pool, producer, topics.balanceEvents, logger, metrics);
  new Gauge({
    name: "ratestream_outbox_backlog",
    help: "Balance events recorded but not yet published.",
    registers: [registry],
    async collect() {
      this.set(await outbox.backlog().catch(() => NaN));
    },
  });

  const watcher = new RateTableWatcher({ pool, databaseUrl: config.databaseUrl, logger });
  await watcher.start();
  outbox.start();

  let stopping = false;
  const store = new RedisBalanceStore(redis);
  const ledger = new PostgresLedger(pool);
  const touched = new Set<string>();
  const sampler = sampleReconcile({
    store,
    ledger,
    touched,
    metrics,
    logger,
    intervalMs: parse.toMs(options.reconcileEveryS),
  });
  const stranded = sweepStrandedEvery({
    store,
    ledger,
    logger,
    metrics,
    afterMs: parse.toMs(options.strandedAfterS),
  });
  const handler = createBatchHandler({
    touched,
    write: {
      store,
      ledger,
      logger,
      faults,
      onRestore: () => metrics.accountsRestored.inc(),
    },
    registry: createAvroRegistry(config.schemaRegistryUrl),
    producer,
    outbox,
    plans: watcher,
    topics,
    logger,
    metrics,
    faults,
    stopping: () => stopping,
  });

  const consumer = await kafka.consumer({
    groupId: options.group,
    maxWaitTimeMs: parse.toMs(options.maxWaitS),
    sessionTimeoutMs: parse.toMs(options.sessionTimeoutS),
    partitionsConcurrently: options.concurrency,
  });
  await consumer.subscribe([topics.cdrs]);
  await consumer.run(handler);

  // The HTTP API (SPEC §7) answers every route the operations endpoints do not.
  const api = await buildApiApp({
    pool,
    write: { store, ledger, logger },
    rateTable: async (accountId) => (await pricingFor(watcher, accountId))?.table,
    payments: config.stripeSecretKey
      ? createStripePayments({ secretKey: config.stripeSecretKey, apiBase: config.stripeApiBase })
      : undefined,
    publishEvents: (eventIds) => outbox.publish(eventIds),
    logger,
    rateLimitPerSecond: config.apiRateLimitPerSecond,
    calls: {
      store: new RedisCallStore(redis),
      settings: config.calls,
      metrics: { grant: (result) => metrics.callGrants.inc({ result }) },
    },
  });
  const callSweep = sweepCallSessionsEvery({ pool, logger, metrics, intervalMs: 10_000 });
  const server = await startOpsServer({
    port: config.httpPort,
    registry,
    checks: {
      kafka: async () => void (await admin.listTopics()),
      redis: async () => void (await redis.ping()),
      postgres: () => pingPostgres(pool),
      rate_table: () =>
        watcher.anyVersion() ? Promise.resolve() : Promise.reject(new Error("no rate version imported yet")),
    },
    routes: (req, res) => {
      api.routing(req, res);
      return Promise.resolve(true);
    },
  });
  logger.info({ topics, group: options.group, httpPort: config.httpPort }, "rater running");

  await untilStopSignal(logger, {
    inFlight: "batch",
    graceMs: SHUTDOWN_GRACE_MS,
    onStop: () => (stopping = true),
  });

  // kafkajs waits for the batch in flight (which commits) before leaving the group.
  clearInterval(sampler);
  clearInterval(stranded);
  clearInterval(callSweep);
  await consumer.disconnect();
  await outbox.stop();
  await watcher.stop();
  await producer.disconnect();
  await admin.disconnect();
  server.close();
  await api.close();
  redis.disconnect();
  await pool.end();
  logger.info("stopped");
  // All closed, offsets committed. After a broker restart, kafkajs can hold a broker
  // socket past disconnect (a reconnect timer outlives it, tulios/kafkajs#1147), which
  // would keep the process up until the forced exit 1: exit now, successfully.
  process.exit(0);
}
