/**
 * Issue 13's money defects, each a regression test named after it, on the real Kafka,
 * Redis and Postgres: SPEC §5 "No record stops a partition", "Every effect once, in
 * order", "No money stuck half way", and §2's exact range.
 */
import { execFileSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { OutboxPublisher } from "../../src/pipeline/outbox.js";
import { createPool } from "../../src/adapters/postgres/pool.js";
import { accountKeys } from "../../src/adapters/redis/keys.js";
import { connectRedis } from "../../src/adapters/redis/connection.js";
import { checkAccount } from "../../src/balances/reconcile.js";
import { sweepStranded } from "../../src/balances/stranded.js";
import type { Ledger } from "../../src/balances/ports.js";
import { utcMonth, type EntryRequest } from "../../src/balances/types.js";
import { applyEntries, type WritePathDeps } from "../../src/balances/write-path.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { Registry } from "prom-client";
import { balanceRig, call, credit, type BalanceRig } from "../support/balances.js";
import { eventually, metric, startRater, waitReady, type RaterProcess } from "../support/rater.js";
import { config, Scope, testLogger, uniqueName } from "../support/services.js";
import { streamRig, type StreamRig } from "../support/stream.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

const USD = 1_000_000n;
const MAX_EXACT = 2n ** 53n - 1n;

function adjustment(accountId: string, reference: string, micros: bigint): EntryRequest {
  return {
    accountId,
    key: `adjust:${reference}`,
    kind: "adjustment",
    amountMicros: micros,
    cause: reference,
    reference,
  };
}

async function offlineAccount(rig: BalanceRig, opening: bigint): Promise<string> {
  const a = await rig.newAccount();
  await rig.pool.query(
    `update accounts set recharge_mode = 'offline', offline_reload_micros = 10000000,
       offline_threshold_micros = 3000000, offline_monthly_max_micros = 1000000000 where account_id = $1`,
    [a],
  );
  await applyEntries(rig.deps, [credit(a, "opening", opening)]);
  return a;
}

async function ledgerRows(rig: BalanceRig, a: string) {
  const { rows } = await rig.pool.query<{ idempotency_key: string; kind: string; amount_micros: string }>(
    "select idempotency_key, kind, amount_micros from ledger_entries where account_id = $1 order by seq",
    [a],
  );
  return rows;
}

async function countOf(rig: BalanceRig, table: string, a: string): Promise<number> {
  const { rows } = await rig.pool.query<{ n: string }>(
    `select count(*) as n from ${table} where account_id = $1`,
    [a],
  );
  return Number(rows[0]!.n);
}

/** A ledger whose recorded() lets a twin writer record the same requests first (a zombie consumer). */
function ledgerWithTwin(rig: BalanceRig): Ledger {
  const real = rig.deps.ledger;
  let raced = false;
  return Object.assign(Object.create(real) as Ledger, {
    async recorded(keys: readonly { accountId: string; key: string }[]) {
      const found = await real.recorded(keys);
      if (!raced) {
        raced = true;
        // The twin's batch runs whole between our ledger check and our Redis step.
        await applyEntries(
          rig.deps,
          keys.map((k) => twinRequests.get(k.key)!),
        );
      }
      return found;
    },
  });
}
const twinRequests = new Map<string, EntryRequest>();

/** A ledger that fails record() the first `times` times, as a Postgres outage would. */
function failingLedger(real: Ledger, times = 1): Ledger {
  let left = times;
  return Object.assign(Object.create(real) as Ledger, {
    async record(...args: Parameters<Ledger["record"]>) {
      if (left-- > 0) throw Object.assign(new Error("Connection terminated unexpectedly"), {});
      return real.record(...args);
    },
  });
}

function rater(s: StreamRig, env: Record<string, string> = {}, fault?: string): RaterProcess {
  const r = startRater({
    databaseUrl: s.rig.databaseUrl,
    topicPrefix: s.topicPrefix,
    group: s.group,
    env,
    fault,
  });
  scope.defer(() => r.stop("SIGKILL"));
  return r;
}

function deadLetters(s: StreamRig): { code: string; message: string; value: string }[] {
  const out = execFileSync(
    "kcat",
    ["-C", "-b", config.kafkaBrokers.join(","), "-t", s.topics.deadLetters, "-e", "-q", "-f", "%h\t%s\n"],
    { encoding: "utf8" },
  ).trim();
  if (out === "") return [];
  return out.split("\n").map((line) => {
    const [headers, value] = line.split("\t") as [string, string];
    return {
      code: /x-error-code=([a-z_]+)/.exec(headers)?.[1] ?? "",
      message: /x-error-message=(.*?),x-source-topic/.exec(headers)?.[1] ?? "",
      value,
    };
  });
}

describe("issue 13: no record stops a partition (defect 1)", () => {
  it("one CDR cannot stop a partition: a surcharge of 2^53−1 seconds is invalid_cdr and the records after it are rated", async () => {
    const s = await streamRig(scope, 2);
    const good = s.cdrs(40, 31);
    const [account] = s.accounts;
    const huge = { ...good[0]!, cdr_id: "huge-surcharge", account_id: account!, duration_seconds: 60 };
    const r = rater(s);
    await waitReady(r);
    await s.sendJson(good.slice(0, 20));
    await s.producer.send(s.topics.cdrs, [
      {
        key: account!,
        value: JSON.stringify({
          ...huge,
          surcharges: [{ feature: "recording", seconds: Number(MAX_EXACT) }],
        }),
      },
    ]);
    await s.sendJson(good.slice(20));
    await eventually(() => s.caughtUp(), 60_000, "the rater to commit every record");
    expect(await s.callEntries()).toBe(s.acceptedCount(good));
    const dlq = deadLetters(s);
    expect(dlq.map((d) => d.code)).toEqual(["invalid_cdr"]);
    expect(dlq[0]!.message).toContain("surcharges[0].seconds");
    for (const a of s.accounts) {
      expect(await s.rig.ledgerBalance(a)).toBe(s.expectedBalances(good).get(a));
      expect((await checkAccount(s.rig.deps.store, s.rig.deps.ledger, a)).status).not.toBe("drift");
    }
  });

  it("a record the ledger refuses for its content is dead-lettered, found inside its batch; the rest are rated and Redis keeps none of it", async () => {
    const s = await streamRig(scope, 3);
    // A constraint of this test's schema stands for anything Postgres refuses for content.
    await s.rig.pool.query(
      "alter table ledger_entries add constraint refuses_poison check (cdr_id is null or cdr_id not like 'poison%')",
    );
    const good = s.cdrs(300, 32);
    const poisoned = good.slice(100, 103).map((c, i) => ({ ...c, cdr_id: `poison-${i}` }));
    const r = rater(s);
    await waitReady(r);
    // One send: the poison records share batches with good ones.
    await s.sendJson([...good.slice(0, 100), ...poisoned, ...good.slice(103)]);
    await eventually(() => s.caughtUp(), 60_000, `the rater to commit every record; log:\n${r.output()}`);
    const rated = [...good.slice(0, 100), ...good.slice(103)];
    expect(await s.callEntries()).toBe(s.acceptedCount(rated));
    const dlq = deadLetters(s);
    expect(dlq.map((d) => d.code)).toEqual(["invalid_cdr", "invalid_cdr", "invalid_cdr"]);
    expect(dlq.map((d) => (JSON.parse(d.value) as { cdr_id: string }).cdr_id).sort()).toEqual([
      "poison-0",
      "poison-1",
      "poison-2",
    ]);
    expect(dlq[0]!.message).toContain("refuses_poison");
    for (const a of s.accounts) {
      expect(await s.rig.ledgerBalance(a)).toBe(s.expectedBalances(rated).get(a));
      expect((await checkAccount(s.rig.deps.store, s.rig.deps.ledger, a)).status).not.toBe("drift");
    }
    expect(await metric(r, 'ratestream_cdrs_rejected_total{code="invalid_cdr"}')).toBe(3);
  });

  it("a bug (a TypeError) is not retried silently: logged, counted and alerted on", async () => {
    const s = await streamRig(scope, 2);
    const cdrs = s.cdrs(30, 33);
    const r = rater(s, {}, "after_redis:1:bug");
    await waitReady(r);
    await s.sendJson(cdrs);
    await eventually(() => s.caughtUp(), 60_000, "the rater to commit every record");
    expect(await metric(r, 'ratestream_bugs_total{where="rater"}')).toBe(1);
    expect(await metric(r, "ratestream_dependency_errors_total{")).toBe(0);
    expect(r.output()).toMatch(/"level":(50|60).*bug/);
    for (const a of s.accounts) expect(await s.rig.ledgerBalance(a)).toBe(s.expectedBalances(cdrs).get(a));
  });

  it("a balance change past ±(2^53−1) micros is refused, never rounded", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await applyEntries(rig.deps, [credit(a, "big", MAX_EXACT - 5n * USD)]);
    const outcomes = await applyEntries(rig.deps, [
      credit(a, "past", 6n * USD),
      credit(a, "beyond", MAX_EXACT + 1n),
      call(a, "fits", USD),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["refused", "refused", "applied"]);
    expect(await rig.balance(a)).toBe(MAX_EXACT - 6n * USD);
    expect(await rig.ledgerBalance(a)).toBe(MAX_EXACT - 6n * USD);
    expect((await checkAccount(rig.deps.store, rig.deps.ledger, a)).status).toBe("ok");
  });
});

describe("issue 13: every effect once, in order (defects 2, 3, 4, 8)", () => {
  it("a doubled request's side effects are not recorded: no event, reload or invoice for a twin's entry", async () => {
    const rig = await balanceRig(scope);
    // 8.00 → a 2.50 call → 5.50. Applied twice in Redis it would be 3.00: low_balance and
    // an offline reload (threshold 3.00) that nobody owes.
    const a = await offlineAccount(rig, 8n * USD);
    const request = call(a, "c-twin", 2_500_000n);
    twinRequests.set(request.key, request);
    const deps: WritePathDeps = { ...rig.deps, ledger: ledgerWithTwin(rig) };
    const [outcome] = await applyEntries(deps, [request]);
    expect(outcome!.status).toBe("duplicate");
    expect((await ledgerRows(rig, a)).map((r) => [r.kind, r.amount_micros])).toEqual([
      ["credit", "8000000"],
      ["call", "-2500000"],
    ]);
    expect((await rig.events(a)).map((e) => e.type)).toEqual(["unblocked"]);
    expect(await countOf(rig, "invoices", a)).toBe(0);
    // Redis agrees with the ledger at once (or restores on first use), and stays so.
    await applyEntries(rig.deps, [call(a, "c-next", 1n)]);
    expect(await rig.balance(a)).toBe(5_500_000n - 1n);
    expect((await checkAccount(rig.deps.store, rig.deps.ledger, a)).status).toBe("ok");
  });

  it("an entry another writer applies on top of a twin's doubled entries is not recorded: it is applied again on the ledger's state", async () => {
    const rig = await balanceRig(scope);
    // 8.00 → call X of 2.50 → 5.50, recorded and confirmed (the new owner of a partition).
    const a = await offlineAccount(rig, 8n * USD);
    const x = call(a, "c-x", 2_500_000n);
    await applyEntries(rig.deps, [x]);
    // The zombie's Redis step applies X again: 3.00 in Redis (low_balance, and an offline
    // reload at the 3.00 threshold), which its own ledger step will find raced and undo.
    await rig.deps.store.apply(new Map([[a, [x]]]), utcMonth(new Date()));
    // Meanwhile the owner debits 1.00 on top of that doubled state, before the undo.
    const [outcome] = await applyEntries(rig.deps, [call(a, "c-y", USD)]);
    expect(outcome!.status).toBe("applied");
    // Recorded as if X had been applied once: seq 3, 4.50 after, no reload nor invoice;
    // low_balance once, for Y, which crosses 5.00 from 5.50.
    const { rows } = await rig.pool.query<{ seq: string; kind: string; balance_after_micros: string }>(
      "select seq, kind, balance_after_micros from ledger_entries where account_id = $1 order by seq",
      [a],
    );
    expect(rows.map((r) => [r.seq, r.kind, r.balance_after_micros])).toEqual([
      ["1", "credit", "8000000"],
      ["2", "call", "5500000"],
      ["3", "call", "4500000"],
    ]);
    expect(await countOf(rig, "invoices", a)).toBe(0);
    expect((await rig.events(a)).map((e) => [e.type, e.cause])).toEqual([
      ["unblocked", "opening"],
      ["low_balance", "c-y"],
    ]);
    expect(await rig.balance(a)).toBe(4_500_000n);
    expect((await checkAccount(rig.deps.store, rig.deps.ledger, a)).status).toBe("ok");
  });

  it("keys built from the bare cause collide: a call X and an adjustment with reference X are two reloads and two low_balance events", async () => {
    const rig = await balanceRig(scope);
    const a = await offlineAccount(rig, 6n * USD);
    // Call X: 6.00 → 2.90: low_balance, reload of 10.00 → 12.90.
    await applyEntries(rig.deps, [call(a, "X", 3_100_000n)]);
    // Adjustment referenced "X": 12.90 → 2.90: low_balance again, a second reload.
    await applyEntries(rig.deps, [adjustment(a, "X", -10_000_000n)]);
    const rows = await ledgerRows(rig, a);
    expect(rows.filter((r) => r.kind === "offline_reload")).toHaveLength(2);
    expect(await countOf(rig, "invoices", a)).toBe(2);
    const types = (await rig.events(a)).map((e) => e.type);
    expect(types.filter((t) => t === "low_balance")).toHaveLength(2);
    expect(types.filter((t) => t === "offline_reloaded")).toHaveLength(2);
    expect(await rig.balance(a)).toBe(12_900_000n);
    expect((await checkAccount(rig.deps.store, rig.deps.ledger, a)).status).toBe("ok");
  });

  it("events of one transaction are published in ledger order: blocked, unblocked, offline_reloaded", async () => {
    const rig = await balanceRig(scope);
    const accounts: string[] = [];
    for (let i = 0; i < 12; i++) {
      const a = await offlineAccount(rig, 3_500_000n);
      accounts.push(a);
      // 3.50 → 1.00 (blocked), reload 10.00 → 11.00 (unblocked, offline_reloaded): one record().
      await applyEntries(rig.deps, [call(a, "c-1", 2_500_000n)]);
    }
    const topic = uniqueName("t_events");
    const admin = await scope.admin();
    await admin.createTopics([{ topic, partitions: 1 }]);
    scope.defer(() => admin.deleteTopics([topic]));
    const producer = await scope.kafka().producer();
    scope.defer(() => producer.disconnect());
    const outbox = new OutboxPublisher(rig.pool, producer, topic, testLogger, createMetrics(new Registry()));
    await outbox.sweep(-60_000);
    const published = execFileSync(
      "kcat",
      ["-C", "-b", config.kafkaBrokers.join(","), "-t", topic, "-e", "-q", "-f", "%s\n"],
      { encoding: "utf8" },
    )
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { account_id: string; type: string });
    for (const a of accounts) {
      expect(published.filter((e) => e.account_id === a).map((e) => e.type)).toEqual([
        "unblocked",
        "blocked",
        "unblocked",
        "offline_reloaded",
      ]);
    }
  });

  it("a redelivered CDR after a deck change gets one rating: ledger row and Redis agree", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await applyEntries(rig.deps, [credit(a, "opening", 10n * USD)]);
    // Rated by version 1 at 1.00; the process dies after Redis, before the ledger.
    const v1 = { ...call(a, "c-1", USD), rateVersion: 1, details: { prefix: "44" } };
    await expect(
      applyEntries({ ...rig.deps, ledger: failingLedger(rig.deps.ledger) }, [v1]),
    ).rejects.toThrow();
    // Redelivered after version 2 was imported: rated 2.00.
    const v2 = { ...call(a, "c-1", 2n * USD), rateVersion: 2, details: { prefix: "4420" } };
    const [outcome] = await applyEntries(rig.deps, [v2]);
    expect(outcome!.status).toBe("applied");
    const { rows } = await rig.pool.query<{ amount_micros: string; rate_version: string; details: unknown }>(
      "select amount_micros, rate_version, details from ledger_entries where account_id = $1 and cdr_id = 'c-1'",
      [a],
    );
    expect(rows).toEqual([{ amount_micros: "-2000000", rate_version: "2", details: { prefix: "4420" } }]);
    expect(await rig.balance(a)).toBe(8n * USD);
    expect((await checkAccount(rig.deps.store, rig.deps.ledger, a)).status).toBe("ok");
  });

  it("monthly limits do not depend on a writer's clock: a writer a month behind does not reset them", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await rig.pool.query(
      `update accounts set recharge_mode = 'offline', offline_reload_micros = 10000000,
         offline_threshold_micros = 3000000, offline_monthly_max_micros = 10000000 where account_id = $1`,
      [a],
    );
    await applyEntries(rig.deps, [credit(a, "opening", 4n * USD)], new Date("2026-06-01T00:00:01Z"));
    // June: 4.00 → 2.00, reloaded (the month's whole maximum).
    await applyEntries(rig.deps, [call(a, "c-1", 2n * USD)], new Date("2026-06-01T00:00:02Z"));
    // A writer whose clock still says May: 12.00 → 1.00. June's maximum is spent: no reload.
    await applyEntries(rig.deps, [call(a, "c-2", 11n * USD)], new Date("2026-05-31T23:59:59Z"));
    const reloads = (await ledgerRows(rig, a)).filter((r) => r.kind === "offline_reload");
    expect(reloads).toHaveLength(1);
    expect((await rig.events(a)).map((e) => e.type)).toContain("auto_recharge_capped");
  });
});

