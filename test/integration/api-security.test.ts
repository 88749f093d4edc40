/**
 * The API's defences: bodies above 16 KiB refused (413) before parsing, per-key rate
 * limits (429 with Retry-After; another key unaffected), unauthenticated callers
 * limited per client address, and no secret in what the API logs.
 */
import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../src/adapters/postgres/accounts.js";
import { buildApiApp } from "../../src/api/app.js";
import { BODY_LIMIT_BYTES } from "../../src/api/errors.js";
import { createLogger } from "../../src/observability/logger.js";
import { apiRig, testRateTable, type ApiRig } from "../support/api.js";
import { balanceRig, type BalanceRig } from "../support/balances.js";
import { Scope } from "../support/services.js";

const scope = new Scope();
let api: ApiRig;
beforeAll(async () => {
  api = await apiRig(scope);
});
afterAll(() => scope.cleanup());

const PER_SECOND = 5;

/** An app of the test's own with a small limit, logging into a string. */
async function limitedApp(rig: BalanceRig, logs: { text: string }): Promise<FastifyInstance> {
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      logs.text += chunk.toString("utf8");
      done();
    },
  });
  const app = await buildApiApp({
    pool: rig.pool,
    write: rig.deps,
    rateTable: testRateTable,
    payments: undefined,
    logger: createLogger("trace", "api-security", sink),
    rateLimitPerSecond: PER_SECOND,
  });
  scope.defer(() => app.close());
  return app;
}

const authorize = (account: string) => `/v1/accounts/${account}/authorize?direction=outbound&to=%2B4420`;

describe("request size", () => {
  it("refuses a body above the limit with 413 and the error body, before authenticating it", async () => {
    const account = await api.account(0n);
    const key = await api.key("admin", account);
    const big = JSON.stringify({ amount: "10.00", pad: "x".repeat(BODY_LIMIT_BYTES) });
    for (const url of [`/v1/accounts/${account}/recharges`, `/v1/accounts/${account}/numbers`]) {
      const res = await api.request({
        method: "POST",
        url,
        key,
        headers: { "content-type": "application/json" },
        payload: big,
      });
      expect(res.statusCode).toBe(413);
      expect(res.json()).toEqual({
        error: { code: "body_too_large", message: `the body is larger than ${BODY_LIMIT_BYTES} bytes` },
      });
    }
    expect(api.stripe.intents).toHaveLength(0);
  });

  it("still reads a body just under the limit (as a 422 for its unknown field)", async () => {
    const account = await api.account(0n);
    const key = await api.key("admin", account);
    const payload = JSON.stringify({ amount: "10.00", pad: "x".repeat(BODY_LIMIT_BYTES - 100) });
    const res = await api.request({
      method: "POST",
      url: `/v1/accounts/${account}/recharges`,
      key,
      headers: { "content-type": "application/json" },
      payload,
    });
    expect(res.statusCode).toBe(422);
  });
});

describe("rate limiting", () => {
  it("limits each key on its own: 429 with Retry-After, another key unaffected", async () => {
    const rig = await balanceRig(scope);
    const app = await limitedApp(rig, { text: "" });
    const account = await rig.newAccount();
    const busy = (await createApiKey(rig.pool, "switch", null)).api_key;
    const calm = (await createApiKey(rig.pool, "switch", null)).api_key;
    const ask = (key: string) =>
      app.inject({ method: "GET", url: authorize(account), headers: { authorization: `Bearer ${key}` } });

    const answers = [];
    for (let i = 0; i < PER_SECOND + 3; i++) answers.push(await ask(busy));
    expect(answers.slice(0, PER_SECOND).map((r) => r.statusCode)).toEqual(Array(PER_SECOND).fill(200));
    const refused = answers.at(-1)!;
    expect(refused.statusCode).toBe(429);
    const body = refused.json<{ error: { code: string; message: string } }>();
    expect(body.error.code).toBe("rate_limited");
    expect(body.error.message).toMatch(/^too many requests; retry in \d+ s$/);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);

    expect((await ask(calm)).statusCode).toBe(200);
    // The window is a second: the busy key is served again after it.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await ask(busy)).statusCode).toBe(200);
  });

  it("counts callers without a valid key by address, so guessing keys meets the limit too", async () => {
    const rig = await balanceRig(scope);
    const app = await limitedApp(rig, { text: "" });
    const account = await rig.newAccount();
    const guess = (i: number, remoteAddress: string) =>
      app.inject({
        method: "GET",
        url: authorize(account),
        remoteAddress,
        headers: { authorization: `Bearer rsk_guess${i}` },
      });
    const codes = [];
    for (let i = 0; i < PER_SECOND + 2; i++) codes.push((await guess(i, "203.0.113.7")).statusCode);
    expect(codes.slice(0, PER_SECOND)).toEqual(Array(PER_SECOND).fill(401));
    expect(codes.at(-1)).toBe(429);
    // Another address is not held back.
    expect((await guess(99, "203.0.113.8")).statusCode).toBe(401);
    // A valid key from the limited address has a bucket of its own.
    const key = (await createApiKey(rig.pool, "switch", null)).api_key;
    const res = await app.inject({
      method: "GET",
      url: authorize(account),
      remoteAddress: "203.0.113.7",
      headers: { authorization: `Bearer ${key}` },
    });
    expect(res.statusCode).toBe(200);
  });
});

describe("secrets", () => {
  it("never logs the key or the card of a request, even one that fails on a server", async () => {
    const rig = await balanceRig(scope);
    const logs = { text: "" };
    const app = await limitedApp(rig, logs);
    const account = await rig.newAccount();
    const key = (await createApiKey(rig.pool, "admin", account)).api_key;
    // Without payments configured the card route answers 503 and logs nothing secret.
    const res = await app.inject({
      method: "PUT",
      url: `/v1/accounts/${account}/payment-method`,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      payload: { stripe_payment_method: "pm_S3CRETcard" },
    });
    expect(res.statusCode).toBe(503);
    expect(logs.text).not.toContain(key);
    expect(logs.text).not.toContain("pm_S3CRETcard");
  });

  it("stores API keys only as SHA-256 hashes", async () => {
    const created = await createApiKey(api.rig.pool, "switch", null);
    const { rows } = await api.rig.pool.query<{ key_hash: string }>(
      "select key_hash from api_keys where key_id = $1",
      [created.key_id],
    );
    expect(rows[0]!.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]!.key_hash).not.toContain(created.api_key);
  });
});
