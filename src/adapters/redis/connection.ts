import { Redis } from "ioredis";

/**
 * A Redis connection that queues commands while reconnecting rather than failing them,
 * so a restart of Redis is a pause, not an error per record. `keyPrefix` lets tests
 * share one server without seeing each other's accounts.
 */
export function connectRedis(
  url: string,
  options: { keyPrefix?: string; lazyConnect?: boolean } = {},
): Redis {
  return new Redis(url, {
    keyPrefix: options.keyPrefix,
    lazyConnect: options.lazyConnect ?? false,
    maxRetriesPerRequest: null,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
  });
}
