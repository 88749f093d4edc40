/**
 * Call sessions (SPEC §8) through the HTTP API on real Redis and Postgres: concurrent
 * starts never hold more than balance − 2.00, starts are idempotent per call_id, renews
 * grant slice by slice until final, the CDR settles its session once, an abandoned
 * session expires by itself, and a Redis wipe loses no hold.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { sweepCallSessions } from "../../src/calls/sweep.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { applyEntries, restoreFromLedger } from "../../src/balances/write-path.js";
import { utcMonth } from "../../src/balances/types.js";
import type { CallStore } from "../../src/calls/types.js";
import { callCharge, type CallPricing } from "../../src/core/rating/call-charge.js";
import { apiRig, type ApiRig } from "../support/api.js";
import { call } from "../support/balances.js";
import { renewDueNumbers } from "../../src/recharge/number-renewal.js";
import { Scope } from "../support/services.js";
import type { Grant } from "../../src/tools/switch-simulator.js";

const M = 1_000_000n;
const scope = new Scope();
let api: ApiRig;
let sw: string;
beforeAll(async () => {
  api = await apiRig(scope);
  sw = await api.key("switch");
});
afterAll(() => scope.cleanup());

/** The test deck's rows (test/support/api.ts) as the core prices them. */
const UK: CallPricing = {
  rate: {
    ratePerMinuteMicros: 100_000,
    connectionFeeMicros: 0,
    initialIncrement: 60,
    subsequentIncrement: 60,
  },
  featureRatesMicros: [],
};
const FRANCE: CallPricing = {
  rate: {
    ratePerMinuteMicros: 600_000,
    connectionFeeMicros: 50_000,
    initialIncrement: 30,
    subsequentIncrement: 6,
  },
  featureRatesMicros: [],
};
const UK_NUMBER = "+442071234567";
const FRANCE_NUMBER = "+33155550100";

/** The store's methods bound to it, to wrap some of them. */
function bind(store: CallStore): CallStore {
  return {
    start: store.start.bind(store),
    renew: store.renew.bind(store),
    end: store.end.bind(store),
    list: store.list.bind(store),
    close: store.close.bind(store),
  };
}

async function start(
  rig: ApiRig,
  account: string,
  callId: string,
  options: { to?: string; features?: string[]; key?: string } = {},
) {
  return rig.request({
    method: "POST",
    url: `/v1/accounts/${account}/calls`,
    key: options.key ?? sw,
    payload: {
      call_id: callId,
      direction: "outbound",
      to: options.to ?? UK_NUMBER,
      ...(options.features && { features: options.features }),
    },
  });
}

const renew = (account: string, callId: string, used: number) =>
  api.request({
    method: "POST",
    url: `/v1/accounts/${account}/calls/${encodeURIComponent(callId)}/renew`,
    key: sw,
    payload: { used_seconds: used },
  });

const end = (account: string, callId: string, duration: number) =>
  api.request({
    method: "POST",
    url: `/v1/accounts/${account}/calls/${encodeURIComponent(callId)}/end`,
    key: sw,
    payload: { duration_seconds: duration },
  });

async function balance(rig: ApiRig, account: string) {
  const res = await rig.request({
    method: "GET",
    url: `/v1/accounts/${account}/balance`,
    key: await rig.key("agent", account),
  });
  expect(res.statusCode).toBe(200);
  return res.json<{ balance_micros: number; held_micros: number; available_micros: number }>();
}

async function calls(rig: ApiRig, account: string) {
  const res = await rig.request({
    method: "GET",
    url: `/v1/accounts/${account}/calls`,
    key: await rig.key("admin", account),
  });
  expect(res.statusCode).toBe(200);
  return res.json<{
    calls: { call_id: string; state: string; granted_seconds: number; held_micros: number }[];
  }>().calls;
}

async function rowState(rig: ApiRig, account: string, callId: string) {
  const { rows } = await rig.rig.pool.query<{ state: string; held_micros: string; granted_seconds: number }>(
    "select state, held_micros, granted_seconds from call_sessions where account_id = $1 and call_id = $2",
    [account, callId],
  );
  return rows[0];
}

