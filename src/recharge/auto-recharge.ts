/**
 * Online auto-recharge (SPEC §1.7, §1.10): an `auto_recharge_requested` event charges
 * the saved card once, off-session, and credits the account.
 *
 * Exactly one charge per event, at any distance in time: the card_charges row keyed by
 * the event is claimed before Stripe is called, and a charge whose answer was lost is
 * resolved by asking Stripe, never by charging again (src/recharge/charges.ts). The
 * monthly limit was already applied when the balance script decided to request (it
 * counts requests, by the time they are made).
 *
 * A decline or an authentication request is final for that request: recharge_failed,
 * and no retry, so a declining card is never stormed. A provider that cannot be reached
 * is retried with backoff a bounded number of times; then the event is let go, and the
 * charge, if it may have reached Stripe, is left pending for the resolver, which
 * credits it or reports recharge_failed once Stripe can tell.
 */
import { getAccount } from "../adapters/postgres/accounts.js";
import { claimCardCharge, failAutoRechargeUnsent, getCardCharge } from "../adapters/postgres/card-charges.js";
import { DependencyError, RatestreamError } from "../errors.js";
import type { BalanceEventMessage } from "../pipeline/messages.js";
import {
  announceFailure,
  chargeCard,
  creditCharge,
  resolveCharge,
  settleNotCharged,
  type ChargeDeps,
  type Resolution,
} from "./charges.js";

/** Claims of a still-pending charge before the event is let go (each one backs off longer). */
export const MAX_CHARGE_ATTEMPTS = 6;

export type AutoRechargeDeps = ChargeDeps;

export type AutoRechargeOutcome =
  | "recharged"
  | "failed"
  | "not_eligible"
  | "already_recharged"
  | "already_failed"
  | "unknown_account"
  /** Stripe could not tell yet after every attempt: the resolver settles it later. */
  | "unresolved";

export async function handleAutoRechargeRequest(
  deps: AutoRechargeDeps,
  event: BalanceEventMessage,
): Promise<AutoRechargeOutcome> {
  const account = await getAccount(deps.pool, event.account_id);
  if (!account) return "unknown_account";
  const chargeKey = `event:${event.event_id}`;
  const amountMicros = BigInt(event.amount_micros ?? 0);

  const existing = await getCardCharge(deps.pool, chargeKey);
  if (existing?.status === "succeeded") {
    // A crash may have come between the charge and the credit: the credit is idempotent.
    await creditCharge(deps, existing, existing.payment_intent_id!);
    return "already_recharged";
  }
  if (existing?.status === "failed") {
    await announceFailure(deps, existing, existing.failure_reason ?? "failed");
    return "already_failed";
  }

  if (!existing || existing.stripe_requests === 0) {
    // Stripe never heard of this request: today's settings decide. Trial and
    // offline-recharge accounts are never charged (SPEC §1.7-§1.9); an admin who turned
    // auto-recharge off since the request is not charged either.
    if (account.trial || account.recharge_mode !== "online" || !account.auto_recharge_enabled) {
      return "not_eligible";
    }
    if (amountMicros <= 0n) return "not_eligible";
    if (!account.stripe_customer_id || !account.stripe_payment_method) {
      await failUncharged(deps, event, chargeKey, amountMicros, "no saved card to charge");
      return "failed";
    }
  }

  const { charge } = await claimCardCharge(deps.pool, {
    chargeKey,
    accountId: event.account_id,
    purpose: "auto_recharge",
    amountMicros,
  });
  if (charge.status !== "pending") return handleAutoRechargeRequest(deps, event); // settled meanwhile
  const exhausted = charge.attempts > MAX_CHARGE_ATTEMPTS;
  const unreachable = `payment provider unreachable after ${MAX_CHARGE_ATTEMPTS} attempts`;

  if (charge.stripe_requests > 0) {
    // An earlier attempt may have charged the card: Stripe's answer decides.
    let resolution: Resolution;
    try {
      resolution = await resolveCharge(deps, charge);
    } catch (err) {
      if (exhausted && err instanceof RatestreamError && err.retryable) return "unresolved";
      throw err;
    }
    if (resolution.status === "succeeded") return "recharged";
    if (resolution.status === "failed") return "failed";
    if (resolution.status === "absent" && resolution.notCharged && exhausted) {
      return (await settleNotCharged(deps, charge, unreachable))
        ? "failed"
        : handleAutoRechargeRequest(deps, event);
    }
    if (resolution.status !== "absent" || !resolution.mayCharge || exhausted) {
      if (exhausted) return "unresolved";
      throw new DependencyError("stripe", `the outcome of charge ${chargeKey} is not known yet`);
    }
  } else if (exhausted) {
    // Never sent: nothing was charged.
    if (await settleNotCharged(deps, charge, unreachable)) return "failed";
    return handleAutoRechargeRequest(deps, event);
  }

  const settled = await chargeCard(deps, charge, {
    customerId: account.stripe_customer_id!,
    paymentMethodId: account.stripe_payment_method!,
  });
  if (settled === "busy") {
    throw new DependencyError("stripe", `charge ${chargeKey} is being sent by another process`);
  }
  return settled.status === "succeeded" ? "recharged" : "failed";
}

/** A request that cannot be charged at all (no card): failed at once, with recharge_failed. */
async function failUncharged(
  deps: AutoRechargeDeps,
  event: BalanceEventMessage,
  chargeKey: string,
  amountMicros: bigint,
  reason: string,
): Promise<void> {
  const row =
    (await failAutoRechargeUnsent(deps.pool, {
      chargeKey,
      accountId: event.account_id,
      amountMicros,
      reason,
    })) ?? (await getCardCharge(deps.pool, chargeKey));
  if (row?.status === "failed") await announceFailure(deps, row, row.failure_reason ?? reason);
}
