/**
 * PUT …/payment-method (admin): save the card, creating the Stripe customer once.
 * POST …/recharges (admin): a manual card recharge of 5, 10 or 25, charged once and
 * credited once per Idempotency-Key, whose first answer is replayed for ever.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply } from "fastify";
import { updateAccount } from "../../adapters/postgres/accounts.js";
import {
  claimCardCharge,
  getCardCharge,
  releaseCharge,
  reopenUnansweredCharge,
  takeOverCharge,
  type CardCharge,
} from "../../adapters/postgres/card-charges.js";
import { formatAmount, parseDecimalMicros } from "../../core/money.js";
import {
  chargeCard,
  LEASE_SECONDS,
  resolveCharge,
  type ChargeDeps,
  type Resolution,
  type StoredAnswer,
} from "../../recharge/charges.js";
import { guarded } from "../auth.js";
import { ACCOUNT_PARAMS, accountOrFail, paymentsOrFail, type ApiDeps } from "../deps.js";
import { ApiError, invalid } from "../errors.js";

const MANUAL_AMOUNTS_MICROS = [5_000_000n, 10_000_000n, 25_000_000n];

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
      // Without a key the request still gets a durable one: if its answer is lost, the
      // resolver finds the charge by it and credits it.
      const chargeKey = `api:${accountId}:${typeof header === "string" ? header : randomUUID()}`;

      const earlier = await getCardCharge(deps.pool, chargeKey);
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
      return sendCharge(deps, reply, charge);
    },
  );
}

/** The API's side of src/recharge/charges.ts: publishing failures only delay events to the outbox sweep. */
function chargeDeps(deps: ApiDeps): ChargeDeps {
  return {
    pool: deps.pool,
    write: deps.write,
    payments: paymentsOrFail(deps),
    now: deps.now,
    logger: deps.logger,
    publish: async (ids) => {
      if (ids.length === 0 || !deps.publishEvents) return;
      await deps
        .publishEvents(ids)
        .catch((err: unknown) =>
          deps.logger.warn({ err }, "publishing balance events failed; the outbox sweep will"),
        );
    },
  };
}

/** Sends the charge to Stripe and answers with its settled outcome, stored for the key. */
async function sendCharge(deps: ApiDeps, reply: FastifyReply, charge: CardCharge): Promise<unknown> {
  try {
    const account = await accountOrFail(deps, charge.account_id);
    if (account.stripe_customer_id === null || account.stripe_payment_method === null) {
      throw new ApiError(409, "no_card", "no saved card: PUT /v1/accounts/{id}/payment-method first");
    }
    const settled = await chargeCard(chargeDeps(deps), charge, {
      customerId: account.stripe_customer_id,
      paymentMethodId: account.stripe_payment_method,
    });
    if (settled === "busy" || settled.response === null) throw inProgress();
    return answer(reply, settled.response);
  } catch (err) {
    // After a failure the same key may come back at once: it resumes by asking Stripe
    // first. (Not when another request holds the charge: its lease stays.)
    if (!(err instanceof ApiError)) {
      await releaseCharge(deps.pool, charge.charge_key, LEASE_SECONDS).catch(() => undefined);
    }
    throw err;
  }
}

/**
 * A key seen before: a settled charge replays its answer; a pending one is in progress,
 * unless it was left (a crash, an error): then Stripe is asked what became of it, and it
 * is sent again only if Stripe never made it (src/recharge/charges.ts, rule 3).
 */
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
    if (charge.response !== null) return answer(reply, charge.response as StoredAnswer);
    // Settled as never charged by the resolver: its request was never answered.
    const reopened = await reopenUnansweredCharge(deps.pool, charge.charge_key);
    if (!reopened) throw inProgress();
    return sendCharge(deps, reply, reopened);
  }
  const taken = await takeOverCharge(deps.pool, charge.charge_key, LEASE_SECONDS);
  if (!taken) throw inProgress();
  let resolution: Resolution;
  try {
    resolution = await resolveCharge(chargeDeps(deps), taken);
  } catch (err) {
    await releaseCharge(deps.pool, charge.charge_key, LEASE_SECONDS).catch(() => undefined);
    throw err;
  }
  if ((resolution.status === "succeeded" || resolution.status === "failed") && resolution.response) {
    return answer(reply, resolution.response);
  }
  if (resolution.status === "absent" && resolution.mayCharge) return sendCharge(deps, reply, taken);
  // Stripe may still make it (processing, or a create too recent to tell): wait.
  throw inProgress();
}

function answer(reply: FastifyReply, stored: StoredAnswer): FastifyReply {
  return reply.code(stored.status).send(stored.body);
}

function inProgress(): ApiError {
  return new ApiError(409, "recharge_in_progress", "a recharge with this Idempotency-Key is in progress");
}

function manualAmount(text: string): bigint {
  const parsed = parseDecimalMicros(text, 2, 1_000_000_000n);
  if (!parsed.ok) throw invalid(`body.amount: ${parsed.problem}`);
  if (!MANUAL_AMOUNTS_MICROS.includes(parsed.value)) {
    throw invalid("body.amount: a manual recharge is 5, 10 or 25; larger amounts go through support");
  }
  return parsed.value;
}