describe("start", () => {
  it("holds the charge of one slice, features per started minute included, recorded before the answer", async () => {
    const account = await api.account(12n * M);
    const res = await start(api, account, "c-1", { features: ["recording"] });
    expect(res.statusCode).toBe(200);
    const grant = res.json<Grant>();
    // 300 s at 0.10/min = 0.50, recording 5 started minutes at 0.02 = 0.10.
    expect(grant).toMatchObject({
      call_id: "c-1",
      allowed: true,
      reason: "ok",
      granted_seconds: 300,
      final: false,
      held_micros: 600_000,
    });
    expect(grant.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(await rowState(api, account, "c-1")).toEqual({
      state: "active",
      held_micros: "600000",
      granted_seconds: 300,
    });
    expect(await balance(api, account)).toMatchObject({
      balance_micros: 12_000_000,
      held_micros: 600_000,
      available_micros: 9_400_000,
    });
  });

  it("50 concurrent starts on 12.00 never hold more than 10.00; each grant is the core's", async () => {
    const account = await api.account(12n * M);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => start(api, account, `par-${i}`, { to: FRANCE_NUMBER })),
    );
    const grants = answers.map((r) => {
      expect(r.statusCode).toBe(200);
      return r.json<Grant>();
    });
    const allowed = grants.filter((g) => g.allowed);
    for (const g of allowed) expect(BigInt(g.held_micros)).toBe(callCharge(FRANCE, g.granted_seconds));
    for (const g of grants.filter((x) => !x.allowed)) {
      expect(g).toMatchObject({ reason: "insufficient_credit", granted_seconds: 0, held_micros: 0 });
    }
    // 3.05 per full slice: three fit in 10.00, then 0.85 left holds 78 s (0.83), then
    // 0.02 covers no first increment (0.35). Whatever the order, the same grants.
    expect(allowed.map((g) => g.granted_seconds).sort((a, b) => a - b)).toEqual([78, 300, 300, 300]);
    const held = allowed.reduce((sum, g) => sum + g.held_micros, 0);
    expect(held).toBe(9_980_000);
    expect(held).toBeLessThanOrEqual(10_000_000);
    expect(await balance(api, account)).toMatchObject({ held_micros: 9_980_000, available_micros: 20_000 });
    // authorize counts the holds too: 0.02 left is not a first minute at 0.10.
    const auth = await api.request({
      method: "GET",
      url: `/v1/accounts/${account}/authorize?direction=outbound&to=%2B442071234567`,
      key: sw,
    });
    expect(auth.json()).toEqual({ allowed: false, reason: "insufficient_credit", max_duration_seconds: 0 });
  });

  it("renews racing starts never hold more than balance − 2.00 either", async () => {
    const account = await api.account(12n * M);
    const first = await Promise.all(Array.from({ length: 10 }, (_, i) => start(api, account, `mix-${i}`)));
    for (const r of first) expect(r.json<Grant>().held_micros).toBe(500_000); // 5.00 of 10.00
    const answers = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => renew(account, `mix-${i}`, 250)),
      ...Array.from({ length: 10 }, (_, i) => start(api, account, `mix-new-${i}`)),
    ]);
    for (const r of answers) expect(r.statusCode).toBe(200);
    const open = await calls(api, account);
    for (const c of open) expect(BigInt(c.held_micros)).toBe(callCharge(UK, c.granted_seconds));
    const held = open.reduce((sum, c) => sum + c.held_micros, 0);
    // Every 0.10 of the 5.00 left is granted to someone, and nothing more.
    expect(held).toBe(10_000_000);
    expect((await balance(api, account)).available_micros).toBe(0);
  });

  it("is idempotent per call_id: the same call again answers the session as it stands and holds nothing more", async () => {
    const account = await api.account(3n * M);
    const first = (await start(api, account, "same")).json<Grant>();
    const again = await Promise.all([start(api, account, "same"), start(api, account, "same")]);
    for (const r of again) expect(r.json<Grant>()).toEqual(first);
    expect((await balance(api, account)).held_micros).toBe(500_000);
    expect(await calls(api, account)).toHaveLength(1);
  });

  it("refuses blocked, short, unrated and unknown, creating no session", async () => {
    const blocked = await api.account(2n * M - 1n);
    expect((await start(api, blocked, "b")).json<Grant>()).toMatchObject({
      allowed: false,
      reason: "blocked",
    });
    const short = await api.account(2n * M + 99_999n);
    expect((await start(api, short, "s")).json<Grant>()).toMatchObject({
      allowed: false,
      reason: "insufficient_credit",
      granted_seconds: 0,
    });
    const rich = await api.account(50n * M);
    expect((await start(api, rich, "n1", { to: "+999123" })).json<Grant>().reason).toBe("no_rate");
    expect((await start(api, rich, "n2", { features: ["karaoke"] })).json<Grant>().reason).toBe("no_rate");
    expect((await start(api, "acct_nobody_here", "u")).json<Grant>().reason).toBe("unknown_account");
    expect(await calls(api, short)).toEqual([]);
    expect(await rowState(api, short, "s")).toBeUndefined();
  });

  it("validates call_id like cdr_id, features once each, and the number", async () => {
    const account = await api.account(10n * M);
    const bad = async (payload: object) => {
      const res = await api.request({
        method: "POST",
        url: `/v1/accounts/${account}/calls`,
        key: sw,
        payload,
      });
      expect(res.statusCode, JSON.stringify(payload)).toBe(422);
    };
    const ok = { call_id: "v", direction: "outbound", to: UK_NUMBER };
    await bad({ ...ok, call_id: "" });
    await bad({ ...ok, call_id: "x".repeat(129) });
    await bad({ ...ok, call_id: "a\u0001b" });
    await bad({ ...ok, features: ["recording", "recording"] });
    await bad({ ...ok, features: ["Recording"] });
    await bad({ ...ok, to: "442071234567" });
    await bad({ ...ok, direction: "sideways" });
    await bad({ ...ok, extra: 1 });
    expect((await start(api, account, "é".repeat(128))).statusCode).toBe(200);
    // Any call_id a cdr_id may be reaches renew and end percent-encoded in the path.
    const odd = "sip/call 50%?#x";
    expect((await start(api, account, odd)).json<Grant>().granted_seconds).toBe(300);
    expect((await renew(account, odd, 10)).json<Grant>()).toMatchObject({
      call_id: odd,
      granted_seconds: 600,
    });
    expect((await end(account, odd, 10)).json()).toMatchObject({ call_id: odd, state: "ended" });
  });
});

