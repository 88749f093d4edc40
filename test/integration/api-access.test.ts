/**
 * Who may call what, generated from the OpenAPI document the API serves: every
 * operation × no key, malformed, unknown and revoked keys, each role, and keys of
 * another account. A route added without roles in the document, or without a sample
 * request here, fails. Then every kind of bad input → the status SPEC §7 names.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_KEY_ROLES, type ApiKeyRole } from "../../src/adapters/postgres/accounts.js";
import { apiRig, type ApiRig } from "../support/api.js";
import { Scope } from "../support/services.js";

const scope = new Scope();
let api: ApiRig;
beforeAll(async () => {
  api = await apiRig(scope);
});
afterAll(() => scope.cleanup());

/** A request each operation accepts from an allowed key (its answer may still be 409 …). */
const SAMPLES: Record<string, { query?: string; body?: unknown }> = {
  "GET /v1/accounts/{id}/balance": {},
  "GET /v1/accounts/{id}/ledger": { query: "?limit=5" },
  "GET /v1/accounts/{id}/authorize": { query: "?direction=outbound&to=%2B442071234567" },
  "PUT /v1/accounts/{id}/payment-method": { body: { stripe_payment_method: "pm_card_visa" } },
  "POST /v1/accounts/{id}/recharges": { body: { amount: "10.00" } },
  "PUT /v1/accounts/{id}/auto-recharge": { body: { enabled: false } },
  "POST /v1/accounts/{id}/numbers": { body: { number: "+14155550100", number_type: "local" } },
  "POST /v1/accounts/{id}/calls": {
    body: { call_id: "c-access", direction: "outbound", to: "+442071234567" },
  },
  "POST /v1/accounts/{id}/calls/{call_id}/renew": { body: { used_seconds: 10 } },
  "POST /v1/accounts/{id}/calls/{call_id}/end": { body: { duration_seconds: 10 } },
  "GET /v1/accounts/{id}/calls": {},
};

interface Operation {
  method: string;
  path: string;
  roles: ApiKeyRole[];
  secured: boolean;
}

async function operations(): Promise<Operation[]> {
  const res = await api.request({ method: "GET", url: "/openapi.json" });
  expect(res.statusCode).toBe(200);
  const doc = res.json<{
    paths: Record<string, Record<string, { security?: unknown[]; "x-roles"?: ApiKeyRole[] }>>;
  }>();
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      roles: op["x-roles"] ?? [],
      secured: (op.security ?? []).length > 0,
    })),
  );
}

function expectErrorBody(body: string, where: string): void {
  const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
  expect(typeof parsed.error?.code, where).toBe("string");
  expect(typeof parsed.error?.message, where).toBe("string");
  expect((parsed.error?.message as string).length, where).toBeGreaterThan(5);
}

