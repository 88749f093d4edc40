/**
 * The API as `ratestream run` serves it, over real HTTP next to /healthz, /readyz and
 * /metrics: authorize, balance, and a manual recharge charged to a local Stripe fake
 * (STRIPE_API_BASE), whose events the rater's outbox publishes.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createApiKey } from "../../src/adapters/postgres/accounts.js";
import { importDeckSet } from "../../src/adapters/postgres/rate-versions.js";
import { applyEntries } from "../../src/balances/write-path.js";
import { allTopics, topicNames } from "../../src/pipeline/topics.js";
import { StripeFake } from "../../src/tools/stripe-fake.js";
import { STRIPE_TEST_KEY, TEST_NUMBERS, TEST_RATES } from "../support/api.js";
import { balanceRig, credit } from "../support/balances.js";
import { eventually, startRater, waitReady } from "../support/rater.js";
import { Scope, uniqueName } from "../support/services.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

describe("ratestream run serves the HTTP API", () => {
  it("authorize, balance and an idempotent card recharge over HTTP", async () => {
    const rig = await balanceRig(scope);
    await importDeckSet(rig.pool, {
      rates: { file: "rates.csv", text: TEST_RATES },
      numbers: { file: "numbers.csv", text: `${TEST_NUMBERS}\n` },
    });
    const stripe = new StripeFake();
    const stripeUrl = await stripe.start();
    scope.defer(() => stripe.stop());
    const account = await rig.newAccount();
    await applyEntries(rig.deps, [credit(account, "opening", 2_100_000n)]);
    const admin = (await createApiKey(rig.pool, "admin", account)).api_key;
    const sw = (await createApiKey(rig.pool, "switch", null)).api_key;

    const topicPrefix = `${uniqueName("api")}.`;
    const admin$ = await scope.admin();
    scope.defer(() => admin$.deleteTopics(allTopics(topicNames(topicPrefix))));
    const rater = startRater({
      databaseUrl: rig.databaseUrl,
      topicPrefix,
      group: uniqueName("g"),
      env: { STRIPE_SECRET_KEY: STRIPE_TEST_KEY, STRIPE_API_BASE: stripeUrl },
    });
    scope.defer(() => rater.stop("SIGKILL"));
    await waitReady(rater);
    const base = `http://127.0.0.1:${rater.port}`;
    const call = (path: string, key?: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, {
        ...init,
        headers: {
          ...(init.body ? { "content-type": "application/json" } : {}),
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(init.headers as Record<string, string> | undefined),
        },
      });

    expect((await call("/healthz")).status).toBe(200);
    expect((await call("/metrics")).status).toBe(200);
    expect((await call("/openapi.json")).status).toBe(200);
    expect((await call(`/v1/accounts/${account}/balance`)).status).toBe(401);

    // An unescaped + arrives as a space and is read as +.
    const allowed = await call(`/v1/accounts/${account}/authorize?direction=outbound&to=+442071234567`, sw);
    expect(await allowed.json()).toEqual({ allowed: true, reason: "ok", max_duration_seconds: 60 });

    const saved = await call(`/v1/accounts/${account}/payment-method`, admin, {
      method: "PUT",
      body: JSON.stringify({ stripe_payment_method: "pm_card_visa" }),
    });
    expect(saved.status).toBe(200);
    const recharge = () =>
      call(`/v1/accounts/${account}/recharges`, admin, {
        method: "POST",
        body: JSON.stringify({ amount: "10.00" }),
        headers: { "idempotency-key": "order-1" },
      });
    const first = await recharge();
    expect(first.status).toBe(201);
    const firstBody: unknown = await first.json();
    const second = await recharge();
    expect(second.status).toBe(201);
    expect(await second.json()).toEqual(firstBody);
    expect(stripe.chargedCents(account)).toEqual([1000]);

    const balance = await call(`/v1/accounts/${account}/balance`, admin);
    expect(await balance.json()).toMatchObject({ balance_micros: 12_100_000, blocked: false });
    const longer = await call(`/v1/accounts/${account}/authorize?direction=outbound&to=%2B442071234567`, sw);
    expect(await longer.json()).toMatchObject({ max_duration_seconds: 6_060 });

    // The recharge's event is recorded and published by the rater's outbox.
    await eventually(async () => {
      const { rows } = await rig.pool.query(
        "select 1 from balance_events where account_id = $1 and type = 'recharged' and published_at is not null",
        [account],
      );
      return rows.length === 1;
    }, 20_000);

    expect(await rater.stop("SIGTERM")).toEqual({ code: 0, signal: null });
  });
});