describe("renew and end", () => {
  it("renews slice by slice until nothing more fits, then answers final with the same grant", async () => {
    const account = await api.account(3n * M); // 1.00 available: 10 minutes at 0.10
    expect((await start(api, account, "r")).json<Grant>()).toMatchObject({
      granted_seconds: 300,
      final: false,
    });
    const second = (await renew(account, "r", 290)).json<Grant>();
    expect(BigInt(second.held_micros)).toBe(callCharge(UK, 600));
    expect(second).toMatchObject({
      allowed: true,
      granted_seconds: 600,
      held_micros: 1_000_000,
      final: false,
    });
    const third = (await renew(account, "r", 590)).json<Grant>();
    expect(third).toMatchObject({ allowed: true, granted_seconds: 600, held_micros: 1_000_000, final: true });
    // Credit added meanwhile: a later renew grants more.
    await applyEntries(api.rig.deps, [
      { accountId: account, key: "credit:r-top", kind: "credit", amountMicros: M / 5n, cause: "r-top" },
    ]);
    expect((await renew(account, "r", 595)).json<Grant>()).toMatchObject({
      granted_seconds: 720,
      held_micros: 1_200_000,
      final: true,
    });
    expect(await rowState(api, account, "r")).toMatchObject({ granted_seconds: 720, held_micros: "1200000" });
  });

  it("end holds the reported duration's charge; twice changes nothing; renew after end is 409; unknown is 404", async () => {
    const account = await api.account(10n * M);
    await start(api, account, "e");
    const ended = await end(account, "e", 125);
    expect(ended.statusCode).toBe(200);
    // 125 s in whole minutes: 180 s at 0.10.
    expect(ended.json()).toMatchObject({
      call_id: "e",
      state: "ended",
      granted_seconds: 300,
      held_micros: 300_000,
    });
    const twice = await end(account, "e", 999);
    expect(twice.json()).toEqual(ended.json());
    expect((await renew(account, "e", 100)).statusCode).toBe(409);
    expect((await renew(account, "nope", 1)).statusCode).toBe(404);
    expect((await end(account, "nope", 1)).statusCode).toBe(404);
    expect((await balance(api, account)).held_micros).toBe(300_000);
  });

  it("the CDR settles its session with its debit, once; the call_id cannot start again", async () => {
    const account = await api.account(10n * M);
    await start(api, account, "cdr-settles");
    await start(api, account, "other");
    await end(account, "cdr-settles", 125);
    expect((await balance(api, account)).held_micros).toBe(800_000);
    // Charged in full as always, even past the hold: 0.70 against 0.30 held.
    const [outcome] = await applyEntries(api.rig.deps, [call(account, "cdr-settles", 700_000n)]);
    expect(outcome!.status).toBe("applied");
    expect(await balance(api, account)).toMatchObject({
      balance_micros: 9_300_000,
      held_micros: 500_000,
      available_micros: 6_800_000,
    });
    expect(await rowState(api, account, "cdr-settles")).toMatchObject({ state: "settled", held_micros: "0" });
    // Redelivered: a duplicate, nothing changes.
    const [again] = await applyEntries(api.rig.deps, [call(account, "cdr-settles", 700_000n)]);
    expect(again!.status).toBe("duplicate");
    expect((await balance(api, account)).held_micros).toBe(500_000);
    expect((await calls(api, account)).map((c) => c.call_id)).toEqual(["other"]);
    expect((await start(api, account, "cdr-settles")).statusCode).toBe(409);
    expect((await end(account, "cdr-settles", 1)).statusCode).toBe(409);
    // Even once Redis forgot: the ledger's row refuses it, and no hold is left behind.
    await api.rig.wipeRedis();
    expect((await start(api, account, "cdr-settles")).statusCode).toBe(409);
    expect((await balance(api, account)).held_micros).toBe(500_000);
  });
});

