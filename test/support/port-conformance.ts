/**
 * One conformance suite for the two ports of the write path (bullmq's adapter
 * conformance): test/unit/memory-ports.test.ts runs it on the in-memory doubles,
 * test/integration/port-conformance.test.ts on Redis and Postgres. What the write path
 * relies on is asserted once, so a double that drifts from the real adapters fails here
 * rather than letting a unit test pass on behaviour production does not have.
 */
import { describe, expect, it } from "vitest";
import { recordedKey, type BalanceStore, type Ledger } from "../../src/balances/ports.js";
import type { AccountSettings, Applied, EntryRequest, Refused } from "../../src/balances/types.js";
import { utcMonth } from "../../src/core/balance-rules.js";
import type { CallSession } from "../../src/calls/types.js";
import { SequenceConflictError } from "../../src/errors.js";

export interface PortRig {
  store: BalanceStore;
  ledger: Ledger;
  /** A new account in the ledger (settings version 0), not yet in the store. */
  newAccount(): Promise<string>;
  /** Records an open call session in the ledger, as calls/sessions.ts does after a grant. */
  openSession(accountId: string, session: CallSession): Promise<void>;
}

const month = utcMonth(new Date());

export const entry = (
  accountId: string,
  key: string,
  amountMicros: bigint,
  more: Partial<EntryRequest> = {},
): EntryRequest => ({
  accountId,
  key,
  kind: amountMicros < 0n ? "call" : "credit",
  amountMicros,
  cause: key,
  ...more,
});

const online = (version: bigint): AccountSettings => ({
  version,
  trial: false,
  rechargeMode: "online",
  autoRechargeEnabled: true,
  autoRechargeAmountMicros: 25_000_000n,
  autoRechargeMonthlyLimitMicros: null,
  offlineReloadMicros: null,
  offlineThresholdMicros: null,
  offlineMonthlyMaxMicros: null,
});

function applied(r: Applied | Refused | undefined): Applied {
  if (r === undefined || !("entries" in r))
    throw new Error(
      `expected an applied result, got ${JSON.stringify(r, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`,
    );
  return r;
}

