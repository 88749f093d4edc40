/**
 * Auto-recharge and number renewal against real Redis, Postgres and Kafka, with Stripe
 * faked at the HTTP level. The rules (SPEC §1.7-§1.12) are driven in-process, event by
 * event, where time must move; the worker process is exercised end to end through Kafka.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createStripePayments } from "../../src/adapters/stripe/stripe-payments.js";
import { balanceEventId } from "../../src/balances/event-id.js";
import { applyEntries } from "../../src/balances/write-path.js";
import type { BalanceEventMessage } from "../../src/pipeline/messages.js";
import { handleAutoRechargeRequest, type AutoRechargeDeps } from "../../src/recharge/auto-recharge.js";
import { renewDueNumbers } from "../../src/recharge/number-renewal.js";
import { StripeFake } from "../../src/tools/stripe-fake.js";
import { balanceRig, call, credit, type BalanceRig } from "../support/balances.js";
import { eventually, startCommand, waitReady } from "../support/rater.js";
import { Scope, uniqueName } from "../support/services.js";

const USD = (units: number) => BigInt(Math.round(units * 100)) * 10_000n;
const SECRET = "sk_test_ratestream";

let fake: StripeFake;
beforeAll(async () => {
  fake = new StripeFake();
  await fake.start();
});
afterAll(() => fake.stop());

const scope = new Scope();
afterEach(() => scope.cleanup());

let rig: BalanceRig;
let deps: AutoRechargeDeps;
const published: string[] = [];
beforeEach(async () => {
  rig = await balanceRig(scope);
  published.length = 0;
  delivered.clear();
  deps = {
    pool: rig.pool,
    write: rig.deps,
    payments: createStripePayments({ secretKey: SECRET, apiBase: new URL(fake.url), maxNetworkRetries: 0 }),
    publish: (ids) => {
      published.push(...ids);
      return Promise.resolve();
    },
  };
});

/** An account with online auto-recharge on and a saved card (as the HTTP API would set it up). */
async function onlineAccount(options: {
  amount: bigint;
  limit?: bigint;
  card?: string;
  trial?: boolean;
  balance: bigint;
}): Promise<string> {
  const id = await rig.newAccount({ trial: options.trial });
  const customer = await deps.payments.createCustomer(id, `admin@${id}.example`);
  const card = options.card ?? "pm_card_visa";
  await deps.payments.savePaymentMethod(customer, card);
  await rig.pool.query(
    `update accounts set stripe_customer_id = $2, stripe_payment_method = $3, auto_recharge_enabled = true,
       auto_recharge_amount_micros = $4, auto_recharge_monthly_limit_micros = $5 where account_id = $1`,
    [id, customer, card, options.amount.toString(), options.limit?.toString() ?? null],
  );
  await applyEntries(rig.deps, [credit(id, "opening", options.balance)]);
  return id;
}

async function requests(accountId: string): Promise<BalanceEventMessage[]> {
  const { rows } = await rig.pool.query<{
    event_id: string;
    type: string;
    balance_micros: string;
    amount_micros: string | null;
    cause: string;
    occurred_at: Date;
    currency: string;
  }>(
    `select * from balance_events where account_id = $1 and type = 'auto_recharge_requested'
      order by occurred_at, balance_micros desc`,
    [accountId],
  );
  return rows.map((r) => ({
    event_id: r.event_id,
    type: r.type,
    account_id: accountId,
    balance_micros: Number(r.balance_micros),
    currency: r.currency,
    amount_micros: r.amount_micros === null ? null : Number(r.amount_micros),
    occurred_at: r.occurred_at.toISOString(),
    cause: r.cause,
  }));
}

/** Delivers the account's auto_recharge_requested events not delivered yet, as the worker would, until none is new. */
const delivered = new Set<string>();
async function deliverRequests(accountId: string, now?: Date): Promise<string[]> {
  const outcomes: string[] = [];
  for (;;) {
    const fresh = (await requests(accountId)).filter((e) => !delivered.has(e.event_id));
    if (fresh.length === 0) return outcomes;
    for (const event of fresh) {
      delivered.add(event.event_id);
      outcomes.push(await handleAutoRechargeRequest({ ...deps, now: now && (() => now) }, event));
    }
  }
}

