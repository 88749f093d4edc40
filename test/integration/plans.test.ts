/**
 * Rate plans (SPEC §10, issue 18) on real `ratestream run` processes and the real CLI:
 * accounts on two plans charged each by its own plan, a move mid-stream without a
 * restart, a plan that does not price a destination (no fallback) and the replay after
 * its new version, authorize / sessions / numbers by plan, and migration 008 on a
 * database that already holds versions, accounts and a ledger.
 */
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listMigrations, migrate } from "../../src/adapters/postgres/migrate.js";
import { createApiKey } from "../../src/adapters/postgres/accounts.js";
import { importDeckSet, loadRateTable, type DeckSet } from "../../src/adapters/postgres/rate-versions.js";
import type { KafkaProducer } from "../../src/adapters/kafka/types.js";
import { groupCaughtUp } from "../../src/adapters/kafka/offsets.js";
import { checkAccount } from "../../src/balances/reconcile.js";
import { applyEntries, restoreFromLedger } from "../../src/balances/write-path.js";
import { utcMonth } from "../../src/balances/types.js";
import { renewDueNumbers } from "../../src/recharge/number-renewal.js";
import { validateCdr } from "../../src/core/cdr.js";
import { parseDeckSet } from "../../src/core/decks/deck-set.js";
import { rateCdr } from "../../src/core/rating/rate.js";
import { buildRateTable, type RateTable } from "../../src/core/rating/rate-table.js";
import type { Topics } from "../../src/pipeline/topics.js";
import { TEST_NUMBERS, TEST_RATES, TEST_SURCHARGES } from "../support/api.js";
import { balanceRig, credit, type BalanceRig } from "../support/balances.js";
import { ratestream } from "../support/cli.js";
import { rateDeck } from "../support/decks.js";
import { eventually, startRater, waitReady, type RaterProcess } from "../support/rater.js";
import { Scope, uniqueName } from "../support/services.js";
import { testTopics } from "../support/stream.js";

const M = 1_000_000;

/** `default`: the test deck (UK 0.10/min, France 0.60/min + 0.05, US free; US numbers 1.00-3.00). */
const DEFAULT_DECKS: DeckSet = {
  rates: { file: "default-rates.csv", text: TEST_RATES },
  surcharges: { file: "surcharges.csv", text: TEST_SURCHARGES },
  numbers: { file: "numbers.csv", text: TEST_NUMBERS },
};
/** `gold`: cheaper UK and France with other increments, dearer numbers, and no US calls at all. */
const GOLD_RATES = rateDeck(
  "44,UK,outbound,0.04,0.01,1,1,2020-01-01",
  "44,UK,inbound,0.005,0,1,1,2020-01-01",
  "33,France,outbound,0.25,0,60,30,2020-01-01",
);
const GOLD_DECKS: DeckSet = {
  rates: { file: "gold-rates.csv", text: GOLD_RATES },
  surcharges: {
    file: "gold-surcharges.csv",
    text: "feature,rate_per_minute,effective_from\nrecording,0.01,2020-01-01\n",
  },
  numbers: {
    file: "gold-numbers.csv",
    text: "prefix,number_type,monthly_price,effective_from\n1,local,4.00,2020-01-01\n",
  },
};
const GOLD_V2: DeckSet = {
  ...GOLD_DECKS,
  rates: { file: "gold-rates-v2.csv", text: `${GOLD_RATES}1,US,outbound,0.02,0,60,60,2020-01-01\n` },
};

const tableOf = (set: DeckSet, version: number, plan: string): RateTable =>
  buildRateTable(parseDeckSet(set), version, plan);