describe("issue 13: no money stuck half way (defect 7)", () => {
  it("balance changes stranded in Redis are undone on their own, and reconcile reports them while they wait", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await applyEntries(rig.deps, [credit(a, "opening", 10n * USD)]);
    // An API writer applies an adjustment in Redis, then loses Postgres and gives up.
    const stranded = adjustment(a, "lost", -3n * USD);
    await expect(
      applyEntries({ ...rig.deps, ledger: failingLedger(rig.deps.ledger, 3) }, [stranded]),
    ).rejects.toThrow();
    expect(await rig.balance(a)).toBe(7n * USD);

    const before = await checkAccount(rig.deps.store, rig.deps.ledger, a, { strandedAfterMs: 0 });
    expect(before.status).toBe("stranded");

    const swept = await sweepStranded(rig.deps, { olderThanMs: 0, accounts: [a] });
    expect(swept).toEqual({ finished: 0, undone: 1 });
    expect((await rig.deps.store.snapshot(a)) === "missing" || (await rig.balance(a)) === 10n * USD).toBe(
      true,
    );
    await applyEntries(rig.deps, [call(a, "c-1", USD)]);
    expect(await rig.balance(a)).toBe(9n * USD);
    expect((await checkAccount(rig.deps.store, rig.deps.ledger, a, { strandedAfterMs: 0 })).status).toBe(
      "ok",
    );
    const redis = connectRedis(config.redisUrl);
    scope.defer(() => redis.disconnect());
    expect(await redis.hlen(accountKeys(a).pending)).toBe(0);
  });

  it("a stranded change the ledger did record is finished: confirmed, not undone", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await applyEntries(rig.deps, [credit(a, "opening", 10n * USD)]);
    // Recorded in the ledger, then the process died before step 4 (confirm).
    const real = rig.deps.ledger;
    const noConfirm: WritePathDeps = {
      ...rig.deps,
      store: Object.assign(Object.create(rig.deps.store) as typeof rig.deps.store, {
        confirm: () => Promise.reject(new Error("Connection is closed.")),
      }),
    };
    await expect(
      applyEntries({ ...noConfirm, ledger: real }, [adjustment(a, "kept", -3n * USD)]),
    ).rejects.toThrow();
    const swept = await sweepStranded(rig.deps, { olderThanMs: 0, accounts: [a] });
    expect(swept).toEqual({ finished: 1, undone: 0 });
    expect(await rig.balance(a)).toBe(7n * USD);
    expect((await checkAccount(rig.deps.store, rig.deps.ledger, a, { strandedAfterMs: 0 })).status).toBe(
      "ok",
    );
  });
});

