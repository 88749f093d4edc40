/** A ledger schema and a Redis key space of the test's own, with the write path wired up. */
import type pg from "pg";
import type { Redis } from "ioredis";
import { migrate } from "../../src/adapters/postgres/migrate.js";
import { PostgresLedger } from "../../src/adapters/postgres/ledger.js";
import { accountKeys, allAccountKeys } from "../../src/adapters/redis/keys.js";
import { RedisBalanceStore } from "../../src/adapters/redis/balance-store.js";
import { connectRedis } from "../../src/adapters/redis/connection.js";
import type { WritePathDeps } from "../../src/balances/write-path.js";
import type { EntryRequest } from "../../src/balances/types.js";
import { config, Scope, testLogger, uniqueName } from "./services.js";

export interface BalanceRig {
  pool: pg.Pool;
  redis: Redis;
  schema: string;
  deps: WritePathDeps & { store: RedisBalanceStore; ledger: PostgresLedger };
  /** DATABASE_URL for a child process that should use this test's schema. */
  databaseUrl: string;
  newAccount(options?: { trial?: boolean }): Promise<string>;
  /** Drops every Redis key of the test's accounts, as a Redis restart would. */
  wipeRedis(): Promise<void>;
  balance(accountId: string): Promise<bigint>;
  /** The account's Redis state hash as it stands (settings included); {} when missing. */
  redisState(accountId: string): Promise<Record<string, string>>;
  ledgerBalance(accountId: string): Promise<bigint>;
  events(
    accountId: string,
  ): Promise<{ type: string; balance_micros: string; amount_micros: string | null; cause: string }[]>;
}

/**
 * Redis keys carry no test prefix here so that child processes (the CLI) share them:
 * isolation comes from account ids no other test uses, all removed afterwards.
 */
export async function balanceRig(scope: Scope, options = { migrate: true }): Promise<BalanceRig> {
  const { pool, schema } = await scope.postgres();
  if (options.migrate) await migrate(pool);
  const redis = connectRedis(config.redisUrl);
  // Chaos tests stop this Redis on purpose; commands fail and are retried meanwhile.
  redis.on("error", () => undefined);
  const accounts: string[] = [];
  const wipeRedis = async () => {
    const keys = accounts.flatMap(allAccountKeys);
    if (keys.length > 0) await redis.del(...keys);
  };
  scope.defer(async () => {
    await wipeRedis();
    redis.disconnect();
  });
  const store = new RedisBalanceStore(redis);
  const ledger = new PostgresLedger(pool);
  return {
    pool,
    redis,
    schema,
    deps: { store, ledger, logger: testLogger },
    databaseUrl: `${config.databaseUrl}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    async newAccount(options = {}) {
      const id = uniqueName("acct");
      await pool.query("insert into accounts (account_id, admin_email, trial) values ($1, $2, $3)", [
        id,
        `admin@${id}.example`,
        options.trial ?? false,
      ]);
      accounts.push(id);
      return id;
    },
    wipeRedis,
    async balance(accountId) {
      const snapshot = await store.snapshot(accountId);
      if (snapshot === "missing") throw new Error(`${accountId} is not in Redis`);
      return snapshot.balanceMicros;
    },
    redisState(accountId) {
      return redis.hgetall(accountKeys(accountId).state);
    },
    async ledgerBalance(accountId) {
      const { rows } = await pool.query<{ sum: string }>(
        "select coalesce(sum(amount_micros), 0) as sum from ledger_entries where account_id = $1",
        [accountId],
      );
      return BigInt(rows[0]!.sum);
    },
    async events(accountId) {
      const { rows } = await pool.query<{
        type: string;
        balance_micros: string;
        amount_micros: string | null;
        cause: string;
      }>(
        "select type, balance_micros, amount_micros, cause from balance_events where account_id = $1 order by occurred_at, balance_micros desc",
        [accountId],
      );
      return rows;
    },
  };
}

export function credit(accountId: string, reference: string, micros: bigint): EntryRequest {
  return {
    accountId,
    key: `credit:${reference}`,
    kind: "credit",
    amountMicros: micros,
    cause: reference,
    reference,
  };
}

export function call(accountId: string, cdrId: string, chargeMicros: bigint): EntryRequest {
  return {
    accountId,
    key: `cdr:${cdrId}`,
    kind: "call",
    amountMicros: -chargeMicros,
    cause: cdrId,
    cdrId,
    rateVersion: 1,
  };
}
