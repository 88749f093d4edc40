/** GET …/authorize?direction=&to= (switch): may a call start, and for how long (SPEC §7). */
import type { FastifyInstance } from "fastify";
import type { Direction } from "../../core/cdr.js";
import { authorizeCall } from "../../core/rating/authorize.js";
import { guarded } from "../auth.js";
import { ACCOUNT_PARAMS, balanceAndHolds, type ApiDeps } from "../deps.js";

export function authorizeRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Params: { id: string }; Querystring: { direction: Direction; to: string } }>(
    "/v1/accounts/:id/authorize",
    guarded(["switch"], {
      summary: "may a call start, and for how long",
      description:
        "Prices one call as rating will, without surcharges: features (recording, conference …) are not known " +
        "before the call and are charged on its CDR, so a call with features can end below the answer's " +
        "limit. It counts the holds of the account's open call sessions but holds nothing itself: concurrent " +
        "calls of one account are each allowed the same credit (open a call session to hold it).",
      params: ACCOUNT_PARAMS,
      querystring: {
        type: "object",
        additionalProperties: false,
        required: ["direction", "to"],
        properties: {
          direction: { type: "string", enum: ["outbound", "inbound"] },
          // An unescaped '+' in a query string decodes to a space: read it as '+'.
          to: { type: "string", pattern: "^[+ ][0-9]{1,15}$", description: "E.164 (send + as %2B)" },
        },
      },
      response: {
        200: {
          type: "object",
          properties: {
            allowed: { type: "boolean" },
            reason: {
              type: "string",
              enum: ["ok", "blocked", "insufficient_credit", "no_rate", "unknown_account"],
            },
            max_duration_seconds: { type: "integer", minimum: 0, maximum: 86_400 },
          },
        },
      },
    }),
    async (request) => {
      const { direction } = request.query;
      const to = `+${request.query.to.slice(1)}`;
      const found = await balanceAndHolds(deps, request.params.id);
      if (found === undefined) return { allowed: false, reason: "unknown_account", max_duration_seconds: 0 };
      const at = (deps.now?.() ?? new Date()).getTime() * 1000;
      const rate = (await deps.rateTable(request.params.id))?.rates[direction].lookup(to, 1, at);
      const decision = authorizeCall(rate, found.balanceMicros, found.heldMicros);
      return {
        allowed: decision.allowed,
        reason: decision.reason,
        max_duration_seconds: decision.maxDurationSeconds,
      };
    },
  );
}
