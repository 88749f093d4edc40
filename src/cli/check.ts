import type { Command } from "commander";
import { loadConfig, type Config } from "../config/env.js";
import { createAvroRegistry, SCHEMA_FILES } from "../adapters/registry/avro.js";
import { createKafkaClient } from "../adapters/kafka/select.js";
import { connectRedis } from "../adapters/redis/connection.js";
import { refuseEvictingRedis } from "../adapters/redis/eviction.js";
import { createPool, serverVersion } from "../adapters/postgres/pool.js";
import { createLogger } from "../observability/logger.js";

interface Probe {
  name: string;
  where: string;
  run(): Promise<string>;
}

/** `ratestream check`: does every server in the configuration answer? */
export function registerCheckCommand(program: Command): void {
  program
    .command("check")
    .description("check that Kafka, the schema registry, Redis and Postgres of the configuration answer")
    .action(async () => {
      const config = loadConfig(process.env);
      let failed = 0;
      for (const probe of probes(config)) {
        try {
          const detail = await withTimeout(probe.run(), 10_000);
          process.stdout.write(`${probe.name.padEnd(9)} ok    ${probe.where} ${detail}\n`);
        } catch (err) {
          failed++;
          const reason = err instanceof Error ? err.message : String(err);
          process.stdout.write(`${probe.name.padEnd(9)} FAIL  ${probe.where} ${reason}\n`);
        }
      }
      // A service that cannot be reached is exit 2 (SPEC §6).
      if (failed > 0) process.exitCode = 2;
    });
}

function probes(config: Config): Probe[] {
  const logger = createLogger("silent");
  return [
    {
      name: "kafka",
      where: config.kafkaBrokers.join(","),
      async run() {
        const admin = await (await createKafkaClient({ brokers: config.kafkaBrokers, logger })).admin();
        try {
          return `(${(await admin.listTopics()).length} topics)`;
        } finally {
          await admin.disconnect();
        }
      },
    },
    {
      name: "registry",
      where: config.schemaRegistryUrl,
      async run() {
        const id = await createAvroRegistry(config.schemaRegistryUrl).registerFile(
          "ratestream-check-value",
          SCHEMA_FILES.cdr,
        );
        return `(cdr schema id ${id})`;
      },
    },
    {
      name: "redis",
      where: redact(config.redisUrl),
      async run() {
        const redis = connectRedis(config.redisUrl, { lazyConnect: true });
        redis.options.maxRetriesPerRequest = 0;
        redis.options.retryStrategy = () => null;
        try {
          await redis.connect();
          const pong = await redis.ping();
          // Answering is not enough: a Redis that may evict keys is refused at start-up (SPEC §5).
          await refuseEvictingRedis(redis, config.redisUrl);
          return `(${pong}, maxmemory-policy noeviction)`;
        } finally {
          redis.disconnect();
        }
      },
    },
    {
      name: "postgres",
      where: redact(config.databaseUrl),
      async run() {
        const pool = createPool(config.databaseUrl, { max: 1 });
        try {
          return `(PostgreSQL ${await serverVersion(pool)})`;
        } finally {
          await pool.end();
        }
      },
    },
  ];
}

/** A URL without its password, for printing. */
function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "***";
  return parsed.href;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
