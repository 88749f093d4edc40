import { Redis } from "ioredis";

/**
 * A Redis connection that reconnects on its own. By default commands wait while it
 * reconnects; `maxRetriesPerRequest` makes them fail after that many reconnection
 * attempts instead, so a caller can count the outage and back off. `keyPrefix` lets
 * tests share one server without seeing each other's accounts.
 */
export function connectRedis(
  url: string,
  options: { keyPrefix?: string; lazyConnect?: boolean; maxRetriesPerRequest?: number | null } = {},
): Redis {
  return new Redis(url, {
    keyPrefix: options.keyPrefix,
    lazyConnect: options.lazyConnect ?? false,
    maxRetriesPerRequest: options.maxRetriesPerRequest ?? null,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
  });
}
