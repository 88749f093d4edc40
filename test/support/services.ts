/**
 * Per-test isolation on shared real servers: each test gets its own Kafka topics and
 * consumer group, Redis key prefix, Postgres schema and registry subject, and removes
 * them afterwards, so suites can run in parallel without seeing each other's data.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type pg from "pg";
import { loadConfig, type Config } from "../../src/config/env.js";
import { createKafkajsClient } from "../../src/adapters/kafka/kafkajs-client.js";
import type { KafkaAdmin, KafkaClient } from "../../src/adapters/kafka/types.js";
import { connectRedis } from "../../src/adapters/redis/connection.js";
import { createPool, quoteIdent } from "../../src/adapters/postgres/pool.js";
import { createLogger } from "../../src/observability/logger.js";

export const config: Config = loadConfig(process.env);
export const testLogger = createLogger(config.logLevel === "info" ? "warn" : config.logLevel, "test");

/** A name no other test run uses: `<prefix>_<12 hex chars>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString("hex")}`;
}

type Cleanup = () => unknown;

/** Collects clean-up steps; `cleanup()` runs them newest first, even if one fails. */
export class Scope {
  private readonly steps: Cleanup[] = [];

  defer(step: Cleanup): void {
    this.steps.push(step);
  }

  async cleanup(): Promise<void> {
    const errors: unknown[] = [];
    for (const step of this.steps.reverse()) {
      try {
        await step();
      } catch (err) {
        errors.push(err);
      }
    }
    this.steps.length = 0;
    if (errors.length > 0) throw new AggregateError(errors, "test clean-up failed");
  }

  kafka(): KafkaClient {
    return createKafkajsClient({
      brokers: config.kafkaBrokers,
      logger: testLogger,
      clientId: "ratestream-test",
    });
  }

  async admin(): Promise<KafkaAdmin> {
    const admin = await this.kafka().admin();
    this.defer(() => admin.disconnect());
    return admin;
  }

  /** A fresh topic, deleted after the test. */
  async topic(prefix: string, partitions = 1): Promise<string> {
    const topic = uniqueName(`t_${prefix}`);
    const admin = await this.admin();
    await admin.createTopics([{ topic, partitions }]);
    this.defer(() => admin.deleteTopics([topic]));
    return topic;
  }

  /** A Redis connection whose keys all start with a prefix of this test's own; they are deleted after. */
  redis(): Redis {
    const keyPrefix = `${uniqueName("test")}:`;
    const redis = connectRedis(config.redisUrl, { keyPrefix });
    this.defer(async () => {
      const raw = connectRedis(config.redisUrl);
      const keys = await raw.keys(`${keyPrefix}*`);
      if (keys.length > 0) await raw.del(...keys);
      raw.disconnect();
      redis.disconnect();
    });
    return redis;
  }

  /** A pool whose search_path is a new schema of this test's own, dropped after. */
  async postgres(): Promise<{ pool: pg.Pool; schema: string }> {
    const schema = uniqueName("test");
    const admin = createPool(config.databaseUrl, { max: 1 });
    await admin.query(`create schema ${quoteIdent(schema)}`);
    const pool = createPool(config.databaseUrl, { schema, max: 4 });
    this.defer(async () => {
      await pool.end();
      await admin.query(`drop schema ${quoteIdent(schema)} cascade`);
      await admin.end();
    });
    return { pool, schema };
  }

  /** A registry subject of this test's own, deleted (soft, then hard) after. */
  registrySubject(prefix: string): string {
    const subject = `${uniqueName(prefix)}-value`;
    this.defer(async () => {
      const base = `${config.schemaRegistryUrl}/subjects/${encodeURIComponent(subject)}`;
      await fetch(base, { method: "DELETE" });
      await fetch(`${base}?permanent=true`, { method: "DELETE" });
    });
    return subject;
  }
}
