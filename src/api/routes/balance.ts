/** GET …/balance (admin, agent) and GET …/ledger (admin, newest first, cursor pagination). */
import type { FastifyInstance } from "fastify";
import { BLOCK_THRESHOLD_MICROS, LOW_BALANCE_THRESHOLD_MICROS } from "../../core/balance-rules.js";
import { ledgerPage } from "../../adapters/postgres/ledger-history.js";
import { guarded } from "../auth.js";
import { ACCOUNT_PARAMS, accountOrFail, balanceAndHolds, int, type ApiDeps } from "../deps.js";
import { ApiError, invalid } from "../errors.js";

const LEDGER_LIMIT = { default: 50, max: 500 };

const BALANCE_SCHEMA = {
  type: "object",
  properties: {
    account_id: { type: "string" },
    balance_micros: { type: "integer" },
    blocked: { type: "boolean", description: "balance below 2.00: no calls, no number purchases" },
    held_micros: { type: "integer", description: "credit held by the account's open call sessions" },
    available_micros: {
      type: "integer",
      description: "balance − 2.00 − held: what new calls may be granted (negative when short)",
    },
    currency: { type: "string" },
    plan: { type: "string", description: "the rate plan that prices the account's calls and numbers" },
    thresholds: {
      type: "object",
      properties: { low_balance_micros: { type: "integer" }, block_micros: { type: "integer" } },
    },
  },
} as const;

const ENTRY_SCHEMA = {
  type: "object",
  properties: {
    seq: { type: "integer" },
    key: { type: "string", description: "the entry's idempotency key (cdr:…, credit:…, recharge:…)" },
    kind: { type: "string" },
    amount_micros: { type: "integer" },
    balance_after_micros: { type: "integer" },
    currency: { type: "string" },
    cdr_id: { type: ["string", "null"] },
    reference: { type: ["string", "null"] },
    rate_version: { type: ["integer", "null"] },
    details: { type: ["object", "null"], additionalProperties: true },
    created_at: { type: "string", format: "date-time" },
  },
} as const;

export function balanceRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Params: { id: string } }>(
    "/v1/accounts/:id/balance",
    guarded(["admin", "agent"], {
      summary: "the account's balance, whether it is blocked, and the thresholds",
      params: ACCOUNT_PARAMS,
      response: { 200: BALANCE_SCHEMA },
    }),
    async (request) => {
      const account = await accountOrFail(deps, request.params.id);
      const { balanceMicros: balance, heldMicros: held } = (await balanceAndHolds(deps, account.account_id))!;
      return {
        account_id: account.account_id,
        balance_micros: int(balance),
        blocked: balance < BLOCK_THRESHOLD_MICROS,
        held_micros: int(held),
        available_micros: int(balance - BLOCK_THRESHOLD_MICROS - held),
        currency: account.currency,
        plan: account.plan,
        thresholds: {
          low_balance_micros: int(LOW_BALANCE_THRESHOLD_MICROS),
          block_micros: int(BLOCK_THRESHOLD_MICROS),
        },
      };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit?: string; cursor?: string } }>(
    "/v1/accounts/:id/ledger",
    guarded(["admin"], {
      summary: "ledger entries, newest first; pass next_cursor back as cursor for the next page",
      params: ACCOUNT_PARAMS,
      querystring: {
        type: "object",
        additionalProperties: false,
        properties: {
          limit: { type: "string", pattern: "^[0-9]{1,3}$", description: "1 to 500 (default 50)" },
          cursor: { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$", description: "opaque" },
        },
      },
      response: {
        200: {
          type: "object",
          properties: {
            entries: { type: "array", items: ENTRY_SCHEMA },
            next_cursor: { type: ["string", "null"], description: "null on the last page" },
          },
        },
      },
    }),
    async (request) => {
      const limit = Number(request.query.limit ?? LEDGER_LIMIT.default);
      if (limit < 1 || limit > LEDGER_LIMIT.max) {
        throw invalid(`querystring.limit must be from 1 to ${LEDGER_LIMIT.max}`);
      }
      const before = request.query.cursor === undefined ? null : decodeCursor(request.query.cursor);
      const rows = await ledgerPage(deps.pool, request.params.id, before, limit + 1);
      const page = rows.slice(0, limit);
      return {
        entries: page.map((r) => ({
          seq: int(r.seq),
          key: r.idempotency_key,
          kind: r.kind,
          amount_micros: int(r.amount_micros),
          balance_after_micros: int(r.balance_after_micros),
          currency: r.currency,
          cdr_id: r.cdr_id,
          reference: r.reference,
          rate_version: int(r.rate_version),
          details: r.details,
          created_at: r.created_at.toISOString(),
        })),
        next_cursor: rows.length > limit ? encodeCursor(page.at(-1)!.seq) : null,
      };
    },
  );
}

/** The cursor is the last seq returned, base64url: opaque to callers, free to change. */
function encodeCursor(seq: string): string {
  return Buffer.from(`seq:${seq}`).toString("base64url");
}

function decodeCursor(cursor: string): string {
  const match = /^seq:([1-9][0-9]{0,18})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match) throw new ApiError(422, "invalid_request", "querystring.cursor is not a cursor this API gave");
  return match[1]!;
}
