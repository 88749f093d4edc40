/**
 * The periodic work of call sessions in `ratestream run`: sessions past their expiry are
 * marked expired in the ledger (Redis already holds nothing for them: its script expires
 * them by its own clock when it meets them), and the session gauges are refreshed.
 * Several raters may sweep at once: each step is safe to repeat.
 */
import type pg from "pg";
import { callSessionTotals, expireCallSessions } from "../adapters/postgres/call-sessions.js";
import type { Metrics } from "../observability/metrics.js";

export async function sweepCallSessions(
  pool: pg.Pool,
  metrics: Pick<Metrics, "callExpiries" | "callSessionsOpen" | "callHeldMicros">,
  options: { marginMs?: number } = {},
): Promise<{ expired: number }> {
  const expired = await expireCallSessions(pool, options.marginMs);
  metrics.callExpiries.inc(expired);
  const totals = await callSessionTotals(pool);
  metrics.callSessionsOpen.set(totals.open);
  metrics.callHeldMicros.set(Number(totals.heldMicros));
  return { expired };
}
