/**
 * The HTTP API of SPEC §7 as a fastify instance built from injected dependencies:
 * `ratestream run` serves it next to /healthz, /readyz and /metrics; tests call it
 * in-process. Request schemas validate every input and, with each route's roles
 * (`x-roles`), make the OpenAPI document served at GET /openapi.json.
 */
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyInstance } from "fastify";
import { authenticate, rateKeys, type RateLimiter } from "./auth.js";
import type { ApiDeps } from "./deps.js";
import { BODY_LIMIT_BYTES, ERROR_SCHEMA, frameworkError, installErrorHandling } from "./errors.js";
import { authorizeRoutes } from "./routes/authorize.js";
import { autoRechargeRoutes } from "./routes/auto-recharge.js";
import { balanceRoutes } from "./routes/balance.js";
import { callRoutes } from "./routes/calls.js";
import { cardRoutes } from "./routes/cards.js";
import { numberRoutes } from "./routes/numbers.js";

export type { ApiDeps };

export async function buildApiApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // Requests are logged by the caller's own logs when they fail; not one line each.
    logger: false,
    // Larger bodies are refused (413) before they are read whole or parsed.
    bodyLimit: BODY_LIMIT_BYTES,
    frameworkErrors: frameworkError,
    ajv: {
      // A wrong type or an unknown field is the caller's mistake (422), never coerced or dropped.
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false },
    },
  });
  await app.register(swagger, {
    // Shared schemas keep their $id as their name in components ("Error", not "def-0").
    refResolver: {
      buildLocalReference: (json, _base, _fragment, i) =>
        typeof json.$id === "string" ? json.$id : `def-${i}`,
    },
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "ratestream",
        version: "1",
        description:
          "Prepaid call rating: balances, call authorization and call sessions, card recharges, numbers. " +
          "Amounts are integer micros (1 USD = 1,000,000); each operation lists the key roles " +
          "that may call it in x-roles. Errors: {error: {code, message}}.",
      },
      components: {
        securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "an API key" } },
      },
    },
  });
  app.addSchema({ $id: "Error", ...ERROR_SCHEMA });
  // Bodies are JSON only: anything else is "not JSON" (400), not a string of the wrong type.
  app.removeContentTypeParser("text/plain");
  installErrorHandling(app, deps.logger);
  // Not global: authenticate applies it once the bucket (key or client IP) is known.
  await app.register(rateLimit, { global: false });
  const limiter: RateLimiter = app.createRateLimit({
    max: deps.rateLimitPerSecond ?? 1000,
    timeWindow: 1000,
    keyGenerator: (request) => rateKeys.get(request) ?? `ip:${request.ip}`,
  });
  app.addHook("onRequest", authenticate(deps.pool, limiter));

  app.get("/openapi.json", { schema: { hide: true } }, () => app.swagger());
  balanceRoutes(app, deps);
  authorizeRoutes(app, deps);
  cardRoutes(app, deps);
  autoRechargeRoutes(app, deps);
  numberRoutes(app, deps);
  callRoutes(app, deps);

  await app.ready();
  return app;
}
