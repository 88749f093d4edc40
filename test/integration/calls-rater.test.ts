/**
 * Call sessions (SPEC §8) on real `ratestream run` processes, their CDRs through Kafka:
 * two raters granting for one account at once, calls cut at their grant and settled by
 * their CDRs, end then CDR with no double count between, expiry then a late CDR, and a
 * rater SIGKILLed with sessions open while Redis loses the account. Every amount is
 * checked against prices worked out here by hand from the test deck, not by the core.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../src/adapters/postgres/accounts.js";
import type { KafkaProducer } from "../../src/adapters/kafka/types.js";
import { applyEntries } from "../../src/balances/write-path.js";
import type { Topics } from "../../src/pipeline/topics.js";
import type { Grant } from "../../src/tools/switch-simulator.js";
import { importTestDecks } from "../support/api.js";
import { balanceRig, credit, type BalanceRig } from "../support/balances.js";
import { ratestream } from "../support/cli.js";
import { eventually, metric, startRater, waitReady, type RaterProcess } from "../support/rater.js";
import { Scope, uniqueName } from "../support/services.js";
import { testTopics } from "../support/stream.js";

const M = 1_000_000;
const UK_NUMBER = "+442071234567";
const FRANCE_NUMBER = "+33155550100";

/**
 * The test deck (test/support/api.ts) priced by hand, SPEC §2–§3: the connection fee,
 * the billed seconds at the rate, each feature per started minute of its seconds, summed
 * exactly in micros × 60 and rounded half-up once.
 */
const DECK = {
  [UK_NUMBER]: { fee: 0, perMinute: 100_000, initial: 60, step: 60 },
  [FRANCE_NUMBER]: { fee: 50_000, perMinute: 600_000, initial: 30, step: 6 },
} as const;
const FEATURES: Record<string, number> = { recording: 20_000, conference: 50_000 };

function price(to: keyof typeof DECK, seconds: number, features: string[] = []): number {
  if (seconds === 0) return 0;
  const r = DECK[to];
  const billed =
    seconds <= r.initial ? r.initial : r.initial + Math.ceil((seconds - r.initial) / r.step) * r.step;
  let total60 = r.fee * 60 + r.perMinute * billed;
  for (const f of features) total60 += FEATURES[f]! * Math.ceil(seconds / 60) * 60;
  return Math.floor((total60 + 30) / 60);
}

interface Balance {
  balance_micros: number;
  held_micros: number;
  available_micros: number;
}

interface SessionView {
  call_id: string;
  state: string;
  granted_seconds: number;
  held_micros: number;
  expires_at: string;
}

/** A ledger schema, topics and consumer group of the test's own, with the test deck imported. */
interface SessionRig {
  rig: BalanceRig;
  topics: Topics;
  producer: KafkaProducer;
  switchKey: string;
  rater(env?: Record<string, string>): Promise<RaterProcess>;
  account(micros: number): Promise<Client>;
  /** Sends CDRs the way a switch does: keyed by account, JSON. */
  sendCdr(
    account: string,
    cdrId: string,
    to: keyof typeof DECK,
    seconds: number,
    features?: string[],
  ): Promise<void>;
  /** Waits until the ledger holds the CDR's debit; its amount. */
  debited(account: string, cdrId: string): Promise<number>;
}

/** The account as a switch and as its admin see it, through one rater's HTTP API. */
interface Client {
  account: string;
  via(rater: RaterProcess): Api;
}

interface Api {
  start(callId: string, to: keyof typeof DECK, features?: string[]): Promise<Grant>;
  renew(callId: string, used: number): Promise<Grant>;
  end(callId: string, duration: number): Promise<SessionView>;
  balance(): Promise<Balance>;
  calls(): Promise<SessionView[]>;
}

