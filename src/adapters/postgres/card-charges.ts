/**
 * card_charges: the memory of every card charge ratestream started, keyed for ever by
 * what asked for it (an event, or an API Idempotency-Key). Stripe's own idempotency
 * lasts about a day; this does not.
 */
import type pg from "pg";

export interface CardCharge {
  charge_key: string;
  account_id: string;
  purpose: "auto_recharge" | "manual_recharge";
  amount_micros: string;
  currency: string;
  status: "pending" | "succeeded" | "failed";
  payment_intent_id: string | null;
  failure_reason: string | null;
  attempts: number;
  response: unknown;
  created_at: Date;
}

/**
 * Claims a charge key: the existing row if one exists (created: false), else a new
 * pending row. attempts counts the claims of a still-pending charge.
 */
export async function claimCardCharge(
  pool: pg.Pool,
  charge: { chargeKey: string; accountId: string; purpose: CardCharge["purpose"]; amountMicros: bigint },
): Promise<{ charge: CardCharge; created: boolean }> {
  const { rows } = await pool.query<CardCharge & { created: boolean }>(
    `with inserted as (
       insert into card_charges (charge_key, account_id, purpose, amount_micros, currency, status, attempts)
       select $1, $2, $3, $4, a.currency, 'pending', 1 from accounts a where a.account_id = $2
       on conflict (charge_key) do nothing
       returning *, true as created)
     select * from inserted
     union all
     select *, false as created from card_charges where charge_key = $1 and not exists (select 1 from inserted)`,
    [charge.chargeKey, charge.accountId, charge.purpose, charge.amountMicros.toString()],
  );
  let row = rows[0];
  if (!row) {
    // A concurrent claim of the same key committed its row after this statement's
    // snapshot: the insert waited for it and did nothing, and the select could not see
    // it. A new statement does.
    const again = await pool.query<CardCharge>("select * from card_charges where charge_key = $1", [
      charge.chargeKey,
    ]);
    if (!again.rows[0]) throw new Error(`no account "${charge.accountId}" to charge`);
    row = { ...again.rows[0], created: false };
  }
  const { created, ...rest } = row;
  if (!created && rest.status === "pending") {
    await pool.query(
      "update card_charges set attempts = attempts + 1, updated_at = now() where charge_key = $1",
      [charge.chargeKey],
    );
    rest.attempts += 1;
  }
  return { charge: rest, created };
}

export async function settleCardCharge(
  pool: pg.Pool,
  chargeKey: string,
  outcome: {
    status: "succeeded" | "failed";
    paymentIntentId: string | null;
    failureReason?: string;
    response?: unknown;
  },
): Promise<void> {
  await pool.query(
    `update card_charges set status = $2, payment_intent_id = coalesce($3, payment_intent_id),
        failure_reason = $4, response = $5::jsonb, updated_at = now()
      where charge_key = $1`,
    [
      chargeKey,
      outcome.status,
      outcome.paymentIntentId,
      outcome.failureReason ?? null,
      outcome.response === undefined ? null : JSON.stringify(outcome.response),
    ],
  );
}