describe("API access", () => {
  it("documents roles and a security requirement for every operation, and has a sample for each", async () => {
    const ops = await operations();
    expect(ops.length).toBeGreaterThanOrEqual(7);
    for (const op of ops) {
      const name = `${op.method} ${op.path}`;
      expect(op.secured, `${name} has a security requirement`).toBe(true);
      expect(op.roles.length, `${name} lists x-roles`).toBeGreaterThan(0);
      for (const role of op.roles) expect(API_KEY_ROLES).toContain(role);
      expect(SAMPLES[name], `a sample request for ${name} in this test`).toBeDefined();
    }
    expect(Object.keys(SAMPLES).sort()).toEqual(ops.map((o) => `${o.method} ${o.path}`).sort());
  });

  it("matches SPEC §7: 401 without a valid key, 403 for another account or a role that may not", async () => {
    const account = await api.account(0n);
    const other = await api.account(0n);
    const keys: Record<string, string | undefined> = {
      admin: await api.key("admin", account),
      agent: await api.key("agent", account),
      switch: await api.key("switch"),
      "other admin": await api.key("admin", other),
      "other agent": await api.key("agent", other),
      revoked: await api.revokedKey(account),
      unknown: "rsk_thisKeyWasNeverIssued0000000000000000000",
      none: undefined,
    };
    const failures: string[] = [];
    for (const op of await operations()) {
      const sample = SAMPLES[`${op.method} ${op.path}`]!;
      const url = op.path.replace("{id}", account).replace("{call_id}", "c-access") + (sample.query ?? "");
      const expected = (who: string): "allowed" | 401 | 403 => {
        if (["revoked", "unknown", "none", "malformed"].includes(who)) return 401;
        if (who.startsWith("other")) return 403;
        return op.roles.includes(who as ApiKeyRole) ? "allowed" : 403;
      };
      const cases: [string, Record<string, string>][] = [
        ...Object.entries(keys).map(([who, key]): [string, Record<string, string>] => [
          who,
          key === undefined ? {} : { authorization: `Bearer ${key}` },
        ]),
        ["malformed", { authorization: `Basic ${keys.admin}` }],
      ];
      for (const [who, headers] of cases) {
        const res = await api.app.inject({
          method: op.method as "GET",
          url,
          headers,
          ...(sample.body === undefined ? {} : { payload: sample.body as object }),
        });
        const want = expected(who);
        const ok =
          want === "allowed"
            ? res.statusCode !== 401 && res.statusCode !== 403 && res.statusCode < 500
            : res.statusCode === want;
        if (!ok)
          failures.push(`${op.method} ${op.path} as ${who}: ${res.statusCode} (want ${want}) ${res.body}`);
        if (res.statusCode >= 400) expectErrorBody(res.body, `${op.method} ${op.path} as ${who}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it("serves the OpenAPI document and the 404 without a key", async () => {
    const doc = await api.request({ method: "GET", url: "/openapi.json" });
    expect(doc.json<{ openapi: string }>().openapi).toMatch(/^3\./);
    const missing = await api.request({ method: "GET", url: "/v1/nothing" });
    expect(missing.statusCode).toBe(404);
    expectErrorBody(missing.body, "404");
  });
});

describe("API input", () => {
  it("answers 400 for a body that is not JSON and 422 naming the field for any other bad input", async () => {
    const account = await api.account(10_000_000n);
    const admin = await api.key("admin", account);
    const sw = await api.key("switch");
    const base = `/v1/accounts/${account}`;
    const json = { "content-type": "application/json" };
    const cases: {
      method: "GET" | "PUT" | "POST";
      url: string;
      key?: string;
      body?: string;
      headers?: Record<string, string>;
      status: number;
      mentions: RegExp;
    }[] = [
      // Not JSON at all.
      {
        method: "POST",
        url: `${base}/recharges`,
        body: "{amount: 10",
        headers: json,
        status: 400,
        mentions: /JSON/,
      },
      { method: "POST", url: `${base}/recharges`, body: "", headers: json, status: 400, mentions: /JSON/ },
      { method: "POST", url: `${base}/recharges`, status: 400, mentions: /JSON/ },
      {
        method: "POST",
        url: `${base}/recharges`,
        body: "amount=10",
        headers: { "content-type": "text/plain" },
        status: 400,
        mentions: /JSON/,
      },
      // JSON of the wrong shape.
      { method: "POST", url: `${base}/recharges`, body: "[1]", headers: json, status: 422, mentions: /body/ },
      {
        method: "POST",
        url: `${base}/recharges`,
        body: "{}",
        headers: json,
        status: 422,
        mentions: /amount/,
      },
      {
        method: "POST",
        url: `${base}/recharges`,
        body: '{"amount":10}',
        headers: json,
        status: 422,
        mentions: /amount/,
      },
      {
        method: "POST",
        url: `${base}/recharges`,
        body: '{"amount":"7.00"}',
        headers: json,
        status: 422,
        mentions: /support/,
      },
      {
        method: "POST",
        url: `${base}/recharges`,
        body: '{"amount":"100"}',
        headers: json,
        status: 422,
        mentions: /5, 10 or 25/,
      },
      {
        method: "POST",
        url: `${base}/recharges`,
        body: '{"amount":"10.001"}',
        headers: json,
        status: 422,
        mentions: /decimal/,
      },
      {
        method: "POST",
        url: `${base}/recharges`,
        body: '{"amount":"-5"}',
        headers: json,
        status: 422,
        mentions: /amount/,
      },
      {
        method: "POST",
        url: `${base}/recharges`,
        body: '{"amount":"10.00","currency":"EUR"}',
        headers: json,
        status: 422,
        mentions: /unknown field "currency"/,
      },
      {
        method: "POST",
        url: `${base}/recharges`,
        body: '{"amount":"10.00"}',
        headers: { ...json, "idempotency-key": "x".repeat(300) },
        status: 422,
        mentions: /idempotency-key/,
      },
      {
        method: "PUT",
        url: `${base}/payment-method`,
        body: "{}",
        headers: json,
        status: 422,
        mentions: /stripe_payment_method/,
      },
      {
        method: "PUT",
        url: `${base}/payment-method`,
        body: '{"stripe_payment_method":"card_123"}',
        headers: json,
        status: 422,
        mentions: /stripe_payment_method/,
      },
      {
        method: "PUT",
        url: `${base}/payment-method`,
        body: '{"stripe_payment_method":42}',
        headers: json,
        status: 422,
        mentions: /stripe_payment_method/,
      },
      {
        method: "PUT",
        url: `${base}/auto-recharge`,
        body: '{"amount":"10.00"}',
        headers: json,
        status: 422,
        mentions: /enabled/,
      },
      {
        method: "PUT",
        url: `${base}/auto-recharge`,
        body: '{"enabled":"true","amount":"10.00"}',
        headers: json,
        status: 422,
        mentions: /enabled/,
      },
      {
        method: "PUT",
        url: `${base}/auto-recharge`,
        body: '{"enabled":true}',
        headers: json,
        status: 422,
        mentions: /amount/,
      },
      {
        method: "PUT",
        url: `${base}/auto-recharge`,
        body: '{"enabled":true,"amount":"4.99"}',
        headers: json,
        status: 422,
        mentions: /5\.00 to 5000\.00/,
      },
      {
        method: "PUT",
        url: `${base}/auto-recharge`,
        body: '{"enabled":true,"amount":"5000.01"}',
        headers: json,
        status: 422,
        mentions: /5\.00 to 5000\.00/,
      },
      {
        method: "PUT",
        url: `${base}/auto-recharge`,
        body: '{"enabled":true,"amount":"10.123"}',
        headers: json,
        status: 422,
        mentions: /decimal places/,
      },
      {
        method: "PUT",
        url: `${base}/auto-recharge`,
        body: '{"enabled":true,"amount":25}',
        headers: json,
        status: 422,
        mentions: /amount/,
      },
      {
        method: "PUT",
        url: `${base}/auto-recharge`,
        body: '{"enabled":true,"amount":"25.00","monthly_limit":"0"}',
        headers: json,
        status: 422,
        mentions: /monthly_limit/,
      },
      {
        method: "PUT",
        url: `${base}/auto-recharge`,
        body: '{"enabled":true,"amount":"25.00","monthly_limit":"10.00"}',
        headers: json,
        status: 422,
        mentions: /monthly_limit must be at least/,
      },
      {
        method: "PUT",
        url: `${base}/auto-recharge`,
        body: '{"enabled":true,"amount":"25.00","monthly_limit":100}',
        headers: json,
        status: 422,
        mentions: /monthly_limit/,
      },
      {
        method: "POST",
        url: `${base}/numbers`,
        body: '{"number":"14155550123","number_type":"local"}',
        headers: json,
        status: 422,
        mentions: /number.*E\.164/,
      },
      {
        method: "POST",
        url: `${base}/numbers`,
        body: '{"number":"+14155550123","number_type":"landline"}',
        headers: json,
        status: 422,
        mentions: /number_type/,
      },
      {
        method: "POST",
        url: `${base}/numbers`,
        body: '{"number":"+33155550123","number_type":"local"}',
        headers: json,
        status: 422,
        mentions: /no local number price/,
      },
      {
        method: "POST",
        url: `${base}/numbers`,
        body: '{"number":"+14155550123"}',
        headers: json,
        status: 422,
        mentions: /number_type is required/,
      },
      // Query strings and path parameters.
      { method: "GET", url: `${base}/authorize?to=%2B4420`, key: sw, status: 422, mentions: /direction/ },
      {
        method: "GET",
        url: `${base}/authorize?direction=sideways&to=%2B4420`,
        key: sw,
        status: 422,
        mentions: /direction/,
      },
      {
        method: "GET",
        url: `${base}/authorize?direction=outbound&to=abc`,
        key: sw,
        status: 422,
        mentions: /to.*E\.164/,
      },
      {
        method: "GET",
        url: `${base}/authorize?direction=outbound&to=4420`,
        key: sw,
        status: 422,
        mentions: /\.to/,
      },
      {
        method: "GET",
        url: `${base}/authorize?direction=outbound&to=%2B4420&x=1`,
        key: sw,
        status: 422,
        mentions: /unknown field "x"/,
      },
      {
        method: "GET",
        url: `/v1/accounts/bad!id/authorize?direction=outbound&to=%2B4420`,
        key: sw,
        status: 422,
        mentions: /params\.id/,
      },
      { method: "GET", url: `${base}/ledger?limit=0`, status: 422, mentions: /limit/ },
      { method: "GET", url: `${base}/ledger?limit=501`, status: 422, mentions: /limit/ },
      { method: "GET", url: `${base}/ledger?limit=ten`, status: 422, mentions: /limit/ },
      { method: "GET", url: `${base}/ledger?cursor=bm90LWEtY3Vyc29y`, status: 422, mentions: /cursor/ },
    ];
    const failures: string[] = [];
    for (const c of cases) {
      const res = await api.app.inject({
        method: c.method,
        url: c.url,
        headers: { authorization: `Bearer ${c.key ?? admin}`, ...c.headers },
        ...(c.body === undefined ? {} : { payload: c.body }),
      });
      const message = res.json<{ error?: { message?: string } }>().error?.message ?? "";
      if (res.statusCode !== c.status || !c.mentions.test(message)) {
        failures.push(`${c.method} ${c.url} ${c.body ?? ""}: ${res.statusCode} ${res.body}`);
      }
    }
    expect(failures).toEqual([]);
    // Nothing of the above charged a card or moved the balance.
    expect(api.stripe.intents.filter((i) => i.metadata.account_id === account)).toEqual([]);
    expect(await api.rig.ledgerBalance(account)).toBe(10_000_000n);
  });
});
