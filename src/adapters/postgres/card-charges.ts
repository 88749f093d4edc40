/**
 * card_charges: the memory of every card charge ratestream started, keyed for ever by
 * what asked for it (an event, or an API Idempotency-Key). Stripe's own idempotency
 * lasts about a day; this does not. The rules that use these statements are in
 * src/recharge/charges.ts.
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
  updated_at: Date;
  /** The customer and card the first create was sent with (re-sends use them again). */
  customer_id: string | null;
  payment_method_id: string | null;
  /** PaymentIntent creates sent so far; 0: Stripe never heard of this charge. */
  stripe_requests: number;
  stripe_sent_at: Date | null;
  /** Seconds since the row was made, on the database's clock. */
  age_seconds: number;
  /** Seconds since the last create was sent (since the row was made if none was), on the database's clock. */
  quiet_seconds: number;
}

/** Every column, and the ages measured on the database's clock (one clock for every process). */
const ROW = (t: string) => `${t}.*,
  extract(epoch from now() - ${t}.created_at)::float8 as age_seconds,
  extract(epoch from now() - coalesce(${t}.stripe_sent_at, ${t}.created_at))::float8 as quiet_seconds`;

export async function getCardCharge(pool: pg.Pool, chargeKey: string): Promise<CardCharge | undefined> {
  const { rows } = await pool.query<CardCharge>(
    `select ${ROW("c")} from card_charges c where charge_key = $1`,
    [chargeKey],
  );
  return rows[0];
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
       returning *)
     select ${ROW("i")}, true as created from inserted i
     union all
     select ${ROW("c")}, false as created from card_charges c
      where charge_key = $1 and not exists (select 1 from inserted)`,
    [charge.chargeKey, charge.accountId, charge.purpose, charge.amountMicros.toString()],
  );
  let row = rows[0];
  if (!row) {
    // A concurrent claim of the same key committed its row after this statement's
    // snapshot: the insert waited for it and did nothing, and the select could not see
    // it. A new statement does.
    const again = await getCardCharge(pool, charge.chargeKey);
    if (!again) throw new Error(`no account "${charge.accountId}" to charge`);
    row = { ...again, created: false };
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

/**
 * Records that a PaymentIntent create is about to be sent, if no one sent one since the
 * caller read `seenRequests` and the charge is still pending: the caller may send only
 * when this returns true. The first card sent is kept for every re-send.
 */
export async function markSending(
  pool: pg.Pool,
  chargeKey: string,
  seenRequests: number,
  card: { customerId: string; paymentMethodId: string },
): Promise<CardCharge | undefined> {
  const { rows } = await pool.query<CardCharge>(
    `update card_charges c set stripe_requests = stripe_requests + 1, stripe_sent_at = now(), updated_at = now(),
        customer_id = coalesce(customer_id, $3), payment_method_id = coalesce(payment_method_id, $4)
      where charge_key = $1 and status = 'pending' and stripe_requests = $2
      returning ${ROW("c")}`,
    [chargeKey, seenRequests, card.customerId, card.paymentMethodId],
  );
  return rows[0];
}

/** Keeps the PaymentIntent id as soon as Stripe told it: a later lookup retrieves it directly. */
export async function recordPaymentIntent(
  pool: pg.Pool,
  chargeKey: string,
  paymentIntentId: string,
): Promise<void> {
  await pool.query(
    "update card_charges set payment_intent_id = $2 where charge_key = $1 and payment_intent_id is null",
    [chargeKey, paymentIntentId],
  );
}

/** Unconditionally settles a charge (used where the outcome is certain and final). */
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

/**
 * Marks a charge succeeded unless it already is (then the first answer stays): Stripe
 * said the card was charged, which overrides any earlier conclusion. Returns the row.
 */
export async function settleSucceeded(
  pool: pg.Pool,
  chargeKey: string,
  paymentIntentId: string,
  response: unknown,
): Promise<CardCharge> {
  await pool.query(
    `update card_charges set status = 'succeeded', payment_intent_id = $2, failure_reason = null,
        response = $3::jsonb, updated_at = now()
      where charge_key = $1 and status <> 'succeeded'`,
    [chargeKey, paymentIntentId, response === null ? null : JSON.stringify(response)],
  );
  return (await getCardCharge(pool, chargeKey))!;
}

/**
 * Marks a pending charge failed; with `onlyIfRequests`, only if no create was sent since
 * the caller read that count. Returns the row as it now stands, and whether this call
 * settled it.
 */
export async function settleFailed(
  pool: pg.Pool,
  chargeKey: string,
  failure: { paymentIntentId: string | null; reason: string; response: unknown; onlyIfRequests?: number },
): Promise<{ charge: CardCharge; settled: boolean }> {
  const { rowCount } = await pool.query(
    `update card_charges set status = 'failed', payment_intent_id = coalesce($2, payment_intent_id),
        failure_reason = $3, response = $4::jsonb, updated_at = now()
      where charge_key = $1 and status = 'pending' and ($5::int is null or stripe_requests = $5)`,
    [
      chargeKey,
      failure.paymentIntentId,
      failure.reason,
      failure.response === null ? null : JSON.stringify(failure.response),
      failure.onlyIfRequests ?? null,
    ],
  );
  return { charge: (await getCardCharge(pool, chargeKey))!, settled: rowCount === 1 };
}

/**
 * An auto-recharge that cannot be charged at all (no card): its row recorded failed at
 * once, or an unsent pending one (no create sent) turned failed. Returns the row if this
 * call wrote it; undefined when the charge was already settled or sent, or the account
 * does not exist.
 */
export async function failAutoRechargeUnsent(
  pool: pg.Pool,
  c: { chargeKey: string; accountId: string; amountMicros: bigint; reason: string },
): Promise<CardCharge | undefined> {
  const { rows } = await pool.query<CardCharge>(
    `insert into card_charges (charge_key, account_id, purpose, amount_micros, currency, status, failure_reason)
     select $1, account_id, 'auto_recharge', $3, currency, 'failed', $4 from accounts where account_id = $2
     on conflict (charge_key) do update set status = 'failed', failure_reason = $4, updated_at = now()
       where card_charges.status = 'pending' and card_charges.stripe_requests = 0
     returning *`,
    [c.chargeKey, c.accountId, c.amountMicros.toString(), c.reason],
  );
  return rows[0];
}

/**
 * Takes a pending charge no one has touched for `leaseSeconds` (a crash, an error, or a
 * request given up on left it): whoever takes it owns it for the next lease.
 */
export async function takeOverCharge(
  pool: pg.Pool,
  chargeKey: string,
  leaseSeconds: number,
): Promise<CardCharge | undefined> {
  const { rows } = await pool.query<CardCharge>(
    `update card_charges c set attempts = attempts + 1, updated_at = now()
      where charge_key = $1 and status = 'pending' and updated_at <= now() - make_interval(secs => $2)
      returning ${ROW("c")}`,
    [chargeKey, leaseSeconds],
  );
  return rows[0];
}

/** Up to `limit` pending charges untouched for `leaseSeconds`, taken for the next lease. */
export async function takeStalePending(
  pool: pg.Pool,
  leaseSeconds: number,
  limit: number,
): Promise<CardCharge[]> {
  const { rows } = await pool.query<CardCharge>(
    `update card_charges c set updated_at = now()
       from (select charge_key from card_charges
              where status = 'pending' and updated_at <= now() - make_interval(secs => $1)
              order by updated_at limit $2 for update skip locked) stale
      where c.charge_key = stale.charge_key
      returning ${ROW("c")}`,
    [leaseSeconds, limit],
  );
  return rows;
}

/** Lets the next request with the same key take the charge at once (its lease given back). */
export async function releaseCharge(pool: pg.Pool, chargeKey: string, leaseSeconds: number): Promise<void> {
  await pool.query(
    `update card_charges set updated_at = now() - make_interval(secs => $2)
      where charge_key = $1 and status = 'pending'`,
    [chargeKey, leaseSeconds * 2],
  );
}

/**
 * A manual charge the resolver settled as never charged holds no answer: the request
 * that made it was never answered, so a retry with its key may make it now. Returns the
 * pending row, taken for a lease, or undefined if it is not such a charge.
 */
export async function reopenUnansweredCharge(
  pool: pg.Pool,
  chargeKey: string,
): Promise<CardCharge | undefined> {
  const { rows } = await pool.query<CardCharge>(
    `update card_charges c set status = 'pending', failure_reason = null, attempts = attempts + 1, updated_at = now()
      where charge_key = $1 and status = 'failed' and purpose = 'manual_recharge' and response is null
        and payment_intent_id is null
      returning ${ROW("c")}`,
    [chargeKey],
  );
  return rows[0];
}

export async function countPendingCharges(
  pool: pg.Pool,
): Promise<{ pending: number; oldestSeconds: number }> {
  const { rows } = await pool.query<{ pending: number; oldest: number | null }>(
    `select count(*)::int as pending, extract(epoch from now() - min(created_at))::float8 as oldest
       from card_charges where status = 'pending'`,
  );
  return { pending: rows[0]!.pending, oldestSeconds: rows[0]!.oldest ?? 0 };
}