const types = async (accountId: string) => (await rig.events(accountId)).map((e) => e.type);

describe("online auto-recharge", () => {
  it("charges the saved card once per request, credits it and announces recharged", async () => {
    const id = await onlineAccount({ amount: USD(25), balance: USD(10) });
    await applyEntries(rig.deps, [call(id, "c1", USD(6))]); // 10.00 → 4.00: reaches 5.00
    expect(await deliverRequests(id)).toEqual(["recharged"]);
    expect(fake.chargedCents(id)).toEqual([2500]);
    expect(await rig.balance(id)).toBe(USD(29));
    expect(await rig.ledgerBalance(id)).toBe(USD(29));
    expect((await types(id)).sort()).toEqual([
      "auto_recharge_requested",
      "low_balance",
      "recharged",
      "unblocked",
    ]);
    const recharged = (await rig.events(id)).find((e) => e.type === "recharged")!;
    expect(recharged).toMatchObject({
      balance_micros: USD(29).toString(),
      amount_micros: USD(25).toString(),
    });
    expect(recharged.cause).toMatch(/^pi_/);
    // Published at once, by the id the ledger recorded it under (not left to the sweep).
    const { rows } = await rig.pool.query<{ event_id: string }>(
      "select event_id from balance_events where account_id = $1 and type = 'recharged'",
      [id],
    );
    expect(published).toContain(rows[0]!.event_id);

    // The same event again, at any distance in time: no second charge, no second credit.
    const [request] = await requests(id);
    expect(await handleAutoRechargeRequest(deps, request!)).toBe("already_recharged");
    expect(fake.chargedCents(id)).toEqual([2500]);
    expect(await rig.ledgerBalance(id)).toBe(USD(29));
  });

  it("a declined card gives one recharge_failed with the reason, one attempt, no credit", async () => {
    const id = await onlineAccount({ amount: USD(25), balance: USD(10), card: "pm_card_chargeDeclined" });
    await applyEntries(rig.deps, [call(id, "c1", USD(6))]);
    expect(await deliverRequests(id)).toEqual(["failed"]);
    const [request] = await requests(id);
    expect(await handleAutoRechargeRequest(deps, request!)).toBe("already_failed");
    expect(fake.intents.filter((i) => i.metadata.account_id === id)).toHaveLength(1);
    expect(await rig.ledgerBalance(id)).toBe(USD(4));
    const { rows } = await rig.pool.query<{ reason: string; cause: string }>(
      "select reason, cause from balance_events where account_id = $1 and type = 'recharge_failed'",
      [id],
    );
    expect(rows).toEqual([
      { reason: expect.stringMatching(/declined/) as unknown, cause: request!.event_id },
    ]);
    expect(published).toContain(balanceEventId("recharge_failed", id, request!.event_id));

    // A further call while still at or below 5.00 is no new crossing: the card is not stormed.
    await applyEntries(rig.deps, [call(id, "c2", USD(1))]);
    expect(await deliverRequests(id)).toEqual([]);
    expect(fake.intents.filter((i) => i.metadata.account_id === id)).toHaveLength(1);
  });

  it("a card that needs the customer's authentication fails the off-session charge", async () => {
    const id = await onlineAccount({
      amount: USD(25),
      balance: USD(10),
      card: "pm_card_authenticationRequired",
    });
    await applyEntries(rig.deps, [call(id, "c1", USD(6))]);
    expect(await deliverRequests(id)).toEqual(["failed"]);
    const { rows } = await rig.pool.query<{ reason: string }>(
      "select reason from balance_events where account_id = $1 and type = 'recharge_failed'",
      [id],
    );
    expect(rows[0]!.reason).toMatch(/authenticate/);
    expect(fake.chargedCents(id)).toEqual([]);
  });

  it("never charges trial accounts or accounts on offline recharge, even when asked", async () => {
    const trial = await onlineAccount({ amount: USD(25), balance: USD(10), trial: true });
    const offline = await onlineAccount({ amount: USD(25), balance: USD(10) });
    await rig.pool.query("update accounts set recharge_mode = 'offline' where account_id = $1", [offline]);
    for (const id of [trial, offline]) {
      const forged: BalanceEventMessage = {
        event_id: uniqueName("ev"),
        type: "auto_recharge_requested",
        account_id: id,
        balance_micros: 4_000_000,
        currency: "USD",
        amount_micros: 25_000_000,
        occurred_at: new Date().toISOString(),
        cause: "forged",
      };
      expect(await handleAutoRechargeRequest(deps, forged)).toBe("not_eligible");
      expect(fake.intents.filter((i) => i.metadata.account_id === id)).toEqual([]);
    }
    // And the balance script never asks for them in the first place.
    await applyEntries(rig.deps, [call(trial, "c1", USD(6))]);
    expect(await requests(trial)).toEqual([]);
  });

  it("a call far below zero gets reloads until the balance is above 5.00", async () => {
    const id = await onlineAccount({ amount: USD(25), balance: USD(10) });
    await applyEntries(rig.deps, [call(id, "c1", USD(80))]); // → -70.00
    expect(await deliverRequests(id)).toEqual(["recharged", "recharged", "recharged", "recharged"]);
    expect(fake.chargedCents(id)).toEqual([2500, 2500, 2500, 2500]);
    expect(await rig.ledgerBalance(id)).toBe(USD(30)); // -70 + 4 × 25
  });

  it("the monthly limit stops the reloads, fires capped once a month, and resets next month", async () => {
    const month = (day: number, m = 0) => new Date(Date.UTC(2031, m, day, 12));
    const id = await onlineAccount({ amount: USD(25), limit: USD(50), balance: USD(10) });
    await applyEntries(rig.deps, [call(id, "c1", USD(80))], month(1)); // → -70.00
    expect(await deliverRequests(id, month(1))).toEqual(["recharged", "recharged"]);
    expect(await rig.ledgerBalance(id)).toBe(USD(-20));
    // More crossings in the same month: no charge, and capped stays a single event.
    await applyEntries(rig.deps, [credit(id, "top-up-1", USD(40))], month(10)); // 20.00
    await applyEntries(rig.deps, [call(id, "c2", USD(16))], month(11)); // 4.00
    await applyEntries(rig.deps, [credit(id, "top-up-2", USD(40))], month(20));
    await applyEntries(rig.deps, [call(id, "c3", USD(40))], month(21));
    expect(await deliverRequests(id, month(21))).toEqual([]);
    expect((await types(id)).filter((t) => t === "auto_recharge_capped")).toHaveLength(1);
    expect(fake.chargedCents(id)).toEqual([2500, 2500]);

    // A new calendar month (UTC): the limit starts again.
    await applyEntries(rig.deps, [credit(id, "top-up-3", USD(10))], month(1, 1)); // 14.00
    await applyEntries(rig.deps, [call(id, "c4", USD(10))], month(2, 1)); // 4.00
    expect(await deliverRequests(id, month(2, 1))).toEqual(["recharged"]);
    expect(fake.chargedCents(id)).toEqual([2500, 2500, 2500]);
    expect(await rig.ledgerBalance(id)).toBe(USD(29));
  });

  it("an unreachable payment provider is retried, then reported failed after a bounded number of attempts", async () => {
    const id = await onlineAccount({ amount: USD(25), balance: USD(10) });
    await applyEntries(rig.deps, [call(id, "c1", USD(6))]);
    const [request] = await requests(id);
    fake.failNext(1);
    await expect(handleAutoRechargeRequest(deps, request!)).rejects.toMatchObject({ retryable: true });
    expect(await handleAutoRechargeRequest(deps, request!)).toBe("recharged");
    expect(fake.chargedCents(id)).toEqual([2500]);

    const other = await onlineAccount({ amount: USD(25), balance: USD(10) });
    await applyEntries(rig.deps, [call(other, "c1", USD(6))]);
    const [stuck] = await requests(other);
    fake.failNext(1_000);
    let outcome: string | undefined;
    for (let i = 0; i < 10 && outcome === undefined; i++) {
      outcome = await handleAutoRechargeRequest(deps, stuck!).catch(() => undefined);
    }
    fake.failNext(0);
    expect(outcome).toBe("failed");
    expect(fake.chargedCents(other)).toEqual([]);
    expect(await types(other)).toContain("recharge_failed");
  });
});