interface PlansRig {
  rig: BalanceRig;
  topics: Topics;
  topicPrefix: string;
  group: string;
  producer: KafkaProducer;
  env: Record<string, string>;
  rater: RaterProcess;
  switchKey: string;
  /** An account made with the CLI (`accounts create [--plan]`), funded. */
  account(plan?: string, micros?: number): Promise<string>;
  send(cdrs: object[]): Promise<void>;
  caughtUp(): Promise<boolean>;
  /** The account's call entries: cdr_id → { amount, plan, version }. */
  calls(account: string): Promise<Map<string, { amount: number; plan: unknown; version: number }>>;
  api<T>(key: string, method: string, path: string, body?: object): Promise<{ status: number; body: T }>;
}

function cdr(account: string, id: string, to: string, seconds: number, features: string[] = []) {
  return {
    cdr_id: id,
    account_id: account,
    direction: "outbound",
    from: "+14155550100",
    to,
    answered_at: "2026-11-20T10:00:00Z",
    duration_seconds: seconds,
    ...(features.length > 0 && { surcharges: features.map((feature) => ({ feature, seconds })) }),
  };
}

/** What the rating core charges a CDR with a table: the expectation, independent of the rater's wiring. */
function coreCharge(table: RateTable, raw: object): number {
  const decoded = validateCdr(raw);
  if (!decoded.ok) throw new Error(decoded.error.message);
  const outcome = rateCdr(table, decoded.cdr);
  if (!outcome.ok) throw new Error(outcome.message);
  return Number(outcome.chargeMicros);
}

const scope = new Scope();
let p: PlansRig;