async function sessionRig(scope: Scope): Promise<SessionRig> {
  const rig = await balanceRig(scope);
  await importTestDecks(rig.pool);
  const { topicPrefix, topics, producer } = await testTopics(scope, "calls", 2);
  const group = uniqueName("g");
  const switchKey = (await createApiKey(rig.pool, "switch", null)).api_key;

  const request = async <T>(
    rater: RaterProcess,
    key: string,
    method: string,
    path: string,
    body?: object,
  ) => {
    const res = await fetch(`http://127.0.0.1:${rater.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body && { "content-type": "application/json" }) },
      body: body && JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };

  return {
    rig,
    topics,
    producer,
    switchKey,
    async rater(env = {}) {
      const r = startRater({ databaseUrl: rig.databaseUrl, topicPrefix, group, env });
      scope.defer(() => r.stop("SIGKILL"));
      await waitReady(r);
      return r;
    },
    async account(micros) {
      const account = await rig.newAccount();
      await applyEntries(rig.deps, [credit(account, uniqueName("fund"), BigInt(micros))]);
      const adminKey = (await createApiKey(rig.pool, "admin", account)).api_key;
      const base = `/v1/accounts/${account}`;
      const call = (id: string) => `${base}/calls/${encodeURIComponent(id)}`;
      return {
        account,
        via: (rater) => ({
          start: (callId, to, features) =>
            request<Grant>(rater, switchKey, "POST", `${base}/calls`, {
              call_id: callId,
              direction: "outbound",
              to,
              ...(features && { features }),
            }),
          renew: (callId, used) =>
            request<Grant>(rater, switchKey, "POST", `${call(callId)}/renew`, { used_seconds: used }),
          end: (callId, duration) =>
            request<SessionView>(rater, switchKey, "POST", `${call(callId)}/end`, {
              duration_seconds: duration,
            }),
          balance: () => request<Balance>(rater, adminKey, "GET", `${base}/balance`),
          // In call_id order: Redis lists them in its hash's order, which a restore may change.
          calls: async () =>
            (await request<{ calls: SessionView[] }>(rater, adminKey, "GET", `${base}/calls`)).calls.sort(
              (x, y) => (x.call_id < y.call_id ? -1 : 1),
            ),
        }),
      };
    },
    async sendCdr(account, cdrId, to, seconds, features = []) {
      const cdr = {
        cdr_id: cdrId,
        account_id: account,
        direction: "outbound",
        from: "+14155550100",
        to,
        answered_at: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
        duration_seconds: seconds,
        ...(features.length > 0 && { surcharges: features.map((feature) => ({ feature, seconds })) }),
      };
      await producer.send(topics.cdrs, [{ key: account, value: JSON.stringify(cdr) }]);
    },
    async debited(account, cdrId) {
      let amount: number | undefined;
      await eventually(
        async () => {
          const { rows } = await rig.pool.query<{ amount_micros: string }>(
            "select amount_micros from ledger_entries where account_id = $1 and idempotency_key = $2",
            [account, `cdr:${cdrId}`],
          );
          amount = rows[0] && Number(rows[0].amount_micros);
          return amount !== undefined;
        },
        60_000,
        `the debit of ${cdrId}`,
      );
      return -amount!;
    },
  };
}

async function sessionRow(rig: BalanceRig, account: string, callId: string) {
  const { rows } = await rig.pool.query<{ state: string; held_micros: string }>(
    "select state, held_micros from call_sessions where account_id = $1 and call_id = $2",
    [account, callId],
  );
  return rows[0];
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe("two raters on one Redis and Postgres", () => {
  const scope = new Scope();
  let s: SessionRig;
  let raters: RaterProcess[];
  beforeAll(async () => {
    s = await sessionRig(scope);
    raters = [await s.rater(), await s.rater()];
  });
  afterAll(() => scope.cleanup());

  it("50 concurrent starts on 12.00, spread over both: the holds never exceed 10.00, each grant exact, the rest insufficient_credit", async () => {
    const client = await s.account(12 * M);
    const [a, b] = raters.map((r) => client.via(r)) as [Api, Api];
    // Every start is the same call to France, so whatever the order the grants are these:
    // each the longest duration up to 300 s whose price fits what the earlier ones left.
    const expected: number[] = [];
    for (let available = 10 * M; price(FRANCE_NUMBER, 1) <= available;) {
      let d = 300;
      while (price(FRANCE_NUMBER, d) > available) d--;
      expected.push(d);
      available -= price(FRANCE_NUMBER, d);
    }
    expect(expected).toEqual([300, 300, 300, 78]); // 3.05 per slice, then 0.85 holds 78 s (0.83)

    // Meanwhile both raters are asked what is held, again and again.
    let starting = true;
    const seen: Balance[] = [];
    const watch = Promise.all(
      [a, b].map(async (api) => {
        while (starting) seen.push(await api.balance());
      }),
    );
    const grants = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).start(`par-${i}`, FRANCE_NUMBER)),
    );
    starting = false;
    await watch;

    const allowed = grants.filter((g) => g.allowed);
    expect(allowed.map((g) => g.granted_seconds).sort((x, y) => y - x)).toEqual(expected);
    for (const g of allowed) expect(g.held_micros).toBe(price(FRANCE_NUMBER, g.granted_seconds));
    for (const g of grants.filter((x) => !x.allowed)) {
      expect(g).toMatchObject({ reason: "insufficient_credit", granted_seconds: 0, held_micros: 0 });
    }
    const held = sum(allowed.map((g) => g.held_micros));
    expect(held).toBe(9_980_000);
    expect(seen.length).toBeGreaterThan(0);
    for (const o of seen) {
      expect(o.held_micros).toBeLessThanOrEqual(10 * M);
      expect(o.available_micros).toBe(10 * M - o.held_micros);
    }
    for (const api of [a, b]) {
      expect(await api.balance()).toEqual(
        expect.objectContaining({ balance_micros: 12 * M, held_micros: held, available_micros: 20_000 }),
      );
      expect((await api.calls()).map((c) => c.call_id).sort()).toEqual(allowed.map((g) => g.call_id).sort());
    }
  });

  it("calls cut at their granted time and settled by their CDRs through Kafka never take the balance below 2.00", async () => {
    const client = await s.account(6 * M); // 4.00 to spend
    const calls = [
      { id: "cut-uk", to: UK_NUMBER, features: [] as string[] },
      { id: "cut-uk-rec", to: UK_NUMBER, features: ["recording"] },
      { id: "cut-fr", to: FRANCE_NUMBER, features: [] },
      { id: "cut-fr-conf", to: FRANCE_NUMBER, features: ["conference"] },
      { id: "cut-uk-2", to: UK_NUMBER, features: ["recording", "conference"] },
      { id: "cut-fr-2", to: FRANCE_NUMBER, features: [] },
    ] as const;
    // Each call, on either rater, renews until it is told final, is cut at its grant,
    // ends, and its CDR reports exactly the granted duration.
    const durations = await Promise.all(
      calls.map(async (c, i) => {
        const api = client.via(raters[i % 2]!);
        let grant = await api.start(c.id, c.to, [...c.features]);
        if (!grant.allowed) return { ...c, seconds: 0 };
        while (!grant.final) grant = await api.renew(c.id, grant.granted_seconds - 5);
        expect(grant.held_micros).toBe(price(c.to, grant.granted_seconds, [...c.features]));
        await api.end(c.id, grant.granted_seconds);
        await s.sendCdr(client.account, c.id, c.to, grant.granted_seconds, [...c.features]);
        return { ...c, seconds: grant.granted_seconds };
      }),
    );
    const made = durations.filter((d) => d.seconds > 0);
    expect(made.length).toBeGreaterThan(0);
    let spent = 0;
    for (const d of made) {
      const charged = await s.debited(client.account, d.id);
      expect(charged).toBe(price(d.to, d.seconds, [...d.features]));
      spent += charged;
    }
    // Everything that fitted was granted: less than one first increment of the cheapest call is left.
    expect(spent).toBeLessThanOrEqual(4 * M);
    expect(4 * M - spent).toBeLessThan(price(UK_NUMBER, 1));
    const { rows } = await s.rig.pool.query<{ after: string }>(
      "select balance_after_micros as after from ledger_entries where account_id = $1 order by seq",
      [client.account],
    );
    for (const r of rows) expect(Number(r.after)).toBeGreaterThanOrEqual(2 * M);
    expect(await client.via(raters[0]!).balance()).toEqual(
      expect.objectContaining({ balance_micros: 6 * M - spent, held_micros: 0 }),
    );

    // A CDR longer than granted is still charged in full (SPEC §1.5): 1,000 s of a 360-s grant.
    const over = await s.account(2_600_000);
    const api = over.via(raters[1]!);
    let grant = await api.start("over", UK_NUMBER);
    while (!grant.final) grant = await api.renew("over", grant.granted_seconds - 5);
    expect(grant).toMatchObject({ granted_seconds: 360, held_micros: 600_000 });
    await api.end("over", 1_000);
    await s.sendCdr(over.account, "over", UK_NUMBER, 1_000);
    expect(await s.debited(over.account, "over")).toBe(price(UK_NUMBER, 1_000)); // 17 minutes: 1.70
    await eventually(async () => (await api.balance()).held_micros === 0, 10_000, "the hold released");
    expect(await api.balance()).toEqual(
      expect.objectContaining({ balance_micros: 900_000, held_micros: 0, available_micros: -1_100_000 }),
    );
    expect(await sessionRow(s.rig, over.account, "over")).toEqual({ state: "settled", held_micros: "0" });
  });

  it("end, then the CDR: the hold is released once, in the step of the debit, never counted twice between", async () => {
    const client = await s.account(10 * M);
    const [a, b] = raters.map((r) => client.via(r)) as [Api, Api];
    await a.start("w", UK_NUMBER);
    const other = await b.start("w-other", FRANCE_NUMBER); // holds on through everything below
    expect(other.held_micros).toBe(price(FRANCE_NUMBER, 300));
    const ended = await b.end("w", 125);
    expect(ended).toMatchObject({ state: "ended", held_micros: price(UK_NUMBER, 125) });
    const charge = price(UK_NUMBER, 125); // 0.30: the CDR reports what the end did
    const available = 10 * M - 2 * M - charge - other.held_micros;
    const before = {
      balance_micros: 10 * M,
      held_micros: charge + other.held_micros,
      available_micros: available,
    };
    const after = {
      balance_micros: 10 * M - charge,
      held_micros: other.held_micros,
      available_micros: available,
    };
    expect(await a.balance()).toEqual(expect.objectContaining(before));

    const settledBefore = sum(
      await Promise.all(raters.map((r) => metric(r, 'ratestream_call_cdrs_total{session="settled"}'))),
    );
    await s.sendCdr(client.account, "w", UK_NUMBER, 125);
    // Read from both raters while the CDR is on its way: the hold and the debit are one step.
    const seen: Balance[] = [];
    await eventually(
      async () => {
        const now = await Promise.all([a.balance(), b.balance()]);
        seen.push(...now);
        return now.every((o) => o.balance_micros === after.balance_micros);
      },
      60_000,
      "the CDR's debit",
    );
    for (const o of seen) {
      expect([before, after]).toContainEqual({
        balance_micros: o.balance_micros,
        held_micros: o.held_micros,
        available_micros: o.available_micros,
      });
    }
    expect(await s.debited(client.account, "w")).toBe(charge);
    expect((await a.calls()).map((c) => c.call_id)).toEqual(["w-other"]);
    expect(await sessionRow(s.rig, client.account, "w")).toEqual({ state: "settled", held_micros: "0" });
    expect(await sessionRow(s.rig, client.account, "w-other")).toMatchObject({ state: "active" });

    // The same CDR again (a switch resending it): a duplicate, nothing released twice.
    const duplicates = () => Promise.all(raters.map((r) => metric(r, "ratestream_cdrs_duplicate_total")));
    const duplicatesBefore = sum(await duplicates());
    await s.sendCdr(client.account, "w", UK_NUMBER, 125);
    await eventually(async () => sum(await duplicates()) > duplicatesBefore, 60_000, "the duplicate");
    expect(await b.balance()).toEqual(expect.objectContaining(after));
    const settledAfter = sum(
      await Promise.all(raters.map((r) => metric(r, 'ratestream_call_cdrs_total{session="settled"}'))),
    );
    expect(settledAfter - settledBefore).toBe(1);
  });
});

describe("expiry, through the rater", () => {
  const scope = new Scope();
  afterAll(() => scope.cleanup());

  it("an abandoned session and an ended one whose CDR never comes release their holds; a late CDR is charged normally and settles nothing", async () => {
    const s = await sessionRig(scope);
    const rater = await s.rater({
      CALL_QUOTA_SECONDS: "2",
      CALL_GRACE_SECONDS: "2",
      CALL_CDR_WAIT_SECONDS: "2",
    });
    const client = await s.account(3 * M);
    const api = client.via(rater);
    expect(await api.start("abandoned", UK_NUMBER)).toMatchObject({
      granted_seconds: 2,
      held_micros: 100_000,
    });
    await api.start("no-cdr", UK_NUMBER, ["recording"]);
    expect(await api.end("no-cdr", 1)).toMatchObject({ state: "ended", held_micros: 120_000 });
    expect((await api.balance()).held_micros).toBe(220_000);
    await eventually(async () => (await api.balance()).held_micros === 0, 30_000, "both holds released");
    expect(await api.balance()).toEqual(
      expect.objectContaining({ balance_micros: 3 * M, held_micros: 0, available_micros: M }),
    );

    // The abandoned call's CDR arrives after its session expired: charged in full, as always.
    await s.sendCdr(client.account, "abandoned", UK_NUMBER, 61);
    expect(await s.debited(client.account, "abandoned")).toBe(price(UK_NUMBER, 61));
    expect(await api.balance()).toEqual(
      expect.objectContaining({ balance_micros: 2_800_000, held_micros: 0 }),
    );
    expect(await metric(rater, 'ratestream_call_cdrs_total{session="none"}')).toBe(1);
    expect(await metric(rater, 'ratestream_call_cdrs_total{session="settled"}')).toBe(0);

    // The rater's own sweep marks both in the ledger, each under the state it expired in.
    await eventually(
      async () =>
        (await metric(rater, 'ratestream_call_sessions_expired_total{state="active"}')) === 1 &&
        (await metric(rater, 'ratestream_call_sessions_expired_total{state="ended"}')) === 1,
      60_000,
      "the sweep",
    );
    expect(await sessionRow(s.rig, client.account, "abandoned")).toEqual({
      state: "expired",
      held_micros: "0",
    });
    expect(await sessionRow(s.rig, client.account, "no-cdr")).toEqual({ state: "expired", held_micros: "0" });
    expect(await metric(rater, "ratestream_call_sessions_open")).toBe(0);
  });
});

describe("a rater SIGKILLed with sessions open, and Redis losing the account", () => {
  const scope = new Scope();
  afterAll(() => scope.cleanup());

  it("the holds come back from the ledger, nothing is released twice, the CDRs settle them, reconcile is clean", async () => {
    const s = await sessionRig(scope);
    const first = await s.rater();
    const client = await s.account(20 * M);
    const api = client.via(first);
    const holds: Record<string, number> = {};
    holds.uk = (await api.start("k-uk", UK_NUMBER)).held_micros;
    await api.start("k-fr", FRANCE_NUMBER);
    holds.fr = (await api.renew("k-fr", 200)).held_micros;
    await api.start("k-rec", UK_NUMBER, ["recording"]);
    holds.rec = (await api.end("k-rec", 61)).held_micros;
    holds.conf = (await api.start("k-conf", UK_NUMBER, ["conference"])).held_micros;
    expect(holds).toEqual({
      uk: price(UK_NUMBER, 300),
      fr: price(FRANCE_NUMBER, 600),
      rec: price(UK_NUMBER, 61, ["recording"]),
      conf: price(UK_NUMBER, 300, ["conference"]),
    });
    const sessions = await api.calls();
    expect(await api.balance()).toEqual(
      expect.objectContaining({ balance_micros: 20 * M, held_micros: sum(Object.values(holds)) }),
    );

    expect(await first.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
    await s.rig.wipeRedis();
    expect(await s.rig.redisState(client.account)).toEqual({});
    const second = await s.rater();
    const api2 = client.via(second);

    // The first to touch the account after the wipe is the ended call's CDR: the rater
    // restores it from the ledger, sessions and all, and settles that one.
    await s.sendCdr(client.account, "k-rec", UK_NUMBER, 61, ["recording"]);
    const recCharge = await s.debited(client.account, "k-rec");
    expect(recCharge).toBe(holds.rec);
    expect(await api2.balance()).toEqual(
      expect.objectContaining({
        balance_micros: 20 * M - recCharge,
        held_micros: holds.uk + holds.fr + holds.conf,
      }),
    );
    expect(await api2.calls()).toEqual(sessions.filter((c) => c.call_id !== "k-rec"));
    // They carry on where they were: a renew grows the grant from 300 s.
    const renewed = await api2.renew("k-uk", 290);
    expect(renewed).toMatchObject({ granted_seconds: 600, held_micros: price(UK_NUMBER, 600) });
    holds.uk = renewed.held_micros;

    // The rest end and their CDRs come (k-uk twice: the second is a duplicate).
    const ends = {
      "k-uk": [UK_NUMBER, 500, []],
      "k-fr": [FRANCE_NUMBER, 333, []],
      "k-conf": [UK_NUMBER, 200, ["conference"]],
    } as const;
    let charged = recCharge;
    for (const [id, [to, seconds, features]] of Object.entries(ends)) {
      await api2.end(id, seconds);
      await s.sendCdr(client.account, id, to, seconds, [...features]);
      const amount = await s.debited(client.account, id);
      expect(amount).toBe(price(to, seconds, [...features]));
      charged += amount;
    }
    await s.sendCdr(client.account, "k-uk", UK_NUMBER, 500);
    await eventually(
      async () => (await metric(second, "ratestream_cdrs_duplicate_total")) === 1,
      60_000,
      "the duplicate",
    );
    expect(await api2.balance()).toEqual(
      expect.objectContaining({
        balance_micros: 20 * M - charged,
        held_micros: 0,
        available_micros: 18 * M - charged,
      }),
    );
    expect(await api2.calls()).toEqual([]);
    expect(await metric(second, 'ratestream_call_cdrs_total{session="settled"}')).toBe(4);
    const { rows } = await s.rig.pool.query<{ state: string; n: string }>(
      "select state, count(*) as n from call_sessions where account_id = $1 group by state",
      [client.account],
    );
    expect(rows).toEqual([{ state: "settled", n: "4" }]);
    expect(await s.rig.ledgerBalance(client.account)).toBe(BigInt(20 * M - charged));

    const reconcile = await ratestream(["reconcile"], { env: { DATABASE_URL: s.rig.databaseUrl } });
    expect(JSON.parse(reconcile.stdout)).toMatchObject({ drifted: 0 });
    expect(reconcile.code).toBe(0);
  });
});
