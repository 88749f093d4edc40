/** What the API needs from the process that serves it, and helpers every route shares. */
import type pg from "pg";
import { getAccount } from "../adapters/postgres/accounts.js";
import type { AccountRow } from "../adapters/postgres/ledger.js";
import { eventIdOf } from "../balances/event-id.js";
import { currentBalance } from "../balances/current-balance.js";
import type { WriteOutcome, WritePathDeps } from "../balances/write-path.js";
import type { RateTable } from "../core/rating/rate-table.js";
import type { Logger } from "../observability/logger.js";
import type { CardPayments } from "../recharge/payments.js";
import { listCalls, type CallDeps, type CallMetrics, type CallSettings } from "../calls/sessions.js";
import type { CallStore } from "../calls/types.js";
import { ApiError } from "./errors.js";

/** Finds the rate version that prices an account: in memory on a rater, so usually sync. */
export type RateTableOf = (accountId: string) => RateTable | undefined | Promise<RateTable | undefined>;

export interface ApiDeps {
  pool: pg.Pool;
  write: WritePathDeps;
  /**
   * The newest version of the account's plan (SPEC §10); undefined when the account or
   * its plan's version is unknown.
   */
  rateTable: RateTableOf;
  /** undefined without STRIPE_SECRET_KEY: card routes answer 503. */
  payments: CardPayments | undefined;
  /** Publishes recorded balance events at once (the outbox sweep would, later). */
  publishEvents?: (eventIds: string[]) => Promise<void>;
  logger: Logger;
  now?: () => Date;
  /** Requests per second per API key (per client IP without a valid key); default 1000. */
  rateLimitPerSecond?: number;
  /** Call sessions (SPEC §8); without them the session routes answer 503 and nothing is held. */
  calls?: { store: CallStore; settings: CallSettings; metrics?: CallMetrics };
}

/** The call session dependencies, or undefined when this server has none. */
export function callDeps(deps: ApiDeps): CallDeps | undefined {
  if (!deps.calls) return undefined;
  return {
    store: deps.calls.store,
    settings: deps.calls.settings,
    metrics: deps.calls.metrics,
    pool: deps.pool,
    write: deps.write,
    rateTable: deps.rateTable,
    now: deps.now,
  };
}

/**
 * The balance and the holds of the open call sessions, read in one atomic step, the
 * account restored from the ledger if Redis lost it; undefined: no account.
 */
export async function balanceAndHolds(
  deps: ApiDeps,
  accountId: string,
): Promise<{ balanceMicros: bigint; heldMicros: bigint } | undefined> {
  const calls = callDeps(deps);
  if (!calls) {
    const balance = await currentBalance(deps.write, accountId, deps.now?.() ?? new Date());
    return balance === undefined ? undefined : { balanceMicros: balance, heldMicros: 0n };
  }
  const reply = await listCalls(calls, accountId);
  return reply && { balanceMicros: reply.balanceMicros, heldMicros: reply.othersHeldMicros };
}

/** Guarded routes only see accounts their key belongs to, so a missing one is a 404 for switches only. */
export async function accountOrFail(deps: ApiDeps, accountId: string): Promise<AccountRow> {
  const row = await getAccount(deps.pool, accountId);
  if (!row) throw new ApiError(404, "not_found", `no account "${accountId}"`);
  return row;
}

export function paymentsOrFail(deps: ApiDeps): CardPayments {
  if (!deps.payments) {
    throw new ApiError(
      503,
      "payments_not_configured",
      "card payments are not configured on this server (STRIPE_SECRET_KEY is not set)",
    );
  }
  return deps.payments;
}

/** Publishes what an applied entry recorded; a failure only delays it to the outbox sweep. */
export async function publishApplied(deps: ApiDeps, outcomes: WriteOutcome[]): Promise<void> {
  const ids = outcomes.flatMap((o) => (o.status === "applied" ? o.applied.events.map(eventIdOf) : []));
  if (ids.length === 0 || !deps.publishEvents) return;
  await deps
    .publishEvents(ids)
    .catch((err: unknown) =>
      deps.logger.warn({ err }, "publishing balance events failed; the outbox sweep will"),
    );
}

/** The balance after an entry, whether this request applied it or an earlier one did. */
export function balanceAfter(outcome: WriteOutcome): bigint | undefined {
  if (outcome.status === "applied") return outcome.applied.entries.at(-1)?.afterMicros;
  if (outcome.status === "duplicate") return outcome.recorded?.balanceAfterMicros;
  return undefined;
}

/** Micros as a JSON integer (SPEC §2); amounts stay far below 2^53. */
export const int = (micros: bigint | string | null): number | null =>
  micros === null ? null : Number(micros);

export const ACCOUNT_PARAMS = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$", description: "account id" } },
} as const;
