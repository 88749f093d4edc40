/**
 * `Authorization: Bearer <api key>`: the key's SHA-256 is looked up (keys are stored
 * hashed), then the route's roles and the key's account are checked. It runs on
 * request, before the body is read, so a caller without a valid key learns nothing
 * about the body it sent.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type pg from "pg";
import { findApiKey, hashApiKey, type ApiKeyRole } from "../adapters/postgres/accounts.js";
import { ApiError } from "./errors.js";

export interface Principal {
  keyId: string;
  role: ApiKeyRole;
  /** null for a switch key: a switch serves every account. */
  accountId: string | null;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** Who may call the route; absent for a public one. */
    roles?: readonly ApiKeyRole[];
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** Route options for a guarded route: the roles enforced, and the same in the OpenAPI document. */
export function guarded<S extends Record<string, unknown>>(roles: readonly ApiKeyRole[], schema: S) {
  return {
    config: { roles },
    schema: {
      ...schema,
      security: [{ apiKey: [] }],
      "x-roles": roles,
      response: {
        ...COMMON_ERRORS,
        ...("body" in schema && { 400: { $ref: "Error#", description: "the body is not JSON" } }),
        ...(schema.response as object | undefined),
      },
    },
  };
}

const COMMON_ERRORS = {
  401: { $ref: "Error#", description: "no valid API key (missing, malformed, unknown or revoked)" },
  403: { $ref: "Error#", description: "the key's role may not, or the key belongs to another account" },
  422: { $ref: "Error#", description: "a bad parameter or body (the message names the field)" },
};

const BEARER = /^Bearer\s+(\S{1,512})$/;

/** One request's turn under the per-key (or per-IP) limit: allowed, or refused until ttl. */
export type RateLimiter = (
  request: FastifyRequest,
) => Promise<{ isAllowed: true } | { isAllowed: false; isExceeded: boolean; ttlInSeconds: number }>;

/** The bucket a request counts against: its key once known, else its client address. */
export const rateKeys = new WeakMap<FastifyRequest, string>();

/*
 * Timing: the key is hashed with SHA-256 and the hash is looked up by a unique index,
 * so how long the lookup takes depends on the hash, which the caller cannot steer
 * towards a real key's hash; nothing compares the secret byte by byte. Unknown and
 * revoked keys take the same query and the same answer.
 */
export function authenticate(pool: pg.Pool, limiter?: RateLimiter) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const roles = request.routeOptions.config.roles;
    if (roles === undefined) return;
    let key: { key_id: string; role: ApiKeyRole; account_id: string | null };
    try {
      key = await identify(pool, request);
    } catch (err) {
      // Without a valid key the client's address is the bucket: guessing keys is limited too.
      await limit(limiter, request, reply);
      throw err;
    }
    rateKeys.set(request, `key:${key.key_id}`);
    await limit(limiter, request, reply);
    if (!roles.includes(key.role)) {
      throw new ApiError(
        403,
        "forbidden",
        `a ${key.role} key may not do this (allowed: ${roles.join(", ")})`,
      );
    }
    const { id } = request.params as { id?: string };
    if (key.account_id !== null && key.account_id !== id) {
      throw new ApiError(403, "forbidden", "this API key belongs to another account");
    }
    request.principal = { keyId: key.key_id, role: key.role, accountId: key.account_id };
  };
}

async function identify(pool: pg.Pool, request: FastifyRequest) {
  const header = request.headers.authorization;
  if (header === undefined) {
    throw new ApiError(401, "unauthorized", "an API key is required: Authorization: Bearer <api key>");
  }
  const token = BEARER.exec(header)?.[1];
  if (token === undefined) {
    throw new ApiError(401, "unauthorized", "the Authorization header must be Bearer <api key>");
  }
  const key = await findApiKey(pool, hashApiKey(token));
  if (key === undefined) throw new ApiError(401, "unauthorized", "the API key is unknown or revoked");
  return key;
}

async function limit(limiter: RateLimiter | undefined, request: FastifyRequest, reply: FastifyReply) {
  if (!limiter) return;
  const turn = await limiter(request);
  if (turn.isAllowed || !turn.isExceeded) return;
  void reply.header("retry-after", String(Math.max(1, turn.ttlInSeconds)));
  throw new ApiError(429, "rate_limited", `too many requests; retry in ${Math.max(1, turn.ttlInSeconds)} s`);
}