describe("durability", () => {
  it("a Redis wipe with sessions open loses no hold", async () => {
    const account = await api.account(20n * M);
    await start(api, account, "w1", { features: ["conference"] });
    await start(api, account, "w2", { to: FRANCE_NUMBER });
    await renew(account, "w2", 200);
    await end(account, "w1", 61);
    const before = await calls(api, account);
    const held = (await balance(api, account)).held_micros;
    // w1 ended at 61 s: 2 minutes at 0.10 + conference 2 minutes at 0.05; w2 600 s: 0.05 + 6.00.
    expect(held).toBe(300_000 + 6_050_000);
    await api.rig.wipeRedis();
    expect((await balance(api, account)).held_micros).toBe(held);
    expect(await calls(api, account)).toEqual(before);
    // And they go on as before: the CDR still settles, a renew still renews.
    await applyEntries(api.rig.deps, [call(account, "w1", 200_000n)]);
    expect((await renew(account, "w2", 590)).json<Grant>().granted_seconds).toBe(900);
    expect((await calls(api, account)).map((c) => c.call_id)).toEqual(["w2"]);
  });
});

describe("a Redis wipe between the grant and its record", () => {
  it("loses no hold: the account is restored again once the ledger has the grant", async () => {
    let wipeAfterStart = false;
    const racy = await apiRig(scope, {
      wrapCallStore: (store, rig) => ({
        ...bind(store),
        async start(...args) {
          const reply = await store.start(...args);
          if (wipeAfterStart) {
            // Redis restarts empty and another request restores the account from a
            // ledger that does not have this grant yet.
            await rig.wipeRedis();
            await restoreFromLedger(rig.deps, args[0], utcMonth(new Date()));
          }
          return reply;
        },
      }),
    });
    const account = await racy.account(10n * M);
    const key = await racy.key("switch");
    wipeAfterStart = true;
    const grant = (await start(racy, account, "lost", { key })).json<Grant>();
    wipeAfterStart = false;
    expect(grant).toMatchObject({ allowed: true, held_micros: 500_000 });
    expect((await balance(racy, account)).held_micros).toBe(500_000);
  });
});