beforeAll(async () => {
  const rig = await balanceRig(scope);
  expect(await importDeckSet(rig.pool, DEFAULT_DECKS)).toMatchObject({ plan: "default", version: 1 });
  expect(await importDeckSet(rig.pool, GOLD_DECKS, "gold")).toMatchObject({ plan: "gold", version: 1 });
  const { topicPrefix, topics, admin, producer } = await testTopics(scope, "plans", 2);
  const group = uniqueName("g");
  const rater = startRater({ databaseUrl: rig.databaseUrl, topicPrefix, group });
  scope.defer(() => rater.stop("SIGKILL"));
  await waitReady(rater);
  const env = { DATABASE_URL: rig.databaseUrl };
  const accounts: string[] = [];
  scope.defer(() => Promise.all(accounts.map((a) => rig.deps.store.forget(a))));
  p = {
    rig,
    topics,
    topicPrefix,
    group,
    producer,
    env,
    rater,
    switchKey: (await createApiKey(rig.pool, "switch", null)).api_key,
    async account(plan, micros = 50 * M) {
      const id = uniqueName("acct");
      const args = ["accounts", "create", "--id", id, "--admin-email", `admin@${id}.example`];
      const made = await ratestream(plan === undefined ? args : [...args, "--plan", plan], { env });
      expect(made.code, made.stderr).toBe(0);
      expect(JSON.parse(made.stdout)).toMatchObject({ account_id: id, plan: plan ?? "default" });
      accounts.push(id);
      await applyEntries(rig.deps, [credit(id, uniqueName("fund"), BigInt(micros))]);
      return id;
    },
    async send(cdrs) {
      await producer.send(
        topics.cdrs,
        cdrs.map((c) => ({ key: (c as { account_id: string }).account_id, value: JSON.stringify(c) })),
      );
    },
    caughtUp: async () => groupCaughtUp(admin, group, topics.cdrs),
    async calls(account) {
      const { rows } = await rig.pool.query<{
        cdr_id: string;
        amount_micros: string;
        rate_version: string;
        plan: string | null;
      }>(
        "select cdr_id, amount_micros, rate_version, plan from ledger_entries where account_id = $1 and kind = 'call'",
        [account],
      );
      return new Map(
        rows.map((r) => [
          r.cdr_id,
          { amount: Number(-BigInt(r.amount_micros)), plan: r.plan, version: Number(r.rate_version) },
        ]),
      );
    },
    async api(key, method, path, body) {
      const res = await fetch(`http://127.0.0.1:${rater.port}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body && { "content-type": "application/json" }) },
        body: body && JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as never };
    },
  };
}, 120_000);
afterAll(() => scope.cleanup());

describe("rate plans", () => {
  it("charges two accounts on two plans each by its own plan for the same CDR shape", async () => {
    const onDefault = await p.account();
    const onGold = await p.account("gold");
    const shapes = [
      ["+442071234567", 125, []],
      ["+442071234567", 1, []],
      ["+33155550100", 47, ["recording"]],
      ["+33155550100", 0, []],
    ] as const;
    const sent = [onDefault, onGold].flatMap((account) =>
      shapes.map(([to, seconds, features], i) => cdr(account, `two-${i}`, to, seconds, [...features])),
    );
    await p.send(sent);
    await eventually(async () => (await p.calls(onGold)).size === 4 && (await p.calls(onDefault)).size === 4);

    const tables = { default: tableOf(DEFAULT_DECKS, 1, "default"), gold: tableOf(GOLD_DECKS, 1, "gold") };
    for (const [account, plan] of [
      [onDefault, "default"],
      [onGold, "gold"],
    ] as const) {
      const calls = await p.calls(account);
      for (const c of sent.filter((s) => s.account_id === account)) {
        expect(calls.get(c.cdr_id), `${account} ${c.cdr_id}`).toEqual({
          amount: coreCharge(tables[plan], c),
          plan,
          version: 1,
        });
      }
    }
    // Not the same prices: the test would pass with one plan for both otherwise.
    expect((await p.calls(onDefault)).get("two-0")!.amount).toBe(300_000); // 3 min × 0.10
    expect((await p.calls(onGold)).get("two-0")!.amount).toBe(93_333); // 0.01 + 125 s × 0.04/60
    const balance = await p.api<{ plan: string }>(
      (await createApiKey(p.rig.pool, "agent", onGold)).api_key,
      "GET",
      `/v1/accounts/${onGold}/balance`,
    );
    expect(balance.body.plan).toBe("gold");
  });

  it("prices CDRs after a move by the new plan and before it by the old, none twice, no restart", async () => {
    const account = await p.account();
    const before = Array.from({ length: 10 }, (_, i) => cdr(account, `move-a${i}`, "+442071234567", 61 + i));
    await p.send(before);
    await eventually(async () => (await p.calls(account)).size === 10);

    const moved = await ratestream(["accounts", "set", "--id", account, "--plan", "gold"], { env: p.env });
    expect(moved.code, moved.stderr).toBe(0);
    expect(JSON.parse(moved.stdout)).toMatchObject({ account_id: account, plan: "gold" });
    // The running rater learns of the move within seconds: gold does not price US calls.
    await eventually(
      async () => {
        const res = await p.api<{ reason: string }>(
          p.switchKey,
          "GET",
          `/v1/accounts/${account}/authorize?direction=outbound&to=%2B14155550123`,
        );
        return res.body.reason === "no_rate";
      },
      10_000,
      "the rater to learn of the move",
    );
    const after = Array.from({ length: 10 }, (_, i) => cdr(account, `move-b${i}`, "+442071234567", 61 + i));
    // Redelivered CDRs of before the move stay charged as they were.
    await p.send([...after, ...before.slice(0, 3)]);
    await eventually(async () => (await p.calls(account)).size === 20);
    await eventually(() => p.caughtUp(), 30_000, "the group to commit");

    const calls = await p.calls(account);
    expect(calls.size).toBe(20);
    const def = tableOf(DEFAULT_DECKS, 1, "default");
    const gold = tableOf(GOLD_DECKS, 1, "gold");
    for (const c of before)
      expect(calls.get(c.cdr_id)).toEqual({ amount: coreCharge(def, c), plan: "default", version: 1 });
    for (const c of after)
      expect(calls.get(c.cdr_id)).toEqual({ amount: coreCharge(gold, c), plan: "gold", version: 1 });
    expect(p.rater.output()).not.toMatch(/"level":(50|60)/);
    const { rows } = await p.rig.pool.query<{ from_plan: string; to_plan: string }>(
      "select from_plan, to_plan from account_plan_changes where account_id = $1 order by changed_at",
      [account],
    );
    expect(rows).toEqual([
      { from_plan: null, to_plan: "default" },
      { from_plan: "default", to_plan: "gold" },
    ]);
  });

  it("refuses a plan with no version, and a bad plan name (exit 2)", async () => {
    const account = await p.account();
    const none = await ratestream(["accounts", "set", "--id", account, "--plan", "platinum"], { env: p.env });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/plan "platinum" has no rate version/);
    const create = await ratestream(
      ["accounts", "create", "--id", uniqueName("x"), "--admin-email", "a@b.example", "--plan", "platinum"],
      { env: p.env },
    );
    expect(create.code).toBe(2);
    const bad = await ratestream(["rates", "import", "--plan", "Gold!", "--rates", "rates/rates.csv"], {
      env: p.env,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--plan/);
  });

  it("dead-letters no_rate for a destination the plan does not price; replay after its new version charges once", async () => {
    const onGold = await p.account("gold");
    const onDefault = await p.account();
    const us = (account: string) => cdr(account, `us-${account}`, "+14155550123", 90);
    await p.send([us(onGold), us(onDefault)]);
    await eventually(async () => (await p.calls(onDefault)).size === 1);
    await eventually(() => p.caughtUp(), 30_000, "the group to commit");
    expect((await p.calls(onGold)).size).toBe(0); // no fallback to default

    // Gold's new version prices the US; a previous-plan customer is not touched by it.
    const imported = await ratestream(
      [
        "rates",
        "import",
        "--plan",
        "gold",
        "--rates",
        await writeTemp("rates.csv", GOLD_V2.rates.text),
        "--surcharges",
        await writeTemp("surcharges.csv", GOLD_V2.surcharges!.text),
        "--numbers",
        await writeTemp("numbers.csv", GOLD_V2.numbers!.text),
      ],
      { env: p.env },
    );
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ plan: "gold", version: 2, created: true });
    await eventually(
      async () =>
        (
          await p.api<{ reason: string }>(
            p.switchKey,
            "GET",
            `/v1/accounts/${onGold}/authorize?direction=outbound&to=%2B14155550123`,
          )
        ).body.reason !== "no_rate",
      10_000,
      "the rater to load gold v2",
    );
    for (let i = 0; i < 2; i++) {
      const replay = await ratestream(
        ["dlq", "replay", "--code", "no_rate", "--topic-prefix", p.topicPrefix],
        {
          env: p.env,
        },
      );
      expect(replay.code, replay.stderr).toBe(0);
      await eventually(async () => (await p.calls(onGold)).size === 1);
      await eventually(() => p.caughtUp(), 30_000, "the replay to be handled");
    }
    const charged = await p.calls(onGold);
    expect([...charged.values()]).toEqual([
      { amount: coreCharge(tableOf(GOLD_V2, 2, "gold"), us(onGold)), plan: "gold", version: 2 },
    ]);
    const list = await ratestream(["rates", "list"], { env: p.env });
    const plans = list.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { plan: string; version: number });
    expect(plans.map((x) => [x.plan, x.version])).toEqual([
      ["default", 1],
      ["gold", 2],
    ]);
  });

  it("authorize, call sessions and number purchases follow the account's plan", async () => {
    const onDefault = await p.account(undefined, 10 * M);
    const onGold = await p.account("gold", 10 * M);
    const authorize = async (account: string, to: string) =>
      (
        await p.api<{ allowed: boolean; reason: string; max_duration_seconds: number }>(
          p.switchKey,
          "GET",
          `/v1/accounts/${account}/authorize?direction=outbound&to=${encodeURIComponent(to)}`,
        )
      ).body;
    // 8.00 above the floor: default UK 0.10/min in whole minutes → 80 min; gold 0.01 + 0.04/min per second.
    expect(await authorize(onDefault, "+442071234567")).toEqual({
      allowed: true,
      reason: "ok",
      max_duration_seconds: 4_800,
    });
    expect(await authorize(onGold, "+442071234567")).toEqual({
      allowed: true,
      reason: "ok",
      max_duration_seconds: 11_985,
    });

    const start = async (account: string) =>
      (
        await p.api<{ granted_seconds: number; held_micros: number }>(
          p.switchKey,
          "POST",
          `/v1/accounts/${account}/calls`,
          {
            call_id: uniqueName("call"),
            direction: "outbound",
            to: "+33155550100",
            features: ["recording"],
          },
        )
      ).body;
    // 300 s: default 0.05 + 300 s × 0.60/min + 5 min recording × 0.02; gold 300 s × 0.25/min + 5 × 0.01.
    expect(await start(onDefault)).toMatchObject({ granted_seconds: 300, held_micros: 3_150_000 });
    expect(await start(onGold)).toMatchObject({ granted_seconds: 300, held_micros: 1_300_000 });

    const buy = async (account: string) => {
      const admin = (await createApiKey(p.rig.pool, "admin", account)).api_key;
      const number = `+1415555${String(Math.floor(Math.random() * 10_000)).padStart(4, "0")}`;
      return (
        await p.api<{ monthly_price_micros: number }>(admin, "POST", `/v1/accounts/${account}/numbers`, {
          number,
          number_type: "local",
        })
      ).body;
    };
    expect(await buy(onDefault)).toMatchObject({ monthly_price_micros: 1_000_000 });
    expect(await buy(onGold)).toMatchObject({ monthly_price_micros: 4_000_000 });
  });
});

describe("number renewal by plan", () => {
  it("renews at the price of the account's plan in force, the purchase price when the plan has none", async () => {
    const onGold = await p.account("gold", 10 * M);
    const onDefault = await p.account(undefined, 10 * M);
    for (const [account, number] of [
      [onGold, "+14155550701"],
      [onDefault, "+18005550702"],
    ] as const) {
      await p.rig.pool.query(
        `insert into phone_numbers (number, account_id, number_type, monthly_price_micros, currency, purchased_at)
         values ($1, $2, $3, 1500000, 'USD', now() - interval '40 days')`,
        [number, account, number.startsWith("+1800") ? "toll_free" : "local"],
      );
    }
    await renewDueNumbers(
      { pool: p.rig.pool, write: p.rig.deps, publish: () => Promise.resolve() },
      new Date(),
    );
    const renewal = async (account: string) =>
      (
        await p.rig.pool.query<{ amount_micros: string; details: { plan: string } }>(
          "select amount_micros, details from ledger_entries where account_id = $1 and kind = 'number_renewal'",
          [account],
        )
      ).rows.map((r) => [Number(r.amount_micros), r.details.plan]);
    expect(await renewal(onGold)).toEqual([[-4_000_000, "gold"]]); // gold: 1,local,4.00
    expect(await renewal(onDefault)).toEqual([[-3_000_000, "default"]]); // default: 1800,toll_free,3.00
  });
});

async function writeTemp(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "plans-"));
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

describe("migration 008", () => {
  const migScope = new Scope();
  afterAll(() => migScope.cleanup());

  it("puts existing versions and accounts on default; balances and ledger untouched, reconcile clean", async () => {
    const rig = await balanceRig(migScope, { migrate: false });
    // The schema as it stood before plans: migrations 001-007 only.
    await rig.pool.query(
      "create table schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())",
    );
    for (const m of (await listMigrations()).filter((x) => x.version <= 7)) {
      await rig.pool.query(await readFile(m.file, "utf8"));
      await rig.pool.query("insert into schema_migrations (version, name) values ($1, $2)", [
        m.version,
        m.name,
      ]);
    }
    for (const [i, set] of [DEFAULT_DECKS, GOLD_DECKS].entries()) {
      await rig.pool.query(
        `insert into rate_versions (checksum, rates_file, rates_csv, surcharges_file, surcharges_csv,
           numbers_file, numbers_csv, rate_rows, surcharge_rows, number_rows)
         values ($1, $2, $3, $4, $5, $6, $7, 1, 1, 1)`,
        [
          `old-${i}`,
          set.rates.file,
          set.rates.text,
          set.surcharges!.file,
          set.surcharges!.text,
          set.numbers!.file,
          set.numbers!.text,
        ],
      );
    }
    // Entries as the write path of that schema recorded them (today's adapter writes
    // columns later migrations add, so it cannot write the old schema).
    const accounts = [await rig.newAccount(), await rig.newAccount()];
    for (const a of accounts) {
      const fund = 20n * BigInt(M);
      await rig.pool.query(
        `insert into ledger_entries (account_id, seq, idempotency_key, kind, amount_micros, balance_after_micros,
           currency, rate_version, cdr_id, reference, details)
         values ($1, 1, $2, 'credit', $4, $4, 'USD', null, null, $2, null),
                ($1, 2, 'cdr:' || $3, 'call', -1234567, $4 - 1234567, 'USD', 1, $3, null,
                 '{"billed_seconds": 60, "prefix": "4420", "rate_effective_from": "2026-01-01T00:00:00Z"}')`,
        [a, uniqueName("credit:fund"), uniqueName("c"), fund.toString()],
      );
    }
    // The columns of ledger_entries as of migration 007.
    const ledger = async () =>
      (
        await rig.pool.query(
          `select account_id, seq, idempotency_key, kind, amount_micros, balance_after_micros, currency,
                  rate_version, cdr_id, reference, details, created_at
             from ledger_entries order by account_id, seq`,
        )
      ).rows as unknown[];
    const ledgerBefore = await ledger();
    const balancesBefore = accounts.map(() => 20n * BigInt(M) - 1_234_567n);

    // 008 is the first applied; later migrations follow it.
    expect((await migrate(rig.pool)).map((m) => m.version)[0]).toBe(8);

    const { rows: versions } = await rig.pool.query<{ plan: string; version: string; checksum: string }>(
      "select plan, version, checksum from rate_versions order by version",
    );
    expect(versions).toEqual([
      { plan: "default", version: "1", checksum: "old-0" },
      { plan: "default", version: "2", checksum: "old-1" },
    ]);
    const { rows: plans } = await rig.pool.query<{ plan: string }>(
      "select plan from accounts where account_id = any($1) order by account_id",
      [accounts],
    );
    expect(plans.map((r) => r.plan)).toEqual(["default", "default"]);
    expect(await ledger()).toEqual(ledgerBefore);
    // The balances as the old entries left them, in Redis restored from the ledger.
    for (const a of accounts) {
      expect(await restoreFromLedger(rig.deps, a, utcMonth(new Date()))).toBe("restored");
    }
    expect(await Promise.all(accounts.map((a) => rig.balance(a)))).toEqual(balancesBefore);
    for (const a of accounts) {
      expect((await checkAccount(rig.deps.store, rig.deps.ledger, a)).status).not.toBe("drift");
    }
    // The old call's details read back as they were written.
    const oldCall = await rig.deps.ledger.recorded(
      (
        await rig.pool.query<{ account_id: string; idempotency_key: string }>(
          "select account_id, idempotency_key from ledger_entries where kind = 'call' order by account_id",
        )
      ).rows.map((r) => ({ accountId: r.account_id, key: r.idempotency_key })),
    );
    expect([...oldCall.values()].map((e) => e.details)).toEqual(
      accounts.map(() => ({
        billed_seconds: 60,
        prefix: "4420",
        rate_effective_from: "2026-01-01T00:00:00Z",
      })),
    );
    // Default's numbering goes on from the old global one; a new plan starts at 1.
    expect((await loadRateTable(rig.pool))?.version).toBe(2);
    expect(await importDeckSet(rig.pool, GOLD_V2)).toMatchObject({ plan: "default", version: 3 });
    expect(await importDeckSet(rig.pool, GOLD_V2, "gold")).toMatchObject({ plan: "gold", version: 1 });
  });
});
