/**
 * Call sessions (SPEC §8): a switch starts, renews and ends a session per call, credit
 * is held in slices while the call runs, and the call's CDR settles it. Admins and
 * agents see the account's open sessions. The work is in calls/sessions.ts.
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import type { Direction } from "../../core/cdr.js";
import {
  endCall,
  listCalls,
  renewCall,
  startCall,
  type CallDeps,
  type EndResult,
  type GrantResult,
} from "../../calls/sessions.js";
import type { CallSession } from "../../calls/types.js";
import { guarded } from "../auth.js";
import { ACCOUNT_PARAMS, callDeps, int, type ApiDeps } from "../deps.js";
import { ApiError } from "../errors.js";

/** The rules of cdr_id (SPEC §3): 1 to 128 characters, no control characters. */
const CALL_ID = {
  type: "string",
  minLength: 1,
  maxLength: 128,
  pattern: "^[^\\u0000-\\u001f\\u007f]*$",
  description: "the call's id: its CDR's cdr_id settles the session",
} as const;

const CALL_PARAMS = {
  type: "object",
  required: ["id", "call_id"],
  properties: { id: ACCOUNT_PARAMS.properties.id, call_id: CALL_ID },
} as const;

const EXPIRES_AT = {
  type: ["string", "null"],
  format: "date-time",
  description: "when the hold ends unless renewed (whole seconds, rounded down); null when refused",
} as const;

const GRANT_SCHEMA = {
  type: "object",
  properties: {
    call_id: { type: "string" },
    allowed: { type: "boolean" },
    reason: { type: "string", enum: ["ok", "blocked", "insufficient_credit", "no_rate", "unknown_account"] },
    granted_seconds: {
      type: "integer",
      minimum: 0,
      maximum: 86_400,
      description: "the whole duration the call may reach so far: cut it there unless a renew grants more",
    },
    final: { type: "boolean", description: "no full slice more could be granted: plan to end the call" },
    held_micros: { type: "integer", description: "the charge of granted_seconds, held from the credit" },
    expires_at: EXPIRES_AT,
  },
} as const;

const SESSION_SCHEMA = {
  type: "object",
  properties: {
    call_id: { type: "string" },
    state: { type: "string", enum: ["active", "ended"] },
    granted_seconds: { type: "integer" },
    held_micros: { type: "integer" },
    expires_at: { type: "string", format: "date-time" },
  },
} as const;

const CONFLICT = {
  $ref: "Error#",
  description: "the call's session was settled or expired (start, renew, end), or has ended (renew)",
};
const UNAVAILABLE = {
  $ref: "Error#",
  description: "the session could not be recorded durably: nothing was granted; retry",
};

/** Whole seconds, rounded down: the switch never counts on a hold past its real end. */
const instant = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

function sessionBody(s: CallSession) {
  return {
    call_id: s.callId,
    state: s.state,
    granted_seconds: s.grantedSeconds,
    held_micros: int(s.heldMicros),
    expires_at: instant(s.untilMs),
  };
}

function required(deps: ApiDeps): CallDeps {
  const calls = callDeps(deps);
  if (!calls) throw new ApiError(503, "unavailable", "call sessions are not configured on this server");
  return calls;
}

function failed(
  result: Exclude<GrantResult | EndResult, { status: "granted" | "refused" | "ended" }>,
  callId: string,
) {
  switch (result.status) {
    case "conflict":
      return new ApiError(409, "call_closed", result.message);
    case "not_found":
      return new ApiError(404, "not_found", `no call session "${callId}" for this account`);
    case "unrecorded":
      return new ApiError(
        503,
        "unavailable",
        "the call session could not be recorded; nothing was granted, retry",
      );
  }
}

async function grantReply(reply: FastifyReply, callId: string, result: GrantResult, deps: ApiDeps) {
  if (result.status === "granted") {
    const s = result.session;
    return reply.send({
      call_id: callId,
      allowed: true,
      reason: "ok",
      granted_seconds: s.grantedSeconds,
      final: result.final,
      held_micros: int(s.heldMicros),
      expires_at: instant(s.untilMs),
    });
  }
  if (result.status === "refused") {
    return reply.send({
      call_id: callId,
      allowed: false,
      reason: result.reason,
      granted_seconds: 0,
      final: true,
      held_micros: 0,
      expires_at: null,
    });
  }
  if (result.status === "unrecorded")
    deps.logger.warn({ err: result.error, callId }, "call session not recorded");
  throw failed(result, callId);
}

