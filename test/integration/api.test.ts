/**
 * The HTTP API's behaviour on real Redis and Postgres, in-process, with a local Stripe
 * fake: authorize against balance and rate, balance and ledger, manual recharges
 * (Idempotency-Key, declines, no card), auto-recharge settings, number purchases.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRig, STRIPE_TEST_KEY, type ApiRig } from "../support/api.js";
import { credit } from "../support/balances.js";
import { eventually } from "../support/rater.js";
import { createStripePayments } from "../../src/adapters/stripe/stripe-payments.js";
import { applyEntries } from "../../src/balances/write-path.js";
import { utcMonth } from "../../src/balances/types.js";
import { resolvePendingCharges } from "../../src/recharge/charges.js";
import { Scope, uniqueName } from "../support/services.js";

const M = 1_000_000n;
const scope = new Scope();
let api: ApiRig;
beforeAll(async () => {
  api = await apiRig(scope);
});
afterAll(() => scope.cleanup());

async function adminOf(micros: bigint, options?: { trial?: boolean; offline?: boolean }) {
  const account = await api.account(micros, options);
  return { account, key: await api.key("admin", account), base: `/v1/accounts/${account}` };
}

describe("authorize", () => {
  const ask = async (account: string, query: string) => {
    const res = await api.request({
      method: "GET",
      url: `/v1/accounts/${account}/authorize?${query}`,
      key: await api.key("switch"),
    });
    expect(res.statusCode).toBe(200);
    return res.json<{ allowed: boolean; reason: string; max_duration_seconds: number }>();
  };

  it("at exactly 2.00 the account is not blocked but has no credit for a priced call", async () => {
    const account = await api.account(2n * M);
    expect(await ask(account, "direction=outbound&to=%2B442071234567")).toEqual({
      allowed: false,
      reason: "insufficient_credit",
      max_duration_seconds: 0,
    });
    // A free destination needs no credit above 2.00.
    expect(await ask(account, "direction=outbound&to=%2B12125550100")).toEqual({
      allowed: true,
      reason: "ok",
      max_duration_seconds: 86_400,
    });
  });

  it("below 2.00 is blocked; an unknown account or number says so", async () => {
    const blocked = await api.account(2n * M - 1n);
    expect((await ask(blocked, "direction=outbound&to=%2B12125550100")).reason).toBe("blocked");
    const rich = await api.account(100n * M);
    expect(await ask(rich, "direction=outbound&to=%2B999123")).toEqual({
      allowed: false,
      reason: "no_rate",
      max_duration_seconds: 0,
    });
    expect((await ask(uniqueName("ghost"), "direction=outbound&to=%2B442071234567")).reason).toBe(
      "unknown_account",
    );
  });

  it("both directions, each at its own rate; a leading space is read as +", async () => {
    const account = await api.account(2_100_000n); // 0.10 above 2.00
    // Outbound 0.10/min in whole minutes: one minute.
    expect(await ask(account, "direction=outbound&to=%2B442071234567")).toEqual({
      allowed: true,
      reason: "ok",
      max_duration_seconds: 60,
    });
    // Inbound 0.01/min per second: ten minutes; `+` unescaped arrives as a space.
    expect(await ask(account, "direction=inbound&to=+442071234567")).toEqual({
      allowed: true,
      reason: "ok",
      max_duration_seconds: 600,
    });
    // 0.60/min + 0.05 fee in 30/6 steps with 3.00 above 2.00: 0.05 + 0.01/s × 295 ≤ 3.00 → 294 s.
    const france = await api.account(5n * M);
    expect((await ask(france, "direction=outbound&to=%2B33155550100")).max_duration_seconds).toBe(294);
  });

  it("reads a balance Redis lost back from the ledger", async () => {
    const account = await api.account(2_100_000n);
    await api.rig.wipeRedis();
    expect((await ask(account, "direction=outbound&to=%2B442071234567")).max_duration_seconds).toBe(60);
  });
});

describe("balance and ledger", () => {
  it("balance_micros is a JSON integer, with blocked, the plan and the thresholds", async () => {
    const { account, base } = await adminOf(4_500_000n);
    const agent = await api.key("agent", account);
    const res = await api.request({ method: "GET", url: `${base}/balance`, key: agent });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('"balance_micros":4500000');
    expect(res.json()).toEqual({
      account_id: account,
      balance_micros: 4_500_000,
      blocked: false,
      held_micros: 0,
      available_micros: 2_500_000,
      currency: "USD",
      plan: "default",
      thresholds: { low_balance_micros: 5_000_000, block_micros: 2_000_000 },
    });
  });

  it("pages the ledger newest first with an opaque cursor, null at the end", async () => {
    const { account, key, base } = await adminOf(0n);
    await applyEntries(
      api.rig.deps,
      Array.from({ length: 7 }, (_, i) => credit(account, `${account}-${i}`, BigInt(i + 1) * M)),
    );
    const seen: number[] = [];
    let cursor: string | null = null;
    const pages: number[] = [];
    do {
      const res = await api.request({
        method: "GET",
        url: `${base}/ledger?limit=3${cursor ? `&cursor=${cursor}` : ""}`,
        key,
      });
      expect(res.statusCode).toBe(200);
      const page = res.json<{
        entries: { seq: number; amount_micros: number; balance_after_micros: number; kind: string }[];
        next_cursor: string | null;
      }>();
      pages.push(page.entries.length);
      seen.push(...page.entries.map((e) => e.seq));
      expect(page.entries.every((e) => e.kind === "credit" && typeof e.amount_micros === "number")).toBe(
        true,
      );
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(pages).toEqual([3, 3, 1]);
    expect(seen).toEqual([7, 6, 5, 4, 3, 2, 1]);
    const all = await api.request({ method: "GET", url: `${base}/ledger`, key });
    expect(all.json<{ entries: { balance_after_micros: number }[] }>().entries[0]!.balance_after_micros).toBe(
      28_000_000,
    );
  });
});

describe("manual recharge", () => {
  const saveCard = async (a: { key: string; base: string }, pm: string) => {
    const res = await api.request({
      method: "PUT",
      url: `${a.base}/payment-method`,
      key: a.key,
      payload: { stripe_payment_method: pm },
    });
    expect(res.statusCode, res.body).toBe(200);
  };
  const recharge = (a: { key: string; base: string }, amount: string, idempotencyKey?: string) =>
    api.request({
      method: "POST",
      url: `${a.base}/recharges`,
      key: a.key,
      payload: { amount },
      headers: idempotencyKey ? { "idempotency-key": idempotencyKey } : {},
    });

  it("charges the saved card once per Idempotency-Key and credits once", async () => {
    const a = await adminOf(1n * M);
    await saveCard(a, "pm_card_visa");
    const first = await recharge(a, "10.00", "k-1");
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({
      status: "succeeded",
      amount_micros: 10_000_000,
      balance_micros: 11_000_000,
    });
    const again = await recharge(a, "10", "k-1");
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(first.json());
    // Concurrent duplicates: one charge whatever the interleaving.
    const racing = await Promise.all([recharge(a, "25.00", "k-2"), recharge(a, "25.00", "k-2")]);
    for (const r of racing) {
      expect([201, 409]).toContain(r.statusCode);
      if (r.statusCode === 409) expect(r.body).toContain("in progress");
    }
    expect(api.stripe.chargedCents(a.account)).toEqual([1000, 2500]);
    expect(await api.rig.ledgerBalance(a.account)).toBe(36n * M);
    expect(await api.rig.balance(a.account)).toBe(36n * M);
    expect((await api.rig.events(a.account)).filter((e) => e.type === "recharged")).toHaveLength(2);
    // Without a key each request is its own recharge; a reused key with another amount is refused.
    expect((await recharge(a, "5.00")).statusCode).toBe(201);
    const reused = await recharge(a, "5.00", "k-1");
    expect(reused.statusCode).toBe(422);
    expect(api.stripe.chargedCents(a.account)).toEqual([1000, 2500, 500]);
  });

  it("a declined card answers 402, and the same key replays it without charging again", async () => {
    const a = await adminOf(0n);
    await saveCard(a, "pm_card_chargeDeclined");
    const declined = await recharge(a, "5.00", "d-1");
    expect(declined.statusCode).toBe(402);
    expect(declined.json()).toMatchObject({ error: { code: "card_declined" } });
    const replay = await recharge(a, "5.00", "d-1");
    expect(replay.statusCode).toBe(402);
    expect(replay.body).toBe(declined.body);
    expect(api.stripe.intents.filter((i) => i.metadata.account_id === a.account)).toHaveLength(1);
    expect(await api.rig.ledgerBalance(a.account)).toBe(0n);
  });

  it("no saved card is 409; offline and trial accounts may still recharge by card", async () => {
    const none = await adminOf(0n);
    const res = await recharge(none, "5.00");
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ error: { code: "no_card" } });

    for (const options of [{ offline: true }, { trial: true }]) {
      const a = await adminOf(0n, options);
      await saveCard(a, "pm_card_visa");
      expect((await recharge(a, "25.00")).statusCode).toBe(201);
      expect(await api.rig.ledgerBalance(a.account)).toBe(25n * M);
    }
  });

  it("without Stripe configured, card routes answer 503 saying so", async () => {
    const offline = await apiRig(scope, { payments: false });
    const account = await offline.account(0n);
    const key = await offline.key("admin", account);
    const res = await offline.request({
      method: "PUT",
      url: `/v1/accounts/${account}/payment-method`,
      key,
      payload: { stripe_payment_method: "pm_card_visa" },
    });
    expect(res.statusCode).toBe(503);
    expect(res.json<{ error: { message: string } }>().error.message).toMatch(/not configured/);
  });
});

describe("card charged and never credited (issue 13, defect 5)", () => {
  // A rig of its own: the faults set on its Stripe fake reach no other test.
  let stuck: ApiRig;
  beforeAll(async () => {
    stuck = await apiRig(scope, { stripeTimeoutMs: 2_000 });
  });
  const adminWithCard = async (micros: bigint) => {
    const account = await stuck.account(micros);
    const a = { account, key: await stuck.key("admin", account), base: `/v1/accounts/${account}` };
    const res = await stuck.request({
      method: "PUT",
      url: `${a.base}/payment-method`,
      key: a.key,
      payload: { stripe_payment_method: "pm_card_visa" },
    });
    expect(res.statusCode, res.body).toBe(200);
    return a;
  };
  const recharge = (a: { key: string; base: string }, amount: string, idempotencyKey?: string) =>
    stuck.request({
      method: "POST",
      url: `${a.base}/recharges`,
      key: a.key,
      payload: { amount },
      headers: idempotencyKey ? { "idempotency-key": idempotencyKey } : {},
    });
  const recharged = async (account: string) =>
    (await stuck.rig.events(account)).filter((e) => e.type === "recharged").length;

  it.each([
    ["a 500 Stripe answered after charging", "error_after"],
    ["a Stripe that charged but answered after our timeout", "hang"],
  ] as const)(
    "with an Idempotency-Key, a retry after Stripe forgot the key is answered from the charge %s hid, never charged again",
    async (_what, kind) => {
      const a = await adminWithCard(1n * M);
      stuck.stripe.fault({ kind, method: "POST", path: "/v1/payment_intents" });
      const lost = await recharge(a, "10.00", "lost-1");
      expect(lost.statusCode, lost.body).toBe(503);
      expect(stuck.stripe.chargedCents(a.account)).toEqual([1000]);
      expect(await stuck.rig.ledgerBalance(a.account)).toBe(1n * M);
      const [intent] = stuck.stripe.intents.filter((i) => i.metadata.account_id === a.account);

      // A day later Stripe no longer remembers the key; the client retries with it.
      stuck.stripe.forgetIdempotencyKeys();
      const retry = await recharge(a, "10.00", "lost-1");
      expect(stuck.stripe.chargedCents(a.account)).toEqual([1000]);
      expect(retry.statusCode, retry.body).toBe(201);
      expect(retry.json()).toMatchObject({
        status: "succeeded",
        amount_micros: 10_000_000,
        payment_intent_id: intent!.id,
        balance_micros: 11_000_000,
      });
      expect(await stuck.rig.ledgerBalance(a.account)).toBe(11n * M);
      expect(await recharged(a.account)).toBe(1);
      // And the same key again replays that answer.
      const replay = await recharge(a, "10.00", "lost-1");
      expect(replay.statusCode).toBe(201);
      expect(replay.json()).toEqual(retry.json());
      expect(stuck.stripe.chargedCents(a.account)).toEqual([1000]);
    },
  );

  /** The resolver as the recharge-worker runs it, on this rig's Postgres, Redis and Stripe fake. */
  const resolve = (options: { leaseSeconds?: number; inFlightSeconds?: number }) =>
    resolvePendingCharges(
      {
        pool: stuck.rig.pool,
        write: stuck.rig.deps,
        payments: createStripePayments({
          secretKey: STRIPE_TEST_KEY,
          apiBase: new URL(stuck.stripe.url),
          maxNetworkRetries: 0,
        }),
        publish: () => Promise.resolve(),
      },
      options,
    );
  const chargeRow = async (account: string) =>
    (
      await stuck.rig.pool.query<{ status: string; response: unknown }>(
        "select status, response from card_charges where account_id = $1",
        [account],
      )
    ).rows;

  it("a resolver running while Stripe is slow to answer concludes nothing: one charge, one credit, by the request", async () => {
    const a = await adminWithCard(1n * M);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    stuck.stripe.fault({ kind: "slow", until: gate, method: "POST", path: "/v1/payment_intents" });
    const sent = stuck.stripe.requests.length;
    const request = recharge(a, "5.00", "slow-1");
    await eventually(
      () => Promise.resolve(stuck.stripe.requests.slice(sent).some(([m]) => m === "POST")),
      10_000,
      "the create at Stripe",
    );
    // Even taking every pending charge at once, the resolver finds nothing at Stripe yet,
    // and a create this recent may still appear: it leaves the charge pending.
    expect(await resolve({ leaseSeconds: 0 })).toEqual({ succeeded: 0, failed: 0, pending: 1 });
    // A retry with the key meanwhile is told the recharge is in progress.
    const meanwhile = await recharge(a, "5.00", "slow-1");
    expect(meanwhile.statusCode).toBe(409);
    expect(meanwhile.json()).toMatchObject({ error: { code: "recharge_in_progress" } });
    release();
    const res = await request;
    expect(res.statusCode, res.body).toBe(201);
    expect(stuck.stripe.chargedCents(a.account)).toEqual([500]);
    expect(await stuck.rig.ledgerBalance(a.account)).toBe(6n * M);
    expect(await recharged(a.account)).toBe(1);
    expect(await chargeRow(a.account)).toEqual([
      { status: "succeeded", response: expect.anything() as unknown },
    ]);
  });

  it("a manual recharge Stripe never received is settled as not charged by the resolver, and its key may still make it, once", async () => {
    const a = await adminWithCard(1n * M);
    stuck.stripe.failNext(1);
    expect((await recharge(a, "5.00", "never-1")).statusCode).toBe(503);
    expect(await resolve({ leaseSeconds: 0 })).toMatchObject({ failed: 0, pending: 1 });
    expect(await resolve({ leaseSeconds: 0, inFlightSeconds: 0 })).toMatchObject({ failed: 1 });
    expect(await chargeRow(a.account)).toEqual([{ status: "failed", response: null }]);
    expect(stuck.stripe.chargedCents(a.account)).toEqual([]);

    // The request was never answered: a retry with its key makes the recharge now.
    const retry = await recharge(a, "5.00", "never-1");
    expect(retry.statusCode, retry.body).toBe(201);
    const replay = await recharge(a, "5.00", "never-1");
    expect(replay.json()).toEqual(retry.json());
    expect(stuck.stripe.chargedCents(a.account)).toEqual([500]);
    expect(await stuck.rig.ledgerBalance(a.account)).toBe(6n * M);
    expect(await recharged(a.account)).toBe(1);
  });

  it("a Stripe customer created twice when a retry comes after the idempotency key expired", async () => {
    const account = await stuck.account(0n);
    const key = await stuck.key("admin", account);
    const save = () =>
      stuck.request({
        method: "PUT",
        url: `/v1/accounts/${account}/payment-method`,
        key,
        payload: { stripe_payment_method: "pm_card_visa" },
      });
    // Stripe creates the customer but the answer is lost (twice: the SDK retries a
    // dropped connection once, and that answer is lost too).
    stuck.stripe.fault({ kind: "lose_response", method: "POST", path: "/v1/customers", times: 2 });
    expect((await save()).statusCode).toBe(503);
    expect(stuck.stripe.customersOf(account)).toHaveLength(1);

    stuck.stripe.forgetIdempotencyKeys();
    const saved = await save();
    expect(saved.statusCode, saved.body).toBe(200);
    expect(stuck.stripe.customersOf(account)).toHaveLength(1);
    const [customer] = stuck.stripe.customersOf(account);
    expect(saved.json()).toMatchObject({ stripe_customer_id: customer!.id });
  });
});