describe("number renewal", () => {
  const renewal = () => ({ pool: rig.pool, write: rig.deps, publish: () => Promise.resolve() });

  it("renews each number once a month from credits, even when that blocks the account", async () => {
    const id = await rig.newAccount();
    await applyEntries(rig.deps, [credit(id, "opening", USD(3))]);
    await rig.pool.query(
      `insert into phone_numbers (number, account_id, number_type, monthly_price_micros, currency, purchased_at)
       values ($1, $2, 'local', $3, 'USD', '2031-01-15T00:00:00Z')`,
      [`+1415${Math.floor(Math.random() * 1e7)}`, id, USD(1.5).toString()],
    );
    // Not due in the month of purchase.
    expect(await renewDueNumbers(renewal(), new Date("2031-01-31T23:00:00Z"))).toBe(0);
    const february = new Date("2031-02-01T00:00:00Z");
    expect(await renewDueNumbers(renewal(), february)).toBe(1);
    expect(await renewDueNumbers(renewal(), february)).toBe(0);
    expect(await rig.ledgerBalance(id)).toBe(USD(1.5));
    expect(await types(id)).toEqual(["unblocked", "blocked"]);
    expect(await renewDueNumbers(renewal(), new Date("2031-03-02T00:00:00Z"))).toBe(1);
    expect(await rig.ledgerBalance(id)).toBe(0n);
  });
});

