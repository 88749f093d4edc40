/** The HTTP API in-process on a balance rig of the test's own, with a local Stripe fake. */
import type pg from "pg";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import { createApiKey, revokeApiKey, type ApiKeyRole } from "../../src/adapters/postgres/accounts.js";
import { createStripePayments } from "../../src/adapters/stripe/stripe-payments.js";
import { importDeckSet } from "../../src/adapters/postgres/rate-versions.js";
import { buildApiApp } from "../../src/api/app.js";
import { RedisCallStore } from "../../src/adapters/redis/call-store.js";
import { DEFAULT_CALL_SETTINGS, type CallMetrics, type CallSettings } from "../../src/calls/sessions.js";
import type { CallStore } from "../../src/calls/types.js";
import { applyEntries } from "../../src/balances/write-path.js";
import { parseNumberDeck } from "../../src/core/decks/number-deck.js";
import { parseRateDeck } from "../../src/core/decks/rate-deck.js";
import { buildRateTable, type RateTable } from "../../src/core/rating/rate-table.js";
import { StripeFake } from "../../src/tools/stripe-fake.js";
import { balanceRig, credit, type BalanceRig } from "./balances.js";
import { rateDeck, surchargeDeck } from "./decks.js";
import { parseSurchargeDeck } from "../../src/core/decks/surcharge-deck.js";
import { uniqueName, type Scope } from "./services.js";

export const STRIPE_TEST_KEY = "sk_test_ratestream";

export const TEST_RATES = rateDeck(
  // 0.10/min in whole minutes outbound; 0.01/min per second inbound; 0.60/min + 0.05 fee, 30/6.
  "44,UK,outbound,0.10,0,60,60,2020-01-01",
  "44,UK,inbound,0.01,0,1,1,2020-01-01",
  "33,France,outbound,0.60,0.05,30,6,2020-01-01",
  "1,Free,outbound,0,0,60,60,2020-01-01",
);

export const TEST_NUMBERS = [
  "prefix,number_type,monthly_price,effective_from",
  "1,local,2.00,2020-01-01",
  "1415,local,1.00,2020-01-01",
  "1800,toll_free,3.00,2020-01-01",
].join("\n");

/** Features for call sessions: recording 0.02/min, conference 0.05/min. */
export const TEST_SURCHARGES = surchargeDeck("recording,0.02,2020-01-01", "conference,0.05,2020-01-01");

/** TEST_RATES and TEST_SURCHARGES stored as the default plan's newest version. */
export async function importTestDecks(pool: pg.Pool): Promise<void> {
  await importDeckSet(pool, {
    rates: { file: "rates.csv", text: TEST_RATES },
    surcharges: { file: "surcharges.csv", text: TEST_SURCHARGES },
  });
}

export function testRateTable(): RateTable {
  return buildRateTable(
    {
      rates: parseRateDeck(TEST_RATES, "rates.csv"),
      surcharges: parseSurchargeDeck(TEST_SURCHARGES, "surcharges.csv"),
      numbers: parseNumberDeck(`${TEST_NUMBERS}\n`, "numbers.csv"),
    },
    1,
  );
}

export interface ApiRig {
  rig: BalanceRig;
  app: FastifyInstance;
  stripe: StripeFake;
  published: string[];
  /** A key for the role; admin and agent keys belong to the account. */
  key(role: ApiKeyRole, accountId?: string): Promise<string>;
  revokedKey(accountId: string): Promise<string>;
  /** A funded account (credits of `micros`, 0 for none). */
  account(micros: bigint, options?: { trial?: boolean; offline?: boolean }): Promise<string>;
  request(options: InjectOptions & { key?: string }): Promise<LightMyRequestResponse>;
}

export async function apiRig(
  scope: Scope,
  options: {
    payments?: boolean;
    stripeTimeoutMs?: number;
    calls?: Partial<CallSettings>;
    /** Wraps the call store, to interleave faults with its steps. */
    wrapCallStore?: (store: CallStore, rig: BalanceRig) => CallStore;
    callMetrics?: CallMetrics;
    now?: () => Date;
  } = {},
): Promise<ApiRig> {
  const rig = await balanceRig(scope);
  const stripe = new StripeFake();
  const stripeUrl = await stripe.start();
  scope.defer(() => stripe.stop());
  const published: string[] = [];
  const app = await buildApiApp({
    pool: rig.pool,
    write: rig.deps,
    rateTable: testRateTable,
    payments:
      options.payments === false
        ? undefined
        : createStripePayments({
            secretKey: STRIPE_TEST_KEY,
            apiBase: new URL(stripeUrl),
            maxNetworkRetries: 0,
            timeoutMs: options.stripeTimeoutMs,
          }),
    publishEvents: (ids) => {
      published.push(...ids);
      return Promise.resolve();
    },
    logger: rig.deps.logger,
    calls: {
      store: (options.wrapCallStore ?? ((store) => store))(new RedisCallStore(rig.redis), rig),
      settings: { ...DEFAULT_CALL_SETTINGS, ...options.calls },
      metrics: options.callMetrics,
    },
    now: options.now,
  });
  scope.defer(() => app.close());
  return {
    rig,
    app,
    stripe,
    published,
    async key(role, accountId) {
      return (await createApiKey(rig.pool, role, role === "switch" ? null : accountId!)).api_key;
    },
    async revokedKey(accountId) {
      const created = await createApiKey(rig.pool, "admin", accountId);
      await revokeApiKey(rig.pool, created.key_id);
      return created.api_key;
    },
    async account(micros, o = {}) {
      const id = await rig.newAccount({ trial: o.trial });
      if (o.offline)
        await rig.pool.query("update accounts set recharge_mode = 'offline' where account_id = $1", [id]);
      if (micros > 0n) await applyEntries(rig.deps, [credit(id, uniqueName("fund"), micros)]);
      return id;
    },
    request({ key, headers, ...rest }) {
      return app.inject({
        ...rest,
        headers: { ...headers, ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) },
      });
    },
  };
}