describe("auto-recharge settings", () => {
  const put = (a: { key: string; base: string }, body: object) =>
    api.request({ method: "PUT", url: `${a.base}/auto-recharge`, key: a.key, payload: body });
  const withCard = async (micros: bigint) => {
    const a = await adminOf(micros);
    await api.request({
      method: "PUT",
      url: `${a.base}/payment-method`,
      key: a.key,
      payload: { stripe_payment_method: "pm_card_visa" },
    });
    return a;
  };

  it("is refused (409) on trial and offline accounts and without a saved card", async () => {
    const body = { enabled: true, amount: "25.00", monthly_limit: null };
    const trial = await put(await adminOf(0n, { trial: true }), body);
    expect(trial.statusCode).toBe(409);
    expect(trial.body).toMatch(/trial/);
    const offline = await put(await adminOf(0n, { offline: true }), body);
    expect(offline.statusCode).toBe(409);
    expect(offline.body).toMatch(/offline/);
    const noCard = await put(await adminOf(0n), body);
    expect(noCard.statusCode).toBe(409);
    expect(noCard.json()).toMatchObject({ error: { code: "no_card" } });
  });

  it("turned on at or below 5.00 requests a recharge at once, and only when turned on", async () => {
    const a = await withCard(3n * M);
    const on = await put(a, { enabled: true, amount: "25.00", monthly_limit: "100.00" });
    expect(on.statusCode, on.body).toBe(200);
    expect(on.json()).toEqual({
      account_id: a.account,
      enabled: true,
      amount_micros: 25_000_000,
      monthly_limit_micros: 100_000_000,
      recharge_requested: true,
    });
    const again = await put(a, { enabled: true, amount: "30.00", monthly_limit: null });
    expect(again.json()).toMatchObject({
      amount_micros: 30_000_000,
      monthly_limit_micros: null,
      recharge_requested: false,
    });
    const requested = (await api.rig.events(a.account)).filter((e) => e.type === "auto_recharge_requested");
    expect(requested).toHaveLength(1);
    expect(requested[0]!.amount_micros).toBe("25000000");
    expect(api.published.length).toBeGreaterThan(0);
    const off = await put(a, { enabled: false });
    expect(off.json()).toMatchObject({ enabled: false, recharge_requested: false });
  });

  it("turned on above 5.00 requests nothing; Redis gets the settings", async () => {
    const a = await withCard(50n * M);
    const on = await put(a, { enabled: true, amount: "10.00" });
    expect(on.json()).toMatchObject({ enabled: true, recharge_requested: false });
    // Spend down to 5.00: the balance script (reading Redis's copy) requests the recharge.
    await applyEntries(api.rig.deps, [
      { accountId: a.account, key: "cdr:x", kind: "call", amountMicros: -45n * M, cause: "x", cdrId: "x" },
    ]);
    const types = (await api.rig.events(a.account)).map((e) => e.type);
    expect(types).toContain("auto_recharge_requested");
  });

  it("a restore that read the account before the update, written after it, does not bring the old settings back", async () => {
    const a = await withCard(50n * M);
    expect((await put(a, { enabled: true, amount: "10.00" })).statusCode).toBe(200);
    expect(await api.rig.redisState(a.account)).toMatchObject({ auto: "online" });

    // Redis loses the account; a writer restoring it reads the ledger (auto-recharge on) ...
    await api.rig.deps.store.forget(a.account);
    const stale = (await api.rig.deps.ledger.snapshot(a.account, utcMonth(new Date())))!;
    // ... the admin turns auto-recharge off meanwhile ...
    expect((await put(a, { enabled: false })).statusCode).toBe(200);
    // ... and the restore lands after the update.
    await api.rig.deps.store.restore(stale);

    expect(await api.rig.redisState(a.account)).toMatchObject({ auto: "none" });
    await applyEntries(api.rig.deps, [
      { accountId: a.account, key: "cdr:y", kind: "call", amountMicros: -45n * M, cause: "y", cdrId: "y" },
    ]); // 5.00, with auto-recharge off
    const types = (await api.rig.events(a.account)).map((e) => e.type);
    expect(types).not.toContain("auto_recharge_requested");
  });
});