describe("issue 13: a stopped twin writer cannot stall the new owner", () => {
  it("a writer stopped inside its ledger transaction holds the account's rows only until Postgres ends its idle transaction", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await applyEntries(rig.deps, [credit(a, "opening", 8n * USD)]);
    // The zombie (another process, its own pool) inserted call c-z as seq 2 and was then
    // stopped (SIGSTOP, a VM freeze) before its commit: its transaction sits idle, holding
    // the unique index entries that the new owner's insert of the same call waits on.
    const zombiePool = createPool(config.databaseUrl, { schema: rig.schema, max: 1 });
    scope.defer(() => zombiePool.end());
    const zombie = await zombiePool.connect();
    await zombie.query("begin");
    await zombie.query(
      `insert into ledger_entries (account_id, seq, idempotency_key, kind, amount_micros, balance_after_micros,
         currency, cdr_id, created_at) values ($1, 2, 'cdr:c-z', 'call', -2500000, 5500000, 'USD', 'c-z', now())`,
      [a],
    );
    const started = Date.now();
    const owner = applyEntries(rig.deps, [call(a, "c-z", 2_500_000n)]);
    const outcome = await Promise.race([owner, sleep(30_000).then(() => "still waiting" as const)]);
    const waitedMs = Date.now() - started;
    // Release the zombie whatever happened, so a failure does not hang the clean-up.
    const zombieNext = await zombie.query("rollback").then(
      () => "alive",
      (err: Error) => err.message,
    );
    zombie.release(true);
    expect(outcome, "the owner's ledger step waited on the stopped zombie's transaction").not.toBe(
      "still waiting",
    );
    expect((outcome as Awaited<typeof owner>)[0]!.status).toBe("applied");
    expect(waitedMs).toBeLessThan(25_000);
    // Postgres ended the zombie's session: its transaction (and its row) are gone.
    expect(zombieNext).not.toBe("alive");
    expect((await ledgerRows(rig, a)).map((r) => [r.kind, r.amount_micros])).toEqual([
      ["credit", "8000000"],
      ["call", "-2500000"],
    ]);
    expect(await rig.balance(a)).toBe(5_500_000n);
    expect((await checkAccount(rig.deps.store, rig.deps.ledger, a)).status).toBe("ok");
  }, 60_000);
});
