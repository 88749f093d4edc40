/**
 * ioredis's errors in ratestream's vocabulary: Redis away, loading, failing over or out
 * of memory is a DependencyError. Any other error (a script's own `error()`, a reply we
 * did not expect) is returned as undefined: not an outage, so not excused.
 */
import { DependencyError, RatestreamError } from "../../errors.js";

/** ioredis's errors for a connection that is gone or never came. */
const CONNECTION_LOST =
  /^Connection is closed|Stream isn't writeable|Reached the max retries per request|Command timed out|None of startup nodes is available|Failed to refresh slots cache/;

/** Reply prefixes of a server that is there but cannot serve now. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|OOM|NOREPLICAS|MISCONF)\b/;

export function redisError(err: unknown): RatestreamError | undefined {
  if (err instanceof RatestreamError) return err;
  const e = err as { name?: string; message?: string } | null;
  const name = e?.name ?? "";
  const message = e?.message ?? "";
  const away =
    name === "MaxRetriesPerRequestError" ||
    name === "ClusterAllFailedError" ||
    CONNECTION_LOST.test(message) ||
    (name === "ReplyError" && TRANSIENT_REPLY.test(message));
  return away ? new DependencyError("redis", `Redis: ${message}`, { cause: err }) : undefined;
}