describe("number purchase", () => {
  const buy = (a: { key: string; base: string }, number: string, type = "local") =>
    api.request({
      method: "POST",
      url: `${a.base}/numbers`,
      key: a.key,
      payload: { number, number_type: type },
    });

  it("priced from the number deck (longest prefix, by type) and debited from credits", async () => {
    const a = await adminOf(10n * M);
    const res = await buy(a, "+14155550123");
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ monthly_price_micros: 1_000_000, balance_micros: 9_000_000 });
    expect((await buy(a, "+12125550123")).json()).toMatchObject({ monthly_price_micros: 2_000_000 });
    expect((await buy(a, "+18005550123", "toll_free")).json()).toMatchObject({
      monthly_price_micros: 3_000_000,
      balance_micros: 4_000_000,
    });
    expect(await api.rig.ledgerBalance(a.account)).toBe(4n * M);
    const { rows } = await api.rig.pool.query(
      "select number from phone_numbers where account_id = $1 order by number",
      [a.account],
    );
    expect(rows.map((r: { number: string }) => r.number)).toEqual([
      "+12125550123",
      "+14155550123",
      "+18005550123",
    ]);
    // Already owned, by this account or another.
    expect((await buy(a, "+14155550123")).statusCode).toBe(409);
    const b = await adminOf(10n * M);
    const taken = await buy(b, "+14155550123");
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ error: { code: "number_taken" } });
    expect(await api.rig.ledgerBalance(b.account)).toBe(10n * M);
  });

  it("refused (409) when blocked or short; exactly 2.00 left is allowed", async () => {
    const blocked = await adminOf(1_990_000n);
    const refused = await buy(blocked, "+14155550124");
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ error: { code: "blocked" } });

    const short = await adminOf(3_999_999n);
    const shortRes = await buy(short, "+12125550124");
    expect(shortRes.statusCode).toBe(409);
    expect(shortRes.json()).toMatchObject({ error: { code: "insufficient_credit" } });

    const exact = await adminOf(4n * M);
    expect((await buy(exact, "+12125550125")).json()).toMatchObject({ balance_micros: 2_000_000 });
  });

  it("two concurrent purchases cannot both pass the balance check", async () => {
    const a = await adminOf(5n * M);
    const results = await Promise.all([
      buy(a, "+12125550201"),
      buy(a, "+12125550202"),
      buy(a, "+12125550203"),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409]);
    expect(await api.rig.ledgerBalance(a.account)).toBe(3n * M);
  });

  it("number purchases cannot stall every tenant: 8 at once on one account hold no pooled connection", async () => {
    const a = await adminOf(10n * M);
    const other = await adminOf(10n * M);
    const started = Date.now();
    const results = await Promise.all([
      ...Array.from({ length: 8 }, (_, i) => buy(a, `+1415555030${i}`)),
      api.request({ method: "GET", url: `${other.base}/balance`, key: other.key }),
    ]);
    // No request waited out the pool's 10-s connection timeout.
    expect(results.map((r) => r.statusCode).filter((c) => c >= 500)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(5_000);
    // 1.00 each from 10.00, never below 2.00: eight fit exactly.
    const bought = results.slice(0, 8).filter((r) => r.statusCode === 201).length;
    expect(bought).toBe(8);
    expect(await api.rig.ledgerBalance(a.account)).toBe(2n * M);
  });

  it("a purchase is paid if and only if the number is the customer's: a number the database refuses costs nothing", async () => {
    const a = await adminOf(10n * M);
    // A rule of this test's schema stands for any failure of the number's insert.
    await api.rig.pool.query(
      "alter table phone_numbers add constraint refuses_1415 check (number not like '+1415555099%')",
    );
    const res = await buy(a, "+14155550990");
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(await api.rig.ledgerBalance(a.account)).toBe(10n * M);
    // Redis keeps none of it: the account was dropped there, to restore from the ledger.
    const redis = await api.rig.deps.store.snapshot(a.account);
    expect(redis === "missing" ? 10n * M : redis.balanceMicros).toBe(10n * M);
    const { rows } = await api.rig.pool.query("select 1 from phone_numbers where account_id = $1", [
      a.account,
    ]);
    expect(rows).toEqual([]);
    // Another number still sells, at its price.
    expect((await buy(a, "+14155550881")).json()).toMatchObject({ balance_micros: 9_000_000 });
  });
});
