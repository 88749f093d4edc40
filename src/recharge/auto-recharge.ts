/**
 * Online auto-recharge (SPEC §1.7, §1.10): an `auto_recharge_requested` event charges
 * the saved card once, off-session, and credits the account.
 *
 * Exactly one charge per event, at any distance in time: the card_charges row keyed by
 * the event is claimed before Stripe is called, and Stripe gets the same key as its
 * Idempotency-Key, so a retry after a crash mid-charge is answered from Stripe's memory
 * instead of charging again. The monthly limit was already applied when the balance
 * script decided to request (it counts requests, by the time they are made).
 *
 * A decline or an authentication request is final for that request: recharge_failed,
 * and no retry, so a declining card is never stormed. A provider that cannot be reached
 * is retried with backoff a bounded number of times, then reported as a failure.
 */
import type pg from "pg";
import { getAccount } from "../adapters/postgres/accounts.js";
import { claimCardCharge, settleCardCharge, type CardCharge } from "../adapters/postgres/card-charges.js";
import { currentBalance } from "../balances/current-balance.js";
import { eventIdOf } from "../balances/event-id.js";
import { applyEntries, type WritePathDeps } from "../balances/write-path.js";
import { RatestreamError } from "../errors.js";
import type { BalanceEventMessage } from "../pipeline/messages.js";
import { cardCreditRequest } from "./card-credit.js";
import type { CardPayments } from "./payments.js";

/** Claims of a still-pending charge before it is reported failed (each one backs off longer). */
export const MAX_CHARGE_ATTEMPTS = 6;
/** Stripe keeps idempotency keys for 24 hours: past this, a retry could charge twice. */
const STRIPE_KEY_MEMORY_MS = 23 * 60 * 60 * 1000;

export interface AutoRechargeDeps {
  pool: pg.Pool;
  write: WritePathDeps;
  payments: CardPayments;
  /** Publishes recorded events now (the outbox); the rater's sweep is the safety net. */
  publish: (eventIds: string[]) => Promise<void>;
  /** The time entries are booked at (monthly limits count by it); tests move it. */
  now?: () => Date;
}

export type AutoRechargeOutcome =
  "recharged" | "failed" | "not_eligible" | "already_recharged" | "already_failed" | "unknown_account";

export async function handleAutoRechargeRequest(
  deps: AutoRechargeDeps,
  event: BalanceEventMessage,
): Promise<AutoRechargeOutcome> {
  const account = await getAccount(deps.pool, event.account_id);
  if (!account) return "unknown_account";
  const chargeKey = `event:${event.event_id}`;
  const amountMicros = BigInt(event.amount_micros ?? 0);

  const existing = await deps.pool.query<CardCharge>("select * from card_charges where charge_key = $1", [
    chargeKey,
  ]);
  const settled = existing.rows[0];
  if (settled?.status === "succeeded") {
    // A crash may have come between the charge and the credit: the credit is idempotent.
    await credit(deps, settled, amountMicros);
    return "already_recharged";
  }
  if (settled?.status === "failed") {
    await recordFailure(deps, event, settled.failure_reason ?? "failed");
    return "already_failed";
  }

  // Trial and offline-recharge accounts are never charged (SPEC §1.7-§1.9); an admin
  // who turned auto-recharge off since the request is not charged either.
  if (account.trial || account.recharge_mode !== "online" || !account.auto_recharge_enabled) {
    return "not_eligible";
  }
  if (amountMicros <= 0n) return "not_eligible";
  if (!account.stripe_customer_id || !account.stripe_payment_method) {
    await fail(deps, event, chargeKey, amountMicros, "no saved card to charge");
    return "failed";
  }

  const { charge } = await claimCardCharge(deps.pool, {
    chargeKey,
    accountId: event.account_id,
    purpose: "auto_recharge",
    amountMicros,
  });
  if (charge.attempts > MAX_CHARGE_ATTEMPTS) {
    await fail(
      deps,
      event,
      chargeKey,
      amountMicros,
      `payment provider unreachable after ${MAX_CHARGE_ATTEMPTS} attempts`,
    );
    return "failed";
  }
  if (Date.now() - charge.created_at.getTime() > STRIPE_KEY_MEMORY_MS) {
    await fail(
      deps,
      event,
      chargeKey,
      amountMicros,
      "charge outcome unknown for a day; check the payment provider",
    );
    return "failed";
  }

  const outcome = await deps.payments.charge({
    customerId: account.stripe_customer_id,
    paymentMethodId: account.stripe_payment_method,
    amountMicros,
    currency: account.currency,
    idempotencyKey: chargeKey,
    offSession: true,
    description: `ratestream auto-recharge for ${event.account_id}`,
    metadata: { account_id: event.account_id, event_id: event.event_id },
  });
  if (outcome.status !== "succeeded") {
    await fail(deps, event, chargeKey, amountMicros, outcome.reason, outcome.paymentIntentId);
    return "failed";
  }
  await settleCardCharge(deps.pool, chargeKey, {
    status: "succeeded",
    paymentIntentId: outcome.paymentIntentId,
  });
  await credit(deps, { ...charge, payment_intent_id: outcome.paymentIntentId }, amountMicros);
  return "recharged";
}

async function credit(deps: AutoRechargeDeps, charge: CardCharge, amountMicros: bigint): Promise<void> {
  const [outcome] = await applyEntries(
    deps.write,
    [
      cardCreditRequest({
        accountId: charge.account_id,
        paymentIntentId: charge.payment_intent_id!,
        amountMicros,
        purpose: "auto_recharge",
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
}

async function fail(
  deps: AutoRechargeDeps,
  event: BalanceEventMessage,
  chargeKey: string,
  amountMicros: bigint,
  reason: string,
  paymentIntentId: string | null = null,
): Promise<void> {
  await deps.pool.query(
    `insert into card_charges (charge_key, account_id, purpose, amount_micros, currency, status, failure_reason)
     select $1, account_id, 'auto_recharge', $3, currency, 'failed', $4 from accounts where account_id = $2
     on conflict (charge_key) do nothing`,
    [chargeKey, event.account_id, amountMicros.toString(), reason],
  );
  await settleCardCharge(deps.pool, chargeKey, { status: "failed", paymentIntentId, failureReason: reason });
  await recordFailure(deps, event, reason);
}

/** recharge_failed, recorded in the outbox (once: its id comes from the request's event) and published. */
async function recordFailure(
  deps: AutoRechargeDeps,
  event: BalanceEventMessage,
  reason: string,
): Promise<void> {
  const balance = (await currentBalance(deps.write, event.account_id)) ?? BigInt(event.balance_micros);
  const ids = await deps.write.ledger.recordEvents(
    [
      {
        type: "recharge_failed",
        accountId: event.account_id,
        balanceMicros: balance,
        amountMicros: event.amount_micros === null ? null : BigInt(event.amount_micros),
        cause: event.event_id,
        reason,
      },
    ],
    deps.now?.() ?? new Date(),
  );
  await deps.publish(ids);
}
