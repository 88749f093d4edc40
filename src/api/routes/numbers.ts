/**
 * POST …/numbers (admin): buy a phone number, priced from the number deck in force
 * (longest prefix, by type), paid from credits (SPEC §1.12): refused when the account
 * is blocked or the price would take the balance below 2.00.
 */
import type { FastifyInstance } from "fastify";
import { BLOCK_THRESHOLD_MICROS } from "../../balances/types.js";
import { applyEntries } from "../../balances/write-path.js";
import { NUMBER_TYPES, type NumberType } from "../../core/decks/number-deck.js";
import { formatAmount } from "../../core/money.js";
import { numberPriceInForce } from "../../core/rating/rate-table.js";
import { guarded } from "../auth.js";
import {
  ACCOUNT_PARAMS,
  accountOrFail,
  balanceAfter,
  currentBalance,
  int,
  publishApplied,
  type ApiDeps,
} from "../deps.js";
import { ApiError, invalid } from "../errors.js";

export function numberRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Params: { id: string }; Body: { number: string; number_type: NumberType } }>(
    "/v1/accounts/:id/numbers",
    guarded(["admin"], {
      summary: "buy a phone number from credits, at its price in the number deck",
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
      const table = deps.rateTable();
      const price = table && numberPriceInForce(table, number, numberType, now.getTime() * 1000);
      if (!price) throw invalid(`body.number: no ${numberType} number price for ${number}`);
      const priceMicros = BigInt(price.monthlyPriceMicros);
      const account = await accountOrFail(deps, accountId);
      const key = `number_purchase:${number}`;

      // Serialized per number (no two buyers) and per account (no two purchases passing
      // the same balance check); the debit's key makes a retry after a crash pay once.
      const client = await deps.pool.connect();
      try {
        await client.query("begin");
        await client.query("select pg_advisory_xact_lock(hashtext($1))", [`number:${number}`]);
        await client.query("select pg_advisory_xact_lock(hashtext($1))", [`account:${accountId}`]);
        const owner = await client.query<{ account_id: string }>(
          "select account_id from phone_numbers where number = $1",
          [number],
        );
        if (owner.rows.length > 0) {
          const whose = owner.rows[0]!.account_id === accountId ? "this account" : "another account";
          throw new ApiError(409, "number_taken", `${number} already belongs to ${whose}`);
        }
        const paid = (await deps.write.ledger.recorded([{ accountId, key }])).size > 0;
        if (!paid) {
          const balance = (await currentBalance(deps, accountId))!;
          if (balance < BLOCK_THRESHOLD_MICROS) {
            throw new ApiError(409, "blocked", "the account is blocked (balance below 2.00): recharge first");
          }
          if (balance - priceMicros < BLOCK_THRESHOLD_MICROS) {
            throw new ApiError(
              409,
              "insufficient_credit",
              `${number} costs ${formatAmount(priceMicros, account.currency)}, which would take the balance below 2.00`,
            );
          }
        }
        const outcomes = await applyEntries(
          deps.write,
          [
            {
              accountId,
              key,
              kind: "number_purchase",
              amountMicros: -priceMicros,
              cause: key,
              reference: number,
              details: { number, number_type: numberType, price_prefix: price.prefix, deck_line: price.line },
            },
          ],
          now,
        );
        const inserted = await client.query<{ purchased_at: Date }>(
          `insert into phone_numbers (number, account_id, number_type, monthly_price_micros, currency, purchased_at)
           values ($1, $2, $3, $4, $5, $6) returning purchased_at`,
          [number, accountId, numberType, priceMicros.toString(), account.currency, now],
        );
        await client.query("commit");
        await publishApplied(deps, outcomes);
        return reply.code(201).send({
          account_id: accountId,
          number,
          number_type: numberType,
          monthly_price_micros: int(priceMicros),
          currency: account.currency,
          balance_micros: int(balanceAfter(outcomes[0]!) ?? null),
          purchased_at: inserted.rows[0]!.purchased_at.toISOString(),
        });
      } catch (err) {
        await client.query("rollback").catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
  );
}