export function describePortConformance(name: string, makeRig: () => Promise<PortRig>): void {
  describe(`${name}: BalanceStore and Ledger conformance`, () => {
    /** An account restored into the store from the ledger. */
    async function loaded(rig: PortRig): Promise<string> {
      const a = await rig.newAccount();
      expect(await rig.store.restore((await rig.ledger.snapshot(a, month))!)).toBe(true);
      return a;
    }
    async function applyOne(rig: PortRig, request: EntryRequest): Promise<Applied | Refused> {
      const reply = (await rig.store.apply(new Map([[request.accountId, [request]]]), month)).get(
        request.accountId,
      );
      if (reply === "missing" || reply === undefined) throw new Error(`${request.accountId} missing`);
      return reply[0]!;
    }

    it("store: an account it does not hold is missing until restored, once", async () => {
      const rig = await makeRig();
      const a = await rig.newAccount();
      expect((await rig.store.apply(new Map([[a, [entry(a, "credit:1", 1n)]]]), month)).get(a)).toBe(
        "missing",
      );
      expect(await rig.store.snapshot(a)).toBe("missing");
      const snapshot = (await rig.ledger.snapshot(a, month))!;
      expect(snapshot).toMatchObject({ accountId: a, balanceMicros: 0n, seq: 0n, month });
      expect(await rig.store.restore(snapshot)).toBe(true);
      expect(await rig.store.restore(snapshot)).toBe(false);
      expect(await rig.store.snapshot(a)).toEqual({ balanceMicros: 0n, seq: 0n, pending: [] });
      expect(await rig.ledger.snapshot("no-such-account", month)).toBeUndefined();
    });

    it("store: applies in order, numbers the entries, reports crossings", async () => {
      const rig = await makeRig();
      const a = await loaded(rig);
      const replies = (
        await rig.store.apply(
          new Map([[a, [entry(a, "credit:1", 6_000_000n), entry(a, "cdr:1", -4_500_000n)]]]),
          month,
        )
      ).get(a) as (Applied | Refused)[];
      const [credit, debit] = replies.map(applied);
      expect(credit!.entries[0]).toMatchObject({ seq: 1n, beforeMicros: 0n, afterMicros: 6_000_000n });
      expect(credit!.events.map((e) => e.type)).toEqual(["unblocked"]);
      expect(debit!.entries[0]).toMatchObject({
        seq: 2n,
        key: "cdr:1",
        amountMicros: -4_500_000n,
        afterMicros: 1_500_000n,
      });
      expect(debit!.events.map((e) => [e.type, e.balanceMicros, e.origin])).toEqual([
        ["low_balance", 1_500_000n, "cdr:1"],
        ["blocked", 1_500_000n, "cdr:1"],
      ]);
    });

    it("store: replays a pending key instead of applying it again; confirm forgets it", async () => {
      const rig = await makeRig();
      const a = await loaded(rig);
      const first = applied(await applyOne(rig, entry(a, "credit:1", 7_000_000n)));
      const again = applied(await applyOne(rig, entry(a, "credit:1", 7_000_000n)));
      expect(again.entries).toEqual(first.entries);
      const snapshot = await rig.store.snapshot(a);
      expect(snapshot).toMatchObject({ balanceMicros: 7_000_000n, seq: 1n });
      expect(snapshot !== "missing" && snapshot.pending).toEqual([
        {
          key: "credit:1",
          entries: [{ seq: 1n, amountMicros: 7_000_000n }],
          appliedAtMs: expect.any(Number) as number,
        },
      ]);
      const appliedAt = snapshot !== "missing" ? snapshot.pending[0]!.appliedAtMs : 0;
      expect(Math.abs(appliedAt - Date.now())).toBeLessThan(60_000);
      expect(await rig.store.pendingAccounts()).toContain(a);
      await rig.store.confirm(new Map([[a, ["credit:1"]]]));
      expect(await rig.store.snapshot(a)).toEqual({ balanceMicros: 7_000_000n, seq: 1n, pending: [] });
      expect(await rig.store.pendingAccounts()).not.toContain(a);
    });

    it("store: refuses past ±(2^53 − 1) and below a floor, changing nothing", async () => {
      const rig = await makeRig();
      const a = await loaded(rig);
      await applyOne(rig, entry(a, "credit:1", 3_000_000n));
      expect(await applyOne(rig, entry(a, "credit:big", 2n ** 53n - 1n))).toMatchObject({ refused: "range" });
      expect(
        await applyOne(rig, entry(a, "number:1", -1_000_001n, { floorMicros: 2_000_000n })),
      ).toMatchObject({
        refused: "floor",
        balanceMicros: 3_000_000n,
        heldMicros: 0n,
      });
      expect(
        applied(await applyOne(rig, entry(a, "number:2", -1_000_000n, { floorMicros: 2_000_000n })))
          .entries[0],
      ).toMatchObject({
        seq: 2n,
        afterMicros: 2_000_000n,
      });
    });

    it("store: keeps the newest settings, and decides auto-recharge with them", async () => {
      const rig = await makeRig();
      const a = await rig.newAccount();
      expect(await rig.store.updateSettings(a, online(1n))).toBe(false); // not held: restore first
      await rig.store.restore((await rig.ledger.snapshot(a, month))!);
      expect(await rig.store.updateSettings(a, online(2n))).toBe(true);
      expect(await rig.store.updateSettings(a, { ...online(1n), autoRechargeEnabled: false })).toBe(true); // older: ignored
      await applyOne(rig, entry(a, "credit:1", 6_000_000n));
      const debit = applied(await applyOne(rig, entry(a, "cdr:1", -1_500_000n)));
      expect(debit.events.map((e) => [e.type, e.amountMicros])).toEqual([
        ["low_balance", null],
        ["auto_recharge_requested", 25_000_000n],
      ]);
    });

    it("store: forgets an account only if the stranded keys are still pending", async () => {
      const rig = await makeRig();
      const a = await loaded(rig);
      await applyOne(rig, entry(a, "credit:1", 1n));
      expect(await rig.store.forgetIfPending(a, ["credit:1", "credit:other"])).toBe(false);
      expect(await rig.store.snapshot(a)).not.toBe("missing");
      expect(await rig.store.forgetIfPending(a, ["credit:1"])).toBe(true);
      expect(await rig.store.snapshot(a)).toBe("missing");
      await rig.store.restore((await rig.ledger.snapshot(a, month))!);
      await rig.store.forget(a);
      expect(await rig.store.snapshot(a)).toBe("missing");
    });

    it("both: a CDR settles its open session with its debit, once; the holds count against a floor", async () => {
      const rig = await makeRig();
      const a = await rig.newAccount();
      const session = (callId: string): CallSession => ({
        callId,
        state: "active",
        grantedSeconds: 300,
        heldMicros: 1_000_000n,
        untilMs: Date.now() + 3_600_000,
        rev: 1,
        meta: { direction: "outbound", to: "+442071234567", features: [] },
      });
      await rig.openSession(a, session("c-1"));
      await rig.openSession(a, session("c-2"));
      const snapshot = (await rig.ledger.snapshot(a, month))!;
      expect(snapshot.calls!.map((c) => c.callId).sort()).toEqual(["c-1", "c-2"]);
      await rig.store.restore(snapshot);
      const credit = applied(await applyOne(rig, entry(a, "credit:1", 5_000_000n)));
      expect(
        await applyOne(rig, entry(a, "number:1", -1_000_001n, { floorMicros: 2_000_000n })),
      ).toMatchObject({
        refused: "floor",
        heldMicros: 2_000_000n,
      });
      const debit = applied(await applyOne(rig, entry(a, "cdr:c-1", -700_000n)));
      expect(debit.settledCall).toBe(true);
      const again = applied(await applyOne(rig, entry(a, "cdr:c-1", -700_000n))); // a replay: same result
      expect(again.settledCall).toBe(true);
      expect(await rig.ledger.record([credit, debit], new Date())).toEqual({ status: "recorded" });
      expect((await rig.ledger.snapshot(a, month))!.calls!.map((c) => c.callId)).toEqual(["c-2"]);
      await rig.store.confirm(new Map([[a, ["credit:1", "cdr:c-1"]]]));
      // c-1 holds nothing now: 4.30 − 1.00 (c-2) − 1.30 = 2.00, the floor exactly.
      expect(
        applied(await applyOne(rig, entry(a, "number:2", -1_300_000n, { floorMicros: 2_000_000n })))
          .entries[0],
      ).toMatchObject({
        afterMicros: 3_000_000n,
      });
    });

    it("ledger: records once; a twin's key makes the whole record raced", async () => {
      const rig = await makeRig();
      const a = await loaded(rig);
      const first = applied(await applyOne(rig, entry(a, "credit:1", 9_000_000n)));
      expect(await rig.ledger.record([first], new Date())).toEqual({ status: "recorded" });
      const found = await rig.ledger.recorded([
        { accountId: a, key: "credit:1" },
        { accountId: a, key: "x" },
      ]);
      expect([...found.keys()]).toEqual([recordedKey(a, "credit:1")]);
      expect(found.get(recordedKey(a, "credit:1"))).toMatchObject({
        seq: 1n,
        amountMicros: 9_000_000n,
        balanceAfterMicros: 9_000_000n,
      });
      await rig.store.confirm(new Map([[a, ["credit:1"]]]));
      const second = applied(await applyOne(rig, entry(a, "credit:2", 1_000_000n)));
      expect(await rig.ledger.record([second, first], new Date())).toEqual({
        status: "raced",
        keys: new Set([recordedKey(a, "credit:1")]),
      });
      expect(await rig.ledger.totals(a, 10n, ["credit:1", "credit:2"])).toEqual({
        sumMicros: 9_000_000n,
        entries: 1n,
        recordedKeys: new Set(["credit:1"]),
      });
    });

    it("ledger: gives back each entry's details as recorded: a call's rating, anything else, none", async () => {
      const rig = await makeRig();
      const a = await loaded(rig);
      const rating = {
        plan: "gold",
        billed_seconds: 61,
        prefix: "4420",
        rate_effective_from: "2026-03-01T00:00:00Z",
      };
      const requests = [
        entry(a, "credit:1", 9_000_000n, { details: { reason: "opening" } }),
        entry(a, "cdr:c1", -120_000n, { cdrId: "c1", rateVersion: 3, details: rating }),
        // Not a whole rating (an extra key, a missing one): kept as given.
        entry(a, "cdr:c2", -1_000n, { cdrId: "c2", details: { ...rating, note: "x" } }),
        entry(a, "cdr:c3", -1_000n, { cdrId: "c3", details: { prefix: "44" } }),
        entry(a, "cdr:c4", -1_000n, { cdrId: "c4" }),
        // Shaped like a rating, but no instant Postgres would take: kept as given.
        entry(a, "cdr:c5", -1_000n, {
          cdrId: "c5",
          details: { ...rating, rate_effective_from: "2026-02-30T00:00:00Z" },
        }),
      ];
      const reply = (await rig.store.apply(new Map([[a, requests]]), month)).get(a);
      if (reply === "missing" || reply === undefined) throw new Error(`${a} missing`);
      expect(await rig.ledger.record(reply.map(applied), new Date())).toEqual({ status: "recorded" });
      const found = await rig.ledger.recorded(requests.map((r) => ({ accountId: a, key: r.key })));
      expect(requests.map((r) => found.get(recordedKey(a, r.key))?.details)).toEqual([
        { reason: "opening" },
        rating,
        { ...rating, note: "x" },
        { prefix: "44" },
        null,
        { ...rating, rate_effective_from: "2026-02-30T00:00:00Z" },
      ]);
      expect(found.get(recordedKey(a, "cdr:c1"))?.rateVersion).toBe(3);
    });

    it("ledger: a taken seq is a SequenceConflictError; an entry off the chain is unchained", async () => {
      const rig = await makeRig();
      const a = await loaded(rig);
      const first = applied(await applyOne(rig, entry(a, "credit:1", 5_000_000n)));
      await rig.ledger.record([first], new Date());
      const at = (seq: bigint, before: bigint, key: string): Applied => ({
        request: entry(a, key, 1n),
        events: [],
        entries: [
          {
            accountId: a,
            seq,
            key,
            kind: "credit",
            amountMicros: 1n,
            beforeMicros: before,
            afterMicros: before + 1n,
            cause: key,
          },
        ],
      });
      await expect(rig.ledger.record([at(1n, 0n, "credit:x")], new Date())).rejects.toBeInstanceOf(
        SequenceConflictError,
      );
      expect(await rig.ledger.record([at(3n, 5_000_001n, "credit:y")], new Date())).toEqual({
        status: "unchained",
        accounts: new Set([a]),
        missing: true,
      });
      expect(await rig.ledger.record([at(2n, 4_000_000n, "credit:z")], new Date())).toEqual({
        status: "unchained",
        accounts: new Set([a]),
        missing: false,
      });
      expect(
        await rig.ledger.record([at(2n, 5_000_000n, "credit:z"), at(3n, 5_000_001n, "credit:y")], new Date()),
      ).toEqual({
        status: "recorded",
      });
      expect(await rig.ledger.totals(a, 2n, [])).toMatchObject({ sumMicros: 5_000_001n, entries: 2n });
    });

    it("ledger: the snapshot carries the month's auto-recharge and caps; events are recorded once", async () => {
      const rig = await makeRig();
      const a = await loaded(rig);
      await rig.store.updateSettings(a, { ...online(1n), autoRechargeMonthlyLimitMicros: 30_000_000n });
      const credit = applied(await applyOne(rig, entry(a, "credit:1", 6_000_000n)));
      const debit = applied(await applyOne(rig, entry(a, "cdr:1", -2_000_000n)));
      expect(await rig.ledger.record([credit, debit], new Date())).toEqual({ status: "recorded" });
      const cap = {
        type: "auto_recharge_capped" as const,
        accountId: a,
        balanceMicros: 4_000_000n,
        amountMicros: 25_000_000n,
        cause: month,
      };
      const ids = await rig.ledger.recordEvents([cap], new Date());
      expect(await rig.ledger.recordEvents([cap], new Date())).toEqual(ids);
      expect(await rig.ledger.snapshot(a, month)).toMatchObject({
        balanceMicros: 4_000_000n,
        seq: 2n,
        monthAutoRechargeMicros: 25_000_000n,
        monthOfflineReloadMicros: 0n,
        cappedAutoThisMonth: true,
        cappedOfflineThisMonth: false,
      });
    });
  });
}
