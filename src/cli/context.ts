import type { Redis } from "ioredis";
import type pg from "pg";
import { loadConfig } from "../config/env.js";
import { DependencyError } from "../errors.js";
import { PostgresLedger } from "../adapters/postgres/ledger.js";
import { connectRedis } from "../adapters/redis/connection.js";
import { refuseEvictingRedis } from "../adapters/redis/eviction.js";
import { RedisBalanceStore } from "../adapters/redis/balance-store.js";
import { faultWarning, faultsFromEnv, type Faults } from "../balances/faults.js";
import type { WritePathDeps } from "../balances/write-path.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { withDatabase } from "./database.js";

export interface StoresContext extends WritePathDeps {
  pool: pg.Pool;
  redis: Redis;
  logger: Logger;
  faults: Faults;
}

/**
 * Runs a command with the balance store (Redis) and the ledger (Postgres). Redis that
 * cannot be reached, or that may evict keys, fails the command (exit 2) instead of
 * waiting forever or risking money.
 */
export async function withStores<T>(work: (ctx: StoresContext) => Promise<T>): Promise<T> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.logLevel === "info" ? "warn" : config.logLevel);
  const faults = faultsFromEnv(process.env.RATESTREAM_FAULT);
  const planted = faultWarning(process.env.RATESTREAM_FAULT);
  if (planted) logger.warn(planted);
  return withDatabase(async (pool) => {
    const redis = connectRedis(config.redisUrl, { lazyConnect: true });
    redis.options.maxRetriesPerRequest = 2;
    redis.options.retryStrategy = (attempt) => (attempt > 3 ? null : 200 * attempt);
    try {
      await redis.connect();
    } catch (err) {
      throw new DependencyError(
        "redis",
        `cannot reach Redis at ${config.redisUrl}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    try {
      await refuseEvictingRedis(redis, config.redisUrl);
      return await work({
        pool,
        redis,
        logger,
        faults,
        store: new RedisBalanceStore(redis),
        ledger: new PostgresLedger(pool),
      });
    } finally {
      redis.disconnect();
    }
  });
}
