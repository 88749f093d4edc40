import type { Command } from "commander";
import { Registry } from "prom-client";
import { createKafkaClient } from "../adapters/kafka/select.js";
import { createPool, pingPostgres } from "../adapters/postgres/pool.js";
import { createSmtpMailer } from "../adapters/smtp/mailer.js";
import { DEFAULT_HTTP_PORTS, loadConfig } from "../config/env.js";
import { ConfigError } from "../errors.js";
import { createEmailCounter, createNotifyHandler } from "../notify/notify-handler.js";
import { createLogger } from "../observability/logger.js";
import { topicNames } from "../pipeline/topics.js";
import { createWorkerMetrics, runBalanceEventWorker } from "../workers/balance-event-worker.js";

interface NotifyWorkerOptions {
  group: string;
  topicPrefix: string;
  partitions: number;
}

/** `ratestream notify-worker`: emails the account admin about balance events. */
export function registerNotifyWorkerCommand(program: Command): void {
  program
    .command("notify-worker")
    .description(
      "consume balance-events and email the account admin over SMTP_URL (one email per event); serve /metrics, /healthz, /readyz",
    )
    .option("--group <id>", "Kafka consumer group", "ratestream-notify")
    .option("--topic-prefix <prefix>", "as given to `ratestream run`", "")
    .option(
      "--partitions <n>",
      "partitions of balance-events when it is created at start-up",
      (v) => Number(v),
      3,
    )
    .action(async (options: NotifyWorkerOptions) => {
      await runNotifyWorker(options);
    });
}

async function runNotifyWorker(options: NotifyWorkerOptions): Promise<void> {
  const config = loadConfig(process.env, { httpPortDefault: DEFAULT_HTTP_PORTS["notify-worker"] });
  if (!config.smtpUrl) {
    throw new ConfigError(
      "SMTP_URL",
      "is not set; notify-worker sends its emails through it (smtp://host:port)",
    );
  }
  const logger = createLogger(config.logLevel, "ratestream-notify-worker");
  const registry = new Registry();
  const metrics = createWorkerMetrics(registry, "notify-worker");
  const pool = createPool(config.databaseUrl, { max: 4 });
  const mailer = createSmtpMailer(config.smtpUrl, config.smtpFrom);
  const kafka = await createKafkaClient({
    brokers: config.kafkaBrokers,
    logger,
    clientId: "ratestream-notify-worker",
  });
  await runBalanceEventWorker({
    name: "notify-worker",
    kafka,
    groupId: options.group,
    topic: topicNames(options.topicPrefix).balanceEvents,
    partitions: options.partitions,
    httpPort: config.httpPort,
    registry,
    checks: {
      postgres: () => pingPostgres(pool),
      smtp: () => mailer.verify(),
    },
    handle: createNotifyHandler({ pool, mailer, logger, metrics, emails: createEmailCounter(registry) }),
    logger,
    metrics,
    close: async () => {
      mailer.close();
      await pool.end();
    },
  });
}