describe("a CDR debited between the grant and its record", () => {
  it("regression: the ledger's row ends settled like Redis's, no hold comes back after a wipe, and every start of the call is 409", async () => {
    let debitAfterStart = false;
    const racy = await apiRig(scope, {
      wrapCallStore: (store, rig) => ({
        ...bind(store),
        async start(...args) {
          const reply = await store.start(...args);
          // The switch sent the CDR early (or the start's answer was slow): the CDR is
          // debited, and settles the session in Redis, before Postgres records it.
          if (debitAfterStart) await applyEntries(rig.deps, [call(args[0], args[1], 300_000n)]);
          return reply;
        },
      }),
    });
    const account = await racy.account(10n * M);
    const key = await racy.key("switch");
    debitAfterStart = true;
    const first = await start(racy, account, "early-cdr", { key });
    debitAfterStart = false;
    // SPEC §8: a start after the session was settled is 409, the first one too: the call's
    // CDR is already in, so there is nothing to grant.
    expect(first.statusCode).toBe(409);
    expect(await rowState(racy, account, "early-cdr")).toMatchObject({ state: "settled", held_micros: "0" });
    expect((await start(racy, account, "early-cdr", { key })).statusCode).toBe(409);
    expect((await balance(racy, account)).held_micros).toBe(0);
    await racy.rig.wipeRedis();
    expect((await balance(racy, account)).held_micros).toBe(0);
    expect((await start(racy, account, "early-cdr", { key })).statusCode).toBe(409);
  });
});

describe("when Postgres cannot record", () => {
  it("answers 503 and grants nothing; the hold left in Redis only waits for the retry", async () => {
    const account = await api.account(10n * M);
    const schema = api.rig.schema;
    await api.rig.pool.query(`alter table ${schema}.call_sessions rename to call_sessions_away`);
    let res;
    try {
      res = await start(api, account, "pg-away");
    } finally {
      await api.rig.pool.query(`alter table ${schema}.call_sessions_away rename to call_sessions`);
    }
    expect(res.statusCode).toBe(503);
    expect(res.json<{ error: { code: string } }>().error.code).toBe("unavailable");
    // The retry answers the session Redis holds, now recorded: one hold, not two.
    const retry = await start(api, account, "pg-away");
    expect(retry.json<Grant>()).toMatchObject({ allowed: true, granted_seconds: 300, held_micros: 500_000 });
    expect(await rowState(api, account, "pg-away")).toMatchObject({ state: "active" });
    expect((await balance(api, account)).held_micros).toBe(500_000);
  });
});

