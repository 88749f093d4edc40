/**
 * One card charge, from its durable key to exactly one credit (SPEC §5, "No money stuck
 * half way"): a card charged is credited exactly once whatever fails after Stripe
 * answered, and a charge left pending is resolved by asking Stripe, never by charging
 * again. Manual recharges (the API) and auto-recharges (the recharge-worker) both go
 * through here.
 *
 * 1. Every charge has a card_charges row, keyed by what asked for it, before Stripe is
 *    called. A PaymentIntent create is sent only by whoever moves the row's
 *    stripe_requests on from the count it read (markSending), so no two processes send
 *    at once, and nothing is sent for a settled charge.
 * 2. Stripe gets the charge key twice: as the Idempotency-Key, and as
 *    metadata.charge_key on a PaymentIntent of the customer recorded in the row. So an
 *    answer that never arrived (a crash, a timeout, a dropped connection, a 500) is found
 *    again: by the PaymentIntent id once known (it is stored as soon as Stripe tells it),
 *    else by listing that customer's PaymentIntents (consistent, unlike search).
 * 3. A pending charge is sent again only when Stripe has no PaymentIntent for it and
 *    either Stripe still remembers its key (the row is younger than 23 hours; Stripe keeps
 *    keys at least 24, and answers a re-send from its memory), or the last send is older
 *    than IN_FLIGHT_SECONDS, after which no create of ours can still appear.
 * 4. Only that second case settles a charge as never made ("not charged"); a charge
 *    Stripe says succeeded is credited, whatever was concluded before.
 * 5. A success is credited through the write path under the ledger key
 *    recharge:<payment intent>, so crediting it again (a retry, the resolver, a
 *    redelivered event) changes nothing.
 *
 * The resolver (resolvePendingCharges, run periodically by the recharge-worker) takes
 * every pending charge no one has touched for a lease and asks Stripe about it.
 */
