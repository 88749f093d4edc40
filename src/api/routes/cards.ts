/**
 * PUT …/payment-method (admin): save the card, creating the Stripe customer once.
 * POST …/recharges (admin): a manual card recharge of 5, 10 or 25, charged once and
 * credited once per Idempotency-Key, whose first answer is replayed for ever.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply } from "fastify";
import { updateAccount } from "../../adapters/postgres/accounts.js";
import { claimCardCharge, settleCardCharge, type CardCharge } from "../../adapters/postgres/card-charges.js";
import { applyEntries } from "../../balances/write-path.js";
import { formatAmount, parseDecimalMicros } from "../../core/money.js";
import { cardCreditRequest } from "../../recharge/card-credit.js";
import { guarded } from "../auth.js";
import {
  ACCOUNT_PARAMS,
  accountOrFail,
  balanceAfter,
  int,
  paymentsOrFail,
  publishApplied,
  type ApiDeps,
} from "../deps.js";
import { ApiError, errorBody, invalid } from "../errors.js";

const MANUAL_AMOUNTS_MICROS = [5_000_000n, 10_000_000n, 25_000_000n];
/** A pending charge untouched this long was left by a crash: the same key may resume it. */
const STALE_PENDING_SECONDS = 60;

interface StoredAnswer {
  status: number;
  body: unknown;
}

export function cardRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.put<{ Params: { id: string }; Body: { stripe_payment_method: string } }>(
    "/v1/accounts/:id/payment-method",
    guarded(["admin"], {
      summary: "save the card recharges are charged to (creates the Stripe customer if needed)",
      params: ACCOUNT_PARAMS,
      body: {
        type: "object",
        additionalProperties: false,
        required: ["stripe_payment_method"],
        properties: { stripe_payment_method: { type: "string", pattern: "^pm_[A-Za-z0-9_]{1,200}$" } },
      },
      response: {
        200: {
          type: "object",
          properties: {
            account_id: { type: "string" },
            stripe_customer_id: { type: "string" },
            stripe_payment_method: { type: "string" },
          },
        },
        503: { $ref: "Error#" },
      },
    }),
    async (request) => {
      const payments = paymentsOrFail(deps);
      const account = await accountOrFail(deps, request.params.id);
      let customerId = account.stripe_customer_id;
      if (customerId === null) {
        const created = await payments.createCustomer(account.account_id, account.admin_email);
        // coalesce in updateAccount: a concurrent first save's customer wins, both agree.
        const saved = await updateAccount(deps.pool, account.account_id, { stripeCustomerId: created });
        customerId = saved!.row.stripe_customer_id!;
      }
      const paymentMethod = request.body.stripe_payment_method;
      await payments.savePaymentMethod(customerId, paymentMethod);
      await updateAccount(deps.pool, account.account_id, { stripePaymentMethod: paymentMethod });
      return {
        account_id: account.account_id,
        stripe_customer_id: customerId,
        stripe_payment_method: paymentMethod,
      };
    },
  );

  app.post<{ Params: { id: string }; Body: { amount: string } }>(
    "/v1/accounts/:id/recharges",
    guarded(["admin"], {
      summary: "manual recharge of 5, 10 or 25 charged to the saved card; honours Idempotency-Key",
      params: ACCOUNT_PARAMS,
      headers: {
        type: "object",
        properties: {
          "idempotency-key": {
            type: "string",
            pattern: "^[\\x21-\\x7e]{1,255}$",
            description: "the same key gives the same answer and never a second charge",
          },
        },
      },
      body: {
        type: "object",
        additionalProperties: false,
        required: ["amount"],
        properties: { amount: { type: "string", description: '"5.00", "10.00" or "25.00"' } },
      },
      response: {
        201: {
          type: "object",
          properties: {
            account_id: { type: "string" },
            status: { type: "string", enum: ["succeeded"] },
            amount_micros: { type: "integer" },
            currency: { type: "string" },
            payment_intent_id: { type: "string" },
            balance_micros: { type: "integer" },
          },
        },
        402: { $ref: "Error#", description: "the card was declined or needs authentication" },
        409: { $ref: "Error#", description: "no saved card, or this Idempotency-Key is in progress" },
        503: { $ref: "Error#" },
      },
    }),
    async (request, reply) => {
      const accountId = request.params.id;
      const amountMicros = manualAmount(request.body.amount);
      const header = request.headers["idempotency-key"];
      const chargeKey = `api:${accountId}:${typeof header === "string" ? header : randomUUID()}`;

      const earlier = await findCharge(deps, chargeKey);
      if (earlier) return replayOrResume(deps, reply, earlier, amountMicros);

      paymentsOrFail(deps);
      const account = await accountOrFail(deps, accountId);
      if (account.stripe_customer_id === null || account.stripe_payment_method === null) {
        throw new ApiError(409, "no_card", "no saved card: PUT /v1/accounts/{id}/payment-method first");
      }
      const { charge, created } = await claimCardCharge(deps.pool, {
        chargeKey,
        accountId,
        purpose: "manual_recharge",
        amountMicros,
      });
      if (!created) return replayOrResume(deps, reply, charge, amountMicros);
      return chargeAndCredit(deps, reply, accountId, chargeKey, amountMicros);
    },
  );
}

