/**
 * PUT …/auto-recharge (admin): online auto-recharge settings (SPEC §1.7). Saved in
 * Postgres, then copied to Redis, whose balance script decides every request. Turning
 * it on at or below 5.00 books a zero entry, so the same script requests one at once.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { updateAccount } from "../../adapters/postgres/accounts.js";
import { copySettingsToStore } from "../../balances/settings.js";
import { LOW_BALANCE_THRESHOLD_MICROS } from "../../core/balance-rules.js";
import { applyEntries } from "../../balances/write-path.js";
import { parseDecimalMicros } from "../../core/money.js";
import { guarded } from "../auth.js";
import { currentBalance } from "../../balances/current-balance.js";
import { ACCOUNT_PARAMS, accountOrFail, int, publishApplied, type ApiDeps } from "../deps.js";
import { ApiError, invalid } from "../errors.js";

const MIN_AMOUNT = 5_000_000n;
const MAX_AMOUNT = 5_000_000_000n;

interface Body {
  enabled: boolean;
  amount?: string;
  monthly_limit?: string | null;
}

export function autoRechargeRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.put<{ Params: { id: string }; Body: Body }>(
    "/v1/accounts/:id/auto-recharge",
    guarded(["admin"], {
      summary: "online auto-recharge settings (not on trial or offline-recharge accounts)",
      params: ACCOUNT_PARAMS,
      body: {
        type: "object",
        additionalProperties: false,
        required: ["enabled"],
        properties: {
          enabled: { type: "boolean" },
          amount: { type: "string", description: "5.00 to 5000.00, at most 2 decimals; required to enable" },
          monthly_limit: {
            type: ["string", "null"],
            description: "most recharged in a calendar month (UTC), at least amount; null: no limit",
          },
        },
      },
      response: {
        200: {
          type: "object",
          properties: {
            account_id: { type: "string" },
            enabled: { type: "boolean" },
            amount_micros: { type: ["integer", "null"] },
            monthly_limit_micros: { type: ["integer", "null"] },
            recharge_requested: {
              type: "boolean",
              description: "turned on at or below 5.00: a recharge was requested at once",
            },
          },
        },
        409: { $ref: "Error#", description: "trial or offline-recharge account, or no saved card" },
      },
    }),
    async (request) => {
      const accountId = request.params.id;
      const { enabled } = request.body;
      const amount = request.body.amount === undefined ? null : amountField("amount", request.body.amount);
      const limit =
        request.body.monthly_limit === undefined || request.body.monthly_limit === null
          ? null
          : amountField("monthly_limit", request.body.monthly_limit);
      if (amount !== null && (amount < MIN_AMOUNT || amount > MAX_AMOUNT)) {
        throw invalid("body.amount must be from 5.00 to 5000.00");
      }
      if (enabled && amount === null) throw invalid("body.amount is required to turn auto-recharge on");
      if (limit !== null && limit <= 0n) throw invalid("body.monthly_limit must be greater than 0");
      // A limit below the amount would refuse every recharge.
      if (limit !== null && amount !== null && limit < amount) {
        throw invalid("body.monthly_limit must be at least body.amount");
      }

      const account = await accountOrFail(deps, accountId);
      if (enabled && account.trial) {
        throw new ApiError(409, "not_available", "online auto-recharge is not available on trial accounts");
      }
      if (enabled && account.recharge_mode === "offline") {
        throw new ApiError(
          409,
          "not_available",
          "online auto-recharge is not available on accounts on offline recharge",
        );
      }
      if (enabled && account.stripe_payment_method === null) {
        throw new ApiError(409, "no_card", "no saved card: PUT /v1/accounts/{id}/payment-method first");
      }

      const updated = (await updateAccount(deps.pool, accountId, {
        autoRecharge: { enabled, amountMicros: amount, monthlyLimitMicros: limit },
      }))!;
      await copySettingsToStore(deps.write, accountId, updated.settings);

      let requested = false;
      const turnedOn = enabled && !account.auto_recharge_enabled;
      if (
        turnedOn &&
        (await currentBalance(deps.write, accountId, deps.now?.() ?? new Date()))! <=
          LOW_BALANCE_THRESHOLD_MICROS
      ) {
        const key = `auto_recharge_enabled:${randomUUID()}`;
        const outcomes = await applyEntries(
          deps.write,
          [{ accountId, key, kind: "auto_recharge_enabled", amountMicros: 0n, cause: key }],
          deps.now?.(),
        );
        await publishApplied(deps, outcomes);
        const first = outcomes[0]!;
        requested =
          first.status === "applied" &&
          first.applied.events.some((e) => e.type === "auto_recharge_requested");
      }
      return {
        account_id: accountId,
        enabled: updated.row.auto_recharge_enabled,
        amount_micros: int(updated.row.auto_recharge_amount_micros),
        monthly_limit_micros: int(updated.row.auto_recharge_monthly_limit_micros),
        recharge_requested: requested,
      };
    },
  );
}

function amountField(field: string, text: string): bigint {
  const parsed = parseDecimalMicros(text, 2, 1_000_000_000n);
  if (!parsed.ok) throw invalid(`body.${field}: ${parsed.problem}`);
  return parsed.value;
}
