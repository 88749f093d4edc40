/**
 * Redis must never evict ratestream's keys (SPEC §5): an evicted `pending` hash makes a
 * redelivered entry apply twice, an evicted state loses entries not yet recorded. Every
 * command that keeps balances in Redis calls this at start-up and refuses a Redis that
 * could evict. The policy is read from `INFO memory`, which managed Redis services
 * answer even where they disable CONFIG; on a cluster, every master is asked.
 */
import type { Cluster, Redis } from "ioredis";
import { connectRedis } from "./connection.js";
import { ConfigError, DependencyError, RatestreamError } from "../../errors.js";

const REQUIRED = "noeviction";

/** Throws a ConfigError naming REDIS_URL unless every master's maxmemory-policy is noeviction. */
export async function refuseEvictingRedis(redis: Redis | Cluster, url: string): Promise<void> {
  let nodes: { node: Redis; where: string }[];
  try {
    if (redis.isCluster) {
      const cluster = redis as Cluster;
      await cluster.ping(); // waits until the cluster's slots, and so its masters, are known
      nodes = cluster
        .nodes("master")
        .map((node) => ({ node, where: `${node.options.host}:${node.options.port}` }));
    } else {
      nodes = [{ node: redis as Redis, where: redactedUrl(url) }];
    }
    if (nodes.length === 0) throw new Error("the cluster names no master");
    for (const { node, where } of nodes) {
      const policy = /^maxmemory_policy:(\S+)/m.exec(await node.info("memory"))?.[1];
      if (policy === REQUIRED) continue;
      throw new ConfigError(
        "REDIS_URL",
        `the Redis at ${where} ${
          policy === undefined
            ? "does not say its maxmemory-policy (INFO memory has no maxmemory_policy)"
            : `has maxmemory-policy ${policy}`
        }, so it may evict balance keys and lose or double money; set maxmemory-policy noeviction (redis.conf, CONFIG SET maxmemory-policy noeviction, or the managed service's parameter group)`,
      );
    }
  } catch (err) {
    if (err instanceof RatestreamError) throw err;
    throw new DependencyError(
      "redis",
      `cannot reach Redis at ${redactedUrl(url)} to read its maxmemory-policy: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** A URL without its password, for messages. */
function redactedUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "***";
  return parsed.href;
}

/**
 * The Redis of a long-running process that keeps balances: commands fail after 3
 * reconnection attempts (so a batch backs off and the outage shows in its metrics rather
 * than queueing), errors are logged, and a Redis that may evict is refused before
 * anything is consumed. `release` frees what the caller opened before (its pool) when
 * start-up stops here.
 */
export async function connectBalanceRedis(
  url: string,
  logger: { warn(obj: object, msg: string): void },
  release: () => Promise<void>,
): Promise<Redis> {
  const redis = connectRedis(url, { maxRetriesPerRequest: 3 });
  redis.on("error", (err) => logger.warn({ err }, "redis connection error"));
  try {
    await refuseEvictingRedis(redis, url);
  } catch (err) {
    redis.disconnect();
    await release();
    throw err;
  }
  return redis;
}
