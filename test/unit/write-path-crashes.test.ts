/**
 * The crash points of docs/order-of-effects.md, in milliseconds, on the in-memory ports
 * (whose behaviour test/support/port-conformance.ts holds to Redis and Postgres): a crash
 * at any point, then the redelivery, leaves exactly the ledger, events and balances of a
 * run without the crash. The same cases with real processes and servers stay in
 * balances-cli.test.ts, rater.test.ts and the chaos suite.
 */
import { describe, expect, it } from "vitest";
import { FAULT_POINTS, type FaultPoint, type Faults } from "../../src/balances/faults.js";
import { bookManualEntry } from "../../src/balances/manual-entry.js";
import { checkAccount } from "../../src/balances/reconcile.js";
import { copySettingsToStore } from "../../src/balances/settings.js";
import { sweepStranded } from "../../src/balances/stranded.js";
import type { EntryRequest } from "../../src/balances/types.js";
import { applyEntries, restoreFromLedger, type WritePathDeps } from "../../src/balances/write-path.js";
import { crossings, utcMonth } from "../../src/core/balance-rules.js";
import { RecordRefusedError } from "../../src/errors.js";
import { createLogger } from "../../src/observability/logger.js";
import { MemoryBalanceStore, MemoryLedger } from "../support/memory-ports.js";
import { entry } from "../support/port-conformance.js";

const logger = createLogger("silent", "test");

class Crash extends Error {}

/** Throws at the n-th time the point is reached: nothing after it runs, as after a SIGKILL. */
function crashAt(point: FaultPoint, nth = 1): Faults {
  let remaining = nth;
  return {
    reach(reached) {
      if (reached === point && --remaining === 0) throw new Crash(`crashed at ${point}`);
    },
  };
}

function world() {
  const store = new MemoryBalanceStore();
  const ledger = new MemoryLedger();
  ledger.addAccount("a");
  ledger.addAccount("b", {
    rechargeMode: "offline",
    offlineReloadMicros: 10_000_000n,
    offlineThresholdMicros: 3_000_000n,
  });
  ledger.addAccount("c", { autoRechargeEnabled: true, autoRechargeAmountMicros: 25_000_000n });
  const deps: WritePathDeps = { store, ledger, logger };
  return { store, ledger, deps };
}

const opening = ["a", "b", "c"].map((acct) => entry(acct, `credit:open-${acct}`, 8_000_000n));
/** Calls that cross 5.00 and 2.00, set off an offline reload on b and an auto-recharge request on c. */
const batch: EntryRequest[] = [
  entry("a", "cdr:1", -3_500_000n),
  entry("b", "cdr:2", -5_500_000n),
  entry("c", "cdr:3", -4_000_000n),
  entry("a", "cdr:4", -2_000_000n),
  entry("a", "cdr:4", -2_000_000n), // the switch sent it twice
  entry("nobody", "cdr:5", -1n),
];

/** What a world's ledger and store hold, comparable across worlds. */
function state(w: ReturnType<typeof world>) {
  return {
    entries: w.ledger.entries.map(
      (e) => `${e.accountId} ${e.seq} ${e.key} ${e.amountMicros} ${e.balanceAfterMicros}`,
    ),
    events: w.ledger.events.map((e) => `${e.eventId} ${e.type} ${e.balanceMicros} ${e.amountMicros}`),
    invoices: [...w.ledger.invoices.keys()],
  };
}

/** SPEC §5 on one world: Redis agrees with the ledger, nothing pending, every crossing once. */
async function expectSound(w: ReturnType<typeof world>) {
  for (const account of ["a", "b", "c"]) {
    expect((await checkAccount(w.store, w.ledger, account)).status).toMatch(/^(ok|not_loaded)$/);
    let balance = 0n;
    const expected: string[] = [];
    for (const e of w.ledger.entries.filter((x) => x.accountId === account)) {
      const before = balance;
      balance += e.amountMicros;
      expected.push(...crossings(before, balance));
    }
    const recorded = w.ledger.events
      .filter((e) => e.accountId === account && ["low_balance", "blocked", "unblocked"].includes(e.type))
      .map((e) => e.type);
    expect(recorded).toEqual(expected);
  }
  expect(await w.store.pendingAccounts()).toEqual([]);
}

async function reference() {
  const w = world();
  await applyEntries(w.deps, opening);
  await applyEntries(w.deps, batch);
  return w;
}

