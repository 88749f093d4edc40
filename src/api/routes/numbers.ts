/**
 * POST …/numbers (admin): buy a phone number, priced from the number deck in force
 * (longest prefix, by type), paid from credits (SPEC §1.12): refused when the account
 * is blocked or the price would take the balance below 2.00 — counting the holds of open
 * call sessions (SPEC §8): a purchase may spend only the available credit, balance −
 * 2.00 − holds, or calls already granted could take the balance below 2.00 together.
 * The debit's key makes a retry after a crash pay once.
 */
import type { FastifyInstance } from "fastify";
import { BLOCK_THRESHOLD_MICROS } from "../../core/balance-rules.js";
import { applyEntries, type WriteOutcome } from "../../balances/write-path.js";
import { NUMBER_TYPES, type NumberType } from "../../core/decks/number-deck.js";
import { formatAmount } from "../../core/money.js";
import { numberPriceInForce } from "../../core/rating/rate-table.js";
import { guarded } from "../auth.js";
import { RecordRefusedError } from "../../errors.js";
import { numberOwner } from "../../adapters/postgres/phone-numbers.js";
import { ACCOUNT_PARAMS, accountOrFail, balanceAfter, int, publishApplied, type ApiDeps } from "../deps.js";
import { ApiError, invalid } from "../errors.js";

export function numberRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Params: { id: string }; Body: { number: string; number_type: NumberType } }>(
    "/v1/accounts/:id/numbers",
    guarded(["admin"], {
      summary: "buy a phone number from credits, at its price in the number deck",
      description:
        "Refused (409) when the account is blocked, or when the price would take its available credit " +
        "(balance − 2.00 − the holds of its open call sessions) below zero.",
      params: ACCOUNT_PARAMS,
      body: {
        type: "object",
        additionalProperties: false,
        required: ["number", "number_type"],
        properties: {
          number: { type: "string", pattern: "^\\+[0-9]{1,15}$" },
          number_type: { type: "string", enum: [...NUMBER_TYPES] },
        },
      },
      response: {
        201: {
          type: "object",
          properties: {
            account_id: { type: "string" },
            number: { type: "string" },
            number_type: { type: "string" },
            monthly_price_micros: { type: "integer" },
            currency: { type: "string" },
            balance_micros: { type: "integer" },
            purchased_at: { type: "string", format: "date-time" },
          },
        },
        409: { $ref: "Error#", description: "blocked, short of credit, or the number is taken" },
      },
    }),
    async (request, reply) => {
      const accountId = request.params.id;
      const { number, number_type: numberType } = request.body;
      const now = deps.now?.() ?? new Date();
      const table = await deps.rateTable(accountId);
      const price = table && numberPriceInForce(table, number, numberType, now.getTime() * 1000);
      if (!price) throw invalid(`body.number: no ${numberType} number price for ${number}`);
      const priceMicros = BigInt(price.monthlyPriceMicros);
      const account = await accountOrFail(deps, accountId);
      const taken = (owner: string | undefined) =>
        new ApiError(
          409,
          "number_taken",
          `${number} already belongs to ${owner === accountId ? "this account" : "another account"}`,
        );
      const owner = await numberOwner(deps.pool, number);
      if (owner !== undefined) throw taken(owner);

      // The balance check is the debit's floor, decided in the account's Redis script, and
      // the number is inserted in the debit's own ledger transaction: no lock, no pooled
      // connection held across the write, and paid if and only if the number is ours.
      const key = `number_purchase:${number}`;
      let outcome: WriteOutcome;
      try {
        outcome = (
          await applyEntries(
            deps.write,
            [
              {
                accountId,
                key,
                kind: "number_purchase",
                amountMicros: -priceMicros,
                cause: key,
                reference: number,
                details: {
                  number,
                  number_type: numberType,
                  price_prefix: price.prefix,
                  deck_line: price.line,
                },
                floorMicros: BLOCK_THRESHOLD_MICROS,
                buysNumber: { number, numberType },
              },
            ],
            now,
          )
        )[0]!;
      } catch (err) {
        const constraint = (err as { cause?: { constraint?: string } }).cause?.constraint;
        if (err instanceof RecordRefusedError && constraint === "phone_numbers_pkey") {
          throw taken(await numberOwner(deps.pool, number));
        }
        throw err;
      }
      if (outcome.status === "refused") {
        const balance = outcome.balanceMicros;
        if (balance !== undefined && balance < BLOCK_THRESHOLD_MICROS) {
          throw new ApiError(409, "blocked", "the account is blocked (balance below 2.00): recharge first");
        }
        const held = outcome.heldMicros ?? 0n;
        throw new ApiError(
          409,
          "insufficient_credit",
          held > 0n
            ? `${number} costs ${formatAmount(priceMicros, account.currency)}: with ${formatAmount(held, account.currency)} held for calls in progress, it would take the balance below 2.00`
            : `${number} costs ${formatAmount(priceMicros, account.currency)}, which would take the balance below 2.00`,
        );
      }
      if (outcome.status !== "applied") throw taken(await numberOwner(deps.pool, number));
      await publishApplied(deps, [outcome]);
      return reply.code(201).send({
        account_id: accountId,
        number,
        number_type: numberType,
        monthly_price_micros: int(priceMicros),
        currency: account.currency,
        balance_micros: int(balanceAfter(outcome) ?? null),
        purchased_at: now.toISOString(),
      });
    },
  );
}
