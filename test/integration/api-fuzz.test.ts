/**
 * Hostile input on every operation of /openapi.json (fast-check): arbitrary ids, query
 * strings, headers, JSON values and raw bytes under any content type. A client's
 * mistake is always a 4xx with {error:{code,message}}, never a 5xx, and a request that
 * fails never charges a card at the Stripe fake.
 */
import fc from "fast-check";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiKeyRole } from "../../src/adapters/postgres/accounts.js";
import { apiRig, type ApiRig } from "../support/api.js";
import { Scope } from "../support/services.js";

const scope = new Scope();
let api: ApiRig;
let account: string;
const keys: Partial<Record<ApiKeyRole, string>> = {};

beforeAll(async () => {
  api = await apiRig(scope);
  // Funded and with a saved card: a fuzzed request that slipped through would charge it.
  account = await api.account(50_000_000n);
  keys.admin = await api.key("admin", account);
  keys.agent = await api.key("agent", account);
  keys.switch = await api.key("switch");
  const saved = await api.request({
    method: "PUT",
    url: `/v1/accounts/${account}/payment-method`,
    key: keys.admin,
    payload: { stripe_payment_method: "pm_card_visa" },
  });
  expect(saved.statusCode).toBe(200);
});
afterAll(() => scope.cleanup());

interface Operation {
  method: "GET" | "PUT" | "POST";
  path: string;
  roles: ApiKeyRole[];
  query: string[];
  bodyFields: string[];
}

async function operations(): Promise<Operation[]> {
  const doc = (await api.request({ method: "GET", url: "/openapi.json" })).json<{
    paths: Record<
      string,
      Record<
        string,
        {
          "x-roles": ApiKeyRole[];
          parameters?: { in: string; name: string }[];
          requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> };
        }
      >
    >;
  }>();
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase() as Operation["method"],
      path,
      roles: op["x-roles"],
      query: (op.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name),
      bodyFields: Object.keys(op.requestBody?.content["application/json"]?.schema.properties ?? {}),
    })),
  );
}

/** Header values as they can arrive on the wire (visible ASCII, spaces, Latin-1). */
const headerText = fc.string({
  unit: fc.oneof(
    fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    fc.integer({ min: 0xa0, max: 0xff }).map((c) => String.fromCharCode(c)),
  ),
  maxLength: 80,
});

const weirdStrings = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom("", " ", "+", "%2B", "10.00", "1e3", "-5", "0x10", "NaN", "Infinity", "null", "[]", "{}"),
  fc.constantFrom("\u0000", "\ud800", "x".repeat(600), "+".padEnd(40, "9"), "pm_", "pm_card_visa"),
);

/** Any value a field might carry: right type or not. */
const fieldValue = fc.oneof(
  weirdStrings,
  fc.jsonValue({ maxDepth: 3 }),
  fc.boolean(),
  fc.constantFrom(null, 0, -1, 5, 10, 25, 1e308, 0.1, Number.MAX_SAFE_INTEGER + 2),
);

function nested(depth: number, open: string, close: string): string {
  return open.repeat(depth) + close.repeat(depth);
}

/** A body: a JSON value, an object with the route's fields (and strangers), broken text or bytes. */
function bodies(fields: string[]) {
  const json = (payload: string, type = "application/json") => ({
    type,
    payload: payload as string | Buffer,
  });
  return fc.oneof(
    fc
      .dictionary(fc.constantFrom(...fields, "extra", "__proto__", "constructor"), fieldValue)
      .map((o) => json(JSON.stringify(o))),
    fc.jsonValue({ maxDepth: 4 }).map((v) => json(JSON.stringify(v) ?? "null")),
    fc.string({ maxLength: 60 }).map((s) => json(s)),
    fc.integer({ min: 1, max: 5_000 }).map((d) => json(nested(d, "[", "]"))),
    fc
      .integer({ min: 1, max: 3_000 })
      .map((d) => json(nested(d, '{"a":', "}").replace(/}+$/, (m) => `1${m}`))),
    fc
      .uint8Array({ maxLength: 200 })
      .chain((bytes) =>
        fc
          .constantFrom(
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=latin1",
            "text/plain",
            "application/octet-stream",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
          )
          .map((type) => ({ type, payload: Buffer.from(bytes) })),
      ),
    // Invalid UTF-8 inside an otherwise JSON-looking body.
    fc.constant({
      type: "application/json",
      payload: Buffer.concat([
        Buffer.from('{"amount":"'),
        Buffer.from([0xc3, 0x28, 0xff]),
        Buffer.from('"}'),
      ]),
    }),
  );
}

