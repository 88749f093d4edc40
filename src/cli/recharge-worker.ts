import type { Command } from "commander";
import { Registry } from "prom-client";
import { DEFAULT_HTTP_PORTS, loadConfig } from "../config/env.js";
import { ConfigError } from "../errors.js";
import { createKafkaClient } from "../adapters/kafka/select.js";
import { PostgresLedger } from "../adapters/postgres/ledger.js";
import { createPool, pingPostgres } from "../adapters/postgres/pool.js";
import { RedisBalanceStore } from "../adapters/redis/balance-store.js";
import { connectBalanceRedis } from "../adapters/redis/eviction.js";
import { createStripePayments } from "../adapters/stripe/stripe-payments.js";
import { createLogger } from "../observability/logger.js";
import { OutboxPublisher } from "../pipeline/outbox.js";
import { topicNames } from "../pipeline/topics.js";
import { handleAutoRechargeRequest } from "../recharge/auto-recharge.js";
import { createChargeMetrics, resolvePendingCharges, type ChargeDeps } from "../recharge/charges.js";
import { renewDueNumbers } from "../recharge/number-renewal.js";
import { createWorkerMetrics, runBalanceEventWorker } from "../workers/balance-event-worker.js";
import * as parse from "./parse.js";

interface RechargeWorkerOptions {
  group: string;
  topicPrefix: string;
  partitions: number;
  renewEveryS: number;
  resolveEveryS: number;
}

/**
 * `ratestream recharge-worker`: auto-recharges through Stripe, monthly number renewals,
 * and the resolver of card charges left pending (src/recharge/charges.ts).
 */
export function registerRechargeWorkerCommand(program: Command): void {
  program
    .command("recharge-worker")
    .description("consume balance-events: charge saved cards for auto-recharges; renew numbers monthly")
    .option("--group <id>", "Kafka consumer group", "ratestream-recharge")
    .option("--topic-prefix <prefix>", "prefix for every topic name", "")
    .option("--partitions <n>", "partitions of balance-events if it must be created", (v) => Number(v), 3)
    .option("--renew-every-s <s>", "how often to look for numbers due for renewal", parse.seconds, 3600)
    .option(
      "--resolve-every-s <s>",
      "how often to ask Stripe about card charges left pending (manual and auto)",
      parse.seconds,
      60,
    )
    .action(async (options: RechargeWorkerOptions) => {
      await runRechargeWorker(options);
    });
}

async function runRechargeWorker(options: RechargeWorkerOptions): Promise<void> {
  const config = loadConfig(process.env, { httpPortDefault: DEFAULT_HTTP_PORTS["recharge-worker"] });
  if (!config.stripeSecretKey) {
    throw new ConfigError("STRIPE_SECRET_KEY", "is required by the recharge-worker (it charges saved cards)");
  }
  const logger = createLogger(config.logLevel, "ratestream-recharge-worker");
  const registry = new Registry();
  const metrics = createWorkerMetrics(registry, "recharge-worker");
  const topics = topicNames(options.topicPrefix);

  const pool = createPool(config.databaseUrl, { max: 4 });
  // It credits balances: a Redis that may evict keys loses or doubles money (SPEC §5).
  const redis = await connectBalanceRedis(config.redisUrl, logger, () => pool.end());
  const kafka = await createKafkaClient({
    brokers: config.kafkaBrokers,
    logger,
    clientId: "ratestream-recharge",
  });
  const producer = await kafka.producer();
  const outbox = new OutboxPublisher(pool, producer, topics.balanceEvents, logger, metrics.common);
  const write = { store: new RedisBalanceStore(redis), ledger: new PostgresLedger(pool), logger };
  const payments = createStripePayments({ secretKey: config.stripeSecretKey, apiBase: config.stripeApiBase });
  const publish = (ids: string[]) => outbox.publish(ids);
  const charges: ChargeDeps = {
    pool,
    write,
    payments,
    publish,
    logger,
    metrics: createChargeMetrics(registry, pool),
  };

  let renewing = Promise.resolve();
  const renew = () => {
    renewing = renewing
      .then(() => renewDueNumbers({ pool, write, publish }))
      .then((n) => {
        if (n > 0) logger.info({ numbers: n }, "renewed numbers for this month");
      })
      .catch((err: unknown) => logger.warn({ err }, "number renewal failed; will retry"));
  };
  renew();
  const renewTimer = setInterval(renew, parse.toMs(options.renewEveryS));
  renewTimer.unref();

  // Charges whose answer was lost (a crash, a timeout, a request without Idempotency-Key
  // that never came back) are settled by asking Stripe: at start-up, then periodically.
  let resolving = Promise.resolve();
  const resolve = () => {
    resolving = resolving
      .then(() => resolvePendingCharges(charges))
      .then((s) => {
        if (s.succeeded + s.failed > 0) logger.info(s, "resolved pending card charges");
      })
      .catch((err: unknown) => logger.warn({ err }, "resolving pending card charges failed; will retry"));
  };
  resolve();
  const resolveTimer = setInterval(resolve, parse.toMs(options.resolveEveryS));
  resolveTimer.unref();

  await runBalanceEventWorker({
    name: "recharge-worker",
    kafka,
    groupId: options.group,
    topic: topics.balanceEvents,
    partitions: options.partitions,
    httpPort: config.httpPort,
    registry,
    logger,
    metrics,
    checks: {
      redis: async () => void (await redis.ping()),
      postgres: () => pingPostgres(pool),
    },
    handle: async (event) => {
      if (event.type !== "auto_recharge_requested") {
        metrics.handled.inc({ type: event.type, outcome: "ignored" });
        return;
      }
      const outcome = await handleAutoRechargeRequest(charges, event);
      metrics.handled.inc({ type: event.type, outcome });
      logger.info(
        { eventId: event.event_id, accountId: event.account_id, outcome },
        "auto-recharge request handled",
      );
    },
    close: async () => {
      clearInterval(renewTimer);
      clearInterval(resolveTimer);
      await renewing;
      await resolving;
      await producer.disconnect();
      redis.disconnect();
      await pool.end();
    },
  });
}