describe("expiry", () => {
  let quick: ApiRig;
  const registry = new Registry();
  const metrics = createMetrics(registry, { defaultMetrics: false });
  const metric = async (name: string) => {
    const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
    return found?.values.map((v) => ({ labels: v.labels, value: v.value }));
  };
  beforeAll(async () => {
    quick = await apiRig(scope, {
      calls: { quotaSeconds: 2, graceSeconds: 2, cdrWaitSeconds: 2 },
      callMetrics: { grant: (result) => metrics.callGrants.inc({ result }) },
    });
  });

  it("a session neither renewed nor ended releases its hold at expires_at", async () => {
    const account = await quick.account(3n * M);
    const key = await quick.key("switch");
    const began = Date.now();
    const grant = (await start(quick, account, "gone", { key })).json<Grant>();
    // 2 s granted (a first minute: 0.10), expiring 2 s + 2 s of grace after the start.
    expect(grant).toMatchObject({ granted_seconds: 2, held_micros: 100_000, final: false });
    expect((await balance(quick, account)).held_micros).toBe(100_000);
    expect((await sweepCallSessions(quick.rig.pool, metrics, { marginMs: 0 })).expired).toBe(0);
    expect(await metric("ratestream_call_sessions_open")).toEqual([
      { labels: { state: "active" }, value: 1 },
      { labels: { state: "ended" }, value: 0 },
    ]);
    expect(await metric("ratestream_call_held_micros")).toEqual([
      { labels: { state: "active" }, value: 100_000 },
      { labels: { state: "ended" }, value: 0 },
    ]);
    while ((await balance(quick, account)).held_micros !== 0) {
      expect(Date.now() - began).toBeLessThan(15_000);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(Date.now() - began).toBeGreaterThanOrEqual(3_900);
    expect(await calls(quick, account)).toEqual([]);
    // The sweep (here without its margin for clocks) marks it in the ledger and counts
    // it; then it cannot start again, even after a wipe.
    expect((await sweepCallSessions(quick.rig.pool, metrics, { marginMs: 0 })).expired).toBe(1);
    expect(await metric("ratestream_call_sessions_expired_total")).toEqual([
      { labels: { state: "active" }, value: 1 },
      { labels: { state: "ended" }, value: 0 },
    ]);
    expect(await metric("ratestream_call_sessions_open")).toEqual([
      { labels: { state: "active" }, value: 0 },
      { labels: { state: "ended" }, value: 0 },
    ]);
    expect(await metric("ratestream_call_grants_total")).toEqual([
      { labels: { result: "granted" }, value: 1 },
    ]);
    expect(await rowState(quick, account, "gone")).toMatchObject({ state: "expired", held_micros: "0" });
    await quick.rig.wipeRedis();
    expect((await start(quick, account, "gone", { key })).statusCode).toBe(409);
    expect((await balance(quick, account)).held_micros).toBe(0);
  });

  it("an ended session holds its charge for at most CALL_CDR_WAIT_SECONDS", async () => {
    const account = await quick.account(3n * M);
    const key = await quick.key("switch");
    await start(quick, account, "late-cdr", { key });
    const ended = await quick.request({
      method: "POST",
      url: `/v1/accounts/${account}/calls/late-cdr/end`,
      key,
      payload: { duration_seconds: 61 },
    });
    expect(ended.json()).toMatchObject({ state: "ended", held_micros: 200_000 });
    const began = Date.now();
    while ((await balance(quick, account)).held_micros !== 0) {
      expect(Date.now() - began).toBeLessThan(15_000);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(Date.now() - began).toBeGreaterThanOrEqual(1_500);
    // Counted apart from sessions that were never ended: this one's CDR never came.
    expect((await sweepCallSessions(quick.rig.pool, metrics, { marginMs: 0 })).byState).toEqual({
      active: 0,
      ended: 1,
    });
  });

  /** Waits, touching nothing, until Redis's clock is past the grant's expires_at (whole seconds, rounded down). */
  const pastExpiry = async (grant: Grant) => {
    const until = Date.parse(grant.expires_at!) + 1_000 + 200;
    while (Date.now() < until) await new Promise((r) => setTimeout(r, until - Date.now()));
  };

  it("a CDR that arrives after expiry is charged normally and settles nothing: the session stays expired", async () => {
    const account = await quick.account(3n * M);
    const key = await quick.key("switch");
    const grant = (await start(quick, account, "late", { key })).json<Grant>();
    expect(grant.held_micros).toBe(100_000);
    // Nothing reads the account meanwhile: the CDR's debit is the first to meet the expiry.
    await pastExpiry(grant);
    const [outcome] = await applyEntries(quick.rig.deps, [call(account, "late", 700_000n)]);
    expect(outcome!.status).toBe("applied");
    expect(await balance(quick, account)).toMatchObject({
      balance_micros: 2_300_000,
      held_micros: 0,
      available_micros: 300_000,
    });
    await sweepCallSessions(quick.rig.pool, metrics, { marginMs: 0 });
    expect(await rowState(quick, account, "late")).toMatchObject({ state: "expired", held_micros: "0" });
  });

  it("an expired session holds nothing against a number purchase, before anything else meets its expiry", async () => {
    const account = await quick.account(3_050_000n);
    const grant = (
      await start(quick, account, "held-then-gone", { key: await quick.key("switch") })
    ).json<Grant>();
    expect(grant.held_micros).toBe(100_000);
    const buy = async () =>
      quick.request({
        method: "POST",
        url: `/v1/accounts/${account}/numbers`,
        key: await quick.key("admin", account),
        payload: { number: "+14155550701", number_type: "local" },
      });
    // 3.05 − 2.00 − 0.10 held is 0.95: a 1.00 number does not fit while the session holds.
    expect((await buy()).statusCode).toBe(409);
    await pastExpiry(grant);
    const bought = await buy();
    expect(bought.statusCode, bought.body).toBe(201);
    expect(bought.json()).toMatchObject({ balance_micros: 2_050_000 });
  });
});

describe("number purchases count the holds (SPEC §1.12 against §8's available credit)", () => {
  const buy = async (rig: ApiRig, account: string, number: string) =>
    rig.request({
      method: "POST",
      url: `/v1/accounts/${account}/numbers`,
      key: await rig.key("admin", account),
      payload: { number, number_type: "local" },
    });

  it("a purchase may not take balance − 2.00 − the holds of open sessions below zero; an ended session's hold counts", async () => {
    const account = await api.account(5_100_000n);
    expect((await start(api, account, "n")).json<Grant>().held_micros).toBe(500_000);
    // 5.10 − 2.00 − 0.50 held = 2.60: a 2.00 number fits.
    const first = await buy(api, account, "+12125550401");
    expect(first.statusCode, first.body).toBe(201);
    expect(await balance(api, account)).toEqual(
      expect.objectContaining({ balance_micros: 3_100_000, held_micros: 500_000, available_micros: 600_000 }),
    );
    // 0.60 available: a 1.00 number would leave 2.10 on a balance that holds 0.50 for the call.
    const short = await buy(api, account, "+14155550402");
    expect(short.statusCode).toBe(409);
    expect(short.json()).toMatchObject({ error: { code: "insufficient_credit" } });
    expect(short.json<{ error: { message: string } }>().error.message).toContain("0.50 USD held");
    // Ended at 61 s: it holds 0.20 until its CDR, and that still counts.
    await end(account, "n", 61);
    expect((await buy(api, account, "+14155550402")).statusCode).toBe(409);
    expect(await api.rig.ledgerBalance(account)).toBe(3_100_000n);
    // The CDR settles it (0.20 debited, nothing held), and 0.10 more makes exactly 1.00 available.
    await applyEntries(api.rig.deps, [call(account, "n", 200_000n)]);
    await applyEntries(api.rig.deps, [
      { accountId: account, key: "credit:n-top", kind: "credit", amountMicros: 100_000n, cause: "n-top" },
    ]);
    expect(await balance(api, account)).toMatchObject({ held_micros: 0, available_micros: 1_000_000 });
    const last = await buy(api, account, "+14155550402");
    expect(last.statusCode, last.body).toBe(201);
    expect(last.json()).toMatchObject({ balance_micros: 2_000_000 });
  });

  it("a purchase racing starts: the number and the holds together never take more than balance − 2.00", async () => {
    const account = await api.account(3n * M); // 1.00 available
    const answers = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => start(api, account, `race-${i}`)),
      buy(api, account, "+14155550501"),
    ]);
    const bought = answers.at(-1)!;
    expect([201, 409]).toContain(bought.statusCode);
    const paid = bought.statusCode === 201 ? 1_000_000 : 0;
    const grants = answers.slice(0, 10).map((r) => r.json<Grant>());
    for (const g of grants)
      if (g.allowed) expect(BigInt(g.held_micros)).toBe(callCharge(UK, g.granted_seconds));
    const held = grants.reduce((sum, g) => sum + g.held_micros, 0);
    // Whichever came first, every 0.10 of the 1.00 went to someone, and nothing more.
    expect(paid + held).toBe(1_000_000);
    expect(await api.rig.ledgerBalance(account)).toBe(BigInt(3_000_000 - paid));
    expect(await balance(api, account)).toMatchObject({ held_micros: held, available_micros: 0 });
  });

  it("the monthly renewal of a number is charged even past the holds (it may block the account, §1.12)", async () => {
    const account = await api.account(3n * M);
    await start(api, account, "renewal-call"); // 0.50 held
    await api.rig.pool.query(
      `insert into phone_numbers (number, account_id, number_type, monthly_price_micros, currency, purchased_at)
       values ('+14155550601', $1, 'local', 1000000, 'USD', now() - interval '40 days')`,
      [account],
    );
    const renewed = await renewDueNumbers(
      { pool: api.rig.pool, write: api.rig.deps, publish: () => Promise.resolve() },
      new Date(),
    );
    expect(renewed).toBe(1);
    // 3.00 − 1.00: the call keeps its grant; what is promised now exceeds what is left.
    expect(await balance(api, account)).toMatchObject({
      balance_micros: 2_000_000,
      held_micros: 500_000,
      available_micros: -500_000,
    });
  });
});