function queries(names: string[]) {
  return fc.oneof(
    fc.constant(""),
    fc
      .dictionary(fc.constantFrom(...names, "x", "limit", "to"), weirdStrings)
      .map((q) => (Object.keys(q).length === 0 ? "" : `?${new URLSearchParams(q).toString()}`)),
    fc.string({ maxLength: 40 }).map((s) => `?${s.replace(/#/g, "")}`),
    fc.constantFrom("?to=%ZZ", "?direction=outbound&to=%2B", "?limit=999&cursor=%00", "?a[b]=1&a[c]=2"),
  );
}

function expectClientError(res: LightMyRequestResponse, where: string): void {
  expect(res.statusCode, where).toBeLessThan(500);
  if (res.statusCode >= 400) {
    const body = res.json<{ error?: { code?: unknown; message?: unknown } }>();
    expect(typeof body.error?.code, where).toBe("string");
    expect(typeof body.error?.message, where).toBe("string");
  }
}

const succeededCharges = () => api.stripe.intents.filter((i) => i.status === "succeeded").length;

describe("API under hostile input", () => {
  it("answers every operation < 500 with the error body, and never charges for a failed request", async () => {
    const ops = await operations();
    expect(ops.length).toBeGreaterThanOrEqual(7);
    for (const op of ops) {
      const rightKey = keys[op.roles[0]!]!;
      const request = fc.record({
        id: fc.oneof(
          { weight: 4, arbitrary: fc.constant(account) },
          fc.string({ maxLength: 70 }).map(encodeURIComponent),
          fc.constantFrom("..", "%2e%2e", "%00", "a%2Fb", "x".repeat(150), "%E0%A4%A", "%ff"),
        ),
        query: queries(op.query),
        body: op.method === "GET" ? fc.option(bodies(op.bodyFields), { freq: 4 }) : bodies(op.bodyFields),
        authorization: fc.oneof(
          { weight: 4, arbitrary: fc.constant(`Bearer ${rightKey}`) },
          headerText,
          headerText.map((t) => `Bearer ${t}`),
          fc.constant(undefined),
        ),
        idempotencyKey: fc.option(headerText),
      });
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const chargesBefore = succeededCharges();
          const headers: Record<string, string> = {};
          if (r.authorization !== undefined) headers.authorization = r.authorization;
          if (r.idempotencyKey !== null) headers["idempotency-key"] = r.idempotencyKey;
          if (r.body && r.body.type !== "") headers["content-type"] = r.body.type;
          const url = `${op.path.replace("{id}", r.id)}${r.query}`;
          const res = await api.app.inject({
            method: op.method,
            url,
            headers,
            ...(r.body ? { payload: r.body.payload } : {}),
          });
          const where = `${op.method} ${url} ${res.statusCode} ${res.body.slice(0, 200)}`;
          expectClientError(res, where);
          if (res.statusCode !== 201) expect(succeededCharges(), where).toBe(chargesBefore);
        }),
        { numRuns: 250, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
      );
    }
  }, 180_000);

  it("answers any method on any path < 500 with the error body", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"),
        fc.array(fc.oneof(fc.string({ maxLength: 12 }).map(encodeURIComponent), fc.constant("v1")), {
          maxLength: 6,
        }),
        async (method, segments) => {
          const res = await api.app.inject({
            method: method as "GET",
            url: `/${segments.join("/")}`,
            headers: { authorization: `Bearer ${keys.admin}` },
          });
          expect(res.statusCode, `${method} /${segments.join("/")}`).toBeLessThan(500);
          if (res.statusCode >= 400 && method !== "HEAD") expectClientError(res, method);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses a body that is not a JSON object with 400 or 422, whatever the key", async () => {
    const ops = (await operations()).filter((o) => o.method !== "GET");
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ops),
        fc.oneof(
          fc.jsonValue().filter((v) => typeof v !== "object" || v === null || Array.isArray(v)),
          fc.constant("{"),
        ),
        async (op, value) => {
          const res = await api.app.inject({
            method: op.method,
            url: op.path.replace("{id}", account).replace("{call_id}", "c-fuzz"),
            // A key the operation allows: others are refused (403) before the body is read.
            headers: { authorization: `Bearer ${keys[op.roles[0]!]}`, "content-type": "application/json" },
            payload: typeof value === "string" ? value : JSON.stringify(value),
          });
          expect([400, 422], `${op.method} ${op.path} ${res.body}`).toContain(res.statusCode);
          expectClientError(res, op.path);
        },
      ),
      { numRuns: 200 },
    );
  });
});