describe("the write path's crash points (in memory)", () => {
  // The write path's own points; after_publish and before_commit are the rater's.
  it.each(
    FAULT_POINTS.filter((p) => ["after_dedupe", "after_redis", "after_ledger", "after_confirm"].includes(p)),
  )("a crash at %s, then the redelivery: the state of no crash", async (point) => {
    const expected = state(await reference());
    for (const nth of [1, 2]) {
      const w = world();
      await applyEntries(w.deps, opening);
      const crashing = { ...w.deps, faults: crashAt(point, nth) };
      // nth 2: the crash hits the second round (a restore after a missing account
      // or a conflict), or not at all, and the batch completes.
      await applyEntries(crashing, batch).catch((err: unknown) => {
        if (!(err instanceof Crash)) throw err;
      });
      const outcomes = await applyEntries(w.deps, batch);
      expect(outcomes.map((o) => o.status)).toContain("unknown_account");
      expect(state(w)).toEqual(expected);
      await expectSound(w);
    }
  });

  it("Redis restarting empty after a crash at after_redis or after_ledger: still once", async () => {
    const expected = state(await reference());
    for (const point of ["after_redis", "after_ledger"] as const) {
      const w = world();
      await applyEntries(w.deps, opening);
      await expect(applyEntries({ ...w.deps, faults: crashAt(point) }, batch)).rejects.toBeInstanceOf(Crash);
      w.store.wipe();
      await applyEntries(w.deps, batch);
      expect(state(w)).toEqual(expected);
      await expectSound(w);
    }
  });

  it("a redelivery re-rated by a new deck after a crash at after_redis has the new rating only", async () => {
    const w = world();
    await applyEntries(w.deps, opening);
    await expect(
      applyEntries({ ...w.deps, faults: crashAt("after_redis") }, [entry("a", "cdr:9", -1_000_000n)]),
    ).rejects.toBeInstanceOf(Crash);
    const [outcome] = await applyEntries(w.deps, [entry("a", "cdr:9", -1_200_000n)]);
    expect(outcome).toMatchObject({ status: "applied" });
    expect(w.ledger.entries.filter((e) => e.key === "cdr:9").map((e) => e.amountMicros)).toEqual([
      -1_200_000n,
    ]);
    expect(await w.store.snapshot("a")).toMatchObject({ balanceMicros: 6_800_000n, seq: 2n });
    await expectSound(w);
  });

  it("a twin writer recording the same request first: ours becomes a duplicate, nothing doubled", async () => {
    const w = world();
    await applyEntries(w.deps, opening);
    const request = entry("a", "cdr:t", -4_000_000n);
    // Between our step 1 (not recorded yet) and our step 2, the twin (a zombie
    // consumer) applies, records and confirms the same request: our step 2 applies it a
    // second time in Redis, and our step 3 finds it raced.
    const ours = Object.create(w.ledger) as MemoryLedger;
    let twinDone = false;
    ours.recorded = async (keys) => {
      const found = await w.ledger.recorded(keys);
      if (!twinDone) {
        twinDone = true;
        expect((await applyEntries(w.deps, [request]))[0]).toMatchObject({ status: "applied" });
      }
      return found;
    };
    const records: string[] = [];
    ours.record = async (applied, at) => {
      const result = await w.ledger.record(applied, at);
      records.push(result.status);
      return result;
    };
    const outcomes = await applyEntries({ ...w.deps, ledger: ours }, [
      request,
      entry("a", "cdr:u", -1_000_000n),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["duplicate", "applied"]);
    // The race restores the account at once: the chain rule (and its wait) is not needed.
    expect(records).toEqual(["raced", "recorded"]);
    expect(w.ledger.balance("a")).toBe(3_000_000n);
    expect(w.ledger.entries.filter((e) => e.key === "cdr:t")).toHaveLength(1);
    // No event of the doubled state: one low_balance (8.00 → 4.00), no blocked.
    expect(w.ledger.events.filter((e) => e.accountId === "a").map((e) => e.type)).toEqual([
      "unblocked",
      "low_balance",
    ]);
    await expectSound(w);
  });

  it("a seq another writer took after the restore: restored again and retried", async () => {
    const w = world();
    await applyEntries(w.deps, opening);
    // Another writer (its own view of Redis) records the account's seq 2 after this
    // store restored it at seq 1.
    await applyEntries({ ...w.deps, store: new MemoryBalanceStore() }, [entry("a", "credit:x", 1n)]);
    const [outcome] = await applyEntries(w.deps, [entry("a", "cdr:s", -1n)]);
    expect(outcome).toMatchObject({ status: "applied", applied: { entries: [{ seq: 3n }] } });
    expect(w.ledger.balance("a")).toBe(8_000_000n);
    await expectSound(w);
  });

  it("an entry on a balance the ledger's last entry does not end at is applied again on the ledger's", async () => {
    const w = world();
    await applyEntries(w.deps, opening);
    // Redis's balance rests on a debit the ledger will never have (a twin's doubled
    // entry, its seq since reused): the chain rule refuses what follows it.
    w.store.accounts.get("a")!.state.set("balance", "7000000");
    const [outcome] = await applyEntries(w.deps, [entry("a", "cdr:next", -500_000n)]);
    expect(outcome).toMatchObject({
      status: "applied",
      applied: { entries: [{ seq: 2n, afterMicros: 7_500_000n }] },
    });
    await expectSound(w);
  });

  it("a record the ledger refuses: thrown, and Redis keeps nothing of it", async () => {
    const w = world();
    await applyEntries(w.deps, opening);
    w.ledger.numbers.set("+15550001", "b");
    const buy = entry("a", "number:+15550001", -1_000_000n, {
      kind: "number_purchase",
      buysNumber: { number: "+15550001", numberType: "local" },
    });
    await expect(applyEntries(w.deps, [buy])).rejects.toBeInstanceOf(RecordRefusedError);
    expect(await w.store.snapshot("a")).toBe("missing");
    expect(w.ledger.balance("a")).toBe(8_000_000n);
  });

  it("refuses past the exact range and below a floor, and names unknown accounts", async () => {
    const w = world();
    await applyEntries(w.deps, opening);
    const outcomes = await applyEntries(w.deps, [
      entry("a", "credit:huge", 2n ** 53n),
      entry("a", "credit:near", 2n ** 53n - 1n),
      entry("a", "number:1", -6_000_001n, { floorMicros: 2_000_000n }),
      entry("zz", "credit:1", 1n),
    ]);
    expect(outcomes.map((o) => [o.status, "reason" in o ? o.reason : undefined])).toEqual([
      ["refused", "range"],
      ["refused", "range"],
      ["refused", "floor"],
      ["unknown_account", undefined],
    ]);
  });

  it("stranded changes: undone when the ledger lacks them, finished when it has them", async () => {
    const w = world();
    await applyEntries(w.deps, opening);
    await expect(
      applyEntries({ ...w.deps, faults: crashAt("after_redis") }, [entry("a", "cdr:lost", -1n)]),
    ).rejects.toBeInstanceOf(Crash);
    await expect(
      applyEntries({ ...w.deps, faults: crashAt("after_ledger") }, [entry("b", "cdr:kept", -1n)]),
    ).rejects.toBeInstanceOf(Crash);
    expect((await checkAccount(w.store, w.ledger, "a", { strandedAfterMs: 0 })).status).toBe("stranded");
    expect(await sweepStranded(w.deps, { olderThanMs: 60_000 })).toEqual({ finished: 0, undone: 0 });
    expect(await sweepStranded(w.deps, { olderThanMs: 0 })).toEqual({ finished: 1, undone: 1 });
    expect(await w.store.snapshot("a")).toBe("missing");
    expect(w.ledger.balance("a")).toBe(8_000_000n);
    await expectSound(w);
  });

  it("settings copies: the newest wins in any order, even over a stale restore landing after them", async () => {
    const w = world();
    await applyEntries(w.deps, opening); // a: 8.00, auto-recharge off
    const on = {
      ...w.ledger.settings.get("a")!,
      version: 2n,
      autoRechargeEnabled: true,
      autoRechargeAmountMicros: 25_000_000n,
    };
    const off = { ...on, version: 1n, autoRechargeEnabled: false };
    // A restore that read the ledger before the update lands after Redis lost the account.
    const stale = (await w.ledger.snapshot("a", utcMonth(new Date())))!;
    w.store.wipe();
    w.ledger.settings.set("a", on);
    await copySettingsToStore(w.deps, "a", on); // finds a missing: restores it, copies again
    await copySettingsToStore(w.deps, "a", off); // an older copy arriving late
    expect(await w.store.restore(stale)).toBe(false); // the stale restore finds the account there
    const [debit] = await applyEntries(w.deps, [entry("a", "cdr:s", -4_000_000n)]);
    expect(debit).toMatchObject({ status: "applied" });
    expect(debit!.status === "applied" && debit!.applied.events.map((e) => e.type)).toEqual([
      "low_balance",
      "auto_recharge_requested",
    ]);
    expect(await restoreFromLedger(w.deps, "zz", utcMonth(new Date()))).toBe("unknown");
  });

  it("reconcile finds drift in Redis", async () => {
    const w = world();
    await applyEntries(w.deps, opening);
    w.store.accounts.get("a")!.state.set("balance", "7999999");
    expect(await checkAccount(w.store, w.ledger, "a")).toMatchObject({
      status: "drift",
      detail: "balances differ",
    });
  });

  it("manual entries: idempotent per reference, refused with another amount", async () => {
    const w = world();
    const credit = entry("a", "credit:inv-1", 5_000_000n, { reference: "inv-1" });
    expect(await bookManualEntry(w.deps, credit)).toMatchObject({ changed: true, balance_micros: "5000000" });
    expect(await bookManualEntry(w.deps, credit)).toMatchObject({
      changed: false,
      balance_micros: "5000000",
    });
    await expect(bookManualEntry(w.deps, { ...credit, amountMicros: 6_000_000n })).rejects.toThrow(
      /reference "inv-1" was already used on a for 5\.00 USD, not 6\.00 USD/,
    );
    // An attempt that crashed after Redis and was never recorded: a retry with another
    // amount drops the stale result and applies the new one.
    const adjust = entry("a", "adjust:fix", -1_000_000n, { kind: "adjustment", reference: "fix" });
    await expect(
      applyEntries({ ...w.deps, faults: crashAt("after_redis") }, [adjust]),
    ).rejects.toBeInstanceOf(Crash);
    await expect(bookManualEntry(w.deps, { ...adjust, amountMicros: -2_000_000n })).resolves.toMatchObject({
      changed: true,
      amount_micros: "-2000000",
    });
    await expect(bookManualEntry(w.deps, entry("zz", "credit:1", 1n))).rejects.toThrow(/no account "zz"/);
  });
});