describe("ratestream recharge-worker", () => {
  it("charges once per event through Kafka, also when the event is delivered again and after a restart", async () => {
    const prefix = `${uniqueName("rw")}.`;
    const admin = await scope.admin();
    scope.defer(() => admin.deleteTopics([`${prefix}balance-events`]));
    const id = await onlineAccount({ amount: USD(25), balance: USD(10) });
    await applyEntries(rig.deps, [call(id, "c1", USD(6))]);
    const [request] = await requests(id);

    const producer = await scope.kafka().producer();
    scope.defer(() => producer.disconnect());
    const send = () =>
      producer.send(`${prefix}balance-events`, [{ key: id, value: JSON.stringify(request) }]);
    const start = (group: string) =>
      startCommand(["recharge-worker", "--topic-prefix", prefix, "--group", group, "--partitions", "1"], {
        DATABASE_URL: rig.databaseUrl,
        STRIPE_SECRET_KEY: SECRET,
        STRIPE_API_BASE: fake.url,
      });
    await admin.createTopics([{ topic: `${prefix}balance-events`, partitions: 1 }]);
    await send();
    await send(); // a switch-level duplicate: the same event twice on the topic

    let worker = start(uniqueName("g"));
    scope.defer(() => worker.stop("SIGKILL"));
    await waitReady(worker);
    await eventually(async () => (await types(id)).includes("recharged"), 30_000, "recharged");
    // A fresh group re-reads the whole topic: redelivery at any distance.
    expect((await worker.stop()).code).toBe(0);
    worker = start(uniqueName("g"));
    await waitReady(worker);
    await send();
    await eventually(
      async () => {
        const metrics = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
        return /ratestream_worker_events_total\{type="auto_recharge_requested",outcome="already_recharged"\} 3/.test(
          metrics,
        );
      },
      30_000,
      "three redeliveries seen",
    );
    expect(fake.chargedCents(id)).toEqual([2500]);
    expect(await rig.ledgerBalance(id)).toBe(USD(29));
    expect((await types(id)).filter((t) => t === "recharged")).toHaveLength(1);
  });

  it("refuses to start without STRIPE_SECRET_KEY, naming it", async () => {
    const worker = startCommand(["recharge-worker"], {
      DATABASE_URL: rig.databaseUrl,
      STRIPE_SECRET_KEY: "",
    });
    const { code } = await worker.exited;
    expect(code).toBe(2);
    expect(worker.output()).toMatch(/STRIPE_SECRET_KEY/);
  });
});