/** Charges the saved card under the charge key and credits a success; stores the answer. */
async function chargeAndCredit(
  deps: ApiDeps,
  reply: FastifyReply,
  accountId: string,
  chargeKey: string,
  amountMicros: bigint,
): Promise<unknown> {
  try {
    const account = await accountOrFail(deps, accountId);
    const outcome = await paymentsOrFail(deps).charge({
      customerId: account.stripe_customer_id!,
      paymentMethodId: account.stripe_payment_method!,
      amountMicros,
      currency: account.currency,
      idempotencyKey: chargeKey,
      offSession: false,
      description: `ratestream manual recharge for ${accountId}`,
      metadata: { account_id: accountId, charge_key: chargeKey, purpose: "manual_recharge" },
    });
    if (outcome.status !== "succeeded") {
      const answer: StoredAnswer = {
        status: 402,
        body: errorBody(
          outcome.status === "declined" ? "card_declined" : "authentication_required",
          outcome.reason,
        ),
      };
      await settleCardCharge(deps.pool, chargeKey, {
        status: "failed",
        paymentIntentId: outcome.paymentIntentId,
        failureReason: outcome.reason,
        response: answer,
      });
      return reply.code(answer.status).send(answer.body);
    }
    const credit = cardCreditRequest({
      accountId,
      paymentIntentId: outcome.paymentIntentId,
      amountMicros,
      purpose: "manual_recharge",
      chargeKey,
    });
    const outcomes = await applyEntries(deps.write, [credit], deps.now?.());
    await publishApplied(deps, outcomes);
    const answer: StoredAnswer = {
      status: 201,
      body: {
        account_id: accountId,
        status: "succeeded",
        amount_micros: int(amountMicros),
        currency: account.currency,
        payment_intent_id: outcome.paymentIntentId,
        balance_micros: int(balanceAfter(outcomes[0]!) ?? null),
      },
    };
    await settleCardCharge(deps.pool, chargeKey, {
      status: "succeeded",
      paymentIntentId: outcome.paymentIntentId,
      response: answer,
    });
    return reply.code(answer.status).send(answer.body);
  } catch (err) {
    // Let the same key resume at once (Stripe's own idempotency prevents a second charge).
    await deps.pool
      .query(
        `update card_charges set updated_at = now() - make_interval(secs => $2)
            where charge_key = $1 and status = 'pending'`,
        [chargeKey, STALE_PENDING_SECONDS * 2],
      )
      .catch(() => undefined);
    throw err;
  }
}

/** A settled key replays its answer; a pending one is in progress, unless a crash left it. */
async function replayOrResume(
  deps: ApiDeps,
  reply: FastifyReply,
  charge: CardCharge,
  amountMicros: bigint,
): Promise<unknown> {
  if (BigInt(charge.amount_micros) !== amountMicros) {
    throw invalid(
      `this Idempotency-Key was used for a recharge of ${formatAmount(BigInt(charge.amount_micros))}; use a new key`,
    );
  }
  if (charge.status !== "pending") {
    const answer = charge.response as StoredAnswer;
    return reply.code(answer.status).send(answer.body);
  }
  const { rowCount } = await deps.pool.query(
    `update card_charges set attempts = attempts + 1, updated_at = now()
        where charge_key = $1 and status = 'pending' and updated_at < now() - make_interval(secs => $2)`,
    [charge.charge_key, STALE_PENDING_SECONDS],
  );
  if (rowCount !== 1) {
    throw new ApiError(409, "recharge_in_progress", "a recharge with this Idempotency-Key is in progress");
  }
  return chargeAndCredit(deps, reply, charge.account_id, charge.charge_key, amountMicros);
}

function manualAmount(text: string): bigint {
  const parsed = parseDecimalMicros(text, 2, 1_000_000_000n);
  if (!parsed.ok) throw invalid(`body.amount: ${parsed.problem}`);
  if (!MANUAL_AMOUNTS_MICROS.includes(parsed.value)) {
    throw invalid("body.amount: a manual recharge is 5, 10 or 25; larger amounts go through support");
  }
  return parsed.value;
}

async function findCharge(deps: ApiDeps, chargeKey: string): Promise<CardCharge | undefined> {
  const { rows } = await deps.pool.query<CardCharge>("select * from card_charges where charge_key = $1", [
    chargeKey,
  ]);
  return rows[0];
}