export function callRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{
    Params: { id: string };
    Body: { call_id: string; direction: Direction; to: string; features?: string[] };
  }>(
    "/v1/accounts/:id/calls",
    guarded(["switch"], {
      summary: "start a call session: hold credit for the first slice",
      description:
        "Grants the longest duration up to one slice (CALL_QUOTA_SECONDS) whose charge — connection fee, " +
        "increments and each feature per started minute — fits the available credit: balance − 2.00 − the " +
        "holds of the account's other open sessions. Idempotent per call_id while the session is open.",
      params: ACCOUNT_PARAMS,
      body: {
        type: "object",
        additionalProperties: false,
        required: ["call_id", "direction", "to"],
        properties: {
          call_id: CALL_ID,
          direction: { type: "string", enum: ["outbound", "inbound"] },
          to: { type: "string", pattern: "^\\+[0-9]{1,15}$", description: "E.164" },
          features: {
            type: "array",
            maxItems: 32,
            uniqueItems: true,
            items: { type: "string", pattern: "^[a-z][a-z0-9_]{0,31}$" },
            description: "surcharge features of the call (recording, conference …), each at most once",
          },
        },
      },
      response: { 200: GRANT_SCHEMA, 409: CONFLICT, 503: UNAVAILABLE },
    }),
    async (request, reply) => {
      const calls = required(deps);
      const { call_id: callId, direction, to, features = [] } = request.body;
      const result = await startCall(calls, request.params.id, callId, { direction, to, features });
      return grantReply(reply, callId, result, deps);
    },
  );

  app.post<{ Params: { id: string; call_id: string }; Body: { used_seconds: number } }>(
    "/v1/accounts/:id/calls/:call_id/renew",
    guarded(["switch"], {
      summary: "ask for one more slice for a running call",
      description:
        "Grants the longest duration up to granted_seconds + one slice that fits the available credit; when " +
        "nothing more fits, the same granted_seconds with final: true. expires_at counts from now by the " +
        "granted seconds the call has not used yet, plus CALL_GRACE_SECONDS.",
      params: CALL_PARAMS,
      body: {
        type: "object",
        additionalProperties: false,
        required: ["used_seconds"],
        properties: { used_seconds: { type: "integer", minimum: 0, maximum: 86_400 } },
      },
      response: {
        200: GRANT_SCHEMA,
        404: { $ref: "Error#", description: "no such call session" },
        409: CONFLICT,
        503: UNAVAILABLE,
      },
    }),
    async (request, reply) => {
      const calls = required(deps);
      const { id, call_id: callId } = request.params;
      const result = await renewCall(calls, id, callId, request.body.used_seconds);
      return grantReply(reply, callId, result, deps);
    },
  );

  app.post<{ Params: { id: string; call_id: string }; Body: { duration_seconds: number } }>(
    "/v1/accounts/:id/calls/:call_id/end",
    guarded(["switch"], {
      summary: "the call ended: hold its charge until its CDR settles it",
      description:
        "The session then holds the charge of the reported duration until the CDR with this call_id as " +
        "cdr_id is debited, for at most CALL_CDR_WAIT_SECONDS. Ending twice changes nothing.",
      params: CALL_PARAMS,
      body: {
        type: "object",
        additionalProperties: false,
        required: ["duration_seconds"],
        properties: { duration_seconds: { type: "integer", minimum: 0, maximum: 86_400 } },
      },
      response: {
        200: SESSION_SCHEMA,
        404: { $ref: "Error#", description: "no such call session" },
        409: CONFLICT,
        503: UNAVAILABLE,
      },
    }),
    async (request) => {
      const calls = required(deps);
      const { id, call_id: callId } = request.params;
      const result = await endCall(calls, id, callId, request.body.duration_seconds);
      if (result.status === "ended") return sessionBody(result.session);
      if (result.status === "unrecorded")
        deps.logger.warn({ err: result.error, callId }, "call end not recorded");
      throw failed(result, callId);
    },
  );

  app.get<{ Params: { id: string } }>(
    "/v1/accounts/:id/calls",
    guarded(["admin", "agent"], {
      summary: "the account's open call sessions and their holds",
      params: ACCOUNT_PARAMS,
      response: {
        200: { type: "object", properties: { calls: { type: "array", items: SESSION_SCHEMA } } },
        404: { $ref: "Error#", description: "no such account" },
      },
    }),
    async (request) => {
      const found = await listCalls(required(deps), request.params.id);
      if (!found) throw new ApiError(404, "not_found", `no account "${request.params.id}"`);
      return {
        calls: found.sessions.sort((a, b) => (a.callId < b.callId ? -1 : 1)).map(sessionBody),
      };
    },
  );
}
