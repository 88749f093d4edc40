/**
 * The periodic work of call sessions in `ratestream run`: sessions past their expiry are
 * marked expired in the ledger (Redis already holds nothing for them: its script expires
 * them by its own clock when it meets them), and the session gauges are refreshed.
 * Several raters may sweep at once: each step is safe to repeat, and each expiry is
 * counted by the one sweep whose update marked it.
 */
import type pg from "pg";
import { callSessionTotals, expireCallSessions } from "../adapters/postgres/call-sessions.js";
import type { Metrics } from "../observability/metrics.js";

const STATES = ["active", "ended"] as const;

export async function sweepCallSessions(
  pool: pg.Pool,
  metrics: Pick<Metrics, "callExpiries" | "callSessionsOpen" | "callHeldMicros">,
  options: { marginMs?: number } = {},
): Promise<{ expired: number; byState: Record<(typeof STATES)[number], number> }> {
  const byState = await expireCallSessions(pool, options.marginMs);
  const totals = await callSessionTotals(pool);
  for (const state of STATES) {
    metrics.callExpiries.inc({ state }, byState[state]);
    metrics.callSessionsOpen.set({ state }, totals[state].open);
    metrics.callHeldMicros.set({ state }, Number(totals[state].heldMicros));
  }
  return { expired: byState.active + byState.ended, byState };
}