import type pg from "pg";
import { Counter, Gauge, type Registry } from "prom-client";
import { getAccount } from "../adapters/postgres/accounts.js";
import {
  countPendingCharges,
  markSending,
  recordPaymentIntent,
  settleFailed,
  settleSucceeded,
  takeStalePending,
  type CardCharge,
} from "../adapters/postgres/card-charges.js";
import { currentBalance } from "../balances/current-balance.js";
import { eventIdOf } from "../balances/event-id.js";
import { applyEntries, type WriteOutcome, type WritePathDeps } from "../balances/write-path.js";
import { RatestreamError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { cardCreditRequest } from "./card-credit.js";
import type { CardPayments, ChargeOutcome, ChargeRequest } from "./payments.js";

/** A pending charge untouched this long was left by a crash or an error: anyone may take it over. */
export const LEASE_SECONDS = 60;
/**
 * Long after a create was sent (the SDK gives up after 3 × 20 s), any PaymentIntent it
 * made is visible to a lookup: Stripe has nothing for the charge means it never will.
 */
export const IN_FLIGHT_SECONDS = 10 * 60;
/** Stripe keeps idempotency keys at least 24 hours: a re-send younger than this is answered from its memory. */
export const STRIPE_KEY_MEMORY_SECONDS = 23 * 60 * 60;

export interface ChargeDeps {
  pool: pg.Pool;
  write: WritePathDeps;
  payments: CardPayments;
  /** Publishes recorded events now (the outbox); a failure only delays them to its sweep. */
  publish: (eventIds: string[]) => Promise<void>;
  /** The time entries are booked at (monthly limits count by it); tests move it. */
  now?: () => Date;
  logger?: Logger;
  metrics?: ChargeMetrics;
}

/** A manual recharge's HTTP answer, replayed for its Idempotency-Key. */
export interface StoredAnswer {
  status: number;
  body: unknown;
}

export type Settled =
  | { status: "succeeded"; paymentIntentId: string; response: StoredAnswer | null }
  | { status: "failed"; reason: string; response: StoredAnswer | null };

export type Resolution =
  | Settled
  /** Stripe is still working on it: ask again later. */
  | { status: "processing" }
  /**
   * Stripe has no PaymentIntent for it. mayCharge: a create may be sent now (rule 3);
   * notCharged: none can appear any more, the charge was never made (rule 4).
   */
  | { status: "absent"; mayCharge: boolean; notCharged: boolean };

/**
 * Sends the charge to Stripe, if no one else sent it since `charge` was read, and
 * settles the answer: "busy" when someone did. A provider that cannot be reached
 * throws a retryable error and leaves the charge pending.
 */
export async function chargeCard(
  deps: ChargeDeps,
  charge: CardCharge,
  card: { customerId: string; paymentMethodId: string },
): Promise<Settled | "busy"> {
  const sending = await markSending(deps.pool, charge.charge_key, charge.stripe_requests, card);
  if (!sending) return "busy";
  const outcome = await deps.payments.charge(chargeRequest(sending));
  if (outcome.paymentIntentId !== null) {
    await recordPaymentIntent(deps.pool, charge.charge_key, outcome.paymentIntentId);
  }
  return settle(deps, sending, outcome);
}

/** The create for a charge, the same every time it is sent (Stripe compares a key's parameters). */
function chargeRequest(charge: CardCharge): ChargeRequest {
  const auto = charge.purpose === "auto_recharge";
  const eventId = auto ? charge.charge_key.replace(/^event:/, "") : undefined;
  return {
    customerId: charge.customer_id!,
    paymentMethodId: charge.payment_method_id!,
    amountMicros: BigInt(charge.amount_micros),
    currency: charge.currency,
    idempotencyKey: charge.charge_key,
    offSession: auto,
    description: `ratestream ${auto ? "auto-recharge" : "manual recharge"} for ${charge.account_id}`,
    metadata: {
      account_id: charge.account_id,
      charge_key: charge.charge_key,
      purpose: charge.purpose,
      ...(eventId !== undefined && { event_id: eventId }),
    },
  };
}

/**
 * Asks Stripe what became of a pending charge and settles it when Stripe knows
 * (crediting a success once). Throws a retryable error when Stripe cannot be asked.
 */
export async function resolveCharge(
  deps: ChargeDeps,
  charge: CardCharge,
  options: { inFlightSeconds?: number } = {},
): Promise<Resolution> {
  const inFlight = options.inFlightSeconds ?? IN_FLIGHT_SECONDS;
  const absent = () => ({
    status: "absent" as const,
    mayCharge: charge.quiet_seconds >= inFlight || charge.age_seconds < STRIPE_KEY_MEMORY_SECONDS,
    notCharged: charge.quiet_seconds >= inFlight,
  });
  if (charge.stripe_requests === 0) return absent(); // Stripe never heard of it
  // Rows from before customer_id was recorded were charged to the account's customer.
  const customerId =
    charge.customer_id ?? (await getAccount(deps.pool, charge.account_id))?.stripe_customer_id;
  if (!customerId) return absent();
  const found = await deps.payments.findCharge({
    paymentIntentId: charge.payment_intent_id,
    customerId,
    chargeKey: charge.charge_key,
    // Auto-recharges created before charge_key was sent carried only the event id.
    ...(charge.purpose === "auto_recharge" && {
      alsoMatch: { event_id: charge.charge_key.replace(/^event:/, "") },
    }),
    createdAfter: charge.created_at,
  });
  if (found.status === "absent") return absent();
  if (found.status === "processing") {
    await recordPaymentIntent(deps.pool, charge.charge_key, found.paymentIntentId);
    return { status: "processing" };
  }
  if (found.paymentIntentId !== null) {
    await recordPaymentIntent(deps.pool, charge.charge_key, found.paymentIntentId);
  }
  return settle(deps, charge, found);
}

/**
 * Settles a charge Stripe answered for: a success is credited (once, whoever gets here
 * first) and a failure recorded; an auto-recharge failure announces recharge_failed.
 */
export async function settle(deps: ChargeDeps, charge: CardCharge, outcome: ChargeOutcome): Promise<Settled> {
  const manual = charge.purpose === "manual_recharge";
  if (outcome.status === "succeeded") {
    const credit = await creditCharge(deps, charge, outcome.paymentIntentId);
    const response = manual ? manualAnswer(charge, outcome.paymentIntentId, balanceAfter(credit)) : null;
    const row = await settleSucceeded(deps.pool, charge.charge_key, outcome.paymentIntentId, response);
    return {
      status: "succeeded",
      paymentIntentId: outcome.paymentIntentId,
      response: row.response as StoredAnswer | null,
    };
  }
  const response: StoredAnswer | null = manual
    ? {
        status: 402,
        body: errorBody(
          outcome.status === "declined" ? "card_declined" : "authentication_required",
          outcome.reason,
        ),
      }
    : null;
  const { charge: row } = await settleFailed(deps.pool, charge.charge_key, {
    paymentIntentId: outcome.paymentIntentId,
    reason: outcome.reason,
    response,
  });
  if (row.status === "succeeded") {
    // Cannot happen with one PaymentIntent per key; if it did, the success stands.
    return {
      status: "succeeded",
      paymentIntentId: row.payment_intent_id!,
      response: row.response as StoredAnswer,
    };
  }
  if (!manual) await announceFailure(deps, row, row.failure_reason ?? outcome.reason);
  return {
    status: "failed",
    reason: row.failure_reason ?? outcome.reason,
    response: row.response as StoredAnswer,
  };
}

/**
 * Settles as never made a charge Stripe has no PaymentIntent for and never will (rule 4),
 * unless a create was sent since `charge` was read. Manual charges keep no answer (their
 * request was never answered; see reopenUnansweredCharge); auto-recharges announce
 * recharge_failed.
 */
export async function settleNotCharged(
  deps: ChargeDeps,
  charge: CardCharge,
  reason: string,
): Promise<boolean> {
  const { charge: row, settled } = await settleFailed(deps.pool, charge.charge_key, {
    paymentIntentId: null,
    reason,
    response: null,
    onlyIfRequests: charge.stripe_requests,
  });
  if (row.status === "failed" && row.purpose === "auto_recharge") {
    await announceFailure(deps, row, row.failure_reason ?? reason);
  }
  return settled;
}

/** Credits a charge Stripe says succeeded; the ledger key makes it once. */
export async function creditCharge(
  deps: ChargeDeps,
  charge: CardCharge,
  paymentIntentId: string,
): Promise<WriteOutcome> {
  const [outcome] = await applyEntries(
    deps.write,
    [
      cardCreditRequest({
        accountId: charge.account_id,
        paymentIntentId,
        amountMicros: BigInt(charge.amount_micros),
        purpose: charge.purpose,
        chargeKey: charge.charge_key,
      }),
    ],
    deps.now?.() ?? new Date(),
  );
  if (outcome!.status === "unknown_account") {
    throw new RatestreamError("bad_usage", `account ${charge.account_id} vanished before its credit`);
  }
  if (outcome!.status === "applied") {
    const { events } = outcome!.applied;
    await deps.publish(events.map(eventIdOf));
  }
  return outcome!;
}

/**
 * recharge_failed for an auto-recharge, recorded in the outbox (once: its id comes from
 * the request's event) and published.
 */
export async function announceFailure(deps: ChargeDeps, charge: CardCharge, reason: string): Promise<void> {
  const eventId = charge.charge_key.replace(/^event:/, "");
  const balance = (await currentBalance(deps.write, charge.account_id)) ?? 0n;
  const ids = await deps.write.ledger.recordEvents(
    [
      {
        type: "recharge_failed",
        accountId: charge.account_id,
        balanceMicros: balance,
        amountMicros: BigInt(charge.amount_micros),
        cause: eventId,
        reason,
      },
    ],
    deps.now?.() ?? new Date(),
  );
  await deps.publish(ids);
}

/** The 201 of POST …/recharges (SPEC §7), stored and replayed for its Idempotency-Key. */
export function manualAnswer(
  charge: Pick<CardCharge, "account_id" | "amount_micros" | "currency">,
  paymentIntentId: string,
  balanceMicros: bigint | undefined,
): StoredAnswer {
  return {
    status: 201,
    body: {
      account_id: charge.account_id,
      status: "succeeded",
      amount_micros: Number(charge.amount_micros),
      currency: charge.currency,
      payment_intent_id: paymentIntentId,
      balance_micros: balanceMicros === undefined ? null : Number(balanceMicros),
    },
  };
}

/** The API's error body (src/api/errors.ts), for a stored 402. */
function errorBody(code: string, message: string): unknown {
  return { error: { code, message } };
}

function balanceAfter(outcome: WriteOutcome): bigint | undefined {
  if (outcome.status === "applied") return outcome.applied.entries.at(-1)?.afterMicros;
  if (outcome.status === "duplicate") return outcome.recorded?.balanceAfterMicros;
  return undefined;
}

export interface ResolveOptions {
  /** Only charges untouched this long (default LEASE_SECONDS). */
  leaseSeconds?: number;
  /** See IN_FLIGHT_SECONDS (tests shorten it). */
  inFlightSeconds?: number;
  /** Charges taken per call (default 100). */
  limit?: number;
}

export interface ResolveSummary {
  succeeded: number;
  failed: number;
  /** Still pending: Stripe busy with them, unreachable, or too soon to tell. */
  pending: number;
}

/**
 * The resolver: asks Stripe about every pending charge no one has touched for a lease
 * and settles what Stripe knows; a charge Stripe never made is settled failed only once
 * no create of ours can still appear. It never sends a charge.
 */
export async function resolvePendingCharges(
  deps: ChargeDeps,
  options: ResolveOptions = {},
): Promise<ResolveSummary> {
  const summary: ResolveSummary = { succeeded: 0, failed: 0, pending: 0 };
  const charges = await takeStalePending(
    deps.pool,
    options.leaseSeconds ?? LEASE_SECONDS,
    options.limit ?? 100,
  );
  for (const [index, charge] of charges.entries()) {
    let resolution: Resolution;
    try {
      resolution = await resolveCharge(deps, charge, options);
    } catch (err) {
      // Stripe (or Postgres) away: the rest waits for the next round, after their lease.
      summary.pending += charges.length - index;
      deps.logger?.warn(
        { err, chargeKey: charge.charge_key },
        "could not resolve a pending card charge; will retry",
      );
      break;
    }
    if (resolution.status === "absent" && resolution.notCharged) {
      const reason = "the payment provider never made this charge; the card was not charged";
      if (await settleNotCharged(deps, charge, reason)) {
        resolution = { status: "failed", reason, response: null };
      }
    }
    if (resolution.status === "succeeded" || resolution.status === "failed") {
      summary[resolution.status]++;
      deps.metrics?.resolved.inc({ outcome: resolution.status, purpose: charge.purpose });
      deps.logger?.info(
        { chargeKey: charge.charge_key, accountId: charge.account_id, outcome: resolution.status },
        "resolved a pending card charge by asking the payment provider",
      );
    } else {
      summary.pending++;
    }
  }
  return summary;
}

export interface ChargeMetrics {
  resolved: Counter<"outcome" | "purpose">;
}

/** Pending charges (a gauge read from Postgres at each scrape) and the resolver's work. */
export function createChargeMetrics(registry: Registry, pool: pg.Pool): ChargeMetrics {
  new Gauge({
    name: "ratestream_card_charges_pending",
    help: "Card charges whose outcome is not settled yet (the resolver asks Stripe about them).",
    registers: [registry],
    async collect() {
      this.set((await countPendingCharges(pool).catch(() => ({ pending: NaN }))).pending);
    },
  });
  new Gauge({
    name: "ratestream_card_charges_pending_oldest_seconds",
    help: "Age of the oldest card charge not settled yet (0 when none).",
    registers: [registry],
    async collect() {
      this.set((await countPendingCharges(pool).catch(() => ({ oldestSeconds: NaN }))).oldestSeconds);
    },
  });
  return {
    resolved: new Counter({
      name: "ratestream_card_charges_resolved_total",
      help: "Pending card charges the resolver settled by asking Stripe, by outcome and purpose.",
      labelNames: ["outcome", "purpose"],
      registers: [registry],
    }),
  };
}
